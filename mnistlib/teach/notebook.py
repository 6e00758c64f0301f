"""What every notebook does around its one change: set up, train a step, report, compare with the reference
runs that ship with the package, show the library's code, and check the target."""

from __future__ import annotations

import difflib
import inspect
import os
import re
import reprlib
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..core import cpu_speedups
from ..core import data as mnist_data
from ..core.augment import augmentation
from ..core.data import MNIST
from ..core.devices import describe_device, resolve_device
from ..core.errors import UserError, article, is_whole_number, printable
from ..core.models import build_model, count_parameters
from ..core.recipes import ABLATION, ABLATION_NAMES, RECORD_SEEDS, Recipe, get_recipe
from ..core.runs import History, save_history
from ..core.step import make_optimizer, to_channels_last, train_epoch
from ..core.training import MAX_SEED, chance_warning, check_seed, quick_mode, train
from ..evidence import reference
from ..evidence.public import TIME_ANCHOR
from ..evidence.records import SeedSummary
from ..evidence.tables import ablation_rows, seed_rows
from .live import LiveCurves

# Where every notebook run writes its histories, beside the notebook (ignored by git in a clone).
RUNS = Path("runs")


MODES = ("auto", "full", "quick")


@dataclass(frozen=True)
class Parameter:
    """A notebook parameter (a variable of a parameters cell, which papermill may set): what its value
    must be, as ``check_parameters`` says it, and whether a value is of that kind."""

    must_be: str
    example: str  # a right setting, as a parameters cell writes it
    fits: Callable[[object], bool]
    path: bool = False  # a path, when given, must name something that exists
    folder: bool = True  # ... and may name a folder


def _quoted(name: str) -> str:
    return f'"{name}"'  # as a parameters cell writes a str


def _is_path(value) -> bool:
    return isinstance(value, (str, os.PathLike))


def _is_image(value) -> bool:
    """What ``digits.images.load_image`` reads: a path, a PIL image, a NumPy array or a torch tensor (a learner
    may open or draw one in the cell; a script calling ``start`` may hold one in a global of that name)."""
    import numpy as np
    from PIL import Image

    return _is_path(value) or isinstance(value, (Image.Image, np.ndarray, torch.Tensor))


# Every parameter of the notebooks' parameters cells (a test checks that none is missing).
PARAMETERS = {
    "MODE": Parameter(f"{', '.join(map(_quoted, MODES[:-1]))} or {_quoted(MODES[-1])} (a str)", 'MODE = "auto"',
                      lambda value: isinstance(value, str)),
    "SEED": Parameter("a whole number (int)", "SEED = 0", is_whole_number),
    "DEVICE": Parameter('"auto", "cuda" or "cpu" (a str)', 'DEVICE = "auto"',
                        lambda value: isinstance(value, (str, torch.device))),
    "CHECKPOINT": Parameter("None or the path (str) of a run folder or its model.pt",
                            'CHECKPOINT = "runs/step4_final-seed0"', lambda value: value is None or _is_path(value),
                            path=True),
    "IMAGE": Parameter("None, the path (str) of an image file, or a PIL image, NumPy array or torch tensor",
                       'IMAGE = "my_digit.png"', lambda value: value is None or _is_image(value), path=True,
                       folder=False),
}


def _example(name: str, value) -> str:
    """``name``'s example setting; for a seed written as a str or float that is a valid seed ('1', 1.0:
    a whole number from 0 to ``training.MAX_SEED``), that number."""
    if name == "SEED" and isinstance(value, (str, float)):
        try:
            number = float(value)
        except ValueError:
            number = None
        if number is not None and number.is_integer() and 0 <= number <= MAX_SEED:
            return f"SEED = {int(number)}"
    return PARAMETERS[name].example


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 80


def _shown(value) -> str:
    """``value`` as a message shows it: its repr, at most about 80 characters (``reprlib``), on one line
    (an array's repr spans several; a str's repr never does, its newlines escaped)."""
    return re.sub(r"\s*\n\s*", " ", _REPR.repr(value))


