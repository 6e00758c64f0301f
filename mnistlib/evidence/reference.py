"""The reference runs that ship with the package, so that a notebook opened alone (Colab, Binder) has them.

``reference_data/histories/<recipe>.json``: the history of each notebook's stored full-length run, the
runs its stored outputs show. ``reference_data/seed_records.json``: each recorded recipe's test
accuracy after its first and its last epoch on its record seeds, summarized from
``results/<recipe>-seed<S>.json``. Both are written by ``python -m mnistlib records`` (``--notebooks``
for the histories) and nothing else; a test holds the summary to the records.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path

from ..core.errors import UserError
from ..core.files import atomic_write
from ..core.runs import History
from .records import SeedSummary, summarize

HISTORIES = "histories"
SEED_RECORDS = "seed_records.json"
REINSTALL = "reinstall mnistlib (its wheel and its checkout both hold them)"


def folder() -> Path:
    """The package's reference folder (a real folder: the package is installed from a wheel or a checkout)."""
    return Path(str(resources.files("mnistlib") / "reference_data"))


def stored_histories() -> dict[str, History]:
    """recipe -> its stored full-length notebook run, for every recipe a notebook runs, in recipe order."""
    from ..core.recipes import RECIPES

    return {name: history for name in RECIPES if (history := stored_history(name)) is not None}


def stored_history(recipe: str) -> History | None:
    """The history of ``recipe``'s stored full-length notebook run, or None if no notebook runs it."""
    path = folder() / HISTORIES / f"{recipe}.json"
    return History.load(path) if path.is_file() else None


def seed_summaries() -> dict[str, SeedSummary]:
    """recipe -> its committed seed records' finals (percent, by seed), as ``records.summarize`` gives them.
    Raises ``UserError`` when the install lacks them."""
    path = folder() / SEED_RECORDS
    if not path.is_file():
        raise UserError(f"this mnistlib install lacks its seed records ({path}): {REINSTALL}")
    saved = json.loads(path.read_text())
    return {name: SeedSummary(name, s["params"], s["epochs"], {int(seed): acc for seed, acc in s["finals"].items()},
                              {int(seed): acc for seed, acc in s["first_epoch"].items()})
            for name, s in saved.items()}


def write_seed_summaries(recipes: list[str], results: str | os.PathLike = "results") -> dict:
    """Summarize the record seeds (``RECORD_SEEDS``) of ``recipes`` in ``results`` into the package's
    ``seed_records.json``."""
    from ..core.recipes import RECORD_SEEDS

    summaries = {}
    for name in recipes:
        found = summarize(name, results)
        if found is not None:
            summaries[name] = {"params": found.params, "epochs": found.epochs}
            for key, by_seed in (("finals", found.finals), ("first_epoch", found.first_epoch)):
                summaries[name][key] = {str(seed): acc for seed, acc in sorted(by_seed.items()) if seed in RECORD_SEEDS}
    payload = json.dumps(summaries, indent=1).encode() + b"\n"
    atomic_write(folder() / SEED_RECORDS, lambda f: f.write(payload))
    return summaries


def accuracy_points() -> dict[str, tuple[int, list[float]]]:
    """recipe -> (parameters, final test accuracies in percent) for the accuracy-against-size chart: each
    claimed recipe's seed records, and the stored full run of every other recipe a notebook runs."""
    from ..core.recipes import CLAIMED, RECIPES

    seeds, stored = seed_summaries(), stored_histories()
    points = {}
    for name in RECIPES:
        if name in seeds and name in CLAIMED:
            points[name] = (seeds[name].params, list(seeds[name].finals.values()))
        elif name in stored:
            points[name] = (stored[name].params, [stored[name].final_accuracy])
    return points
