r"""A restricted-grammar parser for answer strings (plain math and the LaTeX subset that
answers use). It never evaluates anything: it turns text into a small tuple AST that
`symbolic.py` converts to sympy under size guards.

Bounded by construction: at most MAX_TOKENS tokens and MAX_DEPTH nesting, so a 100 000-deep
or megabyte-long input is rejected in linear time with `ParseError`.

AST (tuples):
  expression: ('num', Fraction, exact: bool, half_ulp: Fraction | None) | ('sym', name)
              | ('const', 'pi'|'e'|'i'|'oo')
              | ('add'|'sub'|'mul'|'div'|'pow', a, b) | ('neg', a) | ('fact', a)
              | ('sqrt', a, index_or_None) | ('func', name, a) | ('abs', a) | ('binom', a, b)
  structure:  ('list', [items]) top-level comma list (unordered: several solutions)
              | ('set', [items]) | ('tuple', open, close, [items]) (tuples and intervals)
              | ('union', [items]) | ('rel', op, a, b) | ('pm', a, b) (a ± b)
              | ('chain', [ops], [operands]) (1 < t <= 5) | ('ratio', [items]) (3:8)
              | ('matrix', [[row items], ...])
A decimal literal's half_ulp is half a unit of its last digit (0.67 -> 0.005) when it has at
least two significant digits, else None: `symbolic` accepts an exact value that rounds to it.
Names: single letters multiply implicitly (`xy` = x*y); `S_1`, `x_{n}`, `204_5` are one
symbol; `\sin^2 x` is (sin x)^2 and `\sin^{-1} x` is arcsin x; `\log_2 8` has base 2.
"""

from __future__ import annotations

import re
from fractions import Fraction

MAX_TOKENS = 400
MAX_DEPTH = 40
MAX_NUMBER_DIGITS = 200


class ParseError(ValueError):
  pass


_FUNCS = {'sin', 'cos', 'tan', 'cot', 'sec', 'csc', 'arcsin', 'arccos', 'arctan',
          'sinh', 'cosh', 'tanh', 'log', 'ln', 'exp', 'arccot', 'arcsec', 'arccsc'}
_INVERSE = {'sin': 'arcsin', 'cos': 'arccos', 'tan': 'arctan', 'cot': 'arccot',
            'sec': 'arcsec', 'csc': 'arccsc'}
_CONSTS = {'pi': 'pi', 'infty': 'oo', 'infinity': 'oo', 'e': 'e'}
_GREEK = {'alpha', 'beta', 'gamma', 'delta', 'theta', 'lambda', 'mu', 'phi', 'omega',
          'sigma', 'tau', 'rho', 'psi', 'epsilon', 'varepsilon', 'varphi', 'eta', 'xi',
          'zeta', 'kappa', 'nu', 'chi', 'iota', 'upsilon', 'omicron', 'Gamma', 'Delta',
          'Theta', 'Lambda', 'Xi', 'Pi', 'Sigma', 'Upsilon', 'Phi', 'Psi', 'Omega', 'ell'}
_CMD_OPS = {'cdot': '*', 'times': '*', 'div': '/', 'pm': 'pm', 'mp': 'pm', 'cup': 'cup',
            'le': '<=', 'leq': '<=', 'ge': '>=', 'geq': '>=', 'neq': '!=', 'ne': '!=',
            'lt': '<', 'gt': '>', '{': '\\{', '}': '\\}', 'leqslant': '<=', 'geqslant': '>=',
            'approx': '=', 'colon': ':', 'row': 'row', 'matbegin': 'matbegin',
            'matend': 'matend'}
_CMD_KEEP = {'frac', 'dfrac', 'tfrac', 'cfrac', 'sqrt', 'binom', 'dbinom', 'tbinom',
             'emptyset', 'varnothing'}
_RELOPS = {'=', '<', '>', '<=', '>=', '!='}

_TOKEN_RE = re.compile(r"""
    (?P<num>\d+\.?\d*|\.\d+)
  | (?P<cmd>\\[a-zA-Z]+|\\[{}])
  | (?P<word>[a-zA-Z]+)
  | (?P<op><=|>=|!=|\*\*|[-+*/^()\[\]{},!|=<>;_':&])
  | (?P<space>\s+)
""", re.VERBOSE | re.ASCII)   # ASCII digits and letters only


