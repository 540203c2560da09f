"""k1.5 partial rollouts against whole rollouts on a long-tailed length workload, A/B in one
process: wall time per RL step and the quality reached after the same number of steps.
Prints ONE JSON line.

  python benchmarks/partial_rollout_bench.py                        # the README's numbers
  python benchmarks/partial_rollout_bench.py --budget=64 --a_compact_levels=0
  python benchmarks/partial_rollout_bench.py --max_new_tokens=512 --budget=64 --partial_cache=off
  python benchmarks/partial_rollout_bench.py --max_new_tokens=512 --budget=64 --steps=36 \
      --eval_every=3 --seed=1

The workload: a small random-init decoder learns the even-token reward (rewards/synthetic.py)
on random prompts; completion lengths are forced (sampling's stop_at), fixed per (prompt,
sample) so that both trainers see the same lengths: 1 trajectory in 8 runs to max_new_tokens,
the others end after 2..max_new_tokens/4 tokens (as grpo_tiny_ragged). A is the default
trainer (its rollout lasts until the batch's longest trajectory ends; finished rows leave the
decode batch unless --a_compact_levels=0); B has rl.partial_rollout_budget=--budget and
rl.partial_cache=--partial_cache (keep: each running trajectory's KV cache kept between
rounds and steps; step: prefilled again once a step; off: every round) and
rl.partial_loss=--partial_loss. Quality: the mean
reward of each trained policy on the same held-out prompts, lengths and randomness (the
default sampler), and the mean training reward of the last quarter of the steps. With
--eval_every=k the held-out reward is also measured every k steps (outside the timed steps):
each arm's curve of (wall seconds of its steps so far, compilation included; reward), and the
seconds each arm took to first reach `target` = the lower of the two arms' best held-out
rewards (a quality both reached): `b_over_a_time_to_target`, and the same without each arm's
first step (where it compiles): `b_over_a_time_to_target_after_first_step`.
"""
import argparse
import dataclasses
import json
import tempfile

import _bench
import jax
import ml_collections
import numpy as np

from r1jax import main as r1main, sharding
from r1jax.train import rl
from configs import common


class RandomPrompts:
  """Random full-length token prompts, one per stream position (partial rollouts re-take
  a prompt by its position)."""

  def __init__(self, vocab_size: int, prompt_len: int):
    self.vocab_size, self.prompt_len = vocab_size, prompt_len

  def take(self, cursor: int, count: int) -> rl.PromptBatch:
    tokens = np.stack([np.random.default_rng([7, cursor + i]).integers(
        4, self.vocab_size, self.prompt_len) for i in range(count)]).astype(np.int32)
    return rl.PromptBatch(tokens, np.ones_like(tokens, bool), [''] * count, [{}] * count)


def target_length(pos: int, member: int, max_new_tokens: int) -> int:
  """The forced length of sample `member` of the prompt at stream position `pos`."""
  u = np.random.default_rng([11, pos, member]).random()
  short_max = max_new_tokens // 4
  return max_new_tokens if u >= 0.875 else 2 + int(u / 0.875 * (short_max - 1))


class ForcedWholeRollouts:
  """A default (whole-rollout) sampler with the workload's lengths for the prompts at the
  stream position cursor_of() says."""

  def __init__(self, sampler, cursor_of):
    self.sampler, self.cursor_of = sampler, cursor_of

  def __call__(self, params, prompts, prompt_mask, rng, stop_at=None, prefix_len=0):
    cfg, cursor = self.sampler.cfg, self.cursor_of()
    stop_at = np.array([target_length(cursor + i, g, cfg.max_new_tokens)
                        for i in range(len(prompts)) for g in range(cfg.group_size)], np.int32)
    return self.sampler(params, prompts, prompt_mask, rng, stop_at=stop_at,
                        prefix_len=prefix_len)

  def __getattr__(self, name):
    return getattr(self.sampler, name)


def make_config(args, budget: int):
  config = common.get_config()
  config.model.update(vocab_size=512, d_model=args.d_model, n_layers=args.n_layers, n_heads=4,
                      n_kv_heads=2, d_ff=4 * args.d_model)
  config.data.update(tasks=('arithmetic',), difficulties=(1,), num_train=200, num_heldout=16)
  config.rl.update(steps=args.steps, prompts_per_step=args.prompts, group_size=args.group,
                   prompt_len=16, max_new_tokens=args.max_new_tokens, learning_rate=args.lr,
                   kl_beta=0.0, stop_on_eos=True, verifier_workers=1,
                   partial_rollout_budget=budget, partial_cache=args.partial_cache,
                   partial_loss=args.partial_loss)
  config.rl.rewards = {'even_tokens': 1.0}   # replaced, not merged into the default rewards
  config.seed = args.seed
  return config


