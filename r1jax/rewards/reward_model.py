"""The learned reward model as an RL reward (DeepSeek-R1 sec. 2.3.4), compiled on the device
beside the policy: helpfulness scored on the summary after `</think>` only, harmlessness on
the whole response, reasoning included.

  rm = RewardModelReward(model_cfg, rm_params, mesh, rules, think_close_id)
  rm.calibrate(tokens, valid, response_start)        # reference rows: held-out pair responses
  out = rm(tokens, valid, response_start)            # this host's rows in, numpy out
  out['helpfulness'], out['harmlessness']            # normalised to (0, 1); raw in 'raw_*'

Rows are `[BOS] prompt response [EOS]` in any padding (left-padded prompts followed by a
completion, as in a rollout, or right-padded documents); `response_start` [R] is the column
of each row's first response token. For helpfulness the tokens from there through the first
`</think>` are masked out of `valid`; the reward head reads the last real token either way, and
positions count real tokens only, so a masked row is scored as `[BOS] prompt summary [EOS]`
(no `</think>`: the whole response, as r1jax/rewards/oracle.py's summary_text).

Normalisation: raw Bradley-Terry scores have an arbitrary offset and scale. Each is mapped to
sigmoid((score - mean) / std) with the mean and std of that score over reference rows (the
held-out pairs' chosen and rejected responses, scored once when RL starts): a fixed map, so a
reward means the same at every step, in (0, 1) like the rule rewards it is mixed with.
"""
import jax
import jax.numpy as jnp
import numpy as np

from r1jax import sharding
from r1jax.models.reward_head import reward_scores


def summary_valid(tokens, valid, response_start, think_close_id: int):
  """`valid` without the response's reasoning: columns from response_start through the first
  `</think>` at or after it (rows with no `</think>` keep everything). [R, T] bool."""
  cols = jnp.arange(tokens.shape[1])[None, :]
  in_response = cols >= response_start[:, None]
  close = (tokens == think_close_id) & in_response & valid
  close_at = jnp.argmax(close, axis=1)
  reasoning = in_response & (cols <= close_at[:, None]) & close.any(axis=1)[:, None]
  return valid & ~reasoning


def make_scenario_score_fn(model_cfg, think_close_id: int):
  """score(params, tokens, valid, response_start) -> (helpfulness [R], harmlessness [R]) raw."""
  def score(params, tokens, valid, response_start):
    harmlessness = reward_scores(model_cfg, params, tokens, valid)
    helpfulness = reward_scores(model_cfg, params, tokens,
                                summary_valid(tokens, valid, response_start, think_close_id))
    return helpfulness, harmlessness
  return score


class RewardModelReward:
  """The jitted scoring function on the mesh and its normalisation."""

  def __init__(self, model_cfg, params, mesh, rules, think_close_id: int):
    self.params, self.mesh, self.rules = params, mesh, rules
    rows1 = sharding.batch_sharding(mesh, 1)
    with sharding.use_mesh(mesh, rules):
      self.score = jax.jit(make_scenario_score_fn(model_cfg, think_close_id),
                           out_shardings=(rows1, rows1))
    self.stats = {'helpfulness': (0.0, 1.0), 'harmlessness': (0.0, 1.0)}

  def raw(self, tokens, valid, response_start) -> dict:
    """Raw scores of this host's rows (numpy in and out; the row count is padded up to the
    data-parallel size and cut back)."""
    rows = len(tokens)
    pad = -rows % sharding.data_parallel_size(self.mesh)
    if pad:  # repeat the last row
      tokens, valid, response_start = (np.concatenate([x, np.repeat(x[-1:], pad, 0)])
                                       for x in (tokens, valid, response_start))
    batch = sharding.put_batch((np.asarray(tokens, np.int32), np.asarray(valid, bool),
                                np.asarray(response_start, np.int32)), self.mesh)
    with sharding.use_mesh(self.mesh, self.rules):
      helpfulness, harmlessness = self.score(self.params, *batch)
    return {'helpfulness': sharding.host_rows(helpfulness, self.mesh)[:rows],
            'harmlessness': sharding.host_rows(harmlessness, self.mesh)[:rows]}

  def calibrate(self, tokens, valid, response_start) -> dict:
    """Sets each score's mean and std from reference rows; returns them."""
    raw = self.raw(tokens, valid, response_start)
    self.stats = {k: (float(v.mean()), float(max(v.std(), 1e-3))) for k, v in raw.items()}
    return {f'{k}_{s}': v for k, (m, sd) in self.stats.items()
            for s, v in (('mean', m), ('std', sd))}

  def __call__(self, tokens, valid, response_start) -> dict:
    """{'helpfulness', 'harmlessness'} normalised to (0, 1), and their 'raw_' scores."""
    raw = self.raw(tokens, valid, response_start)
    out = {f'raw_{k}': v.astype(np.float32) for k, v in raw.items()}
    for k, v in raw.items():
      mean, std = self.stats[k]
      out[k] = (1.0 / (1.0 + np.exp(-(v - mean) / std))).astype(np.float32)
    return out
