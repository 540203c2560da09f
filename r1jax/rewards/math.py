"""Math answers: extraction, normalisation, equivalence, and the 'math_accuracy' reward.

Two paths decide `is_equivalent(pred, gold)`:
  fast   normalised strings that are plain numbers (integers, decimals, 1,000-style
         commas, a/b, \\frac{a}{b}, mixed numbers, scientific notation, percentages) are
         compared with fractions.Fraction in the calling process: no sympy, no subprocess.
  slow   everything else goes to a `VerifierPool` worker: the restricted-grammar parser
         (`latex_parse`, no eval/sympify) then sympy (`symbolic`), killed on timeout.
"""

from __future__ import annotations

import re
import unicodedata
from fractions import Fraction
from typing import Sequence

import numpy as np

from r1jax.rewards.base import RewardBatch, register

MAX_ANSWER_CHARS = 1000     # longer answers are not rewarded
MAX_BOXES = 20              # more \boxed{} than this in the answer region: not rewarded
ANSWER_REGION_CHARS = 8000  # boxed answers are looked for in the completion's tail
DECIMAL_RTOL = 1e-6         # tolerance when a decimal is compared

# ---------------------------------------------------------------------------- extraction

_ANSWER_TAG = re.compile(r'<answer>(.*?)</answer>', re.S)
_BOX_CMD = re.compile(r'\\(?:boxed|fbox)\s*')


def _boxed_contents(text: str) -> list[str] | None:
  """Contents of every \\boxed{...} in `text`; None if a box is unbalanced or too many."""
  out = []
  for m in _BOX_CMD.finditer(text):
    if len(out) >= MAX_BOXES:
      return None
    start = m.end()
    if start < len(text) and text[start] == '{':
      depth = 0
      for j in range(start, min(len(text), start + MAX_ANSWER_CHARS + 2)):
        depth += {'{': 1, '}': -1}.get(text[j], 0)
        if depth == 0:
          out.append(text[start + 1:j])
          break
      else:
        return None
    else:   # "\boxed 5"
      word = re.match(r'[^\s$]+', text[start:start + MAX_ANSWER_CHARS])
      if word:
        out.append(word.group())
  return out


def _single_boxed(text: str) -> str | None:
  boxes = _boxed_contents(text)
  if not boxes or len({b.strip() for b in boxes}) > 1:
    return None   # no box, or several different candidates
  return boxes[-1]


def extract_answer(text: str, source: str = 'auto') -> str | None:
  """The final answer of a completion, or None.

  source: 'answer_tag' - inside <answer>...</answer>; 'boxed' - the \\boxed{...};
    'auto' - the answer tag if the text has one, else the boxed answer. Inside an answer
    tag a \\boxed{} is unwrapped. Several different candidates (two answer tags or two
    boxes with different contents) give None: a hedged answer is not rewarded.
  """
  if source not in ('auto', 'answer_tag', 'boxed'):
    raise ValueError(f"answer_source={source!r}; use 'auto', 'answer_tag' or 'boxed'")
  if not isinstance(text, str):
    return None
  if source == 'answer_tag' or (source == 'auto' and '<answer>' in text):
    tags = _ANSWER_TAG.findall(text)
    if not tags or len({t.strip() for t in tags}) > 1:
      return None
    answer = tags[-1]
    if _BOX_CMD.search(answer):
      return _single_boxed(answer)
    return answer.strip()
  return _single_boxed(text[-ANSWER_REGION_CHARS:])

# ---------------------------------------------------------------------------- normalisation

_UNICODE = {'\u2212': '-', '\u2013': '-', '\u00d7': '\\times ', '\u00f7': '\\div ',
            '\u03c0': '\\pi ', '\u221e': '\\infty ', '\u221a': '\\sqrt ', '\u00b0': ''}
_TEXT_CMD = re.compile(
    r'\\(?:text|textbf|textit|textrm|textnormal|mathrm|mathbf|mathit|mbox|operatorname)'
    r'\s*\{([^{}]*)\}')
_DROP = re.compile(
    r'\\(?:left|right|big|Big|bigg|Bigg)(?![a-zA-Z])|\\displaystyle|\\!|\$|\\\$|\\\(|\\\)'
    r'|\\\[|\\\]|\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|\\circ|\\degree|\\%|%')
_SPACE = re.compile(r'\\[,;: ]|\\q?quad|~')
_LEAD = re.compile(r'^(?:the\s+)?(?:final\s+)?answer\s*(?:is|:)\s*', re.I)
_ASSIGN = re.compile(r'^[a-zA-Z]\s*(?:=|\\in)\s*(?!.*=)')
_UNIT_WORD = re.compile(r'^[a-zA-Z]{2,}\.?(?:\^\{?[23]\}?)?$')
_KEEP_WORDS = {'pi', 'sqrt', 'sin', 'cos', 'tan', 'log', 'ln', 'exp', 'infty', 'infinity'}
_THOUSANDS = re.compile(r'^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$', re.A)


