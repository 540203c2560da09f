"""Math answers: extraction, normalisation, equivalence, and the 'math_accuracy' reward.

Two paths decide `is_equivalent(pred, gold)`:
  fast   normalised strings that are plain numbers (integers, decimals, 1,000-style
         commas, a/b, \\frac{a}{b}, mixed numbers, scientific notation, percentages) are
         compared with fractions.Fraction in the calling process: no sympy, no subprocess.
  slow   everything else goes to a `VerifierPool` worker: the restricted-grammar parser
         (`latex_parse`, no eval/sympify) then sympy (`symbolic`), killed on timeout.
"""

from __future__ import annotations

import bisect
import functools
import math
import re
import unicodedata
from fractions import Fraction
from typing import Sequence

import numpy as np

from r1jax.rewards.base import RewardBatch, register

MAX_ANSWER_CHARS = 1000     # longer answers are not rewarded
MAX_BOXES = 20              # only the last this many \boxed{} of the answer region are read
ANSWER_REGION_CHARS = 8000  # answers are looked for in the completion's tail
DECIMAL_RTOL = 1e-6         # tolerance when two decimals are compared
BOX_GROUP_GAP = 12          # boxes with at most this much text between them form one group

# ---------------------------------------------------------------------------- extraction

_BOX_CMD = re.compile(r'\\(?:boxed|fbox)\s*')


def _boxes(text: str) -> list[tuple[int, int, str]] | None:
  """(start, end, content) of the outermost boxes among the last MAX_BOXES \\boxed{...}
  in `text`; None if one of them is unbalanced."""
  out = []
  for m in list(_BOX_CMD.finditer(text))[-MAX_BOXES:]:
    if out and m.start() < out[-1][1]:
      continue   # a box inside a box
    start = m.end()
    if start < len(text) and text[start] == '{':
      depth = 0
      for j in range(start, min(len(text), start + MAX_ANSWER_CHARS + 2)):
        depth += {'{': 1, '}': -1}.get(text[j], 0)
        if depth == 0:
          out.append((m.start(), j + 1, text[start + 1:j]))
          break
      else:
        return None
    else:   # "\boxed 5"
      word = re.match(r'[^\s$]+', text[start:start + MAX_ANSWER_CHARS])
      if word:
        out.append((m.start(), start + word.end(), word.group()))
  return out


_GAP_FILLER = re.compile(r'\b(?:and|or)\b|\\q?quad|\\text\s*\{[^{}]*\}|\\[,;:! \]\[()]|[\s$.,;&]|\\\\')


def _box_group(text: str) -> list[str] | None:
  """Contents of the final group of boxes: the last box and the boxes just before it with
  at most BOX_GROUP_GAP characters of text between them (`\\boxed{-2} and \\boxed{1}`).
  Identical contents are kept once. None: no box, or unbalanced/too many boxes."""
  boxes = _boxes(text)
  if not boxes:
    return None
  k = len(boxes) - 1
  while k > 0 and len(_GAP_FILLER.sub('', text[boxes[k - 1][1]:boxes[k][0]])) <= BOX_GROUP_GAP \
      and boxes[k][0] - boxes[k - 1][1] <= 4 * BOX_GROUP_GAP:
    k -= 1
  group = []
  for _, _, content in boxes[k:]:
    if content.strip() not in group:
      group.append(content.strip())
  return group


def _boxed_answer(text: str) -> str | None:
  """The last box's content, or the final group as `\\boxed{a} \\boxed{b}`."""
  group = _box_group(text)
  if not group:
    return None
  if len(group) == 1:
    return group[0]
  return ' '.join(f'\\boxed{{{g}}}' for g in group)


_JUNK = re.compile(r'<\|[a-z_]+\|>.*|<\|endoftext\|>.*|</s>.*', re.S)
_HOPE = re.compile(r'I hope (?:it|this) is correct\.?', re.I)
_FINAL = re.compile(r'\bfinal\s+answer\b', re.I)
_KEYWORD = re.compile(r'\b(?:final\s+answer|answer)\b', re.I)
_COPULA = re.compile(r'\b(?:is|are|equals|be)\b|:|(?<![<>!=])=(?!=)', re.I)
_DELIMITER = re.compile(r'\$\$|\\\[|\\\]|\\\(|\\\)|(?<!\\)\$')
_CLOSES = {'$$': '$$', '\\[': '\\]', '\\(': '\\)', '$': '$'}
_NUMBER = re.compile(r'(?<![A-Za-z\d.])[-+−]?(?:[$€£¥]\s?)?(?:\d[\d,]*(?:\.\d+)?|\.\d+)(?:\s?/\s?\d+)?'
                     r'(?:\s?(?:\\?%|percent\b))?')
