"""Uncertainty for evaluation numbers (STYLE.md item 11): intervals over prompts, paired
comparisons of two checkpoints on the same prompts, and the strings reports print.

Pure numpy and stdlib, no other r1jax module: the host-side evaluation and the reports use it.

  mean, low, high = bootstrap_ci(per_prompt)          # per_prompt float [P] (or [P, k] samples)
  format_ci(mean, low, high)                          # '0.412 [0.381, 0.443]'
  diff = paired_bootstrap(before, after)              # same prompts, same order
  format_paired(**diff)                               # '+5.2 pts [+2.1, +8.3], p=0.001'
  mcnemar(before_greedy >= 0.5, after_greedy >= 0.5)  # one 0/1 outcome per prompt

Prompts are the unit that is resampled (as lighteval does for pass@k): a prompt's k samples
are correlated, so the k samples are averaged into one score per prompt first.
"""
import math

import numpy as np

# Resamples drawn per block, so a bootstrap over many prompts stays within ~32 MB of indices.
_MAX_INDICES_PER_BLOCK = 1 << 22


def _per_prompt(values, name: str) -> np.ndarray:
  """float64 [P]: `values` [P] as is, or [P, k] averaged over the k samples of each prompt."""
  scores = np.asarray(values, np.float64)
  if scores.ndim == 2:
    if not scores.shape[1]:
      raise ValueError(f'{name} has shape {scores.shape}: no samples per prompt')
    scores = scores.mean(axis=1)
  if scores.ndim != 1:
    raise ValueError(f'{name} must be [num_prompts] or [num_prompts, num_samples], got shape '
                     f'{scores.shape}')
  if not scores.size:
    raise ValueError(f'{name} is empty: an interval needs at least one prompt')
  if not np.isfinite(scores).all():
    raise ValueError(f'{name} has {int((~np.isfinite(scores)).sum())} non-finite scores')
  return scores


def _check_resampling(num_resamples: int, confidence: float) -> None:
  if num_resamples < 1:
    raise ValueError(f'num_resamples={num_resamples}; use at least 1 (2000 is usual)')
  if not 0 < confidence < 1:
    raise ValueError(f'confidence={confidence} must lie strictly between 0 and 1, e.g. 0.95')


