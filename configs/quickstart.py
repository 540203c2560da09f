"""The embedded default, start to finish on a 2-core CPU: a SentencePiece tokenizer and a tiny
base model from synthetic tasks, then R1-Zero GRPO with accuracy + format rewards.

  python -m r1jax.main --config=configs/quickstart.py --workdir=/tmp/r1jax_quickstart
  python -m r1jax.main --config=configs/quickstart.py:stages=pretrain --workdir=DIR
  python -m r1jax.main --config=configs/quickstart.py --config.rl.steps=20 --workdir=DIR
  python -m r1jax.main --config=configs/quickstart.py:tasks=columns --workdir=DIR
  python -m r1jax.main --config=configs/quickstart.py:tasks=columns,stages=pretrain+substrate_check --workdir=DIR

tasks=classic (default): one-step arithmetic and linear equations at difficulty 1. The
pretraining documents mix worked answers, bare answers and untagged answers (data.mode_probs),
so the base model is imperfect on the R1-Zero prompt; GRPO has to find out that the tagged,
worked answers are the ones that earn reward (only an answer inside <answer> counts).

tasks=columns: 2- to 4-digit addition and subtraction (r1jax/data/tasks/columns.py), where the
direct answer needs the whole carry chain and each worked step is a one-digit fact; the
documents are mostly direct answers, then coarse, fine and checked column-by-column work and a
few checked traces whose slip the check catches. The substrate check (stages/substrate.py)
measures each mode forced before RL. Not yet calibrated: its base model does not yet learn the
worked procedure within the pretraining budget (README, the substrate check).
"""
from configs import common

STAGES = {'classic': 'pretrain+rl', 'columns': 'pretrain+substrate_check+rl'}


def get_config(arg=None):
  arg = common.get_config_arg(arg, stages='', tasks='classic')
  if arg.tasks not in STAGES:
    raise ValueError(f'tasks={arg.tasks!r}: use one of {sorted(STAGES)}')
  config = common.get_config()
  config.stages = tuple((arg.stages or STAGES[arg.tasks]).split('+'))
  if arg.tasks == 'columns':
    return _columns(config)

  # 1.2M parameters. 768 pieces leave room for the numbers 0..99 as single pieces.
  config.model.update(vocab_size=768, d_model=128, n_layers=4, n_heads=4, n_kv_heads=2,
                      d_ff=512)
  # Countdown (search) is out of reach for this model size: configs/r1_zero.py etc. add it.
  config.data.update(tasks=('arithmetic', 'linear_equation'), difficulties=(1,),
                     num_train=20000, num_heldout=300, seq_len=160, number_pieces=100,
                     share_prefix=True)
  # Half the documents answer without the tags, a third with worked reasoning.
  config.data.mode_probs = {'cot': 0.35, 'direct': 0.15, 'noformat': 0.5}
  config.train.update(steps=1500, batch_size=32, learning_rate=2e-3, warmup_steps=50,
                      log_every=50, eval_every=500, eval_batches=4)
  config.eval.update(num_prompts=96, num_samples=4, max_new_tokens=48, prompt_len=104,
                     batch_size=96)
  return _rl(config, prompt_len=104, max_new_tokens=48)


def _columns(config):
  config.model.update(vocab_size=512, d_model=128, n_layers=4, n_heads=4, n_kv_heads=2,
                      d_ff=512)
  # 2-, 3- and 4-digit addition and subtraction; every digit (with its space) one token.
  config.data.update(tasks=('add', 'sub'), difficulties=(1, 2, 3), num_train=20000,
                     num_heldout=1200, seq_len=480, number_pieces=10, share_prefix=True,
                     tokenizer_examples=2000)   # a few words and the digits: 2,000 is plenty
  config.data.mode_probs = {'direct': 0.35, 'coarse': 0.1, 'fine': 0.25, 'check': 0.15,
                            'slip': 0.05, 'noformat': 0.1}
  config.train.update(steps=1600, batch_size=32, learning_rate=3e-3, warmup_steps=50,
                      length_buckets=4, log_every=50, eval_every=0, eval_batches=4)
  # Greedy on 1,008 held-out prompts (stratified by task x level).
  config.eval.update(num_prompts=1008, num_samples=1, temperature=0.0, max_new_tokens=192,
                     prompt_len=112, batch_size=252)
  return _rl(config, prompt_len=112, max_new_tokens=192)


def _rl(config, **lengths):
  """R1-Zero GRPO: 100 steps of 16 prompts x 8 samples, clip-higher, no KL."""
  config.rl.update(
      steps=100, prompts_per_step=16, group_size=8, learning_rate=2e-4, warmup_steps=5, b2=0.99,
      grad_clip=1.0, kl_beta=0.0, clip_eps_low=0.2, clip_eps_high=0.28, eval_every=25,
      log_every=5, **lengths)
  config.rl.rewards = {'accuracy': 1.0, 'format': 0.5}
  config.checkpoint.update(every=250, keep=2)
  return config
