"""The sampling half of Kimi k1.5's prompt curation (r1jax/data/curate.py says what the set is):
the model's pass rate with and without a chain of thought, then the set written.

  report = curate_prompts(config, tokenizer, mesh, rules, params, data_dir, stage)

`sample_scored` is what the k1.5 stages sample with (curation, shortest rejection sampling,
DPO pairs, vanilla SFT): R1's `rejection.sample_and_verify` for plain prompts, and
evaluate.Evaluator directly (prompts given) for the direct-answer probe and the general
prompts, which have no verifier.
"""
import collections

import ml_collections
import numpy as np

from r1jax import evaluate, metrics
from r1jax.data import curate, source, stage_data, templates
from r1jax.data.tasks import Example
from r1jax.stages import rejection


def sample_scored(config, tokenizer, mesh, rules, params, records, num_samples: int,
                  temperature: float, max_new_tokens: int, prompts=None,
                  completion_prefix: str = '', pool=None, score: bool = True) -> dict:
  """k = num_samples completions per record, verified by the accuracy reward.

  `prompts` (default: the template's) are what the model sees; `completion_prefix` is text
  appended to each prompt that counts as the start of the completion (it is put back in front
  of the sampled text before verification). Records whose prompt exceeds eval.prompt_len are
  left out. Returns {'records': the P kept, 'texts': [P*k] (group-major), 'lengths' int [P*k]
  (sampled tokens), 'truncated' bool [P*k], 'correct' float [P, k] (None without `score`:
  prompts without a rule-checkable answer)}."""
  template = templates.get_template(config.data.template)
  if score and prompts is None and not completion_prefix:  # the common case: R1's sampler
    groups, _ = rejection.sample_and_verify(
        config, tokenizer, mesh, rules, params, records, num_samples=num_samples,
        temperature=temperature, max_new_tokens=max_new_tokens,
        batch_size=min(config.eval.batch_size, len(records)), pool=pool)
    samples = [s for g in groups for s in g.samples]
    return dict(records=[g.record for g in groups], texts=[s.text for s in samples],
                lengths=np.array([s.length for s in samples]),
                truncated=np.array([s.truncated for s in samples]),
                correct=np.array([[s.correct for s in g.samples] for g in groups], np.float32))
  if prompts is None:
    prompts = [template.prompt(r['question']) for r in records]
  cfg = ml_collections.ConfigDict(config.to_dict())
  cfg.eval.update(num_prompts=len(records), num_samples=num_samples, temperature=temperature,
                  max_new_tokens=max_new_tokens, batch_size=min(cfg.eval.batch_size,
                                                                len(records)))
  evaluator = evaluate.Evaluator(cfg, tokenizer, mesh, rules, pool=pool, records=records,
                                 prompts=[p + completion_prefix for p in prompts])
  kept = evaluator.records
  texts, lengths, truncated = evaluator.sample_texts(params)
  texts = [completion_prefix + t for t in texts]
  out = dict(records=kept, texts=texts, lengths=np.asarray(lengths),
             truncated=np.asarray(truncated), correct=None)
  if score:
    plain = [template.prompt(r['question']) for r in kept]
    accuracy, _ = evaluate.score_completions(texts, plain, kept, num_samples, pool,
                                             template.answer_source)
    out['correct'] = accuracy.reshape(len(kept), num_samples)
  return out


def curate_prompts(config, tokenizer, mesh, rules, params, data_dir: str, stage: str,
                   pool=None) -> dict:
  """Builds (once) the curated prompt set of `stage` under `data_dir`; returns its report."""
  report = stage_data.read_report(data_dir, curate.NAME, stage)
  if report is not None:
    return report
  cur = config.curate
  for field in ('num_prompts', 'num_samples'):
    if cur[field] < 1:
      raise ValueError(f'curate.{field}={cur[field]} must be >= 1')
  if cur.balance < 0:
    raise ValueError(f'curate.balance={cur.balance} must be >= 0 (0 = no balancing)')
  max_new = cur.max_new_tokens or config.rl.max_new_tokens
  records = source.load_records(config.data, 'train')[:cur.num_prompts]
  metrics.note(f'[{stage}] {len(records)} prompts x {cur.num_samples} samples at temperature '
               f'{cur.temperature}, with and without a chain of thought...')
  template = templates.get_template(config.data.template)
  cot = sample_scored(config, tokenizer, mesh, rules, params, records, cur.num_samples,
                      cur.temperature, max_new, pool=pool)
  kept = cot['records']
  direct = sample_scored(config, tokenizer, mesh, rules, params, kept, cur.num_samples,
                         cur.temperature, max_new,
                         completion_prefix=curate.direct_answer_prefix(template, cur.direct_thought),
                         pool=pool)
  if len(direct['records']) != len(kept):
    raise ValueError(f'curate: the direct-answer prompts need eval.prompt_len >= the prompt '
                     f'plus {cur.direct_thought!r}; raise eval.prompt_len')
  pass_rate = (cot['correct'] >= 0.5).mean(axis=1)
  direct_rate = (direct['correct'] >= 0.5).mean(axis=1)
  hackable = direct_rate > 0
  candidates = np.nonzero(~hackable)[0]
  cells = [(kept[i]['task'], curate.difficulty_bin(pass_rate[i])) for i in candidates]
  balanced = curate.balance(cells, cur.balance, int(config.seed))
  chosen = candidates[balanced]
  out = []
  for i in chosen:
    record = Example.from_record(kept[i]).to_record()
    record.update(pass_rate=float(pass_rate[i]), direct_pass_rate=float(direct_rate[i]))
    out.append(record)
  report = {'prompts': len(records), 'num_samples': int(cur.num_samples),
            'temperature': float(cur.temperature),
            'dropped/too_long': len(records) - len(kept),
            'dropped/hackable': int(hackable.sum()),
            'dropped/balance': int((~balanced).sum()), 'kept': len(out),
            'mean_pass_rate/all': float(pass_rate.mean()) if len(kept) else 0.0,
            'mean_pass_rate/kept': float(pass_rate[chosen].mean()) if len(chosen) else 0.0,
            'mean_direct_pass_rate': float(direct_rate.mean()) if len(kept) else 0.0}
  for key in ('task', 'bin'):
    counts = collections.Counter(r['task'] if key == 'task' else curate.difficulty_bin(r['pass_rate'])
                                 for r in out)
    report.update({f'kept/{k}': v for k, v in sorted(counts.items())})
  dropped_by_task = collections.Counter(kept[i]['task'] for i in np.nonzero(hackable)[0])
  report.update({f'dropped/hackable/{k}': v for k, v in sorted(dropped_by_task.items())})
  stage_data.write_dataset(data_dir, curate.NAME, stage, out, curate.FEATURES, report)
  metrics.note(f'[{stage}] Curated prompt set: ' + ', '.join(f'{k} {v:.3g}' if isinstance(
      v, float) else f'{k} {v}' for k, v in report.items()))
  return stage_data.read_report(data_dir, curate.NAME, stage)
