"""k1.5 partial rollouts (r1jax/train/partial.py) through GRPOTrainer: a continued trajectory
equals an uninterrupted one (with each rl.partial_cache, and with rows joining the kept cache
round by round), unfinished ones cross steps and checkpoints, repeated text ends a trajectory
with a penalty, nothing recompiles, and budget 0 leaves the default path alone."""
import jax
import ml_collections
import numpy as np
import pytest

from test_rl_options import _config, _host, _trainer, base_params, tokenizer  # noqa: F401 (fixtures)
from test_sampling import CFG, _params, _prompts
from r1jax import checkpoint, metrics, sampling, sharding
from r1jax.train import partial, rl

MODES = ('keep', 'step', 'off')


def _partial_config(**rl_fields):
  return _config(**{**dict(prompts_per_step=2, group_size=2, max_new_tokens=8,
                           partial_rollout_budget=3, length_buckets=1, update_chunks=1,
                           stop_on_eos=True),
                    **rl_fields})


def _long_member(pos, member):
  """Even prompts' second sample runs to 8 tokens, every other sample stops at 2."""
  return 8 if pos % 2 == 0 and member == 1 else 2


@pytest.mark.parametrize('mode', MODES)
def test_continued_greedy_trajectory_equals_an_uninterrupted_one(tokenizer, base_params, mode):
  config = _partial_config(temperature=0.0, stop_on_eos=False,   # 8 tokens: 3 rounds of <= 3
                           partial_cache=mode)
  trainer = _trainer(config, tokenizer, base_params)
  ro, cursor, row = trainer.collect(0)
  assert row['rollout_rounds'] == 3 and cursor == 2
  if mode != 'off':   # rounds 2 and 3 continued from the kept cache: nothing prefilled again
    assert trainer.kept_cache.prefills == 0
  assert ro.fresh.all() and (ro.lengths == 8).all()
  prompts = trainer.prompts.take(0, 2)
  straight = jax.device_get(trainer.sampler(trainer.params, prompts.tokens, prompts.mask,
                                            jax.random.key(0)))
  np.testing.assert_array_equal(ro.tokens, straight.tokens)
  np.testing.assert_allclose(ro.logprobs, straight.logprobs, atol=1e-5)
  trainer.pool.close()


@pytest.mark.parametrize('mode', MODES)
def test_unfinished_trajectories_cross_steps_and_checkpoints(tmp_path, tokenizer, base_params,
                                                             mode):
  # a small step: with 'keep' the carried context's keys and values are one update stale, and
  # a large update moves the sampler's CDF enough to flip a token of the resumed run
  config = _partial_config(partial_cache=mode, learning_rate=1e-3)
  straight = _trainer(config, tokenizer, base_params)
  straight.target_length = _long_member
  seen = []
  collect = straight.collect
  straight.collect = lambda step: seen.append(collect(step)) or seen[-1]
  rows = [straight.step()]
  # step 0 (3 rounds): groups 0 and 1 trained; prompt 2's long sample (6 of its 8 tokens)
  # and the finished group 3 wait
  buf = partial.to_host(straight.state.partial)
  assert rows[0]['partial_carried'] == 1 and rows[0]['prompt_cursor'] == 4
  (carried,) = partial.running(buf)
  assert buf.pos[carried] == 2 and buf.lengths[carried] == 6 and (buf.born[carried, :6] == 0).all()
  ckpt = checkpoint.Checkpointer(str(tmp_path), 'rl', every=1, keep=2)
  ckpt.maybe_save(1, straight.state, force=True)
  ckpt.close()
  rows.append(straight.step())
  # step 1 trains group 2 and group 3 (ready since step 0): the long sample keeps the six
  # tokens of step 0 as context and only this step's two are in the loss
  ro = seen[-1][0]
  assert [m['index'] for m in ro.prompts.metadata] == [2, 3]
  assert list(ro.lengths) == [2, 8, 2, 2]
  np.testing.assert_array_equal(ro.tokens[1, :6], buf.tokens[carried, :6])
  assert ro.fresh[1].tolist() == [False] * 6 + [True] * 2
  assert not ro.fresh[0].any() and not ro.fresh[2:].any()   # ended in step 0
  assert straight.loss_mask(ro).sum() == 2
  assert rows[1]['partial_reused_tokens'] == 2 + 6 + 2 + 2 and rows[1]['prompt_cursor'] == 5

  resumed = _trainer(config, tokenizer, base_params)
  resumed.target_length = _long_member
  ckpt = checkpoint.Checkpointer(str(tmp_path), 'rl', every=1, keep=2)
  resumed.state = ckpt.restore(resumed.state)
  ckpt.close()
  for a, b in zip(_host(buf), _host(resumed.state.partial)):
    np.testing.assert_array_equal(a, b)
  before = np.concatenate([x.ravel() for x in _host(resumed.params)])
  resumed.step()
  if mode == 'keep':
    # the kept cache is not in the checkpoint: the resumed run prefills the carried context
    # once, under step 1's params, where the uninterrupted one kept step 0's keys and values;
    # the same tokens, and the sampler's log-probs and the parameters equal up to that
    assert straight.kept_cache.prefills == 0 and resumed.kept_cache.prefills == 1
    for a, b in zip(_host(straight.state.partial), _host(resumed.state.partial)):
      if a.dtype == np.float32:   # the sampler's log-probs
        np.testing.assert_allclose(a, b, atol=1e-4)
      else:
        np.testing.assert_array_equal(a, b)
    flat = lambda tree: np.concatenate([x.ravel() for x in _host(tree)])
    moved = np.abs(flat(straight.params) - before).mean()
    assert np.abs(flat(straight.params) - flat(resumed.params)).mean() < 0.05 * moved
  else:   # nothing kept across steps: the resumed step equals the uninterrupted one exactly
    for a, b in zip(_host(straight.state), _host(resumed.state)):
      np.testing.assert_array_equal(a, b)
  straight.pool.close()
  resumed.pool.close()


