"""The RL prompt set of Kimi k1.5 (arXiv 2501.12599 sec. 2.1): difficulty from the model's own
pass rate, easy-to-hack prompts removed, balanced by task and difficulty, written as a TFDS
dataset with a `pass_rate` field that `rl.sampling='curriculum'` reads as difficulty.

  report = curate_prompts(config, tokenizer, mesh, rules, params, data_dir, stage)
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

`sample_scored` is what the k1.5 stages sample with (curation, shortest rejection sampling,
DPO pairs, vanilla SFT): R1's `rejection.sample_and_verify` for plain prompts, and
evaluate.Evaluator directly (prompts given) for the direct-answer probe and the general
prompts, which have no verifier.
"""
import collections
import os

import numpy as np

from r1jax.data import source, stage_data, templates
from r1jax.data.tasks import Example

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
  from r1jax import evaluate  # pylint: disable=g-import-not-at-top
  import ml_collections  # pylint: disable=g-import-not-at-top
  template = templates.get_template(config.data.template)
  if score and prompts is None and not completion_prefix:  # the common case: R1's sampler
    from r1jax.data import rejection  # pylint: disable=g-import-not-at-top
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
    accuracy, _ = evaluate.score_completions(texts, plain, kept, num_samples, pool)
    out['correct'] = accuracy.reshape(len(kept), num_samples)
  return out


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


def curate_prompts(config, tokenizer, mesh, rules, params, data_dir: str, stage: str,
                   pool=None) -> dict:
  """Builds (once) the curated prompt set of `stage` under `data_dir`; returns its report."""
  from r1jax import metrics  # pylint: disable=g-import-not-at-top
  report = stage_data.read_report(data_dir, NAME, stage)
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
                         completion_prefix=direct_answer_prefix(template, cur.direct_thought),
                         pool=pool)
  if len(direct['records']) != len(kept):
    raise ValueError(f'curate: the direct-answer prompts need eval.prompt_len >= the prompt '
                     f'plus {cur.direct_thought!r}; raise eval.prompt_len')
  pass_rate = (cot['correct'] >= 0.5).mean(axis=1)
  direct_rate = (direct['correct'] >= 0.5).mean(axis=1)
  hackable = direct_rate > 0
  candidates = np.nonzero(~hackable)[0]
  cells = [(kept[i]['task'], difficulty_bin(pass_rate[i])) for i in candidates]
  balanced = balance(cells, cur.balance, int(config.seed))
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
    counts = collections.Counter(r['task'] if key == 'task' else difficulty_bin(r['pass_rate'])
                                 for r in out)
    report.update({f'kept/{k}': v for k, v in sorted(counts.items())})
  dropped_by_task = collections.Counter(kept[i]['task'] for i in np.nonzero(hackable)[0])
  report.update({f'dropped/hackable/{k}': v for k, v in sorted(dropped_by_task.items())})
  stage_data.write_dataset(data_dir, NAME, stage, out, FEATURES, report)
  metrics.note(f'[{stage}] Curated prompt set: ' + ', '.join(f'{k} {v:.3g}' if isinstance(
      v, float) else f'{k} {v}' for k, v in report.items()))
  return stage_data.read_report(data_dir, NAME, stage)


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