def tokenize(text: str) -> list[str]:
  """Tokens of `text`; ParseError on anything outside the grammar or over MAX_TOKENS."""
  tokens, pos = [], 0
  while pos < len(text):
    m = _TOKEN_RE.match(text, pos)
    if m is None:
      raise ParseError(f'unexpected character {text[pos]!r}')
    pos = m.end()
    kind, value = m.lastgroup, m.group()
    if kind == 'space':
      continue
    if kind == 'num':
      if len(value) > MAX_NUMBER_DIGITS:
        raise ParseError('number too long')
      tokens.append(value)
    elif kind == 'cmd':
      name = value[1:]
      if name in _CMD_OPS:
        tokens.append(_CMD_OPS[name])
      elif name in _CMD_KEEP or name in _FUNCS or name in _CONSTS or name in _GREEK:
        tokens.append(value)
      else:
        raise ParseError(f'unsupported command {value}')
    elif kind == 'word':
      # Known function/constant names written without a backslash; other letters are
      # single-letter symbols multiplied implicitly ("xy" = x*y).
      if value in _FUNCS or value in ('pi', 'sqrt', 'infinity'):
        tokens.append('\\' + value)
      else:
        tokens.extend(value)
    elif value == '**':
      tokens.append('^')
    else:
      tokens.append(value)
    if len(tokens) > MAX_TOKENS:
      raise ParseError('answer too long')
  return tokens


_ATOM_START = re.compile(r'^(\d|\.\d|[a-zA-Z]$|\\(?!\{|\}))')
_INEQ = {'<', '<=', '>', '>='}


def number(tok: str):
  """('num', value, exact, half_ulp) of a numeric token."""
  value = Fraction(tok)
  if '.' not in tok:
    return ('num', value, True, None)
  digits = tok.replace('.', '').lstrip('0')
  decimals = len(tok) - tok.index('.') - 1
  half = Fraction(1, 2 * 10 ** decimals) if len(digits) >= 2 else None
  return ('num', value, False, half)


