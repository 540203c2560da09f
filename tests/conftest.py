"""8 fake CPU devices for every test (set before anything touches a device), so sharded
paths run on several mesh shapes; single-device references pick `jax.devices()[:1]`.

One persistent XLA compilation cache per test run, shared by the pytest-xdist workers and the
subprocesses tests start (workers, notebook kernels and multi-host processes inherit the
environment): most tests build the same tiny models, and compiling is most of their time. The
process that starts the run makes an empty directory and removes it at the end, so every run
starts cold, as in CI, and no test depends on an earlier run. A JAX_COMPILATION_CACHE_DIR set
by the user is used as it is and kept; `R1JAX_TEST_JAX_CACHE=off` turns the cache off."""
import os
import shutil
import tempfile

_MADE_CACHE = None
if 'JAX_COMPILATION_CACHE_DIR' not in os.environ and os.environ.get('R1JAX_TEST_JAX_CACHE') != 'off':
  _MADE_CACHE = os.environ['JAX_COMPILATION_CACHE_DIR'] = tempfile.mkdtemp(prefix='r1jax_jax_cache_')
  os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS', '0')
# Test processes keep glibc's default malloc: importing a benchmark module (platform.configure)
# would otherwise switch it mid-run in whichever xdist worker imports one first. The malloc
# test sets R1JAX_CPU_MALLOC itself in its subprocesses.
os.environ.setdefault('R1JAX_CPU_MALLOC', '0')

import jax  # noqa: E402

jax.config.update('jax_num_cpu_devices', 8)

import pytest  # noqa: E402

from configs import common  # noqa: E402


def pytest_sessionfinish(session):
  if _MADE_CACHE:   # the xdist controller (or the only process with -n 0) made it
    shutil.rmtree(_MADE_CACHE, ignore_errors=True)



def make_tiny_config(**train):
  """A config whose whole pipeline (tokenizer, pretrain, eval) runs in seconds."""
  config = common.get_config()
  config.model.update(vocab_size=512, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=64)
  config.data.update(tasks=('arithmetic', 'linear_equation', 'countdown'), difficulties=(1,),
                     num_train=200, num_heldout=16, seq_len=176)
  config.train.update(steps=4, batch_size=8, learning_rate=1e-3, warmup_steps=1, log_every=1,
                      eval_every=0, eval_batches=1)
  config.train.update(**train)
  config.eval.update(num_prompts=8, num_samples=2, max_new_tokens=8, prompt_len=112,
                     batch_size=8)
  config.checkpoint.update(every=2, keep=3)
  config.log.update(tensorboard=True, plots=True)
  return config


@pytest.fixture
def tiny_config():
  return make_tiny_config()
