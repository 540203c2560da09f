"""Code rewards: run a Python program against stdin/stdout tests in a sandbox.

    run_tests(program, [{'input': '1 2\\n', 'output': '3\\n'}], timeout_s=2.0) -> 1.0

Each test is a separate process (`_sandbox_exec.py`): fresh temp dir as cwd, scrubbed
environment, rlimits (CPU, address space, processes, file size, open files), new network /
mount / PID namespaces where the kernel allows, uid nobody, the whole process group
SIGKILLed on timeout, stdout capped. The parent compares stdout itself, so exiting early or
printing "PASS" earns nothing.
"""

from __future__ import annotations

import concurrent.futures
import functools
import json
import math
import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

from r1jax.rewards.base import RewardBatch, register

_LAUNCHER = os.path.join(os.path.dirname(os.path.abspath(__file__)), '_sandbox_exec.py')
_NOBODY = 65534
SETUP_FAILED = 125


@functools.lru_cache(maxsize=None)
def sandbox_capabilities() -> dict:
  """Which isolation mechanisms work on this machine, e.g. {'net_namespace': True, ...}."""
  out = subprocess.run([sys.executable, '-I', '-S', _LAUNCHER, '--probe'],
                       capture_output=True, text=True, timeout=30, cwd=tempfile.gettempdir())
  return json.loads(out.stdout)


def _read_capped(proc, max_output_bytes: int, deadline: float) -> tuple[bytes, bool]:
  """stdout of `proc` until EOF, deadline or cap; (data, finished_in_time_and_size)."""
  chunks, size = [], 0
  with selectors.DefaultSelector() as sel:
    sel.register(proc.stdout, selectors.EVENT_READ)
    while True:
      remaining = deadline - time.monotonic()
      if remaining <= 0 or not sel.select(remaining):
        return b''.join(chunks), False
      data = os.read(proc.stdout.fileno(), 65536)
      if not data:
        return b''.join(chunks), True
      chunks.append(data)
      size += len(data)
      if size > max_output_bytes:
        return b''.join(chunks), False


def _outputs_match(actual: str, expected: str) -> bool:
  """Equal up to trailing whitespace on each line and trailing blank lines."""
  norm = lambda s: [line.rstrip() for line in s.strip().splitlines()]
  return norm(actual) == norm(expected)


