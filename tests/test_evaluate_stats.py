"""Evaluation with its uncertainty: intervals over prompts equal an independent bootstrap,
paired comparisons equal stats' tests, reflection words are counted as documented, the greedy
and sampled passes run on a tiny model, duplicates are counted, the new fields are validated
and the plots draw the bands."""
import collections
import json
import math

import jax
import ml_collections
import numpy as np
import pytest

from conftest import make_tiny_config
from configs import common
from r1jax import evaluate, main, metrics, sharding, stats
from r1jax.config import ConfigError
from r1jax.models import ModelConfig, init_params
from r1jax.stages import validate


def _hand_made(num_prompts=40, n=4, seed=0):
  """correct [P, n], answers [P][n], records over 2 tasks and levels 1 and 3."""
  rs = np.random.default_rng(seed)
  skill = rs.uniform(0, 1, num_prompts)
  correct = (rs.uniform(0, 1, (num_prompts, n)) < skill[:, None]).astype(np.float64)
  answers = [[('7' if c else rs.choice(['1', '2'])) if rs.uniform() < 0.9 else None
              for c in row] for row in correct]
  records = [dict(task='add' if i % 2 else 'mul', difficulty=1 if i % 3 else 3)
             for i in range(num_prompts)]
  return correct, answers, records


