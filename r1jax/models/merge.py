"""Model merging by weight averaging (Kimi k1.5 sec. 2.4: average a long-CoT and a short-CoT
model of the same architecture, fine-tuned from a common ancestor).

  merged = average_params([long_params, short_params], weights=(0.5, 0.5))

Each leaf is sum_i w_i theta_i with the weights normalised to sum to 1, computed in float32 and
cast back to the leaf's dtype; sharded leaves stay sharded (the first tree's shardings).
"""
from typing import Sequence

import jax
import jax.numpy as jnp


def normalised_weights(num: int, weights: Sequence[float] = ()) -> list[float]:
  """`weights` (empty: equal) checked against `num` models and normalised to sum to 1."""
  weights = [float(w) for w in weights] or [1.0] * num
  if len(weights) != num:
    raise ValueError(f'long2short.merge_weights has {len(weights)} weights for {num} models '
                     '(long2short.merge_stages); give one per model or none (equal)')
  if min(weights) < 0 or sum(weights) <= 0:
    raise ValueError(f'long2short.merge_weights={weights} must be >= 0 with a positive sum')
  return [w / sum(weights) for w in weights]


def average_params(trees: Sequence, weights: Sequence[float] = ()):
  """The weighted average of parameter trees with the same structure and shapes."""
  if not trees:
    raise ValueError('average_params needs at least one parameter tree')
  weights = normalised_weights(len(trees), weights)
  structure = jax.tree.structure(trees[0])
  for i, tree in enumerate(trees[1:], 1):
    if jax.tree.structure(tree) != structure or any(
        a.shape != b.shape for a, b in zip(jax.tree.leaves(trees[0]), jax.tree.leaves(tree))):
      raise ValueError(f'model {i} has another architecture than model 0; merging needs the '
                       'same model.* settings')

  @jax.jit
  def merge(trees):
    return jax.tree.map(lambda *xs: sum(w * x.astype(jnp.float32) for w, x in zip(weights, xs)
                                        ).astype(xs[0].dtype), *trees)
  return merge(list(trees))