def check_parameters(**values) -> None:
    """Check notebook parameters given by name (keys of ``PARAMETERS``: MODE, SEED, DEVICE, CHECKPOINT,
    IMAGE): each of the right type, and a path given for CHECKPOINT or IMAGE naming something that exists.

    Raises ``UserError``, one line naming the first wrong parameter, its value (its repr, shortened:
    ``_shown``) and its type, e.g. ``SEED = '1' is a str; it must be a whole number (int), e.g. SEED =
    1``; an empty path, a path to nothing, or a folder for IMAGE; or ``KeyError`` for a name that is no
    notebook parameter. The values themselves (a known mode or device, a seed in range) are checked
    where they are used.
    """
    for name, value in values.items():
        parameter = PARAMETERS[name]
        shown = f"{name} = {_shown(value)}"
        if not parameter.fits(value):
            raise UserError(f"{shown} is {article(type(value).__name__)}; it must be {parameter.must_be}, "
                            f"e.g. {_example(name, value)}")
        if not (parameter.path and _is_path(value)):
            continue
        if not os.fspath(value):
            raise UserError(f"{shown} is an empty path, naming nothing: set {name} = None for none, or e.g. "
                            f"{parameter.example}")
        if not Path(value).exists():
            raise UserError(f"{shown} names nothing: no file or folder {printable(Path(value).resolve())}")
        if not parameter.folder and Path(value).is_dir():
            raise UserError(f"{shown} is a folder, not an image file: name one of its files, e.g. "
                            f"{parameter.example}")


@dataclass
class Session:
    """One notebook's settings and data, and the runs it trained (``run_step``), recipe -> history.

    ``trained`` is what makes a run the ``Session``'s own: the files in ``histories`` are shared by every
    session in the folder (another notebook, another seed, an earlier kernel), so one found there may
    be anybody's.
    """

    quick: bool
    device: torch.device
    data: MNIST
    seed: int = 0
    trained: dict[str, History] = field(default_factory=dict, repr=False, compare=False)
    auto: bool = False  # quick mode because MODE = "auto" on a CPU (not MODE = "quick" or MNISTLIB_QUICK)

    @property
    def histories(self) -> Path:
        """Where the ``Session``'s runs save each step's history (never the package's reference runs)."""
        return history_folder(self.quick)


TRAINING_IMAGES = mnist_data.FILES["train-labels-idx1-ubyte"].shape[0]  # 60,000, as MNIST publishes it


def history_folder(quick: bool) -> Path:
    """Where notebooks save the histories of their quick runs, or of their full ones."""
    return RUNS / ("quick" if quick else "full")


def choose_mode(mode: str, device: torch.device) -> tuple[bool, str]:
    """(quick?, why, in words for the notebook's reader): MNISTLIB_QUICK when set (CI, the project's
    recorded runs), else ``mode``; "auto" is full on a GPU only."""
    if mode not in MODES:  # also when MNISTLIB_QUICK decides: the notebook's setting is wrong either way
        raise UserError(f"MODE must be one of {', '.join(map(repr, MODES))}, got {mode!r}")
    if value := os.environ.get("MNISTLIB_QUICK", "").strip():
        return quick_mode(), f"the environment variable MNISTLIB_QUICK={value} is set, and it wins over MODE"
    if mode == "auto":
        return device.type != "cuda", f'MODE = "auto" and PyTorch sees {"a" if device.type == "cuda" else "no"} GPU'
    return mode == "quick", f'MODE = "{mode}"'


