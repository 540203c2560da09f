"""A/B of `models.transformer.matmul`'s hand-arranged gradient against plain autodiff, on
the grpo_tiny update (forward + backward of the GRPO loss over 64 rows x 96 tokens) and on
one MLP block, interleaved in one process. Prints ONE JSON line.

  python benchmarks/matmul_vjp_bench.py
  python benchmarks/matmul_vjp_bench.py --runs=10 --spec=grpo_tiny

B swaps `transformer.matmul` for `jnp.dot` while its functions are traced (autodiff then
picks the weight-gradient dot's operand order, as it did before the custom VJP).
"""
import argparse
import json
import time

import _bench
import jax
import jax.numpy as jnp
import numpy as np

from configs import grpo_tiny
from r1jax import losses
from r1jax.models import ModelConfig, forward, init_params, transformer


def plain_matmul(x, w):
  return jnp.dot(x, w, preferred_element_type=jnp.float32).astype(x.dtype)


def compiled(fn, args, autodiff: bool):
  """fn jitted and compiled now, with transformer.matmul swapped when `autodiff`."""
  original = transformer.matmul
  transformer.matmul = plain_matmul if autodiff else original
  try:
    return jax.jit(fn).lower(*args).compile()
  finally:
    transformer.matmul = original


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--spec', default='')
  parser.add_argument('--runs', type=int, default=10)
  args = parser.parse_args()
  spec, _ = grpo_tiny.load_spec(args.spec)
  config = grpo_tiny.get_config()
  cfg = ModelConfig.from_config(config.model)
  rows = spec['rollout']['prompts_per_step'] * spec['rollout']['group_size']
  length = spec['rollout']['prompt_len'] + spec['rollout']['completion_len']
  params = init_params(cfg, jax.random.key(0))
  tokens = jax.random.randint(jax.random.key(1), (rows, length), 4, cfg.vocab_size)
  adv = jax.random.normal(jax.random.key(2), (rows,))
  new = spec['rollout']['completion_len']

  def update(params, tokens, adv):
    def loss(p):
      logits = forward(cfg, p, tokens[:, :-1])[:, -new:]
      logp = losses.token_logprobs(logits.astype(jnp.float32), tokens[:, -new:])
      return -(logp.mean(axis=1) * adv).mean()   # a policy gradient's shape
    return jax.grad(loss)(params)

  x = jax.random.normal(jax.random.key(3), (rows * (length - 1), cfg.d_model))
  w = [jax.random.normal(jax.random.key(4 + i), s) * 0.02 for i, s in
       enumerate([(cfg.d_model, cfg.d_ff), (cfg.d_model, cfg.d_ff), (cfg.d_ff, cfg.d_model)])]

  def mlp(x, w):
    def f(x, w):
      h = jax.nn.silu(transformer.matmul(x, w[0])) * transformer.matmul(x, w[1])
      return transformer.matmul(h, w[2]).sum()
    return jax.grad(f, argnums=(0, 1))(x, w)

  cases = {'update': (update, (params, tokens, adv)), 'mlp_block': (mlp, (x, w))}
  fns = {(name, ab): compiled(fn, a, ab == 'autodiff') for name, (fn, a) in cases.items()
         for ab in ('custom_vjp', 'autodiff')}
  times = {k: [] for k in fns}
  for _ in range(args.runs + 1):
    for (name, ab), fn in fns.items():
      start = time.perf_counter()
      jax.block_until_ready(fn(*cases[name][1]))
      times[(name, ab)].append(time.perf_counter() - start)
  result = {'benchmark': 'matmul_vjp', 'runs': args.runs}
  for name in cases:
    a, b = (float(np.median(times[(name, ab)][1:])) for ab in ('custom_vjp', 'autodiff'))
    result[name] = {'custom_vjp_s': round(a, 4), 'autodiff_s': round(b, 4),
                    'autodiff_over_custom': round(b / a, 3)}
  result.update(_bench.machine())
  print(json.dumps(result))


if __name__ == '__main__':
  main()
