"""RL for all scenarios (DeepSeek-R1 sec. 2.3.4): GRPO on one batch mix of reasoning prompts
(rule rewards, on the host) and general prompts (the learned reward model, on the device).

  python -m r1jax.main --config=configs/r1.py:quick --workdir=DIR    # its rl_all stage

An `rl` stage turns into this when rl.reward_model_stage names a finished reward_model stage:
  * each step's prompts_per_step prompts hold round(rl.general_fraction x prompts_per_step)
    general prompts (r1jax/data/tasks/general.py, training split), spread evenly over the
    batch, and reasoning prompts for the rest, each kind from its own epoch stream;
  * reasoning rows get rl.rewards (rule verifiers); general rows get
    rl.rm_helpfulness_weight x helpfulness + rl.rm_harmlessness_weight x harmlessness from the
    reward model (r1jax/rewards/reward_model.py: the summary only / the whole response,
    normalised to (0, 1));
  * the oracle's helpfulness and harmlessness of the general rows are logged beside the reward
    model's, never optimised: the two diverging is reward over-optimisation;
  * per-scenario metrics: reward/reasoning, reward/general, accuracy (reasoning rows),
    rm/helpfulness, rm/harmlessness, oracle/helpfulness, oracle/harmlessness, and the held-out
    general prompts' eval/general/* next to the usual held-out reasoning evaluation.
"""
import numpy as np

from r1jax import evaluate, metrics, sharding
from r1jax.data import pipeline, source, templates
from r1jax.data.tasks import Example, general
from r1jax.models import ModelConfig
from r1jax.rewards import oracle
from r1jax.rewards.reward_model import RewardModelReward
from r1jax.train import reward_model, rl

SCENARIO_KEYS = ('rm_helpfulness', 'rm_harmlessness', 'oracle_helpfulness',
                 'oracle_harmlessness', 'general')


def general_slots(count: int, num_general: int) -> np.ndarray:
  """bool [count]: which of a batch's positions hold general prompts, spread evenly."""
  j = np.arange(count)
  return (j + 1) * num_general // count > j * num_general // count


class MixedPrompts:
  """TaskPrompts' interface (texts, metadata, encoded, take) over reasoning and general
  prompts, in a fixed proportion per batch of `count` prompts."""

  def __init__(self, records, general_prompts, tokenizer, template, prompt_len: int,
               count: int, general_fraction: float, seed: int, share_prefix: bool = False):
    texts = [template.prompt(r['question']) for r in records]
    keep = pipeline.drop_long_prompts(tokenizer, texts, prompt_len, 'rl.prompt_len')
    general_texts = [template.prompt(p.question) for p in general_prompts]
    keep_general = pipeline.drop_long_prompts(tokenizer, general_texts, prompt_len,
                                              'rl.prompt_len')
    general_prompts = [general_prompts[i] for i in keep_general]
    self.num_reasoning = len(keep)
    self.texts = [texts[i] for i in keep] + [general_texts[i] for i in keep_general]
    self.metadata = ([Example.from_record(records[i]).metadata() for i in keep]
                     + [p.metadata() for p in general_prompts])
    self.encoded = pipeline.encode_prompts(tokenizer, self.texts, prompt_len, share_prefix)
    shared = pipeline.shared_prefix_len(self.encoded['tokens'], self.encoded['mask'])
    self.shared_prefix = self.encoded['tokens'][0, :shared] if share_prefix and shared > 1 else None
    self.count, self.slots = count, general_slots(count, round(general_fraction * count))
    order = lambda n, s: pipeline.BatchIterator({'index': np.arange(n)}, 1, s)
    self.reasoning_order = order(self.num_reasoning, seed)
    self.general_order = order(len(general_prompts), seed + 1)
    self.difficulty = np.asarray([float(m.get('difficulty', 0)) for m in self.metadata])

  def __len__(self):
    return len(self.texts)

  def index(self, position: int) -> int:
    """The prompt at stream position `position` (batch position % count decides its kind)."""
    batch, j = divmod(position, self.count)
    general_before = int(self.slots[:j].sum())
    if self.slots[j]:
      ordinal = batch * int(self.slots.sum()) + general_before
      return self.num_reasoning + int(self.general_order.indices(ordinal)[0])
    ordinal = batch * int((~self.slots).sum()) + j - general_before
    return int(self.reasoning_order.indices(ordinal)[0])

  def take(self, cursor: int, count: int) -> rl.PromptBatch:
    return self.take_indices(np.array([self.index(cursor + i) for i in range(count)]))

  def take_indices(self, idx) -> rl.PromptBatch:
    return rl.PromptBatch(self.encoded['tokens'][idx], self.encoded['mask'][idx],
                          [self.texts[i] for i in idx], [self.metadata[i] for i in idx])


