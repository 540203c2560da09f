"""Validation: one line naming the field and the fix, before anything compiles."""
import subprocess
import sys

import pytest

from configs import common, grpo_tiny, quickstart, r1_zero
from r1jax.config import ConfigError, validate


def _check(mutate, message, num_devices=8):
  config = common.get_config()
  mutate(config)
  with pytest.raises(ConfigError, match=message) as error:
    validate(config, num_devices)
  assert '\n' not in str(error.value)


def test_defaults_and_experiments_are_valid():
  validate(common.get_config(), 8)
  validate(common.get_config(), 1)
  validate(quickstart.get_config(), 1)
  for variant in ('grpo', 'dapo', 'drgrpo'):
    validate(r1_zero.get_config(f'variant={variant}'), 1)
  config = grpo_tiny.get_config()
  validate(config, 1)
  assert dict(config.rl.rewards) == {'even_tokens': 1.0}
  assert (config.model.d_model, config.rl.group_size, config.rl.kl_beta) == (256, 8, 0.04)


def test_unknown_field_suggests_the_close_one():
  def mutate(c):
    c.train.lerning_rate = 1e-3
  _check(mutate, r'unknown config field train.lerning_rate: did you mean train.learning_rate')


def test_unknown_section():
  def mutate(c):
    c.optimiser = common.ml_collections.ConfigDict({'lr': 1})
  _check(mutate, 'unknown config field optimiser')


def test_open_fields_accept_any_name():
  config = common.get_config()
  config.mesh.rules = {'act_batch': 'data'}
  validate(config, 8)


@pytest.mark.parametrize('field, value, message', [
    ('train.batch_size', 30, r'train.batch_size=30 is not divisible by the data-parallel size 8'),
    ('mesh.shape', (16, 1, 1), r'mesh.shape=\(16, 1, 1\) needs a multiple of 16 devices'),
    ('mesh.shape', (2, 2, 1), r'uses 4 devices but 8 are available'),
    ('model.n_heads', 3, r'model.d_model=256 is not divisible by model.n_heads=3'),
    ('model.n_kv_heads', 3, r'model.n_heads=4 is not a multiple of model.n_kv_heads=3'),
    ('model.dtype', 'fp8', r"model.dtype='fp8': use one of"),
    ('model.head_dim', 7, r'head size 7 must be even for RoPE'),
    ('stages', ('pretrain', 'dpo'), r"unknown stage\(s\) \['dpo'\]"),
    ('train.steps', 0, r'train.steps=0 must be positive'),
    ('train.min_lr_ratio', 2.0, r'train.min_lr_ratio=2.0 must be in \[0, 1\]'),
    ('data.source', 'hub', r"data.source='hub': use 'synthetic', 'tfds' or 'reasoning_gym'"),
    ('data.source', 'tfds', r"data.source='tfds' needs data.tfds_dir"),
    ('eval.num_prompts', 10_000, r'eval.num_prompts=10000 exceeds data.num_heldout'),
    ('eval.batch_size', 12, r'eval.batch_size=12 is not divisible by the data-parallel size 8'),
    ('eval.temperature', -1.0, r'eval.temperature=-1.0 must be >= 0'),
    ('eval.top_p', 0.0, r'eval.top_p=0.0 must be in \(0, 1\]'),
])
def test_each_rule(field, value, message):
  def mutate(c):
    section, _, name = field.rpartition('.')
    (c[section] if section else c)[name] = value
  _check(mutate, message)


@pytest.mark.parametrize('field, value, message', [
    ('rl.prompts_per_step', 12, r'rl.prompts_per_step=12 is not divisible by the data-parallel size 8'),
    ('rl.aggregation', 'sum', r"rl.aggregation='sum' is not one of"),
    ('rl.advantage_mode', 'ppo', r"rl.advantage_mode='ppo': use one of"),
    ('rl.kl_estimator', 'k4', r"rl.kl_estimator='k4'"),
    ('rl.rewards', {'acuracy': 1.0}, r"unknown reward 'acuracy'"),
])
def test_each_rl_rule(field, value, message):
  def mutate(c):
    c.stages = ('pretrain', 'rl')
    section, _, name = field.rpartition('.')
    c[section][name] = value
  _check(mutate, message)


def _main(tmp_path, *overrides):
  return subprocess.run(
      [sys.executable, '-m', 'r1jax.main', '--config=configs/quickstart.py',
       f'--workdir={tmp_path / "run"}', *overrides],
      capture_output=True, text=True, timeout=120)


def test_command_line_stops_before_any_work(tmp_path):
  result = _main(tmp_path, '--config.mesh.shape=(1,1,2)')  # the subprocess sees 1 CPU device
  assert result.returncode != 0
  assert ('config error: mesh.shape=(1, 1, 2) needs a multiple of 2 devices but 1 are '
          'available') in result.stderr
  assert not (tmp_path / 'run').exists()


def test_command_line_rejects_unknown_override(tmp_path):
  result = _main(tmp_path, '--config.train.stepz=3')
  assert result.returncode != 0 and 'stepz' in result.stderr
