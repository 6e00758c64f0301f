"""``python -m mnistlib bench``: mnistlib's training pipeline against the classic one, and time-to-99.4%.

The classic pipeline is the original notebook's: ``torchvision.datasets.MNIST`` with
``RandomRotation((-7, 7), fill=(1,))``, ``ToTensor`` and ``Normalize`` run per image in PIL, batched
by a ``DataLoader`` (batch 128, shuffled; one worker and pinned memory on CUDA, none on the CPU, as
the original wrote it). mnistlib's pipeline keeps each split on the device as one tensor, slices
shuffled batches from it and rotates and shifts a whole batch at once on the device.

Both train the step-4 model with the same training step (``step.train_epoch``: SGD with the
recipe's learning-rate policy) for the same number of epochs, from the same initial weights.
"""

from __future__ import annotations

import gzip
import math
import shutil
import statistics
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

from . import data as mnist_data
from .data import FILES
from .devices import describe_device, torch_threads
from .errors import UserError, one_line
from .graphs import COMPILE_SCOPES
from .models import BatchNorm2d, build_model
from .progress import bar as progress_bar
from .recipes import DEFAULT_RECIPE, FAST_RECIPE, Recipe, get_recipe
from .records import History
from .step import augmentation, batch_loss, make_optimizer, make_step, to_channels_last, train_epoch
from .training import evaluate, train

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


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


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
    for epoch in range(epochs):
        bar = progress_bar(steps_per_epoch, f"{name.split(' (')[0]}, epoch {epoch + 1}/{epochs}", progress)
        _sync(device)
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


@dataclass(frozen=True)
class CpuOption:
    """One way to run the training step and test pass on the CPU (``cpu_options`` times each)."""

    name: str
    recipe: str | None = None  # whose model it trains; None: the one ``cpu_options`` is given (step 4's)
    channels_last: bool = False
    bn_all_threads: bool = False  # PyTorch's batch norm on all threads everywhere (``models.BatchNorm2d``)
    bf16: bool = False  # autocast to bfloat16
    compiled: bool = False  # torch.compile of the step's forward side (default mode)
    threads: int | None = None  # None: the process's thread count
    test_batch: int | None = None  # None: analysis.EVAL_BATCH


# Each against the first of its model, the eager step in PyTorch's default layout (NCHW, fp32).
CPU_OPTIONS = [
    CpuOption("eager, NCHW, fp32"),
    CpuOption("channels-last, batch norm on all threads", channels_last=True, bn_all_threads=True),
    CpuOption("channels-last (the default)", channels_last=True),
    CpuOption("bf16 autocast", bf16=True),
    CpuOption("channels-last + bf16 autocast", channels_last=True, bf16=True),
    CpuOption("torch.compile (default mode)", compiled=True),
    CpuOption("channels-last, 1 thread", channels_last=True, threads=1),
    CpuOption("channels-last, test pass in batches of 1,000", channels_last=True, test_batch=1000),
    # The fast recipe's model, whose first block has 12 channels, against its own eager NCHW step.
    CpuOption(f"{FAST_RECIPE}: eager, NCHW, fp32", recipe=FAST_RECIPE),
    CpuOption(f"{FAST_RECIPE}: channels-last, batch norm on all threads", recipe=FAST_RECIPE, channels_last=True,
              bn_all_threads=True),
    CpuOption(f"{FAST_RECIPE}: channels-last (the default)", recipe=FAST_RECIPE, channels_last=True),
]


@contextmanager
def cpu_settings(option: CpuOption):
    """The thread count and test-pass batch of ``option`` inside the block; both restored after."""
    from . import analysis

    batch_before = analysis.EVAL_BATCH["cpu"]
    analysis.EVAL_BATCH["cpu"] = option.test_batch or batch_before
    try:
        with torch_threads(option.threads or torch.get_num_threads()):
            yield
    finally:
        analysis.EVAL_BATCH["cpu"] = batch_before


