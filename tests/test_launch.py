"""launch/: the exact gcloud commands for a v5e-16 and a v4-32 slice (dry run), and the SLURM
script run for real against stand-in srun/scontrol/python that record what each node gets."""
import os
import stat
import subprocess
import sys

import pytest

from r1jax import checkpoint

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'launch'))
import slurm  # noqa: E402
import tpu_pod  # noqa: E402


def _dry_run(module, *argv):
  argv = list(argv)
  split = argv.index('--') if '--' in argv else len(argv)
  argv.insert(split, '--dry_run')
  result = subprocess.run([sys.executable, os.path.join(ROOT, 'launch', module), *argv],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
  assert result.returncode == 0, result.stderr
  return result.stdout


def test_v5e_16_slice_commands():
  out = _dry_run('tpu_pod.py', 'all', '--name=r1', '--zone=us-west4-a', '--type=v5e-16',
                 '--workdir=gs://my-bucket/r1zero', '--config=configs/quickstart.py', '--',
                 '--config.rl.steps=500')
  assert out.splitlines() == [
      'gcloud compute tpus tpu-vm create r1 --zone=us-west4-a --accelerator-type=v5litepod-16 '
      '--version=v2-alpha-tpuv5-lite',
      'git archive --format=tar.gz --output=/tmp/r1-r1jax.tgz HEAD',
      'gcloud compute tpus tpu-vm scp /tmp/r1-r1jax.tgz r1:/tmp/r1jax.tgz --zone=us-west4-a '
      '--worker=all',
      "gcloud compute tpus tpu-vm ssh r1 --zone=us-west4-a --worker=all '--command=mkdir -p "
      '~/r1jax && tar xzf /tmp/r1jax.tgz -C ~/r1jax && cd ~/r1jax && pip install -q -e ".[gcs]" '
      '"jax[tpu]"\'',
      "gcloud compute tpus tpu-vm ssh r1 --zone=us-west4-a --worker=all '--command=cd ~/r1jax && "
      'python3 -m r1jax.main --config=configs/quickstart.py --workdir=gs://my-bucket/r1zero '
      "--config.distributed.enabled=True --config.rl.steps=500'",
      'gcloud compute tpus tpu-vm delete r1 --zone=us-west4-a --quiet',
  ]


def test_v4_32_queued_spot_slice_commands():
  args = ['--name=pod', '--zone=us-central2-b', '--type=v4-32', '--queued', '--spot',
          '--project=proj']
  assert _dry_run('tpu_pod.py', 'create', *args).strip() == (
      'gcloud compute tpus queued-resources create pod --zone=us-central2-b --project=proj '
      '--node-id=pod --accelerator-type=v4-32 --runtime-version=tpu-ubuntu2204-base --spot')
  assert _dry_run('tpu_pod.py', 'run', *args, '--workdir=gs://b/x', '--detach').strip() == (
      "gcloud compute tpus tpu-vm ssh pod --zone=us-central2-b --project=proj --worker=all "
      "'--command=cd ~/r1jax && nohup python3 -m r1jax.main --config=configs/quickstart.py "
      "--workdir=gs://b/x --config.distributed.enabled=True > ~/r1jax.log 2>&1 &'")
  assert _dry_run('tpu_pod.py', 'logs', *args).strip().endswith(
      "--worker=0 '--command=tail -n 100 -f ~/r1jax.log'")
  assert _dry_run('tpu_pod.py', 'delete', *args).strip() == (
      'gcloud compute tpus queued-resources delete pod --zone=us-central2-b --project=proj '
      '--quiet --force')


def test_bad_slice_and_local_workdir_are_refused():
  with pytest.raises(ValueError, match='v5e-16'):
    tpu_pod.accelerator('h100-8')
  assert tpu_pod.main(['run', '--name=a', '--zone=z', '--workdir=/tmp/x', '--dry_run']) == 2


def _stand_in(directory, name, body):
  path = directory / name
  path.write_text('#!/bin/bash\n' + body)
  path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_slurm_script_sets_the_distributed_arguments_per_node(tmp_path):
  assert slurm.EXIT_PREEMPTED == checkpoint.EXIT_PREEMPTED
  text = _dry_run('slurm.py', '--nodes=2', '--gpus_per_node=8', '--partition=a100',
                  '--workdir=/shared/run', '--config=configs/quickstart.py', '--',
                  '--config.rl.steps=50')
  for line in ('#SBATCH --nodes=2', '#SBATCH --gpus-per-node=8', '#SBATCH --partition=a100',
               '#SBATCH --signal=TERM@300', '#SBATCH --requeue'):
    assert line in text.splitlines()
  # Run the script: srun starts the command once per node, "python" records its arguments,
  # node 1 exits as a preempted run does, and the script must requeue.
  bin_dir = tmp_path / 'bin'
  bin_dir.mkdir()
  _stand_in(bin_dir, 'scontrol', f'if [ "$1" = show ]; then printf "node-a\\nnode-b\\n"; '
                                 f'else echo "$@" >> {tmp_path}/scontrol.log; fi\n')
  _stand_in(bin_dir, 'srun', 'shift; status=0\nfor i in 0 1; do SLURM_PROCID=$i SLURM_NTASKS=2 '
                             '"$@" || status=$?; done\nexit $status\n')
  _stand_in(bin_dir, 'python', f'echo "$@" > {tmp_path}/node$SLURM_PROCID.args\n'
                               '[ "$SLURM_PROCID" = 1 ] && exit 75; exit 0\n')
  script = tmp_path / 'job.sbatch'
  script.write_text(text)
  env = dict(os.environ, PATH=f'{bin_dir}:{os.environ["PATH"]}', SLURM_JOB_NODELIST='node-[a-b]',
             SLURM_JOB_ID='42')
  result = subprocess.run(['bash', str(script)], env=env, capture_output=True, text=True)
  assert result.returncode == 75, result.stderr
  for node in (0, 1):
    args = (tmp_path / f'node{node}.args').read_text().split()
    assert args == ['-m', 'r1jax.main', '--config=configs/quickstart.py', '--workdir=/shared/run',
                    '--config.rl.steps=50', '--config.distributed.enabled=True',
                    '--config.distributed.coordinator_address=node-a:12355',
                    '--config.distributed.num_processes=2',
                    f'--config.distributed.process_id={node}']
  assert (tmp_path / 'scontrol.log').read_text().split() == ['requeue', '42']
