"""Held-out evaluation through the compiled sampler: pass@1 averaged over k samples, maj@k,
pass@k (unbiased), format rate, response length, language mixing and reflection words, overall
and by task, level and language; every accuracy with its 95% bootstrap interval over prompts
(`eval/accuracy_low`, `eval/accuracy_high`, ... ; r1jax/stats.py).

The primary pass is what config.eval says. Greedy decoding is `eval.temperature=0,
eval.num_samples=1` (the sampler takes the argmax; one 0/1 outcome per prompt, so two
checkpoints compare with McNemar's exact test). `eval.sampled_samples=k` adds the papers'
sampled setting (R1: temperature 0.6, top-p 0.95, pass@1 averaged over k samples) as a second
pass: `eval/sampled/accuracy`, `eval/sampled/maj@k`, `eval/sampled/pass@k`, with intervals.

  python -m r1jax.main --mode=evaluate --config=configs/qwen2_5_1_5b_r1_zero_gsm8k.py --workdir=DIR
  python -m r1jax.main --mode=evaluate --config=configs/qwen2_5_1_5b_r1_zero_gsm8k.py --config.model.hf_path=/ckpt/Qwen2.5-1.5B --workdir=DIR

writes DIR/eval/results.json, results.md and completions.jsonl (every completion, its extracted
answer and verdict). In code:

  evaluator = Evaluator(config, tokenizer, mesh, rules)
  row = evaluator(params, step)   # {'eval/accuracy': ..., 'eval/accuracy_low': ..., ...}
  before = evaluator.last_correct  # float [P, k], rows aligned with evaluator.records
  row = evaluator(new_params)
  compare(before, evaluator.last_correct)   # {'diff', 'low', 'high', 'p_value', ...}
"""
import collections
import functools
import json
import re

import jax
import numpy as np
from etils import epath
from jax.experimental import multihost_utils

from r1jax import metrics, rewards, sampling, sharding, stats
from r1jax.config import check_sampling, positive, require
from r1jax.data import pipeline, source, templates
from r1jax.data.tasks import Example
from r1jax.models import ModelConfig
from r1jax.rewards.language import mixed_language, think_text
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


# Bootstrap resamples for every interval: 2000 resolve a paired p down to 0.001.
CI_RESAMPLES = 2000
CI_SUFFIXES = ('_low', '_high')


def prompt_scores(correct: np.ndarray, answers: list, k: int) -> dict:
  """One score per prompt (float64 [P] each) of n samples per prompt: 'accuracy' (mean over
  the samples), 'maj@k' and 'pass@k' (see `summarize`). The units the intervals resample."""
  correct = np.asarray(correct, np.float64)
  n = correct.shape[1]
  hits = (correct >= 0.5).sum(axis=1)
  return {'accuracy': correct.mean(axis=1),
          f'maj@{k}': np.array([maj_at_k(a, c, k) for a, c in zip(answers, correct)]),
          f'pass@{k}': np.array([pass_at_k(n, int(h), k) for h in hits])}


def summarize(correct: np.ndarray, answers: list, records: list, k: int,
              num_resamples: int = CI_RESAMPLES) -> dict:
  """Metrics of n samples per prompt: correct float [P, n] (1 = right; partial credit is
  averaged), answers [P][n] normalised extracted answers (None = unanswered).

  accuracy   pass@1 = mean over prompts of the mean over samples
  maj@k      majority vote over blocks of k samples (ties: first answer seen; unanswered
             samples do not vote; no answer at all counts as wrong)
  pass@k     unbiased estimator from all n samples (a sample counts as correct when >= 0.5)
  accuracy/<task>, accuracy/level<d>: pass@1 by task and by level (difficulty)
  <name>_low, <name>_high: the 95% percentile-bootstrap interval of each of these over the
             prompts (of the task or level), `stats.bootstrap_ci(scores, num_resamples)`; the
             intervals follow the values in the dict (readers that take the first key starting
             with 'maj@' get the value)
  """
  scores = prompt_scores(correct, answers, k)
  by = [('task', ''), ('difficulty', 'level')]
  if len({r.get('language', 'en') for r in records}) > 1:
    by.append(('language', 'lang_'))
  for key, prefix in by:
    groups = collections.defaultdict(list)
    for i, record in enumerate(records):
      groups[record.get(key, 'en')].append(i)
    for name, rows in sorted(groups.items()):
      scores[f'accuracy/{prefix}{name}'] = scores['accuracy'][rows]
  out = {name: float(values.mean()) for name, values in scores.items()}
  for name, values in scores.items():
    _, out[f'{name}_low'], out[f'{name}_high'] = stats.bootstrap_ci(values, num_resamples)
  return out


