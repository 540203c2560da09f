"""Pure loss functions. Everything here is jit-friendly and takes/returns arrays.

Shapes: B = batch (sequences), T = tokens, V = vocabulary.
"""
import jax
import jax.numpy as jnp


def token_logprobs(logits, targets):
  """log p(targets) under logits, in float32.  logits [B, T, V], targets [B, T] -> [B, T]."""
  logits = logits.astype(jnp.float32)
  log_norm = jax.nn.logsumexp(logits, axis=-1)
  target_logit = jnp.take_along_axis(logits, targets[..., None], axis=-1)[..., 0]
  return target_logit - log_norm


def next_token_loss(logits, targets, loss_mask):
  """Masked mean cross-entropy over tokens (pretraining / SFT).

  logits [B, T, V] predict targets [B, T]; loss_mask [B, T] is 1 where a target
  counts (0 on padding, and on prompt tokens for SFT). Returns (loss, metrics).
  """
  mask = loss_mask.astype(jnp.float32)
  nll = -token_logprobs(logits, targets)
  num_tokens = jnp.maximum(mask.sum(), 1.0)
  loss = (nll * mask).sum() / num_tokens
  correct = (jnp.argmax(logits, axis=-1) == targets).astype(jnp.float32)
  metrics = {'loss': loss, 'token_accuracy': (correct * mask).sum() / num_tokens,
             'num_tokens': mask.sum()}
  return loss, metrics
