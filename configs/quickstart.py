"""The embedded default, start to finish on a 2-core CPU: a SentencePiece tokenizer and a tiny
base model from synthetic tasks, then R1-Zero GRPO with accuracy + format rewards.

  python -m r1jax.main --config=configs/quickstart.py --workdir=/tmp/r1jax_quickstart
  python -m r1jax.main --config=configs/quickstart.py:stages=pretrain --workdir=DIR
  python -m r1jax.main --config=configs/quickstart.py --config.rl.steps=20 --workdir=DIR

The pretraining documents mix worked answers, bare answers and untagged answers
(data.mode_probs), so the base model is imperfect on the R1-Zero prompt; GRPO has to find out
that the tagged, worked answers are the ones that earn reward.
"""
from configs import common


def get_config(arg=None):
  arg = common.get_config_arg(arg, stages='pretrain+rl')
  config = common.get_config()
  config.stages = tuple(arg.stages.split('+'))

  # 1.2M parameters. 768 pieces leave room for the numbers 0..99 as single pieces.
  config.model.update(vocab_size=768, d_model=128, n_layers=4, n_heads=4, n_kv_heads=2,
                      d_ff=512)
  # Countdown (search) is out of reach for this model size: configs/r1_zero.py etc. add it.
  config.data.update(tasks=('arithmetic', 'linear_equation'), difficulties=(1,),
                     num_train=20000, num_heldout=300, seq_len=160, number_pieces=100,
                     share_prefix=True)
  # Half the documents answer without the tags, a third with worked reasoning: the base
  # model is right ~18% of the time, and ~40% when it happens to reason (README).
  config.data.mode_probs = {'cot': 0.35, 'direct': 0.15, 'noformat': 0.5}
  config.train.update(steps=1500, batch_size=32, learning_rate=2e-3, warmup_steps=50,
                      log_every=50, eval_every=500, eval_batches=4)
  config.eval.update(num_prompts=96, num_samples=4, max_new_tokens=48, prompt_len=104,
                     batch_size=96)
  config.rl.update(
      steps=100, prompts_per_step=16, group_size=8, prompt_len=104, max_new_tokens=48,
      learning_rate=2e-4, warmup_steps=5, b2=0.99, grad_clip=1.0,
      kl_beta=0.0, clip_eps_low=0.2, clip_eps_high=0.28,
      eval_every=25, log_every=5)
  config.rl.rewards = {'accuracy': 1.0, 'format': 0.5}
  config.checkpoint.update(every=250, keep=2)
  return config
