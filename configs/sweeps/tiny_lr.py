"""A big_vision-style sweep file: `get_sweep()` lists the points, each {field: value}.

  python -m r1jax.sweep --config=configs/tiny.py --sweep=configs/sweeps/tiny_lr.py --workdir=DIR
"""


def get_sweep():
  return [{'rl.learning_rate': lr, 'rl.kl_beta': beta}
          for lr in (1e-3, 3e-3) for beta in (0.0, 0.01)]
