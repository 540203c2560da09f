"""The Kimi k1.5 stage kinds (arXiv 2501.12599; configs/k15.py lists them in order).

  curate_prompts  the RL prompt set: pass rate of curate.num_samples samples per prompt,
                  easy-to-hack prompts dropped, balanced; a TFDS dataset with `pass_rate`
                  (r1jax/data/curate.py) that rl.prompt_set / rl.sampling='curriculum' read
  long_cot_sft    light SFT on verified templated long-CoT traces (plan, evaluated steps,
                  "wait — check", another way; cold_start.long_cot_trace), train.cold_start_examples
                  problems, written as the TFDS dataset r1jax_long_cot/<stage>
  vanilla_sft     k1.5's vanilla SFT: reasoning prompts by rejection sampling (a verified
                  sample kept), general prompts by ranking (the model's samples and the
                  templated seed answers, ranked by the oracle; the top one kept); SFT on both
  long2short (sec. 2.4), each from the long-CoT RL checkpoint:
  merge           weight average of long2short.merge_stages (models/merge.py), evaluated
  shortest_rs     long2short.num_samples samples per prompt; the shortest correct one is
                  the SFT target (dataset r1jax_shortest_rs/<stage>)
  dpo             DPO pairs: shortest correct = chosen; wrong, or correct and at least
                  long2short.long_ratio x longer = rejected (r1jax/train/dpo.py)
  (length_rl is the `rl` kind with the length penalty on from step 0 and a smaller
  rl.max_new_tokens: configs/k15.py)
  k15_report      joins every stage's final held-out accuracy and response length into
                  WORKDIR/k15_report.{json,md}: long vs short models

A data-making stage hands on the params it started from: it saves them as its one checkpoint
(step 1), so the next stage starts from them as from any other stage, and a finished data
stage is skipped on resume like a finished training stage.
"""
import json
import os

import numpy as np

from r1jax.config import require
from r1jax.stages.registry import Kind, register


def _one_step(config):
  del config
  return 1


def _require_start(name: str, init_params):
  if init_params is None:
    raise ValueError(f'stage {name!r} needs a model to sample from: put it after a training '
                     'stage (or set config.stage_from)')


def _pass_on(ctx, name: str, params, step: int = 1):
  """Saves `params` as stage `name`'s final checkpoint (at `step`) and returns them."""
  from r1jax import checkpoint  # pylint: disable=g-import-not-at-top
  ckpt = checkpoint.Checkpointer(ctx.workdir, name, every=0, keep=1)
  ckpt.maybe_save(step, {'params': params}, force=True)
  ckpt.close()
  return params


def data_dir(ctx) -> str:
  return os.path.join(ctx.workdir, 'datasets')


def _curate_prompts(ctx, config, name, init_params):
  from r1jax.stages import curate  # pylint: disable=g-import-not-at-top
  _require_start(name, init_params)
  curate.curate_prompts(config, ctx.tokenizer, ctx.mesh, ctx.rules, init_params, data_dir(ctx),
                        name)
  return _pass_on(ctx, name, init_params)


def sft_on_dataset(ctx, config, name, init_params, dataset: str, make_records, heldout=None):
  """SFT of stage `name` on dataset `dataset`/<name>, made once by `make_records()` ->
  (records with 'prompt' and 'completion', report) and read back on every run (a resumed
  stage trains on exactly the saved set). `heldout` pairs give the eval loss (default: the
  last 16 training pairs)."""
  from r1jax import metrics  # pylint: disable=g-import-not-at-top
  from r1jax.data import stage_data  # pylint: disable=g-import-not-at-top
  from r1jax.train import pretrain  # pylint: disable=g-import-not-at-top
  report = stage_data.read_report(data_dir(ctx), dataset, name)
  if report is None:
    if init_params is None:
      raise ValueError(f'stage {name!r} has a checkpoint but no {dataset} dataset in '
                       f'{data_dir(ctx)}; delete checkpoints/{name} to rebuild it')
    records, report = make_records()
    features = {k: 'text' for k in records[0]} if records else {'prompt': 'text'}
    stage_data.write_dataset(data_dir(ctx), dataset, name, records, features, report)
    metrics.note(f'[{name}] {dataset}/{name}: ' + ', '.join(f'{k} {v}' for k, v in
                                                            report.items()))
    report = stage_data.read_report(data_dir(ctx), dataset, name)
  if report['dataset'] is None:  # nothing to learn from: the model is handed on unchanged
    metrics.note(f'[{name}] Kept no examples: the start model is passed on untrained')
    return _pass_on(ctx, name, init_params, step=config.train.steps)
  records = stage_data.read_dataset(data_dir(ctx), report['dataset'])
  pairs = [(r['prompt'], r['completion']) for r in records]
  docs = {'train': pairs, 'heldout': heldout or pairs[-16:]}
  return pretrain.run(config, ctx.workdir, ctx.tokenizer, ctx.mesh, ctx.rules, name,
                      init_params=init_params, docs=docs)


