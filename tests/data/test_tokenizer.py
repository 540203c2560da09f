"""Tokenizer: round trip, special tokens, deterministic training, save/load, exact vocab size."""

import pytest

from r1jax.data.corpus import tokenizer_corpus
from r1jax.data.tasks import make_examples
from r1jax.data.templates import TAGS, get_template
from r1jax.data.tokenizer import Tokenizer, load_or_train_tokenizer, train_tokenizer


@pytest.fixture
def lines(tokenizer_lines):
  return tokenizer_lines


@pytest.fixture
def tok(tokenizer):
  return tokenizer


def test_special_ids_and_vocab_size(tok):
  assert (tok.pad_id, tok.bos_id, tok.eos_id, tok.unk_id) == (0, 1, 2, 3)
  assert tok.vocab_size == 512
  ids = [tok.think_id, tok.think_close_id, tok.answer_id, tok.answer_close_id]
  assert [tok.id_to_piece(i) for i in ids] == list(TAGS)


def test_tags_are_single_pieces(tok):
  for tag in TAGS:
    assert len(tok.encode(tag)) == 1
  ids = tok.encode(get_template('r1_zero').completion('7 + 5 = 12 .', '12'))
  assert ids.count(tok.think_id) == ids.count(tok.answer_close_id) == 1


def test_digits_are_single_pieces(tok):
  pieces = [tok.id_to_piece(i) for i in tok.encode('12345 + 678')]
  assert [p for p in pieces if any(c.isdigit() for c in p)] == list('12345678')


@pytest.mark.parametrize('text', [
    'Compute ( 12 + 5 ) * 3 - 9', ' <think> x = -9 / 7 . </think> <answer> -9/7 </answer>',
    'User: Using the numbers 3, 5, 7, make 22\nAssistant:', '  two  spaces, ünïcödé ∑ 🙂 {}'])
def test_round_trip(tok, text):
  assert tok.decode(tok.encode(text)) == text


def test_decode_skips_pad_bos_eos(tok):
  ids = tok.encode('Compute 7 + 5')
  assert tok.decode([tok.bos_id] + ids + [tok.eos_id, tok.pad_id, tok.pad_id]) == 'Compute 7 + 5'
  assert tok.encode_batch(['a b', 'Compute 7']) == [tok.encode('a b'), tok.encode('Compute 7')]


def test_training_is_deterministic(lines, tok):
  again = train_tokenizer(lines, 512)
  assert again.model_proto == tok.model_proto
  text = 'Solve for x: 3 x + 4 = 9'
  assert again.encode(text) == tok.encode(text)


def test_save_and_load(tok, tmp_path):
  tok.save(str(tmp_path))
  loaded = Tokenizer.load(str(tmp_path))
  assert loaded.model_proto == tok.model_proto and loaded.vocab_size == 512
  with pytest.raises(FileNotFoundError):
    Tokenizer.load(str(tmp_path / 'missing'))


def test_small_corpus_still_gives_exact_vocab_size():
  small = tokenizer_corpus(make_examples(['arithmetic'], 'train', 5, 0, [1]))
  assert train_tokenizer(small, 1024).vocab_size == 1024
  with pytest.raises(ValueError, match='model.vocab_size'):
    train_tokenizer(small, 100)


def test_load_or_train_reuses_the_saved_model(lines, tmp_path):
  first = load_or_train_tokenizer(str(tmp_path), 512, lambda: lines)
  again = load_or_train_tokenizer(str(tmp_path), 512, lambda: pytest.fail('retrained'))
  assert again.model_proto == first.model_proto
  with pytest.raises(ValueError, match='model.vocab_size=600'):
    load_or_train_tokenizer(str(tmp_path), 600, lambda: lines)


def test_number_pieces_are_single_tokens(tokenizer_lines):
  from r1jax.data.tokenizer import train_tokenizer
  tok = train_tokenizer(tokenizer_lines, 768, number_pieces=100)
  for text in (' 17', '17', ' 99', ' 0'):
    assert len(tok.encode(text)) == 1, (text, [tok.id_to_piece(i) for i in tok.encode(text)])
  pieces = [tok.id_to_piece(i) for i in tok.encode('12 + 130 = -7/3')]
  assert pieces[:3] == ['12', '▁+', '▁13']  # 130 splits greedily
  assert tok.decode(tok.encode('12 + 130 = -7/3')) == '12 + 130 = -7/3'
