"""R1-Zero from Qwen2.5-7B (base) on MATH (train 7.5k), evaluated on MATH-500; accuracy from
the last \\boxed{} / <answer>, + format. Files on local disk (see the 1.5B GSM8K config).

  python -m r1jax.main --config=configs/qwen2_5_7b_r1_zero_math.py:mesh=v5p-16 --workdir=DIR --dry_run --dry_run_devices=8 --device_memory_gb=95
  python -m r1jax.main --config=configs/qwen2_5_7b_r1_zero_math.py:mesh=v5p-16 --workdir=DIR

Meshes (data, fsdp, tensor):
  v5e-32  TPU v5e-32 slice, 32 chips x 16 GiB:   (2, 8, 2)
  v5p-16  TPU v5p-16 slice, 8 chips x 95 GiB:    (1, 8, 1)
  gpu8    one 8-GPU host (H100 80 GB):           (1, 8, 1)
MATH's train.jsonl goes in data.manual_dir (split 'train'); MATH-500's test.jsonl in the same
directory becomes the 'test' split read for evaluation.
"""
from configs import common

MESHES = {'v5e-32': (2, 8, 2), 'v5p-16': (1, 8, 1), 'gpu8': (1, 8, 1), 'cpu': (-1, 1, 1)}


def get_config(arg=None):
  arg = common.get_config_arg(arg, mesh='v5p-16', hf_path='~/ckpt/Qwen2.5-7B',
                              math='~/data/math', tfds_dir='~/tensorflow_datasets')
  config = common.get_config()
  config.stages = ('rl',)
  config.model.update(
      vocab_size=152064, d_model=3584, n_layers=28, n_heads=28, n_kv_heads=4, d_ff=18944,
      head_dim=128, rope_theta=1000000.0, rms_norm_eps=1e-6, qkv_bias=True,
      tie_embeddings=False, hf_path=arg.hf_path,
      dtype='bfloat16', param_dtype='bfloat16', remat='full', logits_chunk=2048)
  config.data.update(source='tfds', tfds_name='r1jax_math', tfds_dir=arg.tfds_dir,
                     manual_dir=arg.math, train_split='train', heldout_split='test',
                     template='r1_zero', num_train=7500, num_heldout=500, share_prefix=True)
  config.mesh.shape = MESHES[arg.mesh]
  config.rl.update(
      steps=400, prompts_per_step=16, group_size=8, prompt_len=512, max_new_tokens=1536,
      temperature=1.0, learning_rate=1e-6, warmup_steps=10, b2=0.99, grad_clip=1.0,
      clip_eps_low=0.2, clip_eps_high=0.28, kl_beta=0.0, aggregation='token_mean',
      verifier_workers=16, eval_every=50, log_every=1)
  config.rl.rewards = {'accuracy': 1.0, 'format': 0.5}
  config.eval.update(num_prompts=500, num_samples=4, temperature=0.6, top_p=0.95,
                     max_new_tokens=2048, prompt_len=512, batch_size=32)
  config.checkpoint.update(every=50, keep=3)
  return config
