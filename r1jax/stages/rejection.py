"""Rejection sampling (DeepSeek-R1 sec. 2.3.3): N samples per training prompt from a checkpoint,
verified; the correct, readable ones kept, with non-reasoning data added, written as a TFDS
array_record dataset in the workdir for the `sft` stage that follows.

  python -m r1jax.main --config=configs/r1.py:quick --workdir=DIR    # its rejection_sampling stage

The reusable core is `sample_and_verify`: sample from any params, verify with the rule
rewards, and get every sample back with its verdict and length, grouped by prompt:

  groups = sample_and_verify(config, tokenizer, mesh, rules, params, records, num_samples=8)
  groups[0].pass_rate                    # difficulty for prompt curation (k1.5)
  groups[0].correct()                    # [Sample]: vanilla SFT / rejection sampling
  groups[0].shortest_correct()           # k1.5's shortest rejection sampling
  records, counts = select_samples(groups, config.rejection_sampling, tokenizer, seq_len)

It runs through r1jax/evaluate.py's `Evaluator` (the compiled sampler in fixed-shape batches,
the verifiers in the process pool), so there is one sampling loop in the codebase.

The filters, in order, each counting the samples it is the first to drop:
  dropped_incorrect        the accuracy verifier says wrong
  dropped_mixed_language   words outside the prompt language's script in <think>
  dropped_overlong         cut at max_new_tokens, longer than max_response_tokens, or the
                           prompt + completion does not fit data.seq_len (the SFT row)
  dropped_repetitive       more than max_repeat_ratio of its word n-grams are repeats
  dropped_bad_format       not `<think> ... </think> <answer> ... </answer>` exactly
  dropped_duplicate        the same completion for the same prompt (whitespace-normalised)
  dropped_per_prompt       over max_per_prompt (keep='shortest': all but the shortest)
Non-reasoning data: `num_general` general-task prompts (r1jax/data/tasks/general.py), each
answered by the candidate the oracle ranks best (the paper's non-reasoning SFT data comes from
DeepSeek-V3's pipeline; ours from templates ranked by the rater stand-in).
"""
import dataclasses
import hashlib
import os
import random

import jax
import ml_collections
import numpy as np

from r1jax import evaluate, metrics
from r1jax.config import non_negative, positive, require
from r1jax.data import cold_start, source, templates
from r1jax.data.tasks import general
from r1jax.rewards import oracle
from r1jax.rewards.format import format_strict_score, repetition_ratio
from r1jax.stages.registry import save_report

NAME = 'r1jax_rejection_sampled'
KEEP = ('all', 'shortest')


@dataclasses.dataclass(frozen=True)
class Sample:
  """One completion and its verdicts."""
  text: str
  answer: str | None      # the normalised extracted answer (None: unanswered)
  correct: float          # the accuracy verifier (1.0 = right)
  format: float           # the strict R1 format reward
  length: int             # completion tokens
  truncated: bool         # cut at max_new_tokens (did not stop)
  mixed_language: bool    # <think> has words outside the prompt language


@dataclasses.dataclass
class PromptSamples:
  """A prompt's N samples (in sampling order)."""
  record: dict
  prompt: str
  samples: list

  @property
  def language(self) -> str:
    return self.record.get('language', 'en')

  @property
  def pass_rate(self) -> float:
    return float(np.mean([s.correct >= 1.0 for s in self.samples]))

  def correct(self) -> list:
    return [s for s in self.samples if s.correct >= 1.0]

  def shortest_correct(self):
    """The shortest correct sample (fewest tokens; the first on ties), or None."""
    return min(self.correct(), key=lambda s: s.length, default=None)


