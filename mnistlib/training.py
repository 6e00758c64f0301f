"""Training and evaluation: ``fit`` for one model and recipe, ``train`` for a whole run folder."""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from . import analysis
from . import data as mnist_data
from .data import MNIST, Split
from .errors import UserError
from .files import atomic_write
from .models import build_model, count_parameters
from .recipes import QUICK_TRAIN_SIZE, Recipe, get_recipe

HISTORY_FILE = "history.json"
CHECKPOINT_FILE = "model.pt"


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda"):
        raise UserError(f"unknown device {device!r}; choose auto, cpu or cuda")
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda asked for, but PyTorch sees no CUDA GPU here; use --device cpu or auto")
    return torch.device(device)


def describe_device(device: torch.device) -> str:
    """The device as the notebooks and the benchmark report it: the GPU's name, or the CPU threads."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"


def quick_mode(quick: bool | None = None) -> bool:
    """The explicit flag if given, else MNISTLIB_QUICK=1 in the environment."""
    if quick is not None:
        return quick
    return os.environ.get("MNISTLIB_QUICK", "") not in ("", "0")


@dataclass
class History:
    """What a run did: its settings and one record per epoch (accuracies in percent)."""

    recipe: str
    model: str
    params: int
    seed: int
    device: str
    quick: bool = False
    epochs: list[dict] = field(default_factory=list)

    @property
    def final_accuracy(self) -> float:
        return self.epochs[-1]["test_accuracy"]

    @property
    def best_epoch(self) -> dict:
        return max(self.epochs, key=lambda e: e["test_accuracy"])

    @property
    def total_seconds(self) -> float:
        return sum(e["seconds"] for e in self.epochs)

    def column(self, key: str) -> list[float]:
        return [e[key] for e in self.epochs]

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("recipe", "model", "params", "seed", "device", "quick", "epochs")}

    @classmethod
    def load(cls, path: str | os.PathLike) -> History:
        path = Path(path)
        if path.is_dir():
            path = path / HISTORY_FILE
        return cls(**json.loads(path.read_text()))


def evaluate(model: torch.nn.Module, split: Split) -> tuple[float, int]:
    """(average loss, number correct) over a split, in evaluation mode."""
    out = analysis.logits(model, split)
    loss = F.cross_entropy(out, split.labels, reduction="sum").item()
    return loss / len(split), int((out.argmax(1) == split.labels).sum().item())


def make_optimizer(model: torch.nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                           weight_decay=recipe.weight_decay)


@dataclass
class EpochStats:
    """Sums over one training epoch, kept on the device until the epoch ends."""

    loss_sum: torch.Tensor
    correct: torch.Tensor
    images: int = 0
    lr: float = 0.0


def train_epoch(model, optimizer, batches, recipe: Recipe, first_step: int, total_steps: int,
                augment=None, bar=None) -> EpochStats:
    """One pass over ``batches`` of (images, labels): augment, forward, backward, optimizer step.

    The learning rate follows ``recipe.lr_at`` from optimizer step ``first_step`` of ``total_steps``.
    Loss and accuracy are summed on the device: no host sync per batch.
    """
    device = next(model.parameters()).device
    stats = EpochStats(torch.zeros((), device=device), torch.zeros((), dtype=torch.long, device=device))
    model.train()
    for step, (images, labels) in enumerate(batches, start=first_step):
        images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        stats.lr = recipe.lr_at(step, total_steps)
        for group in optimizer.param_groups:
            group["lr"] = stats.lr
        if augment is not None:
            images = augment(images)
        logits = model(images)
        loss = F.cross_entropy(logits, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        stats.loss_sum += loss.detach() * len(labels)
        stats.correct += (logits.detach().argmax(1) == labels).sum()
        stats.images += len(labels)
        if bar is not None:
            bar.update()
    return stats


def augmentation(recipe: Recipe, data: MNIST):
    """The recipe's batched augmentation on the device, or None."""
    if not (recipe.rotation or recipe.shift):
        return None
    return lambda images: mnist_data.random_rotation(images, recipe.rotation, data.background, recipe.shift)


