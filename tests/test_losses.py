"""r1jax.losses against independent NumPy references (float64, loops) on ragged masks."""
import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from r1jax import losses

B, T, V, G = 6, 7, 11, 3
LENGTHS = [7, 3, 1, 5, 0, 6]  # ragged, incl. an empty and a full completion


def _mask(lengths=LENGTHS, t=T):
  return (np.arange(t)[None, :] < np.array(lengths)[:, None]).astype(np.float32)


def _inputs(seed=0, spread=0.4):
  """Random log-probs with padding filled with garbage that must not leak anywhere."""
  rng = np.random.default_rng(seed)
  mask = _mask()
  logp = np.log(rng.uniform(0.05, 0.95, (B, T))).astype(np.float32)
  old_logp = (logp + rng.normal(0, spread, (B, T))).astype(np.float32)
  ref_logp = (logp + rng.normal(0, spread, (B, T))).astype(np.float32)
  entropy = rng.uniform(0.1, 2.0, (B, T)).astype(np.float32)
  adv = rng.normal(0, 1, B).astype(np.float32)
  for a in (logp, ref_logp, entropy):
    a[mask == 0] = 1e4
  old_logp[mask == 0] = -1e4
  return logp, old_logp, ref_logp, entropy, adv, mask


# ---------------------------------------------------------------------------- NumPy references

def np_logprobs(logits, targets):
  out = np.zeros(targets.shape)
  for b in range(targets.shape[0]):
    for t in range(targets.shape[1]):
      z = logits[b, t].astype(np.float64)
      out[b, t] = z[targets[b, t]] - np.log(np.sum(np.exp(z - z.max()))) - z.max()
  return out


def np_kl(logp, ref, estimator):
  d = float(logp) - float(ref)
  return {'k1': d, 'k2': 0.5 * d * d, 'k3': np.exp(-d) + d - 1}[estimator]


def np_aggregate(values, mask, aggregation, constant=None):
  """values [B][T] python floats; the three aggregation rules written out."""
  lengths = [int(m.sum()) for m in mask]
  if aggregation == 'token_mean':
    total = sum(values[b][t] for b in range(len(mask)) for t in range(lengths[b]))
    return total / max(sum(lengths), 1)
  if aggregation == 'token_sum':
    total = sum(values[b][t] for b in range(len(mask)) for t in range(lengths[b]))
    return total / (len(mask) * (constant or mask.shape[1]))
  seq = [sum(values[b][:lengths[b]]) / lengths[b] for b in range(len(mask)) if lengths[b]]
  return sum(seq) / max(len(seq), 1)


def np_policy_loss(logp, old_logp, adv, mask, cfg, ref_logp=None, entropy=None):
  """Per-token clipped surrogate; 'sequence' uses plain GSPO s_i for every token."""
  lo, hi = 1 - cfg.clip_eps_low, 1 + cfg.clip_eps_high
  lengths = [int(m.sum()) for m in mask]
  pg, kl, ent, ratios = [], [], [], []
  n_low = n_high = n_dual = 0
  for b in range(len(mask)):
    pg.append([]); kl.append([]); ent.append([])
    seq_ratio = np.exp(np.mean([logp[b, t] - old_logp[b, t] for t in range(lengths[b])])
                       ) if lengths[b] else 1.0
    for t in range(lengths[b]):
      r = seq_ratio if cfg.ratio_level == 'sequence' else np.exp(logp[b, t] - old_logp[b, t])
      a = float(adv[b])
      l = max(-a * r, -a * min(max(r, lo), hi))
      if cfg.dual_clip is not None and a < 0:
        l = min(l, -cfg.dual_clip * a)
        n_dual += r > cfg.dual_clip
      n_low += a < 0 and r < lo
      n_high += a > 0 and r > hi
      ratios.append(r)
      pg[b].append(l)
      if ref_logp is not None:
        kl[b].append(np_kl(logp[b, t], ref_logp[b, t], cfg.kl_estimator))
      if entropy is not None:
        ent[b].append(float(entropy[b, t]))
  agg = functools.partial(np_aggregate, mask=mask, aggregation=cfg.aggregation,
                          constant=cfg.token_sum_constant)
  n = sum(lengths)
  loss = agg(pg)
  metrics = {'pg_loss': loss, 'clip_frac_low': n_low / n, 'clip_frac_high': n_high / n,
             'ratio_mean': np.mean(ratios), 'ratio_max': max(ratios), 'ratio_min': min(ratios)}
  if cfg.dual_clip is not None:
    metrics['clip_frac_dual'] = n_dual / n
  if ref_logp is not None:
    metrics['kl'] = sum(map(sum, kl)) / n
    if cfg.kl_beta > 0 and cfg.kl_mode == 'loss':
      loss += cfg.kl_beta * agg(kl)
  if entropy is not None:
    metrics['entropy'] = sum(map(sum, ent)) / n
    loss -= cfg.entropy_coef * agg(ent)
  metrics['loss'] = loss
  return loss, metrics