def is_general(metadata) -> np.ndarray:
  return np.array([m.get('task') == general.TASK for m in metadata])


class AllScenariosTrainer(rl.GRPOTrainer):
  """GRPOTrainer whose rewards route by prompt: rule rewards or the reward model."""

  def __init__(self, config, tokenizer, mesh, rules, params, prompts, rm: RewardModelReward):
    self.rm = rm
    super().__init__(config, tokenizer, mesh, rules, params, prompts)

  def compute_rewards(self, batch, prompts, samples, step):
    group, rows = batch.group_size, len(batch.completions)
    gen = np.repeat(is_general(prompts.metadata), group)
    total, per_reward = np.zeros(rows, np.float32), {}
    reasoning = np.nonzero(~gen)[0]
    if len(reasoning):
      rule_total, rule = super().compute_rewards(_select(batch, reasoning), prompts, samples,
                                                 step)
      total[reasoning] = rule_total
      for k, v in rule.items():
        per_reward[k] = np.zeros(rows, np.float32)
        per_reward[k][reasoning] = v
    tokens = np.concatenate([np.repeat(prompts.tokens, group, 0), samples.tokens], axis=1)
    valid = np.concatenate([np.repeat(prompts.mask, group, 0), samples.mask], axis=1)
    scores = self.rm(tokens, valid, np.full(rows, prompts.tokens.shape[1], np.int32))
    rm_total = (self.rl.rm_helpfulness_weight * scores['helpfulness']
                + self.rl.rm_harmlessness_weight * scores['harmlessness'])
    total[gen] = rm_total[gen]
    for k in ('helpfulness', 'harmlessness'):
      per_reward[f'rm_{k}'] = np.where(gen, scores[k], 0).astype(np.float32)
    for name, fn in (('oracle_helpfulness', oracle.helpfulness),
                     ('oracle_harmlessness', oracle.harmlessness)):  # logged, never optimised
      per_reward[name] = np.array([fn(m, c) if g else 0.0 for m, c, g in zip(
          batch.metadata, batch.completions, gen)], np.float32)
    per_reward['general'] = gen.astype(np.float32)
    return total, per_reward

  def step(self) -> dict:
    row = super().step()
    ro = self.last_rollout
    gen = sharding.all_hosts_concat(ro.per_reward['general']) > 0
    total = sharding.all_hosts_concat(ro.rewards.astype(np.float32))
    per = {k: sharding.all_hosts_concat(v) for k, v in ro.per_reward.items()}
    for k in list(row):   # means over all rows mix the scenarios: per scenario instead
      if k.startswith('reward/') or k.startswith('reward_std/') or k == 'accuracy':
        del row[k]
    scenario = {'reasoning': ~gen, 'general': gen}
    for name, rows in scenario.items():
      if rows.any():
        row[f'reward/{name}'] = float(total[rows].mean())
    for k, v in per.items():
      if k in SCENARIO_KEYS[:4] and gen.any():        # rm/helpfulness, oracle/..., general rows
        row[k.replace('_', '/', 1)] = float(v[gen].mean())
      elif k not in SCENARIO_KEYS and (~gen).any():   # the rule rewards, reasoning rows
        row[f'reward/{k}'] = float(v[~gen].mean())
    if 'accuracy' in per and (~gen).any():
      row['accuracy'] = float(per['accuracy'][~gen].mean())
    row['general_fraction'] = float(gen.mean())
    return row

  def collect(self, step: int):
    ro, cursor, row = super().collect(step)
    self.last_rollout = ro
    return ro, cursor, row


def _select(batch, rows):
  """The reward batch restricted to some rows (whole groups: a group is one prompt's)."""
  from r1jax.rewards import RewardBatch  # pylint: disable=g-import-not-at-top
  pick = lambda x: None if x is None else [x[i] for i in rows]
  arr = lambda x: None if x is None else np.asarray(x)[rows]
  return RewardBatch(
      completions=pick(batch.completions), prompts=pick(batch.prompts),
      metadata=pick(batch.metadata), group_size=batch.group_size,
      completion_lens=arr(batch.completion_lens), max_completion_len=batch.max_completion_len,
      truncated=arr(batch.truncated), completion_ids=pick(batch.completion_ids))


