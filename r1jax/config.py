"""Config schema checks, command-line overrides and the helpers every section's validator uses:
each problem is one line that names the field and the fix.

  config = apply_overrides(config, [('rl.kl_beta', '0.001'), ('mesh.rules.embed', 'None')])
  validate_fields(config)                              # unknown fields, mesh.rules; ConfigError

The whole check of a recipe, every stage's sections included, is `r1jax.stages.validate(config,
num_devices)`: each section's validator lives with the code that owns the section (the model's
in r1jax/models/transformer.py, the RL loop's in r1jax/train/rl.py, ...) and the stage kinds
name theirs in the registry.
"""
import ast
import difflib
import importlib.util
import pathlib

import ml_collections

from r1jax import sharding

# Fields whose value is a free-form mapping (names chosen by the user).
OPEN_FIELDS = ('data.mode_probs', 'data.languages', 'mesh.rules', 'rl.rewards',
               'rl.reward_options', 'rl.reward_warmup', 'stage_kinds', 'stage_from',
               'stage_overrides')


class ConfigError(ValueError):
  """A config field is unknown or inconsistent; the message says which and how to fix it."""


def _defaults():
  """configs/common.py of this checkout (it sits beside the package)."""
  path = pathlib.Path(__file__).resolve().parents[1] / 'configs' / 'common.py'
  spec = importlib.util.spec_from_file_location('r1jax_configs_common', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def _unknown_field(prefix: str, key: str, known, label: str = '') -> ConfigError:
  close = difflib.get_close_matches(key, list(known), n=1)
  hint = f'did you mean {label}{prefix}{close[0]}?' if close else (
      f'known fields here: {", ".join(sorted(known))}')
  return ConfigError(f'unknown config field {label}{prefix}{key}: {hint} (new knobs get a '
                     'default in configs/common.py)')


def check_known_fields(config, defaults, prefix='', label='') -> None:
  """Every field of `config` must exist in configs/common.py (typos are the usual cause).
  `label` goes before the field paths in messages (e.g. 'stage_overrides.sft.')."""
  for key in config.keys():
    path = f'{prefix}{key}'
    if key not in defaults:
      raise _unknown_field(prefix, key, defaults.keys(), label)
    if path in OPEN_FIELDS:
      continue
    if isinstance(config[key], ml_collections.ConfigDict) and isinstance(
        defaults[key], ml_collections.ConfigDict):
      check_known_fields(config[key], defaults[key], prefix=f'{path}.', label=label)


# ---------------------------------------------------------------------------------------------
# Command-line overrides: `--config.FIELD=VALUE`, parsed here rather than by the flag library,
# so that entries of the open mappings can be added and a typo is one line with a suggestion.


def split_overrides(argv) -> tuple[list, list]:
  """argv -> (argv without the overrides, [(field path, value text)]). Accepts
  `--config.a.b=V` and `--config.a.b V`."""
  rest, overrides, i = [], [], 0
  while i < len(argv):
    arg = argv[i]
    if arg.startswith('--config.'):
      key, eq, value = arg[len('--config.'):].partition('=')
      if not eq:
        if i + 1 >= len(argv):
          raise ConfigError(f'--config.{key} needs a value (--config.{key}=VALUE)')
        value, i = argv[i + 1], i + 1
      overrides.append((key, value))
    else:
      rest.append(arg)
    i += 1
  return rest, overrides


def _literal(text: str):
  try:
    return ast.literal_eval(text)
  except (ValueError, SyntaxError):
    return text


def parse_value(text: str, current, path: str):
  """The command-line text as the type of the field's current value."""
  try:
    if isinstance(current, bool):
      if text.lower() not in ('1', '0', 'true', 'false', 'yes', 'no'):
        raise ValueError
      return text.lower() in ('1', 'true', 'yes')
    if isinstance(current, int):
      return int(text)
    if isinstance(current, float):
      return float(text)
    if isinstance(current, str):
      return text
    if isinstance(current, (tuple, list)):
      value = _literal(text)
      if isinstance(value, str):       # stages=pretrain,rl
        value = tuple(v for v in value.split(',') if v)
      if not isinstance(value, (tuple, list)):
        value = (value,)
      return tuple(value)
    if isinstance(current, (dict, ml_collections.ConfigDict)):
      value = _literal(text)
      if not isinstance(value, dict):
        raise ValueError
      return value
  except ValueError:
    raise ConfigError(f'--config.{path}={text!r} is not a {type(current).__name__} '
                      f'(its default is {current!r})') from None
  return _literal(text)


def _section(config, parts, path: str):
  """The ConfigDict at `parts` of `config` and its dotted prefix."""
  node, prefix = config, ''
  for part in parts:
    if part not in node:
      raise _unknown_field(prefix, part, node.keys())
    if not isinstance(node[part], ml_collections.ConfigDict):
      raise ConfigError(f'--config.{path}: {prefix}{part} is a value, not a section')
    node, prefix = node[part], f'{prefix}{part}.'
  return node, prefix


def apply_overrides(config, overrides) -> ml_collections.ConfigDict:
  """A copy of `config` with [(path, text)] applied. Entries of the open mappings
  (OPEN_FIELDS) can be added: `rl.reward_options.code_timeout_s=1.0`, `mesh.rules.embed=None`."""
  config = ml_collections.ConfigDict(config.to_dict())  # an unlocked copy
  for path, text in overrides:
    *parents, name = path.split('.')
    node, prefix = _section(config, parents, path)
    if prefix[:-1] in OPEN_FIELDS:
      node[name] = _literal(text)
    elif name not in node:
      raise _unknown_field(prefix, name, node.keys())
    else:
      node[name] = parse_value(text, node[name], path)
  return config


def require(condition: bool, message: str) -> None:
  if not condition:
    raise ConfigError(message)


def positive(config, *paths) -> None:
  for path in paths:
    value = config
    for part in path.split('.'):
      value = value[part]
    require(value > 0, f'{path}={value} must be positive')


def non_negative(config, *paths) -> None:
  for path in paths:
    value = config
    for part in path.split('.'):
      value = value[part]
    require(value >= 0, f'{path}={value} must be >= 0 (0 = off)')


def _check_rules(config, data_parallel_names=sharding.MESH_AXES) -> None:
  """mesh.rules: known logical names mapped to None, a mesh axis or a tuple of mesh axes."""
  known = [name for name, _ in sharding.DEFAULT_RULES]
  for name, axes in dict(config.mesh.rules or {}).items():
    if name not in known:
      close = difflib.get_close_matches(name, known, n=1)
      hint = f'did you mean {close[0]!r}?' if close else f'use one of {known}'
      raise ConfigError(f'mesh.rules: unknown logical axis {name!r}: {hint}')
    listed = (axes,) if isinstance(axes, str) else tuple(axes or ())
    bad = [a for a in listed if a not in data_parallel_names]
    require(not bad, f'mesh.rules[{name!r}]={axes!r}: unknown mesh axis {bad}; use None, one '
                      f'of {data_parallel_names} or a tuple of them')


def validate_fields(config) -> None:
  """The checks that need no devices: every field known (also in stage_overrides), mesh.rules
  well formed."""
  defaults = _defaults()
  check_known_fields(config, defaults)
  for name, overrides in (config.get('stage_overrides') or {}).items():
    check_known_fields(overrides, defaults, label=f'stage_overrides.{name}.')
  _check_rules(config)


def check_sampling(name, c) -> None:
  require(c.temperature >= 0, f'{name}.temperature={c.temperature} must be >= 0 (0 = greedy)')
  require(0 < c.top_p <= 1, f'{name}.top_p={c.top_p} must be in (0, 1]')
  require(c.top_k >= 0, f'{name}.top_k={c.top_k} must be >= 0 (0 = off)')
