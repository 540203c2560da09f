"""Hostile answers: each returns "not equal" within the time limit, with no side effect."""

import builtins
import os
import time

import pytest

from r1jax.rewards import VerifierPool, symbolic
from r1jax.rewards.math import extract_answer, is_equivalent

TIMEOUT_S = 2.0
LIMIT_S = TIMEOUT_S + 2.0   # the pool timeout plus slack for restarting a worker

MARKER = '/tmp/r1jax_pwned_marker'   # fixed: test ids must match across pytest-xdist workers

INJECTIONS = [
    f"__import__('os').system('touch {MARKER}')",
    f"eval(\"__import__('os').system('touch {MARKER}')\")",
    f"exec(\"open('{MARKER}','w')\")",
    f"open('{MARKER}', 'w').write('x')",
    "().__class__.__bases__[0].__subclasses__()",
    f"Symbol('x').__class__.__init__.__globals__['os'].system('touch {MARKER}')",
    f"lambda: __import__('os').system('touch {MARKER}')",
    f"\\text{{__import__('os').system('touch {MARKER}')}}",
    f"\\boxed{{__import__('os').system('touch {MARKER}')}}",
    "import os; os.system('true')",
    "${__import__('os')}$",
]

BOMBS = [
    '9**9**9**9', '9^9^9^9', '9^{9^{9^{9}}}', '10^{10^{10}}', '2^{2^{2^{2^{2^{2}}}}}',
    '(10^{100})!', '100000!', '99999999999!', '\\binom{10^{9}}{5}', '((10^{6})!)!',
    '\\sin(x^{999999})', '(x^{999999}+1)^{999999}', '\\sqrt[10^{9}]{2}',
    '1' * 1_000_000, 'x+' * 200_000 + '1', '(' * 100_000 + '1' + ')' * 100_000,
    '\\frac{' * 100_000 + '1' + '}' * 100_000, '\\sqrt{' * 100_000 + '2' + '}' * 100_000,
    '{' * 100_000 + '1' + '}' * 100_000, '-' * 100_000 + '1', '2^' * 50_000 + '2',
    '1' + '0' * 5000, '1e999999999', '1.5\\times10^{999999}',
    # the grammar added for issue 8: relations, chains, matrices, subscripts, \sin^n, labels
    '(x^{999999}+1)^{999999} = 0', 'x^{999999} > 1', '9^{9^{9}} < x < 1', 'x = 9^{9^{9^{9}}}',
    '\\begin{pmatrix}' * 20_000, '\\begin{pmatrix}' + '1 & ' * 100_000 + '1\\end{pmatrix}',
    'S_{' * 50_000, '\\sin^{' * 50_000 + 'x', '\\log_{' * 50_000 + '2', 'a=' * 100_000 + '1',
    'x < ' * 100_000 + '1', '1 \\text{ or } ' * 100_000 + '1', '1:' * 200_000 + '1',
    '\\{' * 100_000 + '1', ',\\!' * 100_000, '$' * 1_000_000, '\\[' * 500_000 + '1',
]

ODD = [
    ('42', '4\x002'), ('42', '42\x00'), ('42', '\x00'), ('42', '\u0664\u0662'),   # Arabic-Indic
    ('42', '\u096a\u0968'), ('42', '4\u200b2'), ('42', '\ufeff42'), ('42', '4\u00ad2'),
]


@pytest.fixture(scope='module')
def pool():
  p = VerifierPool(num_workers=2, timeout_s=TIMEOUT_S)
  p.check([('x', 'x'), ('y', 'y')])   # wait for both workers: a loaded machine imports sympy slowly
  yield p
  p.close()


def _timed(pool, pred, gold):
  start = time.monotonic()
  result = is_equivalent(pred, gold, pool=pool)
  return result, time.monotonic() - start


@pytest.mark.parametrize('payload', INJECTIONS)
def test_code_injection_is_not_executed(pool, payload):
  if os.path.exists(MARKER):   # left by someone else: start clean, so only this run can make it
    os.remove(MARKER)
  result, seconds = _timed(pool, payload, '0')
  assert result is False and seconds < LIMIT_S
  result, seconds = _timed(pool, '0', payload)
  assert result is False and seconds < LIMIT_S
  assert not os.path.exists(MARKER)


