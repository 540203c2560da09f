"""Pretraining and SFT: next-token loss with a loss mask, AdamW + warmup/cosine, clipping.

  python -m r1jax.main --config=configs/quickstart.py --workdir=/tmp/r1jax_quickstart

The compiled step is pure: `train_step(state, batch) -> (state, metrics)`, jitted once with
in/out shardings and the state donated. Batches are a pure function of the step
(`BatchIterator.batch(step)`), so a resumed run replays exactly the batches it would have seen.
"""
import time

import jax
import jax.numpy as jnp
import numpy as np

from r1jax import checkpoint, evaluate, metrics, sharding
from r1jax.config import non_negative, positive, require
from r1jax.data import corpus, pipeline, source, templates
from r1jax.data.tasks import Example
from r1jax.losses import next_token_loss, next_token_loss_chunked
from r1jax.models import (ModelConfig, count_params, flops_per_token, forward, forward_with_prefix,
                          lm_head_weight)
from r1jax.train.state import (check_finite, create_train_state, gradient_step, learning_rate,
                               make_optimizer)


def document_logits(model_cfg: ModelConfig, params, tokens, prefix=None):
  """Logits predicting tokens[:, 1:] from tokens[:, :-1] [B, L-1, V]; with `prefix` [P0]
  the rows continue that shared prefix, which is computed once."""
  if prefix is None:
    return forward(model_cfg, params, tokens[:, :-1])
  return forward_with_prefix(model_cfg, params, prefix, tokens[:, :-1])


def document_loss(model_cfg: ModelConfig, params, tokens, loss_mask, prefix=None):
  """next_token_loss of the documents; over vocabulary chunks when model.logits_chunk > 0."""
  if not model_cfg.logits_chunk:
    logits = document_logits(model_cfg, params, tokens, prefix)  # [B, L-1, V]
    return next_token_loss(logits, tokens[:, 1:], loss_mask[:, 1:])
  args = (model_cfg, params, tokens[:, :-1])
  hidden = (forward(*args, return_hidden=True) if prefix is None else
            forward_with_prefix(model_cfg, params, prefix, tokens[:, :-1], return_hidden=True))
  return next_token_loss_chunked(hidden, lm_head_weight(model_cfg, params), tokens[:, 1:],
                                 loss_mask[:, 1:], model_cfg.logits_chunk)


def make_train_step(model_cfg: ModelConfig, tx, prefix=None):
  def train_step(state, batch):
    tokens, loss_mask = batch['tokens'], batch['loss_mask']  # [B, L]

    def loss_fn(params):
      return document_loss(model_cfg, params, tokens, loss_mask, prefix)

    return gradient_step(state, tx, loss_fn)
  return train_step


def make_eval_step(model_cfg: ModelConfig, prefix=None):
  def eval_step(params, batch):
    return document_loss(model_cfg, params, batch['tokens'], batch['loss_mask'], prefix)[1]
  return eval_step


def compile_steps(model_cfg, tx, mesh, rules, state_shardings, prefix=None):
  """The jitted train and eval steps, bound to the mesh's shardings."""
  prefix = None if prefix is None else jnp.asarray(prefix, jnp.int32)
  batch_shard = {'tokens': sharding.batch_sharding(mesh), 'loss_mask': sharding.batch_sharding(mesh)}
  train_step = jax.jit(make_train_step(model_cfg, tx, prefix),
                       in_shardings=(state_shardings, batch_shard),
                       out_shardings=(state_shardings, sharding.replicated(mesh)),
                       donate_argnums=0)
  eval_step = jax.jit(make_eval_step(model_cfg, prefix),
                      in_shardings=(state_shardings.params, batch_shard),
                      out_shardings=sharding.replicated(mesh))
  return train_step, eval_step


def documents(config, tokenizer, split: str, mask_prompt: bool):
  """Encoded pretraining documents of one split: {'tokens', 'loss_mask'} [N, seq_len]."""
  examples = [Example.from_record(r) for r in source.load_records(config.data, split)]
  template = templates.get_template(config.data.template)
  docs = corpus.pretrain_documents(examples, template, config.data.mode_probs,
                                   seed=config.data.seed + (split == 'heldout'),
                                   language_switch_prob=config.data.language_switch_prob)
  return pipeline.encode_documents(tokenizer, docs, config.data.seq_len, mask_prompt)


