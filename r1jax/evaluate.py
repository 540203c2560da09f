"""Held-out evaluation through the compiled sampler: pass@1 averaged over k samples, maj@k,
format rate, response length and language mixing, overall and by task, difficulty and language.

  evaluator = Evaluator(config, tokenizer, mesh, rules)
  row = evaluator(params, step)   # {'eval/accuracy': ..., 'eval/maj@4': ..., ...}
"""
import collections
import re

import jax
import numpy as np
from jax.experimental import multihost_utils

from r1jax import metrics, rewards, sampling, sharding
from r1jax.data import pipeline, source, templates
from r1jax.data.tasks import Example
from r1jax.models import ModelConfig
from r1jax.rewards.language import LANGUAGE_SCRIPTS, think_text, words_by_script
from r1jax.rewards.math import extract_answer, normalize_answer


def mixed_language(completion: str, language: str) -> bool:
  """Whether the <think> block has words outside `language`'s script (language mixing);
  single letters are variables ('x'), not words."""
  cot = think_text(completion)
  if cot is None:
    return False
  counts = words_by_script(re.sub(r'\b[A-Za-z]\b', ' ', cot))
  return sum(counts.values()) > counts[LANGUAGE_SCRIPTS[language]]


def majority_correct(answers: list, correct: np.ndarray) -> float:
  """maj@k for one prompt: 1 if the most frequent extracted answer (ties: first seen) is
  correct. Completions without an answer do not vote."""
  votes = collections.Counter(a for a in answers if a is not None)
  if not votes:
    return 0.0
  winner = votes.most_common(1)[0][0]
  return float(correct[answers.index(winner)])


def score_completions(completions, prompts, records, group_size, pool=None):
  """Per-completion accuracy and format (float32 [N]) for group-major completions."""
  batch = rewards.RewardBatch(
      completions=completions, prompts=[p for p in prompts for _ in range(group_size)],
      metadata=[Example.from_record(r).metadata() for r in records for _ in range(group_size)],
      group_size=group_size)
  _, per_reward = rewards.compute_rewards(batch, {'accuracy': 1.0, 'format': 1.0}, pool=pool)
  return per_reward['accuracy'], per_reward['format']


class Evaluator:
  """Samples k completions for a fixed set of held-out prompts and scores them."""

  def __init__(self, config, tokenizer, mesh, rules, pool=None):
    eval_cfg = config.eval
    self.tokenizer, self.mesh, self.pool = tokenizer, mesh, pool
    self.k, self.batch_size = eval_cfg.num_samples, eval_cfg.batch_size
    records = source.load_records(config.data, 'heldout')
    template = templates.get_template(config.data.template)
    prompts = [template.prompt(r['question']) for r in records]
    keep = pipeline.drop_long_prompts(tokenizer, prompts, eval_cfg.prompt_len,
                                      'eval.prompt_len')[:eval_cfg.num_prompts]
    self.records, self.prompts = [records[i] for i in keep], [prompts[i] for i in keep]
    self.encoded = pipeline.encode_prompts(tokenizer, self.prompts, eval_cfg.prompt_len,
                                           field='eval.prompt_len')
    self.sampler = sampling.Sampler(
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
                             jax.random.fold_in(self.rng, start))
      samples = multihost_utils.process_allgather(samples, tiled=True)
      keep = min(self.batch_size, len(self.prompts) - start) * self.k
      ids = sampling.completion_ids(samples)[:keep]
      texts.extend(self.tokenizer.decode(x) for x in ids)
      lengths.append(samples.lengths[:keep])
      truncated.append(~samples.stopped[:keep])
    return texts, np.concatenate(lengths), np.concatenate(truncated)

  def __call__(self, params, step: int | None = None) -> dict:
    del step
    texts, lengths, truncated = self.sample_texts(params)
    accuracy, fmt = score_completions(texts, self.prompts, self.records, self.k, self.pool)
    k = self.k
    answers = [normalize_answer(extract_answer(t)) for t in texts]
    maj = [majority_correct(answers[i * k:(i + 1) * k], accuracy[i * k:(i + 1) * k])
           for i in range(len(self.records))]
    row = {'eval/accuracy': float(accuracy.mean()), f'eval/maj@{k}': float(np.mean(maj)),
           f'eval/pass@{k}': float(accuracy.reshape(-1, k).max(axis=1).mean()),
           'eval/format': float(fmt.mean()), 'eval/response_len': float(lengths.mean()),
           'eval/truncated': float(truncated.mean())}
    per_prompt = accuracy.reshape(-1, k).mean(axis=1)
    languages = [r.get('language', 'en') for r in self.records]
    keys = ('task', 'difficulty') + (('language',) if len(set(languages)) > 1 else ())
    for key in keys:
      groups = collections.defaultdict(list)
      for record, acc in zip(self.records, per_prompt):
        groups[record[key]].append(acc)
      prefix = {'difficulty': 'level', 'language': 'lang_'}.get(key, '')
      for name, values in sorted(groups.items()):
        row[f'eval/accuracy/{prefix}{name}'] = float(np.mean(values))
    # Fraction of completions whose reasoning mixes languages, by prompt language.
    mixed = np.array([mixed_language(t, languages[i // k]) for i, t in enumerate(texts)])
    row['eval/mixed_language'] = float(mixed.mean())
    for language in sorted(set(languages)):
      row[f'eval/mixed_language/{language}'] = float(
          mixed[np.repeat(np.array(languages) == language, k)].mean())
    return row

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
