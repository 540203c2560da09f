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
  * Kimi k1.5 (eq. (3)): squared residual of r - tau log Z - tau * log(pi / pi_old) per
    sequence, divided by 2 tau so that its gradient is the paper's update (see kimi_k15_loss).
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
  return _masked_nll(token_logprobs(logits, targets), jnp.argmax(logits, axis=-1) == targets,
                     loss_mask)


def _masked_nll(logp, correct, loss_mask):
  mask = loss_mask.astype(jnp.float32)
  num_tokens = jnp.maximum(mask.sum(), 1.0)
  loss = -(logp * mask).sum() / num_tokens
  metrics = {'loss': loss,
             'token_accuracy': (correct.astype(jnp.float32) * mask).sum() / num_tokens,
             'num_tokens': mask.sum()}
  return loss, metrics


# ---------------------------------------------------------------------------- vocabulary chunks
#
# A 151k vocabulary x 8k completion tokens is 4.6 GB of float32 logits per 1k rows: the
# functions below take the final hidden states [B, T, D] and the output projection [D, V]
# and scan over vocabulary chunks of about `chunk` columns, keeping a running max, sum of
# exponentials and (for the entropy) sum of exp * logit per token. Each chunk's logits are
# recomputed in the backward pass (jax.checkpoint), so no [B, T, V] array exists in either
# direction; values and gradients equal the unchunked functions'.

