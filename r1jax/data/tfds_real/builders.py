"""TFDS builders (array_record, no TensorFlow) over files in `manual_dir`.

Every file `<split>.jsonl` (or .json / .parquet) in manual_dir becomes the split `<split>`
(`train`, `test`, `validation`, ...). Bad records are skipped, counted per split and listed in
`<data_dir>/.../bad_records.txt`; the builder prints the count.

  python -c "from r1jax.data import source; from configs import common; \\
    c = common.get_config().data; c.update(source='tfds', tfds_name='r1jax_gsm8k', \\
    tfds_dir='/abs/tfds', manual_dir='/abs/gsm8k'); print(len(source.load_records(c, 'train')))"
"""
import glob
import os

import numpy as np
import tensorflow_datasets as tfds

from r1jax.data.tfds_real.parsing import (RecordError, parse_aime, parse_gsm8k, parse_math,
                                          parse_qa, read_file)

PARSERS = {'r1jax_gsm8k': parse_gsm8k, 'r1jax_math': parse_math, 'r1jax_aime': parse_aime,
           'r1jax_qa': parse_qa}
EXTENSIONS = ('.jsonl', '.json', '.parquet')


class _LocalFiles(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Shared body: splits from the files of manual_dir, records through `parse`."""

  VERSION = tfds.core.Version('1.0.0')
  MANUAL_DOWNLOAD_INSTRUCTIONS = ('Put <split>.jsonl files (e.g. train.jsonl, test.jsonl) in '
                                  'data.manual_dir.')

  def parse(self, obj):
    raise NotImplementedError

  def _info(self):
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({
            'task': tfds.features.Text(), 'question': tfds.features.Text(),
            'answer': tfds.features.Text(), 'cot': tfds.features.Text(),
            'difficulty': np.int64, 'numbers': tfds.features.Sequence(np.int64),
            'target': np.int64}),
        disable_shuffling=True)

  def _split_generators(self, dl_manager):
    files = sorted(f for f in glob.glob(os.path.join(dl_manager.manual_dir, '*'))
                   if f.endswith(EXTENSIONS))
    if not files:
      raise FileNotFoundError(f'no {"/".join(EXTENSIONS)} files in {dl_manager.manual_dir} '
                              '(data.manual_dir); name them <split>.jsonl')
    return {os.path.basename(f).rsplit('.', 1)[0].replace('-', '_'): self._generate_examples(f)
            for f in files}

  def _generate_examples(self, path):
    good, bad = read_file(path, self.parse)
    if bad:
      report = os.path.join(self.data_dir, 'bad_records.txt')
      os.makedirs(self.data_dir, exist_ok=True)
      with open(report, 'a') as f:
        f.write('\n'.join(bad) + '\n')
      print(f'[{self.name}] {os.path.basename(path)}: skipped {len(bad)} bad record(s) of '
            f'{len(good) + len(bad)}, e.g. {bad[0]} (all in {report})')
    if not good:
      raise ValueError(f'{path}: no usable record; first problem: {bad[0] if bad else "empty"}')
    for line, record in good:
      record.pop('language', None)  # not a stored feature; data.languages applies on loading
      yield line, record


class R1jaxGsm8k(_LocalFiles):
  """GSM8K jsonl ({'question', 'answer': '... #### 72'})."""

  def parse(self, obj):
    return parse_gsm8k(obj)


class R1jaxMath(_LocalFiles):
  """MATH / MATH-500 jsonl ({'problem', 'solution', 'level', 'type'})."""

  def parse(self, obj):
    return parse_math(obj)


class R1jaxAime(_LocalFiles):
  """AIME-style jsonl ({'problem', 'answer'})."""

  def parse(self, obj):
    return parse_aime(obj)


class R1jaxQa(_LocalFiles):
  """A user's question/answer data (.jsonl, .json or .parquet)."""

  def parse(self, obj):
    return parse_qa(obj)


__all__ = ['PARSERS', 'R1jaxAime', 'R1jaxGsm8k', 'R1jaxMath', 'R1jaxQa', 'RecordError',
           'read_file']
