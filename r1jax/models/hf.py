"""Hugging Face checkpoints in and out: Qwen2/Qwen2.5, Qwen3 and Llama 3.x.

  model_cfg, params = load_hf('/ckpt/Qwen2.5-1.5B', mesh, rules)   # placed with the mesh's shardings
  save_hf('/tmp/export', model_cfg, params)                         # AutoModelForCausalLM loads it

Export any stage of a run (its final checkpoint, restored onto the config's mesh, written one
gathered tensor at a time, with the workdir's tokenizer files):

  python -m r1jax.main --mode=export --config=configs/qwen2_5_1_5b_r1_zero_gsm8k.py \
      --workdir=DIR --stage=rl --out=/tmp/export   # --stage: default the last trained stage

A checkpoint directory holds `config.json` and `model.safetensors` (or shards listed in
`model.safetensors.index.json`). Safetensors files are read here with `np.memmap` (a JSON header,
then raw little-endian tensors), so one tensor at a time is in host memory: it is transposed
into r1jax's layout, cast to the parameter dtype and handed to `jax.make_array_from_callback`,
which copies each device its own slice. Writing streams the same way, one gathered tensor at a
time. Tokenizers of these directories: `r1jax.data.tokenizer.HFTokenizer`.

Layouts (HF Linear weights are [out, in]; r1jax kernels are [in, out] with heads split out):
  q_proj.weight [H*Dh, D] -> attn.q.kernel [D, H, Dh]     o_proj.weight [D, H*Dh] -> o.kernel [H, Dh, D]
  gate/up_proj.weight [F, D] -> kernel [D, F]             down_proj.weight [D, F] -> kernel [F, D]
  lm_head.weight [V, D] -> lm_head.kernel [D, V]          (absent with tied embeddings)
"""
import json
import os
from typing import Callable

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
from flax import traverse_util

from r1jax import sharding
from r1jax.models.transformer import ModelConfig, init_params

SAFETENSORS_DTYPES = {'F32': np.float32, 'F16': np.float16, 'BF16': ml_dtypes.bfloat16,
                      'F64': np.float64, 'I64': np.int64, 'I32': np.int32}
DTYPE_NAMES = {np.dtype(v): k for k, v in SAFETENSORS_DTYPES.items()}
ARCHITECTURES = {'qwen2': 'Qwen2ForCausalLM', 'qwen3': 'Qwen3ForCausalLM',
                 'llama': 'LlamaForCausalLM'}
MAX_SHARD_BYTES = 4 << 30


# ---------------------------------------------------------------------------- config

def _rope_settings(hf: dict) -> dict:
  """rope_theta and the scaling fields, from transformers 4.x (`rope_theta`, `rope_scaling`) or
  5.x (`rope_parameters`) spellings."""
  params = dict(hf.get('rope_parameters') or {})
  scaling = dict(hf.get('rope_scaling') or params)
  theta = hf.get('rope_theta', params.get('rope_theta', 10000.0))
  kind = scaling.get('rope_type', scaling.get('type', 'default'))
  out = dict(rope_theta=float(theta))
  if kind == 'llama3':
    out.update(rope_scaling='llama3', rope_scaling_factor=float(scaling['factor']),
               rope_low_freq_factor=float(scaling['low_freq_factor']),
               rope_high_freq_factor=float(scaling['high_freq_factor']),
               rope_original_max_len=int(scaling['original_max_position_embeddings']))
  elif kind not in ('default', None):
    raise ValueError(f'RoPE scaling {kind!r} is not supported (only llama3); the checkpoint '
                     'config.json asks for it')
  return out


