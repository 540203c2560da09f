"""Trainer-level tests of the RL options: each one runs `GRPOTrainer.step` on the tiny model
and checks a property that breaks when the option does (mu > 1 and the LR schedule, on-policy
first updates, mask_truncated, kl_mode='reward', top-k/top-p, advantage/aggregation modes,
rl.init_from, the k1.5 loss, reward warm-up, prompt samplers and their resume)."""
import jax
import ml_collections
import numpy as np
import pytest

from conftest import make_tiny_config
from test_rl import _rl_config
from r1jax import checkpoint, losses, main, sharding
from r1jax.train import rl, state as train_state_lib

ONE = 1 + 1e-5  # float32 recomputation of the same log-probs in two jitted functions


class IndexedPrompts:
  """Random token prompts with an index-addressable pool and a sampling difficulty per prompt
  (`difficulty`, as 1 - pass_rate of a curated set) that differs from the task level."""

  def __init__(self, num=32, vocab_size=512, prompt_len=8):
    rs = np.random.default_rng(0)
    self.tokens = rs.integers(4, vocab_size, (num, prompt_len)).astype(np.int32)
    self.difficulty = np.arange(num) % 4

  def __len__(self):
    return len(self.tokens)

  def take(self, cursor, count):
    return self.take_indices((cursor + np.arange(count)) % len(self))

  def take_indices(self, idx):
    tokens = self.tokens[idx]
    return rl.PromptBatch(tokens, np.ones_like(tokens, bool), [''] * len(idx),
                          [{'difficulty': 1, 'index': int(i)} for i in idx])  # level 1: as curated


def _config(**rl_fields):
  return _rl_config(**{**dict(steps=4, learning_rate=1e-2, success_reward='even_tokens'),
                       **rl_fields})


@pytest.fixture(scope='module')
def tokenizer(tmp_path_factory):
  return main.load_or_train_tokenizer(make_tiny_config(), str(tmp_path_factory.mktemp('tok')))


@pytest.fixture(scope='module')
def base_params():
  """One tiny base model shared by every trainer here (random init, seed 0)."""
  config = make_tiny_config()
  mesh = sharding.make_mesh(ml_collections.ConfigDict({'shape': (1, 1, 1)}), jax.devices()[:1])
  tx = train_state_lib.make_optimizer(config.train)
  state, _ = train_state_lib.create_train_state(
      rl.ModelConfig.from_config(config.model), tx, jax.random.key(0), mesh,
      sharding.DEFAULT_RULES)
  return jax.device_get(state.params)


def _trainer(config, tokenizer, params, prompts=None):
  mesh = sharding.make_mesh(ml_collections.ConfigDict({'shape': (1, 1, 1)}), jax.devices()[:1])
  return rl.GRPOTrainer(config, tokenizer, mesh, sharding.DEFAULT_RULES, params,
                        prompts or IndexedPrompts(prompt_len=config.rl.prompt_len))


def _host(tree):
  return [np.asarray(x) for x in jax.tree.leaves(jax.device_get(tree))]


def _capture_batches(trainer):
  """Record (rollout, device batch with advantages) of every step."""
  seen = []
  collect, device_batches = trainer.collect, trainer.device_batches
  # one update batch, rows in rollout order and max_new_tokens long (no length chunks)
  trainer.chunks, trainer.buckets = 1, (trainer.rl.max_new_tokens,)

  def wrapped_collect(step):
    out = collect(step)
    seen.append({'ro': out[0]})
    return out

  def wrapped_device_batches(ro, plan):
    batches = device_batches(ro, plan)
    seen[-1]['batch'] = batches[0]
    seen[-1]['advantages'] = trainer.advantages(ro, plan, batches)
    return batches
  trainer.collect, trainer.device_batches = wrapped_collect, wrapped_device_batches
  return seen


# ---------------------------------------------------------------------------- mu, LR, on-policy

