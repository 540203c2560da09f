"""'accuracy': one correctness reward for mixed batches, dispatched per example by
metadata['task']: 'countdown' -> countdown check, 'code' -> sandboxed tests (fraction
passed), column arithmetic ('add', 'sub', 'mul') -> the exact integer, anything else -> math
answer equivalence."""

from __future__ import annotations

import numpy as np

from r1jax.data.tasks import columns
from r1jax.rewards.base import RewardBatch, register
from r1jax.rewards.code import code_scores
from r1jax.rewards.countdown import countdown_score
from r1jax.rewards.math import extract_answer, verify_batch
from r1jax.rewards.reasoning_gym import rg_score


@register('accuracy')
def accuracy(batch: RewardBatch, pool=None, answer_source: str = 'auto',
             countdown_numbers: str = 'exactly', code_timeout_s: float = 2.0,
             code_workers: int = 2, sandbox_network: str = 'auto') -> np.ndarray:
  """float32 [N] in [0, 1]."""
  tasks = [m.get('task', 'math') for m in batch.metadata]
  out = np.zeros(len(batch), np.float32)
  math_idx = [i for i, t in enumerate(tasks) if t not in ('countdown', 'code')
              and t not in columns.SPECS and not t.startswith('rg/')]
  code_idx = [i for i, t in enumerate(tasks) if t == 'code']
  for i, t in enumerate(tasks):
    if t.startswith('rg/'):  # reasoning-gym: the dataset's own scorer
      out[i] = rg_score(batch.completions[i], batch.metadata[i], answer_source)
    elif t in columns.SPECS:   # digits only: no product reading of a spaced '7 7 0 3'
      out[i] = float(columns.answer_matches(extract_answer(batch.completions[i], answer_source),
                                            str(batch.metadata[i]['answer'])))
    elif t == 'countdown':
      m = batch.metadata[i]
      out[i] = countdown_score(extract_answer(batch.completions[i], answer_source),
                               m['numbers'], m['target'], countdown_numbers)
  if math_idx:
    preds = [extract_answer(batch.completions[i], answer_source) for i in math_idx]
    golds = [str(batch.metadata[i]['answer']) for i in math_idx]
    out[math_idx] = verify_batch(preds, golds, pool=pool)
  if code_idx:
    out[code_idx] = code_scores([batch.completions[i] for i in code_idx],
                                [batch.metadata[i].get('tests') or [] for i in code_idx],
                                code_timeout_s, code_workers, network=sandbox_network)
  return out