def np_policy_grad(logp, old_logp, adv, mask, cfg, ref_logp=None):
  """d loss / d logp written out: -A * r where the surrogate is unclipped (GSPO-token: r = s_i,
  only token t's own logp), plus kl_beta * d kl_t / d logp_t, times the aggregation weight."""
  lo, hi = 1 - cfg.clip_eps_low, 1 + cfg.clip_eps_high
  lengths = [int(m.sum()) for m in mask]
  nonempty = sum(1 for n in lengths if n)
  grad = np.zeros(logp.shape)
  for b in range(len(mask)):
    if not lengths[b]:
      continue
    s = np.exp(np.mean([logp[b, t] - old_logp[b, t] for t in range(lengths[b])]))
    for t in range(lengths[b]):
      r = s if cfg.ratio_level == 'sequence' else np.exp(logp[b, t] - old_logp[b, t])
      a = float(adv[b])
      active = (a > 0 and r <= hi) or (
          a < 0 and r >= lo and (cfg.dual_clip is None or r <= cfg.dual_clip))
      g = -a * r if active else 0.0
      if cfg.kl_beta > 0 and cfg.kl_mode == 'loss':
        d = float(logp[b, t]) - float(ref_logp[b, t])
        g += cfg.kl_beta * {'k1': 1.0, 'k2': d, 'k3': 1 - np.exp(-d)}[cfg.kl_estimator]
      weight = {'seq_mean': 1 / (lengths[b] * nonempty), 'token_mean': 1 / sum(lengths),
                'token_sum': 1 / (len(mask) * (cfg.token_sum_constant or mask.shape[1]))}
      grad[b, t] = g * weight[cfg.aggregation]
  return grad


# ---------------------------------------------------------------------------- token-level basics

def test_token_logprobs_and_entropy_match_numpy():
  rng = np.random.default_rng(0)
  logits = rng.normal(0, 3, (B, T, V)).astype(np.float32)
  targets = rng.integers(0, V, (B, T))
  got = jax.jit(losses.token_logprobs)(jnp.asarray(logits, jnp.bfloat16).astype(jnp.float32),
                                       targets)
  assert got.shape == (B, T) and got.dtype == jnp.float32
  np.testing.assert_allclose(losses.token_logprobs(logits, targets), np_logprobs(logits, targets),
                             atol=1e-5)
  probs = np.exp(logits - logits.max(-1, keepdims=True))
  probs /= probs.sum(-1, keepdims=True)
  want = -np.sum(probs * np.log(probs), axis=-1)
  ent = jax.jit(losses.token_entropy)(logits)
  assert ent.shape == (B, T)
  np.testing.assert_allclose(ent, want, atol=1e-5)
  np.testing.assert_allclose(losses.token_entropy(np.zeros((2, 3, V))), np.log(V), atol=1e-6)


