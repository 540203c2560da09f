"""GRPO and its family between a compiled rollout and a compiled update (DeepSeek-R1-Zero).

  python -m r1jax.main --config=configs/quickstart.py --workdir=/tmp/r1jax_quickstart
  python -m r1jax.main --config=configs/r1_zero.py --config.rl.init_from=BASE_WORKDIR --workdir=DIR

One step, reading top to bottom in `run`:

  prompts (host numpy, fixed shapes) ─ put_batch ─> rollout = jit(sample)        [device]
  device_get of this host's rows ─> decode ─> verifiers (process pool)           [host]
  rewards ─> (KL penalty) ─> group advantages; dynamic sampling refills groups    [host]
  put_batch ─> reference log-probs (jit, frozen params) ─> mu x jit(train_step)  [device]

The update costs what the rollout generated, not max_new_tokens x rows: rows are sorted by
completion length and cut into rl.update_chunks chunks, each padded to the smallest of
rl.length_buckets compiled lengths that holds it; the chunks' gradients are summed (weighted
so that loss and gradient equal the whole batch's) and applied in one optimizer step
(`state.apply_gradients`: the same clipping, schedule and non-finite skip as `gradient_step`).

Choices, stated once (each is a config knob, see configs/common.py `rl`):
  * old log-probs: the sampler's (temperature-scaled) log-probs when the policy that sampled
    is the one being updated (mu = 1, no top-k/top-p); otherwise recomputed once per rollout.
  * the trained policy is softmax(logits / rl.temperature), the distribution that sampled.
  * a group never straddles hosts: prompts are sharded on `data`, G copies made in the sampler.
  * everything random is `fold_in(key(seed), step)`: a resumed run replays the same rollouts.
  * rl.loss='grpo': group advantages of the task reward; with kl_mode='reward' the KL penalty
    is subtracted after the normalisation (losses.penalized_advantages).
    rl.loss='kimi_k15': k1.5's surrogate on r - tau log Z; the old policy is the policy at the
    start of the step (pi_i), no reference model, no value network.
  * the LR schedule counts RL steps: the mu updates of a step share its rate.
  * dynamic sampling keeps groups whose success (rl.success_reward) is neither all 0 nor all
    1 (DAPO); rl.dynamic_sampling_metric='reward' keeps groups whose total reward varies.
  * prompts: the uniform epoch stream, or r1jax/data/prompt_sampler.py's curriculum /
    prioritized draws (per-prompt success stats in RLState.prompt_stats, checkpointed).
  * rl.partial_rollout_budget > 0 (k1.5 partial rollouts, r1jax/train/partial.py): rounds of
    at most that many new tokens per trajectory until a step's groups are complete; unfinished
    trajectories wait in RLState.partial (their KV caches on the devices, rl.partial_cache);
    only the step's own tokens enter the loss.
"""
import dataclasses
import time
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from r1jax import checkpoint, evaluate, losses, metrics, rewards, sampling, sharding
from r1jax.config import ConfigError, check_sampling, non_negative, positive, require
from r1jax.sharding import (all_hosts_concat, all_hosts_max, all_hosts_min, all_hosts_sum,
                            host_rows)
from r1jax.data import pipeline, prompt_sampler, source, templates
from r1jax.data.tasks import Example
from r1jax.models import ModelConfig, forward, forward_with_prefix, lm_head_weight
from r1jax.train import partial
from r1jax.train.state import (TrainState, apply_gradients, check_finite, create_train_state,
                               gradient_step, lr_schedule, make_optimizer)


@flax.struct.dataclass
class RLState:
  """Everything a resumed run needs beyond the config."""
  train: TrainState
  ref_params: Any          # frozen reference policy (None when rl.kl_beta == 0)
  prompt_cursor: jax.Array  # int32: prompts consumed so far (dynamic sampling consumes extra)
  prompt_stats: Any = None  # float32 [num_prompts, 2] success sum, attempts (prioritized)
  partial: Any = None       # partial.Buffer: trajectories in flight (partial rollouts)


@flax.struct.dataclass
class RolloutBatch:
  """One update's worth of sequences, [R = prompts x G] rows, N = max_new_tokens."""
  tokens: jax.Array        # int32 [R, P + N]: left-padded prompt, then completion
  valid: jax.Array         # bool [R, P + N]: real tokens
  completion_mask: jax.Array  # float32 [R, N]: tokens that count in the loss
  old_logp: jax.Array      # float32 [R, N]
  ref_logp: jax.Array      # float32 [R, N] (zeros when there is no reference)
  advantages: jax.Array    # float32 [R] (k1.5: r - tau log Z, the centred reward)


def loss_config(rl_cfg) -> losses.PolicyLossConfig:
  kwargs = dict(rl_cfg)
  kwargs['dual_clip'] = rl_cfg.dual_clip or None             # 0 = off
  # 0 = max_new_tokens (explicit: the update sees completions cut to a length bucket)
  kwargs['token_sum_constant'] = rl_cfg.token_sum_constant or rl_cfg.max_new_tokens
  return losses.PolicyLossConfig.from_config(kwargs)


def completion_logprobs(model_cfg, params, tokens, valid, prompt_len: int, temperature: float,
                        prefix=None):
  """log pi(completion token) and entropy under softmax(logits / T): [R, N] each.

  tokens, valid [R, P + N]; with `prefix` [P0] (the first P0 columns, equal in every row) the
  prefix is computed once for all rows. With model.logits_chunk > 0 the vocabulary is
  processed in chunks from the hidden states (no [R, N, V] logits)."""
  chunk = model_cfg.logits_chunk
  if prefix is None:
    logits = forward(model_cfg, params, tokens[:, :-1], valid[:, :-1],
                     return_hidden=chunk > 0)[:, prompt_len - 1:]
  else:
    start = prefix.shape[0]
    logits = forward_with_prefix(model_cfg, params, prefix, tokens[:, start:-1],
                                 valid[:, start:-1],
                                 return_hidden=chunk > 0)[:, prompt_len - 1 - start:]
  if chunk > 0:  # `logits` are hidden states [R, N, D] here
    logp, entropy, _ = losses.chunked_logit_stats(
        logits, lm_head_weight(model_cfg, params), tokens[:, prompt_len:], chunk,
        max(temperature, 1e-6))
    return logp, entropy
  logits = logits.astype(jnp.float32) / max(temperature, 1e-6)
  return losses.token_logprobs(logits, tokens[:, prompt_len:]), losses.token_entropy(logits)


