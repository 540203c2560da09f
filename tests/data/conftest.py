import pytest

from r1jax.data.corpus import tokenizer_corpus
from r1jax.data.tasks import TASKS, make_examples
from r1jax.data.tokenizer import train_tokenizer


@pytest.fixture(scope='session')
def tokenizer_lines():
  return tokenizer_corpus(make_examples(sorted(TASKS), 'train', 600, 0, [1, 2, 3]))


@pytest.fixture(scope='session')
def tokenizer(tokenizer_lines):
  return train_tokenizer(tokenizer_lines, 512)