_SENTENCE_END = re.compile(r'\.(?:\s|$)|\n|;|!|\?')
_WORD = re.compile(r'(?<!\\)\b[A-Za-z]{2,}\b')


def _math_spans(text: str) -> list[tuple[int, int, str]]:
  """(start, end, content) of the math spans $$..$$, \\[..\\], \\(..\\), $..$ in one linear
  pass; inline spans ($, \\() do not cross a newline."""
  spans, open_tok, open_end = [], None, 0
  for m in _DELIMITER.finditer(text):
    tok = m.group()
    if open_tok is not None and tok == _CLOSES[open_tok]:
      content = text[open_end:m.start()]
      inline = open_tok in ('$', '\\(')
      if content.strip() and len(content) <= 2000 and not (inline and '\n' in content):
        spans.append((open_end - len(open_tok), m.end(), content))
        open_tok = None
        continue
      open_tok = None
    if open_tok is None and tok in _CLOSES:
      open_tok, open_end = tok, m.end()
  return spans


def _inside(spans, pos: int) -> bool:
  """`pos` lies inside one of `spans` (sorted, non-overlapping (start, end, _))."""
  k = bisect.bisect_right(spans, (pos, math.inf)) - 1
  return k >= 0 and spans[k][0] <= pos < spans[k][1]


def _after_copula(seg: str, spans) -> str | None:
  """The answer after the last 'is'/':'/'=' in `seg` that is followed by a math span or a
  number before the sentence ends (the 'Final Answer: The smallest $k$ is 7.' form)."""
  for m in reversed(list(_COPULA.finditer(seg))[-12:]):
    if _inside(spans, m.start()):
      continue
    rest = seg[m.end():]
    first = bisect.bisect_left(spans, (m.end(),))
    found = _answer_in(rest, [(s - m.end(), e - m.end(), c) for s, e, c in spans[first:first + 4]])
    if found is not None:
      return found
  return None


def _answer_in(rest: str, spans) -> str | None:
  """A math span right after the copula, or the sentence if it is math, or its last number."""
  lead = len(rest) - len(rest.lstrip())
  rest, spans = rest[lead:], [(s - lead, e - lead, c) for s, e, c in spans]
  end = _SENTENCE_END.search(rest)
  stop = end.start() if end else len(rest)
  for k, (s, e, content) in enumerate(spans):
    if s < stop and not rest[:s].strip(' \t*'):   # the span opens the remainder
      parts, last = [content], e
      for s2, e2, more in spans[k + 1:k + 20]:   # "$x = 1$ and $x = 3$", "$1$, $2$, or $3$"
        joint = _JOINT.fullmatch(rest[last:s2])
        if not joint:
          break
        parts += [joint.group(1), more]
        last = e2
      return ' '.join(parts)
    if s < stop:
      break
  sentence = rest[:stop].strip(' \t*')
  choice = re.fullmatch(r'\(?([A-E])\)?', sentence)
  if choice:   # a multiple-choice letter: "The correct option is (B)."
    return choice.group(1)
  if not re.search(r'\d', sentence) or re.search(r'\$(?!\s?\d)|\\\(', sentence):
    return None
  words = {w.lower() for w in _WORD.findall(re.sub(r'\\[a-zA-Z]+', '', sentence))}
  if not words - {'and', 'or'} or 'or' in words:   # math, or a hedge for `normalize` to refuse
    return sentence
  numbers = _NUMBER.findall(sentence)
  return numbers[-1].strip() if numbers else None


_SENTENCE_START = re.compile(r'[.!?](?:\s|$)|\n')
_JOINT = re.compile(r'\s*(,\s*(?:and|or)?|and|or)\s*')


