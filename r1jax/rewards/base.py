"""Reward batch, registry and the weighted sum the RL loop calls.

A reward is a host-side function `fn(batch: RewardBatch, **options) -> np.ndarray`
returning float32 `[N]`, one value per completion. Rewards register themselves by name
with `@register('name')`; a config picks them with weights:

    config.rl.rewards = {'accuracy': 1.0, 'format': 0.5}
    total, per_reward = compute_rewards(batch, config.rl.rewards, pool=pool)
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any, Callable, Mapping

import numpy as np

RewardFn = Callable[..., np.ndarray]

REWARDS: dict[str, RewardFn] = {}


@dataclasses.dataclass
class RewardBatch:
  """One rollout batch, host side.

  Completions are ordered group-major: completions[g*G:(g+1)*G] answer the same prompt,
  G = group_size. `prompts` and `metadata` have one entry per completion (N entries).
  """
  completions: list[str]
  prompts: list[str]
  metadata: list[dict]
  group_size: int = 1
  completion_lens: np.ndarray | None = None   # [N] int, completion length in tokens
  max_completion_len: int | None = None       # tokens the sampler may generate
  truncated: np.ndarray | None = None         # [N] bool, hit max length without a stop
  completion_ids: list | None = None          # [N] lists of token ids (stop token excluded)

  def __post_init__(self):
    n = len(self.completions)
    if len(self.prompts) != n or len(self.metadata) != n:
      raise ValueError(
          f'RewardBatch needs one prompt and one metadata dict per completion: got '
          f'{n} completions, {len(self.prompts)} prompts, {len(self.metadata)} metadata; '
          'repeat each prompt/metadata group_size times (group-major order)')
    if self.group_size < 1 or n % self.group_size:
      raise ValueError(f'group_size={self.group_size} does not divide {n} completions; '
                       'pass the G used by the sampler')
    if self.completion_lens is not None:
      self.completion_lens = np.asarray(self.completion_lens)
      if self.completion_lens.shape != (n,):
        raise ValueError(f'completion_lens has shape {self.completion_lens.shape}, '
                         f'expected ({n},)')

  def __len__(self):
    return len(self.completions)


def register(name: str):
  """Decorator: make `fn` available to configs as `name`."""
  def wrap(fn: RewardFn) -> RewardFn:
    if name in REWARDS and REWARDS[name] is not fn:
      raise ValueError(f'reward {name!r} is registered twice; pick another name')
    REWARDS[name] = fn
    return fn
  return wrap


def get_reward(name: str) -> RewardFn:
  """The reward function registered as `name`; ValueError listing the known ones."""
  try:
    return REWARDS[name]
  except KeyError:
    raise ValueError(f'unknown reward {name!r}; registered rewards: '
                     f'{", ".join(sorted(REWARDS))}') from None


def _accepted_options(fn: RewardFn, options: Mapping[str, Any]) -> dict[str, Any]:
  """The subset of `options` that `fn` declares (all of them if it takes **kwargs)."""
  params = inspect.signature(fn).parameters
  if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
    return dict(options)
  return {k: v for k, v in options.items() if k in params}


def compute_rewards(batch: RewardBatch, weights: Mapping[str, float], pool=None,
                    **options) -> tuple[np.ndarray, dict[str, np.ndarray]]:
  """Weighted sum of the named rewards.

  Args:
    batch: the rollout batch (N completions).
    weights: {reward name: weight}; a ConfigDict works.
    pool: a `VerifierPool` reused across steps for the slow math path (None: a lazily
      created process-wide default pool).
    **options: passed to every reward that declares them (e.g. `overlong_buffer`,
      `answer_source`, `code_timeout_s`).

  Returns:
    total float32 [N] and {name: float32 [N]} (unweighted values).
  """
  weights = dict(weights.items())
  fns = {name: get_reward(name) for name in weights}   # fail before doing any work
  n = len(batch)
  total = np.zeros(n, np.float32)
  per_reward = {}
  for name, fn in fns.items():
    values = np.asarray(fn(batch, **_accepted_options(fn, {'pool': pool, **options})),
                        np.float32)
    if values.shape != (n,):
      raise ValueError(f'reward {name!r} returned shape {values.shape}, expected ({n},)')
    per_reward[name] = values
    total += np.float32(weights[name]) * values
  return total, per_reward
