"""The train state pytree, the optimizer, and creating both born-sharded on the mesh."""
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax

from r1jax import sharding
from r1jax.models import ModelConfig, init_params


@flax.struct.dataclass
class TrainState:
  step: jax.Array  # int32 scalar, replicated
  params: Any
  opt_state: Any


def lr_schedule(train_cfg, total_steps: int | None = None, updates_per_step: int = 1):
  """Linear warmup then cosine decay to min_lr_ratio * peak, as a function of the optimizer's
  update count. Warmup and decay are counted in steps; with updates_per_step = mu > 1 (RL:
  mu updates per rollout) every update of step s uses the step's rate, schedule(count // mu),
  so warm-up and decay end where the config says, not mu times early."""
  total_steps = total_steps or train_cfg.steps
  warmup = min(train_cfg.warmup_steps, max(total_steps - 1, 0))
  schedule = optax.warmup_cosine_decay_schedule(
      init_value=0.0, peak_value=train_cfg.learning_rate, warmup_steps=warmup,
      decay_steps=max(total_steps, warmup + 1),
      end_value=train_cfg.learning_rate * train_cfg.min_lr_ratio)
  if updates_per_step == 1:
    return schedule
  return lambda count: schedule(count // updates_per_step)


def make_optimizer(train_cfg, total_steps: int | None = None,
                   updates_per_step: int = 1) -> optax.GradientTransformation:
  """AdamW on `lr_schedule`, and global-norm gradient clipping."""
  return optax.chain(
      optax.clip_by_global_norm(train_cfg.grad_clip),
      optax.adamw(lr_schedule(train_cfg, total_steps, updates_per_step), b1=train_cfg.b1,
                  b2=train_cfg.b2, weight_decay=train_cfg.weight_decay))


def learning_rate(train_cfg, step, total_steps: int | None = None):
  """The schedule's value at update count `step` (for logging; one update per step)."""
  return lr_schedule(train_cfg, total_steps)(step)


def state_shardings(model_cfg: ModelConfig, tx, mesh, rules):
  """NamedShardings of a TrainState, from the logical names on the parameters: optimizer
  moments inherit the sharding of their parameter, scalars are replicated."""
  def boxed_state(rng):
    params = init_params(model_cfg, rng, boxed=True)
    return TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=tx.init(params))
  abstract = jax.eval_shape(boxed_state, jax.random.key(0))
  return sharding.logical_shardings(abstract, mesh, rules)


def create_train_state(model_cfg: ModelConfig, tx, rng, mesh, rules, params=None):
  """A fresh TrainState, born sharded (jit with out_shardings), so no host ever holds the
  whole model. Given `params` (e.g. from an earlier stage), starts from them instead."""
  shardings = state_shardings(model_cfg, tx, mesh, rules)

  def init(rng, params):
    if params is None:
      params = init_params(model_cfg, rng)
    return TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=tx.init(params))

  with sharding.use_mesh(mesh, rules):
    state = jax.jit(init, out_shardings=shardings)(rng, params)
  return state, shardings


def gradient_step(state: TrainState, tx, loss_fn):
  """One optimizer step on `loss_fn(params) -> (loss, metrics)`; adds the gradient norm."""
  (_, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  metrics['grad_norm'] = optax.tree.norm(grads)
  return state.replace(step=state.step + 1, params=params, opt_state=opt_state), metrics