def _long_cot_sft(ctx, config, name, init_params):
  from r1jax.data.cold_start import long_cot_trace  # pylint: disable=g-import-not-at-top
  from r1jax.stages.cold_start import make_traces  # pylint: disable=g-import-not-at-top
  heldout = make_traces(config, ctx.tokenizer, 'heldout', long_cot_trace)
  return sft_on_dataset(
      ctx, config, name, init_params, 'r1jax_long_cot',
      lambda: make_traces(config, ctx.tokenizer, 'train', long_cot_trace),
      heldout=[(r['prompt'], r['completion']) for r in heldout[0]])


# ---------------------------------------------------------------------------- sampling stages

def _sampling_settings(config, section):
  return (section.num_samples, section.temperature,
          section.max_new_tokens or config.rl.max_new_tokens)


def shortest_and_rejected(lengths, correct, truncated, long_ratio: float, max_rejected: int):
  """One prompt's k samples -> (index of the shortest correct sample or None, indices of the
  rejected ones: wrong answers first, then correct ones at least `long_ratio` x longer than
  the shortest, longest first; at most `max_rejected`). Truncated samples are never chosen."""
  lengths, correct = np.asarray(lengths), np.asarray(correct) >= 0.5
  ok = correct & ~np.asarray(truncated)
  if not ok.any():
    return None, []
  shortest = int(np.flatnonzero(ok)[np.argmin(lengths[ok])])
  wrong = [int(i) for i in np.flatnonzero(~correct)]
  long = [int(i) for i in np.flatnonzero(correct & (lengths >= long_ratio * lengths[shortest]))]
  long.sort(key=lambda i: -lengths[i])
  return shortest, (wrong + long)[:max_rejected]


def _sample_train_prompts(ctx, config, name, params, num_prompts, section):
  from r1jax import metrics  # pylint: disable=g-import-not-at-top
  from r1jax.data import source  # pylint: disable=g-import-not-at-top
  from r1jax.stages import curate  # pylint: disable=g-import-not-at-top
  k, temperature, max_new = _sampling_settings(config, section)
  if num_prompts < 1 or k < 1:
    raise ValueError(f'stage {name!r}: its section\'s num_prompts ({num_prompts}) and '
                     f'num_samples ({k}) must be >= 1 (long2short.* / vanilla_sft.*)')
  records = source.load_records(config.data, 'train')[:num_prompts]
  metrics.note(f'[{name}] {len(records)} prompts x {k} samples at temperature {temperature}...')
  return curate.sample_scored(config, ctx.tokenizer, ctx.mesh, ctx.rules, params, records, k,
                              temperature, max_new)


def _prompt_text(config, record):
  from r1jax.data import templates  # pylint: disable=g-import-not-at-top
  return templates.get_template(config.data.template).prompt(record['question'])


def _shortest_rs(ctx, config, name, init_params):
  cfg = config.long2short

  def make_records():
    out = _sample_train_prompts(ctx, config, name, init_params, cfg.num_prompts, cfg)
    k, records = cfg.num_samples, []
    for p, record in enumerate(out['records']):
      rows = slice(p * k, (p + 1) * k)
      best, _ = shortest_and_rejected(out['lengths'][rows], out['correct'][p],
                                      out['truncated'][rows], cfg.long_ratio, 0)
      if best is not None:
        records.append(dict(prompt=_prompt_text(config, record),
                            completion=out['texts'][p * k + best], task=record['task'],
                            length=int(out['lengths'][p * k + best])))
    report = {'prompts': len(out['records']), 'samples': int(out['correct'].size),
              'kept': len(records), 'dropped/no_correct': len(out['records']) - len(records),
              'mean_length/sampled': float(out['lengths'].mean()),
              'mean_length/kept': float(np.mean([r['length'] for r in records] or [0]))}
    return [{k: str(v) for k, v in r.items()} for r in records], report
  return sft_on_dataset(ctx, config, name, init_params, 'r1jax_shortest_rs', make_records)


