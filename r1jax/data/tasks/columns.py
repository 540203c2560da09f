"""Column arithmetic: the tasks where chain-of-thought pays for a ~1M-parameter model. The
direct answer needs the whole carry chain at once; each worked step is a one-digit fact.

  task  difficulty 1..5                                 question                      answer
  add   two numbers of 2..6 digits                      'Add 4 7 3 8 + 2 9 6 5'       '7703'
  sub   two numbers of 2..6 digits, first >= second     'Subtract 4 7 3 8 - 2 9 6 5'  '1773'
  mul   a number of 3..7 digits times a digit 2..9      'Multiply 4 7 3 8 x 7'        '33166'

(mul starts at 3 digits so that every level has thousands of problems.) Digits are written apart,
one word each. The project's SentencePiece tokenizer (split_digits) makes every digit its own
piece with or without the spaces, and the space before a digit is a piece of its own ('▁', '7'),
so a trace costs about 1.5 tokens per word. The gold answer is the plain integer, because that is
what the accuracy reward compares (r1jax/rewards/math.py): it accepts '7703' and '07703', while a
spaced '7 7 0 4' is read there as the product 7*7*0*4 and would match '7 7 0 3'. `verify` is
that rule.

One Example renders in each of MODES, shortest first (4738 + 2965):

  direct  'so 7 7 0 3 .'
  coarse  '3 8 + 6 5 + 0 = 0 3 carry 1 . 4 7 + 2 9 + 1 = 7 7 carry 0 . so 7 7 0 3 .'
  fine    '8 + 5 + 0 = 3 carry 1 now 3 . 3 + 6 + 1 = 0 carry 1 now 0 3 .
           7 + 9 + 1 = 7 carry 1 now 7 0 3 . 4 + 2 + 1 = 7 carry 0 now 7 7 0 3 . so 7 7 0 3 .'
  check   fine, then the inverse operation done column by column:
          '... so 7 7 0 3 . check 7 7 0 3 - 2 9 6 5 . 3 - 5 - 0 = 8 borrow 1 now 8 .
           0 - 6 - 1 = 3 borrow 1 now 3 8 . 7 - 9 - 1 = 7 borrow 1 now 7 3 8 .
           7 - 2 - 1 = 4 borrow 0 now 4 7 3 8 . so 4 7 3 8 .'

A fine step is 'x op y op carry = written carry|borrow out now R .', least significant column
first; a subtraction step reads '3 - 5 - 0 = 8 borrow 1' (3 - 5 - 0 = 8 - 10). R is the running
result, most significant digit first: the step's written digit put before the previous R (a copy
plus one digit), and at the last step of add and mul the carry out too when it is not zero (the
new leading digit: '9 + 2 + 1 = 2 carry 1 now 1 2 7 0 3 .'). The 'so' line is the last R copied,
leading zeros dropped ('... now 0 0 3 8 . so 3 8 .'), so the result is never assembled from
digits written in the reverse order (a ~1M model writes the columns right and then reverses them
wrong). A coarse step (a pair of columns, COARSE_WIDTH) has no running result. The checks: a sum
r is checked by r - b (it must give a, with no borrow left), a difference r by r + b (must give
a), both with running results; a product r by short division r / m, most significant digit
first, one step '3 3 = 7 x 4 + 5 now 0 4 .' per digit, its running quotient the digits so far
in order (must give a with remainder 0). An inverse operation catches every wrong result, so
every single-digit slip that changes the answer; a failing check says what is left over
('so 4 7 3 8 borrow 1 .', 'so 4 7 3 8 remainder 1 .').

Lengths in whitespace words (~ tokens with data.number_pieces=10), the most over many problems:

  level                     1            2            3            4            5
  digits (add, sub; mul)    2; 3         3; 4         4; 5         5; 6         6; 7
  fine   add sub mul        31 29 46     46 44 62     62 60 79     79 77 97     97 95 116
  check  add sub mul        82 65 108    115 97 141   150 131 176  187 167 213  226 205 252
  slip   add sub mul        167 134 220  232 198 286  302 264 356  376 336 430  454 412 508

`render(example, 'check', rng, slip=True)` writes a trace with a real slip: one wrong digit in
one fine step (`Slip`: the column's written digit or its carry/borrow), later steps consistent
with it (the running results hold the wrong digit too), the wrong result, the honest check
failing, 'wait .', the fine steps redone correctly from the faulty one (their running results
going on from the right one before it), the result, the check passing. The returned `masked_spans` are the
character spans in `text` of the wrong digits themselves (one digit, where the step writes it,
not its copies in running results): everything after them is right given what is on the page
(copying the carry, the running results, the 'so' line, the check, noticing), and is
what teaches a model to catch slips, so only the slip should be kept out of an SFT loss. Spans
index `text`; inside a template completion shift them by `completion.index(text)`.

  ex = r1jax.data.tasks.get_task('add').generate(random.Random(0), 3)   # 'Add 7 3 1 1 + 7 8 9 0'
  r = render(ex, 'check', random.Random(1), slip=True)
  r.text[:30], r.answer, r.masked_spans   # '1 + 0 + 0 = 9 carry 0 now 9 . ', '15201', ((12, 13),)

The words are few and fixed: WORDS, the digits, + - x / = and '.'.
"""

