"""r1jax.stats against loop references, hand-computed binomial tails and coverage."""
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from r1jax import stats


def _loop_bootstrap(scores, num_resamples, confidence, seed):
  """One resample at a time from the same generator, percentiles interpolated by hand."""
  rng = np.random.default_rng(seed)
  means = sorted(float(np.mean(scores[rng.integers(0, len(scores), size=len(scores))]))
                 for _ in range(num_resamples))

  def quantile(q):  # numpy's default 'linear': position q * (R - 1)
    pos = q * (num_resamples - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, num_resamples - 1)
    return means[lo] + (pos - lo) * (means[hi] - means[lo])
  return quantile((1 - confidence) / 2), quantile((1 + confidence) / 2)


@pytest.mark.parametrize('max_indices', [1 << 22, 100])   # one block; many blocks, ragged last
def test_bootstrap_ci_equals_loop_reference(monkeypatch, max_indices):
  monkeypatch.setattr(stats, '_MAX_INDICES_PER_BLOCK', max_indices)
  correct = (np.random.default_rng(3).random((37, 4)) < 0.4).astype(float)  # [P, k]
  mean, low, high = stats.bootstrap_ci(correct, num_resamples=301, confidence=0.9, seed=5)
  ref_low, ref_high = _loop_bootstrap(correct.mean(axis=1), 301, 0.9, seed=5)
  assert mean == pytest.approx(correct.mean())
  assert (low, high) == pytest.approx((ref_low, ref_high), abs=1e-12)
  assert low < mean < high


def test_bootstrap_ci_is_deterministic_given_seed():
  scores = np.random.default_rng(0).random(200)
  assert stats.bootstrap_ci(scores, seed=1) == stats.bootstrap_ci(scores, seed=1)
  assert stats.bootstrap_ci(scores, seed=1) != stats.bootstrap_ci(scores, seed=2)


def test_bootstrap_ci_covers_p_about_95_percent():
  p, n, trials = 0.3, 1000, 200
  data = np.random.default_rng(7).random((trials, n)) < p
  covered = [low <= p <= high for low, high in
             (stats.bootstrap_ci(x, num_resamples=1000, seed=i)[1:] for i, x in enumerate(data))]
  assert 0.90 <= np.mean(covered) <= 0.99


def test_bootstrap_ci_agrees_with_standard_error():
  scores = (np.random.default_rng(1).random(1000) < 0.4).astype(float)
  mean, low, high = stats.bootstrap_ci(scores)
  se = stats.standard_error(scores)
  assert se == pytest.approx(math.sqrt(mean * (1 - mean) / (len(scores) - 1)))
  assert (high - low) / 2 == pytest.approx(1.96 * se, rel=0.1)


def test_paired_bootstrap_of_identical_arrays():
  a = np.random.default_rng(0).random((50, 3))
  out = stats.paired_bootstrap(a, a.copy())
  assert out == dict(diff=0.0, low=0.0, high=0.0, p_value=1.0)


def test_paired_bootstrap_clear_shift():
  rng = np.random.default_rng(0)
  a = (rng.random(500) < 0.4).astype(float)
  b = np.where(rng.random(500) < 0.15, 1.0, a)      # B fixes ~15% of prompts, breaks none
  out = stats.paired_bootstrap(a, b, num_resamples=2000)
  assert out['diff'] == pytest.approx(b.mean() - a.mean())
  assert 0 < out['low'] < out['diff'] < out['high']
  assert out['p_value'] == pytest.approx(2 / 2001)    # no resample at or below 0
  # Joint resampling: narrower than the two unpaired intervals would suggest.
  _, a_low, a_high = stats.bootstrap_ci(a)
  assert out['high'] - out['low'] < 0.5 * (a_high - a_low) * math.sqrt(2)


def test_paired_bootstrap_is_antisymmetric():
  rng = np.random.default_rng(2)
  a, b = rng.random(80), rng.random(80) + 0.05
  ab, ba = stats.paired_bootstrap(a, b), stats.paired_bootstrap(b, a)
  assert ba['diff'] == pytest.approx(-ab['diff'])
  assert (ba['low'], ba['high']) == pytest.approx((-ab['high'], -ab['low']))
  assert ba['p_value'] == ab['p_value'] < 1


