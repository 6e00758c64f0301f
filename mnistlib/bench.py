"""``python -m mnistlib bench``: mnistlib's training pipeline against the classic one, and time-to-99.4%.

The classic pipeline is the original notebook's: ``torchvision.datasets.MNIST`` with
``RandomRotation((-7, 7), fill=(1,))``, ``ToTensor`` and ``Normalize`` run per image in PIL, batched
by a ``DataLoader`` (batch 128, shuffled; one worker and pinned memory on CUDA, none on the CPU, as
the original wrote it). mnistlib's pipeline keeps each split on the device as one tensor, slices
shuffled batches from it and rotates and shifts a whole batch at once on the device.

Both train the step-4 model with the same training step (``training.train_epoch``: SGD with the
recipe's learning-rate policy) for the same number of epochs, from the same initial weights.
"""

from __future__ import annotations

import gzip
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import torch

from . import data as mnist_data
from .data import FILES
from .models import build_model
from .recipes import DEFAULT_RECIPE, Recipe, get_recipe
from .training import History, augmentation, describe_device, make_optimizer, train, train_epoch

TIMED_REGION = (
    "from the first batch request of an epoch until its summed loss is read back from the device: "
    "data loading and augmentation, host-to-device copies, forward, backward and optimizer steps; "
    "not dataset decoding, model construction or the test pass"
)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextmanager
def torchvision_root(root: Path):
    """A data root torchvision's MNIST can read: it sees only uncompressed files in ``MNIST/raw``.

    The root itself when it holds them; else a temporary copy with the ``.gz`` files unpacked, so
    nothing is written into the user's data folder.
    """
    raw = root / "MNIST" / "raw"
    if all((raw / name).is_file() for name in FILES):
        yield root
        return
    with tempfile.TemporaryDirectory(prefix="mnistlib-bench-") as tmp:
        target = Path(tmp) / "MNIST" / "raw"
        target.mkdir(parents=True)
        for name in FILES:
            source = raw / name if (raw / name).is_file() else raw / f"{name}.gz"
            with gzip.open(source) if source.suffix == ".gz" else open(source, "rb") as src:
                with open(target / name, "wb") as dst:
                    shutil.copyfileobj(src, dst)
        yield Path(tmp)


def classic_loader(root: Path, device: torch.device, batch_size: int, rotation: float, mean: float, std: float):
    from torchvision import datasets, transforms

    transform = transforms.Compose([
        transforms.RandomRotation((-rotation, rotation), fill=(1,)),
        transforms.ToTensor(),
        transforms.Normalize((mean,), (std,)),
    ])
    dataset = datasets.MNIST(str(root), train=True, download=False, transform=transform)
    kwargs = {"num_workers": 1, "pin_memory": True} if device.type == "cuda" else {}
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, **kwargs)


def time_pipeline(name: str, make_batches, augment, recipe: Recipe, device: torch.device, epochs: int,
                  steps_per_epoch: int, seed: int) -> dict:
    """Train a fresh model of ``recipe`` for ``epochs`` epochs of ``make_batches()``; time each epoch."""
    torch.manual_seed(seed)
    model = build_model(recipe.model).to(device)
    optimizer = make_optimizer(model, recipe)
    seconds, images = 0.0, 0
    for epoch in range(epochs):
        _sync(device)
        start = time.perf_counter()
        stats = train_epoch(model, optimizer, make_batches(), recipe, epoch * steps_per_epoch,
                            epochs * steps_per_epoch, augment)
        stats.loss_sum.item()
        seconds += time.perf_counter() - start
        images += stats.images
    return {"pipeline": name, "seconds_per_epoch": round(seconds / epochs, 3),
            "images_per_second": round(images / seconds), "images": images}


def step_breakdown(recipe: Recipe, data: mnist_data.MNIST, device: torch.device, steps: int = 40) -> dict:
    """Where a training step of mnistlib's pipeline goes, in percent (the device is synced per phase)."""
    import torch.nn.functional as F

    model = build_model(recipe.model).to(device).train()
    optimizer = make_optimizer(model, recipe)
    augment = augmentation(recipe, data) or (lambda images: images)
    batches = data.train.batches(recipe.batch_size, shuffle=True)
    state = {}

    def backward():
        optimizer.zero_grad(set_to_none=True)
        state["loss"].backward()

    phases = {
        "batch slicing": lambda: state.update(zip(("images", "labels"), next(batches), strict=True)),
        "augmentation": lambda: state.update(images=augment(state["images"])),
        "forward": lambda: state.update(loss=F.cross_entropy(model(state["images"]), state["labels"])),
        "backward": backward,
        "optimizer": optimizer.step,
    }
    seconds = dict.fromkeys(phases, 0.0)
    for step in range(steps + 5):  # the first 5 steps warm up
        for name, phase in phases.items():
            start = time.perf_counter()
            phase()
            _sync(device)
            if step >= 5:
                seconds[name] += time.perf_counter() - start
    total = sum(seconds.values())
    return {name: round(100 * t / total, 1) for name, t in seconds.items()}


