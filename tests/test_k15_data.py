"""The k1.5 data stages' building blocks: stage datasets round-trip through TFDS; prompt
curation keeps per-prompt pass rates, drops easy-to-hack prompts, balances, reports, and the
curated set drives rl.sampling='curriculum' (real sampling: tests/test_k15_stages.py)."""
import dataclasses
import random

import numpy as np
import pytest

from conftest import make_tiny_config
from r1jax import stages
from r1jax.data import cold_start, curate, prompt_sampler, source, stage_data, templates
from r1jax.stages import cold_start as cold_start_set, curate as curate_stage
from r1jax.data.tasks import general, make_examples
from r1jax.models import merge
from r1jax.rewards import oracle
from r1jax.stages import k15 as k15_stages
from r1jax.train import rl


def test_stage_dataset_round_trips_every_feature_kind(tmp_path):
  records = [{'q': 'x + 1', 'p': 0.25, 'i': 3, 'l': [1, 2]}, {'q': '中文', 'p': 1.0, 'i': -1,
                                                               'l': []}]
  kinds = {'q': 'text', 'p': 'float', 'i': 'int', 'l': 'ints'}
  assert stage_data.read_report(str(tmp_path), 'r1jax_test_rt', 's') is None
  name = stage_data.write_dataset(str(tmp_path), 'r1jax_test_rt', 's', records, kinds,
                                  {'kept': 2})
  assert stage_data.read_dataset(str(tmp_path), name) == records
  assert stage_data.read_report(str(tmp_path), 'r1jax_test_rt', 's')['kept'] == 2
  # nothing kept: only the report, which says so
  assert stage_data.write_dataset(str(tmp_path), 'r1jax_test_rt', 't', [], kinds,
                                  {'kept': 0}) is None
  assert stage_data.read_report(str(tmp_path), 'r1jax_test_rt', 't')['dataset'] is None
  with pytest.raises(ValueError, match='lack the fields'):
    stage_data.write_dataset(str(tmp_path), 'r1jax_test_rt', 'u', [{'q': 'a'}], kinds, {})


def test_balance_caps_every_cell_at_ratio_times_the_smallest():
  cells = ['a'] * 10 + ['b'] * 3 + ['c'] * 1
  keep = curate.balance(cells, 2.0, seed=0)
  kept = [c for c, k in zip(cells, keep) if k]
  assert kept.count('a') == 2 and kept.count('b') == 2 and kept.count('c') == 1
  assert curate.balance(cells, 0.0, seed=0).all()
  np.testing.assert_array_equal(keep, curate.balance(cells, 2.0, seed=0))  # seeded


def test_direct_answer_prefix_opens_the_answer():
  r1 = templates.get_template('r1_zero')
  assert curate.direct_answer_prefix(r1, 'I know this .') == \
      ' <think> I know this . </think> <answer> '
  assert curate.direct_answer_prefix(templates.get_template('chat'), 'Easy .') == \
      ' Easy . The answer is '