def config_from_hf(hf: dict) -> ModelConfig:
  """ModelConfig of a transformers `config.json` dict (Qwen2, Qwen3, Llama)."""
  kind = hf.get('model_type')
  if kind not in ARCHITECTURES:
    raise ValueError(f'model_type={kind!r} in config.json is not supported; r1jax imports '
                     f'{sorted(ARCHITECTURES)}')
  if hf.get('hidden_act', 'silu') != 'silu':
    raise ValueError(f'hidden_act={hf["hidden_act"]!r}: the r1jax MLP is SwiGLU (silu)')
  if hf.get('mlp_bias', False):
    raise ValueError('mlp_bias=true is not supported (the r1jax MLP has no biases)')
  if hf.get('use_sliding_window', False):
    raise ValueError('use_sliding_window=true is not supported; r1jax attends to the full '
                     'context (set it to false if the model was trained without it)')
  heads = hf['num_attention_heads']
  return ModelConfig(
      vocab_size=hf['vocab_size'], d_model=hf['hidden_size'], n_layers=hf['num_hidden_layers'],
      n_heads=heads, n_kv_heads=hf.get('num_key_value_heads') or heads,
      d_ff=hf['intermediate_size'],
      head_dim=hf.get('head_dim') or hf['hidden_size'] // heads,
      rms_norm_eps=float(hf.get('rms_norm_eps', 1e-6)),
      qkv_bias=bool(hf.get('attention_bias', kind == 'qwen2')),
      tie_embeddings=bool(hf.get('tie_word_embeddings', False)), qk_norm=kind == 'qwen3',
      **_rope_settings(hf))


def config_to_hf(cfg: ModelConfig) -> dict:
  """A transformers `config.json` dict for cfg: Qwen3 when it has q/k norms, Qwen2 when it
  has q/k/v biases, Llama otherwise."""
  kind = 'qwen3' if cfg.qk_norm else 'qwen2' if cfg.qkv_bias else 'llama'
  hf = dict(
      architectures=[ARCHITECTURES[kind]], model_type=kind, vocab_size=cfg.vocab_size,
      hidden_size=cfg.d_model, num_hidden_layers=cfg.n_layers,
      num_attention_heads=cfg.n_heads, num_key_value_heads=cfg.n_kv_heads,
      intermediate_size=cfg.d_ff, head_dim=cfg.head_size, hidden_act='silu',
      rms_norm_eps=cfg.rms_norm_eps, rope_theta=cfg.rope_theta,
      tie_word_embeddings=cfg.tie_embeddings, attention_bias=cfg.qkv_bias,
      max_position_embeddings=max(cfg.rope_original_max_len, 32768),
      dtype=cfg.param_dtype, torch_dtype=cfg.param_dtype, use_cache=True)
  if kind == 'qwen2':
    hf.update(use_sliding_window=False)
  if cfg.rope_scaling == 'llama3':
    scaling = dict(rope_type='llama3', factor=cfg.rope_scaling_factor,
                   low_freq_factor=cfg.rope_low_freq_factor,
                   high_freq_factor=cfg.rope_high_freq_factor,
                   original_max_position_embeddings=cfg.rope_original_max_len)
    hf.update(rope_scaling=scaling, max_position_embeddings=131072)
  return hf


def read_config(path: str) -> ModelConfig:
  with open(os.path.join(path, 'config.json')) as f:
    return config_from_hf(json.load(f))


# ---------------------------------------------------------------------------- safetensors

def _read_header(filename: str) -> tuple[dict, int]:
  with open(filename, 'rb') as f:
    size = int.from_bytes(f.read(8), 'little')
    header = json.loads(f.read(size))
  header.pop('__metadata__', None)
  return header, 8 + size


