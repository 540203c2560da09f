"""Record parsers of the real datasets (no TFDS here, so they are testable alone).

Each parser maps one JSON object to an `Example.to_record()` dict or raises RecordError naming
the field; `read_file` applies one to a .jsonl / .json / .parquet file, counts and skips the
records it cannot use and reports each as 'file:line: field: why'.
"""
import json
import os
import re

from r1jax.data.tasks import Example


class RecordError(ValueError):
  def __init__(self, field: str, why: str):
    super().__init__(f'{field}: {why}')
    self.field = field


def _text(obj, field, required=True):
  value = obj.get(field)
  if value is None or (isinstance(value, str) and not value.strip()):
    if required:
      raise RecordError(field, 'missing or empty')
    return ''
  if not isinstance(value, (str, int, float)):
    raise RecordError(field, f'expected text, got {type(value).__name__}')
  return str(value).strip()


def last_boxed(text: str) -> str | None:
  """Content of the last \\boxed{...} (or \\fbox{...}) in text, braces balanced."""
  start = max(text.rfind('\\boxed'), text.rfind('\\fbox'))
  if start < 0:
    return None
  i = text.find('{', start)
  if i < 0:
    rest = text[start + len('\\boxed'):].strip().split('$')[0].split()  # "\boxed 5"
    return rest[0] if rest else None
  depth = 0
  for j in range(i, len(text)):
    depth += {'{': 1, '}': -1}.get(text[j], 0)
    if depth == 0:
      return text[i + 1:j].strip()
  return None


def parse_gsm8k(obj) -> dict:
  """{'question', 'answer': '... reasoning ... #### 72'} -> gold '72'."""
  question, answer = _text(obj, 'question'), _text(obj, 'answer')
  if '####' not in answer:
    raise RecordError('answer', "no '#### <number>' final answer")
  cot, gold = answer.rsplit('####', 1)
  gold = gold.strip().replace(',', '')
  if not re.fullmatch(r'-?\d+(\.\d+)?', gold):
    raise RecordError('answer', f'final answer {gold!r} after #### is not a number')
  cot = re.sub(r'<<[^>]*>>', '', cot).strip()  # calculator annotations
  return Example('gsm8k', question, gold, cot, 0).to_record()


def parse_math(obj) -> dict:
  """MATH / MATH-500: {'problem', 'solution', 'level': 'Level 3', 'type': 'Algebra'}; gold
  from the last \\boxed{} of the solution (or an 'answer' field, as MATH-500 has)."""
  problem, solution = _text(obj, 'problem'), _text(obj, 'solution')
  gold = _text(obj, 'answer', required=False) or last_boxed(solution)
  if not gold:
    raise RecordError('solution', 'no \\boxed{...} answer (and no answer field)')
  level = obj.get('level', 0)
  match = re.search(r'\d+', str(level))
  if level not in (None, '', 0) and not match:
    raise RecordError('level', f'{level!r} is not "Level N" or a number')
  kind = _text(obj, 'type', required=False) or _text(obj, 'subject', required=False) or 'math'
  task = 'math/' + kind.lower().replace(' ', '_').replace('&', 'and')
  return Example(task, problem, gold, solution, int(match.group()) if match else 0).to_record()


def parse_aime(obj) -> dict:
  """AIME-style: {'problem' | 'question', 'answer': integer 0..999, 'solution'?}."""
  question = _text(obj, 'problem', required=False) or _text(obj, 'question')
  gold = _text(obj, 'answer')
  if not re.fullmatch(r'\d{1,3}', gold.lstrip('0') or '0'):
    raise RecordError('answer', f'{gold!r} is not an integer 0..999')
  return Example('aime', question, str(int(gold)), _text(obj, 'solution', required=False),
                 0).to_record()


def parse_qa(obj, question_field='question', answer_field='answer') -> dict:
  """A user's own data: question/answer (+ optional 'solution', 'task', 'level')."""
  question, gold = _text(obj, question_field), _text(obj, answer_field)
  level = obj.get('level', 0) or 0
  try:
    level = int(level)
  except (TypeError, ValueError):
    raise RecordError('level', f'{level!r} is not an integer') from None
  return Example(_text(obj, 'task', required=False) or 'qa', question, gold,
                 _text(obj, 'solution', required=False), level).to_record()


def _objects(path: str):
  """(line number, object or exception) of a .jsonl, .json (list) or .parquet file."""
  if path.endswith('.parquet'):
    import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
    for i, row in enumerate(pq.read_table(path).to_pylist(), 1):
      yield i, row
    return
  if path.endswith('.json'):
    with open(path) as f:
      rows = json.load(f)
    for i, row in enumerate(rows if isinstance(rows, list) else [rows], 1):
      yield i, row
    return
  with open(path, encoding='utf-8') as f:
    for i, line in enumerate(f, 1):
      if not line.strip():
        continue
      try:
        yield i, json.loads(line)
      except json.JSONDecodeError as e:
        yield i, RecordError('line', f'not JSON ({e.msg})')


def read_file(path: str, parser) -> tuple[list[tuple[int, dict]], list[str]]:
  """([(line, record)], ['file:line: field: why', ...]) for one file."""
  good, bad = [], []
  name = os.path.basename(path)
  for line, obj in _objects(path):
    try:
      if isinstance(obj, Exception):
        raise obj
      if not isinstance(obj, dict):
        raise RecordError('line', f'expected a JSON object, got {type(obj).__name__}')
      good.append((line, parser(obj)))
    except RecordError as e:
      bad.append(f'{name}:{line}: {e}')
  return good, bad
