"""The RL loop: it learns a reward, compiles once, resumes exactly, refills groups (DAPO
dynamic sampling), runs sharded, and the R1-Zero stage writes what users read."""
import json
import shutil

import jax
import ml_collections
import numpy as np
import pytest

from conftest import make_tiny_config
from r1jax import checkpoint, main, metrics, sharding
from r1jax.train import rl


class FixedPrompts:
  """Random token prompts (no text needed by token-id rewards)."""

  def __init__(self, vocab_size=512, prompt_len=8):
    self.vocab_size, self.prompt_len = vocab_size, prompt_len

  def take(self, cursor, count):
    rs = np.random.default_rng(cursor)
    tokens = rs.integers(4, self.vocab_size, (count, self.prompt_len)).astype(np.int32)
    return rl.PromptBatch(tokens, np.ones_like(tokens, bool), [''] * count, [{}] * count)


def _rl_config(**rl_fields):
  config = make_tiny_config()
  config.stages = ('rl',)
  config.rl.update(steps=30, prompts_per_step=8, group_size=4, prompt_len=8, max_new_tokens=6,
                   learning_rate=3e-3, warmup_steps=0, stop_on_eos=False, kl_beta=0.0,
                   verifier_workers=1, eval_every=1000, log_every=1)
  config.rl.rewards = {'even_tokens': 1.0}
  config.rl.update(**rl_fields)
  return config


@pytest.fixture(scope='module')
def tokenizer(tmp_path_factory):
  return main.load_or_train_tokenizer(make_tiny_config(), str(tmp_path_factory.mktemp('tok')))


def _trainer(config, tokenizer, mesh_shape=(1, 1, 1), devices=None):
  mesh = sharding.make_mesh(ml_collections.ConfigDict({'shape': mesh_shape}),
                            devices or jax.devices()[:1])
  return rl.GRPOTrainer(config, tokenizer, mesh, sharding.DEFAULT_RULES, None,
                        FixedPrompts(config.model.vocab_size, config.rl.prompt_len))


def test_learns_a_token_reward_and_compiles_once(tokenizer):
  trainer = _trainer(_rl_config(kl_beta=0.01, learning_rate=1e-2), tokenizer)
  rows = [trainer.step() for _ in range(30)]
  trainer.pool.close()
  assert np.mean([r['reward'] for r in rows[-5:]]) > np.mean([r['reward'] for r in rows[:5]]) + 0.15
  assert rows[2]['compiles'] == rows[-1]['compiles']   # nothing recompiles after warm-up
  assert trainer.sampler.num_compiles == 1
  kl = [r['kl'] for r in rows]   # k3 (>= 0 per token): 0 while the policy is the reference
  assert min(kl) >= 0 and kl[0] <= 1e-6 and np.mean(kl[-5:]) > 0.1   # ... then it drifts
  assert rows[-1]['prompt_cursor'] == 30 * 8
  for key in ('reward/even_tokens', 'response_len', 'clipped_frac', 'grad_norm', 'learning_rate',
              'rollout_s', 'update_s', 'tokens_per_second', 'clip_frac_low', 'clip_frac_high',
              'entropy', 'ratio_mean'):
    assert key in rows[-1], key


def test_dynamic_sampling_refills_zero_variance_groups(tokenizer):
  # every other group: success constant (all 0 or all 1) but the total reward varies, the
  # others the other way round. DAPO ('success') drops the first kind, 'reward' the second.
  config = _rl_config(dynamic_sampling=True, max_refill_rounds=4, success_reward='even_tokens')
  trainer = _trainer(config, tokenizer)
  original = trainer.rollout

  def rollout(*args, **kw):
    ro = original(*args, **kw)
    success = np.tile([[0.0, 1.0, 1.0, 0.0], [1.0, 1.0, 1.0, 1.0]], (4, 1))
    total = np.tile([[0.5, 0.7, 0.2, 0.1], [0.5, 0.5, 0.5, 0.5]], (4, 1))
    ro.per_reward['even_tokens'], ro.rewards = success.reshape(-1), total.reshape(-1)
    return ro
  trainer.rollout = rollout
  seen = []
  collect = trainer.collect
  trainer.collect = lambda step: seen.append(collect(step)) or seen[-1]
  for metric in ('success', 'reward'):
    trainer.rl.dynamic_sampling_metric = metric   # collect reads it every step
    row = trainer.step()
    assert row['rollout_rounds'] == 2 and row['dropped_groups'] == 8
    kept = seen[-1][0]
    signal = kept.per_reward['even_tokens'] if metric == 'success' else kept.rewards
    assert np.all(signal.reshape(-1, 4).std(axis=1) > 0)
  trainer.pool.close()
  assert row['prompt_cursor'] == 32


