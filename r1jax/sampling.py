"""The in-graph sampler: G completions per prompt, their log-probs, lengths and masks.

One compiled function does the whole rollout:

  prompts [B, P] (left-padded)
    │ prefill the B distinct prompts once (causal, positions from 0 at the first real token)
    ▼ repeat the prompt KV cache and the last logits G times (group-major, on the same shard)
  cache [B*G, P + N]
    │ lax.while_loop: sample token i, write it at slot P + i, forward one token, repeat;
    │ stops when every row has emitted a stop id, or after N = max_new_tokens tokens;
    ▼ with stop ids, in phases of R, R/2, R/4.. rows: finished rows leave the batch
  Samples(tokens, logprobs, mask, lengths, stopped)   # [B*G, N] / [B*G]

With `prefix_len` P0 > 0 (the first P0 columns equal in every row, e.g. the template's
preamble: `pipeline.encode_prompts(keep_shared_prefix=True)`), the prefix is prefilled once and
kept once (the model's `shared` cache): each row's cache holds only its P - P0 other slots, and
every decode step reads the prefix's keys and values once for all rows, not once per row.

Choices, stated once:
  * Order of the logit processors (as Hugging Face): temperature, then top-k, then top-p.
  * `Samples.logprobs` is log softmax(logits / temperature) of the sampled token — the
    temperature-scaled policy *before* top-k/top-p truncation. That is the quantity the
    trainer can recompute by teacher forcing (`losses.token_logprobs(logits / T, tokens)`), so
    the importance ratio at the sampling step is exactly 1 and the KL term is unbiased by the
    truncation. With temperature 1, top_k 0, top_p 1 it is the plain model log-prob.
    Greedy (temperature 0) reports the plain model log-prob (temperature 1) of the argmax.
  * A row's mask covers its generated tokens up to and including the first stop id; after it,
    tokens are `pad_id` and log-probs 0.
  * Sampling is by inverse CDF with one uniform per row and step; step i's uniforms come
    from `fold_in(rng, i)`, and with jax's partitionable threefry they do not depend on the mesh.

`continue_rows` / `Continuation` (k1.5 partial rollouts, r1jax/train/partial.py) run the same
decode loop for the next b tokens of trajectories whose KV cache is kept between rounds.

Usage (the RL loop; see `Sampler` for the sharded, compile-once form):

  sampler = Sampler(model_cfg, SamplingConfig.from_config(
      config.rl, stop_ids=(tokenizer.eos_id,), pad_id=tokenizer.pad_id), mesh, rules)
  samples = sampler(params, prompts, prompt_mask, jax.random.fold_in(key, step))
  texts = tokenizer.decode(completion_ids(jax.device_get(samples)))
"""
import dataclasses

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from r1jax import sharding
from r1jax.data import pipeline
from r1jax.models.transformer import (KVCache, ModelConfig, Transformer, init_params,
                                      map_cache, prefix_cache)


@dataclasses.dataclass(frozen=True)
class SamplingConfig:
  max_new_tokens: int
  group_size: int = 1               # G samples per prompt, made inside the compiled function
  temperature: float = 1.0          # 0.0 = greedy
  top_k: int = 0                    # 0 = off
  top_p: float = 1.0                # 1.0 = off
  stop_ids: tuple[int, ...] = ()    # empty = never stop early (fixed length)
  pad_id: int = 0
  # Finished rows leave the decode batch: up to this many halvings of the row count (each
  # when at most half the rows still run). 0 = every row stays to the end.
  compact_levels: int = 3
  # Use the prompts' shared prefix when the caller names one (`prefix_len`): prefilled and
  # stored once. False = every row keeps its own copy (the same samples, for A/B timing).
  share_prefix: bool = True

  def __post_init__(self):
    object.__setattr__(self, 'stop_ids', tuple(int(s) for s in self.stop_ids))
    if self.max_new_tokens < 1:
      raise ValueError(f'max_new_tokens={self.max_new_tokens} must be >= 1')
    if self.group_size < 1:
      raise ValueError(f'group_size={self.group_size} must be >= 1')
    if self.temperature < 0:
      raise ValueError(f'temperature={self.temperature} must be >= 0 (0 = greedy)')
    if self.compact_levels < 0:
      raise ValueError(f'compact_levels={self.compact_levels} must be >= 0 (0 = off)')
    if self.top_k < 0:
      raise ValueError(f'top_k={self.top_k} must be >= 0 (0 = off)')
    if not 0.0 < self.top_p <= 1.0:
      raise ValueError(f'top_p={self.top_p} must be in (0, 1] (1 = off)')

  @classmethod
  def from_config(cls, c, **overrides) -> 'SamplingConfig':
    """From an ml_collections ConfigDict section (or any mapping) with these field names;
    other keys in the section are ignored, `overrides` win."""
    fields = {f.name for f in dataclasses.fields(cls)}
    kwargs = {k: v for k, v in dict(c).items() if k in fields}
    kwargs.update(overrides)
    return cls(**kwargs)