def seconds_per_image(recipe: Recipe, data: MNIST, most_steps: int = 10, enough: float = 1.0) -> float:
    """Rough training seconds per image of ``recipe`` here (the eager step, in the layout and with the layers
    training uses): timed over steps after two warm-up steps, until ``enough`` seconds or ``most_steps``
    steps have passed (two steps alone vary too much from run to run to be an estimate); the global
    random-number state is left as it was."""
    device = data.train.labels.device
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        model = build_model(recipe.model).to(device)
        optimizer = make_optimizer(model, recipe)
        to_channels_last(model, optimizer)
        augment = augmentation(recipe, data)
        batches = data.train.head(recipe.batch_size * (most_steps + 2)).batches(recipe.batch_size)
        rate = recipe.lr_schedule(most_steps + 2)[1]

        def one_step():
            train_epoch(model, optimizer, [next(batches)], [rate], augment, recipe.label_smoothing).loss_sum.item()

        with cpu_speedups.applied(model):  # as training runs it
            one_step()
            one_step()
            start, steps = time.perf_counter(), 0
            while steps < most_steps and (steps < 2 or time.perf_counter() - start < enough):
                one_step()
                steps += 1
            elapsed = time.perf_counter() - start
    return elapsed / (steps * recipe.batch_size)


def _about(seconds: float) -> str:
    return f"~{seconds:.0f} s" if seconds < 90 else f"~{seconds / 60:.0f} min"


def _estimates(recipes: list, data: MNIST) -> tuple[float, float]:
    """Rough seconds of quick and of full mode for ``recipes`` on ``data`` (full mode: the whole training
    set, 60,000 images); a test pass costs about a third of training on as many images (forward only)."""
    per_image = {}

    def seconds(recipe: Recipe, images: int) -> float:  # its epochs, each of ``images`` and a test pass
        key = (recipe.model, recipe.batch_size, recipe.rotation, recipe.shift)
        per_image[key] = per_image.get(key) or seconds_per_image(recipe, data)
        return per_image[key] * recipe.epochs * (images + len(data.test) / 3)

    train_images = mnist_data.FILES["train-images-idx3-ubyte"].shape[0]
    quick = sum(seconds(q, q.train_size) for q in (r.quick_variant() for r in recipes))
    return quick, sum(seconds(r, train_images) for r in recipes)


def start(mode: str = "auto", seed: int = 0, device: str = "auto", recipes: tuple[str, ...] = (),
          data_dir: str | os.PathLike | None = None) -> Session:
    """Pick the mode and device, load MNIST onto it, and say what will run; on the CPU, with how long
    quick and full mode take here (from timing a few training steps of ``recipes``).

    ``mode``: "auto", "full" or "quick" (MNISTLIB_QUICK, when set, wins); ``seed``: an int from 0 to
    ``training.MAX_SEED``; ``device``: "auto", "cuda" or "cpu"; ``recipes``: names of the recipes the
    notebook trains.

    First of all it checks the notebook's parameters (``check_parameters``): ``mode``, ``seed`` and
    ``device`` as MODE, SEED and DEVICE, and those of the other ``PARAMETERS`` (notebook 6's CHECKPOINT
    and IMAGE) that the namespace of the notebook calling it defines (IPython's, which holds
    ``get_ipython``), where its parameters cell and the cell papermill injects after it set them; a
    script's own globals are not read. A wrong value stops the notebook at this cell, before anything is
    loaded or trained, not at the cell using it.

    Raises ``UserError`` (one line): a parameter of the wrong type, a path to nothing, an unknown mode or
    device, a seed out of range, an unknown recipe, or MNIST data that cannot be found or read.
    """
    given = {"MODE": mode, "SEED": seed, "DEVICE": device}
    caller = inspect.currentframe().f_back
    namespace = caller.f_globals if caller is not None else {}
    if "get_ipython" not in namespace:  # not a notebook's namespace: a script's globals are its own business
        namespace = {}
    check_parameters(**given, **{name: namespace[name] for name in PARAMETERS
                                 if name not in given and name in namespace})
    seed = check_seed(seed, "SEED")
    dev = resolve_device(device)
    quick, why = choose_mode(mode, dev)
    found = [get_recipe(name) for name in recipes]
    # Quick mode keeps only the share of the training set its recipes use (Binder has 1-2 GB of memory).
    quick_sizes = sorted({r.quick_variant().train_size for r in found})
    data = mnist_data.load(dev, data_dir, train_size=quick_sizes[-1] if quick and found else None)
    sizes = " and ".join(f"{n:,}" for n in quick_sizes) or "part of the"
    quick_part = f"one epoch of {sizes} training images"
    epochs = "/".join(sorted({str(r.epochs) for r in found}))
    full_part = f"the full recipe ({epochs or 'all'} epoch{'' if epochs == '1' else 's'} of 60,000)"
    if dev.type == "cpu" and found:
        quick_s, full_s = _estimates(found, data)
        quick_part, full_part = f"{quick_part}, {_about(quick_s)} here", f"{full_part}, {_about(full_s)} here"
    if quick:
        switch = "unset MNISTLIB_QUICK and set" if "MNISTLIB_QUICK" in why else "set"
        line = f'quick mode, because {why}: {quick_part}.\n{switch} MODE = "full" for {full_part}.'
    else:
        line = f"full length, because {why}: {full_part}."
    print(f"{line}\ndevice: {describe_device(dev)}; torch {torch.__version__}")
    auto = quick and mode == "auto" and not os.environ.get("MNISTLIB_QUICK", "").strip()
    return Session(quick, dev, data, seed, auto=auto)


