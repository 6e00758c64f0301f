"""Each notebook opened the way a learner opens it from its badge: mnistlib installed from a wheel, the
notebook alone in an empty folder, no clone of the repository beside it; quick mode, on the CPU.

It must run without an error or anything on stderr, and every chart and table must have something in
it (the plotting and table functions refuse to draw nothing, so an empty one is an error). Executed by
nbclient, as nbconvert does, its outputs must hold no progress-bar carriage returns."""

import json
import os
import shutil
import subprocess
import sys

import nbclient
import nbformat
import pytest

from conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.fixture(scope="session")
def installed(tmp_path_factory) -> str:
    """A folder holding mnistlib as installed from a freshly built wheel (no source tree)."""
    wheels, target = tmp_path_factory.mktemp("wheel"), tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(wheels), str(ROOT)],
                   check=True)
    (wheel,) = wheels.glob("mnistlib-*.whl")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
                    str(wheel)], check=True)
    return str(target)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_notebook_alone_runs_and_fills_its_charts_and_tables(path, installed, tmp_path, monkeypatch):
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(path, alone / path.name)
    monkeypatch.setenv("PYTHONPATH", installed)
    monkeypatch.setenv("MNISTLIB_QUICK", "1")
    monkeypatch.delenv("MPLBACKEND", raising=False)  # a learner's kernel draws inline
    where = subprocess.run([sys.executable, "-c", "import mnistlib; print(mnistlib.__file__)"], cwd=alone,
                           capture_output=True, text=True, check=True).stdout
    assert where.startswith(installed), f"the kernel would import mnistlib from {where}, not the wheel"
    notebook = nbformat.read(alone / path.name, as_version=4)
    nbclient.NotebookClient(notebook, timeout=1800, kernel_name="python3",
                            resources={"metadata": {"path": str(alone)}}).execute()
    for cell in (c for c in notebook.cells if c.cell_type == "code"):
        kinds = [o.get("name") or o["output_type"] for o in cell.outputs]
        assert "error" not in kinds and "stderr" not in kinds, (cell.source, json.dumps(cell.outputs)[:2000])
        texts = ["".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", "")) for o in cell.outputs]
        assert not any("\r" in t for t in texts), "progress bars must leave one line, not carriage returns"
        images = sum("image/png" in o.get("data", {}) for o in cell.outputs)
        assert images >= cell.source.count("plots.plot_"), f"a chart is missing: {cell.source}"
        if "seed_table(" in cell.source:
            tables = [o["data"]["text/markdown"] for o in cell.outputs if "text/markdown" in o.get("data", {})]
            assert tables and tables[0].count("\n| `") >= 4, tables
    assert set(os.listdir(alone)) <= {path.name, "runs"}  # it writes its runs beside it, nothing else