def test_curate_drops_hackable_prompts_stores_pass_rates_and_feeds_the_curriculum(
    tmp_path, monkeypatch):
  config = make_tiny_config()
  config.data.update(tasks=('arithmetic', 'linear_equation'), num_train=40)
  config.curate.update(num_prompts=40, num_samples=4, balance=0.0)
  records = source.load_records(config.data, 'train')[:40]
  # prompt i: right i % 5 times of 4 with reasoning (4 -> all), hackable when i % 7 == 0
  cot_hits = np.array([min(i % 5, 4) for i in range(40)])
  calls = []

  def fake_sample_scored(config, tokenizer, mesh, rules, params, recs, k, temperature,
                         max_new_tokens, prompts=None, completion_prefix='', pool=None):
    calls.append((completion_prefix, temperature, k))
    direct = bool(completion_prefix)
    hits = np.array([int(i % 7 == 0) for i in range(len(recs))]) if direct else cot_hits
    correct = (np.arange(k)[None, :] < hits[:, None]).astype(np.float32)
    return dict(records=recs, texts=[], lengths=None, truncated=None, correct=correct)
  monkeypatch.setattr(curate_stage, 'sample_scored', fake_sample_scored)
  report = curate_stage.curate_prompts(config, None, None, None, None, str(tmp_path), 'curate')
  assert calls == [('', 1.2, 4), (' <think> I know this . </think> <answer> ', 1.2, 4)]
  hackable = [i for i in range(40) if i % 7 == 0]
  assert report['dropped/hackable'] == len(hackable) and report['kept'] == 40 - len(hackable)
  assert report['dropped/too_long'] == 0 and report['prompts'] == 40
  assert sum(v for k, v in report.items() if k.startswith('dropped/hackable/')) == len(hackable)
  assert report['kept/arithmetic'] + report['kept/linear_equation'] == report['kept']
  assert report['dataset'] == f'{curate.NAME}/curate'
  out = stage_data.read_dataset(str(tmp_path), report['dataset'])
  by_question = {r['question']: i for i, r in enumerate(records)}
  for r in out:
    i = by_question[r['question']]
    assert i % 7 != 0 and r['pass_rate'] == pytest.approx(cot_hits[i] / 4)
    assert r['direct_pass_rate'] == 0.0 and r['answer'] == records[i]['answer']
  # a second call reads the report instead of sampling again
  assert curate_stage.curate_prompts(config, None, None, None, None, str(tmp_path),
                               'curate') == report and len(calls) == 2

  # curriculum: difficulty = 1 - pass_rate, so the first draws come from the solved prompts
  prompts = rl.TaskPrompts(out, tokenizer=_StubTokenizer(), template=templates.get_template(
      'r1_zero'), prompt_len=200, seed=0)
  np.testing.assert_allclose(prompts.difficulty, [1 - r['pass_rate'] for r in out])
  sampler = prompt_sampler.PromptSampler('curriculum', len(out), seed=0,
                                         difficulty=prompts.difficulty, curriculum_steps=10,
                                         curriculum_start=0.2)
  drawn = sampler.indices(0, 64, step=0)
  assert min(out[i]['pass_rate'] for i in drawn) == 1.0


def test_curate_balance_and_rl_prompt_set_errors(tmp_path):
  with pytest.raises(ValueError, match='rl.prompt_set=.curate.*run the curate_prompts'):
    curate.load_prompt_set(str(tmp_path), 'curate')
  assert curate.difficulty_bin(0.0) == 'hard' and curate.difficulty_bin(0.5) == 'medium'
  assert curate.difficulty_bin(1.0) == 'easy'


class _StubTokenizer:
  """Encodes a prompt as its characters (TaskPrompts needs ids and a pad)."""
  pad_id, bos_id, add_bos = 0, 1, True

  def encode_batch(self, texts):
    return [[2 + (ord(c) % 100) for c in t[:150]] for t in texts]


@pytest.mark.parametrize('language', ['en', 'zh'])
def test_long_cot_traces_plan_reflect_try_another_way_and_verify(language):
  config = make_tiny_config()
  config.data.difficulties = (1, 2)
  config.data.languages = {language: 1.0}
  config.train.cold_start_examples = 30
  records, counts = cold_start_set.make_traces(config, None, 'train', cold_start.long_cot_trace)
  short, _ = cold_start_set.make_traces(config, None, 'train')
  assert counts['kept'] == counts['generated'] == 30   # every trace verifies, one language
  words = {'en': ('plan :', 'ok .', 'wait — check :', 'another way :'),
           'zh': ('计划 :', '对 。', '等等 — 检查 :', '另一种方法 :')}[language]
  for r, s in zip(records, short):
    missing = [w for w in words if w not in r['completion']]
    assert not missing, (missing, r['completion'])
    assert r['completion'].endswith(f'<answer> {r["answer"]} </answer>')
    assert len(r['completion']) > 1.8 * len(s['completion'])   # verbose enough to shorten
  # and redundant in varying amounts: 0-2 repeated checks and restated answers per trace
  again, restate = {'en': ('check again :', 'again , the answer'),
                    'zh': ('再检查 :', '再说一遍')}[language]
  assert {r['completion'].count(again) for r in records} == {0, 1, 2}
  assert {r['completion'].count(restate) for r in records} == {0, 1, 2}
  terse = [r for r in records if again not in r['completion'] and restate not in r['completion']]
  verbose = [r for r in records if r['completion'].count(again) == 2]
  assert terse and verbose and (max(len(r['completion']) for r in verbose)
                                > 1.3 * min(len(r['completion']) for r in terse))
  # a trace whose checks fail is an error, never a dataset row
  bad = dataclasses.replace(make_examples(['linear_equation'], 'train', 1, 0, [1])[0],
                            answer='99')
  with pytest.raises(ValueError, match='x = 99 does not check'):
    cold_start.long_cot_trace(bad, templates.get_template('r1_zero'))


