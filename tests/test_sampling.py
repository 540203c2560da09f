"""r1jax.sampling: cached decode against full recompute, log-probs against teacher forcing,
padding invariance, top-k/top-p support, stop handling, the shared prompt prefix, compile-once,
8-device mesh."""
import dataclasses
import functools
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from r1jax import sampling, sharding
from r1jax.models import transformer
from r1jax.sampling import SamplingConfig

CFG = transformer.ModelConfig(vocab_size=64, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2,
                              d_ff=64)


@functools.lru_cache()
def _params(seed=0, scale=4.0):
  """Random weights, scaled up so the next-token distributions are peaked (clear argmaxes)."""
  params = transformer.init_params(CFG, jax.random.key(seed))
  return jax.tree.map(lambda x: x * scale if x.ndim > 1 else x, params)


def _prompts(lengths, prompt_len, seed=0):
  """Left-padded random prompts (pad id 0) with the given real lengths."""
  rng = np.random.default_rng(seed)
  prompts = np.zeros((len(lengths), prompt_len), np.int32)
  mask = np.zeros((len(lengths), prompt_len), bool)
  for i, n in enumerate(lengths):
    prompts[i, prompt_len - n:] = rng.integers(1, CFG.vocab_size, n)
    mask[i, prompt_len - n:] = True
  return prompts, mask


def _prefixed_prompts(lengths, prefix_len, prompt_len, seed=0):
  """Prompts that start with the same prefix_len real tokens, then padding, then each row's
  own `lengths[i]` tokens (the layout of encode_prompts(keep_shared_prefix=True))."""
  rng = np.random.default_rng(seed)
  prompts, mask = _prompts(lengths, prompt_len, seed + 1)
  prompts[:, :prefix_len], mask[:, :prefix_len] = rng.integers(1, CFG.vocab_size, prefix_len), True
  return prompts, mask


@functools.partial(jax.jit, static_argnames=('model_cfg', 'cfg', 'prefix_len'))
def _sample_steps(params, prompts, mask, rng, model_cfg, cfg, prefix_len=0):
  return sampling._sample(params, prompts, mask, rng, model_cfg, cfg, prefix_len=prefix_len)


def _run(prompts, mask, cfg, params=None, seed=0, model_cfg=CFG, prefix_len=0):
  params = _params() if params is None else params
  samples, steps = _sample_steps(params, prompts, mask, jax.random.key(seed), model_cfg, cfg,
                                 prefix_len)
  return jax.device_get(samples), int(steps)


@functools.partial(jax.jit, static_argnames=('model_cfg',))
def _full_logits(params, tokens, valid, model_cfg=CFG):
  return transformer.forward(model_cfg, params, tokens, valid).astype(jnp.float32)


def _teacher_forced(params, prompts, mask, samples, temperature, model_cfg=CFG):
  """log softmax(logits / T) of the sampled tokens from one full forward. [B*G, N]"""
  group = samples.tokens.shape[0] // prompts.shape[0]
  prompts, mask = np.repeat(prompts, group, 0), np.repeat(mask, group, 0)
  tokens = np.concatenate([prompts, samples.tokens], 1)
  valid = np.concatenate([mask, samples.mask], 1)
  logits = _full_logits(params, tokens, valid, model_cfg=model_cfg)
  prompt_len, new = prompts.shape[1], samples.tokens.shape[1]
  logits = logits[:, prompt_len - 1:prompt_len - 1 + new] / temperature
  logp = jax.nn.log_softmax(logits, -1)
  return np.asarray(jnp.take_along_axis(logp, samples.tokens[..., None], -1)[..., 0])


