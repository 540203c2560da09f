"""Stage kinds, stage names and per-stage configs: what `config.stages` means.

A recipe lists stage NAMES (`config.stages = ('pretrain', 'cold_start', 'reasoning_rl')`).
Each name has a KIND, a function that trains (`pretrain`, `sft`, `rl`, `reward_model`):

  config.stage_kinds      {name: kind}; a name that is a kind (or in DEFAULT_KINDS, e.g.
                          cold_start -> sft, reasoning_rl -> rl) needs no entry
  config.stage_from       {name: earlier stage}; whose final params the stage starts from.
                          Default: the stage before it (R1's `sft` sets 'pretrain': it
                          fine-tunes the base model, not the RL checkpoint)
  config.stage_overrides  {name: {section: {field: value}}}; config fields changed for that
                          stage only, e.g. {'cold_start': {'train': {'steps': 200,
                          'mask_prompt': True}}}; on the command line:
                          --config.stage_overrides.cold_start.train.steps=300

Each stage writes checkpoints/<name>/, metrics rows with stage=<name>, and <name>_curves.png.
"""
import dataclasses
import json
import os
from typing import Callable

import jax
import ml_collections

from r1jax import checkpoint
from r1jax.models import ModelConfig, init_params

# Stage names that are not kinds themselves, and their kinds (R1 and k1.5 names).
DEFAULT_KINDS = {'cold_start': 'sft', 'reasoning_rl': 'rl', 'rl_all': 'rl', 'distill': 'sft'}
# Config fields replaced as a whole by an override (free-form mappings), not merged.
REPLACED_FIELDS = ('data.mode_probs', 'data.languages', 'mesh.rules', 'rl.rewards', 'rl.reward_options')


@dataclasses.dataclass(frozen=True)
class Kind:
  """A stage kind.

  run(ctx, config, name, init_params) -> result; `config` has the stage's overrides applied,
    `init_params` are the start params (None: a resumed stage, or the kind's own default).
  total_steps(config) -> the step count at which the stage is finished.
  params_path: where the policy params sit in the stage's checkpoint tree.
  from_earlier: whether the stage starts from an earlier stage's params (pretrain does not).
  makes_params: False for a stage that writes data, not a checkpoint (rejection sampling): a
    stage after it starts, by default, from the params it started from.
  progress(workdir, name) -> steps done (None: not started); default: the latest checkpoint.
  prepare(ctx, config, name) -> config with fields that depend on earlier stages' output
    filled in (an SFT epoch count turned into train.steps once its data set exists).
  validate(config, data_parallel) -> None, raising ConfigError: the checks of the sections the
    kind's loop owns, on the stage's config (r1jax/stages/validation.py calls it).
  """
  name: str
  run: Callable
  total_steps: Callable
  params_path: tuple
  description: str
  from_earlier: bool = True
  makes_params: bool = True
  progress: Callable | None = None
  prepare: Callable | None = None
  validate: Callable | None = None


KINDS: dict[str, Kind] = {}


def register(kind: Kind) -> Kind:
  KINDS[kind.name] = kind
  return kind


def kind_name(config, name: str) -> str | None:
  """The kind of stage `name` (None if it has none)."""
  kinds = config.get('stage_kinds') or {}
  if name in kinds:
    return kinds[name]
  return name if name in KINDS else DEFAULT_KINDS.get(name)


def get_kind(config, name: str) -> Kind:
  kind = kind_name(config, name)
  if kind not in KINDS:
    raise ValueError(f'stage {name!r} has kind {kind!r}; known kinds: {sorted(KINDS)} '
                     '(set config.stage_kinds)')
  return KINDS[kind]


def source_stage(config, name: str) -> str | None:
  """The stage whose final params stage `name` starts from (None: the first stage)."""
  chosen = (config.get('stage_from') or {}).get(name)
  if chosen:
    return chosen
  index = list(config.stages).index(name)
  if not index:
    return None
  before = config.stages[index - 1]
  kind = KINDS.get(kind_name(config, before))
  if kind is not None and not kind.makes_params:  # a data stage: pass its own source on
    return source_stage(config, before)
  return before


def data_stage(config, name: str, kind: str) -> str | None:
  """The latest stage of `kind` before stage `name` (whose data set it reads), or None."""
  stages = list(config.stages)
  return next((s for s in reversed(stages[:stages.index(name)])
               if kind_name(config, s) == kind), None)


def _merge(target: ml_collections.ConfigDict, overrides, prefix: str = '') -> None:
  for key, value in overrides.items():
    path = f'{prefix}{key}'
    if key not in target:
      raise ValueError(f'unknown config field {path}')
    if isinstance(target[key], ml_collections.ConfigDict) and path not in REPLACED_FIELDS:
      if not hasattr(value, 'items'):
        raise ValueError(f'{path} is a section; override its fields, e.g. {{"{key}": {{...}}}}')
      _merge(target[key], value, f'{path}.')
    else:
      target[key] = value


