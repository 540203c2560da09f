"""The device mesh and the one table that maps logical axis names to it.

Mesh axes: `data` (pure data parallel), `fsdp` (data parallel with weights sharded),
`tensor` (heads / MLP / vocabulary split). Nothing else in r1jax names a mesh axis:
models name logical axes, this module turns them into `NamedSharding`s.

A mesh dimension that does not divide an array dimension is dropped for that array
(e.g. 2 kv heads on a 4-way `tensor` axis stay replicated), so any mesh shape whose
product is the device count works with any model.
"""
import contextlib
from typing import Sequence

import flax.linen as nn
import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import NamedSharding, PartitionSpec

MESH_AXES = ('data', 'fsdp', 'tensor')
BATCH_AXES = ('data', 'fsdp')

# logical name -> mesh axes (a name, a tuple of names, or None for replicated).
# Weights: 'vocab', 'embed', 'q_heads', 'kv_heads', 'head_dim', 'mlp', 'norm'.
# Activations carry an 'act_' prefix so they can be sharded differently from weights.
DEFAULT_RULES = (
    ('act_batch', BATCH_AXES),
    ('act_length', None),
    ('act_embed', None),
    ('act_heads', 'tensor'),
    ('act_kv_heads', 'tensor'),
    ('act_mlp', 'tensor'),
    ('act_vocab', 'tensor'),
    ('cache_length', None),
    ('vocab', 'tensor'),
    ('embed', 'fsdp'),
    ('q_heads', 'tensor'),
    ('kv_heads', 'tensor'),
    ('head_dim', None),
    ('mlp', 'tensor'),
    ('norm', None),
)