def run_step(session: Session, recipe: str, seed: int | None = None, full_in_auto: bool = False, **overrides):
    """Train one recipe with a progress bar and live curves (``live.LiveCurves``: loss and accuracy per
    epoch, one figure redrawn in place); returns (model, history). The history is kept in the session
    as its own run of ``recipe`` (``runs_to_compare`` draws it) and saved in ``session.histories``
    as ``<recipe>.json``, over the folder's earlier run of it (``records --notebooks`` copies a full
    run from there into the reference runs; a full run made in a quick session goes with the full runs).
    ``full_in_auto``: train the full recipe where the session is in quick mode only because MODE is
    "auto" on a CPU (a recipe that takes seconds there); MODE = "quick" and MNISTLIB_QUICK=1 still make
    it quick. Raises ``UserError`` when that full run would find only part of the training set loaded
    (``start`` loads what its ``recipes`` need in quick mode: name the recipe there)."""
    seed = session.seed if seed is None else seed
    quick = session.quick and not (full_in_auto and session.auto)
    wanted = get_recipe(recipe).train_size or TRAINING_IMAGES
    if session.quick and not quick and len(session.data.train) < wanted:
        raise UserError(f"notebook.start loaded {len(session.data.train):,} training images for quick mode, and a "
                        f"full run of {recipe} needs {wanted:,}: add {recipe!r} to notebook.start's recipes")
    model, history = train(get_recipe(recipe), seed=seed, quick=quick, data=session.data, on_epoch=LiveCurves(),
                           **overrides)
    session.trained[recipe] = history
    save_history(history_folder(quick) / f"{recipe}.json", history)
    return model, history


# The notebooks' names for the recipes they compare, and the notebook whose stored run each is.
STEP_NAMES = {"step1_relu_output": "step 1, ReLU on the logits", "step1_base": "step 1, no ReLU on the logits",
              "step2_slim": "step 2",
              "step3_augment": "step 3", "step4_final": "step 4", "beyond_8k": "beyond_8k", "beyond_5k": "beyond_5k"}
STORED_IN = {"step1_relu_output": 1, "step1_base": 1, "step2_slim": 2, "step3_augment": 3, "step4_final": 4,
             "beyond_8k": 5, "beyond_5k": 5, "beyond_cpu_fast": 5}


