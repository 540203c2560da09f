"""The stage kinds: each wraps one loop of r1jax/train/ (imported when the stage runs).

  pretrain      next-token training from random init (r1jax/train/pretrain.py)
  sft           the same loop from an earlier stage's params, usually with train.mask_prompt
  rl            GRPO family from an earlier stage's params (r1jax/train/rl.py)
  reward_model  Bradley-Terry reward model on ranked pairs (r1jax/train/reward_model.py)
"""
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
                      init_params=init_params)


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
