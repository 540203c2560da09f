"""One process of tests/test_multihost.py (not a test itself):

  python tests/multihost_worker.py OUT_JSON WORKDIR DEVICES [PORT PROCESS_ID NUM_PROCESSES]

With R1JAX_TEST_SIGTERM_AT=K in the environment, RL runs 40 steps and process 1 sends itself
SIGTERM during step K's rollout (a preempted worker): every process must stop at the same step,
save it and exit with EXIT_PREEMPTED.

Runs configs/tiny.py (pretrain + GRPO) through r1jax.main.run with `devices` fake CPU devices
in this process; with a port, as one of NUM_PROCESSES joined by jax.distributed on 127.0.0.1
(gloo collectives). Writes what the test checks: this host's rollout prompts per step and
rewards, and whether its metric writer was on; then exports the RL stage as a Hugging Face
directory (WORKDIR/export).
"""
import json
import os
import signal
import sys

import jax

out_path, workdir, devices = sys.argv[1], sys.argv[2], int(sys.argv[3])
jax.config.update('jax_num_cpu_devices', devices)
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from configs import tiny  # noqa: E402
from r1jax import checkpoint, main, metrics  # noqa: E402
from r1jax.train import rl  # noqa: E402

config = tiny.get_config()
config.train.update(steps=2)
config.rl.update(steps=3, eval_every=0, dynamic_sampling=True, max_refill_rounds=2)
# A reward the random model earns unevenly from step 1 (the share of even token ids): with
# accuracy alone every group has zero variance, the gradient is the KL term's float noise
# (~1e-10; exactly 0 in one run and not in the other, by CPU), and Adam scales that noise up
# to a real step, so the two runs' params part for no reason the test is about.
config.rl.rewards = dict(config.rl.rewards, even_tokens=0.25)
config.checkpoint.update(every=0)   # the final save of each stage
sigterm_at = int(os.environ.get('R1JAX_TEST_SIGTERM_AT', 0))
if sigterm_at:
  config.rl.update(steps=40)
if len(sys.argv) > 4:
  port, process_id, num_processes = (int(x) for x in sys.argv[4:7])
  config.distributed.update(enabled=True, coordinator_address=f'127.0.0.1:{port}',
                            num_processes=num_processes, process_id=process_id)

rollouts, writers = [], []
original_rollout, original_writer = rl.GRPOTrainer.rollout, metrics.MetricWriter.__init__


def rollout(self, cursor, rng, *args):
  if sigterm_at and jax.process_index() == 1 and len(rollouts) == sigterm_at:
    os.kill(os.getpid(), signal.SIGTERM)
  ro = original_rollout(self, cursor, rng, *args)
  rollouts.append({'cursor': cursor, 'prompts': list(ro.prompts.texts),
                   'rewards': ro.rewards.tolist(), 'groups': len(ro.rewards) // self.rl.group_size})
  return ro


def writer(self, *args, **kwargs):
  original_writer(self, *args, **kwargs)
  writers.append(self.enabled)


rl.GRPOTrainer.rollout, metrics.MetricWriter.__init__ = rollout, writer
preempted = None
try:
  main.run(config, workdir)
except checkpoint.Preempted as e:
  preempted = e.step
if preempted is None:
  # The export CLI's path, by every process: the RL checkpoint restored onto a (1, 4, 1) mesh
  # (each weight split across both processes), gathered tensor by tensor, written by process 0.
  config.mesh.shape = (1, 4, 1)
  main.export_stage(config, workdir, os.path.join(workdir, 'export'), stage='rl')
with open(out_path, 'w') as f:
  json.dump({'process_index': jax.process_index(), 'process_count': jax.process_count(),
             'devices': jax.device_count(), 'local_devices': jax.local_device_count(),
             'rollouts': rollouts, 'writers': writers, 'preempted_step': preempted}, f)
if preempted is not None:
  sys.exit(checkpoint.EXIT_PREEMPTED)