def make_loss_fn(model_cfg: ModelConfig, loss_cfg, prompt_len: int, temperature: float,
                 prefix=None, rl_cfg=None):
  """loss_fn(params, batch) -> (loss, metrics). rl_cfg.loss picks GRPO's family
  (`policy_loss`) or k1.5's surrogate (`kimi_k15_residual_loss` on batch.advantages =
  r - tau log Z, old policy = the policy that started the step)."""
  kimi = rl_cfg is not None and rl_cfg.loss == 'kimi_k15'

  def loss_fn(params, batch: RolloutBatch):
    logp, entropy = completion_logprobs(model_cfg, params, batch.tokens, batch.valid,
                                        prompt_len, temperature, prefix)
    if kimi:
      return losses.kimi_k15_residual_loss(logp, batch.old_logp, batch.advantages,
                                           batch.completion_mask, rl_cfg.kimi_tau,
                                           rl_cfg.kimi_length_normalize)
    ref = batch.ref_logp if loss_cfg.kl_beta > 0 else None
    return losses.policy_loss(logp, batch.old_logp, batch.advantages, batch.completion_mask,
                              loss_cfg, ref_logp=ref, entropy=entropy)
  return loss_fn


def make_train_step(model_cfg: ModelConfig, tx, loss_cfg, prompt_len: int, temperature: float,
                    prefix=None, rl_cfg=None, schedule=None):
  """The update on `make_loss_fn`; `schedule` (the optimizer's learning rate by update count)
  is reported as metrics['learning_rate']."""
  loss_fn = make_loss_fn(model_cfg, loss_cfg, prompt_len, temperature, prefix, rl_cfg)

  def train_step(state: TrainState, batch: RolloutBatch):
    new_state, metrics = gradient_step(state, tx, lambda params: loss_fn(params, batch))
    if schedule is not None:
      metrics['learning_rate'] = schedule(state.step)  # the rate this update applied
    return new_state, metrics
  return train_step


def make_chunk_grad(model_cfg: ModelConfig, loss_cfg, prompt_len: int, temperature: float,
                    prefix=None, rl_cfg=None):
  """chunk_grad(params, batch, weight, acc) -> (acc + grad of weight * loss, metrics): one chunk
  of a batch split by completion length (GRPOTrainer.plan), on `make_loss_fn`."""
  loss_fn = make_loss_fn(model_cfg, loss_cfg, prompt_len, temperature, prefix, rl_cfg)

  def chunk_grad(params, batch: RolloutBatch, weight, acc):
    weighted = lambda p: (lambda out: (out[0] * weight, out[1]))(loss_fn(p, batch))
    (_, metrics), grads = jax.value_and_grad(weighted, has_aux=True)(params)
    return jax.tree.map(jnp.add, acc, grads), metrics
  return chunk_grad


# Metrics that are means over valid tokens (losses.policy_loss's _masked_mean): a chunked
# update averages them with each chunk's token share; extrema take the extremum; the rest
# (losses, and k1.5's per-sequence means) add with the loss weights.
TOKEN_MEAN_METRICS = ('clip_frac_low', 'clip_frac_high', 'clip_frac_dual', 'ratio_mean', 'kl',
                      'entropy')


def combine_chunk_metrics(parts: list, loss_weights, token_shares, has_tokens) -> dict:
  """The whole batch's metrics from its chunks' (in-graph; weights [chunks] float32)."""
  out = {}
  for key in parts[0]:
    values = jnp.stack([p[key] for p in parts])
    if key.endswith('_max'):   # chunks without loss tokens report a placeholder: left out
      out[key] = jnp.where(has_tokens.any(), jnp.max(jnp.where(has_tokens, values, -jnp.inf)),
                           values[0])
    elif key.endswith('_min'):
      out[key] = jnp.where(has_tokens.any(), jnp.min(jnp.where(has_tokens, values, jnp.inf)),
                           values[0])
    elif key in TOKEN_MEAN_METRICS:
      out[key] = jnp.dot(values, token_shares)
    else:
      out[key] = jnp.dot(values, loss_weights)
  return out


def make_apply_chunks(tx, schedule=None):
  """apply_chunks(state, grads, parts, loss_weights, token_shares, has_tokens) -> (state,
  metrics): the optimizer step on gradients summed over chunks, as `make_train_step` does it
  on one batch (state.apply_gradients; metrics['learning_rate'] from `schedule`)."""
  def apply_chunks(state: TrainState, grads, parts, loss_weights, token_shares, has_tokens):
    metrics = combine_chunk_metrics(parts, loss_weights, token_shares, has_tokens)
    new_state, metrics = apply_gradients(state, tx, metrics['loss'], metrics, grads)
    if schedule is not None:
      metrics['learning_rate'] = schedule(state.step)
    return new_state, metrics
  return apply_chunks


