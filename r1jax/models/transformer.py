"""Qwen2-style decoder: RMSNorm pre-norm, RoPE, grouped-query attention with q/k/v
biases, SwiGLU MLP, untied input/output embeddings. Options cover Qwen2/2.5 (tied embeddings
in the small sizes), Qwen3 (q/k RMSNorm, no biases) and Llama 3.x ('llama3' RoPE scaling);
`r1jax/models/hf.py` imports and exports their Hugging Face checkpoints.

Every weight carries logical axis names (`nn.with_logical_partitioning`) and every
key activation a logical constraint; `r1jax/sharding.py` maps the names to the mesh.

One forward serves training, prefill and decode:

  logits, cache = Transformer(cfg).apply({'params': p}, tokens, positions, attn_mask,
                                         cache=None | KVCache, cache_index=None | int)

- tokens, positions: int32 [B, T]; positions drive RoPE (left padding is handled by
  starting the positions of the real tokens at 0).
- attn_mask: bool [B, T, S], True where query t may attend key s. S = T without a
  cache, S = the cache length with one.
- With a cache, the T new keys/values are written at slots [cache_index, cache_index+T)
  and the queries attend over the whole cache (masked by attn_mask).
- With `shared` (a KVCache of batch 1 and P0 slots: a prefix that every row starts with,
  e.g. a constant system prompt), every query also attends to those P0 keys, unmasked, before
  its own; attn_mask covers only the row's own keys. The prefix is stored and read once, not
  once per row, and its scores are one matmul with the rows' queries (the sampler's shared
  prompt prefix, `prefix_cache`).
"""
import dataclasses
import math
from typing import Any

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp

from r1jax.config import positive, require

DTYPES = {'float32': jnp.float32, 'bfloat16': jnp.bfloat16, 'float16': jnp.float16}


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  vocab_size: int = 512
  d_model: int = 256
  n_layers: int = 4
  n_heads: int = 4
  n_kv_heads: int = 2
  d_ff: int = 1024
  head_dim: int = 0  # 0: d_model // n_heads
  rope_theta: float = 10000.0
  rms_norm_eps: float = 1e-6
  qkv_bias: bool = True
  dtype: str = 'float32'        # compute dtype of activations and matmuls
  param_dtype: str = 'float32'  # storage dtype of weights
  tie_embeddings: bool = False  # output projection = embedding table (no lm_head weight)
  qk_norm: bool = False         # RMSNorm over head_dim on queries and keys (Qwen3)
  # RoPE scaling: '' (none) | 'llama3' (Llama 3.1+, with the four fields below)
  rope_scaling: str = ''
  rope_scaling_factor: float = 8.0
  rope_low_freq_factor: float = 1.0
  rope_high_freq_factor: float = 4.0
  rope_original_max_len: int = 8192
  # Memory: 'none' | 'full' (recompute each layer in the backward pass) | 'dots' (keep
  # matmul outputs, recompute the rest) | 'dots_no_batch'
  remat: str = 'none'
  # > 0: log-probs and losses computed over vocabulary chunks of about this size from the
  # final hidden states, so [B, T, V] float32 logits are never materialised (losses.py).
  logits_chunk: int = 0
  # True: every projection is one 2-D matmul over the flattened leading dims ([B*T, in] x
  # [in, out]); False: one einsum over [B, T, ...]. Same math; on XLA:CPU the einsum's
  # backward writes transposed copies of the SwiGLU gradients ([d_ff, B*T]), 30% of the
  # grpo_tiny update's op time (README, "Benchmarks and performance").
  flat_matmuls: bool = True

  @classmethod
  def from_config(cls, config) -> 'ModelConfig':
    """From an ml_collections ConfigDict (config.model) or any mapping."""
    fields = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in dict(config).items() if k in fields})

  @property
  def head_size(self) -> int:
    return self.head_dim or self.d_model // self.n_heads

  @property
  def compute_dtype(self):
    return DTYPES[self.dtype]

  @property
  def weight_dtype(self):
    return DTYPES[self.param_dtype]


