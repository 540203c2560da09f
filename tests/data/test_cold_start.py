"""Cold-start traces: worked reasoning with a verifying check, in one language, tagged answer;
the filters are counted; the set round-trips through the TFDS array_record dataset."""
from configs import common
from r1jax import evaluate, rewards
from r1jax.data import cold_start, templates
from r1jax.stages import cold_start as cold_start_set
from r1jax.data.tasks import Example, make_examples
from r1jax.data.tasks.languages import localize
from r1jax.rewards.format import format_strict_score

TEMPLATE = templates.get_template('r1_zero')


def test_traces_check_their_answer_and_pass_the_verifiers():
  ex = Example('arithmetic', 'Compute ( 7 + 5 ) * 3', '36', '7 + 5 = 12 . 12 * 3 = 36 .', 3)
  assert cold_start.worked_trace(ex, TEMPLATE) == (   # undone back to the first number
      ' <think> 7 + 5 = 12 . 12 * 3 = 36 . check: 36 / 3 = 12 . 12 - 5 = 7 . </think> '
      '<answer> 36 </answer>')
  assert cold_start.worked_trace(localize(ex, 'zh'), TEMPLATE) == (
      ' <think> 首先 7 + 5 = 12 。 然后 12 * 3 = 36 。 检查 : 36 / 3 = 12 . 12 - 5 = 7 . '
      '</think> <answer> 36 </answer>')
  eq = make_examples(['linear_equation'], 'train', 1, 0, [2])[0]
  check = cold_start.worked_trace(eq, TEMPLATE).split('check:')[1].split('</think>')[0]
  left, right = check.split(':')[1].split(',')
  assert left.split('=')[-1].strip() == right.split('=')[-1].strip(' .')  # both sides agree
  examples = [localize(e, lang) for e in make_examples(
      ['arithmetic', 'linear_equation', 'countdown'], 'train', 30, 0, [1, 2])
              for lang in ('en', 'zh')]
  traces = [cold_start.worked_trace(e, TEMPLATE) for e in examples]
  batch = rewards.RewardBatch(traces, [TEMPLATE.prompt(e.question) for e in examples],
                              [e.metadata() for e in examples])
  _, per = rewards.compute_rewards(batch, {'accuracy': 1.0, 'format': 1.0})
  assert per['accuracy'].min() == 1.0 and per['format'].min() == 1.0
  assert not any(evaluate.mixed_language(t, e.language) for t, e in zip(traces, examples))
  assert all(format_strict_score(t) == 1.0 for t in traces)
  assert all(('检查' in t) == (e.language == 'zh') for t, e in zip(traces, examples))


def _config(num=60):
  config = common.get_config()
  config.data.update(tasks=('arithmetic', 'linear_equation', 'countdown'), difficulties=(1,),
                     languages={'en': 0.5, 'zh': 0.5}, seq_len=190)
  config.train.cold_start_examples = num
  return config


def test_filters_are_counted(tokenizer):
  records, counts = cold_start_set.make_traces(_config(), tokenizer)
  assert counts['generated'] == 60 and counts['kept'] == len(records)
  assert counts['kept'] + sum(v for k, v in counts.items() if k.startswith('dropped_')) == 60
  assert counts['kept/en'] + counts['kept/zh'] == counts['kept']
  assert 0 < counts['dropped_too_long'] < 60   # the R1 preamble + a long trace > 190 tokens
  assert all(2 + len(tokenizer.encode(r['prompt'])) + len(tokenizer.encode(r['completion']))
             <= 190 for r in records)
  heldout = cold_start_set.make_traces(_config(), tokenizer, 'heldout')[0]
  assert not {r['question'] for r in heldout} & {r['question'] for r in records}


def test_written_as_a_tfds_dataset_once(tmp_path, monkeypatch):
  config = _config(num=24)
  name, counts = cold_start_set.build_cold_start(str(tmp_path), config, None)
  records = cold_start.read_records(str(tmp_path), name)
  assert records == cold_start_set.make_traces(config)[0] and len(records) == counts['kept']
  assert list((tmp_path / 'r1jax_cold_start').glob('*/1.0.0/*.array_record*'))
  monkeypatch.setattr(cold_start_set, 'make_traces', None)   # a second call reads, does not build
  assert cold_start_set.build_cold_start(str(tmp_path), config, None) == (name, counts)


def _zero_groups():
  from r1jax.stages import rejection
  record = dict(question='Compute 7 + 5 - 3', task='arithmetic', answer='9', language='en')
  sample = lambda text, correct=1.0, mixed=False: rejection.Sample(
      text=text, answer=None, correct=correct, format=1.0, length=12, truncated=False,
      mixed_language=mixed)
  return [rejection.PromptSamples(record, TEMPLATE.prompt(record['question']), [
      sample('  <think>7 + 5 = 12 .\n  12 - 3 = 9 .</think>\n<answer>9</answer> '),
      sample(' <think> 7 + 5 = 12 . </think> <answer> 8 </answer>', correct=0.0),
      sample(' <think> 7 + 5 = 12 . 然后 12 - 3 = 9 </think> <answer> 9 </answer>', mixed=True),
      sample(' <think> 7 + 5 = 12 . </think> <answer> 9 </answer> so it is 9'),   # text after
  ])]


def test_source_a_keeps_correct_readable_zero_outputs_rewritten():
  config = _config()
  records, counts = cold_start_set.readable_zero_outputs(_zero_groups(), config)
  assert [r['completion'] for r in records] == [
      ' <think> 7 + 5 = 12 . 12 - 3 = 9 . </think> <answer> 9 </answer>']
  assert (counts['zero_sampled'], counts['zero_kept_reasoning'], counts['zero_dropped_incorrect'],
          counts['zero_dropped_mixed_language'], counts['zero_dropped_bad_format']) == (4, 1, 1, 1, 1)


def test_source_a_joins_the_set_once(tmp_path):
  config = _config(num=24)
  calls = []
  zero = ('r1_zero@10', lambda: calls.append(1) or _zero_groups())
  name, counts = cold_start_set.build_cold_start(str(tmp_path), config, None, zero)
  plain = cold_start_set.make_traces(config)[0]
  records = cold_start.read_records(str(tmp_path), name)
  assert records[:len(plain)] == plain and len(records) == len(plain) + 1 == counts['kept']
  assert counts['zero_kept_reasoning'] == 1 and calls == [1]
  assert name != cold_start_set.build_cold_start(str(tmp_path), config, None)[0]   # its own set
  assert cold_start_set.build_cold_start(str(tmp_path), config, None, zero) == (name, counts)
  assert calls == [1]   # built once: the second call reads it
