"""Synthetic reasoning tasks with gold answers, worked CoT traces and a leak-free split.

  examples = make_examples(['arithmetic', 'countdown'], 'train', num=1000, seed=0,
                           difficulties=[1, 2])
"""

import itertools
import random
from typing import Sequence

from r1jax.data.tasks import arithmetic, columns, countdown, linear_equation
from r1jax.data.tasks.base import HELDOUT_FRACTION, SPLITS, Example, Task, split_of

TASKS: dict[str, Task] = {t.name: t for t in (arithmetic.TASK, countdown.TASK,
                                              linear_equation.TASK, *columns.TASKS)}

# After this many consecutive draws without a new distinct problem, a (task, difficulty) space
# counts as exhausted for the split and repeats are allowed.
_MAX_STALE_DRAWS = 2000


def get_task(name: str) -> Task:
  if name not in TASKS:
    raise ValueError(f'Unknown task {name!r} (data.tasks); known tasks: {sorted(TASKS)}')
  return TASKS[name]


def _stream(task: Task, difficulty: int, split: str, seed: int):
  """Endless distinct problems of one (task, difficulty) in one split; repeats once exhausted."""
  rng = random.Random(f'{seed}:{task.name}:{difficulty}:{split}')
  seen, stale = [], 0
  questions = set()
  while stale < _MAX_STALE_DRAWS:
    ex = task.generate(rng, difficulty)
    if ex.question in questions or split_of(ex.task, ex.question) != split:
      stale += 1
      continue
    stale = 0
    questions.add(ex.question)
    seen.append(ex)
    yield ex
  if not seen:
    raise ValueError(f'No {split} problems for task {task.name!r} difficulty {difficulty}')
  while True:  # problem space exhausted: repeat (still only this split's problems)
    yield rng.choice(seen)


def make_examples(task_names: Sequence[str], split: str, num: int, seed: int,
                  difficulties: Sequence[int]) -> list[Example]:
  """`num` examples of `split`, cycling round-robin over (task, difficulty) pairs.

  Deterministic in its arguments. A problem belongs to exactly one split (hash of its question
  text), so the train and held-out sets never share a problem whatever the seeds. Problems are
  distinct within a (task, difficulty) until its space in that split runs out.
  """
  if split not in SPLITS:
    raise ValueError(f'split must be one of {SPLITS}, got {split!r}')
  tasks = [get_task(name) for name in task_names]
  if not tasks or not difficulties:
    raise ValueError('data.tasks and data.difficulties must be non-empty')
  for task in tasks:
    for d in difficulties:
      if d not in task.difficulties:
        raise ValueError(f'data.difficulties has {d}; task {task.name!r} supports '
                         f'{task.difficulties}')
  streams = itertools.cycle([_stream(t, d, split, seed) for t in tasks for d in difficulties])
  return [next(s) for s in itertools.islice(streams, num)]


__all__ = ['Example', 'Task', 'TASKS', 'HELDOUT_FRACTION', 'SPLITS', 'get_task', 'make_examples',
           'split_of']
