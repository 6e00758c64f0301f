"""Runs: the ``History`` of a run, its run folder (``model.pt`` + ``history.json``) and resuming it.

``model.pt`` is the one authority on where a run stands: it holds the weights, the optimizer state,
the random-number state and the history up to the same epoch, written in one atomic rename.
``history.json`` is a readable copy written after it; if a crash falls between the two, ``--resume``
trusts ``model.pt`` and rewrites ``history.json``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import filelock
import torch

from .devices import resolve_device
from .errors import UserError, article, is_whole_number, one_line
from .files import WriteError, atomic_write
from .models import MODELS, build_model

HISTORY_FILE = "history.json"
CHECKPOINT_FILE = "model.pt"
LOCK_FILE = ".mnistlib.lock"  # held by the run writing the folder (claim_run_dir)


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
    channels_last: bool = False  # trained with the weights (and so the activations) in channels-last layout

    @property
    def final_accuracy(self) -> float:
        """Test accuracy (percent) after the last epoch: the result a run is judged by."""
        return self.epochs[-1]["test_accuracy"]

    @property
    def best_record(self) -> dict:
        """The record (a dict) of the epoch with the highest test accuracy."""
        return max(self.epochs, key=lambda e: e["test_accuracy"])

    @property
    def total_seconds(self) -> float:
        """Seconds of training and testing over all epochs."""
        return sum(e["seconds"] for e in self.epochs)

    def column(self, key: str) -> list[float]:
        """The value of ``key`` (e.g. "test_accuracy") at every epoch, in order."""
        return [e[key] for e in self.epochs]

    def to_dict(self) -> dict:
        """The history as plain JSON-ready values (``from_dict`` reads it back)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, saved: dict) -> History:
        """A history from ``to_dict``'s form (fields added since a record was written take their defaults).
        Raises ``UserError`` naming the fields of anything else (another program's JSON, an older format)."""
        unknown = sorted(set(saved) - {f.name for f in dataclasses.fields(cls)}) if isinstance(saved, dict) else []
        try:
            if unknown:
                raise TypeError(f"unknown fields {', '.join(unknown)}")
            return cls(**saved)
        except TypeError as exc:
            raise UserError(f"not a run history of this mnistlib ({exc})") from None

    @classmethod
    def load(cls, path: str | os.PathLike) -> History:
        """The history in ``path``: a history.json, or a run folder holding one.

        Raises ``UserError`` (one line naming the file): missing, unreadable, not JSON, or not a history.
        """
        path = Path(path)
        if path.is_dir():
            path = path / HISTORY_FILE
        try:
            saved = json.loads(path.read_text())
        except FileNotFoundError:
            raise UserError(f"no run history at {path}: give a run folder or its {HISTORY_FILE}") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UserError(f"{path} is not a readable run history ({type(exc).__name__}: {exc})") from None
        if not isinstance(saved, dict):
            raise UserError(f"{path} is not a run history (it holds a JSON {type(saved).__name__})")
        return cls.from_dict(saved)


def load_finished(path: str | os.PathLike) -> History:
    """A history that is a result: refuses a run that stopped before its last planned epoch."""
    history = History.load(path)
    if not history.finished or len(history.epochs) != history.planned_epochs:
        raise UserError(f"{path} is an unfinished run ({len(history.epochs)} of {history.planned_epochs} epochs), "
                        "not a result; resume it with: python -m mnistlib train --resume RUN_DIR")
    return history


def save_history(path: Path, history: History) -> None:
    """Write ``history`` as JSON to ``path``, whole or not at all (``files.atomic_write``; ``WriteError``)."""
    payload = json.dumps(history.to_dict(), indent=1).encode() + b"\n"
    atomic_write(path, lambda f: f.write(payload))


