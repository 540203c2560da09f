"""Pure loss functions. Everything here is jit-friendly and takes/returns arrays.

Shapes: B = batch (sequences), T = tokens (completion positions), V = vocabulary,
G = group_size (the samples of one prompt, contiguous along B: [p0 x G, p1 x G, ...]).
`mask` [B, T] is 1 on completion tokens that count and 0 on prompt/padding.

RL losses (the choices, stated once):
  * GRPO (DeepSeekMath eq. (3)): clipped importance ratio, per-sequence mean then batch mean,
    optional KL to a frozen reference (k3 estimator) added per token.
  * DAPO: separate clip_eps_low / clip_eps_high ("clip-higher") and token-mean aggregation.
  * Dr. GRPO: advantages r - mean (no std) and token sums divided by a constant.
  * Dual-clip PPO (Ye et al. 2020): for A < 0 the per-token loss is bounded by c * |A|.
  * GSPO: sequence-level ratio s_i = exp(mean_t(logp - old_logp)), used for every token of
    sequence i in the GSPO-token form s_i,t = sg(s_i) * exp(logp_t - sg(logp_t)); its value is
    s_i and d s_i,t / d logp_t = s_i, so with 'seq_mean' the gradient equals GSPO's exactly.
  * Kimi k1.5 (eq. (3)): squared residual of r - rbar - tau * log(pi / pi_old) per sequence.
"""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

AGGREGATIONS = ('seq_mean', 'token_mean', 'token_sum')
RATIO_LEVELS = ('token', 'sequence')
KL_ESTIMATORS = ('k1', 'k2', 'k3')
KL_MODES = ('loss', 'reward')
ADVANTAGE_MODES = ('grpo', 'drgrpo', 'batch_std')


def _check_choice(field, value, allowed):
  if value not in allowed:
    raise ValueError(f'rl.{field}={value!r} is not one of {allowed}')


# ---------------------------------------------------------------------------- token-level basics

def token_logprobs(logits, targets):
  """log p(targets) under logits, in float32.  logits [B, T, V], targets [B, T] -> [B, T]."""
  logits = logits.astype(jnp.float32)
  log_norm = jax.nn.logsumexp(logits, axis=-1)
  target_logit = jnp.take_along_axis(logits, targets[..., None], axis=-1)[..., 0]
  return target_logit - log_norm


def token_entropy(logits):
  """Entropy of the next-token distribution, in float32.  logits [B, T, V] -> [B, T]."""
  logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
  return -jnp.sum(jnp.exp(logp) * logp, axis=-1)


def next_token_loss(logits, targets, loss_mask):
  """Masked mean cross-entropy over tokens (pretraining / SFT).

  logits [B, T, V] predict targets [B, T]; loss_mask [B, T] is 1 where a target
  counts (0 on padding, and on prompt tokens for SFT). Returns (loss, metrics).
  """
  mask = loss_mask.astype(jnp.float32)
  nll = -token_logprobs(logits, targets)
  num_tokens = jnp.maximum(mask.sum(), 1.0)
  loss = (nll * mask).sum() / num_tokens
  correct = (jnp.argmax(logits, axis=-1) == targets).astype(jnp.float32)
  metrics = {'loss': loss, 'token_accuracy': (correct * mask).sum() / num_tokens,
             'num_tokens': mask.sum()}
  return loss, metrics


# ---------------------------------------------------------------------------- advantages

def group_advantages(rewards, group_size, mode='grpo', eps=1e-6):
  """Group-relative advantages.  rewards [N] (N = num_prompts * G, groups contiguous) -> [N].

  mode 'grpo':      (r - mean_g) / (std_g + eps)      (DeepSeekMath, outcome supervision)
       'drgrpo':    r - mean_g                        (Dr. GRPO: no std, no difficulty bias)
       'batch_std': (r - mean_g) / (std_batch + eps)  (group mean, std of all N rewards)
  std is the population std (ddof=0), so a group of one gets advantage 0, not NaN.
  Works on numpy arrays (host side, returns numpy) and on jax arrays / tracers (returns jax).
  """
  _check_choice('advantage_mode', mode, ADVANTAGE_MODES)
  xp = jnp if isinstance(rewards, jax.Array) else np
  rewards = xp.asarray(rewards, dtype=xp.float32)
  if rewards.ndim != 1 or rewards.shape[0] % group_size:
    raise ValueError(f'rewards of shape {rewards.shape} cannot be split into groups of '
                     f'rl.group_size={group_size}; expected [num_prompts * group_size]')
  grouped = rewards.reshape(-1, group_size)  # [N / G, G]
  centred = grouped - grouped.mean(axis=1, keepdims=True)
  if mode == 'grpo':
    centred = centred / (grouped.std(axis=1, keepdims=True) + eps)
  elif mode == 'batch_std':
    centred = centred / (rewards.std() + eps)
  return centred.reshape(-1)


