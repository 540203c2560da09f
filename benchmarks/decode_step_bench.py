"""What one decode step costs against the rows decoding and the cache width: the model's own
cached forward (`Transformer` with a `KVCache`, one token per row, greedy), in a compiled loop
of 32 steps, milliseconds per step. Also the attention-score matmul alone over the same cache
with the keys stored both ways ([S, D] per head, as before 2026-12-06, and [D, S], as
`KVCache` stores them now). Prints ONE JSON line.

  python benchmarks/decode_step_bench.py                                # d128 x 4 layers
  python benchmarks/decode_step_bench.py --d_model=512 --rows=1,4,8,32 --slots=80,528

Why it exists: on a CPU a decode step's cost follows rows x cache width (attention reads the
whole cache, memory-bound) more than the weights, which is what decides whether finished rows
leaving the batch (the sampler's compaction) or narrow caches (partial rollouts' new prompts)
pay off; see the README's performance and partial-rollout sections.
"""
import argparse
import json

import _bench
import jax
import jax.numpy as jnp
import numpy as np

from r1jax.models.transformer import KVCache, ModelConfig, Transformer, init_params

STEPS = 32


def decode_loop(model, rows: int, slots: int):
  """STEPS greedy decode steps of `rows` rows over a `slots`-slot cache (every slot valid)."""
  @jax.jit
  def loop(params, cache, token):
    def body(i, carry):
      cache, token = carry
      logits, cache = model.apply({'params': params}, token[:, None], jnp.full((rows, 1), i),
                                  jnp.ones((rows, 1, slots), bool), cache=cache,
                                  cache_index=i % slots)
      return cache, jnp.argmax(logits[:, 0], -1).astype(jnp.int32)
    return jax.lax.fori_loop(0, STEPS, body, (cache, token))
  return loop


def score_ms(cfg: ModelConfig, rows: int, slots: int, runs: int) -> dict:
  """The decode query's scores against every layer's keys, keys [S, D] against [D, S]."""
  group, dim = cfg.n_heads // cfg.n_kv_heads, cfg.head_size
  batch = rows * cfg.n_kv_heads * cfg.n_layers
  q = jnp.ones((batch, group, dim), jnp.float32)
  by_slot = jax.jit(lambda q, k: jnp.einsum('bgd,bsd->bgs', q, k))
  by_dim = jax.jit(lambda q, k: jnp.einsum('bgd,bds->bgs', q, k))
  keys_by_slot, keys_by_dim = jnp.ones((batch, slots, dim)), jnp.ones((batch, dim, slots))
  return {'keys_slots_by_dim': round(1e3 * _bench.median_s(by_slot, q, keys_by_slot, runs=runs),
                                     3),
          'keys_dim_by_slots': round(1e3 * _bench.median_s(by_dim, q, keys_by_dim, runs=runs), 3),
          'cache_keys_mb': round(batch * slots * dim * 4 / 1e6, 1)}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--d_model', type=int, default=128)
  parser.add_argument('--n_layers', type=int, default=4)
  parser.add_argument('--rows', default='1,4,8,32')
  parser.add_argument('--slots', default='80,528')
  parser.add_argument('--runs', type=int, default=5)
  args = parser.parse_args()
  rows_list = [int(x) for x in args.rows.split(',')]
  slots_list = [int(x) for x in args.slots.split(',')]
  cfg = ModelConfig(vocab_size=512, d_model=args.d_model, n_layers=args.n_layers, n_heads=4,
                    n_kv_heads=2, d_ff=4 * args.d_model)
  model, params = Transformer(cfg), init_params(cfg, jax.random.key(0))
  step_ms = {}
  for slots in slots_list:
    for rows in rows_list:
      loop = decode_loop(model, rows, slots)
      seconds = _bench.median_s(loop, params, KVCache.zeros(cfg, rows, slots),
                                jnp.zeros((rows,), jnp.int32), runs=args.runs)
      step_ms[f'{rows} rows x {slots} slots'] = round(1e3 * seconds / STEPS, 3)
  result = {'benchmark': 'decode_step', 'model': f'd{args.d_model} x {args.n_layers} layers',
            'ms_per_step': step_ms,
            'score_matmul_ms': score_ms(cfg, max(rows_list), max(slots_list), args.runs)}
  result.update(_bench.machine())
  print(json.dumps(result))


if __name__ == '__main__':
  main()
