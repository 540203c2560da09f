"""Memory for real models: vocabulary-chunked log-probs and losses (values and gradients equal
the unchunked ones; no [B, T, V] array in the compiled graph), remat policies, tied embeddings."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from r1jax import losses
from r1jax.models import ModelConfig, forward, init_params, lm_head_weight
from r1jax.train import pretrain, rl

CFG = ModelConfig(vocab_size=203, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=64)


def _inputs(seed=0, batch=3, length=7, vocab=41, dim=16):
  k = jax.random.split(jax.random.key(seed), 4)
  hidden = jax.random.normal(k[0], (batch, length, dim))
  weight = jax.random.normal(k[1], (dim, vocab))
  targets = jax.random.randint(k[2], (batch, length), 0, vocab)
  mask = (jax.random.uniform(k[3], (batch, length)) > 0.3).astype(jnp.float32)
  return hidden, weight, targets, mask


@pytest.mark.parametrize('chunk', [8, 41])  # 41 = V; 6 and 8 pad the last chunk
def test_chunked_stats_equal_unchunked_values_and_gradients(chunk):
  hidden, weight, targets, mask = _inputs()
  temperature = 0.7

  def unchunked(h, w):
    logits = jnp.einsum('btd,dv->btv', h, w) / temperature
    return (losses.token_logprobs(logits, targets), losses.token_entropy(logits),
            jnp.argmax(logits, -1))

  def chunked(h, w):
    return losses.chunked_logit_stats(h, w, targets, chunk, temperature)

  for a, b in zip(jax.jit(chunked)(hidden, weight), jax.jit(unchunked)(hidden, weight)):
    np.testing.assert_allclose(a, b, atol=2e-5)

  def objective(fn):
    return lambda h, w: (fn(h, w)[0] * mask).sum() + 0.3 * (fn(h, w)[1] * mask).sum()
  got = jax.jit(jax.grad(objective(chunked), (0, 1)))(hidden, weight)
  want = jax.jit(jax.grad(objective(unchunked), (0, 1)))(hidden, weight)
  for a, b in zip(got, want):
    assert np.isfinite(np.asarray(a)).all()
    np.testing.assert_allclose(a, b, atol=5e-5)


def test_argmax_ties_pick_the_first_like_jnp():
  hidden = jnp.ones((1, 1, 2))
  weight = jnp.array([[0., 1., 0., 1., 1.], [0., 0., 0., 0., 0.]])  # columns 1, 3, 4 tie
  _, _, argmax = losses.chunked_logit_stats(hidden, weight, jnp.zeros((1, 1), jnp.int32), 2)
  assert int(argmax[0, 0]) == 1


def test_next_token_loss_chunked_equals_unchunked():
  hidden, weight, targets, mask = _inputs(1)
  want = losses.next_token_loss(jnp.einsum('btd,dv->btv', hidden, weight), targets, mask)
  got = losses.next_token_loss_chunked(hidden, weight, targets, mask, 10)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), got, want)
  g_want = jax.grad(lambda w: losses.next_token_loss(
      jnp.einsum('btd,dv->btv', hidden, w), targets, mask)[0])(weight)
  g_got = jax.grad(lambda w: losses.next_token_loss_chunked(hidden, w, targets, mask, 10)[0])(
      weight)
  np.testing.assert_allclose(g_got, g_want, atol=1e-6)


def _rollout_batch(vocab, seed=0, rows=4, prompt_len=6, new=5):
  rng = np.random.RandomState(seed)
  tokens = rng.randint(1, vocab, (rows, prompt_len + new)).astype(np.int32)
  valid = np.ones(tokens.shape, bool)
  valid[1, :3] = False   # left padding in the prompt
  valid[2, -2:] = False  # a short completion
  return jnp.asarray(tokens), jnp.asarray(valid), prompt_len


@pytest.mark.parametrize('tie,use_prefix', [(False, False), (True, True)])
def test_completion_logprobs_chunked_equal_unchunked(tie, use_prefix):
  """The RL update's log-probs, entropies and their parameter gradients (prefix path too)."""
  cfg = dataclasses.replace(CFG, tie_embeddings=tie)
  params = init_params(cfg, jax.random.key(0))
  assert ('lm_head' in params) != tie
  tokens, valid, prompt_len = _rollout_batch(cfg.vocab_size)
  chunked_cfg = dataclasses.replace(cfg, logits_chunk=64)
  for prefix in ([tokens[0, :2]] if use_prefix else [None]):
    if prefix is not None:
      tokens = tokens.at[:, :2].set(prefix)
      valid = valid.at[:, :2].set(True)

    def objective(c):
      def f(p):
        logp, ent = rl.completion_logprobs(c, p, tokens, valid, prompt_len, 0.8, prefix)
        return (logp * valid[:, prompt_len:]).sum() + ent.sum(), (logp, ent)
      return f
    (v1, aux1), g1 = jax.jit(jax.value_and_grad(objective(cfg), has_aux=True))(params)
    (v2, aux2), g2 = jax.jit(jax.value_and_grad(objective(chunked_cfg), has_aux=True))(params)
    np.testing.assert_allclose(v2, v1, rtol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=2e-5), aux2, aux1)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=2e-5), g2, g1)


def _shapes_in_jaxpr(jaxpr, out=None):
  out = set() if out is None else out
  for eqn in jaxpr.eqns:
    for var in eqn.outvars:
      out.add(tuple(getattr(var.aval, 'shape', ())))
    for param in eqn.params.values():
      for sub in (param if isinstance(param, (list, tuple)) else [param]):
        inner = getattr(sub, 'jaxpr', None)
        if inner is not None:
          _shapes_in_jaxpr(getattr(inner, 'jaxpr', inner), out)
  return out


