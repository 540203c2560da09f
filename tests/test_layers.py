"""The package's layers: a module imports only from its own layer or the layers below it, and
no chain of imports (module-level or inside a function) comes back to where it started.

LAYERS is the one place the order is written (../shared/DESIGN.md and docs/DESIGN.md describe
it). When a low module seems to need a high one, the code is in the wrong place: a data maker
that samples a model belongs to stages/, a section's validator lives with the loop or kind that
owns the section, a helper shared by two layers moves down.
"""
import ast
import pathlib

import pytest

# Bottom to top; the first component of a module's name under r1jax/ decides its layer.
LAYERS = (
    ('platform', 'metrics', 'stats', 'config', 'losses', 'sharding', 'checkpoint'),  # ground floor
    ('data',),       # tasks, corpus, tokenizer, templates, pipelines, builders: no model
    ('models',),     # the decoder, HF import/export, merging, memory estimate
    ('rewards',),    # host-side verifiers, the learned reward model's scorer
    ('sampling',),
    ('evaluate',),
    ('train',),      # the loops
    ('stages',),     # kinds, registry, validation, reports, the data makers that sample a model
    ('main', 'sweep'),
)
PACKAGE = pathlib.Path(__file__).resolve().parent.parent / 'r1jax'


def _modules() -> dict[str, pathlib.Path]:
  mods = {}
  for path in PACKAGE.rglob('*.py'):
    parts = ('r1jax',) + path.relative_to(PACKAGE).with_suffix('').parts
    if parts[-1] == '__init__':
      parts = parts[:-1]
    mods['.'.join(parts)] = path
  return mods


def _targets(name: str, path: pathlib.Path, node, mods) -> list[str]:
  """The r1jax modules an import statement reads (a package's __init__ for `from pkg import
  obj`, the submodule for `from pkg import submodule`)."""
  if isinstance(node, ast.Import):
    names = [a.name for a in node.names]
  else:
    if node.level:
      base = name.split('.')
      base = base[:len(base) - node.level + (path.name == '__init__.py')]
      module = '.'.join(base + ([node.module] if node.module else []))
    else:
      module = node.module or ''
    names = [f'{module}.{a.name}' if f'{module}.{a.name}' in mods else module for a in node.names]
  out = []
  for target in names:
    while target not in mods and '.' in target:
      target = target.rsplit('.', 1)[0]
    if target in mods and target != name:
      out.append(target)
  return out


def import_graph() -> dict[str, dict[str, int]]:
  """{module: {imported module: line}} over every import statement, at any depth."""
  mods = _modules()
  graph = {}
  for name, path in mods.items():
    edges = graph.setdefault(name, {})
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
      if isinstance(node, (ast.Import, ast.ImportFrom)):
        for target in _targets(name, path, node, mods):
          edges.setdefault(target, node.lineno)
  return graph


def layer_of(module: str) -> int:
  top = module.split('.')[1] if '.' in module else ''
  for i, names in enumerate(LAYERS):
    if top in names:
      return i
  raise AssertionError(f'{module} is in no layer: add {top!r} to LAYERS in {__file__}')


def test_every_module_has_a_layer():
  for module in import_graph():
    if module != 'r1jax':
      layer_of(module)


def test_no_import_runs_upward():
  graph = import_graph()
  upward = [f'{m}:{line} imports {t} (layer {LAYERS[layer_of(t)]} is above {LAYERS[layer_of(m)]})'
            for m, edges in sorted(graph.items()) if m != 'r1jax'
            for t, line in sorted(edges.items()) if layer_of(t) > layer_of(m)]
  assert not upward, '\n'.join(upward)


def find_cycle(graph) -> list[str] | None:
  """One circle of imports as [a, b, ..., a], or None (depth-first search)."""
  state, stack = {}, []

  def visit(node):
    state[node] = 'open'
    stack.append(node)
    for nxt in sorted(graph.get(node, ())):
      if state.get(nxt) == 'open':
        return stack[stack.index(nxt):] + [nxt]
      if nxt not in state:
        found = visit(nxt)
        if found:
          return found
    stack.pop()
    state[node] = 'done'
    return None

  for node in sorted(graph):
    if node not in state:
      found = visit(node)
      if found:
        return found
  return None


def test_no_import_circle():
  cycle = find_cycle(import_graph())
  assert cycle is None, 'import circle: ' + ' -> '.join(cycle)


@pytest.mark.parametrize('graph,expected', [
    ({'a': {'b': 1}, 'b': {'c': 1}, 'c': {}}, None),
    ({'a': {'b': 1}, 'b': {'c': 1}, 'c': {'a': 1}}, ['a', 'b', 'c', 'a']),
    ({'a': {'a2': 1}, 'a2': {}, 'b': {'b': 1}}, ['b', 'b']),
])
def test_find_cycle_finds_circles(graph, expected):
  assert find_cycle(graph) == expected


def test_the_graph_sees_function_level_and_relative_imports(tmp_path, monkeypatch):
  pkg = tmp_path / 'r1jax'
  (pkg / 'data').mkdir(parents=True)
  (pkg / '__init__.py').write_text('')
  (pkg / 'config.py').write_text('')
  (pkg / 'data' / '__init__.py').write_text('from . import tasks\n')
  (pkg / 'data' / 'tasks.py').write_text('def f():\n  from r1jax import config, stages\n')
  (pkg / 'stages.py').write_text('from r1jax.data.tasks import f\n')
  monkeypatch.setattr(__import__(__name__), 'PACKAGE', pkg)
  graph = import_graph()
  assert graph['r1jax.data'] == {'r1jax.data.tasks': 1}
  assert graph['r1jax.data.tasks'] == {'r1jax.config': 2, 'r1jax.stages': 2}
  assert graph['r1jax.stages'] == {'r1jax.data.tasks': 1}
  assert find_cycle(graph) == ['r1jax.data.tasks', 'r1jax.stages', 'r1jax.data.tasks']
