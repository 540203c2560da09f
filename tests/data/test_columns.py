"""Column arithmetic (r1jax/data/tasks/columns.py): gold answers that the reward verifies, traces
whose every step is a true one-digit fact, checks that catch every slip, masks on the slip only.

The traces are read back here with a parser of their own, so a renderer that writes a wrong step,
breaks the carry chain or states a check it did not compute fails these tests."""
import random
import re

import pytest

from r1jax import rewards
from r1jax.data.tasks import TASKS, Example, columns, get_task, make_examples, split_of
from r1jax.data.templates import get_template

NAMES = ('add', 'sub', 'mul')
LEVELS = [(name, d) for name in NAMES for d in get_task(name).difficulties]
_OP = {'add': '+', 'sub': '-', 'mul': 'x'}
_INVERSE = {'add': '-', 'sub': '+', 'mul': '/'}


def _examples(name, difficulty, num, seed=0):
  rng = random.Random(f'{seed}:{name}:{difficulty}')
  return [get_task(name).generate(rng, difficulty) for _ in range(num)]


def _operands(ex):
  _, rest = ex.question.split(' ', 1)
  a, b = rest.split(f' {_OP[ex.task]} ')
  return int(a.replace(' ', '')), int(b.replace(' ', ''))


def _number(tokens):
  assert tokens and all(re.fullmatch('[0-9]', t) for t in tokens), tokens
  return int(''.join(tokens))


# ------------------------------------------------------------------- reading a trace back

def _steps(text):
  """[(tokens, start, end)] per ' .'-ended step, with the character span of the step."""
  out, tokens, start = [], [], None
  for m in re.finditer(r'\S+', text):
    if start is None:
      start = m.start()
    if m.group() == '.':
      out.append((tokens, start, m.end()))
      tokens, start = [], None
    else:
      tokens.append(m.group())
  assert not tokens, f'trace does not end with " .": {text!r}'
  return out


def _running(tokens):
  """Splits a step's running result 'now D D ...' off its end: (tokens, digits or None)."""
  if 'now' not in tokens:
    return tokens, None
  k = tokens.index('now')
  digits = tokens[k + 1:]
  _number(digits)
  return tokens[:k], digits


def _column(tokens):
  """A column step 'X op Y op c = W word o [now D ...]' -> dict, with whether it is a true
  fact and its running result (None without one)."""
  tokens, so_far = _running(tokens)
  eq = tokens.index('=')
  lhs, rhs = tokens[:eq], tokens[eq + 1:]
  ops = [i for i, t in enumerate(lhs) if t in '+-x']
  assert len(ops) == 2, tokens
  op, op2 = lhs[ops[0]], lhs[ops[1]]
  x, y = lhs[:ops[0]], lhs[ops[0] + 1:ops[1]]
  (c,) = lhs[ops[1] + 1:]
  word, out = rhs[-2:]
  w = rhs[:-2]
  assert (op2, word) == (('-', 'borrow') if op == '-' else ('+', 'carry')), tokens
  assert len(x) == len(w) and (len(y) == len(w) if op != 'x' else len(y) == 1), tokens
  X, Y, C, W, O = _number(x), _number(y), int(c), _number(w), int(out)
  base = 10**len(w)
  lhs_value = {'+': X + Y + C, '-': X - Y - C, 'x': X * Y + C}[op]
  rhs_value = W - base * O if op == '-' else W + base * O
  return dict(op=op, x=X, y=Y, carry_in=C, written=W, carry_out=O, width=len(w), so_far=so_far,
              true=lhs_value == rhs_value and (O in (0, 1) if op != 'x' else 0 <= O <= 8))


