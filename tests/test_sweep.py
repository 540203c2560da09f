"""r1jax.sweep: the grid and sweep-file points, the commands, a real two-point local sweep on
configs/tiny.py, and the summary table/plot across runs."""
import json
import os
import subprocess
import sys

import pytest

from r1jax import config as config_lib
from r1jax import metrics, sweep

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_grid_points_commands_and_typos(tmp_path, capsys):
  points = sweep.parse_sweep('rl.kl_beta=0,0.001 rl.learning_rate=1e-6,3e-6')
  assert points == [{'rl.kl_beta': b, 'rl.learning_rate': lr}
                    for b in ('0', '0.001') for lr in ('1e-6', '3e-6')]
  assert sweep.parse_sweep('mesh.shape=(1,1,2),(2,1,1)') == [
      {'mesh.shape': '(1,1,2)'}, {'mesh.shape': '(2,1,1)'}]
  from_file = sweep.parse_sweep(os.path.join(ROOT, 'configs/sweeps/tiny_lr.py'))
  assert from_file[1] == {'rl.learning_rate': '0.001', 'rl.kl_beta': '0.01'} and len(from_file) == 4

  code = sweep.main(['--config=configs/tiny.py', f'--workdir={tmp_path}', '--dry_run',
                     '--sweep=rl.kl_beta=0,0.001 rl.learning_rate=1e-6,3e-6',
                     '--set=rl.reward_options.code_timeout_s=1.0'])
  commands = capsys.readouterr().out.strip().splitlines()
  assert code == 0 and len(commands) == 4
  assert commands[3].endswith(f'--config.rl.reward_options.code_timeout_s=1.0 '
                              f'--config.rl.kl_beta=0.001 --config.rl.learning_rate=3e-6 '
                              f'--workdir={tmp_path}/kl_beta=0.001,learning_rate=3e-6')
  assert not os.listdir(tmp_path)   # a dry run starts nothing

  with pytest.raises(config_lib.ConfigError, match='did you mean rl.kl_beta'):
    sweep.plan('configs/tiny.py', 'rl.kl_bta=0,1', str(tmp_path))
  assert sweep.main(['--config=configs/tiny.py', f'--workdir={tmp_path}',
                     '--sweep=mesh.rules.embd=None']) == 2


def test_summary_table_and_plot(tmp_path):
  for name, accs in (('a', [0.1, 0.5, 0.3]), ('b', [0.2, 0.2, 0.4])):
    writer = metrics.MetricWriter(str(tmp_path / name), 'rl', 3, tensorboard=False)
    os.makedirs(tmp_path / name)
    for step, acc in enumerate(accs):
      writer.write(step, {'eval/accuracy': acc, 'response_len': 10.0 + step, 'reward': acc})
  table = {r['run']: r for r in sweep.summarize(str(tmp_path))}
  assert (table['a']['final eval/accuracy'], table['a']['best eval/accuracy']) == (0.3, 0.5)
  assert (table['b']['final eval/accuracy'], table['b']['best eval/accuracy']) == (0.4, 0.4)
  assert table['a']['final response_len'] == 12.0 and table['a']['steps'] == 3
  times = [r['time'] for r in metrics.read_metrics(str(tmp_path / 'a'))]
  assert len(times) == 3 and table['a']['wall_s'] == max(times) - min(times)
  assert '| a | 0.3 | 0.5 | 12 |' in (tmp_path / 'summary.md').read_text()
  assert (tmp_path / 'sweep.png').stat().st_size > 1000


@pytest.mark.slow
def test_runs_a_grid_locally_and_summarizes(tmp_path):
  result = subprocess.run(
      [sys.executable, '-m', 'r1jax.sweep', '--config=configs/tiny.py:stages=pretrain',
       '--sweep=train.learning_rate=1e-3,3e-2', '--set=train.steps=2', '--set=train.warmup_steps=0',
       '--set=log.plots=False',
       f'--workdir={tmp_path}'], cwd=ROOT, capture_output=True, text=True, timeout=500)
  assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
  table = json.loads((tmp_path / 'summary.json').read_text())
  assert [r['run'] for r in table] == ['learning_rate=1e-3', 'learning_rate=3e-2']
  losses = []
  for row in table:
    run = tmp_path / row['run']
    rows = metrics.read_metrics(str(run))
    evals = [r['eval/accuracy'] for r in rows if 'eval/accuracy' in r]
    assert len(evals) == 1 and row['final eval/accuracy'] == evals[-1]   # the run's own eval
    config = json.loads((run / 'config.json').read_text())
    assert config['train']['steps'] == 2
    losses.append([r['loss'] for r in rows if 'loss' in r])
  assert config['train']['learning_rate'] == 3e-2
  assert losses[0][0] == losses[1][0] and losses[0][1] != losses[1][1]   # same start, own lr
  assert 'learning_rate=3e-2' in (tmp_path / 'summary.md').read_text()
