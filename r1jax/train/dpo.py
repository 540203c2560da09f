"""DPO (Rafailov et al. 2023) on preference pairs: k1.5's long2short DPO (sec. 2.4), where the
shortest correct answer of a prompt is chosen and wrong or much longer answers are rejected.

  python -m r1jax.main --config=configs/k15.py:quick --workdir=DIR   # its dpo stage

  state = run(config, workdir, tokenizer, mesh, rules, pairs, init_params, stage='dpo')

pairs: [{'prompt', 'chosen', 'rejected'}] texts. The reference policy is the start model,
frozen: its sequence log-probs are computed once, before the first update, and kept with the
encoded pairs (no second copy of the weights during training). Each step takes dpo.batch_size
pairs, scores the chosen and rejected rows in one forward, and minimises losses.dpo_loss.
"""
import time

import jax
import jax.numpy as jnp
import numpy as np

from r1jax import checkpoint, evaluate, losses, metrics, sharding
from r1jax.data import pipeline
from r1jax.models import ModelConfig, forward
from r1jax.train.state import create_train_state, gradient_step, learning_rate, make_optimizer


def sequence_logprobs(model_cfg: ModelConfig, params, tokens, loss_mask):
  """Sum of log pi(token) over the completion tokens (loss_mask) of each row: [B]."""
  logits = forward(model_cfg, params, tokens[:, :-1]).astype(jnp.float32)
  logp = losses.token_logprobs(logits, tokens[:, 1:])
  return jnp.sum(logp * loss_mask[:, 1:], axis=-1)


def encode_pairs(tokenizer, pairs, seq_len: int) -> dict[str, np.ndarray]:
  """{'chosen', 'chosen_mask', 'rejected', 'rejected_mask'} [N, seq_len]: right-padded
  `[BOS] prompt completion [EOS]` rows, the mask on the completion and EOS."""
  out = {}
  for side in ('chosen', 'rejected'):
    rows = pipeline.encode_documents(tokenizer, [(p['prompt'], p[side]) for p in pairs],
                                     seq_len, mask_prompt=True)
    out[side], out[f'{side}_mask'] = rows['tokens'], rows['loss_mask']
  return out


def make_train_step(model_cfg: ModelConfig, tx, beta: float):
  def train_step(state, batch):
    def loss_fn(params):
      tokens = jnp.concatenate([batch['chosen'], batch['rejected']], axis=0)   # [2B, L]
      mask = jnp.concatenate([batch['chosen_mask'], batch['rejected_mask']], axis=0)
      chosen, rejected = jnp.split(sequence_logprobs(model_cfg, params, tokens, mask), 2)
      return losses.dpo_loss(chosen, rejected, batch['ref_chosen'], batch['ref_rejected'], beta)
    return gradient_step(state, tx, loss_fn)
  return train_step


def reference_logprobs(model_cfg, params, arrays, batch_size: int, mesh, rules):
  """The frozen reference's sequence log-probs of every chosen and rejected row."""
  rows2 = sharding.batch_sharding(mesh, 2)
  with sharding.use_mesh(mesh, rules):
    score = jax.jit(lambda p, t, m: sequence_logprobs(model_cfg, p, t, m),
                    in_shardings=(None, rows2, rows2), out_shardings=sharding.replicated(mesh))
  num, out = len(arrays['chosen']), {}
  for side in ('chosen', 'rejected'):
    parts = []
    for start in range(0, num, batch_size):
      rows = np.arange(start, start + batch_size) % num
      batch = sharding.put_batch(sharding.process_rows(
          {'t': arrays[side][rows], 'm': arrays[f'{side}_mask'][rows]}), mesh)
      with sharding.use_mesh(mesh, rules):
        parts.append(np.asarray(jax.device_get(score(params, batch['t'], batch['m']))))
    out[f'ref_{side}'] = np.concatenate(parts)[:num].astype(np.float32)
  return out


def run(config, workdir: str, tokenizer, mesh, rules, pairs, init_params=None,
        stage: str = 'dpo'):
  """dpo.steps DPO steps from `init_params` (also the reference), resuming from the stage's
  checkpoint; returns the final TrainState."""
  cfg = config.dpo
  model_cfg = ModelConfig.from_config(config.model)
  ckpt = checkpoint.Checkpointer(workdir, stage, config.checkpoint.every, config.checkpoint.keep)
  resuming = ckpt.latest_step() is not None
  if init_params is None and not resuming:
    raise ValueError(f'stage {stage!r} (dpo) needs a start model: put it after a training stage')
  arrays = encode_pairs(tokenizer, pairs, config.data.seq_len)
  tx = make_optimizer(cfg)
  state, shardings = create_train_state(model_cfg, tx, jax.random.key(config.seed), mesh, rules,
                                        params=init_params)
  if resuming:  # the reference log-probs were saved beside the checkpoints
    ref = dict(np.load(f'{ckpt.directory}/reference_logprobs.npz'))
    state = ckpt.restore(state)
    metrics.note(f'[{stage}] Resumed from step {int(state.step)}')
  else:
    metrics.note(f'[{stage}] Reference log-probs of {len(pairs)} pairs...')
    ref = reference_logprobs(model_cfg, state.params, arrays, cfg.batch_size, mesh, rules)
    if jax.process_index() == 0:
      ckpt.directory.mkdir(parents=True, exist_ok=True)
      np.savez(f'{ckpt.directory}/reference_logprobs.npz', **ref)
  arrays.update(ref)
  batches = pipeline.BatchIterator(arrays, cfg.batch_size, seed=config.seed)
  rows1, rows2 = sharding.batch_sharding(mesh, 1), sharding.batch_sharding(mesh, 2)
  batch_shardings = {k: rows1 if k.startswith('ref_') else rows2 for k in arrays}
  with sharding.use_mesh(mesh, rules):
    train_step = jax.jit(make_train_step(model_cfg, tx, cfg.beta),
                         in_shardings=(shardings, batch_shardings),
                         out_shardings=(shardings, sharding.replicated(mesh)), donate_argnums=0)
  writer = metrics.MetricWriter(workdir, stage, cfg.steps, config.log.tensorboard,
                                console_keys=('loss', 'reward_accuracy', 'margin',
                                              'eval/accuracy', 'eval/response_len'))
  evaluator = evaluate.Evaluator(config, tokenizer, mesh, rules)
  step = int(state.step)
  last_time, last_step = time.time(), step
  with ckpt.saving_on_exit(stage, lambda: (step, state)):  # Ctrl-C, a crash: saved
    while step < cfg.steps:
      batch = sharding.put_batch(sharding.process_rows(batches.batch(step)), mesh)
      with sharding.use_mesh(mesh, rules):
        state, step_metrics = train_step(state, batch)
      step += 1
      if metrics.every(step, cfg.log_every) or step == cfg.steps:
        row = jax.device_get(step_metrics)  # the only host sync of the loop
        now = time.time()
        row['pairs_per_second'] = cfg.batch_size * (step - last_step) / (now - last_time)
        row['learning_rate'] = float(learning_rate(cfg, step))
        row['compiles'] = metrics.compile_count()
        if step == cfg.steps:
          row.update(evaluator(state.params))
        writer.write(step, row)
        last_time, last_step = now, step
      ckpt.end_of_step(step, state, stage)  # the periodic save; SIGTERM: saved, Preempted
  ckpt.maybe_save(step, state, force=True)
  ckpt.close()
  writer.close()
  return state