@pytest.mark.parametrize('payload', BOMBS, ids=lambda s: s[:24])
def test_resource_bombs_return_quickly(pool, payload):
  for pred, gold in ((payload, '1'), ('1', payload), (payload, payload + '+1')):
    result, seconds = _timed(pool, pred, gold)
    assert result is False, (pred[:40], gold[:40])
    assert seconds < LIMIT_S, (pred[:40], seconds)


@pytest.mark.parametrize('gold,pred', ODD)
def test_null_bytes_and_unicode_digits(pool, gold, pred):
  result, seconds = _timed(pool, pred, gold)
  assert result is False and seconds < LIMIT_S


def test_nfkc_digits_are_plain_digits(pool):
  assert is_equivalent('\uff14\uff12', '42', pool=pool)          # fullwidth
  assert is_equivalent('\U0001d7d2\U0001d7d0', '42', pool=pool)  # mathematical bold


def test_pool_recovers_after_killing_a_stuck_worker():
  with VerifierPool(num_workers=1, timeout_s=0.5) as pool:
    start = time.monotonic()
    assert pool.check([('\\sin(x^{999999})', '1')]) == [False]
    assert time.monotonic() - start < 5.0
    assert pool.num_timeouts == 1
    assert pool.check([('\\sqrt{8}', '2\\sqrt{2}')]) == [True]   # a fresh worker answers


def test_huge_completion_extracts_quickly():
  text = 'x' * 5_000_000 + '\\boxed{' * 100_000 + '<answer>' * 1000
  start = time.monotonic()
  extract_answer(text, 'auto')
  extract_answer(text, 'boxed')
  assert time.monotonic() - start < 2.0


@pytest.mark.parametrize('text', [
    '$' * 1_000_000, '$$ 1 ' * 200_000, '\\[' * 500_000, '\\( 1 ' * 200_000, 'is 1 ' * 300_000,
    'Final Answer: $' * 100_000, '1,' * 500_000, 'a:' * 500_000, '$1$ 2 ' * 200_000,
    '\\boxed{1} and ' * 100_000, '<think>' + 'x = 1. ' * 200_000 + '</think> is 5',
    '<answer>' * 100_000 + 'x' * 1_000_000, '<answer>' * 100_000 + '</answer>',
], ids=lambda s: s[:12])
def test_answers_without_a_box_extract_in_linear_time(text):
  """The unboxed-answer search (math spans, 'is', last number) runs in the trainer
  process: megabyte completions built to make it backtrack must stay fast (CPU time:
  a loaded machine's preemption is not the extractor's)."""
  start = time.process_time()
  extract_answer(text, 'auto')
  assert time.process_time() - start < 0.5


def test_slow_path_never_calls_eval_or_exec(monkeypatch):
  """The parser + sympy route runs with eval/exec/sympify disabled in this process."""
  import sympy
  from sympy.parsing import sympy_parser

  def forbidden(*args, **kwargs):
    raise AssertionError('eval-like function called on answer text')

  def guard(real):
    def run(source, *args, **kwargs):   # imports exec code objects: allowed
      if isinstance(source, (str, bytes)):
        forbidden()
      return real(source, *args, **kwargs)
    return run

  monkeypatch.setattr(builtins, 'eval', guard(builtins.eval))
  monkeypatch.setattr(builtins, 'exec', guard(builtins.exec))
  for module, name in ((sympy_parser, 'parse_expr'), (sympy, 'parse_expr'),
                       (sympy, 'sympify'), (sympy, 'S')):
    monkeypatch.setattr(module, name, forbidden, raising=False)
  from r1jax.rewards.math import _pair_readings
  cases = [('\\frac{\\sqrt{3}}{2}', '\\sqrt{3}/2'), ('x^2+2x+1', '(x+1)^2'),
           ('\\cos^2 x', '1 - \\sin^2 x'), ('3x-6y+9=0', 'y=\\frac{x}{2}+\\frac32'),
           ('(1, 5]', '1 < t \\le 5'), ('\\begin{pmatrix}1 & 2\\\\3 & 4\\end{pmatrix}',
                                          '\\begin{bmatrix}1 & 2\\\\3 & 4\\end{bmatrix}'),
           ('(1, 2]', '(1,2]'), ('3 \\pm \\sqrt{2}', '3+\\sqrt{2}, 3-\\sqrt{2}'),
           ('\\ln 8', '3\\ln 2')]
  for gold, pred in cases:   # every reading the verifier would try
    assert any(symbolic.equivalent_normalized(p, g) for p, g in _pair_readings(pred, gold))
  for payload in INJECTIONS:
    assert not symbolic.equivalent_normalized(payload, '0')