def rng_state(device: torch.device) -> dict:
    """The random-number state a resumed run needs: the CPU generator's, and the GPU's on a CUDA ``device``."""
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device: torch.device) -> None:
    """Put back a ``rng_state`` (its GPU part only on a CUDA ``device``)."""
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def save_run(run_dir: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, history: History,
             mean: float, std: float) -> None:
    """Write ``model.pt`` (weights, optimizer, RNG, history) and then ``history.json``, each whole or not at all.

    Raises ``WriteError`` (a ``UserError``) when either cannot be written (a full disk, say), naming the
    reason and which epoch the folder still holds whole; a run stopped by it can be resumed from there.
    """
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
    epoch = len(history.epochs)
    try:
        atomic_write(run_dir / CHECKPOINT_FILE, lambda f: torch.save(checkpoint, f))
    except WriteError as exc:
        kept = (f"epoch {epoch - 1} is saved there; {exc.fix}, then continue with: python -m mnistlib train "
                f"--resume {run_dir}") if epoch > 1 else f"no epoch was saved; {exc.fix}, then start the run again"
        raise WriteError(exc.path, exc.reason, kept, exc.errno) from exc
    try:
        save_history(run_dir / HISTORY_FILE, history)
    except WriteError as exc:
        raise WriteError(exc.path, exc.reason, f"epoch {epoch} is saved in {CHECKPOINT_FILE}; {exc.fix}, then "
                         f"continue with: python -m mnistlib train --resume {run_dir}", exc.errno) from exc


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
    _refuse_a_run(run_dir)
    check_writable(run_dir, "--out")


def _refuse_a_run(run_dir: Path) -> None:
    taken = [name for name in (HISTORY_FILE, CHECKPOINT_FILE) if (run_dir / name).exists()]
    if taken:
        raise UserError(f"--out {run_dir} already holds a run ({', '.join(taken)}); choose another folder")


@contextmanager
def claim_run_dir(run_dir: Path, resuming: bool = False):
    """Hold ``run_dir`` for one run, from before any work until the run ends (a context manager).

    The claim is an exclusive lock on ``run_dir/.mnistlib.lock`` (``filelock``: ``flock`` on POSIX), taken
    without waiting: while one run holds it, a second run asking for the folder, from this process or
    another, gets a ``UserError``. The operating system drops the lock when its process ends in any way,
    killed included, so a claim left behind never blocks a later run. Once claimed, the folder must hold
    no run (or, ``resuming``, the run to continue). On leaving, the lock file is removed, and so is the
    folder if this claim created it and nothing was saved into it.
    """
    created = not run_dir.exists()
    lock = filelock.FileLock(run_dir / LOCK_FILE, timeout=0)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except filelock.Timeout:
        raise UserError(f"run folder {run_dir} is being written by another run right now; choose another "
                        "folder, or wait for that run to end") from None
    except OSError as exc:  # a full disk, a folder made read-only since the check before the claim
        raise UserError(f"cannot make the run folder {run_dir} or its lock file ({exc.strerror or exc})") from None
    try:
        if not resuming:
            _refuse_a_run(run_dir)  # a run may have finished here since the check before the claim
        yield run_dir
    finally:
        (run_dir / LOCK_FILE).unlink(missing_ok=True)
        lock.release()
        if created and not any(run_dir.iterdir()):
            run_dir.rmdir()


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


# What every model.pt holds, with its type; ``read_checkpoint`` checks a checkpoint against this once.
CHECKPOINT_FIELDS = {"recipe": str, "model": str, "params": int, "mean": float, "std": float, "epoch": int,
                     "state_dict": dict}
# What resuming a run needs besides; inference reads the history too when it is there.
RESUME_FIELDS = {"optimizer": dict, "rng": dict, "history": dict}
OPTIONAL_FIELDS = {"history": dict}


def _type_error(value, expected: type) -> str | None:
    if expected is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    elif expected is int:
        ok = is_whole_number(value)
    else:
        ok = isinstance(value, expected)
    return None if ok else f"{type(value).__name__} where {article(expected.__name__)} belongs"