def held_out_reward(sampler, params, prompts: int = 32) -> float:
  """Mean even-token reward of `params` on stream positions 10**6.. (never trained on), with
  the plain `sampler` (its G samples per prompt) and the workload's lengths."""
  start = 10 ** 6
  batch = RandomPrompts(512, 16).take(start, prompts)
  forced = ForcedWholeRollouts(sampler, cursor_of=lambda: start)
  samples = jax.device_get(forced(params, batch.tokens, batch.mask, jax.random.key(99)))
  ids = rl.sampling.completion_ids(samples)
  return float(np.mean([np.mean(np.asarray(x) % 2 == 0) if len(x) else 0.0 for x in ids]))


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--steps', type=int, default=12)
  parser.add_argument('--warmup', type=int, default=2)
  parser.add_argument('--budget', type=int, default=32)
  parser.add_argument('--max_new_tokens', type=int, default=128)
  parser.add_argument('--prompts', type=int, default=8)
  parser.add_argument('--group', type=int, default=4)
  parser.add_argument('--d_model', type=int, default=128)
  parser.add_argument('--n_layers', type=int, default=4)
  parser.add_argument('--lr', type=float, default=3e-3)
  parser.add_argument('--eval_every', type=int, default=0,
                      help='measure the held-out reward every this many steps (0 = at the end)')
  parser.add_argument('--seed', type=int, default=0,
                      help='config.seed of both trainers: the initial weights and the sampling')
  parser.add_argument('--partial_cache', default='keep', choices=('keep', 'step', 'off'),
                      help="B's rl.partial_cache: where a continued trajectory's context comes from")
  parser.add_argument('--partial_loss', default='fresh', choices=('fresh', 'all'),
                      help="B's rl.partial_loss: which tokens of a finished group are trained")
  parser.add_argument('--a_compact_levels', type=int, default=3,
                      help="A's sampler: 0 = finished rows stay in the decode batch to the end")
  args = parser.parse_args()

  configs = {'a': make_config(args, 0), 'b': make_config(args, args.budget)}
  mesh = sharding.make_mesh(ml_collections.ConfigDict({'shape': (1, 1, 1)}), jax.devices()[:1])
  rules = sharding.rules_from_config(configs['a'])
  with tempfile.TemporaryDirectory() as workdir:
    tok = r1main.load_or_train_tokenizer(configs['a'], workdir)
  prompts = RandomPrompts(512, 16)
  trainers = {k: rl.GRPOTrainer(c, tok, mesh, rules, None, prompts) for k, c in configs.items()}
  plain = trainers['b'].sampler   # unused by B's steps: the held-out sampler of both
  initial = jax.device_get(trainers['b'].params)   # the same random init as A's (one seed)
  a = trainers['a']
  a_sampler = rl.sampling.Sampler(a.model_cfg, dataclasses.replace(
      a.sampler.cfg, compact_levels=args.a_compact_levels), mesh, rules)
  a.sampler = ForcedWholeRollouts(a_sampler, lambda: int(a.state.prompt_cursor))
  trainers['b'].target_length = lambda pos, member: target_length(pos, member,
                                                                  args.max_new_tokens)
  rows = _bench.interleaved_steps(trainers, args.steps, every=args.eval_every,
                                  probe=lambda trainer: held_out_reward(plain, trainer.params))

  result = {'benchmark': 'partial_rollout', 'steps': args.steps, 'budget': args.budget,
            'max_new_tokens': args.max_new_tokens, 'prompts_per_step': args.prompts,
            'group_size': args.group, 'model': f'd{args.d_model} x {args.n_layers} layers',
            'a_compact_levels': args.a_compact_levels, 'partial_cache': args.partial_cache,
            'partial_loss': args.partial_loss, 'seed': args.seed}
  for name, trainer in trainers.items():
    timed, last = rows[name][args.warmup:], rows[name][-max(args.steps // 4, 1):]
    med = lambda key, timed=timed: round(float(np.median([r.get(key, 0) for r in timed])), 4)
    result[name] = {
        'step_s_median': med('wall_s'), 'rollout_s': med('rollout_s'),
        'update_s': med('update_s'), 'rollout_rounds': med('rollout_rounds'),
        'total_s': round(sum(r['wall_s'] for r in rows[name]), 2),
        'train_reward_last_quarter': round(float(np.mean([r['reward'] for r in last])), 4),
        'held_out_reward': round(held_out_reward(plain, trainer.params), 4),
        'compiles_after_warmup': rows[name][-1]['compiles'] - rows[name][args.warmup - 1][
            'compiles']}
    result[name]['first_step_s'] = round(rows[name][0]['wall_s'], 2)   # compiles
    if args.eval_every:
      elapsed = np.cumsum([r['wall_s'] for r in rows[name]])
      result[name]['curve'] = [(round(float(t), 2), round(r['probe'], 4))
                               for t, r in zip(elapsed, rows[name]) if 'probe' in r]
    trainer.pool.close()
  if args.eval_every:
    target = min(max(r for _, r in result[k]['curve']) for k in trainers)
    reach = {k: next(t for t, r in result[k]['curve'] if r >= target) for k in trainers}
    result['target'] = target
    result['time_to_target_s'] = reach
    result['b_over_a_time_to_target'] = round(reach['b'] / reach['a'], 3)
    warm = {k: reach[k] - result[k]['first_step_s'] for k in trainers}   # compilation left out
    result['b_over_a_time_to_target_after_first_step'] = round(warm['b'] / warm['a'], 3)
  result['held_out_reward_before'] = round(held_out_reward(plain, initial), 4)
  result['b_over_a_step_time'] = round(result['b']['step_s_median']
                                       / result['a']['step_s_median'], 3)
  result.update(_bench.machine())
  print(json.dumps(result))


if __name__ == '__main__':
  main()
