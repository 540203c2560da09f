"""The RL prompt set of Kimi k1.5 (arXiv 2501.12599 sec. 2.1): difficulty from the model's own
pass rate, easy-to-hack prompts removed, balanced by task and difficulty, written as a TFDS
dataset with a `pass_rate` field that `rl.sampling='curriculum'` reads as difficulty.

  report = curate_prompts(config, tokenizer, mesh, rules, params, data_dir, stage)  # stages/curate.py
  records = load_prompt_set(workdir, 'curate_prompts')   # what rl.prompt_set='curate_prompts' reads

For each of curate.num_prompts training prompts of config.data:
  pass_rate         correct fraction of curate.num_samples (10) samples at curate.temperature
                    from the current model, with the usual prompt (it may reason)
  direct_pass_rate  the same, prompted to answer directly: the completion is forced to start
                    with the template's answer opening after a one-line non-thought
                    (' <think> I know this . </think> <answer>'), so no chain of thought
Dropped, counted in the report:
  too_long          the prompt does not fit eval.prompt_len
  hackable          answered correctly without a chain of thought at least once in N tries
                    (the paper's easy-to-hack rule; it uses N = 8)
  balance           over-full cells: prompts are grouped by (task, difficulty bin of the
                    pass rate: hard < 1/3 <= medium < 2/3 <= easy) and no cell keeps more than
                    curate.balance x the smallest non-empty cell (seeded subsample; 0 = off)

The sampling (pass rates, the direct-answer probe) is r1jax/stages/curate.py; this module holds
what the set is: the bins, the balance, the reader.
"""
import collections
import os

import numpy as np

from r1jax.data import stage_data, templates

NAME = 'r1jax_curated_prompts'
BINS = ('hard', 'medium', 'easy')
FEATURES = {'task': 'text', 'question': 'text', 'answer': 'text', 'cot': 'text',
            'difficulty': 'int', 'numbers': 'ints', 'target': 'int', 'language': 'text',
            'pass_rate': 'float', 'direct_pass_rate': 'float'}
_MARK = '\x00'


def direct_answer_prefix(template: templates.Template, thought: str) -> str:
  """The completion's opening that asks for the answer at once: the template's completion with
  `thought` as its reasoning, cut where the answer goes."""
  return template.completion(thought, _MARK).split(_MARK)[0]


def difficulty_bin(pass_rate: float) -> str:
  return BINS[min(int(pass_rate * 3), 2)]


def balance(cells: list, ratio: float, seed: int) -> np.ndarray:
  """bool [n]: a subsample where no cell (any hashable key per item) keeps more than
  ceil(ratio x the smallest non-empty cell); ratio 0 keeps everything."""
  keep = np.ones(len(cells), bool)
  if not ratio or not cells:
    return keep
  members = collections.defaultdict(list)
  for i, cell in enumerate(cells):
    members[cell].append(i)
  cap = int(np.ceil(ratio * min(len(m) for m in members.values())))
  rng = np.random.default_rng([seed, 0xBA1])
  for cell in sorted(members, key=str):
    m = members[cell]
    if len(m) > cap:
      keep[rng.permutation(m)[cap:]] = False
  return keep


def load_prompt_set(workdir: str, stage: str) -> list[dict]:
  """The curated records of `stage` in `workdir` (rl.prompt_set names the stage)."""
  data_dir = os.path.join(workdir, 'datasets')
  report = stage_data.read_report(data_dir, NAME, stage)
  if report is None:
    raise ValueError(f'rl.prompt_set={stage!r}: no curated prompt set in {data_dir}; run the '
                     f'curate_prompts stage {stage!r} before this one')
  if report['dataset'] is None:
    raise ValueError(f'rl.prompt_set={stage!r}: the curated set is empty ({report}); raise '
                     'curate.num_prompts or lower curate.num_samples')
  return stage_data.read_dataset(data_dir, report['dataset'])
