"""RL for all scenarios: the batch mix, the reward model's summary-only helpfulness against a
physically cut row, its normalisation, and the routing of rewards by prompt kind."""
import types

import jax
import numpy as np
import pytest

from configs import common
from r1jax import rewards, sharding
from r1jax.data import templates
from r1jax.data.tasks import general
from r1jax.models import ModelConfig, init_params
from r1jax.models.reward_head import init_reward_params, reward_scores
from r1jax.rewards.reward_model import RewardModelReward, summary_valid
from r1jax.train import rl, rl_all

CLOSE = 5


@pytest.fixture(scope='module')
def tokenizer():
  from r1jax.data.corpus import tokenizer_corpus
  from r1jax.data.tasks import make_examples
  from r1jax.data.tokenizer import train_tokenizer
  lines = tokenizer_corpus(make_examples(['arithmetic'], 'train', 300, 0, [1]))
  lines += [p.question for p in general.make_general_prompts('train', 60, 0)]
  return train_tokenizer(lines, 512)


def test_general_slots_are_spread_and_counted():
  assert rl_all.general_slots(8, 2).tolist() == [0, 0, 0, 1, 0, 0, 0, 1]
  assert rl_all.general_slots(8, 0).sum() == 0 and rl_all.general_slots(8, 8).all()
  assert all(rl_all.general_slots(16, n).sum() == n for n in range(17))


def test_mixed_prompts_hold_the_fraction_and_walk_each_stream(tokenizer):
  from r1jax.data import source
  config = common.get_config()
  config.data.update(tasks=('arithmetic',), difficulties=(1,), num_train=24)
  records = source.load_records(config.data, 'train')
  prompts = general.make_general_prompts('train', 12, 0)
  mixed = rl_all.MixedPrompts(records, prompts, tokenizer, templates.get_template('r1_zero'),
                              112, count=8, general_fraction=0.25, seed=0)
  seen = {'general': [], 'reasoning': []}
  for step in range(6):
    batch = mixed.take(step * 8, 8)
    kinds = rl_all.is_general(batch.metadata)
    assert kinds.tolist() == [0, 0, 0, 1, 0, 0, 0, 1]
    seen['general'] += [t for t, g in zip(batch.texts, kinds) if g]
    seen['reasoning'] += [t for t, g in zip(batch.texts, kinds) if not g]
  # 12 general prompts and 24 reasoning ones: each stream is a permutation per epoch
  assert sorted(seen['general']) == sorted(mixed.texts[24:])
  assert sorted(seen['reasoning'][:24]) == sorted(mixed.texts[:24])


def test_summary_valid_masks_the_reasoning_only():
  tokens = np.array([[0, 1, 9, 4, 7, CLOSE, 8, 2],     # prompt 3 cols, then <think> 7 </think> 8
                     [1, 9, 9, 7, 7, 7, 2, 0],         # no </think>: everything stays
                     [1, 9, CLOSE, 4, CLOSE, 8, 2, 0]])  # a </think> in the prompt is ignored
  valid = tokens != 0
  start = np.array([3, 3, 3])
  got = np.asarray(summary_valid(tokens, valid, start, CLOSE))
  want = valid.copy()
  want[0, 3:6] = False
  want[2, 3:5] = False
  np.testing.assert_array_equal(got, want)


@pytest.fixture(scope='module')
def rm_setup():
  config = common.get_config()
  config.model.update(d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=64)
  model_cfg = ModelConfig.from_config(config.model)
  params = jax.jit(lambda k: init_reward_params(model_cfg, k))(jax.random.key(1))
  params['head'] = {'w': jax.random.normal(jax.random.key(2), (32,)), 'b': np.float32(0.3)}
  mesh = sharding.make_mesh(config.mesh)
  return model_cfg, params, RewardModelReward(model_cfg, params, mesh, sharding.DEFAULT_RULES,
                                              CLOSE)


