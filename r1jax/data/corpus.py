"""The pretraining corpus for the tiny base model, and the lines the tokenizer is trained on.

Every pretraining document is an R1-Zero prompt followed by a completion in one of three modes:

  'cot'      ' <think> 7 + 5 = 12 . 12 - 3 = 9 . </think> <answer> 9 </answer>'
  'direct'   ' <think> I know this . </think> <answer> 9 </answer>'
  'noformat' ' The answer is 9 .'

Why: a base model that only ever saw 'cot' would start RL already solved, and one that never saw
the template would never earn a reward. The mix makes it imperfect but not hopeless: 'direct'
documents teach it to answer without working, which a ~1M-parameter model mostly gets wrong on
multi-step problems, and 'noformat' documents fail the format reward. GRPO then has something
to learn: format always, and that thinking pays.
"""

import random
from typing import Iterable, Mapping

from r1jax.data.tasks import Example
from r1jax.data.templates import TEMPLATES, Template

MODES = ('cot', 'direct', 'noformat')
DIRECT_THOUGHTS = ('I know this .', 'This one is easy .', 'No work needed .')


def completion_text(example: Example, template: Template, mode: str,
                    rng: random.Random | None = None) -> str:
  """The completion of `example` in `mode` (the 'direct' thought is drawn from `rng`)."""
  if mode == 'cot':
    return template.completion(example.cot, example.answer)
  if mode == 'direct':
    thought = (rng or random.Random(0)).choice(DIRECT_THOUGHTS)
    return template.completion(thought, example.answer)
  if mode == 'noformat':
    return f' The answer is {example.answer} .'
  raise ValueError(f'Unknown mode {mode!r} in data.mode_probs; known modes: {MODES}')


def _normalised(mode_probs: Mapping[str, float]) -> tuple[list[str], list[float]]:
  unknown = set(mode_probs) - set(MODES)
  if unknown:
    raise ValueError(f'data.mode_probs has unknown modes {sorted(unknown)}; known: {MODES}')
  total = sum(mode_probs.values())
  if total <= 0 or min(mode_probs.values()) < 0:
    raise ValueError(f'data.mode_probs must be non-negative with a positive sum, got '
                     f'{dict(mode_probs)}')
  modes = [m for m in MODES if mode_probs.get(m, 0) > 0]
  return modes, [mode_probs[m] / total for m in modes]


def pretrain_documents(examples: list[Example], template: Template,
                       mode_probs: Mapping[str, float], seed: int) -> list[tuple[str, str]]:
  """(prompt_text, completion_text) per example, each mode drawn with `mode_probs`."""
  modes, probs = _normalised(mode_probs)
  rng = random.Random(f'pretrain:{seed}')
  docs = []
  for ex in examples:
    mode = rng.choices(modes, probs)[0]
    docs.append((template.prompt(ex.question), completion_text(ex, template, mode, rng)))
  return docs


def tokenizer_corpus(examples: Iterable[Example],
                     template_names: Iterable[str] = tuple(TEMPLATES)) -> list[str]:
  """Lines to train the tokenizer on: every template's prompt and every mode's completion.

  Prompts and completions are separate lines because they are always encoded separately;
  multi-line prompts (the chat template) are split, as SentencePiece reads lines.
  """
  templates = [TEMPLATES[n] for n in template_names]
  rng = random.Random('tokenizer_corpus')
  lines = []
  for ex in examples:
    for t in templates:
      texts = [t.prompt(ex.question)] + [completion_text(ex, t, m, rng) for m in MODES]
      lines.extend(line for text in texts for line in text.split('\n') if line)
  return lines
