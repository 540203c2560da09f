"""Answer forms of real R1/MATH/GSM8K outputs (issue 8), one test per class.

Each row is (gold, completion, expected); the completion goes through `extract_answer`
and `is_equivalent` exactly as `math_accuracy` uses them. Negatives must stay 0.
"""

import pytest

from r1jax.rewards import VerifierPool
from r1jax.rewards.math import extract_answer, is_equivalent, verify_batch


@pytest.fixture(scope='module')
def pool():
  p = VerifierPool(num_workers=2, timeout_s=5.0)
  yield p
  p.close()


def _check(pool, rows):
  preds = [extract_answer(c) for _, c, _ in rows]
  got = verify_batch(preds, [g for g, _, _ in rows], pool=pool)
  wrong = [(g, c[-80:], preds[i], e) for i, ((g, c, e), ok) in enumerate(zip(rows, got))
           if bool(ok) != e]
  assert not wrong, wrong


SELF_CORRECTION = [
    ('6', 'So the count is \\boxed{8}. Wait, that double counts the corner. Recounting '
          'the cases gives \\boxed{6}.', True),
    ('8', 'So the count is \\boxed{8}. Wait, that double counts the corner. Recounting '
          'the cases gives \\boxed{6}.', False),          # right first box, wrong last box
    ('6', '<think>\\boxed{8}? no.</think> <answer>8</answer> hmm <answer>6</answer>', True),
    ('8', '<think>x</think> <answer>8</answer> hmm <answer>6</answer>', False),
    ('3', 'The answer is \\boxed{3 \\text{ or } 5}.', False),   # hedging inside one answer
    ('3', 'The answer is \\boxed{3 or 5}', False),
    ('3', '\\boxed{3, 5}', False),
    ('5', 'so x = \\boxed{5}. Final check: 2 \\cdot 5 = 10. \\boxed{5}', True),
    ('-2', 'First \\boxed{-2}, then after rechecking the sign: ... ... so the final value '
           'is \\boxed{-2}', True),
    ('12', ' '.join(f'Step {i}: \\boxed{{{i}}}.' for i in range(40)) + ' Total: \\boxed{12}', True),
    ('39', ' '.join(f'Step {i}: \\boxed{{{i}}}.' for i in range(40)) + ' Total: \\boxed{12}', False),
]

NO_BOX = [
    ('42', 'We add them up. The answer is \\( 42 \\).', True),
    ('42', 'Final answer: \\[ 42 \\]', True),
    ('42', 'Therefore the final answer is\n\\[\n42\n\\]', True),
    ('42', 'So the answer is $$42$$', True),
    ('42', 'Hence the answer is $42$.', True),
    ('7', 'Final Answer: The smallest $k$ is 7.', True),
    ('7', 'Final Answer: The final answer is $7$. I hope it is correct.', True),
    ('\\frac{1}{2}', 'So the probability is $\\frac{1}{2}$.', True),
    ('18', 'Janet sells 16 - 3 - 4 = 9 eggs and makes 9 * 2 = 18 dollars.\n#### 18', True),
    ('18', 'She makes $9 \\times 2 = 18$ dollars a day. The answer is 18.', True),
    ('12', 'There are 12 distinct sequences that meet the conditions.', True),
    ('7', 'Final Answer: The smallest $k$ is 8.', False),
    ('42', 'The answer is \\( 41 \\).', False),
    ('42', 'I could not finish this problem.', False),
]

