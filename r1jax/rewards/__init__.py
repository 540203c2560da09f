"""Host-side verifiers and rewards (see README.md, "Rewards", for names and options).

    from r1jax import rewards
    pool = rewards.VerifierPool(num_workers=2, timeout_s=2.0)   # once
    total, per_reward = rewards.compute_rewards(batch, config.rl.rewards, pool=pool)
"""

from r1jax.rewards.base import (REWARDS, RewardBatch, compute_rewards, get_reward,
                                register)
from r1jax.rewards.pool import VerifierPool
# Importing the modules registers their rewards.
from r1jax.rewards import (math, format, language, countdown, code, accuracy,  # noqa: E402,F401
                           length, synthetic, oracle, reasoning_gym)

__all__ = ['REWARDS', 'RewardBatch', 'VerifierPool', 'compute_rewards', 'get_reward',
           'register']