def time_to_target(history: History, target: float) -> dict:
    """Training seconds until the test accuracy first reached ``target`` (test passes excluded)."""
    train_s = eval_s = 0.0
    reached = None
    for e in history.epochs:
        train_s += e["train_seconds"]
        eval_s += e["seconds"] - e["train_seconds"]
        if e["test_accuracy"] >= target:
            reached = e["epoch"]
            break
    return {
        "recipe": history.recipe, "seed": history.seed, "target": target, "reached_at_epoch": reached,
        "train_seconds": round(train_s, 2) if reached else None,
        "eval_seconds": round(eval_s, 2) if reached else None,
        "epochs_run": len(history.epochs), "final_accuracy": history.final_accuracy,
        "accuracies": history.column("test_accuracy"),
        "total_train_seconds": round(sum(history.column("train_seconds")), 2),
    }


def bench(device: torch.device, epochs: int = 1, recipe: str = DEFAULT_RECIPE, target: float = 99.4,
          quick: bool = False, seed: int = 0, data_root=None, log=print) -> dict:
    """The whole benchmark; returns its record and logs a table as it goes."""
    import torchvision

    step4, timed = get_recipe(DEFAULT_RECIPE), get_recipe(recipe)
    root = mnist_data.data_root(data_root)
    data = mnist_data.load(device, root)
    steps_per_epoch = -(-len(data.train) // step4.batch_size)
    log(f"device: {describe_device(device)}; torch {torch.__version__}, torchvision {torchvision.__version__}")
    log(f"timed region: {TIMED_REGION}")
    log(f"model {step4.model}, batch {step4.batch_size}, {epochs} epoch(s) of {len(data.train):,} images per pipeline")
    # First, so that its 45 steps also warm up kernels and caches for both timed pipelines.
    breakdown = step_breakdown(step4, data, device)
    rows = []
    with torchvision_root(root) as tv_root:
        loader = classic_loader(tv_root, device, step4.batch_size, step4.rotation, data.mean, data.std)
        rows.append(time_pipeline("classic (torchvision MNIST + DataLoader)", lambda: loader, None, step4, device,
                                  epochs, steps_per_epoch, seed))
    rows.append(time_pipeline("mnistlib (device-resident tensors)",
                              lambda: data.train.batches(step4.batch_size, shuffle=True),
                              augmentation(step4, data), step4, device, epochs, steps_per_epoch, seed))
    log("\n| pipeline | s/epoch | images/s |\n| --- | --- | --- |")
    for row in rows:
        log(f"| {row['pipeline']} | {row['seconds_per_epoch']:.2f} | {row['images_per_second']:,} |")
    speedup = rows[0]["seconds_per_epoch"] / rows[1]["seconds_per_epoch"]
    log("\nwhere a mnistlib training step goes: " + ", ".join(f"{k} {v}%" for k, v in breakdown.items()))

    log(f"\ntime to {target}%: recipe {timed.name}, seed {seed}{' (quick mode)' if quick else ''}")
    _, history = train(timed, seed=seed, quick=quick, data=data, device=device.type, progress=False,
                       log=lambda line: log(f"  {line}"))
    reach = time_to_target(history, target)
    if reach["reached_at_epoch"]:
        log(f"time to {target}%: {reach['train_seconds']:.1f} s of training (epoch {reach['reached_at_epoch']}), "
            f"plus {reach['eval_seconds']:.1f} s of test passes; final accuracy {history.final_accuracy:.2f}%")
    else:
        log(f"time to {target}%: not reached in {len(history.epochs)} epoch(s); "
            f"final accuracy {history.final_accuracy:.2f}%")
    return {
        "device": device.type, "device_name": describe_device(device), "torch": torch.__version__,
        "torchvision": torchvision.__version__, "cpu_threads": torch.get_num_threads(),
        "timed_region": TIMED_REGION, "model": step4.model, "batch_size": step4.batch_size, "epochs": epochs,
        "pipelines": rows, "speedup": round(speedup, 3), "step_breakdown_percent": breakdown,
        "time_to_target": reach,
        "history": history.to_dict(),  # the time-to-target run, epoch by epoch
    }
