"""The stage registry: names -> kinds, per-stage overrides, which params a stage starts from,
and validation naming the field. (A pipeline run end to end, killed and resumed, with the
params handed from stage to stage: tests/test_stages_r1.py.)"""
import pytest

from configs import common
from r1jax import stages
from r1jax.config import ConfigError, validate


def _r1_like():
  config = common.get_config()
  config.stages = ('pretrain', 'cold_start', 'reasoning_rl', 'sft')
  config.stage_from = {'sft': 'pretrain'}
  config.stage_overrides = {'cold_start': {'train': {'steps': 7, 'mask_prompt': True},
                                           'data': {'mode_probs': {'cot': 1.0}}},
                            'reasoning_rl': {'rl': {'rewards': {'accuracy': 1.0,
                                                                'language_consistency': 0.2}}}}
  return config


def test_names_kinds_and_sources():
  config = _r1_like()
  assert [stages.kind_name(config, s) for s in config.stages] == ['pretrain', 'sft', 'rl', 'sft']
  # default: the stage before; R1's sft names the base model instead of the RL checkpoint
  assert [stages.source_stage(config, s) for s in config.stages] == [
      None, 'pretrain', 'cold_start', 'pretrain']
  config.stage_kinds = {'cold_start': 'pretrain'}
  assert stages.kind_name(config, 'cold_start') == 'pretrain'


def test_overrides_apply_to_their_stage_only():
  config = _r1_like()
  cold = stages.stage_config(config, 'cold_start')
  assert (cold.train.steps, cold.train.mask_prompt) == (7, True)
  assert cold.train.batch_size == config.train.batch_size           # merged, not replaced
  assert dict(cold.data.mode_probs) == {'cot': 1.0}                  # a mapping is replaced
  rl = stages.stage_config(config, 'reasoning_rl')
  assert dict(rl.rl.rewards) == {'accuracy': 1.0, 'language_consistency': 0.2}
  base = stages.stage_config(config, 'sft')
  assert (base.train.steps, base.train.mask_prompt) == (1000, False)
  assert config.train.steps == 1000 and set(config.data.mode_probs) == {'cot', 'direct', 'noformat'}
  validate(config, 8)


@pytest.mark.parametrize('mutate, message', [
    (lambda c: setattr(c, 'stages', ('pretrain', 'ppo')), r"unknown stage\(s\) \['ppo'\]"),
    (lambda c: setattr(c, 'stages', ('pretrain', 'sft', 'sft')), 'repeats a name'),
    (lambda c: c.stage_from.update({'cold_start': 'sft'}),
     r"stage_from.cold_start='sft' is not an earlier stage"),
    (lambda c: c.stage_overrides.update({'distill': {'train': {'steps': 1}}}),
     r"stage_overrides names \['distill'\], which are not in stages"),
    (lambda c: c.stage_overrides.cold_start.train.update({'stepz': 3}),
     r'unknown config field stage_overrides.cold_start.train.stepz: did you mean '
     r'stage_overrides.cold_start.train.steps'),
    (lambda c: c.stage_overrides.cold_start.train.update({'steps': 0}),
     r'stage cold_start \(with its stage_overrides\): train.steps=0 must be positive'),
    (lambda c: c.stage_kinds.update({'sft': 'ppo'}), r"unknown stage\(s\) \['sft'\]"),
])
def test_validation_names_the_field(mutate, message):
  config = _r1_like()
  mutate(config)
  with pytest.raises(ConfigError, match=message):
    validate(config, 8)
