"""Pretraining: overfitting, checkpoint/resume giving the identical next steps, restoring
onto another mesh, saving on interruption, metrics and plots in the workdir."""
import json
import shutil

import jax
import ml_collections
import numpy as np
import pytest

from etils import epath

from r1jax import checkpoint, evaluate, main, metrics, sharding
from r1jax.data import pipeline
from r1jax.models import ModelConfig
from r1jax.train import pretrain, state as state_lib

CFG = ModelConfig(vocab_size=64, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=64)


def _train_cfg(**kw):
  return ml_collections.ConfigDict(dict(
      steps=200, learning_rate=1e-2, warmup_steps=10, min_lr_ratio=0.1, weight_decay=0.0,
      b1=0.9, b2=0.95, grad_clip=1.0, **kw))


def _one_device_mesh():
  return sharding.make_mesh(ml_collections.ConfigDict({'shape': (1, 1, 1)}), jax.devices()[:1])


def test_overfits_a_tiny_batch():
  mesh, rules = _one_device_mesh(), sharding.DEFAULT_RULES
  tx = state_lib.make_optimizer(_train_cfg())
  state, shardings = state_lib.create_train_state(CFG, tx, jax.random.key(0), mesh, rules)
  rs = np.random.RandomState(0)
  batch = {'tokens': rs.randint(4, 64, (4, 16)).astype(np.int32),
           'loss_mask': np.ones((4, 16), np.float32)}
  with sharding.use_mesh(mesh, rules):
    train_step, _ = pretrain.compile_steps(CFG, tx, mesh, rules, shardings)
    batch = sharding.put_batch(batch, mesh)
    first = None
    for _ in range(200):
      state, metrics = train_step(state, batch)
      first = first if first is not None else float(metrics['loss'])
  assert first > 3.5 and float(metrics['loss']) < 0.05
  assert int(state.step) == 200


def test_restore_onto_another_mesh(tmp_path):
  assert jax.device_count() == 8
  tx = state_lib.make_optimizer(_train_cfg())
  mesh_a = sharding.make_mesh(ml_collections.ConfigDict({'shape': (8, 1, 1)}))
  state, _ = state_lib.create_train_state(CFG, tx, jax.random.key(1), mesh_a,
                                          sharding.DEFAULT_RULES)
  ckpt = checkpoint.Checkpointer(str(tmp_path), 'pretrain', every=1, keep=1)
  assert ckpt.maybe_save(7, state)
  ckpt.wait()
  for shape, devices in [((2, 2, 2), jax.devices()), ((1, 1, 1), jax.devices()[:1])]:
    mesh_b = sharding.make_mesh(ml_collections.ConfigDict({'shape': shape}), devices)
    target, _ = state_lib.create_train_state(CFG, tx, jax.random.key(2), mesh_b,
                                             sharding.DEFAULT_RULES)
    restored = ckpt.restore(target)
    for got, want, like in zip(jax.tree.leaves(restored), jax.tree.leaves(state),
                               jax.tree.leaves(target)):
      np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
      assert got.sharding == like.sharding
  ckpt.close()


def _run(config, workdir):
  config.mesh.shape = (1, 1, 1)
  mesh = sharding.make_mesh(config.mesh, jax.devices()[:1])
  tokenizer = main.load_or_train_tokenizer(config, str(workdir))
  return pretrain.run(config, str(workdir), tokenizer, mesh, sharding.DEFAULT_RULES)


