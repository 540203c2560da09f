"""The substrate check: each column-arithmetic mode forced by its opening words, greedy, with
intervals by level; a stage that writes a report, no params, and is skipped once finished."""
import json
import os

import numpy as np
import pytest

from conftest import make_tiny_config
from r1jax import main, stats
from r1jax.data import corpus, templates
from r1jax.data.tasks import make_examples
from r1jax.stages import substrate

R1 = templates.get_template('r1_zero')


def test_each_prefix_opens_its_mode_and_is_read_back():
  ex = make_examples(['add'], 'train', 1, 0, [2])[0]
  for mode in substrate.MODES:
    prefix = substrate.mode_prefix(R1, mode)
    completion = corpus.column_completion(ex, R1, mode)[0]
    assert completion.startswith(prefix), (mode, prefix)
    assert substrate.opened_mode(completion, R1) == mode
    # forced fine work ends its steps with running results, and its answer is the last one's
    assert (' now ' in completion) == (mode in ('fine', 'check')), mode
    if mode in ('fine', 'check'):
      last = completion.split(' . so ')[0].rsplit(' now ', 1)[1].split()
      assert ''.join(last).lstrip('0') == ex.answer, (mode, completion)
  assert substrate.opened_mode(' The answer is 9 .', R1) == 'other'
  assert substrate.opened_mode(' <think> 7 + 2 = 9 . </think>', R1) == 'other'


def test_rows_are_bootstrap_intervals_by_level():
  correct = np.array([1, 0, 1, 1, 0, 0], np.float32)
  levels = np.array([1, 1, 1, 2, 2, 2])
  row = substrate._row(correct, levels, np.array([10, 20, 30, 40, 50, 60]))
  assert row['all'] == stats.bootstrap_ci(correct)
  assert row['level1'] == stats.bootstrap_ci(correct[:3]) and row['level1'][0] == pytest.approx(2 / 3)
  assert row['level2'][0] == pytest.approx(1 / 3) and row['length'] == 35.0


@pytest.mark.slow
def test_the_stage_reports_every_mode_and_is_skipped_when_done(tmp_path):
  config = make_tiny_config(steps=2)
  config.stages = ('pretrain', 'substrate_check')
  config.data.update(tasks=('add', 'sub'), difficulties=(1, 2), number_pieces=10, seq_len=480,
                     tokenizer_examples=200)
  config.data.mode_probs = {'direct': 0.5, 'fine': 0.3, 'check': 0.1, 'slip': 0.1}
  config.eval.update(num_prompts=8, num_samples=1, temperature=0.0, max_new_tokens=8,
                     prompt_len=112)
  workdir = str(tmp_path)
  results = main.run(config, workdir)
  table = results['substrate_check']
  assert set(table['modes']) == set(substrate.MODES) and table['prompts'] == 8
  assert table['levels'] == [1, 2]
  assert sum(table['free_modes'].values()) == pytest.approx(1.0)
  saved = json.load(open(os.path.join(workdir, 'reports', 'substrate_check.json')))
  assert saved['modes']['fine']['all'] == list(table['modes']['fine']['all'])
  text = open(os.path.join(workdir, 'reports', 'substrate_check.md')).read()
  assert '| check |' in text and '| unforced |' in text and 'level2' in text
  assert '| direct |' in open(os.path.join(workdir, 'reports', 'pipeline.md')).read()
  again = main.run(config, workdir)   # finished: skipped, no params of its own
  assert type(again['substrate_check']).__name__ == 'Finished'


def test_the_stage_refuses_other_tasks():
  config = make_tiny_config()
  with pytest.raises(ValueError, match='column-arithmetic'):
    substrate.mode_table(config, None, None, None, None)
