import pytest

from r1jax.data.corpus import tokenizer_corpus
from r1jax.data.tasks import make_examples
from r1jax.data.tokenizer import train_tokenizer


# The tasks whose texts the data tests encode: the column tasks (r1jax/data/tasks/columns.py)
# would shift the pieces and so the row lengths those tests were sized for.
ENCODED_TASKS = ('arithmetic', 'countdown', 'linear_equation')


@pytest.fixture(scope='session')
def tokenizer_lines():
  return tokenizer_corpus(make_examples(ENCODED_TASKS, 'train', 600, 0, [1, 2, 3]))


@pytest.fixture(scope='session')
def tokenizer(tokenizer_lines):
  return train_tokenizer(tokenizer_lines, 512)
