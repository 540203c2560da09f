"""Held-out evaluation through the compiled sampler: pass@1 averaged over k samples, maj@k,
pass@k (unbiased), format rate, response length and language mixing, overall and by task,
level and language.

  python -m r1jax.main --mode=evaluate --config=configs/qwen2_5_1_5b_r1_zero_gsm8k.py --workdir=DIR
  python -m r1jax.main --mode=evaluate --config=configs/qwen2_5_1_5b_r1_zero_gsm8k.py --config.model.hf_path=/ckpt/Qwen2.5-1.5B --workdir=DIR

writes DIR/eval/results.json, results.md and completions.jsonl (every completion, its extracted
answer and verdict). In code:

  evaluator = Evaluator(config, tokenizer, mesh, rules)
  row = evaluator(params, step)   # {'eval/accuracy': ..., 'eval/maj@4': ..., ...}
"""
import collections
import functools

import jax
import numpy as np
from jax.experimental import multihost_utils

from r1jax import metrics, rewards, sampling, sharding
from r1jax.config import check_sampling, positive, require
from r1jax.data import pipeline, source, templates
from r1jax.data.tasks import Example
from r1jax.models import ModelConfig
from r1jax.rewards.language import mixed_language
from r1jax.rewards.math import extract_answer, normalize_answer


def majority_correct(answers: list, correct: np.ndarray) -> float:
  """maj@k for one prompt: 1 if the most frequent extracted answer (ties: first seen) is
  correct. Completions without an answer do not vote."""
  votes = collections.Counter(a for a in answers if a is not None)
  if not votes:
    return 0.0
  winner = votes.most_common(1)[0][0]
  return float(correct[answers.index(winner)])


def score_completions(completions, prompts, records, group_size, pool=None,
                      answer_source: str = 'auto'):
  """Per-completion accuracy and format (float32 [N]) for group-major completions; the
  answer is read from `answer_source` (the template's, rewards.math.extract_answer)."""
  batch = rewards.RewardBatch(
      completions=completions, prompts=[p for p in prompts for _ in range(group_size)],
      metadata=[Example.from_record(r).metadata() for r in records for _ in range(group_size)],
      group_size=group_size)
  _, per_reward = rewards.compute_rewards(batch, {'accuracy': 1.0, 'format': 1.0}, pool=pool,
                                          answer_source=answer_source)
  return per_reward['accuracy'], per_reward['format']


def pass_at_k(num_samples: int, num_correct: int, k: int) -> float:
  """Unbiased pass@k (Chen et al. 2021): 1 - C(n - c, k) / C(n, k), for k <= n samples."""
  if k > num_samples:
    raise ValueError(f'pass@{k} needs at least {k} samples per prompt, got {num_samples}; '
                     'raise eval.num_samples')
  if num_samples - num_correct < k:
    return 1.0
  return float(1.0 - np.prod(1.0 - k / np.arange(num_samples - num_correct + 1,
                                                  num_samples + 1)))


def maj_at_k(answers: list, correct: np.ndarray, k: int) -> float:
  """maj@k of one prompt's n samples: the mean of `majority_correct` over the n // k disjoint
  blocks of k consecutive samples (the n % k left over are not voted on)."""
  blocks = len(answers) // k
  if not blocks:
    raise ValueError(f'maj@{k} needs at least {k} samples per prompt, got {len(answers)}')
  return float(np.mean([majority_correct(answers[b * k:(b + 1) * k], correct[b * k:(b + 1) * k])
                        for b in range(blocks)]))


