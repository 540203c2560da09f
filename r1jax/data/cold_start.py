"""Cold-start data (DeepSeek-R1 sec. 2.3.1): readable long chains of thought with reflection,
at our scale templated worked traces, written as a TFDS array_record dataset in the workdir.

  name, counts = build_cold_start(data_dir, config)   # builds once; counts of each filter
  records = read_cold_start(data_dir, config)          # [{'question', 'completion', ...}]

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
import functools
import hashlib
import json
import os
import re

import numpy as np

from r1jax.data import templates
from r1jax.data.tasks import Example, make_examples
from r1jax.data.tasks.languages import assign_languages, cot_steps, render_cot

NAME = 'r1jax_cold_start'
_INVERSE = {'+': '-', '-': '+', '*': '/'}
_CHECK = {'en': 'check:', 'zh': '检查 :'}
FEATURES = ('question', 'prompt', 'completion', 'task', 'language', 'answer')


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


def make_traces(config, tokenizer=None, split: str = 'train') -> tuple[list[dict], dict]:
  """The filtered traces of config.data's `split` problems (train.cold_start_examples of the
  training split, data.num_heldout of the held-out one), and the counts of each filter:
  {'generated', 'dropped_incorrect', 'dropped_mixed_language', 'dropped_too_long', 'kept',
  'kept/<language>', 'kept/<task>'}. Without a tokenizer the length filter is off."""
  from r1jax import evaluate, rewards  # pylint: disable=g-import-not-at-top
  data, template = config.data, templates.get_template(config.data.template)
  num = config.train.cold_start_examples if split == 'train' else data.num_heldout
  examples = make_examples(tuple(data.tasks), split, int(num), int(data.seed) + 7,
                           tuple(data.difficulties))
  examples = assign_languages(examples, data.languages, int(data.seed))
  prompts = [template.prompt(ex.question) for ex in examples]
  completions = [worked_trace(ex, template) for ex in examples]
  batch = rewards.RewardBatch(completions, prompts, [ex.metadata() for ex in examples])
  correct = rewards.compute_rewards(batch, {'accuracy': 1.0})[1]['accuracy'] == 1.0
  mixed = np.array([evaluate.mixed_language(c, ex.language)
                    for c, ex in zip(completions, examples)])
  if tokenizer is not None:
    lengths = np.array([2 + len(p) + len(c) for p, c in zip(
        tokenizer.encode_batch(prompts), tokenizer.encode_batch(completions))])
    too_long = lengths > data.seq_len
  else:
    too_long = np.zeros(len(examples), bool)
  keep = correct & ~mixed & ~too_long
  counts = {'generated': len(examples), 'dropped_incorrect': int((~correct).sum()),
            'dropped_mixed_language': int((correct & mixed).sum()),
            'dropped_too_long': int((correct & ~mixed & too_long).sum()),
            'kept': int(keep.sum())}
  records = []
  for ex, p, c, k in zip(examples, prompts, completions, keep):
    if k:
      records.append(dict(question=ex.question, prompt=p, completion=c, task=ex.task,
                          language=ex.language, answer=ex.answer))
      for key in (ex.language, ex.task):
        counts[f'kept/{key}'] = counts.get(f'kept/{key}', 0) + 1
  return records, counts


def _settings(config) -> dict:
  data = config.data
  return dict(tasks=list(data.tasks), difficulties=[int(d) for d in data.difficulties],
              seed=int(data.seed), languages={k: float(v) for k, v in data.languages.items()},
              template=data.template, seq_len=int(data.seq_len),
              num=int(config.train.cold_start_examples))


@functools.cache
def builder_class(name: str = NAME):
  """The TFDS builder of the datasets named `name` (defined on first use: importing TFDS is
  slow). Its records are passed in; the config name is a digest of the settings that made
  them. The rejection-sampled sets (r1jax/data/rejection.py) use it with their own name."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  class Builder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Prompt/completion records made in memory by a stage (FEATURES, all text)."""
    VERSION = tfds.core.Version('1.0.0')

    def __init__(self, *, records=(), **kwargs):
      self._records = list(records)
      super().__init__(**kwargs)

    def _info(self):
      text = tfds.features.Text()
      return self.dataset_info_from_configs(
          features=tfds.features.FeaturesDict({k: text for k in FEATURES}),
          supervised_keys=None, disable_shuffling=True)

    def _split_generators(self, dl_manager):
      del dl_manager  # made in memory
      return {'train': self._generate_examples()}

    def _generate_examples(self):  # pylint: disable=arguments-differ
      yield from enumerate(self._records)

  class_name = ''.join(part.capitalize() for part in name.split('_'))
  return type(class_name, (Builder,), {'name': name, '__module__': __name__})


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


def build_cold_start(data_dir: str, config, tokenizer) -> tuple[str, dict]:
  """Builds (once) the cold-start TFDS dataset under `data_dir` for these settings; returns
  its name for `tfds.data_source` and the filter counts (also in its counts.json)."""
  return build_dataset(data_dir, NAME, _settings(config),
                       lambda: make_traces(config, tokenizer))


def read_records(data_dir: str, name: str) -> list[dict]:
  """Every record of a dataset built here, as dicts of str."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  builder_class(name.split('/')[0])  # registered, so TFDS finds the name
  source = tfds.data_source(name, data_dir=data_dir, split='train', download=False,
                            builder_kwargs={'file_format': 'array_record'})
  return [{k: v.decode('utf-8') if isinstance(v, bytes) else str(v)
           for k, v in source[i].items()} for i in range(len(source))]
