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
DTYPE_BYTES = {'float32': 4, 'bfloat16': 2, 'float16': 2}


@dataclasses.dataclass
class _Mesh:  # what logical_to_spec reads of a mesh
  shape: dict


def _sharded_param_bytes(cfg: ModelConfig, mesh: _Mesh, rules) -> tuple[float, float]:
  """Per-device bytes of all parameters, and of the output projection (lm_head or the tied
  embedding)."""
  boxed = jax.eval_shape(lambda: init_params(cfg, jax.random.key(0), boxed=True))
  specs = traverse_util.flatten_dict(nn.get_partition_spec(boxed))
  leaves = traverse_util.flatten_dict(nn.meta.unbox(boxed))
  total = head = 0.0
  head_key = ('embed',) if cfg.tie_embeddings else ('lm_head', 'kernel')
  for key, leaf in leaves.items():
    spec = sharding.logical_to_spec(tuple(specs[key]), leaf.shape, mesh, rules)
    split = np.prod([mesh.shape[a] for part in spec if part
                     for a in ((part,) if isinstance(part, str) else part)])
    total += leaf.size * leaf.dtype.itemsize / split
    if key == head_key:
      head = leaf.size * leaf.dtype.itemsize / split
  return total, head


def layer_bytes_per_token(cfg: ModelConfig, context: int, tensor: int = 1) -> dict:
  """Bytes per token of one decoder layer in the update (a = compute dtype bytes):

    saved     what the backward pass keeps of the layer without remat: the residual, norm
              and projection outputs a*(6d + 2(H + K)hd), the MLP's gate, up, their product
              and its silu a*4F, and attention's scores and probabilities over `context` keys
              in float32 plus the compute-dtype copy and the mask (4 + a + 1)*H*context
    dots      what remat='dots' keeps (matmul outputs: q/k/v, o, gate, up, down, the
              attention scores and output); 'dots_no_batch' keeps the same less the
              attention einsums (they have batch dimensions)
    input     what remat='full' keeps: the layer's input, a*d
    working   the transient of one layer's backward pass on top of what it keeps (the
              cotangents of the MLP and the residual), a*(2F + 4d)

  Heads and the MLP width are divided by the `tensor` mesh axis when it divides them."""
  a = DTYPE_BYTES[cfg.dtype]
  split = lambda n: n // tensor if n % tensor == 0 else n
  d, hd, f = cfg.d_model, cfg.head_size, split(cfg.d_ff)
  heads, kv = split(cfg.n_heads), split(cfg.n_kv_heads)
  attention_einsums = 4 * heads * context + a * heads * hd
  dots_no_batch = a * (2 * f + 2 * d + (heads + 2 * kv) * hd)
  return dict(saved=a * (6 * d + 4 * f + 2 * (heads + kv) * hd) + (5 + a) * heads * context,
              dots=dots_no_batch + attention_einsums, dots_no_batch=dots_no_batch,
              input=a * d, working=a * (2 * f + 4 * d))


# Calibrated on XLA's buffer assignment of the compiled update (benchmarks/memory_check.py):
# with remat, the recomputed layer's intermediates and their cotangents are live together
# with the output layer's buffers, about RECOMPUTED_LAYER x (saved + working) of one layer.
RECOMPUTED_LAYER = 1.67
CHUNK_BUFFERS = 3.5      # float32 [N, chunk] buffers live in the chunked vocabulary scan
SLICE_BUFFERS = 2.5      # float32 [N, V] buffers of the unchunked completion slice


