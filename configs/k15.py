"""The Kimi k1.5 recipe (arXiv 2501.12599 sec. 2) on the embedded tasks, as a list of stages.

  python -m r1jax.main --config=configs/k15.py --workdir=/tmp/r1jax_k15
  python -m r1jax.main --config=configs/k15.py:quick --workdir=/tmp/r1jax_k15_quick
  python -m r1jax.main --config=configs/k15.py --config.stage_overrides.k15_rl.rl.steps=200 --workdir=DIR

  pretrain        the tiny base model (the quickstart's corpus; its tokenizer also knows the
                  long-CoT words, data.long_cot)
  vanilla_sft     rejection-sampled reasoning answers + oracle-ranked general answers, SFT
  curate_prompts  pass rate of 10 samples per prompt, easy-to-hack prompts dropped, balanced;
                  the RL prompt set (datasets/r1jax_curated_prompts/curate_prompts)
  long_cot_sft    light SFT on verified long-CoT traces (plan, checks, "wait", another way)
  k15_rl          the k1.5 objective (rl.loss='kimi_k15') on the curated set, curriculum by
                  pass rate, the length penalty after a warm-up
  long2short, each from k15_rl:
  merge           the average of k15_rl and vanilla_sft (a short-CoT model)
  shortest_rs     SFT on the shortest correct of 8 samples
  dpo             DPO: shortest correct chosen, wrong or >= 1.5x longer rejected
  length_rl       RL with the length penalty from step 0 and half the max_new_tokens
  report          WORKDIR/k15_report.{json,md}: accuracy and mean length, long vs short

compare=True appends the comparisons (run it in the workdir of a finished pipeline: the
stages that are done are skipped), each RL run with k15_rl's settings and steps but one change:
  grpo_rl          rl.loss='grpo' instead of 'kimi_k15' (the same rollouts and update FLOPs)
  k15_uniform      rl.sampling='uniform' instead of 'curriculum'
  k15_prioritized  rl.sampling='prioritized'
  short_rl         a short model trained directly: from vanilla_sft, short max_new_tokens
  merge_w75/_w25   merge with weights 0.75/0.25 and 0.25/0.75 (k15_rl, vanilla_sft): more
                   points of the accuracy-length trade-off
  compare_report   k15_report.{json,md} again with these: curves (k15_curves_*.png) and the
                   accuracy-vs-length plot with the short models (k15_long_short.png)

Partial rollouts (sec. 2.6.2) are off here: --config.stage_overrides.k15_rl.rl.
partial_rollout_budget=N turns them on (README). quick=True is a small variant CI runs end
to end.
"""
from configs import common, quickstart

LONG2SHORT = ('merge', 'shortest_rs', 'dpo', 'length_rl')
COMPARE = {'grpo_rl': {'loss': 'grpo'}, 'k15_uniform': {'sampling': 'uniform'},
           'k15_prioritized': {'sampling': 'prioritized'}}


