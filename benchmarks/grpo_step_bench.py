"""GRPO step benchmark through the real RL step (`r1jax.train.rl.GRPOTrainer.step`): rollout,
host-side reward, reference log-probs, update. Prints ONE JSON line.

  python benchmarks/grpo_step_bench.py                            # grpo_tiny (../shared/bench)
  python benchmarks/grpo_step_bench.py --spec=grpo_tiny_ragged    # benchmarks/specs/
  python benchmarks/grpo_step_bench.py --ab=rl.update_chunks=1    # A/B, interleaved steps
  python benchmarks/grpo_step_bench.py --spec=grpo_tiny_ragged --b_spec=grpo_tiny  # B: other spec

Random weights and random prompt tokens (the spec's workload); the tokenizer only decodes
completions for the host side, as in training. `--ab=FIELD=VALUE[,FIELD=VALUE]` builds a second
trainer with those config overrides and alternates steps between the two in this process, so
the ratio holds on a loaded machine. Per part (rollout incl. reward, reference, update) the
line gives the median seconds, the matmul FLOPs of the tokens really processed (prompt +
generated, 2 x MACs), the floor (FLOPs / the fp32 matmul peak measured here) and floor/time.
"""
import argparse
import json
import time

import _bench  # sys.path, platform defaults
import jax
import numpy as np

from configs import grpo_tiny
from r1jax import sharding
from r1jax.models import ModelConfig, flops_per_token
from r1jax.train import rl


class RandomPrompts:
  """Fixed-length prompts of random token ids (no padding), as the spec asks."""

  def __init__(self, vocab_size: int, prompt_len: int, seed: int = 0):
    self.vocab_size, self.prompt_len, self.seed = vocab_size, prompt_len, seed

  def take(self, cursor: int, count: int) -> rl.PromptBatch:
    rs = np.random.default_rng([self.seed, cursor])
    tokens = rs.integers(4, self.vocab_size, (count, self.prompt_len)).astype(np.int32)
    return rl.PromptBatch(tokens, np.ones_like(tokens, bool), [''] * count, [{}] * count)


def part_flops(cfg: ModelConfig, prompts: int, prompt_len: int, lengths) -> dict:
  """Matmul FLOPs of one step's parts for completions of `lengths` (2 x MACs; attention over
  the average context): the prefill of the distinct prompts and one decode forward per
  generated token, the reference forward and the update (forward + backward = 3 x) over
  prompt + completion tokens of every row."""
  lengths = np.asarray(lengths, np.float64)
  rollout = (prompts * prompt_len * flops_per_token(cfg, prompt_len / 2)
             + sum(n * flops_per_token(cfg, prompt_len + n / 2) for n in lengths))
  forward = sum((prompt_len + n - 1) * flops_per_token(cfg, (prompt_len + n - 1) / 2)
                for n in lengths)
  return {'rollout': rollout, 'reference': forward, 'update': 3 * forward}


def make_trainer(spec_path: str, spec: dict, overrides: dict, tok, steps: int):
  config = grpo_tiny.get_config(f'spec={spec_path}')
  config.rl.steps = steps
  for key, value in overrides.items():
    section, field = key.split('.')[-2:]
    config[section][field] = _bench.typed_like(config[section][field], value)
  cfg = ModelConfig.from_config(config.model)
  mesh = sharding.make_mesh(config.mesh)
  trainer = rl.GRPOTrainer(config, tok, mesh, sharding.rules_from_config(config), None,
                           RandomPrompts(cfg.vocab_size, config.rl.prompt_len))
  if spec['rollout'].get('completion_lengths'):
    trainer.sampler = _bench.ForcedLengths(trainer.sampler, spec)
  prepare = trainer.prepare

  def keep_batches(ro):  # the last step's update batches, to time the reference alone
    batches, weights = prepare(ro)
    trainer.last_batches = batches
    return batches, weights
  trainer.prepare = keep_batches
  return trainer, config, cfg


def time_reference(trainer, batches, runs: int = 3) -> float:
  """Seconds of the reference forward alone over one step's update batches (blocking)."""
  if trainer.state.ref_params is None:
    return 0.0
  with sharding.use_mesh(trainer.mesh, trainer.rules):
    return _bench.median_s(lambda: [trainer.score(trainer.state.ref_params, b.tokens, b.valid)
                                    for b in batches], runs=runs)


