"""Config validation and command-line overrides: run before anything compiles; each problem
is one line that names the field and the fix.

  validate(config, num_devices=jax.device_count())   # raises ConfigError
  config = apply_overrides(config, [('rl.kl_beta', '0.001'), ('mesh.rules.embed', 'None')])
"""
import ast
import difflib
import importlib.util
import pathlib

import jax
import ml_collections

from r1jax import sharding
from r1jax.models.transformer import DTYPES

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


def _require(condition: bool, message: str) -> None:
  if not condition:
    raise ConfigError(message)


def _positive(config, *paths) -> None:
  for path in paths:
    value = config
    for part in path.split('.'):
      value = value[part]
    _require(value > 0, f'{path}={value} must be positive')


def _non_negative(config, *paths) -> None:
  for path in paths:
    value = config
    for part in path.split('.'):
      value = value[part]
    _require(value >= 0, f'{path}={value} must be >= 0 (0 = off)')


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
    _require(not bad, f'mesh.rules[{name!r}]={axes!r}: unknown mesh axis {bad}; use None, one '
                      f'of {data_parallel_names} or a tuple of them')


def validate_fields(config) -> None:
  """The checks that need no devices: every field known (also in stage_overrides), mesh.rules
  well formed."""
  defaults = _defaults()
  check_known_fields(config, defaults)
  for name, overrides in (config.get('stage_overrides') or {}).items():
    check_known_fields(overrides, defaults, label=f'stage_overrides.{name}.')
  _check_rules(config)


def validate(config, num_devices: int) -> None:
  """Every field known, the stage list consistent, and each stage's config (with its
  stage_overrides applied) valid for its kind."""
  from r1jax import stages  # pylint: disable=g-import-not-at-top
  validate_fields(config)
  problems = stages.check_stages(config)
  _require(not problems, problems[0] if problems else '')
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
  remats = ('none', 'full', 'dots', 'dots_no_batch')
  _require(m.remat in remats, f'model.remat={m.remat!r}: use one of {remats}')
  _require(m.rope_scaling in ('', 'llama3'), f"model.rope_scaling={m.rope_scaling!r}: use '' "
                                             "or 'llama3'")
  _require(m.logits_chunk >= 0, f'model.logits_chunk={m.logits_chunk} must be >= 0 (0 = off)')
  for field in ('dtype', 'param_dtype'):
    _require(m[field] in DTYPES, f'model.{field}={m[field]!r}: use one of {tuple(DTYPES)}')

  t = config.train
  _positive(config, 'train.steps', 'train.batch_size', 'train.learning_rate',
            'train.grad_clip', 'data.seq_len')
  _non_negative(config, 'train.log_every', 'train.eval_every', 'train.max_nonfinite_in_a_row')
  _require(t.batch_size % data_parallel == 0,
           f'train.batch_size={t.batch_size} is not divisible by the data-parallel size '
           f'{data_parallel} (mesh data x fsdp = {shape[0]} x {shape[1]}); use a multiple of '
           f'{data_parallel}')
  _require(t.warmup_steps >= 0, f'train.warmup_steps={t.warmup_steps} must be >= 0')
  _require(t.sft_data in ('', 'cold_start', 'rejection_sampling'),
           f"train.sft_data={t.sft_data!r}: use '' (the corpus), 'cold_start' or "
           "'rejection_sampling'")
  _require(t.epochs >= 0, f'train.epochs={t.epochs} must be >= 0 (0 = train.steps)')
  _require(not t.sft_data or t.cold_start_examples > 0,
           f'train.cold_start_examples={t.cold_start_examples} must be positive')
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
  elif kind == 'rejection_sampling':
    _validate_rejection_sampling(config, data_parallel)
  elif kind == 'k15_report':
    _validate_k15_report(config)


def _validate_k15_report(config) -> None:
  """Every stage the report names is in the stage list (a typo would only show as a
  missing row or curve at the end of a long run)."""
  c = config.k15_report
  named = [('long_stage', c.long_stage)] + [(f, s) for f in ('short_stages', 'direct_stages')
                                            for s in c[f]]
  named += [('curves', s) for group in c.curves for s in group]
  for field, stage in named:
    _require(stage in config.stages,
             f'k15_report.{field} names {stage!r}, which is not in stages='
             f'{tuple(config.stages)}; name a stage of the list or remove it')


