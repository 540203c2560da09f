"""The Kimi k1.5 stage kinds (arXiv 2501.12599; configs/k15.py lists them in order).

  curate_prompts  the RL prompt set: pass rate of curate.num_samples samples per prompt,
                  easy-to-hack prompts dropped, balanced; a TFDS dataset with `pass_rate`
                  (r1jax/data/curate.py) that rl.prompt_set / rl.sampling='curriculum' read
  long_cot_sft    light SFT on verified templated long-CoT traces (plan, evaluated steps,
                  "wait — check", another way; cold_start.long_cot_trace), train.cold_start_examples
                  problems, written as the TFDS dataset r1jax_long_cot/<stage>

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


def sft_on_dataset(ctx, config, name, init_params, dataset: str, make_records, heldout=None):
  """SFT of stage `name` on dataset `dataset`/<name>, made once by `make_records()` ->
  (records with 'prompt' and 'completion', report) and read back on every run (a resumed
  stage trains on exactly the saved set). `heldout` pairs give the eval loss (default: the
  last 16 training pairs)."""
  from r1jax import metrics  # pylint: disable=g-import-not-at-top
  from r1jax.data import stage_data  # pylint: disable=g-import-not-at-top
  from r1jax.train import pretrain  # pylint: disable=g-import-not-at-top
  report = stage_data.read_report(data_dir(ctx), dataset, name)
  if report is None:
    if init_params is None:
      raise ValueError(f'stage {name!r} has a checkpoint but no {dataset} dataset in '
                       f'{data_dir(ctx)}; delete checkpoints/{name} to rebuild it')
    records, report = make_records()
    features = {k: 'text' for k in records[0]} if records else {'prompt': 'text'}
    stage_data.write_dataset(data_dir(ctx), dataset, name, records, features, report)
    metrics.note(f'[{name}] {dataset}/{name}: ' + ', '.join(f'{k} {v}' for k, v in
                                                            report.items()))
  records = stage_data.read_dataset(data_dir(ctx), f'{dataset}/{name}')
  pairs = [(r['prompt'], r['completion']) for r in records]
  docs = {'train': pairs, 'heldout': heldout or pairs[-16:]}
  return pretrain.run(config, ctx.workdir, ctx.tokenizer, ctx.mesh, ctx.rules, name,
                      init_params=init_params, docs=docs)


def _long_cot_sft(ctx, config, name, init_params):
  from r1jax.data import cold_start  # pylint: disable=g-import-not-at-top
  heldout = cold_start.make_traces(config, ctx.tokenizer, 'heldout', cold_start.long_cot_trace)
  return sft_on_dataset(
      ctx, config, name, init_params, 'r1jax_long_cot',
      lambda: cold_start.make_traces(config, ctx.tokenizer, 'train', cold_start.long_cot_trace),
      heldout=[(r['prompt'], r['completion']) for r in heldout[0]])


register(Kind('curate_prompts', _curate_prompts, _one_step, ('params',),
              'k1.5 RL prompt set: pass rates, easy-to-hack prompts dropped, balanced'))
register(Kind('long_cot_sft', _long_cot_sft, lambda c: c.train.steps, ('params',),
              'k1.5 long-CoT warm-up: SFT on verified planning/reflection traces'))
