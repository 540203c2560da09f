"""Run r1jax on a Cloud TPU VM slice: create it, copy and install the project on every worker,
run the same `python -m r1jax.main` on all workers (workdir on GCS), stream the logs, tear down.
Every step is one `gcloud` command; `--dry_run` prints them instead of running them.

  python launch/tpu_pod.py create --name=r1 --zone=us-west4-a --type=v5e-16
  python launch/tpu_pod.py setup  --name=r1 --zone=us-west4-a
  python launch/tpu_pod.py run    --name=r1 --zone=us-west4-a --workdir=gs://BUCKET/r1zero \
      --config=configs/r1_zero.py -- --config.rl.steps=500
  python launch/tpu_pod.py logs   --name=r1 --zone=us-west4-a          # after run --detach
  python launch/tpu_pod.py delete --name=r1 --zone=us-west4-a
  python launch/tpu_pod.py all    --name=r1 --zone=us-west4-a --type=v4-32 --workdir=gs://B/x \
      --config=configs/quickstart.py --dry_run                         # all five, printed

`--queued` creates a queued resource instead (`gcloud compute tpus queued-resources`), with
`--spot` for spot capacity. On the workers `distributed.enabled=True` makes every host call
`jax.distributed.initialize()`, which finds the other hosts of the slice by itself; a
preempted run exits with status 75 after saving, and rerunning `run` resumes it.
"""
import argparse
import shlex
import subprocess
import sys

# Short names -> (accelerator type, default runtime version).
SLICES = {
    'v4': ('v4-{n}', 'tpu-ubuntu2204-base'),
    'v5e': ('v5litepod-{n}', 'v2-alpha-tpuv5-lite'),
    'v5p': ('v5p-{n}', 'v2-alpha-tpuv5'),
    'v6e': ('v6e-{n}', 'v2-alpha-tpuv6e'),
}
REMOTE_DIR = '~/r1jax'
LOG = '~/r1jax.log'


def accelerator(slice_type: str) -> tuple[str, str]:
  """'v5e-16' -> ('v5litepod-16', its default runtime); an exact gcloud type passes through."""
  family, _, size = slice_type.partition('-')
  if family in SLICES and size.isdigit():
    pattern, runtime = SLICES[family]
    return pattern.format(n=size), runtime
  known = [(p.split('-')[0], r) for p, r in SLICES.values()]
  runtime = next((r for prefix, r in known if slice_type.startswith(prefix)), '')
  if not runtime:
    raise ValueError(f'--type={slice_type!r}: use e.g. v5e-16, v4-32 (or pass --version)')
  return slice_type, runtime


def _tpu(args, *words):
  group = ['queued-resources'] if args.queued and words[0] in ('create', 'delete') else ['tpu-vm']
  return ['gcloud', 'compute', 'tpus', *group, *words, f'--zone={args.zone}'] + (
      [f'--project={args.project}'] if args.project else [])


def create(args) -> list[list[str]]:
  acc, runtime = accelerator(args.type)
  runtime = args.version or runtime
  if args.queued:
    return [_tpu(args, 'create', args.name) + [
        f'--node-id={args.name}', f'--accelerator-type={acc}', f'--runtime-version={runtime}'] + (
            ['--spot'] if args.spot else [])]
  return [_tpu(args, 'create', args.name) + [f'--accelerator-type={acc}', f'--version={runtime}']
          + (['--spot'] if args.spot else [])]


def _ssh(args, command: str, worker: str = 'all') -> list[str]:
  return _tpu(args, 'ssh', args.name) + [f'--worker={worker}', f'--command={command}']


def setup(args) -> list[list[str]]:
  """The working tree as a tarball to every worker, then an install with JAX for TPU."""
  tarball = f'/tmp/{args.name}-r1jax.tgz'
  return [
      ['git', 'archive', '--format=tar.gz', f'--output={tarball}', 'HEAD'],
      _tpu(args, 'scp', tarball, f'{args.name}:/tmp/r1jax.tgz') + ['--worker=all'],
      _ssh(args, f'mkdir -p {REMOTE_DIR} && tar xzf /tmp/r1jax.tgz -C {REMOTE_DIR} && '
                 f'cd {REMOTE_DIR} && pip install -q -e ".[gcs]" "jax[tpu]"'),
  ]


def run(args) -> list[list[str]]:
  if not args.workdir.startswith('gs://'):
    raise ValueError(f'--workdir={args.workdir!r}: every worker writes there; use a gs:// path')
  main = ['python3', '-m', 'r1jax.main', f'--config={args.config}', f'--workdir={args.workdir}',
          '--config.distributed.enabled=True', *args.overrides]
  command = f'cd {REMOTE_DIR} && ' + shlex.join(main)
  if args.detach:   # keeps running after this terminal closes; `logs` follows worker 0
    command = f'cd {REMOTE_DIR} && nohup {shlex.join(main)} > {LOG} 2>&1 &'
  return [_ssh(args, command)]


def logs(args) -> list[list[str]]:
  return [_ssh(args, f'tail -n 100 -f {LOG}', worker=args.worker)]


def delete(args) -> list[list[str]]:
  extra = ['--force'] if args.queued else []
  return [_tpu(args, 'delete', args.name) + ['--quiet'] + extra]


def everything(args) -> list[list[str]]:
  return create(args) + setup(args) + run(args) + delete(args)


STEPS = {'create': create, 'setup': setup, 'run': run, 'logs': logs, 'delete': delete,
         'all': everything}


def parse(argv):
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('step', choices=sorted(STEPS))
  parser.add_argument('--name', required=True, help='TPU VM (and queued resource) name')
  parser.add_argument('--zone', required=True)
  parser.add_argument('--project', default='')
  parser.add_argument('--type', default='v5e-8', help='v5e-16, v4-32, ... or a gcloud type')
  parser.add_argument('--version', default='', help='runtime version (default: per type)')
  parser.add_argument('--queued', action='store_true', help='create a queued resource')
  parser.add_argument('--spot', action='store_true')
  parser.add_argument('--config', default='configs/quickstart.py')
  parser.add_argument('--workdir', default='', help='gs://BUCKET/DIR (checkpoints, metrics)')
  parser.add_argument('--detach', action='store_true', help='run in the background; see logs')
  parser.add_argument('--worker', default='0', help='logs: which worker')
  parser.add_argument('--dry_run', action='store_true', help='print the commands only')
  argv = list(sys.argv[1:] if argv is None else argv)
  split = argv.index('--') if '--' in argv else len(argv)
  args = parser.parse_args(argv[:split])
  args.overrides = argv[split + 1:]   # after --: --config.FIELD=VALUE ... for r1jax.main
  return args


def main(argv=None) -> int:
  args = parse(argv)
  try:
    commands = STEPS[args.step](args)
  except ValueError as e:
    print(f'tpu_pod: {e}', file=sys.stderr)
    return 2
  for command in commands:
    print(shlex.join(command), flush=True)
    if not args.dry_run:
      code = subprocess.call(command)
      if code:
        return code
  return 0


if __name__ == '__main__':
  sys.exit(main())
