"""The second language: Chinese questions with the same answers, a `language` field, a
selectable mix, reasoning that switches language, a tokenizer that covers it, and the
mixed-language metric the evaluator reports."""
import collections

import ml_collections
import pytest

from configs import common
from r1jax.data import corpus, source
from r1jax.data.tasks import Example, make_examples
from r1jax.data.tasks.languages import assign_languages, localize, render_cot
from r1jax.data.templates import get_template
from r1jax.data.tokenizer import train_tokenizer
from r1jax.rewards.language import mixed_language

EXAMPLES = make_examples(['arithmetic', 'linear_equation', 'countdown'], 'train', 300, 0, [1, 2])


def test_chinese_questions_keep_the_problem_and_answer():
  for ex in EXAMPLES[:3]:
    zh = localize(ex, 'zh')
    assert zh.language == 'zh' and zh.answer == ex.answer and zh.cot == ex.cot
    assert zh.question != ex.question and zh.question[0] in '计解用'
    # the mathematical part of the question is unchanged
    assert [t for t in zh.question.split() if any(c.isdigit() for c in t)] == [
        t for t in ex.question.split() if any(c.isdigit() for c in t)]
    assert Example.from_record(zh.to_record()) == zh
    assert zh.metadata()['language'] == 'zh'
  with pytest.raises(ValueError, match=r"supported: \('en', 'zh'\)"):
    localize(EXAMPLES[0], 'fr')


def test_language_mix_is_selectable_and_deterministic():
  mixed = assign_languages(EXAMPLES, {'en': 0.5, 'zh': 0.5}, seed=0)
  assert mixed == assign_languages(EXAMPLES, {'en': 0.5, 'zh': 0.5}, seed=0)
  counts = collections.Counter(ex.language for ex in mixed)
  assert 110 < counts['zh'] < 190
  assert assign_languages(EXAMPLES, {'en': 1.0}, seed=0) == EXAMPLES
  assert {ex.language for ex in assign_languages(EXAMPLES, {'zh': 1.0}, 0)} == {'zh'}

  data = ml_collections.ConfigDict(common.get_config().data.to_dict())
  data.update(tasks=('arithmetic',), difficulties=(1,), num_train=40, num_heldout=8)
  english = source.load_records(data, 'train')
  data.languages = {'en': 0.5, 'zh': 0.5}
  records = source.load_records(data, 'train')
  assert {r['language'] for r in records} == {'en', 'zh'}
  assert [r['answer'] for r in records] == [r['answer'] for r in english]
  assert all(r['question'].startswith('计算 ') == (r['language'] == 'zh') for r in records)


def test_reasoning_in_a_language_and_switched():
  cot = '7 + 5 = 12 . 12 - 3 = 9 .'
  assert render_cot(cot, 'en') == cot    # the English form is the task's own
  assert render_cot(cot, 'zh') == '首先 7 + 5 = 12 。 然后 12 - 3 = 9 。'
  assert render_cot(cot, 'zh', switch_at=1) == '首先 7 + 5 = 12 。 then 12 - 3 = 9 .'
  assert render_cot(cot, 'en', switch_at=1) == '7 + 5 = 12 . 然后 12 - 3 = 9 。'
  template = get_template('r1_zero')
  for lang, switch, mixed in [('en', None, False), ('zh', None, False), ('zh', 1, True),
                              ('en', 1, True), ('en', 0, True)]:
    text = template.completion(render_cot(cot, lang, switch), '9')
    assert mixed_language(text, lang) == mixed, (lang, switch)
  assert not mixed_language(' The answer is 9 .', 'en')   # no <think>: nothing to mix
  assert mixed_language(' <think> 首先 then </think>', 'zh')
  assert not mixed_language(" <think> 首先 3 x = 6 。 然后 x = 2 。 </think>", "zh")


