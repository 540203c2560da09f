"""Sandbox launcher: `python -I -S _sandbox_exec.py CONFIG_JSON` (started by `code.py`).

Runs in the fresh temp dir that holds prog.py, as root if the trainer is root, and before
running prog.py it: sets rlimits (CPU seconds, address space, processes, file size, open
files, no core); enters new network, mount and PID namespaces where the kernel allows
(loopback-only network; private tmpfs over /tmp, /var/tmp and /dev/shm; all processes die
with the namespace's init); drops to uid/gid 65534 (nobody); then execs a fresh
`python -I -S prog.py` (without a network namespace, behind a prelude that disables the
socket module). Only the standard library is imported.

`--probe` prints which of these mechanisms work here as JSON.
"""

import ctypes
import json
import os
import resource
import sys

CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x20000000, 0x40000000
MS_NOSUID, MS_NODEV, MS_BIND, MS_REC, MS_PRIVATE = 2, 4, 1 << 12, 1 << 14, 1 << 18
STDLIB_MOUNT = '/tmp/.python'   # where the stdlib is re-mounted when nobody cannot reach it
NOBODY = 65534
SETUP_FAILED = 125   # exit status when a required mechanism is unavailable

_libc = ctypes.CDLL(None, use_errno=True)


def _unshare(flag) -> bool:
  return _libc.unshare(flag) == 0


def _private_tmp() -> bool:
  """Private mounts with empty tmpfs over the world-writable dirs; the work dir (which
  may lie under /tmp) is bind-mounted back at its own path from its open fd."""
  workdir = os.getcwd()
  if _libc.mount(None, b'/', None, MS_REC | MS_PRIVATE, None) != 0:
    return False
  workdir_fd = os.open('.', os.O_RDONLY)   # opened inside the new namespace: bindable
  for path in ('/tmp', '/var/tmp', '/dev/shm'):
    if os.path.isdir(path) and _libc.mount(b'tmpfs', path.encode(), b'tmpfs',
                                           MS_NOSUID | MS_NODEV,
                                           b'size=16m,mode=1777') != 0:
      return False
  if not os.path.isdir(workdir):
    os.makedirs(workdir)
    source = f'/proc/self/fd/{workdir_fd}'.encode()
    if _libc.mount(source, workdir.encode(), None, MS_BIND, None) != 0:
      return False
  os.close(workdir_fd)
  os.chdir(workdir)
  return True


def _traversable_by_others(path) -> bool:
  """Whether uid nobody can reach `path` (every ancestor o+x)."""
  path = os.path.realpath(path)
  while True:
    if not os.stat(path).st_mode & 0o001:
      return False
    if path == '/':
      return True
    path = os.path.dirname(path)


def _expose_stdlib(prefix: str) -> bool:
  """Bind-mount the interpreter's prefix under the private /tmp, for interpreters
  installed under a directory nobody cannot enter (e.g. /root)."""
  os.makedirs(STDLIB_MOUNT)
  if _libc.mount(prefix.encode(), STDLIB_MOUNT.encode(), None, MS_BIND | MS_REC, None) != 0:
    return False
  return True


# Fallback without a network namespace: the program runs after this prelude. It stops
# ordinary socket use; ctypes or a subprocess could still reach the network.
_BLOCK_SOCKETS = """
import runpy, socket, sys
def _refuse(*args, **kwargs):
  raise OSError('network access is disabled in the r1jax sandbox')
for _name in ('socket', 'create_connection', 'create_server', 'socketpair', 'fromfd',
              'getaddrinfo', 'gethostbyname'):
  setattr(socket, _name, _refuse)
sys.modules['_socket'] = None
del _refuse, _name
sys.argv = ['prog.py']
runpy.run_path('prog.py', run_name='__main__')
"""


def _set_limits(cfg):
  mb = 2**20
  limits = {resource.RLIMIT_CPU: cfg['cpu_s'], resource.RLIMIT_AS: cfg['memory_mb'] * mb,
            resource.RLIMIT_FSIZE: cfg['file_size_mb'] * mb,
            resource.RLIMIT_NOFILE: cfg['open_files'], resource.RLIMIT_NPROC: cfg['nproc'],
            resource.RLIMIT_CORE: 0}
  for what, value in limits.items():
    resource.setrlimit(what, (value, value))


def isolate(cfg) -> dict:
  """Apply the namespaces and privilege drop; returns what was applied."""
  applied = {'net_namespace': False, 'mount_namespace': False, 'pid_namespace': False,
             'uid_nobody': False}
  # Resolved before /tmp is hidden: a venv under /tmp links to the real interpreter.
  python, prefix = os.path.realpath(sys.executable), os.path.realpath(sys.base_prefix)
  if cfg['network'] in ('auto', 'namespace'):
    applied['net_namespace'] = _unshare(CLONE_NEWNET)
    if cfg['network'] == 'namespace' and not applied['net_namespace']:
      sys.exit(SETUP_FAILED)
  if _unshare(CLONE_NEWNS):
    applied['mount_namespace'] = _private_tmp()
  applied['pid_namespace'] = _unshare(CLONE_NEWPID)
  applied['python'] = python
  stdlib_ok = _traversable_by_others(python)
  if not stdlib_ok and applied['mount_namespace'] and _expose_stdlib(prefix):
    stdlib_ok = True
    applied['python'] = STDLIB_MOUNT + python[len(prefix):]
  if os.getuid() == 0 and stdlib_ok:
    try:
      os.setgroups([])
      os.setgid(NOBODY)
      os.setuid(NOBODY)
      applied['uid_nobody'] = True
    except OSError:
      pass
  if cfg.get('require') and not all(applied[k] for k in (
      'net_namespace', 'mount_namespace', 'pid_namespace', 'uid_nobody')):
    sys.exit(SETUP_FAILED)
  return applied


def main():
  if sys.argv[1] == '--probe':
    cfg = {'network': 'auto'}
    applied = isolate(cfg)
    print(json.dumps(applied))
    return
  cfg = json.loads(sys.argv[1])
  applied = isolate(cfg)
  if applied['pid_namespace']:
    # unshare(CLONE_NEWPID) puts our *children* in the new namespace: fork its init.
    pid = os.fork()
    if pid:
      _, status = os.waitpid(pid, 0)
      os._exit(os.waitstatus_to_exitcode(status) & 0xFF)
  _set_limits(cfg)
  # A fresh interpreter, stdlib only (-I -S): nothing of ours, no site-packages.
  python = applied['python']
  if applied['net_namespace']:
    os.execv(python, [python, '-I', '-S', 'prog.py'])
  os.execv(python, [python, '-I', '-S', '-c', _BLOCK_SOCKETS])


if __name__ == '__main__':
  main()
