"""Host-side numpy batches with fixed shapes: documents for pretraining/SFT, prompts for RL.

  docs   = encode_documents(tok, [(prompt, completion), ...], seq_len=256, mask_prompt=False)
  it     = BatchIterator(docs, batch_size=32, seed=0)
  batch  = it.batch(step)          # {'tokens': int32 [32, 256], 'loss_mask': float32 [32, 256]}
  prompts = encode_prompts(tok, [prompt, ...], prompt_len=128)

The trainer predicts tokens[:, 1:] from tokens[:, :-1] and weights the loss with loss_mask[:, 1:].
"""

import numpy as np

from r1jax.data.tokenizer import Tokenizer


def _encode_pieces(tokenizer: Tokenizer, text: str, spans) -> tuple[list[int], list[float]]:
  """`text`'s tokens, encoded piece by piece at the span edges, and 0 (masked) on the tokens of
  the character `spans`, 1 elsewhere. A span starts at a space (a word boundary), so the pieces
  give the same tokens as the whole text; a ValueError says when they do not."""
  ids, weights, at = [], [], 0
  for start, end in sorted(spans):
    for piece, weight in ((text[at:start], 1.0), (text[start:end], 0.0)):
      if piece:
        tokens = tokenizer.encode(piece)
        ids += tokens
        weights += [weight] * len(tokens)
    at = end
  tokens = tokenizer.encode(text[at:])
  ids, weights = ids + tokens, weights + [1.0] * len(tokens)
  if ids != tokenizer.encode(text):
    raise ValueError(f'masked spans {spans} of {text[:60]!r}... do not fall on token boundaries; '
                     'start each span at a space')
  return ids, weights


def encode_documents(tokenizer: Tokenizer, docs: list[tuple], seq_len: int,
                     mask_prompt: bool) -> dict[str, np.ndarray]:
  """Right-padded `[BOS] prompt completion [EOS] [PAD ...]` rows.

  Returns tokens int32 [N, seq_len] and loss_mask float32 [N, seq_len]: 1 where the token is a
  training target (completion tokens and EOS, plus prompt tokens unless `mask_prompt`), 0 on BOS
  and padding. A document may be (prompt, completion, spans): the completion tokens of those
  character spans are not targets either (a slip a trace goes on to catch, corpus.py). Raises
  ValueError naming `data.seq_len` if any document does not fit.
  """
  prompts = tokenizer.encode_batch([d[0] for d in docs])
  completions = tokenizer.encode_batch([d[1] for d in docs])
  masked = {}
  for i, d in enumerate(docs):
    if len(d) > 2 and d[2]:
      completions[i], masked[i] = _encode_pieces(tokenizer, d[1], d[2])
  bos = [tokenizer.bos_id] if getattr(tokenizer, 'add_bos', True) else []
  lengths = np.array([len(bos) + 1 + len(p) + len(c) for p, c in zip(prompts, completions)],
                     np.int64)
  too_long = int((lengths > seq_len).sum())
  if too_long:
    raise ValueError(f'{too_long} of {len(docs)} documents exceed data.seq_len={seq_len} tokens '
                     f'(longest {lengths.max()}); set data.seq_len >= {lengths.max()}')
  tokens = np.full((len(docs), seq_len), tokenizer.pad_id, np.int32)
  loss_mask = np.zeros((len(docs), seq_len), np.float32)
  for i, (p, c) in enumerate(zip(prompts, completions)):
    row = bos + p + c + [tokenizer.eos_id]
    tokens[i, :len(row)] = row
    loss_mask[i, len(bos) + len(p) if mask_prompt else 1:len(row)] = 1.0
    if i in masked:
      start = len(bos) + len(p)
      loss_mask[i, start:start + len(c)] *= np.asarray(masked[i], np.float32)
  return dict(tokens=tokens, loss_mask=loss_mask)


