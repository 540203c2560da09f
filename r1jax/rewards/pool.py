"""Worker processes for the slow math path, each killable on a per-item deadline.

    pool = VerifierPool(num_workers=2, timeout_s=2.0)   # once, in the RL loop
    ok = pool.check([(pred, gold), ...])                 # list[bool], per step
    pool.close()

Workers are plain subprocesses (`python -m r1jax.rewards._worker`) talking JSON lines over
pipes, not multiprocessing: no fork of a JAX process with live threads, no re-import of
the caller's __main__. Each worker runs in its own session; on a missed deadline the
parent SIGKILLs its whole process group, answers False for that item and starts a fresh
worker. Each worker caps its own address space (`worker_memory_mb`).
"""

from __future__ import annotations

import atexit
import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time

STARTUP_TIMEOUT_S = 60.0   # importing sympy on a busy 2-core machine


class _Worker:

  def __init__(self, memory_mb: int):
    self.proc = subprocess.Popen(
        [sys.executable, '-m', 'r1jax.rewards._worker', str(memory_mb)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        start_new_session=True, close_fds=True)
    self.started = time.monotonic()
    self.ready = False
    self.item = None        # index of the item in flight
    self.deadline = None

  def send(self, item: int, pred: str, gold: str, timeout_s: float):
    self.proc.stdin.write((json.dumps({'pred': pred, 'gold': gold}) + '\n').encode())
    self.proc.stdin.flush()
    self.item, self.deadline = item, time.monotonic() + timeout_s

  def kill(self):
    try:
      os.killpg(self.proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
      pass
    for f in (self.proc.stdin, self.proc.stdout):
      try:
        f.close()
      except OSError:
        pass
    self.proc.wait()


class VerifierPool:
  """`num_workers` persistent verifier processes with a hard per-item timeout."""

  def __init__(self, num_workers: int = 2, timeout_s: float = 2.0,
               worker_memory_mb: int = 2048):
    if num_workers < 1:
      raise ValueError(f'num_workers={num_workers}; use at least 1')
    self.num_workers = num_workers
    self.timeout_s = timeout_s
    self.worker_memory_mb = worker_memory_mb
    self._lock = threading.Lock()
    self._workers = [_Worker(worker_memory_mb) for _ in range(num_workers)]
    self.num_timeouts = 0   # items answered False because their worker was killed
    self._closed = False

  def check(self, pairs: list[tuple[str, str]]) -> list[bool]:
    """Slow-path equivalence of normalised (pred, gold) pairs; False on timeout/error."""
    if self._closed:
      raise RuntimeError('VerifierPool is closed; create a new one')
    results = [False] * len(pairs)
    if not pairs:
      return results
    with self._lock:
      self._run(pairs, results)
    return results

  def _run(self, pairs, results):
    pending = list(range(len(pairs)))[::-1]
    done = 0
    sel = selectors.DefaultSelector()
    for w in self._workers:
      sel.register(w.proc.stdout, selectors.EVENT_READ, w)
    try:
      while done < len(pairs):
        for w in self._workers:   # hand out work
          if w.ready and w.item is None and pending:
            i = pending.pop()
            try:
              w.send(i, pairs[i][0], pairs[i][1], self.timeout_s)
            except (BrokenPipeError, OSError):
              pending.append(i)
              self._replace(w, sel)
        now = time.monotonic()
        deadlines = [w.deadline for w in self._workers if w.item is not None]
        deadlines += [w.started + STARTUP_TIMEOUT_S for w in self._workers if not w.ready]
        wait = max(0.0, min(deadlines) - now) if deadlines else None
        for key, _ in sel.select(wait):
          w = key.data
          line = w.proc.stdout.readline()
          if not line:   # worker died (e.g. memory limit): answer False, restart
            if w.item is not None:
              done += 1
            self._replace(w, sel)
            continue
          msg = json.loads(line)
          if 'ready' in msg:
            w.ready = True
          elif w.item is not None:
            results[w.item] = bool(msg['eq'])
            w.item, w.deadline = None, None
            done += 1
        now = time.monotonic()
        for w in list(self._workers):
          if w.item is not None and now >= w.deadline:
            self.num_timeouts += 1
            done += 1
            self._replace(w, sel)
          elif not w.ready and now >= w.started + STARTUP_TIMEOUT_S:
            raise RuntimeError(
                f'verifier worker did not start in {STARTUP_TIMEOUT_S}s; check that '
                f'`{sys.executable} -m r1jax.rewards._worker` runs')
    finally:
      sel.close()

  def _replace(self, w, sel):
    sel.unregister(w.proc.stdout)
    w.kill()
    new = _Worker(self.worker_memory_mb)
    self._workers[self._workers.index(w)] = new
    sel.register(new.proc.stdout, selectors.EVENT_READ, new)

  def close(self):
    """Kill the workers. Idempotent."""
    if self._closed:
      return
    self._closed = True
    for w in self._workers:
      w.kill()

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()


_default_pool: VerifierPool | None = None
_default_lock = threading.Lock()


def default_pool() -> VerifierPool:
  """A process-wide 1-worker pool, created on first use and closed at exit; used when a
  caller passes pool=None."""
  global _default_pool
  with _default_lock:
    if _default_pool is None or _default_pool._closed:
      _default_pool = VerifierPool(num_workers=1, timeout_s=2.0)
      atexit.register(_default_pool.close)
    return _default_pool
