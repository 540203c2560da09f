"""Sampler throughput on a GRPO workload: generated tokens per second of the rollout. Prints
ONE JSON line.

  python benchmarks/sampler_bench.py                         # grpo_tiny (../shared/bench, else benchmarks/specs)
  python benchmarks/sampler_bench.py --spec=grpo_tiny_ragged --ab=compact_levels=0
  python benchmarks/sampler_bench.py --spec=PATH --runs=10 --warmup=2

Workload (the spec's `model` and `rollout` sections, as they are): random fp32 weights,
prompts_per_step prompts of prompt_len random tokens, group_size samples each,
completion_len new tokens (early stop and forced completion lengths where the spec has them,
see benchmarks/specs/grpo_tiny_ragged.json). The compiled `sampling.Sampler` runs on a mesh of
all local devices, exactly as the RL loop calls it. tokens_per_second is generated tokens /
the median wall time of `--runs` calls after `--warmup` calls; compile_s is the first call's
time minus that median; floor_s is the calls' matmul FLOPs / the fp32 matmul peak measured in
this process. `--ab=FIELD=VALUE` (a SamplingConfig field) times a second sampler, calls
interleaved with the first. `--hf` also times Hugging Face `generate` (PyTorch eager, a
random Qwen2ForCausalLM of the same shape, the same sampling and forced lengths; needs the
`test` extra's torch and transformers), interleaved with the same calls:

  python benchmarks/sampler_bench.py --hf
  python benchmarks/sampler_bench.py --spec=grpo_tiny_ragged --hf

`--shared_prefix=N`: every prompt starts with the same N tokens (a template's preamble), which
the sampler prefills and keeps once (`prefix_len`); `--ab=share_prefix=false` times the same
prompts with every row keeping its own copy. (HF `generate` gets the same prompts.)
"""
import argparse
import dataclasses
import json
import time

import _bench
import jax
import ml_collections
import numpy as np

from configs import grpo_tiny
from r1jax import sampling, sharding
from r1jax.models.transformer import ModelConfig, flops_per_token, init_params


def model_config(spec_model) -> ModelConfig:
  return ModelConfig(vocab_size=spec_model['vocab_size'], d_model=spec_model['d_model'],
                     n_layers=spec_model['n_layers'], n_heads=spec_model['n_heads'],
                     n_kv_heads=spec_model['n_kv_heads'], d_ff=spec_model['d_ff'],
                     rope_theta=spec_model['rope_theta'], rms_norm_eps=spec_model['rms_norm_eps'],
                     dtype=spec_model['dtype'], param_dtype=spec_model['dtype'])