NUMBERS = [
    ('12500', '\\boxed{12 500}', True), ('4096000', '\\boxed{4,\\! 096,\\! 000}', True),
    ('4096000', '\\boxed{4\\,096\\,000}', True), ('1234567', '\\boxed{1\\,234\\,567}', True),
    ('12.75', '\\boxed{12,75}', True), ('0.25', '\\boxed{0,25}', True),
    ('3.14', '\\boxed{3,14}', True), ('12.75', '\\boxed{12,76}', False),
    ('1000', '\\boxed{1,000}', True), ('1000', '\\boxed{1 000}', True),
    ('25', '\\boxed{25 €}', True), ('25', '\\boxed{€25}', True), ('25', '\\boxed{\\$25}', True),
    ('25', '\\boxed{25\\text{ m}^2}', True), ('25', '\\boxed{25 m²}', True),
    ('25', '\\boxed{25 \\text{cm}}', True), ('25', '\\boxed{25cm}', True),
    ('25', '\\boxed{26 cm}', False), ('5', '\\boxed{5x}', False),
    ('0.4', '\\boxed{40\\%}', True), ('40\\%', '\\boxed{0.4}', True),
    ('40\\%', '\\boxed{40}', True), ('40', '\\boxed{40\\%}', True),
    ('0.4', '\\boxed{4\\%}', False), ('0.28', '\\boxed{28}', False),
    ('\\frac{1}{3}', '\\boxed{\\cfrac{1}{3}}', True), ('\\frac{1}{3}', '\\boxed{\\dfrac13}', True),
    ('\\text{No}', '\\boxed{no}', True), ('no', '\\boxed{\\text{NO}}', True),
    ('\\text{Yes}', '\\boxed{\\text{No}}', False), ('\\text{(C)}', '\\boxed{C}', True),
    ('\\frac13', '\\boxed{0.\\overline{3}}', True), ('\\frac{4}{11}', '\\boxed{0.\\overline{36}}', True),
    ('\\frac14', '\\boxed{0.\\overline{3}}', False), ('(-\\infty,\\infty)', '\\boxed{\\text{All real numbers}}', True),
    ('42', '\\boxed{+42}', True), ('1.5\\times10^{3}', '\\boxed{1500}', True),
    ('90^\\circ', '\\boxed{90}', True), ('90', '\\boxed{90^{\\circ}}', True),
    ('5', '\\boxed{5\\text{ inches}.}', True), ('5', '\\boxed{\\displaystyle 5}', True),
]

RELATIONS = [
    ('x \\geq 5', '\\boxed{x \\ge 5}', True), ('x \\le 5', '\\boxed{x <= 5}', True),
    ('x \\neq 5', '\\boxed{x \\ne 5}', True), ('x < 5', '\\boxed{x \\lt 5}', True),
    ('x > 5', '\\boxed{x \\gt 5}', True), ('x \\ge 5', '\\boxed{x ≥ 5}', True),
    ('x \\le 5', '\\boxed{x ≤ 5}', True), ('x \\ne 5', '\\boxed{x ≠ 5}', True),
    ('x != 5', '\\boxed{x \\neq 5}', True), ('x >= 5', '\\boxed{5 \\leq x}', True),
    ('y \\ge -4', '\\boxed{-y \\le 4}', True), ('y \\ge -4', '\\boxed{-y \\ge 4}', False),
    ('2x > 4', '\\boxed{x > 2}', True), ('x > 5', '\\boxed{x < 5}', False),
    ('x \\ge 5', '\\boxed{x > 5}', False),
    ('1 < t \\le 5', '\\boxed{t \\in (1,5]}', True), ('1 < t \\le 5', '\\boxed{(1, 5]}', True),
    ('(1, 5]', '\\boxed{1 < t \\leq 5}', True), ('(1, 5]', '\\boxed{1 < t < 5}', False),
    ('(2,3)', '\\boxed{2 < g(x) < 3}', True), ('[3, \\infty)', '\\boxed{x \\geq 3}', True),
    ('(-\\infty, 1)', '\\boxed{x < 1}', True), ('(-\\infty, 1)', '\\boxed{x \\le 1}', False),
    ('(-\\infty, -2) \\cup (3, \\infty)', '\\boxed{x < -2 \\text{ or } x > 3}', True),
    ('-2 \\le x \\le 7', '\\boxed{x \\in [-2,7]}', True),
]

EQUATIONS = [
    ('6', '\\boxed{y = 2 \\cdot 3 = 6}', True), ('11', '\\boxed{x = 5+5+1 = 11}', True),
    ('11', '\\boxed{x \\approx 11}', True), ('\\frac{1}{3}', '\\boxed{x = \\frac13 \\approx 0.33}', True),
    ('3x-6y+9=0', '\\boxed{y=\\frac{x}{2}+\\frac32}', True),
    ('y=\\frac{x}{2}+\\frac32', '\\boxed{3x-6y+9=0}', True),
    ('3x-6y+9=0', '\\boxed{y=\\frac{x}{2}-\\frac32}', False),
    ('x^2+y^2=4', '\\boxed{2x^2+2y^2-8=0}', True),
    ('(5,1)', '\\boxed{(a,b)=(5,1)}', True), ('(5,1)', '\\boxed{(a,b)=(1,5)}', False),
    ('6, 2', '\\boxed{PQ=6, RS=2}', True), ('9', '\\boxed{h(t)=9}', True),
    ('3:8', '\\boxed{S_1:S_2=3:8}', True), ('3:8', '\\boxed{8:3}', False),
    ('5', '\\boxed{AB = 5}', True), ('5', '\\boxed{x_1 = 5}', True),
    ('7 = 11a+c', '\\boxed{11a+c}', False), ('2x+z=1', '\\boxed{1}', False),
]

