"""Orbax checkpoints: periodic and final saves, keep-last-N, resume from the latest complete
step, restore onto any mesh (the restore target carries the new shardings), and a clean stop
on preemption.

Layout in the workdir (a local path or gs://bucket/dir: every path goes through etils.epath):
  checkpoints/<stage>/<step>/   the train state (params, optimizer, step, ...)
  checkpoints/<stage>/<step>.incomplete-<time>/   a half-written step, set aside on resume
  tokenizer/                    the SentencePiece model (r1jax/data/tokenizer.py)
  config.json                   the config the run started with

Preemption (`preemption_guard`, wrapped around the stages by r1jax/main.py): the first
SIGTERM asks the loops to stop; each loop calls `stop_requested(step)` after every step,
saves that step and raises `Preempted`, and main exits with EXIT_PREEMPTED (75). With
several processes the decision comes from JAX's preemption sync point instead
(`multihost_utils.reached_preemption_sync_point`): the coordination service turns a SIGTERM
on any host (what a preempted Cloud TPU VM's processes receive) into one step at which every
host stops and saves together. A second SIGTERM kills at once.
"""
import contextlib
import os
import signal
import tempfile
import time

import jax
import flax.linen as nn
import orbax.checkpoint as ocp
from etils import epath
from jax.experimental import multihost_utils

from r1jax import metrics, sharding

EXIT_PREEMPTED = 75   # EX_TEMPFAIL: "try again"; the rerun resumes from the saved step
_METADATA = '_CHECKPOINT_METADATA'   # Orbax writes it when a step is finalized


class Preempted(Exception):
  """Raised by a training loop after it saved the step at which a stop was requested."""

  def __init__(self, stage: str, step: int):
    super().__init__(f'[{stage}] preempted: saved step {step}; rerun the same command to resume')
    self.stage, self.step = stage, step


def resolve_workdir(workdir: str) -> str:
  """An absolute local path, or a gs:// (or other remote) path as it is."""
  return workdir if '://' in workdir else os.path.abspath(workdir)


class Checkpointer:
  """One stage's checkpoints. `every` = 0 disables periodic saves (final save still)."""

  def __init__(self, workdir: str, stage: str, every: int, keep: int):
    self.directory = epath.Path(resolve_workdir(workdir)) / 'checkpoints' / stage
    self.every = every
    # Several processes save synchronously: a background save's device-to-host copies would
    # race the training step's collectives (gloo on CPU).
    self._options = ocp.CheckpointManagerOptions(
        max_to_keep=keep, create=True, enable_async_checkpointing=jax.process_count() == 1)
    self._set_aside(lambda path: not (path / _METADATA).exists(), 'its save never finished')
    self._manager = ocp.CheckpointManager(self.directory, options=self._options)

  def _step_dirs(self) -> dict:
    if not self.directory.exists():
      return {}
    return {int(p.name): p for p in self.directory.iterdir() if p.name.isdigit() and p.is_dir()}

  def _set_aside(self, broken, why: str) -> list[int]:
    """Renames the step directories for which `broken(path)` holds (process 0; all wait), so
    that resume falls back to the last complete step and that step can be saved again."""
    steps = sorted(s for s, p in self._step_dirs().items() if broken(p))
    if steps and jax.process_index() == 0:
      for step in steps:
        path = self._step_dirs()[step]
        metrics.note(f'Checkpoint {path} is incomplete ({why}); set aside, resuming from an '
                     'earlier step')
        path.rename(path.parent / f'{step}.incomplete-{int(time.time())}')
    if jax.process_count() > 1:
      multihost_utils.sync_global_devices(f'checkpoint set aside {self.directory}')
    return steps

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
    """Restore onto `target`: a tree of arrays or jax.ShapeDtypeStruct(sharding=...).

    Without `step`, the latest step that restores; an unreadable one (files missing or cut
    short) is set aside and the one before it tried."""
    abstract = jax.tree.map(_abstract, target)
    if step is not None:
      return self._manager.restore(step, args=ocp.args.StandardRestore(abstract))
    while True:
      latest = self.latest_step()
      if latest is None:
        raise FileNotFoundError(f'no complete checkpoint in {self.directory}')
      try:
        return self._manager.restore(latest, args=ocp.args.StandardRestore(abstract))
      except (ValueError, OSError, KeyError) as e:
        self._manager.close()
        self._set_aside(lambda p, s=latest: p.name == str(s), f'restore failed: {e}'[:300])
        self._manager = ocp.CheckpointManager(self.directory, options=self._options)

  def wait(self) -> None:
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.wait_until_finished()
    self._manager.close()

  def end_of_step(self, step: int, state, stage: str) -> None:
    """After every training step: the periodic save, then the SIGTERM / preemption stop
    (`stop_requested`, a collective with several processes), saved on the way out."""
    self.maybe_save(step, state)
    if stop_requested(step):
      raise Preempted(stage, step)

  @contextlib.contextmanager
  def saving_on_exit(self, stage: str, current):
    """Wraps a training loop so the work done is kept: on any exception (Ctrl-C, preemption,
    a crash) the step reached is saved, `current()` giving (step, state), unless the state's
    buffers were already donated to a step that failed, and the manager is closed before the
    exception goes on. A normal exit leaves the final save and `close` to the caller."""
    try:
      yield
    except BaseException:
      step, state = current()
      if not any(x.is_deleted() for x in jax.tree.leaves(state)):
        metrics.note(f'[{stage}] Interrupted: saving step {step} before exiting')
        self.maybe_save(step, state, force=True)
      self.close()
      raise