def test_next_token_loss_matches_numpy():
  rng = np.random.default_rng(1)
  logits = rng.normal(0, 2, (B, T, V)).astype(np.float32)
  targets = rng.integers(0, V, (B, T))
  targets[0, :3] = logits[0, :3].argmax(-1)  # some correct predictions
  mask = _mask()
  loss, metrics = jax.jit(losses.next_token_loss)(logits, targets, mask)
  nll = -np_logprobs(logits, targets)
  np.testing.assert_allclose(loss, (nll * mask).sum() / mask.sum(), rtol=1e-5)
  acc = ((logits.argmax(-1) == targets) * mask).sum() / mask.sum()
  np.testing.assert_allclose(metrics['token_accuracy'], acc, rtol=1e-6)
  assert metrics['num_tokens'] == mask.sum()
  loss0, _ = losses.next_token_loss(logits, targets, np.zeros_like(mask))
  assert loss0 == 0.0


# ---------------------------------------------------------------------------- advantages

def np_group_advantages(rewards, group_size, mode, eps=1e-6):
  out = []
  batch_std = np.std(np.asarray(rewards, np.float64))
  for start in range(0, len(rewards), group_size):
    group = [float(r) for r in rewards[start:start + group_size]]
    mean = sum(group) / len(group)
    std = (sum((r - mean) ** 2 for r in group) / len(group)) ** 0.5
    scale = {'grpo': std + eps, 'drgrpo': 1.0, 'batch_std': batch_std + eps}[mode]
    out += [(r - mean) / scale for r in group]
  return np.array(out)