def summarize(trainer, config, cfg, rows: list, warmup: int, peak: float, ref_s: float) -> dict:
  timed = rows[warmup:]
  med = lambda key: float(np.median([r[key] for r in timed]))
  rl_cfg = config.rl
  flops = [part_flops(cfg, rl_cfg.prompts_per_step, rl_cfg.prompt_len, r['_lengths'])
           for r in timed]
  flops = {k: float(np.median([f[k] for f in flops])) for k in flops[0]}
  # The reference forward is dispatched (asynchronously) while the update batches are
  # prepared, so its time lands in reference_s + update_s; it is timed alone on the last
  # step's batches and the update part is the rest (host preparation included).
  parts_s = {'rollout': med('rollout_s'), 'reference': ref_s,
             'update': med('reference_s') + med('update_s') - ref_s}
  step_s = med('wall_s')
  floor = {k: v / (peak * 1e9) for k, v in flops.items()}
  return {
      'step_s_median': round(step_s, 4), 'step_s_all': [round(r['wall_s'], 3) for r in rows],
      'parts': {k: {'s': round(parts_s[k], 4), 'gflop': round(flops[k] / 1e9, 2),
                    'floor_s': round(floor[k], 4),
                    'fraction_of_floor': round(floor[k] / max(parts_s[k], 1e-9), 3)}
                for k in flops},
      'step_gflop': round(sum(flops.values()) / 1e9, 2),
      'flop_floor_s': round(sum(floor.values()), 4),
      'fraction_of_floor': round(sum(floor.values()) / step_s, 3),
      'generated_tokens_per_step': med('_generated'),
      'update_tokens_per_step': med('update_tokens'),
      'rollout_tokens_per_second': round(med('_generated') / med('rollout_s'), 1),
      'compiles_after_warmup': rows[-1]['compiles'] - rows[warmup - 1]['compiles'],
      'first_step_s': round(rows[0]['wall_s'], 2), 'kl': med('kl'), 'reward': med('reward'),
      'update_chunks': trainer.chunks,
      'length_buckets': list(trainer.buckets),
  }


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--spec', default='', help='spec name (grpo_tiny, grpo_tiny_ragged) or path')
  parser.add_argument('--steps', type=int, default=10)
  parser.add_argument('--warmup', type=int, default=2)
  parser.add_argument('--ab', default='', help='FIELD=VALUE[,...]: a B trainer, interleaved')
  parser.add_argument('--b_spec', default='', help='the B trainer on this spec (e.g. grpo_tiny)')
  args = parser.parse_args()

  spec, spec_path = grpo_tiny.load_spec(args.spec)
  specs = {'a': (spec, spec_path)}
  if args.b_spec:
    specs['b'] = grpo_tiny.load_spec(args.b_spec)
  vocab = spec['model']['vocab_size']
  tok = _bench.decode_tokenizer(vocab)
  variants = {'a': {}}
  if args.ab or args.b_spec:
    variants['b'] = dict(item.split('=', 1) for item in args.ab.split(',') if item)
  trainers = {k: make_trainer(specs.get(k, specs['a'])[1], specs.get(k, specs['a'])[0], v, tok,
                              args.steps) for k, v in variants.items()}
  rows = {k: [] for k in variants}
  for _ in range(args.steps):
    for name, (trainer, _, _) in trainers.items():
      t = time.perf_counter()
      row = trainer.step()
      row['wall_s'] = time.perf_counter() - t
      rows_per_step = trainer.rl.prompts_per_step * trainer.rl.group_size
      row['_lengths'] = [row['response_len']] * rows_per_step  # mean length: FLOPs ~ linear
      row['_generated'] = row['response_len'] * rows_per_step
      rows[name].append(row)
  peak = _bench.matmul_peak_gflops()
  result = {'benchmark': 'grpo_step', 'spec': spec['name'], 'spec_path': spec_path,
            'steps': args.steps, 'warmup': args.warmup, 'matmul_peak_gflops_fp32': round(peak, 1)}
  for name, (trainer, config, cfg) in trainers.items():
    ref_s = time_reference(trainer, trainer.last_batches) if trainer.use_ref else 0.0
    out = summarize(trainer, config, cfg, rows[name], args.warmup, peak, ref_s)
    trainer.pool.close()
    if name == 'a':
      result.update(out)
    else:
      result['b'] = dict(out, overrides=variants['b'], spec=specs.get('b', specs['a'])[0]['name'])
      result['b_over_a_step_time'] = round(out['step_s_median'] / result['step_s_median'], 3)
  result.update(_bench.machine())
  print(json.dumps(result))


if __name__ == '__main__':
  main()