def test_shortest_correct_and_rejected_follow_the_papers_rule():
  # lengths of 6 samples; 1, 3, 4 correct; sample 4 truncated (never chosen)
  lengths, correct = [30, 10, 50, 14, 4, 16], [0, 1, 0, 1, 1, 1]
  truncated = [False, False, False, False, True, False]
  best, rejected = k15_stages.shortest_and_rejected(lengths, correct, truncated, 1.5, 10)
  assert best == 1                       # 4 is shorter but truncated
  assert rejected == [0, 2, 5]    # wrong first, then correct and >= 1.5 x 10 tokens
  assert k15_stages.shortest_and_rejected(lengths, correct, truncated, 1.5, 2)[1] == [0, 2]
  assert k15_stages.shortest_and_rejected(lengths, [0] * 6, truncated, 1.5, 2) == (None, [])


def test_dpo_pairs_from_samples():
  config = make_tiny_config()
  config.long2short.update(num_samples=3, long_ratio=1.5)
  config.dpo.max_pairs_per_prompt = 2
  records = source.load_records(config.data, 'train')[:2]
  out = dict(records=records, texts=['a', 'bb', 'ccc', 'd', 'e', 'f'],
             lengths=np.array([10, 20, 40, 8, 9, 11]), truncated=np.zeros(6, bool),
             correct=np.array([[1, 0, 1], [1, 1, 1]], np.float32))
  pairs, report = k15_stages.dpo_pairs(config, out)
  assert [(p['chosen'], p['rejected'], p['rejected_correct']) for p in pairs] == [
      ('a', 'bb', 0.0), ('a', 'ccc', 1.0)]   # prompt 2: nothing >= 1.5 x 8 tokens
  assert report == {'prompts': 2, 'pairs': 2, 'dropped/no_correct': 0,
                    'dropped/nothing_to_reject': 1, 'rejected/wrong': 1, 'rejected/long': 1}
  assert pairs[0]['prompt'] == templates.get_template('r1_zero').prompt(records[0]['question'])


def test_average_params_is_the_weighted_mean():
  rs = np.random.default_rng(0)
  trees = [{'w': rs.normal(size=(3, 2)).astype(np.float32),
            'b': {'x': rs.normal(size=4).astype(np.float32)}} for _ in range(3)]
  merged = merge.average_params(trees, (1, 1, 2))
  for key in ('w',):
    np.testing.assert_allclose(merged[key], (trees[0][key] + trees[1][key] + 2 * trees[2][key])
                               / 4, rtol=1e-6)
  np.testing.assert_allclose(merge.average_params(trees[:2])['b']['x'],
                             (trees[0]['b']['x'] + trees[1]['b']['x']) / 2, rtol=1e-6)
  with pytest.raises(ValueError, match='merge_weights has 1 weights for 2'):
    merge.average_params(trees[:2], (1,))
  with pytest.raises(ValueError, match='another architecture'):
    merge.average_params([trees[0], {'w': trees[1]['w'][:1], 'b': trees[1]['b']}])


def test_long_short_report_compares_with_the_long_model():
  summary = [{'stage': 'k15_rl', 'accuracy': 0.5, 'response_len': 100.0, 'step': 4},
             {'stage': 'merge', 'accuracy': 0.49, 'response_len': 60.0, 'step': 1}]
  report = k15_stages.long_short_report(summary, 'k15_rl', ('merge', 'dpo'))
  (short,) = report['short']
  assert short['length_change'] == pytest.approx(-0.4)
  assert short['accuracy_change_points'] == pytest.approx(-1.0)
  assert '| merge | -1.0 | -40% |' in k15_stages.report_markdown(report)
  with pytest.raises(ValueError, match='k15_report.long_stage'):
    k15_stages.long_short_report(summary, 'nope', ())


