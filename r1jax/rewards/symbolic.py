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
          'tanh': sympy.tanh, 'log': sympy.log, 'ln': sympy.log, 'exp': sympy.exp,
          'arccot': sympy.acot, 'arcsec': sympy.asec, 'arccsc': sympy.acsc}
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


def _decimal_half_ulp(node):
  """half_ulp of a (possibly negated) decimal literal with >= 2 significant digits."""
  while node[0] == 'neg':
    node = node[1]
  return node[3] if node[0] == 'num' and not node[2] else None


def _rounds_to(decimal, half_ulp, exact) -> bool:
  """`exact` (a numeric sympy value) rounds to `decimal` at the decimal's last digit."""
  diff = abs(complex((exact - decimal).evalf(EVAL_DIGITS)))
  return math.isfinite(diff) and diff <= float(half_ulp) * (1 + 1e-9)


def expr_equal(a_node, b_node) -> bool:
  """Expression equivalence: sympy's canonical forms agree, or the two agree numerically
  (to `rtol`) at 4 random points in (0.5, 2.5) for every free symbol. A decimal literal
  with >= 2 significant digits also equals an exact number that rounds to it (0.67 = 2/3)."""
  a, b = to_sympy(a_node), to_sympy(b_node)
  if a == b:
    return True
  if a.has(sympy.oo, -sympy.oo, sympy.zoo, sympy.nan) or b.has(
      sympy.oo, -sympy.oo, sympy.zoo, sympy.nan):
    return False
  for dec_node, dec, other_node, other in ((a_node, a, b_node, b), (b_node, b, a_node, a)):
    half = _decimal_half_ulp(dec_node)
    if half is not None and other.is_number and _is_exact(other_node):
      if _rounds_to(dec, half, other):
        return True
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


def _dedupe(xs):
  out = []
  for x in xs:
    if x not in out:
      out.append(x)
  return out


def _unordered_equal(xs, ys) -> bool:
  xs, ys = _dedupe(xs), _dedupe(ys)
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
_INF = ('const', 'oo')
_NEG_INF = ('neg', ('const', 'oo'))


def _has_symbols(node) -> bool:
  if node[0] == 'sym':
    return True
  return any(isinstance(c, tuple) and _has_symbols(c) for c in node[1:])


def _is_variable(node) -> bool:
  """x, S_1, g(x) (read as g*x): the 'variable' side of an inequality."""
  if node[0] == 'sym':
    return True
  return node[0] == 'mul' and _is_variable(node[1]) and _is_variable(node[2])


def _interval(lo, hi, lo_op, hi_op):
  return ('tuple', '(' if lo_op == '<' else '[', ')' if hi_op == '<' else ']', [lo, hi])


def as_interval(node):
  """The interval (or union) that a one-variable inequality describes, else None:
  x > 3 -> (3, oo); 1 < t <= 5 -> (1, 5]; x != 2 -> (-oo, 2) u (2, oo)."""
  if node[0] == 'rel':
    op, a, b = node[1], node[2], node[3]
    if _is_variable(b) and not _has_symbols(a):
      op, a, b = _FLIP[op], b, a
    if not (_is_variable(a) and not _has_symbols(b)) or op == '=':
      return None
    if op == '!=':
      return ('union', [_interval(_NEG_INF, b, '<', '<'), _interval(b, _INF, '<', '<')])
    if op in ('<', '<='):
      return _interval(_NEG_INF, b, '<', op)
    return _interval(b, _INF, _FLIP[op], '<')
  if node[0] == 'chain':
    (op1, op2), (lo, mid, hi) = node[1], node[2]
    if not _is_variable(mid) or _has_symbols(lo) or _has_symbols(hi):
      return None
    if op1 in ('<', '<='):
      return _interval(lo, hi, op1, op2)
    return _interval(hi, lo, _FLIP[op2], _FLIP[op1])
  if node[0] == 'union':
    parts = [p if p[0] in ('tuple', 'set') else as_interval(p) for p in node[1]]
    return None if any(p is None for p in parts) else ('union', parts)
  return None


def _rel_form(node):
  """(op, f) with f op 0 equivalent to the relation; op in <, <=, =, !=."""
  op, a, b = node[1], to_sympy(node[2]), to_sympy(node[3])
  if op in ('>', '>='):
    return _FLIP[op], b - a
  return op, a - b