# ---------------------------------------------------------------------------- KL to a reference

def kl_divergence(logp, ref_logp, estimator='k3'):
  """Per-token estimate of KL(pi || pi_ref) from sampled-token log-probs.  [B, T] -> [B, T].

  With log r = ref_logp - logp (Schulman, "Approximating KL divergence"):
    k1 = logp - ref_logp = -log r         (unbiased, can be negative)
    k2 = 0.5 * (logp - ref_logp)^2        (biased, low variance)
    k3 = r - log r - 1                    (unbiased, >= 0; DeepSeekMath eq. (4))
  """
  _check_choice('kl_estimator', estimator, KL_ESTIMATORS)
  log_ratio = logp - ref_logp
  if estimator == 'k1':
    return log_ratio
  if estimator == 'k2':
    return 0.5 * jnp.square(log_ratio)
  return jnp.exp(-log_ratio) + log_ratio - 1.0


def kl_reward_penalty(logp_old, ref_logp, mask, kl_beta, estimator='k1'):
  """Sequence-level KL penalty to subtract from rewards before advantages ('reward' kl_mode).

  logp_old / ref_logp [B, T] are the sampled tokens' log-probs under the rollout policy and
  the reference; returns kl_beta * sum_t kl_t over valid tokens, [B] (a sequence's KL is the
  sum of its per-token log-ratios; k1 summed is the usual InstructGPT-style penalty).
  """
  valid = mask.astype(bool)
  kl = kl_divergence(logp_old, jnp.where(valid, ref_logp, logp_old), estimator)
  return kl_beta * jnp.sum(jnp.where(valid, kl, 0.0), axis=-1)


# ---------------------------------------------------------------------------- policy loss

@dataclasses.dataclass(frozen=True)
class PolicyLossConfig:
  """Options of `policy_loss`; mirrors the same-named fields of config.rl. Hashable (jit-static).

  clip_eps_low / clip_eps_high: ratio clipped to [1 - low, 1 + high] (DAPO: 0.2 / 0.28;
      GSPO's sequence ratios want far smaller ranges, e.g. 3e-4 / 4e-4).
  dual_clip: c > 1 bounds the loss of A < 0 tokens by c * |A| (None disables).
  aggregation: 'seq_mean' (GRPO), 'token_mean' (DAPO), 'token_sum' (Dr. GRPO: sum over
      tokens / token_sum_constant, then mean over sequences; constant defaults to T).
  ratio_level: 'token' (PPO/GRPO) or 'sequence' (GSPO-token, see module docstring).
  kl_beta: weight of KL(pi || pi_ref); 0 disables the reference model (ref_logp may be None).
  kl_estimator: 'k1' | 'k2' | 'k3'.  kl_mode: 'loss' adds kl_beta * kl per token to the loss;
      'reward' leaves it out (subtract `kl_reward_penalty` from the rewards instead).
  entropy_coef: weight of an entropy bonus (loss -= entropy_coef * entropy, aggregated alike).
  """
  clip_eps_low: float = 0.2
  clip_eps_high: float = 0.2
  dual_clip: float | None = None
  aggregation: str = 'seq_mean'
  ratio_level: str = 'token'
  token_sum_constant: float | None = None
  kl_beta: float = 0.0
  kl_estimator: str = 'k3'
  kl_mode: str = 'loss'
  entropy_coef: float = 0.0

  def __post_init__(self):
    _check_choice('aggregation', self.aggregation, AGGREGATIONS)
    _check_choice('ratio_level', self.ratio_level, RATIO_LEVELS)
    _check_choice('kl_estimator', self.kl_estimator, KL_ESTIMATORS)
    _check_choice('kl_mode', self.kl_mode, KL_MODES)
    if self.clip_eps_low < 0 or self.clip_eps_high < 0:
      raise ValueError(f'rl.clip_eps_low={self.clip_eps_low} and rl.clip_eps_high='
                       f'{self.clip_eps_high} must be >= 0')
    if self.dual_clip is not None and self.dual_clip <= 1.0:
      raise ValueError(f'rl.dual_clip={self.dual_clip} must be > 1 (e.g. 3.0) or None')
    if self.token_sum_constant is not None and self.token_sum_constant <= 0:
      raise ValueError(f'rl.token_sum_constant={self.token_sum_constant} must be > 0 or None')

  @classmethod
  def from_config(cls, rl_config):
    """Reads the same-named fields of an ml_collections ConfigDict (or a dict); absent ones
    keep their defaults."""
    names = [f.name for f in dataclasses.fields(cls)]
    return cls(**{name: rl_config[name] for name in names if name in rl_config})