@flax.struct.dataclass
class KVCache:
  """Keys and values, one array per layer (so decode updates each in place):
  k[i] [B, kv_heads, head_dim, S] and v[i] [B, kv_heads, S, head_dim] — heads before slots,
  so attention over the cache is a plain batched matmul (a [B, S, kv_heads, D] cache costs a
  transposed copy per step), and each matmul contracts its cache operand's major axis: a
  decode query's scores are q [G, D] x k [D, S], its output probs [G, S] x v [S, D]. With the
  keys stored [S, D], XLA:CPU ran the scores' contraction over the minor axis 5x slower (16.0
  against 3.3 ms over 69 MB of keys: `python benchmarks/decode_step_bench.py --d_model=512`);
  on accelerators the compiler picks the physical layout either way."""
  k: tuple
  v: tuple

  @classmethod
  def zeros(cls, cfg: ModelConfig, batch: int, length: int) -> 'KVCache':
    k_shape = (batch, cfg.n_kv_heads, cfg.head_size, length)
    v_shape = (batch, cfg.n_kv_heads, length, cfg.head_size)
    return cls(k=tuple(jnp.zeros(k_shape, cfg.compute_dtype) for _ in range(cfg.n_layers)),
               v=tuple(jnp.zeros(v_shape, cfg.compute_dtype) for _ in range(cfg.n_layers)))


# Logical axes of the cache arrays, for sharding (same rule table as the model).
KEY_AXES = ('act_batch', 'act_kv_heads', 'head_dim', 'cache_length')
VALUE_AXES = ('act_batch', 'act_kv_heads', 'cache_length', 'head_dim')


def map_cache(fn, cache: KVCache, *others: KVCache) -> KVCache:
  """KVCache of fn(axes, array, *the same array of each of `others`) over every layer's keys
  (axes = KEY_AXES) and values (VALUE_AXES); `axes.index('cache_length')` is the slot axis."""
  return KVCache(k=tuple(fn(KEY_AXES, *xs) for xs in zip(cache.k, *(o.k for o in others))),
                 v=tuple(fn(VALUE_AXES, *xs) for xs in zip(cache.v, *(o.v for o in others))))


def causal_mask(valid):
  """Attention mask for a full-sequence forward. valid bool [B, T] -> [B, T, T]."""
  length = valid.shape[-1]
  causal = jnp.tril(jnp.ones((length, length), bool))
  return causal[None] & valid[:, None, :]


class Linear(nn.Module):
  """x [..., *in_shape] contracted with a kernel [*in_shape, *out_shape] (+ bias [*out_shape]).

  Not nn.DenseGeneral, so that the kernel is created in its final shape and its logical axes
  apply as named; computed as one 2-D matmul over the flattened leading and contracted dims
  (cfg.flat_matmuls, the default) or one einsum."""
  out_shape: tuple
  axes: tuple  # logical names of the kernel's dimensions
  cfg: ModelConfig
  num_in: int = 1  # how many trailing input dims are contracted
  use_bias: bool = False

  @nn.compact
  def __call__(self, x):
    in_shape = x.shape[-self.num_in:]
    kernel = self.param('kernel', nn.with_logical_partitioning(
        nn.initializers.normal(stddev=0.02), self.axes),
        (*in_shape, *self.out_shape), self.cfg.weight_dtype)
    x, kernel = x.astype(self.cfg.compute_dtype), kernel.astype(self.cfg.compute_dtype)
    # float32 accumulation: with bfloat16 inputs this is also the fast path on CPUs with AMX.
    if self.cfg.flat_matmuls:
      lead, fan_in = x.shape[:-self.num_in], math.prod(in_shape)
      y = jnp.dot(x.reshape(-1, fan_in), kernel.reshape(fan_in, -1),
                  preferred_element_type=jnp.float32).reshape(*lead, *self.out_shape)
    else:
      letters = 'abcdefgh'
      ins, outs = letters[:self.num_in], letters[self.num_in:self.num_in + len(self.out_shape)]
      y = jnp.einsum(f'...{ins},{ins}{outs}->...{outs}', x, kernel,
                     preferred_element_type=jnp.float32)
    y = y.astype(self.cfg.compute_dtype)
    if self.use_bias:
      bias = self.param('bias', nn.with_logical_partitioning(
          nn.initializers.zeros, self.axes[self.num_in:]), self.out_shape, self.cfg.weight_dtype)
      y = y + bias.astype(y.dtype)
    return y


