"""SentencePiece tokenizer with the R1 template tags as single pieces.

  tok = train_tokenizer(lines, vocab_size=512, out_dir=workdir)   # deterministic, ~1 s
  tok = load_or_train_tokenizer(workdir, 512, lambda: lines)       # reloads on resume
  ids = tok.encode('Compute 7 + 5')                               # no BOS/EOS added
  tok.decode([tok.bos_id] + ids + [tok.eos_id]) == 'Compute 7 + 5'

Ids: pad 0, bos 1, eos 2, unk 3, then the tags `<think>` `</think>` `<answer>` `</answer>`.
Digits are split into single pieces, unseen characters fall back to bytes, and text is not
normalised (identity rule, whitespace kept), so decode(encode(text)) == text for any text.

Imported Hugging Face models bring their own tokenizer (`HFTokenizer`, same interface):

  tok = HFTokenizer('/ckpt/Qwen2.5-1.5B')     # tokenizer.json (+ tokenizer_config.json,
                                               #   generation_config.json for the EOS ids)
  tok.stop_ids                                 # every EOS id the sampler stops on
  tok = load_tokenizer(workdir + '/tokenizer')   # whichever kind was saved there
"""

import io
import json
import os
import shutil
from typing import Callable, Iterable

import sentencepiece as spm

from r1jax.data.templates import TAGS

MODEL_FILE = 'tokenizer.model'
PAD_ID, BOS_ID, EOS_ID, UNK_ID = 0, 1, 2, 3


class Tokenizer:
  """Thin wrapper over a SentencePieceProcessor; encode/decode never add or keep BOS/EOS/PAD."""

  def __init__(self, model_proto: bytes):
    self.model_proto = model_proto
    self.sp = spm.SentencePieceProcessor(model_proto=model_proto)
    self.pad_id, self.bos_id, self.eos_id = self.sp.pad_id(), self.sp.bos_id(), self.sp.eos_id()
    self.unk_id = self.sp.unk_id()
    if (self.pad_id, self.bos_id, self.eos_id, self.unk_id) != (PAD_ID, BOS_ID, EOS_ID, UNK_ID):
      raise ValueError('tokenizer model has unexpected special ids; retrain with train_tokenizer')
    self.think_id, self.think_close_id, self.answer_id, self.answer_close_id = (
        self.sp.piece_to_id(tag) for tag in TAGS)
    self._skip = {self.pad_id, self.bos_id, self.eos_id}

  add_bos = True  # prompts and documents start with bos_id

  @property
  def stop_ids(self) -> tuple[int, ...]:
    return (self.eos_id,)

  @property
  def vocab_size(self) -> int:
    return self.sp.get_piece_size()

  def encode(self, text: str) -> list[int]:
    return self.sp.encode(text)

  def encode_batch(self, texts: list[str]) -> list[list[int]]:
    return self.sp.encode(list(texts))

  def decode(self, ids: Iterable[int]) -> str:
    """Text of `ids`, skipping pad/bos/eos (it does not stop at EOS)."""
    return self.sp.decode([int(i) for i in ids if int(i) not in self._skip])

  def id_to_piece(self, i: int) -> str:
    return self.sp.id_to_piece(int(i))

  def save(self, directory: str) -> str:
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, MODEL_FILE)
    with open(path, 'wb') as f:
      f.write(self.model_proto)
    return path

  @classmethod
  def load(cls, directory: str) -> 'Tokenizer':
    path = os.path.join(directory, MODEL_FILE)
    if not os.path.exists(path):
      raise FileNotFoundError(f'No tokenizer at {path}; train one with train_tokenizer')
    with open(path, 'rb') as f:
      return cls(f.read())


def _train(lines: list[str], vocab_size: int, symbols: list[str], hard_limit: bool) -> bytes:
  model = io.BytesIO()
  spm.SentencePieceTrainer.train(
      sentence_iterator=iter(lines), model_writer=model, vocab_size=vocab_size,
      model_type='bpe', character_coverage=1.0, byte_fallback=True, split_digits=True,
      add_dummy_prefix=False, remove_extra_whitespaces=False, normalization_rule_name='identity',
      user_defined_symbols=symbols, pad_id=PAD_ID, bos_id=BOS_ID, eos_id=EOS_ID, unk_id=UNK_ID,
      # determinism: one thread, every sentence, no shuffling, fixed seed sampling size
      num_threads=1, input_sentence_size=0, shuffle_input_sentence=False,
      seed_sentencepiece_size=1_000_000, hard_vocab_limit=hard_limit,
      max_sentence_length=1 << 16, minloglevel=2)
  return model.getvalue()