def test_partial_loss_all_trains_every_token_of_a_finished_group(tokenizer, base_params):
  """rl.partial_loss='all': the step-1 groups of the scenario above put all 14 of their tokens
  in the loss (the long sample's six from step 0 and the samples that ended in step 0), each
  with the sampler's log-prob as its old one; 'fresh' only this step's two."""
  masks = {}
  for loss in ('fresh', 'all'):
    trainer = _trainer(_partial_config(partial_loss=loss), tokenizer, base_params)
    trainer.target_length = _long_member
    seen = []
    collect = trainer.collect
    trainer.collect = lambda step: seen.append(collect(step)) or seen[-1]
    trainer.step()
    trainer.step()
    trainer.pool.close()
    ro = seen[-1][0]
    assert list(ro.lengths) == [2, 8, 2, 2]
    masks[loss] = trainer.loss_mask(ro)
  np.testing.assert_array_equal(masks['all'], ro.mask)
  assert masks['all'].sum() == 14 and masks['fresh'].sum() == 2


def test_repeated_text_ends_a_trajectory_with_a_penalty(tokenizer, base_params):
  config = _partial_config(stop_on_eos=False, repeat_ngram=1, repeat_penalty=0.25,
                           partial_cache='off')   # the re-prefilling sampler is patched below
  trainer = _trainer(config, tokenizer, base_params)
  sample, calls = trainer.partial_sampler, []

  def looping_first_row(params, tokens, mask, rng, stop_at):   # round 1, row 0: "7 7 7"
    out = sample(params, tokens, mask, rng, stop_at)
    calls.append(1)
    return out.replace(tokens=out.tokens.at[0].set(7)) if len(calls) == 1 else out
  trainer.partial_sampler = looping_first_row
  ro, _, row = trainer.collect(0)
  repeated = ro.per_reward['repeated']
  assert repeated[0] == 1 and ro.lengths[0] == 3 and list(ro.tokens[0, :3]) == [7, 7, 7]
  assert (repeated[1:] == 0).all() and (ro.lengths[1:] == 8).all()
  np.testing.assert_allclose(ro.rewards, ro.per_reward['even_tokens'] - 0.25 * repeated)
  assert row['rollout_rounds'] == 3
  trainer.pool.close()
  # the detector alone: a loop repeats its n-grams, varied text does not
  buf = partial.empty(2, 8, 0)
  buf.pos[:] = 0
  out = rl.sampling.Samples(tokens=np.array([[1, 2, 1, 2, 1, 2], [1, 2, 3, 4, 5, 6]]),
                            logprobs=np.zeros((2, 6)), mask=np.ones((2, 6), bool),
                            lengths=np.array([6, 6]), stopped=np.array([False, False]))
  buf = partial.append(buf, [0, 1], out, 0, repeat_ngram=2)
  assert buf.repeated.tolist() == [True, False]
  assert partial.finished(buf).tolist() == [True, False]