def held_out_loss(eval_step, params, arrays, batch_size, num_batches, mesh):
  totals = {}
  for i in range(num_batches):
    rows = np.arange(i * batch_size, (i + 1) * batch_size) % len(arrays['tokens'])
    batch = sharding.put_batch(sharding.process_rows({k: v[rows] for k, v in arrays.items()}),
                               mesh)
    for k, v in jax.device_get(eval_step(params, batch)).items():
      totals[k] = totals.get(k, 0.0) + float(v) / num_batches
  return {'eval/loss': totals['loss'], 'eval/token_accuracy': totals['token_accuracy']}


def run(config, workdir: str, tokenizer, mesh, rules, stage: str = 'pretrain', init_params=None,
        docs=None):
  """Trains config.train.steps steps (resuming from the stage's latest checkpoint) and
  returns the final TrainState. With `init_params` (SFT: an earlier stage's params) training
  starts from them instead of random weights; with `docs` ({'train', 'heldout'}: lists of
  (prompt, completion), e.g. an SFT set) it trains on them instead of the corpus."""
  train_cfg = config.train
  model_cfg = ModelConfig.from_config(config.model)

  if docs is None:
    metrics.note(f'[{stage}] Building the corpus ({config.data.num_train} documents)...')
    train_arrays = documents(config, tokenizer, 'train', train_cfg.mask_prompt)
    heldout_arrays = documents(config, tokenizer, 'heldout', train_cfg.mask_prompt)
  else:
    train_arrays, heldout_arrays = (pipeline.encode_documents(
        tokenizer, docs[split], config.data.seq_len, train_cfg.mask_prompt)
                                    for split in ('train', 'heldout'))
  prefix = None
  if config.data.share_prefix:  # e.g. the R1-Zero preamble: computed once per batch
    prefix_len = min(pipeline.shared_prefix_len(train_arrays['tokens']),
                     pipeline.shared_prefix_len(heldout_arrays['tokens']))
    if prefix_len > 1:
      prefix, train_arrays = pipeline.split_prefix(train_arrays, prefix_len)
      heldout_arrays = pipeline.split_prefix(heldout_arrays, prefix_len)[1]
      metrics.note(f'[{stage}] Shared prefix of {prefix_len} tokens computed once per batch; '
                   f'rows of {train_arrays["tokens"].shape[1]} tokens')
  if train_cfg.length_buckets > 1:
    batches = pipeline.BucketedBatches(train_arrays, train_cfg.batch_size, config.seed,
                                       train_cfg.length_buckets, train_cfg.steps)
    metrics.note(f'[{stage}] Rows in {len(batches.widths)} length buckets of widths '
                 f'{batches.widths}')
  else:
    batches = pipeline.BatchIterator(train_arrays, train_cfg.batch_size, seed=config.seed)

  metrics.note(f'[{stage}] Creating the train state on mesh {dict(mesh.shape)}...')
  tx = make_optimizer(train_cfg)
  rng = jax.random.key(config.seed)
  ckpt = checkpoint.Checkpointer(workdir, stage, config.checkpoint.every, config.checkpoint.keep)
  params = init_params
  if params is None and config.model.hf_path and ckpt.latest_step() is None:  # SFT of an imported model
    from r1jax.models import hf  # pylint: disable=g-import-not-at-top
    params = hf.load_for_config(config, mesh, rules)
  state, shardings = create_train_state(model_cfg, tx, rng, mesh, rules, params=params)
  metrics.note(f'[{stage}] {count_params(state.params) / 1e6:.2f}M parameters')
  if ckpt.latest_step() is not None:
    state = ckpt.restore(state)
    metrics.note(f'[{stage}] Resumed from step {int(state.step)}')

  with sharding.use_mesh(mesh, rules):
    train_step, eval_step = compile_steps(model_cfg, tx, mesh, rules, shardings, prefix)
  evaluator = evaluate.Evaluator(config, tokenizer, mesh, rules)
  writer = metrics.MetricWriter(workdir, stage, train_cfg.steps, config.log.tensorboard,
                                console_keys=('loss', 'eval/loss', 'eval/accuracy'))
  row_len = train_arrays['tokens'].shape[1] - 1
  prefix_len = 0 if prefix is None else len(prefix)
  flops_per_step = 3 * flops_per_token(model_cfg, (prefix_len + row_len) // 2) * (
      train_cfg.batch_size * row_len + prefix_len)

  def evaluate_now(step):
    with sharding.use_mesh(mesh, rules):
      row = held_out_loss(eval_step, state.params, heldout_arrays, train_cfg.batch_size,
                          train_cfg.eval_batches, mesh)
      row.update(evaluator(state.params, step))
    writer.write(step, row)
    return row

  step = int(state.step)
  if step >= train_cfg.steps:
    metrics.note(f'[{stage}] Already complete at step {step}')
    return state
  last_time, last_step = time.time(), step
  with ckpt.saving_on_exit(stage, lambda: (step, state)):  # Ctrl-C, a crash: saved
    while step < train_cfg.steps:
      batch = sharding.put_batch(sharding.process_rows(batches.batch(step)), mesh)
      state, step_metrics = train_step(state, batch)
      step += 1
      if metrics.every(step, train_cfg.log_every) or step == train_cfg.steps:
        row = jax.device_get(step_metrics)  # the only host sync of the loop
        now = time.time()
        row['tokens_per_second'] = row['num_tokens'] * (step - last_step) / (now - last_time)
        row['gflops_per_second'] = flops_per_step * (step - last_step) / (now - last_time) / 1e9
        row['learning_rate'] = float(learning_rate(train_cfg, step))
        row['epoch'] = batches.epoch(step)
        row['compiles'] = metrics.compile_count()
        writer.write(step, row)
        check_finite(row, step, train_cfg.max_nonfinite_in_a_row, 'train.max_nonfinite_in_a_row')
        last_time, last_step = now, step
      if metrics.every(step, train_cfg.eval_every) and step < train_cfg.steps:
        evaluate_now(step)
        last_time = time.time()
      ckpt.end_of_step(step, state, stage)  # the periodic save; SIGTERM: saved, Preempted
  ckpt.maybe_save(step, state, force=True)
  final = evaluate_now(step)
  ckpt.close()
  writer.close()
  if config.log.plots:
    metrics.plot_metrics(workdir, stage, ['loss', 'eval/loss', 'eval/accuracy', 'eval/format'])
  evaluator.print_table(final, title=f'{stage}: held-out accuracy after step {step}')
  return state


