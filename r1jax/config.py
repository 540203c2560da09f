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
OPEN_FIELDS = ('data.mode_probs', 'data.languages', 'mesh.rules', 'rl.rewards', 'rl.reward_options',
               'stage_kinds', 'stage_from', 'stage_overrides')


class ConfigError(ValueError):
  """A config field is unknown or inconsistent; the message says which and how to fix it."""


def _defaults():
  """configs/common.py of this checkout (it sits beside the package)."""
  path = pathlib.Path(__file__).resolve().parents[1] / 'configs' / 'common.py'
  spec = importlib.util.spec_from_file_location('r1jax_configs_common', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def check_known_fields(config, defaults, prefix='', label='') -> None:
  """Every field of `config` must exist in configs/common.py (typos are the usual cause).
  `label` goes before the field paths in messages (e.g. 'stage_overrides.sft.')."""
  for key in config.keys():
    path = f'{prefix}{key}'
    if key not in defaults:
      close = difflib.get_close_matches(key, list(defaults.keys()), n=1)
      hint = f'did you mean {label}{prefix}{close[0]}?' if close else (
          f'known fields here: {", ".join(sorted(defaults.keys()))}')
      raise ConfigError(f'unknown config field {label}{path}: {hint} (new knobs get a default '
                        'in configs/common.py)')
    if path in OPEN_FIELDS:
      continue
    if isinstance(config[key], ml_collections.ConfigDict) and isinstance(
        defaults[key], ml_collections.ConfigDict):
      check_known_fields(config[key], defaults[key], prefix=f'{path}.', label=label)


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
  """Every field known, the stage list consistent, and each stage's config (with its
  stage_overrides applied) valid for its kind."""
  from r1jax import stages  # pylint: disable=g-import-not-at-top
  defaults = _defaults()
  check_known_fields(config, defaults)
  problems = stages.check_stages(config)
  _require(not problems, problems[0] if problems else '')
  for name, overrides in (config.get('stage_overrides') or {}).items():
    check_known_fields(overrides, defaults, label=f'stage_overrides.{name}.')
  if not config.stages:
    _validate_stage(config, num_devices, kind=None)
  for name in config.stages:
    try:
      stage_cfg = stages.stage_config(config, name)
    except ValueError as e:
      raise ConfigError(str(e)) from None
    try:
      _validate_stage(stage_cfg, num_devices, stages.kind_name(config, name))
    except ConfigError as e:
      if name not in (config.get('stage_overrides') or {}):
        raise
      raise ConfigError(f'stage {name} (with its stage_overrides): {e}') from None


def _validate_stage(config, num_devices: int, kind: str | None) -> None:
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
  _require(t.sft_data in ('', 'cold_start'),
           f"train.sft_data={t.sft_data!r}: use '' (the corpus) or 'cold_start'")
  _require(not t.sft_data or t.cold_start_examples > 0,
           f'train.cold_start_examples={t.cold_start_examples} must be positive')
  _require(0 <= t.min_lr_ratio <= 1, f'train.min_lr_ratio={t.min_lr_ratio} must be in [0, 1]')

  d = config.data
  _require(d.source in ('synthetic', 'tfds'),
           f"data.source={d.source!r}: use 'synthetic' or 'tfds'")
  _require(d.source != 'tfds' or d.tfds_dir,
           "data.source='tfds' needs data.tfds_dir (the directory the builder wrote)")
  _require(d.num_train > 0 and d.num_heldout > 0,
           'data.num_train and data.num_heldout must be positive')
  from r1jax.data.tasks.languages import normalised_probs  # pylint: disable=g-import-not-at-top
  try:
    normalised_probs(d.languages)
  except ValueError as e:
    raise ConfigError(str(e)) from None
  _require(0 <= d.language_switch_prob <= 1,
           f'data.language_switch_prob={d.language_switch_prob} must be in [0, 1]')

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

  if kind == 'rl':
    _validate_rl(config, data_parallel)
  elif kind == 'reward_model':
    _validate_reward_model(config, data_parallel)


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


def _validate_reward_model(config, data_parallel: int) -> None:
  r = config.reward_model
  _positive(config, 'reward_model.steps', 'reward_model.batch_size',
            'reward_model.learning_rate', 'reward_model.num_pairs',
            'reward_model.num_heldout_pairs', 'reward_model.seq_len', 'reward_model.log_every')
  _require(r.batch_size % data_parallel == 0,
           f'reward_model.batch_size={r.batch_size} is not divisible by the data-parallel size '
           f'{data_parallel}; use a multiple of {data_parallel}')
