"""Every notebook in colabs/ executes without error at tiny scale (nbclient): the parameter
cell (tagged 'parameters') is followed by one that sets TINY = True and a temporary WORKDIR,
as papermill would."""
import glob
import os

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = sorted(glob.glob(os.path.join(ROOT, 'colabs', '*.ipynb')))


def test_there_are_notebooks():
  assert any(path.endswith('quickstart.ipynb') for path in NOTEBOOKS)


@pytest.mark.slow
@pytest.mark.parametrize('path', NOTEBOOKS, ids=os.path.basename)
def test_notebook_runs_at_tiny_scale(path, tmp_path):
  notebook = nbformat.read(path, as_version=4)
  index = next(i for i, cell in enumerate(notebook.cells)
               if 'parameters' in cell.get('metadata', {}).get('tags', []))
  notebook.cells.insert(index + 1, nbformat.v4.new_code_cell(
      f'TINY = True\nWORKDIR = {str(tmp_path / "run")!r}'))
  env_before = os.environ.get('XLA_FLAGS')
  NotebookClient(notebook, timeout=540, kernel_name='python3',
                 resources={'metadata': {'path': os.path.join(ROOT, 'colabs')}}).execute()
  assert os.environ.get('XLA_FLAGS') == env_before
  outputs = [o for cell in notebook.cells if cell.cell_type == 'code' for o in cell.outputs]
  assert not [o for o in outputs if o.output_type == 'error']
  assert any('image/png' in o.get('data', {}) for o in outputs)   # curves inline
  if path.endswith('quickstart.ipynb'):
    text = ''.join(o.get('text', '') for o in outputs)
    assert 'held-out accuracy' in text and 'after 6 RL steps' in text
