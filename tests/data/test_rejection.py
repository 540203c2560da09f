"""Rejection sampling: sample_and_verify groups every sample with its own prompt and verdict,
each filter drops what it names (and is counted), the general data is the oracle's best, and
the set round-trips through the TFDS dataset."""
import random

import jax
import numpy as np
import pytest

from configs import common
from r1jax import evaluate, sharding
from r1jax.data import cold_start, source, templates
from r1jax.rewards.format import repetition_ratio
from r1jax.stages import cold_start as cold_start_set, rejection
from r1jax.data.tasks import general, make_examples
from r1jax.models import ModelConfig, init_params
from r1jax.rewards import oracle

TEMPLATE = templates.get_template('r1_zero')


def _config():
  config = common.get_config()
  config.model.update(d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=64)
  config.data.update(tasks=('arithmetic', 'linear_equation', 'countdown'), difficulties=(1,),
                     num_train=40, num_heldout=8, languages={'en': 0.5, 'zh': 0.5}, seq_len=200)
  config.eval.update(max_new_tokens=12, prompt_len=112, batch_size=8)
  return config


def _sample(text, correct=1.0, length=10, truncated=False, mixed=False):
  return rejection.Sample(text=text, answer=None, correct=correct, format=1.0, length=length,
                          truncated=truncated, mixed_language=mixed)


GOOD = ' <think> 7 + 5 = 12 . 12 - 3 = 9 . </think> <answer> 9 </answer>'


def test_each_filter_drops_what_it_names_and_is_counted():
  record = dict(question='Compute 7 + 5 - 3', task='arithmetic', answer='9', language='en')
  group = rejection.PromptSamples(record, TEMPLATE.prompt(record['question']), [
      _sample(GOOD, length=12),
      _sample(GOOD.replace('<answer> 9', '<answer> 8'), correct=0.0),
      _sample(GOOD.replace('12 - 3', '12 减 3'), mixed=True),
      _sample(GOOD, truncated=True),
      _sample(' <think> 12 . 12 . 12 . 12 . 12 . 12 . 12 . 12 . </think> <answer> 9 </answer>'),
      _sample(' 7 + 5 = 12 . 12 - 3 = 9 . <answer> 9 </answer>'),          # no <think>
      _sample(GOOD.replace(' . ', '  .  ')),                                 # a duplicate
      _sample(' <think> 12 - 3 = 9 . </think> <answer> 9 </answer>', length=8),
  ])
  cfg = common.get_config().rejection_sampling
  records, counts = rejection.select_samples([group], cfg)
  assert [r['completion'] for r in records] == [GOOD, group.samples[-1].text]
  assert counts == {'prompts': 1, 'sampled': 8, 'dropped_incorrect': 1,
                    'dropped_mixed_language': 1, 'dropped_overlong': 1, 'dropped_repetitive': 1,
                    'dropped_bad_format': 1, 'dropped_duplicate': 1, 'dropped_per_prompt': 0,
                    'kept_reasoning': 2, 'kept/en': 2, 'kept/arithmetic': 2}
  assert records[0] == dict(question=record['question'], prompt=group.prompt, completion=GOOD,
                            task='arithmetic', language='en', answer='9')
  cfg.update(keep='shortest')   # k1.5's shortest rejection sampling
  records, counts = rejection.select_samples([group], cfg)
  assert [r['completion'] for r in records] == [group.samples[-1].text]
  assert counts['dropped_per_prompt'] == 1
  assert group.shortest_correct() is group.samples[-1] and group.pass_rate == 7 / 8
  cfg.update(keep='all', max_response_tokens=10)
  assert rejection.select_samples([group], cfg)[1]['dropped_overlong'] == 2


