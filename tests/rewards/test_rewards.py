"""Registry, compute_rewards and the non-math rewards."""


import ml_collections
import numpy as np
import pytest

from r1jax import rewards
from r1jax.rewards import RewardBatch, compute_rewards, get_reward
from r1jax.rewards.countdown import countdown_score, evaluate_arithmetic
from r1jax.rewards.format import format_soft_score, format_strict_score
from r1jax.rewards.language import language_consistency_score
from r1jax.rewards.length import dapo_overlong_penalty, kimi_length_penalty
from r1jax.rewards.math import verify_batch


def _batch(completions, metadata, group_size=1, prompts=None, **kw):
  prompts = prompts or ['Q? Assistant:'] * len(completions)
  return RewardBatch(completions, prompts, metadata, group_size, **kw)


def test_registry_has_the_documented_names():
  assert set(rewards.REWARDS) >= {'math_accuracy', 'countdown', 'accuracy', 'format',
                                  'format_soft', 'language_consistency', 'code',
                                  'length_penalty', 'overlong_penalty'}


def test_unknown_reward_names_the_known_ones():
  with pytest.raises(ValueError, match=r"'acuracy'.*accuracy.*format"):
    get_reward('acuracy')
  with pytest.raises(ValueError, match='acuracy'):
    compute_rewards(_batch(['x'], [{'answer': '1'}]), {'acuracy': 1.0})


def test_batch_validates_lengths():
  with pytest.raises(ValueError, match='one prompt and one metadata'):
    RewardBatch(['a', 'b'], ['p'], [{}, {}])
  with pytest.raises(ValueError, match='group_size=3'):
    RewardBatch(['a', 'b'], ['p', 'p'], [{}, {}], group_size=3)


def test_compute_rewards_weighted_sum_with_configdict():
  completions = ['<think> 12 + 5 = 17. 17 * 2 = 34. </think> <answer> 34 </answer>',
                 ' <think>hm</think><answer>35</answer>\n',
                 'the answer is 34']
  batch = _batch(completions, [{'task': 'arithmetic', 'answer': '34'}] * 3)
  weights = ml_collections.ConfigDict({'accuracy': 1.0, 'format': 0.5})
  total, per = compute_rewards(batch, weights)
  # 'the answer is 34' without a box or tag is an answer (issue 8, class 2); format is 0
  np.testing.assert_array_equal(per['accuracy'], [1, 0, 1])
  np.testing.assert_array_equal(per['format'], [1, 1, 0])
  np.testing.assert_array_equal(total, [1.5, 0.5, 1.0])
  assert total.dtype == np.float32 and per['format'].dtype == np.float32


def test_accuracy_dispatches_by_task():
  completions = ['<answer>(3 + 5) * 2</answer>', '<answer>16</answer>', '<answer>5/3</answer>',
                 '<answer>```python\nprint(int(input()) * 2)\n```</answer>']
  metadata = [{'task': 'countdown', 'numbers': [3, 5, 2], 'target': 16, 'answer': '16'},
              {'task': 'countdown', 'numbers': [3, 5, 2], 'target': 16, 'answer': '16'},
              {'task': 'linear_equation', 'answer': '\\frac{5}{3}'},
              {'task': 'code', 'tests': [{'input': '4', 'output': '8'},
                                         {'input': '5', 'output': '11'}]}]
  acc = get_reward('accuracy')(_batch(completions, metadata))
  np.testing.assert_array_equal(acc, [1.0, 0.0, 1.0, 0.5])


@pytest.mark.parametrize('text,strict,soft', [
    ('<think> a </think> <answer> 3 </answer>', 1.0, 1.0),
    ('\n  <think>a</think>\n<answer>3</answer>  \n', 1.0, 1.0),
    ('<think>a</think><answer></answer>', 0.0, 1.0),
    ('<think>a</think><answer>3</answer> trailing words', 0.0, 1.0),
    ('preamble <think>a</think><answer>3</answer>', 0.0, 1.0),
    ('<think>a<think>b</think><answer>3</answer>', 0.0, 0.75),
    ('<answer>3</answer><think>a</think>', 0.0, 0.5),
    ('<think>a</think>', 0.0, 0.5),
    ('<think>a</think><answer>3</answer><answer>4</answer>', 0.0, 0.5),
    ('just 3', 0.0, 0.0),
])
def test_format_scores(text, strict, soft):
  assert format_strict_score(text) == strict
  assert format_soft_score(text) == soft


def test_format_accepts_think_tag_in_prompt():
  batch = _batch(['a </think> <answer> 3 </answer>'], [{}], prompts=['Q Assistant: <think>'])
  assert get_reward('format')(batch)[0] == 1.0


