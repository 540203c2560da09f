"""Sharded training equals the 1-device run: loss, gradients and the updated state, on 8 fake
CPU devices with several mesh shapes (including ones that do not divide every weight)."""
import jax
import ml_collections
import numpy as np
import pytest

from r1jax import sharding
from r1jax.models import ModelConfig
from r1jax.train import pretrain, state as state_lib

CFG = ModelConfig(vocab_size=64, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=64)
TRAIN = ml_collections.ConfigDict(dict(
    steps=10, learning_rate=1e-2, warmup_steps=0, min_lr_ratio=0.1, weight_decay=0.1, b1=0.9,
    b2=0.95, grad_clip=1.0))


def _batch(seed=0):
  rs = np.random.RandomState(seed)
  tokens = rs.randint(4, 64, (8, 12)).astype(np.int32)
  loss_mask = (rs.rand(8, 12) > 0.2).astype(np.float32)
  return {'tokens': tokens, 'loss_mask': loss_mask}


def _two_steps(mesh_shape, devices):
  mesh = sharding.make_mesh(ml_collections.ConfigDict({'shape': mesh_shape}), devices)
  rules = sharding.DEFAULT_RULES
  tx = state_lib.make_optimizer(TRAIN)
  state, shardings = state_lib.create_train_state(CFG, tx, jax.random.key(0), mesh, rules)
  with sharding.use_mesh(mesh, rules):
    train_step, _ = pretrain.compile_steps(CFG, tx, mesh, rules, shardings)
    out = []
    for seed in range(2):
      state, metrics = train_step(state, sharding.put_batch(_batch(seed), mesh))
      out.append(jax.device_get(metrics))
  return state, out


@pytest.fixture(scope='module')
def reference():
  return _two_steps((1, 1, 1), jax.devices()[:1])


@pytest.mark.parametrize('mesh_shape', [(8, 1, 1), (1, 8, 1), (2, 2, 2), (1, 2, 4), (2, 1, 4)])
def test_sharded_step_equals_single_device(reference, mesh_shape):
  assert jax.device_count() == 8
  ref_state, ref_metrics = reference
  state, metrics = _two_steps(mesh_shape, jax.devices())
  for got, want in zip(metrics, ref_metrics):
    np.testing.assert_allclose(got['loss'], want['loss'], rtol=1e-5)
    np.testing.assert_allclose(got['grad_norm'], want['grad_norm'], rtol=1e-4)
  for got, want in zip(jax.tree.leaves(state.params), jax.tree.leaves(ref_state.params)):
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=3e-5)  # Adam, lr 1e-2
  # the parameters really are split: some weight is sharded on the mesh
  specs = [x.sharding.spec for x in jax.tree.leaves(state.params)]
  assert any(any(axis is not None for axis in spec) for spec in specs)


def test_non_dividing_mesh_axis_is_dropped():
  mesh = sharding.make_mesh(ml_collections.ConfigDict({'shape': (1, 2, 4)}))
  # 2 kv heads cannot split 4 ways: replicated on 'tensor', still sharded on 'fsdp'
  spec = sharding.logical_to_spec(('embed', 'kv_heads', 'head_dim'), (32, 2, 8), mesh,
                                  sharding.DEFAULT_RULES)
  assert spec == jax.sharding.PartitionSpec('fsdp', None, None)
  spec = sharding.logical_to_spec(('act_batch', 'act_length'), (8, 5), mesh,
                                  sharding.DEFAULT_RULES)
  assert spec == jax.sharding.PartitionSpec(('data', 'fsdp'), None)


def test_optimizer_state_follows_parameter_sharding():
  mesh = sharding.make_mesh(ml_collections.ConfigDict({'shape': (1, 2, 4)}))
  tx = state_lib.make_optimizer(TRAIN)
  state, _ = state_lib.create_train_state(CFG, tx, jax.random.key(0), mesh,
                                          sharding.DEFAULT_RULES)
  adam = state.opt_state[1][0]
  kernel = state.params['layer_0']['mlp']['gate']['kernel']
  assert adam.mu['layer_0']['mlp']['gate']['kernel'].sharding == kernel.sharding
  assert kernel.sharding.spec == jax.sharding.PartitionSpec('fsdp', 'tensor')


@pytest.mark.parametrize('shape, message', [
    ((4, 4, 1), 'needs a multiple of 16 devices'),
    ((3, -1, 1), 'needs a multiple of 3'),
    ((-1, -1, 1), 'at most one -1'),
    ((2, 2), 'must have 3 entries'),
])
def test_mesh_shape_errors(shape, message):
  with pytest.raises(ValueError, match=message):
    sharding.mesh_shape(ml_collections.ConfigDict({'shape': shape}), 8)


def test_mesh_shape_fills_minus_one():
  assert sharding.mesh_shape(ml_collections.ConfigDict({'shape': (-1, 2, 1)}), 8) == (4, 2, 1)
