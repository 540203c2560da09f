"""Run r1jax on a multi-node GPU cluster with SLURM: writes an sbatch script that starts one
process per node with the `jax.distributed` arguments set (the first node of the allocation
is the coordinator), and submits it. `--dry_run` prints the script instead.

  python launch/slurm.py --nodes=4 --gpus_per_node=8 --config=configs/r1_zero.py \
      --workdir=/shared/runs/r1zero --dry_run -- --config.rl.steps=500
  python launch/slurm.py --nodes=4 --gpus_per_node=8 --partition=a100 ...   # sbatch it

Preemption: SLURM sends SIGTERM `--signal_s` seconds before the end (`--signal=TERM@S`); r1jax
saves the step and exits with status 75, and the script then requeues the job, which resumes
from the workdir.
"""
import argparse
import shlex
import subprocess
import sys
import tempfile

EXIT_PREEMPTED = 75   # r1jax.checkpoint.EXIT_PREEMPTED (kept in sync by tests/test_launch.py)

TEMPLATE = """#!/bin/bash
#SBATCH --job-name={job_name}
#SBATCH --nodes={nodes}
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node={gpus_per_node}
#SBATCH --cpus-per-task={cpus_per_task}
#SBATCH --time={time}
#SBATCH --output={log_dir}/%x-%j.out
#SBATCH --signal=TERM@{signal_s}
#SBATCH --requeue
{partition}set -uo pipefail
# One process per node; process 0 (the first node) coordinates jax.distributed.
COORDINATOR="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1):{port}"
srun --kill-on-bad-exit=1 bash -c '{cd}exec python -m r1jax.main {main_args} \\
    --config.distributed.enabled=True \\
    --config.distributed.coordinator_address='"$COORDINATOR"' \\
    --config.distributed.num_processes=$SLURM_NTASKS \\
    --config.distributed.process_id=$SLURM_PROCID'
status=$?
if [ $status -eq {exit_preempted} ]; then   # saved on SIGTERM: run again from the workdir
  scontrol requeue "$SLURM_JOB_ID"
fi
exit $status
"""


def script(args) -> str:
  main_args = ' '.join(shlex.quote(a) for a in [f'--config={args.config}',
                                                f'--workdir={args.workdir}', *args.overrides])
  return TEMPLATE.format(
      job_name=args.job_name, nodes=args.nodes, gpus_per_node=args.gpus_per_node,
      cpus_per_task=args.cpus_per_task, time=args.time, log_dir=args.log_dir,
      signal_s=args.signal_s, port=args.port, exit_preempted=EXIT_PREEMPTED,
      partition=f'#SBATCH --partition={args.partition}\n' if args.partition else '',
      cd=f'cd {shlex.quote(args.project_dir)} && ' if args.project_dir else '',
      main_args=main_args.replace("'", "'\\''"))


def parse(argv):
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--nodes', type=int, required=True)
  parser.add_argument('--gpus_per_node', type=int, default=8)
  parser.add_argument('--cpus_per_task', type=int, default=16)
  parser.add_argument('--time', default='24:00:00')
  parser.add_argument('--partition', default='')
  parser.add_argument('--job_name', default='r1jax')
  parser.add_argument('--log_dir', default='.')
  parser.add_argument('--port', type=int, default=12355)
  parser.add_argument('--signal_s', type=int, default=300, help='SIGTERM this long before the end')
  parser.add_argument('--project_dir', default='', help='cd here on every node first')
  parser.add_argument('--config', default='configs/quickstart.py')
  parser.add_argument('--workdir', required=True, help='a directory every node can reach')
  parser.add_argument('--dry_run', action='store_true', help='print the script only')
  argv = list(sys.argv[1:] if argv is None else argv)
  split = argv.index('--') if '--' in argv else len(argv)
  args = parser.parse_args(argv[:split])
  args.overrides = argv[split + 1:]
  return args


def main(argv=None) -> int:
  args = parse(argv)
  text = script(args)
  if args.dry_run:
    print(text, end='')
    return 0
  with tempfile.NamedTemporaryFile('w', suffix='.sbatch', delete=False) as f:
    f.write(text)
  print(f'sbatch {f.name}', flush=True)
  return subprocess.call(['sbatch', f.name])


if __name__ == '__main__':
  sys.exit(main())