@pytest.mark.parametrize('text,language,expected', [
    ('<think>first add the numbers then double</think>', 'en', 1.0),
    ('<think>先把数字相加</think>', 'zh', 1.0),
    ('<think>先把数字相加</think>', 'en', 0.0),
    ('<think>add 数字</think>', 'en', 0.5 / 1.5),  # 1 English word, 2 Han characters
    ('<think>12 + 5 = 17</think>', 'en', 1.0),
    ('<think>we add сложим</think><answer>3</answer> 中文中文中文', 'en', 2 / 3),
    ('no think block', 'en', 0.0),
    # a lone ASCII letter is a variable, not a word of either language
    ('<think>解方程 , 求 x : 3 x + 1 = 7 , x = 2</think>', 'zh', 1.0),
    ('<think>求x 3x</think>', 'zh', 1.0),
    ('<think>solve for x : 3x + 1 = 7</think>', 'en', 1.0),
    ('<think>solve 解 x</think>', 'en', 0.5),
])
def test_language_consistency(text, language, expected):
  assert language_consistency_score(text, language) == pytest.approx(expected)


def test_language_consistency_reads_think_tag_in_prompt():
  completions = ['add them, 数字 </think> <answer> 3 </answer>', 'add them </think>']
  opened = _batch(completions, [{}, {}], prompts=['Q Assistant: <think>'] * 2)
  np.testing.assert_allclose(get_reward('language_consistency')(opened), [2 / 4, 1.0])  # 2 Han chars
  plain = _batch(completions, [{}, {}])   # no <think> anywhere: no chain of thought
  np.testing.assert_array_equal(get_reward('language_consistency')(plain), [0.0, 0.0])


@pytest.mark.parametrize('answer,numbers,target,mode,expected', [
    ('(3 + 5) * 2', [3, 5, 2], 16, 'exactly', 1.0),
    ('(3+5)*2 = 16', [3, 5, 2], 16, 'exactly', 1.0),
    ('(3+5)*2 = 17', [3, 5, 2], 16, 'exactly', 0.0),
    ('3 * 5 + 2', [3, 5, 2], 16, 'exactly', 0.0),      # 17
    ('8 * 2', [3, 5, 2], 16, 'exactly', 0.0),          # 8 not given
    ('(3 + 5) * 2', [3, 5, 2, 7], 16, 'exactly', 0.0),  # 7 unused
    ('(3 + 5) * 2', [3, 5, 2, 7], 16, 'at_most', 1.0),
    ('(3 + 5) * 2 * 2', [3, 5, 2], 32, 'at_most', 0.0),  # 2 used twice
    ('6 / 4 * 2 + 1', [6, 4, 2, 1], 4, 'exactly', 1.0),  # exact fractions
    ('6 / (4 - 4)', [6, 4, 4], 0, 'exactly', 0.0),
    ('-3 + 5', [3, 5], 2, 'exactly', 0.0),             # no unary minus
    ("__import__('os')", [3], 3, 'exactly', 0.0),
    ('(' * 1000 + '3' + ')' * 1000, [3], 3, 'exactly', 0.0),
    ('9**9**9', [9, 9, 9], 0, 'exactly', 0.0),
    (None, [3], 3, 'exactly', 0.0),
    ('3 \\times 4', [3, 4], 12, 'exactly', 1.0),
])
def test_countdown(answer, numbers, target, mode, expected):
  assert countdown_score(answer, numbers, target, mode) == expected


def test_arithmetic_parser_is_exact():
  value, literals = evaluate_arithmetic('1/3 + 2/3')
  assert value == 1 and literals == [1, 3, 2, 3]


def test_kimi_length_penalty_hand_computed():
  # One group of 4: lengths 10, 20, 30, 50 -> min 10, max 50, span 40.
  # lambda = 0.5 - (len - 10)/40 = [0.5, 0.25, 0.0, -0.5]
  # correct = [T, F, T, F] -> [0.5, min(0, 0.25)=0, 0.0, -0.5]
  # Second group: all length 7 -> 0.
  lengths = np.array([10, 20, 30, 50, 7, 7, 7, 7])
  correct = np.array([1, 0, 1, 0, 1, 0, 1, 0], bool)
  got = kimi_length_penalty(lengths, correct, group_size=4)
  np.testing.assert_allclose(got, [0.5, 0.0, 0.0, -0.5, 0, 0, 0, 0])
  assert got.dtype == np.float32