import dataclasses
import random
import re

from r1jax.data.tasks.base import Example, Task

# task -> (question verb, operator, {difficulty: digits of the first operand})
SPECS = {
    'add': ('Add', '+', {1: 2, 2: 3, 3: 4, 4: 5, 5: 6}),
    'sub': ('Subtract', '-', {1: 2, 2: 3, 3: 4, 4: 5, 5: 6}),
    'mul': ('Multiply', 'x', {1: 3, 2: 4, 3: 5, 4: 6, 5: 7}),
}
MULTIPLIERS = range(2, 10)  # the one-digit factor of mul
MODES = ('direct', 'coarse', 'fine', 'check')
WORDS = ('carry', 'borrow', 'remainder', 'check', 'wait', 'so', 'now')
NOW = 'now'  # the running result's word: '... carry 1 now 7 0 3 .'
WAIT = 'wait'
COARSE_WIDTH = 2  # columns per coarse step
_QUESTION = re.compile(r'(Add|Subtract|Multiply) ([0-9 ]+?) ([-+x]) ([0-9 ]+)')


@dataclasses.dataclass(frozen=True)
class Problem:
  """`a op b`; for mul, b is the one-digit factor."""
  task: str
  a: int
  b: int

  @property
  def result(self) -> int:
    return {'add': self.a + self.b, 'sub': self.a - self.b, 'mul': self.a * self.b}[self.task]


@dataclasses.dataclass(frozen=True)
class Slip:
  """One wrong digit in fine step `step` (0 = least significant column): `field` 'written' (the
  column's result digit) or 'carry' (its carry out; the borrow out for sub) becomes `value`."""
  step: int
  field: str
  value: int


@dataclasses.dataclass(frozen=True)
class Rendered:
  """A reasoning `text` (what goes between the think tags), the `answer` for the answer tags, and
  the (start, end) character spans of `text` that hold wrong digits (empty without a slip)."""
  text: str
  answer: str
  masked_spans: tuple[tuple[int, int], ...] = ()


def _spaced(n: int, width: int = 1) -> str:
  return ' '.join(str(n).zfill(width))


# ------------------------------------------------------------------------------ column steps

@dataclasses.dataclass(frozen=True)
class _Step:
  """One column (or chunk of columns) of x op y: written = (x op y op carry_in) mod 10^width."""
  op: str  # '+', '-' or 'x'
  x: int
  y: int
  carry_in: int
  written: int
  carry_out: int
  width: int

  def text(self, so_far: str | None = None) -> str:
    """The step; with `so_far` (fine steps) it ends with the running result 'now D D .'."""
    y = str(self.y) if self.op == 'x' else _spaced(self.y, self.width)
    op2 = '-' if self.op == '-' else '+'
    word = 'borrow' if self.op == '-' else 'carry'
    tail = '' if so_far is None else f' {NOW} {so_far}'
    return (f'{_spaced(self.x, self.width)} {self.op} {y} {op2} {self.carry_in} = '
            f'{_spaced(self.written, self.width)} {word} {self.carry_out}{tail} .')

  def offset(self, field: str) -> int:
    """Where the one-digit `field` of a fine (width 1) step is in `text(...)`: the written digit
    or the carry (borrow) out, never a copy of them in the running result."""
    text = self.text()
    written = text.index(' = ') + 3
    return written if field == 'written' else text.index(' ', written + 2) + 1


def _running(steps: list[_Step]) -> list[str]:
  """The running result after each fine step, most significant digit first: the step's written
  digit put before the previous running result (a copy plus one digit); the last step of '+' or
  'x' also puts its carry out, if any, in front (the new leading digit). A final borrow of '-'
  is not a digit of the result: the 'so' line says it is left over."""
  out, digits = [], ''
  for i, step in enumerate(steps):
    digits = f'{step.written} {digits}'.strip()
    if i == len(steps) - 1 and step.op != '-' and step.carry_out:
      digits = f'{step.carry_out} {digits}'
    out.append(digits)
  return out


