"""HFTokenizer (tokenizer.json via `tokenizers`) against transformers.AutoTokenizer, its EOS ids
from generation_config.json, the Qwen chat template, and prompts without a BOS token."""
import numpy as np
import pytest

transformers = pytest.importorskip('transformers')

from r1jax.data import pipeline, templates  # noqa: E402
from r1jax.data.tokenizer import HFTokenizer, load_tokenizer  # noqa: E402
from tests.hf_fixtures import CORPUS, write_tokenizer  # noqa: E402

TEXTS = ['How many clips did Natalia sell altogether?', ' leading space and  two', '',
         'Déjà vu 数学 🙂\ttab', '<|im_start|>user\nhi<|im_end|>\n', 'x <think> a </think> <answer> 7 </answer>',
         'unseen: ZQXJ ~~ ¿¡']


@pytest.fixture(scope='module')
def tok_dir(tmp_path_factory):
  return write_tokenizer(str(tmp_path_factory.mktemp('tok')))


def test_encode_decode_match_transformers(tok_dir):
  ours = HFTokenizer(tok_dir)
  ref = transformers.AutoTokenizer.from_pretrained(tok_dir)
  for text in TEXTS + CORPUS[:5]:
    ids = ours.encode(text)
    assert ids == ref.encode(text, add_special_tokens=False), text
    assert ref.decode(ids) == text
    assert ours.decode(ids) == text.replace('<|im_end|>', '')  # stop ids are dropped
  assert ours.encode_batch(TEXTS) == [ours.encode(t) for t in TEXTS]
  assert ours.vocab_size == len(ref)
  # the R1 tags and ChatML markers are single tokens
  for special in ('<think>', '</answer>', '<|im_start|>', '<|im_end|>'):
    assert len(ours.encode(special)) == 1


def test_special_ids_from_config_files(tok_dir):
  tok = HFTokenizer(tok_dir)
  ref = transformers.AutoTokenizer.from_pretrained(tok_dir)
  im_end, eot = ref.convert_tokens_to_ids(['<|im_end|>', '<|endoftext|>'])
  assert tok.stop_ids == (im_end, eot)  # generation_config.json's list, in order
  assert tok.eos_id == im_end and tok.pad_id == ref.pad_token_id == eot
  assert not tok.add_bos  # Qwen has no BOS token
  # decode drops pad/eos like the SentencePiece tokenizer
  assert tok.decode(tok.encode('7 + 5') + [im_end, eot, eot]) == '7 + 5'


def test_chat_template_matches_transformers(tok_dir):
  tok = HFTokenizer(tok_dir)
  ref = transformers.AutoTokenizer.from_pretrained(tok_dir)
  messages = [{'role': 'system', 'content': 'Be brief.'}, {'role': 'user', 'content': '2+2?'}]
  assert tok.apply_chat_template(messages) == ref.apply_chat_template(
      messages, tokenize=False, add_generation_prompt=True)
  # the built-in 'chatml' template is exactly Qwen's format for one user turn
  user = [{'role': 'user', 'content': 'What is 6 * 7'}]
  assert templates.get_template('chatml').prompt('What is 6 * 7') == ref.apply_chat_template(
      user, tokenize=False, add_generation_prompt=True)


def test_prompts_and_documents_without_bos(tok_dir):
  tok = load_tokenizer(tok_dir)
  assert isinstance(tok, HFTokenizer)
  prompt = templates.get_template('r1_zero').prompt('Compute 7 + 5')
  enc = pipeline.encode_prompts(tok, [prompt, prompt + ' x'], 256)
  ids = tok.encode(prompt)
  row = enc['tokens'][0][enc['mask'][0]]
  assert row.tolist() == ids  # no BOS in front
  docs = pipeline.encode_documents(tok, [(prompt, ' <answer> 12 </answer>')], 320, True)
  n = len(ids)
  assert docs['tokens'][0, :n].tolist() == ids
  assert docs['loss_mask'][0, :n].sum() == 0 and docs['loss_mask'][0, n] == 1
  with pytest.raises(ValueError, match='eval.prompt_len=8'):
    pipeline.encode_prompts(tok, [prompt], 8, field='eval.prompt_len')


def test_save_copies_the_files(tok_dir, tmp_path):
  tok = HFTokenizer(tok_dir)
  tok.save(str(tmp_path / 'copy'))
  again = load_tokenizer(str(tmp_path / 'copy'))
  assert again.stop_ids == tok.stop_ids and again.encode(TEXTS[0]) == tok.encode(TEXTS[0])
  np.testing.assert_equal(again.chat_template, tok.chat_template)