def runs_to_compare(session: Session, recipes: list[str]) -> dict[str, History]:
    """label -> history, one per recipe: the ``Session``'s own run of it (``run_step``), or, where it has
    none, the stored full-length run of the notebook that trains it (it ships with the package), the label
    saying which. A run another session left in the folder is never shown. Raises ``UserError`` when the
    install lacks a stored run that is needed."""
    found = {}
    for name in recipes:
        label = STEP_NAMES.get(name, name)
        if (own := session.trained.get(name)) is not None:
            found[f"{label} (this {'quick ' if own.quick else ''}run, seed {own.seed})"] = own
            continue
        stored = reference.stored_history(name)
        if stored is None:
            raise UserError(f"this mnistlib install has no stored full run of {name} "
                            f"({reference.folder() / reference.HISTORIES}): {reference.REINSTALL}")
        found[f"{label} (stored run of notebook {STORED_IN[name]}, seed {stored.seed})"] = stored
    return found


def setup_rows(recipes: list[str]) -> list[str]:
    """A Markdown table of how ``recipes`` train, one column each (network, optimizer, learning rate, batch,
    epochs, augmentation, quick mode), a value that differs from the first column's in bold."""
    columns = []
    for name in recipes:
        r = get_recipe(name)
        quick = r.quick_variant()
        rows = {
            "network": f"`{r.model}`, {count_parameters(build_model(r.model)):,} parameters",
            "optimizer": f"SGD, momentum {r.momentum:g}",
            "weight decay": f"{r.weight_decay:g}",
            "peak learning rate": f"{r.lr:g}",
            "schedule": "per step: linear warm-up from 10% of the peak over the first 20%, then cosine to 0",
            "batch": f"{r.batch_size}",
            "epochs": f"{r.epochs} of {r.train_size or 60_000:,} images",
            "augmentation": (f"rotation up to ±{r.rotation:g}°, shift up to {r.shift:g} px" if r.rotation or r.shift
                             else "none"),
            "label smoothing": f"{r.label_smoothing:g}",
            "quick mode": f"1 epoch of {quick.train_size:,} images, batch {quick.batch_size}",
        }
        columns.append(rows)
    lines = ["| | " + " | ".join(f"`{name}`" for name in recipes) + " |", "|---" * (len(recipes) + 1) + "|"]
    for row in columns[0]:
        cells = [column[row] if column[row] == columns[0][row] else f"**{column[row]}**"
                 for i, column in enumerate(columns)]
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return lines


def show_setup(recipes: list[str]) -> None:
    """Display ``setup_rows(recipes)``: how each recipe trains, what differs from the first in bold."""
    from IPython.display import Markdown, display

    display(Markdown("\n".join(setup_rows(recipes))))


def report(history: History) -> None:
    """Print what the notebooks' prose quotes of a run: size, test accuracy after the first and the last
    epoch and the best, the last epoch's training accuracy and both losses, device and time; and, for a run
    that ended at chance level, the line saying so and what usually fixes it (``training.chance_warning``)."""
    best, first, last = history.best_record, history.epochs[0], history.epochs[-1]
    minutes, seconds = divmod(history.total_seconds, 60)
    print(
        f"{history.recipe}: {history.params:,} parameters, {len(history.epochs)} epoch(s), seed {history.seed}\n"
        f"test accuracy: {first['test_accuracy']:.2f}% after epoch 1, {history.final_accuracy:.2f}% at the end, "
        f"best {best['test_accuracy']:.2f}% (epoch {best['epoch']})\n"
        f"at the end: training accuracy {last['train_accuracy']:.2f}%, training loss {last['train_loss']:.4f}, "
        f"test loss {last['test_loss']:.4f}\n"
        f"device {history.device}: {int(minutes)} min {seconds:.0f} s of training and testing, "
        f"{history.total_seconds / len(history.epochs):.1f} s an epoch"
    )
    if warning := chance_warning(history):
        print(warning)


