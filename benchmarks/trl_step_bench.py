"""The grpo_tiny GRPO step through r1jax and through TRL's `GRPOTrainer` (PyTorch eager, HF
generate), steps interleaved in one process. Prints ONE JSON line.

  pip install -e '.[test,bench]'                      # torch, transformers, trl==1.16.0
  python benchmarks/trl_step_bench.py                 # grpo_tiny: 2 warm-up + 8 timed steps
  python benchmarks/trl_step_bench.py --steps=1 --warmup=0 --completion_len=4   # smoke test

Both sides run the spec (../shared/bench/grpo_tiny.json, else benchmarks/specs/) on this CPU in
fp32: a random-init Qwen2-style model (vocab 512, d 256, 4 layers, 4 heads / 2 kv heads, d_ff
1024, q/k/v biases, untied embeddings), 8 prompts of 32 random token ids x 8 samples, 64 new
tokens each at temperature 1 (no early stop), the even-token reward (r1jax's `even_tokens` on
the host for both), a frozen reference with kl_beta 0.04, clip 0.2, one AdamW update (lr 1e-6,
betas 0.9/0.99, no weight decay, grad-norm clip 1) over all 64 completions per rollout.

A (r1jax): the wall time of `GRPOTrainer.step()` (as benchmarks/grpo_step_bench.py times it):
prompts, sampling, decode + reward, reference log-probs, the update, and the metrics' host
transfer. B (TRL): the wall time from the `on_step_begin` to the `on_step_end` callback of one
optimizer step of `trainer.train()`: generation (`model.generate`), decode + reward,
advantages, the reference forward, the policy forward + backward, grad clip, the AdamW step.
Neither side runs a separate old-policy forward (r1jax uses the sampler's log-probs; TRL skips
it when one rollout feeds one optimizer step). Outside B's window: the dataloader fetch of the
prompt strings and TRL's logging. Steps alternate A, B, A, B (A runs inside `on_step_begin`,
before B's clock starts), so both see the same machine load; the first `--warmup` steps of
each (compiles, allocator warm-up) are dropped and the medians of the next `--steps` are
compared (the *_step_s_all lists hold every step, warm-up included).

TRL needs text prompts: each prompt is its token ids written as words ('t17 t4 ...'), and a
WordLevel `PreTrainedTokenizerFast` over the 512 ids maps them back to the same ids r1jax
samples from. Its EOS (and pad) token is id 512, outside the model's vocab, so it is never
sampled: every completion runs the full length and TRL masks nothing after an EOS. Torch uses
its default thread count (torch.get_num_threads(), in the JSON line).
"""
import argparse
import contextlib
import json
import sys
import tempfile
import time

import _bench  # sys.path, platform defaults
import numpy as np

import grpo_step_bench
from configs import grpo_tiny
from r1jax.rewards import synthetic
from r1jax.rewards.base import RewardBatch


def word_tokenizer(vocab_size: int):
  """A transformers tokenizer whose word 't{i}' is token id i (i < vocab_size); its EOS and
  pad token '<eos>' is id vocab_size, which a model of `vocab_size` logits never samples."""
  import tokenizers  # pylint: disable=g-import-not-at-top
  import transformers  # pylint: disable=g-import-not-at-top
  vocab = {f't{i}': i for i in range(vocab_size)}
  vocab['<eos>'] = vocab_size
  tok = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token='<eos>'))
  tok.pre_tokenizer = tokenizers.pre_tokenizers.WhitespaceSplit()
  return transformers.PreTrainedTokenizerFast(
      tokenizer_object=tok, eos_token='<eos>', pad_token='<eos>', padding_side='left')


def prompt_texts(prompts, steps: int, count: int) -> list[str]:
  """The prompt token ids of `steps` r1jax steps (cursor 0, count, 2 count, ...) as words."""
  ids = np.concatenate([prompts.take(i * count, count).tokens for i in range(steps)])
  return [' '.join(f't{t}' for t in row) for row in ids]


class EvenTokens:
  """TRL reward function: r1jax's even-token reward on the completion ids; keeps the
  completion lengths it saw (a check that no completion stopped early)."""
  __name__ = 'even_tokens'

  def __init__(self):
    self.lengths = []

  def __call__(self, completions, completion_ids, **unused_kwargs) -> list[float]:
    n = len(completions)
    self.lengths.extend(len(ids) for ids in completion_ids)
    batch = RewardBatch(completions=list(completions), prompts=[''] * n, metadata=[{}] * n,
                        completion_ids=[list(ids) for ids in completion_ids])
    return [float(x) for x in synthetic.even_tokens(batch)]


