"""mnistlib: a compact CNN to >= 99.4% MNIST test accuracy with < 20k parameters, step by step.

Train the final model in three lines::

    import mnistlib
    model, history = mnistlib.train("step4_final", seed=0)
    print(history.final_accuracy, history.best_record["epoch"])

Modules: ``data`` (MNIST on the device), ``models``, ``recipes`` (one per notebook step, with its
target and learning-rate policy), ``step`` (the eager training step) and ``graphs`` (the captured one),
``devices``, ``records`` (History, run folders, checkpoints), ``training`` (``fit``, ``train``,
``resume``, ``evaluate``), ``predict`` and ``photos`` (your own digits), ``analysis``, ``plots``,
``summary``, ``progress``, ``bench``, ``results`` and ``reference`` (the records and the reference runs
that ship with the package), ``refresh`` and ``notebook``. ``python -m mnistlib --help`` lists the
commands.
"""

import importlib

from .data import load
from .errors import UserError
from .models import MODELS, build_model, count_parameters
from .recipes import DEFAULT_RECIPE, RECIPES, Recipe, get_recipe
from .records import History, load_checkpoint
from .training import evaluate, fit, resume, train

__version__ = "0.2.0"

_SUBMODULES = {"analysis", "bench", "data", "devices", "graphs", "models", "notebook", "photos", "plots", "predict",
               "progress", "recipes", "records", "reference", "refresh", "results", "step", "summary", "training"}


def __getattr__(name):  # `import mnistlib; mnistlib.plots` works without importing matplotlib up front
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'mnistlib' has no attribute {name!r}")
__all__ = [
    "DEFAULT_RECIPE", "History", "MODELS", "RECIPES", "Recipe", "UserError", "build_model",
    "count_parameters", "evaluate", "fit", "get_recipe", "load", "load_checkpoint", "resume", "train",
]
