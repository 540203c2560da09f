"""Sweeps: a grid of config overrides, run one after another here or printed as one launch
command per point, then one summary table and plot across the runs' metrics.jsonl.

  python -m r1jax.sweep --config=configs/quickstart.py:stages=rl --workdir=/tmp/sweep \
      --sweep='rl.kl_beta=0,0.001 rl.learning_rate=1e-6,3e-6' \
      --set='rl.init_from=/tmp/r1jax_quickstart'                 # 4 runs, then the summary
  python -m r1jax.sweep ... --dry_run                            # print the 4 commands only
  python -m r1jax.sweep ... --launcher='python launch/tpu_pod.py run --name=NAME --zone=ZONE --'
  python -m r1jax.sweep --config=configs/tiny.py --sweep=configs/sweeps/tiny_lr.py --workdir=DIR
  python -m r1jax.sweep --summarize --workdir=/tmp/sweep          # table + plot of what ran

--sweep is either `field=v1,v2 field2=v3,v4` (the grid of all combinations) or a Python file
whose `get_sweep()` returns a list of {field: value} dicts (big_vision style). Every point is
checked with the same rules as `r1jax.main` before anything starts, so a typo fails at once.
Each point runs in WORKDIR/<name>; `summary.md` and `sweep.png` go to WORKDIR.
"""
import argparse
import importlib.util
import itertools
import json
import os
import re
import shlex
import subprocess
import sys
import time

from r1jax import config as config_lib

SUMMARY_KEYS = ('final eval/accuracy', 'best eval/accuracy', 'final response_len',
                'final reward', 'wall_s')