def _aggregate(per_token, valid, cfg):
  """per_token [B, T] -> scalar, masked as cfg.aggregation says."""
  maskf = valid.astype(jnp.float32)
  per_token = jnp.where(valid, per_token, 0.0)
  if cfg.aggregation == 'token_mean':
    return per_token.sum() / jnp.maximum(maskf.sum(), 1.0)
  if cfg.aggregation == 'token_sum':
    constant = cfg.token_sum_constant or per_token.shape[1]
    return per_token.sum() / (per_token.shape[0] * constant)
  # 'seq_mean': sequences without valid tokens are left out of the batch mean.
  lengths = maskf.sum(axis=1)
  seq_means = per_token.sum(axis=1) / jnp.maximum(lengths, 1.0)
  has_tokens = (lengths > 0).astype(jnp.float32)
  return (seq_means * has_tokens).sum() / jnp.maximum(has_tokens.sum(), 1.0)


def _masked_mean(x, maskf):
  return jnp.sum(x * maskf) / jnp.maximum(maskf.sum(), 1.0)


def policy_loss(logp, old_logp, advantages, mask, cfg, ref_logp=None, entropy=None):
  """Clipped-ratio policy-gradient loss (GRPO and variants, see PolicyLossConfig).

  logp [B, T]: sampled tokens' log-probs under the policy being trained (differentiated);
  old_logp [B, T]: the same under the rollout policy (no gradient);
  advantages [B] (one per sequence) or [B, T] (per token); mask [B, T];
  ref_logp [B, T] under the frozen reference (needed when kl_beta > 0 and kl_mode='loss');
  entropy [B, T] from `token_entropy` (needed when entropy_coef > 0).
  Returns (loss scalar, metrics dict of scalars). Masked tokens get exactly zero gradient,
  even when their log-probs are garbage (every masked value is replaced before exp/square).

  Per token, with ratio r and A: loss_t = max(-A r, -A clip(r, 1 - eps_low, 1 + eps_high)),
  and for A < 0 with dual_clip c: loss_t = min(loss_t, -c A).
  Metrics: clip_frac_low = fraction of valid tokens with A < 0 and r < 1 - eps_low (the
  lower clip is active, zero gradient); clip_frac_high = A > 0 and r > 1 + eps_high;
  clip_frac_dual = A < 0 and r > c. ratio_mean/min/max over valid tokens.
  """
  if cfg.kl_beta > 0 and cfg.kl_mode == 'loss' and ref_logp is None:
    raise ValueError(f'rl.kl_beta={cfg.kl_beta} with rl.kl_mode=\'loss\' needs ref_logp; '
                     'pass the reference log-probs or set rl.kl_beta=0')
  if cfg.entropy_coef > 0 and entropy is None:
    raise ValueError(f'rl.entropy_coef={cfg.entropy_coef} needs the per-token entropy; pass '
                     'entropy=token_entropy(logits) or set rl.entropy_coef=0')
  valid = mask.astype(bool)
  maskf = valid.astype(jnp.float32)
  old_logp = jax.lax.stop_gradient(old_logp)
  logp = jnp.where(valid, logp, old_logp)  # padding: log-ratio 0 -> finite, zero gradient
  advantages = jnp.asarray(advantages, jnp.float32)
  if advantages.ndim == 1:
    advantages = advantages[:, None]
  advantages = jnp.broadcast_to(advantages, logp.shape)

  log_ratio = logp - old_logp  # [B, T]
  if cfg.ratio_level == 'sequence':
    # GSPO-token: value s_i on every token of sequence i, gradient s_i * d logp_t.
    seq_log_ratio = (log_ratio * maskf).sum(axis=1) / jnp.maximum(maskf.sum(axis=1), 1.0)
    log_ratio = jax.lax.stop_gradient(seq_log_ratio)[:, None] + logp - jax.lax.stop_gradient(logp)
  ratio = jnp.exp(log_ratio)

  lo, hi = 1.0 - cfg.clip_eps_low, 1.0 + cfg.clip_eps_high
  per_token = jnp.maximum(-advantages * ratio, -advantages * jnp.clip(ratio, lo, hi))
  if cfg.dual_clip is not None:
    per_token = jnp.where(advantages < 0,
                          jnp.minimum(per_token, -cfg.dual_clip * advantages), per_token)
  pg_loss = _aggregate(per_token, valid, cfg)
  loss = pg_loss

  ratio_sg = jax.lax.stop_gradient(ratio)
  metrics = {
      'pg_loss': pg_loss,
      'clip_frac_low': _masked_mean((advantages < 0) & (ratio_sg < lo), maskf),
      'clip_frac_high': _masked_mean((advantages > 0) & (ratio_sg > hi), maskf),
      'ratio_mean': _masked_mean(ratio_sg, maskf),
      'ratio_max': jnp.where(valid.any(), jnp.max(jnp.where(valid, ratio_sg, -jnp.inf)), 1.0),
      'ratio_min': jnp.where(valid.any(), jnp.min(jnp.where(valid, ratio_sg, jnp.inf)), 1.0),
  }
  if cfg.dual_clip is not None:
    metrics['clip_frac_dual'] = _masked_mean((advantages < 0) & (ratio_sg > cfg.dual_clip), maskf)
  if ref_logp is not None:
    ref_logp = jnp.where(valid, jax.lax.stop_gradient(ref_logp), logp)
    kl = kl_divergence(logp, ref_logp, cfg.kl_estimator)  # [B, T]
    metrics['kl'] = _masked_mean(jax.lax.stop_gradient(kl), maskf)
    if cfg.kl_beta > 0 and cfg.kl_mode == 'loss':
      loss = loss + cfg.kl_beta * _aggregate(kl, valid, cfg)
  if entropy is not None:
    metrics['entropy'] = _masked_mean(jax.lax.stop_gradient(entropy), maskf)
    if cfg.entropy_coef > 0:
      loss = loss - cfg.entropy_coef * _aggregate(entropy, valid, cfg)
  metrics['loss'] = loss
  return loss, metrics