class SafetensorsReader:
  """name -> np.memmap over a checkpoint directory's safetensors file(s), read lazily."""

  def __init__(self, path: str):
    index = os.path.join(path, 'model.safetensors.index.json')
    if os.path.exists(index):
      with open(index) as f:
        files = sorted(set(json.load(f)['weight_map'].values()))
    elif os.path.exists(os.path.join(path, 'model.safetensors')):
      files = ['model.safetensors']
    else:
      raise FileNotFoundError(f'{path} has neither model.safetensors nor '
                              'model.safetensors.index.json (PyTorch .bin files: re-save with '
                              'safe_serialization=True)')
    self.entries = {}
    for name in files:
      filename = os.path.join(path, name)
      header, start = _read_header(filename)
      for key, info in header.items():
        self.entries[key] = (filename, start, info)

  def __contains__(self, name: str) -> bool:
    return name in self.entries

  def get(self, name: str) -> np.ndarray:
    if name not in self.entries:
      raise KeyError(f'tensor {name!r} is missing from the checkpoint')
    filename, start, info = self.entries[name]
    if info['dtype'] not in SAFETENSORS_DTYPES:
      raise ValueError(f'tensor {name}: dtype {info["dtype"]} is not supported')
    begin, _ = info['data_offsets']
    return np.memmap(filename, dtype=SAFETENSORS_DTYPES[info['dtype']], mode='r',
                     offset=start + begin, shape=tuple(info['shape']))


def write_safetensors(filename: str, tensors: dict[str, tuple[tuple, np.dtype]],
                      fetch: Callable[[str], np.ndarray]) -> None:
  """Streams tensors (name -> (shape, dtype)) into one file; fetch(name) gives each array."""
  header, offset = {}, 0
  for name, (shape, dtype) in tensors.items():
    nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    header[name] = dict(dtype=DTYPE_NAMES[np.dtype(dtype)], shape=list(shape),
                        data_offsets=[offset, offset + nbytes])
    offset += nbytes
  header['__metadata__'] = {'format': 'pt'}
  blob = json.dumps(header, separators=(',', ':')).encode()
  blob += b' ' * (-len(blob) % 8)
  with open(filename, 'wb') as f:
    f.write(len(blob).to_bytes(8, 'little'))
    f.write(blob)
    for name, (shape, dtype) in tensors.items():
      array = np.ascontiguousarray(fetch(name), dtype=dtype)
      if array.shape != tuple(shape):
        raise ValueError(f'{name}: shape {array.shape}, header says {shape}')
      f.write(array.tobytes())


# ---------------------------------------------------------------------------- name mapping

def _to_heads(heads, head_dim):  # [H*Dh, D] -> [D, H, Dh]
  return lambda w: w.T.reshape(w.shape[1], heads, head_dim)


def _from_heads(w):  # [D, H, Dh] -> [H*Dh, D]
  return w.reshape(w.shape[0], -1).T


def _mapping(cfg: ModelConfig) -> dict:
  """r1jax path -> (HF name, to_r1jax, to_hf) for every parameter of `cfg`."""
  same, transpose = (lambda w: w), (lambda w: w.T)
  heads, kv_heads, dh = cfg.n_heads, cfg.n_kv_heads, cfg.head_size
  out = {('embed',): ('model.embed_tokens.weight', same, same),
         ('final_norm', 'scale'): ('model.norm.weight', same, same)}
  if not cfg.tie_embeddings:
    out[('lm_head', 'kernel')] = ('lm_head.weight', transpose, transpose)
  for i in range(cfg.n_layers):
    hf, ours = f'model.layers.{i}.', f'layer_{i}'
    out[(ours, 'attn_norm', 'scale')] = (hf + 'input_layernorm.weight', same, same)
    out[(ours, 'mlp_norm', 'scale')] = (hf + 'post_attention_layernorm.weight', same, same)
    for name, n in (('q', heads), ('k', kv_heads), ('v', kv_heads)):
      out[(ours, 'attn', name, 'kernel')] = (f'{hf}self_attn.{name}_proj.weight',
                                             _to_heads(n, dh), _from_heads)
      if cfg.qkv_bias:
        out[(ours, 'attn', name, 'bias')] = (
            f'{hf}self_attn.{name}_proj.bias', lambda b, n=n: b.reshape(n, dh),
            lambda b: b.reshape(-1))
    out[(ours, 'attn', 'o', 'kernel')] = (
        hf + 'self_attn.o_proj.weight', lambda w: w.T.reshape(heads, dh, w.shape[0]),
        lambda w: w.reshape(-1, w.shape[-1]).T)
    if cfg.qk_norm:
      out[(ours, 'attn', 'q_norm', 'scale')] = (hf + 'self_attn.q_norm.weight', same, same)
      out[(ours, 'attn', 'k_norm', 'scale')] = (hf + 'self_attn.k_norm.weight', same, same)
    for name in ('gate', 'up', 'down'):
      out[(ours, 'mlp', name, 'kernel')] = (f'{hf}mlp.{name}_proj.weight', transpose, transpose)
  return out


