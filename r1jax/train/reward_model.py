"""Reward model: Bradley-Terry on ranked response pairs of the general tasks (DeepSeek-R1
sec. 2.3.4's preference reward, at our scale; the ranking is the oracle's, standing in for
raters).

  python -m r1jax.main --config=configs/r1.py:quick --workdir=DIR   # its reward_model stage

The model is the decoder with a scalar head on the last real token (r1jax/models/reward_head.py),
initialised from the stage it starts from. Each step scores the chosen and rejected rows of
reward_model.batch_size pairs in one forward and minimises -log sigmoid(r_chosen - r_rejected);
held-out pair accuracy is evaluated every reward_model.eval_every steps and at the end.

`compile_score(config, mesh, rules)` gives the jitted `score(params, tokens, valid) -> [B]` that
RL for all scenarios runs on the device beside the policy.
"""
import time

import jax
import jax.numpy as jnp
import numpy as np

from r1jax import checkpoint, metrics, sharding
from r1jax.config import positive, require
from r1jax.data import pipeline, templates
from r1jax.data.tasks import general
from r1jax.losses import bradley_terry_loss
from r1jax.models import ModelConfig, init_params
from r1jax.models.reward_head import init_head, init_reward_params, reward_scores
from r1jax.rewards import oracle
from r1jax.train.state import TrainState, gradient_step, learning_rate, make_optimizer


def preference_pairs(config, split: str) -> list[dict]:
  """Ranked pairs (oracle.ranked_pairs) of the general prompts of `split`, cycled or cut to
  reward_model.num_pairs (train) / num_heldout_pairs (heldout)."""
  rm = config.reward_model
  num = rm.num_pairs if split == 'train' else rm.num_heldout_pairs
  seed = config.data.seed + (split == 'heldout')
  prompts, pairs = 0, []
  while len(pairs) < num:  # each prompt gives several pairs; draw prompts until enough
    prompts = max(2 * prompts, 16)
    pairs = oracle.ranked_pairs(general.make_general_prompts(split, prompts, seed), seed)
  order = np.random.default_rng(seed).permutation(len(pairs))[:num]
  return [pairs[i] for i in order]


def encode_pairs(tokenizer, pairs, template, seq_len: int) -> dict[str, np.ndarray]:
  """{'chosen', 'chosen_valid', 'rejected', 'rejected_valid'} [N, seq_len] rows of
  `[BOS] prompt response [EOS]`, right-padded; the score is read at the EOS."""
  out = {}
  for side in ('chosen', 'rejected'):
    docs = [(template.prompt(p['question']), p[side]) for p in pairs]
    try:
      rows = pipeline.encode_documents(tokenizer, docs, seq_len, mask_prompt=False)
    except ValueError as e:
      raise ValueError(str(e).replace('data.seq_len', 'reward_model.seq_len')) from None
    out[side] = rows['tokens']
    out[f'{side}_valid'] = rows['tokens'] != tokenizer.pad_id
  return out


def make_score_fn(model_cfg: ModelConfig):
  def score(params, tokens, valid):
    return reward_scores(model_cfg, params, tokens, valid)
  return score


def make_train_step(model_cfg: ModelConfig, tx):
  def train_step(state: TrainState, batch):
    def loss_fn(params):
      tokens = jnp.concatenate([batch['chosen'], batch['rejected']], axis=0)   # [2B, L]
      valid = jnp.concatenate([batch['chosen_valid'], batch['rejected_valid']], axis=0)
      scores = reward_scores(model_cfg, params, tokens, valid)
      chosen, rejected = jnp.split(scores, 2)
      return bradley_terry_loss(chosen, rejected)
    return gradient_step(state, tx, loss_fn)
  return train_step


def make_eval_step(model_cfg: ModelConfig):
  def eval_step(params, batch):
    chosen = reward_scores(model_cfg, params, batch['chosen'], batch['chosen_valid'])
    rejected = reward_scores(model_cfg, params, batch['rejected'], batch['rejected_valid'])
    return bradley_terry_loss(chosen, rejected)[1]
  return eval_step


def create_state(model_cfg: ModelConfig, tx, rng, mesh, rules, decoder_params=None):
  """TrainState over {'decoder', 'head'}, born sharded (the logical names on the weights, as
  for the policy); starts from `decoder_params` if given. Returns (state, shardings)."""
  def boxed_state(rng):
    params = {'decoder': init_params(model_cfg, rng, boxed=True),
              'head': init_head(model_cfg, boxed=True)}
    return TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=tx.init(params))
  shardings = sharding.logical_shardings(jax.eval_shape(boxed_state, rng), mesh, rules)

  def init(rng, decoder_params):
    params = init_reward_params(model_cfg, rng, decoder_params)
    return TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=tx.init(params))
  with sharding.use_mesh(mesh, rules):
    state = jax.jit(init, out_shardings=shardings)(rng, decoder_params)
  return state, shardings


def compile_score(config, mesh, rules, shardings):
  """jit(score)(params, tokens, valid) -> [B], rows sharded on the data axes."""
  model_cfg = ModelConfig.from_config(config.model)
  rows = sharding.batch_sharding(mesh, 2)
  with sharding.use_mesh(mesh, rules):
    return jax.jit(make_score_fn(model_cfg), in_shardings=(shardings, rows, rows),
                   out_shardings=sharding.batch_sharding(mesh, 1))