def report_speed(history: History) -> None:
    """Print a run's time to its final accuracy as the benchmark counts it (its training seconds plus one
    test pass, the last epoch's), beside a published fast MNIST training (``public.TIME_ANCHOR``) and its
    conditions."""
    last = history.epochs[-1]
    train_seconds = sum(history.column("train_seconds"))
    test_seconds = last["seconds"] - last["train_seconds"]
    anchor = TIME_ANCHOR
    print(f"{history.recipe} on {history.device_name or history.device}: {history.final_accuracy:.2f}% after "
          f"{len(history.epochs)} epoch(s), {train_seconds:.1f} s of training + one test pass of "
          f"{test_seconds:.2f} s = {train_seconds + test_seconds:.1f} s\n"
          f"published: {anchor.name}, {anchor.accuracy}% in {anchor.seconds} s ({anchor.conditions}; "
          f"{anchor.source})")


# What the original write-up reported for each step of the story (one run each, the best epoch or the last as
# it says), so that a notebook can set its own measured run beside it.
WRITE_UP = {"step1_base": 96.0, "step2_slim": 98.6, "step3_augment": 99.34, "step4_final": 99.48}


def compare_with_write_up(history: History) -> None:
    """Print the original write-up's accuracy for ``history``'s step beside this run's final one."""
    print(f"{history.recipe}: the original write-up reported about {WRITE_UP[history.recipe]}%; "
          f"this run ended at {history.final_accuracy:.2f}%")


def check_target(history: History) -> None:
    """Assert the recipe's target for one run (``recipes.py``): the full target less its margin, or
    the quick-mode bar that proves learning (none for a recipe whose one epoch can stay at chance); and
    its size and epochs where the recipe claims them."""
    recipe = get_recipe(history.recipe)
    bar = recipe.quick_target if history.quick else recipe.notebook_bar
    if recipe.max_params is not None:
        assert history.params <= recipe.max_params, f"{history.params:,} parameters > {recipe.max_params:,}"
    assert len(history.epochs) <= recipe.epochs
    if bar is None:
        print(f"quick mode: no accuracy bar for {history.recipe}, whose one epoch can stay at chance "
              f"(final test accuracy {history.final_accuracy:.2f}%); full mode has one ({recipe.notebook_bar}%)")
        return
    assert history.final_accuracy >= bar, f"final test accuracy {history.final_accuracy:.2f}% < {bar}%"
    if history.quick:
        mode = "quick mode"
    elif recipe.margin:
        mode = f"one run: the target {recipe.target}% less a margin of {recipe.margin} points for a single run"
    else:
        mode = "the step's target"
    size = f", {history.params:,} parameters <= {recipe.max_params:,}" if recipe.max_params is not None else ""
    print(f"target met: final test accuracy {history.final_accuracy:.2f}% >= {bar}% ({mode}){size}")


# Notebook 6's claim, on its photo-like test digits: prepared as MNIST prepared its digits they are read at
# least this well (a quick step-4 model read 98% or more of them, a full-length one 99% or more) ...
OWN_DIGITS_BAR = 97.0
# ... and with only their ink taken (inverted, or the opacity) and squeezed to 28x28, below this (43% seen
# with a full-length batch-norm network).
NAIVE_CEILING = 70.0


def check_own_digits(prepared: float, naive: float) -> None:
    """Assert notebook 6's claim: ``prepared`` (percent right after ``mnistlib.preprocess``) at least
    ``OWN_DIGITS_BAR``, ``naive`` (percent right with the ink squeezed to 28x28) below ``NAIVE_CEILING``."""
    assert prepared >= OWN_DIGITS_BAR, f"prepared as MNIST: {prepared:.1f}% < {OWN_DIGITS_BAR}%"
    assert naive < NAIVE_CEILING, f"ink squeezed to 28x28: {naive:.1f}% >= {NAIVE_CEILING}%"
    print(f"claim holds: {prepared:.1f}% >= {OWN_DIGITS_BAR}% prepared, {naive:.1f}% < {NAIVE_CEILING}% "
          "with the ink squeezed")