def _phrase_answer(text: str) -> str | None:
  """The answer of a completion without a box or an answer tag: the math after the last
  'final answer'/'answer' and its 'is'/':' (\\( \\), \\[ \\], $$ $$, $ $ or plain text), else
  the last math span or number, read after the 'is' of its sentence if it has one."""
  text = _HOPE.sub('', _JUNK.sub('', text))[-ANSWER_REGION_CHARS:].strip()
  if len(text) <= 200 and not _WORD.search(re.sub(r'\\[a-zA-Z]+', '', text)):
    return text or None   # the whole text is the answer: "1 000", "\frac{10}{9}"
  spans = _math_spans(text)
  keywords = [m for m in _KEYWORD.finditer(text)
              if not _inside(spans, m.start())]
  if keywords:
    start = keywords[-1].end()
    seg = text[start:]
    if re.search(r'\d|\$|\\[(\[]', seg):
      seg_spans = [(s - start, e - start, c) for s, e, c in spans if s >= start]
      found = _after_copula(seg, seg_spans)
      if found is None:
        lead = len(seg) - len(seg.lstrip(' \t*:'))
        found = _answer_in(seg[lead:], [(s - lead, e - lead, c) for s, e, c in seg_spans])
      return found.strip() if found else None
  # No usable keyword: the last math span or number, in its sentence.
  numbers = [m for m in _NUMBER.finditer(text)
             if not _inside(spans, m.start())]
  items = [(s, e) for s, e, _ in spans] + [(m.start(), m.end()) for m in numbers]
  if not items:   # no number: perhaps a choice, "The correct option is (B)."
    return _after_copula(text[-200:], [])
  item_start, item_end = max(items, key=lambda x: x[1])
  bounds = [m.end() for m in _SENTENCE_START.finditer(text, 0, item_start)
            if not _inside(spans, m.start())]
  bounds += [e for s, e, c in spans if e <= item_start and text[s] in '$\\' and (
      text.startswith('$$', s) or text.startswith('\\[', s))]   # after display math
  start = max([0] + bounds)
  seg = text[start:item_end]
  found = _after_copula(seg, [(s - start, e - start, c) for s, e, c in spans
                              if start <= s and e <= item_end])
  if found is not None:
    return found.strip()
  for s, e, content in spans:
    if (s, e) == (item_start, item_end):
      return content.strip()
  return text[item_start:item_end].strip()


ANSWER_SOURCES = ('auto', 'tagged', 'answer_tag', 'boxed')


def extract_answer(text: str, source: str = 'auto') -> str | None:
  """The final answer of a completion, or None.

  source: 'answer_tag' - the last <answer>...</answer> as written; 'tagged' - the last
    answer tag read as 'auto' reads one (a boxed answer or a sentence inside it), and nothing
    outside a tag counts (DeepSeek-R1's rule reward; the R1 templates use it); 'boxed' - the
    last \\boxed{...};
    'auto' - the last answer tag if the text has one, else the last boxed answer, else the
    math after 'final answer'/'the answer is'/'is' (or the last math span or number); with
    a <think> block this last, unmarked kind is only looked for after </think>.
  The last answer counts (R1's self-corrections: `\\boxed{8} ... wait ... \\boxed{6}` is 6).
  Boxes written together (`\\boxed{-2} and \\boxed{1}`) come back as `\\boxed{-2} \\boxed{1}`:
  `is_equivalent` compares the last one with a single gold, all of them with a gold that
  has several answers. Inside an answer tag a \\boxed{} is unwrapped.
  """
  if source not in ANSWER_SOURCES:
    raise ValueError(f"answer_source={source!r}; use one of {ANSWER_SOURCES}")
  if not isinstance(text, str):
    return None
  if source in ('answer_tag', 'tagged') or (source == 'auto' and '<answer>' in text):
    end = text.rfind('</answer>')   # the last complete tag, found without a regex scan
    start = text.rfind('<answer>', 0, end) if end >= 0 else -1
    if start < 0:
      return None
    answer = text[start + len('<answer>'):end]
    if _BOX_CMD.search(answer):
      return _boxed_answer(answer)
    words = _WORD.findall(_TEXT_CMD.sub('', re.sub(r'\\[a-zA-Z]+', '', answer)))
    if source != 'answer_tag' and '```' not in answer and len(
        [w for w in words if w.lower() not in ('and', 'or')]) >= 3:
      return _phrase_answer(answer) or answer.strip()   # a sentence: "The total is 18."
    return answer.strip()
  region = text[-ANSWER_REGION_CHARS:]
  if source == 'boxed':
    return _boxed_answer(region)
  boxes = list(_BOX_CMD.finditer(region))
  if boxes:
    final = [m for m in _FINAL.finditer(region) if m.start() > boxes[-1].end()]
    if final:   # "... \boxed{200} ... Final Answer: The final answer is $10,455$."
      found = _phrase_answer(region[final[-1].start():])
      if found is not None:
        return found
    return _boxed_answer(region)
  if '<think>' in text or '</think>' in text:   # unboxed answers count only after thinking
    if '</think>' not in region:
      return None
    region = region[region.rindex('</think>') + len('</think>'):]
  return _phrase_answer(region)