def _vocab_chunks(weight, chunk: int):
  """weight [D, V] -> ([n, D, c] chunks, [n, c] bool real columns); V padded to n * c."""
  vocab = weight.shape[1]
  num = max(1, -(-vocab // max(chunk, 1)))
  size = -(-vocab // num)
  pad = num * size - vocab
  if pad:
    weight = jnp.pad(weight, ((0, 0), (0, pad)))
  real = (jnp.arange(num * size) < vocab).reshape(num, size)
  return weight.reshape(weight.shape[0], num, size).transpose(1, 0, 2), real


def chunked_logit_stats(hidden, weight, targets, chunk: int, temperature: float = 1.0):
  """Per token, from hidden [B, T, D] and weight [D, V] without materialising the logits
  z = hidden @ weight / temperature (float32):
    logp    [B, T]  log softmax(z)[targets]
    entropy [B, T]  entropy of softmax(z)
    argmax  [B, T]  argmax of z (first on ties, as jnp.argmax)
  """
  inv_t = 1.0 / temperature
  chunks, real = _vocab_chunks(weight, chunk)
  size = chunks.shape[-1]
  target_w = jnp.take(weight, targets, axis=1)  # [D, B, T]
  target_z = jnp.einsum('btd,dbt->bt', hidden, target_w.astype(hidden.dtype),
                        preferred_element_type=jnp.float32) * inv_t

  @jax.checkpoint
  def body(carry, xs):
    run_max, sum_exp, sum_zexp, best, best_idx = carry
    w, ok, index = xs
    z = jnp.einsum('btd,dc->btc', hidden, w.astype(hidden.dtype),
                   preferred_element_type=jnp.float32) * inv_t
    z_real = jnp.where(ok, z, -jnp.inf)  # padding columns (z = 0 there) never count
    chunk_max = jnp.max(z_real, axis=-1)
    new_max = jnp.maximum(run_max, chunk_max)
    scale = jnp.exp(run_max - new_max)
    e = jnp.where(ok, jnp.exp(z - new_max[..., None]), 0.0)
    sum_exp = sum_exp * scale + e.sum(-1)
    sum_zexp = sum_zexp * scale + (e * z).sum(-1)
    arg = jnp.argmax(z_real, axis=-1) + index * size
    better = chunk_max > best
    return (new_max, sum_exp, sum_zexp, jnp.where(better, chunk_max, best),
            jnp.where(better, arg, best_idx)), None

  shape = targets.shape
  init = (jnp.full(shape, -jnp.inf), jnp.zeros(shape), jnp.zeros(shape),
          jnp.full(shape, -jnp.inf), jnp.zeros(shape, jnp.int32))
  (run_max, sum_exp, sum_zexp, _, best_idx), _ = jax.lax.scan(
      body, init, (chunks, real, jnp.arange(chunks.shape[0])))
  log_norm = run_max + jnp.log(sum_exp)
  return target_z - log_norm, log_norm - sum_zexp / sum_exp, best_idx


def next_token_loss_chunked(hidden, weight, targets, loss_mask, chunk: int):
  """`next_token_loss` from hidden states [B, T, D] and the output projection [D, V],
  over vocabulary chunks (see `chunked_logit_stats`). Same (loss, metrics)."""
  logp, _, argmax = chunked_logit_stats(hidden, weight, targets, chunk)
  return _masked_nll(logp, argmax == targets, loss_mask)


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


def penalized_advantages(rewards, penalty, group_size, mode='grpo', eps=1e-6):
  """Advantages of task rewards minus a per-sequence penalty ('reward' kl_mode).  [N] -> [N].

  Only the task reward is normalised: A = group_advantages(r, mode) - (p - mean_g p), so the
  penalty stays in reward units. Normalising r - p together would, in a group whose task
  rewards are all equal, divide tiny KL differences by their own tiny std and turn them into
  unit-scale advantages. The penalty is centred per group (a baseline: same expected
  gradient, lower variance); with mode 'drgrpo' the result equals drgrpo advantages of r - p.
  """
  return (group_advantages(rewards, group_size, mode, eps)
          - group_advantages(penalty, group_size, 'drgrpo'))


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

KIMI_BASELINES = ('mean', 'partition')


def _check_tau(tau):
  if not tau > 0:
    raise ValueError(f'rl.kimi_tau={tau} must be > 0 (the k1.5 KL regulariser weight)')


def kimi_baseline(rewards, group_size, tau, mode='mean'):
  """k1.5's estimate of tau * log Z per sample.  rewards [N] (groups contiguous) -> [N].

  'mean':      the group's mean reward (the paper's choice).
  'partition': tau * log((1 / (k - 1)) sum_{j != i} exp(r_j / tau)), the leave-one-out Monte
               Carlo estimate of tau * log Z = tau * log E_{pi_old} exp(r / tau); it does not
               depend on y_i, so it stays an unbiased baseline. Computed with a max-shift
               (logsumexp), finite for any tau > 0 (r / tau ~ 100 at tau = 0.01). Needs k >= 2.
  numpy in -> numpy out; jax in -> jax out.
  """
  _check_choice('kimi_baseline', mode, KIMI_BASELINES)
  _check_tau(tau)
  xp = jnp if isinstance(rewards, jax.Array) else np
  grouped = xp.asarray(rewards, dtype=xp.float32).reshape(-1, group_size)  # [N / k, k]
  if mode == 'mean':
    return xp.repeat(grouped.mean(axis=1), group_size)
  if group_size < 2:
    raise ValueError("rl.kimi_baseline='partition' needs rl.group_size >= 2 (a leave-one-out "
                     "mean); use rl.kimi_baseline='mean'")
  scaled = grouped / tau                                        # [N / k, k]
  others = xp.where(xp.eye(group_size, dtype=bool)[None], -xp.inf, scaled[:, None, :])
  shift = others.max(axis=2, keepdims=True)                     # [N / k, k, 1], finite
  log_mean = (shift[..., 0] + xp.log(xp.exp(others - shift).sum(axis=2))
              - np.log(group_size - 1))
  return (tau * log_mean).reshape(-1).astype(xp.float32)


def kimi_k15_residual_loss(logp, old_logp, centred, mask, tau, length_normalize=False):
  """The k1.5 surrogate divided by 2 tau, from centred rewards a = r - tau log Z (see
  `kimi_k15_loss`).  logp / old_logp / mask [B, T], centred [B]. Returns (loss, metrics).

  Sequences with no loss tokens (all masked, e.g. rl.mask_truncated) are left out of the mean.
  """
  _check_tau(tau)
  valid = mask.astype(bool)
  lengths = valid.sum(axis=1).astype(jnp.float32)  # [B]
  has_tokens = (lengths > 0).astype(jnp.float32)
  old_logp = jax.lax.stop_gradient(old_logp)
  log_ratio = jnp.where(valid, logp - old_logp, 0.0).sum(axis=1)  # [B], sequence level
  residual = jnp.asarray(centred, jnp.float32) - tau * log_ratio  # [B]
  squared = jnp.square(residual)
  if length_normalize:
    squared = squared / jnp.maximum(lengths, 1.0)
  count = jnp.maximum(has_tokens.sum(), 1.0)
  surrogate = (squared * has_tokens).sum() / count
  loss = surrogate / (2.0 * tau)
  sg = jax.lax.stop_gradient
  metrics = {'loss': loss, 'surrogate': surrogate,
             'seq_log_ratio_mean': (sg(log_ratio) * has_tokens).sum() / count,
             'seq_log_ratio_abs_max': jnp.max(jnp.abs(sg(log_ratio)) * has_tokens),
             'residual_abs_mean': (jnp.abs(sg(residual)) * has_tokens).sum() / count}
  return loss, metrics


def kimi_k15_loss(logp, old_logp, rewards, mask, group_size, tau, baseline='mean',
                  length_normalize=False):
  """Kimi k1.5 policy-mirror-descent surrogate (k1.5 eq. (3)), divided by 2 tau.

  surrogate = mean_j (r_j - b_j - tau * log(pi(y_j|x) / pi_old(y_j|x)))^2
  over the sequences that have loss tokens; b = `kimi_baseline` (tau log Z: the group mean
  reward, or the leave-one-out partition estimate); log-ratios are sequence level (summed
  over valid tokens); with length_normalize each squared residual is divided by its
  sequence's token count. logp / old_logp / mask [B, T], rewards [B] (groups contiguous).

  The returned loss is surrogate / (2 tau), so minus its gradient is exactly k1.5's update
  (paper sec. 2.3.2), per sequence and averaged:
      (r_j - b_j) grad log pi(y_j|x)  -  (tau / 2) grad (log pi(y_j|x) / pi_old(y_j|x))^2.
  (d/dtheta (a - tau l)^2 / (2 tau) = -(a - tau l) grad l = -a grad l + (tau/2) grad l^2.)
  Without the 1 / (2 tau) the gradient would shrink with tau and interact with grad_clip;
  with it rl.learning_rate means what it means for GRPO. metrics['surrogate'] is eq. (3).
  """
  centred = (jnp.asarray(rewards, jnp.float32)
             - kimi_baseline(jnp.asarray(rewards, jnp.float32), group_size, tau, baseline))
  return kimi_k15_residual_loss(logp, old_logp, centred, mask, tau, length_normalize)


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


# ---------------------------------------------------------------------------- DPO

def dpo_loss(chosen_logp, rejected_logp, ref_chosen_logp, ref_rejected_logp, beta):
  """DPO (Rafailov et al. 2023, eq. 7): -mean log sigmoid(beta * (log pi(y_c)/pi_ref(y_c) -
  log pi(y_r)/pi_ref(y_r))), on sequence log-probs [B] (completion tokens summed). k1.5's
  long2short pairs: chosen = the shortest correct answer, rejected = a wrong or long one.
  Returns (loss, metrics): reward_accuracy (implicit reward of chosen > rejected), margin,
  chosen_reward and rejected_reward (beta * log-ratio, means)."""
  if beta <= 0:
    raise ValueError(f'dpo.beta={beta} must be > 0 (e.g. 0.1)')
  f32 = lambda x: jnp.asarray(x, jnp.float32)
  chosen_reward = beta * (f32(chosen_logp) - f32(ref_chosen_logp))
  rejected_reward = beta * (f32(rejected_logp) - f32(ref_rejected_logp))
  margin = chosen_reward - rejected_reward
  loss = -jnp.mean(jax.nn.log_sigmoid(margin))
  return loss, {'loss': loss, 'reward_accuracy': jnp.mean((margin > 0).astype(jnp.float32)),
                'margin': jnp.mean(margin), 'chosen_reward': jnp.mean(chosen_reward),
                'rejected_reward': jnp.mean(rejected_reward)}
