"""Rewards on token ids rather than text: cheap, identical in every implementation (the
GRPO step benchmark's workload, ../shared/bench/grpo_tiny.json)."""
import numpy as np

from r1jax.rewards.base import RewardBatch, register


@register('even_tokens')
def even_tokens(batch: RewardBatch) -> np.ndarray:
  """Fraction of each completion's token ids that are even. float32 [N]."""
  if batch.completion_ids is None:
    raise ValueError("reward 'even_tokens' needs RewardBatch.completion_ids (token ids)")
  return np.array([np.mean(np.asarray(ids) % 2 == 0) if len(ids) else 0.0
                   for ids in batch.completion_ids], np.float32)
