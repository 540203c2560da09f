"""k1.5 partial rollouts (arXiv 2501.12599 §2.6.2): the buffer of trajectories in flight.

  python -m r1jax.main --config=configs/quickstart.py --config.rl.partial_rollout_budget=16 ...

With rl.partial_rollout_budget = b > 0 a rollout round gives every trajectory at most b new
tokens. A trajectory that has not ended stays in the buffer and the next round continues it,
its next b tokens appended. Where its context comes from is rl.partial_cache:
  'keep' (default): its KV cache, kept on the devices between rounds and across RL steps
    (`KeptCache`, `sampling.Continuation`): a round costs only its new tokens (and the
    prefill of new prompts). Across a step the kept keys and values are the previous policy's
    (as an in-flight weight update would leave them), so the sampler's log-probs of a
    continued segment are those of the policy that sampled it, not exactly the updated
    policy's teacher-forced ones: the first update's ratio is 1 up to that difference (the
    ratio is the importance weight of that behaviour policy). The cache is not checkpointed:
    the first round after a restore prefills the carried contexts under the restored params.
  'step': kept between the rounds of a step, prefilled again at each step's first round under
    the current params: on-policy (first ratio exactly 1) and bit-exact across a restore.
  'off': every round prefills prompt + completion so far again (the plain sampler, left-padded
    to one fixed width — the longest a running trajectory can be — so nothing recompiles). Rounds repeat until rl.prompts_per_step groups are complete — a
group (the G samples of one prompt) is scored and advantaged only once all of its samples
ended; finished samples wait in the buffer for their group. Free sampler rows take new
prompts, a whole group at a time. Unfinished trajectories left when a step has its groups
are carried into the next step (and into the checkpoint: `Buffer` is part of RLState),
continued by the updated policy.

What enters the loss (§2.6.2 and Figure 3b, paraphrased: only the current iteration needs
on-policy computation; earlier segments are reused from the replay buffer, not re-rolled
out; segments may be left out of the loss), with rl.partial_loss='fresh' (the default): only
the tokens generated during the current RL step (`born == step`), by the policy being
updated. Their old log-probs are the sampler's, so the first update's ratio is exactly 1 and
no stale behaviour policy enters a ratio. Segments from earlier steps are context only
(teacher-forced prefix, not in the loss and not in any ratio). The whole trajectory's reward scores it, and the group baseline uses
every sample of the group — also those that ended in an earlier step and so have no loss
tokens left. The cost of that choice: a sample that finished early in a slow group gives
the group its baseline but no gradient of its own; the alternative (every segment in the
loss with the stored behaviour log-probs as old policy) would put off-policy ratios into
the clipped surrogate, which k1.5's objective (old policy = the iteration's policy) does not
have. rl.partial_loss='all' takes that alternative: every token of a finished group is trained
once, against the log-prob of the policy that sampled it.

Repeated text (rl.repeat_ngram = n > 0): after each round, a trajectory whose latest b tokens
have more than REPEAT_RATIO of their token n-grams repeated (rewards.format.repetition_ratio)
is ended there and its reward lowered by rl.repeat_penalty.
"""
import flax.struct
import jax
import numpy as np

from r1jax import sampling
from r1jax.config import require
from r1jax.rewards.format import repetition_ratio

REPEAT_RATIO = 0.5   # share of repeated n-grams in the latest segment that ends a trajectory


@flax.struct.dataclass
class Buffer:
  """Trajectories in flight, C rows of fixed shape (so that it checkpoints as it is)."""
  pos: jax.Array       # int32 [C]: its prompt's stream position (the group); -1 = free row
  member: jax.Array    # int32 [C]: the sample's index in its group, 0..G-1
  tokens: jax.Array    # int32 [C, N]: the completion so far, pad after it
  logprobs: jax.Array  # float32 [C, N]: the sampler's log-probs of those tokens
  born: jax.Array      # int32 [C, N]: the RL step that generated each token (-1 = none yet)
  lengths: jax.Array   # int32 [C]
  stopped: jax.Array   # bool [C]: ended with a stop id
  repeated: jax.Array  # bool [C]: ended by repeated-text detection


def empty(capacity: int, max_new_tokens: int, pad_id: int) -> Buffer:
  shape = (capacity, max_new_tokens)
  return Buffer(pos=np.full(capacity, -1, np.int32), member=np.zeros(capacity, np.int32),
                tokens=np.full(shape, pad_id, np.int32), logprobs=np.zeros(shape, np.float32),
                born=np.full(shape, -1, np.int32), lengths=np.zeros(capacity, np.int32),
                stopped=np.zeros(capacity, bool), repeated=np.zeros(capacity, bool))


