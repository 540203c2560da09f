"""The embedded default: tokenizer + tiny base model from synthetic tasks on a 2-core CPU.

  python -m r1jax.main --config=configs/quickstart.py --workdir=/tmp/r1jax_quickstart
  python -m r1jax.main --config=configs/quickstart.py:stages=pretrain --workdir=DIR
  python -m r1jax.main --config=configs/quickstart.py --config.train.steps=100 --workdir=DIR

Pretraining documents mix worked answers, bare answers and untagged answers
(data.mode_probs), so the base model is imperfect on the R1-Zero prompt.
"""
from configs import common


def get_config(arg=None):
  arg = common.get_config_arg(arg, stages='pretrain')
  config = common.get_config()
  config.stages = tuple(arg.stages.split('+'))

  config.model.update(vocab_size=512, d_model=128, n_layers=4, n_heads=4, n_kv_heads=2,
                      d_ff=512)
  config.data.update(tasks=('arithmetic', 'linear_equation', 'countdown'), difficulties=(1, 2),
                     num_train=20000, num_heldout=300, seq_len=176)
  config.train.update(steps=600, batch_size=32, learning_rate=3e-3, warmup_steps=50,
                      log_every=25, eval_every=300, eval_batches=4)
  config.eval.update(num_prompts=96, num_samples=4, max_new_tokens=64, prompt_len=112,
                     batch_size=96)
  config.checkpoint.update(every=300, keep=2)
  return config
