"""``python -m mnistlib bench``: mnistlib's training pipeline against the classic one, and time-to-99.4%.

The classic pipeline is the original notebook's: ``torchvision.datasets.MNIST`` with
``RandomRotation((-7, 7), fill=(1,))``, ``ToTensor`` and ``Normalize`` run per image in PIL, batched
by a ``DataLoader`` (batch 128, shuffled; one worker and pinned memory on CUDA, none on the CPU, as
the original wrote it). mnistlib's pipeline keeps each split on the device as one tensor, slices
shuffled batches from it and rotates and shifts a whole batch at once on the device.

Both train the step-4 model with the same training step (``step.train_epoch``: SGD with the
recipe's learning-rate policy, on the CPU with the ``cpu_speedups`` that training uses) for the same
number of epochs, from the same initial weights. The CPU options (``cpu_options``) time the step with
and without each speed-up.
"""

from __future__ import annotations

import gzip
import math
import shutil
import statistics
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import torch

from ..core import cpu_speedups
from ..core import data as mnist_data
from ..core.augment import augmentation
from ..core.data import FILES
from ..core.devices import cpu_model, describe_device
from ..core.errors import UserError
from ..core.graphs import COMPILE_SCOPES
from ..core.models import build_model
from ..core.progress import bar as progress_bar
from ..core.recipes import CPU_FAST_RECIPE, DEFAULT_RECIPE, FAST_RECIPE, Recipe, get_recipe
from ..core.runs import History
from ..core.step import make_optimizer, to_channels_last, train_epoch
from ..core.training import evaluate, make_step, train
from .cpu_options import cpu_options
from .flops import cpu_peak_gflops, throughput
from .tables import flops_table
from .timing import attempt, sync

# The compiled pipelines' names, by compile scope.
COMPILED_PIPELINES = {
    "model": "mnistlib graphed + torch.compile (compiled model in the graphs)",
    "step": "mnistlib graphed + compiled step (gather, augmentation, model and loss compiled together)",
}

TIMED_REGION = (
    "from the first batch request of an epoch until its summed loss is read back from the device: "
    "data loading and augmentation, host-to-device copies, forward, backward and optimizer steps; "
    "not dataset decoding, model construction or the test pass"
)


@contextmanager
def torchvision_root(root: Path):
    """A data root torchvision's MNIST can read: it sees only uncompressed files named its way in
    ``MNIST/raw``.

    The root itself when it holds them; else a temporary copy of the files mnistlib found for ``root``
    (any accepted folder and name, ``.gz`` unpacked), so nothing is written into the user's data folder.
    """
    raw = mnist_data.raw_folder(root, tuple(FILES))
    found = {name: mnist_data.find_file(raw, name) for name in FILES}
    if raw == root / "MNIST" / "raw" and all(path == raw / name for name, path in found.items()):
        yield root
        return
    with tempfile.TemporaryDirectory(prefix="mnistlib-bench-") as tmp:
        target = Path(tmp) / "MNIST" / "raw"
        try:
            target.mkdir(parents=True)
            for name, source in found.items():
                with gzip.open(source) if source.suffix == ".gz" else open(source, "rb") as src:
                    with open(target / name, "wb") as dst:
                        shutil.copyfileobj(src, dst)
        except OSError as exc:
            raise UserError(f"cannot copy the MNIST files into {tmp} for torchvision's MNIST ({exc.strerror or exc}): "
                            "free space there, or point TMPDIR at a folder with 55 MB free (the four files "
                            "unpacked)") from None
        yield Path(tmp)


def classic_loader(root: Path, device: torch.device, batch_size: int, rotation: float, mean: float, std: float):
    """The original notebook's training data: torchvision's MNIST with a per-image ``RandomRotation``,
    ``ToTensor`` and ``Normalize``, in a shuffled ``DataLoader`` of ``batch_size``."""
    from torchvision import datasets, transforms

    transform = transforms.Compose([
        transforms.RandomRotation((-rotation, rotation), fill=(1,)),
        transforms.ToTensor(),
        transforms.Normalize((mean,), (std,)),
    ])
    dataset = datasets.MNIST(str(root), train=True, download=False, transform=transform)
    kwargs = {"num_workers": 1, "pin_memory": True} if device.type == "cuda" else {}
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, **kwargs)


