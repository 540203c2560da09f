"""The recipe runner: `config.stages` in order, each resumable and skipped when finished,
each starting from the final params of the stage it names (registry.py says how).

  python -m r1jax.main --config=configs/quickstart.py --workdir=DIR    # pretrain, rl

  results = run_stages(config, StageContext(workdir, tokenizer, mesh, rules))

A stage that finished in an earlier run is not rebuilt: its result is `Finished(step)`, and a
later stage that starts from it restores only its params from checkpoints/<name>/. The hand-off
always goes through that final checkpoint, so a fresh run and a resumed one start each stage
from the same params.
"""
from r1jax.checkpoint import latest_step, restore_params
from r1jax.stages import k15  # noqa: F401  (registers the Kimi k1.5 kinds)
from r1jax.stages import kinds  # noqa: F401  (registers the kinds)
from r1jax.stages import substrate  # noqa: F401  (registers the substrate check)
from r1jax.stages.registry import (DEFAULT_KINDS, KINDS, Kind, check_stages, data_stage,
                                   first_stages, get_kind, kind_name, load_stage_params, register,
                                   source_stage, stage_config)
from r1jax.stages.runner import Finished, StageContext, run_stages
from r1jax.stages.validation import validate

__all__ = ['DEFAULT_KINDS', 'KINDS', 'Finished', 'Kind', 'StageContext', 'check_stages',
           'data_stage',
           'get_kind', 'kind_name', 'latest_step', 'load_stage_params', 'register',
           'restore_params',
           'run_stages', 'source_stage', 'stage_config', 'validate']