# ---------------------------------------------------------------------------- Kimi k1.5

def kimi_k15_loss(logp, old_logp, rewards, mask, group_size, tau):
  """Kimi k1.5 policy-mirror-descent surrogate (k1.5 eq. (3), tau log Z ~ mean reward).

  loss = mean_groups 1/k sum_j (r_j - rbar - tau * log(pi(y_j|x) / pi_old(y_j|x)))^2
  with rbar the group mean reward and sequence log-probs summed over valid tokens.
  logp / old_logp / mask [B, T], rewards [B] (groups contiguous). Returns (loss, metrics).
  Its gradient is -2 tau * [(r - rbar) grad log pi - tau/2 grad (log pi/pi_old)^2], k1.5's update.
  """
  if tau <= 0:
    raise ValueError(f'rl.tau={tau} must be > 0 (the k1.5 KL regulariser weight)')
  valid = mask.astype(bool)
  old_logp = jax.lax.stop_gradient(old_logp)
  log_ratio = jnp.where(valid, logp - old_logp, 0.0).sum(axis=1)  # [B]
  baselined = group_advantages(jnp.asarray(rewards, jnp.float32), group_size, mode='drgrpo')
  residual = baselined - tau * log_ratio  # [B]
  loss = jnp.mean(jnp.square(residual))  # equal group sizes: mean over groups of 1/k sum_j
  metrics = {'loss': loss, 'seq_log_ratio_mean': jnp.mean(jax.lax.stop_gradient(log_ratio)),
             'residual_abs_mean': jnp.mean(jnp.abs(jax.lax.stop_gradient(residual)))}
  return loss, metrics


# ---------------------------------------------------------------------------- reward model

def bradley_terry_loss(chosen_scores, rejected_scores):
  """Bradley-Terry loss of a reward model on ranked pairs: -mean log sigmoid(r_c - r_r)
  (InstructGPT eq. (1)).  chosen_scores, rejected_scores [B] -> (loss, metrics) with the pair
  accuracy (r_c > r_r; a tie counts as wrong) and the mean margin."""
  margin = chosen_scores.astype(jnp.float32) - rejected_scores.astype(jnp.float32)
  loss = -jnp.mean(jax.nn.log_sigmoid(margin))
  metrics = {'loss': loss, 'pair_accuracy': jnp.mean((margin > 0).astype(jnp.float32)),
             'margin': jnp.mean(margin)}
  return loss, metrics
