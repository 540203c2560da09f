"""Language consistency (DeepSeek-R1 sec. 2.3.3): the fraction of the chain of thought's
words that are in the target language, judged by script."""

from __future__ import annotations

import re

import numpy as np

from r1jax.rewards.base import RewardBatch, register
from r1jax.rewards.format import _with_prompt_tag

_LETTER_RUN = re.compile(r'[^\W\d_]+')
LANGUAGE_SCRIPTS = {'en': 'latin', 'zh': 'han'}


def _script(ch: str) -> str:
  o = ord(ch)
  if (0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0xF900 <= o <= 0xFAFF
      or 0x20000 <= o <= 0x2FFFF):
    return 'han'
  if o < 0x250 or 0x1E00 <= o <= 0x1EFF:
    return 'latin'
  return 'other'


def words_by_script(text: str) -> dict[str, int]:
  """Word counts per script: a Han character is one word (Chinese has no spaces), a run
  of letters of another script is one word; digits and symbols are not words, and neither is
  a lone ASCII letter (a variable: the x of '求 x' or '3x + 1', in either language)."""
  counts = {'latin': 0, 'han': 0, 'other': 0}
  for run in _LETTER_RUN.findall(text):
    start = 0
    for end in range(1, len(run) + 1):
      script = _script(run[start])
      if end < len(run) and script != 'han' and _script(run[end]) == script:
        continue  # the segment of one non-Han script goes on
      segment = run[start:end]
      if not (len(segment) == 1 and segment.isascii()):
        counts[script] += 1
      start = end
  return counts


def think_text(completion: str) -> str | None:
  """Text inside <think>...</think> (to the end if unclosed); None without <think>."""
  start = completion.find('<think>')
  if start < 0:
    return None
  start += len('<think>')
  end = completion.find('</think>', start)
  return completion[start:] if end < 0 else completion[start:end]


def language_consistency_score(completion: str, language: str = 'en') -> float:
  """Fraction in [0, 1] of CoT words in `language`'s script; 1.0 for a CoT with no words
  (only numbers and symbols), 0.0 when there is no <think> block."""
  if language not in LANGUAGE_SCRIPTS:
    raise ValueError(f'target_language={language!r}; supported: {sorted(LANGUAGE_SCRIPTS)}')
  cot = think_text(completion)
  if cot is None:
    return 0.0
  counts = words_by_script(cot)
  total = sum(counts.values())
  return 1.0 if total == 0 else counts[LANGUAGE_SCRIPTS[language]] / total


@register('language_consistency')
def language_consistency(batch: RewardBatch, target_language: str = 'en') -> np.ndarray:
  """float32 [N]; metadata['language'] overrides `target_language` per example. A `<think>`
  that the prompt opens (the template ends with it) counts as the completion's own."""
  return np.asarray([
      language_consistency_score(_with_prompt_tag(p, c), m.get('language', target_language))
      for p, c, m in zip(batch.prompts, batch.completions, batch.metadata)], np.float32)


def mixed_language(completion: str, language: str) -> bool:
  """Whether the <think> block has words outside `language`'s script (language mixing);
  single letters are variables ('x'), not words."""
  cot = think_text(completion)
  if cot is None:
    return False
  counts = words_by_script(re.sub(r'\b[A-Za-z]\b', ' ', cot))
  return sum(counts.values()) > counts[LANGUAGE_SCRIPTS[language]]