def _check_sampling(name, c) -> None:
  _require(c.temperature >= 0, f'{name}.temperature={c.temperature} must be >= 0 (0 = greedy)')
  _require(0 < c.top_p <= 1, f'{name}.top_p={c.top_p} must be in (0, 1]')
  _require(c.top_k >= 0, f'{name}.top_k={c.top_k} must be >= 0 (0 = off)')


def _validate_rl(config, data_parallel: int) -> None:
  r = config.rl
  _positive(config, 'rl.steps', 'rl.prompts_per_step', 'rl.group_size', 'rl.max_new_tokens',
            'rl.prompt_len', 'rl.num_iterations', 'rl.learning_rate')
  _positive(config, *(f'rl.{f}' for f in ('update_chunks', 'length_buckets') if f in r))
  _non_negative(config, 'rl.log_every', 'rl.eval_every', 'rl.max_nonfinite_in_a_row')
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
  _validate_k15(r)
  _validate_partial(r)
  if r.reward_model_stage:
    from r1jax import stages  # pylint: disable=g-import-not-at-top
    _require(r.reward_model_stage in config.stages and stages.kind_name(
        config, r.reward_model_stage) == 'reward_model',
             f'rl.reward_model_stage={r.reward_model_stage!r} is not a reward_model stage of '
             f'stages={tuple(config.stages)}; name one that runs before this stage')
    _require(0 <= r.general_fraction <= 1,
             f'rl.general_fraction={r.general_fraction} must be in [0, 1]')
  if r.match_compute_of:
    from r1jax import stages  # pylint: disable=g-import-not-at-top
    _require(r.match_compute_of in config.stages and stages.kind_name(
        config, r.match_compute_of) in ('sft', 'pretrain'),
             f'rl.match_compute_of={r.match_compute_of!r} is not an sft or pretrain stage of '
             f'stages={tuple(config.stages)}')
  if r.prompt_set:   # a curated set is read at run time: a wrong name must not wait till then
    from r1jax import stages  # pylint: disable=g-import-not-at-top
    _require(r.prompt_set in config.stages and stages.kind_name(
        config, r.prompt_set) == 'curate_prompts',
             f'rl.prompt_set={r.prompt_set!r} is not a curate_prompts stage of '
             f"stages={tuple(config.stages)}; name the curation stage that runs before this "
             "one, or set rl.prompt_set='' to train on config.data's train split")


def _validate_k15(r) -> None:
  """The loss switch, reward schedules, dynamic-sampling signal and prompt samplers."""
  from r1jax import losses  # pylint: disable=g-import-not-at-top
  from r1jax.data.prompt_sampler import SAMPLING_MODES  # pylint: disable=g-import-not-at-top
  _require(r.loss in ('grpo', 'kimi_k15'), f"rl.loss={r.loss!r}: use 'grpo' or 'kimi_k15'")
  if r.loss == 'kimi_k15':
    _require(r.kimi_tau > 0, f'rl.kimi_tau={r.kimi_tau} must be > 0 (e.g. 0.05)')
    _require(r.kimi_baseline in losses.KIMI_BASELINES,
             f'rl.kimi_baseline={r.kimi_baseline!r}: use one of {losses.KIMI_BASELINES}')
    _require(r.kimi_baseline != 'partition' or r.group_size >= 2,
             "rl.kimi_baseline='partition' needs rl.group_size >= 2 (a leave-one-out mean)")
    _require(r.kl_beta == 0, f"rl.kl_beta={r.kl_beta} with rl.loss='kimi_k15': k1.5 has no "
                             'reference KL (its tau term is the KL to the iteration\'s policy); '
                             'set rl.kl_beta=0')
    _require(r.entropy_coef == 0, f"rl.entropy_coef={r.entropy_coef} is not used by "
                                  "rl.loss='kimi_k15'; set it to 0")
  warmups = dict(r.reward_warmup)
  _require(r.length_penalty_warmup >= 0,
           f'rl.length_penalty_warmup={r.length_penalty_warmup} must be >= 0')
  if r.length_penalty_warmup:
    warmups['length_penalty'] = r.length_penalty_warmup
  for name, steps in warmups.items():
    _require(name in r.rewards, f'rl.reward_warmup names {name!r}, which is not in rl.rewards '
                                f'{sorted(r.rewards)}; add it to rl.rewards')
    _require(steps >= 0, f'rl.reward_warmup[{name!r}]={steps} must be >= 0 steps')
  _require(r.dynamic_sampling_metric in ('success', 'reward'),
           f"rl.dynamic_sampling_metric={r.dynamic_sampling_metric!r}: use 'success' or 'reward'")
  _require(r.sampling in SAMPLING_MODES,
           f'rl.sampling={r.sampling!r}: use one of {SAMPLING_MODES}')
  if (r.dynamic_sampling and r.dynamic_sampling_metric == 'success') or (
      r.sampling == 'prioritized'):
    _require(r.success_reward in r.rewards,
             f'rl.success_reward={r.success_reward!r} is not in rl.rewards {sorted(r.rewards)}: '
             'dynamic sampling by success and prioritized sampling read it; add it (weight 0 '
             "tracks it without rewarding) or use rl.dynamic_sampling_metric='reward'")
  _require(0 < r.curriculum_start <= 1,
           f'rl.curriculum_start={r.curriculum_start} must be in (0, 1]')
  _require(r.curriculum_steps >= 0, f'rl.curriculum_steps={r.curriculum_steps} must be >= 0')
  _require(0 < r.priority_floor <= 1, f'rl.priority_floor={r.priority_floor} must be in (0, 1]')