def summarize(correct: np.ndarray, answers: list, records: list, k: int) -> dict:
  """Metrics of n samples per prompt: correct float [P, n] (1 = right; partial credit is
  averaged), answers [P][n] normalised extracted answers (None = unanswered).

  accuracy   pass@1 = mean over prompts of the mean over samples
  maj@k      majority vote over blocks of k samples (ties: first answer seen; unanswered
             samples do not vote; no answer at all counts as wrong)
  pass@k     unbiased estimator from all n samples (a sample counts as correct when >= 0.5)
  accuracy/<task>, accuracy/level<d>: pass@1 by task and by level (difficulty)
  """
  correct = np.asarray(correct, np.float64)
  n = correct.shape[1]
  hits = (correct >= 0.5).sum(axis=1)
  per_prompt = correct.mean(axis=1)
  out = {'accuracy': float(per_prompt.mean()),
         f'maj@{k}': float(np.mean([maj_at_k(a, c, k) for a, c in zip(answers, correct)])),
         f'pass@{k}': float(np.mean([pass_at_k(n, int(h), k) for h in hits]))}
  by = [('task', ''), ('difficulty', 'level')]
  if len({r.get('language', 'en') for r in records}) > 1:
    by.append(('language', 'lang_'))
  for key, prefix in by:
    groups = collections.defaultdict(list)
    for record, acc in zip(records, per_prompt):
      groups[record.get(key, 'en')].append(acc)
    for name, values in sorted(groups.items()):
      out[f'accuracy/{prefix}{name}'] = float(np.mean(values))
  return out


@functools.lru_cache(maxsize=16)
def _sampler(model_cfg, sampling_cfg, mesh, rules):
  return sampling.Sampler(model_cfg, sampling_cfg, mesh, rules)


def shared_sampler(model_cfg, sampling_cfg, mesh, rules):
  """One compiled sampler per (model, sampling settings, mesh, rules): the evaluations of a
  multi-stage recipe (and its k1.5 sampling stages) compile it once, not once per stage."""
  try:
    return _sampler(model_cfg, sampling_cfg, mesh, tuple(rules))
  except TypeError:  # an unhashable setting: a sampler of its own
    return sampling.Sampler(model_cfg, sampling_cfg, mesh, rules)


