"""Real-data TFDS builders on fixture files made here (malformed lines included), split names
from the config, a user's builder module, reasoning-gym records and scorer."""
import json
import os
import sys

import pytest

from configs import common
from r1jax import rewards
from r1jax.data import source
from r1jax.data.tasks import Example
from r1jax.data.tfds_real import parsing

GSM8K = [
    {'question': 'Natalia sold 48 clips in April and half as many in May. How many in total?',
     'answer': 'In May she sold 48/2 = <<48/2=24>>24.\nIn total 48+24 = <<48+24=72>>72.\n#### 72'},
    {'question': 'A shirt costs $1,200 after tax. What was it?', 'answer': 'So 1,200\n#### 1,200'},
    {'question': 'No final answer here', 'answer': 'It is 5.'},              # bad: no ####
    {'answer': 'x\n#### 3'},                                                   # bad: no question
]
MATH = [
    {'problem': 'Compute $\\frac{1}{2}+\\frac{1}{2}$.', 'level': 'Level 1', 'type': 'Prealgebra',
     'solution': 'We get $\\boxed{1}$. Earlier guess \\boxed{2} was wrong... final: $\\boxed{\\frac{2}{2}}$'},
    {'problem': 'Find x.', 'level': 'Level 5', 'type': 'Intermediate Algebra',
     'solution': 'Thus $x = \\boxed{\\{1, 2\\}}$.'},
    {'problem': 'No box', 'level': 'Level 2', 'type': 'Algebra', 'solution': 'x = 3'},  # bad
    {'problem': 'Bad level', 'level': 'hard', 'type': 'Algebra', 'solution': '\\boxed{3}'},  # bad
]


def write_jsonl(path, rows, extra_lines=()):
  with open(path, 'w') as f:
    for row in rows:
      f.write(json.dumps(row) + '\n')
    for line in extra_lines:
      f.write(line + '\n')


def data_config(tmp_path, name, manual, **kw):
  c = common.get_config().data
  c.update(source='tfds', tfds_name=name, tfds_dir=str(tmp_path / 'tfds'), manual_dir=str(manual),
           num_train=100, num_heldout=100, **kw)
  return c


def test_parsers_gold_answers_and_errors():
  assert parsing.parse_gsm8k(GSM8K[0])['answer'] == '72'
  assert '<<' not in parsing.parse_gsm8k(GSM8K[0])['cot']
  assert parsing.parse_gsm8k(GSM8K[1])['answer'] == '1200'
  with pytest.raises(parsing.RecordError, match="answer: no '#### <number>'"):
    parsing.parse_gsm8k(GSM8K[2])
  with pytest.raises(parsing.RecordError, match='question: missing'):
    parsing.parse_gsm8k(GSM8K[3])
  first = parsing.parse_math(MATH[0])
  assert first['answer'] == '\\frac{2}{2}' and first['difficulty'] == 1
  assert first['task'] == 'math/prealgebra'
  assert parsing.parse_math(MATH[1])['answer'] == '\\{1, 2\\}'
  assert parsing.parse_math(MATH[1])['task'] == 'math/intermediate_algebra'
  with pytest.raises(parsing.RecordError, match='solution: no \\\\boxed'):
    parsing.parse_math(MATH[2])
  with pytest.raises(parsing.RecordError, match="level: 'hard'"):
    parsing.parse_math(MATH[3])
  # MATH-500 carries its own answer field
  assert parsing.parse_math({'problem': 'p', 'solution': 's', 'answer': '7', 'level': 2,
                             'subject': 'Geometry'})['task'] == 'math/geometry'
  assert parsing.parse_aime({'problem': 'p', 'answer': '033'})['answer'] == '33'
  with pytest.raises(parsing.RecordError, match='answer: .1000. is not an integer 0..999'):
    parsing.parse_aime({'problem': 'p', 'answer': '1000'})
  assert parsing.last_boxed('a \\boxed{x^{2}} b \\fbox{y}') == 'y'


def test_gsm8k_builder_splits_and_bad_records(tmp_path, capsys):
  manual = tmp_path / 'gsm8k'
  manual.mkdir()
  write_jsonl(manual / 'train.jsonl', GSM8K, extra_lines=['{not json', '[1, 2]'])
  write_jsonl(manual / 'test.jsonl', GSM8K[:1])
  c = data_config(tmp_path, 'r1jax_gsm8k', manual, heldout_split='test')
  train = source.load_records(c, 'train')
  assert [r['answer'] for r in train] == ['72', '1200']
  assert train[0]['task'] == 'gsm8k' and Example.from_record(train[0]).question.startswith('Nat')
  out = capsys.readouterr().out
  assert 'skipped 4 bad record(s) of 6' in out and 'train.jsonl:3: answer' in out
  report = [f for root, _, files in os.walk(tmp_path / 'tfds') for f in files
            if f == 'bad_records.txt']
  assert report
  heldout = source.load_records(c, 'heldout')  # the 'test' split
  assert len(heldout) == 1
  c.heldout_split = 'validation'
  with pytest.raises(ValueError, match=r"no split 'validation' \(it has \['test', 'train'\]\)"):
    source.load_records(c, 'heldout')


