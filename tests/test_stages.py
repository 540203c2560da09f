"""The stage registry: names -> kinds, per-stage overrides, which params a stage starts from,
finished stages skipped, a killed stage resumed, and validation naming the field."""
import jax
import numpy as np
import pytest

from conftest import make_tiny_config
from configs import common
from r1jax import main, metrics, sharding, stages
from r1jax.config import ConfigError, validate
from r1jax.data import pipeline
from r1jax.stages import registry


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
    (lambda c: setattr(c, 'stages', ('pretrain', 'dpo')), r"unknown stage\(s\) \['dpo'\]"),
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
    (lambda c: c.stage_kinds.update({'sft': 'dpo'}), r"unknown stage\(s\) \['sft'\]"),
])
def test_validation_names_the_field(mutate, message):
  config = _r1_like()
  mutate(config)
  with pytest.raises(ConfigError, match=message):
    validate(config, 8)


def _pipeline_config():
  config = make_tiny_config(steps=4)
  config.stages = ('pretrain', 'cold_start', 'sft')
  config.stage_from = {'sft': 'pretrain'}
  config.stage_overrides = {
      'cold_start': {'train': {'steps': 4, 'mask_prompt': True, 'learning_rate': 1e-2},
                     'data': {'mode_probs': {'cot': 1.0}}},
      'sft': {'train': {'steps': 2, 'mask_prompt': True}}}
  config.eval.update(num_prompts=8, num_samples=1, max_new_tokens=4)
  return config


@pytest.mark.slow
def test_pipeline_hands_params_skips_finished_and_resumes(tmp_path, monkeypatch):
  config = _pipeline_config()
  starts = {}
  sft_kind = stages.KINDS['sft']

  def recording_run(ctx, cfg, name, init_params):
    starts[name] = None if init_params is None else jax.tree.map(np.asarray, init_params)
    return sft_kind.run(ctx, cfg, name, init_params)
  monkeypatch.setitem(registry.KINDS, 'sft',
                      registry.Kind('sft', recording_run, sft_kind.total_steps,
                                    sft_kind.params_path, sft_kind.description))

  # A kill in the middle of cold_start (its batch 3): its checkpoint keeps step 3.
  original = pipeline.BatchIterator.batch
  state = {'killed': False}

  def batch(self, step):
    if step == 3 and self.batch_size == 8 and 'cold_start' in starts and not state['killed']:
      state['killed'] = True
      raise KeyboardInterrupt
    return original(self, step)
  monkeypatch.setattr(pipeline.BatchIterator, 'batch', batch)
  with pytest.raises(KeyboardInterrupt):
    main.run(config, str(tmp_path))
  assert stages.latest_step(str(tmp_path), 'pretrain') == 4
  assert stages.latest_step(str(tmp_path), 'cold_start') == 3

  starts.clear()
  results = main.run(config, str(tmp_path))
  assert results['pretrain'] == stages.Finished('pretrain', 4)
  assert starts['cold_start'] is None              # resumed from its own checkpoint
  assert int(results['cold_start'].step) == 4 and int(results['sft'].step) == 2
  load = lambda name: jax.tree.map(np.asarray, stages.load_stage_params(
      config, str(tmp_path), name, sharding.make_mesh(config.mesh), sharding.DEFAULT_RULES))
  base, cold = load('pretrain'), load('cold_start')
  # sft starts from the base model (stage_from), not from cold_start
  for got, want in zip(jax.tree.leaves(starts['sft']), jax.tree.leaves(base)):
    np.testing.assert_array_equal(got, want)
  assert any(not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(base),
                                                      jax.tree.leaves(cold)))
  rows = metrics.read_metrics(str(tmp_path))
  assert {r['stage'] for r in rows} == {'pretrain', 'cold_start', 'sft'}
  assert [r['step'] for r in rows if r['stage'] == 'cold_start' and 'loss' in r] == [1, 2, 3, 4]
  assert (tmp_path / 'cold_start_curves.png').exists() and (tmp_path / 'sft_curves.png').exists()

  # Everything finished: a third run trains nothing and writes no metrics.
  again = main.run(config, str(tmp_path))
  assert all(isinstance(r, stages.Finished) for r in again.values())
  assert len(metrics.read_metrics(str(tmp_path))) == len(rows)