def _check_layout(s, cfg):
  """Invariants that hold for any Samples: mask is a prefix of `lengths`, padding after it,
  `stopped` iff the last kept token is a stop id, no stop id before it."""
  new = s.tokens.shape[1]
  np.testing.assert_array_equal(s.mask, np.arange(new)[None] < s.lengths[:, None])
  assert (s.tokens[~s.mask] == cfg.pad_id).all() and (s.logprobs[~s.mask] == 0).all()
  assert (s.lengths >= 1).all() and (s.lengths <= new).all()
  is_stop = np.isin(s.tokens, cfg.stop_ids) & s.mask
  last = s.tokens[np.arange(len(s.lengths)), s.lengths - 1]
  np.testing.assert_array_equal(s.stopped, np.isin(last, cfg.stop_ids))
  np.testing.assert_array_equal(is_stop.sum(1), s.stopped.astype(int))
  assert ((~s.stopped) <= (s.lengths == new)).all()


# ---------------------------------------------------------------------------- correctness

def test_greedy_cached_equals_full_recompute():
  prompt_len, new = 10, 12
  prompts, mask = _prompts([10, 6, 1], prompt_len)
  s, _ = _run(prompts, mask, SamplingConfig(max_new_tokens=new, temperature=0.0))
  # Recompute: argmax of a full forward over the growing (right-padded) sequence.
  tokens = np.concatenate([prompts, np.zeros((3, new), np.int32)], 1)
  valid = np.concatenate([mask, np.zeros((3, new), bool)], 1)
  for j in range(new):
    logits = _full_logits(_params(), tokens, valid)
    tokens[:, prompt_len + j] = np.argmax(logits[:, prompt_len + j - 1], -1)
    valid[:, prompt_len + j] = True
  np.testing.assert_array_equal(s.tokens, tokens[:, prompt_len:])
  assert len(set(s.tokens.ravel().tolist())) > 3  # a real sequence, not one repeated token


@pytest.mark.parametrize('temperature,top_k,top_p', [(1.0, 0, 1.0), (0.7, 0, 1.0),
                                                     (1.3, 8, 0.9), (0.0, 0, 1.0)])
def test_logprobs_equal_teacher_forced(temperature, top_k, top_p):
  prompts, mask = _prompts([7, 3, 9], 9, seed=1)
  cfg = SamplingConfig(max_new_tokens=14, group_size=3, temperature=temperature, top_k=top_k,
                       top_p=top_p, stop_ids=(5, 9))
  s, _ = _run(prompts, mask, cfg, seed=3)
  _check_layout(s, cfg)
  expected = _teacher_forced(_params(), prompts, mask, s, temperature or 1.0)
  np.testing.assert_allclose(s.logprobs, np.where(s.mask, expected, 0.0), atol=2e-5, rtol=1e-5)
  assert s.logprobs.dtype == np.float32 and s.tokens.dtype == np.int32


def test_left_padding_invariance():
  base, base_mask = _prompts([5], 5, seed=2)
  cfg = SamplingConfig(max_new_tokens=10, temperature=0.0)
  outputs = []
  for prompt_len in (5, 8, 13):
    prompts = np.zeros((1, prompt_len), np.int32)
    prompts[0, -5:] = base[0]
    mask = np.arange(prompt_len)[None] >= prompt_len - 5
    outputs.append(_run(prompts, mask, cfg)[0])
  for other in outputs[1:]:
    np.testing.assert_array_equal(other.tokens, outputs[0].tokens)
    np.testing.assert_allclose(other.logprobs, outputs[0].logprobs, atol=1e-5)


# ---------------------------------------------------------------------------- shared prefix

@pytest.mark.parametrize('cfg', [
    SamplingConfig(max_new_tokens=16, temperature=0.0),
    SamplingConfig(max_new_tokens=16, group_size=3, temperature=1.2, top_k=20, top_p=0.9)],
                         ids=['greedy', 'sampled'])
