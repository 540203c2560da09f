"""Where task records come from: the in-memory generator or a TFDS dataset on disk.

  records = load_records(config.data, 'train')     # list of Example.to_record() dicts
  examples = [Example.from_record(r) for r in records]

  data.source='synthetic'  generate in memory (make_examples)
  data.source='reasoning_gym'  procedural tasks of the reasoning-gym package (data.rg_tasks)
  data.source='tfds'       read tfds.data_source(data.tfds_name, data_dir=data.tfds_dir) in the
                           array_record format (no TensorFlow needed). For the synthetic builder
                           (data.tfds_name='r1jax_synthetic') the dataset for the current data.*
                           settings is built first if missing:
    python -c "from r1jax.data.source import build_tfds; print(build_tfds('/abs/tfds_dir'))"
                           Real datasets: data.tfds_name='r1jax_gsm8k' | 'r1jax_math' |
                           'r1jax_aime' | 'r1jax_qa' built from the files in data.manual_dir
                           (r1jax/data/tfds_real), or a user's builder registered by importing
                           data.tfds_module. data.train_split / data.heldout_split name the
                           splits read for 'train' and 'heldout' (GSM8K: 'train' / 'test').
"""

import importlib
import os
from typing import Any, Sequence

from r1jax.data.tasks import SPLITS, Example, make_examples
from r1jax.config import ConfigError, _defaults, require
from r1jax.data.tasks.languages import assign_languages, normalised_probs

SYNTHETIC_TFDS_NAME = 'r1jax_synthetic'
REAL_TFDS_NAMES = ('r1jax_gsm8k', 'r1jax_math', 'r1jax_aime', 'r1jax_qa')


def _num(data_config, split: str) -> int:
  return int(data_config.num_train if split == 'train' else data_config.num_heldout)


def default_data_config():
  """config.data of configs/common.py: the one place dataset defaults live."""
  return _defaults().data


def build_tfds(data_dir: str, tasks: Sequence[str] | None = None,
               difficulties: Sequence[int] | None = None, seed: int | None = None,
               num_train: int | None = None, num_heldout: int | None = None,
               data_config=None) -> str:
  """Builds (if missing) the synthetic TFDS dataset under `data_dir`; returns its full name.

  Settings not given come from `data_config` (default: configs/common.py's config.data), so a
  dataset built by hand is the one a `data.source='tfds'` run with the same config reads.
  The name, 'r1jax_synthetic/cfg_<digest of the settings>', is what `tfds.data_source` reads.
  """
  from r1jax.data.tfds_synthetic import R1jaxSynthetic, config_for  # imports TFDS lazily
  d = data_config if data_config is not None else default_data_config()
  pick = lambda value, field: getattr(d, field) if value is None else value
  config = config_for(tuple(pick(tasks, 'tasks')), tuple(pick(difficulties, 'difficulties')),
                      int(pick(seed, 'seed')), int(pick(num_train, 'num_train')),
                      int(pick(num_heldout, 'num_heldout')))
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


def _read_tfds(name: str, data_dir: str, split: str, manual_dir: str = '') -> list[dict[str, Any]]:
  import tensorflow_datasets as tfds
  kwargs = {}
  if manual_dir:
    kwargs['download_and_prepare_kwargs'] = {'download_config': tfds.download.DownloadConfig(
        manual_dir=os.path.abspath(os.path.expanduser(manual_dir)))}
  builder = tfds.builder(name, data_dir=data_dir, file_format='array_record')
  splits = set(builder.info.splits.keys()) if builder.is_prepared() else None
  if splits is not None and split not in splits:
    raise ValueError(f'dataset {name} has no split {split!r} (it has {sorted(splits)}); set '
                     'data.train_split / data.heldout_split')
  source = tfds.data_source(name, data_dir=data_dir, split=split, download=True,
                            builder_kwargs={'file_format': 'array_record'}, **kwargs)
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
  if source == 'reasoning_gym':
    from r1jax.data import reasoning_gym  # pylint: disable=g-import-not-at-top
    return reasoning_gym.load_records(data_config, split)
  if source != 'tfds':
    raise ValueError(f"data.source={source!r}; use 'synthetic', 'tfds' or 'reasoning_gym'")
  if not data_config.tfds_dir:
    raise ValueError("data.source='tfds' needs data.tfds_dir (a directory for TFDS datasets)")
  data_dir = os.path.abspath(os.path.expanduser(data_config.tfds_dir))
  name = data_config.tfds_name
  if getattr(data_config, 'tfds_module', ''):  # a user's builder: importing it registers it
    importlib.import_module(data_config.tfds_module)
  if name == SYNTHETIC_TFDS_NAME:
    name = build_tfds(data_dir, data_config=data_config)
  elif name.split('/')[0] == SYNTHETIC_TFDS_NAME:
    import r1jax.data.tfds_synthetic  # noqa: F401  (registers the builder)
  elif name.split('/')[0] in REAL_TFDS_NAMES:
    import r1jax.data.tfds_real  # noqa: F401  (registers the builders)
  split_name = getattr(data_config, f'{split}_split', split)
  return _read_tfds(name, data_dir, split_name,
                    getattr(data_config, 'manual_dir', ''))[:_num(data_config, split)]


def validate_config(config) -> None:
  """config.data: the source and what it needs, sizes, the language mix."""
  d = config.data
  require(d.source in ('synthetic', 'tfds', 'reasoning_gym'),
          f"data.source={d.source!r}: use 'synthetic', 'tfds' or 'reasoning_gym'")
  require(d.source != 'reasoning_gym' or len(d.rg_tasks) > 0,
          "data.source='reasoning_gym' needs data.rg_tasks (reasoning-gym dataset names)")
  require(d.source != 'tfds' or d.tfds_dir,
          "data.source='tfds' needs data.tfds_dir (the directory the builder wrote)")
  require(d.num_train > 0 and d.num_heldout > 0,
          'data.num_train and data.num_heldout must be positive')
  try:
    normalised_probs(d.languages)
  except ValueError as e:
    raise ConfigError(str(e)) from None
  require(0 <= d.language_switch_prob <= 1,
          f'data.language_switch_prob={d.language_switch_prob} must be in [0, 1]')
