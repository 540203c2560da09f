"""The cold-start set of DeepSeek-R1 sec. 2.3.1 as a stage builds it: the templated worked traces
of r1jax/data/cold_start.py, kept when they pass the filters R1 applies to its cold-start data
(the accuracy verifier, one language in the reasoning, a length limit in tokens), and, with
train.cold_start_zero_stage, readable R1-Zero outputs sampled from that stage.

  name, counts = build_cold_start(data_dir, config, tokenizer)   # builds once; filter counts
  records = cold_start.read_records(data_dir, name)               # r1jax/data/cold_start.py
"""
import numpy as np

from r1jax import rewards
from r1jax.data import cold_start, tasks, templates
from r1jax.data.tasks import languages
from r1jax.rewards.format import _STRICT
from r1jax.rewards.language import mixed_language
from r1jax.stages import rejection


def make_traces(config, tokenizer=None, split: str = 'train',
                trace=cold_start.worked_trace) -> tuple[list[dict], dict]:
  """The filtered traces of config.data's `split` problems (train.cold_start_examples of the
  training split, data.num_heldout of the held-out one), and the counts of each filter:
  {'generated', 'dropped_incorrect', 'dropped_mixed_language', 'dropped_too_long', 'kept',
  'kept/<language>', 'kept/<task>'}. Without a tokenizer the length filter is off.
  `trace(example, template)` writes each completion (k1.5's long-CoT warm-up passes
  `long_cot_trace`)."""
  data, template = config.data, templates.get_template(config.data.template)
  num = config.train.cold_start_examples if split == 'train' else data.num_heldout
  examples = tasks.make_examples(tuple(data.tasks), split, int(num), int(data.seed) + 7,
                           tuple(data.difficulties))
  examples = languages.assign_languages(examples, data.languages, int(data.seed))
  prompts = [template.prompt(ex.question) for ex in examples]
  completions = [trace(ex, template) for ex in examples]
  batch = rewards.RewardBatch(completions, prompts, [ex.metadata() for ex in examples])
  correct = rewards.compute_rewards(batch, {'accuracy': 1.0},
                                    answer_source=template.answer_source)[1]['accuracy'] == 1.0
  mixed = np.array([mixed_language(c, ex.language)
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


def readable_zero_outputs(groups, config, tokenizer=None) -> tuple[list[dict], dict]:
  """Cold-start source (a): R1-Zero outputs (`rejection.PromptSamples` from
  `rejection.sample_and_verify`) that are correct, in one language and well-formed — the
  rejection-sampling filters of config.rejection_sampling, data.seq_len included — rewritten
  into the readable format: whitespace normalised, nothing outside the two tags,
  ' <think> reasoning </think> <answer> answer </answer>'. Counts prefixed 'zero_'."""
  template = templates.get_template(config.data.template)
  records, counts = rejection.select_samples(groups, config.rejection_sampling, tokenizer,
                                             config.data.seq_len)
  for r in records:
    reasoning, answer = (' '.join(part.split()) for part in
                         _STRICT.fullmatch(r['completion']).groups())
    r['completion'] = template.completion(reasoning, answer)
  return records, {f'zero_{k}': v for k, v in counts.items()}


def _settings(config) -> dict:
  data = config.data
  return dict(tasks=list(data.tasks), difficulties=[int(d) for d in data.difficulties],
              seed=int(data.seed), languages={k: float(v) for k, v in data.languages.items()},
              template=data.template, seq_len=int(data.seq_len),
              num=int(config.train.cold_start_examples))


def build_cold_start(data_dir: str, config, tokenizer, zero=None) -> tuple[str, dict]:
  """Builds (once) the cold-start TFDS dataset under `data_dir` for these settings; returns
  its name for `tfds.data_source` and the filter counts (also in its counts.json).
  zero=(source name, make_groups): source (a) as well, `make_groups()` giving the R1-Zero
  samples (called only when the set is built)."""
  settings = _settings(config)
  if zero is None:
    return cold_start.build_dataset(data_dir, cold_start.NAME, settings, lambda: make_traces(config, tokenizer))

  def make():
    records, counts = make_traces(config, tokenizer)
    extra, extra_counts = readable_zero_outputs(zero[1](), config, tokenizer)
    counts.update(extra_counts, kept=counts['kept'] + len(extra))
    return records + extra, counts
  settings.update(zero_source=zero[0], rejection_sampling=config.rejection_sampling.to_dict())
  return cold_start.build_dataset(data_dir, cold_start.NAME, settings, make)
