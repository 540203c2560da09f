"""Metric writers (console progress line, metrics.jsonl, TensorBoard) and PNG plots.

Only process 0 writes. The workdir may be local or remote (gs://, s3://: etils.epath). Every row
of metrics.jsonl carries `step`, `stage` and `time` plus the metric names, so one file holds a whole
multi-stage run. TensorBoard event files for a remote workdir go through etils.epath too
(`EpathEventFile`), so a gs:// run needs no google-cloud-storage package and no TensorFlow.
"""
import json
import math
import os
import re
import sys
import time

import jax
import numpy as np
from etils import epath

_compiles = {'count': 0}


def _on_event(event, duration, **kwargs):
  del duration, kwargs
  if event == '/jax/core/compile/backend_compile_duration':
    _compiles['count'] += 1


jax.monitoring.register_event_duration_secs_listener(_on_event)


def compile_count() -> int:
  """XLA compilations in this process so far (jit, eager ops and all)."""
  return _compiles['count']


def every(step: int, period: int) -> bool:
  """Whether `step` is a multiple of `period`; a period of 0 means never."""
  return bool(period) and step % period == 0


def _scalar(value):
  value = np.asarray(value)
  return value.item() if value.size == 1 else None


def format_duration(seconds: float) -> str:
  if not math.isfinite(seconds):
    return '?'
  seconds = int(seconds)
  if seconds >= 3600:
    return f'{seconds // 3600}h{seconds % 3600 // 60:02d}m'
  return f'{seconds // 60}m{seconds % 60:02d}s'


class EpathEventFile:
  """A TensorBoard event file written through etils.epath (a tensorboardX record writer).

  Object stores cannot append, so each flush rewrites the object with everything written so far
  (metrics are a few KB per stage; the local path stays a plain appended file). `to_path` maps
  tensorboardX's path string to an epath.Path.
  """

  def __init__(self, path: str, to_path=epath.Path):
    self.path = to_path(path)
    self.buffer = bytearray()
    self.closed = False

  def write(self, data: bytes) -> None:
    self.buffer += data

  def flush(self) -> None:
    self.path.write_bytes(bytes(self.buffer))

  def close(self) -> None:
    if not self.closed:
      self.flush()
      self.closed = True


class EpathEventFiles:
  """tensorboardX writer factory for one URL scheme (its `open` / `directory_check` protocol)."""

  def __init__(self, to_path=epath.Path):
    self.to_path = to_path

  def open(self, path: str) -> EpathEventFile:
    return EpathEventFile(path, self.to_path)

  def directory_check(self, path: str) -> None:
    self.to_path(path).mkdir(parents=True, exist_ok=True)


def tensorboard_writer(logdir: str, factory: EpathEventFiles | None = None):
  """A tensorboardX SummaryWriter for `logdir`; a URL (`gs://...`) is routed through epath."""
  from tensorboardX import SummaryWriter, record_writer  # pylint: disable=g-import-not-at-top
  if '://' in logdir:
    record_writer.register_writer_factory(logdir.split('://')[0], factory or EpathEventFiles())
  return SummaryWriter(logdir)


class MetricWriter:
  """Writes one stage's metrics. `console_keys` picks what the progress line shows."""

  def __init__(self, workdir: str, stage: str, total_steps: int, tensorboard: bool = True,
               console_keys=('loss',)):
    self.stage, self.total_steps = stage, total_steps
    self.console_keys = console_keys
    self.enabled = jax.process_index() == 0
    self.path = epath.Path(workdir) / 'metrics.jsonl'
    self._tb = None
    self._start_time, self._start_step = None, None
    if self.enabled and tensorboard:
      self._tb = tensorboard_writer(f'{str(workdir).rstrip("/")}/tensorboard/{stage}')

  def write(self, step: int, metrics: dict, console: bool = True) -> None:
    if not self.enabled:
      return
    row = {'step': int(step), 'stage': self.stage, 'time': time.time()}
    for name, value in metrics.items():
      value = _scalar(value)
      if value is not None:
        row[name] = value
    _append(self.path, json.dumps(row) + '\n')
    if self._tb is not None:
      for name, value in row.items():
        if name not in ('step', 'stage', 'time'):
          self._tb.add_scalar(name.replace('@', '_at_'), value, int(step))  # TB-legal names
      self._tb.flush()
    if console:
      self.progress(step, row)

  def progress(self, step: int, row: dict) -> None:
    """`[stage] step 120/1000 | loss 1.234 | 12.3k tok/s | ETA 3m12s`"""
    now = time.time()
    if self._start_time is None:
      self._start_time, self._start_step = now, step
    rate = (step - self._start_step) / max(now - self._start_time, 1e-9)
    eta = (self.total_steps - step) / rate if rate > 0 else float('nan')
    parts = [f'[{self.stage}] step {step}/{self.total_steps}']
    for key in self.console_keys:
      if key in row:
        parts.append(f'{key} {row[key]:.4g}')
    if 'tokens_per_second' in row:
      parts.append(f'{row["tokens_per_second"] / 1e3:.1f}k tok/s')
    parts.append(f'ETA {format_duration(eta)}')
    print(' | '.join(parts), flush=True)

  def close(self) -> None:
    if self._tb is not None:
      self._tb.close()