def mesh_shape(mesh_config, num_devices: int) -> tuple[int, int, int]:
  """config.mesh.shape (data, fsdp, tensor), where one entry may be -1 (the rest)."""
  shape = [int(s) for s in mesh_config.shape]
  if len(shape) != 3:
    raise ValueError(f'mesh.shape={tuple(shape)} must have 3 entries (data, fsdp, tensor)')
  if shape.count(-1) > 1 or any(s == 0 or s < -1 for s in shape):
    raise ValueError(f'mesh.shape={tuple(shape)}: use positive sizes and at most one -1')
  fixed = int(np.prod([s for s in shape if s != -1]))
  if num_devices % fixed:
    raise ValueError(f'mesh.shape={tuple(shape)} needs a multiple of {fixed} devices but '
                     f'{num_devices} are available; use sizes whose product divides {num_devices}')
  shape = [num_devices // fixed if s == -1 else s for s in shape]
  if int(np.prod(shape)) != num_devices:
    raise ValueError(f'mesh.shape={tuple(shape)} uses {int(np.prod(shape))} devices but '
                     f'{num_devices} are available; make the product {num_devices} (or use -1)')
  return tuple(shape)


def make_mesh(mesh_config, devices=None) -> jax.sharding.Mesh:
  devices = devices if devices is not None else jax.devices()
  shape = mesh_shape(mesh_config, len(devices))
  return jax.make_mesh(shape, MESH_AXES, axis_types=(jax.sharding.AxisType.Auto,) * 3,
                       devices=devices)


def rules_from_config(config) -> tuple:
  """The rule table, with config.mesh.rules (if any) overriding single entries."""
  overrides = dict(config.mesh.get('rules', None) or {}) if 'mesh' in config else {}
  unknown = sorted(set(overrides) - {name for name, _ in DEFAULT_RULES})
  if unknown:
    raise ValueError(f'mesh.rules: unknown logical axes {unknown}; use names from '
                     'sharding.DEFAULT_RULES')
  return tuple((name, overrides.get(name, axes)) for name, axes in DEFAULT_RULES)


def logical_to_spec(logical_axes: Sequence, shape: Sequence[int], mesh, rules) -> PartitionSpec:
  """Logical names of one array -> its PartitionSpec, dropping non-dividing mesh axes."""
  table = dict(rules)
  used, spec = set(), []
  for name, dim in zip(logical_axes, shape):
    axes = table.get(name) if name is not None else None
    axes = (axes,) if isinstance(axes, str) else tuple(axes or ())
    kept = []
    for axis in axes:  # keep the mesh axes that still divide this dimension
      size = mesh.shape[axis]
      if axis not in used and dim % (size * int(np.prod([mesh.shape[a] for a in kept]))) == 0:
        kept.append(axis)
    used.update(kept)
    spec.append(tuple(kept) if len(kept) > 1 else (kept[0] if kept else None))
  return PartitionSpec(*spec)


def tree_shardings(logical_tree, shapes_tree, mesh, rules):
  """Map a tree of logical PartitionSpecs (nn.get_partition_spec) and a matching tree of
  shapes (eval_shape) to NamedShardings."""
  def one(logical, leaf):
    axes = tuple(logical) if isinstance(logical, PartitionSpec) else ()
    axes = axes + (None,) * (len(leaf.shape) - len(axes))
    return NamedSharding(mesh, logical_to_spec(axes, leaf.shape, mesh, rules))
  return jax.tree.map(one, logical_tree, shapes_tree,
                      is_leaf=lambda x: isinstance(x, PartitionSpec) or x is None)


def logical_shardings(boxed_abstract, mesh, rules):
  """Shardings of a tree whose leaves may be flax LogicallyPartitioned boxes (as made by
  `jax.eval_shape` of an init that keeps the boxes); unboxed leaves are replicated."""
  specs = nn.get_partition_spec(boxed_abstract)
  return tree_shardings(specs, nn.meta.unbox(boxed_abstract), mesh, rules)


def batch_sharding(mesh, ndim: int = 2) -> NamedSharding:
  """Leading (batch) dimension over the data axes, the rest replicated."""
  return NamedSharding(mesh, PartitionSpec(BATCH_AXES, *([None] * (ndim - 1))))


def replicated(mesh) -> NamedSharding:
  return NamedSharding(mesh, PartitionSpec())


def data_parallel_size(mesh) -> int:
  return int(np.prod([mesh.shape[a] for a in BATCH_AXES]))


def process_rows(batch):
  """This process's rows of a global host batch (all of it on a single host)."""
  count, index = jax.process_count(), jax.process_index()
  def rows(x):
    if len(x) % count:
      raise ValueError(f'global batch of {len(x)} rows does not split over {count} processes')
    per = len(x) // count
    return x[index * per:(index + 1) * per]
  return jax.tree.map(rows, batch)


def put_batch(batch, mesh):
  """Host numpy batch (this process's rows) -> global arrays sharded on the data axes."""
  return jax.tree.map(
      lambda x: jax.make_array_from_process_local_data(batch_sharding(mesh, np.ndim(x)), x),
      batch)


@contextlib.contextmanager
def use_mesh(mesh, rules):
  """Mesh + logical rules in scope, for tracing functions with logical constraints."""
  with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
    yield


def init_distributed(config) -> None:
  """Join the multi-host runtime when config.distributed asks for it (TPU pods, clusters)."""
  dist = config.get('distributed', None)
  if not dist or not dist.get('enabled', False):
    return
  kwargs = {}
  if dist.get('coordinator_address'):
    kwargs = dict(coordinator_address=dist.coordinator_address,
                  num_processes=dist.num_processes, process_id=dist.process_id)
  jax.distributed.initialize(**kwargs)


# ---------------------------------------------------------------------------- across hosts

def host_rows(x, mesh):
  """This process's rows of a global array sharded on the data axes, as numpy."""
  spec = batch_sharding(mesh, x.ndim).spec
  return np.asarray(multihost_utils.global_array_to_host_local_array(x, mesh, spec))


def all_hosts_max(value: int) -> int:
  """The largest value over hosts (every host must compile the same shapes)."""
  if jax.process_count() == 1:
    return value
  return int(np.max(multihost_utils.process_allgather(np.int32(value))))


def all_hosts_sum(values: np.ndarray) -> np.ndarray:
  """Elementwise sum over hosts of a small float array."""
  if jax.process_count() == 1:
    return values
  gathered = multihost_utils.process_allgather(np.asarray(values, np.float32))
  return np.asarray(gathered, np.float64).reshape(-1, len(values)).sum(0)


def all_hosts_min(value: int) -> int:
  """The smallest value over hosts, so that every host runs the same number of rollouts."""
  if jax.process_count() == 1:
    return value
  return int(np.min(multihost_utils.process_allgather(np.int32(value))))


def all_hosts_concat(values: np.ndarray) -> np.ndarray:
  """This host's rows joined with every other host's, in host order (the global batch)."""
  if jax.process_count() == 1:
    return values
  return np.asarray(multihost_utils.process_allgather(values)).reshape(-1)
