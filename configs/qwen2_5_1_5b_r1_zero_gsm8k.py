"""R1-Zero on a real model: GRPO from Qwen2.5-1.5B (base) on GSM8K, R1-Zero template, accuracy +
format rewards. The weights, tokenizer.json and the GSM8K jsonl files are on local disk.

  # once: GSM8K's train.jsonl / test.jsonl in ~/data/gsm8k, the HF model in ~/ckpt/Qwen2.5-1.5B
  python -m r1jax.main --config=configs/qwen2_5_1_5b_r1_zero_gsm8k.py:mesh=v5e-8 --workdir=DIR --dry_run --dry_run_devices=8 --device_memory_gb=16
  python -m r1jax.main --config=configs/qwen2_5_1_5b_r1_zero_gsm8k.py:mesh=v5e-8 --workdir=DIR
  python -m r1jax.main --mode=evaluate --config=configs/qwen2_5_1_5b_r1_zero_gsm8k.py:mesh=v5e-8 --workdir=DIR

Meshes (data, fsdp, tensor), all data-parallel over prompts with weights sharded (FSDP):
  v5e-8   one TPU v5e-8 host, 8 chips x 16 GiB:  (1, 8, 1)
  v5p-8   one TPU v5p-8 host, 4 chips x 95 GiB:  (1, 4, 1)
  gpu8    one 8-GPU host (H100 80 GB):           (1, 8, 1)
The architecture fields below are Qwen2.5-1.5B's config.json (model.hf_path overrides them
from the real file), so --dry_run works without the checkpoint.
"""
from configs import common

MESHES = {'v5e-8': (1, 8, 1), 'v5p-8': (1, 4, 1), 'gpu8': (1, 8, 1), 'cpu': (-1, 1, 1)}


def get_config(arg=None):
  arg = common.get_config_arg(arg, mesh='v5e-8', hf_path='~/ckpt/Qwen2.5-1.5B',
                              gsm8k='~/data/gsm8k', tfds_dir='~/tensorflow_datasets')
  config = common.get_config()
  config.stages = ('rl',)
  config.model.update(
      vocab_size=151936, d_model=1536, n_layers=28, n_heads=12, n_kv_heads=2, d_ff=8960,
      head_dim=128, rope_theta=1000000.0, rms_norm_eps=1e-6, qkv_bias=True,
      tie_embeddings=True, hf_path=arg.hf_path,
      dtype='bfloat16', param_dtype='float32', remat='full', logits_chunk=2048)
  config.data.update(source='tfds', tfds_name='r1jax_gsm8k', tfds_dir=arg.tfds_dir,
                     manual_dir=arg.gsm8k, train_split='train', heldout_split='test',
                     template='r1_zero', num_train=7473, num_heldout=1319, share_prefix=True)
  config.mesh.shape = MESHES[arg.mesh]
  config.rl.update(
      steps=500, prompts_per_step=16, group_size=8, prompt_len=384, max_new_tokens=1024,
      temperature=1.0, learning_rate=1e-6, warmup_steps=10, b2=0.99, grad_clip=1.0,
      clip_eps_low=0.2, clip_eps_high=0.28, kl_beta=0.0, aggregation='token_mean',
      verifier_workers=8, eval_every=50, log_every=1)
  config.rl.rewards = {'accuracy': 1.0, 'format': 0.5}
  config.eval.update(num_prompts=1319, num_samples=4, temperature=0.6, top_p=0.95,
                     max_new_tokens=1024, prompt_len=384, batch_size=64)
  config.checkpoint.update(every=50, keep=3)
  return config