def _division(tokens):
  """'N = m x q + r now Q ...' -> dict; true when N = m * q + r with 0 <= r < m and q one
  digit."""
  tokens, so_far = _running(tokens)
  assert so_far is not None, tokens
  eq = tokens.index('=')
  n, (m, x, q, plus, r) = _number(tokens[:eq]), tokens[eq + 1:]
  assert (x, plus) == ('x', '+'), tokens
  m, q, r = int(m), int(q), int(r)
  return dict(n=n, m=m, q=q, r=r, so_far=so_far, true=n == m * q + r and 0 <= r < m and 0 <= q <= 9)


def _so(tokens):
  """'so D [borrow|remainder k]' -> (value, leftover, the digits D)."""
  assert tokens[0] == 'so', tokens
  if len(tokens) > 2 and tokens[-2] in ('borrow', 'remainder'):
    assert int(tokens[-1]) != 0, 'a zero left over is never written'
    return _number(tokens[1:-2]), int(tokens[-1]), tokens[1:-2]
  return _number(tokens[1:]), 0, tokens[1:]


def _running_chain(steps, so, previous=()):
  """Every step carries its running result: its written digit put before the previous running
  result (`previous` before the first step), the last step's carry out too when it is not zero
  ('+', 'x'); the 'so' line is the last running result, leading zeros dropped. For the short
  division of a mul check: each quotient digit put after the previous ones."""
  previous = list(previous)
  for i, s in enumerate(steps):
    if 'q' in s:
      expected = previous + [str(s['q'])]
    else:
      expected = [str(s['written'])] + previous
      if i == len(steps) - 1 and s['op'] != '-' and s['carry_out']:
        expected = [str(s['carry_out'])] + expected
    assert s['so_far'] == expected, (i, s, previous)
    previous = expected
  digits = previous[:-1]
  while digits and digits[0] == '0':
    digits = digits[1:]
  assert so[2] == digits + previous[-1:], (so, previous)


def _chain(steps, op, start_column=0, carry_in=0):
  """Checks the carry chain of consecutive column steps; returns {column: written digits},
  the last carry out and the number of columns covered."""
  digits, column = {}, start_column
  for s in steps:
    assert s['op'] == op and s['carry_in'] == carry_in, (s, carry_in)
    digits[column] = s
    carry_in, column = s['carry_out'], column + s['width']
  return digits, carry_in, column


def _assembled(digits, op, last_carry, num_columns):
  value = sum(s['written'] * 10**col for col, s in digits.items())
  if op == '-':
    return value, last_carry
  return value + last_carry * 10**num_columns, 0


def _operand(digits, key):
  return sum(s[key] * 10**col for col, s in digits.items())


def _read(text):
  """The trace as sections: [('work', steps, so), ('check', header, steps, so), ('wait',) ...]."""
  sections, i, steps = [], 0, _steps(text)
  while i < len(steps):
    tokens = steps[i][0]
    if tokens == ['wait']:
      sections.append(('wait',))
      i += 1
      continue
    header = None
    if tokens[0] == 'check':
      header, i = tokens[1:], i + 1
    body = []
    while steps[i][0][0] != 'so':
      body.append(steps[i])
      i += 1
    sections.append(('check' if header else 'work', header, body, _so(steps[i][0])))
    i += 1
  return sections


def _check_section(section, task, claimed, b):
  """Checks an inverse-operation section on `claimed`; returns (its value, leftover)."""
  kind, header, body, so = section
  assert kind == 'check'
  op = _INVERSE[task]
  k = header.index(op)
  assert (_number(header[:k]), _number(header[k + 1:])) == (claimed, b), header
  if task == 'mul':
    steps = [_division(t) for t, _, _ in body]
    assert all(s['true'] and s['m'] == b for s in steps), body
    remainder, quotient = 0, 0
    for d, s in zip(str(claimed), steps, strict=True):
      assert s['n'] == remainder * 10 + int(d)
      quotient, remainder = quotient * 10 + s['q'], s['r']
    assert so[:2] == (quotient, remainder)
    _running_chain(steps, so)
    return so[:2]
  steps = [_column(t) for t, _, _ in body]
  assert all(s['true'] and s['width'] == 1 for s in steps), body
  digits, last, columns_ = _chain(steps, op)
  assert (_operand(digits, 'x'), _operand(digits, 'y')) == (claimed, b)
  assert columns_ == max(len(str(claimed)), len(str(b)))
  assert so[:2] == _assembled(digits, op, last, columns_), (so, body)
  _running_chain(steps, so)
  return so[:2]