@pytest.mark.parametrize('mode', ['grpo', 'drgrpo', 'batch_std'])
def test_group_advantages_numpy_and_jax(mode):
  rewards = np.random.default_rng(2).integers(0, 3, 12).astype(np.float32) * 0.5
  rewards[:G] = 1.0  # an all-equal group: advantage 0, not NaN
  want = np_group_advantages(rewards, G, mode)
  got_np = losses.group_advantages(rewards, G, mode)
  assert isinstance(got_np, np.ndarray) and got_np.shape == (12,)
  np.testing.assert_allclose(got_np, want, rtol=1e-5, atol=1e-6)
  got_jit = jax.jit(losses.group_advantages, static_argnums=(1, 2))(jnp.asarray(rewards), G, mode)
  assert isinstance(got_jit, jax.Array)
  np.testing.assert_allclose(got_jit, want, rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(got_np[:G], 0.0)
  np.testing.assert_allclose(got_np.reshape(-1, G).sum(1), 0.0, atol=1e-5)


def test_group_advantages_errors():
  with pytest.raises(ValueError, match="rl.advantage_mode='rloo' is not one of"):
    losses.group_advantages(np.zeros(6), 3, 'rloo')
  with pytest.raises(ValueError, match='rl.group_size=4'):
    losses.group_advantages(np.zeros(6), 4)


# ---------------------------------------------------------------------------- KL

@pytest.mark.parametrize('estimator', ['k1', 'k2', 'k3'])
def test_kl_divergence_matches_numpy(estimator):
  rng = np.random.default_rng(3)
  logp, ref = rng.normal(-2, 1.5, (2, B, T)).astype(np.float32)
  got = jax.jit(losses.kl_divergence, static_argnums=2)(logp, ref, estimator)
  want = np.vectorize(lambda a, b: np_kl(a, b, estimator))(logp, ref)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(losses.kl_divergence(logp, logp, estimator), 0.0, atol=1e-7)
  if estimator != 'k1':
    assert np.all(np.asarray(got) >= 0)


def test_kl_reward_penalty_matches_numpy():
  _, old_logp, ref_logp, _, _, mask = _inputs(4)
  for estimator in ('k1', 'k3'):
    got = jax.jit(losses.kl_reward_penalty, static_argnums=4)(old_logp, ref_logp, mask, 0.1,
                                                              estimator)
    want = [0.1 * sum(np_kl(old_logp[b, t], ref_logp[b, t], estimator)
                      for t in range(LENGTHS[b])) for b in range(B)]
    assert got.shape == (B,)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
  assert np.asarray(got)[LENGTHS.index(0)] == 0.0


# ---------------------------------------------------------------------------- policy loss

CONFIGS = [
    dict(),  # GRPO, no KL
    dict(kl_beta=0.04, kl_estimator='k3'),  # GRPO with reference KL (DeepSeekMath)
    dict(kl_beta=0.1, kl_estimator='k1', aggregation='token_mean'),
    dict(kl_beta=0.1, kl_estimator='k2', aggregation='token_sum'),
    dict(kl_beta=0.1, kl_mode='reward'),  # KL only as a metric here
    dict(clip_eps_low=0.2, clip_eps_high=0.28, aggregation='token_mean'),  # DAPO
    dict(aggregation='token_sum', token_sum_constant=16.0),  # Dr. GRPO
    dict(clip_eps_low=0.1, clip_eps_high=0.1, dual_clip=1.3),
    dict(dual_clip=3.0, aggregation='token_mean', entropy_coef=0.01),
    dict(ratio_level='sequence', clip_eps_low=0.05, clip_eps_high=0.08),  # GSPO
    dict(ratio_level='sequence', clip_eps_low=0.1, clip_eps_high=0.1, aggregation='token_mean',
         dual_clip=1.2, kl_beta=0.05),
    dict(ratio_level='sequence', aggregation='token_sum', entropy_coef=0.02),
]


def _jit_policy_loss(cfg):
  return jax.jit(functools.partial(losses.policy_loss, cfg=cfg))


@pytest.mark.parametrize('kwargs', CONFIGS, ids=lambda kw: ','.join(f'{k}={v}' for k, v in kw.items()) or 'grpo')
def test_policy_loss_and_grad_match_numpy(kwargs):
  cfg = losses.PolicyLossConfig(**kwargs)
  logp, old_logp, ref_logp, entropy, adv, mask = _inputs(5, spread=0.3)
  ref = ref_logp if cfg.kl_beta > 0 else None
  ent = entropy if cfg.entropy_coef > 0 else None
  loss_fn = _jit_policy_loss(cfg)
  loss, metrics = loss_fn(logp, old_logp, adv, mask, ref_logp=ref, entropy=ent)
  want_loss, want_metrics = np_policy_loss(logp.astype(np.float64), old_logp, adv, mask, cfg,
                                           ref, ent)
  np.testing.assert_allclose(loss, want_loss, rtol=1e-5, atol=1e-6)
  assert set(metrics) == set(want_metrics)
  for key in want_metrics:
    np.testing.assert_allclose(metrics[key], want_metrics[key], rtol=1e-5, atol=1e-6, err_msg=key)
  # the spread makes both clip sides fire somewhere, so the zero-gradient branches are exercised
  if cfg.ratio_level == 'token':
    assert metrics['clip_frac_low'] > 0 and metrics['clip_frac_high'] > 0

  grad = jax.jit(jax.grad(lambda lp: loss_fn(lp, old_logp, adv, mask, ref_logp=ref,
                                             entropy=ent)[0]))(logp)
  assert grad.shape == (B, T)
  np.testing.assert_allclose(grad, np_policy_grad(logp, old_logp, adv, mask, cfg, ref),
                             rtol=1e-4, atol=1e-7)
  np.testing.assert_array_equal(np.asarray(grad)[mask == 0], 0.0)


def test_gspo_token_gradient_equals_plain_gspo():
  """With 'seq_mean', the GSPO-token form has the gradient of GSPO's plain s_i objective."""
  cfg = losses.PolicyLossConfig(ratio_level='sequence', clip_eps_low=0.05, clip_eps_high=0.05)
  logp, old_logp, _, _, adv, mask = _inputs(6, spread=0.1)
  grad = jax.grad(lambda lp: losses.policy_loss(lp, old_logp, adv, mask, cfg)[0])(logp)
  eps, numeric = 1e-6, np.zeros((B, T))
  base = logp.astype(np.float64)
  for b, t in zip(*np.nonzero(mask)):
    up, down = base.copy(), base.copy()
    up[b, t] += eps
    down[b, t] -= eps
    numeric[b, t] = (np_policy_loss(up, old_logp, adv, mask, cfg)[0]
                     - np_policy_loss(down, old_logp, adv, mask, cfg)[0]) / (2 * eps)
  assert np.abs(numeric).max() > 1e-3  # some sequences are unclipped
  np.testing.assert_allclose(grad, numeric, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize('aggregation', ['seq_mean', 'token_mean', 'token_sum'])
@pytest.mark.parametrize('ratio_level', ['token', 'sequence'])
def test_on_policy_loss_is_minus_aggregated_advantage(aggregation, ratio_level):
  logp, _, _, _, adv, mask = _inputs(7)
  cfg = losses.PolicyLossConfig(aggregation=aggregation, ratio_level=ratio_level)
  loss, metrics = _jit_policy_loss(cfg)(logp, logp, adv, mask)
  lengths = np.array(LENGTHS)
  want = {'seq_mean': -adv[lengths > 0].mean(),
          'token_mean': -(adv * lengths).sum() / lengths.sum(),
          'token_sum': -(adv * lengths).sum() / (B * T)}[aggregation]
  np.testing.assert_allclose(loss, want, rtol=1e-5)
  assert metrics['ratio_min'] == metrics['ratio_max'] == 1.0
  assert metrics['clip_frac_low'] == metrics['clip_frac_high'] == 0.0
  # positive advantage pushes the sampled tokens' log-probs up: d loss / d logp < 0
  grad = np.asarray(jax.grad(lambda lp: losses.policy_loss(lp, logp, adv, mask, cfg)[0])(logp))
  sign = np.sign(adv)[:, None] * mask
  np.testing.assert_array_equal(np.sign(-grad), sign)


def test_clipped_tokens_get_zero_gradient():
  mask = np.ones((4, 2), np.float32)
  old_logp = np.full((4, 2), -1.0, np.float32)
  # ratios e^0.5 (above 1 + 0.2) and e^-0.5 (below 1 - 0.2) per row
  logp = old_logp + np.array([[0.5, -0.5]] * 4, np.float32)
  adv = np.array([1.0, -1.0, 1.0, -1.0], np.float32)
  cfg = losses.PolicyLossConfig()
  loss, metrics = losses.policy_loss(logp, old_logp, adv, mask, cfg)
  grad = np.asarray(jax.grad(lambda lp: losses.policy_loss(lp, old_logp, adv, mask, cfg)[0])(logp))
  np.testing.assert_array_equal(grad[adv > 0, 0], 0.0)  # A > 0, r > 1 + eps_high
  np.testing.assert_array_equal(grad[adv < 0, 1], 0.0)  # A < 0, r < 1 - eps_low
  assert np.all(grad[adv > 0, 1] < 0) and np.all(grad[adv < 0, 0] > 0)
  assert metrics['clip_frac_high'] == 0.25 and metrics['clip_frac_low'] == 0.25
  # dual clip: A < 0 and r = e^2 > c = 3 -> loss capped at c * |A|, zero gradient
  cfg = losses.PolicyLossConfig(dual_clip=3.0)
  logp_far = old_logp + 2.0
  loss, metrics = losses.policy_loss(logp_far, old_logp, -np.ones(4, np.float32), mask, cfg)
  np.testing.assert_allclose(loss, 3.0)
  assert metrics['clip_frac_dual'] == 1.0
  grad = jax.grad(lambda lp: losses.policy_loss(lp, old_logp, -np.ones(4, np.float32), mask,
                                                cfg)[0])(logp_far)
  np.testing.assert_array_equal(grad, 0.0)


def test_masked_tokens_get_exactly_zero_gradient_and_no_nan():
  logp, old_logp, ref_logp, entropy, adv, mask = _inputs(8)
  for ratio_level in ('token', 'sequence'):
    cfg = losses.PolicyLossConfig(ratio_level=ratio_level, kl_beta=0.1, entropy_coef=0.01,
                                  dual_clip=3.0)
    fn = lambda lp, ent: losses.policy_loss(lp, old_logp, adv, mask, cfg, ref_logp, ent)[0]
    loss = fn(logp, entropy)
    grads = jax.jit(jax.grad(fn, argnums=(0, 1)))(logp, entropy)
    assert np.isfinite(loss)
    for g in grads:
      assert np.all(np.isfinite(g))
      np.testing.assert_array_equal(np.asarray(g)[mask == 0], 0.0)
  _, metrics = losses.policy_loss(logp, old_logp, adv, np.zeros_like(mask), cfg, ref_logp, entropy)
  assert all(np.isfinite(v) for v in metrics.values())


def test_advantages_per_token_broadcast():
  logp, old_logp, _, _, adv, mask = _inputs(9)
  cfg = losses.PolicyLossConfig(aggregation='token_mean')
  a = losses.policy_loss(logp, old_logp, adv, mask, cfg)[0]
  b = losses.policy_loss(logp, old_logp, np.repeat(adv[:, None], T, 1), mask, cfg)[0]
  np.testing.assert_allclose(a, b, rtol=1e-6)


def test_reference_model_optional():
  logp, old_logp, ref_logp, _, adv, mask = _inputs(10)
  loss, metrics = _jit_policy_loss(losses.PolicyLossConfig(kl_beta=0.0))(
      logp, old_logp, adv, mask, ref_logp=None)
  assert np.isfinite(loss) and 'kl' not in metrics
  with pytest.raises(ValueError, match='needs ref_logp'):
    losses.policy_loss(logp, old_logp, adv, mask, losses.PolicyLossConfig(kl_beta=0.1))
  with pytest.raises(ValueError, match='needs the per-token entropy'):
    losses.policy_loss(logp, old_logp, adv, mask, losses.PolicyLossConfig(entropy_coef=0.1))
  # 'reward' mode: the KL is only reported, the loss is the plain surrogate
  plain = losses.policy_loss(logp, old_logp, adv, mask, losses.PolicyLossConfig())[0]
  loss, metrics = losses.policy_loss(logp, old_logp, adv, mask,
                                     losses.PolicyLossConfig(kl_beta=0.1, kl_mode='reward'),
                                     ref_logp=ref_logp)
  np.testing.assert_allclose(loss, plain)
  kl = [np_kl(logp[b, t], ref_logp[b, t], 'k3') for b in range(B) for t in range(LENGTHS[b])]
  np.testing.assert_allclose(metrics['kl'], np.mean(kl), rtol=1e-5)   # the token-mean k3


def test_config_validation_and_from_config():
  for field, value, allowed in [('aggregation', 'foo', losses.AGGREGATIONS),
                                ('ratio_level', 'seq', losses.RATIO_LEVELS),
                                ('kl_estimator', 'k4', losses.KL_ESTIMATORS),
                                ('kl_mode', 'both', losses.KL_MODES)]:
    with pytest.raises(ValueError) as e:
      losses.PolicyLossConfig(**{field: value})
    assert str(e.value) == f'rl.{field}={value!r} is not one of {allowed}'
  with pytest.raises(ValueError, match='rl.dual_clip=0.5 must be > 1'):
    losses.PolicyLossConfig(dual_clip=0.5)
  with pytest.raises(ValueError, match='rl.clip_eps_low'):
    losses.PolicyLossConfig(clip_eps_low=-0.1)
  with pytest.raises(ValueError, match='rl.token_sum_constant'):
    losses.PolicyLossConfig(token_sum_constant=0.0)
  rl = ml_collections.ConfigDict(dict(clip_eps_high=0.28, aggregation='token_mean', kl_beta=0.0,
                                      group_size=8, learning_rate=1e-6, dual_clip=None))
  cfg = losses.PolicyLossConfig.from_config(rl)
  assert cfg == losses.PolicyLossConfig(clip_eps_high=0.28, aggregation='token_mean')
  hash(cfg)  # usable as a jit static argument
  with pytest.raises(ValueError, match="rl.aggregation='x'"):
    losses.PolicyLossConfig.from_config({'aggregation': 'x'})


# ---------------------------------------------------------------------------- Kimi k1.5

def np_kimi_baseline(rewards, group_size, tau, mode):
  out = []
  for g in range(len(rewards) // group_size):
    r = np.asarray(rewards[g * group_size:(g + 1) * group_size], np.float64)
    for i in range(group_size):
      if mode == 'mean':
        out.append(r.mean())
      else:  # naive float64 leave-one-out mean of exp(r / tau) (fine for moderate r / tau)
        out.append(tau * np.log(np.mean(np.exp(np.delete(r, i) / tau))))
  return np.array(out)


def np_kimi(logp, old_logp, rewards, mask, group_size, tau, baseline='mean',
            length_normalize=False):
  """k1.5 eq. (3) over the sequences with loss tokens, divided by 2 tau."""
  b = np_kimi_baseline(rewards, group_size, tau, baseline)
  terms = []
  for j in range(len(rewards)):
    n = int(mask[j].sum())
    if n == 0:
      continue
    log_ratio = sum(float(logp[j, t]) - float(old_logp[j, t]) for t in range(n))
    terms.append((rewards[j] - b[j] - tau * log_ratio) ** 2 / (n if length_normalize else 1))
  return np.mean(terms) / (2 * tau)


@pytest.mark.parametrize('baseline,length_normalize', [('mean', False), ('partition', False),
                                                       ('mean', True)])
def test_kimi_k15_loss_matches_numpy(baseline, length_normalize):
  logp, old_logp, _, _, _, mask = _inputs(11, spread=0.2)
  rewards = np.array([1, 0, 0.5, 1, 1, 0], np.float32)
  fn = jax.jit(losses.kimi_k15_loss, static_argnums=(4, 5, 6, 7))
  loss, metrics = fn(logp, old_logp, rewards, mask, G, 0.5, baseline, length_normalize)
  want = np_kimi(logp, old_logp, rewards, mask, G, 0.5, baseline, length_normalize)
  np.testing.assert_allclose(loss, want, rtol=1e-5)
  np.testing.assert_allclose(metrics['surrogate'], want * 2 * 0.5, rtol=1e-5)
  assert np.isfinite(metrics['seq_log_ratio_mean'])


def test_kimi_k15_gradient_is_the_papers_update():
  """minus the gradient w.r.t. a sequence's log-prob is ((r - b) - tau * log_ratio) / n_seq:
  (r - b) grad log pi - (tau / 2) grad log_ratio^2, averaged over sequences with tokens."""
  logp, old_logp, _, _, _, mask = _inputs(12, spread=0.2)
  rewards = np.array([1, 0, 0.5, 1, 1, 0], np.float32)
  tau = 0.3
  grad = jax.grad(lambda lp: losses.kimi_k15_loss(lp, old_logp, rewards, mask, G, tau)[0])(logp)
  b = np_kimi_baseline(rewards, G, tau, 'mean')
  log_ratio = ((logp - old_logp) * mask).sum(1)
  has = mask.sum(1) > 0
  want = -((rewards - b - tau * log_ratio) * has / has.sum())[:, None] * mask
  np.testing.assert_allclose(grad, want, rtol=1e-4, atol=1e-6)
  # on-policy the regulariser has no gradient: a policy gradient with a mean baseline
  grad = jax.grad(lambda lp: losses.kimi_k15_loss(lp, logp, rewards, mask, G, tau)[0])(logp)
  np.testing.assert_allclose(grad, -((rewards - b) * has / has.sum())[:, None] * mask,
                             rtol=1e-5, atol=1e-7)


def test_kimi_k15_leaves_out_rows_without_loss_tokens():
  logp, old_logp, _, _, _, mask = _inputs(13, spread=0.2)
  rewards = np.array([1, 0, 0.5, 1, 1, 0], np.float32)
  full = losses.kimi_k15_loss(logp, old_logp, rewards, mask, G, 0.5)[0]
  # row 4 already has no tokens; masking more rows must average over the rest only
  cut = mask.copy()
  cut[0] = 0
  loss = losses.kimi_k15_loss(logp, old_logp, rewards, cut, G, 0.5)[0]
  np.testing.assert_allclose(loss, np_kimi(logp, old_logp, rewards, cut, G, 0.5), rtol=1e-5)
  assert not np.isclose(loss, full)
  zero, metrics = losses.kimi_k15_loss(logp, old_logp, rewards, np.zeros_like(mask), G, 0.5)
  assert zero == 0 and all(np.isfinite(v) for v in metrics.values())
  with pytest.raises(ValueError, match='rl.kimi_tau'):
    losses.kimi_k15_loss(logp, old_logp, rewards, mask, G, 0.0)


def test_kimi_partition_baseline_is_stable_and_leave_one_out():
  rewards = np.array([1.5, 1.5, 0.0, 0.5], np.float32)
  tau = 0.01  # r / tau = 150: exp overflows float32 without the max shift
  for xp_rewards in (rewards, jnp.asarray(rewards)):
    b = np.asarray(losses.kimi_baseline(xp_rewards, 4, tau, 'partition'))
    assert np.all(np.isfinite(b))
    # tau -> 0: tau log mean exp(r / tau) -> max of the others minus tau log(k - 1)
    np.testing.assert_allclose(b, [1.5 - tau * np.log(3)] * 2 + [1.5 + tau * np.log(2 / 3)] * 2,
                               atol=1e-4)
  np.testing.assert_allclose(losses.kimi_baseline(rewards, 2, 1.0, 'partition'),
                             [1.5, 1.5, 0.5, 0.0], rtol=1e-6)  # k = 2: the other sample
  np.testing.assert_allclose(losses.kimi_baseline(rewards, 4, 2.0, 'partition'),
                             np_kimi_baseline(rewards, 4, 2.0, 'partition'), rtol=1e-6)
  with pytest.raises(ValueError, match='group_size >= 2'):
    losses.kimi_baseline(rewards, 1, tau, 'partition')
  with pytest.raises(ValueError, match="rl.kimi_baseline='x'"):
    losses.kimi_baseline(rewards, 2, tau, 'x')


def test_penalized_advantages_do_not_normalise_the_penalty():
  rewards = np.array([1, 1, 1, 0, 1, 0.5], np.float32)   # group 0: equal task rewards
  penalty = np.array([1e-4, 3e-4, 2e-4, 0.1, 0.2, 0.3], np.float32)
  adv = losses.penalized_advantages(rewards, penalty, G, 'grpo')
  np.testing.assert_allclose(adv[:3], [1e-4, -1e-4, 0.0], atol=1e-7)  # not unit scale
  np.testing.assert_allclose(
      adv[3:], losses.group_advantages(rewards, G)[3:] - (penalty[3:] - penalty[3:].mean()),
      rtol=1e-5)
  # drgrpo: the same as advantages of the shaped reward
  np.testing.assert_allclose(losses.penalized_advantages(rewards, penalty, G, 'drgrpo'),
                             losses.group_advantages(rewards - penalty, G, 'drgrpo'), atol=1e-6)


def test_dpo_loss_and_gradient_match_numpy():
  rs = np.random.default_rng(7)
  pc, pr, rc, rr = (rs.normal(-20, 5, 6).astype(np.float32) for _ in range(4))
  beta = 0.3
  z = beta * ((pc - rc) - (pr - rr))
  want = np.mean(np.log1p(np.exp(-z)))                     # -log sigmoid(z)
  loss, m = losses.dpo_loss(pc, pr, rc, rr, beta)
  np.testing.assert_allclose(float(loss), want, rtol=1e-5)
  np.testing.assert_allclose(float(m['reward_accuracy']), np.mean(z > 0))
  np.testing.assert_allclose(float(m['margin']), z.mean(), rtol=1e-5)
  np.testing.assert_allclose(float(m['chosen_reward']), beta * np.mean(pc - rc), rtol=1e-5)
  # d loss / d chosen_logp = -beta sigmoid(-z) / B; rejected gets the opposite sign
  grad_c, grad_r = jax.grad(lambda c, r: losses.dpo_loss(c, r, rc, rr, beta)[0],
                            argnums=(0, 1))(pc, pr)
  sig = 1 / (1 + np.exp(z))
  np.testing.assert_allclose(np.asarray(grad_c), -beta * sig / 6, rtol=1e-4)
  np.testing.assert_allclose(np.asarray(grad_r), beta * sig / 6, rtol=1e-4)
  # at the reference the loss is log 2
  np.testing.assert_allclose(float(losses.dpo_loss(rc, rr, rc, rr, beta)[0]), np.log(2),
                             rtol=1e-6)
  with pytest.raises(ValueError, match='dpo.beta'):
    losses.dpo_loss(pc, pr, rc, rr, 0.0)
