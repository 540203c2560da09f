"""Datasets that a recipe stage makes (curated prompts, SFT sets, preference pairs), written
once as TFDS array_record datasets under WORKDIR/datasets and read back like any other.

  name = write_dataset(data_dir, 'r1jax_curated_prompts', 'curate_prompts', records,
                       {'question': 'text', 'pass_rate': 'float', 'difficulty': 'int'},
                       report={'kept': 90, 'dropped/hackable': 10})
  records = read_dataset(data_dir, name)     # [{'question': str, 'pass_rate': float, ...}]
  report = read_report(data_dir, 'r1jax_curated_prompts', 'curate_prompts')   # None: not built

Feature kinds: 'text' (str), 'float' (float32), 'int' (int64), 'ints' (a list of int64).
The dataset's config name is the stage name; its report (counts, settings) is written last,
as `<builder name>_reports/<stage>.json`, so its presence means the dataset is complete and
a resumed stage reads it instead of sampling again.
"""
import functools
import json
import os

import numpy as np

KINDS = ('text', 'float', 'int', 'ints')


def _feature(kind: str):
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  if kind == 'text':
    return tfds.features.Text()
  if kind == 'float':
    return tfds.features.Scalar(np.float32)
  if kind == 'int':
    return tfds.features.Scalar(np.int64)
  if kind == 'ints':
    return tfds.features.Sequence(tfds.features.Scalar(np.int64))
  raise ValueError(f'feature kind {kind!r}; use one of {KINDS}')


@functools.cache
def builder_class(dataset_name: str, features: tuple):
  """A TFDS builder named `dataset_name` whose records are passed in (defined on first use: importing
  TFDS is slow). `features` is a tuple of (field, kind) pairs."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  class StageDataset(tfds.core.GeneratorBasedBuilder):
    """Records made by an r1jax recipe stage."""
    name = dataset_name  # registered under this name when the class is made
    VERSION = tfds.core.Version('1.0.0')

    def __init__(self, *, records=(), **kwargs):
      self._records = list(records)
      super().__init__(**kwargs)

    def _info(self):
      return self.dataset_info_from_configs(
          features=tfds.features.FeaturesDict({k: _feature(v) for k, v in features}),
          supervised_keys=None, disable_shuffling=True)

    def _split_generators(self, dl_manager):
      del dl_manager  # made in memory
      return {'train': self._generate_examples()}

    def _generate_examples(self):  # pylint: disable=arguments-differ
      yield from enumerate(self._records)

  return StageDataset


def _report_path(data_dir: str, name: str, stage: str) -> str:
  return os.path.join(data_dir, f'{name}_reports', f'{stage}.json')


def read_report(data_dir: str, name: str, stage: str) -> dict | None:
  """The report of dataset `name` built by `stage` (None while it is not complete)."""
  path = _report_path(data_dir, name, stage)
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


def write_dataset(data_dir: str, name: str, stage: str, records: list[dict], features: dict,
                  report: dict) -> str | None:
  """Writes `records` as dataset `name`/`stage` under `data_dir` and then its report (with
  the dataset name and features added); returns the name for `read_dataset`. With no
  records only the report is written (its 'dataset' is None) and None is returned."""
  import jax  # pylint: disable=g-import-not-at-top
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  features = dict(features)
  missing = set(features) - set(records[0]) if records else set()
  if missing:
    raise ValueError(f'{name}: records lack the fields {sorted(missing)}')
  full = f'{name}/{stage}' if records else None
  if jax.process_index() == 0:
    if records:
      builder_class(name, tuple(features.items()))(records=[{k: r[k] for k in features} for r in records], data_dir=data_dir,
          file_format='array_record', config=tfds.core.BuilderConfig(
              name=stage, version='1.0.0', description=f'made by stage {stage}')
          ).download_and_prepare()
    path = _report_path(data_dir, name, stage)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:  # written last: its presence means the dataset is complete
      json.dump({'dataset': full, 'features': features, **report}, f, indent=1)
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
    multihost_utils.sync_global_devices(f'stage dataset {full}')
  return full


def read_dataset(data_dir: str, full_name: str) -> list[dict]:
  """Every record of a dataset made by `write_dataset`, with str / float / int / list values."""
  name, stage = full_name.split('/')
  report = read_report(data_dir, name, stage)
  if report is None:
    raise ValueError(f'{full_name} is not in {data_dir} (no report); run stage {stage!r} first')
  return read_records(data_dir, full_name, report['features'])


def read_records(data_dir: str, full_name: str, kinds: dict) -> list[dict]:
  """Every record of dataset `full_name` ('<builder name>/<config name>') under `data_dir`,
  whose fields have the feature `kinds` ({field: kind}), as Python values."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  builder_class(full_name.split('/')[0], tuple(kinds.items()))  # registered: TFDS finds it
  source = tfds.data_source(full_name, data_dir=data_dir, split='train', download=False,
                            builder_kwargs={'file_format': 'array_record'})
  convert = {'text': lambda v: v.decode('utf-8') if isinstance(v, bytes) else str(v),
             'float': float, 'int': int, 'ints': lambda v: [int(x) for x in v]}
  return [{k: convert[kinds[k]](v) for k, v in source[i].items()} for i in range(len(source))]