def _work_section(section, task, a, b, width):
  """Checks the forward computation; returns (value, steps, false steps)."""
  kind, _, body, so = section
  assert kind == 'work'
  steps = [_column(t) for t, _, _ in body]
  assert all(s['width'] == width for s in steps[:-1]) and steps[-1]['width'] <= width
  digits, last, columns_ = _chain(steps, _OP[task])
  assert (_operand(digits, 'x'), _operand(digits, 'y') if task != 'mul' else b) == (a, b)
  assert so[:2] == _assembled(digits, _OP[task], last, columns_), (so, body)
  if width == 1:
    _running_chain(steps, so)
  else:  # coarse steps carry no running result
    assert all(s['so_far'] is None for s in steps), body
  false = [(s, body[i]) for i, s in enumerate(steps) if not s['true']]
  return so[0], steps, false


# ------------------------------------------------------------------------------ the tests

def test_registered_with_levels_and_modes():
  assert {n: TASKS[n].difficulties for n in NAMES} == {n: (1, 2, 3, 4, 5) for n in NAMES}
  assert columns.MODES == ('direct', 'coarse', 'fine', 'check')
  ex = _examples('add', 3, 1)[0]
  assert ex.cot == columns.render(ex, 'fine').text  # code that reads `cot` gets the fine trace
  with pytest.raises(ValueError, match='known modes'):
    columns.render(ex, 'verbose')
  with pytest.raises(ValueError, match='mode="check"'):
    columns.render(ex, 'fine', random.Random(0), slip=True)
  with pytest.raises(ValueError, match='not a slip'):
    columns.render(ex, 'check', slip=columns.Slip(0, 'written', int(ex.answer[-1])))
  with pytest.raises(ValueError, match='column-arithmetic'):
    columns.parse(get_task('arithmetic').generate(random.Random(0), 1))


def test_the_documented_example():
  ex = Example('add', 'Add 4 7 3 8 + 2 9 6 5', '7703', '', 3)
  assert columns.render(ex, 'direct').text == 'so 7 7 0 3 .'
  assert columns.render(ex, 'coarse').text == (
      '3 8 + 6 5 + 0 = 0 3 carry 1 . 4 7 + 2 9 + 1 = 7 7 carry 0 . so 7 7 0 3 .')
  fine = ('8 + 5 + 0 = 3 carry 1 now 3 . 3 + 6 + 1 = 0 carry 1 now 0 3 . '
          '7 + 9 + 1 = 7 carry 1 now 7 0 3 . 4 + 2 + 1 = 7 carry 0 now 7 7 0 3 . '
          'so 7 7 0 3 .')
  assert columns.render(ex, 'fine').text == fine
  assert columns.render(ex, 'check').text == fine + (
      ' check 7 7 0 3 - 2 9 6 5 . 3 - 5 - 0 = 8 borrow 1 now 8 . '
      '0 - 6 - 1 = 3 borrow 1 now 3 8 . 7 - 9 - 1 = 7 borrow 1 now 7 3 8 . '
      '7 - 2 - 1 = 4 borrow 0 now 4 7 3 8 . so 4 7 3 8 .')
  # a new leading digit (the last carry) is in the last running result; a leading zero of a
  # running result is dropped in the 'so' line
  ex = Example('add', 'Add 9 7 3 8 + 2 9 6 5', '12703', '', 3)
  assert columns.render(ex, 'check').text.endswith(
      '9 + 2 + 1 = 2 carry 1 now 1 2 7 0 3 . so 1 2 7 0 3 . check 1 2 7 0 3 - 2 9 6 5 . '
      '3 - 5 - 0 = 8 borrow 1 now 8 . 0 - 6 - 1 = 3 borrow 1 now 3 8 . '
      '7 - 9 - 1 = 7 borrow 1 now 7 3 8 . 2 - 2 - 1 = 9 borrow 1 now 9 7 3 8 . '
      '1 - 0 - 1 = 0 borrow 0 now 0 9 7 3 8 . so 9 7 3 8 .')
  ex = Example('mul', 'Multiply 4 7 3 8 x 7', '33166', '', 2)
  assert columns.render(ex, 'check').text == (
      '8 x 7 + 0 = 6 carry 5 now 6 . 3 x 7 + 5 = 6 carry 2 now 6 6 . '
      '7 x 7 + 2 = 1 carry 5 now 1 6 6 . 4 x 7 + 5 = 3 carry 3 now 3 3 1 6 6 . '
      'so 3 3 1 6 6 . check 3 3 1 6 6 / 7 . 3 = 7 x 0 + 3 now 0 . '
      '3 3 = 7 x 4 + 5 now 0 4 . 5 1 = 7 x 7 + 2 now 0 4 7 . '
      '2 6 = 7 x 3 + 5 now 0 4 7 3 . 5 6 = 7 x 8 + 0 now 0 4 7 3 8 . so 4 7 3 8 .')
  ex = Example('sub', 'Subtract 4 7 3 8 - 4 7 0 0', '38', '', 3)
  assert columns.render(ex, 'fine').text.endswith(
      '7 - 7 - 0 = 0 borrow 0 now 0 3 8 . 4 - 4 - 0 = 0 borrow 0 now 0 0 3 8 . '
      'so 3 8 .')


