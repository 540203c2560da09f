"""The Kimi k1.5 stage kinds (arXiv 2501.12599; configs/k15.py lists them in order).

  curate_prompts  the RL prompt set: pass rate of curate.num_samples samples per prompt,
                  easy-to-hack prompts dropped, balanced; a TFDS dataset with `pass_rate`
                  (r1jax/data/curate.py) that rl.prompt_set / rl.sampling='curriculum' read

A data-making stage hands on the params it started from: it saves them as its one checkpoint
(step 1), so the next stage starts from them as from any other stage, and a finished data
stage is skipped on resume like a finished training stage.
"""
import os

from r1jax.stages.registry import Kind, register


def _one_step(config):
  del config
  return 1


def _require_start(name: str, init_params):
  if init_params is None:
    raise ValueError(f'stage {name!r} needs a model to sample from: put it after a training '
                     'stage (or set config.stage_from)')


def _pass_on(ctx, name: str, params):
  """Saves `params` as stage `name`'s final checkpoint (step 1) and returns them."""
  from r1jax import checkpoint  # pylint: disable=g-import-not-at-top
  ckpt = checkpoint.Checkpointer(ctx.workdir, name, every=0, keep=1)
  ckpt.maybe_save(1, {'params': params}, force=True)
  ckpt.close()
  return params


def data_dir(ctx) -> str:
  return os.path.join(ctx.workdir, 'datasets')


def _curate_prompts(ctx, config, name, init_params):
  from r1jax.data import curate  # pylint: disable=g-import-not-at-top
  _require_start(name, init_params)
  curate.curate_prompts(config, ctx.tokenizer, ctx.mesh, ctx.rules, init_params, data_dir(ctx),
                        name)
  return _pass_on(ctx, name, init_params)


register(Kind('curate_prompts', _curate_prompts, _one_step, ('params',),
              'k1.5 RL prompt set: pass rates, easy-to-hack prompts dropped, balanced'))
