"""
docs/tutorial.ipynb: stored with the outputs of a run at its own parameters, and it runs top to
bottom with its schedules shortened through its parameter cell.
"""

import os

import nbformat
import pytest
from nbclient import NotebookClient

from tests.helpers import REPO_ROOT

NOTEBOOK = os.path.join(REPO_ROOT, "docs", "tutorial.ipynb")
SHORT = "MAX_ITER = 6\nFINETUNE_ITER = 2\nOUTPUT_DIR = 'output/tutorial'\n"


def _read():
    return nbformat.read(NOTEBOOK, as_version=4)


def _parameter_cell(notebook):
    cells = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, "the notebook needs exactly one cell tagged 'parameters'"
    return cells[0]


def _text(cell):
    return "".join(o.get("text", "") for o in cell.get("outputs", []))


def test_the_stored_notebook_holds_a_whole_run_at_its_own_parameters():
    notebook = _read()
    parameters = _parameter_cell(notebook).source
    assert "MAX_ITER = 400" in parameters
    code = [c for c in notebook.cells if c.cell_type == "code"]
    # every cell ran, in order, once, with no error
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1))
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    # the training printed its COCO AP at the notebook's own schedule
    assert any("(400 iterations)" in _text(c) and "box AP" in _text(c) for c in code)
    # the figures: predictions, the attention map and the fine-tuned predictions
    figures = [o for c in code for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(figures) >= 3


@pytest.mark.slow
def test_the_tutorial_runs_top_to_bottom_on_a_short_schedule(tmp_path):
    notebook = _read()
    _parameter_cell(notebook).source = SHORT
    NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert any("(6 iterations)" in _text(c) for c in code)
    assert "every tensor equal to the trained model's: True" in "".join(_text(c) for c in code)
    assert (tmp_path / "output" / "tutorial" / "finetune" / "model_final.pth").exists()