def bootstrap_means(per_prompt: np.ndarray, num_resamples: int, seed: int) -> np.ndarray:
  """float64 [num_resamples]: the mean of `per_prompt` [P] over P prompts drawn with
  replacement, per resample. Resample r uses the r-th row of
  `np.random.default_rng(seed).integers(0, P, size=(num_resamples, P))` (drawn in blocks of
  rows, which is the same stream)."""
  num_prompts = len(per_prompt)
  rng = np.random.default_rng(seed)
  rows = max(1, _MAX_INDICES_PER_BLOCK // num_prompts)
  means = []
  for start in range(0, num_resamples, rows):
    idx = rng.integers(0, num_prompts, size=(min(rows, num_resamples - start), num_prompts))
    means.append(per_prompt[idx].mean(axis=1))
  return np.concatenate(means)


def _interval(boot: np.ndarray, confidence: float) -> tuple[float, float]:
  """Percentile interval: the (1 - c)/2 and (1 + c)/2 quantiles (linear interpolation)."""
  low, high = np.quantile(boot, [(1 - confidence) / 2, (1 + confidence) / 2])
  return float(low), float(high)


def bootstrap_ci(per_prompt, num_resamples: int = 2000, confidence: float = 0.95,
                 seed: int = 0) -> tuple[float, float, float]:
  """(mean, low, high): the mean score over prompts and its percentile-bootstrap interval.

  per_prompt: float [P] (one score per prompt, e.g. 0/1 greedy correctness or pass@1 of k
  samples) or [P, k] (averaged over k first). Prompts are resampled, not samples. `mean` is
  the observed mean, not the bootstrap's. Deterministic given `seed`."""
  scores = _per_prompt(per_prompt, 'per_prompt')
  _check_resampling(num_resamples, confidence)
  low, high = _interval(bootstrap_means(scores, num_resamples, seed), confidence)
  return float(scores.mean()), low, high


def paired_bootstrap(a, b, num_resamples: int = 2000, confidence: float = 0.95,
                     seed: int = 0) -> dict:
  """B against A on the same prompts: {'diff', 'low', 'high', 'p_value'}.

  a, b: per-prompt scores [P] (or [P, k], averaged over k), row i of both the same prompt.
  The prompt indices are resampled jointly (one draw for both), so prompt difficulty, shared
  by A and B, cancels and the interval is much narrower than two separate ones.

  diff       mean(b - a), observed
  low, high  percentile-bootstrap interval of diff
  p_value    two-sided, for "no difference": p = min(1, 2 * min(n_le, n_ge)), where
             n_le = (1 + #{d* <= 0}) / (R + 1) and n_ge = (1 + #{d* >= 0}) / (R + 1) over the R
             bootstrap differences d*. This inverts the percentile interval: p < 1 - confidence
             about when the interval excludes 0. The +1s keep p > 0; the smallest p it can give
             is 2 / (R + 1) (0.001 at R = 2000), so raise num_resamples to resolve smaller ones.
  """
  a_scores, b_scores = _per_prompt(a, 'a'), _per_prompt(b, 'b')
  if len(a_scores) != len(b_scores):
    raise ValueError(f'a has {len(a_scores)} prompts and b has {len(b_scores)}; a paired '
                     'comparison needs both scored on the same prompts, in the same order')
  _check_resampling(num_resamples, confidence)
  boot = bootstrap_means(b_scores - a_scores, num_resamples, seed)
  low, high = _interval(boot, confidence)
  at_most_zero = (1 + np.count_nonzero(boot <= 0)) / (num_resamples + 1)
  at_least_zero = (1 + np.count_nonzero(boot >= 0)) / (num_resamples + 1)
  return dict(diff=float((b_scores - a_scores).mean()), low=low, high=high,
              p_value=float(min(1.0, 2 * min(at_most_zero, at_least_zero))))


def _outcomes(values, name: str) -> np.ndarray:
  """bool [P] from 0/1 (or bool) outcomes, one per prompt."""
  outcomes = np.asarray(values)
  if outcomes.ndim != 1:
    raise ValueError(f'{name} must be one 0/1 outcome per prompt, shape [num_prompts], got '
                     f'shape {outcomes.shape}')
  if not outcomes.size:
    raise ValueError(f'{name} is empty: McNemar needs at least one prompt')
  if not np.isin(outcomes, (0, 1)).all():
    raise ValueError(f'{name} must hold 0/1 outcomes; threshold partial credit first, e.g. '
                     f'{name} >= 0.5')
  return outcomes.astype(bool)


def mcnemar(a_correct, b_correct) -> dict:
  """Exact McNemar test of paired 0/1 outcomes (e.g. greedy decoding, one sample per prompt):
  {'b_only', 'a_only', 'p_value', 'mid_p_value'}.

  b_only / a_only count the prompts only B / only A gets right (the discordant pairs; the
  concordant ones carry no information on which is better). Under "A and B are equally good"
  b_only ~ Binomial(b_only + a_only, 1/2), and
    p_value      = min(1, 2 * P[X <= min(b_only, a_only)])          exact, conservative
    mid_p_value  = min(1, 2 * (P[X < m] + P[X = m] / 2)), m = min    mid-p, closer to nominal
  With no discordant pair both are 1. Symmetric in A and B."""
  a_ok, b_ok = _outcomes(a_correct, 'a_correct'), _outcomes(b_correct, 'b_correct')
  if len(a_ok) != len(b_ok):
    raise ValueError(f'a_correct has {len(a_ok)} prompts and b_correct has {len(b_ok)}; '
                     'McNemar needs both scored on the same prompts, in the same order')
  b_only, a_only = int(np.count_nonzero(b_ok & ~a_ok)), int(np.count_nonzero(a_ok & ~b_ok))
  discordant, smaller = b_only + a_only, min(b_only, a_only)
  # Exact integers, one division at the end: no underflow of 2**-n for thousands of pairs.
  below = sum(math.comb(discordant, i) for i in range(smaller))
  at = math.comb(discordant, smaller)
  total = 2 ** discordant
  return dict(b_only=b_only, a_only=a_only,
              p_value=min(1.0, 2 * (below + at) / total),
              mid_p_value=min(1.0, (2 * below + at) / total))


def standard_error(per_prompt) -> float:
  """Standard error of the mean over prompts, std(ddof=1) / sqrt(P) (lm-evaluation-harness's
  `mean_stderr`); for 0/1 scores this is the binomial sqrt(p (1 - p) / (P - 1))."""
  scores = _per_prompt(per_prompt, 'per_prompt')
  if len(scores) < 2:
    raise ValueError('per_prompt has 1 prompt: a standard error needs at least 2')
  return float(scores.std(ddof=1) / math.sqrt(len(scores)))


# ---------------------------------------------------------------------------- report strings

def format_ci(mean: float, low: float, high: float, digits: int = 3) -> str:
  """'0.412 [0.381, 0.443]' (e.g. `format_ci(*bootstrap_ci(scores))`)."""
  return f'{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]'


def format_p(p_value: float) -> str:
  """'p=0.012', 'p=0.001', 'p<0.001' (below what 3 decimals show)."""
  return 'p<0.001' if p_value < 0.0005 else f'p={p_value:.3f}'


def format_paired(diff: float, low: float, high: float, p_value: float, scale: float = 100.0,
                  unit: str = ' pts', digits: int = 1) -> str:
  """'+5.2 pts [+2.1, +8.3], p=0.001': a difference of fractions in percentage points (scale
  100), signed (e.g. `format_paired(**paired_bootstrap(a, b))`)."""
  def signed(x):
    return f'{round(x * scale, digits) + 0.0:+.{digits}f}'  # + 0.0: no '-0.0'
  return f'{signed(diff)}{unit} [{signed(low)}, {signed(high)}], {format_p(p_value)}'
