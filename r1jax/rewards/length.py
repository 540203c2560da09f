"""Length shaping: Kimi k1.5's length penalty and DAPO's soft overlong punishment."""

from __future__ import annotations

import numpy as np

from r1jax.rewards.accuracy import accuracy
from r1jax.rewards.base import RewardBatch, _accepted_options, register


def _lengths(batch: RewardBatch) -> np.ndarray:
  """[N] float: token counts if given, else character counts."""
  if batch.completion_lens is not None:
    return np.asarray(batch.completion_lens, np.float64)
  return np.asarray([len(c) for c in batch.completions], np.float64)


def kimi_length_penalty(lengths: np.ndarray, correct: np.ndarray, group_size: int) -> np.ndarray:
  """Kimi k1.5 sec. 2.3.3, per group of `group_size` responses to one prompt:
  lambda = 0.5 - (len - min_len) / (max_len - min_len); reward = lambda if correct else
  min(0, lambda). A group whose responses all have one length gets 0.

  lengths, correct: [N] (N = groups * group_size, group-major). Returns float32 [N].
  """
  lengths = np.asarray(lengths, np.float64).reshape(-1, group_size)     # [groups, G]
  correct = np.asarray(correct, bool).reshape(-1, group_size)
  min_len = lengths.min(axis=1, keepdims=True)
  span = lengths.max(axis=1, keepdims=True) - min_len
  lam = np.where(span > 0, 0.5 - (lengths - min_len) / np.where(span > 0, span, 1), 0.0)
  return np.where(correct, lam, np.minimum(0.0, lam)).astype(np.float32).reshape(-1)


def dapo_overlong_penalty(lengths: np.ndarray, max_len: int, buffer: int) -> np.ndarray:
  """DAPO eq. (13): 0 up to max_len - buffer, then falling linearly to -1 at max_len,
  -1 beyond. lengths [N] -> float32 [N]."""
  if not 0 < buffer <= max_len:
    raise ValueError(f'overlong_buffer={buffer} must be in (0, max_completion_len={max_len}]')
  lengths = np.asarray(lengths, np.float64)
  soft = (max_len - buffer - lengths) / buffer
  return np.where(lengths > max_len, -1.0, np.minimum(0.0, soft)).astype(np.float32)


@register('length_penalty')
def length_penalty(batch: RewardBatch, **options) -> np.ndarray:
  """Kimi k1.5 length penalty; correctness is the 'accuracy' reward == 1. float32 [N]."""
  correct = accuracy(batch, **_accepted_options(accuracy, options)) >= 1.0
  return kimi_length_penalty(_lengths(batch), correct, batch.group_size)


@register('overlong_penalty')
def overlong_penalty(batch: RewardBatch, overlong_buffer: int | None = None) -> np.ndarray:
  """DAPO soft overlong punishment; needs completion_lens and max_completion_len.
  overlong_buffer (tokens) defaults to max_completion_len // 5. float32 [N]."""
  if batch.completion_lens is None or batch.max_completion_len is None:
    raise ValueError('overlong_penalty needs RewardBatch.completion_lens (token counts) '
                     'and max_completion_len (the sampler limit); pass both')
  buffer = overlong_buffer or max(1, batch.max_completion_len // 5)
  return dapo_overlong_penalty(batch.completion_lens, batch.max_completion_len, buffer)
