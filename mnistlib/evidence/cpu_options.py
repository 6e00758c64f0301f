"""Ways to run the training step and the test pass on the CPU, timed against each other.

Each option is a memory layout, a number format, a thread count, compilation, or the CPU speed-ups
(``core.cpu_speedups``) on or off; each row is timed against the first row of its model, torch's own
layers in PyTorch's default layout (NCHW) and fp32. docs/performance.md shows and reads the table.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch

from ..core import cpu_speedups
from ..core.augment import augmentation
from ..core.data import MNIST
from ..core.devices import torch_threads
from ..core.models import build_model
from ..core.recipes import FAST_RECIPE, Recipe, get_recipe
from ..core.step import batch_loss, make_optimizer, to_channels_last
from ..core.training import evaluate
from .tables import cpu_options_table
from .timing import attempt

BOTH = tuple(cpu_speedups.SPEEDUPS)  # what the CPU training step applies


@dataclass(frozen=True)
class CpuOption:
    """One way to run the training step and test pass on the CPU (``cpu_options`` times each)."""

    name: str
    recipe: str | None = None  # whose model it trains; None: the one ``cpu_options`` is given (step 4's)
    channels_last: bool = False
    speedups: tuple[str, ...] = BOTH  # keys of ``cpu_speedups.SPEEDUPS`` swapped into the model
    bf16: bool = False  # autocast to bfloat16
    compiled: bool = False  # torch.compile of the step's forward side (default mode)
    threads: int | None = None  # None: the process's thread count
    test_batch: int | None = None  # images per forward pass of the test pass; None: training.EVAL_BATCH


CPU_OPTIONS = [
    CpuOption("torch's layers, NCHW, fp32", speedups=()),
    CpuOption("torch's layers, channels-last", channels_last=True, speedups=()),
    CpuOption("channels-last + fast dropout", channels_last=True, speedups=("dropout",)),
    CpuOption("channels-last + one-thread batch norm", channels_last=True, speedups=("batch_norm",)),
    CpuOption("channels-last + both speed-ups (the default)", channels_last=True),
    CpuOption("NCHW + both speed-ups", channels_last=False),
    CpuOption("bf16 autocast", bf16=True),
    CpuOption("channels-last + bf16 autocast", channels_last=True, bf16=True),
    CpuOption("torch.compile (default mode)", compiled=True),
    CpuOption("channels-last, 1 thread", channels_last=True, threads=1),
    CpuOption("channels-last, test pass in batches of 1,000", channels_last=True, test_batch=1000),
    # The fast recipe's model (12 and 16 channels in its first block, no dropout), against its own first row.
    CpuOption(f"{FAST_RECIPE}: torch's layers, NCHW, fp32", recipe=FAST_RECIPE, speedups=()),
    CpuOption(f"{FAST_RECIPE}: torch's layers, channels-last", recipe=FAST_RECIPE, channels_last=True, speedups=()),
    CpuOption(f"{FAST_RECIPE}: channels-last + one-thread batch norm (the default)", recipe=FAST_RECIPE,
              channels_last=True),
]


def cpu_option_runner(option: CpuOption, recipe: Recipe, data: MNIST):
    """``(train_step, test_pass)`` of the model of ``option.recipe`` (else ``recipe``) run as ``option`` says,
    warmed up (and compiled): one training step on a batch of the recipe's size, one pass over ``data.test``."""
    recipe = get_recipe(option.recipe) if option.recipe else recipe
    torch.manual_seed(0)
    model = build_model(recipe.model)
    optimizer = make_optimizer(model, recipe)
    if option.channels_last:
        to_channels_last(model, optimizer)
    cpu_speedups.swap(model, option.speedups)
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
            evaluate(model, data.test, option.test_batch)

    with torch_threads(option.threads or torch.get_num_threads()):
        for _ in range(3):
            train_step()
    return train_step, test_pass


def cpu_options(recipe: Recipe, data: MNIST, log=print, rounds: int = 5, steps: int = 10) -> list[dict]:
    """Each of ``CPU_OPTIONS`` timed on the CPU, with its ratios to the first option of its model.

    The options take turns: each round times ``steps`` training steps and one test pass of every
    option in a row, and an option's figures are the medians over ``rounds`` rounds, so a machine
    that slows down or speeds up meanwhile moves every option alike. An option that fails
    (``torch.compile`` without a C++ compiler, say) is a row that says so.
    """
    rows = {option: attempt(lambda option=option: {"runner": cpu_option_runner(option, recipe, data)}, option.name,
                            log, key="option") for option in CPU_OPTIONS}
    runners = {option: row.pop("runner") for option, row in rows.items() if "runner" in row}
    times = {option: ([], []) for option in runners}
    for _ in range(rounds):
        for option, (train_step, test_pass) in runners.items():
            with torch_threads(option.threads or torch.get_num_threads()):
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
