"""The training loop: ``fit`` joins a training step (``step`` or ``graphs``) and a run record (``runs``);
``train`` runs a recipe from scratch, ``resume`` continues a run folder that stopped early, ``evaluate``
tests a model; and the chance level a run must rise above."""

from __future__ import annotations

import dataclasses
import os
import time
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.nn.functional as F

from . import cpu_speedups
from . import data as mnist_data
from .augment import augmentation
from .data import MNIST, Split
from .devices import describe_device, resolve_device
from .errors import UserError, article, is_whole_number
from .graphs import GraphedStep, check_step
from .models import build_model, count_parameters
from .progress import bar as progress_bar
from .recipes import Recipe, get_recipe
from .runs import (
    CHECKPOINT_FILE,
    HISTORY_FILE,
    History,
    check_run_dir,
    claim_run_dir,
    model_from_checkpoint,
    read_checkpoint,
    save_history,
    save_run,
    set_rng_state,
)
from .step import EagerStep, make_optimizer, to_channels_last

MAX_SEED = 2**63 - 1


def quick_mode(quick: bool | None = None) -> bool:
    """The explicit flag if given, else MNISTLIB_QUICK in the environment (1/true/yes/on or 0/false/no/off)."""
    if quick is not None:
        return quick
    value = os.environ.get("MNISTLIB_QUICK", "").strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("", "0", "false", "no", "off"):
        return False
    raise UserError(f"MNISTLIB_QUICK={value!r} is neither on (1, true, yes) nor off (0, false, no)")


# Images per forward pass when testing, by device type: the whole test set at once on a GPU; on the CPU,
# slices of 250, where the starter network's activations take about 160 MB (1,000 took 490 MB, too much
# for Binder's 1-2 GB). The logits do not depend on the slice size (checked bit for bit on all models).
EVAL_BATCH = {"cpu": 250, "cuda": 10_000}


@torch.inference_mode()
def logits(model: torch.nn.Module, split: Split, batch_size: int | None = None) -> torch.Tensor:
    """The model's outputs, float32 (N, 10), for the N images of ``split``, in evaluation mode, ``batch_size``
    images per forward pass (default ``EVAL_BATCH`` of the split's device type); the model's mode is
    put back after."""
    was_training = model.training
    model.eval()
    try:
        batch = batch_size or EVAL_BATCH.get(split.labels.device.type, 1000)
        return torch.cat([model(images) for images, _ in split.batches(batch)])
    finally:
        model.train(was_training)


def evaluate(model: torch.nn.Module, split: Split, batch_size: int | None = None) -> tuple[float, int]:
    """(average cross-entropy loss, number of correct predictions) over ``split``, in evaluation mode
    (``logits``, ``batch_size`` images per forward pass); the model's mode is kept."""
    out = logits(model, split, batch_size)
    loss = F.cross_entropy(out, split.labels, reduction="sum").item()
    return loss / len(split), int((out.argmax(1) == split.labels).sum().item())


