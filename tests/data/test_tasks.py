"""Task generators: deterministic, correct gold answers and CoT, disjoint train/held-out."""

import random
from fractions import Fraction

import pytest

from r1jax.data.tasks import TASKS, Example, get_task, make_examples, split_of

ALL = sorted(TASKS)


def _eval_chain(cot: str) -> int:
  """Checks every 'a op b = c .' step of a CoT and returns the last result."""
  value = None
  for step in cot.split(' . '):
    a, op, b, _, c = step.rstrip(' .').split()
    a, b, c = int(a), int(b), int(c)
    assert value is None or a == value, cot
    assert {'+': a + b, '-': a - b, '*': a * b, '/': a / b}[op] == c, cot
    value = c
  return value


def test_registry_and_unknown_name():
  assert set(ALL) >= {'arithmetic', 'countdown', 'linear_equation'}
  with pytest.raises(ValueError, match='arithmetic'):
    get_task('sudoku')


@pytest.mark.parametrize('name', ALL)
def test_generator_deterministic_by_seed(name):
  task = get_task(name)
  for d in task.difficulties:
    a = [task.generate(random.Random(7), d) for _ in range(3)]
    b = [task.generate(random.Random(7), d) for _ in range(3)]
    assert a == b


def test_make_examples_deterministic_and_interleaved():
  kw = dict(task_names=ALL, num=60, seed=3, difficulties=[1, 2, 3])
  a, b = make_examples(split='train', **kw), make_examples(split='train', **kw)
  assert a == b
  assert make_examples(split='train', **{**kw, 'seed': 4}) != a
  assert [(e.task, e.difficulty) for e in a[:3 * len(ALL)]] == [(t, d) for t in ALL
                                                                for d in (1, 2, 3)]


def test_train_and_heldout_never_overlap():
  kw = dict(task_names=ALL, num=3000, difficulties=[1, 2, 3])
  train = {(e.task, e.question) for e in make_examples(split='train', seed=0, **kw)}
  heldout = {(e.task, e.question) for e in make_examples(split='heldout', seed=1, **kw)}
  assert not train & heldout
  assert all(split_of(t, q) == 'heldout' for t, q in heldout)
  assert all(split_of(t, q) == 'train' for t, q in train)


def test_heldout_fraction_of_problem_space():
  rng = random.Random(0)
  for task in TASKS.values():
    qs = {task.generate(rng, 2).question for _ in range(3000)}
    frac = sum(split_of(task.name, q) == 'heldout' for q in qs) / len(qs)
    assert 0.10 < frac < 0.20, (task.name, frac)


def test_small_space_repeats_within_split_only():
  # linear_equation difficulty 1 has 4*9*19 = 684 problems in all, so 1500 must repeat.
  ex = make_examples(['linear_equation'], 'heldout', 1500, 0, [1])
  assert len({e.question for e in ex}) < 200
  assert all(split_of(e.task, e.question) == 'heldout' for e in ex)


def test_difficulty_validation():
  with pytest.raises(ValueError, match='data.difficulties'):
    make_examples(['arithmetic'], 'train', 3, 0, [9])


@pytest.mark.parametrize('difficulty', [1, 2, 3])
def test_arithmetic_gold(difficulty):
  for e in make_examples(['arithmetic'], 'train', 200, 0, [difficulty]):
    expr = e.question.removeprefix('Compute ')
    assert str(_eval_chain(e.cot)) == e.answer == str(eval(expr))  # trusted, generated text
    if difficulty == 1:
      assert len(e.cot.split(' . ')) == 2 and all(int(n) < 20 for n in expr.split()[::2])


@pytest.mark.parametrize('difficulty', [1, 2, 3])
def test_countdown_gold(difficulty):
  for e in make_examples(['countdown'], 'train', 200, 0, [difficulty]):
    assert _eval_chain(e.cot) == e.target
    assert eval(e.answer) == e.target  # trusted, generated text
    used = sorted(int(t) for t in e.answer.split() if t.isdigit())
    assert tuple(used) == e.numbers == tuple(sorted(e.numbers))
    assert e.question == f'Using the numbers {", ".join(map(str, e.numbers))}, make {e.target}'


@pytest.mark.parametrize('difficulty', [1, 2, 3])
def test_linear_equation_gold(difficulty):
  for e in make_examples(['linear_equation'], 'train', 200, 0, [difficulty]):
    lhs, rhs = e.question.removeprefix('Solve for x: ').split(' = ')
    x = Fraction(e.answer)
    side = lambda s: eval(s.replace(' x', ' * x'), {'x': x})  # trusted, generated text
    assert side(lhs) == side(rhs), e
    assert str(x) == e.answer  # reduced, '-2/7' or '3'
    assert e.cot.startswith(f'{lhs} = {rhs} .')


def test_examples_match_the_documented_style():
  ex = get_task('linear_equation').generate(random.Random(0), 1)
  assert ex.question.startswith('Solve for x: ') and ex.cot.endswith(' .')
  e = Example('linear_equation', 'Solve for x: 3 x + 4 = 9', '5/3',
              '3 x + 4 = 9 . 3 x = 9 - 4 = 5 . x = 5 / 3 .', 1)
  assert e.metadata() == dict(task='linear_equation', answer='5/3', difficulty=1, numbers=(),
                              target=0, language='en')
  assert Example.from_record(e.to_record()) == e