def train_tokenizer(texts: Iterable[str], vocab_size: int, out_dir: str | None = None,
                    number_pieces: int = 0) -> Tokenizer:
  """Train deterministically on `texts` (same lines -> same pieces and ids); save to `out_dir`.

  The model has exactly `vocab_size` pieces so the embedding table matches the config. When the
  corpus is too uniform to fill the vocabulary, the remainder is filled with `<unused_k>` pieces.
  `number_pieces` = n makes the integers 0..n-1 single pieces, with or without the space before
  them (larger numbers split greedily, '123' -> '12' '3'); 0 keeps one piece per digit. A tiny model learns arithmetic far faster
  when copying a number is copying one token.
  """
  lines = [line for text in texts for line in text.split('\n') if line]
  # ' 17' and '17' (after '-' or '/'): one piece each; 0-9 are characters already
  symbols = (list(TAGS) + ['\u2581' + str(i) for i in range(number_pieces)]
             + [str(i) for i in range(10, number_pieces)])
  reserved = 4 + len(symbols) + 256  # specials, tags, numbers, byte-fallback pieces
  if vocab_size < reserved + 16:
    raise ValueError(f'model.vocab_size={vocab_size} is too small: the specials, tags, number '
                     f'pieces and 256 byte pieces alone take {reserved}; use at least '
                     f'{reserved + 16} (or fewer data.number_pieces)')
  proto = _train(lines, vocab_size, symbols, hard_limit=False)
  size = spm.SentencePieceProcessor(model_proto=proto).get_piece_size()
  if size < vocab_size:
    # Retrain with fillers in place of the pieces the corpus could not supply.
    fillers = [f'<unused_{k}>' for k in range(vocab_size - size)]
    proto = _train(lines, vocab_size, symbols + fillers, hard_limit=False)
    size = spm.SentencePieceProcessor(model_proto=proto).get_piece_size()
  if size != vocab_size:
    raise ValueError(f'SentencePiece produced {size} pieces, model.vocab_size={vocab_size}; '
                     f'use a larger/more varied corpus or model.vocab_size={size}')
  tok = Tokenizer(proto)
  if out_dir is not None:
    tok.save(out_dir)
  return tok


def load_or_train_tokenizer(directory: str, vocab_size: int,
                            texts: Callable[[], Iterable[str]], number_pieces: int = 0) -> Tokenizer:
  """The tokenizer saved in `directory` (a resumed run), else one trained on `texts()` and saved.

  `texts` is only called when training is needed.
  """
  if os.path.exists(os.path.join(directory, MODEL_FILE)):
    tok = Tokenizer.load(directory)
    if tok.vocab_size != vocab_size:
      raise ValueError(f'{directory}/{MODEL_FILE} has {tok.vocab_size} pieces but '
                       f'model.vocab_size={vocab_size}; use a fresh workdir or the same vocab_size')
    return tok
  return train_tokenizer(texts(), vocab_size, directory, number_pieces)


# ---------------------------------------------------------------------------- Hugging Face

HF_FILES = ('tokenizer.json', 'tokenizer_config.json', 'generation_config.json',
            'special_tokens_map.json')


def _token_text(value):
  """A special token entry of tokenizer_config.json: a string or {'content': ...}."""
  return value.get('content') if isinstance(value, dict) else value


