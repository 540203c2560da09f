"""Symbolic and numeric equivalence of parsed answers (the slow path).

Runs inside a `VerifierPool` worker process that the parent kills on timeout, so a sympy
call that stalls cannot hang training. Guards stop the obvious resource bombs before sympy
sees them: integer powers whose result would exceed MAX_RESULT_DIGITS digits, factorials
above MAX_FACTORIAL, binomials above MAX_FACTORIAL. sympy is imported here, never at
`r1jax.rewards` import time.
"""

from __future__ import annotations

import math
import random

import sympy

from r1jax.rewards import latex_parse

MAX_RESULT_DIGITS = 2000
MAX_FACTORIAL = 500
EVAL_DIGITS = 60      # precision of numeric comparisons
EXACT_RTOL = 1e-30    # both sides exact (integers, fractions, radicals, pi): equal up to
                      # rounding at EVAL_DIGITS digits
INEXACT_RTOL = 1e-6   # a decimal is involved


class TooBig(ValueError):
  pass


_FUNCS = {'sin': sympy.sin, 'cos': sympy.cos, 'tan': sympy.tan, 'cot': sympy.cot,
          'sec': sympy.sec, 'csc': sympy.csc, 'arcsin': sympy.asin, 'arccos': sympy.acos,
          'arctan': sympy.atan, 'sinh': sympy.sinh, 'cosh': sympy.cosh,
          'tanh': sympy.tanh, 'log': sympy.log, 'ln': sympy.log, 'exp': sympy.exp}
_CONSTS = {'pi': sympy.pi, 'e': sympy.E, 'i': sympy.I, 'oo': sympy.oo}


def _log10_abs(x) -> float | None:
  """log10|x| for a numeric sympy expression, None if it is not a finite number."""
  if not x.is_number:
    return None
  v = complex(x.evalf(15))
  return math.log10(abs(v)) if v != 0 else -math.inf


def _small_int(x, limit):
  if not (x.is_Integer and 0 <= int(x) <= limit):
    raise TooBig(f'argument must be an integer in [0, {limit}]')
  return int(x)


def to_sympy(node):
  """sympy expression of an expression AST node (not a structure). Raises TooBig."""
  kind = node[0]
  if kind == 'num':
    return sympy.Rational(node[1].numerator, node[1].denominator)
  if kind == 'sym':
    return sympy.Symbol(node[1])
  if kind == 'const':
    return _CONSTS[node[1]]
  if kind == 'neg':
    return -to_sympy(node[1])
  if kind in ('add', 'sub', 'mul', 'div'):
    a, b = to_sympy(node[1]), to_sympy(node[2])
    if kind == 'add':
      return a + b
    if kind == 'sub':
      return a - b
    if kind == 'mul':
      return a * b
    return a / b
  if kind == 'pow':
    base, exponent = to_sympy(node[1]), to_sympy(node[2])
    if exponent.is_number:
      log_base = _log10_abs(base)
      e = complex(exponent.evalf(15))
      if abs(e) > 1e6:
        raise TooBig('exponent too large')
      if log_base is not None and math.isfinite(log_base) and abs(log_base * e.real) > MAX_RESULT_DIGITS:
        raise TooBig('power too large')
    return sympy.Pow(base, exponent)
  if kind == 'fact':
    return sympy.factorial(_small_int(to_sympy(node[1]), MAX_FACTORIAL))
  if kind == 'binom':
    n = _small_int(to_sympy(node[1]), MAX_FACTORIAL)
    k = _small_int(to_sympy(node[2]), MAX_FACTORIAL)
    return sympy.binomial(n, k)
  if kind == 'sqrt':
    arg = to_sympy(node[1])
    if node[2] is None:
      return sympy.sqrt(arg)
    index = to_sympy(node[2])
    if not (index.is_Integer and 2 <= int(index) <= 100):
      raise TooBig('root index must be an integer in [2, 100]')
    return sympy.root(arg, index)
  if kind == 'func':
    return _FUNCS[node[1]](to_sympy(node[2]))
  if kind == 'abs':
    return sympy.Abs(to_sympy(node[1]))
  raise TooBig(f'{kind} is not an expression')


def _is_exact(node) -> bool:
  if node[0] == 'num':
    return node[2]
  return all(_is_exact(child) for child in node[1:] if isinstance(child, tuple))


