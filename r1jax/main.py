"""The entry point: one config file, a workdir, and the stages the config lists.

  python -m r1jax.main --config=configs/quickstart.py --workdir=/tmp/r1jax_quickstart
  python -m r1jax.main --config=configs/quickstart.py --config.train.steps=100 --workdir=DIR

Re-running the same command resumes: the tokenizer, config and checkpoints live in the
workdir, and a finished stage is not trained again. SIGTERM (preemption) saves the current
step and exits with status 75 (checkpoint.EXIT_PREEMPTED); rerun the command to resume.
`--config.FIELD=VALUE` sets any field, including entries of the open mappings
(`--config.rl.reward_options.code_timeout_s=1.0`, `--config.mesh.rules.embed=None`).
"""
import os
import sys

from absl import app, flags, logging
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Experiment config file (configs/*.py).',
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Directory for checkpoints, metrics and plots.')
_QUIET = flags.DEFINE_bool('quiet_libraries', True, 'Hide INFO logs of Orbax/JAX.')
flags.mark_flags_as_required(['config', 'workdir'])


def load_or_train_tokenizer(config, workdir: str):
  """The workdir's tokenizer if there is one (resume), else one trained on the corpus."""
  from r1jax import checkpoint, metrics  # pylint: disable=g-import-not-at-top
  from r1jax.data import corpus, source, tokenizer  # pylint: disable=g-import-not-at-top
  from r1jax.data.tasks import Example  # pylint: disable=g-import-not-at-top

  def lines():
    metrics.note(f'Training a {config.model.vocab_size}-piece SentencePiece tokenizer...')
    examples = [Example.from_record(r) for r in source.load_records(config.data, 'train')[:20000]]
    return corpus.tokenizer_corpus(examples,
                                   extra_lines=corpus.extra_tokenizer_lines(config.data, examples))

  def load_or_train(directory):
    return tokenizer.load_or_train_tokenizer(directory, config.model.vocab_size, lines,
                                             config.data.number_pieces)
  return checkpoint.on_process_zero_first(
      os.path.join(workdir, 'tokenizer'), load_or_train, 'tokenizer')


def run(config, workdir: str) -> dict:
  """Runs config.stages in order (r1jax/stages); returns {stage: its result}."""
  import jax  # pylint: disable=g-import-not-at-top
  from r1jax import checkpoint, metrics, sharding  # pylint: disable=g-import-not-at-top
  from r1jax import stages  # pylint: disable=g-import-not-at-top
  from r1jax.config import validate  # pylint: disable=g-import-not-at-top
  from etils import epath  # pylint: disable=g-import-not-at-top

  sharding.init_distributed(config)
  validate(config, jax.device_count())
  workdir = checkpoint.resolve_workdir(workdir)
  epath.Path(workdir).mkdir(parents=True, exist_ok=True)
  checkpoint.save_config(workdir, config)
  metrics.note(f'Workdir {workdir}; {jax.device_count()} {jax.devices()[0].platform} device(s)')
  tokenizer = load_or_train_tokenizer(config, workdir)
  mesh = sharding.make_mesh(config.mesh)
  rules = sharding.rules_from_config(config)

  with checkpoint.preemption_guard():  # SIGTERM: save the step, raise checkpoint.Preempted
    return stages.run_stages(config, stages.StageContext(workdir, tokenizer, mesh, rules))


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  if _QUIET.value:  # Orbax and JAX log every checkpoint step at INFO
    logging.set_verbosity(logging.WARNING)
  from r1jax import checkpoint  # pylint: disable=g-import-not-at-top
  from r1jax.config import ConfigError, apply_overrides  # pylint: disable=g-import-not-at-top
  try:
    run(apply_overrides(_CONFIG.value, _OVERRIDES), _WORKDIR.value)
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
