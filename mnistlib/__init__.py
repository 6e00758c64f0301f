"""mnistlib: a compact CNN to >= 99.4% MNIST test accuracy with < 20k parameters, step by step."""

from .data import load
from .errors import UserError
from .models import MODELS, build_model, count_parameters
from .recipes import DEFAULT_RECIPE, RECIPES, Recipe, get_recipe
from .records import History, load_checkpoint
from .training import evaluate, fit, resume, train

__version__ = "0.1.0"
__all__ = [
    "DEFAULT_RECIPE", "History", "MODELS", "RECIPES", "Recipe", "UserError", "build_model",
    "count_parameters", "evaluate", "fit", "get_recipe", "load", "load_checkpoint", "resume", "train",
]
