"""Each notebook's from-scratch cell checks its idea against torch's layer, and the check catches a mistake:
the cell, run as stored, passes; with one line of its scratch code broken, its assertion fails."""

from types import SimpleNamespace

import nbformat
import pytest
import torch

import mnistlib
from conftest import ROOT
from mnistlib.core import augment
from mnistlib.core.models import build_model
from mnistlib.teach import plots

# (notebook, a line that defines the cell, the mistake: (as stored, broken))
SCRATCH_CELLS = [
    ("01_base_model", "def relu(z):", ("torch.where(z > 0,", "torch.where(z > -0.1,")),
    ("03_augmentation", "def rotate_and_shift_by_hand(", ("cos * x - sin * y", "cos * x + sin * y")),
    ("04_batchnorm_dropout", "def batch_norm(", ("x.var(dim=(0, 2, 3), unbiased=False)", "x.var(dim=(0, 2, 3))")),
    ("04_batchnorm_dropout", "def dropout(", ("x * keep / (1 - p)", "x * keep")),
    ("05_beyond", "def space_to_depth(", ("permute(0, 1, 3, 5, 2, 4)", "permute(0, 1, 5, 3, 2, 4)")),
]


def cell_source(notebook: str, defining: str) -> str:
    cells = nbformat.read(ROOT / "notebooks" / f"{notebook}.ipynb", 4).cells
    (source,) = [c.source for c in cells if c.cell_type == "code" and defining in c.source]
    return source


@pytest.fixture
def namespace(quick_data):
    """What the cells take from the notebook's earlier cells: a session with a little data, untrained models."""
    data = SimpleNamespace(train=quick_data.train, test=quick_data.test.head(64), mean=quick_data.mean,
                           std=quick_data.std, background=quick_data.background)
    torch.manual_seed(0)
    return {"session": SimpleNamespace(data=data), "SEED": 0, "mnistlib": mnistlib, "augment": augment,
            "plots": plots, "relu_model": build_model("base_relu_output"), "model": build_model("base")}


@pytest.mark.parametrize(("notebook", "defining", "mistake"), SCRATCH_CELLS, ids=[c[1] for c in SCRATCH_CELLS])
def test_a_scratch_cell_passes_as_stored_and_fails_when_broken(namespace, notebook, defining, mistake):
    source = cell_source(notebook, defining)
    if defining == "def dropout(":  # it reuses the batch-norm cell's batch x
        exec(cell_source(notebook, "def batch_norm("), namespace)
    exec(source, namespace)
    stored, broken = mistake
    assert source.count(stored) == 1
    with pytest.raises(AssertionError):
        exec(source.replace(stored, broken), namespace)