def test_shared_prefix_samples_equal_every_row_keeping_its_own(cfg):
  prompts, mask = _prefixed_prompts([2, 5, 1, 4], prefix_len=6, prompt_len=12, seed=3)
  assert sampling.usable_prefix(prompts, mask) == 6
  free = _run(prompts, mask, cfg, seed=1)[0].tokens   # stop ids that rows meet at 2..10
  cfg = dataclasses.replace(cfg, stop_ids=(int(free[0, 9]), int(free[-1, 1]), int(free[2, 4])))
  own, own_steps = _run(prompts, mask, cfg, seed=1)
  shared, steps = _run(prompts, mask, cfg, seed=1, prefix_len=6)
  _check_layout(shared, cfg)
  np.testing.assert_array_equal(shared.tokens, own.tokens)
  np.testing.assert_array_equal(shared.lengths, own.lengths)
  np.testing.assert_allclose(shared.logprobs, own.logprobs, atol=1e-5)
  assert steps == own_steps and len(set(own.lengths.tolist())) > 1
  # and both are the model's: the log-probs of one full forward over prompt + completion
  expected = _teacher_forced(_params(), prompts, mask, shared, cfg.temperature or 1.0)
  np.testing.assert_allclose(shared.logprobs, np.where(shared.mask, expected, 0.0), atol=2e-5)


def test_shared_prefix_is_read_once_from_the_first_row():
  """With prefix_len the sampler prefills row 0's prefix for every row: a row whose first
  columns differ is continued as if it had row 0's (which is why Sampler checks them)."""
  prompts, mask = _prefixed_prompts([3, 4], prefix_len=5, prompt_len=10, seed=4)
  other = prompts.copy()
  other[1, :5] = (other[1, :5] + 1) % CFG.vocab_size
  cfg = SamplingConfig(max_new_tokens=10, temperature=0.0)
  as_row0, same = _run(other, mask, cfg, prefix_len=5)[0], _run(prompts, mask, cfg)[0]
  np.testing.assert_array_equal(as_row0.tokens, same.tokens)
  np.testing.assert_allclose(as_row0.logprobs, same.logprobs, atol=1e-5)
  own = _run(other, mask, cfg)[0]   # without sharing, row 1 sees its own prefix
  assert np.abs(own.logprobs[1] - as_row0.logprobs[1]).max() > 1e-3


def test_usable_prefix_leaves_every_row_its_last_column():
  prompts, mask = _prefixed_prompts([2, 3], prefix_len=4, prompt_len=8)
  assert sampling.usable_prefix(prompts, mask) == 4
  mask[1, 2] = False   # a padded column is never shared
  assert sampling.usable_prefix(prompts, mask) == 2
  same = np.tile(prompts[:1], (3, 1))
  assert sampling.usable_prefix(same, np.ones_like(same, bool)) == 7   # not all 8


def test_sampler_checks_and_compiles_per_prefix_len():
  mesh = sharding.make_mesh(ml_collections.ConfigDict({'shape': (1, 1, 1)}), jax.devices()[:1])
  cfg = SamplingConfig(max_new_tokens=5, group_size=2, temperature=0.0)
  sampler = sampling.Sampler(CFG, cfg, mesh, sharding.DEFAULT_RULES)
  prompts, mask = _prefixed_prompts([2, 3], prefix_len=4, prompt_len=8, seed=6)
  key = jax.random.key(0)
  with pytest.raises(ValueError, match='share only their first 4'):
    sampler(_params(), prompts, mask, key, prefix_len=5)
  with pytest.raises(ValueError, match='prefix_len=8 must be in'):
    sampler(_params(), prompts, mask, key, prefix_len=8)
  a = jax.device_get(sampler(_params(), prompts, mask, key, prefix_len=4))
  b = jax.device_get(sampler(_params(), prompts, mask, key))
  np.testing.assert_array_equal(a.tokens, b.tokens)
  assert sampler.num_compiles == 2   # one per prefix length
  sampler(_params(), prompts, mask, jax.random.key(1), prefix_len=4)
  assert sampler.num_compiles == 2
  off = sampling.Sampler(CFG, dataclasses.replace(cfg, share_prefix=False), mesh)
  np.testing.assert_array_equal(  # share_prefix=False: prefix_len is ignored, not checked
      jax.device_get(off(_params(), prompts, mask, key, prefix_len=5)).tokens, b.tokens)


# ---------------------------------------------------------------------------- top-k, top-p, T

FIXED_LOGITS = np.linspace(3.0, -3.0, CFG.vocab_size).astype(np.float32)
np.random.default_rng(0).shuffle(FIXED_LOGITS)