def to_host(buf: Buffer) -> Buffer:
  """A writable numpy copy (the state holds device arrays)."""
  return jax.tree.map(lambda x: np.array(x), jax.device_get(buf))


def finished(buf: Buffer) -> np.ndarray:
  """bool [C]: rows whose trajectory ended (stop id, repeated text, or max_new_tokens)."""
  full = buf.lengths >= buf.tokens.shape[1]
  return (buf.pos >= 0) & (buf.stopped | buf.repeated | full)


def running(buf: Buffer) -> np.ndarray:
  """Indices of the rows still generating."""
  return np.nonzero((buf.pos >= 0) & ~finished(buf))[0]


def complete_groups(buf: Buffer, group: int) -> np.ndarray:
  """Stream positions of the groups whose G samples all ended, oldest first."""
  done = finished(buf)
  positions, counts = np.unique(buf.pos[done], return_counts=True)
  return positions[counts == group]


def admit(buf: Buffer, cursor: int, group: int, free_rows: int) -> tuple[Buffer, int]:
  """New groups from the prompt stream at `cursor` into free buffer rows, as many whole
  groups as fit in `free_rows` sampler rows and the buffer; returns (buffer, new cursor)."""
  free = np.nonzero(buf.pos < 0)[0]
  count = min(free_rows, len(free)) // group
  rows = free[:count * group]
  buf.pos[rows] = cursor + np.repeat(np.arange(count), group)
  buf.member[rows] = np.tile(np.arange(group), count)
  buf.lengths[rows], buf.stopped[rows], buf.repeated[rows] = 0, False, False
  return buf, cursor + count


