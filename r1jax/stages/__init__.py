"""The recipe runner: `config.stages` in order, each resumable and skipped when finished,
each starting from the final params of the stage it names (registry.py says how).

  python -m r1jax.main --config=configs/quickstart.py --workdir=DIR    # pretrain, rl

  results = run_stages(config, StageContext(workdir, tokenizer, mesh, rules))

A stage that finished in an earlier run is not rebuilt: its result is `Finished(step)`, and a
later stage that starts from it restores only its params from checkpoints/<name>/. The hand-off
always goes through that final checkpoint, so a fresh run and a resumed one start each stage
from the same params.
"""
import dataclasses
import os
from typing import Any

import flax.linen as nn
import jax
import orbax.checkpoint as ocp

from r1jax import checkpoint, metrics, sharding
from r1jax.models import ModelConfig, init_params
from r1jax.stages import kinds  # noqa: F401  (registers the kinds)
from r1jax.stages.registry import (DEFAULT_KINDS, KINDS, Kind, check_stages, data_stage,
                                   get_kind, kind_name, register, source_stage, stage_config)


@dataclasses.dataclass(frozen=True)
class StageContext:
  workdir: str
  tokenizer: Any
  mesh: Any
  rules: Any


@dataclasses.dataclass(frozen=True)
class Finished:
  """A stage skipped because an earlier run finished it."""
  stage: str
  step: int


def latest_step(workdir: str, name: str) -> int | None:
  ckpt = checkpoint.Checkpointer(workdir, name, every=0, keep=1)
  step = ckpt.latest_step()
  ckpt.close()
  return step


def load_stage_params(config, workdir: str, name: str, mesh, rules):
  """The final decoder params of stage `name`, restored onto `mesh` (only the params)."""
  kind, cfg = get_kind(config, name), stage_config(config, name)
  model_cfg = ModelConfig.from_config(cfg.model)
  boxed = jax.eval_shape(lambda k: init_params(model_cfg, k, boxed=True), jax.random.key(0))
  return restore_params(workdir, name, boxed, kind.params_path, mesh, rules)


def restore_params(workdir: str, name: str, boxed, params_path, mesh, rules):
  """The subtree at `params_path` of stage `name`'s final checkpoint, restored onto `mesh`
  with the shardings of `boxed` (its abstract, logically boxed shape): an Orbax partial
  restore, so the optimizer state is never read."""
  step = latest_step(workdir, name)
  if step is None:
    raise ValueError(f'stage {name!r} has no checkpoint in {workdir}/checkpoints/{name}; '
                     'run it first')
  shardings = sharding.logical_shardings(boxed, mesh, rules)
  target = jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s),
                        nn.meta.unbox(boxed), shardings)
  for key in reversed(params_path):
    target = {key: target}
  path = os.path.join(workdir, 'checkpoints', name, str(step), 'default')
  restored = ocp.PyTreeCheckpointer().restore(path, args=ocp.args.PyTreeRestore(
      item=target, restore_args=ocp.checkpoint_utils.construct_restore_args(target),
      partial_restore=True))
  for key in params_path:
    restored = restored[key]
  metrics.note(f'Loaded the params of stage {name!r} (step {step})')
  return restored


def run_stages(config, ctx: StageContext) -> dict:
  """Runs config.stages in order; returns {name: the loop's result or Finished}."""
  results = {}
  for name in config.stages:
    kind, cfg = get_kind(config, name), stage_config(config, name)
    if kind.prepare is not None:
      cfg = kind.prepare(ctx, cfg, name)
    done = (kind.progress or latest_step)(ctx.workdir, name)
    if done is not None and done >= kind.total_steps(cfg):
      metrics.note(f'[{name}] Finished at step {done} in an earlier run: skipped')
      results[name] = Finished(name, done)
      continue
    source = source_stage(config, name)
    start = None
    if done is None and source is not None and kind.from_earlier:
      start = load_stage_params(config, ctx.workdir, source, ctx.mesh, ctx.rules)
    metrics.note(f'[{name}] Stage of kind {kind.name!r}' +
                 (f', starting from stage {source!r}' if start is not None else ''))
    results[name] = kind.run(ctx, cfg, name, start)
  if len(config.stages) > 1 and jax.process_index() == 0:
    from r1jax.stages import report  # pylint: disable=g-import-not-at-top
    metrics.note(f'Report: {ctx.workdir}/reports/pipeline.md\n' + report.write_report(
        config, ctx.workdir))
  return results


__all__ = ['DEFAULT_KINDS', 'KINDS', 'Finished', 'Kind', 'StageContext', 'check_stages',
           'data_stage',
           'get_kind', 'kind_name', 'latest_step', 'load_stage_params', 'register',
           'restore_params',
           'run_stages', 'source_stage', 'stage_config']