# ---------------------------------------------------------------------------- normalisation

_PRE_NFKC = {'\u00b2': '^2', '\u00b3': '^3', '\u00b9': '^1'}
_UNICODE = {'\u2212': '-', '\u2013': '-', '\u2014': '-', '\u00d7': '\\times ',
            '\u00f7': '\\div ', '\u03c0': '\\pi ', '\u221e': '\\infty ', '\u221a': '\\sqrt ',
            '\u00b0': '', '\u2264': '\\le ', '\u2265': '\\ge ', '\u2260': '\\ne ',
            '\u00b1': '\\pm ', '\u2213': '\\mp ', '\u00b7': '\\cdot ', '\u22c5': '\\cdot ',
            '\u222a': '\\cup ', '\u2208': '\\in ', '\u2248': '\\approx ', '\u2205': '\\emptyset ',
            '\u2044': '/', '\u20ac': '', '\u00a3': '', '\u00a5': '', '\u20b9': ''}
_ALIAS = {'\\lbrace': '\\{', '\\rbrace': '\\}', '\\vert': '|', '\\lvert': '|', '\\rvert': '|',
          '\\mid': '|', '\\infin': '\\infty', '\\dots': '...', '\\ldots': '...', '\\cdots': '...'}
_ALIASES = re.compile(r'\\(?:lbrace|rbrace|l?r?vert|mid|infin|l?c?dots)(?![a-zA-Z])')
_ALL_REALS = re.compile(r'^\s*all real numbers\s*$', re.I)
_MATHBB_R = re.compile(r'\\mathbb\s*\{?R\}?')
_REPEATING = re.compile(r'(?<![\d.])(\d*)\.(\d*)\\overline\s*\{(\d{1,12})\}')


def _repeating_fraction(m) -> str:
  """0.1\\overline{6} -> 1/6 (a repeating decimal as an exact fraction)."""
  whole, fixed, period = m.group(1) or '0', m.group(2), m.group(3)
  value = Fraction(int(whole + fixed + period) - int(whole + fixed),
                   10 ** len(fixed) * (10 ** len(period) - 1))
  return f'{value.numerator}/{value.denominator}'


_TEXT_CMD = re.compile(
    r'\\(?:text|textbf|textit|textrm|textnormal|textsf|texttt|textup|emph|mathrm|mathbf'
    r'|mathit|mathsf|mathcal|boldsymbol|bm|mbox|hbox|operatorname)\s*\{([^{}]*)\}')
_DROP = re.compile(
    r'\\(?:left|right|big|Big|bigg|Bigg)(?![a-zA-Z])|\\displaystyle|\\!|\\\$|\$|\\\(|\\\)'
    r'|\\\[|\\\]|\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|\\circ|\\degree|\\%|%|\\limits'
    r'|\\(?:tiny|small|large|Large|normalsize)\b|\\[hv]space\*?\s*\{[^{}]*\}')
_PERCENT = re.compile(r'\\%|%|\bper\s*cent\b|\bpercent(?:age)?\b|\bpct\b', re.I)
_SPACE = re.compile(r'\\[,;: ]|\\q?quad|~')
_MATRIX_BEGIN = re.compile(r'\\begin\s*\{(?:[pbvBV]?matrix|smallmatrix|array)\}(?:\s*\{[^{}]*\})?')
_MATRIX_END = re.compile(r'\\end\s*\{(?:[pbvBV]?matrix|smallmatrix|array)\}')
_LEAD = re.compile(r'^(?:(?:so|thus|therefore|hence),?\s+)?(?:the\s+)?(?:final\s+)?answer'
                   r'\s*(?:is|:)\s*:?\s*', re.I)
_UNIT_WORD = re.compile(r'^(?:\\?[a-zA-Z]{2,}\.?|[a-zA-Z]{1,5}/[a-zA-Z]{1,5})(?:\^\{?[23]\}?)?$')
_UNIT_ATTACHED = re.compile(
    r'^(.*\d)\s*(?:cm|mm|km|m|kg|mg|g|ml|mL|L|s|ms|h|hr|hrs|min|ft|in|yd|mi|lb|lbs|oz|'
    r'sq|units?)(?:\^\{?[23]\}?)?$')
