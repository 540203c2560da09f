"""Multi-host, proven on one machine: two processes joined by jax.distributed (127.0.0.1,
gloo, 2 fake CPU devices each -> one 4-device mesh) run configs/tiny.py's pretraining and GRPO
with distributed.enabled and must equal one process with 4 devices, and export the RL stage
to a Hugging Face directory from weights split across both processes; plus the dynamic-sampling
quota with an uneven host (rl.collect)."""
import json
import os
import socket
import subprocess
import sys

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from conftest import make_tiny_config
from r1jax import main, metrics
from r1jax.train import rl

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKER = os.path.join(ROOT, 'tests', 'multihost_worker.py')


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def _restore_on_one_device(workdir, stage, step):
  """A checkpoint (written by however many processes) restored in this one, on one device."""
  path = os.path.join(workdir, 'checkpoints', stage, str(step), 'default')
  tree = ocp.StandardCheckpointer().metadata(path).item_metadata
  device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  target = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device), tree)
  return ocp.StandardCheckpointer().restore(path, target)


@pytest.mark.slow
def test_two_processes_equal_one_process(tmp_path):
  """Starts the three worker processes, then check_runs."""
  env = dict(os.environ)
  env.pop('XLA_FLAGS', None)
  port = _free_port()
  runs = {'one': ['4'], 'p0': ['2', str(port), '0', '2'], 'p1': ['2', str(port), '1', '2']}
  procs = {name: subprocess.Popen(
      [sys.executable, WORKER, str(tmp_path / f'{name}.json'),
       str(tmp_path / ('one' if name == 'one' else 'two')), *args],
      cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
      for name, args in runs.items()}
  for name, proc in procs.items():
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, f'{name}:\n{out[-4000:]}'
  check_runs(tmp_path)


@pytest.mark.slow
def test_sigterm_on_one_host_stops_every_host_at_the_same_step(tmp_path):
  """A preempted worker (SIGTERM to process 1 during RL step 2's rollout): JAX's preemption
  sync point makes both hosts save the same step and exit with EXIT_PREEMPTED (75)."""
  from r1jax import checkpoint  # pylint: disable=g-import-not-at-top
  env = dict(os.environ, R1JAX_TEST_SIGTERM_AT='2')
  env.pop('XLA_FLAGS', None)
  port = _free_port()
  procs = [subprocess.Popen(
      [sys.executable, WORKER, str(tmp_path / f'p{i}.json'), str(tmp_path / 'run'), '2', str(port),
       str(i), '2'], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
      for i in range(2)]
  for i, proc in enumerate(procs):
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == checkpoint.EXIT_PREEMPTED, f'p{i} exited {proc.returncode}:\n{out[-4000:]}'
  p0, p1 = (json.loads((tmp_path / f'p{i}.json').read_text()) for i in range(2))
  step = p0['preempted_step']
  assert step == p1['preempted_step'] and 2 <= step < 40   # stopped soon, not at the end
  # no host ran on alone: as many rollout rounds on both, at most 3 a step (max_refill_rounds 2)
  assert len(p0['rollouts']) == len(p1['rollouts']) <= 3 * (step + 2)
  saved = sorted(int(d) for d in os.listdir(tmp_path / 'run' / 'checkpoints' / 'rl') if d.isdigit())
  assert saved[-1] == step
  restored = _restore_on_one_device(str(tmp_path / 'run'), 'rl', step)
  assert int(np.asarray(restored['train']['step'])) == step


def check_runs(tmp_path):
  """The assertions, on a directory holding one.json, p0.json, p1.json and the workdirs
  one/ and two/ (also usable on runs started by hand, see README)."""
  one, p0, p1 = (json.loads((tmp_path / f'{n}.json').read_text()) for n in ('one', 'p0', 'p1'))
  assert (p0['process_count'], p0['devices'], p0['local_devices']) == (2, 4, 2)
  assert (p1['process_index'], one['process_count'], one['devices']) == (1, 1, 4)

  # Each host verified only its own rows: the first / second half of the global prompts, with
  # all G completions of each prompt (a group never straddles hosts), as many rounds each.
  assert len(p0['rollouts']) == len(p1['rollouts']) == len(one['rollouts'])
  for a, b, ref in zip(p0['rollouts'], p1['rollouts'], one['rollouts']):
    assert a['cursor'] == b['cursor'] == ref['cursor']
    assert a['groups'] == b['groups'] == ref['groups'] // 2 == len(a['prompts'])
    assert a['prompts'] + b['prompts'] == ref['prompts']
    np.testing.assert_allclose(a['rewards'] + b['rewards'], ref['rewards'])

  # Only process 0 wrote metrics (no duplicated rows), equal to the one-process run's.
  assert all(p0['writers']) and not any(p1['writers'])
  two_rows, one_rows = metrics.read_metrics(str(tmp_path / 'two')), metrics.read_metrics(
      str(tmp_path / 'one'))
  assert [(r['stage'], r['step']) for r in two_rows] == [(r['stage'], r['step']) for r in one_rows]
  for a, b in zip(two_rows, one_rows):
    for key in ('loss', 'reward', 'kl', 'eval/accuracy', 'eval/loss', 'grad_norm'):
      if key in b:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-4, atol=1e-6, err_msg=key)
  for stage in ('pretrain', 'rl'):
    assert len(list((tmp_path / 'two' / 'tensorboard' / stage).iterdir())) == 1

  # Checkpoints written by two processes restore in one, and hold the same parameters: within
  # a tenth of one AdamW step (lr 1e-3). Adam divides each gradient element by its own scale,
  # so an element whose gradient is float noise (an embedding row seen once) moves by a noise-
  # sized fraction of a step that differs between the runs: 2.4e-5 on an AVX-512 EPYC.
  for stage, step in (('pretrain', 2), ('rl', 3)):
    two = _restore_on_one_device(str(tmp_path / 'two'), stage, step)
    ref = _restore_on_one_device(str(tmp_path / 'one'), stage, step)
    for a, b in zip(jax.tree.leaves(two), jax.tree.leaves(ref)):
      np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-4)

  # The HF export made by both processes (weights split across them, gathered one tensor at a
  # time, written by process 0) holds exactly the RL checkpoint.
  from r1jax.models import hf
  _, exported = hf.load_hf(str(tmp_path / 'two' / 'export'))
  saved = _restore_on_one_device(str(tmp_path / 'two'), 'rl', 3)['train']['params']
  assert jax.tree.structure(exported) == jax.tree.structure(saved)
  for a, b in zip(jax.tree.leaves(exported), jax.tree.leaves(saved)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


class _FixedPrompts:
  def take(self, cursor, count):
    tokens = np.random.default_rng(cursor).integers(4, 500, (count, 8)).astype(np.int32)
    return rl.PromptBatch(tokens, np.ones_like(tokens, bool), [''] * count, [{}] * count)


def test_dynamic_sampling_quota_is_per_host(tmp_path, monkeypatch):
  """Another host kept fewer groups in round 1: this host must still stop at its own quota."""
  import ml_collections
  from r1jax import sharding
  config = make_tiny_config()
  config.stages = ('rl',)
  config.rl.update(prompts_per_step=8, group_size=2, prompt_len=8, max_new_tokens=4,
                   verifier_workers=1, dynamic_sampling=True, max_refill_rounds=4,
                   dynamic_sampling_metric='reward')   # the stand-in below sets total rewards
  config.rl.rewards = {'even_tokens': 1.0}
  tokenizer = main.load_or_train_tokenizer(config, str(tmp_path))
  mesh = sharding.make_mesh(ml_collections.ConfigDict({'shape': (1, 1, 1)}), jax.devices()[:1])
  trainer = rl.GRPOTrainer(config, tokenizer, mesh, sharding.DEFAULT_RULES, None, _FixedPrompts())
  original = trainer.rollout
  rounds = []

  def rollout(cursor, rng, *args):   # round 1: 6 of 8 groups have variance; later: all
    ro = original(cursor, rng, *args)
    rewards = np.tile([0.0, 1.0], 8)
    if not rounds:
      rewards[12:] = 0.5
    rounds.append(cursor)
    ro.rewards = rewards
    return ro
  trainer.rollout = rollout
  other_host = iter([2, 8, 8])   # what the other host has kept after each round
  monkeypatch.setattr(rl, 'all_hosts_min', lambda own: min(own, next(other_host)))
  ro, _, row = trainer.collect(0)
  trainer.pool.close()
  assert len(ro.prompts.texts) == 8 and len(ro.rewards) == 16   # not 6 + 6
  assert row['rollout_rounds'] == 2