def param_shardings(cfg: ModelConfig, mesh, rules):
  """NamedShardings of the parameters of `cfg` on `mesh` (from their logical axis names)."""
  boxed = jax.eval_shape(lambda: init_params(cfg, jax.random.key(0), boxed=True))
  return sharding.logical_shardings(boxed, mesh, rules or sharding.DEFAULT_RULES)


# ---------------------------------------------------------------------------- load / save

def load_hf(path: str, mesh=None, rules=None, param_dtype: str | None = None):
  """(ModelConfig, params) of a Hugging Face checkpoint directory, placed on `mesh`.

  With mesh=None the parameters go to the default device. `param_dtype` (default 'float32')
  is the storage dtype of the returned parameters; each tensor is cast as it is read.
  """
  path = os.path.expanduser(path)
  cfg = read_config(path)
  if param_dtype:
    cfg = ModelConfig(**{**cfg.__dict__, 'param_dtype': param_dtype})
  if mesh is None:
    mesh = jax.make_mesh((1, 1, 1), sharding.MESH_AXES, devices=jax.devices()[:1],
                         axis_types=(jax.sharding.AxisType.Auto,) * 3)
  shardings = traverse_util.flatten_dict(param_shardings(cfg, mesh, rules))
  abstract = traverse_util.flatten_dict(
      jax.eval_shape(lambda: init_params(cfg, jax.random.key(0))))
  reader = SafetensorsReader(path)
  mapping = _mapping(cfg)
  unused = set(reader.entries) - {hf for hf, _, _ in mapping.values()}
  unused = {n for n in unused if not n.endswith('rotary_emb.inv_freq')}
  if cfg.tie_embeddings:
    unused.discard('lm_head.weight')  # some exports write the tied copy too
  if unused:
    raise ValueError(f'{path}: {len(unused)} checkpoint tensors have no r1jax parameter, e.g. '
                     f'{sorted(unused)[:3]}; is config.json for this checkpoint?')
  flat = {}
  for key, (hf_name, to_r1jax, _) in mapping.items():
    target = abstract[key]
    array = np.asarray(to_r1jax(reader.get(hf_name)), dtype=cfg.weight_dtype)
    if array.shape != target.shape:
      raise ValueError(f'{hf_name}: shape {array.shape} after conversion, expected '
                       f'{target.shape} for {"/".join(key)} (config.json disagrees with weights)')
    flat[key] = jax.make_array_from_callback(array.shape, shardings[key],
                                             lambda index, a=array: a[index])
    del array
  return cfg, traverse_util.unflatten_dict(flat)


def _host_array(x) -> np.ndarray:
  if not x.is_fully_addressable:
    from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
    x = multihost_utils.process_allgather(x, tiled=True)
  return np.asarray(jax.device_get(x))