_KEEP_WORDS = {'pi', 'sqrt', 'sin', 'cos', 'tan', 'cot', 'sec', 'csc', 'log', 'ln', 'exp',
               'infty', 'infinity', 'frac', 'cup', 'pm', 'le', 'ge', 'leq', 'geq', 'ne',
               'neq', 'lt', 'gt', 'in', 'emptyset', 'varnothing', 'matend', 'sinh', 'cosh',
               'tanh', 'arcsin', 'arccos', 'arctan'}
_LEAD_UNIT = re.compile(r'^(?:USD|EUR|Rs\.?|INR)\s*', re.I)
_THOUSANDS = re.compile(r'^[+-]?[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?$', re.A)
_SPACE_THOUSANDS = re.compile(r'^[+-]?[1-9]\d{0,2}(?: \d{3})+(?:[.,]\d+)?$', re.A)
_DECIMAL_COMMA = re.compile(r'^[+-]?(?:0,\d{2,}|[1-9]\d*,\d{1,2}|\d+,\d{4,})$', re.A)
_INEQUALITY = re.compile(r'<|>|\\[lg]eq?(?![a-z])|\\[lg]t(?![a-z])|\\[lg]eqslant')
_CONNECTIVE = re.compile(r'\s+(?:and|or)\s+|\s*,\s*(?:and|or)\s+')


def _split_top(s: str, sep: str) -> list[str]:
  """`s` split at `sep` outside (), [], {} (so intervals like (1, 5] stay whole)."""
  if sep not in s:
    return [s]
  parts, depth, last, i = [], 0, 0, 0
  while i < len(s):
    c = s[i]
    if c in '([{':
      depth += 1
    elif c in ')]}':
      depth = max(0, depth - 1)
    elif depth == 0 and s.startswith(sep, i):
      parts.append(s[last:i])
      last = i + len(sep)
      i = last
      continue
    i += 1
  parts.append(s[last:])
  return parts


def _latex_clean(s: str) -> str:
  """The LaTeX part of `_clean`: separators, matrices, text commands, spacing, delimiters."""
  if not _MATRIX_BEGIN.search(s):   # a mis-escaped command: \\le -> \le
    s = re.sub(r'\\\\(?=[a-zA-Z])', r'\\', s)
  s = re.sub(r',\s*\\!\s*', ',', s)               # 4,\! 096,\! 000
  s = re.sub(r'(?<=\d)\\,(?=\d{3}(?!\d))', '', s)   # 1\,000\,000
  s = re.sub(r'\{\s*,\s*\}', ',', s)              # 1{,}000
  if _MATRIX_BEGIN.search(s):
    s = _MATRIX_END.sub(r' \\matend ', _MATRIX_BEGIN.sub(r' \\matbegin ', s))
    s = s.replace('\\\\', ' \\row ')
  else:
    s = s.replace('\\\\', ' ')
  for _ in range(3):
    s = _TEXT_CMD.sub(r' \1 ', s)
  s = _PERCENT.sub(' ', s)
  s = _DROP.sub('', s)
  s = _SPACE.sub(' ', s)
  s = re.sub(r'\\[dtc]frac', r'\\frac', s)
  s = _REPEATING.sub(_repeating_fraction, s)
  s = re.sub(r'\\\{\s*\\\}', r'\\emptyset', s)
  return _MATHBB_R.sub(r'(-\\infty, \\infty)', s)