def estimate(config, num_devices: int) -> dict:
  """Bytes per device of each component of an RL run:

    params, optimizer (Adam's two moments), gradients, reference (kl_beta > 0): sharded as
                 the rule table shards each weight on the config's mesh
    activations  the update's decoder activations over rows x (prompt_len + max_new_tokens)
                 tokens (`layer_bytes_per_token`): remat='none' keeps every layer's `saved`
                 bytes plus one layer's `working` set; 'full' keeps every layer's `input` plus
                 RECOMPUTED_LAYER x (saved + working) for the layer being recomputed; 'dots'
                 keeps every layer's matmul outputs plus the rest of one layer
    logits       the update's output layer. With model.logits_chunk: CHUNK_BUFFERS float32
                 [N, chunk] buffers and two copies of the output projection in chunk layout
                 (the weight and its gradient); without: the [rows, T, V] logits in the compute
                 dtype and SLICE_BUFFERS float32 [N, V] buffers (N = rows x max_new_tokens)
    kv_cache     the sampler's cache, 2 x layers x rows x T x K x hd (compute dtype)
    update       params + optimizer + gradients (two copies with update chunks: a chunk's
                 and their sum) + reference + activations + logits, for one update chunk
    sampling     params + optimizer + reference + kv_cache (the train state stays resident)
    total        max(update, sampling): the peak that --device_memory_gb is checked against

  `update` is checked against XLA's CPU buffer assignment by benchmarks/memory_check.py (the
  README's table) and tests/test_hf_memory.py."""
  cfg = ModelConfig.from_config(config.model)
  shape = sharding.mesh_shape(config.mesh, num_devices)
  mesh = _Mesh(dict(zip(sharding.MESH_AXES, shape)))
  param_bytes, head_bytes = _sharded_param_bytes(cfg, mesh, sharding.rules_from_config(config))
  rl, tensor = config.rl, shape[2]
  # The update runs on rl.update_chunks chunks of the rows (train/rl.py: the most chunks, at
  # most update_chunks, that split the rows evenly over the data axes), the longest at
  # max_new_tokens; the sampler holds all rows.
  total_rows, data = rl.prompts_per_step * rl.group_size, shape[0] * shape[1]
  chunks = max([c for c in range(1, max(rl.update_chunks, 1) + 1)
                if total_rows % (c * data) == 0] or [1])
  rows = max(total_rows // (data * chunks), 1)
  sample_rows = max(total_rows // data, 1)
  length = rl.prompt_len + rl.max_new_tokens
  layer = layer_bytes_per_token(cfg, length, tensor)
  if cfg.remat == 'none':
    per_token = cfg.n_layers * layer['saved'] + layer['working']
  elif cfg.remat == 'full':
    per_token = (cfg.n_layers * layer['input']
                 + RECOMPUTED_LAYER * (layer['saved'] + layer['working']))
  elif cfg.remat in ('dots', 'dots_no_batch'):
    kept = layer[cfg.remat]
    per_token = cfg.n_layers * kept + layer['saved'] - kept + layer['working']
  else:
    raise ValueError(f"model.remat={cfg.remat!r}: use 'none', 'full', 'dots' or 'dots_no_batch'")
  activations = rows * length * per_token
  vocab = cfg.vocab_size // tensor if cfg.vocab_size % tensor == 0 else cfg.vocab_size
  completion = rows * rl.max_new_tokens
  if cfg.logits_chunk:
    logits = CHUNK_BUFFERS * completion * min(cfg.logits_chunk, vocab) * 4 + 2 * head_bytes
  else:
    logits = (rows * (length - 1) * DTYPE_BYTES[cfg.dtype] + SLICE_BUFFERS * completion * 4) * vocab
  kv_heads = cfg.n_kv_heads // tensor if cfg.n_kv_heads % tensor == 0 else cfg.n_kv_heads
  kv_cache = (2 * cfg.n_layers * sample_rows * length * kv_heads * cfg.head_size
              * DTYPE_BYTES[cfg.dtype])
  reference = param_bytes if rl.kl_beta > 0 else 0.0
  state = 3 * param_bytes + reference
  gradients = param_bytes * (2 if chunks > 1 else 1)  # a chunk's, and the running sum
  out = dict(params=param_bytes, optimizer=2 * param_bytes, gradients=gradients,
             reference=reference, activations=activations, logits=logits, kv_cache=kv_cache,
             update=state + gradients + activations + logits, sampling=state + kv_cache)
  out['total'] = max(out['update'], out['sampling'])
  out['mesh'] = shape
  out['rows_per_device'] = rows
  out['update_chunks'] = chunks
  return out


def report(config, num_devices: int, device_memory_gb: float) -> str:
  """The table `--dry_run` prints; raises ValueError naming what to change if the estimate
  exceeds device_memory_gb (0 = no limit)."""
  e = estimate(config, num_devices)
  lines = [f'Per-device memory estimate, mesh (data, fsdp, tensor) = {e["mesh"]}, '
           f'{e["rows_per_device"]} sequences of {config.rl.prompt_len}+'
           f'{config.rl.max_new_tokens} tokens per device in each of {e["update_chunks"]} '
           f'update chunk(s), remat={config.model.remat!r}, '
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
    fixes += ['a larger mesh fsdp axis (mesh.shape)', 'more rl.update_chunks',
              'fewer rl.prompts_per_step',
              'a shorter rl.max_new_tokens']
    raise ValueError(f'{text}\ndoes not fit in {device_memory_gb} GiB per device '
                     f'({e["total"] / GIB:.1f} GiB needed); try {", ".join(fixes)}')
  return text
