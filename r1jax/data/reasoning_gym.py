"""reasoning-gym (pip package `reasoning-gym`, procedural tasks with their own scorers, offline)
as a task source: data.source='reasoning_gym', data.rg_tasks names its datasets.

  config.data.update(source='reasoning_gym', rg_tasks=('leg_counting', 'basic_arithmetic'),
                     num_train=2000, num_heldout=200)
  config.rl.rewards = {'accuracy': 1.0, 'format': 0.5}   # 'accuracy' calls reasoning-gym's scorer

A record is an `Example` with task 'rg/<name>' and numbers = (seed, size, index): the scorer
(`r1jax/rewards/reasoning_gym.py`) regenerates exactly that entry (metadata included) to call the
dataset's own `score_answer`. Train and held-out problems come from different seeds
(held-out: data.rg_seed + 1_000_003); a task with a small problem space can repeat problems
across them.
"""
import functools

from r1jax.data.tasks import Example

HELDOUT_SEED_OFFSET = 1_000_003
PREFIX = 'rg/'


@functools.lru_cache(maxsize=64)
def dataset(name: str, seed: int, size: int):
  import reasoning_gym  # pylint: disable=g-import-not-at-top
  try:
    return reasoning_gym.create_dataset(name, seed=seed, size=size)
  except (KeyError, ValueError) as e:
    raise ValueError(f'data.rg_tasks: reasoning-gym has no dataset {name!r} ({e})') from None


def load_records(data_config, split: str) -> list[dict]:
  """`Example.to_record()` dicts: data.num_train (or num_heldout) spread over data.rg_tasks."""
  tasks = tuple(data_config.rg_tasks)
  total = int(data_config.num_train if split == 'train' else data_config.num_heldout)
  seed = int(data_config.rg_seed) + (HELDOUT_SEED_OFFSET if split == 'heldout' else 0)
  size = -(-total // len(tasks))
  records = []
  for index in range(size):  # interleaved, so any prefix covers every task
    for name in tasks:
      entry = dataset(name, seed, size)[index]
      records.append(Example(PREFIX + name, entry['question'], str(entry['answer']), '', 0,
                             numbers=(seed, size, index)).to_record())
  return records[:total]


def entry_of(metadata: dict) -> tuple:
  """(dataset, entry) of a record's reward metadata."""
  seed, size, index = (int(x) for x in metadata['numbers'])
  data = dataset(metadata['task'][len(PREFIX):], seed, size)
  return data, data[index]