def _clean(answer) -> tuple[str, bool] | None:
  """(canonical text, had a percent mark), or None if it cannot be a rewarded answer."""
  if not isinstance(answer, str) or len(answer) > MAX_ANSWER_CHARS:
    return None
  s = answer
  for k, v in _PRE_NFKC.items():
    s = s.replace(k, v)
  s = unicodedata.normalize('NFKC', s)
  if any(unicodedata.category(c) == 'Cc' and c not in '\t\n\r' for c in s):
    return None
  for k, v in _UNICODE.items():
    s = s.replace(k, v)
  s = _ALIASES.sub(lambda m: _ALIAS[m.group()], s)
  if _BOX_CMD.search(s):
    group = _box_group(s)
    if not group:
      return None
    s = group[-1]
  percent = bool(_PERCENT.search(s))
  if '\\' in s or '$' in s or '{' in s:
    s = _latex_clean(s)
  elif percent:
    s = _PERCENT.sub(' ', s)
  if 'all real' in s.lower():
    s = _ALL_REALS.sub(r'(-\\infty, \\infty)', s)
  s = re.sub(r'\s*\^\s*', '^', ' '.join(s.split()))
  s = _LEAD.sub('', s).strip()
  if not re.search(r'(?:\.\.\.|\\[lc]?dots)$', s):
    s = re.sub(r'(?:\s*[.,;:])+$', '', s).strip()
  s = _LEAD_UNIT.sub('', s)
  parts = [p.strip() for p in _CONNECTIVE.split(s)]
  if len(parts) > 1:
    joiner = ' \\cup ' if all(_INEQUALITY.search(p) for p in parts) else ', '
    s = joiner.join(p for p in parts if p)
  if _THOUSANDS.match(s):
    s = s.replace(',', '')
  elif _SPACE_THOUSANDS.match(s):
    s = s.replace(' ', '')
  items = _split_top(s, ',')
  stripped = [_strip_units(item) for item in items]
  if stripped != [item.strip() for item in items]:
    s = ', '.join(stripped)
    if _THOUSANDS.match(s.replace(', ', ',')):
      s = s.replace(', ', '')
  if s.lower() in ('and', 'or'):
    return None
  if re.fullmatch(r'[A-Za-z][A-Za-z ]+', s):   # a word answer: compared case-insensitively
    s = s.lower()
  elif re.fullmatch(r'\(\s*([A-Za-z])\s*\)', s):   # multiple choice "(C)"
    s = s[1:-1].strip()
  return (s, percent) if s else None


def _strip_units(item: str) -> str:
  """'5 cm' -> '5', '1,000.99m^2' -> '1,000.99': trailing unit words after a number."""
  words = item.strip().split(' ')
  while len(words) > 1 and _UNIT_WORD.match(words[-1]) and (
      words[-1].lstrip('\\').rstrip('.').lower() not in _KEEP_WORDS) and re.search(
          r'\d', ' '.join(words[:-1])):
    words.pop()
  item = ' '.join(words)
  m = _UNIT_ATTACHED.match(item)
  if m and re.fullmatch(r'[-+]?[\d,. ]+', m.group(1)):
    item = m.group(1)
  return item


_LABEL_NAME = (r"(?:\\(?:angle|measuredangle|triangle|overline|vec|hat|bar|mathbf|"
               r"alpha|beta|gamma|delta|theta|lambda|mu|phi|omega|sigma|tau|rho|psi|"
               r"epsilon|varepsilon|varphi|eta|xi|zeta|kappa|nu|chi|Delta|Omega|Phi)\s*)*"
               r"\{?[A-Za-z]*\}?(?:_\{?[A-Za-z0-9,]+\}?)?'*(?:\^\{?-1\}?)?")
_LABEL = re.compile(rf"(?:m\s*)?{_LABEL_NAME}(?:\s*\([^()=<>]{{0,20}}\))?")
_LABEL_TUPLE = re.compile(rf"\(\s*{_LABEL_NAME}(?:\s*,\s*{_LABEL_NAME})+\s*\)")
_LABEL_RATIO = re.compile(rf"{_LABEL_NAME}(?:\s*:\s*{_LABEL_NAME})+")


def _is_label(s: str) -> bool:
  """x, PQ, S_1, h(t), f^{-1}(x), \\angle ABC, (a,b), S_1:S_2: a name, not a value."""
  s = s.strip()
  if not re.search(r'[A-Za-z]', s) or re.match(r'[\d.]', s):
    return False
  return bool(_LABEL.fullmatch(s) or _LABEL_TUPLE.fullmatch(s) or _LABEL_RATIO.fullmatch(s))


def _split_equals(item: str) -> list[str]:
  parts, last = [], 0
  for m in re.finditer(r'(?<![<>!=\\])=(?!=)', item):
    parts.append(item[last:m.start()])
    last = m.end()
  parts.append(item[last:])
  return parts


def _strip_labels(s: str) -> str:
  """'y = 2 \\cdot 3 = 6' -> '6' (a chain: the last value); 'x = 3' -> '3'; 'PQ=6, RS=2'
  -> '6, 2'; 'x \\in (1, 5]' -> '(1, 5]'. An equation whose left side is not a name
  (`3x-6y+9=0`) is kept."""
  if '=' not in s and '\\in' not in s and '\\approx' not in s and '\\equiv' not in s:
    return s
  s = s.replace('\\approx', '=').replace('\\equiv', '=')
  items = []
  for item in _split_top(s, ','):
    m = re.match(r'^(.*?)\\in\s+(.*)$', item)
    if m and _is_label(m.group(1)):
      item = m.group(2)
    parts = _split_equals(item) if '=' in item else [item]
    if len(parts) >= 3 and all(p.strip() for p in parts):
      item = parts[-1]
    elif len(parts) == 2 and parts[1].strip() and (
        _is_label(parts[0]) or not re.search(r'[A-Za-z]', re.sub(r'\\[a-z]+', '', item))):
      item = parts[1]   # x = 3, or a computation: \frac12 = 0.5
    items.append(item.strip())
  return ', '.join(items)


