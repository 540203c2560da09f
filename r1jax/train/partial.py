"""k1.5 partial rollouts (arXiv 2501.12599 §2.6.2): the buffer of trajectories in flight.

  python -m r1jax.main --config=configs/quickstart.py --config.rl.partial_rollout_budget=16 ...

With rl.partial_rollout_budget = b > 0 a rollout round gives every trajectory at most b new
tokens. A trajectory that has not ended stays in the buffer and the next round continues it:
its prompt + completion so far is the new prefix (the sampler's own prefill, left-padded to
one fixed width — the longest a running trajectory can be — so nothing recompiles), and its
next b tokens are appended. Rounds repeat until rl.prompts_per_step groups are complete — a
group (the G samples of one prompt) is scored and advantaged only once all of its samples
ended; finished samples wait in the buffer for their group. Free sampler rows take new
prompts, a whole group at a time. Unfinished trajectories left when a step has its groups
are carried into the next step (and into the checkpoint: `Buffer` is part of RLState),
continued by the updated policy.

What enters the loss (§2.6.2 and Figure 3b, paraphrased: only the current iteration needs
on-policy computation; earlier segments are reused from the replay buffer, not re-rolled
out; segments may be left out of the loss): only the tokens generated during the
current RL step (`born == step`), by the policy being updated. Their old log-probs are the
sampler's, so the first update's ratio is exactly 1 and no stale behaviour policy enters a
ratio. Segments from earlier steps are context only (teacher-forced prefix, not in the loss
and not in any ratio). The whole trajectory's reward scores it, and the group baseline uses
every sample of the group — also those that ended in an earlier step and so have no loss
tokens left. The cost of that choice: a sample that finished early in a slow group gives
the group its baseline but no gradient of its own; the alternative (every segment in the
loss with the stored behaviour log-probs as old policy) would put off-policy ratios into
the clipped surrogate, which k1.5's objective (old policy = the iteration's policy) does not
have.

Repeated text (rl.repeat_ngram = n > 0): after each round, a trajectory whose latest b tokens
have more than REPEAT_RATIO of their token n-grams repeated (data.rejection.repetition_ratio)
is ended there and its reward lowered by rl.repeat_penalty.
"""
import flax.struct
import jax
import numpy as np

from r1jax.data.rejection import repetition_ratio

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
