"""The embedded default, start to finish on a 2-core CPU: a SentencePiece tokenizer and a tiny
base model from column arithmetic (where the direct answer is hard and worked, checked steps
are easy), the substrate check, then R1-Zero GRPO with accuracy + format rewards.

  python -m r1jax.main --config=configs/quickstart.py --workdir=/tmp/r1jax_quickstart
  python -m r1jax.main --config=configs/quickstart.py:stages=pretrain+substrate_check --workdir=DIR
  python -m r1jax.main --config=configs/quickstart.py --config.rl.steps=20 --workdir=DIR

The pretraining documents mix the modes of r1jax/data/tasks/columns.py (data.mode_probs):
mostly direct answers, some coarse, fine and checked column-by-column work, a few checked traces
with a slip the check catches, a few untagged answers. The base model mostly answers directly,
and direct answers need the whole carry chain at once; GRPO has to find out that the worked and
checked answers are the ones that earn reward.
"""
from configs import common


def get_config(arg=None):
  arg = common.get_config_arg(arg, stages='pretrain+substrate_check+rl')
  config = common.get_config()
  config.stages = tuple(arg.stages.split('+'))

  config.model.update(vocab_size=512, d_model=128, n_layers=4, n_heads=4, n_kv_heads=2,
                      d_ff=512)
  # 2-, 3- and 4-digit addition and subtraction; every digit (with its space) one token.
  config.data.update(tasks=('add', 'sub'), difficulties=(1, 2, 3), num_train=20000,
                     num_heldout=1200, seq_len=352, number_pieces=10, share_prefix=True,
                     tokenizer_examples=2000)   # a few words and the digits: 2,000 is plenty
  config.data.mode_probs = {'direct': 0.45, 'coarse': 0.15, 'fine': 0.15, 'check': 0.1,
                            'slip': 0.05, 'noformat': 0.1}
  config.train.update(steps=1500, batch_size=32, learning_rate=2e-3, warmup_steps=50, length_buckets=4,
                      log_every=50, eval_every=500, eval_batches=4)
  # Greedy on 1,008 held-out prompts (stratified by task x level).
  config.eval.update(num_prompts=1008, num_samples=1, temperature=0.0, max_new_tokens=160,
                     prompt_len=112, batch_size=252)
  config.rl.update(
      steps=100, prompts_per_step=16, group_size=8, prompt_len=112, max_new_tokens=160,
      learning_rate=2e-4, warmup_steps=5, b2=0.99, grad_clip=1.0,
      kl_beta=0.0, clip_eps_low=0.2, clip_eps_high=0.28,
      eval_every=25, log_every=5)
  config.rl.rewards = {'accuracy': 1.0, 'format': 0.5}
  config.checkpoint.update(every=250, keep=2)
  return config