def check_checkpoint(checkpoint, path: Path, fields: dict) -> None:
    """Raise a one-line ``UserError`` naming what in ``checkpoint`` (a loaded model.pt) is missing or wrong."""
    if not isinstance(checkpoint, dict):
        raise UserError(f"checkpoint {path} holds a {type(checkpoint).__name__}, not an mnistlib checkpoint: "
                        "give the model.pt (or the folder) a run wrote")
    if checkpoint and all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        raise UserError(f"checkpoint {path} is a bare state_dict (weights only): mnistlib needs the model.pt a run "
                        f"writes, which also names its model and holds the input's mean and std")
    missing = [name for name in fields if name not in checkpoint]
    if missing:
        raise UserError(f"checkpoint {path} lacks {', '.join(missing)}: not a complete mnistlib checkpoint, which "
                        f"holds {', '.join(fields)}; give the model.pt (or the folder) a run wrote")
    wrong = [f"{name} ({why})" for name, kind in {**OPTIONAL_FIELDS, **fields}.items()
             if name in checkpoint and (why := _type_error(checkpoint[name], kind))]
    if not wrong and checkpoint["std"] <= 0:
        wrong.append(f"std ({checkpoint['std']}, not above 0)")
    if not wrong and checkpoint["model"] not in MODELS:
        wrong.append(f"model ({checkpoint['model']!r}, not one of {', '.join(MODELS)})")
    if wrong:
        raise UserError(f"checkpoint {path} has wrong fields: {'; '.join(wrong)}")


def read_checkpoint(path: str | os.PathLike, resuming: bool = False) -> dict:
    """The checkpoint dict of ``path`` (a model.pt, or a run folder holding one), on the CPU, checked by
    ``check_checkpoint`` (``resuming``: with what resuming needs too).

    Raises ``UserError``, one line naming the file and what is wrong: not found, not readable by
    ``torch.load`` (weights only), or missing or wrong fields.
    """
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_FILE
    if not path.is_file():
        raise UserError(f"checkpoint {path} not found: give the folder a run wrote (python -m mnistlib train "
                        "prints it) or its model.pt")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any file torch cannot read is the user's to fix
        raise UserError(f"checkpoint {path} is not a readable mnistlib checkpoint: torch.load failed "
                        f"({one_line(exc, 120)})") from None
    check_checkpoint(checkpoint, path, {**CHECKPOINT_FIELDS, **(RESUME_FIELDS if resuming else {})})
    return checkpoint


def model_from_checkpoint(checkpoint: dict, path: str | os.PathLike) -> torch.nn.Module:
    """The checkpoint's model with its weights, on the CPU, in training mode (``checkpoint`` checked
    by ``read_checkpoint``); a ``UserError`` naming the mismatched weights if they do not fit it."""
    model = build_model(checkpoint["model"])
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as exc:
        detail = " ".join(str(exc).split("\n", 1)[-1].split())
        raise UserError(f"checkpoint {path}: its weights do not fit its model {checkpoint['model']!r} "
                        f"({detail[:240]})") from None
    return model


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict]:
    """The model a run saved, ready for inference, and the checkpoint dict it came from.

    ``path``: a run folder or its ``model.pt``. ``device``: "cpu" (default), "cuda" or "auto". The model
    is returned on ``device`` in evaluation mode (batch norm uses its running statistics, dropout is
    off), so one image at a time gets the same predictions as a batch. It expects (N, 1, 28, 28) float32
    images normalized with ``checkpoint["mean"]`` and ``checkpoint["std"]`` and returns (N, 10) logits.

    Raises ``UserError`` (one line): a device PyTorch cannot use here, a missing, unreadable or
    incomplete checkpoint, or weights that do not fit the model it names.
    """
    dev = resolve_device(device)
    checkpoint = read_checkpoint(path)
    model = model_from_checkpoint(checkpoint, path).to(dev)
    history = checkpoint.get("history")
    if isinstance(history, dict) and history.get("channels_last"):
        model = model.to(memory_format=torch.channels_last)
    return model.eval(), checkpoint