def test_helpfulness_reads_the_summary_and_harmlessness_everything(rm_setup):
  model_cfg, params, rm = rm_setup
  rng = np.random.default_rng(0)
  rows, prompt, length = 8, 4, 12
  tokens = rng.integers(6, 100, (rows, length)).astype(np.int32)
  tokens[:, prompt + 3] = CLOSE                     # reasoning: 3 tokens and </think>
  tokens[:4, -2:] = 0                               # right padding on some rows
  valid = tokens != 0
  raw = rm.raw(tokens, valid, np.full(rows, prompt))
  cut = [np.concatenate([t[:prompt], t[prompt + 4:]]) for t in tokens]  # reasoning removed
  cut_tokens = np.stack(cut)
  score = jax.jit(lambda t, v: reward_scores(model_cfg, params, t, v))
  want_help, want_harm = score(cut_tokens, cut_tokens != 0), score(tokens, valid)
  np.testing.assert_allclose(raw['helpfulness'], want_help, rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(raw['harmlessness'], want_harm, rtol=1e-4, atol=1e-4)
  # an odd row count (not a multiple of the 8 devices) is padded and cut back
  np.testing.assert_allclose(rm.raw(tokens[:3], valid[:3], np.full(3, prompt))['harmlessness'],
                             want_harm[:3], rtol=1e-4, atol=1e-4)

  stats = rm.calibrate(tokens, valid, np.full(rows, prompt))
  assert stats['harmlessness_mean'] == pytest.approx(float(np.mean(want_harm)), abs=1e-4)
  out = rm(tokens, valid, np.full(rows, prompt))
  # each score standardised by the calibration rows' own mean and std, then a sigmoid
  for name, want in (('helpfulness', want_help), ('harmlessness', want_harm)):
    want = np.asarray(want, np.float64)
    z = (want - want.mean()) / max(want.std(), 1e-3)
    np.testing.assert_allclose(out[name], 1 / (1 + np.exp(-z)), rtol=1e-4, atol=1e-5,
                               err_msg=name)
    np.testing.assert_allclose(out[f'raw_{name}'], want, rtol=1e-4, atol=1e-4)


def test_rewards_route_by_prompt_kind():
  """Reasoning rows: rule rewards; general rows: the reward model (weighted); the oracle is
  logged on general rows only and does not enter the total."""
  config = common.get_config()
  trainer = object.__new__(rl_all.AllScenariosTrainer)
  trainer.rl, trainer.pool = config.rl, None
  trainer.reward_options = {'answer_source': templates.get_template('r1_zero').answer_source}
  trainer.rl.update(rm_helpfulness_weight=2.0, rm_harmlessness_weight=1.0)

  def fake_rm(tokens, valid, start):
    assert tokens.shape == (4, 6) and (start == 2).all()
    return {'helpfulness': np.full(4, 0.25, np.float32),
            'harmlessness': np.full(4, 0.5, np.float32)}
  trainer.rm = fake_rm
  template = templates.get_template('r1_zero')
  task_meta = {'task': 'arithmetic', 'answer': '9', 'difficulty': 1}
  gen = general.make_general_prompts('train', 1, 0)[0]   # use_words
  completions = [template.completion('x', '9'), template.completion('x', '3'),
                 ' <think> hm </think> The {} and the {} .'.format(*gen.words),
                 ' <think> hm </think> no']
  meta = [task_meta, task_meta, gen.metadata(), gen.metadata()]
  batch = rewards.RewardBatch(completions, ['p'] * 4, meta, group_size=2)
  prompts = rl.PromptBatch(np.ones((2, 2), np.int32), np.ones((2, 2), bool), ['p', 'q'],
                           [task_meta, gen.metadata()])
  samples = types.SimpleNamespace(tokens=np.ones((4, 4), np.int32), mask=np.ones((4, 4), bool))
  total, per = trainer.compute_rewards(batch, prompts, samples, step=0)
  np.testing.assert_allclose(per['accuracy'], [1, 0, 0, 0])
  np.testing.assert_allclose(total[:2], [1 + 0.5 * per['format'][0], 0.5 * per['format'][1]])
  np.testing.assert_allclose(total[2:], [2 * 0.25 + 0.5] * 2)
  np.testing.assert_allclose(per['rm_helpfulness'], [0, 0, 0.25, 0.25])
  assert per['oracle_helpfulness'][:2].tolist() == [0, 0]
  assert per['oracle_helpfulness'][2] > per['oracle_helpfulness'][3]
  np.testing.assert_array_equal(per['general'], [0, 0, 1, 1])
