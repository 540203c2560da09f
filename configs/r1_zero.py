"""R1-Zero: GRPO straight from a base model with the R1 template and rule rewards
(accuracy + format), DeepSeek-R1 sec. 2.2. Defaults follow the paper where it says
(group 16, KL 0.001, clip 0.2 (10 in the paper's later stage), lr 3e-6, temperature 1);
the model and data knobs are the quickstart's until real weights and data are wired in.

  python -m r1jax.main --config=configs/r1_zero.py --config.rl.init_from=BASE_WORKDIR --workdir=DIR
  python -m r1jax.main --config=configs/r1_zero.py:variant=dapo --config.rl.init_from=BASE --workdir=DIR

variant=grpo (default) | dapo (clip-higher, token-mean loss, dynamic sampling, overlong
shaping, no KL) | drgrpo (mean-only advantages, token-sum / constant).
"""
from configs import common, quickstart

VARIANTS = {
    'grpo': dict(),
    'dapo': dict(clip_eps_low=0.2, clip_eps_high=0.28, aggregation='token_mean', kl_beta=0.0,
                 dynamic_sampling=True, rewards={'accuracy': 1.0, 'format': 0.5,
                                                 'overlong_penalty': 1.0}),
    'drgrpo': dict(advantage_mode='drgrpo', aggregation='token_sum'),
}


def get_config(arg=None):
  arg = common.get_config_arg(arg, variant='grpo')
  if arg.variant not in VARIANTS:
    raise ValueError(f'variant={arg.variant!r}: use one of {sorted(VARIANTS)}')
  config = quickstart.get_config('stages=rl')
  config.rl.update(
      steps=500, prompts_per_step=32, group_size=16, learning_rate=3e-6, warmup_steps=10,
      kl_beta=0.001, kl_estimator='k3', temperature=1.0, clip_eps_low=0.2, clip_eps_high=0.2,
      rewards={'accuracy': 1.0, 'format': 1.0}, eval_every=50)
  config.rl.update(**VARIANTS[arg.variant])
  return config