def test_chunked_update_never_builds_full_logits():
  """The gradient of the RL objective with logits_chunk has no [R, N, V]-sized array (the
  unchunked one does: the check can fail)."""
  tokens, valid, prompt_len = _rollout_batch(CFG.vocab_size)
  params = init_params(CFG, jax.random.key(0))
  full = (tokens.shape[0], tokens.shape[1] - prompt_len, CFG.vocab_size)

  def shapes(cfg):
    def loss(p):
      return rl.completion_logprobs(cfg, p, tokens, valid, prompt_len, 1.0)[0].sum()
    return _shapes_in_jaxpr(jax.make_jaxpr(jax.grad(loss))(params).jaxpr)
  assert full in shapes(CFG)
  chunked = shapes(dataclasses.replace(CFG, logits_chunk=64))
  assert not any(len(s) == 3 and s[-1] >= CFG.vocab_size for s in chunked), chunked


def test_remat_policies_keep_the_loss_and_gradients():
  params = init_params(CFG, jax.random.key(1))
  tokens = jnp.asarray(np.random.RandomState(0).randint(1, CFG.vocab_size, (2, 12)), jnp.int32)
  mask = jnp.ones(tokens.shape)

  def grads(cfg):
    return jax.jit(jax.value_and_grad(
        lambda p: pretrain.document_loss(cfg, p, tokens, mask)[0]))(params)
  want = grads(CFG)
  for policy in ('full', 'dots'):
    got = grads(dataclasses.replace(CFG, remat=policy, logits_chunk=50))
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-5), got[1], want[1])
  with pytest.raises(ValueError, match='model.remat'):
    forward(dataclasses.replace(CFG, remat='some'), params, tokens)


def test_tied_head_is_the_embedding():
  cfg = dataclasses.replace(CFG, tie_embeddings=True)
  params = init_params(cfg, jax.random.key(0))
  tokens = jnp.arange(10)[None] % cfg.vocab_size
  hidden = forward(cfg, params, tokens, return_hidden=True)
  np.testing.assert_allclose(forward(cfg, params, tokens),
                             hidden @ lm_head_weight(cfg, params), atol=1e-5)
  np.testing.assert_array_equal(lm_head_weight(cfg, params), params['embed'].T)


def test_dry_run_estimate_and_the_error_that_names_the_fix():
  from r1jax import main
  from r1jax.config import ConfigError
  from r1jax.models import count_params, memory
  from tests.conftest import make_tiny_config
  config = make_tiny_config()
  config.stages = ('rl',)
  config.model.update(vocab_size=1024, d_model=64, n_heads=4, n_kv_heads=4, d_ff=128)
  config.mesh.shape = (1, 1, 1)
  one = memory.estimate(config, 1)
  params = init_params(ModelConfig.from_config(config.model), jax.random.key(0))
  assert one['params'] == count_params(params) * 4
  assert one['optimizer'] == 2 * one['params']
  config.mesh.shape = (1, 4, 2)  # every dimension here divides: 8-way sharded weights
  eight = memory.estimate(config, 8)
  assert eight['params'] < one['params'] / 4
  config.model.logits_chunk = 256
  assert memory.estimate(config, 8)['logits'] < eight['logits']
  assert eight['total'] == max(eight['update'], eight['sampling'])
  assert eight['update'] == (3 * eight['params'] + eight['gradients'] + eight['activations']
                             + eight['logits'])
  rl_rows = config.rl.prompts_per_step * config.rl.group_size  # update chunks split the rows
  config.rl.update_chunks = 1
  whole = memory.estimate(config, 8)
  assert (whole['update_chunks'], whole['rows_per_device'], whole['gradients']) == (
      1, rl_rows // 4, whole['params'])
  config.rl.update_chunks = 2
  halves = memory.estimate(config, 8)
  assert (halves['update_chunks'], halves['rows_per_device']) == (2, rl_rows // 8)
  assert halves['gradients'] == 2 * halves['params']  # a chunk's and the running sum
  assert halves['activations'] == whole['activations'] / 2
  assert halves['kv_cache'] == whole['kv_cache']  # the sampler holds every row
  config.model.n_layers = 8  # remat keeps one layer's input per layer, plus one whole layer
  no_remat = memory.estimate(config, 8)['activations']
  config.model.remat = 'full'
  assert memory.estimate(config, 8)['activations'] < no_remat / 2
  config.model.update(remat='none', n_layers=2)
  text = main.dry_run(config, 8, 0.0)
  assert 'kv_cache' in text and 'total' in text
  with pytest.raises(ConfigError, match=r"does not fit in 0.001 GiB.*model.remat='full'"):
    main.dry_run(config, 8, 0.001)


@pytest.mark.slow
def test_estimate_within_20_percent_of_xla_on_cpu():
  """`memory.estimate()['update']` against XLA's buffer assignment of the compiled GRPO update
  (benchmarks/memory_check.py, memory-minimizing CPU schedule) for the 'small' size with
  chunked logits, without and with remat: catches an estimator (or an update) that drifts."""
  import json
  import os
  import subprocess
  import sys
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  env = dict(os.environ, PYTHONPATH=root, JAX_PLATFORMS='cpu')
  env.pop('XLA_FLAGS', None)
  out = subprocess.run([sys.executable, 'benchmarks/memory_check.py', '--sizes=small', '--json',
                        '--variants=none:4096,full:4096'], cwd=root, env=env, check=True,
                       capture_output=True, text=True, timeout=600).stdout
  rows = [json.loads(line) for line in out.splitlines() if line.startswith('{')]
  assert [r['remat'] for r in rows] == ['none', 'full']
  for row in rows:
    assert 0.8 <= row['ratio'] <= 1.2, row
  assert rows[1]['measured'] < 0.8 * rows[0]['measured']  # remat does save memory here