def relation_equal(x, y) -> bool:
  """Same relation up to sides, sign and a non-zero factor (positive for inequalities):
  -y <= 4 == y >= -4; 3x-6y+9=0 == y = x/2 + 3/2. Checked as a constant ratio f/g at 4
  random points."""
  (opx, f), (opy, g) = _rel_form(x), _rel_form(y)
  if opx != opy:
    return False
  symbols = sorted(f.free_symbols | g.free_symbols, key=str)
  rng = random.Random(1)
  ratios = []
  for _ in range(4 if symbols else 1):
    point = {s: sympy.Rational(rng.randint(50, 250), 97) for s in symbols}
    fv = complex(f.subs(point).evalf(EVAL_DIGITS))
    gv = complex(g.subs(point).evalf(EVAL_DIGITS))
    if not all(map(math.isfinite, (fv.real, fv.imag, gv.real, gv.imag))):
      return False
    if abs(gv) < 1e-40 or abs(fv) < 1e-40:
      if abs(gv) < 1e-40 and abs(fv) < 1e-40:
        continue
      return False
    ratios.append(fv / gv)
  if not ratios:
    return True
  r0 = ratios[0]
  if any(abs(r - r0) > 1e-9 * abs(r0) for r in ratios) or abs(r0.imag) > 1e-9 * abs(r0):
    return False
  return r0.real > 0 or opx in ('=', '!=')


_STRUCTURES = ('list', 'set', 'union', 'tuple', 'matrix', 'ratio')


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
  if a[0] in ('rel', 'chain') and b[0] in ('rel', 'chain'):
    if a[0] == 'rel' and b[0] == 'rel':
      if a[1] == b[1] and structure_equal(a[2], b[2]) and structure_equal(a[3], b[3]):
        return True
      if _FLIP[a[1]] == b[1] and structure_equal(a[2], b[3]) and structure_equal(a[3], b[2]):
        return True
      if relation_equal(a, b):
        return True
  if {a[0], b[0]} & {'rel', 'chain', 'union'}:   # inequalities as the intervals they describe
    ia = as_interval(a) if a[0] in ('rel', 'chain', 'union') else a
    ib = as_interval(b) if b[0] in ('rel', 'chain', 'union') else b
    if ia is None or ib is None:
      return False
    if ia[0] == 'union' and ib[0] == 'union':
      return _unordered_equal(ia[1], ib[1])
    return ia[0] != 'union' and ib[0] != 'union' and structure_equal(ia, ib)
  if a[0] in ('list', 'set') and b[0] in ('list', 'set'):
    return _unordered_equal(a[1], b[1])
  if a[0] in ('list', 'set') and b[0] == 'tuple' and b[1:3] == ('(', ')'):
    return len(a[1]) == len(b[3]) and all(map(structure_equal, a[1], b[3]))   # a=2, b=3
  if b[0] in ('list', 'set') and a[0] == 'tuple':
    return structure_equal(b, a)
  if a[0] == 'tuple' and b[0] == 'tuple':
    return (a[1] == b[1] and a[2] == b[2] and len(a[3]) == len(b[3])
            and all(structure_equal(x, y) for x, y in zip(a[3], b[3])))
  if a[0] == 'ratio' and b[0] == 'ratio':
    return len(a[1]) == len(b[1]) and all(map(structure_equal, a[1], b[1]))
  if a[0] == 'matrix' and b[0] == 'matrix':
    return (len(a[1]) == len(b[1]) and all(len(r) == len(s) for r, s in zip(a[1], b[1]))
            and all(structure_equal(x, y) for r, s in zip(a[1], b[1]) for x, y in zip(r, s)))
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
    a = latex_parse.parse(pred)
    b = latex_parse.parse(gold)
    if structure_equal(a, b):
      return True
    a2, b2 = strip_assignment(a), strip_assignment(b)
    return (a2, b2) != (a, b) and bool(structure_equal(a2, b2))
  except (latex_parse.ParseError, TooBig, TypeError, ValueError, ZeroDivisionError,
          OverflowError, MemoryError, RecursionError, AttributeError):
    return False
