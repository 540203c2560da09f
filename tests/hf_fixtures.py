"""Tiny Hugging Face model directories made inside the tests (nothing is downloaded):
a byte-level BPE `tokenizer.json` with Qwen's special tokens and chat template, and a random
Qwen2 model sized to it."""
import json
import os

QWEN_CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
SPECIALS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>']
CORPUS = [
    'Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May.',
    'How many clips did Natalia sell altogether in April and May? #### 72',
    'A conversation between User and Assistant. The user asks a question, and the Assistant '
    'solves it. <think> reasoning process here </think> <answer> answer here </answer>',
    'Compute 7 + 5 - 3. What is the value of x if 2x + 3 = 11? The answer is $\\boxed{4}$.',
    'Déjà vu: naïve café, 数学 and emoji 🙂 with\ttabs and  double  spaces.',
] * 20


def write_tokenizer(directory: str, vocab_size: int = 320) -> str:
  """tokenizer.json (+ config files) for a Qwen-like byte-level BPE; returns `directory`."""
  import tokenizers
  from tokenizers import decoders, models, pre_tokenizers, trainers
  tok = tokenizers.Tokenizer(models.BPE())
  tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
  tok.decoder = decoders.ByteLevel()
  trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS,
                                initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                show_progress=False)
  tok.train_from_iterator(CORPUS, trainer)
  tok.add_tokens(['<think>', '</think>', '<answer>', '</answer>'])
  os.makedirs(directory, exist_ok=True)
  tok.save(os.path.join(directory, 'tokenizer.json'))
  config = dict(tokenizer_class='PreTrainedTokenizerFast', bos_token=None,
                eos_token='<|endoftext|>', pad_token='<|endoftext|>', add_bos_token=False,
                chat_template=QWEN_CHAT_TEMPLATE, model_max_length=4096)
  with open(os.path.join(directory, 'tokenizer_config.json'), 'w') as f:
    json.dump(config, f)
  eos = [tok.token_to_id('<|im_end|>'), tok.token_to_id('<|endoftext|>')]
  with open(os.path.join(directory, 'generation_config.json'), 'w') as f:
    json.dump({'eos_token_id': eos, 'pad_token_id': eos[1]}, f)
  return directory


def write_qwen2(directory: str, vocab_size: int = 384, seed: int = 0, **overrides) -> str:
  """A random tiny Qwen2 (2 layers, d 32, tied embeddings) with the tokenizer above."""
  import torch
  import transformers
  write_tokenizer(directory)
  config = transformers.Qwen2Config(
      vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
      tie_word_embeddings=True, **overrides)
  torch.manual_seed(seed)
  model = transformers.AutoModelForCausalLM.from_config(config).float().eval()
  model.save_pretrained(directory)
  return directory