def test_resume_gives_the_identical_next_steps(tmp_path, tiny_config):
  uninterrupted = _run(tiny_config, tmp_path)   # saves at steps 2 and 4
  shutil.rmtree(tmp_path / 'checkpoints' / 'pretrain' / '4')
  resumed = _run(tiny_config, tmp_path)         # resumes at step 2
  assert int(resumed.step) == 4
  for got, want in zip(jax.tree.leaves(resumed), jax.tree.leaves(uninterrupted)):
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))

  rows = [json.loads(line) for line in open(tmp_path / 'metrics.jsonl')]
  assert {r['stage'] for r in rows} == {'pretrain'}
  assert [r['step'] for r in rows if 'loss' in r] == [1, 2, 3, 4, 3, 4]
  final = rows[-1]
  assert 'eval/loss' in final
  assert {'eval/accuracy/arithmetic', 'eval/accuracy/countdown', 'eval/accuracy/level1'} <= set(final)
  # the logged evaluation is that of the returned params (the evaluator's key is fixed), and
  # its accuracy, format and length are the means over its completions
  tokenizer = main.load_or_train_tokenizer(tiny_config, str(tmp_path))
  mesh = sharding.make_mesh(tiny_config.mesh, jax.devices()[:1])
  again, done = evaluate.Evaluator(tiny_config, tokenizer, mesh,
                                   sharding.DEFAULT_RULES).evaluate(resumed.params)
  assert {k: final.get(k) for k in again} == again
  assert len(done) == 8 * 2
  for key, field in (('accuracy', 'correct'), ('format', 'format'), ('response_len', 'length')):
    assert final[f'eval/{key}'] == pytest.approx(np.mean([d[field] for d in done]))
  for task in ('arithmetic', 'countdown', 'linear_equation'):
    assert final[f'eval/accuracy/{task}'] == pytest.approx(
        np.mean([d['correct'] for d in done if d['task'] == task]))
  assert all(d['correct'] == 0 for d in done if d['answer'] is None)   # no answer, no credit
  assert (tmp_path / 'pretrain_curves.png').stat().st_size > 1000
  assert list((tmp_path / 'tensorboard' / 'pretrain').glob('events.out.tfevents.*'))
  assert (tmp_path / 'tokenizer').is_dir()


def test_interruption_saves_the_current_step(tmp_path, tiny_config, monkeypatch):
  original = pipeline.BatchIterator.batch

  def batch(self, step):
    if step == 3:
      raise KeyboardInterrupt
    return original(self, step)
  monkeypatch.setattr(pipeline.BatchIterator, 'batch', batch)
  with pytest.raises(KeyboardInterrupt):
    _run(tiny_config, tmp_path)
  ckpt = checkpoint.Checkpointer(str(tmp_path), 'pretrain', every=2, keep=3)
  assert ckpt.latest_step() == 3   # not a multiple of checkpoint.every: saved on the way out
  ckpt.close()
  monkeypatch.setattr(pipeline.BatchIterator, 'batch', original)
  assert int(_run(tiny_config, tmp_path).step) == 4   # resumes from what it saved:
  rows = [json.loads(line) for line in open(tmp_path / 'metrics.jsonl')]
  assert [r['step'] for r in rows if 'loss' in r] == [1, 2, 3, 4]   # steps 1-3 not retrained


def _events(path):
  """(tag, step, value) of the scalar summaries in a TFRecord event file."""
  from tensorboardX.proto import event_pb2  # pylint: disable=g-import-not-at-top
  data, out, at = path.read_bytes(), [], 0
  while at < len(data):
    size = int.from_bytes(data[at:at + 8], 'little')
    event = event_pb2.Event.FromString(data[at + 12:at + 12 + size])
    out += [(v.tag, event.step, v.simple_value) for v in event.summary.value]
    at += 12 + size + 4
  return out


def test_tensorboard_for_a_remote_workdir_goes_through_epath(tmp_path):
  # A gs:// workdir registers an epath-backed event-file factory for its scheme; here the scheme
  # `tbtest://` maps onto tmp_path, so the same code path writes local files we can read back.
  factory = metrics.EpathEventFiles(to_path=lambda p: epath.Path(p.replace('tbtest://', '')))
  writer = metrics.tensorboard_writer(f'tbtest://{tmp_path}/tensorboard/rl', factory)
  for step in range(3):
    writer.add_scalar('reward', 0.5 * step, step)
    writer.flush()  # each flush rewrites the whole object (gs:// cannot append): no duplicates
  writer.close()
  files = list((tmp_path / 'tensorboard' / 'rl').glob('events.out.tfevents.*'))
  assert len(files) == 1
  assert _events(files[0]) == [('reward', s, 0.5 * s) for s in range(3)]
  assert not list(tmp_path.glob('tbtest*'))
