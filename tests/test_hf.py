"""Hugging Face import/export against transformers (torch CPU), for Qwen2, Qwen3 and Llama 3.

Each family: a tiny random model built with transformers -> load_hf -> logits equal on a
ragged (left-padded) batch -> greedy 32 tokens equal -> save_hf -> reloaded by transformers
with the same logits; the same on a (2, 2, 2) mesh of 8 fake devices.
"""
import json

import jax
import numpy as np
import pytest
from ml_collections import ConfigDict

torch = pytest.importorskip('torch')
transformers = pytest.importorskip('transformers')

from r1jax import sampling, sharding  # noqa: E402
from r1jax.models import forward, hf  # noqa: E402

VOCAB = 128
FAMILIES = ('qwen2', 'qwen3', 'llama')


def make_hf_model(kind: str, tie: bool | None = None):
  """A random tiny transformers model of one family (weights spread out so that greedy
  decoding has no near-ties)."""
  common = dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                rms_norm_eps=1e-6)
  if kind == 'qwen2':  # q/k/v biases, tied embeddings (as Qwen2.5-0.5B/1.5B)
    config = transformers.Qwen2Config(**common, tie_word_embeddings=True if tie is None else tie)
  elif kind == 'qwen3':  # q/k norms, explicit head_dim != d_model / heads, untied
    config = transformers.Qwen3Config(**common, head_dim=16,
                                      tie_word_embeddings=bool(tie))
  else:  # Llama 3.2 style: llama3 RoPE scaling (short original context so it matters), tied
    config = transformers.LlamaConfig(
        **common, tie_word_embeddings=True if tie is None else tie,
        rope_scaling=dict(rope_type='llama3', factor=8.0, low_freq_factor=1.0,
                          high_freq_factor=4.0, original_max_position_embeddings=16))
  torch.manual_seed({'qwen2': 0, 'qwen3': 1, 'llama': 2}[kind])
  model = transformers.AutoModelForCausalLM.from_config(config).float().eval()
  with torch.no_grad():
    for p in model.parameters():
      if p.dim() > 1:
        p.normal_(0.0, 0.25)
      else:
        p.uniform_(0.5, 1.5) if p.abs().sum() else p.normal_(0.0, 0.1)  # norms vs biases
  return model


@pytest.fixture(scope='module')
def hf_dirs(tmp_path_factory):
  out = {}
  for kind in FAMILIES:
    path = str(tmp_path_factory.mktemp(kind))
    model = make_hf_model(kind)
    model.save_pretrained(path)
    out[kind] = (path, model)
  return out


def ragged_batch(seed=0):
  """Left-padded rows of lengths 40, 27, 33, 12 (valid marks real tokens)."""
  rng = np.random.RandomState(seed)
  lengths = [40, 27, 33, 12]
  tokens = rng.randint(1, VOCAB, (len(lengths), 40)).astype(np.int32)
  valid = np.zeros(tokens.shape, bool)
  for i, n in enumerate(lengths):
    valid[i, 40 - n:] = True
  tokens[~valid] = 0
  return tokens, valid


def torch_logits(model, tokens, valid):
  positions = np.maximum(np.cumsum(valid, axis=1) - 1, 0)
  with torch.no_grad():
    return model(torch.tensor(tokens, dtype=torch.long),
                 attention_mask=torch.tensor(valid, dtype=torch.long),
                 position_ids=torch.tensor(positions, dtype=torch.long)).logits.numpy()


def max_diff_on_valid(a, b, valid):
  return float(np.abs(np.asarray(a) - np.asarray(b))[valid].max())