def dpo_pairs(config, out) -> tuple[list[dict], dict]:
  """Long2short DPO pairs from `curate.sample_scored` output, and their counts."""
  cfg, k = config.long2short, config.long2short.num_samples
  pairs, no_correct, no_rejected = [], 0, 0
  for p, record in enumerate(out['records']):
    rows = slice(p * k, (p + 1) * k)
    lengths = out['lengths'][rows]
    best, rejected = shortest_and_rejected(lengths, out['correct'][p], out['truncated'][rows],
                                           cfg.long_ratio, config.dpo.max_pairs_per_prompt)
    no_correct += best is None
    no_rejected += best is not None and not rejected
    for r in rejected if best is not None else ():
      pairs.append(dict(prompt=_prompt_text(config, record), chosen=out['texts'][p * k + best],
                        rejected=out['texts'][p * k + r], chosen_len=int(lengths[best]),
                        rejected_len=int(lengths[r]),
                        rejected_correct=float(out['correct'][p][r] >= 0.5)))
  report = {'prompts': len(out['records']), 'pairs': len(pairs),
            'dropped/no_correct': no_correct, 'dropped/nothing_to_reject': no_rejected,
            'rejected/wrong': sum(p['rejected_correct'] == 0 for p in pairs),
            'rejected/long': sum(p['rejected_correct'] == 1 for p in pairs)}
  return pairs, report


_PAIR_FEATURES = {'prompt': 'text', 'chosen': 'text', 'rejected': 'text', 'chosen_len': 'int',
                  'rejected_len': 'int', 'rejected_correct': 'float'}


def _dpo(ctx, config, name, init_params):
  from r1jax import metrics  # pylint: disable=g-import-not-at-top
  from r1jax.data import stage_data  # pylint: disable=g-import-not-at-top
  from r1jax.train import dpo  # pylint: disable=g-import-not-at-top
  dataset = 'r1jax_dpo_pairs'
  if stage_data.read_report(data_dir(ctx), dataset, name) is None:
    _require_start(name, init_params)
    pairs, report = dpo_pairs(config, _sample_train_prompts(
        ctx, config, name, init_params, config.long2short.num_prompts, config.long2short))
    stage_data.write_dataset(data_dir(ctx), dataset, name, pairs, _PAIR_FEATURES, report)
    metrics.note(f'[{name}] DPO pairs: ' + ', '.join(f'{k} {v}' for k, v in report.items()))
  report = stage_data.read_report(data_dir(ctx), dataset, name)
  if report['dataset'] is None:  # no pairs: the model is handed on unchanged
    metrics.note(f'[{name}] No preference pairs: the start model is passed on untrained')
    return _pass_on(ctx, name, init_params, step=config.dpo.steps)
  pairs = stage_data.read_dataset(data_dir(ctx), report['dataset'])
  return dpo.run(config, ctx.workdir, ctx.tokenizer, ctx.mesh, ctx.rules, pairs, init_params,
                 stage=name)


def vanilla_records(config, reasoning, general_prompts, general_out) -> tuple[list, dict]:
  """k1.5's vanilla SFT set from `curate.sample_scored` outputs: per reasoning prompt the
  shortest verified sample (rejection sampling; none kept when none is right); per general
  prompt (`general_out['records']` carry the prompt's 'index') the oracle's top answer among
  the model's samples and the templated seed answers (ties: the model's own first)."""
  import random  # pylint: disable=g-import-not-at-top
  from r1jax.data.tasks import general  # pylint: disable=g-import-not-at-top
  from r1jax.rewards import oracle  # pylint: disable=g-import-not-at-top
  k = config.vanilla_sft.num_samples
  records = []
  for p, record in enumerate(reasoning['records']):
    rows = slice(p * k, (p + 1) * k)
    best, _ = shortest_and_rejected(reasoning['lengths'][rows], reasoning['correct'][p],
                                    reasoning['truncated'][rows], 1.0, 0)
    if best is not None:
      records.append(dict(prompt=_prompt_text(config, record),
                          completion=reasoning['texts'][p * k + best], source='rejection'))
  report = {'reasoning_prompts': len(reasoning['records']), 'kept/reasoning': len(records)}
  from_model = 0
  for p, record in enumerate(general_out['records']):
    prompt = general_prompts[int(record['index'])]
    seed_answers = general.candidate_responses(prompt, random.Random(f'vanilla:{p}'))
    candidates = [(t, 'model') for t in general_out['texts'][p * k:(p + 1) * k]] + [
        (t, 'seed') for t in seed_answers.values()]
    scores = [oracle.preference(prompt.metadata(), t) for t, _ in candidates]
    top = int(np.argmax(scores))
    from_model += candidates[top][1] == 'model'
    records.append(dict(prompt=_prompt_text(config, record), completion=candidates[top][0],
                        source='ranked'))
  report.update({'general_prompts': len(general_out['records']),
                 'kept/general': len(general_out['records']),
                 'general_top_from_model': from_model, 'kept': len(records)})
  return records, report