def cpu_option_runner(option: CpuOption, recipe: Recipe, data: mnist_data.MNIST):
    """``(train_step, test_pass)`` of the model of ``option.recipe`` (else ``recipe``) run as ``option`` says,
    warmed up (and compiled): one training step on a batch of the recipe's size, one pass over ``data.test``."""
    recipe = get_recipe(option.recipe) if option.recipe else recipe
    torch.manual_seed(0)
    model = build_model(recipe.model)
    optimizer = make_optimizer(model, recipe)
    if option.channels_last:
        to_channels_last(model, optimizer)
    for module in model.modules():
        if isinstance(module, BatchNorm2d):
            module.all_threads = option.bn_all_threads
    augment = augmentation(recipe, data)
    forward = torch.compile(batch_loss, dynamic=False) if option.compiled else batch_loss
    images, labels = data.train.images[: recipe.batch_size], data.train.labels[: recipe.batch_size]
    sums = torch.zeros(()), torch.zeros((), dtype=torch.long)

    def train_step():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=option.bf16):
            loss = forward(model, images, labels, augment, recipe.label_smoothing, *sums)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def test_pass():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=option.bf16):
            evaluate(model, data.test)

    with cpu_settings(option):
        for _ in range(3):
            train_step()
    return train_step, test_pass


def cpu_options(recipe: Recipe, data: mnist_data.MNIST, log=print, rounds: int = 5, steps: int = 10) -> list[dict]:
    """Each of ``CPU_OPTIONS`` timed on the CPU, with its ratios to the first option of its model.

    The options take turns: each round times ``steps`` training steps and one test pass of every
    option in a row, and an option's figures are the medians over ``rounds`` rounds, so a machine
    that slows down or speeds up meanwhile moves every option alike. An option that fails
    (``torch.compile`` without a C++ compiler, say) is a row that says so.
    """
    from .results import cpu_options_table

    rows = {option: attempt(lambda option=option: {"runner": cpu_option_runner(option, recipe, data)}, option.name,
                            log, key="option") for option in CPU_OPTIONS}
    runners = {option: row.pop("runner") for option, row in rows.items() if "runner" in row}
    times = {option: ([], []) for option in runners}
    for _ in range(rounds):
        for option, (train_step, test_pass) in runners.items():
            with cpu_settings(option):
                start = time.perf_counter()
                for _ in range(steps):
                    train_step()
                middle = time.perf_counter()
                test_pass()
                end = time.perf_counter()
            times[option][0].append((middle - start) / steps)
            times[option][1].append(end - middle)
    for option, (step_s, test_s) in times.items():
        rows[option] = {"option": option.name, "step_seconds": round(statistics.median(step_s), 5),
                        "test_pass_seconds": round(statistics.median(test_s), 3)}
    bases = {}
    for option in CPU_OPTIONS:
        row, base = rows[option], rows[bases.setdefault(option.recipe, option)]
        if "error" not in row and "error" not in base:
            row["step_speedup"] = round(base["step_seconds"] / row["step_seconds"], 3)
            row["test_pass_speedup"] = round(base["test_pass_seconds"] / row["test_pass_seconds"], 3)
    rows = [rows[option] for option in CPU_OPTIONS]
    log("\n" + "\n".join(cpu_options_table(rows)))
    return rows


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
    for step in range(steps + 5):  # the first 5 steps warm up
        for name, phase in phases.items():
            start = time.perf_counter()
            phase()
            _sync(device)
            if step >= 5:
                seconds[name] += time.perf_counter() - start
    total = sum(seconds.values())
    return {name: round(100 * t / total, 1) for name, t in seconds.items()}


def seconds_per_image(recipe: Recipe, data: mnist_data.MNIST, steps: int = 2) -> float:
    """Rough training seconds per image of ``recipe`` here (eager step), from timing a few steps after
    one warm-up step; the global random-number state is left as it was."""
    device = data.train.labels.device
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        model = build_model(recipe.model).to(device)
        optimizer = make_optimizer(model, recipe)
        augment = augmentation(recipe, data)
        batches = data.train.head(recipe.batch_size * (steps + 1)).batches(recipe.batch_size)
        rates = recipe.lr_schedule(steps + 1)
        train_epoch(model, optimizer, [next(batches)], rates, augment, recipe.label_smoothing)
        _sync(device)
        start = time.perf_counter()
        train_epoch(model, optimizer, batches, rates[1:], augment, recipe.label_smoothing).loss_sum.item()
    return (time.perf_counter() - start) / (steps * recipe.batch_size)


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
        "recipe": histories[0].recipe, "target": target, "seeds": [h.seed for h in histories], "finals": finals,
        "seeds_at_target": hits, "met": met, "mean_train_seconds": round(train_seconds, 3),
        "test_pass_seconds": round(test_pass_seconds, 4),
        "time_to_target_seconds": round(train_seconds + test_pass_seconds, 3) if met else None,
    }