def test_sharded_rl_step_matches_one_device(tokenizer):
  assert jax.device_count() == 8
  config = _rl_config(kl_beta=0.01)
  one = _trainer(config, tokenizer)
  many = _trainer(config, tokenizer, (2, 1, 4), jax.devices())
  for _ in range(2):
    a, b = one.step(), many.step()
    np.testing.assert_allclose(b['reward'], a['reward'], atol=1e-6)
    np.testing.assert_allclose(b['loss'], a['loss'], rtol=1e-4, atol=1e-6)
  for x, y in zip(jax.tree.leaves(one.params), jax.tree.leaves(many.params)):
    np.testing.assert_allclose(np.asarray(y), np.asarray(x), atol=1e-4)
  one.pool.close()
  many.pool.close()


def _r1_zero_config():
  config = make_tiny_config(steps=4)
  config.stages = ('pretrain', 'rl')   # on the 8 fake devices, data-parallel
  config.rl.update(steps=4, prompts_per_step=8, group_size=2, max_new_tokens=8,
                   learning_rate=1e-3, eval_every=2, log_every=1, kl_beta=0.01,
                   verifier_workers=1)
  config.checkpoint.update(every=2, keep=3)
  return config


@pytest.mark.slow
def test_r1_zero_stage_resumes_exactly_and_reports(tmp_path):
  config = _r1_zero_config()
  first = main.run(config, str(tmp_path))['rl']
  shutil.rmtree(tmp_path / 'checkpoints' / 'rl' / '4')
  again = main.run(config, str(tmp_path))['rl']   # pretrain done; RL resumes at step 2
  for x, y in zip(jax.tree.leaves(first), jax.tree.leaves(again)):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
  assert int(again.prompt_cursor) == 4 * 8

  rows = [json.loads(line) for line in open(tmp_path / 'metrics.jsonl')]
  rl_rows = [r for r in rows if r['stage'] == 'rl']
  # it resumed at step 2 (not retrained from 0): steps 1-2 logged once, 3-4 by both runs
  assert [r['step'] for r in rl_rows if 'loss' in r] == [1, 2, 3, 4, 3, 4]
  evals = [r['step'] for r in rl_rows if 'eval/accuracy' in r]
  assert evals == [0, 2, 4, 4]
  # each later evaluation is paired with step 0 on the same prompts, the resumed run's too
  # (from the saved scores): the mean difference is the difference of the accuracies
  evaluated = [r for r in rl_rows if 'eval/accuracy' in r]
  assert 'eval/paired_diff' not in evaluated[0]
  for r in evaluated[1:]:
    assert r['eval/paired_diff'] == pytest.approx(
        r['eval/accuracy'] - evaluated[0]['eval/accuracy'], abs=1e-9)
    assert r['eval/paired_low'] <= r['eval/paired_diff'] <= r['eval/paired_high']
    assert 0 < r['eval/paired_p'] <= 1
    assert r['eval/accuracy_low'] <= r['eval/accuracy'] <= r['eval/accuracy_high']
  assert (tmp_path / 'eval' / 'rl_step0_scores.json').exists()
  for key in ('reward', 'accuracy', 'reward/format', 'kl', 'response_len', 'compiles'):
    assert key in rl_rows[-1], key
  assert (tmp_path / 'rl_curves.png').stat().st_size > 1000
  assert (tmp_path / 'pretrain_curves.png').exists()