@pytest.mark.parametrize('kind', FAMILIES)
def test_import_logits_greedy_and_export(kind, hf_dirs, tmp_path):
  path, model = hf_dirs[kind]
  cfg, params = hf.load_hf(path)
  assert cfg.qk_norm == (kind == 'qwen3') and cfg.qkv_bias == (kind == 'qwen2')
  assert cfg.tie_embeddings == (kind != 'qwen3')
  assert cfg.rope_scaling == ('llama3' if kind == 'llama' else '')
  assert ('lm_head' in params) == (not cfg.tie_embeddings)

  tokens, valid = ragged_batch()
  ref = torch_logits(model, tokens, valid)
  ours = forward(cfg, params, tokens, valid)
  assert max_diff_on_valid(ours, ref, valid) <= 1e-4

  # Greedy 32 tokens from left-padded prompts: r1jax's sampler vs transformers.generate.
  mesh = sharding.make_mesh(ConfigDict({'shape': (1, 1, 1)}), jax.devices()[:1])
  sampler = sampling.Sampler(cfg, sampling.SamplingConfig(max_new_tokens=32, temperature=0.0),
                             mesh)
  prompts, prompt_mask = tokens[:, 20:], valid[:, 20:]
  samples = jax.device_get(sampler(params, prompts, prompt_mask, jax.random.key(0)))
  with torch.no_grad():
    generated = model.generate(torch.tensor(prompts, dtype=torch.long),
                               attention_mask=torch.tensor(prompt_mask, dtype=torch.long),
                               max_new_tokens=32, min_new_tokens=32, do_sample=False,
                               pad_token_id=0, eos_token_id=None)
  np.testing.assert_array_equal(samples.tokens, generated[:, prompts.shape[1]:].numpy())

  # Export and reload with transformers: same logits.
  out = str(tmp_path / 'export')
  hf.save_hf(out, cfg, params)
  with open(f'{out}/config.json') as f:
    assert json.load(f)['model_type'] == kind
  reloaded = transformers.AutoModelForCausalLM.from_pretrained(out).float().eval()
  assert max_diff_on_valid(torch_logits(reloaded, tokens, valid), ref, valid) <= 1e-4
  # and back into r1jax: identical parameters
  cfg2, params2 = hf.load_hf(out)
  assert cfg2 == cfg
  jax.tree.map(np.testing.assert_array_equal, params2, params)


@pytest.mark.parametrize('kind', FAMILIES)
def test_import_on_8_devices(kind, hf_dirs):
  """Placed tensor by tensor with the mesh's shardings: heads/MLP/vocab split on `tensor`,
  embed on `fsdp`; the sharded forward equals transformers."""
  path, model = hf_dirs[kind]
  mesh = sharding.make_mesh(ConfigDict({'shape': (2, 2, 2)}))
  rules = sharding.DEFAULT_RULES
  cfg, params = hf.load_hf(path, mesh, rules)
  expected = hf.param_shardings(cfg, mesh, rules)
  jax.tree.map(lambda x, s: assert_same_sharding(x, s), params, expected)
  q = params['layer_0']['attn']['q']['kernel']
  assert len(q.sharding.device_set) == 8 and q.addressable_shards[0].data.shape == (16, 2, q.shape[2])
  tokens, valid = ragged_batch(1)
  with sharding.use_mesh(mesh, rules):
    ours = jax.jit(lambda p, t, v: forward(cfg, p, t, v))(params, tokens, valid)
  assert max_diff_on_valid(ours, torch_logits(model, tokens, valid), valid) <= 1e-4


def assert_same_sharding(x, s):
  assert x.sharding.is_equivalent_to(s, x.ndim), (x.sharding, s)


def test_sharded_export_index_and_bf16(hf_dirs, tmp_path):
  """Shards with an index when a file would exceed max_shard_bytes; bf16 parameters
  round-trip through transformers (torch bfloat16)."""
  path, model = hf_dirs['qwen3']
  cfg, params = hf.load_hf(path, param_dtype='bfloat16')
  assert params['embed'].dtype == jax.numpy.bfloat16 and cfg.param_dtype == 'bfloat16'
  out = str(tmp_path / 'sharded')
  hf.save_hf(out, cfg, params, max_shard_bytes=20_000)
  with open(f'{out}/model.safetensors.index.json') as f:
    files = set(json.load(f)['weight_map'].values())
  assert len(files) > 2
  reloaded = transformers.AutoModelForCausalLM.from_pretrained(out, dtype=torch.bfloat16)
  assert reloaded.model.embed_tokens.weight.dtype == torch.bfloat16
  np.testing.assert_array_equal(
      reloaded.model.embed_tokens.weight.detach().float().numpy(),
      np.asarray(params['embed'].astype(np.float32)))
  _, params2 = hf.load_hf(out, param_dtype='bfloat16')
  jax.tree.map(np.testing.assert_array_equal, params2, params)


def test_mismatched_checkpoint_is_refused(hf_dirs, tmp_path):
  path, _ = hf_dirs['qwen2']
  with open(f'{path}/config.json') as f:
    config = json.load(f)
  bad = tmp_path / 'bad'
  bad.mkdir()
  (bad / 'config.json').write_text(json.dumps({**config, 'intermediate_size': 48}))
  (bad / 'model.safetensors').write_bytes(open(f'{path}/model.safetensors', 'rb').read())
  with pytest.raises(ValueError, match='mlp.gate_proj.weight: shape'):
    hf.load_hf(str(bad))
  (bad / 'config.json').write_text(json.dumps({**config, 'model_type': 'gpt2'}))
  with pytest.raises(ValueError, match="model_type='gpt2'"):
    hf.load_hf(str(bad))
