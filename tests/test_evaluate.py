"""maj@k, pass@k and per-task/per-level metrics against hand-computed values."""
import numpy as np
import pytest

from r1jax import evaluate


def test_pass_at_k_unbiased_estimator_by_hand():
  assert evaluate.pass_at_k(4, 0, 2) == 0.0
  assert evaluate.pass_at_k(4, 3, 2) == 1.0            # any 2 of 4 include a correct one
  assert evaluate.pass_at_k(4, 1, 2) == pytest.approx(0.5)   # 1 - C(3,2)/C(4,2) = 1 - 3/6
  assert evaluate.pass_at_k(5, 2, 2) == pytest.approx(0.7)   # 1 - C(3,2)/C(5,2) = 1 - 3/10
  assert evaluate.pass_at_k(3, 1, 1) == pytest.approx(1 / 3)
  with pytest.raises(ValueError, match='eval.num_samples'):
    evaluate.pass_at_k(2, 1, 3)


def test_majority_ties_and_unanswered():
  # tie 2-2 between '3' and '4': the first seen ('4', wrong) wins
  assert evaluate.majority_correct(['4', '3', '3', '4'], np.array([0, 1, 1, 0.])) == 0.0
  assert evaluate.majority_correct(['3', '4', '4', '3'], np.array([1, 0, 0, 1.])) == 1.0
  # unanswered samples do not vote: one '5' beats three Nones
  assert evaluate.majority_correct([None, None, '5', None], np.array([0, 0, 1, 0.])) == 1.0
  assert evaluate.majority_correct([None, None], np.array([0, 0.])) == 0.0


def test_maj_at_k_when_k_does_not_divide_the_samples():
  answers = ['1', '2', '2', '1', '1', '9', '7']     # n = 7, k = 3: blocks [0:3], [3:6]; 6 left out
  correct = np.array([1, 0, 0, 1, 1, 0, 0.])
  # block 1: '2' wins (2 votes) -> 0; block 2: '1' wins -> 1; mean 0.5
  assert evaluate.maj_at_k(answers, correct, 3) == 0.5


def test_summarize_by_hand():
  records = [dict(task='gsm8k', difficulty=0), dict(task='math/algebra', difficulty=3),
             dict(task='math/algebra', difficulty=5)]
  correct = np.array([[1, 0, 1, 0], [0, 0, 0, 0], [1, 1, 1, 0.]])
  answers = [['72', '70', '72', None], [None, None, None, None], ['x', 'x', 'x', 'y']]
  out = evaluate.summarize(correct, answers, records, k=2)
  assert out['accuracy'] == pytest.approx((0.5 + 0 + 0.75) / 3)
  # maj@2 blocks: p0 [72,70] tie -> '72' right, [72,None] -> right: 1; p1: 0; p2 [x,x] 1, [x,y] 1
  assert out['maj@2'] == pytest.approx((1 + 0 + 1) / 3)
  # pass@2: p0 n=4 c=2 -> 1 - C(2,2)/C(4,2) = 5/6; p1 0; p2 c=3 -> 1
  assert out['pass@2'] == pytest.approx((5 / 6 + 0 + 1) / 3)
  assert out['accuracy/gsm8k'] == 0.5
  assert out['accuracy/math/algebra'] == pytest.approx(0.375)
  assert out['accuracy/level0'] == 0.5 and out['accuracy/level3'] == 0.0
  assert out['accuracy/level5'] == 0.75


def test_markdown_table():
  text = evaluate.markdown_table({'eval/accuracy': 0.5, 'eval/maj@4': 0.25}, 'T')
  assert '| accuracy | 0.5000 |' in text and '| maj@4 | 0.2500 |' in text
