"""The stage kinds: each wraps one loop of r1jax/train/ (imported when the stage runs).

  pretrain      next-token training from random init (r1jax/train/pretrain.py)
  sft           the same loop from an earlier stage's params, usually with train.mask_prompt
  rl            GRPO family from an earlier stage's params (r1jax/train/rl.py)
  reward_model  Bradley-Terry reward model on ranked pairs (r1jax/train/reward_model.py)
"""
import os

from r1jax.stages.registry import Kind, register


def _train_steps(config):
  return config.train.steps


def _pretrain(ctx, config, name, init_params):
  del init_params  # pretraining starts from random weights
  from r1jax.train import pretrain  # pylint: disable=g-import-not-at-top
  return pretrain.run(config, ctx.workdir, ctx.tokenizer, ctx.mesh, ctx.rules, name)


def _sft(ctx, config, name, init_params):
  from r1jax import checkpoint  # pylint: disable=g-import-not-at-top
  from r1jax.models import ModelConfig  # pylint: disable=g-import-not-at-top
  from r1jax.train import pretrain, rl  # pylint: disable=g-import-not-at-top
  ckpt = checkpoint.Checkpointer(ctx.workdir, name, every=0, keep=1)
  resuming = ckpt.latest_step() is not None
  ckpt.close()
  if init_params is None and not resuming:  # the first stage: the base model
    init_params = rl.load_base_params(config, ctx.workdir, ModelConfig.from_config(config.model),
                                      ctx.mesh, ctx.rules)
  return pretrain.run(config, ctx.workdir, ctx.tokenizer, ctx.mesh, ctx.rules, name,
                      init_params=init_params, docs=sft_documents(ctx, config, name))


def sft_documents(ctx, config, name):
  """The SFT set train.sft_data names: None (the pretraining corpus, as data.* says) or
  {'train', 'heldout'} (prompt, completion) lists."""
  if not config.train.sft_data:
    return None
  from r1jax import metrics  # pylint: disable=g-import-not-at-top
  from r1jax.data import cold_start  # pylint: disable=g-import-not-at-top
  if config.train.sft_data != 'cold_start':
    raise ValueError(f"train.sft_data={config.train.sft_data!r}: use '' or 'cold_start'")
  data_dir = os.path.join(ctx.workdir, 'datasets')
  dataset, counts = cold_start.build_cold_start(data_dir, config, ctx.tokenizer)
  metrics.note(f'[{name}] Cold-start set {dataset} in {data_dir}: ' +
               ', '.join(f'{k} {v}' for k, v in counts.items()))
  heldout = cold_start.make_traces(config, ctx.tokenizer, 'heldout')[0]
  return {'train': [(r['prompt'], r['completion'])
                    for r in cold_start.read_records(data_dir, dataset)],
          'heldout': [(r['prompt'], r['completion']) for r in heldout]}


def _rl(ctx, config, name, init_params):
  from r1jax.train import rl  # pylint: disable=g-import-not-at-top
  return rl.run(config, ctx.workdir, ctx.tokenizer, ctx.mesh, ctx.rules,
                init_params=init_params, stage=name)


def _reward_model(ctx, config, name, init_params):
  from r1jax.train import reward_model  # pylint: disable=g-import-not-at-top
  return reward_model.run(config, ctx.workdir, ctx.tokenizer, ctx.mesh, ctx.rules,
                          init_params=init_params, stage=name)


register(Kind('pretrain', _pretrain, _train_steps, ('params',),
              'next-token training of the base model from random init', from_earlier=False))
register(Kind('sft', _sft, _train_steps, ('params',),
              'supervised fine-tuning from an earlier stage (train.mask_prompt: completions only)'))
register(Kind('rl', _rl, lambda c: c.rl.steps, ('train', 'params'),
              'GRPO family RL with rule rewards'))
register(Kind('reward_model', _reward_model, lambda c: c.reward_model.steps,
              ('params', 'decoder'), 'Bradley-Terry reward model on ranked response pairs'))
