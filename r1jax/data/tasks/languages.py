"""A second language for the synthetic tasks: questions phrased in English or Chinese (the
answer stays a number), and chains of thought rendered in a language, or switching language
part-way (the language mixing DeepSeek-R1-Zero shows, sec. 2.2.4).

  localize(example, 'zh').question         # '计算 7 + 5 - 3'
  render_cot('7 + 5 = 12 . 12 - 3 = 9 .', 'zh')   # '首先 7 + 5 = 12 。 然后 12 - 3 = 9 。'
  render_cot(cot, 'zh', switch_at=1)        # '首先 7 + 5 = 12 。 then 12 - 3 = 9 .'
  assign_languages(examples, {'en': 0.7, 'zh': 0.3}, seed=0)

An English chain of thought is the task's own (symbols, no words: the quickstart's text is
unchanged); a Chinese one gains a word per step. A step switched into English gains English
words, so any mixing shows up as words of two scripts (r1jax/rewards/language.py).
"""
import dataclasses
import random
import re
from typing import Mapping, Sequence

from r1jax.data.tasks import base
from r1jax.data.tasks.base import Example

LANGUAGES = ('en', 'zh')

# task -> (English question prefix, Chinese question prefix); the rest of the question (the
# expression, equation or numbers) is language-neutral and kept.
_QUESTION_PREFIXES = {
    'arithmetic': ('Compute ', '计算 '),
    'linear_equation': ('Solve for x: ', '解方程 , 求 x : '),
    'countdown': ('Using the numbers ', '用数字 '),
}
_COUNTDOWN_MAKE = (', make ', ' 凑出 ')
# Words that open the first step and the later steps; the sentence end.
_STEP_WORDS = {'en': ('first', 'then', '.'), 'zh': ('首先', '然后', '。')}
DIRECT_THOUGHTS = {'en': ('I know this .', 'This one is easy .', 'No work needed .'),
                   'zh': ('我知道 。', '这题很简单 。', '不用算 。')}
NO_FORMAT = {'en': ' The answer is {answer} .', 'zh': ' 答案是 {answer} 。'}


def _check(language: str) -> None:
  if language not in LANGUAGES:
    raise ValueError(f'language {language!r} (data.languages); supported: {LANGUAGES}')


def localize(example: Example, language: str) -> Example:
  """`example` with its question phrased in `language` and the `language` field set."""
  _check(language)
  if language == example.language:
    return example
  if example.language != 'en':
    raise ValueError(f'localize() starts from English questions, got {example.language!r}')
  if example.task not in _QUESTION_PREFIXES:
    raise ValueError(f'data.languages: task {example.task!r} has no {language!r} phrasing; '
                     f'tasks with one: {sorted(_QUESTION_PREFIXES)}')
  english, chinese = _QUESTION_PREFIXES[example.task]
  if not example.question.startswith(english):
    raise ValueError(f'unexpected {example.task} question {example.question!r}')
  rest = example.question[len(english):]
  if example.task == 'countdown':
    rest = rest.replace(_COUNTDOWN_MAKE[0], _COUNTDOWN_MAKE[1])
  return dataclasses.replace(example, question=chinese + rest, language=language)


def cot_steps(cot: str) -> list[str]:
  """The steps of a task's chain of thought, each without its closing ' .'."""
  return [s.strip() for s in re.split(r'\s\.(?:\s|$)', cot) if s.strip()]


def render_cot(cot: str, language: str, switch_at: int | None = None) -> str:
  """The chain of thought in `language`; from step `switch_at` on in the other language."""
  _check(language)
  steps = cot_steps(cot)
  other = 'zh' if language == 'en' else 'en'
  if switch_at is None and language == 'en':
    return cot  # the task's own English form, unchanged
  parts = []
  for i, step in enumerate(steps):
    lang = other if switch_at is not None and i >= switch_at else language
    first, then, end = _STEP_WORDS[lang]
    if lang == 'en' == language:  # the prompt's own English: the task's form
      parts.append(f'{step} .')
    else:
      parts.append(f'{first if i == 0 else then} {step} {end}')
  return ' '.join(parts)


def normalised_probs(language_probs: Mapping[str, float]) -> tuple[list[str], list[float]]:
  return base.normalised_probs(language_probs, LANGUAGES, 'data.languages')


def assign_languages(examples: Sequence[Example], language_probs: Mapping[str, float],
                     seed: int) -> list[Example]:
  """Each example phrased in a language drawn with `language_probs`; the draw is a function of
  (seed, task, question), so an example keeps its language in every split and run."""
  languages, probs = normalised_probs(language_probs)
  if languages == ['en']:
    return list(examples)
  return [localize(ex, random.Random(f'{seed}:language:{ex.task}:{ex.question}').choices(
      languages, probs)[0]) for ex in examples]