def _abstract(x):
  if isinstance(x, jax.ShapeDtypeStruct):
    return x
  return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding)


def on_process_zero_first(directory: str, make, name: str):
  """`make(local_dir)` for a small artifact kept under `directory` (the tokenizer): process 0
  makes or loads it first, the others then load what it wrote. A remote (gs://) directory is
  mirrored through a local one, since the libraries that read it want local files."""
  if jax.process_index() != 0:
    multihost_utils.sync_global_devices(f'{name} written')
  local = directory
  if '://' in directory:
    local = os.path.join(tempfile.mkdtemp(prefix='r1jax_'), name)
    _copy_files(epath.Path(directory), epath.Path(local))
  result = make(local)
  if jax.process_index() == 0:
    if local != directory:
      _copy_files(epath.Path(local), epath.Path(directory))
    if jax.process_count() > 1:
      multihost_utils.sync_global_devices(f'{name} written')
  return result


def _copy_files(source: epath.Path, target: epath.Path) -> None:
  if source.exists():
    target.mkdir(parents=True, exist_ok=True)
    for f in source.iterdir():
      (target / f.name).write_bytes(f.read_bytes())


def save_config(workdir: str, config) -> None:
  if jax.process_index() == 0:
    (epath.Path(resolve_workdir(workdir)) / 'config.json').write_text(
        config.to_json_best_effort(indent=2))


# ---------------------------------------------------------------------------------------------
# Preemption: SIGTERM (one process) or JAX's preemption sync point (several).

_stop = {'signal': None, 'guarded': False}


def _multi_controller() -> bool:
  return jax.process_count() > 1


def stop_requested(step: int) -> bool:
  """Whether the loop should save `step` and raise Preempted. Call after every step (with
  several processes every host must call it at every step: it is a collective decision)."""
  if _multi_controller():
    try:
      return multihost_utils.reached_preemption_sync_point(step)
    except RuntimeError:   # the preemption service is off (jax_enable_preemption_service)
      return False
  return _stop['signal'] is not None


@contextlib.contextmanager
def preemption_guard():
  """Turns the first SIGTERM into a stop request at the next step boundary (single process;
  with several, JAX's coordination service handles SIGTERM and `stop_requested` asks it)."""
  if _multi_controller() or _stop['guarded']:
    yield
    return

  def on_sigterm(signum, frame):
    del frame
    metrics.note('SIGTERM: saving at the end of this step (send again to kill at once)')
    _stop['signal'] = signum
    signal.signal(signal.SIGTERM, signal.SIG_DFL)

  previous = signal.signal(signal.SIGTERM, on_sigterm)
  _stop.update(signal=None, guarded=True)
  try:
    yield
  finally:
    signal.signal(signal.SIGTERM, previous)
    _stop.update(signal=None, guarded=False)


# ---------------------------------------------------------------------------- stage hand-offs

def latest_step(workdir: str, name: str) -> int | None:
  ckpt = Checkpointer(workdir, name, every=0, keep=1)
  step = ckpt.latest_step()
  ckpt.close()
  return step


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
