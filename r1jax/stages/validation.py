"""The whole check of a recipe before anything compiles: every field known, the stage list
consistent, and each stage's config (its stage_overrides applied) valid for its kind. Each section's
validator lives with the code that owns the section; the kinds name theirs in the registry.

  validate(config, num_devices=jax.device_count())   # raises ConfigError naming field and fix
"""
from r1jax import evaluate, sharding
from r1jax.config import ConfigError, require, validate_fields
from r1jax.data import source
from r1jax.models import transformer
from r1jax.stages.registry import KINDS, check_stages, kind_name, stage_config
from r1jax.train import pretrain


def validate(config, num_devices: int) -> None:
  """Every field known, the stage list consistent, and each stage's config (with its
  stage_overrides applied) valid for its kind."""
  validate_fields(config)
  problems = check_stages(config)
  require(not problems, problems[0] if problems else '')
  if not config.stages:
    validate_stage(config, num_devices, kind=None)
  for name in config.stages:
    try:
      stage_cfg = stage_config(config, name)
    except ValueError as e:
      raise ConfigError(str(e)) from None
    try:
      validate_stage(stage_cfg, num_devices, kind_name(config, name))
    except ConfigError as e:
      if name not in (config.get('stage_overrides') or {}):
        raise
      raise ConfigError(f'stage {name} (with its stage_overrides): {e}') from None


def validate_stage(config, num_devices: int, kind: str | None) -> None:
  """The sections every stage reads (model, train, data, eval), then the kind's own."""
  # Mesh: shape against the device count, batches against the data-parallel size.
  try:
    shape = sharding.mesh_shape(config.mesh, num_devices)
  except ValueError as e:
    raise ConfigError(str(e)) from None
  data_parallel = shape[0] * shape[1]
  transformer.validate_config(config)
  pretrain.validate_config(config, data_parallel, shape)
  source.validate_config(config)
  evaluate.validate_config(config, data_parallel)
  own = KINDS[kind].validate if kind in KINDS else None
  if own is not None:
    own(config, data_parallel)
