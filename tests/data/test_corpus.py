"""Pretraining corpus: modes, their proportions, determinism, templates."""

import collections

import pytest

from r1jax.data.corpus import MODES, pretrain_documents, tokenizer_corpus
from r1jax.data.tasks import make_examples
from r1jax.data.templates import R1_ZERO_PROMPT, TAGS, get_template

EXAMPLES = make_examples(['arithmetic', 'countdown', 'linear_equation'], 'train', 900, 0, [1, 2, 3])


def _mode(completion: str) -> str:
  if '<think>' not in completion:
    return 'noformat'
  return 'cot' if '=' in completion.split('</think>')[0] else 'direct'


def test_r1_zero_prompt_is_the_paper_template():
  t = get_template('r1_zero')
  prompt = t.prompt('Compute 7 + 5 - 3')
  assert prompt.startswith('A conversation between User and Assistant. The user asks a question')
  assert prompt.endswith('<answer> answer here </answer>. User: Compute 7 + 5 - 3. Assistant:')
  assert t.completion('7 + 5 = 12 .', '12') == ' <think> 7 + 5 = 12 . </think> <answer> 12 </answer>'
  chat = get_template('chat')
  assert chat.prompt('Q') == 'User: Q\nAssistant:'
  assert chat.completion('c', 'a') == ' c The answer is a.'
  with pytest.raises(ValueError, match='r1_zero'):
    get_template('llama')


def test_documents_follow_mode_probs_and_are_deterministic():
  t = get_template('r1_zero')
  probs = {'cot': 0.6, 'direct': 0.3, 'noformat': 0.1}
  docs = pretrain_documents(EXAMPLES, t, probs, seed=0)
  assert docs == pretrain_documents(EXAMPLES, t, probs, seed=0)
  assert docs != pretrain_documents(EXAMPLES, t, probs, seed=1)
  counts = collections.Counter(_mode(c) for _, c in docs)
  for mode, p in probs.items():
    assert abs(counts[mode] / len(docs) - p) < 0.06, counts
  for ex, (prompt, completion) in zip(EXAMPLES, docs):
    assert prompt == R1_ZERO_PROMPT.format(question=ex.question)
    if _mode(completion) == 'cot':
      assert completion == t.completion(ex.cot, ex.answer)
    elif _mode(completion) == 'direct':
      assert completion.endswith(f'</think> <answer> {ex.answer} </answer>')
    else:
      assert completion == f' The answer is {ex.answer} .'


def test_single_mode_and_bad_probs():
  docs = pretrain_documents(EXAMPLES[:50], get_template('r1_zero'), {'cot': 1.0}, 0)
  assert all(_mode(c) == 'cot' for _, c in docs)
  with pytest.raises(ValueError, match='data.mode_probs'):
    pretrain_documents(EXAMPLES, get_template('r1_zero'), {'sft': 1.0}, 0)
  with pytest.raises(ValueError, match='data.mode_probs'):
    pretrain_documents(EXAMPLES, get_template('r1_zero'), {'cot': 0.0}, 0)


def test_tokenizer_corpus_covers_templates_and_modes():
  lines = tokenizer_corpus(EXAMPLES[:30])
  assert all('\n' not in line for line in lines)
  text = '\n'.join(lines)
  assert all(tag in text for tag in TAGS) and 'The answer is' in text and 'User: ' in text
  assert len(MODES) == 3