def make_trl(spec: dict, completion_len: int, total_steps: int, workdir: str, seed: int,
             reward):
  """TRL's GRPOTrainer on the spec's workload, for `total_steps` optimizer steps."""
  import datasets  # pylint: disable=g-import-not-at-top
  import trl  # pylint: disable=g-import-not-at-top
  rollout, update = spec['rollout'], spec['update']
  # TRL builds its reference model from the policy's path, so the random policy is saved
  _bench.hf_qwen2(spec['model'], seed).save_pretrained(f'{workdir}/policy')
  rows = rollout['prompts_per_step'] * rollout['group_size']
  prompts = grpo_step_bench.RandomPrompts(spec['model']['vocab_size'], rollout['prompt_len'])
  dataset = datasets.Dataset.from_dict({'prompt': prompt_texts(
      prompts, total_steps, rollout['prompts_per_step'])})
  # transformers 5 renamed gradient_checkpointing (TRL's default: on) to activation_checkpointing
  fields = trl.GRPOConfig.__dataclass_fields__
  no_checkpointing = {('activation_checkpointing' if 'activation_checkpointing' in fields
                       else 'gradient_checkpointing'): False}
  args = trl.GRPOConfig(
      output_dir=f'{workdir}/out', use_cpu=True, bf16=False, fp16=False,
      model_init_kwargs={'dtype': 'float32'}, **no_checkpointing,
      per_device_train_batch_size=rows, gradient_accumulation_steps=1, steps_per_generation=1,
      num_generations=rollout['group_size'], num_iterations=update['updates_per_rollout'],
      max_completion_length=completion_len, temperature=rollout['temperature'],
      top_p=rollout['top_p'], top_k=0, beta=update['kl_beta'], epsilon=update['clip_epsilon'],
      learning_rate=update['learning_rate'], lr_scheduler_type='constant', warmup_steps=0,
      optim='adamw_torch', adam_beta1=0.9, adam_beta2=0.99, weight_decay=0.0, max_grad_norm=1.0,
      max_steps=total_steps, logging_steps=10 ** 6, save_strategy='no', report_to='none',
      disable_tqdm=True, seed=seed, dataloader_num_workers=0)
  return trl.GRPOTrainer(model=f'{workdir}/policy', reward_funcs=reward, args=args,
                         train_dataset=dataset,
                         processing_class=word_tokenizer(spec['model']['vocab_size']))


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--spec', default='', help='spec name or path (default grpo_tiny)')
  parser.add_argument('--steps', type=int, default=8)
  parser.add_argument('--warmup', type=int, default=2)
  parser.add_argument('--completion_len', type=int, default=0, help='override (quick checks)')
  parser.add_argument('--seed', type=int, default=0)
  args = parser.parse_args()

  import torch  # pylint: disable=g-import-not-at-top
  import transformers  # pylint: disable=g-import-not-at-top
  import trl  # pylint: disable=g-import-not-at-top

  spec, spec_path = grpo_tiny.load_spec(args.spec)
  completion_len = args.completion_len or spec['rollout']['completion_len']
  total = args.warmup + args.steps
  overrides = {'rl.max_new_tokens': str(completion_len)}
  r1jax, _, _ = grpo_step_bench.make_trainer(
      spec_path, spec, overrides, _bench.decode_tokenizer(spec['model']['vocab_size']), total)

  times = {'r1jax': [], 'trl': []}
  r1jax_lengths = []

  class Interleave(transformers.TrainerCallback):
    """Runs (and times) one r1jax step, then starts the clock of TRL's step."""

    def on_step_begin(self, args, state, control, **kwargs):
      start = time.perf_counter()
      row = r1jax.step()
      times['r1jax'].append(time.perf_counter() - start)
      r1jax_lengths.append(row['response_len'])
      self.start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
      times['trl'].append(time.perf_counter() - self.start)

  with tempfile.TemporaryDirectory() as workdir:
    reward = EvenTokens()
    trainer = make_trl(spec, completion_len, total, workdir, args.seed, reward)
    trainer.add_callback(Interleave())
    with contextlib.redirect_stdout(sys.stderr):  # TRL prints its summary: keep stdout JSON
      trainer.train()
  r1jax.pool.close()
  assert len(times['trl']) == len(times['r1jax']) == total, {k: len(v) for k, v in times.items()}

  timed = {k: v[args.warmup:] for k, v in times.items()}
  med = {k: float(np.median(v)) for k, v in timed.items()}
  result = {
      'benchmark': 'trl_step', 'spec': spec['name'], 'spec_path': spec_path,
      'steps': args.steps, 'warmup': args.warmup, 'completion_len': completion_len,
      'r1jax_step_s_median': round(med['r1jax'], 4), 'trl_step_s_median': round(med['trl'], 4),
      'trl_over_r1jax': round(med['trl'] / med['r1jax'], 3),
      'r1jax_step_s_all': [round(t, 3) for t in times['r1jax']],
      'trl_step_s_all': [round(t, 3) for t in times['trl']],
      'r1jax_mean_completion_len': float(np.mean(r1jax_lengths)),
      'trl_mean_completion_len': float(np.mean(reward.lengths)),
      'torch_threads': torch.get_num_threads(), 'torch_threads_source': 'torch default',
      'torch': torch.__version__, 'transformers': transformers.__version__,
      'trl': trl.__version__,
      'matmul_peak_gflops_fp32': round(_bench.matmul_peak_gflops(), 1)}
  result.update(_bench.machine())
  print(json.dumps(result))


if __name__ == '__main__':
  main()
