"""Countdown: combine ALL the given numbers, each exactly once, with + - * / to reach a target.

  difficulty 1: 3 numbers in 1..9,  + - *     "Using the numbers 3, 5, 7, make 22" -> '3 * 5 + 7'
  difficulty 2: 4 numbers in 1..12, + - *
  difficulty 3: 4 numbers in 1..25, + - * /   (exact division only)

Every intermediate value is a positive integer and the target is at most 100. The numbers are
listed sorted in the question (the problem is the multiset, not its order). The gold answer is
one valid expression (left-to-right chain, brackets only where precedence needs them); the
reward re-checks any expression against `numbers` and `target`.
CoT: "3 * 5 = 15 . 15 + 7 = 22 ."
"""

import random

from r1jax.data.tasks.base import Example, Task

NAME = 'countdown'
# difficulty -> (how many numbers, largest number, operators)
LEVELS = {1: (3, 9, '+-*'), 2: (4, 12, '+-*'), 3: (4, 25, '+-*/')}
MAX_TARGET = 100


def _apply(op: str, x: int, y: int) -> int | None:
  if op == '+':
    return x + y
  if op == '-':
    return x - y if x > y else None
  if op == '*':
    return x * y
  return x // y if x % y == 0 else None


def generate(rng: random.Random, difficulty: int) -> Example:
  count, largest, ops = LEVELS[difficulty]
  while True:
    numbers = [rng.randint(1, largest) for _ in range(count)]
    value, expr, top_op, steps = numbers[0], str(numbers[0]), None, []
    for n in numbers[1:]:
      op = rng.choice(ops)
      new = _apply(op, value, n)
      if new is None or new > 10 * MAX_TARGET:
        break
      steps.append(f'{value} {op} {n} = {new} .')
      if op in '*/' and top_op in ('+', '-'):
        expr = f'( {expr} )'
      expr, top_op, value = f'{expr} {op} {n}', op, new
    else:
      if value <= MAX_TARGET:
        shown = ', '.join(map(str, sorted(numbers)))
        return Example(task=NAME, question=f'Using the numbers {shown}, make {value}',
                       answer=expr, cot=' '.join(steps), difficulty=difficulty,
                       numbers=tuple(sorted(numbers)), target=value)


TASK = Task(NAME, generate, tuple(LEVELS), 'reach a target with + - * / using each number once')