class AllScenariosEvaluator(evaluate.Evaluator):
  """The held-out reasoning evaluation plus the held-out general prompts: oracle helpfulness
  and harmlessness and the reward model's normalised scores of k samples each."""

  def __init__(self, config, tokenizer, mesh, rules, rm: RewardModelReward, pool=None):
    super().__init__(config, tokenizer, mesh, rules, pool=pool)
    self.rm = rm
    prompts = general.make_general_prompts('heldout', config.eval.num_prompts,
                                           config.data.seed + 1)
    self.general = evaluate.Evaluator(   # drops prompts longer than eval.prompt_len
        config, tokenizer, mesh, rules, pool=pool,
        records=[{'question': p.question, 'index': i} for i, p in enumerate(prompts)])
    self.general_prompts = [prompts[r['index']] for r in self.general.records]
    self.general.sampler = self.sampler   # same shapes: one compiled sampler for both

  def __call__(self, params, step=None) -> dict:
    row = super().__call__(params, step)
    texts, lengths, _ = self.general.sample_texts(params)
    k = self.general.k
    metas = [p.metadata() for p in self.general_prompts for _ in range(k)]
    row['eval/general/oracle_helpfulness'] = float(np.mean(
        [oracle.helpfulness(m, t) for m, t in zip(metas, texts)]))
    row['eval/general/oracle_harmlessness'] = float(np.mean(
        [oracle.harmlessness(m, t) for m, t in zip(metas, texts)]))
    prompts = [self.general.prompts[i // k] for i in range(len(texts))]
    rows = encode_rows(self.tokenizer, prompts, texts)
    scores = self.rm(*rows)
    row['eval/general/rm_helpfulness'] = float(scores['helpfulness'].mean())
    row['eval/general/rm_harmlessness'] = float(scores['harmlessness'].mean())
    row['eval/general/response_len'] = float(np.mean(lengths))
    return row


def encode_rows(tokenizer, prompts, responses, seq_len: int = 0):
  """Right-padded `[BOS] prompt response [EOS]` rows for the reward model: tokens, valid and
  response_start (the column of the first response token)."""
  encoded = tokenizer.encode_batch(list(prompts))
  docs = pipeline.encode_documents(
      tokenizer, list(zip(prompts, responses)),
      seq_len or max(2 + len(p) + len(r) for p, r in zip(
          encoded, tokenizer.encode_batch(list(responses)))), mask_prompt=False)
  bos = 1 if getattr(tokenizer, 'add_bos', True) else 0
  return (docs['tokens'], docs['tokens'] != tokenizer.pad_id,
          np.array([bos + len(p) for p in encoded], np.int32))


def make_reward(config, rm_cfg, workdir, tokenizer, mesh, rules) -> RewardModelReward:
  """The reward model of stage rl.reward_model_stage (`rm_cfg` is that stage's config),
  compiled on the mesh and calibrated on its held-out pairs."""
  name = config.rl.reward_model_stage
  params = reward_model.load_reward_model(rm_cfg, workdir, name, mesh, rules)
  think_close = tokenizer.encode(templates.THINK_CLOSE)
  if len(think_close) != 1:
    raise ValueError(f'the tokenizer splits {templates.THINK_CLOSE!r} into {think_close}; the '
                     'reward model reads the summary after it, which needs it as one token')
  rm = RewardModelReward(ModelConfig.from_config(rm_cfg.model), params, mesh, rules,
                         think_close[0])
  pairs = reward_model.preference_pairs(rm_cfg, 'heldout')
  template = templates.get_template(config.data.template)
  prompts = [template.prompt(p['question']) for p in pairs for _ in (0, 1)]
  responses = [p[side] for p in pairs for side in ('chosen', 'rejected')]
  stats = rm.calibrate(*encode_rows(tokenizer, prompts, responses, rm_cfg.reward_model.seq_len))
  metrics.note(f'[rl_all] Reward model of stage {name!r}, normalised by its scores of '
               f'{len(responses)} held-out responses: ' +
               ', '.join(f'{k} {v:.3f}' for k, v in stats.items()))
  return rm


def run(config, workdir: str, tokenizer, mesh, rules, reward_model_config, init_params=None,
        stage: str = 'rl_all'):
  """rl.run with the mixed prompts, the routed rewards and the general evaluation;
  `reward_model_config` is the config of stage rl.reward_model_stage."""
  rl_cfg = config.rl
  rm = make_reward(config, reward_model_config, workdir, tokenizer, mesh, rules)
  template = templates.get_template(config.data.template)
  num_general = max(64, 4 * rl_cfg.prompts_per_step)
  prompts = MixedPrompts(source.load_records(config.data, 'train'),
                         general.make_general_prompts('train', num_general, config.data.seed),
                         tokenizer, template, rl_cfg.prompt_len, rl_cfg.prompts_per_step,
                         rl_cfg.general_fraction, config.seed + 1, config.data.share_prefix)
  metrics.note(f'[{stage}] {int(prompts.slots.sum())} general + '
               f'{int((~prompts.slots).sum())} reasoning prompts per step')
  return rl.run(
      config, workdir, tokenizer, mesh, rules, init_params, stage,
      make_trainer=lambda params: AllScenariosTrainer(config, tokenizer, mesh, rules, params,
                                                      prompts, rm),
      make_evaluator=lambda pool: AllScenariosEvaluator(config, tokenizer, mesh, rules, rm,
                                                        pool))
