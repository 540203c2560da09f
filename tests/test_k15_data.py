"""The k1.5 data stages' building blocks: stage datasets round-trip through TFDS; prompt
curation keeps per-prompt pass rates, drops easy-to-hack prompts, balances, reports, and the
curated set drives rl.sampling='curriculum' (real sampling: tests/test_k15_stages.py)."""
import dataclasses

import numpy as np
import pytest

from conftest import make_tiny_config
from r1jax.data import cold_start, curate, prompt_sampler, source, stage_data, templates
from r1jax.data.tasks import make_examples
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
  with pytest.raises(ValueError, match='kept no records'):
    stage_data.write_dataset(str(tmp_path), 'r1jax_test_rt', 't', [], kinds, {})


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
  monkeypatch.setattr(curate, 'sample_scored', fake_sample_scored)
  report = curate.curate_prompts(config, None, None, None, None, str(tmp_path), 'curate')
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
  assert curate.curate_prompts(config, None, None, None, None, str(tmp_path),
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
  records, counts = cold_start.make_traces(config, None, 'train', cold_start.long_cot_trace)
  short, _ = cold_start.make_traces(config, None, 'train')
  assert counts['kept'] == counts['generated'] == 30   # every trace verifies, one language
  words = {'en': ('plan :', 'ok .', 'wait — check :', 'another way :'),
           'zh': ('计划 :', '对 。', '等等 — 检查 :', '另一种方法 :')}[language]
  for r, s in zip(records, short):
    missing = [w for w in words if w not in r['completion']]
    assert not missing, (missing, r['completion'])
    assert r['completion'].endswith(f'<answer> {r["answer"]} </answer>')
    assert len(r['completion']) > 1.8 * len(s['completion'])   # verbose enough to shorten
  # a trace whose checks fail is an error, never a dataset row
  bad = dataclasses.replace(make_examples(['linear_equation'], 'train', 1, 0, [1])[0],
                            answer='99')
  with pytest.raises(ValueError, match='x = 99 does not check'):
    cold_start.long_cot_trace(bad, templates.get_template('r1_zero'))