def sample_and_verify(config, tokenizer, mesh, rules, params, records, *, num_samples: int,
                      temperature: float = 1.0, max_new_tokens: int | None = None,
                      prompt_len: int | None = None, batch_size: int | None = None,
                      seed: int = 0, pool=None) -> tuple[list, dict]:
  """`num_samples` completions of each task record's prompt from `params`, verified.

  Sampling settings default to config.eval's; `seed` picks the randomness (the same seed gives
  the same samples). Prompts longer than prompt_len are skipped (counted on the console).
  Returns ([PromptSamples] in record order, the Evaluator's metrics row of the samples:
  accuracy = pass@1, maj@k, format, response length, mixed-language fraction)."""
  cfg = ml_collections.ConfigDict(config.to_dict())
  cfg.eval.update(num_prompts=len(records), num_samples=int(num_samples),
                  temperature=float(temperature), top_k=0, top_p=1.0,
                  sampled_samples=0)   # these samples only, not the held-out sampled pass
  for field, value in (('max_new_tokens', max_new_tokens), ('prompt_len', prompt_len),
                       ('batch_size', batch_size)):
    if value:
      cfg.eval[field] = int(value)
  evaluator = evaluate.Evaluator(cfg, tokenizer, mesh, rules, pool=pool, records=records)
  evaluator.rng = jax.random.fold_in(jax.random.key(config.seed), 20_000_003 + seed)
  row, details = evaluator.evaluate(params)
  groups = [PromptSamples(record, prompt, []) for record, prompt in
            zip(evaluator.records, evaluator.prompts)]
  for d in details:
    group = groups[d['prompt_index']]
    group.samples.append(Sample(
        text=d['completion'], answer=d['answer'], correct=d['correct'], format=d['format'],
        length=d['length'], truncated=d['truncated'],
        mixed_language=evaluate.mixed_language(d['completion'], group.language)))
  return groups, row


def _record(question, prompt, completion, task, language, answer) -> dict:
  return dict(question=question, prompt=prompt, completion=completion, task=task,
              language=language, answer=str(answer))


def select_samples(groups, rs_cfg, tokenizer=None, seq_len: int = 0) -> tuple[list, dict]:
  """The kept samples as SFT records (question, prompt, completion, task, language, answer)
  and the counts of each filter (module docstring), by language and task too."""
  if rs_cfg.keep not in KEEP:
    raise ValueError(f'rejection_sampling.keep={rs_cfg.keep!r}: use one of {KEEP}')
  counts = {'prompts': len(groups), 'sampled': 0, 'dropped_incorrect': 0,
            'dropped_mixed_language': 0, 'dropped_overlong': 0, 'dropped_repetitive': 0,
            'dropped_bad_format': 0, 'dropped_duplicate': 0, 'dropped_per_prompt': 0}
  records = []
  for group in groups:
    prompt_tokens = len(tokenizer.encode(group.prompt)) if tokenizer is not None else 0
    kept, seen = [], set()
    for s in group.samples:
      counts['sampled'] += 1
      row_len = 2 + prompt_tokens + (len(tokenizer.encode(s.text)) if tokenizer else 0)
      if s.correct < 1.0:
        reason = 'incorrect'
      elif s.mixed_language:
        reason = 'mixed_language'
      elif (s.truncated or (rs_cfg.max_response_tokens and s.length > rs_cfg.max_response_tokens)
            or (seq_len and row_len > seq_len)):
        reason = 'overlong'
      elif repetition_ratio(s.text, rs_cfg.repeat_ngram) > rs_cfg.max_repeat_ratio:
        reason = 'repetitive'
      elif format_strict_score(s.text) < 1.0:
        reason = 'bad_format'
      elif ' '.join(s.text.split()) in seen:
        reason = 'duplicate'
      else:
        seen.add(' '.join(s.text.split()))
        kept.append(s)
        continue
      counts[f'dropped_{reason}'] += 1
    if rs_cfg.keep == 'shortest':
      kept = sorted(kept, key=lambda s: s.length)[:1]
    elif rs_cfg.max_per_prompt:
      kept = kept[:rs_cfg.max_per_prompt]
    counts['dropped_per_prompt'] += len(seen) - len(kept)
    r = group.record
    for s in kept:
      records.append(_record(r['question'], group.prompt, s.text, r['task'],
                             group.language, r['answer']))
  counts['kept_reasoning'] = len(records)
  for r in records:
    for key in (r['language'], r['task']):
      counts[f'kept/{key}'] = counts.get(f'kept/{key}', 0) + 1
  return records, counts