class Evaluator:
  """Samples k completions for a fixed set of held-out prompts and scores them; `records`
  (task records) replaces the held-out split (r1jax/stages/rejection.py samples training
  prompts with it)."""

  def __init__(self, config, tokenizer, mesh, rules, pool=None, records=None, prompts=None):
    """`prompts`: the records' prompt texts (default: the template's prompt of each
    question), e.g. k1.5's direct-answer probe (r1jax/data/curate.py)."""
    eval_cfg = config.eval
    self.tokenizer, self.mesh, self.pool = tokenizer, mesh, pool
    self.k, self.batch_size = eval_cfg.num_samples, eval_cfg.batch_size
    records = source.load_records(config.data, 'heldout') if records is None else records
    template = templates.get_template(config.data.template)
    self.answer_source = template.answer_source
    if prompts is None:
      prompts = [template.prompt(r['question']) for r in records]
    keep = pipeline.drop_long_prompts(tokenizer, prompts, eval_cfg.prompt_len,
                                      'eval.prompt_len')[:eval_cfg.num_prompts]
    self.records, self.prompts = [records[i] for i in keep], [prompts[i] for i in keep]
    # With data.share_prefix the template's preamble stays in the first columns, and the
    # sampler prefills and keeps it once for all rows (`sampling.usable_prefix`).
    share = bool(config.data.get('share_prefix', False)) and bool(self.prompts)
    self.encoded = pipeline.encode_prompts(tokenizer, self.prompts, eval_cfg.prompt_len,
                                           keep_shared_prefix=share, field='eval.prompt_len')
    self.prefix_len = (sampling.usable_prefix(self.encoded['tokens'], self.encoded['mask'])
                       if share else 0)
    self.sampler = shared_sampler(
        ModelConfig.from_config(config.model),
        sampling.SamplingConfig(
            max_new_tokens=eval_cfg.max_new_tokens, group_size=self.k,
            temperature=eval_cfg.temperature, top_k=eval_cfg.top_k, top_p=eval_cfg.top_p,
            stop_ids=tokenizer.stop_ids, pad_id=tokenizer.pad_id),
        mesh, rules)
    # The same key at every evaluation: differences between steps come from the model.
    self.rng = jax.random.fold_in(jax.random.key(config.seed), 10_000_019)

  def sample_texts(self, params):
    """Completion texts (group-major, k per prompt) and their token lengths."""
    texts, lengths, truncated = [], [], []
    for start in range(0, len(self.prompts), self.batch_size):
      rows = np.arange(start, start + self.batch_size) % len(self.prompts)
      # This process's rows in, every row out (the samples span all processes' devices).
      batch = sharding.process_rows({k: v[rows] for k, v in self.encoded.items()})
      samples = self.sampler(params, batch['tokens'], batch['mask'],
                             jax.random.fold_in(self.rng, start), prefix_len=self.prefix_len)
      samples = multihost_utils.process_allgather(samples, tiled=True)
      keep = min(self.batch_size, len(self.prompts) - start) * self.k
      ids = sampling.completion_ids(samples)[:keep]
      texts.extend(self.tokenizer.decode(x) for x in ids)
      lengths.append(samples.lengths[:keep])
      truncated.append(~samples.stopped[:keep])
    return texts, np.concatenate(lengths), np.concatenate(truncated)

  def __call__(self, params, step: int | None = None) -> dict:
    del step
    return self.evaluate(params)[0]

  def evaluate(self, params) -> tuple[dict, list[dict]]:
    """(metrics row, one dict per completion: prompt index, task, level, text, extracted
    answer, gold, correct, format, length, truncated)."""
    texts, lengths, truncated = self.sample_texts(params)
    accuracy, fmt = score_completions(texts, self.prompts, self.records, self.k, self.pool,
                                      self.answer_source)
    k = self.k
    answers = [normalize_answer(extract_answer(t, self.answer_source)) for t in texts]
    row = {f'eval/{name}': value for name, value in summarize(
        accuracy.reshape(-1, k), [answers[i * k:(i + 1) * k] for i in range(len(self.records))],
        self.records, k).items()}
    row.update({'eval/format': float(fmt.mean()), 'eval/response_len': float(lengths.mean()),
                'eval/truncated': float(truncated.mean())})
    # Fraction of completions whose reasoning mixes languages, by prompt language.
    languages = [r.get('language', 'en') for r in self.records]
    mixed = np.array([mixed_language(t, languages[i // k]) for i, t in enumerate(texts)])
    row['eval/mixed_language'] = float(mixed.mean())
    for language in sorted(set(languages)):
      row[f'eval/mixed_language/{language}'] = float(
          mixed[np.repeat(np.array(languages) == language, k)].mean())
    details = [dict(prompt_index=i // k, task=self.records[i // k]['task'],
                    level=int(self.records[i // k]['difficulty']),
                    question=self.records[i // k]['question'], completion=texts[i],
                    answer=answers[i], gold=str(self.records[i // k]['answer']),
                    correct=float(accuracy[i]), format=float(fmt[i]), length=int(lengths[i]),
                    truncated=bool(truncated[i])) for i in range(len(texts))]
    return row, details

  def print_table(self, row: dict, title: str, before: dict | None = None) -> None:
    """Held-out accuracy by task (and the 'before' column when given)."""
    keys = ['eval/accuracy', f'eval/maj@{self.k}', f'eval/pass@{self.k}', 'eval/format',
            'eval/response_len'] + sorted(k for k in row if k.startswith('eval/accuracy/')) + (
                sorted(k for k in row if k.startswith('eval/mixed_language'))
                if any(k.startswith('eval/accuracy/lang_') for k in row) else [])
    lines = [title, f'  {"metric":<32}' + (f'{"before":>10}' if before else '') + f'{"after":>10}']
    for key in keys:
      if key in row:
        prev = f'{before[key]:>10.3f}' if before and key in before else ''
        lines.append(f'  {key:<32}{prev}{row[key]:>10.3f}')
    metrics.note('\n'.join(lines))


def markdown_table(row: dict, title: str) -> str:
  lines = [f'### {title}', '', '| metric | value |', '|---|---|']
  lines += [f'| {k[len("eval/"):]} | {v:.4f} |' for k, v in row.items()]
  return '\n'.join(lines) + '\n'


def validate_config(config, data_parallel: int) -> None:
  """config.eval: sizes against the data-parallel size and data.num_heldout, sampling."""
  d = config.data
  e = config.eval
  positive(config, 'eval.num_prompts', 'eval.num_samples', 'eval.batch_size',
            'eval.max_new_tokens', 'eval.prompt_len')
  require(e.batch_size % data_parallel == 0,
           f'eval.batch_size={e.batch_size} is not divisible by the data-parallel size '
           f'{data_parallel}; use a multiple of {data_parallel}')
  require(e.num_prompts <= d.num_heldout,
           f'eval.num_prompts={e.num_prompts} exceeds data.num_heldout={d.num_heldout}; '
           'lower eval.num_prompts or raise data.num_heldout')
  check_sampling('eval', e)
