"""The stage kinds: each wraps one loop of r1jax/train/ (imported when the stage runs).

  pretrain      next-token training from random init (r1jax/train/pretrain.py)
  sft           the same loop from an earlier stage's params, usually with train.mask_prompt
  rl            GRPO family from an earlier stage's params (r1jax/train/rl.py); with
                rl.reward_model_stage, RL for all scenarios (r1jax/train/rl_all.py)
  reward_model  Bradley-Terry reward model on ranked pairs (r1jax/train/reward_model.py)
  rejection_sampling  N samples per training prompt, verified and filtered, plus general
                data, written as a TFDS dataset (r1jax/stages/rejection.py); no checkpoint
"""
import math
import os

from r1jax.config import require
from r1jax.stages.registry import (Kind, data_stage, kind_name, load_stage_params, read_report,
                                   register, source_stage, stage_config)


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
  from r1jax.stages import cold_start  # pylint: disable=g-import-not-at-top
  train = sft_records(ctx, config, name)
  heldout = cold_start.make_traces(config, ctx.tokenizer, 'heldout')[0]
  return {'train': [(r['prompt'], r['completion']) for r in train],
          'heldout': [(r['prompt'], r['completion']) for r in heldout]}


def sft_records(ctx, config, name) -> list[dict]:
  """The records of the set train.sft_data names ('cold_start' is built here once;
  'rejection_sampling' is the set of the latest earlier rejection_sampling stage)."""
  from r1jax import metrics  # pylint: disable=g-import-not-at-top
  from r1jax.data import cold_start  # pylint: disable=g-import-not-at-top
  dataset, counts = sft_dataset(ctx, config, name)
  metrics.note(f'[{name}] SFT set {dataset}: ' + ', '.join(f'{k} {v}' for k, v in counts.items()))
  return cold_start.read_records(os.path.join(ctx.workdir, 'datasets'), dataset)


def sft_dataset(ctx, config, name) -> tuple[str, dict]:
  """(TFDS name, counts) of the set train.sft_data names; counts['kept'] is its size."""
  from r1jax.stages import cold_start  # pylint: disable=g-import-not-at-top
  if config.train.sft_data == 'cold_start':
    return cold_start.build_cold_start(os.path.join(ctx.workdir, 'datasets'), config,
                                       ctx.tokenizer, zero_source(ctx, config))
  if config.train.sft_data == 'rejection_sampling':
    stage = data_stage(config, name, 'rejection_sampling')
    report = stage and read_report(ctx.workdir, stage)
    if not report:
      raise ValueError(f"stage {name}: train.sft_data='rejection_sampling' but stage {stage!r} "
                       f'has no report in {ctx.workdir}/reports; run it first')
    return report['dataset'], report['counts']
  raise ValueError(f"train.sft_data={config.train.sft_data!r}: use '', 'cold_start' or "
                   "'rejection_sampling'")


def zero_source(ctx, config):
  """Cold-start source (a) when train.cold_start_zero_stage names an R1-Zero stage:
  (its name and final step, a function sampling rejection_sampling.num_samples answers to
  each of the first rejection_sampling.num_prompts training prompts from its params)."""
  stage = config.train.cold_start_zero_stage
  if not stage:
    return None
  from r1jax.data import source  # pylint: disable=g-import-not-at-top
  from r1jax.stages import rejection  # pylint: disable=g-import-not-at-top
  from r1jax.checkpoint import latest_step  # pylint: disable=g-import-not-at-top
  rs = config.rejection_sampling

  def make_groups():
    params = load_stage_params(config, ctx.workdir, stage, ctx.mesh, ctx.rules)
    records = source.load_records(config.data, 'train')[:rs.num_prompts]
    return rejection.sample_and_verify(
        config, ctx.tokenizer, ctx.mesh, ctx.rules, params, records,
        num_samples=rs.num_samples, temperature=rs.temperature,
        max_new_tokens=rs.max_new_tokens, prompt_len=rs.prompt_len,
        batch_size=rs.batch_size)[0]
  return f'{stage}@{latest_step(ctx.workdir, stage)}', make_groups