def test_compare_report_curves_flops_plots_and_named_stages(tmp_path):
  """configs/k15.py:compare's report: the short models trained directly beside long2short,
  each compared stage's held-out curve (a resumed step keeps its last value) with its RL
  FLOPs, the two plots; a stage the report names that is not in the list is a config error."""
  import json  # pylint: disable=g-import-not-at-top
  from configs import k15  # pylint: disable=g-import-not-at-top
  from r1jax import config as config_lib  # pylint: disable=g-import-not-at-top
  from r1jax.stages import kinds, registry  # pylint: disable=g-import-not-at-top
  config = k15.get_config('quick,compare')
  stages.validate(config, 1)
  cfg = registry.stage_config(config, 'compare_report')
  rows = [dict(stage='k15_rl', step=0, **{'eval/accuracy': 0.1, 'eval/response_len': 100.}),
          dict(stage='k15_rl', step=4, **{'eval/accuracy': 0.2, 'eval/response_len': 90.}),
          dict(stage='grpo_rl', step=0, **{'eval/accuracy': 0.1, 'eval/response_len': 100.}),
          dict(stage='grpo_rl', step=2, **{'eval/accuracy': 0.5, 'eval/response_len': 80.}),
          dict(stage='grpo_rl', step=2, **{'eval/accuracy': 0.15, 'eval/response_len': 95.}),
          dict(stage='grpo_rl', step=2, reward=0.3),
          dict(stage='merge', step=1, **{'eval/accuracy': 0.19, 'eval/response_len': 60.}),
          dict(stage='short_rl', step=4, **{'eval/accuracy': 0.3, 'eval/response_len': 20.})]
  (tmp_path / 'metrics.jsonl').write_text(''.join(json.dumps(r) + '\n' for r in rows))
  curves = k15_stages.curve_comparisons(cfg, str(tmp_path))
  assert [g['stages'] for g in curves] == [['k15_rl', 'grpo_rl'],
                                           ['k15_rl', 'k15_uniform', 'k15_prioritized']]
  objective = curves[0]
  assert objective['curves']['grpo_rl'] == [
      {'step': 0, 'accuracy': 0.1, 'response_len': 100.0},
      {'step': 2, 'accuracy': 0.15, 'response_len': 95.0}]
  step_flops = kinds.rl_step_flops(registry.stage_config(cfg, 'k15_rl'))
  assert objective['flops'] == pytest.approx({'k15_rl': 4 * step_flops,
                                              'grpo_rl': 2 * step_flops})
  assert curves[1]['curves']['k15_uniform'] == [] and 'k15_uniform' not in curves[1]['flops']

  summary = k15_stages.stage_summary(str(tmp_path), cfg)
  report = k15_stages.long_short_report(summary, 'k15_rl', cfg.k15_report.short_stages,
                                        cfg.k15_report.direct_stages)
  report['curves'] = curves
  assert [r['stage'] for r in report['direct']] == ['short_rl']
  assert report['direct'][0]['length_change'] == pytest.approx(20 / 90 - 1)
  text = k15_stages.report_markdown(report)
  assert '| short_rl (trained directly) | +10.0 | -78% |' in text
  assert f'| grpo_rl | {2 * step_flops:.3g} | 0.100 | 0.150 |  |' in text   # steps 0, 2, 4
  k15_stages.plot_long_short(report, str(tmp_path / 'l2s.png'))
  k15_stages.plot_curves(objective, str(tmp_path / 'curves.png'))
  for png in ('l2s.png', 'curves.png'):
    assert (tmp_path / png).read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'

  config.stage_overrides.compare_report.k15_report.direct_stages = ('short_rl', 'shrot_rl')
  with pytest.raises(config_lib.ConfigError, match="direct_stages names 'shrot_rl'"):
    stages.validate(config, 1)


def test_vanilla_sft_keeps_verified_reasoning_and_the_oracles_top_general_answer():
  config = make_tiny_config()
  config.vanilla_sft.num_samples = 2
  records = source.load_records(config.data, 'train')[:2]
  reasoning = dict(records=records, texts=['w', 'r1', 'r2', 'r22'], lengths=np.array([5, 9, 7, 4]),
                   truncated=np.array([False, False, False, False]),
                   correct=np.array([[0, 1], [0, 0]], np.float32))
  prompts = general.make_general_prompts('train', 3, seed=0)   # use_words, explain, decline
  good = general.good_response(prompts[1], random.Random(0))
  general_out = dict(records=[{'question': q.question, 'index': i} for i, q in enumerate(prompts)],
                     texts=['gibberish', 'more gibberish', good, 'nonsense', 'x', 'y'])
  out, report = k15_stages.vanilla_records(config, reasoning, prompts, general_out)
  assert [r['completion'] for r in out if r['source'] == 'rejection'] == ['r1']   # only right
  ranked = [r['completion'] for r in out if r['source'] == 'ranked']
  assert ranked[1] == good                        # the model's own top answer (tie: model first)
  for prompt, answer in zip(prompts, ranked):     # always a best-ranked candidate
    seeds = general.candidate_responses(prompt, random.Random('any'))
    assert oracle.preference(prompt.metadata(), answer) == max(
        oracle.preference(prompt.metadata(), c) for c in seeds.values())
  assert report['kept/reasoning'] == 1 and report['kept/general'] == 3
  assert report['general_top_from_model'] == 1
