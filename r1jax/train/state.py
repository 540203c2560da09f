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


def make_optimizer(train_cfg, total_steps: int | None = None) -> optax.GradientTransformation:
  """AdamW with linear warmup then cosine decay to min_lr_ratio * peak, and global-norm
  gradient clipping."""
  total_steps = total_steps or train_cfg.steps
  warmup = min(train_cfg.warmup_steps, max(total_steps - 1, 0))
  schedule = optax.warmup_cosine_decay_schedule(
      init_value=0.0, peak_value=train_cfg.learning_rate, warmup_steps=warmup,
      decay_steps=max(total_steps, warmup + 1),
      end_value=train_cfg.learning_rate * train_cfg.min_lr_ratio)
  return optax.chain(
      optax.clip_by_global_norm(train_cfg.grad_clip),
      optax.adamw(schedule, b1=train_cfg.b1, b2=train_cfg.b2,
                  weight_decay=train_cfg.weight_decay))


def learning_rate(train_cfg, step, total_steps: int | None = None):
  """The schedule's value at `step` (for logging)."""
  total_steps = total_steps or train_cfg.steps
  warmup = min(train_cfg.warmup_steps, max(total_steps - 1, 0))
  return optax.warmup_cosine_decay_schedule(
      0.0, train_cfg.learning_rate, warmup, max(total_steps, warmup + 1),
      train_cfg.learning_rate * train_cfg.min_lr_ratio)(step)


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