def get_config(arg=None):
  arg = common.get_config_arg(arg, quick=False, compare=False)
  config = quickstart.get_config('stages=pretrain')
  config.stages = ('pretrain', 'vanilla_sft', 'curate_prompts', 'long_cot_sft', 'k15_rl',
                   *LONG2SHORT, 'report')
  config.stage_kinds = {'k15_rl': 'rl', 'length_rl': 'rl', 'report': 'k15_report'}
  config.stage_from = {'shortest_rs': 'k15_rl', 'dpo': 'k15_rl', 'length_rl': 'k15_rl',
                       'report': 'k15_rl'}

  config.data.update(general_tasks=True, long_cot=True, seq_len=256)
  long_tokens, short_tokens = 160, 80
  config.eval.update(max_new_tokens=long_tokens, prompt_len=112)
  config.rl.update(prompt_len=112, max_new_tokens=long_tokens)
  config.curate.update(num_prompts=512, num_samples=10, temperature=1.2)
  config.vanilla_sft.update(num_reasoning_prompts=512, num_general_prompts=128, num_samples=4,
                            max_new_tokens=short_tokens)
  config.long2short.update(num_prompts=512, num_samples=8, merge_stages=('k15_rl',
                                                                         'vanilla_sft'))
  config.k15_report.update(long_stage='k15_rl', short_stages=LONG2SHORT)
  # 2e-5, not the quickstart's 2e-4: from the long-CoT SFT model, k15_rl at 1e-4 lost half
  # its held-out accuracy in 100 steps (0.120 -> 0.055, GRPO alike); at 2e-5, 0.120 -> 0.135
  # in 50 steps (README, "A full run")
  rl_common = {'loss': 'kimi_k15', 'kimi_tau': 0.05, 'prompt_set': 'curate_prompts',
               'learning_rate': 2e-5, 'warmup_steps': 5}
  config.stage_overrides = {
      'vanilla_sft': {'train': {'steps': 300, 'mask_prompt': True, 'learning_rate': 1e-3,
                                'warmup_steps': 20, 'eval_every': 0}},
      'long_cot_sft': {'train': {'steps': 300, 'mask_prompt': True, 'cold_start_examples': 1000,
                                 'learning_rate': 1e-3, 'warmup_steps': 20, 'eval_every': 0}},
      'k15_rl': {'rl': {**rl_common, 'steps': 100, 'sampling': 'curriculum',
                        'rewards': {'accuracy': 1.0, 'format': 0.5, 'length_penalty': 0.2},
                        'length_penalty_warmup': 60}},
      'shortest_rs': {'train': {'steps': 100, 'mask_prompt': True, 'learning_rate': 3e-4,
                                'warmup_steps': 10, 'eval_every': 0}},
      'dpo': {'dpo': {'steps': 100, 'learning_rate': 3e-5}},
      'length_rl': {'rl': {**rl_common, 'steps': 50, 'max_new_tokens': short_tokens,
                           'rewards': {'accuracy': 1.0, 'format': 0.5, 'length_penalty': 1.0}}},
  }
  if arg.quick:  # every stage for a few steps on a smaller model: CI runs it end to end
    config.model.update(d_model=64, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=128)
    config.data.update(num_train=600, num_heldout=32)
    config.train.update(steps=40, batch_size=16, log_every=10)
    config.eval.update(num_prompts=16, num_samples=2, batch_size=16)
    config.rl.update(steps=2, prompts_per_step=8, group_size=2, eval_every=0, log_every=1)
    config.curate.update(num_prompts=32, num_samples=4)
    config.vanilla_sft.update(num_reasoning_prompts=32, num_general_prompts=16, num_samples=2)
    config.long2short.update(num_prompts=16, num_samples=4)
    config.dpo.update(batch_size=8, log_every=2)
    config.checkpoint.update(every=10, keep=2)
    overrides = config.stage_overrides
    overrides.vanilla_sft.train.steps = 20
    overrides.long_cot_sft.train.update(steps=40, cold_start_examples=200)
    overrides.k15_rl.rl.update(steps=4, length_penalty_warmup=2)
    overrides.shortest_rs.train.steps = 4
    overrides.dpo.dpo.steps = 4
    overrides.length_rl.rl.steps = 2
  if arg.compare:
    rl = config.stage_overrides.k15_rl.rl.to_dict()
    merges = {'merge_w75': (0.75, 0.25), 'merge_w25': (0.25, 0.75)}
    config.stages += (*COMPARE, 'short_rl', *merges, 'compare_report')
    config.stage_kinds.update({**{s: 'rl' for s in COMPARE}, 'short_rl': 'rl',
                               **{s: 'merge' for s in merges}, 'compare_report': 'k15_report'})
    config.stage_from.update({**{s: 'long_cot_sft' for s in COMPARE}, 'short_rl': 'vanilla_sft',
                              'compare_report': 'k15_rl'})
    config.stage_overrides.update({s: {'rl': {**rl, **change}} for s, change in COMPARE.items()})
    config.stage_overrides.short_rl = {'rl': {**rl, 'max_new_tokens': short_tokens}}
    for name, weights in merges.items():
      config.stage_overrides[name] = {'long2short': {'merge_weights': weights}}
    config.stage_overrides.compare_report = {'k15_report': {
        'short_stages': (*LONG2SHORT, *merges), 'direct_stages': ('vanilla_sft', 'short_rl'),
        'curves': (('k15_rl', 'grpo_rl'), ('k15_rl', 'k15_uniform', 'k15_prioritized'))}}
  return config