def run_program(program: str, stdin_text: str, timeout_s: float = 2.0, *,
                memory_mb: int = 512, nproc: int = 32, file_size_mb: int = 16,
                open_files: int = 64, max_output_bytes: int = 1 << 20,
                network: str = 'auto', isolation: str = 'auto') -> tuple[str | None, str]:
  """Run `program` once in the sandbox. Returns (stdout or None, status) with status in
  'ok' (exit 0), 'error' (non-zero exit), 'timeout', 'output_limit'.

  network: 'auto' (namespace if possible, else interpreter-level socket block),
    'namespace' (RuntimeError if unavailable), 'interpreter' (socket block only).
  isolation: 'auto' (each namespace where the kernel allows) or 'require' (network, mount and
    PID namespaces and uid nobody, else RuntimeError; what the tests and CI use).
  """
  if isolation not in ('auto', 'require'):
    raise ValueError(f"isolation={isolation!r}; use 'auto' or 'require'")
  if isolation == 'require' and network == 'interpreter':
    raise ValueError("isolation='require' needs the network namespace: network='auto'")
  if network not in ('auto', 'namespace', 'interpreter'):
    raise ValueError(f"network={network!r}; use 'auto', 'namespace' or 'interpreter'")
  workdir = tempfile.mkdtemp(prefix='r1jax-sandbox-')
  try:
    with open(os.path.join(workdir, 'prog.py'), 'w', encoding='utf-8') as f:
      f.write(program)
    with open(os.path.join(workdir, 'input.txt'), 'w', encoding='utf-8') as f:
      f.write(stdin_text)
    if os.getuid() == 0:
      os.chown(workdir, _NOBODY, _NOBODY)
    cfg = {'cpu_s': int(math.ceil(timeout_s)) + 1, 'memory_mb': memory_mb, 'nproc': nproc,
           'file_size_mb': file_size_mb, 'open_files': open_files, 'network': network,
           'require': isolation == 'require'}
    env = {'PATH': '/usr/bin:/bin', 'LANG': 'C.UTF-8', 'PYTHONIOENCODING': 'utf-8',
           'HOME': workdir, 'PYTHONDONTWRITEBYTECODE': '1'}
    with open(os.path.join(workdir, 'input.txt'), 'rb') as stdin:
      proc = subprocess.Popen([sys.executable, '-I', '-S', _LAUNCHER, json.dumps(cfg)],
                              stdin=stdin, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, cwd=workdir, env=env,
                              start_new_session=True, close_fds=True)
    try:
      data, finished = _read_capped(proc, max_output_bytes, time.monotonic() + timeout_s)
      if finished:
        try:
          proc.wait(timeout=max(0.0, timeout_s))
        except subprocess.TimeoutExpired:
          finished = False
    finally:
      try:   # the launcher, the namespace's init and everything they started
        os.killpg(proc.pid, signal.SIGKILL)
      except (ProcessLookupError, PermissionError):
        pass
      proc.stdout.close()
      proc.wait()
    if not finished:
      return None, 'output_limit' if len(data) > max_output_bytes else 'timeout'
    if proc.returncode == SETUP_FAILED and isolation == 'require':
      raise RuntimeError(f'sandbox: isolation=require but some of {sandbox_capabilities()} are '
                         'unavailable; run as root/CAP_SYS_ADMIN or use isolation=auto')
    if proc.returncode == SETUP_FAILED and network == 'namespace':
      raise RuntimeError("sandbox: no network namespace here (unshare(CLONE_NEWNET) failed);"
                         " run as root/CAP_SYS_ADMIN or pass network='interpreter'")
    status = 'ok' if proc.returncode == 0 else 'error'
    return data.decode('utf-8', errors='replace'), status
  finally:
    shutil.rmtree(workdir, ignore_errors=True)


def run_tests(program: str, tests: list[dict], timeout_s: float = 2.0, **sandbox) -> float:
  """Fraction of `tests` ({'input': stdin text, 'output': expected stdout}) whose stdout
  matches, one sandboxed process per test; a crash, timeout or non-zero exit fails it."""
  if not tests:
    return 0.0
  passed = 0
  for test in tests:
    stdout, status = run_program(program, test.get('input', ''), timeout_s, **sandbox)
    passed += status == 'ok' and _outputs_match(stdout, test['output'])
  return passed / len(tests)


_CODE_BLOCK = re.compile(r'```(?:python|py|python3)?[ \t]*\n(.*?)```', re.S)


def extract_program(text: str) -> str | None:
  """The last ```python fenced block (inside <answer> if present), else None."""
  from r1jax.rewards.math import extract_answer
  region = extract_answer(text, 'answer_tag') if '<answer>' in text else text
  if region is None:
    return None
  blocks = _CODE_BLOCK.findall(region)
  return blocks[-1] if blocks else None


def code_scores(completions: list[str], tests: list[list[dict]], timeout_s: float = 2.0,
                workers: int = 2, **sandbox) -> np.ndarray:
  """float32 [N]: fraction of tests passed by the program in each completion."""
  def one(i):
    program = extract_program(completions[i])
    return 0.0 if program is None else run_tests(program, tests[i], timeout_s, **sandbox)
  with concurrent.futures.ThreadPoolExecutor(max(1, workers)) as ex:
    return np.asarray(list(ex.map(one, range(len(completions)))), np.float32)


@register('code')
def code_reward(batch: RewardBatch, code_timeout_s: float = 2.0, code_workers: int = 2,
                sandbox_network: str = 'auto') -> np.ndarray:
  """Fraction of metadata['tests'] passed, float32 [N]."""
  tests = [m.get('tests') or [] for m in batch.metadata]
  return code_scores(batch.completions, tests, code_timeout_s, code_workers,
                     network=sandbox_network)