def _vanilla_sft(ctx, config, name, init_params):
  from r1jax.stages import curate  # pylint: disable=g-import-not-at-top
  from r1jax.data.tasks import general  # pylint: disable=g-import-not-at-top
  cfg = config.vanilla_sft
  _require_start(name, init_params)

  def make_records():
    k, temperature, max_new = _sampling_settings(config, cfg)
    reasoning = _sample_train_prompts(ctx, config, name, init_params, cfg.num_reasoning_prompts,
                                      cfg)
    prompts = general.make_general_prompts('train', cfg.num_general_prompts,
                                           int(config.data.seed))
    general_out = curate.sample_scored(
        config, ctx.tokenizer, ctx.mesh, ctx.rules, init_params,
        [{'question': q.question, 'index': i} for i, q in enumerate(prompts)], k, temperature,
        max_new, score=False) if prompts else {'records': [], 'texts': []}
    return vanilla_records(config, reasoning, prompts, general_out)
  return sft_on_dataset(ctx, config, name, init_params, 'r1jax_vanilla_sft', make_records)


# ---------------------------------------------------------------------------- merge, report

def _merge(ctx, config, name, init_params):
  del init_params  # the merged models are named in long2short.merge_stages
  from r1jax import evaluate, metrics  # pylint: disable=g-import-not-at-top
  from r1jax.models import merge  # pylint: disable=g-import-not-at-top
  from r1jax.stages.registry import load_stage_params  # pylint: disable=g-import-not-at-top
  cfg = config.long2short
  if len(cfg.merge_stages) < 2:
    raise ValueError(f'stage {name!r} (merge): long2short.merge_stages={tuple(cfg.merge_stages)}'
                     ' must name at least two earlier stages, e.g. ("k15_rl", "vanilla_sft")')
  trees = [load_stage_params(config, ctx.workdir, s, ctx.mesh, ctx.rules)
           for s in cfg.merge_stages]
  weights = merge.normalised_weights(len(trees), cfg.merge_weights)
  merged = merge.average_params(trees, weights)
  metrics.note(f'[{name}] Merged ' + ' + '.join(f'{w:.2f} x {s}' for w, s in
                                                  zip(weights, cfg.merge_stages)))
  row = evaluate.Evaluator(config, ctx.tokenizer, ctx.mesh, ctx.rules)(merged)
  writer = metrics.MetricWriter(ctx.workdir, name, 1, config.log.tensorboard,
                                console_keys=('eval/accuracy', 'eval/response_len'))
  writer.write(1, row)
  writer.close()
  return _pass_on(ctx, name, merged)


def stage_summary(workdir: str, config) -> list[dict]:
  """Per stage: the last held-out evaluation in metrics.jsonl (accuracy, response length)."""
  from r1jax import metrics  # pylint: disable=g-import-not-at-top
  rows = metrics.read_metrics(workdir)
  out = []
  for stage in config.stages:
    final = next((r for r in reversed(rows) if r['stage'] == stage and 'eval/accuracy' in r),
                 None)
    if final is not None:
      out.append({'stage': stage, 'accuracy': final['eval/accuracy'],
                  'response_len': final['eval/response_len'], 'step': final['step']})
  return out