def make_step(model, optimizer, split: Split, recipe: Recipe, augment, total_steps: int, graph: bool,
              compile_scope: str | None = None, channels_last: bool | None = None):
    """The training step of a run of ``total_steps`` on ``split``'s device: eager (``step.EagerStep``), or
    (``graph``) captured as CUDA graphs with part of it compiled when a ``compile_scope`` is given
    (``graphs.GraphedStep``).

    The weights go channels-last unless the step is compiled: the faster layout for these small networks
    wherever it was measured (docs/performance.md: on the CPU, the training step and test pass; on a GPU,
    the captured step), except for a model compiled on a GPU, which ran faster in NCHW. ``channels_last``
    overrides that choice (the GPU speed options compare both); the step's ``channels_last`` says
    which layout it trains in.
    """
    if channels_last is None:
        channels_last = compile_scope is None
    if channels_last:
        to_channels_last(model, optimizer)
    if graph:
        runner = GraphedStep(model, optimizer, split, recipe, augment, total_steps, compile_scope)
    else:
        runner = EagerStep(model, optimizer, split, recipe, augment, total_steps)
    runner.channels_last = channels_last
    return runner


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
    graph: bool | None = None,
    compile_scope: str | None = None,
    optimizer_state: dict | None = None,
) -> History:
    """Train ``model`` on ``data`` (already on the device) with ``recipe`` for ``epochs`` epochs in all.

    A ``history`` that already holds epochs (a resumed run) continues after them, with the saved
    ``optimizer_state``. ``graph`` (default: on a GPU) replays the step as CUDA graphs, with part of
    it ``torch.compile``d inside them if a ``compile_scope`` is given (``graphs.COMPILE_SCOPES``). On the
    CPU the model trains with ``cpu_speedups`` swapped in, and the layers swapped are torch's again
    when it returns. Seed the global RNG before calling (``train`` does): it drives shuffling, augmentation and
    dropout. One test pass per epoch, and one on the validation split if ``data.val`` holds one. Each
    epoch record holds ``seconds`` (training and testing) and ``train_seconds`` (training only);
    ``on_epoch(model, optimizer, history)`` runs after each. Raises ``UserError`` as ``check_step`` does.
    """
    epochs = epochs or recipe.epochs
    device = data.train.labels.device
    graph = check_step(device, graph, compile_scope)
    history = history or History(recipe.name, recipe.model, count_parameters(model), -1, device.type)
    optimizer = make_optimizer(model, recipe, graph)
    if optimizer_state is not None:
        settings = [{k: v for k, v in g.items() if k != "params"} for g in optimizer.param_groups]
        optimizer.load_state_dict(optimizer_state)  # momentum buffers; the settings stay this run's
        for group, own in zip(optimizer.param_groups, settings, strict=True):
            group.update(own)
    steps_per_epoch = -(-len(data.train) // recipe.batch_size)
    step = make_step(model, optimizer, data.train, recipe, augmentation(recipe, data), epochs * steps_per_epoch,
                     graph, compile_scope)
    history.planned_epochs, history.finished = epochs, False
    history.val_size = len(data.val) if data.val is not None else 0
    history.train_size = len(data.train)
    history.device_name, history.torch = describe_device(device), str(torch.__version__)
    history.graph, history.compile_scope, history.channels_last = step.graph, compile_scope, step.channels_last
    history.capture_seconds = step.capture_seconds and round(step.capture_seconds, 3)
    with cpu_speedups.applied(model):
        for epoch in range(len(history.epochs) + 1, epochs + 1):
            bar = progress_bar(steps_per_epoch, f"Epoch {epoch}/{epochs}", progress)
            record = train_and_test(step, model, data, (epoch - 1) * steps_per_epoch, bar, log)
            history.epochs.append({"epoch": epoch, **record})
            history.finished = epoch == epochs
            if on_epoch is not None:
                on_epoch(model, optimizer, history)
    return history


def train_and_test(step, model: torch.nn.Module, data: MNIST, first_step: int, bar, log=print) -> dict:
    """One epoch of ``step`` from run step ``first_step`` (the progress ``bar`` closed after it), then a
    test pass (and one on ``data.val`` if it holds one); logs the classic test line and returns the
    epoch's record, but for its number: losses, accuracies (percent), learning rate, seconds (all, and
    of training)."""
    start = time.perf_counter()
    try:  # the bar is updated by hand, not wrapped around the loop, so the epoch's loss goes in before it closes
        stats = step.epoch(first_step, bar)
        train_loss = stats.loss_sum.item() / stats.images  # waits for the device
        train_seconds = time.perf_counter() - start
        bar.set_postfix_str(f"loss={train_loss:.4f}")
    finally:
        bar.close()  # so that a Ctrl-C message starts on a line of its own
    record = {"train_loss": round(train_loss, 6),
              "train_accuracy": round(100 * int(stats.correct.item()) / stats.images, 4)}
    if data.val is not None:
        val_loss, val_correct = evaluate(model, data.val)
        record.update(val_loss=round(val_loss, 6), val_accuracy=round(100 * val_correct / len(data.val), 4))
    test_loss, test_correct = evaluate(model, data.test)
    n_test = len(data.test)
    record.update({
        "test_loss": round(test_loss, 6),
        "test_accuracy": round(100 * test_correct / n_test, 4),
        "lr": stats.lr,
        "seconds": round(time.perf_counter() - start, 3),
        "train_seconds": round(train_seconds, 3),
    })
    val = f"Validation accuracy: {record['val_accuracy']:.2f}%; " if data.val is not None else ""
    log(f"{val}Test set: Average loss: {test_loss:.4f}, "
        f"Accuracy: {test_correct}/{n_test} ({record['test_accuracy']:.2f}%)")
    return record


# The share of MNIST's 10,000 test images that show its most frequent digit, the 1 (1,135 images), in percent.
MOST_FREQUENT_DIGIT = 11.35
# How far above that share guessing can still land: three standard deviations of a guesser's accuracy on
# 10,000 images, sqrt(0.1135 * 0.8865 / 10,000) = 0.32 points each, rounded up to a whole point.
CHANCE_MARGIN = 1.0


def at_chance(accuracy: float) -> bool:
    """Whether a test accuracy (percent, 0-100, on MNIST's 10,000 test images) is chance level: what a
    network gets that has not started to read the images.

    An answer that ignores the image is right, on average, at most as often as the most frequent digit
    comes up, whatever it answers: always 1 scores ``MOST_FREQUENT_DIGIT`` (11.35%), an even guess 10%. On
    10,000 images the score of a guess has a standard deviation of at most 0.32 points, so
    ``CHANCE_MARGIN`` (1 point, three of them) above the share is as far as guessing reaches; a score above
    11.35 + 1 = 12.35% shows the network reads the images. Notebook 1's ReLU on the logits (20.97%) has
    learned, its clamped scores hold it back; step 3's first epoch of augmented digits (11.44%) has not.
    """
    return accuracy <= MOST_FREQUENT_DIGIT + CHANCE_MARGIN


def chance_warning(history: History) -> str | None:
    """The line that says a run ended at chance level (``at_chance`` of its final test accuracy) and what
    usually fixes it, or None for a run that ended above it. A run that was above chance at an earlier
    epoch learned and then lost it (it diverged), one that never was has not started learning.
    ``history`` needs at least one epoch."""
    final, best = history.final_accuracy, history.best_record
    if not at_chance(final):
        return None
    lead = (f"{history.recipe} ended at chance level: final test accuracy {final:.2f}%, no better than always "
            f"answering the most frequent digit ({MOST_FREQUENT_DIGIT}% of the test set)")
    if not at_chance(best["test_accuracy"]):
        return (f"{lead}; it had reached {best['test_accuracy']:.2f}% at epoch {best['epoch']} and lost it, so "
                "training diverged: another seed usually fixes it")
    model = build_model(history.model)
    batch_norm = any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())
    fix = "another seed" if batch_norm else "a recipe with batch norm such as step4_final, which learns from its " \
                                             "first epoch"
    return f"{lead}, so the network has not started learning; more epochs usually fix it, or {fix}"


