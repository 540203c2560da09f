"""Cold-start data (DeepSeek-R1 sec. 2.3.1): readable long chains of thought with reflection,
at our scale templated worked traces, written as a TFDS array_record dataset in the workdir.

  completion = worked_trace(example, template)        # one trace
  records = read_records(data_dir, name)               # [{'question', 'completion', ...}]

r1jax/stages/cold_start.py builds the set (the filters below need the verifiers).

A trace works the problem in the question's language, then verifies the answer ("check: ...":
the inverse operations back to the first number; x put back into the equation; the numbers and
the value of a countdown expression), and ends in the tagged answer:

  ' <think> 7 + 5 = 12 . 12 - 3 = 9 . check: 9 + 3 = 12 . 12 - 5 = 7 . </think> <answer> 9 </answer>'

Where R1 ends with a free-text summary, the trace ends in the `<answer>` tag our prompts ask
for, so the rule verifiers and the format reward read it unchanged. Every trace passes the
filters R1 applies to its cold-start data before it is kept (counted): the accuracy verifier,
one language in the reasoning, and a length limit in tokens.
"""
import fractions
import hashlib
import json
import os
import re

from r1jax.data import stage_data, templates
from r1jax.data.tasks import Example
from r1jax.data.tasks.languages import cot_steps, render_cot

NAME = 'r1jax_cold_start'
_INVERSE = {'+': '-', '-': '+', '*': '/'}
_CHECK = {'en': 'check:', 'zh': '检查 :'}
FEATURES = ('question', 'prompt', 'completion', 'task', 'language', 'answer')
TEXT_FEATURES = tuple((k, 'text') for k in FEATURES)


def _arithmetic_check(example: Example) -> str:
  """Undo the steps from the answer back to the first number."""
  parts = []
  for step in reversed(cot_steps(example.cot)):
    a, op, b, _, c = step.split()
    parts.append(f'{c} {_INVERSE[op]} {b} = {a} .')
  return ' '.join(parts)


def _linear_value(side: str, x: fractions.Fraction) -> fractions.Fraction:
  """Value of a side like '3 x + 4' or '-2 x - 7' or '5' at x."""
  total, sign, tokens = fractions.Fraction(0), 1, side.split()
  i = 0
  while i < len(tokens):
    token = tokens[i]
    if token in '+-':
      sign = 1 if token == '+' else -1
    elif i + 1 < len(tokens) and tokens[i + 1] == 'x':
      total += sign * int(token) * x
      i += 1
    else:
      total += sign * int(token)
    i += 1
  return total


def _linear_check(example: Example) -> str:
  """Put x back into both sides."""
  equation = example.question.split(':', 1)[1]
  lhs, rhs = (s.strip() for s in equation.split('='))
  x = fractions.Fraction(example.answer.replace(' ', ''))
  left, right = _linear_value(lhs, x), _linear_value(rhs, x)
  if left != right:
    raise ValueError(f'{example.question}: x = {example.answer} does not check')
  return f'x = {example.answer} : {lhs} = {left} , {rhs} = {right} .'


def _countdown_check(example: Example) -> str:
  used = sorted(int(n) for n in re.findall(r'\d+', example.answer))
  numbers = {'en': 'numbers', 'zh': '数字'}[example.language]
  return f'{example.answer} = {example.target} , {numbers} {" ".join(map(str, used))} .'


CHECKS = {'arithmetic': _arithmetic_check, 'linear_equation': _linear_check,
          'countdown': _countdown_check}


def worked_trace(example: Example, template: templates.Template) -> str:
  """The completion: reasoning in the example's language, a check, the tagged answer."""
  reasoning = render_cot(example.cot, example.language)
  check = f'{_CHECK[example.language]} {CHECKS[example.task](example)}'
  return template.completion(f'{reasoning} {check}', example.answer)


def builder_class(name: str = NAME):
  """The TFDS builder of the datasets named `name` (prompt/completion records, FEATURES, all
  text; r1jax/data/stage_data.py defines it). The rejection-sampled sets use it too."""
  return stage_data.builder_class(name, TEXT_FEATURES)


