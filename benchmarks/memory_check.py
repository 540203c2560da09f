"""Checks `--dry_run`'s estimate (r1jax/models/memory.py) against XLA's buffer assignment of the
compiled GRPO update on one CPU device: "measured" = argument + temp + output - aliased bytes of
`memory_analysis()` (the update's peak, what `estimate()['update']` predicts). Nothing runs: the
update is only compiled, so the mid-size model needs ~2 GiB of host memory, not its peak.

  python benchmarks/memory_check.py                       # the README table (tiny, small, mid)
  python benchmarks/memory_check.py --sizes=tiny --json   # what tests/test_hf_memory.py runs

XLA's CPU compiler schedules for concurrency by default, which hoists every recomputed layer of
a rematerialised backward pass to the start and so keeps as much as no remat at all; TPU and
GPU schedules are memory-aware. The check (like a CPU run with `model.remat` != 'none' should)
uses the memory-minimizing CPU schedule: --xla_cpu_enable_concurrency_optimized_scheduler=false,
set here before jax starts unless --default_scheduler is given.
"""
import argparse
import json
import os
import sys

SIZES = {  # model fields, rl fields (rows = prompts_per_step * group_size)
    'tiny': (dict(vocab_size=1024, d_model=128, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=512),
             dict(prompts_per_step=2, group_size=4, prompt_len=64, max_new_tokens=192)),
    'small': (dict(vocab_size=8192, d_model=256, n_layers=4, n_heads=4, n_kv_heads=2,
                   d_ff=1024),
              dict(prompts_per_step=4, group_size=4, prompt_len=64, max_new_tokens=256)),
    'mid': (dict(vocab_size=32768, d_model=512, n_layers=8, n_heads=8, n_kv_heads=4, d_ff=2048),
            dict(prompts_per_step=4, group_size=4, prompt_len=128, max_new_tokens=384)),
}
VARIANTS = (('none', 0), ('none', 4096), ('full', 4096), ('full', 0), ('dots', 4096))
SCHEDULER_FLAG = '--xla_cpu_enable_concurrency_optimized_scheduler=false'


def make_config(size: str, remat: str, chunk: int, dtype: str = 'float32'):
  from configs import common  # pylint: disable=g-import-not-at-top
  model, rl_fields = SIZES[size]
  config = common.get_config()
  config.stages = ('rl',)
  config.model.update(model, remat=remat, logits_chunk=chunk, dtype=dtype)
  config.rl.update(rl_fields, kl_beta=0.0, update_chunks=1)  # one chunk: `make_train_step`
  config.mesh.shape = (1, 1, 1)
  return config


def measure(config) -> int:
  """Peak bytes XLA assigns to the compiled RL update of `config` on one device."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from r1jax import sharding  # pylint: disable=g-import-not-at-top
  from r1jax.models import ModelConfig  # pylint: disable=g-import-not-at-top
  from r1jax.train import rl  # pylint: disable=g-import-not-at-top
  from r1jax.models import init_params  # pylint: disable=g-import-not-at-top
  from r1jax.train.state import TrainState, make_optimizer  # pylint: disable=g-import-not-at-top
  mesh, rules = sharding.make_mesh(config.mesh), sharding.rules_from_config(config)
  cfg = ModelConfig.from_config(config.model)
  tx = make_optimizer(config.rl, total_steps=10)

  def init():
    params, zero = init_params(cfg, jax.random.key(0)), jnp.zeros((), jnp.int32)
    return TrainState(step=zero, params=params, opt_state=tx.init(params), skipped=zero,
                      skipped_in_a_row=zero)
  state = jax.eval_shape(init)
  rows = config.rl.prompts_per_step * config.rl.group_size
  prompt_len, new = config.rl.prompt_len, config.rl.max_new_tokens
  f32, spec = jnp.float32, jax.ShapeDtypeStruct
  batch = rl.RolloutBatch(
      tokens=spec((rows, prompt_len + new), jnp.int32),
      valid=spec((rows, prompt_len + new), bool), completion_mask=spec((rows, new), f32),
      old_logp=spec((rows, new), f32), ref_logp=spec((rows, new), f32),
      advantages=spec((rows,), f32))
  step = rl.make_train_step(cfg, tx, rl.loss_config(config.rl), prompt_len, 1.0)
  with sharding.use_mesh(mesh, rules):
    m = jax.jit(step, donate_argnums=0).lower(state, batch).compile().memory_analysis()
  return (m.argument_size_in_bytes + m.temp_size_in_bytes + m.output_size_in_bytes
          - m.alias_size_in_bytes)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--sizes', default='tiny,small,mid')
  parser.add_argument('--variants', default=','.join(f'{r}:{c}' for r, c in VARIANTS),
                      help='remat:logits_chunk pairs')
  parser.add_argument('--dtype', default='float32', help='compute dtype (model.dtype)')
  parser.add_argument('--json', action='store_true', help='one JSON line per row')
  parser.add_argument('--default_scheduler', action='store_true',
                      help="keep XLA's concurrency-optimised CPU schedule")
  args = parser.parse_args(argv)
  if not args.default_scheduler:
    os.environ['XLA_FLAGS'] = f'{os.environ.get("XLA_FLAGS", "")} {SCHEDULER_FLAG}'
  import jax  # pylint: disable=g-import-not-at-top
  jax.config.update('jax_num_cpu_devices', 1)
  from r1jax.models import memory  # pylint: disable=g-import-not-at-top
  mib = 1 << 20
  if not args.json:
    print('| size | remat, logits_chunk | estimate (MiB) | measured (MiB) | estimate / measured |')
    print('|---|---|---|---|---|')
  for size in args.sizes.split(','):
    for variant in args.variants.split(','):
      remat, chunk = variant.split(':')
      config = make_config(size, remat, int(chunk), args.dtype)
      estimate = memory.estimate(config, 1)['update']
      measured = measure(config)
      row = dict(size=size, remat=remat, logits_chunk=int(chunk), estimate=estimate,
                 measured=measured, ratio=estimate / measured)
      if args.json:
        print(json.dumps(row))
      else:
        print(f'| {size} | `{remat}`, {chunk} | {estimate / mib:,.0f} | {measured / mib:,.0f} '
              f'| {estimate / measured:.2f} |')
      sys.stdout.flush()


if __name__ == '__main__':
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  main()
