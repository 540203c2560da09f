"""Sampler throughput on the grpo_tiny workload: generated tokens per second of the rollout.

  python benchmarks/sampler_bench.py                      # spec: <repo>/../shared/bench/grpo_tiny.json
  python benchmarks/sampler_bench.py --spec=PATH --runs=10

Workload (the spec's `model` and `rollout` sections, as they are): random fp32 weights,
prompts_per_step prompts of prompt_len random tokens, group_size samples each,
completion_len new tokens, no early stop. The compiled `sampling.Sampler` runs on a mesh of
all local devices, exactly as the RL loop calls it. Prints one JSON object:
tokens_per_second is generated tokens / the median wall time of `--runs` calls after
`--warmup` calls; compile_s is the first call's time minus that median.
"""
import argparse
import json
import os
import pathlib
import platform
import time

import jax
import ml_collections
import numpy as np

from r1jax import sampling, sharding
from r1jax.models.transformer import ModelConfig, init_params

DEFAULT_SPEC = pathlib.Path(__file__).resolve().parents[1] / '..' / 'shared' / 'bench' / 'grpo_tiny.json'


def model_config(spec_model) -> ModelConfig:
  return ModelConfig(vocab_size=spec_model['vocab_size'], d_model=spec_model['d_model'],
                     n_layers=spec_model['n_layers'], n_heads=spec_model['n_heads'],
                     n_kv_heads=spec_model['n_kv_heads'], d_ff=spec_model['d_ff'],
                     rope_theta=spec_model['rope_theta'], rms_norm_eps=spec_model['rms_norm_eps'],
                     dtype=spec_model['dtype'], param_dtype=spec_model['dtype'])


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--spec', default=str(DEFAULT_SPEC.resolve()))
  parser.add_argument('--runs', type=int, default=10)
  parser.add_argument('--warmup', type=int, default=2)
  parser.add_argument('--seed', type=int, default=0)
  args = parser.parse_args()

  spec = json.loads(pathlib.Path(args.spec).read_text())
  rollout = spec['rollout']
  model_cfg = model_config(spec['model'])
  cfg = sampling.SamplingConfig(
      max_new_tokens=rollout['completion_len'], group_size=rollout['group_size'],
      temperature=rollout['temperature'], top_p=rollout['top_p'],
      stop_ids=(2,) if rollout.get('stop_on_eos', False) else ())
  batch, prompt_len = rollout['prompts_per_step'], rollout['prompt_len']

  mesh = sharding.make_mesh(ml_collections.ConfigDict({'shape': (-1, 1, 1)}))
  sampler = sampling.Sampler(model_cfg, cfg, mesh, sharding.DEFAULT_RULES)
  params = jax.device_put(init_params(model_cfg, jax.random.key(args.seed)),
                          sampler.param_shardings)
  rng = np.random.default_rng(args.seed)

  def one_call(step):
    prompts = rng.integers(0, model_cfg.vocab_size, (batch, prompt_len)).astype(np.int32)
    prompt_mask = np.ones((batch, prompt_len), bool)
    start = time.perf_counter()
    samples = sampler(params, prompts, prompt_mask, jax.random.fold_in(jax.random.key(1), step))
    jax.block_until_ready(samples)
    return time.perf_counter() - start, samples

  first_s, samples = one_call(0)
  for step in range(args.warmup):
    one_call(1 + step)
  times = [one_call(1 + args.warmup + i)[0] for i in range(args.runs)]
  median_s = float(np.median(times))
  generated = int(np.asarray(samples.lengths).sum())
  print(json.dumps({
      'benchmark': 'sampler', 'spec': spec.get('name', args.spec),
      'prompts': batch, 'group_size': cfg.group_size, 'prompt_len': prompt_len,
      'new_tokens': cfg.max_new_tokens, 'generated_tokens_per_call': generated,
      'tokens_per_second': round(generated / median_s, 1),
      'median_s': round(median_s, 4), 'best_s': round(min(times), 4),
      'compile_s': round(first_s - median_s, 3), 'num_compiles': sampler.num_compiles,
      'runs': args.runs, 'devices': jax.device_count(), 'backend': jax.default_backend(),
      'cpu_count': os.cpu_count(), 'machine': platform.machine(), 'jax': jax.__version__,
  }))


if __name__ == '__main__':
  main()
