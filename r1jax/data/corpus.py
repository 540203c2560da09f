"""The pretraining corpus for the tiny base model, and the lines the tokenizer is trained on.

Every pretraining document is an R1-Zero prompt followed by a completion in one of three modes:

  'cot'      ' <think> 7 + 5 = 12 . 12 - 3 = 9 . </think> <answer> 9 </answer>'
  'direct'   ' <think> I know this . </think> <answer> 9 </answer>'
  'noformat' ' The answer is 9 .'

The column-arithmetic tasks (add, sub, mul: r1jax/data/tasks/columns.py) have modes that
differ in length and accuracy, each opened by its own words (what the substrate check forces):

  'direct'   ' <think> so 7 7 0 3 . </think> <answer> 7703 </answer>'
  'coarse'   ' <think> pairs : 3 8 + 6 5 + 0 = 0 3 carry 1 . ... so 7 7 0 3 . </think> ...'
  'fine'     ' <think> columns : 8 + 5 + 0 = 3 carry 1 now 3 . ... so 7 7 0 3 . </think> ...'  (= 'cot')
  'check'    ' <think> work then check : ... so 7 7 0 3 . check 7 7 0 3 - 2 9 6 5 . ... </think> ...'
  'slip'     a 'check' trace with one wrong digit that the check catches ('wait .', redone); the
             wrong digit is kept out of the loss (`pretrain_documents` gives its span)

Why: a base model that only ever saw 'cot' would start RL already solved, and one that never saw
the template would never earn a reward. The mix makes it imperfect but not hopeless: 'direct'
documents teach it to answer without working, which a ~1M-parameter model mostly gets wrong on
multi-step problems, and 'noformat' documents fail the format reward. GRPO then has something
to learn: format always, and that thinking pays.

Each document is in its example's language (r1jax/data/tasks/languages.py); with
`language_switch_prob` > 0 a worked ('cot') answer switches language part-way through its
reasoning, the language mixing DeepSeek-R1-Zero shows and the language-consistency reward
targets.
"""

import random
from typing import Iterable, Mapping

from r1jax.data.tasks import Example, columns, general
from r1jax.data.tasks.base import normalised_probs
from r1jax.data.tasks.languages import (DIRECT_THOUGHTS, LANGUAGES, NO_FORMAT, cot_steps,
                                        render_cot)
from r1jax.data.templates import TEMPLATES, Template

MODES = ('cot', 'direct', 'noformat', 'coarse', 'fine', 'check', 'slip')
COLUMN_MODES = MODES[3:]   # the column-arithmetic tasks only
# The words each column-arithmetic mode opens its reasoning with ('direct' opens with 'so').
OPENERS = {'direct': '', 'coarse': 'pairs :', 'fine': 'columns :', 'check': 'work then check :'}


def column_completion(example: Example, template: Template, mode: str,
                      rng: random.Random | None = None) -> tuple[str, tuple]:
  """(completion, masked character spans) of a column-arithmetic example in `mode` ('cot' is
  'fine'; 'slip' a 'check' trace with a caught slip drawn from `rng`). Each span covers a wrong
  digit with the space before it, so the pieces encode to the same tokens as the whole."""
  if mode == 'noformat':
    return NO_FORMAT[example.language].format(answer=example.answer), ()
  mode = {'cot': 'fine'}.get(mode, mode)
  slip = mode == 'slip'
  mode = 'check' if slip else mode
  rendered = columns.render(example, mode, rng or random.Random(0), slip=slip)
  opener = OPENERS[mode] + ' ' if OPENERS[mode] else ''
  completion = template.completion(opener + rendered.text, rendered.answer)
  offset = completion.index(rendered.text)
  spans = tuple((offset + s - (rendered.text[s - 1:s] == ' '), offset + e)
                for s, e in rendered.masked_spans)
  return completion, spans


def completion_text(example: Example, template: Template, mode: str,
                    rng: random.Random | None = None, switch_at: int | None = None) -> str:
  """The completion of `example` in `mode`, in the example's language (the 'direct' thought
  is drawn from `rng`); a 'cot' reasoning switches language from step `switch_at` if given."""
  language = example.language
  if example.task in columns.SPECS:
    return column_completion(example, template, mode, rng)[0]
  if mode in COLUMN_MODES:
    raise ValueError(f'data.mode_probs has {mode!r}, a mode of the column-arithmetic tasks '
                     f'{tuple(columns.SPECS)}; task {example.task!r} has cot, direct, noformat')
  if mode == 'cot':
    return template.completion(render_cot(example.cot, language, switch_at), example.answer)
  if mode == 'direct':
    thought = (rng or random.Random(0)).choice(DIRECT_THOUGHTS[language])
    return template.completion(thought, example.answer)
  if mode == 'noformat':
    return NO_FORMAT[language].format(answer=example.answer)
  raise ValueError(f'Unknown mode {mode!r} in data.mode_probs; known modes: {MODES}')