def compare(before, after, num_resamples: int = CI_RESAMPLES, seed: int = 0) -> dict:
  """`after` against `before`, scored on the same prompts in the same order (e.g. two
  `Evaluator.last_correct` of one Evaluator): {'diff', 'low', 'high', 'p_value'} of
  mean(after - before) from `stats.paired_bootstrap` over prompts; and when both hold one 0/1
  outcome per prompt ([P] or [P, 1]: greedy, eval.num_samples=1) McNemar's exact test too:
  'mcnemar_p', 'after_only', 'before_only' (the discordant prompts)."""
  before, after = (np.asarray(x, np.float64) for x in (before, after))
  out = stats.paired_bootstrap(before, after, num_resamples, seed=seed)
  single = [x[:, 0] if x.ndim == 2 and x.shape[1] == 1 else x for x in (before, after)]
  if all(x.ndim == 1 and np.isin(x, (0, 1)).all() for x in single):
    test = stats.mcnemar(*single)
    out.update(mcnemar_p=test['p_value'], after_only=test['b_only'],
               before_only=test['a_only'])
  return out


def format_compare(result: dict) -> str:
  """'paired difference +12.3 pts [+9.1, +15.4], p<0.001; McNemar p=0.002' from `compare`'s
  result (the McNemar part when it has 'mcnemar_p')."""
  text = 'paired difference ' + stats.format_paired(
      result['diff'], result['low'], result['high'], result['p_value'])
  if 'mcnemar_p' in result:
    text += f'; McNemar {stats.format_p(result["mcnemar_p"])}'
  return text


# ---------------------------------------------------------------------------- reflection words

# A check: the word check (checks, checked, checking, recheck) or 检查; not 'checksum' or
# 'unchecked'. A re-evaluation: the word wait (any case, not 'waiting' or 'await') or 等等.
# Chinese has no word boundaries: its words match anywhere.
REFLECTION_WORDS = {
    'check': re.compile(r'\b(?:re)?check(?:s|ed|ing)?\b|检查', re.IGNORECASE),
    'wait': re.compile(r'\bwait\b|等等', re.IGNORECASE),
}


def reasoning_text(completion: str) -> str:
  """The reasoning of a completion: its <think> block (to the end if unclosed); the text
  before </think> when the prompt opened the block; else the whole completion."""
  cot = think_text(completion)
  if cot is not None:
    return cot
  end = completion.find(templates.THINK_CLOSE)
  return completion if end < 0 else completion[:end]


def reflection_flags(completions) -> dict:
  """{word: bool [N]}: whether each completion's reasoning has the word (REFLECTION_WORDS),
  the R1-Zero 'aha moment' signal."""
  texts = [reasoning_text(c) for c in completions]
  return {word: np.array([bool(pattern.search(t)) for t in texts], bool)
          for word, pattern in REFLECTION_WORDS.items()}


def duplicate_prompts(records) -> int:
  """How many records repeat an earlier one's (task, question): a (task, level) held-out space
  smaller than its share of eval.num_prompts repeats its problems (data/tasks make_examples)."""
  seen = set()
  for r in records:
    seen.add((r.get('task'), r['question']))
  return len(records) - len(seen)


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


_WARNED = set()   # (prompts, duplicates) already reported


