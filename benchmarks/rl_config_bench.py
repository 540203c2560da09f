"""The RL step of a real experiment config (real prompts, rewards and base model), A/B in one
process: two trainers from the same base, steps interleaved; plus the held-out evaluation's
cost. Prints ONE JSON line.

  python benchmarks/rl_config_bench.py --config=configs/quickstart.py \
      --init_from=/tmp/r1jax_quickstart --ab=rl.update_chunks=1 --steps=6

--init_from is a workdir whose pretrain stage is done (e.g. the quickstart's); it is only read.
Each trainer's steps run on the same prompts and the same randomness (the same seed), so A and
B sample the same rollouts at step 0 and diverge only as their updates differ in float noise.
The held-out evaluation is timed `--eval_runs` times with each config's Evaluator (A's
parameters), interleaved: `--ab=data.share_prefix=false` times the sampler without the shared
prompt prefix in both the rollout and the evaluation (the update's prefix comes from the shared
prompt set either way).
"""
import argparse
import importlib.util
import json
import tempfile
import time

import _bench
import numpy as np

from r1jax import evaluate, main as r1main, sharding
from r1jax.data import source, templates
from r1jax.models import ModelConfig
from r1jax.train import rl


def load_config(path: str):
  spec = importlib.util.spec_from_file_location('experiment_config', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def override(config, items: str):
  for item in filter(None, items.split(',')):
    key, value = item.split('=', 1)
    section, field = key.split('.')
    config[section][field] = _bench.typed_like(config[section][field], value)
  return config


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--config', default='configs/quickstart.py')
  parser.add_argument('--init_from', required=True, help='workdir with a finished pretrain')
  parser.add_argument('--steps', type=int, default=6)
  parser.add_argument('--warmup', type=int, default=2)
  parser.add_argument('--ab', default='', help='FIELD=VALUE[,...]: the B trainer, interleaved')
  parser.add_argument('--eval_runs', type=int, default=2, help='held-out evaluations timed')
  args = parser.parse_args()

  variants = {'a': '', **({'b': args.ab} if args.ab else {})}
  configs = {k: override(load_config(args.config), v) for k, v in variants.items()}
  base = configs['a']
  base.rl.init_from = args.init_from
  base.stages = ('rl',)
  mesh = sharding.make_mesh(base.mesh)
  rules = sharding.rules_from_config(base)
  with tempfile.TemporaryDirectory() as workdir:
    tok = r1main.load_or_train_tokenizer(base, workdir)
    params = rl.load_base_params(base, workdir, ModelConfig.from_config(base.model), mesh, rules)
  prompts = rl.TaskPrompts(source.load_records(base.data, 'train'), tok,
                           templates.get_template(base.data.template), base.rl.prompt_len,
                           seed=base.seed + 1, share_prefix=base.data.share_prefix)
  trainers = {k: rl.GRPOTrainer(c, tok, mesh, rules, params, prompts)
              for k, c in configs.items()}
  rows = _bench.interleaved_steps(trainers, args.steps)
  evaluators = {k: evaluate.Evaluator(c, tok, mesh, rules, pool=trainers['a'].pool)
                for k, c in configs.items()}
  eval_s = {k: [] for k in evaluators}
  for _ in range(args.eval_runs):   # A's parameters for both, interleaved
    for k, evaluator in evaluators.items():
      start = time.perf_counter()
      evaluator(trainers['a'].params)
      eval_s[k].append(time.perf_counter() - start)

  result = {'benchmark': 'rl_config', 'config': args.config, 'steps': args.steps,
            'eval_s': [round(t, 2) for t in eval_s['a']]}
  if 'b' in eval_s:
    result['b_eval_s'] = [round(t, 2) for t in eval_s['b']]
  for name, trainer in trainers.items():
    timed = rows[name][args.warmup:]
    med = lambda key, timed=timed: round(float(np.median([r[key] for r in timed])), 4)
    out = {'step_s_median': med('wall_s'), 'rollout_s': med('rollout_s'),
           'reference_s': med('reference_s'), 'update_s': med('update_s'),
           'response_len': med('response_len'), 'update_tokens': med('update_tokens'),
           'first_step_s': round(rows[name][0]['wall_s'], 2),
           'compiles_after_warmup': rows[name][-1]['compiles'] - rows[name][args.warmup - 1][
               'compiles'],
           'update_chunks': trainer.chunks, 'length_buckets': list(trainer.buckets)}
    trainer.pool.close()
    if name == 'a':
      result.update(out)
    else:
      result['b'] = dict(out, overrides=args.ab)
      result['b_over_a_step_time'] = round(out['step_s_median'] / result['step_s_median'], 3)
      result['b_over_a_update_time'] = round(out['update_s'] / result['update_s'], 3)
  result.update(_bench.machine())
  print(json.dumps(result))


if __name__ == '__main__':
  main()