def test_mu_gt_1_schedule_counts_rl_steps_and_first_update_is_on_policy(tokenizer, base_params):
  # warm-up of 2 RL steps: step 0 updates with LR 0 (both of its mu = 2 updates), step 1 with
  # half the peak. Counting updates instead would give update 1 a rate of 0.005.
  trainer = _trainer(_config(num_iterations=2, warmup_steps=2, min_lr_ratio=0.5), tokenizer,
                     base_params)
  before = _host(trainer.params)
  rows = [trainer.step()]
  for a, b in zip(before, _host(trainer.params)):
    np.testing.assert_array_equal(a, b)
  rows += [trainer.step() for _ in range(3)]
  trainer.pool.close()
  schedule = train_state_lib.lr_schedule(trainer.rl, 4)
  for step, row in enumerate(rows):
    np.testing.assert_allclose(row['learning_rate'], float(schedule(step)), rtol=1e-6)
  assert [round(r['learning_rate'], 6) for r in rows[:3]] == [0.0, 0.005, 0.01]
  assert rows[-1]['learning_rate'] < 0.01   # cosine decay reached within rl.steps
  assert trainer.step_count == 4 and int(trainer.state.train.step) == 8
  for row in rows:  # old log-probs recomputed with the step's starting policy
    assert 1 / ONE <= row['first_ratio_min'] <= row['first_ratio_max'] <= ONE
  # the second update of a step that moved the policy is off-policy
  assert rows[2]['ratio_max'] > 1.001 or rows[2]['ratio_min'] < 0.999


def test_top_k_top_p_rollouts(tokenizer, base_params):
  # top_k=1 is greedy: the G samples of a prompt are identical, so every advantage is 0 and
  # nothing moves; top_p alone must still train on-policy against the untruncated policy
  greedy = _trainer(_config(top_k=1), tokenizer, base_params)
  seen = _capture_batches(greedy)
  row = greedy.step()
  greedy.pool.close()
  tokens = seen[0]['ro'].tokens.reshape(-1, 4, 6)
  assert np.all(tokens == tokens[:, :1]) and len(np.unique(tokens[:, 0], axis=0)) > 1
  assert row['grad_norm'] == 0 and np.all(seen[0]['advantages'] == 0)
  nucleus = _trainer(_config(top_p=0.5, top_k=50), tokenizer, base_params)
  seen = _capture_batches(nucleus)
  row = nucleus.step()
  nucleus.pool.close()
  assert 1 / ONE <= row['first_ratio_min'] <= row['first_ratio_max'] <= ONE
  assert row['grad_norm'] > 0
  tokens = seen[0]['ro'].tokens.reshape(-1, 4, 6)
  assert not np.all(tokens == tokens[:, :1])


# ---------------------------------------------------------------------------- loss options

def test_drgrpo_advantages_and_token_mean_aggregation(tokenizer, base_params):
  trainer = _trainer(_config(advantage_mode='drgrpo', aggregation='token_mean'), tokenizer,
                     base_params)
  seen = _capture_batches(trainer)
  row = trainer.step()
  trainer.pool.close()
  ro, mask = seen[0]['ro'], np.asarray(seen[0]['batch'].completion_mask)
  centred = ro.rewards - ro.rewards.reshape(-1, 4).mean(1).repeat(4)
  np.testing.assert_allclose(seen[0]['advantages'], centred, atol=1e-6)
  # on-policy the loss is minus the token-mean advantage (seq_mean would weigh rows equally)
  want = -(centred[:, None] * mask).sum() / mask.sum()
  np.testing.assert_allclose(row['pg_loss'], want, rtol=1e-4, atol=1e-6)
  # mu = 1, no top-k/top-p: the sampler's own log-probs are the old policy's (KV-cache decode
  # against a full forward: equal up to float32 rounding)
  assert not trainer.recompute_old
  assert 1 - 1e-4 <= row['first_ratio_min'] <= row['first_ratio_max'] <= 1 + 1e-4


def test_mask_truncated_removes_cut_off_completions_from_the_loss(tokenizer, base_params):
  trainer = _trainer(_config(mask_truncated=True), tokenizer, base_params)
  seen = _capture_batches(trainer)
  original = trainer.rollout

  def rollout(*args, **kw):
    ro = original(*args, **kw)
    ro.stopped = np.arange(len(ro.stopped)) % 2 == 0   # odd rows were cut off
    return ro
  # every row cut off (first, while Adam has no momentum): no loss token, no gradient, no update
  trainer.rollout = lambda *a, **k: rollout_all_truncated(original(*a, **k))
  before = _host(trainer.params)
  row = trainer.step()
  assert row['grad_norm'] == 0 and row['loss'] == 0
  for a, b in zip(before, _host(trainer.params)):
    np.testing.assert_array_equal(a, b)
  trainer.rollout = rollout
  row = trainer.step()
  trainer.pool.close()
  mask = np.asarray(seen[1]['batch'].completion_mask)
  assert mask[0::2].sum() > 0 and mask[1::2].sum() == 0
  assert row['grad_norm'] > 0


def rollout_all_truncated(ro):
  ro.stopped = np.zeros_like(ro.stopped)
  return ro