@pytest.mark.parametrize('name,difficulty', LEVELS)
def test_gold_verifies_and_a_one_digit_wrong_answer_does_not(name, difficulty):
  """`verify` and the accuracy reward on the tagged answer agree: gold passes, a changed digit
  fails, and so does a spaced answer (the reward would read '7 7 0 3' as a product)."""
  template = get_template('r1_zero')
  rng = random.Random(difficulty)
  answers, metadata, expected = [], [], []
  for ex in _examples(name, difficulty, 60):
    assert ex.answer == str(int(ex.answer)) == str(columns.parse(ex).result)
    a, b = _operands(ex)
    assert int(ex.answer) == {'add': a + b, 'sub': a - b, 'mul': a * b}[name]
    i = rng.randrange(len(ex.answer))
    wrong = ex.answer[:i] + rng.choice([d for d in '0123456789' if d != ex.answer[i]]) \
        + ex.answer[i + 1:]
    for answer, right in ((ex.answer, True), (wrong, False), ('0' + ex.answer, True),
                          (' '.join(ex.answer), len(ex.answer) == 1)):
      assert columns.verify(ex, answer) == right, (ex.question, answer)
      answers.append(template.completion(columns.render(ex, 'fine').text, answer))
      metadata.append(ex.metadata())
      expected.append(right)
  batch = rewards.RewardBatch(answers, [''] * len(answers), metadata)
  got = rewards.compute_rewards(batch, {'accuracy': 1.0})[1]['accuracy']
  assert list(got == 1.0) == expected