@functools.lru_cache()
def _fixed_params():
  """A model whose next-token logits are FIXED_LOGITS whatever the context: attention and
  MLP outputs are zeroed, every embedding is all-ones, so the final hidden state is
  rmsnorm(ones) = ones and the logits are the column sums of lm_head."""
  params = jax.tree.map(np.asarray, transformer.init_params(CFG, jax.random.key(1)))
  params = jax.tree.map(np.array, params)
  params['embed'][:] = 1.0
  for i in range(CFG.n_layers):
    params[f'layer_{i}']['attn']['o']['kernel'][:] = 0.0
    params[f'layer_{i}']['mlp']['down']['kernel'][:] = 0.0
  params['lm_head']['kernel'][:] = 0.0
  params['lm_head']['kernel'][0] = FIXED_LOGITS
  return params


def _allowed(temperature, top_k, top_p):
  """The distribution after temperature, top-k then top-p, from NumPy: {token: prob}."""
  order = np.argsort(-FIXED_LOGITS)
  keep = order[:top_k] if top_k else order
  logits = FIXED_LOGITS[keep] / temperature
  probs = np.exp(logits - logits.max())
  probs /= probs.sum()
  kept = (np.cumsum(probs) - probs) < top_p
  return dict(zip(keep[kept].tolist(), (probs[kept] / probs[kept].sum()).tolist()))


@pytest.mark.parametrize('temperature,top_k,top_p', [(1.0, 5, 1.0), (1.0, 0, 0.5),
                                                     (2.0, 0, 0.3), (0.5, 6, 0.8),
                                                     (1.0, 1, 1.0), (1.0, 0, 1e-6)])
def test_top_k_top_p_stay_in_allowed_set(temperature, top_k, top_p):
  prompts, mask = _prompts([4, 2, 4, 1], 4)
  cfg = SamplingConfig(max_new_tokens=48, group_size=8, temperature=temperature, top_k=top_k,
                       top_p=top_p)
  s, _ = _run(prompts, mask, cfg, params=_fixed_params(), seed=7)
  allowed = _allowed(temperature, top_k, top_p)
  seen = set(s.tokens.ravel().tolist())
  assert seen <= set(allowed), (sorted(seen - set(allowed)), sorted(allowed))
  assert seen == set(allowed)  # 1536 draws reach every allowed token
  counts = np.bincount(s.tokens.ravel(), minlength=CFG.vocab_size) / s.tokens.size
  total_variation = 0.5 * sum(abs(counts[t] - p) for t, p in allowed.items())
  assert total_variation < 0.06, total_variation  # and with the right frequencies
  # log-probs are of the temperature-scaled policy before truncation
  logp = jax.nn.log_softmax(FIXED_LOGITS / temperature)
  np.testing.assert_allclose(s.logprobs, np.asarray(logp)[s.tokens], atol=1e-5)


def test_temperature_to_zero_matches_greedy():
  prompts, mask = _prompts([6, 2, 8], 8, seed=4)
  greedy, _ = _run(prompts, mask, SamplingConfig(max_new_tokens=16, group_size=2,
                                                 temperature=0.0))
  cold, _ = _run(prompts, mask, SamplingConfig(max_new_tokens=16, group_size=2,
                                               temperature=1e-5), seed=11)
  np.testing.assert_array_equal(cold.tokens, greedy.tokens)
  assert (greedy.tokens[0::2] == greedy.tokens[1::2]).all()  # greedy copies agree
  hot, _ = _run(prompts, mask, SamplingConfig(max_new_tokens=16, group_size=2), seed=11)
  assert (hot.tokens[0::2] != hot.tokens[1::2]).any()  # sampled copies differ


def test_rng_is_deterministic():
  prompts, mask = _prompts([6, 2], 8)
  cfg = SamplingConfig(max_new_tokens=8, group_size=4, top_p=0.9)
  a, b = _run(prompts, mask, cfg, seed=5)[0], _run(prompts, mask, cfg, seed=5)[0]
  c = _run(prompts, mask, cfg, seed=6)[0]
  np.testing.assert_array_equal(a.tokens, b.tokens)
  assert (a.tokens != c.tokens).any()