def encode_prompts(tokenizer: Tokenizer, prompts: list[str], prompt_len: int,
                   keep_shared_prefix: bool = False,
                   field: str = 'rl.prompt_len') -> dict[str, np.ndarray]:
  """Left-padded `[PAD ...] [BOS] prompt` rows, so every prompt ends at the same position.

  Returns tokens int32 [N, prompt_len] and mask bool [N, prompt_len] (True on real tokens).
  With keep_shared_prefix, the tokens every prompt starts with stay in the first columns and
  the padding goes after them (`[BOS] shared [PAD ...] rest`), so the shared prefix can be
  computed once (`models.forward_with_prefix`); positions skip padding either way.
  Raises ValueError naming `field` (the config field that set prompt_len) if any prompt does
  not fit.
  """
  encoded = tokenizer.encode_batch(prompts)
  shared = 0
  if keep_shared_prefix and encoded:
    first = encoded[0]
    shared = min(len(p) for p in encoded) - 1  # every row keeps its last token after the pad
    for p in encoded[1:]:
      shared = next((i for i in range(shared) if p[i] != first[i]), shared)
  bos = [tokenizer.bos_id] if getattr(tokenizer, 'add_bos', True) else []
  longest = len(bos) + max((len(p) for p in encoded), default=0)
  if longest > prompt_len:
    raise ValueError(f'a prompt needs {longest} tokens (with BOS) but {field}={prompt_len}; '
                     f'set {field} >= {longest}')
  tokens = np.full((len(prompts), prompt_len), tokenizer.pad_id, np.int32)
  mask = np.zeros((len(prompts), prompt_len), bool)
  for i, p in enumerate(encoded):
    head, rest = bos + p[:shared], p[shared:]
    if keep_shared_prefix:  # the shared head stays left-aligned
      tokens[i, :len(head)], mask[i, :len(head)] = head, True
    else:
      rest = head + rest
    if rest:
      tokens[i, prompt_len - len(rest):], mask[i, prompt_len - len(rest):] = rest, True
  return dict(tokens=tokens, mask=mask)


def drop_long_prompts(tokenizer: Tokenizer, prompts: list[str], prompt_len: int,
                      field: str) -> np.ndarray:
  """Indices of the prompts that fit in `prompt_len` tokens (with BOS). The rule for an
  oversize prompt: it is skipped, never cut, and the skips are counted on the console;
  when none fits, a ValueError names `field`."""
  from r1jax import metrics  # pylint: disable=g-import-not-at-top
  lengths = np.array([1 + len(p) for p in tokenizer.encode_batch(prompts)])
  keep = np.nonzero(lengths <= prompt_len)[0]
  if len(keep) < len(prompts):
    metrics.note(f'[data] skipped {len(prompts) - len(keep)} of {len(prompts)} prompts longer '
                 f'than {field}={prompt_len} tokens (longest {lengths.max()}); raise {field} '
                 'to keep them')
  if not len(keep):
    raise ValueError(f'no prompt fits in {field}={prompt_len} tokens (shortest '
                     f'{lengths.min()}); set {field} >= {lengths.max()}')
  return keep


class BatchIterator:
  """Deterministic, resumable batches: `batch(step)` is a pure function of (arrays, seed, step).

  Rows are visited epoch by epoch, each epoch in its own permutation drawn from (seed, epoch);
  a batch may straddle two epochs. Resuming at step k replays exactly the same batches.
  """

  def __init__(self, arrays: dict[str, np.ndarray], batch_size: int, seed: int):
    sizes = {k: len(v) for k, v in arrays.items()}
    if not arrays or len(set(sizes.values())) != 1 or not next(iter(sizes.values())):
      raise ValueError(f'arrays must be non-empty with equal leading sizes, got {sizes}')
    if batch_size <= 0:
      raise ValueError(f'batch_size must be positive, got {batch_size}')
    self.arrays, self.batch_size, self.seed = arrays, batch_size, seed
    self.num_rows = next(iter(sizes.values()))
    self._perms: dict[int, np.ndarray] = {}

  def _permutation(self, epoch: int) -> np.ndarray:
    if epoch not in self._perms:
      if len(self._perms) > 4:
        self._perms.clear()
      self._perms[epoch] = np.random.default_rng([self.seed, epoch]).permutation(self.num_rows)
    return self._perms[epoch]

  def indices(self, step: int) -> np.ndarray:
    """Row indices of batch `step`: int64 [batch_size]."""
    positions = step * self.batch_size + np.arange(self.batch_size)
    epochs, offsets = np.divmod(positions, self.num_rows)
    rows = np.empty(self.batch_size, np.int64)
    for epoch in np.unique(epochs):
      here = epochs == epoch
      rows[here] = self._permutation(int(epoch))[offsets[here]]
    return rows

  def batch(self, step: int) -> dict[str, np.ndarray]:
    idx = self.indices(step)
    return {k: v[idx] for k, v in self.arrays.items()}

  def epoch(self, step: int) -> float:
    """Fractional epoch reached at the start of `step` (for logging)."""
    return step * self.batch_size / self.num_rows