def _dense(features, axes, cfg, name, use_bias=False):
  features = features if isinstance(features, tuple) else (features,)
  return Linear(features, axes, cfg, use_bias=use_bias, name=name)


class RMSNorm(nn.Module):
  cfg: ModelConfig

  @nn.compact
  def __call__(self, x):
    scale = self.param('scale', nn.with_logical_partitioning(nn.initializers.ones, ('norm',)),
                       (x.shape[-1],), self.cfg.weight_dtype)
    x32 = x.astype(jnp.float32)
    x32 = x32 * jax.lax.rsqrt(jnp.mean(x32 * x32, axis=-1, keepdims=True) + self.cfg.rms_norm_eps)
    return (x32 * scale.astype(jnp.float32)).astype(self.cfg.compute_dtype)


def rope_frequencies(cfg: ModelConfig, head_dim: int):
  """Inverse frequencies [head_dim / 2], float32, with the config's RoPE scaling.

  'llama3' (transformers' `_compute_llama3_parameters`): wavelengths longer than
  original_max_len / low_freq_factor are divided by `factor`, shorter than
  original_max_len / high_freq_factor kept, and the band between interpolated smoothly."""
  half = head_dim // 2
  freq = 1.0 / cfg.rope_theta ** (jnp.arange(half, dtype=jnp.float32) / half)
  if cfg.rope_scaling == 'llama3':
    factor, low, high = cfg.rope_scaling_factor, cfg.rope_low_freq_factor, cfg.rope_high_freq_factor
    old_len = cfg.rope_original_max_len
    wavelen = 2 * jnp.pi / freq
    scaled = jnp.where(wavelen > old_len / low, freq / factor, freq)
    smooth = (old_len / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = (wavelen >= old_len / high) & (wavelen <= old_len / low)
    freq = jnp.where(medium, smoothed, scaled)
  elif cfg.rope_scaling:
    raise ValueError(f"model.rope_scaling={cfg.rope_scaling!r}: use '' or 'llama3'")
  return freq


def rope(x, positions, freq):
  """Rotary embedding (rotate-half convention, as Qwen2/Llama).
  x [B, T, H, D], positions [B, T], freq [D / 2] from `rope_frequencies`."""
  angle = positions.astype(jnp.float32)[..., None] * freq  # [B, T, D/2]
  sin, cos = jnp.sin(angle)[:, :, None, :], jnp.cos(angle)[:, :, None, :]
  x1, x2 = jnp.split(x.astype(jnp.float32), 2, axis=-1)
  out = jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)
  return out.astype(x.dtype)