def _columns(op: str, x: int, y: int, width: int, slip: Slip | None = None):
  """The steps of x op y column by column, and the assembled (value, carry left over).

  For '+' and 'x' the last carry leads the value and nothing is left over; for '-' the value is
  the written digits and a final borrow is left over (1 when x < y)."""
  num_digits = max(len(str(x)), len(str(y))) if op != 'x' else len(str(x))
  steps, carry, value = [], 0, 0
  for i, lo in enumerate(range(0, num_digits, width)):
    k = min(width, num_digits - lo)
    base = 10**k
    xc = x // 10**lo % base
    yc = y if op == 'x' else y // 10**lo % base
    total = {'+': xc + yc + carry, '-': xc - yc - carry, 'x': xc * yc + carry}[op]
    written, out = total % base, (int(total < 0) if op == '-' else total // base)
    if slip is not None and slip.step == i:
      written, out = ((slip.value, out) if slip.field == 'written' else (written, slip.value))
    steps.append(_Step(op, xc, yc, carry, written, out, k))
    value += written * 10**lo
    carry = out
  if op == '-':
    return steps, value, carry
  return steps, value + carry * 10**num_digits, 0


def _operator(task: str) -> str:
  return SPECS[task][1]


def _so(value: int, leftover: str = '') -> str:
  return f'so {_spaced(value)}{leftover} .'


def _check(p: Problem, result: int) -> tuple[str, bool]:
  """The inverse operation on a claimed `result`, and whether it gives back `p.a`."""
  if p.task == 'mul':
    steps, remainder, quotient, so_far = [], 0, 0, ''
    for d in str(result):
      number = remainder * 10 + int(d)
      q, remainder = divmod(number, p.b)
      quotient, so_far = quotient * 10 + q, f'{so_far} {q}'.strip()
      steps.append(f'{_spaced(number)} = {p.b} x {q} + {remainder} {NOW} {so_far} .')
    left = f' remainder {remainder}' if remainder else ''
    body = f'check {_spaced(result)} / {p.b} . ' + ' '.join(steps) + ' ' + _so(quotient, left)
    return body, remainder == 0 and quotient == p.a
  inverse = '-' if p.task == 'add' else '+'
  steps, value, borrow = _columns(inverse, result, p.b, 1)
  left = f' borrow {borrow}' if borrow else ''
  body = (f'check {_spaced(result)} {inverse} {_spaced(p.b)} . '
          + ' '.join(s.text(r) for s, r in zip(steps, _running(steps))) + ' ' + _so(value, left))
  return body, borrow == 0 and value == p.a


def check(example: Example, result: int) -> tuple[str, bool]:
  """The check a 'check' trace writes after claiming `result` (from 'check' to its 'so' line),
  and whether it passes: the inverse operation gives back the first operand, nothing left over."""
  return _check(parse(example), result)


# ------------------------------------------------------------------------------ slips

def _slipped(p: Problem, slip: Slip | None):
  return _columns(_operator(p.task), p.a, p.b, 1, slip)


def _is_slip(p: Problem, slip: Slip) -> bool:
  """Whether `slip` is one of `slips`: a changed digit in a possible range whose work still ends
  in a result (no borrow left over for sub), and a wrong one."""
  steps, _, _ = _slipped(p, None)
  if not 0 <= slip.step < len(steps) or slip.field not in ('written', 'carry'):
    return False
  right = steps[slip.step].written if slip.field == 'written' else steps[slip.step].carry_out
  choices = 10 if slip.field == 'written' else 9 if p.task == 'mul' else 2
  if slip.value == right or slip.value not in range(choices):
    return False
  _, value, leftover = _slipped(p, slip)
  return leftover == 0 and value != p.result


def slips(example: Example) -> list[Slip]:
  """Every slip the generator makes on `example`: each fine step's written digit changed to any
  other digit, its carry to any other possible carry (0..1; 0..8 for mul), where the slipped
  work still ends in a result (no borrow left over for sub) and that result is wrong."""
  p = parse(example)
  candidates = [Slip(i, field, v) for i in range(len(_slipped(p, None)[0]))
                for field in ('written', 'carry') for v in range(10)]
  return [s for s in candidates if _is_slip(p, s)]


# ------------------------------------------------------------------------------ rendering

def _fine(p: Problem, slip: Slip | None = None, start: int = 0) -> tuple[str, int, int | None]:
  """Fine steps from column `start` on, the 'so' line; the result and where the slip digit is."""
  steps, value, _ = _slipped(p, slip)
  running = _running(steps)
  parts, at, slip_at = [], 0, None
  for i, step in enumerate(steps[start:], start):
    if slip is not None and i == slip.step:
      slip_at = at + step.offset(slip.field)
    parts.append(step.text(running[i]))
    at += len(parts[-1]) + 1
  return ' '.join(parts + [_so(value)]), value, slip_at


def render(example: Example, mode: str, rng: random.Random | None = None,
           slip: bool | Slip = False) -> Rendered:
  """The reasoning of `example` in `mode` (MODES); with `slip` (True: drawn from `rng` among
  `slips(example)`, or a given `Slip`) a 'check' trace that makes the slip, catches it and
  redoes the work."""
  p = parse(example)
  if mode not in MODES:
    raise ValueError(f'Unknown column-arithmetic mode {mode!r}; known modes: {MODES}')
  if slip is not False and mode != 'check':
    raise ValueError(f'a slip needs a check to catch it: use mode="check", not {mode!r}')
  if mode == 'direct':
    return Rendered(_so(p.result), example.answer)
  if mode == 'coarse':
    steps, value, _ = _columns(_operator(p.task), p.a, p.b, COARSE_WIDTH)
    return Rendered(' '.join([s.text() for s in steps] + [_so(value)]), example.answer)
  fine, value, _ = _fine(p)
  if mode == 'fine':
    return Rendered(fine, example.answer)
  if slip is False:
    return Rendered(f'{fine} {_check(p, value)[0]}', example.answer)
  if slip is True:
    if rng is None:
      raise ValueError('render(..., slip=True) draws the slip from `rng`; pass a random.Random')
    slip = rng.choice(slips(example))
  elif not _is_slip(p, slip):
    raise ValueError(f'{slip} is not a slip the generator makes on {example.question!r}; '
                     f'see slips(example)')
  wrong, wrong_value, slip_at = _fine(p, slip)
  failed, passed = _check(p, wrong_value)[0], _check(p, value)[0]
  redo = _fine(p, start=slip.step)[0]
  text = f'{wrong} {failed} {WAIT} . {redo} {passed}'
  return Rendered(text, example.answer, ((slip_at, slip_at + 1),))


def verify(example: Example, answer_text: str) -> bool:
  """Whether `answer_text` (the answer tags' content) is right: a plain run of digits, leading
  zeros allowed, equal to the gold. The accuracy reward uses exactly this rule for these tasks."""
  return answer_matches(answer_text, example.answer)


def answer_matches(answer_text: str | None, gold: str) -> bool:
  """`answer_text` is a plain run of digits (leading zeros allowed) equal to `gold`; a spaced
  '7 7 0 3' is not an integer here (a math verifier would read it as a product)."""
  m = re.fullmatch(r'\s*([0-9]+)\s*', answer_text or '')
  return m is not None and int(m.group(1)) == int(gold)


# ------------------------------------------------------------------------------ problems

def parse(example: Example) -> Problem:
  """The problem of a column-arithmetic example, read back from its question."""
  m = _QUESTION.fullmatch(example.question)
  if example.task not in SPECS or m is None:
    raise ValueError(f'not a column-arithmetic question: {example.task!r} {example.question!r}')
  verb, a, op, b = m.groups()
  if (verb, op) != SPECS[example.task][:2]:
    raise ValueError(f'task {example.task!r} does not match {example.question!r}')
  return Problem(example.task, int(a.replace(' ', '')), int(b.replace(' ', '')))


def space_size(task: str, difficulty: int) -> int:
  """How many distinct problems `task` has at `difficulty`."""
  n = SPECS[task][2][difficulty]
  numbers = 9 * 10**(n - 1)  # n-digit numbers
  return {'add': numbers**2, 'sub': numbers * (numbers + 1) // 2,
          'mul': numbers * len(MULTIPLIERS)}[task]


def _generator(task: str):
  verb, op, levels = SPECS[task]

  def generate(rng: random.Random, difficulty: int) -> Example:
    n = levels[difficulty]
    a = rng.randint(10**(n - 1), 10**n - 1)
    if task == 'mul':
      b = rng.choice(MULTIPLIERS)
    else:
      b = rng.randint(10**(n - 1), 10**n - 1)
      if task == 'sub' and a < b:
        a, b = b, a
    p = Problem(task, a, b)
    question = f'{verb} {_spaced(a)} {op} {_spaced(b)}'
    return Example(task=task, question=question, answer=str(p.result),
                   cot=_fine(p)[0], difficulty=difficulty)

  return generate


_DESCRIPTIONS = {'add': 'column-wise addition of two multi-digit numbers',
                 'sub': 'column-wise subtraction of two multi-digit numbers',
                 'mul': 'column-wise multiplication of a multi-digit number by one digit'}
TASKS = tuple(Task(name, _generator(name), tuple(SPECS[name][2]), _DESCRIPTIONS[name])
              for name in SPECS)
