"""The pipeline's report card: one row per stage, from metrics.jsonl and the stages' reports.

  python -c "from r1jax.stages import report; print(report.write_report(CONFIG, 'DIR'))"

run_stages writes it after the last stage: WORKDIR/reports/pipeline.md (a table: a row per
stage, a column per metric) and pipeline.json (the same numbers, plus the rejection-sampling
counts and the student comparison). A stage's numbers are its last evaluated row: held-out
pass@1, maj@k, format, mixed-language fraction, response length, accuracy by language,
reward-model pair accuracy, the general prompts' oracle and reward-model scores; its wall
time is first to last metrics row. The student comparison (distill vs student_rl) gives each
one's training FLOPs as the config computes them (stages/kinds.py) and its accuracy.
"""
import json
import os

from r1jax import metrics

COLUMNS = (('eval/accuracy', 'pass@1'), ('eval/maj@', 'maj@k'), ('eval/format', 'format'),
           ('eval/mixed_language', 'mixed'), ('eval/response_len', 'length'),
           ('eval/accuracy/lang_en', 'acc en'), ('eval/accuracy/lang_zh', 'acc zh'),
           ('eval/pair_accuracy', 'RM pairs'),
           ('eval/general/oracle_helpfulness', 'oracle help'),
           ('eval/general/oracle_harmlessness', 'oracle harm'),
           ('eval/general/rm_helpfulness', 'RM help'))


def _value(row: dict, key: str):
  if key.endswith('@'):   # maj@k for whatever k
    key = next((k for k in row if k.startswith(key) and not k.endswith(('_low', '_high'))),
               key)
  return row.get(key)


def stage_rows(config, workdir: str) -> dict:
  """{stage: {'final': its last evaluated row, 'wall_s': seconds, 'steps': last step}}."""
  rows = metrics.read_metrics(workdir)
  out = {}
  for name in config.stages:
    mine = [r for r in rows if r.get('stage') == name]
    final = next((r for r in reversed(mine) if any(k.startswith('eval/') for k in r)), {})
    out[name] = dict(final=final, steps=max((r['step'] for r in mine), default=0),
                     wall_s=(mine[-1]['time'] - mine[0]['time']) if mine else 0.0)
  return out


def write_report(config, workdir: str) -> str:
  """Writes reports/pipeline.md and .json; returns the markdown table."""
  from r1jax.stages import kinds, registry  # pylint: disable=g-import-not-at-top
  rows = stage_rows(config, workdir)
  lines = ['| stage | kind | steps | wall | ' + ' | '.join(c for _, c in COLUMNS) + ' |',
           '|---|---|---|---|' + '---|' * len(COLUMNS)]
  for name, info in rows.items():
    cells = []
    for key, _ in COLUMNS:
      value = _value(info['final'], key)
      cells.append('' if value is None else f'{value:.3f}' if key != 'eval/response_len'
                   else f'{value:.1f}')
    lines.append(f'| {name} | {registry.kind_name(config, name)} | {info["steps"]} | '
                 f'{metrics.format_duration(info["wall_s"])} | ' + ' | '.join(cells) + ' |')
  out = {'stages': rows}
  for name in config.stages:
    if registry.kind_name(config, name) == 'rejection_sampling':
      report = registry.read_report(workdir, name)
      if report:
        out[name] = report['counts']
        lines.append(f'\n{name}: ' + ', '.join(f'{k} {v}' for k, v in report['counts'].items()))
    if registry.kind_name(config, name) == 'substrate_check':
      from r1jax.stages import substrate  # pylint: disable=g-import-not-at-top
      table = registry.read_report(workdir, name)
      if table:
        out[name] = table
        lines.append(f'\n{name}: ' + substrate.markdown(table))
  students = [s for s in config.stages
              if (registry.stage_config(config, s).rl.match_compute_of or '') in config.stages
              and registry.kind_name(config, s) == 'rl']
  for name in students:
    sft_name = registry.stage_config(config, name).rl.match_compute_of
    sft_cfg, rl_cfg = registry.stage_config(config, sft_name), registry.stage_config(config, name)
    sft_cfg.train.steps, rl_cfg.rl.steps = rows[sft_name]['steps'], rows[name]['steps']
    compare = {s: dict(flops=f, accuracy=_value(rows[s]['final'], 'eval/accuracy'),
                       wall_s=rows[s]['wall_s'])
               for s, f in ((sft_name, kinds.sft_flops(sft_cfg)),
                            (name, kinds.rl_step_flops(rl_cfg) * rl_cfg.rl.steps))}
    out[f'{sft_name}_vs_{name}'] = compare
    lines.append(f'\nSame student, same compute: ' + '; '.join(
        f'{s} {c["flops"]:.3g} FLOPs, pass@1 {c["accuracy"] or 0:.3f}, '
        f'{metrics.format_duration(c["wall_s"])}' for s, c in compare.items()))
  text = '\n'.join(lines) + '\n'
  os.makedirs(os.path.join(workdir, 'reports'), exist_ok=True)
  with open(os.path.join(workdir, 'reports', 'pipeline.md'), 'w') as f:
    f.write(text)
  with open(os.path.join(workdir, 'reports', 'pipeline.json'), 'w') as f:
    json.dump(out, f, indent=1)
  return text