def _maj(answers, correct, k):
  """maj@k by hand: per block of k, the most voted answer (first seen on ties) is right."""
  blocks = []
  for b in range(len(answers) // k):
    a, c = answers[b * k:(b + 1) * k], correct[b * k:(b + 1) * k]
    votes = collections.Counter(x for x in a if x is not None)
    if not votes:
      blocks.append(0.0)
      continue
    best = max(votes.values())
    winner = next(x for x in a if x is not None and votes[x] == best)
    blocks.append(float(c[a.index(winner)]))
  return np.mean(blocks)


def test_summarize_intervals_are_the_bootstrap_over_prompts():
  correct, answers, records = _hand_made()
  out = evaluate.summarize(correct, answers, records, k=2)
  n = correct.shape[1]
  per_prompt = {
      'accuracy': correct.mean(axis=1),
      'maj@2': np.array([_maj(a, c, 2) for a, c in zip(answers, correct)]),
      'pass@2': np.array([1 - math.comb(n - int(c.sum()), 2) / math.comb(n, 2)
                          for c in correct])}
  levels = np.array([r['difficulty'] for r in records])
  tasks = np.array([r['task'] for r in records])
  for level in (1, 3):
    per_prompt[f'accuracy/level{level}'] = correct.mean(axis=1)[levels == level]
  for task in ('add', 'mul'):
    per_prompt[f'accuracy/{task}'] = correct.mean(axis=1)[tasks == task]
  for name, scores in per_prompt.items():
    mean, low, high = stats.bootstrap_ci(scores)
    assert out[name] == pytest.approx(mean), name
    assert (out[f'{name}_low'], out[f'{name}_high']) == pytest.approx((low, high)), name
    assert low < mean < high, name   # a real interval, not a degenerate one
  # the interval is over prompts: resampling the P*n samples would be narrower
  samples = stats.bootstrap_ci(correct.reshape(-1))
  assert out['accuracy_high'] - out['accuracy_low'] > samples[2] - samples[1]
  # the values come before their intervals (readers take the first key starting with 'maj@')
  assert next(k for k in out if k.startswith('maj@')) == 'maj@2'


def test_compare_is_the_paired_bootstrap_and_mcnemar():
  rs = np.random.default_rng(1)
  before = (rs.uniform(size=200) < 0.4).astype(float)
  after = np.where(rs.uniform(size=200) < 0.3, 1.0, before)   # fixes some prompts
  result = evaluate.compare(before, after)
  expected = stats.paired_bootstrap(before, after)
  for key in ('diff', 'low', 'high', 'p_value'):
    assert result[key] == pytest.approx(expected[key]), key
  assert result['diff'] == pytest.approx(after.mean() - before.mean()) and result['diff'] > 0
  test = stats.mcnemar(before, after)
  assert result['mcnemar_p'] == test['p_value'] < 0.001
  assert (result['after_only'], result['before_only']) == (test['b_only'], test['a_only'])
  # [P, 1] greedy verdicts are the same test; [P, k] means over samples have no McNemar
  assert evaluate.compare(before[:, None], after[:, None])['mcnemar_p'] == test['p_value']
  two = np.stack([before, after], 1)
  assert 'mcnemar_p' not in evaluate.compare(two, two[:, ::-1])
  text = evaluate.format_compare(result)
  assert text == ('paired difference ' + stats.format_paired(**expected) +
                  f'; McNemar {stats.format_p(test["p_value"])}')
  assert text.startswith('paired difference +')


@pytest.mark.parametrize('text, check, wait', [
    (' <think> 3 + 4 = 7 . check : 7 - 4 = 3 . </think> <answer> 7 </answer>', True, False),
    (' <think> 3 + 4 = 8 . Wait , 3 + 4 = 7 . </think> <answer> 7 </answer>', False, True),
    (' <think> 3 + 4 = 7 . </think> <answer> 7 </answer>', False, False),
    (' <think> I checked it , then rechecking ; CHECKS pass </think>', True, False),
    (' <think> checksum , unchecked , waiting , await </think>', False, False),
    (' <think> 7 </think> <answer> check wait </answer>', False, False),   # outside the block
    ('no tags at all : let me recheck , wait', True, True),            # the whole completion
    ('3 + 4 = 7 . wait </think> <answer> 7 </answer>', False, True),   # the prompt opened it
    (' <think> 3 + 4 = 7 等等 — 检查 : 7 - 4 = 3 </think>', True, True),
    (' <think> unclosed , check', True, False),
])
def test_reflection_words(text, check, wait):
  flags = evaluate.reflection_flags([text])
  assert (bool(flags['check'][0]), bool(flags['wait'][0])) == (check, wait)


def test_reflection_rates_overall_and_by_level():
  texts = [' <think> check : ok </think>', ' <think> wait , no </think>',
           ' <think> plain </think>', ' <think> wait , check </think>',
           ' <think> plain </think>', ' <think> Wait </think>']
  lengths = np.array([4, 6, 8, 10, 12, 14])
  records = [dict(difficulty=1), dict(difficulty=3), dict(difficulty=3)]   # k = 2 each
  row = evaluate.reflection_row(texts, lengths, records, k=2)
  assert row['eval/reflection/check'] == pytest.approx(2 / 6)
  assert row['eval/reflection/wait'] == pytest.approx(3 / 6)
  assert row['eval/reflection/check/level1'] == 0.5 and row['eval/reflection/wait/level1'] == 0.5
  assert row['eval/reflection/check/level3'] == 0.25 and row['eval/reflection/wait/level3'] == 0.5
  assert row['eval/response_len/level1'] == 5 and row['eval/response_len/level3'] == 11


# ---------------------------------------------------------------------------- on a tiny model

@pytest.fixture(scope='module')
def tokenizer(tmp_path_factory):
  return main.load_or_train_tokenizer(make_tiny_config(), str(tmp_path_factory.mktemp('tok')))


def _mesh():
  return sharding.make_mesh(ml_collections.ConfigDict({'shape': (1, 1, 1)}), jax.devices()[:1])


def _params(config):
  return init_params(ModelConfig.from_config(config.model), jax.random.key(0))


def _greedy_config():
  config = make_tiny_config()
  config.eval.update(temperature=0.0, num_samples=1)   # one compiled sampler for the module
  return config


def test_sampled_pass_adds_its_keys_and_leaves_the_primary_alone(tokenizer):
  """Greedy primary plus the papers' sampled setting, the combination to report."""
  plain = _greedy_config()
  with_sampled = _greedy_config()
  with_sampled.eval.sampled_samples = 3
  params = _params(plain)
  row = evaluate.Evaluator(plain, tokenizer, _mesh(), sharding.DEFAULT_RULES)(params)
  evaluator = evaluate.Evaluator(with_sampled, tokenizer, _mesh(), sharding.DEFAULT_RULES)
  cfg = evaluator.sampled_sampler.cfg
  assert (cfg.group_size, cfg.temperature, cfg.top_p, cfg.top_k) == (3, 0.6, 0.95, 0)
  calls = []
  real = evaluator._sample
  evaluator._sample = lambda *a: calls.append(a[2]) or real(*a)
  both = evaluator(params)
  assert calls == [1, 3]   # the primary pass (greedy, k=1), then the sampled one (k=3)
  assert {k: v for k, v in both.items() if not k.startswith('eval/sampled/')} == row
  for key in ('accuracy', 'maj@3', 'pass@3'):
    for suffix in ('', '_low', '_high'):
      assert f'eval/sampled/{key}{suffix}' in both
  scores = evaluator.last_scores['sampled/accuracy']
  assert scores.shape == (len(evaluator.records),)
  mean, low, high = stats.bootstrap_ci(scores)
  assert (both['eval/sampled/accuracy'], both['eval/sampled/accuracy_low'],
          both['eval/sampled/accuracy_high']) == pytest.approx((mean, low, high))
  assert evaluator.last_correct.shape == (len(evaluator.records), 1)
  np.testing.assert_allclose(evaluator.last_per_prompt, evaluator.last_correct.mean(axis=1))
  assert row['eval/duplicate_prompts'] == 0
  assert {'eval/reflection/check', 'eval/reflection/wait', 'eval/reflection/check/level1',
          'eval/response_len/level1', 'eval/accuracy_low', 'eval/accuracy/level1_high'} <= set(row)


def test_greedy_is_the_argmax_whatever_the_key(tokenizer):
  config = _greedy_config()
  validate(config, 1)
  evaluator = evaluate.Evaluator(config, tokenizer, _mesh(), sharding.DEFAULT_RULES)
  params = _params(config)
  texts = evaluator.sample_texts(params)[0]
  evaluator.rng = jax.random.key(12345)
  assert evaluator.sample_texts(params)[0] == texts and len(set(texts)) > 1
  evaluator(params)
  assert set(np.unique(evaluator.last_correct)) <= {0.0, 1.0}


def test_paired_row_and_the_table(tokenizer, capsys):
  config = _greedy_config()
  evaluator = evaluate.Evaluator(config, tokenizer, _mesh(), sharding.DEFAULT_RULES)
  num_prompts = len(evaluator.records)
  before = np.zeros((num_prompts, 1))
  evaluator.last_correct = np.ones((num_prompts, 1))
  evaluator.last_correct[0] = 0
  row = evaluator.paired_row(before)
  expected = evaluate.compare(before, evaluator.last_correct)
  assert row == pytest.approx({'eval/paired_diff': expected['diff'],
                               'eval/paired_low': expected['low'],
                               'eval/paired_high': expected['high'],
                               'eval/paired_p': expected['p_value'],
                               'eval/paired_mcnemar_p': expected['mcnemar_p']})
  assert evaluator.paired_row(None) == {} and evaluator.paired_row(np.zeros((3, 1))) == {}
  after = {'eval/accuracy': 0.5, 'eval/accuracy_low': 0.4, 'eval/accuracy_high': 0.6,
           'eval/accuracy/level1': 0.25, 'eval/accuracy/level1_low': 0.1,
           'eval/accuracy/level1_high': 0.4, 'eval/format': 1.0, **row}
  evaluator.print_table(after, 'T', before={'eval/accuracy': 0.1, 'eval/format': 0.5})
  out = capsys.readouterr().out
  assert f'{stats.format_ci(0.5, 0.4, 0.6)}' in out and stats.format_ci(0.25, 0.1, 0.4) in out
  assert 'level1_low' not in out
  assert evaluate.format_compare(expected) in out
  text = evaluate.markdown_table(after, 'T')
  assert '| accuracy | 0.5000 [0.4000, 0.6000] |' in text and 'accuracy_low' not in text


def test_scores_saved_for_a_resumed_run(tokenizer, tmp_path):
  config = make_tiny_config()
  evaluator = evaluate.Evaluator(config, tokenizer, _mesh(), sharding.DEFAULT_RULES)
  evaluator.last_correct = np.arange(len(evaluator.records) * 2).reshape(-1, 2) % 2 * 1.0
  path = tmp_path / 'eval' / 'rl_step0_scores.json'
  evaluator.save_scores(str(path))
  np.testing.assert_array_equal(evaluator.load_scores(str(path)), evaluator.last_correct)
  other = make_tiny_config()
  other.eval.num_prompts = 4   # other prompts: no comparison
  assert evaluate.Evaluator(other, tokenizer, _mesh(),
                            sharding.DEFAULT_RULES).load_scores(str(path)) is None
  assert evaluator.load_scores(str(tmp_path / 'missing.json')) is None


def test_many_prompts_are_stratified_and_duplicates_counted(tokenizer, capsys):
  config = make_tiny_config()   # linear_equation level 1 has 96 held-out problems
  config.data.num_heldout = config.eval.num_prompts = 600
  evaluator = evaluate.Evaluator(config, tokenizer, _mesh(), sharding.DEFAULT_RULES)
  records = evaluator.records
  assert len(records) == 600
  counts = collections.Counter(r['task'] for r in records)
  assert max(counts.values()) - min(counts.values()) <= 1   # round-robin over (task, level)
  distinct = len({(r['task'], r['question']) for r in records})
  assert evaluator.duplicates == evaluate.duplicate_prompts(records) == 600 - distinct > 0
  assert len({r['question'] for r in records if r['task'] != 'linear_equation'}) == 400
  assert capsys.readouterr().out.count(f'{600 - distinct} of 600 held-out prompts repeat') == 1


# ---------------------------------------------------------------------------- config, plots

@pytest.mark.parametrize('fields, message', [
    (dict(sampled_samples=-1), r'eval.sampled_samples=-1 must be >= 0'),
    (dict(sampled_samples=4, sampled_temperature=0.0),
     r'eval.sampled_temperature=0.0 with eval.sampled_samples=4: .* set it, or '
     r'eval.sampled_samples=0'),
    (dict(sampled_top_p=0.0), r'eval.sampled_top_p=0.0 must be in \(0, 1\]'),
    (dict(temperature=0.0, num_samples=4),
     r'eval.temperature=0 \(greedy\) with eval.num_samples=4 .* set eval.num_samples=1'),
])
def test_new_fields_are_validated(fields, message):
  config = common.get_config()
  config.eval.update(**fields)
  with pytest.raises(ConfigError, match=message) as error:
    validate(config, 8)
  assert '\n' not in str(error.value)


def test_defaults_are_off_and_valid():
  config = common.get_config()
  assert (config.eval.sampled_samples, config.eval.sampled_temperature,
          config.eval.sampled_top_p) == (0, 0.6, 0.95)
  config.eval.update(sampled_samples=4)
  validate(config, 8)


def test_plots_draw_the_interval_band_and_the_curves_by_level(tmp_path, monkeypatch):
  from matplotlib.axes import Axes
  rows = [{'step': s, 'stage': 'rl', 'eval/accuracy': 0.1 * s, 'eval/accuracy_low': 0.1 * s - 0.05,
           'eval/accuracy_high': 0.1 * s + 0.05, 'eval/accuracy/level1': 0.2,
           'eval/accuracy/level1_low': 0.1, 'eval/accuracy/level1_high': 0.3,
           'eval/accuracy/level3': 0.1, 'eval/reflection/check': 0.5,
           'eval/reflection/wait': 0.1 * s, 'eval/reflection/check/level1': 0.4, 'kl': 0.0}
          for s in (0, 2, 4)]
  (tmp_path / 'metrics.jsonl').write_text(''.join(json.dumps(r) + '\n' for r in rows))
  bands, lines = [], []
  real_fill, real_plot = Axes.fill_between, Axes.plot
  monkeypatch.setattr(Axes, 'fill_between', lambda self, x, lo, hi, **kw: bands.append(
      (self.get_title(), list(x), list(lo), list(hi))) or real_fill(self, x, lo, hi, **kw))
  monkeypatch.setattr(Axes, 'plot', lambda self, *a, **kw: lines.append(kw.get('label')) or
                      real_plot(self, *a, **kw))
  path = metrics.plot_metrics(str(tmp_path), 'rl', ['eval/accuracy', 'kl', 'eval/accuracy/level*',
                                                    'eval/reflection/*'])
  assert (tmp_path / 'rl_curves.png').stat().st_size > 1000 and path.endswith('rl_curves.png')
  assert bands[0] == ('', [0, 2, 4], pytest.approx([-0.05, 0.15, 0.35]),
                      pytest.approx([0.05, 0.25, 0.45]))
  assert bands[1][2:] == ([0.1] * 3, [0.3] * 3)   # level1 has a band, level3 none
  assert len(bands) == 2
  assert lines == ['eval/accuracy', 'kl', 'level1', 'level3', 'check', 'wait']
