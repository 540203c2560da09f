"""Table-driven answer equivalence: (gold, prediction, expected)."""

import pytest

from r1jax.rewards import VerifierPool
from r1jax.rewards.math import extract_answer, is_equivalent, normalize_answer, fast_number

CASES = [
    # integers, signs, decimals
    ('42', '42', True), ('42', '42.0', True), ('42', '42.00', True), ('42', '+42', True),
    ('42', '43', False), ('42', '-42', False), ('42', '4.2', False), ('42', '420', False),
    ('-7', '-7', True), ('-7', '−7', True), ('-7', '7', False), ('-7', '-7.0', True),
    ('0', '0', True), ('0', '-0', True), ('0', '0.0', True), ('0', '0.001', False),
    ('3.14', '3.14', True), ('3.14', '3.140', True), ('3.14', '3.1416', False),
    ('0.5', '.5', True), ('0.5', '1/2', True), ('0.5', '0.50', True), ('0.5', '5', False),
    ('0.1', '0.10000001', True), ('0.1', '0.11', False),
    # thousands separators
    ('1000', '1,000', True), ('1000', '1{,}000', True), ('1000', '1\\,000', True),
    ('1234567', '1,234,567', True), ('1000', '1,001', False), ('1000000', '1,000', False),
    ('1234.5', '1,234.5', True), ('12345', '12,34,5', False),
    # fractions
    ('3/4', '3/4', True), ('3/4', '\\frac{3}{4}', True), ('3/4', '\\dfrac{3}{4}', True),
    ('3/4', '\\tfrac34', True), ('3/4', '0.75', True), ('3/4', '6/8', True),
    ('3/4', '4/3', False), ('3/4', '0.7', False), ('3/4', '\\frac{3}{5}', False),
    ('5/3', '\\frac53', True), ('5/3', '1\\frac{2}{3}', True), ('5/3', '1.6667', True),
    ('5/3', '1.666667', True), ('-5/3', '-\\frac{5}{3}', True), ('-5/3', '\\frac{-5}{3}', True),
    ('-5/3', '\\frac{5}{3}', False), ('1/3', '0.333', True), ('1/3', '0.3', False), ('1/3', '0.334', False), ('1/3', '0.3333333', True),
    ('\\frac{1}{2}', '\\frac{2}{4}', True), ('\\frac{1}{2}', '1/2', True),
    ('\\frac{\\sqrt{3}}{2}', '\\sqrt{3}/2', True), ('\\frac{\\sqrt{3}}{2}', '\\frac{3}{2}', False),
    # mixed numbers
    ('2\\frac{1}{2}', '5/2', True), ('2 1/2', '2.5', True), ('2\\frac{1}{2}', '2.5', True),
    ('-2\\frac{1}{2}', '-5/2', True), ('2\\frac{1}{2}', '3/2', False), ('3 1/4', '13/4', True),
    # percentages
    ('50', '50\\%', True), ('50\\%', '50', True), ('50\\%', '50%', True), ('12.5\\%', '12.5', True),
    ('50\\%', '51\\%', False), ('25', '25 percent', True),
    # scientific notation
    ('1000', '1e3', True), ('1000', '1.0E3', True), ('1000', '10^3', True),
    ('1500', '1.5\\times 10^{3}', True), ('1500', '1.5 \\times 10^3', True), ('0.0015', '1.5e-3', True),
    ('1500', '1.5\\times10^{4}', False), ('3\\times 10^8', '300000000', True),
    ('6.02\\times10^{23}', '6.02e23', True),
    # radicals, pi, e
    ('\\sqrt{2}', '\\sqrt{2}', True), ('\\sqrt{2}', '\\sqrt2', True), ('\\sqrt{8}', '2\\sqrt{2}', True),
    ('2\\sqrt{3}', '\\sqrt{12}', True), ('2\\sqrt{3}', '3\\sqrt{2}', False),
    ('\\sqrt{2}', '1.41421356', True), ('\\sqrt{2}', '1.41', True), ('\\sqrt{2}', '1.42', False), ('\\sqrt{2}/2', '1/\\sqrt{2}', True),
    ('\\sqrt[3]{8}', '2', True), ('\\sqrt[3]{27}', '\\sqrt{9}', True), ('\\sqrt[3]{9}', '3', False),
    ('\\pi', '\\pi', True), ('2\\pi', '2 \\pi', True), ('\\frac{\\pi}{2}', '\\pi/2', True),
    ('\\frac{\\pi}{2}', '0.5\\pi', True), ('\\pi', '3.14', True), ('\\pi', '3.15', False), ('\\pi', '3.14159265359', True),
    ('4\\pi', '\\pi4', True), ('\\frac{\\pi}{3}', '\\frac{\\pi}{6}', False), ('\\pi r^2', 'r^2\\pi', True),
    ('3+2\\sqrt{2}', '2\\sqrt{2}+3', True), ('3+2\\sqrt{2}', '(1+\\sqrt{2})^2', True),
    ('3-2\\sqrt{2}', '(1+\\sqrt{2})^2', False), ('e^2', 'e\\cdot e', True), ('\\ln 8', '3\\ln 2', True),
    ('\\sin(\\pi/6)', '1/2', True), ('\\binom{5}{2}', '10', True), ('5!', '120', True), ('2^{10}', '1024', True),
    ('2^{10}', '1000', False), ('|{-3}|', '3', True), ('0', '10^{-50}', False),
    ('(x+y)^{40}', '(x+y)^{40}+1', False), ('e^{i\\pi}', '-1', True),
    # algebraic expressions
    ('x^2+2x+1', '(x+1)^2', True), ('x^2+2x+1', '(x+1)^2+1', False), ('2x', 'x+x', True),
    ('2x', 'x*2', True), ('2x', '2y', False), ('\\frac{x}{2}', '0.5x', True),
    ('a^2-b^2', '(a-b)(a+b)', True), ('a^2-b^2', '(a-b)^2', False), ('x^2-1', 'x^2+1', False),
    ('\\frac{1}{x}', 'x^{-1}', True), ('3x+2y', '2y+3x', True), ('xy', 'yx', True),
    # units, words, x =
    ('5', '5 cm', True), ('5', '5 \\text{ cm}', True), ('5', '\\text{5 inches}', True),
    ('18', '\\$18', True), ('18', '18 dollars', True), ('90', '90^\\circ', True),
    ('90', '90^{\\circ}', True), ('90', '90°', True), ('12', '12 \\text{cm}^2', True),
    ('5', '6 cm', False), ('3', 'x = 3', True), ('3', 'x=3', True), ('-2', 'y = -2', True),
    ('3', 'x = 4', False), ('10', 'The answer is 10', True), ('10', '\\textbf{10}', True),
    ('10', '\\mathrm{10}', True), ('10', '$10$', True), ('10', '\\(10\\)', True),
    ('7', '\\boxed{7}', True), ('7', '7.', True),
    # LaTeX spacing and sizing
    ('\\frac{1}{2}', '\\left(\\frac{1}{2}\\right)', True), ('12', '1\\!2', True),
    ('2\\sqrt{3}', '2 \\, \\sqrt{3}', True), ('10', '\\displaystyle 10', True), ('10', '\\;10\\;', True),
    # tuples, intervals, sets
    ('(1, 2)', '(1,2)', True), ('(1, 2)', '(2, 1)', False), ('(1, 2)', '(1, 2, 3)', False),
    ('(1, 2)', '\\left(1, 2\\right)', True), ('(\\frac{1}{2}, 3)', '(0.5, 3)', True),
    ('(1, 2]', '(1,2]', True), ('(1, 2]', '(1, 2)', False), ('(1, 2]', '[1, 2]', False),
    ('[0, \\infty)', '[0,\\infty)', True), ('(-\\infty, 3)', '(-\\infty,3)', True),
    ('(-\\infty, 3)', '(-\\infty, 3]', False), ('(-\\infty, 0) \\cup (1, \\infty)', '(1, \\infty) \\cup (-\\infty, 0)', True),
    ('\\{1, 2, 3\\}', '\\{3, 2, 1\\}', True), ('\\{1, 2, 3\\}', '\\{1, 2\\}', False),
    ('1, 2, 3', '3, 2, 1', True), ('1, 2', '\\{2, 1\\}', True), ('x=1, y=2', '1, 2', True),
    ('3 \\pm \\sqrt{2}', '3+\\sqrt{2}, 3-\\sqrt{2}', True), ('3 \\pm \\sqrt{2}', '3+\\sqrt{2}', False),
    ('x > 3', 'x>3', True), ('x > 3', '3 < x', True), ('x > 3', 'x \\ge 3', False),
    # several candidates against a single gold: never rewarded (the last box counts)
    ('3', '3, 5', False), ('3', '3 or 5', False), ('3', '3 and 5', False), ('3', '\\boxed{3} \\boxed{5}', False),
    ('3', 'x = 3 or x = 5', False), ('3', '\\{3, 5\\}', False), ('3', '3 \\pm 1', False),
    # text answers
    ('\\text{Monday}', 'Monday', True), ('\\text{(C)}', '(C)', True),
    # garbage
    ('5', '', False), ('5', 'hello', False), ('5', 'None', False), ('5', '\\frac{5}{0}', False),
    ('0', '\\frac{1}{0}', False),
]