def long_short_report(summary: list[dict], long_stage: str, short_stages,
                      direct_stages=()) -> dict:
  """Each short model against the long-CoT one: accuracy change (points) and length change.
  `short_stages` are the long2short methods, `direct_stages` short models trained directly."""
  by = {r['stage']: r for r in summary}
  if long_stage not in by:
    raise ValueError(f'k15_report.long_stage={long_stage!r} has no held-out evaluation in '
                     'metrics.jsonl; name a stage of config.stages that evaluates')
  long = by[long_stage]

  def against_long(stages):
    return [{'stage': s, 'accuracy': by[s]['accuracy'], 'response_len': by[s]['response_len'],
             'accuracy_change_points': 100 * (by[s]['accuracy'] - long['accuracy']),
             'length_change': by[s]['response_len'] / max(long['response_len'], 1e-9) - 1.0}
            for s in stages if s in by]
  return {'long': long, 'short': against_long(short_stages),
          'direct': against_long(direct_stages), 'stages': summary}


def stage_curves(workdir: str, stages) -> dict:
  """Per stage: its held-out evaluations by step, [{'step', 'accuracy', 'response_len'}] (an
  RL stage's step 0 is its start model); a step logged twice by a resumed run keeps the last."""
  from r1jax import metrics  # pylint: disable=g-import-not-at-top
  rows = metrics.read_metrics(workdir)
  out = {}
  for stage in stages:
    points = {r['step']: r for r in rows if r['stage'] == stage and 'eval/accuracy' in r}
    out[stage] = [{'step': s, 'accuracy': points[s]['eval/accuracy'],
                   'response_len': points[s]['eval/response_len']} for s in sorted(points)]
  return out


def curve_comparisons(config, workdir: str) -> list[dict]:
  """k15_report.curves: per group of stages, each one's held-out curve and training FLOPs
  (an RL stage: kinds.rl_step_flops x its last step), so "equal compute" can be read off."""
  from r1jax.stages import kinds, registry  # pylint: disable=g-import-not-at-top
  out = []
  for group in config.k15_report.curves:
    curves = stage_curves(workdir, group)
    flops = {}
    for stage, points in curves.items():
      if registry.kind_name(config, stage) == 'rl' and points:
        flops[stage] = kinds.rl_step_flops(registry.stage_config(config, stage)) * points[-1][
            'step']
    out.append({'stages': list(group), 'curves': curves, 'flops': flops})
  return out


def report_markdown(report: dict) -> str:
  lines = ['| stage | held-out accuracy | mean response length (tokens) |', '|---|---|---|']
  lines += [f'| {r["stage"]} | {r["accuracy"]:.3f} | {r["response_len"]:.1f} |'
            for r in report['stages']]
  lines += ['', f'long2short against the long-CoT model ({report["long"]["stage"]}: accuracy '
            f'{report["long"]["accuracy"]:.3f}, length {report["long"]["response_len"]:.1f}):',
            '', '| method | accuracy change (points) | length change |', '|---|---|---|']
  lines += [f'| {r["stage"]}{" (trained directly)" if direct else ""} | '
            f'{r["accuracy_change_points"]:+.1f} | {100 * r["length_change"]:+.0f}% |'
            for direct, rows in ((False, report['short']), (True, report.get('direct', ())))
            for r in rows]
  for group in report.get('curves', ()):
    steps = sorted({p['step'] for c in group['curves'].values() for p in c})
    lines += ['', f'Held-out accuracy by step ({" vs ".join(group["stages"])}):', '',
              '| stage | training FLOPs | ' + ' | '.join(f'step {s}' for s in steps) + ' |',
              '|---|---|' + '---|' * len(steps)]
    for stage, points in group['curves'].items():
      at = {p['step']: p['accuracy'] for p in points}
      flops = group['flops'].get(stage)
      lines.append(f'| {stage} | {"" if flops is None else f"{flops:.3g}"} | ' + ' | '.join(
          f'{at[s]:.3f}' if s in at else '' for s in steps) + ' |')
  return '\n'.join(lines) + '\n'