def check_seed(seed: int, name: str = "--seed") -> int:
    """``seed`` as an int, if it is a whole number (``errors.is_whole_number``: an int or a NumPy
    integer, not a bool) from 0 to ``MAX_SEED``; else raise ``UserError``, whose message calls it
    ``name`` (the command line's --seed, or a notebook's SEED)."""
    if not is_whole_number(seed):
        raise UserError(f"{name} must be a whole number (int), got {seed!r} ({article(type(seed).__name__)})")
    if not 0 <= seed <= MAX_SEED:
        raise UserError(f"{name} must be between 0 and {MAX_SEED}, got {seed}")
    return int(seed)


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
    val_size: int = 0,
    graph: bool | None = None,
    compile_scope: str | None = None,
    on_epoch=None,
):
    """Train a recipe from scratch: returns (model, history) and, if ``out`` is given, writes the run.

    Quick mode (argument, else MNISTLIB_QUICK=1) trains ``recipe.quick_variant()``, on ``data`` too when it
    is given; the test set is always the full 10,000 images.
    ``val_size`` holds out the last that many training images as a validation split (ignored when
    ``data`` is given: it brings its own). ``on_epoch(model, optimizer, history)`` runs after each epoch,
    after the run folder is written (a notebook's live curves use it).

    Raises ``UserError`` (one line): an unknown recipe, a seed or epoch count out of range, a device
    PyTorch cannot use here, an ``out`` folder that holds a run or that another run is writing, or MNIST
    data that cannot be found or read.
    """
    recipe = get_recipe(recipe) if isinstance(recipe, str) else recipe
    quick = quick_mode(quick)
    if quick:
        recipe = recipe.quick_variant()
    seed = check_seed(seed)
    if epochs is not None and not 1 <= epochs <= 1000:
        raise UserError(f"--epochs must be between 1 and 1000, got {epochs}")
    epochs = epochs or recipe.epochs
    dev = resolve_device(device)
    check_step(dev, graph, compile_scope)
    run_dir = Path(out) if out is not None else None
    if run_dir is not None:
        check_run_dir(run_dir)
    with claim_run_dir(run_dir) if run_dir is not None else nullcontext():
        if data is None:
            data = mnist_data.load(dev, data_dir, train_size=recipe.train_size, val_size=val_size)
        elif recipe.train_size is not None and len(data.train) > recipe.train_size:
            data = dataclasses.replace(data, train=data.train.head(recipe.train_size))
        torch.manual_seed(seed)
        model = build_model(recipe.model).to(dev)
        history = History(recipe.name, recipe.model, count_parameters(model), seed, str(dev), quick)
        fit(model, data, recipe, epochs=epochs, history=history, progress=progress, log=log, graph=graph,
            compile_scope=compile_scope, on_epoch=_after_epoch(_saver(run_dir, data), on_epoch))
    return model, history


