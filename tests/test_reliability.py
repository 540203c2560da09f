"""A run survives preemption, kill -9, half-written checkpoints, non-finite updates and bad
data; each test fails when its guarantee breaks.

The process-level tests start `python -m r1jax.main --config=configs/tiny.py` (one CPU device)
with a shared JAX compilation cache, so only the first run compiles."""
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
import types

import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
import pytest

from configs import tiny
from conftest import make_tiny_config
from r1jax import checkpoint, main, metrics
from r1jax.data import pipeline, source
from r1jax.train import state as state_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Timings, compile counts and wall-clock values differ between runs; everything else must not.
VOLATILE = re.compile(r'(_s$|^time$|tokens_per_second|compiles|gflops)')


@pytest.fixture(scope='module')
def compile_cache(tmp_path_factory):
  return str(tmp_path_factory.mktemp('jax_cache'))


@pytest.fixture(scope='module')
def base_workdir(tmp_path_factory):
  """A pretrained tiny base model (in this process), which the RL runs start from. Also checks
  that train.log_every=0 / eval_every=0 and log.plots=False are honoured."""
  workdir = tmp_path_factory.mktemp('base')
  config = tiny.get_config('stages=pretrain')
  config.train.update(log_every=0, eval_every=0)
  config.log.plots = False
  main.run(config, str(workdir))
  rows = metrics.read_metrics(str(workdir), 'pretrain')
  assert [r['step'] for r in rows if 'loss' in r] == [config.train.steps]   # final step only
  assert not list(workdir.glob('*.png'))
  return str(workdir)


def _command(workdir, base, *overrides):
  return [sys.executable, '-m', 'r1jax.main', '--config=configs/tiny.py:stages=rl',
          f'--config.rl.init_from={base}', '--config.rl.eval_every=0', f'--workdir={workdir}',
          *overrides]


def _start(workdir, base, cache):
  env = dict(os.environ, JAX_COMPILATION_CACHE_DIR=cache,
             JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS='0',
             JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES='0')
  env.pop('XLA_FLAGS', None)
  return subprocess.Popen(_command(workdir, base), cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)


def _finish(proc, timeout=900):
  out, _ = proc.communicate(timeout=timeout)
  return proc.returncode, out


def _wait_for_step(proc, workdir, step, skip_rows=0, timeout=900):
  """Blocks until the run logged RL `step` (among rows after the first `skip_rows`)."""
  deadline = time.monotonic() + timeout
  while time.monotonic() < deadline:
    rows = metrics.read_metrics(str(workdir), 'rl')[skip_rows:]
    if any(r['step'] >= step and 'loss' in r for r in rows):
      return
    assert proc.poll() is None, f'run ended before step {step}: {proc.communicate()[0][-3000:]}'
    time.sleep(0.05)
  raise TimeoutError(step)


def _last_rows(workdir):
  """{step: the last row logged for it} of the RL stage, volatile keys dropped."""
  return {r['step']: {k: v for k, v in r.items() if not VOLATILE.search(k)}
          for r in metrics.read_metrics(str(workdir), 'rl')}


def _saved_state(workdir, step):
  path = os.path.join(workdir, 'checkpoints', 'rl', str(step), 'default')
  return jax.tree.leaves(ocp.PyTreeCheckpointer().restore(path))


