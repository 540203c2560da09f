"""Validation: one line naming the field and the fix, before anything compiles."""
import subprocess
import sys

import pytest

from configs import common, grpo_tiny, quickstart, r1_zero
from r1jax.config import ConfigError
from r1jax.stages import validate


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
  validate(quickstart.get_config('tasks=columns'), 1)
  with pytest.raises(ValueError, match="tasks='digits': use one of"):
    quickstart.get_config('tasks=digits')
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
    ('stages', ('pretrain', 'ppo'), r"unknown stage\(s\) \['ppo'\]"),
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
    ('rl.loss', 'ppo', r"rl.loss='ppo': use 'grpo' or 'kimi_k15'"),
    ('rl.sampling', 'random', r"rl.sampling='random': use one of"),
    ('rl.dynamic_sampling_metric', 'std', r"rl.dynamic_sampling_metric='std'"),
    ('rl.reward_warmup', {'length_penalty': 5}, r"rl.reward_warmup names 'length_penalty'"),
    ('rl.length_penalty_warmup', 10, r"names 'length_penalty', which is not in rl.rewards"),
    ('rl.curriculum_start', 0.0, r'rl.curriculum_start=0.0 must be in \(0, 1\]'),
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
  assert result.returncode != 0
  assert ('config error: unknown config field train.stepz: did you mean train.steps? (new knobs '
          'get a default in configs/common.py)') in result.stderr
  assert 'FATAL Flags parsing error' not in result.stderr and not (tmp_path / 'run').exists()


def test_command_line_sets_open_fields_and_checks_rule_names(tmp_path):
  result = _main(tmp_path, '--config.mesh.rules.embd=None', '--config.rl.reward_options.x=1')
  assert result.returncode != 0
  assert "config error: mesh.rules: unknown logical axis 'embd': did you mean 'embed'?" in (
      result.stderr)


def test_overrides_reach_every_knob():
  from r1jax.config import apply_overrides, split_overrides
  argv = ['prog', '--config=configs/quickstart.py', '--config.rl.reward_options.code_timeout_s=1.5',
          '--config.mesh.rules.embed', 'None', "--config.mesh.rules.act_batch=('data','fsdp')",
          '--config.stages=rl', '--config.mesh.shape=(1,1,1)', '--config.log.plots=false',
          '--config.rl.eval_every=0', '--config.rl.rewards={"accuracy": 2.0}', '--workdir=/x']
  rest, overrides = split_overrides(argv)
  assert rest == ['prog', '--config=configs/quickstart.py', '--workdir=/x']
  config = apply_overrides(quickstart.get_config(), overrides)
  assert dict(config.rl.reward_options) == {'code_timeout_s': 1.5}
  assert dict(config.mesh.rules) == {'embed': None, 'act_batch': ('data', 'fsdp')}
  assert config.stages == ('rl',) and config.mesh.shape == (1, 1, 1)
  assert config.log.plots is False and config.rl.eval_every == 0
  assert dict(config.rl.rewards) == {'accuracy': 2.0}
  validate(config, 1)
  from r1jax import sharding
  assert dict(sharding.rules_from_config(config))['embed'] is None
  for bad, message in [(('rl.kl_beta', 'x'), "--config.rl.kl_beta='x' is not a float"),
                       (('log.plots', 'maybe'), 'is not a bool'),
                       (('train.steps.x', '1'), 'train.steps is a value, not a section'),
                       (('rl.lerning_rate', '1'), 'did you mean rl.learning_rate')]:
    with pytest.raises(ConfigError, match=message):
      apply_overrides(quickstart.get_config(), [bad])


def test_zero_periods_are_valid_negative_are_not():
  config = quickstart.get_config()
  config.rl.update(eval_every=0, log_every=0)
  config.train.update(eval_every=0, log_every=0)
  validate(config, 1)
  config.rl.log_every = -1
  with pytest.raises(ConfigError, match=r'rl.log_every=-1 must be >= 0 \(0 = off\)'):
    validate(config, 1)


@pytest.mark.parametrize('fields, message', [
    (dict(loss='kimi_k15', kl_beta=0.01), r"rl.kl_beta=0.01 with rl.loss='kimi_k15'"),
    (dict(loss='kimi_k15', kimi_tau=0.0), r'rl.kimi_tau=0.0 must be > 0'),
    (dict(loss='kimi_k15', kimi_baseline='max'), r"rl.kimi_baseline='max'"),
    (dict(loss='kimi_k15', kimi_baseline='partition', group_size=1), r'group_size >= 2'),
    (dict(sampling='prioritized', rewards={'format': 1.0}), r"rl.success_reward='accuracy'"),
    (dict(dynamic_sampling=True, rewards={'format': 1.0}), r"rl.success_reward='accuracy'"),
])
def test_k15_rl_rules(fields, message):
  def mutate(c):
    c.stages = ('pretrain', 'rl')
    for name, value in fields.items():
      c.rl[name] = value
  _check(mutate, message)