def test_math_aime_and_qa_parquet_builders(tmp_path):
  pq = pytest.importorskip('pyarrow.parquet')
  import pyarrow as pa
  manual = tmp_path / 'math'
  manual.mkdir()
  write_jsonl(manual / 'test.jsonl', MATH)
  records = source.load_records(data_config(tmp_path, 'r1jax_math', manual, train_split='test'),
                                'train')
  assert [(r['task'], r['difficulty']) for r in records] == [('math/prealgebra', 1),
                                                             ('math/intermediate_algebra', 5)]
  aime = tmp_path / 'aime'
  aime.mkdir()
  write_jsonl(aime / 'test.jsonl', [{'problem': 'Find N mod 1000.', 'answer': '033', 'year': 2024},
                                    {'problem': 'Too big', 'answer': 1000},      # bad: > 999
                                    {'answer': 5}], extra_lines=['oops'])       # bad: no problem
  records = source.load_records(data_config(tmp_path, 'r1jax_aime', aime, train_split='test'),
                                'train')
  assert [(r['question'], r['answer'], r['task']) for r in records] == [
      ('Find N mod 1000.', '33', 'aime')]
  qa = tmp_path / 'qa'
  qa.mkdir()
  pq.write_table(pa.Table.from_pylist([{'question': 'q1', 'answer': '1', 'task': 'mine'},
                                       {'question': '', 'answer': '2'}]),
                 str(qa / 'train.parquet'))
  records = source.load_records(data_config(tmp_path, 'r1jax_qa', qa), 'train')
  assert [(r['question'], r['answer'], r['task']) for r in records] == [('q1', '1', 'mine')]


def test_user_builder_module_named_in_config(tmp_path, monkeypatch):
  package = tmp_path / 'userpkg'
  package.mkdir()
  (package / '__init__.py').write_text('')
  (package / 'my_data.py').write_text('''
import tensorflow_datasets as tfds
from r1jax.data.tfds_real.builders import _LocalFiles
from r1jax.data.tfds_real.parsing import parse_qa

class MyQa(_LocalFiles):
  def parse(self, obj):
    return parse_qa({'question': obj['q'], 'answer': obj['a'], 'task': 'my_qa'})
''')
  monkeypatch.syspath_prepend(str(tmp_path))
  manual = tmp_path / 'files'
  manual.mkdir()
  write_jsonl(manual / 'dev.jsonl', [{'q': 'What is 2+3?', 'a': '5'}])
  c = data_config(tmp_path, 'my_qa', manual, tfds_module='userpkg.my_data', train_split='dev')
  assert source.load_records(c, 'train')[0]['task'] == 'my_qa'
  sys.modules.pop('userpkg.my_data', None)


def test_build_tfds_by_hand_uses_the_config_defaults(tmp_path):
  """One source of truth: build_tfds(dir) with no settings builds the dataset of
  configs/common.py's data section (its name is a digest of the settings)."""
  from r1jax.data.tfds_synthetic import config_for
  defaults = common.get_config().data
  expected = config_for(defaults.tasks, defaults.difficulties, defaults.seed, 30, 10).name
  assert source.build_tfds(str(tmp_path), num_train=30, num_heldout=10).endswith(expected)
  c = common.get_config().data
  c.update(source='tfds', tfds_dir=str(tmp_path), num_train=30, num_heldout=10)
  synthetic = common.get_config().data
  synthetic.update(num_train=30, num_heldout=10)
  assert source.load_records(c, 'train') == source.load_records(synthetic, 'train')


def test_reasoning_gym_records_and_scorer():
  pytest.importorskip('reasoning_gym')
  c = common.get_config().data
  c.update(source='reasoning_gym', rg_tasks=('leg_counting', 'basic_arithmetic'), num_train=5,
           num_heldout=3)
  train, heldout = source.load_records(c, 'train'), source.load_records(c, 'heldout')
  assert [r['task'] for r in train] == ['rg/leg_counting', 'rg/basic_arithmetic'] * 2 + [
      'rg/leg_counting']
  assert len(heldout) == 3 and heldout[0]['question'] != train[0]['question']
  metadata = [Example.from_record(r).metadata() for r in train]
  right = [f'<think> ok </think> <answer> {r["answer"]} </answer>' for r in train]
  batch = rewards.RewardBatch(completions=right + ['<answer> -1 </answer>', 'no answer'],
                              prompts=['p'] * 7, metadata=metadata + metadata[:2])
  _, per = rewards.compute_rewards(batch, {'reasoning_gym': 1.0, 'accuracy': 1.0})
  assert per['reasoning_gym'].tolist() == [1.0] * 5 + [0.0, 0.0]
  assert per['accuracy'].tolist() == per['reasoning_gym'].tolist()