@pytest.mark.slow
def test_preemption_and_kill9_resume_exactly(tmp_path, base_workdir, compile_cache):
  steps = tiny.get_config().rl.steps
  # The reference, one uninterrupted run, runs beside the first interrupted one.
  ref = tmp_path / 'uninterrupted'
  reference = _start(ref, base_workdir, compile_cache)

  # 1. SIGTERM during RL: the step is saved and the exit status is EXIT_PREEMPTED, promptly.
  work = tmp_path / 'interrupted'
  proc = _start(work, base_workdir, compile_cache)
  _wait_for_step(proc, work, 2)
  sent = time.monotonic()
  proc.send_signal(signal.SIGTERM)
  code, out = _finish(proc)
  assert code == checkpoint.EXIT_PREEMPTED, out[-3000:]
  assert time.monotonic() - sent < 30
  saved = int(re.search(r'preempted: saved step (\d+)', out).group(1))
  assert 2 <= saved < steps
  ckpt = checkpoint.Checkpointer(str(work), 'rl', every=1, keep=20)
  assert ckpt.latest_step() == saved
  ckpt.close()
  code, out = _finish(reference)
  assert code == 0, out[-3000:]

  # 2. Resume from what SIGTERM saved, then kill -9 at a random later step.
  kill_at = random.randint(saved + 1, steps - 1)
  rows_before = len(metrics.read_metrics(str(work), 'rl'))
  proc = _start(work, base_workdir, compile_cache)
  _wait_for_step(proc, work, kill_at, skip_rows=rows_before)
  proc.kill()
  code, out = _finish(proc)
  assert code == -signal.SIGKILL
  assert f'Resumed from step {saved}' in out, out[-3000:]

  # 3. Half-written checkpoint: the newest step loses its completion marker (killed while
  # saving); the rerun must fall back to the one before, set the broken one aside, and finish.
  done = sorted(int(p.name) for p in (work / 'checkpoints' / 'rl').iterdir() if p.name.isdigit())
  (work / 'checkpoints' / 'rl' / str(done[-1]) / '_CHECKPOINT_METADATA').unlink()
  resume_from = done[-2]   # > 0: steps 1 and 2 were saved before the SIGTERM exit
  code, out = _finish(_start(work, base_workdir, compile_cache))
  assert code == 0, out[-3000:]
  assert f'Resumed from step {resume_from}' in out and 'incomplete' in out, out[-3000:]
  assert list((work / 'checkpoints' / 'rl').glob(f'{done[-1]}.incomplete-*'))

  # Resumed, not retrained: every step up to the restored one was logged exactly once.
  logged = [r['step'] for r in metrics.read_metrics(str(work), 'rl') if 'loss' in r]
  for step in range(1, resume_from + 1):
    assert logged.count(step) == 1, (step, logged)
  assert logged[-1] == steps
  # ... and the result is the uninterrupted run's: metrics of every step, and the parameters.
  assert _last_rows(work) == _last_rows(ref)
  for got, want in zip(_saved_state(str(work), steps), _saved_state(str(ref), steps)):
    np.testing.assert_array_equal(got, want)


def test_half_written_and_unreadable_checkpoints_fall_back(tmp_path):
  state = {'w': jnp.arange(4.0)}
  ckpt = checkpoint.Checkpointer(str(tmp_path), 'rl', every=1, keep=5)
  for step in (1, 2, 3):
    assert ckpt.maybe_save(step, {'w': state['w'] * step})
  ckpt.close()
  directory = tmp_path / 'checkpoints' / 'rl'
  (directory / '3' / '_CHECKPOINT_METADATA').unlink()        # save never finished
  shutil.rmtree(directory / '2' / 'default' / 'd')           # data files gone

  ckpt = checkpoint.Checkpointer(str(tmp_path), 'rl', every=1, keep=5)
  assert ckpt.latest_step() == 2
  restored = ckpt.restore(state)                             # 2 is unreadable: falls back to 1
  np.testing.assert_array_equal(restored['w'], state['w'] * 1)
  assert ckpt.latest_step() == 1
  assert ckpt.maybe_save(2, {'w': state['w'] * 20})          # the broken steps can be redone
  ckpt.close()
  assert len(list(directory.glob('*.incomplete-*'))) == 2


def test_nonfinite_updates_are_skipped_counted_and_stop_the_run(tmp_path, monkeypatch):
  """NaN loss from step 2 on: the update is skipped (params and Adam state kept), counted;
  after train.max_nonfinite_in_a_row the run stops naming the step, and the checkpoint holds
  the last finite state."""
  from r1jax import sharding
  from r1jax.train import pretrain
  config = make_tiny_config(steps=10, log_every=1, max_nonfinite_in_a_row=3)
  config.checkpoint.update(every=1, keep=10)
  original = pipeline.BatchIterator.batch

  def batch(self, step):   # bad data: a NaN loss weight from the second step on
    out = original(self, step)
    if step >= 1:
      out['loss_mask'] = out['loss_mask'] * np.float32('nan')
    return out
  monkeypatch.setattr(pipeline.BatchIterator, 'batch', batch)
  config.mesh.shape = (1, 1, 1)
  mesh = sharding.make_mesh(config.mesh, jax.devices()[:1])
  tokenizer = main.load_or_train_tokenizer(config, str(tmp_path))
  with pytest.raises(state_lib.NonFiniteError, match=r'^step 4: .* 3 updates in a row'):
    pretrain.run(config, str(tmp_path), tokenizer, mesh, sharding.DEFAULT_RULES)

  rows = metrics.read_metrics(str(tmp_path), 'pretrain')
  assert [(r['skipped'], r['skipped_in_a_row']) for r in rows] == [(0, 0), (1, 1), (2, 2), (3, 3)]
  assert np.isfinite(rows[0]['loss']) and not np.isfinite(rows[1]['loss'])
  saved = {s: jax.tree.leaves(ocp.PyTreeCheckpointer().restore(
      str(tmp_path / 'checkpoints' / 'pretrain' / str(s) / 'default'))) for s in (1, 4)}
  for a, b in zip(saved[1], saved[4]):   # nothing non-finite was ever applied or saved
    if np.ndim(a) and np.size(a) > 1:
      np.testing.assert_array_equal(a, b)
      assert np.isfinite(b).all()