def _validate_partial(r) -> None:
  """k1.5 partial rollouts (r1jax/train/partial.py) and repeated-text detection."""
  _require(0 <= r.partial_rollout_budget <= r.max_new_tokens,
           f'rl.partial_rollout_budget={r.partial_rollout_budget} must be in [0, '
           f'rl.max_new_tokens={r.max_new_tokens}] (0 = off)')
  _require(r.repeat_ngram >= 0, f'rl.repeat_ngram={r.repeat_ngram} must be >= 0 (0 = off)')
  _require(r.partial_cache in ('keep', 'step', 'off'),
           f"rl.partial_cache={r.partial_cache!r} must be 'keep', 'step' or 'off'")
  _require(r.partial_loss in ('fresh', 'all'),
           f"rl.partial_loss={r.partial_loss!r} must be 'fresh' or 'all'")
  if not r.partial_rollout_budget:
    _require(r.repeat_ngram == 0, f'rl.repeat_ngram={r.repeat_ngram} needs partial rollouts '
                                  '(rl.partial_rollout_budget > 0), which check each segment')
    return
  _require(not r.dynamic_sampling and r.sampling == 'uniform' and not r.reward_model_stage,
           'rl.partial_rollout_budget > 0 reads prompts from the uniform stream only: set '
           "rl.dynamic_sampling=False, rl.sampling='uniform' and rl.reward_model_stage=''")
  _require(jax.process_count() == 1, 'rl.partial_rollout_budget > 0 keeps its buffer on one '
                                     'host: run on a single process or set it to 0')


def _validate_reward_model(config, data_parallel: int) -> None:
  r = config.reward_model
  _positive(config, 'reward_model.steps', 'reward_model.batch_size',
            'reward_model.learning_rate', 'reward_model.num_pairs',
            'reward_model.num_heldout_pairs', 'reward_model.seq_len', 'reward_model.log_every')
  _require(r.batch_size % data_parallel == 0,
           f'reward_model.batch_size={r.batch_size} is not divisible by the data-parallel size '
           f'{data_parallel}; use a multiple of {data_parallel}')


def _validate_rejection_sampling(config, data_parallel: int) -> None:
  r = config.rejection_sampling
  _positive(config, 'rejection_sampling.num_prompts', 'rejection_sampling.num_samples',
            'rejection_sampling.max_new_tokens', 'rejection_sampling.prompt_len',
            'rejection_sampling.batch_size', 'rejection_sampling.repeat_ngram')
  _non_negative(config, 'rejection_sampling.max_response_tokens',
                'rejection_sampling.max_per_prompt', 'rejection_sampling.num_general')
  _require(r.batch_size % data_parallel == 0,
           f'rejection_sampling.batch_size={r.batch_size} is not divisible by the data-parallel '
           f'size {data_parallel}; use a multiple of {data_parallel}')
  _require(r.keep in ('all', 'shortest'),
           f"rejection_sampling.keep={r.keep!r}: use 'all' or 'shortest'")
  _require(0 <= r.max_repeat_ratio <= 1,
           f'rejection_sampling.max_repeat_ratio={r.max_repeat_ratio} must be in [0, 1]')
  _require(r.temperature >= 0,
           f'rejection_sampling.temperature={r.temperature} must be >= 0 (0 = greedy)')
