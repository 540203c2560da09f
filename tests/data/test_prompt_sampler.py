"""Prompt samplers (r1jax/data/prompt_sampler.py): drawn frequencies match the target
probabilities, draws are deterministic, stats accumulate."""
import numpy as np
import pytest

from r1jax.data import prompt_sampler


def _frequencies(sampler, step, stats, draws=400, count=50):
  idx = np.concatenate([sampler.indices(c, count, step, stats) for c in range(draws)])
  return np.bincount(idx, minlength=sampler.num_prompts) / len(idx)


def test_curriculum_window_grows_from_easy_to_all():
  difficulty = np.array([3, 1, 2, 1, 3, 2, 1, 2])
  sampler = prompt_sampler.PromptSampler('curriculum', 8, seed=0, difficulty=difficulty,
                                         curriculum_steps=10, curriculum_start=0.25)
  p0 = sampler.probabilities(0)
  assert np.count_nonzero(p0) == 2 and np.all(difficulty[p0 > 0] == 1)
  p5 = sampler.probabilities(5)   # competence 0.625 -> 5 easiest: all 1s and two 2s
  assert np.count_nonzero(p5) == 5 and sorted(difficulty[p5 > 0]) == [1, 1, 1, 2, 2]
  np.testing.assert_allclose(sampler.probabilities(10), np.full(8, 1 / 8))
  np.testing.assert_allclose(sampler.probabilities(99), np.full(8, 1 / 8))
  for step, probs in ((0, p0), (5, p5)):
    freq = _frequencies(sampler, step, None)
    np.testing.assert_allclose(freq, probs, atol=0.01)   # 20000 draws: 3 sigma < 0.01
    assert np.all(freq[probs == 0] == 0)


def test_prioritized_frequencies_follow_one_minus_success():
  stats = np.zeros((5, 2), np.float32)
  stats = prompt_sampler.update_stats(stats, [0, 0, 1, 2, 3, 3], [1.0, 1.0, 0.5, 0.0, 1.0, 0.5])
  np.testing.assert_allclose(stats, [[2, 2], [0.5, 1], [0, 1], [1.5, 2], [0, 0]])
  sampler = prompt_sampler.PromptSampler('prioritized', 5, seed=3, priority_floor=0.05)
  weights = np.array([0.05, 0.5, 1.0, 0.25, 1.0])  # solved -> floor; unseen -> 1
  np.testing.assert_allclose(sampler.probabilities(0, stats), weights / weights.sum())
  np.testing.assert_allclose(_frequencies(sampler, 0, stats), weights / weights.sum(), atol=0.01)


def test_draws_are_deterministic_and_vary_with_the_cursor():
  sampler = prompt_sampler.PromptSampler('prioritized', 100, seed=1)
  stats = sampler.initial_stats()
  assert stats.shape == (100, 2)
  a, b = sampler.indices(16, 8, 0, stats), sampler.indices(16, 8, 0, stats)
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, sampler.indices(24, 8, 0, stats))
  assert not np.array_equal(
      a, prompt_sampler.PromptSampler('prioritized', 100, seed=2).indices(16, 8, 0, stats))
  curriculum = prompt_sampler.PromptSampler('curriculum', 100, 1, difficulty=np.zeros(100))
  assert curriculum.initial_stats() is None


def test_bad_modes_and_missing_difficulty_are_clear_errors():
  with pytest.raises(ValueError, match="rl.sampling='uniform'"):
    prompt_sampler.PromptSampler('uniform', 4, 0)
  with pytest.raises(ValueError, match='one difficulty per prompt'):
    prompt_sampler.PromptSampler('curriculum', 4, 0, difficulty=[1, 2])