def _shift_percent(s: str) -> str:
  """The /100 reading of a percentage: '40' -> '2/5', '12.5' -> '0.125'."""
  number = fast_number(s)
  if number is not None and number[1]:
    value = number[0] / 100
    return f'{value.numerator}/{value.denominator}'
  m = re.fullmatch(r'([+-]?)(\d*)\.(\d+)', s)
  if m:
    whole = m.group(2).rjust(3, '0')
    return f"{m.group(1)}{whole[:-2].lstrip('0') or '0'}.{whole[-2:]}{m.group(3)}"
  return f'({s})/100'


@functools.lru_cache(maxsize=4096)   # a group's G completions share one gold
def _readings(answer: str | None) -> tuple[str, ...]:
  """Normalised readings of one answer, the canonical one first: labels stripped (also
  the whole equation when its left side is a name), the /100 reading of a percentage, the
  decimal reading of a decimal comma ('12,75')."""
  cleaned = _clean(answer)
  if cleaned is None:
    return ()
  base, percent = cleaned
  out = [_strip_labels(base)]
  if base not in out:
    out.append(base)
  choice = re.fullmatch(r'\(([A-E])\)\s*(.+)', base)
  if choice:   # "(D) 12": the choice or its value
    out += [choice.group(1), choice.group(2)]
  if '\\approx' in base:   # x = 1/3 \approx 0.33: the exact value before the approximation
    out.append(_strip_labels(base.split('\\approx')[0]))
  for r in list(out):
    if _DECIMAL_COMMA.match(r):
      out.append(r.replace(',', '.'))
  if percent:
    out += [_shift_percent(r) for r in list(out)]
  return tuple(dict.fromkeys(r for r in out if r))


def _candidates(answer: str | None, gold: bool) -> list[str]:
  """The answers to compare: a gold's several boxes become one list; a prediction's box
  group gives its last box, and the whole group (compared only as a several-answer set)."""
  if not isinstance(answer, str) or len(answer) > ANSWER_REGION_CHARS:
    return []
  if not _BOX_CMD.search(answer):
    return [answer]
  group = _box_group(answer)
  if not group:
    return []
  if len(group) == 1:
    return group
  if gold:
    return [', '.join(group)]
  return [group[-1], ', '.join(group)]


def normalize_answer(answer: str | None) -> str | None:
  """Canonical text of an answer, or None if it cannot be a rewarded answer (too long,
  control characters, empty)."""
  readings = _readings(answer)
  return readings[0] if readings else None

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
    ('latex_mixed', re.compile(r'^([+-]?)(\d+)\s*\\frac\s*(?:\{(\d+)\}|(\d))\s*(?:\{(\d+)\}|(\d))$',
                               re.A)),
]


def _half_ulp(literal: str) -> Fraction | None:
  """Half a unit of a decimal literal's last digit, if it has >= 2 significant digits."""
  digits = literal.lstrip('+-').replace('.', '').lstrip('0')
  if '.' not in literal or len(digits) < 2:
    return None
  return Fraction(1, 2 * 10 ** (len(literal) - literal.index('.') - 1))


def fast_number(s: str) -> tuple[Fraction, bool, Fraction | None] | None:
  """(value, exact, half_ulp) if the normalised answer is a plain number, else None.
  half_ulp: for a decimal with >= 2 significant digits, half a unit of its last digit."""
  if len(s) > 120:
    return None
  for kind, pattern in _FAST:
    m = pattern.match(s)
    if m is None:
      continue
    g = m.groups()
    if kind == 'plain':
      return Fraction(g[0]), '.' not in g[0], _half_ulp(g[0])
    if kind == 'sci':
      scale = Fraction(10) ** int(g[1])
      half = _half_ulp(g[0])
      return Fraction(g[0]) * scale, '.' not in g[0], half and half * scale
    if kind == 'frac':
      return (Fraction(int(g[0]), int(g[1])), True, None) if int(g[1]) else None
    if kind == 'latex_frac':
      num, den = int(g[1] or g[2]), int(g[3] or g[4])
      if den == 0:
        return None
      return (-1 if g[0] == '-' else 1) * Fraction(num, den), True, None
    if kind == 'latex_mixed':
      g = (g[0], g[1], g[2] or g[3], g[4] or g[5])
    whole, num, den = int(g[1]), int(g[2]), int(g[3])
    if den == 0 or num >= den:   # "2 3/2" is not a mixed number: let the parser decide
      return None
    return (-1 if g[0] == '-' else 1) * (whole + Fraction(num, den)), True, None
  return None