@pytest.fixture(scope='module')
def pool():
  p = VerifierPool(num_workers=2, timeout_s=5.0)
  yield p
  p.close()


def test_enough_cases():
  assert len(CASES) >= 150
  assert sum(1 for c in CASES if not c[2]) >= 50   # near-misses


@pytest.mark.parametrize('gold,pred,expected', CASES)
def test_equivalence(pool, gold, pred, expected):
  assert is_equivalent(pred, gold, pool=pool) is expected


@pytest.mark.parametrize('gold,pred,expected', [c for c in CASES if c[2]][::3])
def test_equivalence_is_symmetric(pool, gold, pred, expected):
  assert is_equivalent(gold, pred, pool=pool) is expected


@pytest.mark.parametrize('s,value', [('42', 42), ('-7', -7), ('5/3', '5/3'), ('1,000', 1000),
                                     ('\\frac{3}{4}', '3/4'), ('2.5', '5/2'), ('1e3', 1000)])
def test_common_forms_take_the_fast_path(s, value):
  from fractions import Fraction
  got = fast_number(normalize_answer(s))
  assert got is not None and got[0] == Fraction(value)


@pytest.mark.parametrize('text,source,expected', [
    ('<think> 12 + 5 = 17 </think> <answer> 34 </answer>', 'auto', '34'),
    ('<think>x</think><answer>\\boxed{34}</answer>', 'auto', '34'),
    ('so the answer is \\boxed{\\frac{1}{2}}.', 'auto', '\\frac{1}{2}'),
    ('first \\boxed{3} then \\boxed{3}', 'boxed', '3'),
    # issue 8 class 1: the last answer counts; boxes written together come back together
    ('\\boxed{3} or maybe \\boxed{4}', 'boxed', '\\boxed{3} \\boxed{4}'),
    ('\\boxed{8} wait, that is wrong: recount the cases carefully. \\boxed{6}', 'boxed', '6'),
    ('<answer>3</answer><answer>4</answer>', 'auto', '4'),
    ('<answer>3</answer> and \\boxed{4}', 'boxed', '4'),
    ('<answer>3', 'auto', None), ('no answer here', 'auto', None),
    ('\\boxed{\\frac{1}{2}', 'boxed', None), ('\\boxed 5', 'boxed', '5'),
    ('<think>a</think><answer>7</answer>', 'answer_tag', '7'),
    ('\\boxed{7}', 'answer_tag', None),
    # 'tagged' (the R1 templates): inside the last tag as 'auto' reads it, nothing outside
    ('<think> 4 + 5 = 9 . </think> The answer is 9 .', 'tagged', None),
    ('The answer is 9 .', 'auto', '9'),
    ('<think> x </think> <answer> The total is 18. </answer>', 'tagged', '18'),
    ('<think> x </think> <answer> 7703 </answer> so 12', 'tagged', '7703'),
    ('\\boxed{7}', 'tagged', None),
])
def test_extract_answer(text, source, expected):
  assert extract_answer(text, source) == expected


def test_extract_answer_rejects_unknown_source():
  with pytest.raises(ValueError, match='answer_source'):
    extract_answer('x', 'last_line')