def validate_config(config, data_parallel: int, mesh_shape) -> None:
  """config.train (the pretrain/SFT loop's section) against the data-parallel size."""
  shape = mesh_shape
  t = config.train
  positive(config, 'train.steps', 'train.batch_size', 'train.learning_rate',
           'train.grad_clip', 'data.seq_len')
  non_negative(config, 'train.log_every', 'train.eval_every', 'train.max_nonfinite_in_a_row')
  require(t.batch_size % data_parallel == 0,
          f'train.batch_size={t.batch_size} is not divisible by the data-parallel size '
          f'{data_parallel} (mesh data x fsdp = {shape[0]} x {shape[1]}); use a multiple of '
          f'{data_parallel}')
  require(t.length_buckets >= 1, f'train.length_buckets={t.length_buckets} must be >= 1 '
                                 '(1 = every row as wide as the longest)')
  require(t.warmup_steps >= 0, f'train.warmup_steps={t.warmup_steps} must be >= 0')
  require(t.sft_data in ('', 'cold_start', 'rejection_sampling'),
          f"train.sft_data={t.sft_data!r}: use '' (the corpus), 'cold_start' or "
          "'rejection_sampling'")
  require(t.epochs >= 0, f'train.epochs={t.epochs} must be >= 0 (0 = train.steps)')
  require(not t.sft_data or t.cold_start_examples > 0,
          f'train.cold_start_examples={t.cold_start_examples} must be positive')
  require(0 <= t.min_lr_ratio <= 1, f'train.min_lr_ratio={t.min_lr_ratio} must be in [0, 1]')
