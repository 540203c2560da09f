"""Runs `config.stages` in order, each resumable and skipped when finished (r1jax/stages/__init__.py
says how a recipe hands params from stage to stage)."""
import dataclasses
from typing import Any

import jax

from r1jax import metrics
from r1jax.checkpoint import latest_step
from r1jax.stages import report
from r1jax.stages.registry import get_kind, load_stage_params, source_stage, stage_config


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
    metrics.note(f'Report: {ctx.workdir}/reports/pipeline.md\n' + report.write_report(
        config, ctx.workdir))
  return results