def _numerically_equal(a, b, point: dict, rtol: float) -> bool:
  """|a - b| <= rtol * max(|a|, |b|) at `point`, the difference evaluated to
  EVAL_DIGITS significant digits (so (x+y)^40 + 1 is not 'close' to (x+y)^40)."""
  va = complex(a.subs(point).evalf(EVAL_DIGITS))
  vb = complex(b.subs(point).evalf(EVAL_DIGITS))
  diff = abs(complex((a - b).subs(point).evalf(EVAL_DIGITS)))
  if not all(map(math.isfinite, (va.real, va.imag, vb.real, vb.imag, diff))):
    return False
  return diff == 0 or diff <= rtol * max(abs(va), abs(vb))


def expr_equal(a_node, b_node) -> bool:
  """Expression equivalence: sympy's canonical forms agree, or the two agree numerically
  (to `rtol`) at 4 random points in (0.5, 2.5) for every free symbol."""
  a, b = to_sympy(a_node), to_sympy(b_node)
  if a == b:
    return True
  if a.has(sympy.oo, -sympy.oo, sympy.zoo, sympy.nan) or b.has(
      sympy.oo, -sympy.oo, sympy.zoo, sympy.nan):
    return False
  rtol = EXACT_RTOL if _is_exact(a_node) and _is_exact(b_node) else INEXACT_RTOL
  symbols = sorted(a.free_symbols | b.free_symbols, key=str)
  rng = random.Random(0)
  for _ in range(4 if symbols else 1):
    point = {s: sympy.Rational(rng.randint(50, 250), 100) for s in symbols}
    if not _numerically_equal(a, b, point, rtol):
      return False
  return True


_EXPR_KINDS = {'num', 'sym', 'const', 'neg', 'add', 'sub', 'mul', 'div', 'pow', 'fact',
               'binom', 'sqrt', 'func', 'abs'}


def _unordered_equal(xs, ys) -> bool:
  if len(xs) != len(ys):
    return False
  remaining = list(ys)
  for x in xs:
    for j, y in enumerate(remaining):
      if structure_equal(x, y):
        del remaining[j]
        break
    else:
      return False
  return True


def _expand_pm(node):
  if node[0] == 'pm':
    return [('add', node[1], node[2]), ('sub', node[1], node[2])]
  return None


_FLIP = {'<': '>', '>': '<', '<=': '>=', '>=': '<=', '=': '=', '!=': '!='}


def structure_equal(a, b) -> bool:
  """Equivalence of two parsed answers (expressions or structures)."""
  if a[0] == 'pm' or b[0] == 'pm':
    xs = _expand_pm(a) or [a]
    ys = _expand_pm(b) or [b]
    if a[0] in ('list', 'set'):
      xs = a[1]
    if b[0] in ('list', 'set'):
      ys = b[1]
    return _unordered_equal(xs, ys)
  if a[0] in ('list', 'set') and b[0] in ('list', 'set'):
    return _unordered_equal(a[1], b[1])
  if a[0] == 'union' and b[0] == 'union':
    return _unordered_equal(a[1], b[1])
  if a[0] == 'tuple' and b[0] == 'tuple':
    return (a[1] == b[1] and a[2] == b[2] and len(a[3]) == len(b[3])
            and all(structure_equal(x, y) for x, y in zip(a[3], b[3])))
  if a[0] == 'rel' and b[0] == 'rel':
    if a[1] == b[1] and structure_equal(a[2], b[2]) and structure_equal(a[3], b[3]):
      return True
    return (_FLIP[a[1]] == b[1] and structure_equal(a[2], b[3])
            and structure_equal(a[3], b[2]))
  if a[0] in _EXPR_KINDS and b[0] in _EXPR_KINDS:
    return expr_equal(a, b)
  return False


def strip_assignment(node):
  """'x = 3' -> 3, also inside lists ('x=1, y=2' -> (1, 2) unordered)."""
  if node[0] == 'rel' and node[1] == '=' and node[2][0] == 'sym':
    return node[3]
  if node[0] == 'list':
    return ('list', [strip_assignment(x) for x in node[1]])
  return node


def equivalent_normalized(pred: str, gold: str) -> bool:
  """Slow-path check on two normalised answer strings. False on any parse/guard error."""
  try:
    a = strip_assignment(latex_parse.parse(pred))
    b = strip_assignment(latex_parse.parse(gold))
    return bool(structure_equal(a, b))
  except (latex_parse.ParseError, TooBig, TypeError, ValueError, ZeroDivisionError,
          OverflowError, MemoryError, RecursionError, AttributeError):
    return False