def test_corpus_switches_language_at_the_configured_rate():
  template = get_template('r1_zero')
  examples = assign_languages(EXAMPLES, {'en': 0.5, 'zh': 0.5}, seed=0)
  probs = {'cot': 0.5, 'direct': 0.3, 'noformat': 0.2}
  plain = corpus.pretrain_documents(examples, template, probs, seed=0)
  switched = corpus.pretrain_documents(examples, template, probs, seed=0,
                                       language_switch_prob=0.5)
  assert plain == corpus.pretrain_documents(examples, template, probs, seed=0,
                                            language_switch_prob=0.0)
  mixed = [mixed_language(c, ex.language) for (_, c), ex in zip(plain, examples)]
  assert not any(mixed)    # a zh document reasons, answers and declines to reason in Chinese
  cot_rows = [i for i, (_, c) in enumerate(plain) if '=' in c]
  mixed = [mixed_language(switched[i][1], examples[i].language) for i in cot_rows]
  assert 0.35 < sum(mixed) / len(mixed) < 0.65
  # only the reasoning changes: modes, prompts and answers stay where they were
  assert [p for p, _ in plain] == [p for p, _ in switched]
  assert [c.split('</think>')[-1] for _, c in plain] == [c.split('</think>')[-1]
                                                         for _, c in switched]
  zh_noformat = next(c for (_, c), ex in zip(plain, examples)
                     if ex.language == 'zh' and '<think>' not in c)
  assert zh_noformat.startswith(' 答案是 ')


def test_tokenizer_covers_the_chinese_text():
  examples = assign_languages(EXAMPLES, {'en': 0.5, 'zh': 0.5}, seed=0)
  data = ml_collections.ConfigDict({'languages': {'en': 0.5, 'zh': 0.5},
                                    'language_switch_prob': 0.2})
  extra = corpus.extra_tokenizer_lines(data, examples)
  assert corpus.extra_tokenizer_lines(common.get_config().data, examples) == []
  tok = train_tokenizer(corpus.tokenizer_corpus(examples, extra_lines=extra), 512)
  zh = next(ex for ex in examples if ex.language == 'zh' and ex.task == 'countdown')
  for text in [zh.question, render_cot(zh.cot, 'zh', switch_at=1), ' 答案是 5 。', '这题很简单 。']:
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert not [tok.id_to_piece(i) for i in ids if tok.id_to_piece(i).startswith('<0x')], text


def test_evaluator_reports_mixing_by_prompt_language(tokenizer, monkeypatch):
  import jax
  import numpy as np
  from conftest import make_tiny_config  # pylint: disable=g-import-not-at-top
  from r1jax import evaluate, sharding
  config = make_tiny_config()
  config.data.update(tasks=('arithmetic',), languages={'en': 0.5, 'zh': 0.5})
  config.eval.update(num_prompts=8, num_samples=2)
  mesh = sharding.make_mesh(ml_collections.ConfigDict({'shape': (1, 1, 1)}), jax.devices()[:1])
  evaluator = evaluate.Evaluator(config, tokenizer, mesh, sharding.DEFAULT_RULES)
  languages = [r['language'] for r in evaluator.records]
  assert set(languages) == {'en', 'zh'}
  texts = []
  for record in evaluator.records:   # sample 1 in the prompt's language, sample 2 switched
    ex = Example.from_record(record)
    texts += [get_template('r1_zero').completion(render_cot(ex.cot, ex.language, s), ex.answer)
              for s in (None, 0 if ex.language == 'zh' else 1)]
  monkeypatch.setattr(evaluator, 'sample_texts',
                      lambda params: (texts, np.full(16, 9), np.zeros(16, bool)))
  row = evaluator(None)
  assert row['eval/accuracy'] == 1.0 and row['eval/format'] == 1.0
  assert row['eval/mixed_language'] == 0.5
  assert row['eval/mixed_language/en'] == row['eval/mixed_language/zh'] == 0.5
  assert row['eval/accuracy/lang_zh'] == 1.0