def bucket_widths(lengths: np.ndarray, num_buckets: int) -> np.ndarray:
  """The widths (ascending, the last = the longest length) of at most `num_buckets` buckets that
  minimise the padded tokens, sum over rows of their bucket's width: a dynamic program over the
  distinct lengths (a long tail gets buckets of its own)."""
  values, counts = np.unique(np.asarray(lengths, np.int64), return_counts=True)
  n, k_max = len(values), min(num_buckets, len(values))
  rows = np.concatenate([[0], np.cumsum(counts)])
  best = np.full((k_max + 1, n + 1), np.inf)
  best[0, 0] = 0.0
  start = np.zeros((k_max + 1, n + 1), np.int64)
  for k in range(1, k_max + 1):
    for j in range(1, n + 1):   # the last bucket holds values[i:j], width values[j - 1]
      cost = best[k - 1, :j] + (rows[j] - rows[:j]) * values[j - 1]
      start[k, j] = int(np.argmin(cost))
      best[k, j] = cost[start[k, j]]
  k = int(np.argmin(best[:, n]))
  widths, j = [], n
  while j > 0:
    widths.append(values[j - 1])
    j, k = start[k, j], k - 1
  return np.array(widths[::-1], np.int64)


class BucketedBatches:
  """Batches of rows of similar length, each cut to its bucket's width: `num_buckets` buckets
  that waste the fewest padded tokens (`bucket_widths`), each with its own BatchIterator; which bucket batch `step` comes from is
  a fixed seeded draw (buckets in proportion to their rows), so `batch(step)` stays a pure
  function of step. One compile per bucket width, instead of every row padded to the longest."""

  def __init__(self, arrays: dict[str, np.ndarray], batch_size: int, seed: int,
               num_buckets: int, num_steps: int):
    used = arrays['loss_mask'] > 0
    lengths = np.where(used.any(axis=1), used.shape[1] - np.argmax(used[:, ::-1], axis=1), 1)
    edges = bucket_widths(lengths, num_buckets)
    which = np.searchsorted(edges, lengths)   # bucket of each row
    self.buckets, sizes = [], []
    for b, width in enumerate(edges):
      rows = np.nonzero(which == b)[0]
      if not len(rows):
        continue
      width = int(min(arrays['tokens'].shape[1], max(width, 2)))
      self.buckets.append(BatchIterator({k: v[rows, :width] for k, v in arrays.items()},
                                        batch_size, seed + b))
      sizes.append(len(rows))
    self.num_rows = int(sum(sizes))
    self.batch_size = batch_size
    probs = np.asarray(sizes, np.float64) / self.num_rows
    self.schedule = np.random.default_rng([seed, 0xB0C]).choice(len(sizes), num_steps, p=probs)
    self.widths = [b.arrays['tokens'].shape[1] for b in self.buckets]

  def batch(self, step: int) -> dict[str, np.ndarray]:
    b = int(self.schedule[step])
    return self.buckets[b].batch(int((self.schedule[:step] == b).sum()))

  def epoch(self, step: int) -> float:
    return step * self.batch_size / self.num_rows


def shared_prefix_len(tokens: np.ndarray, mask: np.ndarray | None = None) -> int:
  """How many leading columns are identical in every row of tokens [N, L] (and, given the
  validity mask [N, L], real tokens in every row)."""
  same = np.all(tokens == tokens[:1], axis=0)
  if mask is not None:
    same &= np.all(mask, axis=0)
  return tokens.shape[1] if same.all() else int(np.argmin(same))


def split_prefix(arrays: dict[str, np.ndarray], prefix_len: int
                 ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
  """Documents sharing their first `prefix_len` tokens (e.g. a constant system prompt) ->
  (prefix int32 [prefix_len], rows [N, W]) with W trimmed to the longest row; the trainer
  computes the prefix once per batch (`models.forward_with_prefix`)."""
  tokens = arrays['tokens']
  if shared_prefix_len(tokens) < prefix_len:
    raise ValueError(f'the documents do not all start with the same {prefix_len} tokens')
  used = np.nonzero(arrays['loss_mask'].any(axis=0))[0]
  end = max(int(used[-1]) + 1 if len(used) else 0, prefix_len + 2)
  return tokens[0, :prefix_len].copy(), {k: v[:, prefix_len:end] for k, v in arrays.items()}