def _after_epoch(*callbacks):
    """One ``on_epoch`` callback that runs the given ones (None skipped) in order; None if there are none."""
    callbacks = [c for c in callbacks if c is not None]
    if not callbacks:
        return None

    def each(model, optimizer, history):
        for callback in callbacks:
            callback(model, optimizer, history)

    return each


def _saver(run_dir: Path | None, data: MNIST):
    if run_dir is None:
        return None
    return lambda model, optimizer, history: save_run(run_dir, model, optimizer, history, data.mean, data.std)


def _history_file_lags(run_dir: Path, history: History) -> bool:
    """Whether ``run_dir``'s history.json is missing, unreadable or other than ``history`` (its model.pt's)."""
    try:
        return History.load(run_dir) != history
    except UserError:
        return True


def resume(
    run_dir: str | os.PathLike,
    *,
    device: str = "auto",
    data_dir: str | os.PathLike | None = None,
    progress: bool = True,
    log=print,
    graph: bool | None = None,
    compile_scope: str | None = None,
    data: MNIST | None = None,
):
    """Continue a run folder (or its model.pt) that stopped before its last epoch; returns (model, history).

    On the CPU, with the same number of threads, the result is bit-identical to a run that was never
    interrupted: the checkpoint holds the weights, momentum buffers and random-number state. A finished
    run whose history.json did not follow its model.pt (a full disk between the two writes) gets it
    rewritten from model.pt, and nothing is trained.

    Raises ``UserError`` (one line): no checkpoint to resume, a finished run, a folder another run is
    writing, a device PyTorch cannot use here, or MNIST data that cannot be found or read.
    """
    run_dir = Path(run_dir)
    if run_dir.name == CHECKPOINT_FILE and run_dir.is_file():
        run_dir = run_dir.parent
    dev = resolve_device(device)
    check_step(dev, graph, compile_scope)
    read_checkpoint(run_dir, resuming=True)  # refused before the claim if it is not a run to resume
    with claim_run_dir(run_dir, resuming=True):
        checkpoint = read_checkpoint(run_dir, resuming=True)  # as it is now that no other run can write it
        history = History.from_dict(checkpoint["history"])
        if history.finished:
            if _history_file_lags(run_dir, history):  # model.pt was written, history.json after it was not
                save_history(run_dir / HISTORY_FILE, history)
                log(f"{run_dir} holds a finished run; its {HISTORY_FILE} was rewritten from {CHECKPOINT_FILE}")
                return model_from_checkpoint(checkpoint, run_dir).to(dev), history
            raise UserError(f"{run_dir} holds a finished run ({len(history.epochs)} of {history.planned_epochs} "
                            "epochs); nothing to resume")
        recipe = get_recipe(history.recipe)
        recipe = recipe.quick_variant() if history.quick else recipe
        if data is None:
            data = mnist_data.load(dev, data_dir, train_size=recipe.train_size, val_size=history.val_size)
        model = model_from_checkpoint(checkpoint, run_dir).to(dev)
        set_rng_state(checkpoint["rng"], dev)
        log(f"resuming {run_dir} after epoch {len(history.epochs)} of {history.planned_epochs}")
        fit(model, data, recipe, epochs=history.planned_epochs, history=history, progress=progress, log=log,
            graph=graph, compile_scope=compile_scope, optimizer_state=checkpoint["optimizer"],
            on_epoch=_saver(run_dir, data))
    return model, history
