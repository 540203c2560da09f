"""The fast paths give the plain paths' results: the sampler dropping finished rows
(compaction) and forced stops, and the update over length-sorted, length-bucketed chunks
(every rl.loss; a non-finite chunk skips the step as on the whole batch); bucketing compiles
at most once per bucket, nothing after warm-up."""
import functools
import gzip
import json
import os
import pathlib
import subprocess
import sys
import types

import jax
import ml_collections
import numpy as np
import pytest

from conftest import make_tiny_config
from r1jax import metrics, platform, sampling, sharding
from r1jax.models import transformer
from r1jax.sampling import SamplingConfig
from r1jax.train import rl
from r1jax.train import state as train_state_lib

CFG = transformer.ModelConfig(vocab_size=64, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2,
                              d_ff=64)


@functools.lru_cache()
def _params():
  params = transformer.init_params(CFG, jax.random.key(0))
  return jax.tree.map(lambda x: x * 3.0 if x.ndim > 1 else x, params)


def _sample(cfg, stop_at, devices=1, batch=4, prompt_len=6):
  mesh = sharding.make_mesh(ml_collections.ConfigDict({'shape': (-1, 1, 1)}),
                            jax.devices()[:devices])
  sampler = sampling.Sampler(CFG, cfg, mesh)
  prompts = np.random.default_rng(0).integers(3, CFG.vocab_size, (batch, prompt_len))
  out = sampler(_params(), prompts.astype(np.int32), np.ones((batch, prompt_len), bool),
                jax.random.key(3), stop_at=stop_at)
  return jax.device_get(out)


def _assert_same_samples(a, b):
  np.testing.assert_array_equal(a.tokens, b.tokens)
  np.testing.assert_array_equal(a.lengths, b.lengths)
  np.testing.assert_array_equal(a.stopped, b.stopped)
  np.testing.assert_allclose(a.logprobs, b.logprobs, atol=1e-4)


def test_compaction_equals_the_single_phase_loop_and_forced_stops_hold():
  base = SamplingConfig(max_new_tokens=20, group_size=4, stop_ids=(1,), compact_levels=0)
  rows = 16
  stop_at = np.where(np.arange(rows) % 5 == 0, 0, 2 + np.arange(rows) % 4).astype(np.int32)
  plain = _sample(base, stop_at)
  for levels in (1, 3):
    assert sampling.phase_sizes(rows, SamplingConfig(20, 4, stop_ids=(1,),
                                                     compact_levels=levels)) == \
        [16, 8, 4, 2][:levels + 1]
    _assert_same_samples(_sample(SamplingConfig(**{**base.__dict__, 'compact_levels': levels}),
                                 stop_at), plain)
  forced = stop_at > 0
  # a forced row ends with the stop id at its forced length (or stopped on its own before)
  assert np.all(plain.lengths[forced] <= stop_at[forced]) and np.all(plain.stopped[forced])
  at_forced = plain.lengths[forced] == stop_at[forced]
  assert at_forced.sum() >= forced.sum() - 2
  last = plain.tokens[forced][at_forced, stop_at[forced][at_forced] - 1]
  assert np.all(last == 1)
  assert np.any(plain.lengths[~forced] > 5)   # unforced rows run longer: a ragged batch


def test_compaction_stays_within_shards_on_a_mesh():
  cfg = SamplingConfig(max_new_tokens=12, group_size=4, stop_ids=(1,))
  stop_at = np.tile(np.array([0, 2, 3, 2], np.int32), 4)
  _assert_same_samples(_sample(cfg, stop_at, devices=4),
                       _sample(SamplingConfig(**{**cfg.__dict__, 'compact_levels': 0}), stop_at))
  assert sampling.phase_sizes(16, cfg, shards=4) == [16, 8, 4]


def test_length_buckets():
  assert rl.length_buckets(64, 4) == (8, 16, 32, 64)
  assert rl.length_buckets(48, 2) == (24, 48)
  assert rl.length_buckets(6, 1) == (6,)


class _NoPool:
  def close(self):
    pass


def _trainer(**rl_fields):
  config = make_tiny_config()
  config.stages = ('rl',)
  config.rl.update(prompts_per_step=4, group_size=4, prompt_len=6, max_new_tokens=16,
                   learning_rate=1e-2, warmup_steps=0, stop_on_eos=True, kl_beta=0.05)
  config.rl.update(**rl_fields)
  mesh = sharding.make_mesh(ml_collections.ConfigDict({'shape': (1, 1, 1)}), jax.devices()[:1])
  tok = types.SimpleNamespace(pad_id=0, eos_id=2, stop_ids=(2,))
  return rl.GRPOTrainer(config, tok, mesh, sharding.DEFAULT_RULES, _base_params(), None,
                        pool=_NoPool())