def general_records(num: int, seed: int, template, tokenizer=None,
                    seq_len: int = 0) -> tuple[list, dict]:
  """Non-reasoning SFT records: `num` general-task prompts of the training split, each
  answered by its best candidate response by the oracle's preference (ties: the first).
  Counts {'general', 'general/<kind>', 'general_dropped_overlong'}."""
  records, counts = [], {'general': 0, 'general_dropped_overlong': 0}
  for i, prompt in enumerate(general.make_general_prompts('train', num, seed)):
    meta = prompt.metadata()
    candidates = general.candidate_responses(prompt, random.Random(f'rs_general:{seed}:{i}'))
    best = max(candidates.values(), key=lambda r: oracle.preference(meta, r))
    text = template.prompt(prompt.question)
    if tokenizer is not None and seq_len and (
        2 + len(tokenizer.encode(text)) + len(tokenizer.encode(best)) > seq_len):
      counts['general_dropped_overlong'] += 1
      continue
    records.append(_record(prompt.question, text, best, general.TASK, 'en', ''))
    counts['general'] += 1
    counts[f'general/{prompt.kind}'] = counts.get(f'general/{prompt.kind}', 0) + 1
  return records, counts


def run(config, workdir: str, tokenizer, mesh, rules, params, stage: str = 'rejection_sampling',
        source_stage: str = '') -> dict:
  """The stage: samples, filters, adds the general data, writes the dataset and
  WORKDIR/reports/<stage>.json (written last: its presence marks the stage finished)."""
  rs, data = config.rejection_sampling, config.data
  records = source.load_records(data, 'train')[:rs.num_prompts]
  metrics.note(f'[{stage}] {rs.num_samples} samples for each of {len(records)} training '
               f'prompts from {source_stage or "the given params"}...')
  groups, row = sample_and_verify(
      config, tokenizer, mesh, rules, params, records, num_samples=rs.num_samples,
      temperature=rs.temperature, max_new_tokens=rs.max_new_tokens, prompt_len=rs.prompt_len,
      batch_size=rs.batch_size)
  kept, counts = select_samples(groups, rs, tokenizer, data.seq_len)
  template = templates.get_template(data.template)
  extra, general_counts = general_records(rs.num_general, data.seed, template, tokenizer,
                                          data.seq_len)
  counts.update(general_counts)
  counts['kept'] = len(kept) + len(extra)
  # named by what it holds: a run from other params (or settings) writes a new dataset
  settings = dict(stage=stage, source=source_stage, rejection_sampling=rs.to_dict(),
                  seq_len=int(data.seq_len), records=hash_texts(kept + extra))
  name, _ = cold_start.build_dataset(os.path.join(workdir, 'datasets'), NAME, settings,
                                     lambda: (kept + extra, counts))
  report = dict(stage=stage, source=source_stage, dataset=name, counts=counts,
                sampling={k.replace('eval/', ''): v for k, v in row.items()})
  writer = metrics.MetricWriter(workdir, stage, 1, config.log.tensorboard,
                                console_keys=('eval/accuracy', 'kept'))
  writer.write(1, {**row, **{k: v for k, v in counts.items() if '/' not in k}})
  writer.close()
  save_report(workdir, stage, report)
  metrics.note(f'[{stage}] Kept {counts["kept"]} ({counts["kept_reasoning"]} reasoning, '
               f'{counts["general"]} general) of {counts["sampled"]} samples; dataset {name}: '
               + ', '.join(f'{k} {v}' for k, v in counts.items() if k.startswith('dropped_')))
  return report


def hash_texts(records) -> str:
  digest = hashlib.sha256()
  for r in records:
    digest.update((r['prompt'] + '\x00' + r['completion'] + '\x01').encode())
  return digest.hexdigest()[:16]


def validate_config(config, data_parallel: int) -> None:
  r = config.rejection_sampling
  positive(config, 'rejection_sampling.num_prompts', 'rejection_sampling.num_samples',
           'rejection_sampling.max_new_tokens', 'rejection_sampling.prompt_len',
           'rejection_sampling.batch_size', 'rejection_sampling.repeat_ngram')
  non_negative(config, 'rejection_sampling.max_response_tokens',
               'rejection_sampling.max_per_prompt', 'rejection_sampling.num_general')
  require(r.batch_size % data_parallel == 0,
          f'rejection_sampling.batch_size={r.batch_size} is not divisible by the data-parallel '
          f'size {data_parallel}; use a multiple of {data_parallel}')
  require(r.keep in ('all', 'shortest'),
          f"rejection_sampling.keep={r.keep!r}: use 'all' or 'shortest'")
  require(0 <= r.max_repeat_ratio <= 1,
          f'rejection_sampling.max_repeat_ratio={r.max_repeat_ratio} must be in [0, 1]')
  require(r.temperature >= 0,
          f'rejection_sampling.temperature={r.temperature} must be >= 0 (0 = greedy)')
