"""The substrate check: does reasoning pay on these tasks, before any RL is spent?

  python -m r1jax.main --config=configs/quickstart.py:tasks=columns,stages=pretrain+substrate_check --workdir=DIR

A `substrate_check` stage samples the model before it (greedy, eval.num_prompts held-out
prompts) with each mode of the column-arithmetic tasks forced by its opening words
(r1jax/data/corpus.py: 'direct' opens with 'so', 'coarse' with 'pairs :', 'fine' with
'columns :', 'check' with 'work then check :'), and once unforced (what the model does by
itself: the mode R1-Zero starts from). It prints one table of accuracy by level with 95%
bootstrap intervals over prompts, the response length, and, unforced, the share of each mode the
model opened with; WORKDIR/reports/<stage>.md and .json hold it (written last: their presence
marks the stage finished). The stage writes no params: the next stage starts from the model it
checked.
"""
import os

import jax
import numpy as np

from r1jax import metrics, stats
from r1jax.data import corpus, source, templates
from r1jax.data.tasks import columns
from r1jax.stages import curate
from r1jax.stages.registry import Kind, read_report, register, save_report

MODES = ('direct', 'coarse', 'fine', 'check')
_MARK = '\x00'


def mode_prefix(template: templates.Template, mode: str) -> str:
  """The completion's opening that forces `mode`: the template up to the reasoning, then the
  mode's opening words."""
  return template.completion(_MARK, '').split(_MARK)[0] + (corpus.OPENERS[mode] or 'so')


def opened_mode(completion: str, template: templates.Template) -> str:
  """The mode a completion opened with ('other' when none: no think tag, another start)."""
  head = template.completion(_MARK, '').split(_MARK)[0]
  start = completion.find(head.strip())
  rest = completion[start + len(head.strip()):].lstrip() if start >= 0 else ''
  for mode in ('check', 'fine', 'coarse'):
    if rest.startswith(corpus.OPENERS[mode]):
      return mode
  return 'direct' if rest.startswith('so ') else 'other'


def _row(correct: np.ndarray, levels: np.ndarray, lengths: np.ndarray) -> dict:
  row = {'all': stats.bootstrap_ci(correct), 'length': float(lengths.mean())}
  for level in sorted(set(levels.tolist())):
    row[f'level{level}'] = stats.bootstrap_ci(correct[levels == level])
  return row


def mode_table(config, tokenizer, mesh, rules, params, pool=None) -> dict:
  """{'prompts', 'levels', 'modes': {mode: row}, 'free': row, 'free_modes': {mode: share}}; a
  row is {'all': (mean, low, high), 'level<d>': (mean, low, high), 'length': mean tokens}."""
  tasks = [t for t in config.data.tasks if t not in columns.SPECS]
  if tasks:
    raise ValueError(f'the substrate check forces the modes of the column-arithmetic tasks '
                     f'{tuple(columns.SPECS)}; data.tasks has {tasks}')
  template = templates.get_template(config.data.template)
  records = source.load_records(config.data, 'heldout')[:config.eval.num_prompts]
  max_new = config.eval.max_new_tokens
  out = {'prompts': len(records), 'modes': {}}
  for mode in (None,) + MODES:
    got = curate.sample_scored(config, tokenizer, mesh, rules, params, records, 1, 0.0, max_new,
                               completion_prefix=mode_prefix(template, mode) if mode else '',
                               pool=pool)
    levels = np.array([int(r['difficulty']) for r in got['records']])
    row = _row(got['correct'][:, 0], levels, got['lengths'])
    if mode is None:
      opened = [opened_mode(t, template) for t in got['texts']]
      out['free'] = row
      out['free_modes'] = {m: opened.count(m) / len(opened) for m in MODES + ('other',)}
    else:
      out['modes'][mode] = row
    out['levels'] = sorted(set(levels.tolist()))
  return out


def markdown(table: dict) -> str:
  levels = [f'level{d}' for d in table['levels']]
  lines = [f'Greedy held-out accuracy by forced mode ({table["prompts"]} prompts; 95% bootstrap '
           'intervals over prompts)', '',
           '| mode | all | ' + ' | '.join(levels) + ' | length |',
           '|---|---|' + '---|' * len(levels) + '---|']
  rows = [(m, table['modes'][m]) for m in MODES] + [('unforced', table['free'])]
  for name, row in rows:
    cells = [stats.format_ci(*row['all'])] + [stats.format_ci(*row[l]) for l in levels]
    lines.append(f'| {name} | ' + ' | '.join(cells) + f' | {row["length"]:.1f} |')
  lines.append('\nUnforced, the model opened with: ' + ', '.join(
      f'{m} {s:.0%}' for m, s in table['free_modes'].items()))
  return '\n'.join(lines) + '\n'


def _run(ctx, config, name, init_params):
  if init_params is None:
    raise ValueError(f'stage {name!r} checks a trained model: put it after the pretrain stage '
                     '(or name one in stage_from)')
  metrics.note(f'[{name}] Each mode forced, greedy, on {config.eval.num_prompts} held-out '
               'prompts...')
  table = mode_table(config, ctx.tokenizer, ctx.mesh, ctx.rules, init_params)
  text = markdown(table)
  if jax.process_index() == 0:
    os.makedirs(os.path.join(ctx.workdir, 'reports'), exist_ok=True)
    with open(os.path.join(ctx.workdir, 'reports', f'{name}.md'), 'w') as f:
      f.write(text)
  save_report(ctx.workdir, name, table)   # last: marks the stage finished
  metrics.note(f'[{name}] ' + text)
  return table


register(Kind('substrate_check', _run, lambda c: 1, (),
              'accuracy by level of each reasoning mode forced, greedy, with CIs: does '
              'reasoning pay?', makes_params=False,
              progress=lambda workdir, name: 1 if read_report(workdir, name) else None))
