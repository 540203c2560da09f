"""Math verification throughput: 1,024 completions of mixed answer forms, pool of 2 workers.

    PYTHONPATH=. python benchmarks/verify_throughput.py [--n 1024] [--workers 2]

(PYTHONPATH=. so that the checkout's r1jax is measured, not an installed one.) Prints one
JSON object. About 60% of answers take the inline fast path (integers, decimals,
fractions, commas, percentages); the rest (radicals, pi, polynomials, tuples, intervals,
sets, +-) go to the sympy workers. Every pair is distinct, so nothing is deduplicated
away; half the predictions are wrong. `plain_ms`: the same number of completions whose
answers are all plain numbers (integers, decimals, 1,000-style, a/b, \\frac{a}{b}), which
must never reach the pool (median of 7 runs). CPU times, steadier than wall time on a
shared machine (median of 5): `calling_cpu_ms` - extraction, normalisation and the fast
path of the mixed batch in the calling process (pool calls stubbed out, caches cleared);
`worker_cpu_ms` - the slow-path pairs of that batch checked one after another in this
process (what the workers spend); `plain_cpu_ms` - the plain-number batch.
"""

import argparse
import json
import random
import time

import numpy as np

from r1jax.rewards import RewardBatch, VerifierPool, get_reward
from r1jax.rewards import math as math_module


def _pair(rng: random.Random, i: int) -> tuple[str, str]:
  """(gold, pred) for completion i; pred right for even i."""
  a, b = rng.randint(2, 999), rng.randint(2, 99)
  right = i % 2 == 0
  k = a if right else a + 1
  forms = [
      (str(a), f'{k}'), (str(-a), f'{-k}.0'), (f'{a}/{b}', f'\\frac{{{k}}}{{{b}}}'),
      (f'{a}000', f'{k},000'), (f'{a}.5', f'{k}.50'), (f'{a}\\%', f'{k}'),
      (f'{a}', f'x = {k}'),
      (f'{a}\\sqrt{{2}}', f'\\sqrt{{{2 * k * k}}}'), (f'\\frac{{{a}\\pi}}{{{b}}}', f'{k}\\pi/{b}'),
      (f'x^2+{2 * a}x+{a * a}', f'(x+{k})^2'), (f'({a}, {b})', f'({k},{b})'),
      (f'[{b}, {a})', f'[{b},{k})'), (f'\\{{{a}, {b}\\}}', f'\\{{{b}, {k}\\}}'),
      (f'{a} \\pm \\sqrt{{{b}}}', f'{k}+\\sqrt{{{b}}}, {k}-\\sqrt{{{b}}}'),
  ]
  weights = [3, 2, 3, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1]   # ~60% fast path
  return rng.choices(forms, weights)[0]


def _plain_batch(rng: random.Random, n: int) -> RewardBatch:
  golds, preds = [], []
  for i in range(n):
    a = rng.randint(2, 999)
    k = a if i % 2 == 0 else a + 1
    gold, pred = rng.choice([(str(a), str(k)), (str(-a), f'{-k}.0'), (f'{a}/7', f'\\frac{{{k}}}{{7}}'),
                             (f'{a}000', f'{k},000'), (f'{a}.5', f'{k}.50')])
    golds.append(gold)
    preds.append(pred)
  return RewardBatch([f'<think> working </think> <answer> {p} </answer>' for p in preds],
                     ['Solve. Assistant:'] * n, [{'answer': g} for g in golds])


class _NoPool:
  def check(self, pairs):
    raise AssertionError(f'plain numbers reached the slow path: {pairs[:3]}')


class _Collect:
  def __init__(self):
    self.pairs = []

  def check(self, pairs):
    self.pairs += pairs
    return [False] * len(pairs)


def _cpu_ms(fn, reps=5) -> float:
  times = []
  for _ in range(reps):
    cache = getattr(math_module, '_readings', None)
    if hasattr(cache, 'cache_clear'):
      cache.cache_clear()
    start = time.process_time()
    fn()
    times.append(time.process_time() - start)
  return round(float(np.median(times)) * 1000, 1)


def _cpu_times(batch: RewardBatch, plain: RewardBatch) -> dict:
  from r1jax.rewards import symbolic
  golds = [m['answer'] for m in batch.metadata]
  collect = _Collect()
  verify = lambda b, g, pool: math_module.verify_batch(
      [math_module.extract_answer(c) for c in b.completions], g, pool=pool)
  verify(batch, golds, collect)
  plain_golds = [m['answer'] for m in plain.metadata]
  return {
      'calling_cpu_ms': _cpu_ms(lambda: verify(batch, golds, _Collect())),
      'worker_cpu_ms': _cpu_ms(lambda: [symbolic.equivalent_normalized(p, g)
                                        for p, g in collect.pairs]),
      'slow_pairs': len(collect.pairs),
      'plain_cpu_ms': _cpu_ms(lambda: verify(plain, plain_golds, _NoPool())),
  }


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--n', type=int, default=1024)
  parser.add_argument('--workers', type=int, default=2)
  args = parser.parse_args()
  reward = get_reward('math_accuracy')

  start = time.perf_counter()
  pool = VerifierPool(num_workers=args.workers, timeout_s=2.0)
  reward(RewardBatch(['\\boxed{\\sqrt{2}}'], [''], [{'answer': '2^{1/2}'}]), pool=pool)
  startup_s = time.perf_counter() - start

  walls = []
  for seed in range(3):   # fresh answers each run: no cache carries over
    rng = random.Random(seed)
    pairs = [_pair(rng, i) for i in range(args.n)]
    batch = RewardBatch(
        completions=[f'<think> working </think> <answer> {p} </answer>' for _, p in pairs],
        prompts=['Solve. Assistant:'] * args.n, metadata=[{'answer': g} for g, _ in pairs])
    start = time.perf_counter()
    values = reward(batch, pool=pool)
    walls.append(time.perf_counter() - start)
  pool.close()
  wall = float(np.median(walls))
  plain = _plain_batch(random.Random(0), args.n)
  reward(plain, pool=_NoPool())
  plain_walls = []
  for _ in range(7):
    start = time.perf_counter()
    plain_values = reward(plain, pool=_NoPool())
    plain_walls.append(time.perf_counter() - start)
  assert plain_values.mean() == 0.5
  cpu = _cpu_times(batch, plain)
  print(json.dumps({
      'completions': args.n, 'workers': args.workers,
      'wall_s': round(wall, 3), 'completions_per_s': round(args.n / wall, 1),
      'wall_s_runs': [round(w, 3) for w in walls], 'pool_startup_s': round(startup_s, 3),
      'accuracy': float(values.mean()), 'timeouts': pool.num_timeouts,
      'plain_ms': round(float(np.median(plain_walls)) * 1000, 1), **cpu,
  }))


if __name__ == '__main__':
  main()
