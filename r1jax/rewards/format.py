"""Format rewards for the R1 template `<think> ... </think> <answer> ... </answer>`."""

from __future__ import annotations

import re

import numpy as np

from r1jax.rewards.base import RewardBatch, register

_TAGS = ('<think>', '</think>', '<answer>', '</answer>')
_STRICT = re.compile(r'\s*<think>(.*?)</think>\s*<answer>(.*?)</answer>\s*', re.S)


def _with_prompt_tag(prompt: str, completion: str) -> str:
  """Templates that end the prompt with '<think>' leave it out of the completion."""
  return '<think>' + completion if prompt.rstrip().endswith('<think>') else completion


def format_strict_score(text: str) -> float:
  """1.0 iff `text` is exactly <think>...</think> then <answer>...</answer> (whitespace
  around allowed), each tag once, and the answer is not empty; else 0.0."""
  m = _STRICT.fullmatch(text)
  if m is None or not m.group(2).strip():
    return 0.0
  return float(all(text.count(tag) == 1 for tag in _TAGS))


def format_soft_score(text: str) -> float:
  """Partial credit in [0, 1]: 0.25 per tag present exactly once; capped at 0.5 when the
  four tags are out of order."""
  score = 0.25 * sum(text.count(tag) == 1 for tag in _TAGS)
  if score == 1.0 and not (text.index('<think>') < text.index('</think>')
                           < text.index('<answer>') < text.index('</answer>')):
    score = 0.5
  return score


@register('format')
def format_reward(batch: RewardBatch) -> np.ndarray:
  """Strict R1 template, float32 [N] of 1.0/0.0."""
  return np.asarray([format_strict_score(_with_prompt_tag(p, c))
                     for p, c in zip(batch.prompts, batch.completions)], np.float32)


@register('format_soft')
def format_soft_reward(batch: RewardBatch) -> np.ndarray:
  """Tag counting, float32 [N] in {0, 0.25, 0.5, 0.75, 1}."""
  return np.asarray([format_soft_score(_with_prompt_tag(p, c))
                     for p, c in zip(batch.prompts, batch.completions)], np.float32)


def repetition_ratio(text, n: int) -> float:
  """Share of the text's word n-grams that repeat an earlier one (0 = no repeats; a loop
  like '12 . 12 . 12 . ...' is close to 1). `text` may also be a sequence of words or token
  ids (partial rollouts check token ids, train/partial.py)."""
  words = text.split() if isinstance(text, str) else list(text)
  grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
  return 1.0 - len(set(grams)) / len(grams) if grams else 0.0
