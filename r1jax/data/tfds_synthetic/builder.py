"""`r1jax_synthetic`: the synthetic task records as a TFDS dataset with 'train'/'heldout' splits.

One builder config per generation setting (tasks, difficulties, seed, sizes); its name is a
digest of those settings, so datasets built with different settings never share a directory.
Features are `Example.to_record()`: task, question, answer, cot (text), difficulty, target
(int64) and numbers (Sequence of int64).
"""

import dataclasses
import hashlib
import json
from typing import Sequence

import numpy as np
import tensorflow_datasets as tfds

from r1jax.data.tasks import make_examples


@dataclasses.dataclass(eq=False)
class SyntheticConfig(tfds.core.BuilderConfig):
  tasks: tuple[str, ...] = ('arithmetic', 'countdown', 'linear_equation')
  difficulties: tuple[int, ...] = (1, 2, 3)
  seed: int = 0
  num_train: int = 20000
  num_heldout: int = 1000


def config_for(tasks: Sequence[str], difficulties: Sequence[int], seed: int, num_train: int,
               num_heldout: int) -> SyntheticConfig:
  """The config for these settings, named by a digest of them."""
  settings = dict(tasks=list(tasks), difficulties=[int(d) for d in difficulties], seed=int(seed),
                  num_train=int(num_train), num_heldout=int(num_heldout))
  digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
  return SyntheticConfig(name=f'cfg_{digest}', version='1.0.0', description=json.dumps(settings),
                         tasks=tuple(settings['tasks']),
                         difficulties=tuple(settings['difficulties']), seed=settings['seed'],
                         num_train=settings['num_train'], num_heldout=settings['num_heldout'])


class R1jaxSynthetic(tfds.core.GeneratorBasedBuilder):
  """Synthetic reasoning problems with gold answers and worked chain-of-thought traces."""

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Arithmetic, countdown and linear equations.'}
  BUILDER_CONFIGS = [config_for(('arithmetic', 'countdown', 'linear_equation'), (1, 2, 3), 0,
                                20000, 1000)]

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({
            'task': tfds.features.Text(),
            'question': tfds.features.Text(),
            'answer': tfds.features.Text(),
            'cot': tfds.features.Text(),
            'difficulty': np.int64,
            'numbers': tfds.features.Sequence(np.int64),
            'target': np.int64,
        }),
        supervised_keys=None,
        disable_shuffling=True)  # keep generation order: TFDS records == in-memory records

  def _split_generators(self, dl_manager):
    del dl_manager  # generated, nothing to download
    return {'train': self._generate_examples('train', self.builder_config.num_train),
            'heldout': self._generate_examples('heldout', self.builder_config.num_heldout)}

  def _generate_examples(self, split: str, num: int):
    cfg = self.builder_config
    examples = make_examples(cfg.tasks, split, num, cfg.seed, cfg.difficulties)
    for i, ex in enumerate(examples):
      record = ex.to_record()
      del record['language']  # English here; data.languages applies on loading (source.py)
      yield i, record
