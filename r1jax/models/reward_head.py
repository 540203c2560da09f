"""The reward model: the decoder's trunk with a scalar head on the last real token.

  params = init_reward_params(cfg, rng, decoder_params)   # {'decoder': ..., 'head': ...}
  scores = reward_scores(cfg, params, tokens, valid)       # [B] float32

The trunk is `Transformer` itself; its final-norm output (the hidden states the LM head reads)
is captured with flax's `capture_intermediates`, so nothing of the decoder is copied. Under jit
the unused LM-head matmul is dead code and XLA drops it.
"""
import flax.linen as nn
import jax.numpy as jnp

from r1jax.models.transformer import ModelConfig, Transformer, causal_mask, init_params


def final_hidden(cfg: ModelConfig, decoder_params, tokens, valid):
  """The decoder's final-norm hidden states [B, T, D] (positions count real tokens only)."""
  positions = jnp.maximum(jnp.cumsum(valid, axis=-1) - 1, 0)
  _, state = Transformer(cfg).apply(
      {'params': decoder_params}, tokens, positions, causal_mask(valid),
      capture_intermediates=lambda module, _: module.name == 'final_norm',
      mutable=['intermediates'])
  return state['intermediates']['final_norm']['__call__'][0]


def last_token_index(valid):
  """Index of the last real token of each row [B] (right- or left-padded rows)."""
  length = valid.shape[-1]
  return length - 1 - jnp.argmax(valid[:, ::-1], axis=-1)


def reward_scores(cfg: ModelConfig, params, tokens, valid):
  """Scalar score per row: w . h[last real token] + b.  tokens, valid [B, T] -> [B] float32."""
  hidden = final_hidden(cfg, params['decoder'], tokens, valid)           # [B, T, D]
  last = jnp.take_along_axis(hidden, last_token_index(valid)[:, None, None], axis=1)[:, 0]
  head = params['head']
  return last.astype(jnp.float32) @ head['w'].astype(jnp.float32) + head['b']


def init_head(cfg: ModelConfig, boxed: bool = False):
  """Zero head: every response scores 0 before training (a neutral reward). boxed=True keeps
  the logical axis names (for sharding)."""
  head = {'w': jnp.zeros((cfg.d_model,), jnp.float32), 'b': jnp.zeros((), jnp.float32)}
  if boxed:
    head = {'w': nn.LogicallyPartitioned(head['w'], ('embed',)),
            'b': nn.LogicallyPartitioned(head['b'], ())}
  return head


def init_reward_params(cfg: ModelConfig, rng, decoder_params=None):
  """{'decoder': decoder_params (random if None), 'head': zeros}."""
  if decoder_params is None:
    decoder_params = init_params(cfg, rng)
  return {'decoder': decoder_params, 'head': init_head(cfg)}