def test_repetition_ratio_passes_worked_traces_and_catches_loops():
  config = _config()
  config.train.cold_start_examples = 60
  traces = [r['completion'] for r in cold_start_set.make_traces(config)[0]]
  cfg = config.rejection_sampling
  assert max(repetition_ratio(t, cfg.repeat_ngram) for t in traces) <= cfg.max_repeat_ratio
  assert repetition_ratio('a b c d e f', 4) == 0.0
  assert repetition_ratio('= 12 . ' * 10, 4) > 0.8


def test_general_records_are_the_oracles_best(tokenizer):
  records, counts = rejection.general_records(30, 0, TEMPLATE, tokenizer, seq_len=256)
  assert counts['general'] == len(records) == 30
  assert counts['general/use_words'] == counts['general/explain'] == counts['general/decline'] == 10
  prompts = general.make_general_prompts('train', 30, 0)
  for prompt, record in zip(prompts, records):
    meta = prompt.metadata()
    best = max(oracle.preference(meta, r) for r in general.candidate_responses(
        prompt, random.Random(0)).values())
    assert oracle.preference(meta, record['completion']) == best == 2.0
    assert record['task'] == 'general' and record['prompt'] == TEMPLATE.prompt(prompt.question)
    assert oracle.declines(oracle.summary_text(record['completion'])) == prompt.should_decline
  assert rejection.general_records(30, 0, TEMPLATE, tokenizer, seq_len=100)[1][
      'general_dropped_overlong'] == 30


def test_sample_and_verify_keeps_each_sample_with_its_prompt(tokenizer, monkeypatch):
  config = _config()
  config.data.languages = {'en': 1.0}   # the fixture's tokenizer has no Chinese pieces
  records = source.load_records(config.data, 'train')[:6]
  mesh = sharding.make_mesh(config.mesh)
  params = init_params(ModelConfig.from_config(config.model), jax.random.key(0))
  run = lambda seed: rejection.sample_and_verify(
      config, tokenizer, mesh, sharding.DEFAULT_RULES, params, records, num_samples=3,
      max_new_tokens=10, batch_size=8, seed=seed)
  groups, row = run(0)
  assert [g.record['question'] for g in groups] == [r['question'] for r in records]
  assert all(len(g.samples) == 3 for g in groups)
  for g in groups:
    for s in g.samples:
      assert 1 <= s.length <= 10 and (s.length == 10 or not s.truncated)
      assert s.mixed_language == evaluate.mixed_language(s.text, g.language)
  assert row['eval/accuracy'] == pytest.approx(np.mean([g.pass_rate for g in groups]))
  other, _ = run(1)
  assert [s.text for g in other for s in g.samples] != [s.text for g in groups for s in g.samples]

  # the verdicts belong to the right prompt: stand-in texts answer every 2nd sample correctly
  def texts(self, params):
    del params
    out = [TEMPLATE.completion('ok', r['answer'] if j % 2 == 0 else '-1')
           for r in self.records for j in range(self.k)]
    return out, np.full(len(out), 5), np.zeros(len(out), bool)
  monkeypatch.setattr(evaluate.Evaluator, 'sample_texts', texts)
  groups, _ = run(0)
  assert [[s.correct for s in g.samples] for g in groups] == [[1.0, 0.0, 1.0]] * 6
  assert all(g.pass_rate == pytest.approx(2 / 3) for g in groups)


def test_written_as_a_dataset_the_sft_stage_reads(tmp_path):
  examples = make_examples(['arithmetic'], 'train', 4, 0, [1])
  kept = [dict(question=e.question, prompt=TEMPLATE.prompt(e.question),
               completion=TEMPLATE.completion(e.cot, e.answer), task=e.task, language='en',
               answer=e.answer) for e in examples]
  name, counts = cold_start.build_dataset(str(tmp_path), rejection.NAME, {'a': 1},
                                          lambda: (kept, {'kept': 4}))
  assert name.startswith('r1jax_rejection_sampled/cfg_') and counts == {'kept': 4}
  assert cold_start.read_records(str(tmp_path), name) == kept
  assert list((tmp_path / 'r1jax_rejection_sampled').glob('*/1.0.0/*.array_record*'))
