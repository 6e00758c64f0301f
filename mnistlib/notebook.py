"""What every notebook does around its one change: set up, train a step, report, check the target."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from . import data as mnist_data
from . import results
from .data import MNIST
from .recipes import QUICK_TRAIN_SIZE, RECIPES, get_recipe
from .results import TABLE_HEADER, summarize
from .training import History, describe_device, quick_mode, resolve_device, save_history, train

# The committed run records, seen from notebooks/ in a clone of the repository.
RESULTS = Path("..") / "results"


@dataclass
class Session:
    quick: bool
    device: torch.device
    data: MNIST

    @property
    def histories(self) -> Path:
        """Where each step's history goes: full runs beside the notebooks, quick runs apart."""
        return Path("histories") / ("quick" if self.quick else "")


def start(data_dir: str | os.PathLike | None = None) -> Session:
    """Read quick mode (MNISTLIB_QUICK=1), pick the device, load MNIST onto it and say so."""
    quick = quick_mode()
    device = resolve_device("auto")
    data = mnist_data.load(device, data_dir, train_size=QUICK_TRAIN_SIZE if quick else None)
    mode = f"quick ({QUICK_TRAIN_SIZE:,} training images, 1 epoch)" if quick else "full (the whole recipe)"
    print(f"mode: {mode}; device: {describe_device(device)}; torch {torch.__version__}")
    return Session(quick, device, data)


def run_step(session: Session, recipe: str, seed: int = 0, **overrides):
    """Train one recipe with a progress bar and save its history for the later notebooks."""
    model, history = train(get_recipe(recipe), seed=seed, quick=session.quick, data=session.data, **overrides)
    save_history(session.histories / f"{recipe}.json", history)
    return model, history


def load_histories(session: Session, recipes: list[str]) -> dict[str, History]:
    """The saved histories of earlier steps; a step whose notebook has not run yet is left out."""
    found = {}
    for name in recipes:
        path = session.histories / f"{name}.json"
        if path.is_file():
            found[name] = History.load(path)
        else:
            print(f"no history for {name} yet: run its notebook first")
    return found


def report(history: History) -> None:
    best = history.best_epoch
    minutes, seconds = divmod(history.total_seconds, 60)
    print(
        f"{history.recipe}: {history.params:,} parameters, {len(history.epochs)} epoch(s)\n"
        f"final test accuracy {history.final_accuracy:.2f}%, "
        f"best {best['test_accuracy']:.2f}% (epoch {best['epoch']})\n"
        f"device {history.device}, {int(minutes)} min {seconds:.0f} s of training and testing"
    )


def check_target(history: History, full: float, quick: float) -> None:
    """Assert the step's target: ``full`` for a full run, ``quick`` (a lower bar that proves learning)."""
    bar = quick if history.quick else full
    assert history.final_accuracy >= bar, f"final test accuracy {history.final_accuracy:.2f}% < {bar}%"
    mode = "quick" if history.quick else "full"
    print(f"target met: final test accuracy {history.final_accuracy:.2f}% >= {bar}% ({mode} mode)")


def seed_table(recipes: list[str], folder: str | os.PathLike = RESULTS) -> dict:
    """Print the committed per-seed results of ``recipes`` with mean and standard deviation."""
    summaries = {name: summarize(name, folder) for name in recipes}
    print(TABLE_HEADER)
    for name, found in summaries.items():
        print(found.row() if found else f"| `{name}` | no records in {folder} (a clone of the repository has them) |")
    return {name: found for name, found in summaries.items() if found}


def accuracy_points(session: Session, folder: str | os.PathLike = RESULTS) -> dict[str, tuple[int, list[float]]]:
    """(parameters, final accuracies) of every recipe: its committed seed records (full mode), else
    the history this session's notebooks saved."""
    histories = {name: History.load(path) for name in RECIPES
                 if (path := session.histories / f"{name}.json").is_file()}
    return results.accuracy_points(histories, None if session.quick else folder)
