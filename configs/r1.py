"""The DeepSeek-R1 pipeline (arXiv 2501.12948 sec. 2.3-2.4) as one command, at laptop scale.

  python -m r1jax.main --config=configs/r1.py --workdir=/tmp/r1jax_r1
  python -m r1jax.main --config=configs/r1.py:quick --workdir=/tmp/r1jax_r1_quick
  python -m r1jax.main --config=configs/r1.py --config.stage_overrides.cold_start.train.steps=500 --workdir=DIR

  pretrain            the tiny base model on the bilingual synthetic corpus, whose worked
                      answers switch language part-way 30% of the time (the mixing R1-Zero shows)
  cold_start          SFT of the base model on templated worked traces with a "check:"
                      reflection, one language per trace, written as a TFDS dataset in WORKDIR/datasets
  reasoning_rl        GRPO from cold_start with accuracy + format + language consistency
                      (summed, as in the paper)
  rejection_sampling  4 samples per training prompt from reasoning_rl; correct, one-language,
                      not overlong/repetitive, well-formatted, unique ones kept; oracle-ranked
                      general-task answers added; a TFDS dataset + WORKDIR/reports/rejection_sampling.json
  sft                 SFT of the BASE model (stage_from pretrain) on that set, 2 epochs
  reward_model        Bradley-Terry reward model from the cold-start model on oracle-ranked
                      pairs of the general tasks
  rl_all              GRPO from sft on a mix of reasoning prompts (rule rewards) and general
                      prompts (the reward model: helpfulness on the summary, harmlessness on all)
  student_pretrain    a smaller base model (2 layers, width 128) on the same corpus
  distill             SFT of the student on the rejection-sampled set (the paper's distillation)
  student_rl          R1-Zero RL of the student from its base, for the FLOPs distill used

At the end WORKDIR/reports/pipeline.md holds a row per stage (r1jax/stages/report.py).
quick=True is a small, fast variant of every stage for CI.

ablation=True appends the language-reward ablation (run it in the workdir of a finished
pipeline: the stages that are done are skipped, and the report gains the three rows):
  reasoning_rl_nolang  reasoning_rl's run from cold_start with the language reward's weight 0
                       (still computed and logged)
  zero_rl              R1-Zero from the base model: accuracy + format, language weight 0
  zero_rl_lang         the same with the language reward (weight 1)
"""
from configs import common, quickstart

STUDENT = {'d_model': 128, 'n_layers': 2, 'd_ff': 512}


def get_config(arg=None):
  arg = common.get_config_arg(arg, quick=False, ablation=False)
  config = quickstart.get_config('stages=pretrain')
  config.stages = ('pretrain', 'cold_start', 'reasoning_rl', 'rejection_sampling', 'sft',
                   'reward_model', 'rl_all', 'student_pretrain', 'distill', 'student_rl')
  config.stage_kinds = {'student_pretrain': 'pretrain', 'student_rl': 'rl'}
  config.stage_from = {'sft': 'pretrain', 'reward_model': 'cold_start', 'rl_all': 'sft',
                       'student_rl': 'student_pretrain'}

  config.data.update(languages={'en': 0.5, 'zh': 0.5}, language_switch_prob=0.3,
                     general_tasks=True, seq_len=192)
  # 120: the longest general prompt (a decline request) is 117 tokens with the R1 preamble
  config.eval.update(max_new_tokens=80, prompt_len=120)
  config.rl.update(prompt_len=120, max_new_tokens=80)
  config.rejection_sampling.update(num_prompts=1024, num_samples=4, max_new_tokens=80,
                                   prompt_len=120, num_general=256)
  sft_train = {'sft_data': 'rejection_sampling', 'mask_prompt': True, 'epochs': 2.0,
               'learning_rate': 1e-3, 'warmup_steps': 20, 'eval_every': 0}
  r1_rewards = {'accuracy': 1.0, 'format': 0.5, 'language_consistency': 1.0}
  config.stage_overrides = {
      'cold_start': {'train': {'steps': 300, 'mask_prompt': True, 'sft_data': 'cold_start',
                               'cold_start_examples': 2000, 'learning_rate': 1e-3,
                               'warmup_steps': 20, 'eval_every': 100}},
      'reasoning_rl': {'rl': {'steps': 100, 'rewards': r1_rewards}},
      'sft': {'train': dict(sft_train)},
      'reward_model': {'reward_model': {'steps': 200}},
      'rl_all': {'rl': {'steps': 50, 'rewards': r1_rewards, 'reward_model_stage': 'reward_model',
                        'general_fraction': 0.25}},
      'student_pretrain': {'model': dict(STUDENT)},
      'distill': {'model': dict(STUDENT), 'train': dict(sft_train)},
      'student_rl': {'model': dict(STUDENT),
                     'rl': {'rewards': {'accuracy': 1.0, 'format': 0.5},
                            'match_compute_of': 'distill'}},
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
    config.rejection_sampling.update(num_prompts=32, num_samples=2, max_new_tokens=64,
                                     batch_size=16, num_general=16)
    config.checkpoint.update(every=10, keep=2)
    overrides = config.stage_overrides
    overrides.cold_start.train.update(steps=20, cold_start_examples=200, eval_every=0)
    overrides.reasoning_rl.rl.steps = 4
    overrides.reward_model.reward_model.steps = 20
    overrides.sft.train.update(epochs=1.0, warmup_steps=2)
    overrides.distill.train.update(epochs=1.0, warmup_steps=2)
    overrides.rl_all.rl.steps = 2
    for name in ('student_pretrain', 'distill', 'student_rl'):
      overrides[name].model.update(d_model=32, d_ff=64)
  if arg.ablation:
    no_lang = dict(r1_rewards, language_consistency=0.0)
    steps = config.stage_overrides['reasoning_rl']['rl']['steps']
    config.stages += ('reasoning_rl_nolang', 'zero_rl', 'zero_rl_lang')
    config.stage_kinds.update({name: 'rl' for name in config.stages[-3:]})
    config.stage_from.update({'reasoning_rl_nolang': 'cold_start', 'zero_rl': 'pretrain',
                              'zero_rl_lang': 'pretrain'})
    config.stage_overrides.update({
        'reasoning_rl_nolang': {'rl': {'steps': steps, 'rewards': no_lang}},
        'zero_rl': {'rl': {'steps': steps, 'rewards': no_lang}},
        'zero_rl_lang': {'rl': {'steps': steps, 'rewards': dict(r1_rewards)}}})
  return config
