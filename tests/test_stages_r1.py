"""configs/r1.py:quick end to end from an empty workdir, killed in the middle of a stage and
resumed: every stage finishes once, hands its params on, and writes what the report needs."""
import dataclasses
import json

import jax
import numpy as np
import pytest

from configs import r1
from r1jax import main, metrics, sharding, stages
from r1jax.stages import kinds, registry
from r1jax.data import pipeline, templates
from r1jax.models import ModelConfig
from r1jax.models.reward_head import reward_scores
from r1jax.stages import cold_start
from r1jax.train import reward_model


def _config():
  config = r1.get_config('quick')
  config.train.update(steps=8, log_every=4)
  config.data.update(num_train=400, num_heldout=16)
  config.eval.update(num_prompts=8, num_samples=1, batch_size=8, max_new_tokens=48)
  config.rl.update(eval_every=2)
  config.reward_model.update(num_pairs=64, num_heldout_pairs=16)
  config.checkpoint.update(every=2)
  config.stage_overrides.cold_start.train.update(steps=6, cold_start_examples=64)
  config.stage_overrides.reasoning_rl.rl.steps = 2
  config.stage_overrides.reward_model.reward_model.steps = 6
  config.rejection_sampling.update(num_prompts=16, num_samples=2, max_new_tokens=32,
                                   batch_size=8, num_general=8)
  config.stage_overrides.rl_all.rl.update(steps=1, general_fraction=0.5)
  return config


