"""The one place for CPU-only switches (XLA:CPU flags, threads). Model, sampler and trainer
code stays the same on every backend.

  from r1jax import platform; platform.configure()   # before jax creates its backend

`configure()` appends CPU_XLA_FLAGS to XLA_FLAGS (a flag the user already set wins). They are
`xla_cpu_*` flags, read only by the CPU compiler, so a GPU/TPU run is unaffected. What was
measured (README, "Benchmarks and performance"), one process per flag on the shared 2-core
AVX2 machine (not interleaved, so only large effects count):
  * --xla_cpu_experimental_ynn_fusion_type= (YNNPACK dot fusions off, Eigen dots): the update
    ~2x slower. YNNPACK is jaxlib 0.10.2's default; kept.
  * --xla_cpu_experimental_onednn_fusion_type=dot: slower.
  * --xla_cpu_multi_thread_eigen=false: faster in one run, slower in another (no clear effect).
So the fast defaults need no flag today; the list stays here for the next measurement.

`configure()` also sets glibc's malloc for a CPU run (`cpu_malloc`): XLA:CPU allocates each
call's temporary buffers with malloc, and glibc serves large blocks with fresh mmap pages that
it unmaps on free, so every call faults its memory in again (the grpo_tiny forward + backward:
215k minor page faults per call). With mmap off, one arena and no trimming, the freed memory is
reused (833 faults per call) and the GRPO step is about 1.2x faster (README, "Benchmarks and
performance"). A GPU/TPU run, a non-glibc system, or R1JAX_CPU_MALLOC=0 leaves malloc alone.
"""
import ctypes
import ctypes.util
import importlib.util
import os
import platform as _platform

CPU_XLA_FLAGS: tuple[str, ...] = ()
CPU_MALLOC = False   # whether configure() set malloc for the CPU (see cpu_malloc)


# mallopt parameters (glibc's malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_MAX, _M_ARENA_MAX = -1, -4, -8
# Accelerator plugins of jax: with one installed (and JAX_PLATFORMS not 'cpu'), jax runs there.
_ACCELERATOR_MODULES = ('jax_cuda12_plugin', 'jax_cuda13_plugin', 'jax_rocm60_plugin',
                        'jax_rocm7_plugin', 'libtpu')


def runs_on_cpu() -> bool:
  """Whether jax will pick the CPU backend: JAX_PLATFORMS says so, or no accelerator plugin is
  installed. Decided without importing jax."""
  wanted = os.environ.get('JAX_PLATFORMS', '').strip().lower()
  if wanted:
    return wanted.split(',')[0] == 'cpu'
  return not any(importlib.util.find_spec(m) for m in _ACCELERATOR_MODULES)


def cpu_malloc() -> bool:
  """glibc malloc without mmap for large blocks, one arena, no trimming: XLA:CPU's per-call
  buffers are reused instead of faulted in again. Must run before jax starts its threads.
  Returns whether it was applied (only on Linux with glibc, unless R1JAX_CPU_MALLOC=0)."""
  if os.environ.get('R1JAX_CPU_MALLOC', '1') == '0' or _platform.libc_ver()[0] != 'glibc':
    return False
  libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
  return all(libc.mallopt(param, value) == 1 for param, value in (
      (_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, 2**31 - 1), (_M_ARENA_MAX, 1)))


def configure(extra: tuple[str, ...] = CPU_XLA_FLAGS) -> str:
  """Adds `extra` to XLA_FLAGS unless the same flag is already set, and on a CPU run sets
  malloc (`cpu_malloc`). Returns XLA_FLAGS. Effective only before jax initialises its backend
  (the first computation)."""
  global CPU_MALLOC
  if runs_on_cpu() and not CPU_MALLOC:
    CPU_MALLOC = cpu_malloc()
  current = os.environ.get('XLA_FLAGS', '')
  present = {f.split('=')[0] for f in current.split()}
  added = [f for f in extra if f.split('=')[0] not in present]
  if added:
    os.environ['XLA_FLAGS'] = ' '.join([current, *added]).strip()
  return os.environ.get('XLA_FLAGS', '')
