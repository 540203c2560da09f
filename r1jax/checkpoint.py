"""Orbax checkpoints: periodic and final saves, keep-last-N, resume from the latest,
restore onto any mesh (the restore target carries the new shardings).

Layout in the workdir:
  checkpoints/<stage>/<step>/   the train state (params, optimizer, step, ...)
  tokenizer/                    the SentencePiece model (r1jax/data/tokenizer.py)
  config.json                   the config the run started with
"""
import os

import jax
import orbax.checkpoint as ocp


class Checkpointer:
  """One stage's checkpoints. `every` = 0 disables periodic saves (final save still)."""

  def __init__(self, workdir: str, stage: str, every: int, keep: int):
    self.directory = os.path.abspath(os.path.join(workdir, 'checkpoints', stage))
    self.every = every
    self._manager = ocp.CheckpointManager(
        self.directory, options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True))

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def maybe_save(self, step: int, state, force: bool = False) -> bool:
    """Saves at multiples of `every` (or when forced); returns whether it saved."""
    if not force and (not self.every or step % self.every):
      return False
    if step in self._manager.all_steps():
      return False
    self._manager.save(step, args=ocp.args.StandardSave(state), force=True)
    return True

  def restore(self, target, step: int | None = None):
    """Restore onto `target`: a tree of arrays or jax.ShapeDtypeStruct(sharding=...)."""
    step = self.latest_step() if step is None else step
    abstract = jax.tree.map(_abstract, target)
    return self._manager.restore(step, args=ocp.args.StandardRestore(abstract))

  def wait(self) -> None:
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.wait_until_finished()
    self._manager.close()


def _abstract(x):
  if isinstance(x, jax.ShapeDtypeStruct):
    return x
  return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding)


def save_config(workdir: str, config) -> None:
  if jax.process_index() == 0:
    with open(os.path.join(workdir, 'config.json'), 'w') as f:
      f.write(config.to_json_best_effort(indent=2))

