"""The decoder: shapes, causal masking, padding, the KV cache, logical axis names."""
import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from r1jax.models import (KVCache, ModelConfig, Transformer, causal_mask, count_params,
                          forward, forward_with_prefix, init_params, map_cache)

CFG = ModelConfig(vocab_size=64, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=64)


@pytest.fixture(scope='module')
def params():
  return init_params(CFG, jax.random.key(0))


def _tokens(batch, length, seed=0):
  return jnp.asarray(np.random.RandomState(seed).randint(4, CFG.vocab_size, (batch, length)),
                     jnp.int32)


def test_forward_shapes_and_param_count(params):
  logits = forward(CFG, params, _tokens(3, 7))
  assert logits.shape == (3, 7, CFG.vocab_size) and logits.dtype == jnp.float32
  head = CFG.head_size
  per_layer = (32 * head * (4 + 2 + 2) + head * (4 + 2 + 2) + 4 * head * 32  # q,k,v (+bias), o
               + 3 * 32 * 64 + 2 * 32)                                       # mlp, norms
  assert count_params(params) == 2 * 64 * 32 + 2 * per_layer + 32


def test_causal_future_tokens_do_not_change_past_logits(params):
  tokens = _tokens(2, 10)
  changed = tokens.at[:, 6].set((tokens[:, 6] + 1) % CFG.vocab_size)
  a, b = forward(CFG, params, tokens), forward(CFG, params, changed)
  np.testing.assert_allclose(a[:, :6], b[:, :6], atol=1e-6)
  assert np.abs(np.asarray(a[:, 6:] - b[:, 6:])).max() > 1e-4


def test_left_padding_matches_unpadded(params):
  tokens = _tokens(1, 6)
  padded = jnp.concatenate([jnp.zeros((1, 3), jnp.int32), tokens], axis=1)
  valid = jnp.arange(9)[None] >= 3
  np.testing.assert_allclose(forward(CFG, params, padded, valid)[:, 3:],
                             forward(CFG, params, tokens), atol=1e-5)


def test_prefill_then_cached_decode_equals_full_forward(params):
  tokens = _tokens(2, 9)
  model = Transformer(CFG)
  positions = jnp.broadcast_to(jnp.arange(9), (2, 9))
  cache = KVCache.zeros(CFG, 2, 9)
  slots = jnp.arange(9)
  # prefill 6 tokens, then decode 3 one at a time
  mask = (slots[None, :6, None] >= slots[None, None, :]) & (slots[None, None, :] < 6)
  logits, cache = model.apply({'params': params}, tokens[:, :6], positions[:, :6],
                              jnp.broadcast_to(mask, (2, 6, 9)), cache, 0)
  # keys [B, kv_heads, D, S], values [B, kv_heads, S, D]: map_cache's axes name the slot axis
  # each array really has (slots 6.. not written yet)
  assert cache.k[0].shape == (2, CFG.n_kv_heads, CFG.head_size, 9)
  assert cache.v[0].shape == (2, CFG.n_kv_heads, 9, CFG.head_size)
  def written(axes, x):
    slots = np.moveaxis(np.asarray(x), axes.index('cache_length'), 0)
    return np.abs(slots[:6]).max(axis=(1, 2, 3)).min() > 0 and not slots[6:].any()
  assert all(jax.tree.leaves(map_cache(written, cache)))
  steps = [logits]
  for t in range(6, 9):
    mask = jnp.broadcast_to(slots[None, None, :] <= t, (2, 1, 9))
    logits, cache = model.apply({'params': params}, tokens[:, t:t + 1], positions[:, t:t + 1],
                                mask, cache, t)
    steps.append(logits)
  np.testing.assert_allclose(jnp.concatenate(steps, 1), forward(CFG, params, tokens), atol=1e-5)


def test_every_weight_has_logical_axis_names():
  boxed = jax.eval_shape(lambda k: init_params(CFG, k, boxed=True), jax.random.key(0))
  specs = jax.tree.leaves(nn.get_partition_spec(boxed),
                          is_leaf=lambda x: isinstance(x, jax.sharding.PartitionSpec))
  shapes = jax.tree.leaves(nn.meta.unbox(boxed))
  assert len(specs) == len(shapes)
  for spec, shape in zip(specs, shapes):
    assert len(spec) == len(shape.shape) and all(isinstance(n, str) for n in spec), spec


def test_bfloat16_compute_is_close_to_float32(params):
  bf16 = ModelConfig(**{**CFG.__dict__, 'dtype': 'bfloat16'})
  tokens = _tokens(2, 8)
  a = forward(CFG, params, tokens)
  b = forward(bf16, params, tokens)
  assert b.dtype == jnp.bfloat16
  np.testing.assert_allclose(np.asarray(b, np.float32), a, atol=0.05)


def test_causal_mask_combines_validity():
  valid = jnp.array([[False, True, True]])
  mask = np.asarray(causal_mask(valid))[0]
  assert mask.tolist() == [[False, False, False], [False, True, False], [False, True, True]]


def test_shared_prefix_forward_equals_full_forward(params):
  prefix, rows = _tokens(1, 5)[0], _tokens(3, 6, seed=1)
  full = jnp.concatenate([jnp.broadcast_to(prefix, (3, 5)), rows], axis=1)
  np.testing.assert_allclose(forward_with_prefix(CFG, params, prefix, rows),
                             forward(CFG, params, full)[:, 5:], atol=1e-5)

  def loss(p, fn):
    return jnp.mean(fn(p) ** 2)
  g_prefix = jax.grad(loss)(params, lambda p: forward_with_prefix(CFG, p, prefix, rows))
  g_full = jax.grad(loss)(params, lambda p: forward(CFG, p, full)[:, 5:])
  for a, b in zip(jax.tree.leaves(g_prefix), jax.tree.leaves(g_full)):
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_flat_matmuls_equal_the_einsum_form(params):
  """The 2-D matmul projections (the default) and the einsum over [B, T, ...] are the same
  model: logits and gradients agree, also through the cached decode path (num_in=2 for the
  output projection, a grouped [heads, head_dim] output for q/k/v)."""
  einsum_cfg = dataclasses.replace(CFG, flat_matmuls=False)
  tokens = _tokens(3, 9)
  np.testing.assert_allclose(forward(CFG, params, tokens), forward(einsum_cfg, params, tokens),
                             atol=1e-5)
  loss = lambda cfg: lambda p: jnp.sum(jnp.sin(forward(cfg, p, tokens)))
  flat, einsum = jax.grad(loss(CFG))(params), jax.grad(loss(einsum_cfg))(params)
  for a, b in zip(jax.tree.leaves(flat), jax.tree.leaves(einsum)):
    np.testing.assert_allclose(a, b, atol=1e-5)
  positions = jnp.zeros((3, 1), jnp.int32)
  mask = jnp.ones((3, 1, 4), bool)
  decode = lambda cfg: Transformer(cfg).apply({'params': params}, tokens[:, :1], positions, mask,
                                              cache=KVCache.zeros(cfg, 3, 4), cache_index=0)
  (logits_a, cache_a), (logits_b, cache_b) = decode(CFG), decode(einsum_cfg)
  np.testing.assert_allclose(logits_a, logits_b, atol=1e-5)
  np.testing.assert_allclose(cache_a.k[1], cache_b.k[1], atol=1e-5)