def stage_config(config, name: str) -> ml_collections.ConfigDict:
  """`config` with the overrides of stage `name` applied (a copy; `config` is unchanged)."""
  merged = ml_collections.ConfigDict(config.to_dict())
  overrides = (config.get('stage_overrides') or {}).get(name)
  if overrides:
    try:
      _merge(merged, overrides)
    except (ValueError, TypeError) as e:
      raise ValueError(f'stage_overrides.{name}: {e}') from None
  return merged


def first_stages(config, count: int) -> ml_collections.ConfigDict:
  """`config` cut to its first `count` stages (a copy): the stage_kinds / stage_from /
  stage_overrides entries of the dropped stages go too, so the shorter recipe validates.
  E.g. a smoke run of the start of a pipeline: `first_stages(r1.get_config('quick'), 3)`."""
  if not 1 <= count <= len(config.stages):
    raise ValueError(f'first_stages: count={count}; the config has {len(config.stages)} stages '
                     f'{tuple(config.stages)}')
  cut = ml_collections.ConfigDict(config.to_dict())
  cut.stages = tuple(config.stages[:count])
  for field in ('stage_kinds', 'stage_from', 'stage_overrides'):
    if cut.get(field):
      cut[field] = {k: v for k, v in config[field].items() if k in cut.stages}
  return cut


def check_stages(config) -> list[str]:
  """Problems with the stage list, kinds, sources and overrides (one line each)."""
  problems = []
  stages = list(config.stages)
  unknown = [s for s in stages if kind_name(config, s) not in KINDS]
  if unknown:
    problems.append(f'stages={tuple(stages)}: unknown stage(s) {unknown}; use stage kinds '
                    f'{tuple(sorted(KINDS))}, names {tuple(sorted(DEFAULT_KINDS))}, or name '
                    'their kind in config.stage_kinds')
  if len(set(stages)) != len(stages):
    problems.append(f'stages={tuple(stages)} repeats a name; each stage needs its own name '
                    '(its checkpoints/<name> directory)')
  for field in ('stage_kinds', 'stage_from', 'stage_overrides'):
    extra = sorted(set(config.get(field) or {}) - set(stages))
    if extra:
      problems.append(f'{field} names {extra}, which are not in stages={tuple(stages)}')
  for name, source in (config.get('stage_from') or {}).items():
    if name in stages and source and (source not in stages
                                      or stages.index(source) >= stages.index(name)):
      problems.append(f'stage_from.{name}={source!r} is not an earlier stage of '
                      f'stages={tuple(stages)}')
    elif source in stages and not getattr(KINDS.get(kind_name(config, source)),
                                          'makes_params', True):
      problems.append(f'stage_from.{name}={source!r} names a stage that writes data, not '
                      'params; name the stage it samples from')
  for name in stages:
    if kind_name(config, name) not in KINDS or problems:
      continue
    try:
      sft_data = stage_config(config, name).train.sft_data
    except ValueError:
      continue  # a bad override: validation names it
    zero = stage_config(config, name).train.get('cold_start_zero_stage')
    if zero and (zero not in stages or stages.index(zero) >= stages.index(name)
                 or not getattr(KINDS.get(kind_name(config, zero)), 'makes_params', True)):
      problems.append(f'stage {name}: train.cold_start_zero_stage={zero!r} is not an earlier '
                      f'stage with params in stages={tuple(stages)}')
    if (sft_data == 'rejection_sampling'
        and data_stage(config, name, 'rejection_sampling') is None):
      problems.append(f"stage {name}: train.sft_data='rejection_sampling' needs a "
                      'rejection_sampling stage before it in stages')
  return problems


def load_stage_params(config, workdir: str, name: str, mesh, rules):
  """The final decoder params of stage `name`, restored onto `mesh` (only the params)."""
  kind, cfg = get_kind(config, name), stage_config(config, name)
  model_cfg = ModelConfig.from_config(cfg.model)
  boxed = jax.eval_shape(lambda k: init_params(model_cfg, k, boxed=True), jax.random.key(0))
  return checkpoint.restore_params(workdir, name, boxed, kind.params_path, mesh, rules)


# ---------------------------------------------------------------------------- stage reports

def report_path(workdir: str, stage: str) -> str:
  """WORKDIR/reports/<stage>.json: a data stage's report, written last (it marks the stage
  finished)."""
  return os.path.join(workdir, 'reports', f'{stage}.json')


def read_report(workdir: str, stage: str) -> dict | None:
  """The report stage `stage` wrote when it finished (None: not finished)."""
  path = report_path(workdir, stage)
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


def save_report(workdir: str, stage: str, report: dict) -> None:
  """Writes stage `stage`'s report (process 0 only); call it last."""
  if jax.process_index() == 0:
    os.makedirs(os.path.dirname(report_path(workdir, stage)), exist_ok=True)
    with open(report_path(workdir, stage), 'w') as f:
      json.dump(report, f, indent=1)
