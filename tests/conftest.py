"""8 fake CPU devices for every test (set before anything touches a device), so sharded
paths run on several mesh shapes; single-device references pick `jax.devices()[:1]`."""
import jax

jax.config.update('jax_num_cpu_devices', 8)

import pytest  # noqa: E402

from configs import common  # noqa: E402


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
