"""The code sandbox: correct, wrong, hostile and escaping programs.

Run with isolation='require': network, mount and PID namespaces and uid nobody must all be in
force (CI machines have them), so a host that lost one fails here instead of passing through the
weaker fallback."""

import functools
import os
import socket
import threading
import time
import uuid

import pytest

from r1jax.rewards import code
from r1jax.rewards.code import extract_program, sandbox_capabilities

run_program = functools.partial(code.run_program, isolation='require')
run_tests = functools.partial(code.run_tests, isolation='require')

ADD = [{'input': '1 2\n', 'output': '3\n'}, {'input': '5 5\n', 'output': '10\n'},
       {'input': '-4 4\n', 'output': '0\n'}]


def test_correct_program_passes_all():
  assert run_tests('a, b = map(int, input().split())\nprint(a + b)', ADD, 2.0) == 1.0


def test_wrong_program_gets_partial_credit():
  # prints a*b except for a == 5: passes only the (5, 5) test
  assert run_tests('a, b = map(int, input().split())\nprint(a * b if a != 5 else 10)',
                   ADD, 2.0) == pytest.approx(1 / 3)


def test_crash_and_nonzero_exit_fail():
  assert run_tests('raise SystemExit(3)', ADD, 2.0) == 0.0
  assert run_tests('print(3)\nraise RuntimeError("after printing")', ADD[:1], 2.0) == 0.0


def test_early_exit_printing_pass_earns_nothing():
  program = 'import sys, os\nprint("PASS")\nsys.stdout.flush()\nos._exit(0)'
  assert run_tests(program, ADD, 2.0) == 0.0


def test_infinite_loop_is_killed_on_time():
  start = time.monotonic()
  out, status = run_program('while True:\n  pass', '', timeout_s=1.0)
  assert (out, status) == (None, 'timeout')
  assert time.monotonic() - start < 3.0


def test_sleeping_children_die_with_the_program():
  marker = f'/tmp/r1jax_child_{uuid.uuid4().hex}'
  program = ('import os, time\n'
             'if os.fork() == 0:\n'
             '  os.setsid()\n'
             '  time.sleep(3)\n'
             f'  open({marker!r}, "w")\n'
             'time.sleep(60)\n')
  assert run_program(program, '', timeout_s=0.5)[1] == 'timeout'
  time.sleep(3.5)
  assert not os.path.exists(marker)


def test_memory_bomb_fails_without_hurting_the_parent():
  start = time.monotonic()
  out, status = run_program('x = bytearray(4 * 2**30)\nprint(len(x))', '', timeout_s=2.0,
                            memory_mb=256)
  assert status == 'error' and time.monotonic() - start < 3.0


def test_fork_bomb_is_bounded():
  program = ('import os\n'
             'n = 0\n'
             'while n < 10000:\n'
             '  try:\n'
             '    os.fork()\n'
             '  except OSError:\n'
             '    break\n'
             '  n += 1\n'
             'print("survived", n, flush=True)\n')
  start = time.monotonic()
  out, status = run_program(program, '', timeout_s=2.0, nproc=16)
  assert time.monotonic() - start < 4.0
  # It ended because fork failed (the process limit), not by the timeout or the loop bound.
  assert status == 'ok', (status, out)
  survivors = [line.split() for line in out.splitlines()]
  assert 1 <= len(survivors) <= 16
  assert all(words[0] == 'survived' and int(words[1]) < 10000 for words in survivors)


def test_output_flood_is_capped():
  out, status = run_program('while True:\n  print("x" * 4096)', '', timeout_s=2.0,
                            max_output_bytes=1 << 16)
  assert (out, status) == (None, 'output_limit')


def test_file_writes_outside_the_temp_dir_do_not_persist():
  markers = [f'/tmp/r1jax_escape_{uuid.uuid4().hex}', f'/var/tmp/r1jax_escape_{uuid.uuid4().hex}',
             os.path.join(os.path.dirname(__file__), f'escape_{uuid.uuid4().hex}')]
  program = ''.join(f'try:\n  open({m!r}, "w").write("x")\nexcept OSError:\n  pass\n'
                    for m in markers)
  program += 'open("local.txt", "w").write("ok")\nprint(open("local.txt").read())\n'
  out, status = run_program(program, '', timeout_s=2.0)
  assert (out.strip(), status) == ('ok', 'ok')   # its own temp dir is writable
  for m in markers:
    assert not os.path.exists(m), m


def test_file_size_is_limited():
  program = 'f = open("big", "wb")\nf.write(b"x" * (64 * 2**20))\nprint("wrote")'
  out, status = run_program(program, '', timeout_s=2.0, file_size_mb=1)
  assert status == 'error'


def test_environment_is_scrubbed():
  os.environ['R1JAX_SECRET_TOKEN'] = 'hunter2'
  try:
    out, status = run_program('import os\nprint(sorted(os.environ))', '', timeout_s=2.0)
  finally:
    del os.environ['R1JAX_SECRET_TOKEN']
  assert status == 'ok' and 'R1JAX_SECRET_TOKEN' not in out


@pytest.fixture
def listening_server():
  server = socket.socket()
  server.bind(('127.0.0.1', 0))
  server.listen(4)
  server.settimeout(0.2)
  accepted = []

  def serve():
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
      try:
        accepted.append(server.accept())
      except (socket.timeout, OSError):
        pass
  thread = threading.Thread(target=serve, daemon=True)
  thread.start()
  yield server.getsockname()[1], accepted
  thread.join()
  server.close()


@pytest.mark.parametrize('network', ['auto', 'interpreter'])
def test_network_is_unreachable(listening_server, network):
  port, accepted = listening_server
  program = ('import socket\n'
             f's = socket.create_connection(("127.0.0.1", {port}), timeout=1)\n'
             'print("CONNECTED")\n')
  isolation = 'require' if network == 'auto' else 'auto'   # 'interpreter': the fallback itself
  assert code.run_tests(program, [{'input': '', 'output': 'CONNECTED\n'}], 2.0,
                        network=network, isolation=isolation) == 0.0
  time.sleep(0.3)
  assert accepted == []


def test_this_machine_has_every_namespace():
  """What CI relies on: no skip, no fallback."""
  caps = sandbox_capabilities()
  assert {k: caps[k] for k in ('net_namespace', 'mount_namespace', 'pid_namespace',
                               'uid_nobody')} == dict.fromkeys(
      ('net_namespace', 'mount_namespace', 'pid_namespace', 'uid_nobody'), True)
  out, status = run_program('import os\nprint(os.getpid(), os.getuid())', '', timeout_s=2.0)
  assert status == 'ok' and out.split() == ['1', '65534']   # init of its own PID namespace
  with pytest.raises(ValueError, match='needs the network namespace'):
    code.run_program('print(1)', '', network='interpreter', isolation='require')


def test_extract_program():
  text = ('<think>plan</think><answer>```python\nprint(1)\n```\n'
          'final:\n```python\nprint(2)\n```</answer>')
  assert extract_program(text) == 'print(2)\n'
  assert extract_program('no code') is None