def plot_long_short(report: dict, path: str) -> None:
  """The paper's Figure 7 at our scale: held-out accuracy against mean response length, one
  point per long2short method, the long-CoT model and the short models trained directly."""
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  fig = Figure(figsize=(5.5, 4))
  ax = fig.subplots()
  groups = ((f'long-CoT ({report["long"]["stage"]})', [report['long']], '*', 'C3'),
            ('long2short', report['short'], 'o', 'C0'),
            ('short, trained directly', report.get('direct', []), 's', 'C2'))
  for label, rows, marker, color in groups:
    if rows:
      ax.scatter([r['response_len'] for r in rows], [r['accuracy'] for r in rows],
                 marker=marker, color=color, s=90 if marker == '*' else 45, label=label)
      for r in rows:
        ax.annotate(r['stage'], (r['response_len'], r['accuracy']), fontsize=8,
                    xytext=(4, 3), textcoords='offset points')
  ax.set_xlabel('mean response length (tokens)')
  ax.set_ylabel('held-out accuracy (pass@1)')
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8)
  fig.tight_layout()
  with open(path, 'wb') as f:
    fig.savefig(f, dpi=90, format='png')


def plot_curves(group: dict, path: str) -> None:
  """Held-out accuracy and mean response length against the step, one line per stage."""
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  fig = Figure(figsize=(9, 3.4))
  axes = fig.subplots(1, 2)
  for stage, points in group['curves'].items():
    steps = [p['step'] for p in points]
    for ax, key in zip(axes, ('accuracy', 'response_len')):
      ax.plot(steps, [p[key] for p in points], marker='o', label=stage)
  for ax, title in zip(axes, ('held-out accuracy (pass@1)', 'mean response length (tokens)')):
    ax.set_title(title)
    ax.set_xlabel('RL step')
    ax.grid(alpha=0.3)
  axes[0].legend(fontsize=8)
  fig.tight_layout()
  with open(path, 'wb') as f:
    fig.savefig(f, dpi=90, format='png')


def _report(ctx, config, name, init_params):
  from r1jax import metrics  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
  cfg = config.k15_report
  report = long_short_report(stage_summary(ctx.workdir, config), cfg.long_stage,
                             cfg.short_stages, cfg.direct_stages)
  report['curves'] = curve_comparisons(config, ctx.workdir)
  if jax.process_index() == 0:
    with open(os.path.join(ctx.workdir, 'k15_report.json'), 'w') as f:
      json.dump(report, f, indent=1)
    with open(os.path.join(ctx.workdir, 'k15_report.md'), 'w') as f:
      f.write(report_markdown(report))
    if config.log.plots:
      plot_long_short(report, os.path.join(ctx.workdir, 'k15_long_short.png'))
      for group in report['curves']:
        plot_curves(group, os.path.join(ctx.workdir,
                                        f'k15_curves_{"_vs_".join(group["stages"])}.png'))
  metrics.note(f'[{name}] Long vs short models (WORKDIR/k15_report.md, k15_*.png):\n'
               + report_markdown(report))
  return _pass_on(ctx, name, init_params)


def _report_validate(config, data_parallel) -> None:
  """Every stage the report names is in the stage list (a typo would only show as a
  missing row or curve at the end of a long run)."""
  del data_parallel
  c = config.k15_report
  named = [('long_stage', c.long_stage)] + [(f, s) for f in ('short_stages', 'direct_stages')
                                            for s in c[f]]
  named += [('curves', s) for group in c.curves for s in group]
  for field, stage in named:
    require(stage in config.stages,
            f'k15_report.{field} names {stage!r}, which is not in stages='
            f'{tuple(config.stages)}; name a stage of the list or remove it')


register(Kind('curate_prompts', _curate_prompts, _one_step, ('params',),
              'k1.5 RL prompt set: pass rates, easy-to-hack prompts dropped, balanced'))
register(Kind('long_cot_sft', _long_cot_sft, lambda c: c.train.steps, ('params',),
              'k1.5 long-CoT warm-up: SFT on verified planning/reflection traces'))
register(Kind('vanilla_sft', _vanilla_sft, lambda c: c.train.steps, ('params',),
              'k1.5 vanilla SFT: rejection-sampled reasoning + oracle-ranked general answers'))
register(Kind('shortest_rs', _shortest_rs, lambda c: c.train.steps, ('params',),
              'long2short: SFT on the shortest correct of long2short.num_samples samples'))
register(Kind('dpo', _dpo, lambda c: c.dpo.steps, ('params',),
              'long2short DPO: shortest correct chosen, wrong or long rejected'))
register(Kind('merge', _merge, _one_step, ('params',),
              'long2short: weight average of long2short.merge_stages', from_earlier=False))
register(Kind('k15_report', _report, _one_step, ('params',),
              'long vs short models: held-out accuracy and response length per stage',
              validate=_report_validate))
