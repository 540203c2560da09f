"""Countdown: reach `target` with + - * / and parentheses over the given numbers.

The answer expression is parsed by a tiny recursive-descent parser over exact Fractions
(never eval): integer literals, + - * /, parentheses, at most MAX_EXPR_CHARS characters
and MAX_DEPTH nesting. An optional trailing '= target' is accepted.
"""

from __future__ import annotations

import collections
import re
from fractions import Fraction

import numpy as np

from r1jax.rewards.base import RewardBatch, register
from r1jax.rewards.math import extract_answer

MAX_EXPR_CHARS = 200
MAX_DEPTH = 20
_TOKEN = re.compile(r'\s*(\d+|[-+*/()])')


class _Invalid(ValueError):
  pass


def evaluate_arithmetic(expr: str) -> tuple[Fraction, list[int]]:
  """(exact value, integer literals used) of an arithmetic expression; ValueError if it is
  outside the grammar, too long/deep, or divides by zero. No unary minus."""
  expr = expr.replace('\u00d7', '*').replace('\u00f7', '/').replace('\\times', '*') \
             .replace('\\cdot', '*').replace('\\div', '/').strip()
  if not expr or len(expr) > MAX_EXPR_CHARS:
    raise _Invalid('empty or too long')
  tokens, pos = [], 0
  while pos < len(expr):
    m = _TOKEN.match(expr, pos)
    if m is None:
      if expr[pos:].strip() == '':
        break
      raise _Invalid(f'unexpected {expr[pos]!r}')
    tokens.append(m.group(1))
    pos = m.end()
  literals, i = [], 0

  def peek():
    return tokens[i] if i < len(tokens) else None

  def take():
    nonlocal i
    i += 1
    return tokens[i - 1]

  def expression(depth):
    if depth > MAX_DEPTH:
      raise _Invalid('too deep')
    value = term(depth)
    while peek() in ('+', '-'):
      value = value + term(depth) if take() == '+' else value - term(depth)
    return value

  def term(depth):
    value = factor(depth)
    while peek() in ('*', '/'):
      op, rhs = take(), factor(depth)
      if op == '/' and rhs == 0:
        raise _Invalid('division by zero')
      value = value * rhs if op == '*' else value / rhs
    return value

  def factor(depth):
    tok = take() if peek() is not None else None
    if tok is not None and tok.isdigit():
      literals.append(int(tok))
      return Fraction(int(tok))
    if tok == '(':
      value = expression(depth + 1)
      if peek() != ')':
        raise _Invalid('unbalanced parentheses')
      take()
      return value
    raise _Invalid(f'unexpected {tok!r}')

  value = expression(0)
  if i != len(tokens):
    raise _Invalid('trailing tokens')
  return value, literals


def countdown_score(answer: str | None, numbers: list[int], target: int,
                    use_numbers: str = 'exactly') -> float:
  """1.0 iff `answer` evaluates to `target` and uses the given numbers `use_numbers`
  ('exactly' once each, or 'at_most' once each); else 0.0."""
  if use_numbers not in ('exactly', 'at_most'):
    raise ValueError(f"countdown_numbers={use_numbers!r}; use 'exactly' or 'at_most'")
  if answer is None:
    return 0.0
  lhs, _, rhs = answer.partition('=')
  try:
    if rhs.strip() and Fraction(rhs.strip()) != target:
      return 0.0
    value, literals = evaluate_arithmetic(lhs)
  except (ValueError, ZeroDivisionError):
    return 0.0
  used, given = collections.Counter(literals), collections.Counter(int(n) for n in numbers)
  if use_numbers == 'exactly' and used != given:
    return 0.0
  if any(used[n] > given[n] for n in used):
    return 0.0
  return float(value == target)


@register('countdown')
def countdown_reward(batch: RewardBatch, answer_source: str = 'auto',
                     countdown_numbers: str = 'exactly') -> np.ndarray:
  """float32 [N]; needs metadata 'numbers' and 'target'."""
  out = np.zeros(len(batch), np.float32)
  for i, (c, m) in enumerate(zip(batch.completions, batch.metadata)):
    if 'numbers' not in m or 'target' not in m:
      raise ValueError(f"countdown reward needs metadata 'numbers' and 'target' "
                       f"(example {i} has {sorted(m)})")
    out[i] = countdown_score(extract_answer(c, answer_source), m['numbers'], m['target'],
                             countdown_numbers)
  return out
