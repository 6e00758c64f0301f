"""The committed run records, read: seed summaries and the GPU checks' runs (``tables`` shows them).

``results/<recipe>-seed<S>.json`` is the history of one run, ``python -m mnistlib train --recipe R
--seed S`` (made by ``python -m mnistlib records``); ``results/cuda-<gpu>/`` holds the GPU checks'
records.
"""

from __future__ import annotations

import json
import os
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from ..core.runs import History, load_finished


@dataclass
class SeedSummary:
    """A recipe's final test accuracies (percent) on its seed records, by seed."""
    recipe: str
    params: int
    epochs: int
    finals: dict[int, float]  # seed -> final test accuracy (%)
    first_epoch: dict[int, float] = field(default_factory=dict)  # seed -> test accuracy after epoch 1 (%)

    @property
    def mean(self) -> float:
        """Mean final accuracy over the seeds (percent)."""
        return statistics.mean(self.finals.values())

    @property
    def std(self) -> float:
        """Sample standard deviation over the seeds (0 for a single seed)."""
        return statistics.stdev(self.finals.values()) if len(self.finals) > 1 else 0.0

    @property
    def minimum(self) -> float:
        """The lowest final accuracy of any seed (percent): what a claim must hold for."""
        return min(self.finals.values())

    def row(self) -> str:
        """The summary as a row of ``tables.TABLE_HEADER``."""
        from ..core.recipes import get_recipe

        seeds = ", ".join(f"{acc:.2f}" for _, acc in sorted(self.finals.items()))
        return (f"| `{self.recipe}` | {self.params:,} | {self.epochs} | {get_recipe(self.recipe).target:.1f} | "
                f"{seeds} | {self.mean:.2f} ± {self.std:.2f} | {self.minimum:.2f} |")


def seed_runs(recipe: str, folder: str | os.PathLike = "results") -> list[History]:
    """The full-length records of ``recipe``, by seed; an unfinished run is refused, never counted."""
    runs = [load_finished(p) for p in sorted(Path(folder).glob(f"{recipe}-seed*.json"))]
    return sorted((h for h in runs if not h.quick), key=lambda h: h.seed)


def summarize(recipe: str, folder: str | os.PathLike = "results") -> SeedSummary | None:
    """The ``SeedSummary`` of ``recipe``'s full-length records in ``folder``, or None when it has none."""
    runs = seed_runs(recipe, folder)
    if not runs:
        return None
    return SeedSummary(recipe, runs[0].params, len(runs[0].epochs), {h.seed: h.final_accuracy for h in runs},
                       {h.seed: h.epochs[0]["test_accuracy"] for h in runs})


def gpu_benches(folder: str | os.PathLike) -> dict[str, dict]:
    """label -> record of the GPU check's benchmarks kept in ``folder`` as ``bench-<label>.json``."""
    return {path.stem.removeprefix("bench-"): json.loads(path.read_text())
            for path in sorted(Path(folder).glob("bench-*.json"))}


def times_to_target(bench: dict) -> list[dict]:
    """A benchmark record's time to the target, one entry per recipe it timed (records made before the
    benchmark timed more than one recipe hold a single entry under "time_to_target")."""
    return bench["times_to_target"] if "times_to_target" in bench else [bench["time_to_target"]]


def gpu_finals(folder: str | os.PathLike) -> dict[str, dict[str, dict[int, float]]]:
    """recipe -> run label -> {seed: final test accuracy} of the GPU check's fresh-seed runs kept in
    ``folder``: each ``bench-<label>.json`` (its time-to-target runs), ``<recipe>-finals-<label>.json``
    and ``<recipe>-seed<S>.json`` (label "records")."""
    folder = Path(folder)
    finals: dict[str, dict[str, dict[int, float]]] = {}
    for label, bench in gpu_benches(folder).items():
        for reach in times_to_target(bench):
            finals.setdefault(reach["recipe"], {})[label] = dict(zip(reach["seeds"], reach["finals"], strict=True))
    for path in sorted(folder.glob("*-finals-*.json")):
        record = json.loads(path.read_text())
        label = path.stem.split("-finals-", 1)[1]
        finals.setdefault(record["recipe"], {})[label] = {int(seed): acc for seed, acc in record["finals"].items()}
    for path in sorted(folder.glob("*-seed*.json")):
        history = load_finished(path)
        finals.setdefault(history.recipe, {}).setdefault("records", {})[history.seed] = history.final_accuracy
    return finals


def _merge_by_label(into: dict, by_label: dict, folder: Path, what: str) -> None:
    for label, value in by_label.items():
        if label in into:
            raise ValueError(f"{folder}: {what} label {label!r} used twice")
        into[label] = value


def all_gpu_finals(results: str | os.PathLike = "results") -> dict[str, dict[str, dict[int, float]]]:
    """``gpu_finals`` of every ``results/cuda-*`` folder, merged per recipe (a run label names one run set
    across all of them; ``ValueError`` if two folders use the same label)."""
    merged: dict[str, dict[str, dict[int, float]]] = {}
    for folder in sorted(Path(results).glob("cuda-*")):
        for recipe, runs in gpu_finals(folder).items():
            _merge_by_label(merged.setdefault(recipe, {}), runs, folder, "run")
    return merged


def all_gpu_benches(results: str | os.PathLike = "results") -> dict[str, dict]:
    """``gpu_benches`` of every ``results/cuda-*`` folder, by label (unique across them)."""
    merged: dict[str, dict] = {}
    for folder in sorted(Path(results).glob("cuda-*")):
        _merge_by_label(merged, gpu_benches(folder), folder, "benchmark")
    return merged
