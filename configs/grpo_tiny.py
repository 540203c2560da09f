"""The GRPO step benchmark's workloads, built from their JSON specs as they are:
`grpo_tiny` from ../shared/bench/grpo_tiny.json (a verbatim copy in benchmarks/specs/ is used
where ../shared is absent) and `grpo_tiny_ragged` from benchmarks/specs/.

  python benchmarks/grpo_step_bench.py                              # grpo_tiny
  python benchmarks/grpo_step_bench.py --spec=grpo_tiny_ragged
  python -m r1jax.main --config=configs/grpo_tiny.py --workdir=/tmp/grpo_tiny   # on tasks

grpo_tiny: one GRPO step on a tiny Qwen2-style decoder, fp32: 8 prompts x group 8, 32 prompt
tokens, 64 new tokens without early stop, one AdamW update per rollout, a frozen reference with
kl_beta 0.04, clip 0.2, the even-token reward. The `r1jax.main` command runs that step on the
synthetic arithmetic tasks from a random-weight model (no base model: the stage starts from
random weights when rl.init_from is 'random'), with the chat template, whose prompts fit the
spec's 32 tokens.
"""
import json
import pathlib

from configs import common

ROOT = pathlib.Path(__file__).resolve().parents[1]
SPEC_DIRS = (ROOT.parent / 'shared' / 'bench', ROOT / 'benchmarks' / 'specs')


def load_spec(path: str = '') -> tuple[dict, str]:
  """The spec dict and the path it came from. `path` is a file, or a spec name looked up in
  ../shared/bench/ then benchmarks/specs/ ('' = grpo_tiny)."""
  if path and (path.endswith('.json') or '/' in path):
    candidates = [pathlib.Path(path)]
  else:
    candidates = [d / f'{path or "grpo_tiny"}.json' for d in SPEC_DIRS]
  for candidate in candidates:
    if candidate.exists():
      return json.loads(candidate.read_text()), str(candidate)
  raise FileNotFoundError(f'no spec at {[str(p) for p in candidates]}; pass spec=PATH')


def get_config(arg=None):
  arg = common.get_config_arg(arg, spec='')
  spec, _ = load_spec(arg.spec)
  model, rollout, update = spec['model'], spec['rollout'], spec['update']
  config = common.get_config()
  config.stages = ('rl',)
  config.model.update(
      vocab_size=model['vocab_size'], d_model=model['d_model'], n_layers=model['n_layers'],
      n_heads=model['n_heads'], n_kv_heads=model['n_kv_heads'], d_ff=model['d_ff'],
      rope_theta=model['rope_theta'], rms_norm_eps=model['rms_norm_eps'], qkv_bias=True,
      dtype=model['dtype'], param_dtype=model['dtype'])
  assert update['optimizer'] == 'adamw'
  config.rl.update(
      init_from='random',
      prompts_per_step=rollout['prompts_per_step'], group_size=rollout['group_size'],
      prompt_len=rollout['prompt_len'], max_new_tokens=rollout['completion_len'],
      temperature=rollout['temperature'], top_p=rollout['top_p'], top_k=0,
      stop_on_eos=rollout['stop_on_eos'], learning_rate=update['learning_rate'],
      warmup_steps=0, min_lr_ratio=1.0, kl_beta=update['kl_beta'], kl_estimator='k3',
      clip_eps_low=update['clip_epsilon'], clip_eps_high=update['clip_epsilon'],
      num_iterations=update['updates_per_rollout'], steps=20, eval_every=10)
  config.rl.rewards = {'even_tokens': 1.0}  # assigned, not updated: replaces the defaults
  # r1jax.main on tasks: the short chat template fits the 32-token prompts
  config.data.update(template='chat', tasks=('arithmetic',), difficulties=(1,),
                     number_pieces=100, share_prefix=False)
  config.eval.update(prompt_len=rollout['prompt_len'], max_new_tokens=rollout['completion_len'],
                     num_prompts=16, num_samples=2, batch_size=16)
  return config
