"""Pretraining corpus: modes, their proportions, determinism, templates."""

import collections
import random

import numpy as np
import pytest

from r1jax.data import corpus, pipeline, templates
from r1jax.data.corpus import MODES, pretrain_documents, tokenizer_corpus
from r1jax.data.tasks import make_examples
from r1jax.data.templates import R1_ZERO_PROMPT, TAGS, get_template

EXAMPLES = make_examples(['arithmetic', 'countdown', 'linear_equation'], 'train', 900, 0, [1, 2, 3])


def _mode(completion: str) -> str:
  if '<think>' not in completion:
    return 'noformat'
  return 'cot' if '=' in completion.split('</think>')[0] else 'direct'


def test_r1_zero_prompt_is_the_paper_template():
  t = get_template('r1_zero')
  prompt = t.prompt('Compute 7 + 5 - 3')
  assert prompt.startswith('A conversation between User and Assistant. The user asks a question')
  assert prompt.endswith('<answer> answer here </answer>. User: Compute 7 + 5 - 3. Assistant:')
  assert t.completion('7 + 5 = 12 .', '12') == ' <think> 7 + 5 = 12 . </think> <answer> 12 </answer>'
  chat = get_template('chat')
  assert chat.prompt('Q') == 'User: Q\nAssistant:'
  assert chat.completion('c', 'a') == ' c The answer is a.'
  with pytest.raises(ValueError, match='r1_zero'):
    get_template('llama')


def test_documents_follow_mode_probs_and_are_deterministic():
  t = get_template('r1_zero')
  probs = {'cot': 0.6, 'direct': 0.3, 'noformat': 0.1}
  docs = pretrain_documents(EXAMPLES, t, probs, seed=0)
  assert docs == pretrain_documents(EXAMPLES, t, probs, seed=0)
  assert docs != pretrain_documents(EXAMPLES, t, probs, seed=1)
  counts = collections.Counter(_mode(c) for _, c in docs)
  for mode, p in probs.items():
    assert abs(counts[mode] / len(docs) - p) < 0.06, counts
  for ex, (prompt, completion) in zip(EXAMPLES, docs):
    assert prompt == R1_ZERO_PROMPT.format(question=ex.question)
    if _mode(completion) == 'cot':
      assert completion == t.completion(ex.cot, ex.answer)
    elif _mode(completion) == 'direct':
      assert completion.endswith(f'</think> <answer> {ex.answer} </answer>')
    else:
      assert completion == f' The answer is {ex.answer} .'


def test_single_mode_and_bad_probs():
  docs = pretrain_documents(EXAMPLES[:50], get_template('r1_zero'), {'cot': 1.0}, 0)
  assert all(_mode(c) == 'cot' for _, c in docs)
  with pytest.raises(ValueError, match='data.mode_probs'):
    pretrain_documents(EXAMPLES, get_template('r1_zero'), {'sft': 1.0}, 0)
  with pytest.raises(ValueError, match='data.mode_probs'):
    pretrain_documents(EXAMPLES, get_template('r1_zero'), {'cot': 0.0}, 0)


def test_tokenizer_corpus_covers_templates_and_modes():
  lines = tokenizer_corpus(EXAMPLES[:30])
  assert all('\n' not in line for line in lines)
  text = '\n'.join(lines)
  assert all(tag in text for tag in TAGS) and 'The answer is' in text and 'User: ' in text
  assert MODES == ('cot', 'direct', 'noformat', 'coarse', 'fine', 'check', 'slip')


# ---------------------------------------------------------------------------- column modes

@pytest.fixture(scope='module')
def digit_tokenizer():
  """A tokenizer of the column tasks' corpus with ' 0'..' 9' as pieces (data.number_pieces=10)."""
  from r1jax.data import tokenizer as tokenizer_lib
  examples = make_examples(['add', 'sub', 'mul'], 'train', 300, 0, [1, 2, 3])
  return tokenizer_lib.train_tokenizer(corpus.tokenizer_corpus(examples, ['r1_zero']), 400,
                                       number_pieces=10)