@pytest.mark.parametrize('name,difficulty', LEVELS)
def test_traces_are_true_column_facts_that_give_the_gold(name, difficulty):
  for ex in _examples(name, difficulty, 40):
    a, b = _operands(ex)
    gold = int(ex.answer)
    for mode, width in (('coarse', columns.COARSE_WIDTH), ('fine', 1), ('check', 1)):
      sections = _read(columns.render(ex, mode).text)
      value, steps, false = _work_section(sections[0], name, a, b, width)
      assert value == gold and not false, (mode, ex.question)
      expected_steps = -(-len(str(a)) // width)
      assert len(steps) == expected_steps
      if mode == 'check':
        assert len(sections) == 2
        assert _check_section(sections[1], name, gold, b) == (a, 0)
      else:
        assert len(sections) == 1
    assert _read(columns.render(ex, 'direct').text) == [
        ('work', None, [], (gold, 0, list(ex.answer)))]


@pytest.mark.parametrize('name', NAMES)
def test_the_check_catches_every_wrong_result_and_passes_the_right_one(name):
  """The inverse operation fails on any wrong claimed result near the gold or one digit off,
  as written (read back) and as `check` says."""
  for difficulty in (1, 3):
    for ex in _examples(name, difficulty, 3):
      a, b = _operands(ex)
      gold = int(ex.answer)
      assert columns.check(ex, gold)[1]
      one_digit_off = {int(ex.answer[:i] + d + ex.answer[i + 1:])
                       for i in range(len(ex.answer)) for d in '0123456789'}
      for claimed in (set(range(max(gold - 30, 0), gold + 30)) | one_digit_off) - {gold}:
        text, passed = columns.check(ex, claimed)
        assert not passed, (ex.question, claimed)
        assert _check_section(_read(text)[0], name, claimed, b) != (a, 0)


@pytest.mark.parametrize('name,difficulty', LEVELS)
def test_every_slip_is_caught_masked_and_redone(name, difficulty):
  """Exhaustively over every slip of a few problems: one false step whose wrong digit is the
  masked span, later steps consistent with it, the honest check failing, 'wait', the faulty step
  and those after it redone right, the check passing, the gold."""
  for ex in _examples(name, difficulty, 2):
    a, b = _operands(ex)
    gold = int(ex.answer)
    slips = columns.slips(ex)
    fine_steps = len(str(a))
    # every column can slip its written digit to each of the 9 other digits
    assert {(s.step, s.field) for s in slips} >= {(i, 'written') for i in range(fine_steps)}
    assert sum(s.field == 'written' for s in slips) == 9 * fine_steps
    # ... and its carry to each other possible carry; for sub only where the borrow still ends
    # (a borrow into the top column of equal tops would be left over) and changes the result
    if name == 'sub':
      right = [int(a % 10**(k + 1) < b % 10**(k + 1)) for k in range(fine_steps)]
      carries = {(k, 1 - right[k]) for k in range(fine_steps - 1)
                 if right[k] or a // 10**(k + 1) != b // 10**(k + 1)}
    else:
      carries = {(k, v) for k in range(fine_steps) for v in range(9 if name == 'mul' else 2)}
      carries -= {(k, s['carry_out']) for k, s in enumerate(_work_section(
          _read(ex.cot)[0], name, a, b, 1)[1])}
    assert {(s.step, s.value) for s in slips if s.field == 'carry'} == carries
    for slip in slips:
      r = columns.render(ex, 'check', slip=slip)
      assert r.answer == ex.answer
      sections = _read(r.text)
      assert [s[0] for s in sections] == ['work', 'check', 'wait', 'work', 'check']
      wrong, steps, false = _work_section(sections[0], name, a, b, 1)
      assert wrong != gold
      ((step, (_, start, end)),) = false  # exactly one false step: the slip
      assert steps.index(step) == slip.step
      (span,) = r.masked_spans
      assert start <= span[0] and span[1] == span[0] + 1 <= end and r.text[span[0]].isdigit()
      # the span is the digit the step writes (or its carry), before 'now': the copies of
      # the wrong digit in this and later running results are consistent with the page
      assert span[1] <= r.text.index(' now', start)
      if slip.field == 'written':
        assert step['so_far'][-1 - slip.step] == str(slip.value)
      assert r.text.index(' wait .') > span[1]
      fixed = r.text[:span[0]] + '{}' + r.text[span[1]:]
      repairs = [d for d in range(10) if _column(_steps(fixed.format(d))[slip.step][0])['true']]
      assert repairs and int(r.text[span[0]]) not in repairs  # the masked digit is the wrong one
      assert _check_section(sections[1], name, wrong, b) != (a, 0)  # the check fails
      # the redo: the faulty column onwards, starting from the carry it was given
      redo = [_column(t) for t, _, _ in sections[3][2]]
      assert all(s['true'] for s in redo)
      # its running results go on from the (right) one before the faulty step
      _running_chain(redo, sections[3][3], steps[slip.step - 1]['so_far'] if slip.step else ())
      digits, last, num = _chain(redo, _OP[name], slip.step, steps[slip.step]['carry_in'])
      digits.update({i: s for i, s in enumerate(steps[:slip.step])})
      assert sections[3][3][:2] == _assembled(digits, _OP[name], last, num) == (gold, 0)
      assert _check_section(sections[4], name, gold, b) == (a, 0)


def test_random_slips_are_drawn_from_rng_and_need_it():
  ex = _examples('mul', 2, 1)[0]
  texts = {columns.render(ex, 'check', random.Random(s), slip=True).text for s in range(30)}
  assert len(texts) > 10
  assert columns.render(ex, 'check', random.Random(3), slip=True) == columns.render(
      ex, 'check', random.Random(3), slip=True)
  with pytest.raises(ValueError, match='random.Random'):
    columns.render(ex, 'check', slip=True)


def test_train_and_heldout_disjoint():
  kw = dict(task_names=NAMES, num=1500, difficulties=[1, 2, 3, 4, 5])
  train = make_examples(split='train', seed=0, **kw)
  heldout = make_examples(split='heldout', seed=1, **kw)
  assert not {e.question for e in train} & {e.question for e in heldout}
  assert all(split_of(e.task, e.question) == 'train' for e in train)
  assert all(split_of(e.task, e.question) == 'heldout' for e in heldout)
  assert len({e.question for e in heldout}) == len(heldout)  # no space runs out


@pytest.mark.parametrize('name,difficulty', LEVELS)
def test_problem_space_is_large(name, difficulty):
  digits = columns.SPECS[name][2][difficulty]
  assert columns.space_size(name, difficulty) >= 4000
  examples = _examples(name, difficulty, 1000)
  # 1,000 draws from 4,095 problems (sub, 2 digits) repeat ~11%; from 2,000 they would ~21%
  assert len({e.question for e in examples}) >= 820
  a_digits = {len(str(_operands(e)[0])) for e in examples}
  b_values = {_operands(e)[1] for e in examples}
  assert a_digits == {digits}
  if name == 'mul':
    assert b_values == set(range(2, 10))
  else:
    assert {len(str(v)) for v in b_values} == {digits}
    assert name == 'add' or all(a >= b for a, b in map(_operands, examples))


def test_lengths_direct_short_and_fine_grows_with_the_level():
  """Whitespace words (~ tokens with data.number_pieces=10): 'direct' stays a few words, 'fine'
  grows with the level, the modes get longer in order; the running results ('now D ...', one
  word more per step than the digits) keep a 4-digit add/sub 'check' under 160 words and its
  worst slip trace at ~300."""
  for name in NAMES:
    fine_max = []
    for difficulty in get_task(name).difficulties:
      digits = columns.SPECS[name][2][difficulty]
      examples = _examples(name, difficulty, 100)
      lengths = [[len(columns.render(ex, m).text.split()) for m in columns.MODES]
                 for ex in examples]
      for direct, coarse, fine, check in lengths:
        assert direct <= digits + 3 and direct < coarse < fine < check <= 260
        assert check <= 160 or digits > 4
      fine_max.append(max(l[2] for l in lengths))
      if digits <= 4:
        slip = max(len(columns.render(ex, 'check', slip=s).text.split())
                   for ex in examples[:10] for s in columns.slips(ex))
        assert slip <= 305, (name, difficulty, slip)
      q = examples[0].question.split()
      assert len(q) <= 2 * digits + 2 and all(len(t) == 1 for t in q[1:])
    assert fine_max == sorted(fine_max) and len(set(fine_max)) == len(fine_max), fine_max