def test_kl_reward_mode_does_not_normalise_the_penalty(tokenizer, base_params):
  # two steps on the token reward move the policy away from the reference; then every group's
  # task rewards are equal, and GRPO's std-normalisation of r - kl would turn the (small) KL
  # differences into advantages of magnitude ~1
  trainer = _trainer(_config(kl_beta=0.01, kl_mode='reward'), tokenizer, base_params)
  seen = _capture_batches(trainer)
  original = trainer.rollout

  def rollout(*args, **kw):
    ro = original(*args, **kw)
    if len(seen) == 2:  # the third step (seen grows after its collect)
      ro.rewards = np.ones_like(ro.rewards)
    return ro
  trainer.rollout = rollout
  [trainer.step() for _ in range(3)]
  trainer.pool.close()
  last = seen[-1]
  penalty = np.asarray(losses.kl_reward_penalty(last['batch'].old_logp, last['batch'].ref_logp,
                                                last['batch'].completion_mask, 0.01, 'k3'))
  spread = np.ptp(penalty.reshape(-1, 4), axis=1).max()
  assert spread > 1e-6                                # the policy has left the reference
  np.testing.assert_allclose(last['advantages'],
                             -(penalty - penalty.reshape(-1, 4).mean(1).repeat(4)), atol=1e-7)
  assert np.abs(last['advantages']).max() <= spread + 1e-7 < 0.5


def test_init_from_loads_the_base_models_parameters(tmp_path, tokenizer, base_params):
  config = _config(init_from=str(tmp_path / 'base'))
  mesh = sharding.make_mesh(ml_collections.ConfigDict({'shape': (1, 1, 1)}), jax.devices()[:1])
  model_cfg = rl.ModelConfig.from_config(config.model)
  with pytest.raises(ValueError, match='rl.init_from'):
    rl.load_base_params(config, str(tmp_path / 'rl'), model_cfg, mesh, sharding.DEFAULT_RULES)
  saved, _ = train_state_lib.create_train_state(
      model_cfg, train_state_lib.make_optimizer(config.train), jax.random.key(7), mesh,
      sharding.DEFAULT_RULES)
  ckpt = checkpoint.Checkpointer(str(tmp_path / 'base'), 'pretrain', every=1, keep=1)
  ckpt.maybe_save(3, saved, force=True)
  ckpt.close()
  params = rl.load_base_params(config, str(tmp_path / 'rl'), model_cfg, mesh,
                               sharding.DEFAULT_RULES)
  trainer = _trainer(config, tokenizer, params)
  for a, b in zip(_host(saved.params), _host(trainer.params)):
    np.testing.assert_array_equal(a, b)
  assert not all(np.array_equal(a, b) for a, b in zip(_host(saved.params), _host(base_params)))
  trainer.pool.close()


# ---------------------------------------------------------------------------- Kimi k1.5

class AnsweredPrompts(IndexedPrompts):
  """IndexedPrompts whose every question has the gold answer 7 (an arithmetic task)."""

  def take_indices(self, idx):
    batch = super().take_indices(idx)
    batch.metadata = [{**m, 'task': 'arithmetic', 'answer': '7'} for m in batch.metadata]
    return batch


def np_kimi_advantages(lengths, correct, tau, baseline, penalty_weight=0.5):
  """k1.5 per prompt group (rows [G] of lengths, correct): the reward accuracy +
  penalty_weight * length penalty (sec. 2.3.3: lambda = 0.5 - (len - min) / (max - min);
  lambda if correct, min(0, lambda) if not; 0 when every length is the same), minus the
  baseline: the group's mean reward, or ('partition') tau log of the leave-one-out mean of
  exp(r / tau). Float64 loops, nothing from r1jax. Returns (rewards, advantages) [B * G]."""
  rewards, advantages = [], []
  for lens, ok in zip(np.asarray(lengths, np.float64), np.asarray(correct, bool)):
    span = lens.max() - lens.min()
    lam = [0.5 - (n - lens.min()) / span if span else 0.0 for n in lens]
    r = np.array([float(c) + penalty_weight * (l if c else min(0.0, l)) for c, l in zip(ok, lam)])
    for i in range(len(r)):
      b = (r.mean() if baseline == 'mean' else
           tau * np.log(np.mean(np.exp(np.delete(r, i) / tau))))
      rewards.append(r[i])
      advantages.append(r[i] - b)
  return np.array(rewards), np.array(advantages)


