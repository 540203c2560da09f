"""Which prompts an RL step trains on: uniform, curriculum, prioritized (Kimi k1.5 sec. 2.3.4).

  sampler = PromptSampler('prioritized', num_prompts=len(prompts), seed=config.seed)
  stats = sampler.initial_stats()                    # [num_prompts, 2]: success sum, attempts
  idx = sampler.indices(cursor, count, step, stats)  # global prompt indices, [count]
  stats = update_stats(stats, idx, success)          # success [count] in [0, 1]

* 'uniform' is the trainer's default epoch-permutation stream; this module is not used for it.
* 'curriculum' (easy -> hard): prompts ranked by `difficulty` (higher = harder; the synthetic
  tasks' level, or 1 - pass rate from a curation stage), ties broken by a seeded permutation.
  At step s the easiest fraction c(s) = start + (1 - start) * min(1, s / curriculum_steps) of
  the ranking is eligible, each eligible prompt equally likely (competence-based curriculum,
  Platanios et al. 2019, with a linear competence).
* 'prioritized': P(i) proportional to max(1 - s_i, floor), s_i = the prompt's mean success
  over every time it was rolled out in this run (0 before its first rollout, so unseen prompts
  come first); the floor keeps solved prompts reachable. The stats live in the checkpoint
  (RLState.prompt_stats), so a resumed run continues them.

Draws are with replacement, from numpy's Generator seeded by (seed, cursor): the same
(seed, prompt cursor, stats) always gives the same prompts, on every host.
"""
import numpy as np

SAMPLING_MODES = ('uniform', 'curriculum', 'prioritized')


def curriculum_probs(difficulty, step: int, curriculum_steps: int, start: float,
                     seed: int) -> np.ndarray:
  """float64 [n]: uniform over the easiest ceil(c(step) * n) prompts, 0 elsewhere."""
  difficulty = np.asarray(difficulty, np.float64)
  n = len(difficulty)
  tie_break = np.random.default_rng([seed, 0x5EED]).permutation(n)
  ranking = np.lexsort((tie_break, difficulty))  # easiest first
  competence = start + (1.0 - start) * min(1.0, step / max(curriculum_steps, 1))
  eligible = max(1, int(np.ceil(competence * n - 1e-9)))
  probs = np.zeros(n)
  probs[ranking[:eligible]] = 1.0 / eligible
  return probs


def prioritized_probs(stats, floor: float) -> np.ndarray:
  """float64 [n] proportional to max(1 - success rate, floor); stats [n, 2] (sum, attempts)."""
  stats = np.asarray(stats, np.float64)
  rate = np.where(stats[:, 1] > 0, stats[:, 0] / np.maximum(stats[:, 1], 1), 0.0)
  weight = np.maximum(1.0 - rate, floor)
  return weight / weight.sum()


def update_stats(stats, indices, success) -> np.ndarray:
  """stats [n, 2] with each (index, success) added (repeated indices count each time)."""
  stats = np.array(stats, np.float32)
  np.add.at(stats[:, 0], np.asarray(indices), np.asarray(success, np.float32))
  np.add.at(stats[:, 1], np.asarray(indices), 1.0)
  return stats


class PromptSampler:
  """Draws global prompt indices for one rollout; pure given (cursor, step, stats)."""

  def __init__(self, mode: str, num_prompts: int, seed: int, difficulty=None,
               curriculum_steps: int = 1, curriculum_start: float = 0.25,
               priority_floor: float = 0.01):
    if mode not in SAMPLING_MODES[1:]:
      raise ValueError(f"rl.sampling={mode!r}: PromptSampler draws {SAMPLING_MODES[1:]}; "
                       "'uniform' is the trainer's own prompt stream")
    if mode == 'curriculum' and (difficulty is None or len(difficulty) != num_prompts):
      raise ValueError("rl.sampling='curriculum' needs one difficulty per prompt (the "
                       "records' 'difficulty' or 'pass_rate' field)")
    self.mode, self.num_prompts, self.seed = mode, num_prompts, seed
    self.difficulty = None if difficulty is None else np.asarray(difficulty, np.float64)
    self.curriculum_steps, self.curriculum_start = curriculum_steps, curriculum_start
    self.priority_floor = priority_floor

  def initial_stats(self) -> np.ndarray | None:
    """The per-prompt state kept in the checkpoint (None when the mode needs none)."""
    return np.zeros((self.num_prompts, 2), np.float32) if self.mode == 'prioritized' else None

  def probabilities(self, step: int, stats=None) -> np.ndarray:
    if self.mode == 'curriculum':
      return curriculum_probs(self.difficulty, step, self.curriculum_steps,
                              self.curriculum_start, self.seed)
    return prioritized_probs(stats, self.priority_floor)

  def indices(self, cursor: int, count: int, step: int, stats=None) -> np.ndarray:
    rng = np.random.default_rng([self.seed, cursor])
    return rng.choice(self.num_prompts, size=count, replace=True,
                      p=self.probabilities(step, stats))
