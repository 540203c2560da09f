"""Per-device memory of an RL run, from the config and mesh alone (nothing is allocated):
parameters, optimizer moments, gradients, the reference copy, the update's activations under
the remat policy, the logits (or their vocabulary chunks) and the sampler's KV cache.

  python -m r1jax.main --config=configs/qwen2_5_1_5b_r1_zero_gsm8k.py --workdir=/tmp/x \
      --dry_run --dry_run_devices=8 --device_memory_gb=16

Sharding follows r1jax/sharding.py's rule table exactly (a mesh axis that does not divide a
dimension is dropped); activations are estimated per layer from the shapes (bf16/fp32 as
configured, attention scores in float32).
"""
import dataclasses

import flax.linen as nn
import jax
import numpy as np
from flax import traverse_util

from r1jax import sharding
from r1jax.models.transformer import ModelConfig, init_params

GIB = 1 << 30


@dataclasses.dataclass
class _Mesh:  # what logical_to_spec reads of a mesh
  shape: dict


def estimate(config, num_devices: int) -> dict:
  """Bytes per device of each component, and 'total' (the update's peak; the sampler's cache
  is live at another time, so the larger of the two counts)."""
  cfg = ModelConfig.from_config(config.model)
  shape = sharding.mesh_shape(config.mesh, num_devices)
  mesh = _Mesh(dict(zip(sharding.MESH_AXES, shape)))
  rules = sharding.rules_from_config(config)
  boxed = jax.eval_shape(lambda: init_params(cfg, jax.random.key(0), boxed=True))
  specs = traverse_util.flatten_dict(nn.get_partition_spec(boxed))
  leaves = traverse_util.flatten_dict(nn.meta.unbox(boxed))
  param_bytes = 0.0
  for key, leaf in leaves.items():
    spec = sharding.logical_to_spec(tuple(specs[key]), leaf.shape, mesh, rules)
    split = np.prod([mesh.shape[a] for part in spec if part
                     for a in ((part,) if isinstance(part, str) else part)])
    param_bytes += leaf.size * leaf.dtype.itemsize / split
  rl = config.rl
  tensor = shape[2]
  data_parallel = shape[0] * shape[1]
  rows = max(rl.prompts_per_step * rl.group_size // data_parallel, 1)
  length = rl.prompt_len + rl.max_new_tokens
  act = 4 if cfg.dtype == 'float32' else 2
  d, hd, f = cfg.d_model, cfg.head_size, cfg.d_ff
  heads = cfg.n_heads // tensor if cfg.n_heads % tensor == 0 else cfg.n_heads
  kv = cfg.n_kv_heads // tensor if cfg.n_kv_heads % tensor == 0 else cfg.n_kv_heads
  ff = f // tensor if f % tensor == 0 else f
  tokens = rows * length
  # what one layer keeps for the backward pass, per token (bytes)
  dots = act * ((heads + 2 * kv) * hd + heads * hd + d + 3 * ff) + 4 * heads * length
  everything = dots + act * (4 * d + 2 * ff + (heads + 2 * kv) * hd) + 4 * heads * length
  per_layer = {'none': everything, 'dots': dots, 'dots_no_batch': dots,
               'full': act * d}[cfg.remat]
  activations = tokens * (cfg.n_layers * per_layer + (everything if cfg.remat != 'none' else 0))
  vocab = cfg.vocab_size // tensor if cfg.vocab_size % tensor == 0 else cfg.vocab_size
  completion = rows * rl.max_new_tokens
  if cfg.logits_chunk:
    logits = completion * min(cfg.logits_chunk, cfg.vocab_size) * 4 * 3
  else:  # float32 logits, their log-softmax and its gradient
    logits = completion * vocab * 4 * 3
  kv_cache = (2 * cfg.n_layers * rows * length * kv * hd * act)
  out = dict(params=param_bytes, optimizer=2 * param_bytes, gradients=param_bytes,
             reference=param_bytes if rl.kl_beta > 0 else 0.0, activations=activations,
             logits=logits, kv_cache=kv_cache)
  update = activations + logits
  out['total'] = 4 * param_bytes + out['reference'] + max(update, kv_cache)
  out['update'] = 4 * param_bytes + update
  out['mesh'] = shape
  out['rows_per_device'] = rows
  return out


def report(config, num_devices: int, device_memory_gb: float) -> str:
  """The table `--dry_run` prints; raises ValueError naming what to change if the estimate
  exceeds device_memory_gb (0 = no limit)."""
  e = estimate(config, num_devices)
  lines = [f'Per-device memory estimate, mesh (data, fsdp, tensor) = {e["mesh"]}, '
           f'{e["rows_per_device"]} sequences of {config.rl.prompt_len}+'
           f'{config.rl.max_new_tokens} tokens per device, remat={config.model.remat!r}, '
           f'logits_chunk={config.model.logits_chunk}:']
  for key in ('params', 'optimizer', 'gradients', 'reference', 'activations', 'logits',
              'kv_cache', 'total'):
    lines.append(f'  {key:<12} {e[key] / GIB:9.2f} GiB')
  text = '\n'.join(lines)
  if device_memory_gb and e['total'] > device_memory_gb * GIB:
    fixes = []
    if config.model.remat == 'none':
      fixes.append("model.remat='full'")
    if not config.model.logits_chunk:
      fixes.append('model.logits_chunk=8192')
    if config.model.param_dtype == 'float32':
      fixes.append("model.param_dtype='bfloat16'")
    fixes += ['a larger mesh fsdp axis (mesh.shape)', 'fewer rl.prompts_per_step',
              'a shorter rl.max_new_tokens']
    raise ValueError(f'{text}\ndoes not fit in {device_memory_gb} GiB per device '
                     f'({e["total"] / GIB:.1f} GiB needed); try {", ".join(fixes)}')
  return text