@pytest.mark.parametrize('baseline,length_normalize', [('mean', False), ('partition', True)])
def test_kimi_k15_through_the_trainer(tokenizer, base_params, baseline, length_normalize):
  # each completion is forced to '<answer>7</answer>' (right) or '<answer>5</answer>' (wrong),
  # filler, then the stop token, at a chosen length: the advantages the trainer trains on must
  # equal the NumPy k1.5 ones from those lengths and verdicts. (mu = 2: the old log-probs are
  # recomputed, so the forced tokens are trained on-policy.)
  config = _config(loss='kimi_k15', kimi_tau=0.1, kimi_baseline=baseline,
                   kimi_length_normalize=length_normalize, num_iterations=2,
                   success_reward='accuracy', stop_on_eos=True)
  config.rl.rewards = {'accuracy': 1.0, 'length_penalty': 0.5}
  rs = np.random.default_rng(1)
  lengths = rs.integers(4, 7, (8, 4))       # [prompts, G], stop token included, <= 6 new tokens
  lengths[0] = 5                            # one group of equal lengths: lambda = 0
  correct = rs.integers(0, 2, (8, 4)).astype(bool)
  span = np.ptp(lengths, 1, keepdims=True)
  lam = np.where(span > 0, 0.5 - (lengths - lengths.min(1, keepdims=True)) / np.maximum(span, 1), 0)
  for case in (correct & (lam < 0), ~correct & (lam > 0), ~correct & (lam < 0)):
    assert case.any()   # every branch of the penalty is exercised
  answer_open, seven, answer_close = tokenizer.encode('<answer>7</answer>')
  five, filler, stop = tokenizer.encode('5')[0], tokenizer.encode(' the')[0], tokenizer.stop_ids[0]

  trainer = _trainer(config, tokenizer, base_params, AnsweredPrompts(prompt_len=8))
  verify = trainer.verify

  def forced(prompts, host, step):
    tokens = np.full_like(host.tokens, tokenizer.pad_id)
    for row, (n, ok) in enumerate(zip(lengths.reshape(-1), correct.reshape(-1))):
      answer = [answer_open, seven if ok else five, answer_close]
      tokens[row, :n] = answer + [filler] * (n - 4) + [stop]
    mask = np.arange(tokens.shape[1]) < lengths.reshape(-1, 1)
    return verify(prompts, host.replace(tokens=tokens, mask=mask, lengths=lengths.reshape(-1),
                                        stopped=np.ones_like(host.stopped)), step)
  trainer.verify = forced
  seen = _capture_batches(trainer)
  update = trainer.update

  def recorded_update(train_state, batches, weights):   # the batch the loss is taken on
    seen[-1]['trained'] = jax.device_get(batches[0])
    return update(train_state, batches, weights)
  trainer.update = recorded_update
  rows = [trainer.step() for _ in range(2)]
  trainer.pool.close()
  for row in rows:   # the first update of each step is on-policy, the second is not
    assert row['first_seq_log_ratio_abs_max'] < 1e-4
    assert 'surrogate' in row and 'ratio_mean' not in row
  assert rows[-1]['seq_log_ratio_abs_max'] > 1e-3
  last = seen[-1]
  np.testing.assert_array_equal(last['ro'].per_reward['accuracy'], correct.reshape(-1))
  want_rewards, want_advantages = np_kimi_advantages(lengths, correct, 0.1, baseline)
  np.testing.assert_allclose(last['ro'].rewards, want_rewards, atol=1e-6)
  np.testing.assert_allclose(last['advantages'], want_advantages, atol=1e-5)
  np.testing.assert_allclose(last['trained'].advantages, want_advantages, atol=1e-5)

  # the gradient the trainer follows is the documented one: finite differences of its loss
  # along a random direction equal sum_j -(a_j - tau l_j) <grad l_j, d> / n
  loss_fn = jax.jit(rl.make_loss_fn(trainer.model_cfg, trainer.loss_cfg, 8, 1.0, None, config.rl))
  batch = last['trained']   # with its advantages (the captured 'batch' has them still 0)
  key = jax.random.key(3)
  leaves, treedef = jax.tree.flatten(jax.device_get(trainer.params))
  direction = jax.tree.unflatten(treedef, [
      np.asarray(jax.random.normal(jax.random.fold_in(key, i), x.shape), np.float32)
      for i, x in enumerate(leaves)])
  params = jax.tree.map(lambda p, d: p + 0.05 * d, jax.device_get(trainer.params), direction)
  along = lambda eps: float(loss_fn(jax.tree.map(lambda p, d: p + eps * d, params, direction),
                                    batch)[0])
  eps = 1e-3
  finite_diff = (along(eps) - along(-eps)) / (2 * eps)

  def seq_log_ratio(p):
    logp, _ = rl.completion_logprobs(trainer.model_cfg, p, batch.tokens, batch.valid, 8, 1.0)
    return ((logp - batch.old_logp) * batch.completion_mask).sum(1)
  log_ratio, d_log_ratio = jax.jit(lambda p, d: jax.jvp(seq_log_ratio, (p,), (d,)))(params,
                                                                                     direction)
  lengths = batch.completion_mask.sum(1)
  weight = 1 / np.maximum(lengths, 1) if length_normalize else np.ones_like(lengths)
  has = lengths > 0
  documented = -np.sum(((batch.advantages - 0.1 * log_ratio) * weight * d_log_ratio)[has]) / has.sum()
  assert np.abs(log_ratio).max() > 0.1   # off-policy: the tau term matters
  np.testing.assert_allclose(finite_diff, documented, rtol=2e-2)