@pytest.mark.parametrize('mode', MODES)
def test_no_recompiles_after_warm_up(tokenizer, base_params, mode):
  config = _partial_config(prompts_per_step=4, partial_cache=mode)
  trainer = _trainer(config, tokenizer, base_params)
  trainer.target_length = lambda pos, member: (1 + (3 * pos + member) % 8)
  rows = [trainer.step() for _ in range(4)]
  trainer.pool.close()
  assert rows[1]['compiles'] == rows[-1]['compiles'] == metrics.compile_count()
  assert max(r['partial_carried'] for r in rows) > 0
  if mode == 'off':
    assert trainer.partial_sampler.num_compiles == 1
  else:   # the carried round, the join of new trajectories that go on, and with 'step' the
    # prefill of each step's carried contexts; the round of new prompts
    assert trainer.kept_cache.fn.num_compiles == (2 if mode == 'keep' else 3)
    assert trainer.kept_cache.fresh.num_compiles == 1
    assert trainer.kept_cache.prefills == (0 if mode == 'keep' else 3)


def test_kept_cache_across_steps_equals_prefilling_again_when_params_stay(tokenizer,
                                                                          base_params):
  """With a learning rate of 0 the kept keys and values are the current policy's, so 'keep'
  (cache kept across steps), 'step' and 'off' must decode the same greedy trajectories (the
  modes give a trajectory different sampler rows, hence other uniforms: greedy needs none),
  step after step, carried ones included: the kept cache's row bookkeeping across steps."""
  buffers = {}
  for mode in MODES:
    trainer = _trainer(_partial_config(partial_cache=mode, prompts_per_step=4, learning_rate=0.0,
                                       temperature=0.0), tokenizer, base_params)
    trainer.target_length = lambda pos, member: (1 + (3 * pos + member) % 8)
    rows = [trainer.step() for _ in range(4)]
    assert sum(r['partial_carried'] for r in rows) > 0
    buffers[mode] = partial.to_host(trainer.state.partial)
    trainer.pool.close()
  for mode in ('step', 'off'):
    np.testing.assert_array_equal(buffers['keep'].tokens, buffers[mode].tokens)
    np.testing.assert_array_equal(buffers['keep'].lengths, buffers[mode].lengths)
    np.testing.assert_allclose(buffers['keep'].logprobs, buffers[mode].logprobs, atol=1e-5)


def test_rows_joining_the_kept_cache_continue_as_if_uninterrupted():
  """Three trajectories with prompts of 5, 3 and 6 tokens start in rounds 0, 1 and 3 of a
  kept cache (budget 3, 9 tokens, two sampler rows): the second is forced to stop after 4
  tokens and the third takes its row. Greedy: each equals one uninterrupted `sample` call."""
  budget, new, prompt_len, pad = 3, 9, 6, 0
  prompts, mask = _prompts([5, 3, 6], prompt_len, seed=3)
  cfg = sampling.SamplingConfig(max_new_tokens=new, temperature=0.0, stop_ids=(1,), pad_id=pad)
  mesh = sharding.make_mesh(ml_collections.ConfigDict({'shape': (1, 1, 1)}), jax.devices()[:1])
  segment = sampling.SamplingConfig(max_new_tokens=budget, temperature=0.0, stop_ids=(1,),
                                    pad_id=pad)
  fn = sampling.Continuation(CFG, segment, rows=2, admit=False, mesh=mesh,
                             context=prompt_len + partial.prefix_width(new, budget))
  fresh = sampling.Continuation(CFG, segment, rows=2, context=prompt_len, mesh=mesh, shift=False)
  kept = partial.KeptCache(fn, fresh, capacity=3, pad_id=pad)
  buf = partial.empty(3, new, pad)
  stop_after = {0: 0, 1: 4, 2: 0}   # trajectory 1 emits the stop id as its 4th token
  started = []
  for round_ in range(6):
    if len(started) < 3 and len(partial.running(buf)) < 2:
      buf.pos[len(started)] = len(started)
      started.append(round_)
    live = partial.running(buf)
    stop_at = np.array([max(stop_after[r] - buf.lengths[r], 0) if stop_after[r] else 0
                        for r in live], np.int32)
    host = kept.round(_params(), buf, live, prompts[live], mask[live], jax.random.key(round_),
                      stop_at)
    buf = partial.append(buf, live, host, step=0)
    kept.settle(buf)
  assert started == [0, 1, 3] and kept.prefills == 0 and partial.finished(buf).all()
  straight = jax.device_get(sampling.sample(_params(), prompts, mask, jax.random.key(0),
                                            model_cfg=CFG, cfg=cfg,
                                            stop_at=np.array([0, 4, 0], np.int32)))
  np.testing.assert_array_equal(buf.lengths, straight.lengths)
  np.testing.assert_array_equal(buf.tokens, straight.tokens)
  np.testing.assert_allclose(buf.logprobs, straight.logprobs, atol=1e-5)