def build_dataset(data_dir: str, name: str, settings: dict, make) -> tuple[str, dict]:
  """Builds (once) the TFDS array_record dataset `name/cfg_<digest of settings>` under
  `data_dir` from `make() -> (records, counts)`; returns its name for `tfds.data_source` and
  the counts (also in <name>_counts/cfg_<digest>.json, written last: its presence means the
  dataset is complete, and a second call reads it instead of building)."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
  short = name[len('r1jax_'):] if name.startswith('r1jax_') else name
  counts_path = os.path.join(data_dir, f'{short}_counts', f'cfg_{digest}.json')
  builder = builder_class(name)
  if os.path.exists(counts_path):
    with open(counts_path) as f:
      return f'{name}/cfg_{digest}', json.load(f)
  records, counts = make()
  builder(records=records, data_dir=data_dir, file_format='array_record',
          config=tfds.core.BuilderConfig(name=f'cfg_{digest}', version='1.0.0',
                                         description=json.dumps(settings))
          ).download_and_prepare()
  os.makedirs(os.path.dirname(counts_path), exist_ok=True)
  with open(counts_path, 'w') as f:
    json.dump(counts, f, indent=1)
  return f'{name}/cfg_{digest}', counts


def read_records(data_dir: str, name: str) -> list[dict]:
  """Every record of a dataset built here, as dicts of str."""
  return stage_data.read_records(data_dir, name, dict(TEXT_FEATURES))


# ---------------------------------------------------------------------------- k1.5 long CoT
# Kimi k1.5 sec. 2.3's long-CoT warm-up: traces that plan, evaluate each intermediate step,
# reflect ("wait — check ...") and try an alternative before answering. They are deliberately
# redundant (each result restated, the answer checked twice), so long2short has something to cut.

_LONG_WORDS = {
    'en': dict(plan='plan : work it out step by step , then check it another way .',
               ok='so {c} , ok .', wait='wait — check :', alt='another way :',
               final='both ways agree , so the answer is {answer} .',
               again='wait — check again :', restate='so , again , the answer is {answer} .'),
    'zh': dict(plan='计划 : 一步一步算 , 再用另一种方法检查 。', ok='所以 {c} , 对 。',
               wait='等等 — 检查 :', alt='另一种方法 :', final='两种方法一致 , 所以答案是 {answer} 。',
               again='等等 — 再检查 :', restate='所以 , 再说一遍 , 答案是 {answer} 。'),
}
MAX_REPEATS = 2   # redundant repeats of the check, and of the restated answer, per trace


def redundancy(example: Example) -> tuple[int, int]:
  """(extra checks, extra restatements) of a long-CoT trace: 0..MAX_REPEATS each, fixed per
  question and language (a hash), so the warm-up set mixes terse and redundant traces."""
  digest = hashlib.sha256(f'{example.language}|{example.question}'.encode()).digest()
  return digest[0] % (MAX_REPEATS + 1), digest[1] % (MAX_REPEATS + 1)


def _arithmetic_alternative(example: Example) -> str:
  """A running total, left to right: '17 , - 5 -> 12 , + 6 -> 18 .'"""
  steps = [s.split() for s in cot_steps(example.cot)]
  return ' , '.join([steps[0][0]] + [f'{op} {b} -> {c}' for _, op, b, _, c in steps]) + ' .'


def _linear_alternative(example: Example) -> str:
  """x from the coefficients at once: 'x = ( 15 - 1 ) / 4 = 7/2 .'"""
  equation = example.question.split(':', 1)[1]
  lhs, rhs = (s.strip() for s in equation.split('='))
  zero, one = fractions.Fraction(0), fractions.Fraction(1)
  slope = _linear_value(lhs, one) - _linear_value(lhs, zero) - (
      _linear_value(rhs, one) - _linear_value(rhs, zero))
  constant = _linear_value(rhs, zero) - _linear_value(lhs, zero)
  if slope == 0 or constant / slope != fractions.Fraction(example.answer.replace(' ', '')):
    raise ValueError(f'{example.question}: the coefficients do not give x = {example.answer}')
  return (f'x = ( {_linear_value(rhs, zero)} - {_linear_value(lhs, zero)} ) / {slope} = '
          f'{example.answer} .')


def _countdown_alternative(example: Example) -> str:
  """The steps with the operands of + and * swapped: '4 * 5 = 20 . 7 + 20 = 27 .'"""
  parts = []
  for step in cot_steps(example.cot):
    a, op, b, _, c = step.split()
    parts.append(f'{b} {op} {a} = {c} .' if op in '+*' else f'{a} {op} {b} = {c} .')
  return ' '.join(parts)


_STEP_END = {'en': '.', 'zh': '。'}
ALTERNATIVES = {'arithmetic': _arithmetic_alternative, 'linear_equation': _linear_alternative,
                'countdown': _countdown_alternative}


def long_cot_trace(example: Example, template: templates.Template) -> str:
  """The completion: a plan, each step followed by an evaluation of its result, a reflection
  that checks the answer ("wait — check : ..."), an alternative route to it, and the answer
  restated; in the example's language. `redundancy` adds 0-2 repeats of the check ("wait —
  check again : ...") and 0-2 of the restated answer: the redundant checking and restating
  that long2short can remove (the shortest correct of a model's samples drops them)."""
  words, end = _LONG_WORDS[example.language], _STEP_END[example.language]
  steps = cot_steps(example.cot)
  rendered = cot_steps(render_cot(example.cot, example.language).replace(end, '.'))
  worked = ' '.join(f'{r} {end} ' + words['ok'].format(c=s.rsplit('=', 1)[1].strip())
                    for r, s in zip(rendered, steps))
  checks, restates = redundancy(example)
  check = CHECKS[example.task](example)
  reasoning = ' '.join([words['plan'], worked, words['wait'], check,
                        *[f"{words['again']} {check}"] * checks,
                        words['alt'], ALTERNATIVES[example.task](example),
                        words['final'].format(answer=example.answer),
                        *[words['restate'].format(answer=example.answer)] * restates])
  return template.completion(reasoning, example.answer)


def long_cot_lines(examples, languages=('en',), num: int = 300) -> list[str]:
  """Long-CoT traces of the first `num` examples in each language, for the tokenizer corpus
  (data.long_cot): their words become pieces instead of letters."""
  from r1jax.data.tasks.languages import localize  # pylint: disable=g-import-not-at-top
  template = templates.get_template('r1_zero')
  return [long_cot_trace(localize(ex, language), template)
          for ex in list(examples)[:num] for language in sorted(languages)
          if ex.language == 'en' and ex.task in ALTERNATIVES]
