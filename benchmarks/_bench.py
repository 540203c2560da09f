"""What the GRPO benchmarks share: the spec's workload pieces, forced completion lengths and
the machine's matmul peak (measured in the same process, so ratios hold under load)."""
import os
import pathlib
import platform
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from r1jax import platform as r1platform  # noqa: E402  (CPU defaults before jax starts)

r1platform.configure()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402


def typed_like(old, text: str):
  """An --ab override's text as the type of the value it replaces ('1'/'true' for bools)."""
  return text.lower() in ('1', 'true') if isinstance(old, bool) else type(old)(text)


def completion_lengths(spec: dict, call: int, rows: int) -> np.ndarray:
  """The forced stop of each row for the `call`-th rollout (0 = not forced), as the spec's
  rollout.completion_lengths says; zeros when the spec has none."""
  how = spec['rollout'].get('completion_lengths')
  if not how:
    return np.zeros(rows, np.int32)
  u = np.random.default_rng([how['seed'], call]).random(rows)
  short = u < how['short_fraction']
  span = how['short_max'] - how['short_min'] + 1
  lengths = how['short_min'] + np.floor(u / how['short_fraction'] * span).astype(np.int32)
  return np.where(short, lengths, 0).astype(np.int32)


class ForcedLengths:
  """A Sampler whose rows stop at the spec's drawn lengths (one draw per call)."""

  def __init__(self, sampler, spec: dict):
    self.sampler, self.spec, self.calls = sampler, spec, 0

  def __call__(self, params, prompts, prompt_mask, rng, stop_at=None, prefix_len=0):
    rows = prompts.shape[0] * self.sampler.cfg.group_size
    stop_at = completion_lengths(self.spec, self.calls, rows)
    self.calls += 1
    return self.sampler(params, prompts, prompt_mask, rng, stop_at=stop_at,
                        prefix_len=prefix_len)

  def __getattr__(self, name):
    return getattr(self.sampler, name)


def median_s(fn, *args, runs: int) -> float:
  """Median seconds of `runs` blocking calls fn(*args), after one untimed call (compiles)."""
  jax.block_until_ready(fn(*args))
  times = []
  for _ in range(runs):
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - start)
  return float(np.median(times))


def matmul_peak_gflops(n: int = 2048, runs: int = 10) -> float:
  """fp32 matmul throughput of this machine (median of `runs`), the floors' denominator."""
  a = jnp.ones((n, n), jnp.float32)
  return 2 * n ** 3 / median_s(jax.jit(lambda x: x @ x), a, runs=runs) / 1e9


def cpu_flags() -> str:
  """The widest x86 vector extensions of this CPU: 'AMX', 'AVX-512' or 'AVX2' (else '')."""
  try:
    flags = set(pathlib.Path('/proc/cpuinfo').read_text().split('flags')[1].split('\n')[0].split())
  except (OSError, IndexError):
    return ''
  for name, flag in (('AMX', 'amx_tile'), ('AVX-512', 'avx512f'), ('AVX2', 'avx2')):
    if flag in flags:
      return name
  return ''


def machine() -> dict:
  return {'devices': f'{jax.device_count()} x {jax.devices()[0].device_kind}',
          'backend': jax.default_backend(), 'cpu_count': os.cpu_count(),
          'cpu_vector_isa': cpu_flags(), 'machine': platform.machine(), 'jax': jax.__version__,
          'xla_flags': os.environ.get('XLA_FLAGS', ''), 'cpu_malloc': r1platform.CPU_MALLOC,
          'date': time.strftime('%Y-%m-%d'),
          'load_average_1min': round(os.getloadavg()[0], 2)}


def decode_tokenizer(vocab_size: int):
  """The r1jax trainer's tokenizer for the spec's vocab: trained on synthetic task text, it
  only decodes completions on the host side, as in training (prompts are random ids)."""
  from r1jax.data import corpus, tasks, tokenizer as tokenizer_lib  # pylint: disable=g-import-not-at-top
  with tempfile.TemporaryDirectory() as tmp:
    examples = tasks.make_examples(('arithmetic', 'countdown'), 'train', 2000, 0, (1, 2))
    return tokenizer_lib.train_tokenizer(corpus.tokenizer_corpus(examples), vocab_size,
                                         os.path.join(tmp, 'tok'))


def hf_qwen2(spec_model: dict, seed: int):
  """A random-init fp32 transformers Qwen2ForCausalLM of the spec's shape (q/k/v biases,
  untied embeddings), in train mode. Needs torch and transformers (the `test` extra)."""
  import torch  # pylint: disable=g-import-not-at-top
  import transformers  # pylint: disable=g-import-not-at-top
  m = spec_model
  torch.manual_seed(seed)
  return transformers.Qwen2ForCausalLM(transformers.Qwen2Config(
      vocab_size=m['vocab_size'], hidden_size=m['d_model'], intermediate_size=m['d_ff'],
      num_hidden_layers=m['n_layers'], num_attention_heads=m['n_heads'],
      num_key_value_heads=m['n_kv_heads'], rope_theta=m['rope_theta'],
      rms_norm_eps=m['rms_norm_eps'], tie_word_embeddings=False))


def interleaved_steps(trainers: dict, steps: int, probe=None, every: int = 0) -> dict:
  """{name: [step metrics + 'wall_s']}: `steps` GRPOTrainer steps of each trainer, taken in
  turn (A, B, A, B, ...) so that both see the same machine load. With `every` > 0, each
  trainer's step number every, 2 every, ... also gets row['probe'] = probe(trainer), outside
  the timed step."""
  rows = {k: [] for k in trainers}
  for i in range(steps):
    for name, trainer in trainers.items():
      start = time.perf_counter()
      row = trainer.step()
      row['wall_s'] = time.perf_counter() - start
      if every and (i + 1) % every == 0:
        row['probe'] = probe(trainer)
      rows[name].append(row)
  return rows
