"""Config validation: run before anything compiles; each problem is one line that names
the field and the fix.

  validate(config, num_devices=jax.device_count())   # raises ConfigError
"""
import difflib
import importlib.util
import pathlib

import ml_collections

from r1jax import sharding
from r1jax.models.transformer import DTYPES

# Fields whose value is a free-form mapping (names chosen by the user).
OPEN_FIELDS = ('data.mode_probs', 'mesh.rules', 'rl.rewards', 'rl.reward_options')
STAGES = ('pretrain', 'rl')


class ConfigError(ValueError):
  """A config field is unknown or inconsistent; the message says which and how to fix it."""


def _defaults():
  """configs/common.py of this checkout (it sits beside the package)."""
  path = pathlib.Path(__file__).resolve().parents[1] / 'configs' / 'common.py'
  spec = importlib.util.spec_from_file_location('r1jax_configs_common', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def check_known_fields(config, defaults, prefix='') -> None:
  """Every field of `config` must exist in configs/common.py (typos are the usual cause)."""
  for key in config.keys():
    path = f'{prefix}{key}'
    if key not in defaults:
      close = difflib.get_close_matches(key, list(defaults.keys()), n=1)
      hint = f'did you mean {prefix}{close[0]}?' if close else (
          f'known fields here: {", ".join(sorted(defaults.keys()))}')
      raise ConfigError(f'unknown config field {path}: {hint} (new knobs get a default in '
                        'configs/common.py)')
    if path in OPEN_FIELDS:
      continue
    if isinstance(config[key], ml_collections.ConfigDict) and isinstance(
        defaults[key], ml_collections.ConfigDict):
      check_known_fields(config[key], defaults[key], prefix=f'{path}.')


def _require(condition: bool, message: str) -> None:
  if not condition:
    raise ConfigError(message)


def _positive(config, *paths) -> None:
  for path in paths:
    value = config
    for part in path.split('.'):
      value = value[part]
    _require(value > 0, f'{path}={value} must be positive')


def validate(config, num_devices: int) -> None:
  check_known_fields(config, _defaults())
  unknown = [s for s in config.stages if s not in STAGES]
  _require(not unknown, f'stages={tuple(config.stages)}: unknown stage(s) {unknown}; '
                        f'use some of {STAGES}')

  # Mesh: shape against the device count, batches against the data-parallel size.
  try:
    shape = sharding.mesh_shape(config.mesh, num_devices)
  except ValueError as e:
    raise ConfigError(str(e)) from None
  data_parallel = shape[0] * shape[1]

  m = config.model
  _positive(config, 'model.vocab_size', 'model.d_model', 'model.n_layers', 'model.n_heads',
            'model.n_kv_heads', 'model.d_ff')
  _require(m.head_dim or m.d_model % m.n_heads == 0,
           f'model.d_model={m.d_model} is not divisible by model.n_heads={m.n_heads}; '
           'change one or set model.head_dim')
  _require(m.n_heads % m.n_kv_heads == 0,
           f'model.n_heads={m.n_heads} is not a multiple of model.n_kv_heads={m.n_kv_heads} '
           '(grouped-query attention); use a divisor of n_heads')
  head_size = m.head_dim or m.d_model // m.n_heads
  _require(head_size % 2 == 0, f'head size {head_size} must be even for RoPE; change '
                               'model.head_dim or model.d_model/model.n_heads')
  remats = ('none', 'full', 'dots', 'dots_no_batch')
  _require(m.remat in remats, f'model.remat={m.remat!r}: use one of {remats}')
  _require(m.rope_scaling in ('', 'llama3'), f"model.rope_scaling={m.rope_scaling!r}: use '' "
                                             "or 'llama3'")
  _require(m.logits_chunk >= 0, f'model.logits_chunk={m.logits_chunk} must be >= 0 (0 = off)')
  for field in ('dtype', 'param_dtype'):
    _require(m[field] in DTYPES, f'model.{field}={m[field]!r}: use one of {tuple(DTYPES)}')

  t = config.train
  _positive(config, 'train.steps', 'train.batch_size', 'train.learning_rate',
            'train.grad_clip', 'train.log_every', 'data.seq_len')
  _require(t.batch_size % data_parallel == 0,
           f'train.batch_size={t.batch_size} is not divisible by the data-parallel size '
           f'{data_parallel} (mesh data x fsdp = {shape[0]} x {shape[1]}); use a multiple of '
           f'{data_parallel}')
  _require(t.warmup_steps >= 0, f'train.warmup_steps={t.warmup_steps} must be >= 0')
  _require(0 <= t.min_lr_ratio <= 1, f'train.min_lr_ratio={t.min_lr_ratio} must be in [0, 1]')

  d = config.data
  _require(d.source in ('synthetic', 'tfds', 'reasoning_gym'),
           f"data.source={d.source!r}: use 'synthetic', 'tfds' or 'reasoning_gym'")
  _require(d.source != 'reasoning_gym' or len(d.rg_tasks) > 0,
           "data.source='reasoning_gym' needs data.rg_tasks (reasoning-gym dataset names)")
  _require(d.source != 'tfds' or d.tfds_dir,
           "data.source='tfds' needs data.tfds_dir (the directory the builder wrote)")
  _require(d.num_train > 0 and d.num_heldout > 0,
           'data.num_train and data.num_heldout must be positive')

  e = config.eval
  _positive(config, 'eval.num_prompts', 'eval.num_samples', 'eval.batch_size',
            'eval.max_new_tokens', 'eval.prompt_len')
  _require(e.batch_size % data_parallel == 0,
           f'eval.batch_size={e.batch_size} is not divisible by the data-parallel size '
           f'{data_parallel}; use a multiple of {data_parallel}')
  _require(e.num_prompts <= d.num_heldout,
           f'eval.num_prompts={e.num_prompts} exceeds data.num_heldout={d.num_heldout}; '
           'lower eval.num_prompts or raise data.num_heldout')
  _check_sampling('eval', e)

  if 'rl' in config.stages:
    _validate_rl(config, data_parallel)


def _check_sampling(name, c) -> None:
  _require(c.temperature >= 0, f'{name}.temperature={c.temperature} must be >= 0 (0 = greedy)')
  _require(0 < c.top_p <= 1, f'{name}.top_p={c.top_p} must be in (0, 1]')
  _require(c.top_k >= 0, f'{name}.top_k={c.top_k} must be >= 0 (0 = off)')


def _validate_rl(config, data_parallel: int) -> None:
  r = config.rl
  _positive(config, 'rl.steps', 'rl.prompts_per_step', 'rl.group_size', 'rl.max_new_tokens',
            'rl.prompt_len', 'rl.num_iterations', 'rl.learning_rate')
  _require(r.prompts_per_step % data_parallel == 0,
           f'rl.prompts_per_step={r.prompts_per_step} is not divisible by the data-parallel '
           f'size {data_parallel}; use a multiple of {data_parallel} (a group never straddles '
           'devices)')
  _require(len(r.rewards) > 0, 'rl.rewards is empty; e.g. {"accuracy": 1.0, "format": 0.5}')
  _check_sampling('rl', r)
  modes = ('grpo', 'drgrpo', 'batch_std')
  _require(r.advantage_mode in modes, f'rl.advantage_mode={r.advantage_mode!r}: use one of {modes}')
  from r1jax import rewards  # pylint: disable=g-import-not-at-top
  from r1jax.train.rl import loss_config  # pylint: disable=g-import-not-at-top
  try:
    for name in r.rewards:
      rewards.get_reward(name)
    loss_config(r)
  except ValueError as e:
    raise ConfigError(str(e)) from None
