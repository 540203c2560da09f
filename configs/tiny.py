"""The whole pipeline at toy scale (a 30k-parameter model, seconds per stage on a CPU): what the
tests, the sweep example and the notebook in CI run. Not for results: configs/quickstart.py is.

  python -m r1jax.main --config=configs/tiny.py --workdir=/tmp/r1jax_tiny
  python -m r1jax.main --config=configs/tiny.py:stages=rl --config.rl.init_from=BASE --workdir=DIR
  python -m r1jax.sweep --config=configs/tiny.py --sweep='rl.learning_rate=1e-3,3e-3' --workdir=DIR
"""
from configs import common


def get_config(arg=None):
  arg = common.get_config_arg(arg, stages='pretrain+rl')
  config = common.get_config()
  config.stages = tuple(arg.stages.split('+'))
  config.model.update(vocab_size=512, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=64)
  config.data.update(tasks=('arithmetic', 'linear_equation'), difficulties=(1,), num_train=200,
                     num_heldout=16, seq_len=176)
  config.train.update(steps=4, batch_size=8, learning_rate=1e-3, warmup_steps=1, log_every=1,
                      eval_every=0, eval_batches=1)
  config.eval.update(num_prompts=8, num_samples=2, max_new_tokens=8, prompt_len=112,
                     batch_size=8)
  config.rl.update(steps=6, prompts_per_step=8, group_size=2, prompt_len=112, max_new_tokens=8,
                   learning_rate=1e-3, warmup_steps=0, kl_beta=0.01, verifier_workers=1,
                   eval_every=3, log_every=1)
  config.checkpoint.update(every=1, keep=20)
  return config