def _sft_prepare(ctx, config, name):
  """train.epochs > 0: train.steps = ceil(epochs x set size / batch size)."""
  t = config.train
  if not t.epochs or not t.sft_data:
    return config
  size = sft_dataset(ctx, config, name)[1]['kept']
  t.steps = max(1, math.ceil(t.epochs * size / t.batch_size))
  from r1jax import metrics  # pylint: disable=g-import-not-at-top
  metrics.note(f'[{name}] {t.epochs:g} epochs of {size} records at batch {t.batch_size}: '
               f'{t.steps} steps')
  return config


def _rejection_sampling(ctx, config, name, init_params):
  from r1jax.stages import rejection  # pylint: disable=g-import-not-at-top
  source = source_stage(config, name)
  if init_params is None:
    raise ValueError(f'stage {name} samples from an earlier stage\'s params; put a trained '
                     'stage before it (or name one in stage_from)')
  return rejection.run(config, ctx.workdir, ctx.tokenizer, ctx.mesh, ctx.rules, init_params,
                       name, source or '')


def _report_progress(workdir, name):
  return 1 if read_report(workdir, name) is not None else None


def _rl(ctx, config, name, init_params):
  from r1jax.train import rl  # pylint: disable=g-import-not-at-top
  if config.rl.reward_model_stage:  # RL for all scenarios: rule rewards + the reward model
    from r1jax.train import rl_all  # pylint: disable=g-import-not-at-top
    return rl_all.run(config, ctx.workdir, ctx.tokenizer, ctx.mesh, ctx.rules,
                      stage_config(config, config.rl.reward_model_stage),
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
  target = _sft_prepare(ctx, stage_config(config, other), other)
  config.rl.steps = max(1, round(sft_flops(target) / rl_step_flops(config)))
  metrics.note(f'[{name}] {config.rl.steps} RL steps match the {sft_flops(target):.3g} '
               f'training FLOPs of stage {other!r}')
  return config


def _rl_validate(config, data_parallel):
  """The RL loop's section, then the stages it names (checked here, where the kinds are)."""
  from r1jax.train import rl  # pylint: disable=g-import-not-at-top
  rl.validate_config(config, data_parallel)
  r = config.rl
  if r.reward_model_stage:
    require(r.reward_model_stage in config.stages and kind_name(
        config, r.reward_model_stage) == 'reward_model',
            f'rl.reward_model_stage={r.reward_model_stage!r} is not a reward_model stage of '
            f'stages={tuple(config.stages)}; name one that runs before this stage')
    require(0 <= r.general_fraction <= 1,
            f'rl.general_fraction={r.general_fraction} must be in [0, 1]')
  if r.match_compute_of:
    require(r.match_compute_of in config.stages and kind_name(
        config, r.match_compute_of) in ('sft', 'pretrain'),
            f'rl.match_compute_of={r.match_compute_of!r} is not an sft or pretrain stage of '
            f'stages={tuple(config.stages)}')
  if r.prompt_set:   # a curated set is read at run time: a wrong name must not wait till then
    require(r.prompt_set in config.stages and kind_name(
        config, r.prompt_set) == 'curate_prompts',
            f'rl.prompt_set={r.prompt_set!r} is not a curate_prompts stage of '
            f"stages={tuple(config.stages)}; name the curation stage that runs before this "
            "one, or set rl.prompt_set='' to train on config.data's train split")


def _reward_model_validate(config, data_parallel):
  from r1jax.train import reward_model  # pylint: disable=g-import-not-at-top
  reward_model.validate_config(config, data_parallel)


def _rejection_sampling_validate(config, data_parallel):
  from r1jax.stages import rejection  # pylint: disable=g-import-not-at-top
  rejection.validate_config(config, data_parallel)


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
              prepare=_rl_prepare, validate=_rl_validate))
register(Kind('reward_model', _reward_model, lambda c: c.reward_model.steps,
              ('params', 'decoder'), 'Bradley-Terry reward model on ranked response pairs',
              validate=_reward_model_validate))
register(Kind('rejection_sampling', _rejection_sampling, lambda c: 1, (),
              'N verified samples per training prompt, filtered, plus general data: a TFDS set',
              makes_params=False, progress=_report_progress,
              validate=_rejection_sampling_validate))
