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
"""
import os

CPU_XLA_FLAGS: tuple[str, ...] = ()


def configure(extra: tuple[str, ...] = CPU_XLA_FLAGS) -> str:
  """Adds `extra` to XLA_FLAGS unless the same flag is already set. Returns XLA_FLAGS.
  Effective only before jax initialises its backend (the first computation)."""
  current = os.environ.get('XLA_FLAGS', '')
  present = {f.split('=')[0] for f in current.split()}
  added = [f for f in extra if f.split('=')[0] not in present]
  if added:
    os.environ['XLA_FLAGS'] = ' '.join([current, *added]).strip()
  return os.environ.get('XLA_FLAGS', '')
