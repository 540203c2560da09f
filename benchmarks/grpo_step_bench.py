"""GRPO step benchmark on ../shared/bench/grpo_tiny.json, through the real RL step
(`r1jax.train.rl.GRPOTrainer.step`): rollout, host-side reward, reference log-probs, update.

  python benchmarks/grpo_step_bench.py                  # prints one JSON object
  python benchmarks/grpo_step_bench.py --steps=10 --spec=PATH

Random weights and random 32-token prompts (the spec's workload); the tokenizer is only
used to decode completions for the host side, as in training.
"""
import argparse
import json
import os
import pathlib
import platform
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from configs import grpo_tiny  # noqa: E402
from r1jax import sharding  # noqa: E402
from r1jax.data import corpus, tasks, tokenizer as tokenizer_lib  # noqa: E402
from r1jax.models import ModelConfig, flops_per_token  # noqa: E402
from r1jax.train import rl  # noqa: E402


class RandomPrompts:
  """Fixed-length prompts of random token ids (no padding), as the spec asks."""

  def __init__(self, vocab_size: int, prompt_len: int, seed: int = 0):
    self.vocab_size, self.prompt_len, self.seed = vocab_size, prompt_len, seed

  def take(self, cursor: int, count: int) -> rl.PromptBatch:
    rs = np.random.default_rng([self.seed, cursor])
    tokens = rs.integers(4, self.vocab_size, (count, self.prompt_len)).astype(np.int32)
    return rl.PromptBatch(tokens, np.ones_like(tokens, bool), [''] * count, [{}] * count)


def matmul_peak_gflops(n: int = 2048, runs: int = 10) -> float:
  """fp32 matmul throughput of this machine (median of `runs`), the MFU denominator."""
  a = jnp.ones((n, n), jnp.float32)
  f = jax.jit(lambda x: x @ x)
  f(a).block_until_ready()
  times = []
  for _ in range(runs):
    t = time.perf_counter()
    f(a).block_until_ready()
    times.append(time.perf_counter() - t)
  return 2 * n ** 3 / float(np.median(times)) / 1e9


def step_flops(cfg: ModelConfig, prompts: int, group: int, prompt_len: int, new: int) -> dict:
  """Matmul FLOPs of one step (2 x MACs; attention over the average context)."""
  rows, seq = prompts * group, prompt_len + new - 1
  rollout = (prompts * prompt_len * flops_per_token(cfg, prompt_len / 2)
             + rows * new * flops_per_token(cfg, prompt_len + new / 2))
  forward = rows * seq * flops_per_token(cfg, seq / 2)
  return {'rollout': rollout, 'reference': forward, 'update': 3 * forward}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--spec', default='', help='path of grpo_tiny.json')
  parser.add_argument('--steps', type=int, default=10)
  parser.add_argument('--warmup', type=int, default=2)
  args = parser.parse_args()

  spec, spec_path = grpo_tiny.load_spec(args.spec)
  config = grpo_tiny.get_config(f'spec={spec_path}')
  config.rl.steps = args.steps
  cfg = ModelConfig.from_config(config.model)
  with tempfile.TemporaryDirectory() as tmp:  # the decode-only tokenizer
    examples = tasks.make_examples(('arithmetic', 'countdown'), 'train', 2000, 0, (1, 2))
    tok = tokenizer_lib.train_tokenizer(corpus.tokenizer_corpus(examples), cfg.vocab_size,
                                        os.path.join(tmp, 'tok'))
  mesh = sharding.make_mesh(config.mesh)
  rules = sharding.rules_from_config(config)
  prompts = RandomPrompts(cfg.vocab_size, config.rl.prompt_len)

  t0 = time.perf_counter()
  trainer = rl.GRPOTrainer(config, tok, mesh, rules, None, prompts)
  setup_s = time.perf_counter() - t0
  rows = []
  for _ in range(args.steps):
    t = time.perf_counter()
    row = trainer.step()
    row['wall_s'] = time.perf_counter() - t
    rows.append(row)
  compiles_after_warmup = rows[-1]['compiles'] - rows[args.warmup - 1]['compiles']
  timed = rows[args.warmup:]
  trainer.pool.close()

  med = lambda key: float(np.median([r[key] for r in timed]))
  flops = step_flops(cfg, config.rl.prompts_per_step, config.rl.group_size,
                     config.rl.prompt_len, config.rl.max_new_tokens)
  peak = matmul_peak_gflops()
  step_s = med('wall_s')
  generated = config.rl.prompts_per_step * config.rl.group_size * config.rl.max_new_tokens
  result = {
      'benchmark': 'grpo_step', 'spec': spec['name'], 'spec_path': spec_path,
      'step_s_median': step_s,
      'step_s_all': [round(r['wall_s'], 4) for r in rows],
      'rollout_tokens_per_second': generated / med('rollout_s'),
      'breakdown_s': {'rollout_and_reward': med('rollout_s'), 'reference_logprobs': med('reference_s'),
                      'update': med('update_s')},
      'first_step_s': rows[0]['wall_s'], 'setup_s': setup_s,
      'compiles_after_warmup': compiles_after_warmup,
      'step_gflop': sum(flops.values()) / 1e9,
      'gflop_by_part': {k: round(v / 1e9, 2) for k, v in flops.items()},
      'matmul_peak_gflops_fp32': peak,
      'flop_bound_s': sum(flops.values()) / (peak * 1e9),
      'mfu': sum(flops.values()) / step_s / (peak * 1e9),
      'kl': med('kl'), 'reward': med('reward'),
      'devices': f'{jax.device_count()} x {jax.devices()[0].device_kind}',
      'cpu_count': os.cpu_count(), 'machine': platform.processor() or platform.machine(),
      'jax': jax.__version__, 'date': time.strftime('%Y-%m-%d'),
  }
  print(json.dumps(result, indent=1))


if __name__ == '__main__':
  main()
