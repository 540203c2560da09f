"""The stage kinds: each wraps one loop of r1jax/train/ (imported when the stage runs).

  pretrain      next-token training from random init (r1jax/train/pretrain.py)
  sft           the same loop from an earlier stage's params, usually with train.mask_prompt
  rl            GRPO family from an earlier stage's params (r1jax/train/rl.py); with
                rl.reward_model_stage, RL for all scenarios (r1jax/train/rl_all.py)
  reward_model  Bradley-Terry reward model on ranked pairs (r1jax/train/reward_model.py)
  rejection_sampling  N samples per training prompt, verified and filtered, plus general
                data, written as a TFDS dataset (r1jax/data/rejection.py); no checkpoint
"""
import math
import os

from r1jax.stages.registry import Kind, data_stage, register


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
  {'train', 'heldout'} (prompt, completion) lists. The held-out documents are cold-start
  traces of held-out problems (a loss on readable worked answers) for either set."""
  if not config.train.sft_data:
    return None
  from r1jax.data import cold_start  # pylint: disable=g-import-not-at-top
  train = sft_records(ctx, config, name)
  heldout = cold_start.make_traces(config, ctx.tokenizer, 'heldout')[0]
  return {'train': [(r['prompt'], r['completion']) for r in train],
          'heldout': [(r['prompt'], r['completion']) for r in heldout]}


def sft_records(ctx, config, name) -> list[dict]:
  """The records of the set train.sft_data names ('cold_start' is built here once;
  'rejection_sampling' is the set of the latest earlier rejection_sampling stage)."""
  from r1jax import metrics  # pylint: disable=g-import-not-at-top
  from r1jax.data import cold_start  # pylint: disable=g-import-not-at-top
  data_dir = os.path.join(ctx.workdir, 'datasets')
  if config.train.sft_data == 'cold_start':
    dataset, counts = cold_start.build_cold_start(data_dir, config, ctx.tokenizer)
  elif config.train.sft_data == 'rejection_sampling':
    from r1jax.data import rejection  # pylint: disable=g-import-not-at-top
    stage = data_stage(config, name, 'rejection_sampling')
    report = stage and rejection.read_report(ctx.workdir, stage)
    if not report:
      raise ValueError(f"stage {name}: train.sft_data='rejection_sampling' but stage {stage!r} "
                       f'has no report in {ctx.workdir}/reports; run it first')
    dataset, counts = report['dataset'], report['counts']
  else:
    raise ValueError(f"train.sft_data={config.train.sft_data!r}: use '', 'cold_start' or "
                     "'rejection_sampling'")
  metrics.note(f'[{name}] SFT set {dataset} in {data_dir}: ' +
               ', '.join(f'{k} {v}' for k, v in counts.items()))
  return cold_start.read_records(data_dir, dataset)


def _sft_prepare(ctx, config, name):
  """train.epochs > 0: train.steps = ceil(epochs x set size / batch size)."""
  t = config.train
  if not t.epochs or not t.sft_data:
    return config
  size = len(sft_records(ctx, config, name))
  t.steps = max(1, math.ceil(t.epochs * size / t.batch_size))
  from r1jax import metrics  # pylint: disable=g-import-not-at-top
  metrics.note(f'[{name}] {t.epochs:g} epochs of {size} records at batch {t.batch_size}: '
               f'{t.steps} steps')
  return config


def _rejection_sampling(ctx, config, name, init_params):
  from r1jax.data import rejection  # pylint: disable=g-import-not-at-top
  from r1jax.stages.registry import source_stage  # pylint: disable=g-import-not-at-top
  source = source_stage(config, name)
  if init_params is None:
    raise ValueError(f'stage {name} samples from an earlier stage\'s params; put a trained '
                     'stage before it (or name one in stage_from)')
  return rejection.run(config, ctx.workdir, ctx.tokenizer, ctx.mesh, ctx.rules, init_params,
                       name, source or '')


def _report_progress(workdir, name):
  from r1jax.data import rejection  # pylint: disable=g-import-not-at-top
  return 1 if rejection.read_report(workdir, name) is not None else None


def _rl(ctx, config, name, init_params):
  from r1jax.train import rl  # pylint: disable=g-import-not-at-top
  if config.rl.reward_model_stage:  # RL for all scenarios: rule rewards + the reward model
    from r1jax.train import rl_all  # pylint: disable=g-import-not-at-top
    return rl_all.run(config, ctx.workdir, ctx.tokenizer, ctx.mesh, ctx.rules,
                      init_params=init_params, stage=name)
  return rl.run(config, ctx.workdir, ctx.tokenizer, ctx.mesh, ctx.rules,
                init_params=init_params, stage=name)


def sft_flops(config) -> float:
  """Training FLOPs of an SFT/pretrain stage: 3 x forward FLOPs of its train.steps batches."""
  from r1jax.models import ModelConfig, flops_per_token  # pylint: disable=g-import-not-at-top
  t, length = config.train, config.data.seq_len
  return 3 * flops_per_token(ModelConfig.from_config(config.model), length // 2) * (
      t.steps * t.batch_size * length)


def rl_step_flops(config) -> float:
  """FLOPs of one RL step: prefill + decode of the rollout, 3 x forward per update (mu)."""
  from r1jax.models import ModelConfig, flops_per_token  # pylint: disable=g-import-not-at-top
  r = config.rl
  rows, length = r.prompts_per_step * r.group_size, r.prompt_len + r.max_new_tokens
  per_token = flops_per_token(ModelConfig.from_config(config.model), length // 2)
  return per_token * (r.prompts_per_step * r.prompt_len + rows * r.max_new_tokens
                      + 3 * r.num_iterations * rows * length)


def _rl_prepare(ctx, config, name):
  """rl.match_compute_of names an SFT stage: rl.steps = its FLOPs / the FLOPs of an RL step."""
  other = config.rl.match_compute_of
  if not other:
    return config
  from r1jax import metrics  # pylint: disable=g-import-not-at-top
  from r1jax.stages.registry import stage_config  # pylint: disable=g-import-not-at-top
  target = _sft_prepare(ctx, stage_config(config, other), other)
  config.rl.steps = max(1, round(sft_flops(target) / rl_step_flops(config)))
  metrics.note(f'[{name}] {config.rl.steps} RL steps match the {sft_flops(target):.3g} '
               f'training FLOPs of stage {other!r}')
  return config


def _reward_model(ctx, config, name, init_params):
  from r1jax.train import reward_model  # pylint: disable=g-import-not-at-top
  return reward_model.run(config, ctx.workdir, ctx.tokenizer, ctx.mesh, ctx.rules,
                          init_params=init_params, stage=name)


register(Kind('pretrain', _pretrain, _train_steps, ('params',),
              'next-token training of the base model from random init', from_earlier=False))
register(Kind('sft', _sft, _train_steps, ('params',),
              'supervised fine-tuning from an earlier stage (train.mask_prompt: completions only)',
              prepare=_sft_prepare))
register(Kind('rl', _rl, lambda c: c.rl.steps, ('train', 'params'),
              'GRPO family RL with rule rewards (and a reward model: rl.reward_model_stage)',
              prepare=_rl_prepare))
register(Kind('reward_model', _reward_model, lambda c: c.reward_model.steps,
              ('params', 'decoder'), 'Bradley-Terry reward model on ranked response pairs'))
register(Kind('rejection_sampling', _rejection_sampling, lambda c: 1, (),
              'N verified samples per training prompt, filtered, plus general data: a TFDS set',
              makes_params=False, progress=_report_progress))