# ---------------------------------------------------------------------------- stops

def test_stops_at_different_steps_and_exits_early():
  prompts, mask = _prompts([5, 8, 3, 6], 8, seed=5)
  new = 20
  ref, steps = _run(prompts, mask, SamplingConfig(max_new_tokens=new, temperature=0.0))
  assert steps == new and not ref.stopped.any() and (ref.lengths == new).all()
  # Stop ids: the tokens rows 0, 1, 2 emit at steps 1, 4, 7 (row 3 may run to the end).
  stop_ids = tuple(sorted({int(ref.tokens[0, 1]), int(ref.tokens[1, 4]),
                           int(ref.tokens[2, 7])}))
  hits = np.isin(ref.tokens, stop_ids)
  expected_len = np.where(hits.any(1), hits.argmax(1) + 1, new)
  cfg = SamplingConfig(max_new_tokens=new, temperature=0.0, stop_ids=stop_ids, pad_id=63)
  s, steps = _run(prompts, mask, cfg)
  _check_layout(s, cfg)
  np.testing.assert_array_equal(s.lengths, expected_len)
  np.testing.assert_array_equal(s.stopped, hits.any(1))
  assert len(set(expected_len.tolist())) >= 3  # really different steps
  for row, n in enumerate(expected_len):
    np.testing.assert_array_equal(s.tokens[row, :n], ref.tokens[row, :n])
    np.testing.assert_allclose(s.logprobs[row, :n], ref.logprobs[row, :n], atol=1e-6)
  assert steps == expected_len.max()  # the loop ran only until the last row stopped

  # When every row stops, the loop exits before max_new_tokens.
  all_stop = tuple(sorted(set(stop_ids) | {int(ref.tokens[3, 2])}))
  s, steps = _run(prompts, mask, dataclasses.replace(cfg, stop_ids=all_stop))
  assert s.stopped.all() and steps == s.lengths.max() < new


def test_sampled_stops_keep_layout():
  prompts, mask = _prompts([5, 8, 3, 6], 8, seed=6)
  cfg = SamplingConfig(max_new_tokens=24, group_size=4, stop_ids=tuple(range(1, 9)))
  s, steps = _run(prompts, mask, cfg, seed=2)
  _check_layout(s, cfg)
  assert s.stopped.any() and len(set(s.lengths.tolist())) > 2
  assert steps == s.lengths.max()


def test_completion_ids_strip_padding_and_stop():
  s = sampling.Samples(tokens=np.array([[4, 7, 2, 0], [5, 6, 8, 9]], np.int32),
                       logprobs=np.zeros((2, 4), np.float32),
                       mask=np.array([[1, 1, 1, 0], [1, 1, 1, 1]], bool),
                       lengths=np.array([3, 4], np.int32), stopped=np.array([True, False]))
  assert sampling.completion_ids(s) == [[4, 7], [5, 6, 8, 9]]
  assert sampling.completion_ids(s, keep_stop=True) == [[4, 7, 2], [5, 6, 8, 9]]


def test_config_from_config_dict_and_errors():
  section = ml_collections.ConfigDict(dict(max_new_tokens=16, group_size=4, temperature=0.8,
                                           top_p=0.95, stop_ids=[2, 3], other_field='x'))
  cfg = SamplingConfig.from_config(section, temperature=0.0)
  assert cfg == SamplingConfig(max_new_tokens=16, group_size=4, temperature=0.0, top_p=0.95,
                               stop_ids=(2, 3))
  hash(cfg)  # static argument of jit
  with pytest.raises(ValueError, match='top_p'):
    SamplingConfig(max_new_tokens=4, top_p=0.0)


# ---------------------------------------------------------------------------- compiled, sharded

