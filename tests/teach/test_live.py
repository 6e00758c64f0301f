"""Live curves: a training cell keeps one figure, the last, however often it runs in one kernel."""

import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

from mnistlib.teach.live import WAITING, LiveCurves

START = "from mnistlib.teach import notebook\nsession = notebook.start('quick', 0, 'cpu', recipes=['step2_slim'])"
TRAIN = "model, history = notebook.run_step(session, 'step2_slim', epochs=2)"


def figures(cell) -> int:
    return sum("image/png" in output.get("data", {}) for output in cell.outputs)


@pytest.mark.usefixtures("data_root")
def test_a_training_cell_run_twice_in_one_kernel_keeps_one_final_figure(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the session's histories folder
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend, as in a notebook
    nb = new_notebook(cells=[new_code_cell(START), new_code_cell(TRAIN)])
    client = NotebookClient(nb, timeout=300, kernel_name="python3")
    with client.setup_kernel():
        client.execute_cell(nb.cells[0], 0)
        for run in range(2):
            client.execute_cell(nb.cells[1], 1)
            outputs = nb.cells[1].outputs
            assert not [o for o in outputs if o.output_type == "error"]
            assert figures(nb.cells[1]) == 1, f"run {run + 1}: {[list(o.get('data', {})) for o in outputs]}"
            first = next(o for o in outputs if o.output_type == "display_data")
            assert "image/png" in first.data, "the figure is where the placeholder was: before the bars"
            assert WAITING not in str(outputs)


def test_outside_a_kernel_nothing_is_drawn():
    curves = LiveCurves()
    curves(None, None, None)  # would fail drawing a history of None
    assert curves.handle is None and curves.draws == 0
