"""mnistlib: a compact CNN to >= 99.4% MNIST test accuracy with < 20k parameters, step by step.

Train the final model in three lines::

    import mnistlib
    model, history = mnistlib.train("step4_final", seed=0)
    print(history.final_accuracy, history.best_record["epoch"])

The public API is what this module exports (``__all__``): training (``train``, ``resume``, ``fit``,
``evaluate``), data (``load``), the networks (``build_model``, ``MODELS``, ``count_parameters``), the
recipes (``RECIPES``, ``get_recipe``, ``Recipe``), runs (``History``, ``load_checkpoint``), your own
digits (``preprocess``, ``predict``) and ``UserError``. The package has four parts; ``core`` imports no
other, ``digits`` and ``evidence`` import ``core`` only, ``teach`` may import the other three
(``tests/test_layout.py`` holds this):

- ``mnistlib.core``: data, augmentation, models, recipes, the training step and loop, runs and
  checkpoints (it imports nothing else of mnistlib);
- ``mnistlib.digits``: your own digits, read, prepared as MNIST's and classified;
- ``mnistlib.evidence``: the benchmark, the committed records and their tables, the reference runs;
- ``mnistlib.teach``: what the notebooks use (session, plots, analysis, model summary);

and ``mnistlib.cli`` on top (``python -m mnistlib --help`` lists the commands).
"""

from .core.data import load
from .core.errors import UserError
from .core.models import MODELS, build_model, count_parameters
from .core.recipes import DEFAULT_RECIPE, RECIPES, Recipe, get_recipe
from .core.runs import History, load_checkpoint
from .core.training import evaluate, fit, resume, train
from .digits.classify import predict
from .digits.preprocess import preprocess

__version__ = "0.4.0"

__all__ = [
    "DEFAULT_RECIPE", "History", "MODELS", "RECIPES", "Recipe", "UserError", "build_model",
    "count_parameters", "evaluate", "fit", "get_recipe", "load", "load_checkpoint", "predict", "preprocess",
    "resume", "train",
]