def length_buckets(max_new_tokens: int, count: int) -> tuple:
  """The completion lengths the update compiles for: max_new_tokens / 2^k, k < count."""
  return tuple(sorted({-(-max_new_tokens // 2 ** k) for k in range(max(count, 1))}))


def make_score_fn(model_cfg, prompt_len: int, temperature: float, prefix=None):
  def score(params, tokens, valid):
    return completion_logprobs(model_cfg, params, tokens, valid, prompt_len, temperature,
                               prefix)[0]
  return score


@dataclasses.dataclass
class PromptBatch:
  """Host-side prompts: left-padded tokens [B, P], mask [B, P], texts and reward metadata."""
  tokens: np.ndarray
  mask: np.ndarray
  texts: list
  metadata: list


class TaskPrompts:
  """Deterministic stream of task prompts: a new permutation per epoch, read at a cursor.

  With share_prefix, the tokens all prompts start with (the template's preamble) stay in the
  first columns (`shared_prefix`), and the trainer computes them once per batch."""

  def __init__(self, records, tokenizer, template, prompt_len: int, seed: int,
               share_prefix: bool = False):
    self.texts = [template.prompt(r['question']) for r in records]
    keep = pipeline.drop_long_prompts(tokenizer, self.texts, prompt_len, 'rl.prompt_len')
    records, self.texts = [records[i] for i in keep], [self.texts[i] for i in keep]
    self.metadata = [Example.from_record(r).metadata() for r in records]
    self.encoded = pipeline.encode_prompts(tokenizer, self.texts, prompt_len, share_prefix)
    self.order = pipeline.BatchIterator({'index': np.arange(len(records))}, 1, seed)
    shared = pipeline.shared_prefix_len(self.encoded['tokens'], self.encoded['mask'])
    self.shared_prefix = self.encoded['tokens'][0, :shared] if share_prefix and shared > 1 else None

    # curriculum difficulty, higher = harder: 1 - pass rate when curated, else the task level
    self.difficulty = np.asarray([1.0 - float(r['pass_rate']) if 'pass_rate' in r
                                  else float(r['difficulty']) for r in records])

  def __len__(self):
    return len(self.texts)

  def take(self, cursor: int, count: int) -> PromptBatch:
    """Prompts [cursor, cursor + count) of the stream."""
    return self.take_indices(np.concatenate([self.order.indices(cursor + i)
                                             for i in range(count)]))

  def take_indices(self, idx) -> PromptBatch:
    """The prompts at these record indices (a prompt sampler's draw)."""
    return PromptBatch(self.encoded['tokens'][idx], self.encoded['mask'][idx],
                       [self.texts[i] for i in idx], [self.metadata[i] for i in idx])


@dataclasses.dataclass
class Rollout:
  """Host side of one rollout (this host's rows): what the verifiers and the update need."""
  prompts: PromptBatch        # B prompts
  tokens: np.ndarray          # [B*G, N]
  mask: np.ndarray            # [B*G, N]
  logprobs: np.ndarray        # [B*G, N]
  lengths: np.ndarray         # [B*G]
  stopped: np.ndarray         # [B*G]
  rewards: np.ndarray         # [B*G] weighted total
  per_reward: dict            # {name: [B*G]}
  fresh: np.ndarray | None = None  # bool [B*G, N]: this step's tokens (partial rollouts)

  def select(self, groups: np.ndarray, group_size: int) -> 'Rollout':
    """The rollout restricted to some groups (prompts)."""
    rows = (groups[:, None] * group_size + np.arange(group_size)).reshape(-1)
    p = self.prompts
    prompts = PromptBatch(p.tokens[groups], p.mask[groups], [p.texts[g] for g in groups],
                          [p.metadata[g] for g in groups])
    return Rollout(prompts, self.tokens[rows], self.mask[rows], self.logprobs[rows],
                   self.lengths[rows], self.stopped[rows], self.rewards[rows],
                   {k: v[rows] for k, v in self.per_reward.items()})

  @staticmethod
  def concat(parts: list) -> 'Rollout':
    if len(parts) == 1:
      return parts[0]
    cat = lambda get: np.concatenate([get(p) for p in parts])
    join = lambda get: [x for p in parts for x in get(p)]
    prompts = PromptBatch(cat(lambda p: p.prompts.tokens), cat(lambda p: p.prompts.mask),
                          join(lambda p: p.prompts.texts), join(lambda p: p.prompts.metadata))
    return Rollout(prompts, *(cat(lambda p, f=f: getattr(p, f)) for f in (
        'tokens', 'mask', 'logprobs', 'lengths', 'stopped', 'rewards')),
                   {k: cat(lambda p, k=k: p.per_reward[k]) for k in parts[0].per_reward})


class GRPOTrainer:
  """The RL step, reusable by the stage loop (`run`) and the benchmark.

  trainer = GRPOTrainer(config, tokenizer, mesh, rules, params, prompts)
  row = trainer.step()      # one rollout (+ refills), verification, mu updates; a metrics dict
  """

  def __init__(self, config, tokenizer, mesh, rules, params, prompts, pool=None):
    self.config, self.rl, self.tokenizer, self.mesh, self.rules = (
        config, config.rl, tokenizer, mesh, rules)
    self.prompts = prompts
    self.prefix = getattr(prompts, 'shared_prefix', None)  # computed once per batch if set
    self.model_cfg = ModelConfig.from_config(config.model)
    # the template decides where the answer is read (R1 templates: the <answer> tag only);
    # rl.reward_options.answer_source overrides it
    self.reward_options = {'answer_source': templates.get_template(
        config.data.template).answer_source, **dict(self.rl.reward_options)}
    self.loss_cfg = loss_config(self.rl)
    self.use_ref = self.rl.kl_beta > 0
    self.key = jax.random.key(config.seed)
    self.pool = pool if pool is not None else rewards.VerifierPool(
        num_workers=self.rl.verifier_workers, timeout_s=self.rl.verifier_timeout_s)
    self.local_prompts = self.rl.prompts_per_step // jax.process_count()
    self.buckets = length_buckets(self.rl.max_new_tokens, self.rl.length_buckets)
    # At most rl.update_chunks chunks: the most that split the rows evenly over the data axes.
    rows, data = self.rl.prompts_per_step * self.rl.group_size, sharding.data_parallel_size(mesh)
    self.chunks = max(c for c in range(1, max(self.rl.update_chunks, 1) + 1)
                      if rows % (c * data) == 0)

    # mu updates per RL step: the schedule counts steps (see state.lr_schedule)
    self.schedule = lr_schedule(self.rl, self.rl.steps, self.rl.num_iterations)
    self.tx = make_optimizer(self.rl, self.rl.steps, self.rl.num_iterations)
    train_state, self.shardings = create_train_state(self.model_cfg, self.tx, self.key, mesh,
                                                     rules, params=params)
    # the reference is a copy: the policy's buffers are donated to the update
    ref_params = jax.tree.map(jnp.copy, train_state.params) if self.use_ref else None
    self.sampler_mode = self.rl.sampling
    self.prompt_sampler = None
    if self.sampler_mode != 'uniform':
      self.prompt_sampler = prompt_sampler.PromptSampler(
          self.sampler_mode, len(prompts), config.seed + 2,
          difficulty=getattr(prompts, 'difficulty', None),
          curriculum_steps=self.rl.curriculum_steps or self.rl.steps,
          curriculum_start=self.rl.curriculum_start, priority_floor=self.rl.priority_floor)
    stats = self.prompt_sampler and self.prompt_sampler.initial_stats()
    # partial rollouts: twice a rollout's rows, room for finished samples waiting for their group
    buffer = None
    if self.rl.partial_rollout_budget:
      buffer = jax.device_put(partial.empty(2 * rows, self.rl.max_new_tokens, tokenizer.pad_id),
                              sharding.replicated(mesh))
    self.state = RLState(train=train_state, ref_params=ref_params,
                         prompt_cursor=jax.device_put(jnp.int32(0), sharding.replicated(mesh)),
                         prompt_stats=None if stats is None else jax.device_put(
                             stats, sharding.replicated(mesh)),
                         partial=buffer)
    # benchmarks and tests: fn(prompt position, member) -> forced completion length (0 = not
    # forced) for partial rollouts: a reproducible length distribution, as sampling's stop_at
    self.target_length = None
    self._compile()

  def _compile(self):
    rl_cfg, mesh = self.rl, self.mesh
    rows2, rows1 = sharding.batch_sharding(mesh, 2), sharding.batch_sharding(mesh, 1)
    self.batch_shardings = RolloutBatch(tokens=rows2, valid=rows2, completion_mask=rows2,
                                        old_logp=rows2, ref_logp=rows2, advantages=rows1)
    self.sampler = sampling.Sampler(
        self.model_cfg, sampling.SamplingConfig(
            max_new_tokens=rl_cfg.max_new_tokens, group_size=rl_cfg.group_size,
            temperature=rl_cfg.temperature, top_k=rl_cfg.top_k, top_p=rl_cfg.top_p,
            pad_id=self.tokenizer.pad_id,
            stop_ids=self.tokenizer.stop_ids if rl_cfg.stop_on_eos else (),
            share_prefix=bool(self.config.data.get('share_prefix', False))),
        mesh, self.rules)
    # The template's preamble is prefilled and kept once for all rows (the last column never)
    self.sampler_prefix = (0 if self.prefix is None else
                           min(len(self.prefix), rl_cfg.prompt_len - 1))
    self.kept_cache = None
    if rl_cfg.partial_rollout_budget:  # continues prompt + completion so far, one group row each
      segment = dataclasses.replace(self.sampler.cfg, max_new_tokens=rl_cfg.partial_rollout_budget,
                                    group_size=1)
      self.partial_sampler = sampling.Sampler(self.model_cfg, segment, mesh, self.rules)
      if rl_cfg.partial_cache != 'off':   # each row's KV cache kept between rounds
        context = rl_cfg.prompt_len + partial.prefix_width(rl_cfg.max_new_tokens,
                                                           rl_cfg.partial_rollout_budget)
        rows = rl_cfg.prompts_per_step * rl_cfg.group_size
        self.kept_cache = partial.KeptCache(
            sampling.Continuation(self.model_cfg, segment, rows, context, mesh, self.rules,
                                  admit=False),
            sampling.Continuation(self.model_cfg, segment, rows, rl_cfg.prompt_len, mesh,
                                  self.rules, shift=False),
            2 * rows, self.tokenizer.pad_id)
    prefix = None if self.prefix is None else jnp.asarray(self.prefix, jnp.int32)
    with sharding.use_mesh(mesh, self.rules):
      self.train_step = jax.jit(
          make_train_step(self.model_cfg, self.tx, self.loss_cfg, rl_cfg.prompt_len,
                          rl_cfg.temperature, prefix, rl_cfg, self.schedule),
          in_shardings=(self.shardings, self.batch_shardings),
          out_shardings=(self.shardings, sharding.replicated(mesh)), donate_argnums=0)
      # the chunked update: one call per chunk (compiled once per length bucket), then one
      # optimizer step on the summed gradients
      params_sh, repl = self.shardings.params, sharding.replicated(mesh)
      self.chunk_grad = jax.jit(
          make_chunk_grad(self.model_cfg, self.loss_cfg, rl_cfg.prompt_len, rl_cfg.temperature,
                          prefix, rl_cfg),
          in_shardings=(params_sh, self.batch_shardings, repl, params_sh),
          out_shardings=(params_sh, repl), donate_argnums=3)
      # the state is donated; the summed gradients are not (no output has their place, and
      # donating them only made XLA warn that it could not use them)
      self.apply_chunks = jax.jit(make_apply_chunks(self.tx, self.schedule),
                                  out_shardings=(self.shardings, repl), donate_argnums=0)
      self.zero_grads = jax.jit(lambda p: jax.tree.map(jnp.zeros_like, p),
                                out_shardings=params_sh)
      self.score = jax.jit(make_score_fn(self.model_cfg, rl_cfg.prompt_len, rl_cfg.temperature,
                                         prefix),
                           in_shardings=(self.shardings.params, rows2, rows2),
                           out_shardings=rows2)
    # The sampler's log-probs are the old policy's exactly when nothing else moved it.
    self.recompute_old = rl_cfg.num_iterations > 1 or rl_cfg.top_k > 0 or rl_cfg.top_p < 1

  @property
  def params(self):
    return self.state.train.params

  @property
  def step_count(self) -> int:
    """RL steps done (rollouts consumed by updates)."""
    return int(self.state.train.step) // self.rl.num_iterations

  def prompt_indices(self, cursor: int, step: int, stats=None):
    """The global prompt indices a curriculum/prioritized rollout at `cursor` trains on
    (None for the uniform stream); deterministic given (seed, cursor, step, stats)."""
    if self.prompt_sampler is None:
      return None
    if stats is None and self.state.prompt_stats is not None:
      stats = np.asarray(jax.device_get(self.state.prompt_stats))
    return self.prompt_sampler.indices(cursor, self.rl.prompts_per_step, step, stats)

  def reward_weights(self, step: int) -> dict:
    """rl.rewards with each reward's weight 0 during its warm-up (rl.reward_warmup, and
    rl.length_penalty_warmup for 'length_penalty'): k1.5 turns the length penalty on late."""
    warmup = dict(self.rl.reward_warmup)
    if self.rl.length_penalty_warmup:
      warmup['length_penalty'] = self.rl.length_penalty_warmup
    return {name: 0.0 if step < warmup.get(name, 0) else float(weight)
            for name, weight in self.rl.rewards.items()}

  def rollout(self, cursor: int, rng, step: int = 0, stats=None) -> Rollout:
    """G completions for the prompts at `cursor`, verified on the host."""
    indices = self.prompt_indices(cursor, step, stats)
    prompts = (self.prompts.take(cursor, self.rl.prompts_per_step) if indices is None
               else self.prompts.take_indices(indices))
    if indices is not None:  # the sampler's difficulty of each drawn prompt: prompt_difficulty
      difficulty = np.asarray(self.prompts.difficulty)[indices]
      prompts = dataclasses.replace(prompts, metadata=[
          {**m, 'sampling_difficulty': float(d)} for m, d in zip(prompts.metadata, difficulty)])
    index = jax.process_index()  # this host's rows: a contiguous block of the global batch
    rows = slice(index * self.local_prompts, (index + 1) * self.local_prompts)
    prompts = PromptBatch(prompts.tokens[rows], prompts.mask[rows], prompts.texts[rows],
                          prompts.metadata[rows])
    samples = self.sampler(self.params, prompts.tokens, prompts.mask, rng,
                           prefix_len=self.sampler_prefix)
    host = jax.tree.map(lambda x: host_rows(x, self.mesh), samples)   # the host sync
    return self.verify(prompts, host, step)

  def verify(self, prompts: PromptBatch, host, step: int) -> Rollout:
    """The Rollout of G completions per prompt (`host`: their Samples as numpy), verified."""
    group = self.rl.group_size
    ids = sampling.completion_ids(host)
    batch = rewards.RewardBatch(
        completions=[self.tokenizer.decode(x) for x in ids],
        prompts=[t for t in prompts.texts for _ in range(group)],
        metadata=[m for m in prompts.metadata for _ in range(group)],
        group_size=group, completion_lens=host.lengths,
        max_completion_len=self.rl.max_new_tokens, truncated=~host.stopped, completion_ids=ids)
    total, per_reward = self.compute_rewards(batch, prompts, host, step)
    return Rollout(prompts, host.tokens, host.mask, host.logprobs, host.lengths, host.stopped,
                   total, per_reward)

  def compute_rewards(self, batch, prompts: PromptBatch, samples, step: int):
    """(total [R], {name: [R]}) for this host's completions (`samples`: their host rows). The
    rule verifiers, on the host; RL for all scenarios (train/rl_all.py) adds the reward model."""
    del prompts, samples
    return rewards.compute_rewards(batch, self.reward_weights(step), pool=self.pool,
                                   **self.reward_options)

  def collect(self, step: int):
    """Rollouts for one step; with dynamic sampling, zero-variance groups are dropped and
    refilled from the next prompts (up to max_refill_rounds rollouts)."""
    if self.rl.partial_rollout_budget:
      return self.collect_partial(step)
    rl_cfg, group = self.rl, self.rl.group_size
    cursor = int(self.state.prompt_cursor)
    rng = jax.random.fold_in(self.key, step)
    stats = (None if self.state.prompt_stats is None
             else np.asarray(jax.device_get(self.state.prompt_stats)))
    parts, own, kept, rounds, dropped = [], 0, 0, 0, 0
    while kept < self.local_prompts:  # kept: the fewest any host has (all run each round)
      ro = self.rollout(cursor, jax.random.fold_in(rng, rounds), step, stats)
      if stats is not None:  # prioritized: every rolled-out group counts, dropped ones too
        success = ro.per_reward[rl_cfg.success_reward].reshape(-1, group).mean(axis=1)
        stats = prompt_sampler.update_stats(stats, self.prompt_indices(cursor, step, stats),
                                            all_hosts_concat(success))
      cursor += rl_cfg.prompts_per_step
      rounds += 1
      if rl_cfg.dynamic_sampling:
        # DAPO keeps groups whose accuracy is neither all 0 nor all 1 ('success'); 'reward'
        # keeps groups whose total reward varies
        signal = (ro.per_reward[rl_cfg.success_reward]
                  if rl_cfg.dynamic_sampling_metric == 'success' else ro.rewards)
        std = signal.reshape(-1, group).std(axis=1)
        keep = np.nonzero(std > 0)[0]
        dropped += len(std) - len(keep)
        if rounds >= rl_cfg.max_refill_rounds:  # out of rounds: top up with the rest
          keep = np.concatenate([keep, np.nonzero(std == 0)[0]])
        ro = ro.select(keep[:self.local_prompts - own], group)  # this host's own quota
      parts.append(ro)
      own += len(ro.prompts.texts)
      kept = all_hosts_min(own)
    if stats is not None:
      self.state = self.state.replace(prompt_stats=jax.device_put(
          stats, sharding.replicated(self.mesh)))
    return Rollout.concat(parts), cursor, {'rollout_rounds': rounds, 'dropped_groups': dropped}

  def collect_partial(self, step: int):
    """k1.5 partial rollouts (r1jax/train/partial.py): rounds of at most
    rl.partial_rollout_budget new tokens for each of R running trajectories (continued from
    their kept KV cache, or from prompt + completion so far with rl.partial_cache='off'),
    until rl.prompts_per_step groups are complete; those groups leave the buffer as this
    step's Rollout, its loss on this step's tokens."""
    rl_cfg, group = self.rl, self.rl.group_size
    rows = rl_cfg.prompts_per_step * group
    buf, cursor, rounds = partial.to_host(self.state.partial), int(self.state.prompt_cursor), 0
    rng, pad = jax.random.fold_in(self.key, step), self.tokenizer.pad_id
    take = lambda pos: self.prompts.take(int(pos), 1)
    if self.kept_cache is not None and rl_cfg.partial_cache == 'step':
      self.kept_cache.drop()   # the step's first round prefills under the current params
    while len(partial.complete_groups(buf, group)) < rl_cfg.prompts_per_step:
      buf, cursor = partial.admit(buf, cursor, group, rows - len(partial.running(buf)))
      live = partial.running(buf)
      prompts = [take(p) for p in buf.pos[live]]
      prompt_tokens = np.concatenate([p.tokens for p in prompts])
      prompt_mask = np.concatenate([p.mask for p in prompts])
      stop_at = np.zeros(len(live), np.int32)
      if self.target_length is not None:
        target = np.array([self.target_length(int(buf.pos[r]), int(buf.member[r]))
                           for r in live], np.int32)
        stop_at = np.where(target > 0, target - buf.lengths[live], 0).astype(np.int32)
      key = jax.random.fold_in(rng, rounds)
      if self.kept_cache is not None:
        host = self.kept_cache.round(self.params, buf, live, prompt_tokens, prompt_mask, key,
                                     stop_at)
      else:
        host = self.reprefill_round(buf, live, prompt_tokens, prompt_mask, key, stop_at)
      buf = partial.append(buf, live, host, step, rl_cfg.repeat_ngram)
      if self.kept_cache is not None:
        self.kept_cache.settle(buf)
      rounds += 1
    positions = partial.complete_groups(buf, group)[:rl_cfg.prompts_per_step]
    done = partial.group_rows(buf, positions, group)
    prompts = [take(p) for p in positions]
    prompts = PromptBatch(np.concatenate([p.tokens for p in prompts]),
                          np.concatenate([p.mask for p in prompts]),
                          [t for p in prompts for t in p.texts],
                          [m for p in prompts for m in p.metadata])
    n = rl_cfg.max_new_tokens
    host = sampling.Samples(tokens=buf.tokens[done], logprobs=buf.logprobs[done],
                            mask=np.arange(n)[None, :] < buf.lengths[done][:, None],
                            lengths=buf.lengths[done], stopped=buf.stopped[done])
    ro = self.verify(prompts, host, step)
    repeated = buf.repeated[done]
    ro.rewards = ro.rewards - rl_cfg.repeat_penalty * repeated   # k1.5: repeats are penalised
    ro.per_reward['repeated'] = repeated.astype(np.float32)
    ro.fresh = buf.born[done] == step
    buf = partial.release(buf, done, pad)
    self.state = self.state.replace(partial=jax.device_put(buf, sharding.replicated(self.mesh)))
    return ro, cursor, {'rollout_rounds': rounds, 'partial_carried': len(partial.running(buf)),
                        'partial_reused_tokens': int((host.mask & ~ro.fresh).sum())}

  def reprefill_round(self, buf, live, prompt_tokens, prompt_mask, rng, stop_at):
    """rl.partial_cache='off': one round by the plain sampler, every running row's prompt +
    completion so far prefilled again at width P + prefix_width; host Samples of `live`."""
    rows, pad = self.rl.prompts_per_step * self.rl.group_size, self.tokenizer.pad_id
    tokens, mask = partial.contexts(buf, live, prompt_tokens, prompt_mask, pad,
                                    self.rl.partial_rollout_budget)
    idle = rows - len(live)  # rows no whole group fits in: one pad token, forced to stop
    tokens = np.concatenate([tokens, np.full((idle, tokens.shape[1]), pad, np.int32)])
    mask = np.concatenate([mask, np.zeros((idle, mask.shape[1]), bool)])
    mask[len(live):, -1] = True
    stop_at = np.concatenate([stop_at, np.full(idle, 1 if self.sampler.cfg.stop_ids else 0,
                                               np.int32)])
    samples = self.partial_sampler(self.params, tokens, mask, rng, stop_at)
    return jax.tree.map(lambda x: host_rows(x, self.mesh)[:len(live)], samples)

  def plan(self, ro: Rollout) -> list:
    """How the update covers this host's rows: [(row indices, completion length)], one entry
    per chunk. Rows are sorted by length and cut into `self.chunks` equal chunks, each padded
    only to the smallest length bucket that holds its longest completion (the same on every
    host), so the update's cost follows the tokens generated, not max_new_tokens x rows. One
    entry over all rows when every chunk would get the same length."""
    rows, chunks = len(ro.lengths), self.chunks
    order = np.argsort(ro.lengths, kind='stable') if chunks > 1 else np.arange(rows)
    out = []
    for idx in np.split(order, chunks):
      longest = all_hosts_max(int(ro.lengths[idx].max()))
      out.append((idx, next(b for b in self.buckets if b >= longest)))
    if len({n for _, n in out}) == 1:
      return [(np.arange(rows), out[0][1])]
    return out

  def loss_mask(self, ro: Rollout) -> np.ndarray:
    loss_mask = ro.mask.astype(np.float32)
    if self.rl.mask_truncated:  # DAPO: a cut-off answer says nothing about how to end
      loss_mask = loss_mask * ro.stopped[:, None]
    if ro.fresh is not None and self.rl.partial_loss == 'fresh':
      loss_mask = loss_mask * ro.fresh   # partial rollouts: earlier steps' tokens are context
    return loss_mask

  def device_batches(self, ro: Rollout, plan: list) -> list:
    """Prompt + completion rows of each chunk on the mesh, cut to the chunk's length bucket;
    reference (and old) log-probs filled in."""
    group, prompt_len = self.rl.group_size, self.rl.prompt_len
    loss_mask = self.loss_mask(ro)
    tokens = np.concatenate([np.repeat(ro.prompts.tokens, group, 0), ro.tokens], axis=1)
    valid = np.concatenate([np.repeat(ro.prompts.mask, group, 0), ro.mask], axis=1)
    old_logp = ro.logprobs.astype(np.float32)
    batches = []
    for idx, length in plan:
      host = RolloutBatch(
          tokens=tokens[idx, :prompt_len + length], valid=valid[idx, :prompt_len + length],
          completion_mask=loss_mask[idx, :length], old_logp=old_logp[idx, :length],
          ref_logp=np.zeros((len(idx), length), np.float32),
          advantages=np.zeros(len(idx), np.float32))
      batch = sharding.put_batch(host, self.mesh)
      with sharding.use_mesh(self.mesh, self.rules):
        if self.use_ref:
          batch = batch.replace(ref_logp=self.score(self.state.ref_params, batch.tokens,
                                                    batch.valid))
        if self.recompute_old:
          batch = batch.replace(old_logp=self.score(self.params, batch.tokens, batch.valid))
      batches.append(batch)
    return batches

  def prepare(self, ro: Rollout):
    """The update's chunks (`plan`), their device batches with advantages, and the chunk
    weights `update` needs."""
    plan = self.plan(ro)
    batches = self.device_batches(ro, plan)
    advantages = self.advantages(ro, plan, batches).astype(np.float32)
    batches = [b.replace(advantages=sharding.put_batch(advantages[idx], self.mesh))
               for (idx, _), b in zip(plan, batches)]
    return batches, self.chunk_weights(self.loss_mask(ro), plan)

  def chunk_weights(self, loss_mask: np.ndarray, plan: list):
    """(loss weights, token shares, has-tokens) per chunk, float32 [chunks] (global counts):
    a chunk's loss times its weight sums to the whole batch's loss for rl.aggregation
    (k1.5: a mean over sequences with loss tokens)."""
    valid = [loss_mask[idx] > 0 for idx, _ in plan]
    tokens = all_hosts_sum(np.array([v.sum() for v in valid], np.float64))
    seqs = all_hosts_sum(np.array([v.any(axis=1).sum() for v in valid], np.float64))
    rows = all_hosts_sum(np.array([len(v) for v in valid], np.float64))
    if self.rl.loss == 'kimi_k15':
      counts = seqs
    else:
      counts = {'token_mean': tokens, 'token_sum': rows, 'seq_mean': seqs}[
          self.loss_cfg.aggregation]
    share = lambda c: (c / max(c.sum(), 1.0)).astype(np.float32)
    return share(counts), share(tokens), tokens > 0

  def update(self, train_state, batches: list, weights):
    """One optimizer step over the batch's chunks: `train_step` on a single chunk, else the
    chunks' weighted gradients summed, then `apply_chunks` (the same optimizer step)."""
    with sharding.use_mesh(self.mesh, self.rules):
      if len(batches) == 1:
        return self.train_step(train_state, batches[0])
      grads, parts = self.zero_grads(train_state.params), []
      for batch, weight in zip(batches, weights[0]):
        grads, part = self.chunk_grad(train_state.params, batch, weight, grads)
        parts.append(part)
      return self.apply_chunks(train_state, grads, parts, *weights)

  def step(self) -> dict:
    """One RL step; returns its metrics (host scalars)."""
    rl_cfg = self.rl
    step = self.step_count
    t0 = time.time()
    ro, cursor, row = self.collect(step)
    t1 = time.time()
    batches, weights = self.prepare(ro)
    t2 = time.time()
    train_state = self.state.train
    for i in range(rl_cfg.num_iterations):
      train_state, update_metrics = self.update(train_state, batches, weights)
      if i == 0:
        first_metrics = update_metrics
    update_metrics = jax.device_get(update_metrics)
    # the first update of a rollout is on-policy: its ratios are 1 (log-ratios 0 for k1.5)
    first = {f'first_{k}': float(v) for k, v in jax.device_get(first_metrics).items()
             if k in ('ratio_min', 'ratio_max', 'seq_log_ratio_abs_max')}
    t3 = time.time()
    self.state = self.state.replace(train=train_state, prompt_cursor=jax.device_put(
        jnp.int32(cursor), sharding.replicated(self.mesh)))

    # statistics of the global batch (every host's rows), which process 0 logs
    per_reward = {k: all_hosts_concat(v.astype(np.float32)) for k, v in ro.per_reward.items()}
    rewards, lengths = all_hosts_concat(ro.rewards.astype(np.float32)), all_hosts_concat(ro.lengths)
    stopped = all_hosts_concat(ro.stopped)
    row.update({f'reward/{k}': float(v.mean()) for k, v in per_reward.items()})
    row.update({f'reward_std/{k}': float(v.std()) for k, v in per_reward.items()})
    if 'accuracy' in per_reward:
      row['accuracy'] = float(per_reward['accuracy'].mean())
    row.update(
        reward=float(rewards.mean()), reward_std=float(rewards.std()),
        response_len=float(lengths.mean()), response_len_max=int(lengths.max()),
        clipped_frac=float((~stopped).mean()),
        prompt_cursor=cursor, rollout_s=t1 - t0, reference_s=t2 - t1, update_s=t3 - t2,
        step_s=t3 - t0, tokens_per_second=float(lengths.sum()) / (t1 - t0),
        update_tokens=int(sum(b.tokens.size for b in batches)),
        compiles=metrics.compile_count(), **first,
        **{k: float(v) for k, v in update_metrics.items()})
    if self.sampler_mode != 'uniform':
      row['prompt_difficulty'] = float(np.mean([m.get('sampling_difficulty', np.nan)
                                                for m in ro.prompts.metadata]))
    return row

  def advantages(self, ro: Rollout, plan: list, batches: list) -> np.ndarray:
    """Per-sequence advantages [B*G] on the host. GRPO family: group advantages of the task
    reward, minus the centred KL penalty with rl.kl_mode='reward' (losses.penalized_advantages:
    the penalty is never std-normalised). k1.5: r - tau log Z (losses.kimi_baseline)."""
    rl_cfg, task = self.rl, ro.rewards.astype(np.float32)
    if rl_cfg.loss == 'kimi_k15':
      return task - losses.kimi_baseline(task, rl_cfg.group_size, rl_cfg.kimi_tau,
                                         rl_cfg.kimi_baseline)
    if self.use_ref and self.loss_cfg.kl_mode == 'reward':
      penalty = np.zeros(len(task), np.float32)
      for (idx, _), batch in zip(plan, batches):
        penalty[idx] = host_rows(losses.kl_reward_penalty(
            batch.old_logp, batch.ref_logp, batch.completion_mask, rl_cfg.kl_beta,
            self.loss_cfg.kl_estimator), self.mesh)
      return losses.penalized_advantages(task, penalty, rl_cfg.group_size,
                                         rl_cfg.advantage_mode)
    return losses.group_advantages(task, rl_cfg.group_size, mode=rl_cfg.advantage_mode)


def run(config, workdir: str, tokenizer, mesh, rules, init_params=None, stage: str = 'rl',
        make_trainer=None, make_evaluator=None):
  """R1-Zero style RL from `init_params` (or the base checkpoint); returns the final RLState.
  make_trainer(params) / make_evaluator(pool) replace the GRPOTrainer on the task prompts and
  the held-out Evaluator (RL for all scenarios, r1jax/train/rl_all.py)."""
  rl_cfg = config.rl
  model_cfg = ModelConfig.from_config(config.model)
  ckpt = checkpoint.Checkpointer(workdir, stage, config.checkpoint.every, config.checkpoint.keep)
  resuming = ckpt.latest_step() is not None
  if init_params is None and not resuming:
    init_params = load_base_params(config, workdir, model_cfg, mesh, rules)

  metrics.note(f'[{stage}] Verifier pool, prompts and compiled rollout/update...')
  if make_trainer is None:
    template = templates.get_template(config.data.template)
    if rl_cfg.prompt_set:  # a curated set (k1.5): records carry pass_rate = difficulty
      from r1jax.data import curate  # pylint: disable=g-import-not-at-top
      records = curate.load_prompt_set(workdir, rl_cfg.prompt_set)
    else:
      records = source.load_records(config.data, 'train')
    prompts = TaskPrompts(records, tokenizer, template,
                          rl_cfg.prompt_len, seed=config.seed + 1,
                          share_prefix=config.data.share_prefix)
    make_trainer = lambda params: GRPOTrainer(config, tokenizer, mesh, rules, params, prompts)
  trainer = make_trainer(init_params)
  if trainer.prefix is not None:
    metrics.note(f'[{stage}] Shared prompt prefix of {len(trainer.prefix)} tokens '
                 'computed once per batch')
  if resuming:
    trainer.state = ckpt.restore(trainer.state)
    metrics.note(f'[{stage}] Resumed from step {trainer.step_count}')
  evaluator = (make_evaluator or (lambda pool: evaluate.Evaluator(
      config, tokenizer, mesh, rules, pool=pool)))(trainer.pool)
  writer = metrics.MetricWriter(
      workdir, stage, rl_cfg.steps, config.log.tensorboard,
      console_keys=('reward', 'accuracy', 'response_len', 'kl', 'eval/accuracy', 'compiles'))

  step = trainer.step_count
  # Step 0's per-prompt verdicts: each later evaluation reports its paired difference to them
  # on the same prompts (eval/paired_*); kept on disk for a resumed run.
  before_path = f'{str(workdir).rstrip("/")}/eval/{stage}_step0_scores.json'
  if step == 0:
    before = evaluator(trainer.params)
    writer.write(0, before)
    before_correct = evaluator.last_correct
    evaluator.save_scores(before_path)
  else:
    before = next((r for r in metrics.read_metrics(workdir, stage)
                   if r['step'] == 0 and 'eval/accuracy' in r), None)
    before_correct = evaluator.load_scores(before_path)
  try:
    with ckpt.saving_on_exit(stage, lambda: (step, trainer.state)):  # Ctrl-C, a crash: saved
      while step < rl_cfg.steps:
        row = trainer.step()
        step += 1
        if metrics.every(step, rl_cfg.eval_every) or step == rl_cfg.steps:
          row.update(evaluator(trainer.params))
          row.update(evaluator.paired_row(before_correct))
        if metrics.every(step, rl_cfg.log_every) or 'eval/accuracy' in row:
          writer.write(step, row)
        check_finite(row, step, rl_cfg.max_nonfinite_in_a_row, 'rl.max_nonfinite_in_a_row')
        ckpt.end_of_step(step, trainer.state, stage)  # the periodic save; SIGTERM: saved, Preempted
  except BaseException:
    trainer.pool.close()
    raise
  ckpt.maybe_save(step, trainer.state, force=True)
  ckpt.close()
  trainer.pool.close()
  writer.close()
  final = next((r for r in reversed(metrics.read_metrics(workdir, stage))
                if 'eval/accuracy' in r), None)
  plot = config.log.plots and metrics.plot_metrics(
      workdir, stage, ['reward', 'eval/accuracy', 'eval/format', 'response_len', 'kl',
                       'eval/accuracy/level*', 'eval/reflection/*'])
  if final is not None:
    evaluator.print_table(final, f'{stage}: held-out accuracy before / after {step} RL steps',
                          before=before)
  if plot:
    metrics.note(f'[{stage}] Curves: {plot}')
  return trainer.state


def load_base_params(config, workdir: str, model_cfg, mesh, rules):
  """Parameters of the base model: rl.init_from (a workdir, or 'random' for random weights)
  or this workdir's pretrain stage."""
  if config.rl.init_from == 'random':  # benchmarks and smoke runs: no base model
    metrics.note('[rl] Random initial weights (rl.init_from=random)')
    return None
  base = config.rl.init_from or workdir
  ckpt = checkpoint.Checkpointer(base, 'pretrain', every=0, keep=1)
  if ckpt.latest_step() is None and config.model.hf_path and not config.rl.init_from:
    ckpt.close()
    from r1jax.models import hf  # pylint: disable=g-import-not-at-top
    metrics.note(f'[rl] Base model imported from {config.model.hf_path}')
    return hf.load_for_config(config, mesh, rules)
  if ckpt.latest_step() is None:
    raise ValueError(f'no base model: {base}/checkpoints/pretrain is empty; run the pretrain '
                     'stage first (stages=pretrain+rl) or set rl.init_from to its workdir')
  tx = make_optimizer(config.train)
  target, _ = create_train_state(model_cfg, tx, jax.random.key(0), mesh, rules)
  params = ckpt.restore(target).params
  ckpt.close()
  metrics.note(f'[rl] Base model from {base} (pretrain step {ckpt.latest_step()})')
  return params


# ---------------------------------------------------------------------------- config checks

def validate_config(config, data_parallel: int) -> None:
  """config.rl: sizes, rewards, the loss and its options, prompt sampling, partial rollouts
  (the stage references rl.reward_model_stage etc. are checked by r1jax/stages/kinds.py)."""
  r = config.rl
  positive(config, 'rl.steps', 'rl.prompts_per_step', 'rl.group_size', 'rl.max_new_tokens',
           'rl.prompt_len', 'rl.num_iterations', 'rl.learning_rate')
  positive(config, *(f'rl.{f}' for f in ('update_chunks', 'length_buckets') if f in r))
  non_negative(config, 'rl.log_every', 'rl.eval_every', 'rl.max_nonfinite_in_a_row')
  require(r.prompts_per_step % data_parallel == 0,
          f'rl.prompts_per_step={r.prompts_per_step} is not divisible by the data-parallel '
          f'size {data_parallel}; use a multiple of {data_parallel} (a group never straddles '
          'devices)')
  require(len(r.rewards) > 0, 'rl.rewards is empty; e.g. {"accuracy": 1.0, "format": 0.5}')
  check_sampling('rl', r)
  modes = ('grpo', 'drgrpo', 'batch_std')
  require(r.advantage_mode in modes, f'rl.advantage_mode={r.advantage_mode!r}: use one of {modes}')
  try:
    for name in r.rewards:
      rewards.get_reward(name)
    loss_config(r)
  except ValueError as e:
    raise ConfigError(str(e)) from None
  _validate_k15(r)
  partial.validate_config(r)


def _validate_k15(r) -> None:
  """The loss switch, reward schedules, dynamic-sampling signal and prompt samplers."""
  require(r.loss in ('grpo', 'kimi_k15'), f"rl.loss={r.loss!r}: use 'grpo' or 'kimi_k15'")
  if r.loss == 'kimi_k15':
    require(r.kimi_tau > 0, f'rl.kimi_tau={r.kimi_tau} must be > 0 (e.g. 0.05)')
    require(r.kimi_baseline in losses.KIMI_BASELINES,
            f'rl.kimi_baseline={r.kimi_baseline!r}: use one of {losses.KIMI_BASELINES}')
    require(r.kimi_baseline != 'partition' or r.group_size >= 2,
            "rl.kimi_baseline='partition' needs rl.group_size >= 2 (a leave-one-out mean)")
    require(r.kl_beta == 0, f"rl.kl_beta={r.kl_beta} with rl.loss='kimi_k15': k1.5 has no "
                             'reference KL (its tau term is the KL to the iteration\'s policy); '
                             'set rl.kl_beta=0')
    require(r.entropy_coef == 0, f"rl.entropy_coef={r.entropy_coef} is not used by "
                                  "rl.loss='kimi_k15'; set it to 0")
  warmups = dict(r.reward_warmup)
  require(r.length_penalty_warmup >= 0,
          f'rl.length_penalty_warmup={r.length_penalty_warmup} must be >= 0')
  if r.length_penalty_warmup:
    warmups['length_penalty'] = r.length_penalty_warmup
  for name, steps in warmups.items():
    require(name in r.rewards, f'rl.reward_warmup names {name!r}, which is not in rl.rewards '
                                f'{sorted(r.rewards)}; add it to rl.rewards')
    require(steps >= 0, f'rl.reward_warmup[{name!r}]={steps} must be >= 0 steps')
  require(r.dynamic_sampling_metric in ('success', 'reward'),
          f"rl.dynamic_sampling_metric={r.dynamic_sampling_metric!r}: use 'success' or 'reward'")
  require(r.sampling in prompt_sampler.SAMPLING_MODES,
          f'rl.sampling={r.sampling!r}: use one of {prompt_sampler.SAMPLING_MODES}')
  if (r.dynamic_sampling and r.dynamic_sampling_metric == 'success') or (
      r.sampling == 'prioritized'):
    require(r.success_reward in r.rewards,
            f'rl.success_reward={r.success_reward!r} is not in rl.rewards {sorted(r.rewards)}: '
            'dynamic sampling by success and prioritized sampling read it; add it (weight 0 '
            "tracks it without rewarding) or use rl.dynamic_sampling_metric='reward'")
  require(0 < r.curriculum_start <= 1,
          f'rl.curriculum_start={r.curriculum_start} must be in (0, 1]')
  require(r.curriculum_steps >= 0, f'rl.curriculum_steps={r.curriculum_steps} must be >= 0')
  require(0 < r.priority_floor <= 1, f'rl.priority_floor={r.priority_floor} must be in (0, 1]')
