import functools
import gzip
import http.server
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")  # no screen in CI

import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)

from mnistlib.core import data as mnist_data
from mnistlib.core.recipes import QUICK_TRAIN_SIZE

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def close_figures():
    """Every test's figures closed after it, so that charts drawn by tests do not pile up in memory."""
    yield
    plt.close("all")


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The real MNIST root: $MNISTLIB_DATA (CI points it at its copy), else the user's download cache."""
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


class MirrorHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder, or answers every request with ``status`` when one is set."""

    status: int | None = None
    requests: list[str]

    def send_head(self):
        self.requests.append(self.path)
        if self.status is not None:
            self.send_error(self.status)
            return None
        return super().send_head()

    def log_message(self, *args):
        pass


@pytest.fixture
def serve(tmp_path):
    """``serve(folder, status=None)``: the URL of a local HTTP mirror of ``folder`` (or of one that answers
    every request with ``status``), standing in for the internet; shut down after the test. The paths
    it was asked for are in ``serve.requests``."""
    servers = []

    def start(folder: Path, status: int | None = None) -> str:
        handler = type("Handler", (MirrorHandler,), {"status": status, "requests": start.requests})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(folder)))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    start.requests = []
    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def mirror_folder(tmp_path, data_root) -> Path:
    """A folder holding the four ``<name>.gz`` files, as a mirror publishes them."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for name in mnist_data.FILES:
        source = mnist_data.find_file(data_root / "MNIST" / "raw", name)
        payload = source.read_bytes()
        (mirror / f"{name}.gz").write_bytes(payload if source.suffix == ".gz" else gzip.compress(payload))
    return mirror


def cli_env(**extra) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **extra}
    env.pop("MNISTLIB_QUICK", None)
    return env


def mnistlib(*args, timeout=None, **env):
    """The command line in a subprocess; no time limit by default: a busy CI machine may be slow."""
    return subprocess.run([sys.executable, "-m", "mnistlib", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, env=cli_env(**env), timeout=timeout)


def into_a_closed_pipe(*args):
    """The command line with its stdout a pipe whose reader is gone, as when ``| head -1`` has read its
    line and exited (each write then fails with EPIPE, the same every run)."""
    read, write = os.pipe()
    os.close(read)
    try:
        env = cli_env()
        env.pop("PYTHONUNBUFFERED", None)  # stdout buffered, as a user's shell has it
        return subprocess.run([sys.executable, "-m", "mnistlib", *map(str, args)], stdout=write,
                              stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    finally:
        os.close(write)


def assert_user_error(result, *fragments):
    """A user's mistake: exit 2, one line on stderr holding each of ``fragments``, no traceback."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr


@pytest.fixture(scope="session")
def quick_run_dir(tmp_path_factory):
    """A quick step-4 run made by the command line (one epoch of 60,000 images): its folder and output."""
    out = tmp_path_factory.mktemp("cli") / "run"
    result = mnistlib("train", "--quick", "--no-progress", "--out", out)
    assert result.returncode == 0, result.stderr
    return out, result.stdout


@pytest.fixture
def one_thread():
    """Torch on one CPU thread for the test (bit-exact comparisons depend on the thread count)."""
    from mnistlib.core.devices import torch_threads

    with torch_threads(1):
        yield