def load_config(spec: str):
  """configs/x.py[:arg] -> its get_config(arg)."""
  path, _, arg = spec.partition(':')
  module_spec = importlib.util.spec_from_file_location('r1jax_sweep_config', path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module.get_config(arg) if arg else module.get_config()


def _text(value) -> str:
  return value if isinstance(value, str) else repr(value)


def parse_sweep(spec: str) -> list[dict]:
  """[{field: value text}] for a grid spec or a sweep file."""
  if spec.endswith('.py'):
    module_spec = importlib.util.spec_from_file_location('r1jax_sweep_file', spec)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return [{k: _text(v) for k, v in point.items()} for point in module.get_sweep()]
  axes = []
  for item in spec.split():
    field, eq, values = item.partition('=')
    if not eq or not values:
      raise config_lib.ConfigError(f'--sweep item {item!r}: use field=v1,v2')
    axes.append([(field, v) for v in _split_values(values)])
  return [dict(combo) for combo in itertools.product(*axes)]


def _split_values(text: str) -> list[str]:
  """'0,0.001' -> ['0', '0.001']; commas inside (...) or [...] stay (mesh.shape=(1,1,2),(2,1,1))."""
  values, depth, current = [], 0, ''
  for ch in text:
    depth += ch in '([{'
    depth -= ch in ')]}'
    if ch == ',' and not depth:
      values.append(current)
      current = ''
    else:
      current += ch
  return values + [current]


def point_name(point: dict) -> str:
  """A directory name from the swept values: 'kl_beta=0,learning_rate=1e-06'."""
  name = ','.join(f'{k.split(".")[-1]}={v}' for k, v in point.items())
  return re.sub(r'[^A-Za-z0-9_.,=+-]', '', name) or 'default'


def plan(config_spec: str, sweep: str, workdir: str, fixed=(), launcher: str = '') -> list:
  """[(name, command argv)] for every point, each checked like r1jax.main checks a run."""
  base = load_config(config_spec)
  launcher = shlex.split(launcher) if launcher else [sys.executable, '-m', 'r1jax.main']
  points = parse_sweep(sweep)
  names = [point_name(p) for p in points]
  if len(set(names)) != len(names):
    names = [f'{i:03d}_{n}' for i, n in enumerate(names)]
  runs = []
  for name, point in zip(names, points):
    overrides = list(fixed) + list(point.items())
    config_lib.validate_fields(config_lib.apply_overrides(base, overrides))  # typos: ConfigError
    command = launcher + [f'--config={config_spec}'] + [
        f'--config.{k}={v}' for k, v in overrides] + [f'--workdir={os.path.join(workdir, name)}']
    runs.append((name, command))
  return runs


def summarize(workdir: str, names=None) -> list[dict]:
  """One row per run directory under `workdir`: final and best held-out accuracy, final response
  length and reward (last stage that logged them), wall time; writes summary.md, summary.json
  and sweep.png there."""
  from r1jax import metrics  # pylint: disable=g-import-not-at-top
  names = names or sorted(d for d in os.listdir(workdir)
                          if os.path.exists(os.path.join(workdir, d, 'metrics.jsonl')))
  table = []
  for name in names:
    rows = metrics.read_metrics(os.path.join(workdir, name))
    last = lambda key: next((r[key] for r in reversed(rows) if key in r), float('nan'))
    evals = [r['eval/accuracy'] for r in rows if 'eval/accuracy' in r]
    times = [r['time'] for r in rows]
    table.append({'run': name, 'final eval/accuracy': last('eval/accuracy'),
                  'best eval/accuracy': max(evals, default=float('nan')),
                  'final response_len': last('response_len'), 'final reward': last('reward'),
                  'wall_s': (max(times) - min(times)) if times else float('nan'),
                  'steps': len(rows)})
  lines = ['| run | ' + ' | '.join(SUMMARY_KEYS) + ' |',
           '|---|' + '---:|' * len(SUMMARY_KEYS)]
  for row in table:
    lines.append(f'| {row["run"]} | ' + ' | '.join(f'{row[k]:.4g}' for k in SUMMARY_KEYS) + ' |')
  with open(os.path.join(workdir, 'summary.md'), 'w') as f:
    f.write('\n'.join(lines) + '\n')
  with open(os.path.join(workdir, 'summary.json'), 'w') as f:
    json.dump(table, f, indent=1)
  _plot(workdir, names)
  print('\n'.join(lines), flush=True)
  return table


def _plot(workdir: str, names) -> None:
  # A bare Figure (no pyplot): no global backend switch, so notebooks keep plotting inline.
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  from r1jax import metrics  # pylint: disable=g-import-not-at-top
  keys = ('eval/accuracy', 'reward', 'response_len')
  fig = Figure(figsize=(4.5 * len(keys), 3.4))
  axes = fig.subplots(1, len(keys), squeeze=False)
  for ax, key in zip(axes[0], keys):
    for name in names:
      rows = metrics.read_metrics(os.path.join(workdir, name))
      stage = next((r['stage'] for r in reversed(rows) if key in r), None)
      points = {r['step']: r[key] for r in rows if key in r and r['stage'] == stage}
      if points:
        ax.plot(sorted(points), [points[s] for s in sorted(points)], label=name)
    ax.set_title(key)
    ax.set_xlabel('step (last stage)')
    ax.grid(alpha=0.3)
  axes[0][0].legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(os.path.join(workdir, 'sweep.png'), dpi=90)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--config', help='configs/x.py[:arg], as for r1jax.main')
  parser.add_argument('--sweep', help="'field=v1,v2 field2=v3' or a sweep .py file")
  parser.add_argument('--workdir', required=True, help='one subdirectory per point')
  parser.add_argument('--set', action='append', default=[],
                      help='field=value applied to every point (repeatable)')
  parser.add_argument('--launcher', default='',
                      help='command prefix per point instead of `python -m r1jax.main`')
  parser.add_argument('--dry_run', action='store_true', help='print the commands, run nothing')
  parser.add_argument('--summarize', action='store_true', help='only the summary of WORKDIR')
  args = parser.parse_args(argv)
  if args.summarize:
    summarize(args.workdir)
    return 0
  if not args.config or not args.sweep:
    parser.error('--config and --sweep are required (or --summarize)')
  fixed = [tuple(item.split('=', 1)) for item in args.set]
  try:
    runs = plan(args.config, args.sweep, args.workdir, fixed, args.launcher)
  except config_lib.ConfigError as e:
    print(f'sweep: config error: {e}', file=sys.stderr)
    return 2
  if args.dry_run or args.launcher:
    for _, command in runs:
      print(shlex.join(command))
    if args.dry_run:
      return 0
  failed = []
  for i, (name, command) in enumerate(runs):
    print(f'[sweep] {i + 1}/{len(runs)} {name}', flush=True)
    start = time.time()
    if subprocess.call(command) != 0:
      failed.append(name)
    print(f'[sweep] {name} done in {time.time() - start:.0f}s', flush=True)
  summarize(args.workdir, [n for n, _ in runs])
  if failed:
    print(f'[sweep] failed: {failed}', file=sys.stderr)
  return 1 if failed else 0


if __name__ == '__main__':
  sys.exit(main())
