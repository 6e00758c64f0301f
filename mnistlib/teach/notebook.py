"""What every notebook does around its one change: set up, train a step, report, compare with the reference
runs that ship with the package, show the library's code, and check the target."""

from __future__ import annotations

import difflib
import inspect
import os
import re
import reprlib
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
from ..core.models import build_model
from ..core.recipes import RECORD_SEEDS, Recipe, get_recipe
from ..core.runs import History, save_history
from ..core.step import make_optimizer, to_channels_last, train_epoch
from ..core.training import MAX_SEED, chance_warning, check_seed, quick_mode, train
from ..evidence import reference
from ..evidence.tables import seed_rows

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

    @property
    def histories(self) -> Path:
        """Where the ``Session``'s runs save each step's history (never the package's reference runs)."""
        return RUNS / ("quick" if self.quick else "full")


def choose_mode(mode: str, device: torch.device) -> tuple[bool, str]:
    """(quick?, why): MNISTLIB_QUICK when set (CI, nbval), else ``mode``; "auto" is full on a GPU only."""
    if mode not in MODES:  # also when MNISTLIB_QUICK decides: the notebook's setting is wrong either way
        raise UserError(f"MODE must be one of {', '.join(map(repr, MODES))}, got {mode!r}")
    if value := os.environ.get("MNISTLIB_QUICK", "").strip():
        return quick_mode(), f"MNISTLIB_QUICK={value}"
    if mode == "auto":
        return device.type != "cuda", "auto: " + ("a GPU" if device.type == "cuda" else "no GPU")
    return mode == "quick", f"MODE = {mode!r}"


def seconds_per_image(recipe: Recipe, data: MNIST, steps: int = 2) -> float:
    """Rough training seconds per image of ``recipe`` here (the eager step, in the layout and with the layers
    training uses), from timing a few steps after one warm-up step; the global random-number state is
    left as it was."""
    device = data.train.labels.device
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        model = build_model(recipe.model).to(device)
        optimizer = make_optimizer(model, recipe)
        to_channels_last(model, optimizer)
        augment = augmentation(recipe, data)
        batches = data.train.head(recipe.batch_size * (steps + 1)).batches(recipe.batch_size)
        rates = recipe.lr_schedule(steps + 1)
        with cpu_speedups.applied(model):  # as training runs it
            train_epoch(model, optimizer, [next(batches)], rates, augment, recipe.label_smoothing)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            train_epoch(model, optimizer, batches, rates[1:], augment, recipe.label_smoothing).loss_sum.item()
    return (time.perf_counter() - start) / (steps * recipe.batch_size)


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
        line = f'mode: quick ({why}): {quick_part}; set MODE = "full" for {full_part}'
    else:
        line = f"mode: full ({why}): {full_part}"
    print(f"{line}\ndevice: {describe_device(dev)}; torch {torch.__version__}")
    return Session(quick, dev, data, seed)


def run_step(session: Session, recipe: str, seed: int | None = None, **overrides):
    """Train one recipe with a progress bar; returns (model, history). The history is kept in the session
    as its own run of ``recipe`` (``with_reference_runs`` draws it) and saved in ``session.histories``
    as ``<recipe>.json``, over the folder's earlier run of it (``records --notebooks`` copies a full
    run from there into the reference runs)."""
    seed = session.seed if seed is None else seed
    model, history = train(get_recipe(recipe), seed=seed, quick=session.quick, data=session.data, **overrides)
    session.trained[recipe] = history
    save_history(session.histories / f"{recipe}.json", history)
    return model, history


def with_reference_runs(session: Session, recipes: list[str]) -> dict[str, History]:
    """label -> history: the stored full-length run of each of ``recipes`` (it ships with the package),
    and beside it the ``Session``'s own run of it, if it trained one (``run_step``), labelled as such. A
    run another session left in the folder (an earlier notebook, another seed, an earlier kernel) is
    never shown as this one's. Raises ``UserError`` when the install lacks a stored run."""
    found = {}
    for name in recipes:
        stored = reference.stored_history(name)
        if stored is None:
            raise UserError(f"this mnistlib install has no stored full run of {name} "
                            f"({reference.folder() / reference.HISTORIES}): {reference.REINSTALL}")
        found[f"{name} (stored full run)"] = stored
        if (own := session.trained.get(name)) is not None:
            found[f"{name} (this {'quick' if session.quick else 'full'} run)"] = own
    return found


def report(history: History) -> None:
    """Print a run's size, final and best test accuracy, device and time; and, for a run that ended at
    chance level, the line saying so and what usually fixes it (``training.chance_warning``)."""
    best = history.best_record
    minutes, seconds = divmod(history.total_seconds, 60)
    print(
        f"{history.recipe}: {history.params:,} parameters, {len(history.epochs)} epoch(s)\n"
        f"final test accuracy {history.final_accuracy:.2f}%, "
        f"best {best['test_accuracy']:.2f}% (epoch {best['epoch']})\n"
        f"device {history.device}, {int(minutes)} min {seconds:.0f} s of training and testing"
    )
    if warning := chance_warning(history):
        print(warning)


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
    mode = "quick mode" if history.quick else f"full mode: target {recipe.target}% less a {recipe.margin} margin"
    print(f"target met: final test accuracy {history.final_accuracy:.2f}% >= {bar}% ({mode})")


# Notebook 6's claim, on its photo-like test digits: prepared as MNIST prepared its digits they are read at
# least this well (a quick step-4 model read 98% or more of them, a full-length one 99% or more) ...
OWN_DIGITS_BAR = 97.0
# ... and squeezed to 28x28 as they are, below this (under 20% seen).
NAIVE_CEILING = 50.0


def check_own_digits(prepared: float, naive: float) -> None:
    """Assert notebook 6's claim: ``prepared`` (percent right after ``mnistlib.preprocess``) at least
    ``OWN_DIGITS_BAR``, ``naive`` (percent right squeezed to 28x28) below ``NAIVE_CEILING``."""
    assert prepared >= OWN_DIGITS_BAR, f"prepared as MNIST: {prepared:.1f}% < {OWN_DIGITS_BAR}%"
    assert naive < NAIVE_CEILING, f"squeezed to 28x28: {naive:.1f}% >= {NAIVE_CEILING}%"
    print(f"claim holds: {prepared:.1f}% >= {OWN_DIGITS_BAR}% prepared, {naive:.1f}% < {NAIVE_CEILING}% squeezed")


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
