"""Export of a run's checkpoint as a Hugging Face directory (`python -m r1jax.main --mode=export`):
params sharded on a (2, 2, 2) mesh of 8 fake devices, saved as a stage checkpoint, exported
(restored onto the mesh, gathered one tensor at a time) and loaded by transformers with the same
logits; the CLI on one device writes the same bytes; bad --stage values are refused."""
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from r1jax import checkpoint, main, sharding
from r1jax.data.tokenizer import HFTokenizer
from r1jax.models import forward, hf
from tests.conftest import make_tiny_config
from tests.hf_fixtures import write_qwen2

torch = pytest.importorskip('torch')
transformers = pytest.importorskip('transformers')
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _config(hf_dir, stages=('rl',)):
  config = make_tiny_config()
  config.stages = stages
  config.model.hf_path = hf_dir
  config.mesh.shape = (2, 2, 2)
  return config


@pytest.fixture(scope='module')
def run(tmp_path_factory):
  """A workdir whose 'rl' stage checkpoint holds changed weights, written from a 2x2x2 mesh."""
  root = tmp_path_factory.mktemp('export')
  hf_dir = write_qwen2(str(root / 'qwen2'))
  config = _config(hf_dir)
  mesh, rules = sharding.make_mesh(config.mesh), sharding.rules_from_config(config)
  model_cfg, params = hf.load_hf(hf_dir, mesh, rules)
  params = jax.tree.map(lambda x: x * 1.25 + 0.01, params)  # "trained": differs from hf_dir
  assert not all(x.sharding.is_fully_replicated for x in jax.tree.leaves(params))
  workdir = str(root / 'workdir')
  ckpt = checkpoint.Checkpointer(workdir, 'rl', every=0, keep=1)
  ckpt.maybe_save(7, {'train': {'params': params}}, force=True)
  ckpt.close()
  HFTokenizer(hf_dir).save(os.path.join(workdir, 'tokenizer'))
  return dict(hf_dir=hf_dir, workdir=workdir, config=config, model_cfg=model_cfg,
              params=jax.device_get(params))


def test_export_from_a_sharded_checkpoint_loads_in_transformers(run, tmp_path, monkeypatch):
  gathered = []
  host_array = hf._host_array

  def spy(x):
    gathered.append((x.shape, len(x.sharding.device_set), x.sharding.is_fully_replicated))
    return host_array(x)
  monkeypatch.setattr(hf, '_host_array', spy)
  out = main.export_stage(run['config'], run['workdir'], str(tmp_path / 'out'))  # stage: 'rl'

  # each tensor gathered on its own, from arrays living on all 8 devices, some sharded
  names = hf.SafetensorsReader(out).entries
  assert len(gathered) == len(names) == len(jax.tree.leaves(run['params']))
  assert all(devices == 8 for _, devices, _ in gathered)
  assert not all(replicated for _, _, replicated in gathered)

  model = transformers.AutoModelForCausalLM.from_pretrained(out).float().eval()
  tokens = np.random.RandomState(0).randint(0, run['model_cfg'].vocab_size, (2, 9))
  with torch.no_grad():
    want = model(torch.tensor(tokens)).logits.numpy()
  got = np.asarray(forward(run['model_cfg'], run['params'], tokens))
  assert np.abs(got - want).max() <= 1e-4
  _, original = hf.load_hf(run['hf_dir'])  # the export is the checkpoint, not model.hf_path
  assert not np.allclose(np.asarray(forward(run['model_cfg'], original, tokens)), want)

  tok = transformers.AutoTokenizer.from_pretrained(out)  # the workdir's tokenizer travels
  text = 'Natalia sold 48 clips <think> 数学 </think>'
  assert tok(text)['input_ids'] == HFTokenizer(out).encode(text)
  for name in ('tokenizer_config.json', 'generation_config.json'):
    assert open(os.path.join(out, name)).read() == open(
        os.path.join(run['workdir'], 'tokenizer', name)).read()


def test_export_dtype_and_bad_stages(run, tmp_path):
  out = main.export_stage(run['config'], run['workdir'], str(tmp_path / 'bf16'), 'rl', 'bfloat16')
  assert {info['dtype'] for _, _, info in hf.SafetensorsReader(out).entries.values()} == {'BF16'}
  with pytest.raises(ValueError, match=r"--stage='sft' is not in config.stages=\('rl',\)"):
    main.export_stage(run['config'], run['workdir'], str(tmp_path / 'x'), 'sft')
  config = _config(run['hf_dir'], stages=('rl', 'rm'))
  config.stage_kinds = {'rm': 'reward_model'}
  with pytest.raises(ValueError, match='is a reward model'):
    main.export_stage(config, run['workdir'], str(tmp_path / 'x'), 'rm')
  with pytest.raises(ValueError, match='has no checkpoint of'):
    main.export_stage(_config(run['hf_dir'], ('pretrain',)), run['workdir'], str(tmp_path / 'x'))


@pytest.mark.slow
def test_export_cli_on_one_device_writes_the_same_tensors(run, tmp_path):
  """The command a user runs, with a real config, restoring onto a 1-device mesh."""
  out = str(tmp_path / 'cli')
  env = dict(os.environ, PYTHONPATH=ROOT, JAX_PLATFORMS='cpu')
  env.pop('XLA_FLAGS', None)
  subprocess.run(
      [sys.executable, '-m', 'r1jax.main', '--mode=export',
       f'--config={ROOT}/configs/qwen2_5_1_5b_r1_zero_gsm8k.py:mesh=cpu,hf_path={run["hf_dir"]}',
       f'--workdir={run["workdir"]}', f'--out={out}'], check=True, cwd=ROOT, env=env,
      timeout=300)
  reference = main.export_stage(run['config'], run['workdir'], str(tmp_path / 'ref'))
  for name in ('model.safetensors', 'config.json', 'tokenizer.json'):
    assert open(os.path.join(out, name), 'rb').read() == open(
        os.path.join(reference, name), 'rb').read(), name