def save_hf(path: str, model_cfg: ModelConfig, params, max_shard_bytes: int = MAX_SHARD_BYTES):
  """Writes `params` as a transformers checkpoint directory (config.json, safetensors,
  generation_config.json is left to the tokenizer's owner). Tensors are gathered one at a
  time; only process 0 writes. Files larger than max_shard_bytes are split with an index."""
  flat = traverse_util.flatten_dict(params)
  mapping = _mapping(model_cfg)
  missing = set(mapping) - set(flat)
  if missing:
    raise ValueError(f'params lack {sorted("/".join(k) for k in missing)[:3]} for this config')
  dtype = np.dtype({'float32': np.float32, 'bfloat16': ml_dtypes.bfloat16,
                    'float16': np.float16}[model_cfg.param_dtype])
  shapes = {}
  for key, (hf_name, _, to_hf) in mapping.items():
    shapes[hf_name] = (jax.eval_shape(to_hf, flat[key]).shape, dtype, key)
  # Split into shards of at most max_shard_bytes, in checkpoint order.
  shards, size = [[]], 0
  for name, (shape, _, _) in shapes.items():
    nbytes = int(np.prod(shape)) * dtype.itemsize
    if shards[-1] and size + nbytes > max_shard_bytes:
      shards.append([])
      size = 0
    shards[-1].append(name)
    size += nbytes

  def fetch(name):
    key = shapes[name][2]
    return mapping[key][2](_host_array(flat[key]))

  if jax.process_index() != 0:
    for name in shapes:  # take part in the gathers
      if not flat[shapes[name][2]].is_fully_addressable:
        fetch(name)
    return path
  os.makedirs(path, exist_ok=True)
  names = (['model.safetensors'] if len(shards) == 1 else
           [f'model-{i + 1:05d}-of-{len(shards):05d}.safetensors' for i in range(len(shards))])
  for filename, members in zip(names, shards):
    write_safetensors(os.path.join(path, filename),
                      {n: shapes[n][:2] for n in members}, fetch)
  if len(shards) > 1:
    weight_map = {n: f for f, members in zip(names, shards) for n in members}
    total = sum(int(np.prod(s[0])) * dtype.itemsize for s in shapes.values())
    with open(os.path.join(path, 'model.safetensors.index.json'), 'w') as f:
      json.dump({'metadata': {'total_size': total}, 'weight_map': weight_map}, f, indent=2)
  with open(os.path.join(path, 'config.json'), 'w') as f:
    json.dump(config_to_hf(model_cfg), f, indent=2)
  return path


def cast_params(params, dtype: str):
  """Parameters cast to a storage dtype ('float32' | 'bfloat16' | 'float16'), shardings kept."""
  target = {'float32': jnp.float32, 'bfloat16': jnp.bfloat16, 'float16': jnp.float16}[dtype]
  return jax.tree.map(lambda x: x.astype(target), params)


# ---------------------------------------------------------------------------- configs

# config.model fields that a checkpoint's config.json decides (the rest, e.g. dtype, param_dtype,
# remat, logits_chunk, stay the experiment's choice).
ARCHITECTURE_FIELDS = ('vocab_size', 'd_model', 'n_layers', 'n_heads', 'n_kv_heads', 'd_ff',
                       'head_dim', 'rope_theta', 'rms_norm_eps', 'qkv_bias', 'tie_embeddings',
                       'qk_norm', 'rope_scaling', 'rope_scaling_factor', 'rope_low_freq_factor',
                       'rope_high_freq_factor', 'rope_original_max_len')


def apply_to_config(config) -> None:
  """Sets config.model's architecture fields from config.model.hf_path's config.json (in
  place; a locked ConfigDict allows it). Nothing to do without hf_path."""
  path = config.model.get('hf_path', '')
  if not path:
    return
  cfg = read_config(os.path.expanduser(path))
  for field in ARCHITECTURE_FIELDS:
    config.model[field] = getattr(cfg, field)


def load_for_config(config, mesh, rules):
  """The imported parameters of config.model.hf_path, in config.model.param_dtype."""
  _, params = load_hf(os.path.expanduser(config.model.hf_path), mesh, rules,
                      param_dtype=config.model.param_dtype)
  return params
