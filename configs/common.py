"""Defaults for every knob in r1jax. Experiment files start from `get_config()` here and
override what they change; a field that is not defined here is rejected by validation.

  python -m r1jax.main --config=configs/quickstart.py --workdir=/tmp/r1jax_quickstart
  python -m r1jax.main --config=configs/quickstart.py --config.train.steps=100 --workdir=DIR
"""
import ml_collections


def get_config():
  config = ml_collections.ConfigDict()
  config.seed = 0
  # Stages run in order; each one resumes from its own checkpoints in the workdir and is
  # skipped once finished (r1jax/stages). A stage name is its kind (pretrain, sft, rl,
  # reward_model) or is mapped to one; per-stage changes go in stage_overrides.
  config.stages = ('pretrain',)
  config.stage_kinds = {}      # {name: kind}, e.g. {'cold_start': 'sft'} (R1 names are built in)
  config.stage_from = {}       # {name: earlier stage whose final params it starts from}
  config.stage_overrides = {}  # {name: {section: {field: value}}} for that stage only

  # Qwen2-style decoder (r1jax/models). The SentencePiece tokenizer is trained with
  # vocab_size pieces, so the two always agree.
  config.model = ml_collections.ConfigDict(dict(
      vocab_size=512, d_model=256, n_layers=4, n_heads=4, n_kv_heads=2, d_ff=1024, head_dim=0,
      rope_theta=10000.0, rms_norm_eps=1e-6, qkv_bias=True,
      dtype='float32',        # compute dtype: 'float32' | 'bfloat16'
      param_dtype='float32',  # weight storage dtype
      tie_embeddings=False,   # output projection = embedding table (Qwen2.5 <= 3B, Llama 3.2)
      qk_norm=False,          # RMSNorm on queries/keys per head (Qwen3)
      rope_scaling='',        # '' | 'llama3' (+ the four rope_* fields below)
      rope_scaling_factor=8.0, rope_low_freq_factor=1.0, rope_high_freq_factor=4.0,
      rope_original_max_len=8192,
      remat='none',           # 'none' | 'full' | 'dots' | 'dots_no_batch' (activation memory)
      logits_chunk=0,         # > 0: losses over vocabulary chunks of ~this size (no [B,T,V])
      flat_matmuls=True,      # projections as 2-D matmuls over B*T rows (False: einsum)
      # A Hugging Face checkpoint directory (config.json + safetensors + tokenizer.json):
      # the architecture fields above are read from it, the weights and tokenizer imported.
      hf_path='',
  ))

  # Synthetic tasks and the pretraining corpus (r1jax/data).
  config.data = ml_collections.ConfigDict(dict(
      source='synthetic',   # 'synthetic' (in memory) | 'tfds' (array_record on disk) | 'reasoning_gym'
      tfds_name='r1jax_synthetic', tfds_dir='',
      manual_dir='',        # input files of the real-data builders (<split>.jsonl, ...)
      tfds_module='',       # a module to import that registers the user's own TFDS builder
      train_split='train', heldout_split='heldout',  # dataset split names read (GSM8K: 'test')
      # data.source='reasoning_gym': task names, problems per task and split, generator seed
      rg_tasks=('leg_counting', 'basic_arithmetic'), rg_seed=0,
      tasks=('arithmetic', 'linear_equation', 'countdown'),
      difficulties=(1, 2),
      seed=0,
      num_train=20000, num_heldout=300,
      template='r1_zero',   # prompt template: 'r1_zero' | 'chat'
      # How each pretraining document answers: with worked reasoning, with a bare
      # answer (no steps), or without the R1 tags. See r1jax/data/corpus.py.
      mode_probs={'cot': 0.3, 'direct': 0.5, 'noformat': 0.2},
      seq_len=176,          # tokens per pretraining document (prompt + completion)
      share_prefix=True,    # compute a prefix shared by all documents once per batch
      number_pieces=0,      # tokenizer: integers below this are single pieces (0 = digits)
      tokenizer_examples=20000,   # training examples whose texts train the tokenizer
      # Question languages {language: probability} ('en', 'zh'; r1jax/data/tasks/languages.py)
      # and how often a worked pretraining answer switches language mid-reasoning.
      languages={'en': 1.0},
      language_switch_prob=0.0,
      # The general tasks (r1jax/data/tasks/general.py: no rule-checkable answer) are used by
      # some stage (reward_model, ...): the tokenizer is trained on their text too.
      general_tasks=False,
      # k1.5's long-CoT warm-up traces (cold_start.long_cot_trace) are in the tokenizer corpus
      long_cot=False,
  ))

  # Device mesh (data, fsdp, tensor); -1 takes the remaining devices.
  config.mesh = ml_collections.ConfigDict(dict(shape=(-1, 1, 1), rules={}))
  config.distributed = ml_collections.ConfigDict(dict(
      enabled=False, coordinator_address='', num_processes=1, process_id=0))

  # Pretraining / SFT (r1jax/train/pretrain.py).
  config.train = ml_collections.ConfigDict(dict(
      steps=1000, batch_size=32,
      learning_rate=3e-3, warmup_steps=50, min_lr_ratio=0.1,  # warmup + cosine to min_lr_ratio
      weight_decay=0.1, b1=0.9, b2=0.95, grad_clip=1.0,
      mask_prompt=False,    # True for SFT: no loss on prompt tokens
      length_buckets=1,     # > 1: batches of rows of similar length, cut to their bucket's width
      # SFT set: '' = the pretraining corpus (data.*); 'cold_start' = templated worked traces
      # with a check (r1jax/data/cold_start.py), cold_start_examples problems, written as a
      # TFDS dataset in WORKDIR/datasets
      sft_data='', cold_start_examples=2000,
      # cold-start source (a): an earlier (R1-Zero) stage whose correct, one-language,
      # well-formed samples (rejection_sampling.* settings and filters) join the traces
      cold_start_zero_stage='',
      # 'rejection_sampling' = the set the latest earlier rejection_sampling stage wrote
      # epochs > 0: train.steps = ceil(epochs * set size / batch_size) (0 = train.steps)
      epochs=0.0,
      log_every=20, eval_every=250, eval_batches=4,   # every: 0 = off (log: final step only)
      max_nonfinite_in_a_row=5,   # non-finite loss/grads: update skipped; stop after this many
  ))

  # Held-out evaluation through the sampler (r1jax/evaluate.py).
  config.eval = ml_collections.ConfigDict(dict(
      num_prompts=96,       # held-out prompts per evaluation (spread over the tasks)
      num_samples=4,        # k samples per prompt: pass@1 is averaged over them, maj@k voted
      temperature=1.0, top_k=0, top_p=1.0,   # greedy: temperature=0 with num_samples=1
      max_new_tokens=64, prompt_len=96, batch_size=96,
      # A second pass in the papers' sampled setting (R1: k samples at temperature 0.6, top-p
      # 0.95, pass@1 averaged over them): eval/sampled/accuracy, eval/sampled/maj@k. 0 = off.
      sampled_samples=0, sampled_temperature=0.6, sampled_top_p=0.95,
  ))

  # Reinforcement learning (r1jax/train/rl.py): GRPO and its family.
  config.rl = ml_collections.ConfigDict(dict(
      init_from='',             # base model's workdir ('' = this workdir's pretrain stage, 'random')
      steps=200,
      prompts_per_step=16, group_size=8,    # rollout batch = prompts_per_step * group_size
      prompt_len=112, max_new_tokens=64,
      temperature=1.0, top_k=0, top_p=1.0, stop_on_eos=True,
      num_iterations=1,         # mu: updates per rollout (old log-probs recomputed if > 1)
      # optimizer (same fields as train)
      learning_rate=1e-6, warmup_steps=0, min_lr_ratio=1.0, weight_decay=0.0,
      b1=0.9, b2=0.99, grad_clip=1.0,
      # rewards: {registered name: weight}; options go to every reward that takes them
      rewards={'accuracy': 1.0, 'format': 0.5},
      reward_options={},
      verifier_workers=2, verifier_timeout_s=2.0,
      # advantages and the policy loss (r1jax/losses.py)
      advantage_mode='grpo',    # 'grpo' (mean/std) | 'drgrpo' (mean only) | 'batch_std'
      clip_eps_low=0.2, clip_eps_high=0.2,  # DAPO clip-higher: clip_eps_high=0.28
      dual_clip=0.0,            # > 1 bounds the loss of negative advantages (0 = off)
      aggregation='seq_mean',   # 'seq_mean' (GRPO) | 'token_mean' (DAPO) | 'token_sum' (Dr. GRPO)
      token_sum_constant=0,     # divisor for 'token_sum' (0 = max_new_tokens)
      ratio_level='token',      # 'token' | 'sequence' (GSPO)
      kl_beta=0.0,              # 0 disables the reference model
      kl_estimator='k3',        # 'k1' | 'k2' | 'k3'
      kl_mode='loss',           # 'loss' | 'reward' (penalty subtracted from the reward)
      entropy_coef=0.0,
      dynamic_sampling=False,   # DAPO: drop zero-variance groups and refill
      dynamic_sampling_metric='success',  # 'success' (DAPO: accuracy not all 0 / all 1) | 'reward'
      success_reward='accuracy',  # the reward in [0, 1] that says an answer is correct
      max_refill_rounds=3,
      mask_truncated=False,     # DAPO: no loss on completions cut at max_new_tokens
      # update cost (README, Performance): rows sorted by completion length and cut into
      # update_chunks chunks, each padded to the smallest of length_buckets compiled lengths
      # (max_new_tokens / 2^k) that holds it; gradients summed over chunks, one optimizer step
      # (update_chunks is a maximum: the most chunks that split the rows over the data axes)
      length_buckets=4, update_chunks=4,
      # the loss: 'grpo' (the family above) | 'kimi_k15' (k1.5 surrogate; ignores clip/KL/aggregation)
      loss='grpo',
      kimi_tau=0.05,            # k1.5 tau (paper: 0.01 at thousands of tokens; see README)
      kimi_baseline='mean',     # tau log Z estimate: 'mean' reward (paper) | 'partition' (leave-one-out)
      kimi_length_normalize=False,  # divide each sequence's squared residual by its length
      # reward schedules: {reward name: steps at weight 0 first}; k1.5's length-penalty warm-up
      reward_warmup={},
      length_penalty_warmup=0,  # = reward_warmup['length_penalty']
      # which prompts a step trains on (r1jax/data/prompt_sampler.py)
      sampling='uniform',       # 'uniform' | 'curriculum' (easy -> hard) | 'prioritized' (1 - success)
      curriculum_start=0.25,    # curriculum: easiest fraction of prompts eligible at step 0
      curriculum_steps=0,       # curriculum: steps until every prompt is eligible (0 = rl.steps)
      priority_floor=0.01,      # prioritized: weight of a prompt solved every time
      prompt_set='',            # '' = config.data's train split | a curate_prompts stage's set
      # k1.5 partial rollouts (r1jax/train/partial.py): at most this many new tokens per
      # trajectory per rollout round; unfinished ones wait in a buffer (0 = off)
      partial_rollout_budget=0,
      # where a continued trajectory's context comes from: 'keep' = its KV cache, kept on the
      # devices across rounds and steps (earlier segments are the older policies' keys and
      # values) | 'step' = kept across the rounds of a step, prefilled again (current policy)
      # at each step's first round | 'off' = prefilled again every round
      partial_cache='keep',
      # which tokens of a finished group enter the loss: 'fresh' = only those generated in this
      # step (old log-probs = the sampler's: first ratio 1) | 'all' = every token, each trained
      # once, its old log-prob the behaviour policy's that sampled it (earlier steps' policies)
      partial_loss='fresh',
      repeat_ngram=0,           # partial rollouts: end a trajectory whose latest segment repeats
                                # its token n-grams (partial.REPEAT_RATIO of them; 0 = off)
      repeat_penalty=0.5,       # subtracted from the reward of a trajectory ended that way
      log_every=1, eval_every=20,   # 0 = off (the final step is still evaluated and logged)
      max_nonfinite_in_a_row=5,   # non-finite loss/grads: update skipped; stop after this many
      # RL for all scenarios (r1jax/train/rl_all.py): a reward_model stage's name turns it on;
      # that share of each step's prompts are general prompts scored by the reward model
      # (helpfulness on the summary after </think>, harmlessness on the whole response)
      reward_model_stage='', general_fraction=0.25,
      rm_helpfulness_weight=1.0, rm_harmlessness_weight=1.0,
      match_compute_of='',      # an SFT stage: rl.steps = its training FLOPs / FLOPs per RL step
  ))

  # Bradley-Terry reward model on ranked pairs of the general tasks
  # (r1jax/train/reward_model.py): the decoder with a scalar head on the last real token.
  config.reward_model = ml_collections.ConfigDict(dict(
      steps=200, batch_size=32,          # pairs per step
      num_pairs=2000, num_heldout_pairs=200,
      seq_len=256,                       # tokens per prompt + response row
      learning_rate=1e-4, warmup_steps=10, min_lr_ratio=0.1, weight_decay=0.0,
      b1=0.9, b2=0.95, grad_clip=1.0,
      log_every=20, eval_every=100,
  ))

  # Rejection sampling (r1jax/stages/rejection.py): num_samples per training prompt from the
  # stage it starts from; correct, one-language, not overlong/repetitive, well formatted,
  # unique samples kept, num_general oracle-ranked general-task answers added.
  config.rejection_sampling = ml_collections.ConfigDict(dict(
      num_prompts=1024,         # training prompts (the first of data's train split)
      num_samples=4,            # N samples per prompt
      temperature=1.0, max_new_tokens=64, prompt_len=112,
      batch_size=64,            # prompts per sampler call (x num_samples rows)
      max_response_tokens=0,    # longer samples are dropped (0 = only those cut at max_new_tokens)
      repeat_ngram=4, max_repeat_ratio=0.3,   # share of repeated word n-grams above it: dropped
      keep='all',               # 'all' | 'shortest' (the shortest correct one per prompt)
      max_per_prompt=0,         # keep at most this many per prompt (0 = all)
      num_general=256,          # non-reasoning records (general tasks) added
  ))

  # Kimi k1.5's RL prompt set (r1jax/data/curate.py, r1jax/stages/curate.py; the curate_prompts stage kind).
  config.curate = ml_collections.ConfigDict(dict(
      num_prompts=512,          # training prompts scored (the first of config.data's train split)
      num_samples=10,           # samples per prompt: pass rate = difficulty (k1.5: 10)
      temperature=1.2,          # "fairly high" sampling temperature
      max_new_tokens=0,         # 0 = rl.max_new_tokens
      direct_thought='I know this .',  # the non-thought of the direct-answer (hack) probe
      balance=2.0,              # no (task, difficulty) cell above this x the smallest (0 = off)
  ))

  # k1.5 vanilla SFT data (the vanilla_sft stage kind): reasoning prompts by rejection
  # sampling, general prompts (data/tasks/general.py) ranked by the oracle.
  config.vanilla_sft = ml_collections.ConfigDict(dict(
      num_reasoning_prompts=256, num_general_prompts=64,
      num_samples=4, temperature=1.0,
      max_new_tokens=0,         # 0 = rl.max_new_tokens
  ))

  # The k15_report stage: long-CoT model against the long2short ones (WORKDIR/k15_report.md).
  config.k15_report = ml_collections.ConfigDict(dict(
      long_stage='k15_rl', short_stages=('merge', 'shortest_rs', 'dpo', 'length_rl'),
      direct_stages=(),         # short models trained directly: more points of the plot
      curves=(),                # groups of stages whose held-out curves are compared, each a
  ))                            # tuple of stage names: a table and k15_curves_<a_vs_b>.png

  # k1.5 long2short data (r1jax/stages/k15.py): shortest rejection sampling, DPO pairs, merging.
  config.long2short = ml_collections.ConfigDict(dict(
      num_prompts=256,          # training prompts sampled (shortest_rs, dpo)
      num_samples=8,            # samples per prompt (k1.5: 8)
      temperature=1.0,
      max_new_tokens=0,         # 0 = rl.max_new_tokens
      long_ratio=1.5,           # dpo: correct answers >= this x the shortest correct are rejected
      merge_stages=(),          # merge: the stages whose final params are averaged
      merge_weights=(),         # their weights (empty = equal; normalised to sum 1)
  ))

  # DPO on long2short pairs (r1jax/train/dpo.py); the reference is the start model, frozen.
  config.dpo = ml_collections.ConfigDict(dict(
      steps=100, batch_size=16,   # pairs per step
      beta=0.1,                   # DPO temperature on the log-ratio
      max_pairs_per_prompt=2,     # rejected answers paired with each shortest correct one
      learning_rate=1e-5, warmup_steps=0, min_lr_ratio=1.0, weight_decay=0.0,
      b1=0.9, b2=0.95, grad_clip=1.0,
      log_every=10,
  ))

  config.checkpoint = ml_collections.ConfigDict(dict(every=500, keep=2))
  config.log = ml_collections.ConfigDict(dict(tensorboard=True, plots=True))
  return config


def get_config_arg(arg, **defaults):
  """big_vision-style `--config=file.py:key=value,flag` parsing into a ConfigDict."""
  parsed = ml_collections.ConfigDict(defaults)
  for item in (arg or '').split(','):
    if not item:
      continue
    key, _, value = item.partition('=')
    default = defaults.get(key)
    if key not in defaults:
      raise ValueError(f'unknown config argument {key!r}; known: {sorted(defaults)}')
    if not value:
      parsed[key] = True
    elif isinstance(default, bool):
      parsed[key] = value.lower() in ('1', 'true', 'yes')
    else:
      parsed[key] = type(default)(value)
  return parsed