def test_column_modes_open_with_their_words_and_answer_in_the_tags():
  ex = make_examples(['add'], 'train', 1, 0, [3])[0]
  r1 = templates.get_template('r1_zero')
  for mode, opener in (('direct', ' <think> so '), ('coarse', ' <think> pairs : '),
                       ('fine', ' <think> columns : '), ('cot', ' <think> columns : '),
                       ('check', ' <think> work then check : '),
                       ('slip', ' <think> work then check : ')):
    text, spans = corpus.column_completion(ex, r1, mode, random.Random(0))
    assert text.startswith(opener), mode
    assert text.endswith(f'<answer> {ex.answer} </answer>'), mode
    assert bool(spans) == (mode == 'slip') and (' wait .' in text) == (mode == 'slip'), mode
    # fine work carries its running result, and the first 'so' line copies the last one
    steps = [s.strip() for s in text.split('<think>')[1].split('</think>')[0].split(' . ')]
    so = next(i for i, step in enumerate(steps) if step.startswith('so '))
    if mode in ('fine', 'cot', 'check', 'slip'):
      assert all(' now ' in step for step in steps[:so]), (mode, steps)
      assert steps[so][3:].split() == steps[so - 1].split(' now ')[1].lstrip('0 ').split(), mode
    else:
      assert ' now ' not in text, mode
  assert corpus.column_completion(ex, r1, 'noformat')[0] == f' The answer is {ex.answer} .'
  with pytest.raises(ValueError, match="data.mode_probs has 'fine'.*column-arithmetic"):
    corpus.completion_text(make_examples(['arithmetic'], 'train', 1, 0, [1])[0], r1, 'fine')


def test_a_slip_is_kept_out_of_the_loss_and_nothing_else(digit_tokenizer):
  """The slipped digit is not a target; every other completion token is, and the tokens are
  those of the whole text (the model is trained on what it will sample)."""
  r1 = templates.get_template('r1_zero')
  examples = make_examples(['add', 'sub', 'mul'], 'train', 60, 1, [1, 2, 3])
  docs = corpus.pretrain_documents(examples, r1, {'slip': 1.0}, seed=0)
  assert all(len(d) == 3 and len(d[2]) == 1 for d in docs)
  enc = pipeline.encode_documents(digit_tokenizer, docs, 640, mask_prompt=True)
  for (prompt, completion, spans), tokens, mask in zip(docs, enc['tokens'], enc['loss_mask']):
    p, c = digit_tokenizer.encode(prompt), digit_tokenizer.encode(completion)
    start = 1 + len(p)
    assert tokens[start:start + len(c)].tolist() == c
    (s, e), = spans
    wrong = digit_tokenizer.encode(completion[s:e])
    assert len(wrong) == 1 and completion[s] == ' ' and completion[s + 1:e].isdigit()
    masked = [i - start for i in np.nonzero(mask == 0)[0] if start <= i < start + len(c)]
    before = len(digit_tokenizer.encode(completion[:s]))
    assert masked == [before]   # exactly the slipped digit's token
    # ... written by its step, before the step's running result (whose copy of it is a target)
    assert completion[e:].split(' . ')[0].split()[:1] in (['carry'], ['borrow'], ['now'])
    assert mask[start + len(c)] == 1   # EOS
  plain = pipeline.encode_documents(digit_tokenizer, [d[:2] for d in docs], 640, True)
  assert (plain['loss_mask'] - enc['loss_mask']).sum() == len(docs)


def test_spans_off_token_boundaries_are_refused(digit_tokenizer):
  doc = ('Add 1 2 + 3 4', ' <think> so 4 6 . </think>', ((10, 13),))   # 'o 4': mid-word
  with pytest.raises(ValueError, match='token boundaries'):
    pipeline.encode_documents(digit_tokenizer, [doc], 64, True)