class Evaluator:
  """Samples k completions for a fixed set of held-out prompts and scores them; `records`
  (task records) replaces the held-out split (r1jax/stages/rejection.py samples training
  prompts with it).

  After each evaluation `last_correct` (float [P, k]) and `last_per_prompt` (float [P], its
  mean over the k samples) hold the per-prompt verdicts, row i for `records[i]`, and
  `last_scores` every per-prompt score the row's means and intervals came from ('accuracy',
  'maj@k', 'pass@k', 'sampled/accuracy', ...): two checkpoints evaluated by one Evaluator
  are compared on the same prompts with `compare`."""

  def __init__(self, config, tokenizer, mesh, rules, pool=None, records=None, prompts=None):
    """`prompts`: the records' prompt texts (default: the template's prompt of each
    question), e.g. k1.5's direct-answer probe (r1jax/data/curate.py)."""
    eval_cfg = config.eval
    self.tokenizer, self.mesh, self.pool = tokenizer, mesh, pool
    self.k, self.batch_size = eval_cfg.num_samples, eval_cfg.batch_size
    heldout = records is None
    records = source.load_records(config.data, 'heldout') if heldout else records
    template = templates.get_template(config.data.template)
    self.answer_source = template.answer_source
    if prompts is None:
      prompts = [template.prompt(r['question']) for r in records]
    keep = pipeline.drop_long_prompts(tokenizer, prompts, eval_cfg.prompt_len,
                                      'eval.prompt_len')[:eval_cfg.num_prompts]
    self.records, self.prompts = [records[i] for i in keep], [prompts[i] for i in keep]
    # The held-out split is drawn round-robin over (task, level), so the first num_prompts
    # are stratified; a space smaller than its share repeats problems (counted, not hidden).
    self.duplicates = duplicate_prompts(self.records) if self.records else 0
    if heldout and self.duplicates and (len(self.records), self.duplicates) not in _WARNED:
      _WARNED.add((len(self.records), self.duplicates))   # once a process, not once a stage
      metrics.note(f'[eval] {self.duplicates} of {len(self.records)} held-out prompts repeat an '
                   'earlier one (a task/level problem space is smaller than its share of '
                   'eval.num_prompts); the intervals count them as separate prompts')
    # With data.share_prefix the template's preamble stays in the first columns, and the
    # sampler prefills and keeps it once for all rows (`sampling.usable_prefix`).
    share = bool(config.data.get('share_prefix', False)) and bool(self.prompts)
    self.encoded = pipeline.encode_prompts(tokenizer, self.prompts, eval_cfg.prompt_len,
                                           keep_shared_prefix=share, field='eval.prompt_len')
    self.prefix_len = (sampling.usable_prefix(self.encoded['tokens'], self.encoded['mask'])
                       if share else 0)
    model_cfg = ModelConfig.from_config(config.model)
    sampling_cfg = functools.partial(
        sampling.SamplingConfig, max_new_tokens=eval_cfg.max_new_tokens,
        stop_ids=tokenizer.stop_ids, pad_id=tokenizer.pad_id)
    self.sampler = shared_sampler(
        model_cfg, sampling_cfg(group_size=self.k, temperature=eval_cfg.temperature,
                                top_k=eval_cfg.top_k, top_p=eval_cfg.top_p),
        mesh, rules)
    # The same key at every evaluation: differences between steps come from the model.
    self.rng = jax.random.fold_in(jax.random.key(config.seed), 10_000_019)
    # The papers' sampled setting as a second pass (0 = off), with keys of its own.
    self.sampled_k = int(eval_cfg.get('sampled_samples', 0))
    self.sampled_sampler = self.sampled_rng = None
    if self.sampled_k:
      self.sampled_sampler = shared_sampler(
          model_cfg, sampling_cfg(group_size=self.sampled_k,
                                  temperature=eval_cfg.sampled_temperature,
                                  top_p=eval_cfg.sampled_top_p),
          mesh, rules)
      self.sampled_rng = jax.random.fold_in(jax.random.key(config.seed), 10_000_079)
    self.last_correct = self.last_per_prompt = None
    self.last_scores = {}

  def sample_texts(self, params):
    """Completion texts (group-major, k per prompt) and their token lengths."""
    return self._sample(params, self.sampler, self.k, self.rng)

  def _sample(self, params, sampler, k, rng):
    texts, lengths, truncated = [], [], []
    for start in range(0, len(self.prompts), self.batch_size):
      rows = np.arange(start, start + self.batch_size) % len(self.prompts)
      # This process's rows in, every row out (the samples span all processes' devices).
      batch = sharding.process_rows({key: v[rows] for key, v in self.encoded.items()})
      samples = sampler(params, batch['tokens'], batch['mask'],
                        jax.random.fold_in(rng, start), prefix_len=self.prefix_len)
      samples = multihost_utils.process_allgather(samples, tiled=True)
      keep = min(self.batch_size, len(self.prompts) - start) * k
      ids = sampling.completion_ids(samples)[:keep]
      texts.extend(self.tokenizer.decode(x) for x in ids)
      lengths.append(samples.lengths[:keep])
      truncated.append(~samples.stopped[:keep])
    return texts, np.concatenate(lengths), np.concatenate(truncated)

  def __call__(self, params, step: int | None = None) -> dict:
    del step
    return self.evaluate(params)[0]

  def _score(self, texts, k, prefix: str) -> tuple[dict, np.ndarray, np.ndarray, list]:
    """(summarize's row under `prefix`, accuracy [P*k], format [P*k], answers [P*k]) of k
    completions per prompt; the per-prompt scores go to last_scores."""
    accuracy, fmt = score_completions(texts, self.prompts, self.records, k, self.pool,
                                      self.answer_source)
    answers = [normalize_answer(extract_answer(t, self.answer_source)) for t in texts]
    correct = accuracy.reshape(-1, k)
    grouped = [answers[i * k:(i + 1) * k] for i in range(len(self.records))]
    name = prefix[len('eval/'):]
    self.last_scores.update({f'{name}{key}': v for key, v in
                             prompt_scores(correct, grouped, k).items()})
    row = {f'{prefix}{key}': v for key, v in summarize(correct, grouped, self.records, k).items()}
    return row, accuracy, fmt, answers

  def evaluate(self, params) -> tuple[dict, list[dict]]:
    """(metrics row, one dict per completion: prompt index, task, level, text, extracted
    answer, gold, correct, format, length, truncated)."""
    texts, lengths, truncated = self.sample_texts(params)
    k = self.k
    self.last_scores = {}
    row, accuracy, fmt, answers = self._score(texts, k, 'eval/')
    self.last_correct = np.asarray(accuracy, np.float64).reshape(-1, k)
    self.last_per_prompt = self.last_correct.mean(axis=1)
    row.update({'eval/format': float(fmt.mean()), 'eval/response_len': float(lengths.mean()),
                'eval/truncated': float(truncated.mean())})
    # Fraction of completions whose reasoning mixes languages, by prompt language.
    languages = [r.get('language', 'en') for r in self.records]
    mixed = np.array([mixed_language(t, languages[i // k]) for i, t in enumerate(texts)])
    row['eval/mixed_language'] = float(mixed.mean())
    for language in sorted(set(languages)):
      row[f'eval/mixed_language/{language}'] = float(
          mixed[np.repeat(np.array(languages) == language, k)].mean())
    row.update(reflection_row(texts, lengths, self.records, k))
    row['eval/duplicate_prompts'] = self.duplicates
    if self.sampled_k:
      sampled_texts, _, _ = self._sample(params, self.sampled_sampler, self.sampled_k,
                                         self.sampled_rng)
      row.update(self._score(sampled_texts, self.sampled_k, 'eval/sampled/')[0])
    details = [dict(prompt_index=i // k, task=self.records[i // k]['task'],
                    level=int(self.records[i // k]['difficulty']),
                    question=self.records[i // k]['question'], completion=texts[i],
                    answer=answers[i], gold=str(self.records[i // k]['answer']),
                    correct=float(accuracy[i]), format=float(fmt[i]), length=int(lengths[i]),
                    truncated=bool(truncated[i])) for i in range(len(texts))]
    return row, details

  # --------------------------------------------------------------- before / after on the prompts

  def save_scores(self, path) -> None:
    """Writes last_correct and the prompts' questions to `path` (JSON; process 0), so a
    resumed run compares with the scores of an evaluation it did not run itself."""
    if jax.process_index() != 0 or self.last_correct is None:
      return
    path = epath.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({'questions': [r['question'] for r in self.records],
                                'correct': self.last_correct.tolist()}))

  def load_scores(self, path) -> np.ndarray | None:
    """float [P, k] written by `save_scores` for these prompts; None when the file is missing
    or holds other prompts or another k (eval.* changed since)."""
    path = epath.Path(path)
    if not path.exists():
      return None
    saved = json.loads(path.read_text())
    correct = np.asarray(saved['correct'], np.float64)
    if (saved['questions'] != [r['question'] for r in self.records]
        or correct.shape != (len(self.records), self.k)):
      metrics.note(f'[eval] {path} holds other prompts or another eval.num_samples: '
                   'no paired comparison with it')
      return None
    return correct

  def paired_row(self, before_correct) -> dict:
    """eval/paired_{diff,low,high,p} (and eval/paired_mcnemar_p for greedy outcomes): the last
    evaluation's accuracy against `before_correct` [P, k] on the same prompts (`compare`);
    {} without one."""
    if before_correct is None or self.last_correct is None or (
        np.shape(before_correct) != self.last_correct.shape):
      return {}
    result = compare(before_correct, self.last_correct)
    names = dict(diff='diff', low='low', high='high', p_value='p', mcnemar_p='mcnemar_p')
    return {f'eval/paired_{names[key]}': float(v) for key, v in result.items() if key in names}

  def print_table(self, row: dict, title: str, before: dict | None = None) -> None:
    """Held-out accuracy by task, each with its interval (and the 'before' column when
    given), then the paired difference when the row has one (`paired_row`)."""
    sampled = (['eval/sampled/accuracy', f'eval/sampled/maj@{self.sampled_k}',
                f'eval/sampled/pass@{self.sampled_k}'] if self.sampled_k else [])
    keys = (['eval/accuracy', f'eval/maj@{self.k}', f'eval/pass@{self.k}'] + sampled +
            ['eval/format', 'eval/response_len', 'eval/reflection/check', 'eval/reflection/wait']
            + sorted(k for k in row if k.startswith('eval/accuracy/')
                     and not k.endswith(CI_SUFFIXES)) + (
                sorted(k for k in row if k.startswith('eval/mixed_language'))
                if any(k.startswith('eval/accuracy/lang_') for k in row) else []))
    width = 24 if any(f'{k}_low' in row for k in keys) else 10
    lines = [title, f'  {"metric":<32}' + (f'{"before":>{width}}' if before else '') +
             f'{"after":>{width}}']
    for key in keys:
      if key in row:
        prev = f'{_cell(before, key):>{width}}' if before and key in before else (
            ' ' * width if before else '')
        lines.append(f'  {key:<32}{prev}{_cell(row, key):>{width}}')
    if 'eval/paired_diff' in row:
      lines.append('  accuracy, after - before: ' + format_compare(
          {key: row[f'eval/paired_{name}'] for key, name in (
              ('diff', 'diff'), ('low', 'low'), ('high', 'high'), ('p_value', 'p'),
              ('mcnemar_p', 'mcnemar_p')) if f'eval/paired_{name}' in row}))
    metrics.note('\n'.join(lines))


def _cell(row: dict, key: str, digits: int = 3) -> str:
  """'0.412 [0.381, 0.443]' when the row has the key's interval, else '0.412'."""
  if f'{key}_low' in row and f'{key}_high' in row:
    return stats.format_ci(row[key], row[f'{key}_low'], row[f'{key}_high'], digits)
  return f'{row[key]:.{digits}f}'


def reflection_row(texts, lengths, records, k: int) -> dict:
  """eval/reflection/<word>: share of the completions whose reasoning has the word
  (`reflection_flags`), overall and by level (eval/reflection/check/level3), and
  eval/response_len/level<d>; texts and lengths [P*k], group-major."""
  flags = reflection_flags(texts)
  levels = np.repeat([r.get('difficulty', 0) for r in records], k)
  lengths = np.asarray(lengths, np.float64)
  row = {f'eval/reflection/{word}': float(f.mean()) for word, f in flags.items()}
  for level in sorted(set(levels.tolist())):
    rows = levels == level
    for word, f in flags.items():
      row[f'eval/reflection/{word}/level{level}'] = float(f[rows].mean())
    row[f'eval/response_len/level{level}'] = float(lengths[rows].mean())
  return row


def markdown_table(row: dict, title: str) -> str:
  """One line per metric; a metric's interval (<key>_low, <key>_high) shares its line."""
  lines = [f'### {title}', '', '| metric | value |', '|---|---|']
  lines += [f'| {k[len("eval/"):]} | {_cell(row, k, 4)} |' for k in row
            if not (k.endswith(CI_SUFFIXES) and k.rsplit('_', 1)[0] in row)]
  return '\n'.join(lines) + '\n'


def validate_config(config, data_parallel: int) -> None:
  """config.eval: sizes against the data-parallel size and data.num_heldout, sampling, the
  greedy setting and the sampled pass."""
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
  require(e.temperature > 0 or e.num_samples == 1,
          f'eval.temperature=0 (greedy) with eval.num_samples={e.num_samples} decodes '
          f'{e.num_samples} identical samples; set eval.num_samples=1 (or for sampled '
          'accuracy eval.sampled_samples)')
  require(e.sampled_samples >= 0,
          f'eval.sampled_samples={e.sampled_samples} must be >= 0 (0 = no sampled pass)')
  require(0 < e.sampled_top_p <= 1,
          f'eval.sampled_top_p={e.sampled_top_p} must be in (0, 1] (0.95 in R1)')
  require(e.sampled_temperature > 0 or not e.sampled_samples,
          f'eval.sampled_temperature={e.sampled_temperature} with eval.sampled_samples='
          f'{e.sampled_samples}: the sampled pass needs a temperature > 0 (0.6 in R1); set '
          'it, or eval.sampled_samples=0')