class _Parser:

  def __init__(self, tokens: list[str]):
    self.tokens = tokens
    self.pos = 0
    self.depth = 0

  # -- helpers
  def peek(self, k=0):
    i = self.pos + k
    return self.tokens[i] if i < len(self.tokens) else None

  def take(self, expected=None):
    tok = self.peek()
    if tok is None or (expected is not None and tok != expected):
      raise ParseError(f'expected {expected!r}, got {tok!r}')
    self.pos += 1
    return tok

  def enter(self):
    self.depth += 1
    if self.depth > MAX_DEPTH:
      raise ParseError('nesting too deep')

  # -- structure
  def answer(self):
    items = self.items()
    if self.peek() is not None:
      raise ParseError(f'unexpected {self.peek()!r}')
    return items[0] if len(items) == 1 else ('list', items)

  def items(self):
    items = [self.item()]
    while self.peek() in (',', ';'):
      self.take()
      items.append(self.item())
    return items

  def joined(self, sep, kind, part):
    """part (sep part)* -> (kind, [parts]), or the single part."""
    first = part()
    if self.peek() != sep:
      return first
    parts = [first]
    while self.peek() == sep:
      self.take()
      parts.append(part())
    return (kind, parts)

  def item(self):
    return self.joined('cup', 'union', self.ratio)

  def ratio(self):
    return self.joined(':', 'ratio', self.relation)

  def relation(self):
    operands = [self.pm_expr()]
    ops = []
    while self.peek() in _RELOPS:
      ops.append(self.take())
      operands.append(self.pm_expr())
      if len(ops) > 2:
        raise ParseError('relation chain too long')
    if not ops:
      return operands[0]
    if len(ops) == 1:
      return ('rel', ops[0], operands[0], operands[1])
    if all(op == '=' for op in ops):   # "y = 2 \cdot 3 = 6": the last value counts
      return ('rel', '=', operands[0], operands[-1])
    if set(ops) <= {'<', '<='} or set(ops) <= {'>', '>='}:
      return ('chain', ops, operands)
    raise ParseError('mixed relation chain')

  def pm_expr(self):
    a = self.expr()
    if self.peek() == 'pm':
      self.take()
      return ('pm', a, self.expr())
    return a

  # -- arithmetic
  def expr(self):
    self.enter()
    if self.peek() == 'pm':   # "\pm 3"
      self.take()
      node = ('pm', ('num', Fraction(0), True, None), self.term())
    else:
      node = self.term()
    while self.peek() in ('+', '-'):
      op = 'add' if self.take() == '+' else 'sub'
      node = (op, node, self.term())
    self.depth -= 1
    return node

  def term(self):
    node = self.unary()
    while True:
      tok = self.peek()
      if tok in ('*', '/'):
        self.take()
        node = ('mul' if tok == '*' else 'div', node, self.unary())
      elif tok is not None and (tok in ('(', '{', '\\{') or _ATOM_START.match(tok)):
        node = ('mul', node, self.power())   # implicit multiplication: 2x, 3\sqrt{2}
      else:
        return node

  def unary(self):
    tok = self.peek()
    if tok in ('-', '+'):
      self.take()
      self.enter()
      node = self.unary()
      self.depth -= 1
      return ('neg', node) if tok == '-' else node
    return self.power()

  def power(self):
    base = self.postfix()
    if self.peek() == '^':
      self.take()
      self.enter()
      exponent = self.unary()   # right-associative: a^b^c = a^(b^c)
      self.depth -= 1
      return ('pow', base, exponent)
    return base

  def postfix(self):
    node = self.atom()
    while self.peek() in ('!', "'"):
      if self.take() == "'":
        raise ParseError('primes are not supported')
      node = ('fact', node)
    return node

  def group(self):
    """A LaTeX argument: {expr} or a single token (\\frac12 -> 1, 2)."""
    tok = self.peek()
    if tok == '{':
      self.take()
      node = self.pm_expr()
      self.take('}')
      return node
    if tok is not None and tok[0].isdigit() and len(tok) > 1 and '.' not in tok:
      self.tokens[self.pos] = tok[1:]   # \frac12: split the digit run
      return ('num', Fraction(int(tok[0])), True, None)
    return self.atom()

  def subscript(self) -> str:
    """The text of a subscript after '_': _1, _{12}, _{n+1} (kept as a name)."""
    self.take('_')
    if self.peek() != '{':
      return self.take()
    self.take()
    parts = []
    while self.peek() != '}':
      if len(parts) > 20:
        raise ParseError('subscript too long')
      parts.append(self.take())
    self.take('}')
    return ''.join(parts)

  def atom(self):
    self.enter()
    node = self._atom()
    self.depth -= 1
    return node

  def matrix(self):
    rows, row = [], [self.pm_expr()]
    while self.peek() in ('&', 'row'):
      if self.take() == '&':
        row.append(self.pm_expr())
        continue
      rows.append(row)
      if self.peek() == 'matend':   # trailing \\ before \end
        row = None
        break
      row = [self.pm_expr()]
    if row is not None:
      rows.append(row)
    self.take('matend')
    if len({len(r) for r in rows}) != 1:
      raise ParseError('ragged matrix')
    return ('matrix', rows)

  def _atom(self):
    tok = self.take()
    if tok[0].isdigit() or tok[0] == '.':
      if self.peek() == '_':   # a number in another base: 204_5
        return ('sym', f'{tok}_{self.subscript()}')
      return number(tok)
    if len(tok) == 1 and tok.isalpha():
      if self.peek() == '_':
        return ('sym', f'{tok}_{self.subscript()}')
      if tok == 'e':
        return ('const', 'e')
      if tok == 'i':
        return ('const', 'i')
      return ('sym', tok)
    if tok == 'matbegin':
      return self.matrix()
    if tok in ('(', '['):
      items = self.items()
      close = self.take()
      if close not in (')', ']'):
        raise ParseError(f'unclosed {tok!r}')
      if len(items) == 1 and tok == '(' and close == ')':
        return items[0]
      if len(items) == 1 and tok == '[' and close == ']':
        return items[0]
      return ('tuple', tok, close, items)
    if tok == '{':
      items = self.items()
      self.take('}')
      return items[0] if len(items) == 1 else ('set', items)
    if tok == '\\{':
      if self.peek() == '\\}':
        self.take()
        return ('set', [])
      items = self.items()
      self.take('\\}')
      return ('set', items)
    if tok == '|':
      node = self.expr()
      self.take('|')
      return ('abs', node)
    if tok.startswith('\\'):
      name = tok[1:]
      if name in ('frac', 'dfrac', 'tfrac', 'cfrac'):
        return ('div', self.group(), self.group())
      if name in ('binom', 'dbinom', 'tbinom'):
        return ('binom', self.group(), self.group())
      if name in ('emptyset', 'varnothing'):
        return ('set', [])
      if name == 'sqrt':
        index = None
        if self.peek() == '[':
          self.take()
          index = self.expr()
          self.take(']')
        return ('sqrt', self.group(), index)
      if name in _CONSTS:
        return ('const', _CONSTS[name])
      if name in _GREEK:
        if self.peek() == '_':
          return ('sym', f'{name}_{self.subscript()}')
        return ('sym', name)
      if name in _FUNCS:
        return self.function(name)
    raise ParseError(f'unexpected {tok!r}')

  def function(self, name):
    """\\sin x, \\sin(x), \\sin^2 x, \\sin^{-1} x, \\log_2 8, \\log_{b} x."""
    exponent = base = None
    if name == 'log' and self.peek() == '_':
      self.take()
      base = self.group()
    if self.peek() == '^':
      self.take()
      exponent = self.group()
    if self.peek() == '{':
      arg = self.group()
    else:   # \sin 2x = sin(2x); \sin x \cos x = sin(x) cos(x)
      arg = self.power()
      while self.peek() is not None and re.match(r'^(\d|[a-zA-Z]$)', self.peek()):
        arg = ('mul', arg, self.power())
    if exponent is not None and exponent == ('neg', ('num', Fraction(1), True, None)) \
        and name in _INVERSE:
      return ('func', _INVERSE[name], arg)
    node = ('func', name, arg)
    if base is not None:
      node = ('div', node, ('func', 'log', base))
    return node if exponent is None else ('pow', node, exponent)


def parse(text: str):
  """AST of a normalised answer string; ParseError if it is outside the grammar."""
  tokens = tokenize(text)
  if not tokens:
    raise ParseError('empty answer')
  return _Parser(tokens).answer()