# ---------------------------------------------------------------------------- schedules, sampling

def test_reward_warmup_and_curriculum(tokenizer, base_params):
  # one trainer for two independent options: a reward's weight is 0 for its first 2 steps,
  # and the curriculum starts with the easiest quarter of the prompts
  trainer = _trainer(_config(reward_warmup={'even_tokens': 2}, sampling='curriculum',
                             curriculum_start=0.25, curriculum_steps=4), tokenizer, base_params)
  seen = _capture_batches(trainer)
  rows = [trainer.step() for _ in range(3)]
  trainer.pool.close()
  assert rows[0]['reward'] == rows[1]['reward'] == 0
  for row, step in zip(rows, seen):   # still computed and logged: the even share of the tokens
    ro = step['ro']
    assert (ro.lengths == 6).all()      # no stop token: every completion is 6 tokens
    assert row['reward/even_tokens'] == pytest.approx(np.mean(ro.tokens % 2 == 0), abs=1e-6)
  assert rows[2]['reward'] == pytest.approx(rows[2]['reward/even_tokens'])
  assert rows[0]['prompt_difficulty'] == 0   # the easiest quarter: difficulty 0 only
  # (the sampler's difficulty, not the records' task level, which is 1 for every prompt)
  assert rows[2]['prompt_difficulty'] > 0
  difficulty = trainer.prompts.difficulty
  assert np.all(difficulty[trainer.prompt_indices(64, 0)] == 0)
  assert len(set(difficulty[trainer.prompt_indices(64, 4)])) == 4

  config = _config(length_penalty_warmup=5)
  config.rl.rewards = {'accuracy': 1.0, 'length_penalty': 0.3}
  trainer.rl = config.rl  # reward_weights reads rl only
  assert trainer.reward_weights(4) == {'accuracy': 1.0, 'length_penalty': 0.0}
  assert trainer.reward_weights(5) == {'accuracy': 1.0, 'length_penalty': pytest.approx(0.3)}


def test_prioritized_stats_are_checkpointed_and_resume_exactly(tmp_path, tokenizer, base_params):
  config = _config(sampling='prioritized', dynamic_sampling=True)
  straight = _trainer(config, tokenizer, base_params)
  ckpt = checkpoint.Checkpointer(str(tmp_path), 'rl', every=1, keep=2)
  drawn, rounds = [], 0
  for step in range(3):
    drawn.append(straight.prompt_indices(int(straight.state.prompt_cursor), step))
    rounds += straight.step()['rollout_rounds']
    if step == 1:
      ckpt.maybe_save(2, straight.state, force=True)
      ckpt.wait()
  ckpt.close()
  stats = np.asarray(straight.state.prompt_stats)
  # every rolled-out group is one attempt, refilled and dropped ones too
  assert rounds > 3 and stats[:, 1].sum() == 8 * rounds and stats[:, 0].sum() > 0
  # prompts already rolled out (and partly solved) are less likely than unseen ones
  probs = straight.prompt_sampler.probabilities(3, stats)
  assert probs[stats[:, 1] == 0].min() > probs[stats[:, 1] > 0].max()

  resumed = _trainer(config, tokenizer, base_params)
  ckpt = checkpoint.Checkpointer(str(tmp_path), 'rl', every=1, keep=2)
  resumed.state = ckpt.restore(resumed.state)
  ckpt.close()
  assert resumed.step_count == 2 and np.asarray(resumed.state.prompt_stats)[:, 1].sum() > 0
  np.testing.assert_array_equal(
      resumed.prompt_indices(int(resumed.state.prompt_cursor), 2), drawn[2])
  resumed.step()
  np.testing.assert_array_equal(np.asarray(resumed.state.prompt_stats), stats)
  for a, b in zip(_host(straight.params), _host(resumed.params)):
    np.testing.assert_array_equal(a, b)
  straight.pool.close()
  resumed.pool.close()
