"""configs/k15.py:quick end to end from an empty workdir, killed in the middle of the dpo stage
and resumed: the k1.5 stages run once, hand their params on, write their datasets and reports,
and a second run skips them all.

Two stages of the recipe are left out to keep CI time down: vanilla_sft (its record rule is
tested in test_k15_data.py; its SFT is the shortest_rs path) and length_rl (the rl kind with
other settings). merge averages k15_rl with long_cot_sft here.

The quick models are far too small to answer correctly, so sampling stages would keep
nothing: `with_gold` puts the gold worked trace in place of the first sample of every other
prompt (then every sample is verified again by the real verifier). Everything else is the
real code path: the sampler, the verifiers, TFDS datasets, SFT, RL, DPO, merging, report."""
import json

import jax
import numpy as np
import pytest

from configs import k15
from r1jax import evaluate, main, metrics, sharding, stages
from r1jax.data import cold_start, curate, pipeline, stage_data, templates
from r1jax.stages import curate as curate_stage
from r1jax.data.tasks import Example


def _config():
  config = k15.get_config('quick')
  config.stages = ('pretrain', 'curate_prompts', 'long_cot_sft', 'k15_rl', 'merge',
                   'shortest_rs', 'dpo', 'report')
  for field in ('stage_kinds', 'stage_from', 'stage_overrides'):
    config[field] = {k: v for k, v in config[field].items() if k in config.stages}
  config.long2short.merge_stages = ('k15_rl', 'long_cot_sft')
  config.k15_report.short_stages = ('merge', 'shortest_rs', 'dpo')
  config.model.update(d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=64)
  config.data.update(num_train=200, num_heldout=16)
  config.train.update(steps=4, batch_size=8, log_every=2)
  # every sampling call has the shapes of the evaluation (8 prompts x 2, 48 tokens, T = 1):
  # one compiled sampler serves them all (evaluate.shared_sampler)
  config.eval.update(num_prompts=8, num_samples=2, batch_size=8, max_new_tokens=48)
  config.rl.update(max_new_tokens=48, prompts_per_step=8, group_size=2)
  config.curate.update(num_prompts=16, num_samples=2, temperature=1.0)
  config.long2short.update(num_prompts=8, num_samples=2, max_new_tokens=48)
  config.dpo.update(batch_size=8, log_every=1)
  config.checkpoint.update(every=0)
  config.log.update(tensorboard=False, plots=False)
  o = config.stage_overrides
  o.long_cot_sft.train.update(steps=2, cold_start_examples=16)
  o.k15_rl.rl.update(steps=2, length_penalty_warmup=1, max_new_tokens=48)
  o.shortest_rs.train.steps = 2
  o.dpo.dpo.steps = 2
  return config


def with_gold(sample_scored):
  template = templates.get_template('r1_zero')

  def wrapped(config, tokenizer, mesh, rules, params, records, k, *args, **kwargs):
    out = sample_scored(config, tokenizer, mesh, rules, params, records, k, *args, **kwargs)
    if out['correct'] is None or kwargs.get('completion_prefix'):
      return out   # general prompts and the direct-answer probe stay as sampled
    for p, record in enumerate(out['records'][::2]):
      gold = cold_start.worked_trace(Example.from_record(record), template)
      out['texts'][2 * p * k] = gold
      out['lengths'][2 * p * k] = len(tokenizer.encode_batch([gold])[0])
      out['truncated'][2 * p * k] = False
    prompts = [template.prompt(r['question']) for r in out['records']]
    out['correct'] = evaluate.score_completions(out['texts'], prompts, out['records'],
                                                k)[0].reshape(-1, k)
    return out
  return wrapped