def _exact_two_sided(b_only, a_only):
  n, m = b_only + a_only, min(b_only, a_only)
  pmf = [math.comb(n, i) * 0.5 ** n for i in range(n + 1)]
  return min(1.0, 2 * sum(pmf[:m + 1])), min(1.0, 2 * (sum(pmf[:m]) + pmf[m] / 2))


def _paired_outcomes(b_only, a_only, both=5, neither=7):
  a = [0] * b_only + [1] * a_only + [1] * both + [0] * neither
  b = [1] * b_only + [0] * a_only + [1] * both + [0] * neither
  return np.array(a), np.array(b)


def test_mcnemar_equals_binomial_tail():
  a, b = _paired_outcomes(10, 2)
  out = stats.mcnemar(a, b)
  exact, mid = _exact_two_sided(10, 2)
  assert (out['b_only'], out['a_only']) == (10, 2)
  assert out['p_value'] == pytest.approx(exact) == 0.03857421875    # 2 * (1 + 12 + 66) / 4096
  assert out['mid_p_value'] == pytest.approx(mid) == 0.0224609375   # (2 * 13 + 66) / 4096
  for b_only, a_only in [(0, 5), (7, 3), (3, 3), (40, 25)]:
    out = stats.mcnemar(*_paired_outcomes(b_only, a_only)[::-1])
    assert (out['b_only'], out['a_only']) == (a_only, b_only)
    assert (out['p_value'], out['mid_p_value']) == pytest.approx(_exact_two_sided(a_only, b_only))


def test_mcnemar_symmetric_and_degenerate_cases():
  a, b = _paired_outcomes(9, 4)
  assert stats.mcnemar(a, b)['p_value'] == stats.mcnemar(b, a)['p_value']
  assert stats.mcnemar(a, b)['mid_p_value'] == stats.mcnemar(b, a)['mid_p_value']
  same = stats.mcnemar([1, 0, 1], [True, False, True])   # no discordant pair
  assert same == dict(b_only=0, a_only=0, p_value=1.0, mid_p_value=1.0)
  big = stats.mcnemar(*_paired_outcomes(2000, 1500))       # 2**3500 overflows a float
  assert 0 < big['p_value'] < 1e-10


def test_errors_name_the_argument():
  with pytest.raises(ValueError, match='per_prompt is empty'):
    stats.bootstrap_ci([])
  with pytest.raises(ValueError, match='per_prompt has 1 non-finite'):
    stats.bootstrap_ci([0.5, np.nan])
  with pytest.raises(ValueError, match='confidence=95'):
    stats.bootstrap_ci([0.5, 1.0], confidence=95)
  with pytest.raises(ValueError, match='a has 3 prompts and b has 4'):
    stats.paired_bootstrap([1, 0, 1], [1, 0, 1, 1])
  with pytest.raises(ValueError, match='b is empty'):
    stats.paired_bootstrap([1.0], np.zeros((0, 4)))
  with pytest.raises(ValueError, match='a_correct has 2 prompts and b_correct has 3'):
    stats.mcnemar([1, 0], [1, 0, 1])
  with pytest.raises(ValueError, match='b_correct >= 0.5'):
    stats.mcnemar([1, 0], [1, 0.5])
  with pytest.raises(ValueError, match='a_correct is empty'):
    stats.mcnemar([], [])


def test_report_strings():
  assert stats.format_ci(0.4123, 0.3811, 0.4434) == '0.412 [0.381, 0.443]'
  assert stats.format_ci(*stats.bootstrap_ci([1, 1, 1])) == '1.000 [1.000, 1.000]'
  assert stats.format_paired(0.052, 0.021, 0.083, 0.001) == '+5.2 pts [+2.1, +8.3], p=0.001'
  assert stats.format_paired(-0.0004, -0.031, 0.0302, 0.98) == '+0.0 pts [-3.1, +3.0], p=0.980'
  assert stats.format_paired(**stats.paired_bootstrap([0, 1], [0, 1])) == (
      '+0.0 pts [+0.0, +0.0], p=1.000')
  assert stats.format_p(2 / 2001) == 'p=0.001'
  assert stats.format_p(1e-5) == 'p<0.001'


def test_ground_floor_imports():
  """numpy and stdlib only: no jax, no other r1jax module (hosts and reports import it)."""
  code = ('import sys, r1jax.stats; '
          'print(sorted(m for m in sys.modules if m == "jax" or m.startswith("r1jax.")))')
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True,
                       cwd=root)
  assert out.stdout.strip() == "['r1jax.stats']"