SEVERAL = [
    ('\\{1, 3\\}', '\\boxed{3, 1}', True), ('1 and 2', '\\boxed{2, 1}', True),
    ('1, 2', 'The integers are \\boxed{1} and \\boxed{2}.', True),
    ('\\boxed{1}\\boxed{2}', '\\boxed{1,2}', True),
    ('1, -2', 'the roots are $\\boxed{-2}$ and $\\boxed{1}$', True),
    ('1, 3', '\\boxed{1 \\text{ and } 3}', True), ('1, 3', '\\boxed{\\{1,3\\}}', True),
    ('1, 3', '\\boxed{x = 1 \\text{ or } x = 3}', True),
    ('(1,2), (3,4)', '\\boxed{(3,4), (1,2)}', True), ('(1,2), (3,4)', '\\boxed{(4,3), (1,2)}', False),
    ('1, 3', '\\boxed{1, 2}', False), ('1, 3', '\\boxed{1}', False),
    ('3', 'The integers are \\boxed{3} and \\boxed{5}.', False),
    ('3', '\\boxed{\\{3, 5\\}}', False),
]

SYMBOLIC = [
    ('\\cos^2 x', '\\boxed{1 - \\sin^2 x}', True), ('\\cos^2 x', '\\boxed{1 + \\sin^2 x}', False),
    ('\\sec^2 y', '\\boxed{\\tan^2 y + 1}', True), ('\\log_2 8', '\\boxed{3}', True),
    ('\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}', '\\boxed{\\begin{bmatrix} 1 & 2 \\\\ 3 & 4 \\end{bmatrix}}', True),
    ('\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}', '\\boxed{\\begin{pmatrix} 1 & 2 \\\\ 3 & 5 \\end{pmatrix}}', False),
    ('\\begin{pmatrix} \\frac12 \\\\ 2 \\end{pmatrix}', '\\boxed{\\begin{pmatrix} 0.5 \\\\ 2 \\end{pmatrix}}', True),
    ('\\frac23', '\\boxed{0.67}', True), ('\\frac23', '\\boxed{0.667}', True),
    ('\\frac23', '\\boxed{0.66}', False), ('\\frac13', '\\boxed{0.3}', False),
    ('[\\frac14, \\frac43)', '\\boxed{[0.25, 1.3333)}', True),
    ('[\\frac14, \\frac43)', '\\boxed{[0.25, 1.3333]}', False),
    ('\\sqrt{2}', '\\boxed{1.414}', True), ('2\\pi', '\\boxed{6.28}', True),
    ('\\frac{\\sqrt{3}}{2}', '\\boxed{\\frac{1}{2}\\sqrt3}', True),
    ('ab', '\\boxed{ba}', True), ('\\alpha + \\beta', '\\boxed{\\beta+\\alpha}', True),
    ('f(x) = x^2', '\\boxed{f(x)=x^2}', True), ('\\emptyset', '\\boxed{\\varnothing}', True),
    ('3 \\pm \\sqrt{5}', '\\boxed{3+\\sqrt5, 3-\\sqrt5}', True),
    ('\\pm 2', '\\boxed{2, -2}', True),
]


@pytest.mark.parametrize('rows', [SELF_CORRECTION], ids=['self_correction'])
def test_last_answer_counts(pool, rows):
  _check(pool, rows)


def test_answers_without_a_box(pool):
  _check(pool, NO_BOX)


def test_numbers_as_people_write_them(pool):
  _check(pool, NUMBERS)


def test_relations_and_intervals(pool):
  _check(pool, RELATIONS)


def test_equations_and_labels(pool):
  _check(pool, EQUATIONS)


def test_several_answers(pool):
  _check(pool, SEVERAL)


def test_symbolic_and_numeric(pool):
  _check(pool, SYMBOLIC)


def test_single_gold_rejects_a_list_of_candidates(pool):
  for pred in ('3, 5', '3 or 5', '3 and 5', '\\{3, 5\\}', 'x = 3 or x = 5'):
    assert not is_equivalent(pred, '3', pool=pool)