def fit(
    model: torch.nn.Module,
    data: MNIST,
    recipe: Recipe,
    *,
    epochs: int | None = None,
    history: History | None = None,
    progress: bool = True,
    on_epoch=None,
    log=print,
) -> History:
    """Train ``model`` on ``data`` (already on the device) with ``recipe``; one test pass per epoch.

    Seed the global RNG before calling (``train`` does): it drives shuffling, rotations and dropout.
    Each epoch record holds ``seconds`` (training and testing) and ``train_seconds`` (training only).
    """
    epochs = epochs or recipe.epochs
    device = data.train.labels.device
    history = history or History(recipe.name, recipe.model, count_parameters(model), -1, device.type)
    optimizer = make_optimizer(model, recipe)
    augment = augmentation(recipe, data)
    steps_per_epoch = -(-len(data.train) // recipe.batch_size)
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        # Updated by hand, not wrapped around the loop, so the epoch's loss can go in before it closes.
        bar = tqdm(total=steps_per_epoch, desc=f"Epoch {epoch}/{epochs}", disable=not progress,
                   file=sys.stdout, ncols=100, mininterval=1.0)
        stats = train_epoch(model, optimizer, data.train.batches(recipe.batch_size, shuffle=True), recipe,
                            (epoch - 1) * steps_per_epoch, epochs * steps_per_epoch, augment, bar)
        train_loss = stats.loss_sum.item() / stats.images  # waits for the device
        train_seconds = time.perf_counter() - start
        bar.set_postfix_str(f"loss={train_loss:.4f}")
        bar.close()
        test_loss, test_correct = evaluate(model, data.test)
        n_test = len(data.test)
        record = {
            "epoch": epoch,
            "train_loss": round(train_loss, 6),
            "train_accuracy": round(100 * int(stats.correct.item()) / stats.images, 4),
            "test_loss": round(test_loss, 6),
            "test_accuracy": round(100 * test_correct / n_test, 4),
            "lr": stats.lr,
            "seconds": round(time.perf_counter() - start, 3),
            "train_seconds": round(train_seconds, 3),
        }
        history.epochs.append(record)
        log(
            f"Test set: Average loss: {test_loss:.4f}, "
            f"Accuracy: {test_correct}/{n_test} ({record['test_accuracy']:.2f}%)"
        )
        if on_epoch is not None:
            on_epoch(model, history)
    return history


def save_history(path: Path, history: History) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = json.dumps(history.to_dict(), indent=1).encode() + b"\n"
    atomic_write(path, lambda f: f.write(payload))


def save_run(run_dir: Path, model: torch.nn.Module, history: History, data: MNIST) -> None:
    """Write the checkpoint and history.json; each file is replaced whole or not at all."""
    checkpoint = {
        "recipe": history.recipe,
        "model": history.model,
        "params": history.params,
        "mean": data.mean,
        "std": data.std,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    atomic_write(run_dir / CHECKPOINT_FILE, lambda f: torch.save(checkpoint, f))
    save_history(run_dir / HISTORY_FILE, history)


def check_run_dir(run_dir: Path) -> None:
    """Refuse a folder that already holds a run, so a new run never overwrites an old one."""
    if run_dir.exists() and not run_dir.is_dir():
        raise UserError(f"--out {run_dir} exists and is not a folder")
    taken = [name for name in (HISTORY_FILE, CHECKPOINT_FILE) if (run_dir / name).exists()]
    if taken:
        raise UserError(f"--out {run_dir} already holds a run ({', '.join(taken)}); choose another folder")


def train(
    recipe: str | Recipe = "step4_final",
    *,
    seed: int = 0,
    epochs: int | None = None,
    quick: bool | None = None,
    device: str = "auto",
    data_dir: str | os.PathLike | None = None,
    out: str | os.PathLike | None = None,
    progress: bool = True,
    data: MNIST | None = None,
    log=print,
):
    """Train a recipe from scratch: returns (model, history) and, if ``out`` is given, writes the run.

    Quick mode (argument, else MNISTLIB_QUICK=1) trains on the first QUICK_TRAIN_SIZE images for
    one epoch; the test set is always the full 10,000 images.
    """
    recipe = get_recipe(recipe) if isinstance(recipe, str) else recipe
    quick = quick_mode(quick)
    if epochs is not None and not 1 <= epochs <= 1000:
        raise UserError(f"--epochs must be between 1 and 1000, got {epochs}")
    epochs = 1 if quick and epochs is None else epochs or recipe.epochs
    dev = resolve_device(device)
    run_dir = Path(out) if out is not None else None
    if run_dir is not None:
        check_run_dir(run_dir)
    if data is None:
        data = mnist_data.load(dev, data_dir, train_size=QUICK_TRAIN_SIZE if quick else None)
    torch.manual_seed(seed)
    model = build_model(recipe.model).to(dev)
    history = History(recipe.name, recipe.model, count_parameters(model), seed, str(dev), quick)
    on_epoch = None
    if run_dir is not None:
        run_dir.mkdir(parents=True, exist_ok=True)
        on_epoch = lambda m, h: save_run(run_dir, m, h, data)  # noqa: E731
    fit(model, data, recipe, epochs=epochs, history=history, progress=progress, on_epoch=on_epoch, log=log)
    return model, history


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu"):
    """The model saved by a run, and the checkpoint dict it came from."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint {path} not found")
    try:
        checkpoint = torch.load(path, map_location=device, weights_only=True)
        model = build_model(checkpoint["model"])
        model.load_state_dict(checkpoint["state_dict"])
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's to fix
        raise UserError(f"checkpoint {path} is not a readable mnistlib checkpoint ({type(exc).__name__})") from None
    return model.to(device), checkpoint
