"""Run records: the ``History`` of a run, its run folder (``model.pt`` + ``history.json``) and resuming it.

``model.pt`` is the one authority on where a run stands: it holds the weights, the optimizer state,
the random-number state and the history up to the same epoch, written in one atomic rename.
``history.json`` is a readable copy written after it; if a crash falls between the two, ``--resume``
trusts ``model.pt`` and rewrites ``history.json``.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from .errors import UserError
from .files import atomic_write
from .models import build_model

HISTORY_FILE = "history.json"
CHECKPOINT_FILE = "model.pt"


def describe_device(device: torch.device) -> str:
    """The device as runs, notebooks and the benchmark report it: the GPU's name, or the CPU threads."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"


@dataclass
class History:
    """What a run did: its settings and one record per epoch (accuracies in percent).

    ``planned_epochs`` is what the run set out to do and ``finished`` whether it got there; a run
    stopped early (Ctrl-C, a crash) has ``finished`` false and can be resumed, but is no result.
    """

    recipe: str
    model: str
    params: int
    seed: int
    device: str
    quick: bool = False
    epochs: list[dict] = field(default_factory=list)
    planned_epochs: int | None = None
    finished: bool = False
    val_size: int = 0
    train_size: int = 0  # training images per epoch (quick mode trains on part of the set)
    device_name: str = ""  # "cuda (<GPU>)" or "cpu (<N> threads)"
    torch: str = ""
    graph: bool = False  # trained with the captured CUDA-graph step
    compile_scope: str | None = None  # torch.compile'd inside the graphs: "model", or "step" (its whole forward side)
    capture_seconds: float | None = None  # one-time cost of capturing (and compiling) that step

    @property
    def compiled(self) -> bool:
        return self.compile_scope is not None

    @property
    def final_accuracy(self) -> float:
        return self.epochs[-1]["test_accuracy"]

    @property
    def best_record(self) -> dict:
        """The record (a dict) of the epoch with the highest test accuracy."""
        return max(self.epochs, key=lambda e: e["test_accuracy"])

    @property
    def total_seconds(self) -> float:
        return sum(e["seconds"] for e in self.epochs)

    def column(self, key: str) -> list[float]:
        return [e[key] for e in self.epochs]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, saved: dict) -> History:
        """A history from ``to_dict``'s form, also as older runs wrote it: with a ``compiled`` flag and,
        before the compile scopes, no scope (they compiled the model)."""
        saved = dict(saved)
        if saved.pop("compiled", False) and saved.get("compile_scope") is None:
            saved["compile_scope"] = "model"
        return cls(**saved)

    @classmethod
    def load(cls, path: str | os.PathLike) -> History:
        path = Path(path)
        if path.is_dir():
            path = path / HISTORY_FILE
        return cls.from_dict(json.loads(path.read_text()))


def load_finished(path: str | os.PathLike) -> History:
    """A history that is a result: refuses a run that stopped before its last planned epoch."""
    history = History.load(path)
    if not history.finished or len(history.epochs) != history.planned_epochs:
        raise UserError(f"{path} is an unfinished run ({len(history.epochs)} of {history.planned_epochs} epochs), "
                        "not a result; resume it with: python -m mnistlib train --resume RUN_DIR")
    return history


def save_history(path: Path, history: History) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = json.dumps(history.to_dict(), indent=1).encode() + b"\n"
    atomic_write(path, lambda f: f.write(payload))


def rng_state(device: torch.device) -> dict:
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def save_run(run_dir: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, history: History,
             mean: float, std: float) -> None:
    """Write ``model.pt`` (weights, optimizer, RNG, history) and then ``history.json``, each whole or not at all."""
    device = next(model.parameters()).device
    checkpoint = {
        "recipe": history.recipe,
        "model": history.model,
        "params": history.params,
        "mean": mean,
        "std": std,
        "epoch": len(history.epochs),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": _to_cpu(optimizer.state_dict()),
        "rng": rng_state(device),
        "history": history.to_dict(),
    }
    atomic_write(run_dir / CHECKPOINT_FILE, lambda f: torch.save(checkpoint, f))
    save_history(run_dir / HISTORY_FILE, history)


def _to_cpu(value):
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_cpu(v) for v in value]
    return value


def check_run_dir(run_dir: Path) -> None:
    """Refuse a folder that holds a run or cannot be written, before any work is done."""
    if run_dir.exists() and not run_dir.is_dir():
        raise UserError(f"--out {run_dir} exists and is not a folder")
    taken = [name for name in (HISTORY_FILE, CHECKPOINT_FILE) if (run_dir / name).exists()]
    if taken:
        raise UserError(f"--out {run_dir} already holds a run ({', '.join(taken)}); choose another folder")
    check_writable(run_dir, "--out")


def check_writable(path: Path, what: str) -> None:
    """Fail now, in one line, if ``path`` (a file or folder still to be made) could not be written later."""
    existing = path if path.is_dir() else path.parent  # a file is written in its folder, even over an old one
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"{what} {path}: {existing} is not a folder")
    try:  # a real write: permission bits alone say nothing to root, or of /proc
        tempfile.TemporaryFile(dir=existing).close()
    except OSError as exc:
        raise UserError(f"{what} {path}: cannot write in {existing} ({exc.strerror or exc})") from None


def read_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> dict:
    """The checkpoint dict of ``path`` (a model.pt, or a run folder holding one), or a one-line UserError."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_FILE
    if not path.is_file():
        raise UserError(f"checkpoint {path} not found")
    try:
        checkpoint = torch.load(path, map_location=device, weights_only=True)
        checkpoint["model"], checkpoint["state_dict"]  # noqa: B018 - the keys every checkpoint has
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's to fix
        raise UserError(f"checkpoint {path} is not a readable mnistlib checkpoint ({type(exc).__name__})") from None
    return checkpoint


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu"):
    """The model saved by a run, and the checkpoint dict it came from."""
    checkpoint = read_checkpoint(path, device)
    try:
        model = build_model(checkpoint["model"])
        model.load_state_dict(checkpoint["state_dict"])
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise UserError(f"checkpoint {path} does not fit its model ({type(exc).__name__})") from None
    return model.to(device), checkpoint