def test_gradient_step_selects_the_old_state_in_graph():
  tx = optax.adam(0.1)
  params = {'w': jnp.ones(3)}
  state = state_lib.TrainState(step=jnp.int32(0), params=params, opt_state=tx.init(params),
                               skipped=jnp.int32(0), skipped_in_a_row=jnp.int32(0))
  step = jax.jit(lambda s, x: state_lib.gradient_step(
      s, tx, lambda p: (jnp.sum(p['w'] * x), {})))
  good, bad = jnp.ones(3), jnp.array([1.0, jnp.inf, 1.0])
  s1, _ = step(state, good)
  s2, m2 = step(s1, bad)
  for a, b in zip(jax.tree.leaves((s1.params, s1.opt_state)), jax.tree.leaves((s2.params, s2.opt_state))):
    np.testing.assert_array_equal(a, b)
  assert (int(s2.step), int(m2['skipped']), int(m2['skipped_in_a_row'])) == (2, 1, 1)
  s3, m3 = step(s2, good)   # a finite update resets the streak, not the total
  assert (int(m3['skipped']), int(m3['skipped_in_a_row'])) == (1, 0)
  assert not np.array_equal(s3.params['w'], s2.params['w'])
  state_lib.check_finite({'skipped_in_a_row': 2}, 7, 3, 'rl.max_nonfinite_in_a_row')
  with pytest.raises(state_lib.NonFiniteError, match='step 7: .*rl.max_nonfinite_in_a_row=3'):
    state_lib.check_finite({'skipped_in_a_row': 3}, 7, 3, 'rl.max_nonfinite_in_a_row')


def test_bad_records_are_counted_and_skipped(monkeypatch, capsys):
  good = [r for r in source.load_records(make_tiny_config().data, 'train')[:5]]
  raw = [dict(r, question=r['question'].encode()) for r in good]
  raw.append({k: v for k, v in good[0].items() if k != 'answer'})        # no answer
  raw.append(dict(good[1], answer='  '))                                  # empty answer
  raw.append(dict(good[2], question=b'\xff\xfe caf\xe9'))                  # not UTF-8
  import tensorflow_datasets as tfds
  monkeypatch.setattr(tfds, 'data_source', lambda *a, **k: raw)
  monkeypatch.setattr(tfds, 'builder', lambda *a, **k: types.SimpleNamespace(
      is_prepared=lambda: False))   # not built yet: data_source builds it
  data = types.SimpleNamespace(source='tfds', tfds_name='my_dataset', tfds_dir='/nonexistent',
                               num_train=100, num_heldout=100)
  records = source.load_records(data, 'train')
  assert records == good
  assert 'skipped 3 of 8 records (2 missing answer, 1 not UTF-8)' in capsys.readouterr().out


def test_oversize_prompts_are_skipped_with_a_report(tmp_path, capsys):
  tokenizer = main.load_or_train_tokenizer(make_tiny_config(), str(tmp_path))
  prompts = ['Compute 1 + 2.', 'Compute 3 + 4. ' * 40, 'Solve x + 1 = 2.']
  keep = pipeline.drop_long_prompts(tokenizer, prompts, 32, 'rl.prompt_len')
  assert list(keep) == [0, 2]
  assert 'skipped 1 of 3 prompts longer than rl.prompt_len=32 tokens' in capsys.readouterr().out
  with pytest.raises(ValueError, match='no prompt fits in eval.prompt_len=2'):
    pipeline.drop_long_prompts(tokenizer, prompts, 2, 'eval.prompt_len')


def test_zero_periods_mean_off_in_rl(tmp_path, base_workdir):
  config = tiny.get_config('stages=rl')
  config.rl.update(init_from=base_workdir, steps=2, eval_every=0, log_every=0)
  config.log.plots = False
  main.run(config, str(tmp_path))
  rows = metrics.read_metrics(str(tmp_path), 'rl')
  assert [r['step'] for r in rows] == [0, 2]          # the eval before, the final step
  assert 'eval/accuracy' in rows[-1] and 'loss' in rows[-1]
  assert not list(tmp_path.glob('*.png'))