class HFTokenizer:
  """A Hugging Face `tokenizer.json` (the `tokenizers` library) behind `Tokenizer`'s
  interface: encode/decode never add or keep BOS/EOS/PAD; `stop_ids` are the EOS ids of
  generation_config.json (Qwen instruct models stop on `<|im_end|>` and `<|endoftext|>`).

  Models without a BOS token (Qwen) get none (`add_bos` False); the pad id is the config's
  pad token, else the first EOS id. `chat_template` is tokenizer_config.json's Jinja template.
  """

  def __init__(self, directory: str):
    import tokenizers  # pylint: disable=g-import-not-at-top
    path = os.path.join(directory, 'tokenizer.json')
    if not os.path.exists(path):
      raise FileNotFoundError(f'No tokenizer.json in {directory}; an imported model needs its '
                              'Hugging Face tokenizer files beside config.json')
    self.directory = directory
    self.tok = tokenizers.Tokenizer.from_file(path)
    config = self._json('tokenizer_config.json')
    generation = self._json('generation_config.json')
    special = self._json('special_tokens_map.json')

    def token_id(field):
      text = _token_text(config.get(field) or special.get(field))
      return None if text is None else self.tok.token_to_id(text)

    eos = generation.get('eos_token_id', token_id('eos_token'))
    eos = [eos] if isinstance(eos, int) else list(eos or [])
    if not eos:
      raise ValueError(f'{directory}: no EOS token in generation_config.json or '
                       'tokenizer_config.json; the sampler would never stop')
    self.stop_ids = tuple(int(i) for i in eos)
    self.eos_id = self.stop_ids[0]
    bos = token_id('bos_token')
    self.add_bos = bos is not None and bool(config.get('add_bos_token', True))
    self.bos_id = bos if bos is not None else self.eos_id
    pad = token_id('pad_token')
    self.pad_id = pad if pad is not None else self.eos_id
    self.unk_id = token_id('unk_token')
    self.chat_template = config.get('chat_template')
    self._skip = {self.pad_id, self.eos_id, *self.stop_ids} | ({bos} if bos is not None else set())

  def _json(self, name: str) -> dict:
    path = os.path.join(self.directory, name)
    if not os.path.exists(path):
      return {}
    with open(path) as f:
      return json.load(f)

  @property
  def vocab_size(self) -> int:
    return self.tok.get_vocab_size(with_added_tokens=True)

  def encode(self, text: str) -> list[int]:
    return self.tok.encode(text, add_special_tokens=False).ids

  def encode_batch(self, texts: list[str]) -> list[list[int]]:
    return [e.ids for e in self.tok.encode_batch(list(texts), add_special_tokens=False)]

  def decode(self, ids: Iterable[int]) -> str:
    """Text of `ids`, skipping pad/bos/eos (it does not stop at EOS)."""
    return self.tok.decode([int(i) for i in ids if int(i) not in self._skip],
                           skip_special_tokens=False)

  def id_to_piece(self, i: int) -> str:
    return self.tok.id_to_token(int(i))

  def apply_chat_template(self, messages: list[dict], add_generation_prompt: bool = True) -> str:
    """The model's own chat format (tokenizer_config.json's Jinja template), as text."""
    if not self.chat_template:
      raise ValueError(f'{self.directory}/tokenizer_config.json has no chat_template; use '
                       "data.template='r1_zero' (plain text) for a base model")
    import jinja2  # pylint: disable=g-import-not-at-top
    from jinja2 import sandbox  # pylint: disable=g-import-not-at-top
    env = sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                                 loader=jinja2.BaseLoader())
    env.globals['raise_exception'] = _raise
    return env.from_string(self.chat_template).render(
        messages=messages, add_generation_prompt=add_generation_prompt,
        bos_token=self.id_to_piece(self.bos_id), eos_token=self.id_to_piece(self.eos_id))

  def save(self, directory: str) -> str:
    """Copies the tokenizer files into `directory` (a workdir keeps the one it trained with)."""
    os.makedirs(directory, exist_ok=True)
    for name in HF_FILES:
      src = os.path.join(self.directory, name)
      if os.path.exists(src) and os.path.abspath(src) != os.path.abspath(
          os.path.join(directory, name)):
        shutil.copyfile(src, os.path.join(directory, name))
    return os.path.join(directory, 'tokenizer.json')

  @classmethod
  def load(cls, directory: str) -> 'HFTokenizer':
    return cls(directory)


def _raise(message):
  raise ValueError(message)


def load_tokenizer(directory: str):
  """The tokenizer saved in `directory`: SentencePiece (tokenizer.model) or Hugging Face
  (tokenizer.json)."""
  if os.path.exists(os.path.join(directory, 'tokenizer.json')):
    return HFTokenizer(directory)
  return Tokenizer.load(directory)