def test_length_penalty_reward_uses_accuracy_and_token_lengths():
  completions = ['<answer>4</answer>', '<answer>4</answer>', '<answer>5</answer>',
                 '<answer>5</answer>']
  batch = _batch(completions, [{'answer': '4'}] * 4, group_size=4,
                 completion_lens=np.array([100, 300, 100, 500]))
  # lambda = 0.5 - (len-100)/400 = [0.5, 0, 0.5, -0.5]; correct = [T, T, F, F]
  np.testing.assert_allclose(get_reward('length_penalty')(batch), [0.5, 0.0, 0.0, -0.5])
  total, _ = compute_rewards(batch, {'length_penalty': 1.0}, overlong_buffer=4)
  np.testing.assert_allclose(total, [0.5, 0.0, 0.0, -0.5])


def test_dapo_overlong_penalty():
  # max 100, buffer 20: 0 up to 80, linear to -1 at 100, -1 beyond.
  got = dapo_overlong_penalty(np.array([10, 80, 85, 90, 100, 101]), 100, 20)
  np.testing.assert_allclose(got, [0, 0, -0.25, -0.5, -1, -1])
  batch = _batch(['a'] * 2, [{}] * 2, completion_lens=np.array([50, 95]),
                 max_completion_len=100)
  np.testing.assert_allclose(compute_rewards(batch, {'overlong_penalty': 2.0},
                                             overlong_buffer=20)[0], [0, -1.5])
  with pytest.raises(ValueError, match='completion_lens'):
    get_reward('overlong_penalty')(_batch(['a'], [{}]))


def test_common_answers_take_the_fast_path_not_the_sympy_pool():
  forms = ['42', '-7', '5/3', '3.5', '1,000', '\\frac{3}{4}', '0', '-12']
  preds = [f'<think>x</think><answer> {forms[i % 8]} </answer>' for i in range(256)]
  golds = [forms[i % 8] if i % 2 else forms[(i + 1) % 8] for i in range(256)]   # half right
  batch = _batch(preds, [{'answer': g} for g in golds])

  class NoPool:
    def check(self, pairs):
      raise AssertionError(f'slow path used for {pairs[:3]}')

  values = get_reward('math_accuracy')(batch, pool=NoPool())   # no timed assertion: NoPool
  assert values.sum() == 128                                    # proves the path taken


def test_verify_batch_deduplicates_slow_pairs():
  class CountingPool:
    def __init__(self):
      self.pairs = []

    def check(self, pairs):
      self.pairs += pairs
      return [True] * len(pairs)

  pool = CountingPool()
  out = verify_batch(['\\sqrt{2}'] * 10 + ['2'], ['\\sqrt{2}+0'] * 10 + ['2'], pool=pool)
  assert out.all() and len(pool.pairs) == 1


def test_slow_path_without_a_pool_uses_the_default_pool():
  from r1jax.rewards.math import is_equivalent
  assert is_equivalent('\\sqrt{8}', '2\\sqrt{2}')
  assert not is_equivalent('\\sqrt{8}', '3\\sqrt{2}')


def test_r1_templates_read_the_answer_tag_only():
  """The R1 templates' rule reward (and the evaluation) credits an answer inside the tags only;
  the chat template keeps the broad reading."""
  from r1jax import evaluate
  from r1jax.data import templates
  meta = {'task': 'arithmetic', 'answer': '9', 'difficulty': 1, 'numbers': (), 'target': 0,
          'language': 'en'}
  texts = [' <think> 4 + 5 = 9 . </think> <answer> 9 </answer>', ' The answer is 9 .',
           ' <think> 4 + 5 = 9 . </think> The answer is 9 .']
  records = [dict(meta, question='Compute 4 + 5', cot='')]
  for name, expected in (('r1_zero', [1, 0, 0]), ('chatml_r1', [1, 0, 0]), ('chat', [1, 1, 1])):
    source = templates.get_template(name).answer_source
    accuracy, _ = evaluate.score_completions(texts, ['q'], records, 3, answer_source=source)
    assert accuracy.tolist() == expected, name


def test_column_tasks_take_the_exact_integer_only():
  """'3 4' is 12 to a math verifier (a product); on the digit tasks it is wrong."""
  meta = lambda gold: {'task': 'add', 'answer': gold, 'difficulty': 1}
  texts = ['<answer> 7703 </answer>', '<answer> 07703 </answer>', '<answer> 7 7 0 3 </answer>',
           '<answer> 3 4 </answer>', '<answer> 7704 </answer>', '<answer> 7,703 </answer>']
  golds = ['7703', '7703', '7703', '12', '7703', '7703']
  batch = RewardBatch(texts, [''] * 6, [meta(g) for g in golds])
  assert get_reward('accuracy')(batch, answer_source='tagged').tolist() == [1, 1, 0, 0, 0, 0]