@flax.struct.dataclass
class Samples:
  """Completions, group-major: rows [i*G:(i+1)*G] are prompt i's samples."""
  tokens: jax.Array     # int32 [B*G, N], pad_id after a stop
  logprobs: jax.Array   # float32 [B*G, N], log softmax(logits / T) of the token, 0 where masked
  mask: jax.Array       # bool [B*G, N], True on generated tokens including the stop token
  lengths: jax.Array    # int32 [B*G], number of True in mask
  stopped: jax.Array    # bool [B*G], True if the row ended with a stop id


def completion_ids(samples, keep_stop: bool = False) -> list[list[int]]:
  """Host side: token ids of each completion, padding stripped. The stop token is dropped
  (it is not part of the answer text) unless keep_stop. Accepts numpy or device Samples."""
  tokens, lengths, stopped = (np.asarray(samples.tokens), np.asarray(samples.lengths),
                              np.asarray(samples.stopped))
  out = []
  for row, length, stop in zip(tokens, lengths, stopped):
    n = int(length) - (1 if (stop and not keep_stop) else 0)
    out.append(row[:max(n, 0)].tolist())
  return out


# ---------------------------------------------------------------------------- logit processors

def _filter_top_k(logits, k: int):
  """Keep the k largest logits per row (ties at the k-th value are kept)."""
  kth = jax.lax.top_k(logits, k)[0][..., -1:]
  return jnp.where(logits >= kth, logits, -jnp.inf)


def _filter_top_p(logits, p: float):
  """Keep the smallest set of tokens whose probability reaches p (nucleus), at least one."""
  sorted_logits = jnp.sort(logits, axis=-1)[..., ::-1]
  probs = jax.nn.softmax(sorted_logits, axis=-1)
  mass_before = jnp.cumsum(probs, axis=-1) - probs   # mass of strictly larger tokens
  keep = mass_before < p
  # The smallest kept logit is the threshold (keep[..., 0] is always True).
  threshold = jnp.min(jnp.where(keep, sorted_logits, jnp.inf), axis=-1, keepdims=True)
  return jnp.where(logits >= threshold, logits, -jnp.inf)


def _choose(logits, uniform, cfg: SamplingConfig, forced=None):
  """Next token and its log-prob from logits [R, V] (float32) and one uniform [R] per row.

  Sampling is by inverse CDF: the first token whose cumulative probability exceeds
  uniform * total. One random number per row instead of V Gumbel variates (whose RNG and
  logs cost more than the rest of the sampling step on CPU). `forced` [R] (optional): rows
  where it is >= 0 take that token instead (with its log-prob under the same policy)."""
  if cfg.temperature == 0.0:
    logp = jax.nn.log_softmax(logits, axis=-1)
    token = jnp.argmax(logits, axis=-1).astype(jnp.int32)
  else:
    logp = jax.nn.log_softmax(logits / cfg.temperature, axis=-1)
    filtered = logp  # same ranking and the same softmax as logits / T
    if cfg.top_k > 0 and cfg.top_k < logits.shape[-1]:
      filtered = _filter_top_k(filtered, cfg.top_k)
    if cfg.top_p < 1.0:
      filtered = _filter_top_p(filtered, cfg.top_p)
    cdf = jnp.cumsum(jnp.exp(filtered), axis=-1)  # removed tokens add 0: never chosen
    # Scaled just below the total so that rounding cannot pick past the last kept token.
    threshold = uniform * cdf[:, -1] * (1.0 - 1e-6)
    token = jnp.sum(cdf <= threshold[:, None], axis=-1, dtype=jnp.int32)
  if forced is not None:
    token = jnp.where(forced >= 0, forced, token)
  token_logp = jnp.take_along_axis(logp, token[:, None], axis=-1)[:, 0]
  return token, token_logp


def _is_stop(token, stop_ids):
  if not stop_ids:
    return jnp.zeros(token.shape, bool)
  return jnp.any(token[:, None] == jnp.asarray(stop_ids, jnp.int32)[None, :], axis=-1)


# ---------------------------------------------------------------------------- the sampler

def _constrain_cache(cache: KVCache) -> KVCache:
  return map_cache(lambda axes, x: nn.with_logical_constraint(x, axes), cache)


