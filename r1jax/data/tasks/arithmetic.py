"""Multi-step integer arithmetic, evaluated left to right one operation per CoT step.

  difficulty 1: 3 operands in [1, 19], + and -          "Compute 7 + 5 - 3"        -> '9'
  difficulty 2: 4 operands in [1, 49], + and -          "Compute 23 - 8 + 41 - 6"  -> '50'
  difficulty 3: 4 operands, + - and * by 2..9, brackets "Compute ( 12 + 5 ) * 3 - 9" -> '42'

All intermediate values stay non-negative. CoT: "7 + 5 = 12 . 12 - 3 = 9 ."
"""

import random

from r1jax.data.tasks.base import Example, Task

NAME = 'arithmetic'
# difficulty -> (num operands, max operand, operators); a * operand is always 2..9
LEVELS = {1: (3, 19, '+-'), 2: (4, 49, '+-'), 3: (4, 29, '+-*')}


def generate(rng: random.Random, difficulty: int) -> Example:
  num_operands, max_operand, ops = LEVELS[difficulty]
  while True:
    value = rng.randint(1, max_operand)
    expr, top_op = str(value), None  # top_op: the last operator applied to `expr`, for brackets
    steps = []
    for _ in range(num_operands - 1):
      op = rng.choice(ops)
      operand = rng.randint(2, 9) if op == '*' else rng.randint(1, max_operand)
      new = {'+': value + operand, '-': value - operand, '*': value * operand}[op]
      steps.append(f'{value} {op} {operand} = {new} .')
      if op == '*' and top_op in ('+', '-'):
        expr = f'( {expr} )'
      expr, top_op, value = f'{expr} {op} {operand}', op, new
      if value < 0:
        break
    else:
      return Example(task=NAME, question=f'Compute {expr}', answer=str(value),
                     cot=' '.join(steps), difficulty=difficulty)


TASK = Task(NAME, generate, tuple(LEVELS), 'multi-step integer arithmetic')