@pytest.mark.slow
def test_k15_quick_runs_every_stage_and_resumes(tmp_path, monkeypatch):
  config = _config()
  monkeypatch.setattr(curate_stage, 'sample_scored', with_gold(curate_stage.sample_scored))
  original, killed = pipeline.BatchIterator.batch, []

  def batch(self, step):   # the kill: in the middle of the dpo stage, once
    if 'chosen' in self.arrays and step == 1 and not killed:
      killed.append(step)
      raise KeyboardInterrupt
    return original(self, step)
  monkeypatch.setattr(pipeline.BatchIterator, 'batch', batch)
  workdir = str(tmp_path)
  with pytest.raises(KeyboardInterrupt):
    main.run(config, workdir)
  assert stages.latest_step(workdir, 'dpo') == 1 and stages.latest_step(workdir, 'k15_rl') == 2
  results = main.run(config, workdir)
  assert list(results) == list(config.stages)

  data_dir = str(tmp_path / 'datasets')
  report = stage_data.read_report(data_dir, curate.NAME, 'curate_prompts')
  assert report['prompts'] == 16 and report['kept'] + report['dropped/hackable'] + \
      report['dropped/balance'] + report['dropped/too_long'] == 16
  curated = curate.load_prompt_set(workdir, 'curate_prompts')
  assert {r['pass_rate'] for r in curated} <= {0.0, 0.5, 1.0}
  assert max(r['pass_rate'] for r in curated) > 0        # the gold answers count
  for name, dataset in (('long_cot_sft', 'r1jax_long_cot'), ('shortest_rs', 'r1jax_shortest_rs'),
                        ('dpo', 'r1jax_dpo_pairs')):
    assert stage_data.read_report(data_dir, dataset, name)['dataset'], name
  long_cot = stage_data.read_dataset(data_dir, 'r1jax_long_cot/long_cot_sft')
  assert all('wait — check :' in r['completion'] for r in long_cot)
  pairs = stage_data.read_dataset(data_dir, 'r1jax_dpo_pairs/dpo')
  assert pairs and all(p['chosen_len'] < p['rejected_len'] or p['rejected_correct'] == 0
                       for p in pairs)

  rows = metrics.read_metrics(workdir)
  by_stage = {s: [r for r in rows if r['stage'] == s] for s in config.stages}
  assert all('prompt_difficulty' in r for r in by_stage['k15_rl'] if 'reward' in r)
  # the length penalty joins the total reward after its warm-up step (weights 1, 0.5, 0.2)
  first, second = [r for r in by_stage['k15_rl'] if 'reward' in r]
  plain = lambda r: r['reward/accuracy'] + 0.5 * r['reward/format']
  assert first['reward'] == pytest.approx(plain(first), abs=1e-5)
  assert second['reward'] == pytest.approx(plain(second) + 0.2 * second['reward/length_penalty'],
                                           abs=1e-5)
  assert any('reward_accuracy' in r for r in by_stage['dpo'])
  assert [r['step'] for r in by_stage['dpo'] if 'loss' in r] == [1, 2]   # resumed, not redone
  assert int(results['dpo'].step) == 2

  # merge: the equal-weight average of k15_rl and long_cot_sft
  mesh = sharding.make_mesh(config.mesh)
  load = lambda s: jax.tree.map(np.asarray, stages.load_stage_params(
      config, workdir, s, mesh, sharding.DEFAULT_RULES))
  merged, long, short = load('merge'), load('k15_rl'), load('long_cot_sft')
  for m, a, b in zip(*(jax.tree.leaves(t) for t in (merged, long, short))):
    np.testing.assert_allclose(m, (a + b) / 2, rtol=1e-5, atol=1e-6)

  out = json.loads((tmp_path / 'k15_report.json').read_text())
  assert out['long']['stage'] == 'k15_rl'
  assert [r['stage'] for r in out['short']] == ['merge', 'shortest_rs', 'dpo']
  for r in out['short']:
    assert r['length_change'] == pytest.approx(
        r['response_len'] / out['long']['response_len'] - 1)
  assert '| merge |' in (tmp_path / 'k15_report.md').read_text()

  again = main.run(config, workdir)   # all finished: nothing runs, nothing is sampled again
  assert all(isinstance(r, stages.Finished) for r in again.values())
  assert len(metrics.read_metrics(workdir)) == len(rows)