def time_test_pass(model: torch.nn.Module, data: mnist_data.MNIST, device: torch.device, repeats: int = 5) -> float:
    """Seconds of one pass over the 10,000 test images (the best of a few)."""
    best = float("inf")
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        evaluate(model, data.test)
        best = min(best, time.perf_counter() - start)
    return best


def attempt(run, name: str, log=print, key: str = "pipeline") -> dict:
    """``run()``'s row, or, if it raised, a row ``{key: name, "error": ...}`` that says so: a pipeline or
    option that cannot compile on this machine must not cost the rest of the benchmark."""
    try:
        return run()
    except Exception as error:  # noqa: BLE001 - anything compile or capture raises; it goes in the record
        log(f"{name.split(' (')[0]} failed, left out: {one_line(error)}")
        return {key: name, "error": one_line(error)}


def fastest_compile_scope(rows: list[dict]) -> str | None:
    """The compile scope of the fastest compiled pipeline among ``rows``, or None if none ran."""
    timed = {scope: row["seconds_per_epoch"] for scope, name in COMPILED_PIPELINES.items()
             for row in rows if row["pipeline"] == name and "seconds_per_epoch" in row}
    return min(timed, key=timed.get) if timed else None


def bench(device: torch.device, epochs: int = 1, recipe: str = FAST_RECIPE, target: float = 99.4,
          quick: bool = False, seed: int = 0, data_root=None, log=print, seeds: int | None = None,
          full: bool | None = None, progress: bool = True, compiled: bool = False,
          data: mnist_data.MNIST | None = None) -> dict:
    """The whole benchmark; returns its record and logs a table as it goes.

    On the CPU (full mode) the classic and mnistlib's eager pipeline take turns three times, each
    keeping its median run.

    ``seeds`` (default 10 on a GPU, 1 on the CPU) runs of ``recipe`` from ``seed`` on give its time to
    ``target``; ``full`` (default: on a GPU) adds a timed 20-epoch run of step 4, test passes included.
    ``compiled`` (GPU only) adds the graphed step compiled as pipelines, one per compile scope (the
    model alone, the whole forward side of the step), then a second full run and the time to
    ``target`` with the scope whose pipeline was fastest (a scope that fails to compile or capture is
    recorded as failed and left out); compilation happens once, in its pipeline row, and later runs
    reuse the compiled code. ``data``: MNIST already loaded on ``device`` from ``data_root``, if the caller has it.
    """
    import torchvision

    cuda = device.type == "cuda"
    seeds = seeds or (10 if cuda else 1)
    full = cuda if full is None else full
    step4, timed = get_recipe(DEFAULT_RECIPE), get_recipe(recipe)
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
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
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

    log(f"\ntime to {target}%: recipe {timed.name}, a fixed budget of {1 if quick else timed.epochs} epoch(s), "
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
        log(f"time to {target}%: {budget['time_to_target_seconds']:.2f} s (mean training time "
            f"{budget['mean_train_seconds']:.2f} s + one test pass {budget['test_pass_seconds']:.3f} s); "
            f"{budget['seeds_at_target']} of {seeds} seeds ended at or above {target}%")
    else:
        log(f"time to {target}%: not met, {budget['seeds_at_target']} of {seeds} seeds ended at or above {target}% "
            f"(at least {math.ceil(0.9 * seeds)} needed)")
    record["time_to_target"] = budget
    record["first_reached"] = [time_to_target(h, target) for h in histories]  # per run, for reference
    record["histories"] = [h.to_dict() for h in histories]
    return record
