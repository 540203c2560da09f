"""'reasoning_gym': the reasoning-gym dataset's own scorer (`score_answer`) on the answer in
<answer>...</answer> (see r1jax/data/reasoning_gym.py). 'accuracy' dispatches 'rg/' tasks here.
"""
import numpy as np

from r1jax.rewards.base import RewardBatch, register
from r1jax.rewards.math import extract_answer


def rg_score(completion: str, metadata: dict, answer_source: str = 'auto') -> float:
  from r1jax.data import reasoning_gym  # pylint: disable=g-import-not-at-top
  data, entry = reasoning_gym.entry_of(metadata)
  answer = extract_answer(completion, answer_source)
  if answer is None:
    return 0.0
  return float(data.score_answer(answer=answer, entry=entry))


@register('reasoning_gym')
def reasoning_gym_reward(batch: RewardBatch, answer_source: str = 'auto') -> np.ndarray:
  """float32 [N] in [0, 1] (0 for completions without an answer or of other tasks)."""
  return np.array([rg_score(c, m, answer_source) if str(m.get('task', '')).startswith('rg/')
                   else 0.0 for c, m in zip(batch.completions, batch.metadata)], np.float32)