def normalize_answer(answer: str | None) -> str | None:
  """Canonical text of an answer, or None if it cannot be a rewarded answer (too long,
  control characters, several candidates joined by 'or'/'and')."""
  if not isinstance(answer, str) or len(answer) > MAX_ANSWER_CHARS:
    return None
  s = unicodedata.normalize('NFKC', answer)
  if any(unicodedata.category(c) == 'Cc' and c not in '\t\n\r' for c in s):
    return None
  for k, v in _UNICODE.items():
    s = s.replace(k, v)
  if _BOX_CMD.search(s):
    s = _single_boxed(s)
    if s is None:
      return None
  s = re.sub(r'(\d)\\,(\d{3})', r'\1\2', s)      # 1\,000
  s = s.replace('{,}', ',')                       # 1{,}000
  for _ in range(3):
    s = _TEXT_CMD.sub(r' \1 ', s)
  s = _DROP.sub('', s)
  s = _SPACE.sub(' ', s)
  s = re.sub(r'\\[dt]frac', r'\\frac', s)
  s = re.sub(r'\s*\^\s*', '^', ' '.join(s.split()))
  s = _LEAD.sub('', s).strip().rstrip('.').strip()
  words = s.split(' ')
  while len(words) > 1 and _UNIT_WORD.match(words[-1]) and (
      words[-1].lower() not in _KEEP_WORDS) and re.search(r'\d', ' '.join(words[:-1])):
    if words[-1].lower() in ('or', 'and'):
      return None
    words.pop()
  s = ' '.join(words)
  if re.search(r'(?:^|\s)(?:or|and)(?:\s|$)', s):
    return None
  s = _ASSIGN.sub('', s).strip()
  if _THOUSANDS.match(s):
    s = s.replace(',', '')
  return s or None

# ---------------------------------------------------------------------------- fast path

# ASCII digits only (re.ASCII below): NFKC already maps fullwidth and mathematical digits;
# other scripts' digits are not accepted as numbers.
_NUM = r'[+-]?(?:\d+\.?\d*|\.\d+)'
_FAST = [
    ('plain', re.compile(rf'^({_NUM})$', re.A)),
    ('sci', re.compile(rf'^({_NUM})\s*(?:[eE]|(?:\\times|\\cdot|\*)\s*10\s*\^)\s*'
                       r'\{?\s*([+-]?\d{1,3})\s*\}?$', re.A)),
    ('frac', re.compile(r'^([+-]?\d+)\s*/\s*(\d+)$', re.A)),
    ('latex_frac', re.compile(r'^([+-]?)\\frac\s*(?:\{\s*([+-]?\d+)\s*\}|(\d))'
                              r'\s*(?:\{\s*(\d+)\s*\}|(\d))$', re.A)),
    ('mixed', re.compile(r'^([+-]?)(\d+)\s+(\d+)\s*/\s*(\d+)$', re.A)),
    ('latex_mixed', re.compile(r'^([+-]?)(\d+)\s*\\frac\s*\{(\d+)\}\s*\{(\d+)\}$', re.A)),
]


def fast_number(s: str) -> tuple[Fraction, bool] | None:
  """(value, exact) if the normalised answer is a plain number, else None."""
  if len(s) > 120:
    return None
  for kind, pattern in _FAST:
    m = pattern.match(s)
    if m is None:
      continue
    g = m.groups()
    if kind == 'plain':
      return Fraction(g[0]), '.' not in g[0]
    if kind == 'sci':
      return Fraction(g[0]) * Fraction(10) ** int(g[1]), '.' not in g[0]
    if kind == 'frac':
      return (Fraction(int(g[0]), int(g[1])), True) if int(g[1]) else None
    if kind == 'latex_frac':
      num, den = int(g[1] or g[2]), int(g[3] or g[4])
      if den == 0:
        return None
      return (-1 if g[0] == '-' else 1) * Fraction(num, den), True
    whole, num, den = int(g[1]), int(g[2]), int(g[3])
    if den == 0 or num >= den:   # "2 3/2" is not a mixed number: let the parser decide
      return None
    return (-1 if g[0] == '-' else 1) * (whole + Fraction(num, den)), True
  return None


def _fast_equal(a: tuple[Fraction, bool], b: tuple[Fraction, bool]) -> bool:
  (x, x_exact), (y, y_exact) = a, b
  if x == y or (x_exact and y_exact):
    return x == y
  return abs(x - y) <= DECIMAL_RTOL * max(abs(x), abs(y))


def _decide_fast(pred: str | None, gold: str | None) -> bool | None:
  """True/False when decidable without sympy, None when the slow path is needed."""
  if pred is None or gold is None:
    return False
  if pred == gold:
    return True
  a, b = fast_number(pred), fast_number(gold)
  if a is not None and b is not None:
    return _fast_equal(a, b)
  return None

# ---------------------------------------------------------------------------- equivalence


def verify_batch(preds: Sequence[str | None], golds: Sequence[str], pool=None) -> np.ndarray:
  """bool [N]: is_equivalent for each pair; undecided pairs go to `pool` in one batch
  (deduplicated). pool=None uses the process-wide default pool."""
  results = np.zeros(len(preds), bool)
  slow: dict[tuple[str, str], list[int]] = {}
  for i, (pred, gold) in enumerate(zip(preds, golds)):
    p, g = normalize_answer(pred), normalize_answer(gold)
    decided = _decide_fast(p, g)
    if decided is None:
      slow.setdefault((p, g), []).append(i)
    else:
      results[i] = decided
  if slow:
    if pool is None:
      from r1jax.rewards.pool import default_pool
      pool = default_pool()
    pairs = list(slow)
    for pair, ok in zip(pairs, pool.check(pairs)):
      results[slow[pair]] = ok
  return results


def is_equivalent(pred: str, gold: str, pool=None) -> bool:
  """Mathematical equivalence of two answer strings (never evaluates them as code).

  Returns False for anything unparseable, over the size limits, or that takes longer
  than the pool's timeout."""
  return bool(verify_batch([pred], [gold], pool=pool)[0])


@register('math_accuracy')
def math_accuracy(batch: RewardBatch, pool=None, answer_source: str = 'auto') -> np.ndarray:
  """1.0 where the extracted answer equals metadata['answer'], else 0.0. float32 [N]."""
  preds = [extract_answer(c, answer_source) for c in batch.completions]
  golds = [str(m['answer']) for m in batch.metadata]
  return verify_batch(preds, golds, pool=pool).astype(np.float32)
