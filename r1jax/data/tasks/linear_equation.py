"""Linear equations in x whose answer is a reduced fraction ('5/3', '-2/7') or an integer ('-2').

  difficulty 1: a x + b = c,      a in 2..5, b in 1..9, c in 1..19   "Solve for x: 3 x + 4 = 9"
  difficulty 2: a x +/- b = c,    a in 2..9, b in 1..19, c in -19..29
  difficulty 3: a x + b = c x + d, a != c in 1..9, b, d in 1..19     "Solve for x: 5 x + 3 = 2 x + 9"

CoT, one elementary operation per step: "3 x + 4 = 9 . 3 x = 9 - 4 = 5 . x = 5 / 3 ."
(a reducible quotient gets one more step: "x = 4 / 6 = 2 / 3 .").
"""

import math
import random

from r1jax.data.tasks.base import Example, Task

NAME = 'linear_equation'
DIFFICULTIES = (1, 2, 3)


def _signed(b: int) -> str:
  """' + 4' or ' - 4': the constant term as written after a variable term."""
  return f' + {b}' if b >= 0 else f' - {-b}'


def _divide(num: int, den: int) -> tuple[str, str]:
  """The CoT step for x = num / den (den > 0) and the answer string."""
  g = math.gcd(num, den)
  n, d = num // g, den // g
  answer = str(n) if d == 1 else f'{n}/{d}'
  reduced = str(n) if d == 1 else f'{n} / {d}'
  step = f'x = {num} / {den} .' if g == 1 and d != 1 else f'x = {num} / {den} = {reduced} .'
  return step, answer


def generate(rng: random.Random, difficulty: int) -> Example:
  if difficulty == 3:
    a, c = rng.sample(range(1, 10), 2)
    b, d = rng.randint(1, 19), rng.randint(1, 19)
    a, b, c, d = (a, b, c, d) if a > c else (c, d, a, b)  # keep the x coefficient positive
    lhs, rhs = f'{a} x + {b}', f'{c} x + {d}'
    coef, const = a - c, d - b
    steps = [f'{lhs} = {rhs} .', f'{a} x - {c} x = {d} - {b} .', f'{coef} x = {const} .']
  else:
    if difficulty == 1:
      a, b, c = rng.randint(2, 5), rng.randint(1, 9), rng.randint(1, 19)
    else:
      a, b, c = rng.randint(2, 9), rng.choice([-1, 1]) * rng.randint(1, 19), rng.randint(-19, 29)
    lhs, rhs = f'{a} x{_signed(b)}', str(c)
    coef, const = a, c - b
    undo = f'{c} - {b}' if b >= 0 else f'{c} + {-b}'
    steps = [f'{lhs} = {rhs} .', f'{a} x = {undo} = {const} .']
  step, answer = _divide(const, coef)
  steps.append(step)
  return Example(task=NAME, question=f'Solve for x: {lhs} = {rhs}', answer=answer,
                 cot=' '.join(steps), difficulty=difficulty)


TASK = Task(NAME, generate, DIFFICULTIES, 'linear equations with fraction answers')