def check_seed_records(seeds: dict) -> None:
    """Every committed seed record (``RECORD_SEEDS``) of each recipe in ``seeds`` meets the recipe's full
    target, with no margin. Fails, rather than passing on nothing, when ``seeds`` is empty or a recipe
    lacks one of its record seeds."""
    assert seeds, "no seed records to check"
    for name, found in seeds.items():
        target = get_recipe(name).target
        assert sorted(found.finals) == list(RECORD_SEEDS), f"{name}: records of seeds {sorted(found.finals)}, " \
                                                           f"expected {list(RECORD_SEEDS)}"
        assert min(found.finals.values()) >= target, found.row()
        print(f"{name}: all {len(found.finals)} seed records >= {target}%")


def seed_table(recipes: list[str]) -> dict:
    """Display the committed per-seed results of ``recipes`` (``reference.seed_summaries``) as a table,
    with mean and standard deviation; returns recipe -> ``SeedSummary``."""
    from IPython.display import Markdown, display

    summaries = reference.seed_summaries()
    missing = [name for name in recipes if name not in summaries]
    if missing:
        raise UserError(f"no seed records of {', '.join(missing)} in this mnistlib")
    display(Markdown("\n".join(seed_rows([summaries[name] for name in recipes]))))
    return {name: summaries[name] for name in recipes}


def ablation_table(recipes: list[str] = ABLATION) -> dict[str, SeedSummary]:
    """Display the committed seed records of ``recipes`` (step 4's ablation by default) as a table
    (``tables.ablation_rows``); returns variant name -> ``SeedSummary`` (for ``plots.plot_seed_spread``).
    Raises ``UserError`` when the install lacks a recipe's records."""
    from IPython.display import Markdown, display

    summaries = reference.seed_summaries()
    missing = [name for name in recipes if name not in summaries]
    if missing:
        raise UserError(f"no seed records of {', '.join(missing)} in this mnistlib: {reference.REINSTALL}")
    display(Markdown("\n".join(ablation_rows([summaries[name] for name in recipes], ABLATION_NAMES))))
    return {ABLATION_NAMES.get(name, name): summaries[name] for name in recipes}


def compare_with_baseline(variants: dict[str, SeedSummary]) -> None:
    """Print, for every variant after the first (the baseline), how far its mean test accuracy after epoch 1
    and after the last lies from the baseline's, in points, beside twice the standard error of that
    difference (Welch: sqrt(s1²/n1 + s2²/n2) from the seeds' sample standard deviations); a difference
    larger than that is called beyond the seed-to-seed noise, a smaller one within it."""
    (base_name, base), *others = variants.items()
    for name, found in others:
        parts = []
        for what, key in (("after epoch 1", "first_epoch"), ("final", "finals")):
            a, b = list(getattr(found, key).values()), list(getattr(base, key).values())
            difference = statistics.mean(a) - statistics.mean(b)
            noise = 2 * (statistics.variance(a) / len(a) + statistics.variance(b) / len(b)) ** 0.5
            verdict = "beyond" if abs(difference) > noise else "within"
            parts.append(f"{what} {difference:+.2f} points (noise ±{noise:.2f}: {verdict} it)")
        print(f"{name} against {base_name}: " + "; ".join(parts))


def source(obj) -> str:
    """The source code of a library class or function, as ``show`` displays it."""
    return inspect.getsource(obj)


def model_change(before: str, after: str) -> str:
    """What changes from model ``before`` to model ``after`` (names in ``models.MODELS``): a unified diff
    of their layer listings (``print(model)``), every line kept for context."""
    old, new = (str(build_model(name)).splitlines() for name in (before, after))
    return "\n".join(difflib.unified_diff(old, new, before, after, lineterm="", n=max(len(old), len(new))))


def show(obj) -> None:
    """Display the source of a library class or function, highlighted: what a notebook shows is the code
    that runs (a test compares the stored outputs with the library)."""
    from IPython.display import Code, display

    display(Code(source(obj), language="python"))


def show_model_change(before: str, after: str) -> None:
    """Display ``model_change(before, after)``, highlighted: the layers a step adds (+) and removes (-)."""
    from IPython.display import Code, display

    display(Code(model_change(before, after), language="diff"))