def _fast_equal(a, b) -> bool:
  """Exact values: equal. A decimal and an exact value: equal when the exact value rounds
  to the decimal's digits (0.67 = 2/3; needs >= 2 significant digits, so 0.3 != 1/3).
  Two decimals: relative DECIMAL_RTOL."""
  (x, x_exact, x_half), (y, y_exact, y_half) = a, b
  if x == y or (x_exact and y_exact):
    return x == y
  if y_exact and x_half is not None and abs(x - y) <= x_half:
    return True
  if x_exact and y_half is not None and abs(x - y) <= y_half:
    return True
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


_PLAIN_INT = re.compile(r'^\s*[+-]?\d{1,30}\s*$', re.A)
_SIMPLE = re.compile(r'^[+-]?(?:\d[\d,]*\.?\d*|\.\d+|\d+/\d+|\\[dt]?frac\{\d+\}\{\d+\})$', re.A)


def _simple_number(s):
  """fast_number of a bare number ('12', '-3.50', '1,000', '5/3', '\\frac{3}{4}') without
  the full normalisation; None for anything else (also '1,22', '12,34,5')."""
  s = s.strip()
  if len(s) > 40 or not _SIMPLE.match(s):
    return None
  if ',' in s:
    if not _THOUSANDS.match(s):
      return None
    s = s.replace(',', '')
  return fast_number(re.sub(r'\\[dt]frac', r'\\frac', s))


_EQUALS = re.compile(r'(?<![<>!=\\])=(?!=)')


def _pair_readings(pred, gold) -> list[tuple[str, str]]:
  """The (pred, gold) readings to compare: the canonical pair, and the other pairs where
  both or neither are equations (an equation never equals a non-equation; 'x = 3' vs 3 is
  the canonical pair with the label stripped)."""
  preds = [r for c in _candidates(pred, gold=False) for r in _readings(c)][:8]
  golds = [r for c in _candidates(gold, gold=True) for r in _readings(c)][:8]
  return [(p, g) for i, p in enumerate(preds) for j, g in enumerate(golds)
          if i == j == 0 or bool(_EQUALS.search(p)) == bool(_EQUALS.search(g))]


def verify_batch(preds: Sequence[str | None], golds: Sequence[str], pool=None) -> np.ndarray:
  """bool [N]: is_equivalent for each pair. Each side may have a few readings (a label
  stripped or kept, a percentage as /100, a decimal comma); the pair is equal when any two
  readings are. Undecided readings go to `pool` in one batch (deduplicated). pool=None
  uses the process-wide default pool."""
  results = np.zeros(len(preds), bool)
  slow: dict[tuple[str, str], list[int]] = {}
  for i, (pred, gold) in enumerate(zip(preds, golds)):
    if isinstance(pred, str) and isinstance(gold, str) and _PLAIN_INT.match(pred) \
        and _PLAIN_INT.match(gold):   # the common case: two integers
      results[i] = int(pred) == int(gold)
      continue
    if isinstance(pred, str) and isinstance(gold, str):
      a, b = _simple_number(pred), _simple_number(gold)
      if a is not None and b is not None:   # two bare numbers: no normalisation needed
        results[i] = _fast_equal(a, b)
        continue
    undecided = []
    for p, g in _pair_readings(pred, gold):
      decided = _decide_fast(p, g)
      if decided:
        results[i] = True
        break
      if decided is None:
        undecided.append((p, g))
    else:
      for pair in undecided:
        slow.setdefault(pair, []).append(i)
  if slow:
    if pool is None:
      from r1jax.rewards.pool import default_pool
      pool = default_pool()
    pairs = list(slow)
    for pair, ok in zip(pairs, pool.check(pairs)):
      if ok:
        results[slow[pair]] = True
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
