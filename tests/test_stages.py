"""The stage registry: names -> kinds, per-stage overrides, which params a stage starts from,
and validation naming the field. (A pipeline run end to end, killed and resumed, with the
params handed from stage to stage: tests/test_stages_r1.py.)"""
import pytest

from configs import common
from r1jax import stages
from r1jax.config import ConfigError
from r1jax.stages import validate


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


def test_first_stages_cuts_the_recipe_and_what_names_the_dropped_stages():
  from configs import r1
  full = r1.get_config('quick')
  cut = stages.first_stages(full, 3)
  assert cut.stages == ('pretrain', 'cold_start', 'reasoning_rl')
  assert set(cut.stage_overrides) == {'cold_start', 'reasoning_rl'} and not cut.stage_from
  assert set(full.stage_from) >= {'sft', 'rl_all'}          # the original is unchanged
  validate(cut, 8)   # the dropped stages' entries would fail validation had they stayed
  cut.stage_from = dict(full.stage_from)
  with pytest.raises(ConfigError, match='stage_from names'):
    validate(cut, 8)
  with pytest.raises(ValueError, match='count=0'):
    stages.first_stages(full, 0)


def test_r1_pipeline_stages_and_their_hand_offs():
  """configs/r1.py: a stage after rejection_sampling (a data stage) starts from what it
  sampled from; the student stages start from the student base."""
  from configs import r1
  config = r1.get_config()
  validate(config, 8)
  sources = {s: stages.source_stage(config, s) for s in config.stages}
  assert sources == {'pretrain': None, 'cold_start': 'pretrain', 'reasoning_rl': 'cold_start',
                     'rejection_sampling': 'reasoning_rl', 'sft': 'pretrain',
                     'reward_model': 'cold_start', 'rl_all': 'sft',
                     'student_pretrain': 'rl_all', 'distill': 'student_pretrain',
                     'student_rl': 'student_pretrain'}
  assert not stages.get_kind(config, 'student_pretrain').from_earlier   # random init anyway
  config.stage_from = {}
  config.stages = ('pretrain', 'reasoning_rl', 'rejection_sampling', 'sft')
  config.stage_overrides = {'sft': {'train': {'sft_data': 'rejection_sampling'}}}
  config.stage_kinds = {}
  assert stages.source_stage(config, 'sft') == 'reasoning_rl'   # passed through the data stage
  assert stages.data_stage(config, 'sft', 'rejection_sampling') == 'rejection_sampling'


@pytest.mark.parametrize('mutate, message', [
    (lambda c: c.stage_from.update({'rl_all': 'rejection_sampling'}),
     r"stage_from.rl_all='rejection_sampling' names a stage that writes data"),
    (lambda c: setattr(c, 'stages', tuple(s for s in c.stages if s != 'rejection_sampling')),
     r"stage sft: train.sft_data='rejection_sampling' needs a rejection_sampling stage"),
    (lambda c: c.stage_overrides.rl_all.rl.update({'reward_model_stage': 'sft'}),
     r"rl.reward_model_stage='sft' is not a reward_model stage"),
    (lambda c: c.stage_overrides.student_rl.rl.update({'match_compute_of': 'rl_all'}),
     r"rl.match_compute_of='rl_all' is not an sft or pretrain stage"),
    (lambda c: c.rejection_sampling.update({'keep': 'longest'}),
     r"rejection_sampling.keep='longest': use 'all' or 'shortest'"),
    (lambda c: c.rejection_sampling.update({'batch_size': 12}),
     r'rejection_sampling.batch_size=12 is not divisible by the data-parallel size 8'),
    (lambda c: c.stage_overrides.sft.train.update({'epochs': -1.0}),
     r'train.epochs=-1.0 must be >= 0'),
    (lambda c: c.stage_overrides.cold_start.train.update({'cold_start_zero_stage': 'sft'}),
     r"stage cold_start: train.cold_start_zero_stage='sft' is not an earlier stage"),
])
def test_r1_validation_names_the_field(mutate, message):
  from configs import r1
  config = r1.get_config()
  mutate(config)
  with pytest.raises(ConfigError, match=message):
    validate(config, 8)


def test_k15_prompt_set_must_name_a_curation_stage():
  from configs import k15
  config = k15.get_config()
  validate(config, 8)
  config.stage_overrides.k15_rl.rl.prompt_set = 'long_cot_sft'
  with pytest.raises(ConfigError, match=r"rl.prompt_set='long_cot_sft' is not a curate_prompts "):
    validate(config, 8)
  config.stage_overrides.k15_rl.rl.prompt_set = 'curate'
  with pytest.raises(ConfigError, match=r"rl.prompt_set='curate' is not a curate_prompts "):
    validate(config, 8)


def test_r1_ablation_adds_the_language_reward_arms():
  from configs import r1
  full, config = r1.get_config(), r1.get_config('ablation')
  validate(config, 8)
  assert config.stages[:len(full.stages)] == full.stages   # a finished pipeline's stages skip
  assert {s: stages.source_stage(config, s) for s in config.stages[len(full.stages):]} == {
      'reasoning_rl_nolang': 'cold_start', 'zero_rl': 'pretrain', 'zero_rl_lang': 'pretrain'}
  weight = lambda s: stages.stage_config(config, s).rl.rewards.language_consistency
  assert weight('reasoning_rl') == weight('zero_rl_lang') == 1.0
  assert weight('reasoning_rl_nolang') == weight('zero_rl') == 0.0
  rl_steps = lambda s: stages.stage_config(config, s).rl.steps
  assert rl_steps('zero_rl') == rl_steps('reasoning_rl_nolang') == rl_steps('reasoning_rl')