def _append(path: epath.Path, text: str) -> None:
  """Appends to a local file; object stores (gs://) cannot append, so the file is rewritten."""
  if '://' in str(path):
    path.write_text((path.read_text() if path.exists() else '') + text)
    return
  with path.open('a') as f:
    f.write(text)


def read_metrics(workdir: str, stage: str | None = None) -> list[dict]:
  path = epath.Path(workdir) / 'metrics.jsonl'
  if not path.exists():
    return []
  rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
  return [r for r in rows if stage is None or r.get('stage') == stage]


def _series(pattern: str, rows) -> list[str]:
  """The metric names a panel draws: `pattern` itself, or for a pattern with '*' (any text
  without '/', e.g. 'eval/accuracy/level*') every logged name it matches; a name's interval
  keys (<name>_low, <name>_high) are its band, not series of their own."""
  names = {k for r in rows for k in r}
  if '*' not in pattern:
    return [pattern] if pattern in names else []
  regex = re.compile('^' + '[^/]*'.join(map(re.escape, pattern.split('*'))) + '$')
  return sorted(k for k in names if regex.match(k)
                and not (k.endswith(_BAND) and k.rsplit('_', 1)[0] in names))


_BAND = ('_low', '_high')


def plot_metrics(workdir: str, stage: str, keys, filename: str | None = None) -> str | None:
  """One PNG with a panel per metric (vs step) from metrics.jsonl; returns its path.

  A key with '*' is a panel of every metric it matches ('eval/reflection/*': check and wait),
  one line each. A metric logged with its interval (<key>_low, <key>_high: the evaluation's
  bootstrap CI) is drawn with that band. A resumed run may have logged a step twice: the last
  value wins."""
  if jax.process_index() != 0:
    return None
  # A bare Figure (no pyplot): no global backend switch, so notebooks keep plotting inline.
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top

  rows = read_metrics(workdir, stage)
  panels = [(k, _series(k, rows)) for k in keys]
  panels = [(k, names) for k, names in panels if names]
  if not panels:
    return None
  fig = Figure(figsize=(4 * len(panels), 3.2))
  axes = fig.subplots(1, len(panels), squeeze=False)
  for ax, (key, names) in zip(axes[0], panels):
    for name in names:
      points = {r['step']: r for r in rows if name in r}
      steps = sorted(points)
      line, = ax.plot(steps, [points[s][name] for s in steps],
                      marker='o' if len(steps) < 30 else None,
                      label=name.rsplit('/', 1)[-1] if '*' in key else name)
      band = [s for s in steps if all(name + b in points[s] for b in _BAND)]
      if band:
        ax.fill_between(band, [points[s][name + '_low'] for s in band],
                        [points[s][name + '_high'] for s in band], color=line.get_color(),
                        alpha=0.2, linewidth=0)
    if len(names) > 1:
      ax.legend(fontsize=7)
    ax.set_title(key)
    ax.set_xlabel('step')
    ax.grid(alpha=0.3)
  fig.suptitle(f'{stage} ({epath.Path(os.path.abspath(workdir) if "://" not in workdir else workdir).name})')
  fig.tight_layout()
  path = epath.Path(workdir) / (filename or f'{stage}_curves.png')
  with path.open('wb') as f:
    fig.savefig(f, dpi=90, format='png')
  return str(path)


def note(message: str) -> None:
  """A progress note for the console (process 0 only)."""
  if jax.process_index() == 0:
    print(message, file=sys.stdout, flush=True)
