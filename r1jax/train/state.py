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
  # updates skipped for a non-finite loss or gradient: in all, and in a row up to now
  skipped: jax.Array = 0
  skipped_in_a_row: jax.Array = 0


class NonFiniteError(FloatingPointError):
  """The loss or the gradients stayed non-finite for too many updates in a row."""


def check_finite(metrics: dict, step: int, limit: int, field: str) -> None:
  """Host side, on metrics already fetched: stop once `limit` updates in a row were skipped."""
  in_a_row = int(metrics.get('skipped_in_a_row', 0))
  if limit and in_a_row >= limit:
    raise NonFiniteError(
        f'step {step}: the loss or gradients were non-finite for {in_a_row} updates in a row '
        f'(each skipped; {field}={limit}); the checkpoints hold the last finite state. Lower the '
        'learning rate, raise grad_clip, or check the data around this step')


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
    return TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=tx.init(params),
                      skipped=jnp.zeros((), jnp.int32), skipped_in_a_row=jnp.zeros((), jnp.int32))
  abstract = jax.eval_shape(boxed_state, jax.random.key(0))
  return sharding.logical_shardings(abstract, mesh, rules)


def create_train_state(model_cfg: ModelConfig, tx, rng, mesh, rules, params=None):
  """A fresh TrainState, born sharded (jit with out_shardings), so no host ever holds the
  whole model. Given `params` (e.g. from an earlier stage), starts from them instead."""
  shardings = state_shardings(model_cfg, tx, mesh, rules)

  def init(rng, params):
    if params is None:
      params = init_params(model_cfg, rng)
    zero = jnp.zeros((), jnp.int32)
    return TrainState(step=zero, params=params, opt_state=tx.init(params), skipped=zero,
                      skipped_in_a_row=zero)

  with sharding.use_mesh(mesh, rules):
    state = jax.jit(init, out_shardings=shardings)(rng, params)
  return state, shardings


def gradient_step(state: TrainState, tx, loss_fn):
  """One optimizer step on `loss_fn(params) -> (loss, metrics)`; adds the gradient norm.

  A non-finite loss or gradient skips the update (params and optimizer state stay as they
  were, selected in-graph: no host sync) and is counted in `skipped` / `skipped_in_a_row`;
  the host stops the run through `check_finite` on the metrics it already fetches."""
  (loss, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
  return apply_gradients(state, tx, loss, metrics, grads)


def apply_gradients(state: TrainState, tx, loss, metrics: dict, grads):
  """The optimizer half of `gradient_step`, for gradients computed elsewhere (e.g. summed
  over the chunks of a batch): the same clipping, schedule, non-finite skip and metrics."""
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  metrics = dict(metrics, grad_norm=optax.tree.norm(grads))
  finite = jnp.isfinite(loss) & jnp.isfinite(metrics['grad_norm'])
  keep = lambda new, old: jax.tree.map(lambda n, o: jnp.where(finite, n, o), new, old)
  bad = 1 - finite.astype(jnp.int32)
  state = state.replace(step=state.step + 1, params=keep(params, state.params),
                        opt_state=keep(opt_state, state.opt_state),
                        skipped=state.skipped + bad,
                        skipped_in_a_row=(state.skipped_in_a_row + bad) * bad)
  metrics.update(skipped=state.skipped, skipped_in_a_row=state.skipped_in_a_row)
  return state, metrics