def prefix_width(max_new_tokens: int, budget: int) -> int:
  """The longest completion a running trajectory can have: it gets whole segments of `budget`
  tokens (a shorter one ends it), so a multiple of the budget below max_new_tokens."""
  return budget * ((max_new_tokens - 1) // budget)


def contexts(buf: Buffer, rows, prompt_tokens, prompt_mask, pad_id: int, budget: int):
  """Prompt + completion so far of each row, left-padded to one width P + prefix_width:
  [len(rows), width] tokens and mask. The real tokens keep their positions (the sampler counts
  them from the first real one), so continuing equals never having stopped."""
  width = prompt_tokens.shape[1] + prefix_width(buf.tokens.shape[1], budget)
  tokens = np.full((len(rows), width), pad_id, np.int32)
  mask = np.zeros((len(rows), width), bool)
  for i, r in enumerate(rows):
    real = np.concatenate([prompt_tokens[i][prompt_mask[i]], buf.tokens[r, :buf.lengths[r]]])
    tokens[i, width - len(real):], mask[i, width - len(real):] = real, True
  return tokens, mask


def append(buf: Buffer, rows, samples, step: int, repeat_ngram: int = 0) -> Buffer:
  """Each row's new segment (host `samples` of the continuation, one row per `rows` entry),
  cut at max_new_tokens; then repeated-text detection on the segment. A segment shorter than
  the budget ended with a stop id: a running row's length is a multiple of the budget."""
  n = buf.tokens.shape[1]
  for i, r in enumerate(rows):
    start = int(buf.lengths[r])
    keep = min(int(samples.lengths[i]), n - start)
    buf.tokens[r, start:start + keep] = samples.tokens[i, :keep]
    buf.logprobs[r, start:start + keep] = samples.logprobs[i, :keep]
    buf.born[r, start:start + keep] = step
    buf.lengths[r] = start + keep
    buf.stopped[r] = bool(samples.stopped[i]) and keep == int(samples.lengths[i])
    if repeat_ngram and not buf.stopped[r] and keep:
      buf.repeated[r] = repetition_ratio(samples.tokens[i, :keep].tolist(),
                                         repeat_ngram) > REPEAT_RATIO
  return buf


def group_rows(buf: Buffer, positions, group: int) -> np.ndarray:
  """Buffer rows of these groups, group-major and by member (the trainer's row order)."""
  rows = []
  for p in positions:
    mine = np.nonzero(buf.pos == p)[0]
    rows.extend(mine[np.argsort(buf.member[mine])][:group])
  return np.asarray(rows, np.int64)


def release(buf: Buffer, rows, pad_id: int) -> Buffer:
  """Frees rows whose group went to the update."""
  buf.pos[rows], buf.lengths[rows] = -1, 0
  buf.tokens[rows], buf.logprobs[rows], buf.born[rows] = pad_id, 0.0, -1
  buf.stopped[rows], buf.repeated[rows] = False, False
  return buf


class KeptCache:
  """The KV caches of the running trajectories kept between rounds (rl.partial_cache 'keep' or
  'step'; `sampling.Continuation`), in two widths:
    fresh (`fresh`, contexts of P slots): a round's new prompts, prefilled and decoded for b
      tokens in a [R, ..., P + b] cache;
    carried (`fn`, contexts of C = P + prefix_width slots): the trajectories continued from an
      earlier round, each right-aligned in a [R, ..., C + b] cache; sampler row `slot_of[r]`
      holds buffer row r. A round forwards each row's last token first, so only its new
      segment costs decode steps: nothing is prefilled again.
  After a round (`settle`), the new trajectories that go on are moved into free rows of the
  carried cache (`join_rows`, a copy on the devices). Most of a round's rows are new and end
  within their first segment: in the narrow cache their decode steps read P + b slots instead
  of C + b (attention over the cache is most of a decode step's cost on a CPU).
  A continued row without a kept cache (the first round after a restore: the cache is not in
  the checkpoint; every step's first round with 'step') makes that round prefill every
  continued row's whole context again, as with 'off'."""

  def __init__(self, continuation, fresh, capacity: int, pad_id: int):
    self.fn, self.fresh, self.pad_id = continuation, fresh, pad_id
    self.cache = self.fresh_cache = None
    self.slot_of = np.full(capacity, -1, np.int64)   # buffer row -> carried sampler row
    self.joining = None   # (fresh cache, buffer rows, their fresh rows) of the last round
    self.prefills = 0   # rounds that prefilled whole contexts again

  def drop(self) -> None:
    self.slot_of[:] = -1

  def round(self, params, buf: Buffer, live, prompt_tokens, prompt_mask, rng, stop_at):
    """Host Samples of the next segment of each `live` buffer row (in that order);
    prompt_tokens / prompt_mask [len(live), P]: their prompts; stop_at [len(live)]."""
    live = np.asarray(live)
    new = buf.lengths[live] == 0
    parts = []   # a trajectory's draws follow its buffer row (row_ids), not its cache row
    if (~new).any():
      parts.append((~new, self._continue(params, buf, live[~new], prompt_tokens[~new],
                                         prompt_mask[~new], rng, stop_at[~new])))
    if new.any():
      parts.append((new, self._start(params, live[new], prompt_tokens[new], prompt_mask[new],
                                     rng, stop_at[new])))
    if not parts:
      budget = self.fn.cfg.max_new_tokens
      return sampling.Samples(tokens=np.zeros((0, budget), np.int32),
                              logprobs=np.zeros((0, budget), np.float32),
                              mask=np.zeros((0, budget), bool), lengths=np.zeros(0, np.int32),
                              stopped=np.zeros(0, bool))
    out = jax.tree.map(lambda x: np.zeros((len(live),) + x.shape[1:], x.dtype), parts[0][1])
    for which, host in parts:
      for field, part in zip(jax.tree.leaves(out), jax.tree.leaves(host)):
        field[which] = part
    return out

  def _idle_stop(self, rows: int) -> np.ndarray:
    """stop_at of sampler rows without a trajectory: stop at once (if there is a stop id)."""
    return np.full(rows, 1 if self.fn.cfg.stop_ids else 0, np.int32)

  def _free_rows(self) -> list:
    """Carried-cache rows that hold no running trajectory."""
    taken = set(self.slot_of[self.slot_of >= 0].tolist())
    return [s for s in range(self.fn.rows) if s not in taken]

  def _row_ids(self, rows: int, slot, live) -> np.ndarray:
    """Each sampler row's id for its uniforms: the buffer row it holds (idle: past them)."""
    ids = len(self.slot_of) + np.arange(rows, dtype=np.int32)
    ids[slot] = live
    return ids

  def _start(self, params, live, prompt_tokens, prompt_mask, rng, stop_at):
    """New trajectories' first segment, in the fresh cache (kept for `settle`)."""
    rows, prompt_len = self.fresh.rows, prompt_tokens.shape[1]
    slot = np.arange(len(live))
    prompts = np.full((rows, prompt_len), self.pad_id, np.int32)
    mask = np.zeros((rows, prompt_len), bool)
    prompts[slot], mask[slot] = prompt_tokens, prompt_mask
    real = prompt_mask.sum(axis=1)
    key_valid = np.zeros((rows, prompt_len), bool)
    key_valid[slot] = np.arange(prompt_len)[None, :] >= prompt_len - real[:, None]
    last_pos = np.zeros(rows, np.int32)
    last_pos[slot] = real - 1
    row_stop = self._idle_stop(rows)
    row_stop[slot] = stop_at
    cache = self.fresh.empty() if self.fresh_cache is None else self.fresh_cache
    self.fresh_cache = None   # donated
    samples, cache = self.fresh(params, cache, np.ones(rows, bool), prompts, mask,
                                prompts[:, -1], last_pos, key_valid, rng,
                                self._row_ids(rows, slot, live), row_stop)
    self.joining = (cache, live, slot)
    return jax.tree.map(lambda x: np.asarray(x)[slot], jax.device_get(samples))

  def _continue(self, params, buf: Buffer, live, prompt_tokens, prompt_mask, rng, stop_at):
    """Continued trajectories' next segment, from the carried cache (prefilled again first if
    a row has none)."""
    rows, context, budget = self.fn.rows, self.fn.context, self.fn.cfg.max_new_tokens
    refresh = self.cache is None or (self.slot_of[live] < 0).any()
    if refresh:
      self.slot_of[:] = -1
      self.prefills += 1
    unplaced = live[self.slot_of[live] < 0]
    self.slot_of[unplaced] = self._free_rows()[:len(unplaced)]
    slot = self.slot_of[live]
    real = prompt_mask.sum(axis=1) + buf.lengths[live]   # context tokens of each live row
    key_valid = np.zeros((rows, context), bool)
    key_valid[:, -1] = True   # idle rows attend to their own slot only
    key_valid[slot] = np.arange(context)[None, :] >= context - real[:, None]
    last_token = np.full(rows, self.pad_id, np.int32)
    last_token[slot] = buf.tokens[live, buf.lengths[live] - 1]
    last_pos = np.zeros(rows, np.int32)
    last_pos[slot] = real - 1
    row_stop = self._idle_stop(rows)
    row_stop[slot] = stop_at
    if refresh:
      tokens, ctx_mask = contexts(buf, live, prompt_tokens, prompt_mask, self.pad_id, budget)
      full = np.full((rows, context), self.pad_id, np.int32)
      full_mask = np.zeros((rows, context), bool)
      full[slot], full_mask[slot] = tokens, ctx_mask
      self.cache = self.fn.prefill(params, full, full_mask)
    no_prompt = np.zeros((rows, 1), np.int32)   # admit=False: no row is new
    samples, self.cache = self.fn(params, self.cache, np.zeros(rows, bool), no_prompt,
                                  no_prompt.astype(bool), last_token, last_pos, key_valid, rng,
                                  self._row_ids(rows, slot, live), row_stop)
    return jax.tree.map(lambda x: np.asarray(x)[slot], jax.device_get(samples))

  def settle(self, buf: Buffer) -> None:
    """After `append`: rows that ended (or left the buffer) give their carried row back, and
    the round's new trajectories that go on move from the fresh cache into free ones."""
    going = running(buf)
    ended = np.ones(len(self.slot_of), bool)
    ended[going] = False
    self.slot_of[ended] = -1
    if self.joining is None:
      return
    self.fresh_cache, rows, fresh_rows = self.joining
    self.joining = None
    on = np.isin(rows, going)
    if not on.any():
      return
    count = self.fn.rows
    free = self._free_rows()[:on.sum()]
    src, dst = np.zeros(count, np.int32), np.full(count, count, np.int32)
    src[:len(free)], dst[:len(free)] = fresh_rows[on], free
    self.slot_of[rows[on]] = free
    if self.cache is None:
      self.cache = self.fn.empty()
    self.cache = self.fn.join(self.cache, self.fresh_cache, src, dst)


def validate_config(r) -> None:
  """k1.5 partial rollouts (r1jax/train/partial.py) and repeated-text detection."""
  require(0 <= r.partial_rollout_budget <= r.max_new_tokens,
          f'rl.partial_rollout_budget={r.partial_rollout_budget} must be in [0, '
          f'rl.max_new_tokens={r.max_new_tokens}] (0 = off)')
  require(r.repeat_ngram >= 0, f'rl.repeat_ngram={r.repeat_ngram} must be >= 0 (0 = off)')
  require(r.partial_cache in ('keep', 'step', 'off'),
          f"rl.partial_cache={r.partial_cache!r} must be 'keep', 'step' or 'off'")
  require(r.partial_loss in ('fresh', 'all'),
          f"rl.partial_loss={r.partial_loss!r} must be 'fresh' or 'all'")
  if not r.partial_rollout_budget:
    require(r.repeat_ngram == 0, f'rl.repeat_ngram={r.repeat_ngram} needs partial rollouts '
                                  '(rl.partial_rollout_budget > 0), which check each segment')
    return
  require(not r.dynamic_sampling and r.sampling == 'uniform' and not r.reward_model_stage,
          'rl.partial_rollout_budget > 0 reads prompts from the uniform stream only: set '
          "rl.dynamic_sampling=False, rl.sampling='uniform' and rl.reward_model_stage=''")
  require(jax.process_count() == 1, 'rl.partial_rollout_budget > 0 keeps its buffer on one '
                                     'host: run on a single process or set it to 0')