def phase_sizes(rows: int, cfg: SamplingConfig, shards: int = 1) -> list[int]:
  """Row counts of the decode phases: all rows, then halves while finished rows are dropped
  (up to cfg.compact_levels halvings, each shard keeping an equal share). Without stop ids
  no row finishes early, so there is one phase."""
  sizes = [rows]
  if not cfg.stop_ids:
    return sizes
  per_shard = rows // shards
  for _ in range(cfg.compact_levels):
    if per_shard % 2 or per_shard < 2:
      break
    per_shard //= 2
    sizes.append(per_shard * shards)
  return sizes


def _gather_rows(x, sel, shards: int):
  """x [size, ...] -> x[sel] [len(sel), ...] with sel local to each of `shards` equal blocks of
  rows (sel [shards, k] of indices into a block): a batched gather that never crosses a
  data-parallel shard."""
  blocks = x.reshape(shards, x.shape[0] // shards, *x.shape[1:])
  out = jax.vmap(lambda b, i: jnp.take(b, i, axis=0))(blocks, sel)
  return out.reshape(-1, *x.shape[1:])


def _sample(params, prompts, prompt_mask, rng, model_cfg: ModelConfig, cfg: SamplingConfig,
            stop_at=None, shards: int = 1, prefix_len: int = 0):
  """`sample` plus the number of decode steps run (for tests of the early exit)."""
  group, new = cfg.group_size, cfg.max_new_tokens
  rows = prompts.shape[0] * group
  model = Transformer(model_cfg)
  prompts = prompts.astype(jnp.int32)
  prompt_mask = prompt_mask.astype(bool)
  # Positions count from the first real token (over the whole prompt, prefix included).
  positions = jnp.maximum(jnp.cumsum(prompt_mask, axis=-1) - 1, 0).astype(jnp.int32)
  prompt_lens = jnp.repeat(jnp.sum(prompt_mask, axis=-1, dtype=jnp.int32), group)   # [R]
  shared = None
  if prefix_len and cfg.share_prefix:  # the shared prefix once; the rows keep the rest
    shared = map_cache(lambda axes, x: nn.with_logical_constraint(x, (None, *axes[1:])),
                       prefix_cache(model_cfg, params, prompts[0, :prefix_len]))
    prompts, prompt_mask, positions = (x[:, prefix_len:] for x in (prompts, prompt_mask,
                                                                   positions))
  batch, prompt_len = prompts.shape

  # Prefill the B distinct prompts (not B*G).
  causal = jnp.tril(jnp.ones((prompt_len, prompt_len), bool))
  prefill_mask = causal[None] & prompt_mask[:, None, :]
  logits, prompt_cache = model.apply(
      {'params': params}, prompts, positions, prefill_mask,
      cache=KVCache.zeros(model_cfg, batch, prompt_len), cache_index=0, shared=shared)
  last_logits = logits[:, -1].astype(jnp.float32)  # left padding: the last slot is real

  # G copies per prompt, made here so that a group stays on its prompt's shard.
  def grow(axes, x):  # [B, ..., P, ...] -> [B*G, ..., P + N, ...]
    pad = [(0, 0)] * x.ndim
    pad[axes.index('cache_length')] = (0, new)
    return jnp.pad(jnp.repeat(x, group, axis=0), pad)
  cache = _constrain_cache(map_cache(grow, prompt_cache))
  last_logits = nn.with_logical_constraint(
      jnp.repeat(last_logits, group, axis=0), ('act_batch', 'act_vocab'))
  prompt_valid = nn.with_logical_constraint(
      jnp.repeat(prompt_mask, group, axis=0), ('act_batch', 'act_length'))
  key_valid = jnp.pad(prompt_valid, ((0, 0), (0, new)))                   # [R, S]

  uniforms = _uniforms(rng, new, rows)
  stop_at = jnp.zeros((rows,), jnp.int32) if stop_at is None else stop_at.astype(jnp.int32)
  samples, step, _ = _decode(params, model, cfg, last_logits, cache, key_valid, prompt_lens,
                             uniforms, stop_at, prompt_len, shards, shared)
  return samples, step


def _uniforms(rng, steps: int, rows: int):
  """One uniform per row and step [steps, rows]; step i's come from fold_in(rng, i)."""
  return jax.vmap(lambda i: jax.random.uniform(jax.random.fold_in(rng, i), (rows,)))(
      jnp.arange(steps))


def _row_uniforms(rng, steps: int, row_ids):
  """[steps, rows] uniforms where row r's come from fold_in(rng, row_ids[r]) (step i's from
  fold_in of that with i): a row's draws follow its id, not its place in the batch."""
  keys = jax.vmap(lambda r: jax.random.fold_in(rng, r))(row_ids.astype(jnp.uint32))
  draw = lambda i: jax.vmap(lambda k: jax.random.uniform(jax.random.fold_in(k, i)))(keys)
  return jax.vmap(draw)(jnp.arange(steps))


def _decode(params, model, cfg: SamplingConfig, last_logits, cache, key_valid, row_lens,
            uniforms, stop_at, context: int, shards: int, shared=None):
  """The decode loop shared by `sample` and `continue_rows`: token 0 from last_logits [R, V],
  then token i from forwarding token i-1 at slot context + i - 1 (position row_lens + i - 1),
  up to cfg.max_new_tokens. key_valid [R, context + N]: the real context slots of each row.
  Row r emits stop_ids[0] as its stop_at[r]-th token (0 = not forced): reproducible
  ragged workloads. shared: a prefix cache every row attends to (its slots are not counted
  in `context`). Returns (Samples, decode steps run, the cache with every row at its own
  index again: running rows' keys and values through their last forwarded token)."""
  rows, new = last_logits.shape[0], cfg.max_new_tokens
  slots = jnp.arange(context + new, dtype=jnp.int32)
  def forced(step, row_stop_at):
    if not cfg.stop_ids:
      return None
    return jnp.where(row_stop_at == step + 1, cfg.stop_ids[0], -1)

  token, logp = _choose(last_logits, uniforms[0], cfg, forced(0, stop_at))
  done = _is_stop(token, cfg.stop_ids)
  tokens = jnp.full((rows, new), cfg.pad_id, jnp.int32).at[:, 0].set(token)
  logprobs = jnp.zeros((rows, new), jnp.float32).at[:, 0].set(logp)
  lengths = jnp.ones((rows,), jnp.int32)
  stopped = done

  # Decode in phases of decreasing row counts: when at most half of a phase's rows (in every
  # shard) are still running, the running rows move (with their cache) into a batch of half
  # the size, so finished rows stop costing matmuls. Row r's computation does not depend on
  # which slot it occupies: results equal the single-phase loop's.
  sizes = phase_sizes(rows, cfg, shards)
  idx = jnp.arange(rows, dtype=jnp.int32)  # active slot -> row
  full_cache = cache
  active = (token, done, cache, row_lens, key_valid, stop_at)
  step = jnp.int32(1)
  for phase, size in enumerate(sizes):
    if phase:  # keep the running rows of each shard (at most size / shards of them)
      stopped = stopped.at[idx].set(active[1])
      full_cache = jax.tree.map(lambda f, a, i=idx: f.at[i].set(a), full_cache, active[2])
      order = jnp.argsort(active[1].reshape(shards, -1), axis=-1, stable=True)
      sel = order[:, :size // shards]
      idx = _gather_rows(idx, sel, shards)
      active = jax.tree.map(lambda x, s=sel: _gather_rows(x, s, shards), active)
      active = active[:2] + (_constrain_cache(active[2]),) + active[3:]
    next_size = sizes[phase + 1] if phase + 1 < len(sizes) else 0
    identity = phase == 0

    def cond(carry, next_size=next_size):
      step, done = carry[0], carry[1][1]
      go = step < new
      if cfg.stop_ids:
        go = go & ~jnp.all(done)
      if next_size:
        running = jnp.sum(~done.reshape(shards, -1), axis=-1)
        go = go & (jnp.max(running) > next_size // shards)
      return go

    def body(carry, identity=identity):
      step, (token, done, cache, row_lens, row_keys, row_stop_at), tokens, logprobs, lengths = carry
      # Forward token step-1 (slot context+step-1) to get the logits of token `step`.
      slot = context + step - 1
      attn_mask = row_keys | ((slots >= context) & (slots <= slot))[None, :]
      logits, cache = model.apply(
          {'params': params}, token[:, None], (row_lens + step - 1)[:, None],
          attn_mask[:, None, :], cache=cache, cache_index=slot, shared=shared)
      cache = _constrain_cache(cache)
      uniform = uniforms[step] if identity else uniforms[step][idx]
      token, logp = _choose(logits[:, 0].astype(jnp.float32), uniform, cfg,
                            forced(step, row_stop_at))
      token = jnp.where(done, cfg.pad_id, token)
      logp = jnp.where(done, 0.0, logp)
      if identity:
        lengths = lengths + (~done).astype(jnp.int32)
        tokens = jax.lax.dynamic_update_slice(tokens, token[:, None], (0, step))
        logprobs = jax.lax.dynamic_update_slice(logprobs, logp[:, None], (0, step))
      else:
        lengths = lengths.at[idx].add((~done).astype(jnp.int32))
        tokens = tokens.at[idx, step].set(token)
        logprobs = logprobs.at[idx, step].set(logp)
      done = done | _is_stop(token, cfg.stop_ids)
      return (step + 1, (token, done, cache, row_lens, row_keys, row_stop_at), tokens,
              logprobs, lengths)

    step, active, tokens, logprobs, lengths = jax.lax.while_loop(
        cond, body, (step, active, tokens, logprobs, lengths))
  stopped = stopped.at[idx].set(active[1])
  full_cache = (active[2] if len(sizes) == 1 else
                jax.tree.map(lambda f, a: f.at[idx].set(a), full_cache, active[2]))
  mask = jnp.arange(new, dtype=jnp.int32)[None, :] < lengths[:, None]
  samples = Samples(tokens=jnp.where(mask, tokens, cfg.pad_id),
                    logprobs=jnp.where(mask, logprobs, 0.0),
                    mask=mask, lengths=lengths, stopped=stopped)
  return samples, step, full_cache


def sample(params, prompts, prompt_mask, rng, *, model_cfg: ModelConfig,
           cfg: SamplingConfig, stop_at=None, shards: int = 1, prefix_len: int = 0) -> Samples:
  """G completions for each of B left-padded prompts. Pure; jit with model_cfg, cfg static.

  params: the model's (unboxed) parameters; prompts int32 [B, P] left-padded;
  prompt_mask bool [B, P]; rng a PRNG key. Returns `Samples` with B*G rows.
  stop_at int32 [B*G] (optional, needs stop ids): row r stops with stop_ids[0] as its
  stop_at[r]-th token unless it stopped before (0 = not forced) — a reproducible length
  distribution for benchmarks and tests. shards: the data-parallel shards of the rows
  (finished rows are dropped within each shard, never moved across). prefix_len: the first
  prefix_len columns are the same real tokens in every row (module docstring); the samples
  are those of prefix_len=0 up to float rounding.
  """
  return _sample(params, prompts, prompt_mask, rng, model_cfg, cfg, stop_at, shards,
                 prefix_len)[0]


class Sampler:
  """`sample` compiled for a mesh: batch rows on the data axes, heads on `tensor`, params in
  their logical shardings. Compiles once per (batch, prompt length, prefix_len) for its
  config; `num_compiles` counts the traces (each trace is a compilation)."""

  def __init__(self, model_cfg: ModelConfig, cfg: SamplingConfig, mesh,
               rules=sharding.DEFAULT_RULES):
    self.model_cfg, self.cfg, self.mesh, self.rules = model_cfg, cfg, mesh, tuple(rules)
    self.num_compiles = 0
    boxed = jax.eval_shape(lambda: init_params(model_cfg, jax.random.key(0), boxed=True))
    self.param_shardings = sharding.logical_shardings(boxed, mesh, self.rules)
    rows2, rows1 = sharding.batch_sharding(mesh, 2), sharding.batch_sharding(mesh, 1)
    self._batch2 = rows2

    self._rows1 = rows1
    shards = sharding.data_parallel_size(mesh)

    def traced(params, prompts, prompt_mask, rng, stop_at, prefix_len):
      self.num_compiles += 1  # runs only when jit traces, i.e. compiles
      return sample(params, prompts, prompt_mask, rng, model_cfg=model_cfg, cfg=cfg,
                    stop_at=stop_at, shards=shards, prefix_len=prefix_len)

    self._fn = jax.jit(
        traced, static_argnums=(5,),
        in_shardings=(self.param_shardings, rows2, rows2, sharding.replicated(mesh), rows1),
        out_shardings=Samples(tokens=rows2, logprobs=rows2, mask=rows2, lengths=rows1,
                              stopped=rows1))

  def _place_rows(self, x):
    if isinstance(x, jax.Array):
      return x if x.sharding == self._batch2 else jax.device_put(x, self._batch2)
    return sharding.put_batch(np.asarray(x), self.mesh)

  def __call__(self, params, prompts, prompt_mask, rng, stop_at=None,
               prefix_len: int = 0) -> Samples:
    """stop_at: optional forced stop per row, as in `sample` (this host's rows). prefix_len:
    the first prefix_len columns are the same real tokens in every row (checked here for
    host arrays), prefilled and kept once (`usable_prefix` finds it)."""
    prefix_len = int(prefix_len) if self.cfg.share_prefix else 0
    if prefix_len:
      _check_prefix(prompts, prompt_mask, prefix_len)
    data = sharding.data_parallel_size(self.mesh)
    batch = prompts.shape[0] * (jax.process_count() if not isinstance(prompts, jax.Array) else 1)
    if batch % data:
      raise ValueError(f'{batch} prompts do not split over the {data}-way data axes of the mesh;'
                       f' use a multiple of {data} prompts per step')
    params = jax.device_put(params, self.param_shardings)
    prompts, prompt_mask = self._place_rows(prompts), self._place_rows(prompt_mask)
    if jax.process_count() > 1:   # a key made on this process's device: rebuild it globally
      rng = jax.random.wrap_key_data(jax.make_array_from_process_local_data(
          sharding.replicated(self.mesh), np.asarray(jax.random.key_data(rng))))
    rng = jax.device_put(rng, sharding.replicated(self.mesh))
    if stop_at is None:   # no forced stop: zeros for every global row, made shard by shard
      shape = (prompts.shape[0] * self.cfg.group_size,)   # prompts: global rows by now
      stop_at = jax.make_array_from_callback(
          shape, self._rows1, lambda index: np.zeros(shape, np.int32)[index])
    elif not isinstance(stop_at, jax.Array):
      stop_at = sharding.put_batch(np.asarray(stop_at, np.int32), self.mesh)
    with sharding.use_mesh(self.mesh, self.rules):
      return self._fn(params, prompts, prompt_mask, rng, stop_at, prefix_len)


def usable_prefix(tokens, mask) -> int:
  """How many leading columns of host prompts tokens/mask [B, P] the sampler can share:
  the same real token in every row, leaving every row at least its last column (which the
  first sampled token is conditioned on)."""
  tokens = np.asarray(tokens)
  return max(0, min(pipeline.shared_prefix_len(tokens, np.asarray(mask, bool)),
                    tokens.shape[1] - 1))


def _check_prefix(prompts, prompt_mask, prefix_len: int):
  width = prompts.shape[1]
  if not 0 < prefix_len < width:
    raise ValueError(f'prefix_len={prefix_len} must be in [0, {width}) for prompts of '
                     f'{width} columns (the last column is never shared)')
  if isinstance(prompts, jax.Array) or isinstance(prompt_mask, jax.Array):
    return  # device arrays: the caller vouches (no host round trip)
  usable = usable_prefix(prompts, prompt_mask)
  if prefix_len > usable:
    raise ValueError(f'prefix_len={prefix_len} but the prompts share only their first '
                     f'{usable} columns as real tokens; pass sampling.usable_prefix(tokens, '
                     'mask) or encode with keep_shared_prefix=True')


# ---------------------------------------------------------------------------- continuation

def _placed(axes, x, offset: int, width: int):
  """A [..., T, ...] cache array (logical `axes`) placed at slots [offset, offset + T) of a
  `width`-slot one."""
  slot_axis = axes.index('cache_length')
  pad = [(0, 0)] * x.ndim
  pad[slot_axis] = (offset, width - offset - x.shape[slot_axis])
  return jnp.pad(x, pad)


def _shifted(axes, x, count: int):
  """A cache array with its slots moved `count` to the left (the last `count` zeroed)."""
  slot_axis = axes.index('cache_length')
  kept = jax.lax.slice_in_dim(x, count, x.shape[slot_axis], axis=slot_axis)
  return _placed(axes, kept, 0, x.shape[slot_axis])


def continue_rows(params, cache, is_new, prompts, prompt_mask, last_token, last_pos, key_valid,
                  rng, row_ids, stop_at, *, model_cfg: ModelConfig, cfg: SamplingConfig,
                  shards: int = 1, admit: bool = True, shift: bool = True):
  """One round of k1.5 partial rollouts with each row's KV cache kept between rounds: the
  next cfg.max_new_tokens (= the budget b) tokens of R trajectories. Pure; jit with model_cfg,
  cfg static (cfg.group_size must be 1). Finished rows leave the decode batch as in `sample`.

  The cache [R, ..., C + b] holds each row's context right-aligned to end at slot C - 1:
  prompt + completion so far, except the last token (sampled, never forwarded), which
  `last_token` / `last_pos` give. key_valid bool [R, C]: the slots holding real context (the
  last one included). Rows with is_new [R] take their prompt instead (prompts / prompt_mask
  [R, P], left-padded, prefilled at slots [C - P, C); last_token = its last token). Step i
  forwards the current token at slot C - 1 + i and samples token i from its logits, so the
  last token of a continued row is forwarded first and the new segment follows it as if the
  trajectory had never stopped (positions count on from last_pos). row_ids [R]: the uniforms of
  row r come from fold_in(rng, row_ids[r]), so a trajectory draws the same numbers from
  whichever cache row holds it (give each trajectory its own id). Returns (Samples [R, b],
  the cache moved b slots to the left: a row that used its whole budget ends at C - 1 again).
  stop_at [R] and shards as in `sample`. admit=False: no row is new (is_new, prompts and
  prompt_mask are ignored, and no prompt is prefilled). shift=False: the cache comes back as
  the decode loop left it, for `join_rows` (a round of new prompts in a narrow cache, C = P).
  """
  rows, prompt_len = prompts.shape
  budget, context = cfg.max_new_tokens, key_valid.shape[1]
  width = context + budget
  model = Transformer(model_cfg)
  prompt_mask = prompt_mask.astype(bool)

  if admit:  # new rows: their prompts prefilled at width P and placed at the end of the context
    positions = jnp.maximum(jnp.cumsum(prompt_mask, axis=-1) - 1, 0).astype(jnp.int32)
    causal = jnp.tril(jnp.ones((prompt_len, prompt_len), bool))
    _, fresh = model.apply({'params': params}, prompts.astype(jnp.int32), positions,
                           causal[None] & prompt_mask[:, None, :],
                           cache=KVCache.zeros(model_cfg, rows, prompt_len), cache_index=0)
    new_rows = is_new.astype(bool)[:, None, None, None]
    cache = _constrain_cache(map_cache(
        lambda axes, old, new: jnp.where(new_rows, _placed(axes, new, context - prompt_len,
                                                           width), old),
        cache, fresh))

  # The last token of each row (a new row's last prompt token: written again, identically)
  # at slot C - 1 gives the logits of the segment's first token; then the shared decode loop.
  valid = jnp.pad(key_valid.astype(bool), ((0, 0), (0, budget)))           # [R, C + b]
  logits, cache = model.apply({'params': params}, last_token.astype(jnp.int32)[:, None],
                              last_pos.astype(jnp.int32)[:, None], valid[:, None, :],
                              cache=cache, cache_index=context - 1)
  samples, _, cache = _decode(params, model, cfg, logits[:, 0].astype(jnp.float32),
                              _constrain_cache(cache), valid, last_pos.astype(jnp.int32) + 1,
                              _row_uniforms(rng, budget, row_ids), stop_at.astype(jnp.int32),
                              context, shards)
  if not shift:
    return samples, _constrain_cache(cache)
  return samples, _constrain_cache(map_cache(lambda axes, x: _shifted(axes, x, budget), cache))


def join_rows(cache, fresh, src, dst, *, budget: int):
  """Moves rows of a round of new prompts into a kept cache. fresh: the cache of
  `continue_rows(..., shift=False)` over contexts of P slots ([R', ..., P + b]); cache: a kept
  [R, ..., C + b] one. Row src[i] of fresh becomes row dst[i] of cache (dst >= R: nothing),
  fresh slot s at slot s + C - P - b: its context (prompt + the b - 1 tokens forwarded) ends at
  C - 2, and the next round forwards its last token at C - 1, as `continue_rows` expects.
  Needs C >= P + b (a trajectory can outlive its first segment)."""
  def one(axes, old, new):
    slot_axis = axes.index('cache_length')
    width, fresh_width = old.shape[slot_axis], new.shape[slot_axis]
    moved = _placed(axes, jnp.take(new, src, axis=0), width - fresh_width - budget, width)
    return old.at[dst].set(moved, mode='drop')

  return _constrain_cache(map_cache(one, cache, fresh))


def prefill_contexts(params, tokens, mask, *, model_cfg: ModelConfig, budget: int):
  """The cache `continue_rows` expects, made from whole contexts (prompt + completion so far,
  left-padded to width C, the last token included: it is written again, identically, when
  the round forwards it): KV at slots [0, C) of a C + budget cache. For the first round after
  a restore, or when the kept cache is dropped (`rl.partial_cache`)."""
  rows, context = tokens.shape
  mask = mask.astype(bool)
  positions = jnp.maximum(jnp.cumsum(mask, axis=-1) - 1, 0).astype(jnp.int32)
  causal = jnp.tril(jnp.ones((context, context), bool))
  attn_mask = jnp.pad(causal[None] & mask[:, None, :], ((0, 0), (0, 0), (0, budget)))
  _, cache = Transformer(model_cfg).apply(
      {'params': params}, tokens.astype(jnp.int32), positions, attn_mask,
      cache=KVCache.zeros(model_cfg, rows, context + budget), cache_index=0)
  return _constrain_cache(cache)


class Continuation:
  """`continue_rows`, `prefill_contexts` and `join_rows` compiled for a mesh and one shape:
  `rows` trajectories, contexts of `context` slots (rows on the data axes, heads on `tensor`;
  the cache donated and kept on the devices between rounds); admit / shift as in
  `continue_rows`. Each compiles once; `num_compiles` counts the traces."""

  def __init__(self, model_cfg: ModelConfig, cfg: SamplingConfig, rows: int, context: int,
               mesh, rules=sharding.DEFAULT_RULES, admit: bool = True, shift: bool = True):
    if cfg.group_size != 1:
      raise ValueError(f'Continuation samples one row per trajectory (group_size={cfg.group_size})')
    self.model_cfg, self.cfg, self.mesh, self.rules = model_cfg, cfg, mesh, tuple(rules)
    self.rows, self.context = rows, context
    self.num_compiles = 0
    boxed = jax.eval_shape(lambda: init_params(model_cfg, jax.random.key(0), boxed=True))
    params_sh = sharding.logical_shardings(boxed, mesh, self.rules)
    rows2, rows1 = sharding.batch_sharding(mesh, 2), sharding.batch_sharding(mesh, 1)
    width = context + cfg.max_new_tokens
    self._cache_sh = map_cache(
        lambda axes, x: jax.sharding.NamedSharding(
            mesh, sharding.logical_to_spec(axes, x.shape, mesh, self.rules)),
        jax.eval_shape(lambda: KVCache.zeros(model_cfg, rows, width)))
    shards = sharding.data_parallel_size(mesh)

    def traced_round(*args):
      self.num_compiles += 1   # runs only when jit traces, i.e. compiles
      return continue_rows(*args, model_cfg=model_cfg, cfg=cfg, shards=shards, admit=admit,
                           shift=shift)

    def traced_join(cache, fresh, src, dst):
      self.num_compiles += 1
      return join_rows(cache, fresh, src, dst, budget=cfg.max_new_tokens)

    def traced_prefill(params, tokens, mask):
      self.num_compiles += 1
      return prefill_contexts(params, tokens, mask, model_cfg=model_cfg,
                              budget=cfg.max_new_tokens)

    samples_sh = Samples(tokens=rows2, logprobs=rows2, mask=rows2, lengths=rows1, stopped=rows1)
    self._round = jax.jit(
        traced_round, donate_argnums=1,
        in_shardings=(params_sh, self._cache_sh, rows1, rows2, rows2, rows1, rows1, rows2,
                      sharding.replicated(mesh), rows1, rows1),
        out_shardings=(samples_sh, self._cache_sh))
    self._prefill = jax.jit(traced_prefill, in_shardings=(params_sh, rows2, rows2),
                            out_shardings=self._cache_sh)
    self._empty = jax.jit(lambda: KVCache.zeros(model_cfg, rows, width),
                          out_shardings=self._cache_sh)
    self._join = jax.jit(traced_join, donate_argnums=0, out_shardings=self._cache_sh)

  def empty(self) -> KVCache:
    """A zero cache (every row new in the first round)."""
    return self._empty()

  def join(self, cache, fresh, src, dst) -> KVCache:
    """`join_rows` into this shape's kept `cache` (donated) from another Continuation's
    unshifted `fresh` cache; src / dst: host int arrays of length `rows` (dst = rows: none)."""
    put = lambda x: jax.device_put(np.asarray(x, np.int32), sharding.replicated(self.mesh))
    with sharding.use_mesh(self.mesh, self.rules):
      return self._join(cache, fresh, put(src), put(dst))

  def prefill(self, params, tokens, mask) -> KVCache:
    """`prefill_contexts` of host [rows, context] contexts."""
    put = lambda x: sharding.put_batch(np.asarray(x), self.mesh)
    with sharding.use_mesh(self.mesh, self.rules):
      return self._prefill(params, put(tokens), put(mask))

  def __call__(self, params, cache, is_new, prompts, prompt_mask, last_token, last_pos,
               key_valid, rng, row_ids, stop_at):
    """Host arrays in (rows as `continue_rows`), (Samples, cache) out; `cache` is donated."""
    put = lambda x, dtype=None: sharding.put_batch(np.asarray(x, dtype), self.mesh)
    with sharding.use_mesh(self.mesh, self.rules):
      return self._round(params, cache, put(is_new, bool), put(prompts, np.int32),
                         put(prompt_mask, bool), put(last_token, np.int32),
                         put(last_pos, np.int32), put(key_valid, bool),
                         jax.device_put(rng, sharding.replicated(self.mesh)),
                         put(row_ids, np.int32), put(stop_at, np.int32))