def pair_accuracy(eval_step, params, arrays, batch_size, mesh) -> dict:
  """Held-out loss and pair accuracy over all pairs (the last batch wraps around and is
  weighted by its new pairs only)."""
  num = len(arrays['chosen'])
  totals, count = {}, 0
  for start in range(0, num, batch_size):
    rows = np.arange(start, start + batch_size) % num
    batch = sharding.put_batch(sharding.process_rows({k: v[rows] for k, v in arrays.items()}),
                               mesh)
    new = min(batch_size, num - start)
    out = jax.device_get(eval_step(params, batch))
    for k, v in out.items():
      totals[k] = totals.get(k, 0.0) + float(v) * new
    count += new
  return {f'eval/{k}': v / count for k, v in totals.items()}


def run(config, workdir: str, tokenizer, mesh, rules, init_params=None,
        stage: str = 'reward_model'):
  """Trains reward_model.steps steps (resuming from the stage's checkpoint) from the decoder
  params `init_params` (None: the base model); returns the final TrainState."""
  rm = config.reward_model
  model_cfg = ModelConfig.from_config(config.model)
  ckpt = checkpoint.Checkpointer(workdir, stage, config.checkpoint.every, config.checkpoint.keep)
  if init_params is None and ckpt.latest_step() is None:
    from r1jax.train import rl  # pylint: disable=g-import-not-at-top
    init_params = rl.load_base_params(config, workdir, model_cfg, mesh, rules)

  metrics.note(f'[{stage}] Ranking response pairs of the general tasks with the oracle...')
  template = templates.get_template(config.data.template)
  train_pairs, heldout_pairs = preference_pairs(config, 'train'), preference_pairs(config, 'heldout')
  train_arrays = encode_pairs(tokenizer, train_pairs, template, rm.seq_len)
  heldout_arrays = encode_pairs(tokenizer, heldout_pairs, template, rm.seq_len)
  metrics.note(f'[{stage}] {len(train_pairs)} training pairs, {len(heldout_pairs)} held-out')
  batches = pipeline.BatchIterator(train_arrays, rm.batch_size, seed=config.seed)

  tx = make_optimizer(rm)
  state, shardings = create_state(model_cfg, tx, jax.random.key(config.seed), mesh, rules,
                                  init_params)
  if ckpt.latest_step() is not None:
    state = ckpt.restore(state)
    metrics.note(f'[{stage}] Resumed from step {int(state.step)}')
  rows = sharding.batch_sharding(mesh, 2)
  batch_shardings = {k: rows for k in train_arrays}
  with sharding.use_mesh(mesh, rules):
    train_step = jax.jit(make_train_step(model_cfg, tx), in_shardings=(shardings, batch_shardings),
                         out_shardings=(shardings, sharding.replicated(mesh)), donate_argnums=0)
    eval_step = jax.jit(make_eval_step(model_cfg),
                        in_shardings=(shardings.params, batch_shardings),
                        out_shardings=sharding.replicated(mesh))
  writer = metrics.MetricWriter(workdir, stage, rm.steps, config.log.tensorboard,
                                console_keys=('loss', 'pair_accuracy', 'eval/pair_accuracy'))

  def evaluate_now(step):
    with sharding.use_mesh(mesh, rules):
      row = pair_accuracy(eval_step, state.params, heldout_arrays, rm.batch_size, mesh)
    writer.write(step, row)
    return row

  step = int(state.step)
  if step >= rm.steps:
    metrics.note(f'[{stage}] Already complete at step {step}')
    return state
  if step == 0:
    evaluate_now(0)
  last_time, last_step = time.time(), step
  with ckpt.saving_on_exit(stage, lambda: (step, state)):  # Ctrl-C, a crash: saved
    while step < rm.steps:
      batch = sharding.put_batch(sharding.process_rows(batches.batch(step)), mesh)
      with sharding.use_mesh(mesh, rules):
        state, step_metrics = train_step(state, batch)
      step += 1
      if step % rm.log_every == 0 or step == rm.steps:
        row = jax.device_get(step_metrics)  # the only host sync of the loop
        now = time.time()
        row['pairs_per_second'] = rm.batch_size * (step - last_step) / (now - last_time)
        row['learning_rate'] = float(learning_rate(rm, step))
        row['epoch'] = batches.epoch(step)
        row['compiles'] = metrics.compile_count()
        writer.write(step, row)
        last_time, last_step = now, step
      if rm.eval_every and step % rm.eval_every == 0 and step < rm.steps:
        evaluate_now(step)
      ckpt.end_of_step(step, state, stage)  # the periodic save; SIGTERM: saved, Preempted
  ckpt.maybe_save(step, state, force=True)
  final = evaluate_now(step)
  ckpt.close()
  writer.close()
  metrics.plot_metrics(workdir, stage, ['loss', 'pair_accuracy', 'eval/pair_accuracy'])
  metrics.note(f'[{stage}] Held-out pair accuracy {final["eval/pair_accuracy"]:.3f} '
               f'({len(heldout_pairs)} pairs)')
  return state


def load_reward_model(config, workdir: str, stage: str, mesh, rules):
  """The {'decoder', 'head'} params of a finished reward_model stage, onto `mesh`; `config`
  is that stage's config (its model)."""
  model_cfg = ModelConfig.from_config(config.model)
  boxed = jax.eval_shape(lambda k: {'decoder': init_params(model_cfg, k, boxed=True),
                                    'head': init_head(model_cfg, boxed=True)},
                         jax.random.key(0))
  return checkpoint.restore_params(workdir, stage, boxed, ('params',), mesh, rules)


def validate_config(config, data_parallel: int) -> None:
  r = config.reward_model
  positive(config, 'reward_model.steps', 'reward_model.batch_size',
           'reward_model.learning_rate', 'reward_model.num_pairs',
           'reward_model.num_heldout_pairs', 'reward_model.seq_len', 'reward_model.log_every')
  require(r.batch_size % data_parallel == 0,
          f'reward_model.batch_size={r.batch_size} is not divisible by the data-parallel size '
          f'{data_parallel}; use a multiple of {data_parallel}')