@functools.lru_cache()
def _base_params():
  """One tiny model for every trainer here (the trainers' own init would be the same)."""
  mesh = sharding.make_mesh(ml_collections.ConfigDict({'shape': (1, 1, 1)}), jax.devices()[:1])
  model_cfg = rl.ModelConfig.from_config(make_tiny_config().model)
  state, _ = train_state_lib.create_train_state(
      model_cfg, train_state_lib.make_optimizer(make_tiny_config().train), jax.random.key(0),
      mesh, sharding.DEFAULT_RULES)
  return jax.device_get(state.params)


def _rollout(lengths, seed=0, vocab=512, prompt_len=6, new=16):
  rs = np.random.default_rng(seed)
  rows, lengths = len(lengths), np.asarray(lengths)
  mask = np.arange(new)[None] < lengths[:, None]
  prompts = rl.PromptBatch(rs.integers(4, vocab, (rows // 4, prompt_len)).astype(np.int32),
                           np.ones((rows // 4, prompt_len), bool), [''] * (rows // 4),
                           [{}] * (rows // 4))
  return rl.Rollout(prompts, np.where(mask, rs.integers(4, vocab, (rows, new)), 0).astype(np.int32),
                    mask, np.where(mask, -rs.random((rows, new)) * 3, 0).astype(np.float32),
                    lengths.astype(np.int32), lengths < new,
                    rs.random(rows).astype(np.float32), {})


LENGTHS = [3, 16, 2, 5, 4, 1, 7, 2, 16, 3, 2, 9, 4, 2, 3, 6]


def _flat(tree):
  return np.concatenate([np.ravel(np.asarray(x)) for x in jax.tree.leaves(tree)])


# every rl.loss, every aggregation, and the KL-shaped reward (penalty per chunk)
CASES = [dict(aggregation='seq_mean'), dict(aggregation='token_mean'),
         dict(aggregation='token_sum', kl_mode='reward'),
         dict(loss='kimi_k15', kl_beta=0.0, kimi_length_normalize=True)]


@pytest.mark.parametrize('fields', CASES, ids=lambda f: '-'.join(map(str, f.values())))
def test_chunked_bucketed_update_equals_the_whole_batch(fields):
  trainer = _trainer(update_chunks=2, length_buckets=2, **fields)   # buckets 8, 16
  ro = _rollout(LENGTHS)
  plan = trainer.plan(ro)
  assert [n for _, n in plan] == [8, 16]  # sorted by length, each in its bucket
  assert sorted(np.concatenate([idx for idx, _ in plan]).tolist()) == list(range(16))
  batches, weights = trainer.prepare(ro)
  # the whole batch, unchunked, as main's update sees it (rows in order, max_new_tokens)
  whole = [(np.arange(16), 16)]
  whole_batches = trainer.device_batches(ro, whole)
  whole_batch = whole_batches[0].replace(advantages=sharding.put_batch(
      trainer.advantages(ro, whole, whole_batches).astype(np.float32), trainer.mesh))
  params = trainer.state.train.params
  loss_fn = rl.make_loss_fn(trainer.model_cfg, trainer.loss_cfg, trainer.rl.prompt_len,
                            trainer.rl.temperature, None, trainer.rl)
  (loss_ref, metrics_ref), grads_ref = jax.jit(jax.value_and_grad(
      lambda p: loss_fn(p, whole_batch), has_aux=True))(params)
  grads = trainer.zero_grads(params)
  for batch, weight in zip(batches, weights[0]):
    grads = trainer.chunk_grad(params, batch, weight, grads)[0]
  grads, grads_ref = _flat(grads), _flat(grads_ref)
  assert np.linalg.norm(grads_ref) > 1e-3
  np.testing.assert_allclose(grads, grads_ref, rtol=1e-4, atol=1e-5 * np.abs(grads_ref).max())

  # the chunked optimizer step: the whole batch's loss and metrics, and its parameters moved
  # by Adam (the same state.apply_gradients as gradient_step)
  start = _flat(params)
  state, metrics = jax.device_get(trainer.update(trainer.state.train, batches, weights))
  np.testing.assert_allclose(metrics['loss'], loss_ref, rtol=2e-4, atol=1e-6)
  np.testing.assert_allclose(metrics['grad_norm'], np.linalg.norm(grads_ref), rtol=1e-4)
  assert set(metrics) == set(metrics_ref) | {'grad_norm', 'skipped', 'skipped_in_a_row',
                                             'learning_rate'}
  for key, value in jax.device_get(metrics_ref).items():
    np.testing.assert_allclose(metrics[key], value, rtol=2e-4, atol=1e-6, err_msg=key)
  # Adam's first step moves each weight by lr * g / (|g| + 1e-8): by ~lr where |g| >> 1e-8
  moved = _flat(state.params) - start
  big = np.abs(grads_ref) * min(1.0, 1.0 / np.linalg.norm(grads_ref)) > 1e-5   # clip at 1
  assert big.sum() > 1000
  np.testing.assert_allclose(moved[big], -1e-2 * np.sign(grads_ref[big]), rtol=1e-2)
  assert int(state.step) == 1 and int(state.skipped) == 0
  np.testing.assert_allclose(metrics['learning_rate'], 1e-2, rtol=1e-6)


def test_a_nan_in_one_chunk_skips_the_update():
  trainer = _trainer(update_chunks=2, length_buckets=2)
  ro = _rollout(LENGTHS)
  ro.logprobs[np.argmax(ro.lengths == 4), 1] = np.nan   # a valid token of the short chunk
  batches, weights = trainer.prepare(ro)
  assert len(batches) == 2
  start = _flat(trainer.state.train.params)
  state, metrics = trainer.update(trainer.state.train, batches, weights)
  metrics = jax.device_get(metrics)
  assert not np.isfinite(metrics['loss'])
  assert int(state.skipped) == 1 and int(metrics['skipped_in_a_row']) == 1
  np.testing.assert_array_equal(_flat(state.params), start)   # nothing moved
  assert int(state.step) == 1
  batches, weights = trainer.prepare(_rollout(LENGTHS))
  state, metrics = trainer.update(state, batches, weights)
  assert int(state.skipped) == 1 and int(jax.device_get(metrics)['skipped_in_a_row']) == 0
  # the next finite update is Adam's first (the skipped one left the optimizer state as it
  # was): count 1, and no weight moves by more than lr = 1e-2, the largest by about that
  import optax  # pylint: disable=g-import-not-at-top
  is_adam = lambda x: isinstance(x, optax.ScaleByAdamState)
  adam, = [s for s in jax.tree.leaves(state.opt_state, is_leaf=is_adam) if is_adam(s)]
  assert int(adam.count) == 1
  np.testing.assert_allclose(np.abs(_flat(state.params) - start).max(), 1e-2, rtol=1e-3)


def test_buckets_compile_once_each_and_nothing_after_warm_up():
  trainer = _trainer(update_chunks=2, length_buckets=2)  # buckets 8, 16
  patterns = [[2] * 8 + [16] * 8, [3] * 16, [16] * 16, [2] * 8 + [7] * 8]
  for round_ in range(2):
    before = metrics.compile_count()
    for i, lengths in enumerate(patterns):
      batches, weights = trainer.prepare(_rollout(lengths, seed=i))
      trainer.state = trainer.state.replace(
          train=trainer.update(trainer.state.train, batches, weights)[0])
    if round_:
      assert metrics.compile_count() == before   # the second round compiles nothing
  # per function: one compilation per length it met
  assert trainer.chunk_grad._cache_size() == 2    # chunks of lengths 8 and 16
  assert trainer.train_step._cache_size() == 2    # one call over all rows: 8 and 16
  assert trainer.apply_chunks._cache_size() == 1


def test_update_chunks_fall_back_to_a_divisor_of_the_rows():
  assert _trainer(update_chunks=3).chunks == 2    # 16 rows: 3 chunks would not be equal
  assert _trainer(update_chunks=4).chunks == 4


def test_platform_flags_add_to_xla_flags_and_the_user_wins(monkeypatch):
  monkeypatch.setenv('R1JAX_CPU_MALLOC', '0')   # this process's malloc stays as it is
  monkeypatch.setenv('XLA_FLAGS', '--xla_cpu_a=1 --other')
  flags = platform.configure(('--xla_cpu_a=2', '--xla_cpu_b=3'))
  assert flags.split() == ['--xla_cpu_a=1', '--other', '--xla_cpu_b=3']
  monkeypatch.delenv('XLA_FLAGS')
  assert platform.configure(('--xla_cpu_b=3',)) == '--xla_cpu_b=3'


_MALLOC_PROBE = """
import ctypes, resource
from r1jax import platform
platform.configure(())
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
def block():  # 64 MiB, every page written, freed
  p = libc.malloc(64 << 20); ctypes.memset(p, 1, 64 << 20); libc.free(p)
block()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
block()
print(platform.CPU_MALLOC, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def test_cpu_malloc_reuses_freed_blocks_instead_of_faulting_in_new_pages(monkeypatch):
  """platform.configure() on a CPU run: a freed 64 MiB block is reused by the next malloc
  (XLA:CPU's per-call buffers) instead of unmapped and faulted in again; R1JAX_CPU_MALLOC=0
  leaves glibc's default. An accelerator backend is left alone."""
  root = str(pathlib.Path(__file__).resolve().parents[1])
  def probe(setting):
    env = dict(os.environ, R1JAX_CPU_MALLOC=setting, JAX_PLATFORMS='cpu', PYTHONPATH=root)
    out = subprocess.run([sys.executable, '-c', _MALLOC_PROBE], env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    return out[0] == 'True', int(out[1])
  (on, on_faults), (off, off_faults) = probe('1'), probe('0')
  assert on and not off
  assert on_faults <= off_faults // 8, (on_faults, off_faults)
  monkeypatch.setenv('JAX_PLATFORMS', 'tpu')
  assert not platform.runs_on_cpu()
  monkeypatch.setenv('JAX_PLATFORMS', 'cpu')
  assert platform.runs_on_cpu()


def test_profile_step_sums_op_times_per_function_and_kind(tmp_path):
  """benchmarks/profile_step.py's trace summary: per compiled function, milliseconds per step
  by op kind (matmul / copy+transpose / other) and the costliest ops; functions under 1 ms
  per step are left out."""
  sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / 'benchmarks'))
  import profile_step  # pylint: disable=g-import-not-at-top
  event = lambda module, op, us: {'ph': 'X', 'name': op, 'dur': us,
                                  'args': {'hlo_module': module, 'hlo_op': op}}
  events = [event('jit_train_step', 'ynn_fusion.1', 3000)] * 2 + [
      event('jit_train_step', 'copy_bitcast_fusion.2', 1000),
      event('jit_train_step', 'transpose_copy_fusion', 600),
      event('jit_train_step', 'add_multiply_fusion', 400),
      event('jit_tiny', 'dot.3', 900),
      {'ph': 'X', 'name': 'ThunkExecutor::Execute', 'dur': 99999, 'args': {}}]
  (tmp_path / 'host').mkdir()
  with gzip.open(tmp_path / 'host' / 'x.trace.json.gz', 'wt') as f:
    json.dump({'traceEvents': events}, f)
  out = profile_step.summarize_trace(str(tmp_path), steps=2)
  assert list(out) == ['train_step']
  step = out['train_step']
  assert step['ms_per_step'] == 4.0
  assert step['by_kind_ms'] == {'matmul': 3.0, 'copy/transpose': 0.8, 'elementwise/other': 0.2}
  assert list(step['top_ops_ms'])[:2] == ['ynn_fusion.1', 'copy_bitcast_fusion.2']


def test_decode_step_bench_runs_the_cached_forward():
  """benchmarks/decode_step_bench.py times the model's cached decode at each rows x slots and
  the score matmul with both key layouts, as one JSON line (tiny sizes here)."""
  root = pathlib.Path(__file__).resolve().parents[1]
  out = subprocess.run([sys.executable, 'benchmarks/decode_step_bench.py', '--d_model=32',
                        '--n_layers=1', '--rows=1,2', '--slots=8,16', '--runs=1'],
                       cwd=root, capture_output=True, text=True, check=True, timeout=300)
  result = json.loads(out.stdout.strip().splitlines()[-1])
  assert sorted(result['ms_per_step']) == sorted(
      f'{r} rows x {s} slots' for r in (1, 2) for s in (8, 16))
  assert result['benchmark'] == 'decode_step' and result['model'] == 'd32 x 1 layers'
  assert all(isinstance(ms, float) and 0 < ms < np.inf for ms in result['ms_per_step'].values())
  score = result['score_matmul_ms']   # both key layouts timed at the largest rows x slots
  assert set(score) == {'keys_slots_by_dim', 'keys_dim_by_slots', 'cache_keys_mb'}
  assert all(isinstance(score[k], float) and 0 < score[k] < np.inf
             for k in ('keys_slots_by_dim', 'keys_dim_by_slots'))