def time_pipeline(name: str, make_epoch, recipe: Recipe, device: torch.device, epochs: int, seed: int,
                  train_size: int, graph: bool = False, progress: bool = True) -> dict:
    """Train a fresh model of ``recipe`` for ``epochs`` epochs and time each one.

    ``make_epoch(model, optimizer, total_steps)`` returns ``(epoch(first_step, bar) -> EpochStats, setup)``,
    where ``setup`` holds what the pipeline did once before its first epoch (the graph capture).
    """
    torch.manual_seed(seed)
    model = build_model(recipe.model).to(device)
    steps_per_epoch = -(-train_size // recipe.batch_size)
    optimizer = make_optimizer(model, recipe, graph=graph)
    run_epoch, setup = make_epoch(model, optimizer, epochs * steps_per_epoch)
    seconds, images = 0.0, 0
    with cpu_speedups.applied(model):  # as training applies them, for every pipeline alike
        for epoch in range(epochs):
            bar = progress_bar(steps_per_epoch, f"{name.split(' (')[0]}, epoch {epoch + 1}/{epochs}", progress)
            sync(device)
            start = time.perf_counter()
            stats = run_epoch(epoch * steps_per_epoch, bar)
            stats.loss_sum.item()
            seconds += time.perf_counter() - start
            bar.close()
            images += stats.images
    return {"pipeline": name, "seconds_per_epoch": round(seconds / epochs, 3),
            "images_per_second": round(images / seconds), "images": images, **setup}


def median_run(rows: list[dict]) -> dict:
    """Of a pipeline's timed runs (``time_pipeline``), the one of median seconds per epoch, with every
    run's seconds per epoch under ``"runs_seconds_per_epoch"`` when there are several."""
    row = sorted(rows, key=lambda r: r["seconds_per_epoch"])[(len(rows) - 1) // 2]
    return {**row, "runs_seconds_per_epoch": [r["seconds_per_epoch"] for r in rows]} if len(rows) > 1 else row


def step_breakdown(recipe: Recipe, data: mnist_data.MNIST, device: torch.device, steps: int = 40) -> dict:
    """Where a training step of mnistlib's pipeline goes, in percent (the device is synced per phase)."""
    import torch.nn.functional as F

    model = build_model(recipe.model).to(device).train()
    optimizer = make_optimizer(model, recipe)
    to_channels_last(model, optimizer)  # the layout mnistlib trains in
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
    with cpu_speedups.applied(model):  # the layers mnistlib trains with
        for step in range(steps + 5):  # the first 5 steps warm up
            for name, phase in phases.items():
                start = time.perf_counter()
                phase()
                sync(device)
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


def fixed_budget(histories: list[History], target: float, test_pass_seconds: float) -> dict:
    """Time to ``target`` for a recipe with a fixed epoch budget, judged only by its *final* epoch.

    It counts as reaching the target when at least 90% of the seeds end at or above it (9 of 10);
    its time is then the mean training time of the runs plus one test pass. No run is stopped or
    picked by its test accuracy.
    """
    finals = [h.final_accuracy for h in histories]
    hits = sum(f >= target for f in finals)
    train_seconds = statistics.mean(sum(h.column("train_seconds")) for h in histories)
    met = hits >= 0.9 * len(histories)
    return {
        "recipe": histories[0].recipe, "model": histories[0].model, "target": target,
        "seeds": [h.seed for h in histories], "finals": finals,
        "seeds_at_target": hits, "met": met, "mean_train_seconds": round(train_seconds, 3),
        "test_pass_seconds": round(test_pass_seconds, 4),
        "time_to_target_seconds": round(train_seconds + test_pass_seconds, 3) if met else None,
    }


def time_test_pass(model: torch.nn.Module, data: mnist_data.MNIST, device: torch.device, repeats: int = 5) -> float:
    """Seconds of one pass over the 10,000 test images (the best of a few)."""
    best = float("inf")
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        evaluate(model, data.test)
        best = min(best, time.perf_counter() - start)
    return best


def fastest_compile_scope(rows: list[dict]) -> str | None:
    """The compile scope of the fastest compiled pipeline among ``rows``, or None if none ran."""
    timed = {scope: row["seconds_per_epoch"] for scope, name in COMPILED_PIPELINES.items()
             for row in rows if row["pipeline"] == name and "seconds_per_epoch" in row}
    return min(timed, key=timed.get) if timed else None


def bench(device: torch.device, epochs: int = 1, recipes: tuple[str, ...] | None = None,
          target: float = 99.4, quick: bool = False, seed: int = 0, data_root=None, log=print, seeds: int | None = None,
          full: bool | None = None, progress: bool = True, compiled: bool = False,
          data: mnist_data.MNIST | None = None) -> dict:
    """The whole benchmark; returns its record and logs a table as it goes.

    On the CPU (full mode) the classic and mnistlib's eager pipeline take turns three times, each
    keeping its median run.

    ``seeds`` (default 10 on a GPU, 1 on the CPU) runs of each of ``recipes`` (default: ``CPU_FAST_RECIPE``
    and ``FAST_RECIPE`` on the CPU, ``FAST_RECIPE`` on a GPU) from ``seed`` on give its time to ``target``,
    and every timed training its FLOPs per image, images per second and achieved GFLOP/s against the
    CPU's nominal peak (``flops``); ``full`` (default: on a GPU) adds a timed 20-epoch run of step 4, test
    passes included.
    ``compiled`` (GPU only) adds the graphed step compiled as pipelines, one per compile scope (the
    model alone, the whole forward side of the step), then a second full run and the time to
    ``target`` with the scope whose pipeline was fastest (a scope that fails to compile or capture is
    recorded as failed and left out); compilation happens once, in its pipeline row, and later runs
    reuse the compiled code. ``data``: MNIST already loaded on ``device`` from ``data_root``, if the caller has it.
    """
    import torchvision

    cuda = device.type == "cuda"
    seeds = seeds or (10 if cuda else 1)
    recipes = recipes or ((FAST_RECIPE,) if cuda else (CPU_FAST_RECIPE, FAST_RECIPE))
    full = cuda if full is None else full
    step4 = get_recipe(DEFAULT_RECIPE)
    peak = None if cuda else cpu_peak_gflops()
    root = mnist_data.data_root(data_root)
    data = mnist_data.load(device, root) if data is None else data
    log(f"device: {describe_device(device)}; torch {torch.__version__}, torchvision {torchvision.__version__}")
    log(f"timed region: {TIMED_REGION}")
    log(f"model {step4.model}, batch {step4.batch_size}, {epochs} epoch(s) of {len(data.train):,} images per pipeline")
    # First, so that its 45 steps also warm up kernels and caches for the timed pipelines.
    breakdown = step_breakdown(step4, data, device)
    augment = augmentation(step4, data)

    def pipeline(graph, scope=None):
        def make(model, optimizer, total):
            step = make_step(model, optimizer, data.train, step4, augment, total, graph, scope)
            return step.epoch, ({"capture_seconds": round(step.capture_seconds, 3)} if step.graph else {})
        return make

    repeats = 1 if cuda or quick else 3
    with torchvision_root(root) as tv_root:
        loader = classic_loader(tv_root, device, step4.batch_size, step4.rotation, data.mean, data.std)
        classic = ("classic (torchvision MNIST + DataLoader)",
                   lambda m, o, total: (lambda first, bar: train_epoch(m, o, loader, step4.lr_schedule(total)[first:],
                                                                       bar=bar), {}))
        # The two take turns, and each keeps its median run: a machine that slows down or speeds up
        # meanwhile moves both alike.
        runs = [[time_pipeline(name, make, step4, device, epochs, seed, len(data.train), progress=progress)
                 for name, make in (classic, ("mnistlib eager (device-resident tensors)", pipeline(False)))]
                for _ in range(repeats)]
    rows = [median_run(list(pair)) for pair in zip(*runs, strict=True)]
    if cuda:
        rows.append(time_pipeline("mnistlib graphed (one CUDA graph per step)", pipeline(True), step4,
                                  device, epochs, seed, len(data.train), graph=True, progress=progress))
    failed = []
    if cuda and compiled:
        for scope in COMPILE_SCOPES:
            row = attempt(lambda scope=scope: time_pipeline(COMPILED_PIPELINES[scope], pipeline(True, scope), step4,
                                                            device, epochs, seed, len(data.train), graph=True,
                                                            progress=progress),
                          COMPILED_PIPELINES[scope], log)
            (rows if "error" not in row else failed).append(row)
    log("\n| pipeline | s/epoch | images/s | speed-up |\n| --- | --- | --- | --- |")
    for row in rows:
        row["speedup"] = round(rows[0]["seconds_per_epoch"] / row["seconds_per_epoch"], 3)
        log(f"| {row['pipeline']} | {row['seconds_per_epoch']:.3f} | {row['images_per_second']:,} | "
            f"{row['speedup']:.2f}x |")
    for row in rows:
        if "capture_seconds" in row:
            name = row["pipeline"].split(" (")[0]
            log(f"one-time capture of {name}: {row['capture_seconds']:.2f} s (not in s/epoch)")
    log("\nwhere an eager mnistlib training step goes: " + ", ".join(f"{k} {v}%" for k, v in breakdown.items()))

    record = {
        "device": device.type, "device_name": describe_device(device), "torch": torch.__version__,
        "torchvision": torchvision.__version__, "cpu_threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(), "cpu_model": cpu_model(),
        "timed_region": TIMED_REGION, "model": step4.model, "batch_size": step4.batch_size, "epochs": epochs,
        "pipelines": rows, "speedup": rows[-1]["speedup"], "step_breakdown_percent": breakdown,
    }
    if failed:
        record["failed_pipelines"] = failed
    if not cuda:
        record["cpu_options"] = cpu_options(step4, data, log, rounds=2 if quick else 5)
    # The compiled full run and time-to-target runs use the fastest compile scope that worked here.
    scope = fastest_compile_scope(rows) if cuda and compiled else None
    if scope is not None:
        record["compile_scope"] = scope
        log(f"compiled runs below: compile scope {scope!r}, the fastest pipeline above")
    full_runs = [("full_run", None)] + ([("full_run_compiled", scope)] if scope else []) if full else []
    for key, run_scope in full_runs:
        start = time.perf_counter()
        _, history = train(step4, seed=seed, quick=quick, data=data, device=device.type, progress=progress,
                           log=lambda line: None, compile_scope=run_scope)
        wall = time.perf_counter() - start
        record[key] = {"recipe": step4.name, "epochs": len(history.epochs), "wall_seconds": round(wall, 3),
                       "capture_seconds": history.capture_seconds, "compile_scope": history.compile_scope,
                       "final_accuracy": history.final_accuracy}
        log(f"\n{step4.name}{' (compiled)' if run_scope else ''}, {len(history.epochs)} epochs with a test pass "
            f"each: {wall:.2f} s wall, of which graph capture {history.capture_seconds or 0:.2f} s; "
            f"final {history.final_accuracy:.2f}%")

    record["peak"] = peak
    for row in rows:
        row.update(throughput(step4.model, row["images_per_second"], peak))
    record["times_to_target"], record["first_reached"], record["histories"] = [], [], []
    for name in recipes:
        budget, histories = time_recipe(get_recipe(name), data, device, target, seed, seeds, quick, scope, progress,
                                        log)
        images = sum(h.train_size * len(h.epochs) for h in histories)
        budget.update(throughput(histories[0].model, images / (budget["mean_train_seconds"] * len(histories)), peak))
        record["times_to_target"].append(budget)
        record["first_reached"] += [time_to_target(h, target) for h in histories]  # per run, for reference
        record["histories"] += [h.to_dict() for h in histories]
    log("\n" + "\n".join(flops_table({"this run": record})))
    if peak:
        log(f"peak: {peak['cores']} cores x {peak['clock_ghz']} GHz x {peak['fma_units_per_core']} FMA units x "
            f"{peak['floats_per_vector']} floats ({peak['vector_instructions']}) x 2 = {peak['gflops']} GFLOP/s")
    return record


def time_recipe(timed: Recipe, data: mnist_data.MNIST, device: torch.device, target: float, seed: int, seeds: int,
                quick: bool, scope: str | None, progress: bool, log=print) -> tuple[dict, list[History]]:
    """``seeds`` runs of ``timed`` from ``seed`` on, and its time to ``target`` by the fixed-budget rule
    (``fixed_budget``); returns that and the runs. Raises what ``training.train`` raises."""
    budget_epochs = (timed.quick_variant() if quick else timed).epochs
    log(f"\ntime to {target}%: recipe {timed.name}, a fixed budget of {budget_epochs} epoch(s), "
        f"seeds {seed}-{seed + seeds - 1}{' (quick mode)' if quick else ''}{', compiled' if scope else ''}")
    histories, model = [], None
    for s in range(seed, seed + seeds):
        model, history = train(timed, seed=s, quick=quick, data=data, device=device.type, progress=progress,
                               log=lambda line: None, compile_scope=scope)
        histories.append(history)
        log(f"  seed {s}: final {history.final_accuracy:.2f}% after {sum(history.column('train_seconds')):.2f} s "
            f"of training")
    budget = fixed_budget(histories, target, time_test_pass(model, data, device))
    if budget["met"]:
        log(f"time to {target}% with {timed.name}: {budget['time_to_target_seconds']:.2f} s (mean training time "
            f"{budget['mean_train_seconds']:.2f} s + one test pass {budget['test_pass_seconds']:.3f} s); "
            f"{budget['seeds_at_target']} of {seeds} seeds ended at or above {target}%")
    else:
        log(f"time to {target}% with {timed.name}: not met, {budget['seeds_at_target']} of {seeds} seeds ended at "
            f"or above {target}% (at least {math.ceil(0.9 * seeds)} needed)")
    return budget, histories
