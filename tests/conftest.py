import os
import shutil
from pathlib import Path

import pytest
import torch

os.environ.setdefault("MPLBACKEND", "Agg")  # no screen in CI

from mnistlib import data as mnist_data
from mnistlib.recipes import QUICK_TRAIN_SIZE

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The real MNIST root: $MNISTLIB_DATA (CI: ../shared/data), else the user's download cache."""
    return mnist_data.data_root()


@pytest.fixture(scope="session")
def quick_data(data_root):
    return mnist_data.load("cpu", data_root, train_size=QUICK_TRAIN_SIZE)


@pytest.fixture
def copied_root(tmp_path, data_root) -> Path:
    """A private data root holding the four real files, to damage or delete one of them."""
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in mnist_data.FILES:
        source = next(p for p in (data_root / "MNIST" / "raw" / n for n in (name, f"{name}.gz")) if p.is_file())
        shutil.copy(source, raw / source.name)
    return tmp_path / "data"


@pytest.fixture
def offline(monkeypatch):
    """Mirrors that cannot answer, so a missing file stays missing."""
    monkeypatch.setattr(mnist_data, "MIRRORS", ["http://127.0.0.1:9/"])


def cli_env(**extra) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **extra}
    env.pop("MNISTLIB_QUICK", None)
    return env


@pytest.fixture
def one_thread():
    """Torch on one CPU thread for the test (bit-exact comparisons depend on the thread count)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
