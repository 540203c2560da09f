"""Where task records come from: the in-memory generator or a TFDS dataset on disk.

  records = load_records(config.data, 'train')     # list of Example.to_record() dicts
  examples = [Example.from_record(r) for r in records]

  data.source='synthetic'  generate in memory (make_examples)
  data.source='tfds'       read tfds.data_source(data.tfds_name, data_dir=data.tfds_dir) in the
                           array_record format (no TensorFlow needed). For the synthetic builder
                           (data.tfds_name='r1jax_synthetic') the dataset for the current data.*
                           settings is built first if missing:
    python -c "from r1jax.data.source import build_tfds; print(build_tfds('/abs/tfds_dir'))"
"""

import os
from typing import Any, Sequence

from r1jax.data.tasks import SPLITS, Example, make_examples
from r1jax.data.tasks.languages import assign_languages

SYNTHETIC_TFDS_NAME = 'r1jax_synthetic'


def _num(data_config, split: str) -> int:
  return int(data_config.num_train if split == 'train' else data_config.num_heldout)


def build_tfds(data_dir: str, tasks: Sequence[str] = ('arithmetic', 'countdown', 'linear_equation'),
               difficulties: Sequence[int] = (1, 2, 3), seed: int = 0, num_train: int = 20000,
               num_heldout: int = 1000) -> str:
  """Builds (if missing) the synthetic TFDS dataset under `data_dir`; returns its full name.

  The name, 'r1jax_synthetic/cfg_<digest of the settings>', is what `tfds.data_source` reads.
  """
  from r1jax.data.tfds_synthetic import R1jaxSynthetic, config_for  # imports TFDS lazily
  config = config_for(tasks, difficulties, seed, num_train, num_heldout)
  builder = R1jaxSynthetic(data_dir=os.path.abspath(data_dir), config=config,
                           file_format='array_record')
  builder.download_and_prepare()
  return f'{SYNTHETIC_TFDS_NAME}/{config.name}'


def clean_records(raw, where: str) -> tuple[list[dict[str, Any]], dict[str, int]]:
  """Records that can be used, and how many of each kind were skipped: a record without an
  answer ('missing answer') or with text that is not UTF-8 ('not UTF-8'). The skips are
  reported on the console; none are dropped silently."""
  from r1jax import metrics  # pylint: disable=g-import-not-at-top
  records, skipped = [], {'missing answer': 0, 'not UTF-8': 0}
  for item in raw:
    try:
      example = Example.from_record(item)
    except UnicodeDecodeError:
      skipped['not UTF-8'] += 1
      continue
    except KeyError:
      skipped['missing answer' if 'answer' not in item else 'not UTF-8'] += 1
      continue
    if not example.answer.strip():
      skipped['missing answer'] += 1
      continue
    records.append(example.to_record())
  if any(skipped.values()):
    detail = ', '.join(f'{n} {why}' for why, n in skipped.items() if n)
    metrics.note(f'[data] {where}: skipped {sum(skipped.values())} of {len(records) + sum(skipped.values())} '
                 f'records ({detail})')
  if not records:
    raise ValueError(f'{where}: no usable records ({skipped})')
  return records, skipped


def _read_tfds(name: str, data_dir: str, split: str) -> list[dict[str, Any]]:
  import tensorflow_datasets as tfds
  source = tfds.data_source(name, data_dir=data_dir, split=split, download=True,
                            builder_kwargs={'file_format': 'array_record'})
  return clean_records((source[i] for i in range(len(source))), f'{name} {split}')[0]


def load_records(data_config, split: str) -> list[dict[str, Any]]:
  """`Example.to_record()` dicts for `split` ('train' or 'heldout') as `data_config` says.

  Reads data.source, data.tasks, data.difficulties, data.seed, data.num_train, data.num_heldout,
  and for TFDS data.tfds_name and data.tfds_dir. TFDS records are truncated to the first
  data.num_train / data.num_heldout. Questions are then phrased in the languages of
  data.languages ({language: probability}; the record's `language` field says which).
  """
  records = _load_english_records(data_config, split)
  languages = getattr(data_config, 'languages', None) or {'en': 1.0}
  if set(languages) == {'en'}:
    return records
  examples = assign_languages([Example.from_record(r) for r in records], languages,
                              int(data_config.seed))
  return [ex.to_record() for ex in examples]


def _load_english_records(data_config, split: str) -> list[dict[str, Any]]:
  if split not in SPLITS:
    raise ValueError(f'split must be one of {SPLITS}, got {split!r}')
  source = data_config.source
  if source == 'synthetic':
    examples = make_examples(tuple(data_config.tasks), split, _num(data_config, split),
                             int(data_config.seed), tuple(data_config.difficulties))
    return [ex.to_record() for ex in examples]
  if source != 'tfds':
    raise ValueError(f"data.source={source!r}; use 'synthetic' or 'tfds'")
  if not data_config.tfds_dir:
    raise ValueError("data.source='tfds' needs data.tfds_dir (a directory for TFDS datasets)")
  data_dir = os.path.abspath(os.path.expanduser(data_config.tfds_dir))
  name = data_config.tfds_name
  if name == SYNTHETIC_TFDS_NAME:
    name = build_tfds(data_dir, tuple(data_config.tasks), tuple(data_config.difficulties),
                      int(data_config.seed), int(data_config.num_train),
                      int(data_config.num_heldout))
  elif name.split('/')[0] == SYNTHETIC_TFDS_NAME:
    import r1jax.data.tfds_synthetic  # noqa: F401  (registers the builder)
  return _read_tfds(name, data_dir, split)[:_num(data_config, split)]