def _normalised(mode_probs: Mapping[str, float]) -> tuple[list[str], list[float]]:
  return normalised_probs(mode_probs, MODES, 'data.mode_probs')


def pretrain_documents(examples: list[Example], template: Template,
                       mode_probs: Mapping[str, float], seed: int,
                       language_switch_prob: float = 0.0) -> list[tuple]:
  """(prompt_text, completion_text) per example, each mode drawn with `mode_probs`; a 'cot'
  completion switches language at a random step with probability `language_switch_prob`. A
  'slip' document is (prompt, completion, masked spans): its wrong digit is not a target
  (`pipeline.encode_documents`)."""
  if not 0 <= language_switch_prob <= 1:
    raise ValueError(f'data.language_switch_prob={language_switch_prob} must be in [0, 1]')
  modes, probs = _normalised(mode_probs)
  rng = random.Random(f'pretrain:{seed}')
  switch_rng = random.Random(f'language_switch:{seed}')  # leaves `rng`'s draws unchanged
  docs = []
  for ex in examples:
    mode = rng.choices(modes, probs)[0]
    if ex.task in columns.SPECS:
      completion, spans = column_completion(ex, template, mode, rng)
      docs.append((template.prompt(ex.question), completion) + ((spans,) if spans else ()))
      continue
    switch_at = None
    if mode == 'cot' and language_switch_prob and switch_rng.random() < language_switch_prob:
      switch_at = switch_rng.randrange(max(len(cot_steps(ex.cot)), 1))
    docs.append((template.prompt(ex.question), completion_text(ex, template, mode, rng,
                                                               switch_at)))
  return docs


def tokenizer_corpus(examples: Iterable[Example],
                     template_names: Iterable[str] = tuple(TEMPLATES),
                     extra_lines: Iterable[str] = ()) -> list[str]:
  """Lines to train the tokenizer on: every template's prompt and every mode's completion,
  then `extra_lines` (e.g. `language_lines()`, other tasks' texts).

  Prompts and completions are separate lines because they are always encoded separately;
  multi-line prompts (the chat template) are split, as SentencePiece reads lines.
  """
  templates = [TEMPLATES[n] for n in template_names]
  rng = random.Random('tokenizer_corpus')
  lines = []
  for ex in examples:
    for t in templates:
      modes = MODES if ex.task in columns.SPECS else MODES[:3]
      texts = [t.prompt(ex.question)] + [completion_text(ex, t, m, rng) for m in modes]
      lines.extend(line for text in texts for line in text.split('\n') if line)
  lines.extend(extra_lines)
  return lines


def language_lines(examples: Iterable[Example], num: int = 200) -> list[str]:
  """Reasoning of the first `num` examples in every language and switched, so the tokenizer
  has pieces for all the words a multilingual corpus uses (the questions come with the
  examples themselves)."""
  lines = []
  for ex in list(examples)[:num]:
    for language in LANGUAGES:
      lines.append(render_cot(ex.cot, language))
      lines.append(render_cot(ex.cot, language, switch_at=0))
      lines.extend(DIRECT_THOUGHTS[language] + (NO_FORMAT[language].format(answer=ex.answer),))
  return lines


def extra_tokenizer_lines(data_config, examples: list[Example]) -> list[str]:
  """What the tokenizer needs beyond the task corpus for these data settings: the words of
  every language when data.languages or data.language_switch_prob bring a second one in, the
  general tasks' prompts and responses with data.general_tasks, k1.5's long-CoT traces with
  data.long_cot. Empty for the English-only
  defaults, so their tokenizer is unchanged."""
  lines = []
  languages = {l for l, p in (getattr(data_config, 'languages', None) or {'en': 1.0}).items()
               if p > 0}
  if not languages <= {'en'} or getattr(data_config, 'language_switch_prob', 0.0):
    lines += language_lines(examples)
  if getattr(data_config, 'general_tasks', False):
    lines += general_lines()
  if getattr(data_config, 'long_cot', False):  # k1.5's long-CoT warm-up traces
    from r1jax.data import cold_start  # pylint: disable=g-import-not-at-top
    lines += cold_start.long_cot_lines(examples, languages)
  return lines


def general_lines(num: int = 300) -> list[str]:
  """Questions and candidate responses of `num` general prompts (r1jax/data/tasks/general.py)."""
  rng = random.Random('general_lines')
  lines = []
  for prompt in general.make_general_prompts('train', num, seed=0):
    lines.append(prompt.question)
    lines.extend(line for r in general.candidate_responses(prompt, rng).values()
                 for line in r.split('\n'))
  return lines
