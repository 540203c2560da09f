"""Pipeline: shapes, masks, padding, errors, determinism and resumability of batches."""

import collections

import numpy as np
import pytest

from r1jax.data.corpus import pretrain_documents
from r1jax.data import pipeline
from r1jax.data.pipeline import BatchIterator, encode_documents, encode_prompts
from r1jax.data.tasks import make_examples
from r1jax.data.templates import get_template

DOCS = pretrain_documents(make_examples(['arithmetic', 'countdown'], 'train', 20, 0, [1, 2]),
                          get_template('r1_zero'), {'cot': 0.5, 'direct': 0.3, 'noformat': 0.2}, 0)


@pytest.mark.parametrize('mask_prompt', [False, True])
def test_encode_documents_layout_and_mask(tokenizer, mask_prompt):
  out = encode_documents(tokenizer, DOCS, seq_len=160, mask_prompt=mask_prompt)
  tokens, mask = out['tokens'], out['loss_mask']
  assert tokens.shape == mask.shape == (len(DOCS), 160)
  assert tokens.dtype == np.int32 and mask.dtype == np.float32
  for i, (prompt, completion) in enumerate(DOCS):
    p, c = tokenizer.encode(prompt), tokenizer.encode(completion)
    n = 2 + len(p) + len(c)
    assert tokens[i, :n].tolist() == [tokenizer.bos_id] + p + c + [tokenizer.eos_id]
    assert (tokens[i, n:] == tokenizer.pad_id).all()
    expected = np.zeros(160, np.float32)
    expected[1 + (len(p) if mask_prompt else 0):n] = 1
    np.testing.assert_array_equal(mask[i], expected)
    assert tokenizer.decode(tokens[i]) == prompt + completion


def test_encode_documents_too_long_names_the_field(tokenizer):
  with pytest.raises(ValueError, match=r'data.seq_len=40.*set data.seq_len >= \d+'):
    encode_documents(tokenizer, DOCS, seq_len=40, mask_prompt=False)


def test_encode_prompts_left_padded(tokenizer):
  prompts = ['Compute 7 + 5 - 3', get_template('chat').prompt('Solve for x: 3 x + 4 = 9')]
  out = encode_prompts(tokenizer, prompts, prompt_len=32)
  assert out['tokens'].shape == out['mask'].shape == (2, 32)
  assert out['tokens'].dtype == np.int32 and out['mask'].dtype == bool
  for i, prompt in enumerate(prompts):
    ids = [tokenizer.bos_id] + tokenizer.encode(prompt)
    assert out['tokens'][i, -len(ids):].tolist() == ids
    assert (out['tokens'][i, :-len(ids)] == tokenizer.pad_id).all()
    assert out['mask'][i].tolist() == [False] * (32 - len(ids)) + [True] * len(ids)
  with pytest.raises(ValueError, match='rl.prompt_len'):
    encode_prompts(tokenizer, prompts, prompt_len=8)


def test_encode_prompts_shared_head_leaves_every_row_its_last_token(tokenizer):
  """keep_shared_prefix with one prompt a prefix of the other: that row still ends with a real
  token (the sampler's first token is conditioned on the last column), nothing is lost."""
  prompts = ['Compute 7 + 5', 'Compute 7 + 5 - 3 * 2']
  out = encode_prompts(tokenizer, prompts, prompt_len=32, keep_shared_prefix=True)
  assert out['mask'][:, -1].all()
  for i, prompt in enumerate(prompts):
    ids = [tokenizer.bos_id] + tokenizer.encode(prompt)
    assert out['tokens'][i][out['mask'][i]].tolist() == ids
  assert (out['tokens'][0, :3] == out['tokens'][1, :3]).all() and not out['mask'][0].all()


def test_batch_iterator_epochs_determinism_and_resume():
  arrays = {'x': np.arange(10), 'y': np.arange(10) * 2}
  it = BatchIterator(arrays, batch_size=4, seed=0)
  batches = [it.batch(s) for s in range(10)]  # 40 rows = 4 epochs
  for b in batches:
    np.testing.assert_array_equal(b['y'], 2 * b['x'])
  seen = np.concatenate([b['x'] for b in batches])
  for epoch in range(4):  # every epoch is a permutation of all rows
    assert sorted(seen[10 * epoch:10 * (epoch + 1)].tolist()) == list(range(10))
  assert seen[:10].tolist() != seen[10:20].tolist()
  resumed = BatchIterator(arrays, batch_size=4, seed=0)  # fresh iterator, start at step 7
  for s in range(7, 10):
    np.testing.assert_array_equal(resumed.batch(s)['x'], batches[s]['x'])
  other = BatchIterator(arrays, batch_size=4, seed=1)
  assert any((other.batch(s)['x'] != batches[s]['x']).any() for s in range(3))


def test_batch_iterator_batch_larger_than_data():
  it = BatchIterator({'x': np.arange(3)}, batch_size=7, seed=0)
  assert sorted(it.batch(0)['x'].tolist()[:6]) == [0, 0, 1, 1, 2, 2]
  with pytest.raises(ValueError):
    BatchIterator({'x': np.arange(3), 'y': np.arange(4)}, batch_size=2, seed=0)


def test_bucketed_batches_group_rows_by_length_and_replay():
  """Rows of similar length batched together, cut to the bucket's width with no target lost;
  batch(step) is a pure function of step (a resumed run replays it)."""
  rng = np.random.default_rng(0)
  lengths = rng.integers(3, 60, 200)
  mask = (np.arange(64)[None] < lengths[:, None]).astype(np.float32)
  mask[:, 0] = 0
  arrays = {'tokens': np.where(mask > 0, np.arange(1, 201)[:, None], 0).astype(np.int32),
            'loss_mask': mask}
  batches = pipeline.BucketedBatches(arrays, 8, seed=3, num_buckets=4, num_steps=100)
  assert len(batches.widths) == 4 and batches.widths[-1] == 59 and batches.widths[0] < 30
  seen = collections.Counter()
  for step in range(100):
    b = batches.batch(step)
    width = b['tokens'].shape[1]
    assert width in batches.widths
    rows = b['tokens'].max(axis=1) - 1          # each row's tokens name its row
    assert (lengths[rows] <= width).all()       # nothing cut: every target kept
    assert b['loss_mask'].sum() == lengths[rows].sum() - len(rows)
    seen.update(rows.tolist())
  again = pipeline.BucketedBatches(arrays, 8, seed=3, num_buckets=4, num_steps=100)
  np.testing.assert_array_equal(again.batch(57)['tokens'], batches.batch(57)['tokens'])
  assert len(seen) > 150   # the buckets are drawn in proportion: most rows visited


def test_bucket_widths_minimise_padding():
  """Brute force over every choice of widths agrees with the dynamic program."""
  import itertools
  rng = np.random.default_rng(1)
  lengths = np.concatenate([rng.integers(10, 30, 80), rng.integers(100, 260, 20)])
  values = np.unique(lengths)
  cost = lambda widths: sum(min(w for w in widths if w >= n) for n in lengths)
  for k in (1, 2, 3):
    got = pipeline.bucket_widths(lengths, k)
    assert got[-1] == lengths.max() and len(got) <= k
    best = min(cost(tuple(c) + (values[-1],)) for c in itertools.combinations(values[:-1], k - 1))
    assert cost(tuple(got)) == best