class HFGenerate:
  """transformers' generate on the spec's workload: a random Qwen2ForCausalLM of the same
  shape, multinomial sampling at the spec's temperature (no top-k), the spec's forced stops
  through a logits processor. Calls return (seconds, generated lengths)."""

  def __init__(self, spec: dict, seed: int):
    import torch  # pylint: disable=g-import-not-at-top
    import transformers  # pylint: disable=g-import-not-at-top
    r = spec['rollout']
    self.torch, self.spec = torch, spec
    self.model = _bench.hf_qwen2(spec['model'], seed).eval()
    self.eos = r.get('eos_id', 2) if r.get('stop_on_eos', False) else None
    self.processor_base = transformers.LogitsProcessor

  def __call__(self, prompts: np.ndarray, stop_at: np.ndarray):
    torch, r = self.torch, self.spec['rollout']
    prompt_len, eos = prompts.shape[1], self.eos
    forced = torch.as_tensor(stop_at)

    class ForceStops(self.processor_base):
      def __call__(self, input_ids, scores):
        hit = forced == input_ids.shape[1] - prompt_len + 1
        if eos is not None and bool(hit.any()):
          scores[hit] = -float('inf')
          scores[hit, eos] = 0.0
        return scores

    ids = torch.as_tensor(prompts, dtype=torch.long)
    start = time.perf_counter()
    with torch.inference_mode():
      out = self.model.generate(
          input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=True,
          temperature=r['temperature'], top_k=0, top_p=r['top_p'],
          max_new_tokens=r['completion_len'], num_return_sequences=r['group_size'],
          eos_token_id=eos, pad_token_id=0, logits_processor=[ForceStops()])
    seconds = time.perf_counter() - start
    new = out[:, prompt_len:].numpy()
    if eos is None:
      return seconds, np.full(len(new), new.shape[1])
    ended = new == eos
    lengths = np.where(ended.any(1), ended.argmax(1) + 1, new.shape[1])
    return seconds, lengths


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--spec', default='', help='spec name (grpo_tiny, grpo_tiny_ragged) or path')
  parser.add_argument('--runs', type=int, default=10)
  parser.add_argument('--warmup', type=int, default=2)
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--ab', default='', help='FIELD=VALUE: a second SamplingConfig, interleaved')
  parser.add_argument('--hf', action='store_true', help='also time HF generate, interleaved')
  parser.add_argument('--shared_prefix', type=int, default=0,
                      help='the first N prompt tokens are the same in every prompt (prefix_len)')
  args = parser.parse_args()

  spec, spec_path = grpo_tiny.load_spec(args.spec)
  rollout = spec['rollout']
  model_cfg = model_config(spec['model'])
  cfg = sampling.SamplingConfig(
      max_new_tokens=rollout['completion_len'], group_size=rollout['group_size'],
      temperature=rollout['temperature'], top_p=rollout['top_p'],
      stop_ids=(rollout.get('eos_id', 2),) if rollout.get('stop_on_eos', False) else ())
  configs = {'a': cfg}
  if args.ab:
    key, value = args.ab.split('=', 1)
    configs['b'] = dataclasses.replace(cfg, **{key: _bench.typed_like(getattr(cfg, key), value)})
  batch, prompt_len = rollout['prompts_per_step'], rollout['prompt_len']
  prefix = args.shared_prefix
  if not 0 <= prefix < prompt_len:
    raise SystemExit(f'--shared_prefix={prefix} must be in [0, prompt_len={prompt_len})')

  def prompts_for(step):
    prompts = np.random.default_rng([args.seed, step]).integers(
        0, model_cfg.vocab_size, (batch, prompt_len)).astype(np.int32)
    prompts[:, :prefix] = prompts[0, :prefix]
    return prompts

  mesh = sharding.make_mesh(ml_collections.ConfigDict({'shape': (-1, 1, 1)}))
  samplers = {k: _bench.ForcedLengths(sampling.Sampler(model_cfg, c, mesh, sharding.DEFAULT_RULES),
                                      spec) for k, c in configs.items()}
  params = jax.device_put(init_params(model_cfg, jax.random.key(args.seed)),
                          samplers['a'].param_shardings)

  def one_call(name, step):
    prompts = prompts_for(step)
    sampler = samplers[name]
    sampler.calls = step  # the same forced lengths for A and B
    start = time.perf_counter()
    samples = sampler(params, prompts, np.ones((batch, prompt_len), bool),
                      jax.random.fold_in(jax.random.key(1), step), prefix_len=prefix)
    jax.block_until_ready(samples)
    return time.perf_counter() - start, np.asarray(samples.lengths)

  hf = HFGenerate(spec, args.seed) if args.hf else None

  def hf_call(step):
    return hf(prompts_for(step), _bench.completion_lengths(spec, step, batch * cfg.group_size))

  names = list(samplers) + (['hf'] if hf else [])
  call = lambda k, step: hf_call(step) if k == 'hf' else one_call(k, step)
  first = {k: call(k, 0)[0] for k in names}
  for step in range(args.warmup):
    for k in names:
      call(k, 1 + step)
  times, generated = {k: [] for k in names}, {k: [] for k in names}
  for i in range(args.runs):
    for k in names:
      t, lengths = call(k, 1 + args.warmup + i)
      times[k].append(t)
      generated[k].append(lengths)
  peak = _bench.matmul_peak_gflops()
  result = {'benchmark': 'sampler', 'spec': spec.get('name', spec_path), 'spec_path': spec_path,
            'prompts': batch, 'group_size': cfg.group_size, 'prompt_len': prompt_len,
            'new_tokens': cfg.max_new_tokens, 'shared_prefix': prefix, 'runs': args.runs,
            'matmul_peak_gflops_fp32': round(peak, 1)}
  for k, c in configs.items():
    median_s = float(np.median(times[k]))
    tokens = float(np.mean([g.sum() for g in generated[k]]))
    shared = prefix if c.share_prefix else 0   # prefilled once, not once per prompt
    prefill = shared + batch * (prompt_len - shared)
    flops = np.mean([prefill * flops_per_token(model_cfg, prompt_len / 2) + sum(
        n * flops_per_token(model_cfg, prompt_len + n / 2) for n in g) for g in generated[k]])
    out = {'generated_tokens_per_call': tokens, 'tokens_per_second': round(tokens / median_s, 1),
           'median_s': round(median_s, 4), 'best_s': round(min(times[k]), 4),
           'compile_s': round(first[k] - median_s, 3), 'num_compiles': samplers[k].num_compiles,
           'gflop_per_call': round(flops / 1e9, 2), 'floor_s': round(flops / (peak * 1e9), 4),
           'fraction_of_floor': round(flops / (peak * 1e9) / median_s, 3),
           'compact_levels': c.compact_levels, 'share_prefix': c.share_prefix}
    if k == 'a':
      result.update(out)
    else:
      result['b'] = dict(out, override=args.ab)
      result['b_over_a_time'] = round(median_s / result['median_s'], 3)
  if hf:
    median_s = float(np.median(times['hf']))
    tokens = float(np.mean([g.sum() for g in generated['hf']]))
    import torch  # pylint: disable=g-import-not-at-top
    result['hf_generate'] = {
        'generated_tokens_per_call': tokens, 'tokens_per_second': round(tokens / median_s, 1),
        'median_s': round(median_s, 4), 'torch': torch.__version__,
        'torch_threads': torch.get_num_threads()}
    result['a_over_hf_tokens_per_second'] = round(
        result['tokens_per_second'] / result['hf_generate']['tokens_per_second'], 3)
  result.update(_bench.machine())
  print(json.dumps(result))


if __name__ == '__main__':
  main()