class Attention(nn.Module):
  cfg: ModelConfig

  @nn.compact
  def __call__(self, x, positions, attn_mask, cache_kv=None, cache_index=None, shared_kv=None):
    cfg = self.cfg
    heads, kv_heads, head_dim = cfg.n_heads, cfg.n_kv_heads, cfg.head_size
    q = _dense((heads, head_dim), ('embed', 'q_heads', 'head_dim'), cfg, 'q', cfg.qkv_bias)(x)
    k = _dense((kv_heads, head_dim), ('embed', 'kv_heads', 'head_dim'), cfg, 'k', cfg.qkv_bias)(x)
    v = _dense((kv_heads, head_dim), ('embed', 'kv_heads', 'head_dim'), cfg, 'v', cfg.qkv_bias)(x)
    if cfg.qk_norm:  # Qwen3: per-head RMSNorm before RoPE
      q, k = RMSNorm(cfg, name='q_norm')(q), RMSNorm(cfg, name='k_norm')(k)
    freq = rope_frequencies(cfg, head_dim)
    q = nn.with_logical_constraint(rope(q, positions, freq),
                                   ('act_batch', 'act_length', 'act_heads', 'head_dim'))
    k = nn.with_logical_constraint(rope(k, positions, freq),
                                   ('act_batch', 'act_length', 'act_kv_heads', 'head_dim'))
    v = nn.with_logical_constraint(v, ('act_batch', 'act_length', 'act_kv_heads', 'head_dim'))

    v = v.transpose(0, 2, 1, 3)  # [B, kv_heads, T, D]
    new_kv = None
    if cache_kv is not None:  # write the new keys/values, then attend over the whole cache
      cache_k, cache_v = cache_kv   # keys [B, kv_heads, D, S] (KVCache)
      k = jax.lax.dynamic_update_slice(cache_k, k.transpose(0, 2, 3, 1).astype(cache_k.dtype),
                                       (0, 0, 0, cache_index))
      v = jax.lax.dynamic_update_slice(cache_v, v.astype(cache_v.dtype), (0, 0, cache_index, 0))
      new_kv = (k, v)
      score_spec = 'bkgtd,bkds->bkgts'
    else:
      k = k.transpose(0, 2, 1, 3)  # [B, kv_heads, T, D]
      score_spec = 'bkgtd,bksd->bkgts'

    # Grouped-query attention: [B, T, kv_heads, group, D] queries against the keys.
    batch, length = q.shape[:2]
    q = q.reshape(batch, length, kv_heads, heads // kv_heads, head_dim).transpose(0, 2, 3, 1, 4)
    scores = jnp.einsum(score_spec, q, k.astype(q.dtype), preferred_element_type=jnp.float32)
    scores = scores / jnp.sqrt(jnp.float32(head_dim))
    scores = jnp.where(attn_mask[:, None, None, :, :], scores, jnp.finfo(jnp.float32).min)
    if shared_kv is not None:  # the shared prefix's keys [kv_heads, D, P0], seen by every query
      shared_k, shared_v = (t[0].astype(cfg.compute_dtype) for t in shared_kv)
      prefix_len = shared_k.shape[2]
      shared_scores = jnp.einsum('bkgtd,kds->bkgts', q, shared_k,
                                 preferred_element_type=jnp.float32)
      scores = jnp.concatenate([shared_scores / jnp.sqrt(jnp.float32(head_dim)), scores], -1)
    probs = jax.nn.softmax(scores, axis=-1).astype(cfg.compute_dtype)
    if shared_kv is not None:
      shared_probs, probs = probs[..., :prefix_len], probs[..., prefix_len:]
    out = jnp.einsum('bkgts,bksd->bkgtd', probs, v.astype(cfg.compute_dtype),
                     preferred_element_type=jnp.float32)
    if shared_kv is not None:
      out = out + jnp.einsum('bkgts,ksd->bkgtd', shared_probs, shared_v,
                             preferred_element_type=jnp.float32)
    out = out.astype(cfg.compute_dtype)
    out = out.transpose(0, 3, 1, 2, 4)  # [B, T, kv_heads, group, D]
    out = out.reshape(batch, length, heads, head_dim)
    out = nn.with_logical_constraint(out, ('act_batch', 'act_length', 'act_heads', 'head_dim'))
    o_proj = Linear((cfg.d_model,), ('q_heads', 'head_dim', 'embed'), cfg, num_in=2, name='o')
    return o_proj(out), new_kv


class MLP(nn.Module):
  cfg: ModelConfig

  @nn.compact
  def __call__(self, x):
    cfg = self.cfg
    gate = _dense(cfg.d_ff, ('embed', 'mlp'), cfg, 'gate')(x)
    up = _dense(cfg.d_ff, ('embed', 'mlp'), cfg, 'up')(x)
    hidden = nn.with_logical_constraint(nn.silu(gate) * up, ('act_batch', 'act_length', 'act_mlp'))
    return _dense(cfg.d_model, ('mlp', 'embed'), cfg, 'down')(hidden)


class Block(nn.Module):
  cfg: ModelConfig

  @nn.compact
  def __call__(self, x, positions, attn_mask, cache_kv=None, cache_index=None, shared_kv=None):
    attn_out, new_kv = Attention(self.cfg, name='attn')(
        RMSNorm(self.cfg, name='attn_norm')(x), positions, attn_mask, cache_kv, cache_index,
        shared_kv)
    x = x + attn_out
    x = x + MLP(self.cfg, name='mlp')(RMSNorm(self.cfg, name='mlp_norm')(x))
    return nn.with_logical_constraint(x, ('act_batch', 'act_length', 'act_embed')), new_kv


REMAT_POLICIES = {
    'full': None,  # save nothing inside a layer
    'dots': jax.checkpoint_policies.checkpoint_dots,
    'dots_no_batch': jax.checkpoint_policies.checkpoint_dots_with_no_batch_dims,
}


class Transformer(nn.Module):
  """return_hidden=True returns the final normed hidden states [B, T, D] instead of the
  logits (the chunked-vocabulary losses apply `lm_head_weight` themselves). shared: a
  prefix's KVCache of batch 1 that every row attends to (module docstring)."""
  cfg: ModelConfig

  @nn.compact
  def __call__(self, tokens, positions, attn_mask, cache: Any = None, cache_index=None,
               return_hidden: bool = False, shared: Any = None):
    cfg = self.cfg
    embed = self.param('embed', nn.with_logical_partitioning(
        nn.initializers.normal(stddev=0.02), ('vocab', 'embed')),
        (cfg.vocab_size, cfg.d_model), cfg.weight_dtype)
    x = jnp.take(embed, tokens, axis=0).astype(cfg.compute_dtype)
    x = nn.with_logical_constraint(x, ('act_batch', 'act_length', 'act_embed'))
    block = Block
    if cfg.remat != 'none' and cache is None:  # training: recompute layers in the backward
      if cfg.remat not in REMAT_POLICIES:
        raise ValueError(f'model.remat={cfg.remat!r}: use one of {("none", *REMAT_POLICIES)}')
      block = nn.remat(Block, policy=REMAT_POLICIES[cfg.remat], prevent_cse=True)
    new_k, new_v = [], []
    for i in range(cfg.n_layers):
      shared_kv = None if shared is None else (shared.k[i], shared.v[i])
      if cache is None:
        x, kv = block(cfg, name=f'layer_{i}')(x, positions, attn_mask, None, None, shared_kv)
      else:
        x, kv = block(cfg, name=f'layer_{i}')(x, positions, attn_mask, (cache.k[i], cache.v[i]),
                                              cache_index, shared_kv)
        new_k.append(kv[0])
        new_v.append(kv[1])
    x = RMSNorm(cfg, name='final_norm')(x)
    new_cache = None if cache is None else KVCache(k=tuple(new_k), v=tuple(new_v))
    if return_hidden:
      return x, new_cache
    if cfg.tie_embeddings:
      logits = jnp.einsum('btd,vd->btv', x, embed.astype(cfg.compute_dtype),
                          preferred_element_type=jnp.float32).astype(cfg.compute_dtype)
    else:
      logits = _dense(cfg.vocab_size, ('embed', 'vocab'), cfg, 'lm_head')(x)
    logits = nn.with_logical_constraint(logits, ('act_batch', 'act_length', 'act_vocab'))
    return logits, new_cache


def lm_head_weight(cfg: ModelConfig, params):
  """The output projection [D, V] (the transposed embedding table when tied)."""
  if cfg.tie_embeddings:
    return params['embed'].T
  return params['lm_head']['kernel']


def forward(cfg: ModelConfig, params, tokens, valid=None, return_hidden: bool = False):
  """Full-sequence forward for training and scoring: tokens [B, T] -> logits [B, T, V]
  (return_hidden: the final hidden states [B, T, D]).

  valid [B, T] (optional) marks real tokens; the positions of the real tokens count
  from 0, so left- and right-padded sequences both work.
  """
  if valid is None:
    valid = jnp.ones(tokens.shape, bool)
  positions = jnp.maximum(jnp.cumsum(valid, axis=-1) - 1, 0)
  logits, _ = Transformer(cfg).apply({'params': params}, tokens, positions, causal_mask(valid),
                                     return_hidden=return_hidden)
  return logits


def forward_with_prefix(cfg: ModelConfig, params, prefix, tokens, valid=None,
                        return_hidden: bool = False):
  """Forward of [prefix ; tokens[b]] for every row b, computing the shared prefix once.

  prefix int32 [P0] (the same leading tokens of every sequence, e.g. a constant system
  prompt), tokens [B, T] (the rest of each sequence; `valid` [B, T] marks real tokens, so rows
  may hold padding anywhere) -> logits [B, T, V] of the row tokens: exactly `forward` on the
  concatenation, restricted to the last T positions, at about (P0 + B*T) / (B*(P0 + T)) of
  the cost. Gradients reach the prefix through its keys and values (broadcasting's transpose
  sums over rows). (The sampler's `shared` form, the prefix's keys stored once and attended as
  one matmul, was 1.0-1.05x slower here for the value and gradient of the quickstart's
  pretraining and k1.5 update shapes, so training keeps the broadcast.)
  """
  prefix_len, (batch, length) = prefix.shape[0], tokens.shape
  total = prefix_len + length
  model = Transformer(cfg)
  slots = jnp.arange(total)
  prefix_mask = (slots[:prefix_len, None] >= slots[None, :]) & (slots[None, :] < prefix_len)
  _, cache = model.apply({'params': params}, prefix[None], slots[None, :prefix_len],
                         prefix_mask[None], cache=KVCache.zeros(cfg, 1, total), cache_index=0)
  cache = jax.tree.map(lambda x: jnp.broadcast_to(x, (batch,) + x.shape[1:]), cache)
  if valid is None:
    valid = jnp.ones(tokens.shape, bool)
  positions = prefix_len + jnp.maximum(jnp.cumsum(valid, axis=-1) - 1, 0)
  mask = jnp.concatenate([jnp.ones((batch, length, prefix_len), bool), causal_mask(valid)], -1)
  logits, _ = model.apply({'params': params}, tokens, positions, mask, cache=cache,
                          cache_index=prefix_len, return_hidden=return_hidden)
  return logits


def prefix_cache(cfg: ModelConfig, params, prefix) -> KVCache:
  """The keys and values of prefix int32 [P0] (positions 0..P0-1): a KVCache of batch 1,
  the `shared` argument of the model."""
  prefix_len = prefix.shape[0]
  _, cache = Transformer(cfg).apply(
      {'params': params}, prefix[None], jnp.arange(prefix_len)[None],
      causal_mask(jnp.ones((1, prefix_len), bool)), cache=KVCache.zeros(cfg, 1, prefix_len),
      cache_index=0)
  return cache


def init_params(cfg: ModelConfig, rng, boxed: bool = False):
  """Random parameters. boxed=True keeps the LogicallyPartitioned metadata (for sharding)."""
  tokens = jnp.zeros((1, 4), jnp.int32)
  variables = Transformer(cfg).init(rng, tokens, jnp.zeros_like(tokens),
                                    causal_mask(jnp.ones((1, 4), bool)))
  params = variables['params']
  return params if boxed else nn.meta.unbox(params)


def count_params(params) -> int:
  return sum(x.size for x in jax.tree.leaves(params))


def flops_per_token(cfg: ModelConfig, context: int) -> float:
  """Forward FLOPs per token (2 x matmul MACs), attention over `context` keys included."""
  d, h = cfg.d_model, cfg.head_size
  attn_proj = d * h * (2 * cfg.n_heads + 2 * cfg.n_kv_heads)
  mlp = 3 * d * cfg.d_ff
  attn_scores = 2 * cfg.n_heads * h * context
  return 2.0 * (cfg.n_layers * (attn_proj + mlp + attn_scores) + d * cfg.vocab_size)


def validate_config(config) -> None:
  """config.model: sizes, attention heads, RoPE, remat, dtypes (ConfigError naming the field)."""
  m = config.model
  positive(config, 'model.vocab_size', 'model.d_model', 'model.n_layers', 'model.n_heads',
           'model.n_kv_heads', 'model.d_ff')
  require(m.head_dim or m.d_model % m.n_heads == 0,
          f'model.d_model={m.d_model} is not divisible by model.n_heads={m.n_heads}; '
          'change one or set model.head_dim')
  require(m.n_heads % m.n_kv_heads == 0,
          f'model.n_heads={m.n_heads} is not a multiple of model.n_kv_heads={m.n_kv_heads} '
          '(grouped-query attention); use a divisor of n_heads')
  head_size = m.head_dim or m.d_model // m.n_heads
  require(head_size % 2 == 0, f'head size {head_size} must be even for RoPE; change '
                               'model.head_dim or model.d_model/model.n_heads')
  remats = ('none', 'full', 'dots', 'dots_no_batch')
  require(m.remat in remats, f'model.remat={m.remat!r}: use one of {remats}')
  require(m.rope_scaling in ('', 'llama3'), f"model.rope_scaling={m.rope_scaling!r}: use '' "
                                             "or 'llama3'")
  require(m.logits_chunk >= 0, f'model.logits_chunk={m.logits_chunk} must be >= 0 (0 = off)')
  for field in ('dtype', 'param_dtype'):
    require(m[field] in DTYPES, f'model.{field}={m[field]!r}: use one of {tuple(DTYPES)}')
