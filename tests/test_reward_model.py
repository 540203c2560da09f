"""Reward model: the Bradley-Terry loss and the scalar head against NumPy references (values
and gradients), and the stage learning the oracle's ranking of held-out pairs."""
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from conftest import make_tiny_config
from r1jax import losses, metrics, sharding
from r1jax.data import corpus, templates, tokenizer as tokenizer_lib
from r1jax.data.tasks import make_examples
from r1jax.models import ModelConfig, forward, init_params
from r1jax.models import reward_head
from r1jax.train import reward_model

CFG = ModelConfig(vocab_size=64, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=64)


def np_bradley_terry(chosen, rejected):
  """float64 loops: loss, d loss / d chosen, d loss / d rejected, accuracy."""
  n = len(chosen)
  loss, d_chosen, d_rejected, correct = 0.0, np.zeros(n), np.zeros(n), 0
  for i in range(n):
    m = float(chosen[i]) - float(rejected[i])
    sig = 1.0 / (1.0 + np.exp(-m))
    loss += -np.log(sig) / n
    d_chosen[i], d_rejected[i] = -(1 - sig) / n, (1 - sig) / n
    correct += m > 0
  return loss, d_chosen, d_rejected, correct / n


def test_bradley_terry_matches_numpy():
  rng = np.random.default_rng(0)
  chosen = rng.normal(0, 2, 9).astype(np.float32)
  rejected = rng.normal(0, 2, 9).astype(np.float32)
  rejected[3] = chosen[3]           # a tie counts as wrong
  want_loss, want_dc, want_dr, want_acc = np_bradley_terry(chosen, rejected)
  (loss, m), (dc, dr) = jax.value_and_grad(losses.bradley_terry_loss, argnums=(0, 1),
                                           has_aux=True)(chosen, rejected)
  np.testing.assert_allclose(loss, want_loss, rtol=1e-6)
  np.testing.assert_allclose(dc, want_dc, rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(dr, want_dr, rtol=1e-5, atol=1e-7)
  assert float(m['pair_accuracy']) == pytest.approx(want_acc)
  assert float(m['margin']) == pytest.approx(np.mean(chosen - rejected), rel=1e-5)
  # large margins stay finite (log_sigmoid, not log(sigmoid))
  big = losses.bradley_terry_loss(jnp.array([-200.0]), jnp.array([200.0]))[0]
  assert float(big) == pytest.approx(400.0)


def test_head_reads_the_last_real_token_like_numpy():
  params = reward_head.init_reward_params(CFG, jax.random.key(0), jax.jit(
      init_params, static_argnums=0)(CFG, jax.random.key(1)))
  rng = np.random.default_rng(0)
  params['head'] = {'w': jnp.asarray(rng.normal(size=CFG.d_model), jnp.float32),
                    'b': jnp.float32(0.3)}
  tokens = rng.integers(4, 64, (3, 8)).astype(np.int32)
  valid = np.array([[1] * 8, [1] * 5 + [0] * 3, [0] * 2 + [1] * 6], bool)  # full, right, left
  hidden = np.asarray(jax.jit(reward_head.final_hidden, static_argnums=0)(
      CFG, params['decoder'], tokens, valid), np.float64)
  # the captured states are the ones the LM head reads
  logits = hidden @ np.asarray(params['decoder']['lm_head']['kernel'], np.float64)
  np.testing.assert_allclose(logits, jax.jit(forward, static_argnums=0)(
      CFG, params['decoder'], tokens, valid), atol=1e-4)
  want = [hidden[b, max(np.nonzero(valid[b])[0])] @ np.asarray(params['head']['w']) + 0.3
          for b in range(3)]
  scores = jax.jit(reward_model.make_score_fn(CFG))(params, tokens, valid)
  np.testing.assert_allclose(scores, want, rtol=1e-5, atol=1e-5)
  # what sits in the padding does not matter
  garbage = np.where(valid, tokens, 7)
  score = jax.jit(reward_model.make_score_fn(CFG))
  np.testing.assert_allclose(score(params, garbage, valid), scores, atol=1e-5)
  # gradients reach the head and the trunk
  grads = jax.jit(jax.grad(lambda p: score(p, tokens, valid).sum()))(params)
  np.testing.assert_allclose(grads['head']['w'], hidden[[0, 1, 2], [7, 4, 7]].sum(0), rtol=1e-4,
                             atol=1e-5)
  # ... and the trunk's is the score's: <grad, d> equals a central difference along d
  d = jax.tree.map(lambda x: rng.normal(size=x.shape).astype(np.float32), params['decoder'])
  along = lambda eps: float(score({**params, 'decoder': jax.tree.map(
      lambda p, v: p + eps * v, params['decoder'], d)}, tokens, valid).sum())
  finite_diff = (along(1e-3) - along(-1e-3)) / 2e-3
  directional = sum(float(np.vdot(g, v)) for g, v in zip(jax.tree.leaves(grads['decoder']),
                                                         jax.tree.leaves(d)))
  assert abs(directional) > 0.1 and float(np.abs(grads['decoder']['embed']).max()) > 0
  np.testing.assert_allclose(directional, finite_diff, rtol=1e-2)


def _rm_config():
  config = make_tiny_config()
  config.model.update(d_model=64, d_ff=128)
  config.data.general_tasks = True
  config.reward_model.update(steps=24, batch_size=8, num_pairs=240, num_heldout_pairs=48,
                             seq_len=256, learning_rate=3e-3, warmup_steps=4, log_every=4,
                             eval_every=12)
  config.checkpoint.update(every=12, keep=2)
  return config


@pytest.mark.slow
def test_stage_learns_the_oracle_ranking_and_resumes(tmp_path):
  config = _rm_config()
  examples = make_examples(['arithmetic'], 'train', 200, 0, [1])
  lines = corpus.tokenizer_corpus(examples, extra_lines=corpus.general_lines())
  tok = tokenizer_lib.train_tokenizer(lines, config.model.vocab_size)
  mesh = sharding.make_mesh(ml_collections.ConfigDict({'shape': (-1, 1, 1)}))  # 8 devices
  decoder = jax.jit(init_params, static_argnums=0)(ModelConfig.from_config(config.model),
                                                  jax.random.key(0))
  state = reward_model.run(config, str(tmp_path), tok, mesh, sharding.DEFAULT_RULES,
                           init_params=decoder)
  rows = metrics.read_metrics(str(tmp_path), 'reward_model')
  evals = [r for r in rows if 'eval/pair_accuracy' in r]
  assert [r['step'] for r in evals] == [0, 12, 24]
  assert evals[0]['eval/pair_accuracy'] == 0.0          # zero head: every pair ties
  assert evals[-1]['eval/pair_accuracy'] > 0.85, evals
  assert (tmp_path / 'reward_model_curves.png').exists()

  # The compiled scoring function: [B] scores, chosen above rejected on held-out pairs.
  pairs = reward_model.preference_pairs(config, 'heldout')[:16]
  arrays = reward_model.encode_pairs(tok, pairs, templates.get_template('r1_zero'), 256)
  score = reward_model.compile_score(config, mesh, sharding.DEFAULT_RULES,
                                     jax.tree.map(lambda x: x.sharding, state.params))
  chosen = score(state.params, arrays['chosen'], arrays['chosen_valid'])
  rejected = score(state.params, arrays['rejected'], arrays['rejected_valid'])
  assert chosen.shape == (16,) and float(np.mean(chosen > rejected)) > 0.8

  # Finished: a second run restores and trains nothing.
  again = reward_model.run(config, str(tmp_path), tok, mesh, sharding.DEFAULT_RULES)
  assert int(again.step) == 24
  for a, b in zip(jax.tree.leaves(again.params), jax.tree.leaves(state.params)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
