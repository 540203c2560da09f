"""benchmarks/trl_step_bench.py's bridge to TRL: its text prompts tokenize back to the ids
r1jax samples from, its EOS is outside the model's vocab, and its reward is r1jax's."""
import pathlib
import sys

import numpy as np
import pytest

pytest.importorskip('transformers')
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / 'benchmarks'))

import grpo_step_bench  # noqa: E402
import trl_step_bench  # noqa: E402


def test_prompt_words_tokenize_to_r1jax_prompt_ids():
  vocab, count = 512, 3
  tok = trl_step_bench.word_tokenizer(vocab)
  prompts = grpo_step_bench.RandomPrompts(vocab, 32)
  texts = trl_step_bench.prompt_texts(prompts, 2, count)
  ids = np.array(tok(text=texts)['input_ids'])  # as TRL tokenizes text prompts
  want = np.concatenate([prompts.take(0, count).tokens, prompts.take(count, count).tokens])
  np.testing.assert_array_equal(ids, want)
  assert tok.eos_token_id == tok.pad_token_id == vocab  # never sampled from `vocab` logits


def test_reward_is_fraction_of_even_ids():
  reward = trl_step_bench.EvenTokens()
  assert reward(completions=['a', 'b'], completion_ids=[[2, 3, 4, 5], [1, 3]]) == [0.5, 0.0]
  assert reward.lengths == [4, 2]