def test_a_trajectory_draws_the_same_numbers_from_any_cache_row():
  """Sampled (temperature 1): the same three prompts in permuted cache rows, each keeping its
  row id, give each prompt the same tokens and log-probs; with the ids left in row order they
  do not (the draws would follow the row)."""
  prompt_len, budget = 6, 5
  prompts, mask = _prompts([5, 3, 6], prompt_len, seed=4)
  mesh = sharding.make_mesh(ml_collections.ConfigDict({'shape': (1, 1, 1)}), jax.devices()[:1])
  fn = sampling.Continuation(CFG, sampling.SamplingConfig(max_new_tokens=budget, pad_id=0),
                             rows=3, context=prompt_len, mesh=mesh, shift=False)
  real = mask.sum(axis=1)

  def run(order, ids):
    valid = np.arange(prompt_len)[None, :] >= prompt_len - real[order][:, None]
    out, _ = fn(_params(), fn.empty(), np.ones(3, bool), prompts[order], mask[order],
                prompts[order, -1], real[order] - 1, valid, jax.random.key(5), ids,
                np.zeros(3, np.int32))
    out = jax.device_get(out)
    back = np.argsort(order)
    return out.tokens[back], out.logprobs[back]

  ids = np.array([10, 11, 12], np.int32)
  tokens, logprobs = run(np.arange(3), ids)
  order = np.array([2, 0, 1])
  moved_tokens, moved_logprobs = run(order, ids[order])
  np.testing.assert_array_equal(tokens, moved_tokens)
  np.testing.assert_allclose(logprobs, moved_logprobs, atol=1e-5)
  assert not np.array_equal(tokens, run(order, ids)[0])


def test_budget_zero_leaves_the_default_path_alone(tokenizer, base_params):
  trainer = _trainer(_config(), tokenizer, base_params)
  assert trainer.state.partial is None and not hasattr(trainer, 'partial_sampler')
  seen = []
  collect = trainer.collect
  trainer.collect = lambda step: seen.append(collect(step)) or seen[-1]
  row = trainer.step()
  trainer.pool.close()
  assert seen[0][0].fresh is None and 'partial_carried' not in row
  np.testing.assert_array_equal(trainer.loss_mask(seen[0][0]), seen[0][0].mask)


@pytest.mark.parametrize('fields', [dict(partial_rollout_budget=9), dict(repeat_ngram=2),
                                    dict(partial_rollout_budget=3, dynamic_sampling=True),
                                    dict(partial_rollout_budget=3, partial_cache='always'),
                                    dict(partial_rollout_budget=3, partial_loss='some')])
def test_validation_names_the_fix(fields):
  from r1jax import config as config_lib, stages
  config = _partial_config(**{'partial_rollout_budget': 0, **fields})
  with pytest.raises(config_lib.ConfigError, match='rl.partial_rollout_budget|rl.repeat_ngram|rl.partial_cache|rl.partial_loss'):
    stages.validate(config, 1)