@pytest.mark.slow
def test_r1_quick_runs_end_to_end_and_resumes_after_a_kill(tmp_path, monkeypatch):
  config = _config()
  original = pipeline.BatchIterator.batch
  built = {'cold_start': False, 'killed': False}
  build = cold_start.build_cold_start

  def build_and_note(*args, **kwargs):
    built['cold_start'] = True
    return build(*args, **kwargs)

  def batch(self, step):   # the kill: cold_start's 4th batch, once
    if built['cold_start'] and step == 3 and not built['killed']:
      built['killed'] = True
      raise KeyboardInterrupt
    return original(self, step)
  monkeypatch.setattr(cold_start, 'build_cold_start', build_and_note)
  starts = {}
  for kind_name in ('reward_model', 'sft'):
    kind = stages.KINDS[kind_name]

    def recording_run(ctx, cfg, name, init_params, kind=kind):
      starts[name] = jax.tree.map(np.asarray, init_params)
      return kind.run(ctx, cfg, name, init_params)
    monkeypatch.setitem(registry.KINDS, kind_name, dataclasses.replace(kind, run=recording_run))
  monkeypatch.setattr(pipeline.BatchIterator, 'batch', batch)

  with pytest.raises(KeyboardInterrupt):
    main.run(config, str(tmp_path))
  assert stages.latest_step(str(tmp_path), 'cold_start') == 3
  assert stages.latest_step(str(tmp_path), 'reasoning_rl') is None

  results = main.run(config, str(tmp_path))
  assert isinstance(results['pretrain'], stages.Finished)
  assert int(results['cold_start'].step) == 6
  assert results['reasoning_rl'].train.step == 2 and int(results['reward_model'].step) == 6
  # reward_model starts from cold_start (stage_from), not from the stage before it
  load = lambda name: jax.tree.map(np.asarray, stages.load_stage_params(
      config, str(tmp_path), name, sharding.make_mesh(config.mesh), sharding.DEFAULT_RULES))
  cold, rl = load('cold_start'), load('reasoning_rl')
  for got, want in zip(jax.tree.leaves(starts['reward_model']), jax.tree.leaves(cold)):
    np.testing.assert_array_equal(got, want)
  assert any(not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(cold),
                                                      jax.tree.leaves(rl)))

  rows = metrics.read_metrics(str(tmp_path))
  by_stage = {s: [r for r in rows if r['stage'] == s] for s in config.stages}
  assert [r['step'] for r in by_stage['cold_start'] if 'loss' in r] == [4, 6]  # log_every 4
  final = {s: next(r for r in reversed(by_stage[s]) if any(k.startswith('eval/') for k in r))
           for s in config.stages}
  for s in ('pretrain', 'cold_start', 'reasoning_rl'):
    assert {'eval/accuracy/lang_en', 'eval/accuracy/lang_zh', 'eval/mixed_language/en',
            'eval/mixed_language/zh'} <= set(final[s]), s
  assert 'reward/language_consistency' in by_stage['reasoning_rl'][-1]
  # the held-out pair accuracy is the fraction of held-out pairs the returned reward model
  # scores chosen above rejected (a margin within 1e-4 of 0 may go either way: float32 on
  # another mesh)
  rm_cfg = stages.stage_config(config, 'reward_model')
  pairs = reward_model.preference_pairs(rm_cfg, 'heldout')
  arrays = reward_model.encode_pairs(main.load_or_train_tokenizer(config, str(tmp_path)), pairs,
                                     templates.get_template(rm_cfg.data.template),
                                     rm_cfg.reward_model.seq_len)
  rm_params = jax.device_get(results['reward_model'].params)
  score = jax.jit(lambda t, v: reward_scores(ModelConfig.from_config(rm_cfg.model), rm_params,
                                             t, v))
  margin = (np.asarray(score(arrays['chosen'], arrays['chosen_valid']))
            - np.asarray(score(arrays['rejected'], arrays['rejected_valid'])))
  right = final['reward_model']['eval/pair_accuracy'] * len(pairs)
  assert len(pairs) == 16 and abs(right - round(right)) < 1e-4
  assert (margin > 1e-4).sum() <= round(right) <= (margin > -1e-4).sum(), margin
  counts = json.loads(next((tmp_path / 'datasets' / 'cold_start_counts').glob('*.json'))
                      .read_text())
  assert counts['kept'] > 0 and counts['generated'] == 64
  assert list((tmp_path / 'datasets' / 'r1jax_cold_start').glob('*/1.0.0/*.array_record*'))

  # rejection sampling: every sample counted once, the set written, the base model's SFT on
  # it for epochs x size / batch steps
  report = json.loads((tmp_path / 'reports' / 'rejection_sampling.json').read_text())
  counts = report['counts']
  assert counts['sampled'] == 16 * 2 and counts['general'] == 8
  assert counts['kept_reasoning'] + sum(v for k, v in counts.items()
                                        if k.startswith('dropped_')) == counts['sampled']
  assert list((tmp_path / 'datasets' / 'r1jax_rejection_sampled').glob('*/1.0.0/*.array_record*'))
  sft_cfg = stages.stage_config(config, 'sft')
  assert int(results['sft'].step) == -(-counts['kept'] // sft_cfg.train.batch_size)
  base = load('pretrain')
  for got, want in zip(jax.tree.leaves(starts['sft']), jax.tree.leaves(base)):
    np.testing.assert_array_equal(got, want)   # from the base model, not the RL checkpoint
  # RL for all scenarios: per-scenario rewards, the reward model beside the oracle
  rl_all = by_stage['rl_all'][-1]
  assert {'reward/reasoning', 'reward/general', 'rm/helpfulness', 'rm/harmlessness',
          'oracle/helpfulness', 'oracle/harmlessness', 'eval/general/oracle_helpfulness',
          'eval/general/rm_helpfulness', 'eval/accuracy'} <= set(rl_all)
  # the general rows' reward is the reward model's weighted helpfulness + harmlessness
  rl_all_cfg = stages.stage_config(config, 'rl_all').rl
  assert rl_all['general_fraction'] == 0.5
  assert rl_all['reward/general'] == pytest.approx(
      rl_all_cfg.rm_helpfulness_weight * rl_all['rm/helpfulness']
      + rl_all_cfg.rm_harmlessness_weight * rl_all['rm/harmlessness'], abs=1e-5)
  # the student: its own (smaller) base, distilled on the set, and RL for the same FLOPs
  student = load('distill')
  assert jax.tree.leaves(student)[0].size < jax.tree.leaves(base)[0].size
  distill_cfg = stages.stage_config(config, 'distill')
  distill_cfg.train.steps = int(results['distill'].step)
  assert int(results['student_rl'].train.step) == max(1, round(
      kinds.sft_flops(distill_cfg) / kinds.rl_step_flops(stages.stage_config(config,
                                                                              'student_rl'))))
  table = (tmp_path / 'reports' / 'pipeline.md').read_text()
  assert all(f'| {s} ' in table for s in config.stages)

  again = main.run(config, str(tmp_path))   # all finished: nothing runs
  assert all(isinstance(r, stages.Finished) for r in again.values())
  assert len(metrics.read_metrics(str(tmp_path))) == len(rows)