def test_sampler_compiles_once_per_shape():
  mesh = sharding.make_mesh(ml_collections.ConfigDict({'shape': (1, 1, 1)}), jax.devices()[:1])
  cfg = SamplingConfig(max_new_tokens=6, group_size=2, top_k=10)
  sampler = sampling.Sampler(CFG, cfg, mesh, sharding.DEFAULT_RULES)
  p1, m1 = _prompts([4, 2], 6, seed=0)
  p2, m2 = _prompts([6, 1], 6, seed=1)
  a = sampler(_params(), p1, m1, jax.random.key(0))
  b = sampler(_params(), p2, m2, jax.random.key(1))
  assert sampler.num_compiles == 1
  assert a.tokens.shape == (4, 6) and not np.array_equal(a.tokens, b.tokens)
  sampler(_params(), *_prompts([3, 3, 3, 3], 6), jax.random.key(2))  # new batch: new shape
  assert sampler.num_compiles == 2


def _sharded_vs_single():
  """Run in a process with 8 CPU devices (see the test below)."""
  assert jax.device_count() == 8, jax.devices()
  params = _params()
  prompts, mask = _prompts([5, 8, 3, 6, 1, 8, 7, 2], 8, seed=9)
  for cfg in (SamplingConfig(max_new_tokens=12, group_size=2, temperature=0.0, stop_ids=(3,)),
              SamplingConfig(max_new_tokens=12, group_size=3, top_p=0.9, top_k=20,
                             stop_ids=(1, 2, 3))):
    single = jax.device_get(jax.jit(sampling.sample, static_argnames=('model_cfg', 'cfg'))(
        jax.device_put(params, jax.devices()[0]), prompts, mask, jax.random.key(4),
        model_cfg=CFG, cfg=cfg))
    for shape in ((4, 1, 2), (2, 2, 2), (8, 1, 1)):
      mesh = sharding.make_mesh(ml_collections.ConfigDict({'shape': shape}))
      out = sampling.Sampler(CFG, cfg, mesh, sharding.DEFAULT_RULES)(
          params, prompts, mask, jax.random.key(4))
      assert out.tokens.sharding.spec[0] == sharding.BATCH_AXES, out.tokens.sharding
      out = jax.device_get(out)
      np.testing.assert_array_equal(out.tokens, single.tokens, err_msg=str(shape))
      np.testing.assert_array_equal(out.lengths, single.lengths)
      np.testing.assert_array_equal(out.stopped, single.stopped)
      np.testing.assert_allclose(out.logprobs, single.logprobs, atol=1e-5)
  # The shared prompt prefix on a data x fsdp x tensor mesh (its cache: heads on `tensor`).
  prompts, mask = _prefixed_prompts([5, 2, 3, 6, 1, 4, 2, 3], prefix_len=4, prompt_len=10, seed=8)
  cfg = SamplingConfig(max_new_tokens=12, group_size=2, temperature=0.0, stop_ids=(3,))
  single = jax.device_get(jax.jit(sampling.sample, static_argnames=('model_cfg', 'cfg'))(
      jax.device_put(params, jax.devices()[0]), prompts, mask, jax.random.key(4),
      model_cfg=CFG, cfg=cfg))
  mesh = sharding.make_mesh(ml_collections.ConfigDict({'shape': (2, 2, 2)}))
  out = jax.device_get(sampling.Sampler(CFG, cfg, mesh, sharding.DEFAULT_RULES)(
      params, prompts, mask, jax.random.key(4), prefix_len=4))
  np.testing.assert_array_equal(out.tokens, single.tokens)
  np.testing.assert_allclose(out.logprobs, single.logprobs, atol=1e-5)
  print('SHARDED_OK')


def test_sharded_on_8_devices_equals_one_device():
  env = dict(os.environ, XLA_FLAGS='--xla_force_host_platform_device_count=8',
             JAX_PLATFORMS='cpu')
  result = subprocess.run([sys.executable, __file__, 'sharded'], env=env, capture_output=True,
                          text=True, timeout=600)
  assert 'SHARDED_OK' in result.stdout, result.stdout + result.stderr


if __name__ == '__main__' and sys.argv[1:] == ['sharded']:
  _sharded_vs_single()
