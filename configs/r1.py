"""The DeepSeek-R1 pipeline (arXiv 2501.12948 sec. 2.3), in progress: the stages that exist so far.

  python -m r1jax.main --config=configs/r1.py --workdir=/tmp/r1jax_r1
  python -m r1jax.main --config=configs/r1.py:quick --workdir=/tmp/r1jax_r1_quick
  python -m r1jax.main --config=configs/r1.py --config.stage_overrides.cold_start.train.steps=500 --workdir=DIR

  pretrain      the tiny base model on the bilingual synthetic corpus, whose worked answers
                switch language part-way 30% of the time (the mixing R1-Zero shows)
  cold_start    SFT of the base model on templated worked traces with a "check:" reflection,
                one language per trace, written as a TFDS dataset in WORKDIR/datasets
  reasoning_rl  GRPO from cold_start with accuracy + format + language consistency (summed,
                as in the paper)
  reward_model  Bradley-Terry reward model from the cold-start (SFT) model on oracle-ranked
                pairs of the general tasks

Still to come (issue 9): rejection sampling, the second SFT from the base model, RL for all
scenarios with the reward model, distillation, and the report table. quick=True is a small,
fast variant of every stage for CI.
"""
from configs import common, quickstart


def get_config(arg=None):
  arg = common.get_config_arg(arg, quick=False)
  config = quickstart.get_config('stages=pretrain')
  config.stages = ('pretrain', 'cold_start', 'reasoning_rl', 'reward_model')
  config.stage_from = {'reward_model': 'cold_start'}

  config.data.update(languages={'en': 0.5, 'zh': 0.5}, language_switch_prob=0.3,
                     general_tasks=True, seq_len=192)
  config.eval.update(max_new_tokens=80, prompt_len=112)
  config.rl.update(prompt_len=112, max_new_tokens=80)
  config.stage_overrides = {
      'cold_start': {'train': {'steps': 300, 'mask_prompt': True, 'sft_data': 'cold_start',
                               'cold_start_examples': 2000, 'learning_rate': 1e-3,
                               'warmup_steps': 20, 'eval_every': 100}},
      'reasoning_rl': {'rl': {'steps': 100,
                              'rewards': {'accuracy': 1.0, 'format': 0.5,
                                          'language_consistency': 1.0}}},
      'reward_model': {'reward_model': {'steps': 200}},
  }
  if arg.quick:  # every stage for a few steps on a smaller model: CI runs it end to end
    config.model.update(d_model=64, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=128)
    config.data.update(num_train=2000, num_heldout=64)
    config.train.update(steps=60, batch_size=16, eval_every=0, log_every=20)
    config.eval.update(num_prompts=16, num_samples=2, batch_size=16, max_new_tokens=64)
    config.rl.update(prompts_per_step=8, group_size=2, max_new_tokens=64, eval_every=4,
                     log_every=1)
    config.reward_model.update(batch_size=8, num_pairs=200, num_heldout_pairs=32,
                               log_every=5, eval_every=0)
    config.checkpoint.update(every=10, keep=2)
    config.stage_overrides.cold_start.train.update(steps=20, cold_start_examples=200,
                                                   eval_every=0)
    config.stage_overrides.reasoning_rl.rl.steps = 4
    config.stage_overrides.reward_model.reward_model.steps = 20
  return config
