"""The entry point: one config file, a workdir, and the stages the config lists.

  python -m r1jax.main --config=configs/quickstart.py --workdir=/tmp/r1jax_quickstart
  python -m r1jax.main --config=configs/quickstart.py --config.train.steps=100 --workdir=DIR
  python -m r1jax.main --mode=evaluate --config=configs/quickstart.py --workdir=DIR  # -> DIR/eval/
  python -m r1jax.main --mode=export --config=configs/quickstart.py --workdir=DIR --out=HF_DIR

Re-running the same command resumes: the tokenizer, config and checkpoints live in the
workdir, and a finished stage is not trained again. SIGTERM (preemption) saves the current
step and exits with status 75 (checkpoint.EXIT_PREEMPTED); rerun the command to resume.
`--config.FIELD=VALUE` sets any field, including entries of the open mappings
(`--config.rl.reward_options.code_timeout_s=1.0`, `--config.mesh.rules.embed=None`).
"""
import os
import sys

from absl import app, flags, logging

from r1jax import platform

platform.configure()  # CPU-only XLA defaults, before jax starts its backend
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Experiment config file (configs/*.py).',
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Directory for checkpoints, metrics and plots.')
_DRY_RUN = flags.DEFINE_bool('dry_run', False, 'Print the per-device memory estimate and stop.')
_DRY_RUN_DEVICES = flags.DEFINE_integer('dry_run_devices', 0,
                                        'Devices of the target mesh (0 = those present).')
_DEVICE_MEMORY_GB = flags.DEFINE_float('device_memory_gb', 0.0, 'Memory per device (GiB) the '
                                       'dry run checks against, e.g. 16 (v5e), 95 (v5p), 80 (H100).')
_MODE = flags.DEFINE_enum('mode', 'train', ('train', 'evaluate', 'export'),
                          'train: run config.stages; evaluate: held-out metrics of the workdir\'s '
                          'policy (or model.hf_path) into WORKDIR/eval/; export: a stage\'s params '
                          'as a Hugging Face directory (--out).')
_OUT = flags.DEFINE_string('out', '', 'export: the directory to write; evaluate: the results '
                           'directory (default WORKDIR/eval).')
_STAGE = flags.DEFINE_string('stage', '', 'export: the stage (default: the last one with a '
                             'checkpoint).')
_DTYPE = flags.DEFINE_string('dtype', '', 'export: float32 | bfloat16 | float16 (default: '
                             'model.param_dtype).')
_QUIET = flags.DEFINE_bool('quiet_libraries', True, 'Hide INFO logs of Orbax/JAX.')
flags.mark_flags_as_required(['config', 'workdir'])


# Settings that decide the tokenizer (its training corpus and size, or the imported model).
TOKENIZER_FIELDS = ('model.vocab_size', 'model.hf_path', 'data.source', 'data.tfds_name',
                    'data.tasks', 'data.difficulties', 'data.seed', 'data.num_train',
                    'data.number_pieces', 'data.tokenizer_examples')


def _get(config, path):
  value = config
  for part in path.split('.'):
    value = value.get(part) if hasattr(value, 'get') else None
  return list(value) if isinstance(value, (tuple, list)) else value


def check_same_tokenizer_settings(config, base_workdir: str) -> None:
  """Refuses to pair a base checkpoint with a tokenizer made from other settings."""
  import json  # pylint: disable=g-import-not-at-top
  path = os.path.join(base_workdir, 'config.json')
  if not os.path.exists(path):
    return
  with open(path) as f:
    base = json.load(f)
  # a field the base run's config does not have yet (an older workdir) is not compared
  differ = [f'{field}={_get(config, field)!r} (base: {_get(base, field)!r})'
            for field in TOKENIZER_FIELDS if _get(base, field) is not None
            and _get(config, field) != _get(base, field)]
  if differ:
    from r1jax.config import ConfigError  # pylint: disable=g-import-not-at-top
    raise ConfigError(f'the base workdir {base_workdir} was trained with other tokenizer/data '
                      f'settings: {"; ".join(differ)}. Use the base run\'s settings (its '
                      'config.json), or pretrain a new base model')


def load_or_train_tokenizer(config, workdir: str):
  """The workdir's tokenizer if there is one (resume); else the imported model's
  (model.hf_path), the base workdir's (rl.init_from), or one trained on the corpus. The chosen
  one is copied into the workdir, so every later stage and resume uses the same."""
  from r1jax import checkpoint, metrics  # pylint: disable=g-import-not-at-top
  from r1jax.data import corpus, source, tokenizer  # pylint: disable=g-import-not-at-top
  from r1jax.data.tasks import Example  # pylint: disable=g-import-not-at-top

  directory = os.path.join(workdir, 'tokenizer')
  base = config.rl.init_from if 'pretrain' not in config.stages else ''
  if base:
    check_same_tokenizer_settings(config, base)
  if not os.path.exists(directory):
    if config.model.hf_path:
      tokenizer.HFTokenizer(os.path.expanduser(config.model.hf_path)).save(directory)
    elif base:
      if not os.path.isdir(os.path.join(base, 'tokenizer')):
        raise ValueError(f'rl.init_from={base!r} has no tokenizer/ directory; point it at the '
                         'workdir of the base run')
      tokenizer.load_tokenizer(os.path.join(base, 'tokenizer')).save(directory)
  if os.path.exists(os.path.join(directory, 'tokenizer.json')):
    tok = tokenizer.HFTokenizer(directory)
    if tok.vocab_size > config.model.vocab_size:
      raise ValueError(f'{directory} has {tok.vocab_size} tokens but model.vocab_size='
                       f'{config.model.vocab_size}; use the tokenizer of model.hf_path')
    return tok

  def lines():
    metrics.note(f'Training a {config.model.vocab_size}-piece SentencePiece tokenizer...')
    examples = [Example.from_record(r) for r in source.load_records(config.data, 'train')[
        :config.data.tokenizer_examples]]
    return corpus.tokenizer_corpus(examples,
                                   extra_lines=corpus.extra_tokenizer_lines(config.data, examples))

  def load_or_train(directory):
    return tokenizer.load_or_train_tokenizer(directory, config.model.vocab_size, lines,
                                             config.data.number_pieces)
  return checkpoint.on_process_zero_first(directory, load_or_train, 'tokenizer')

def run(config, workdir: str) -> dict:
  """Runs config.stages in order (r1jax/stages); returns {stage: its result}."""
  import jax  # pylint: disable=g-import-not-at-top
  from r1jax import checkpoint, metrics, sharding  # pylint: disable=g-import-not-at-top
  from r1jax import stages  # pylint: disable=g-import-not-at-top
  from etils import epath  # pylint: disable=g-import-not-at-top

  from r1jax.models import hf  # pylint: disable=g-import-not-at-top
  sharding.init_distributed(config)
  hf.apply_to_config(config)  # an imported model decides the architecture fields
  stages.validate(config, jax.device_count())
  workdir = checkpoint.resolve_workdir(workdir)
  epath.Path(workdir).mkdir(parents=True, exist_ok=True)
  checkpoint.save_config(workdir, config)
  metrics.note(f'Workdir {workdir}; {jax.device_count()} {jax.devices()[0].platform} device(s)')
  tokenizer = load_or_train_tokenizer(config, workdir)
  mesh = sharding.make_mesh(config.mesh)
  rules = sharding.rules_from_config(config)

  with checkpoint.preemption_guard():  # SIGTERM: save the step, raise checkpoint.Preempted
    return stages.run_stages(config, stages.StageContext(workdir, tokenizer, mesh, rules))


# ---------------------------------------------------------------------------- --mode=evaluate

def load_policy(config, workdir: str, mesh, rules):
  """(params, where from): the latest RL checkpoint of `workdir`, else its pretrain
  checkpoint, else the imported model.hf_path."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from r1jax import checkpoint, sharding as shd  # pylint: disable=g-import-not-at-top
  from r1jax.models import ModelConfig  # pylint: disable=g-import-not-at-top
  from r1jax.train import rl, state  # pylint: disable=g-import-not-at-top
  model_cfg = ModelConfig.from_config(config.model)
  for stage in ('rl', 'pretrain'):
    ckpt = checkpoint.Checkpointer(workdir, stage, every=0, keep=1)
    step = ckpt.latest_step()
    if step is None:
      ckpt.close()
      continue
    opt_cfg = config.rl if stage == 'rl' else config.train
    tx = state.make_optimizer(opt_cfg, total_steps=opt_cfg.steps)
    train, _ = state.create_train_state(model_cfg, tx, jax.random.key(0), mesh, rules)
    if stage == 'rl':
      target = rl.RLState(train=train, ref_params=train.params if config.rl.kl_beta > 0 else None,
                          prompt_cursor=jax.device_put(jnp.int32(0), shd.replicated(mesh)))
      params = ckpt.restore(target).train.params
    else:
      params = ckpt.restore(train).params
    ckpt.close()
    return params, f'{workdir} ({stage} step {step})'
  if config.model.hf_path:
    from r1jax.models import hf  # pylint: disable=g-import-not-at-top
    return hf.load_for_config(config, mesh, rules), config.model.hf_path
  raise ValueError(f'nothing to evaluate: {workdir}/checkpoints has no rl or pretrain '
                   'checkpoint and model.hf_path is empty')


def evaluate_workdir(config, workdir: str, out_dir: str | None = None) -> dict:
  """Evaluates the workdir's policy (or model.hf_path) on config.data's held-out split;
  writes eval/results.json, eval/results.md and eval/completions.jsonl. Returns the row."""
  import json  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
  from r1jax import metrics, sharding as shd, stages  # pylint: disable=g-import-not-at-top
  from r1jax.evaluate import Evaluator, markdown_table  # pylint: disable=g-import-not-at-top
  from r1jax.models import hf  # pylint: disable=g-import-not-at-top
  hf.apply_to_config(config)
  stages.validate(config, jax.device_count())
  workdir = os.path.abspath(workdir)
  os.makedirs(workdir, exist_ok=True)
  tokenizer = load_or_train_tokenizer(config, workdir)
  mesh = shd.make_mesh(config.mesh)
  rules = shd.rules_from_config(config)
  params, origin = load_policy(config, workdir, mesh, rules)
  metrics.note(f'[eval] {origin}: {config.eval.num_prompts} prompts x '
               f'{config.eval.num_samples} samples')
  evaluator = Evaluator(config, tokenizer, mesh, rules)
  row, details = evaluator.evaluate(params)
  out_dir = out_dir or os.path.join(workdir, 'eval')
  if jax.process_index() == 0:
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, 'results.json'), 'w') as f:
      json.dump({'source': origin, 'k': evaluator.k, **row}, f, indent=2)
    with open(os.path.join(out_dir, 'results.md'), 'w') as f:
      f.write(markdown_table(row, f'{origin}, {len(evaluator.records)} prompts x {evaluator.k}'))
    with open(os.path.join(out_dir, 'completions.jsonl'), 'w') as f:
      for d in details:
        f.write(json.dumps(d) + '\n')
  evaluator.print_table(row, f'Evaluation of {origin}')
  return row


# ---------------------------------------------------------------------------- --mode=export

def _policy_stages(config) -> list[str]:
  from r1jax.stages import kind_name  # pylint: disable=g-import-not-at-top
  return [name for name in config.stages if kind_name(config, name) != 'reward_model']


def export_stage(config, workdir: str, out: str, stage: str = '', dtype: str = '') -> str:
  """Writes the final params of stage `stage` of `workdir` (default: the last stage of
  config.stages with a checkpoint) as a transformers directory `out`, with the workdir's
  tokenizer files (tokenizer.json, tokenizer_config.json, generation_config.json).

  The checkpoint is restored onto the config's mesh (each device reads its own slices) and
  written one gathered tensor at a time by process 0; every process must call this. `dtype`
  ('float32' | 'bfloat16' | 'float16', default the stage's model.param_dtype) is the dtype
  of the written tensors."""
  import jax  # pylint: disable=g-import-not-at-top
  from r1jax import sharding as shd, stages  # pylint: disable=g-import-not-at-top
  from r1jax.data import tokenizer as tokenizers  # pylint: disable=g-import-not-at-top
  from r1jax.models import ModelConfig, hf  # pylint: disable=g-import-not-at-top
  hf.apply_to_config(config)
  workdir = os.path.abspath(os.path.expanduser(workdir))
  candidates = _policy_stages(config)
  if stage and stage not in config.stages:
    raise ValueError(f'--stage={stage!r} is not in config.stages={tuple(config.stages)}')
  if stage and stage not in candidates:
    raise ValueError(f'--stage={stage!r} is a reward model (a scalar head, not a causal LM); '
                     f'export one of {candidates}')
  if not stage:
    done = [name for name in candidates if stages.latest_step(workdir, name) is not None]
    if not done:
      raise ValueError(f'{workdir}/checkpoints has no checkpoint of {candidates}; train a '
                       'stage first (or check --workdir)')
    stage = done[-1]
  stage_cfg = stages.stage_config(config, stage)
  model_cfg = ModelConfig.from_config(stage_cfg.model)
  if dtype:
    if dtype not in ('float32', 'bfloat16', 'float16'):
      raise ValueError(f"--dtype={dtype!r}: use 'float32', 'bfloat16' or 'float16'")
    model_cfg = ModelConfig(**{**model_cfg.__dict__, 'param_dtype': dtype})
  mesh, rules = shd.make_mesh(config.mesh), shd.rules_from_config(config)
  params = stages.load_stage_params(config, workdir, stage, mesh, rules)
  hf.save_hf(out, model_cfg, params)
  tok_dir = os.path.join(workdir, 'tokenizer')
  if jax.process_index() == 0 and os.path.isdir(tok_dir):
    if os.path.exists(os.path.join(tok_dir, 'tokenizer.json')):
      tokenizers.HFTokenizer(tok_dir).save(out)
    else:  # r1jax's own SentencePiece model: copied, though transformers cannot read it as is
      tokenizers.load_tokenizer(tok_dir).save(out)
  return out


def dry_run(config, num_devices: int, device_memory_gb: float) -> str:
  """Validates the config for `num_devices` and prints the per-device memory estimate
  (r1jax/models/memory.py); ConfigError naming what to change when it does not fit."""
  from r1jax import stages  # pylint: disable=g-import-not-at-top
  from r1jax.config import ConfigError  # pylint: disable=g-import-not-at-top
  from r1jax.models import hf, memory  # pylint: disable=g-import-not-at-top
  if os.path.exists(os.path.join(os.path.expanduser(config.model.hf_path), 'config.json')):
    hf.apply_to_config(config)
  stages.validate(config, num_devices)
  try:
    text = memory.report(config, num_devices, device_memory_gb)
  except ValueError as e:
    raise ConfigError(str(e)) from None
  print(text)
  return text


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  if _QUIET.value:  # Orbax and JAX log every checkpoint step at INFO
    logging.set_verbosity(logging.WARNING)
  from r1jax import checkpoint  # pylint: disable=g-import-not-at-top
  from r1jax.config import ConfigError, apply_overrides  # pylint: disable=g-import-not-at-top
  try:
    config = apply_overrides(_CONFIG.value, _OVERRIDES)
    if _DRY_RUN.value:
      import jax  # pylint: disable=g-import-not-at-top
      dry_run(config, _DRY_RUN_DEVICES.value or jax.device_count(), _DEVICE_MEMORY_GB.value)
    elif _MODE.value == 'evaluate':
      evaluate_workdir(config, _WORKDIR.value, _OUT.value or None)
    elif _MODE.value == 'export':
      if not _OUT.value:
        raise app.UsageError('--mode=export needs --out=DIR (the Hugging Face directory to write)')
      from r1jax import metrics, sharding  # pylint: disable=g-import-not-at-top
      sharding.init_distributed(config)
      out = export_stage(config, _WORKDIR.value, _OUT.value, _STAGE.value, _DTYPE.value)
      metrics.note(f'Exported to {out}: transformers.AutoModelForCausalLM.from_pretrained({out!r})')
    else:
      run(config, _WORKDIR.value)
  except ConfigError as e:
    raise app.UsageError(f'config error: {e}') from None
  except checkpoint.Preempted as e:  # documented: rerun the same command to resume
    print(e, flush=True)
    sys.exit(checkpoint.EXIT_PREEMPTED)


_OVERRIDES = []


def parse_flags(argv):
  """absl parses everything but `--config.FIELD=VALUE`, which r1jax.config.apply_overrides
  applies itself: fields that start empty can be set, and a typo gets a 'did you mean'."""
  from r1jax.config import split_overrides  # pylint: disable=g-import-not-at-top
  rest, overrides = split_overrides(argv)
  _OVERRIDES[:] = overrides
  sys.argv[:] = rest   # ml_collections' config flag reads sys.argv for overrides too
  return flags.FLAGS(rest)


if __name__ == '__main__':
  app.run(main, flags_parser=parse_flags)
