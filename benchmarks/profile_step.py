"""Where a GRPO step's device time goes on XLA:CPU: a `jax.profiler` trace of real
`GRPOTrainer.step` calls, summed per compiled function and per kind of XLA op. Prints ONE JSON
line.

  python benchmarks/profile_step.py                          # grpo_tiny
  python benchmarks/profile_step.py --ab=model.flat_matmuls=false   # the einsum projections
  R1JAX_CPU_MALLOC=0 python benchmarks/profile_step.py       # glibc's default malloc

Per compiled function (`train_step` = the update, `score` = reference log-probs, `traced` = the
sampler), milliseconds per step by op kind: `matmul` (YNNPACK/oneDNN dot fusions and plain
dots), `copy/transpose` (loop fusions whose root is a copy or transpose: layout changes),
`elementwise/other` (the rest); the five costliest ops; and the process's minor page faults per
step (fresh memory touched). Op times are the thunks' own durations, summed over both CPU
threads, so a function's total can exceed its wall time.
"""
import argparse
import collections
import glob
import gzip
import json
import resource
import tempfile

import _bench  # sys.path, platform defaults
import grpo_step_bench
import jax

from configs import grpo_tiny


def op_kind(name: str) -> str:
  if name.startswith(('ynn_fusion', 'onednn', 'dot', 'custom-call')):
    return 'matmul'
  if name.startswith(('copy', 'transpose')):
    return 'copy/transpose'
  return 'elementwise/other'


def summarize_trace(trace_dir: str, steps: int) -> dict:
  path = glob.glob(f'{trace_dir}/**/*.trace.json.gz', recursive=True)[0]
  with gzip.open(path) as f:
    events = json.load(f)
  events = events['traceEvents'] if isinstance(events, dict) else events
  per_op = collections.defaultdict(collections.Counter)
  for e in events:
    args = e.get('args', {})
    if e.get('ph') == 'X' and 'hlo_op' in args:
      per_op[args['hlo_module']][args['hlo_op']] += e['dur'] / 1e3 / steps
  out = {}
  for module, ops in sorted(per_op.items(), key=lambda kv: -sum(kv[1].values())):
    total = sum(ops.values())
    if total < 1.0:
      continue
    kinds = collections.Counter()
    for op, ms in ops.items():
      kinds[op_kind(op)] += ms
    out[module.removeprefix('jit_')] = {
        'ms_per_step': round(total, 1),
        'by_kind_ms': {k: round(v, 1) for k, v in kinds.most_common()},
        'top_ops_ms': {op: round(ms, 1) for op, ms in ops.most_common(5)}}
  return out


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--spec', default='', help='spec name or path (default grpo_tiny)')
  parser.add_argument('--steps', type=int, default=2, help='steps traced after warm-up')
  parser.add_argument('--warmup', type=int, default=2)
  parser.add_argument('--ab', default='', help='FIELD=VALUE[,...] config overrides')
  args = parser.parse_args()

  spec, spec_path = grpo_tiny.load_spec(args.spec)
  overrides = dict(item.split('=', 1) for item in args.ab.split(',') if item)
  tok = _bench.decode_tokenizer(spec['model']['vocab_size'])
  trainer, _, _ = grpo_step_bench.make_trainer(spec_path, spec, overrides, tok,
                                               args.warmup + args.steps)
  for _ in range(args.warmup):
    trainer.step()
  faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
  with tempfile.TemporaryDirectory() as trace_dir:
    with jax.profiler.trace(trace_dir, create_perfetto_trace=True):
      for _ in range(args.steps):
        trainer.step()
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / args.steps
    functions = summarize_trace(trace_dir, args.steps)
  trainer.pool.close()
  print(json.dumps({'benchmark': 'profile_step', 'spec': spec['name'], 'overrides': overrides,
                    'steps': args.steps, 'minor_page_faults_per_step': round(faults),
                    'functions': functions, **_bench.machine()}))


if __name__ == '__main__':
  main()