def test_shared_prompt_prefix_gives_the_same_logprobs(tokenizer):
  from r1jax.data import pipeline
  from r1jax.models import ModelConfig, init_params
  cfg = ModelConfig(vocab_size=512, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=64)
  params = init_params(cfg, jax.random.key(0))
  texts = ['A conversation. User: Compute 3 + 4. Assistant:', 'A conversation. User: Hi. Assistant:']
  enc = pipeline.encode_prompts(tokenizer, texts, 24, keep_shared_prefix=True)
  assert not enc['mask'][:, :-1].all(axis=0).all()   # padding sits after the shared head
  prefix_len = pipeline.shared_prefix_len(enc['tokens'], enc['mask'])
  assert prefix_len == 1 + len(tokenizer.encode('A conversation. User:'))
  completion = np.random.default_rng(0).integers(4, 512, (2, 5)).astype(np.int32)
  tokens = np.concatenate([enc['tokens'], completion], 1)
  valid = np.concatenate([enc['mask'], np.ones((2, 5), bool)], 1)
  plain = rl.completion_logprobs(cfg, params, tokens, valid, 24, 1.0)
  shared = rl.completion_logprobs(cfg, params, tokens, valid, 24, 1.0,
                                  prefix=enc['tokens'][0, :prefix_len])
  for a, b in zip(plain, shared):
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_rollouts_and_evaluation_prefill_the_shared_preamble_once(tokenizer):
  """With data.share_prefix the trainer's and the evaluator's samplers prefill the template's
  preamble once for all rows; the completions equal those of left-padded prompts without it."""
  from r1jax import evaluate
  from r1jax.data import templates
  from r1jax.models import ModelConfig, init_params
  mesh = sharding.make_mesh(ml_collections.ConfigDict({'shape': (1, 1, 1)}), jax.devices()[:1])
  configs = {share: make_tiny_config() for share in (True, False)}
  for share, config in configs.items():
    config.data.share_prefix = share
    config.rl.update(prompts_per_step=4, group_size=2, max_new_tokens=8, verifier_workers=1)
  params = init_params(ModelConfig.from_config(configs[True].model), jax.random.key(0))
  evaluators = {s: evaluate.Evaluator(c, tokenizer, mesh, sharding.DEFAULT_RULES)
                for s, c in configs.items()}
  assert evaluators[True].prefix_len >= 8 and evaluators[False].prefix_len == 0
  calls = []
  def recorded(owner):   # the prefix_len each sampler call passes
    real = owner.sampler
    owner.sampler = lambda *a, **k: calls.append((owner, k.get('prefix_len', 0))) or real(*a, **k)
  for e in evaluators.values():
    recorded(e)
  texts = {s: e.sample_texts(params)[0] for s, e in evaluators.items()}
  assert calls and all(n == e.prefix_len for e, n in calls)
  assert texts[True] == texts[False] and len(set(texts[True])) > 4

  rollouts = {}
  for share, config in configs.items():
    prompts = rl.TaskPrompts(evaluators[share].records, tokenizer,
                             templates.get_template(config.data.template),
                             config.rl.prompt_len, seed=0, share_prefix=share)
    trainer = rl.GRPOTrainer(config, tokenizer, mesh, sharding.DEFAULT_RULES, params, prompts)
    assert trainer.sampler_prefix == (len(prompts.shared_prefix) if share else 0)
    recorded(trainer)
    rollouts[share] = trainer.rollout(0, jax.random.key(3))
    assert calls[-1] == (trainer, trainer.sampler_prefix)
    trainer.pool.close()
  assert rollouts[True].prompts.texts == rollouts[False].prompts.texts
  np.testing.assert_array_equal(rollouts[True].tokens, rollouts[False].tokens)
  np.testing.assert_allclose(rollouts[True].logprobs, rollouts[False].logprobs, atol=1e-5)


class _NoEvaluation:
  """rl.run's evaluator without the held-out sampling (a compile of its own, and not what a
  resume test checks; test_r1_zero_stage_resumes_exactly_and_reports runs the real one)."""

  last_correct = None

  def __call__(self, params):
    return {}

  def save_scores(self, path):
    pass

  def load_scores(self, path):
    return None

  def paired_row(self, before_correct):
    return {}

  def print_table(self, *args, **kwargs):
    pass


def _adam(state):
  """The one ScaleByAdamState (count, mu, nu) inside an RLState's optimizer state."""
  import optax  # pylint: disable=g-import-not-at-top
  is_adam = lambda x: isinstance(x, optax.ScaleByAdamState)
  found = [s for s in jax.tree.leaves(state.train.opt_state, is_leaf=is_adam) if is_adam(s)]
  assert len(found) == 1
  return found[0]


def test_run_resumes_params_and_adam_moments_exactly(tmp_path, tokenizer):
  """`rl.run` resumed from its step-2 checkpoint (the step-4 one deleted) ends where the
  uninterrupted 4-step run ended: params and Adam's mu, nu and count bit for bit (a resume
  that built a fresh optimizer state would restart the moments and the count from 0)."""
  config = _rl_config(steps=4, init_from='random', prompt_len=24, learning_rate=1e-2,
                      eval_every=0)
  config.data.template = 'chat'   # the task prompts in 24 tokens (r1_zero's preamble: ~90)
  config.checkpoint.update(every=2, keep=3)
  config.log.update(tensorboard=False, plots=False)
  mesh = sharding.make_mesh(ml_collections.ConfigDict({'shape': (1, 1, 1)}), jax.devices()[:1])
  run = lambda: jax.device_get(rl.run(config, str(tmp_path), tokenizer, mesh,
                                      sharding.DEFAULT_RULES,
                                      make_evaluator=lambda pool: _NoEvaluation()))
  straight = run()                                  # saves steps 2 and 4
  shutil.rmtree(tmp_path / 'checkpoints' / 'rl' / '4')
  resumed = run()                                   # restores step 2, trains steps 3 and 4
  rows = metrics.read_metrics(str(tmp_path), 'rl')
  assert [r['step'] for r in rows if 'loss' in r] == [1, 2, 3, 4, 3, 4]

  want, got = _adam(straight), _adam(resumed)
  assert int(want.count) == int(got.count) == int(resumed.train.step) == 4
  for name in ('mu', 'nu'):
    for a, b in zip(jax.tree.leaves(getattr(want, name)), jax.tree.leaves(getattr(got, name))):
      assert np.abs(a).max() > 0, name   # every moment has built up: the check has teeth
      np.testing.assert_array_equal(b, a, err_msg=name)
  for a, b in zip(jax.tree.leaves(straight.train.params), jax.tree.leaves(resumed.train.params)):
    np.testing.assert_array_equal(b, a)
  for a, b in zip(jax.tree.leaves(straight), jax.tree.leaves(resumed)):   # and the rest
    np.testing.assert_array_equal(np.asarray(b), np.asarray(a))
