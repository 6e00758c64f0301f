"""Committed run records, and the tables of them that the README and the docs show.

``results/<recipe>-seed<S>.json`` is the history of one run, ``python -m mnistlib train --recipe R
--seed S`` (made by ``python -m mnistlib records``); ``results/cuda-<gpu>/`` holds the GPU checks'
records. ``python -m mnistlib figures`` prints every table below, and the tests hold the README and
the docs to them.
"""

from __future__ import annotations

import json
import os
import statistics
from dataclasses import dataclass
from pathlib import Path

from .records import History, load_finished


@dataclass
class SeedSummary:
    recipe: str
    params: int
    epochs: int
    finals: dict[int, float]  # seed -> final test accuracy (%)

    @property
    def mean(self) -> float:
        return statistics.mean(self.finals.values())

    @property
    def std(self) -> float:
        """Sample standard deviation over the seeds (0 for a single seed)."""
        return statistics.stdev(self.finals.values()) if len(self.finals) > 1 else 0.0

    @property
    def minimum(self) -> float:
        return min(self.finals.values())

    def row(self) -> str:
        from .recipes import get_recipe

        seeds = ", ".join(f"{acc:.2f}" for _, acc in sorted(self.finals.items()))
        return (f"| `{self.recipe}` | {self.params:,} | {self.epochs} | {get_recipe(self.recipe).target:.1f} | "
                f"{seeds} | {self.mean:.2f} ± {self.std:.2f} | {self.minimum:.2f} |")


def seed_runs(recipe: str, folder: str | os.PathLike = "results") -> list[History]:
    """The full-length records of ``recipe``, by seed; an unfinished run is refused, never counted."""
    runs = [load_finished(p) for p in sorted(Path(folder).glob(f"{recipe}-seed*.json"))]
    return sorted((h for h in runs if not h.quick), key=lambda h: h.seed)


def summarize(recipe: str, folder: str | os.PathLike = "results") -> SeedSummary | None:
    runs = seed_runs(recipe, folder)
    if not runs:
        return None
    return SeedSummary(recipe, runs[0].params, len(runs[0].epochs), {h.seed: h.final_accuracy for h in runs})


TABLE_HEADER = ("| recipe | parameters | epochs | target (%) | final test accuracy per seed (%) | mean ± std (%) "
                "| lowest (%) |\n| --- | --- | --- | --- | --- | --- | --- |")


def gpu_benches(folder: str | os.PathLike) -> dict[str, dict]:
    """label -> record of the GPU check's benchmarks kept in ``folder`` as ``bench-<label>.json``."""
    return {path.stem.removeprefix("bench-"): json.loads(path.read_text())
            for path in sorted(Path(folder).glob("bench-*.json"))}


def gpu_finals(folder: str | os.PathLike) -> dict[str, dict[str, dict[int, float]]]:
    """recipe -> run label -> {seed: final test accuracy} of the GPU check's fresh-seed runs kept in
    ``folder``: each ``bench-<label>.json`` (its time-to-target runs), ``<recipe>-finals-<label>.json``
    and ``<recipe>-seed<S>.json`` (label "records")."""
    folder = Path(folder)
    finals: dict[str, dict[str, dict[int, float]]] = {}
    for label, bench in gpu_benches(folder).items():
        reach = bench["time_to_target"]
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


def seed_rows(summaries: list[SeedSummary]) -> list[str]:
    """A table of seed summaries: ``TABLE_HEADER`` and a row each."""
    return TABLE_HEADER.splitlines() + [found.row() for found in summaries]


def seed_records_table(recipes: list[str], results: str | os.PathLike = "results") -> list[str]:
    """``seed_rows`` of the claimed recipes' records in ``results``."""
    return seed_rows([summarize(name, results) for name in recipes])


def runs_table(recipe: str, results: str | os.PathLike = "results") -> list[str]:
    """One recipe's seed records run by run: final and best accuracy, seconds an epoch and in all."""
    lines = ["| seed | final test accuracy (%) | best (%) | s/epoch | total s |", "| --- | --- | --- | --- | --- |"]
    for h in seed_runs(recipe, results):
        best = h.best_record
        lines.append(f"| {h.seed} | {h.final_accuracy:.2f} | {best['test_accuracy']:.2f} (epoch {best['epoch']}) | "
                     f"{h.total_seconds / len(h.epochs):.1f} | {h.total_seconds:.0f} |")
    return lines


def gpu_finals_table(results: str | os.PathLike = "results") -> list[str]:
    """Every GPU run set of every claimed recipe: label, seeds, finals, mean, lowest."""
    lines = ["| recipe | runs | seeds | final test accuracy per seed (%) | mean (%) | lowest (%) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for recipe, runs in all_gpu_finals(results).items():
        for label, by_seed in runs.items():
            finals = [acc for _, acc in sorted(by_seed.items())]
            lines.append(f"| `{recipe}` | {label} | {len(finals)} ({min(by_seed)}-{max(by_seed)}) | "
                         f"{', '.join(f'{a:.2f}' for a in finals)} | {statistics.mean(finals):.2f} | "
                         f"{min(finals):.2f} |")
    return lines


def summary_table(recipes: list[str], results: str | os.PathLike = "results") -> list[str]:
    """The README's rows: each claimed recipe's size, epochs, claim, and its lowest fresh seed on the CPU
    (records and ``results/more-seeds``) and on a GPU (every run of every GPU folder)."""
    from .recipes import RECIPES

    gpu = all_gpu_finals(results)
    lines = []
    for name in recipes:
        cpu = seed_runs(name, results) + seed_runs(name, Path(results) / "more-seeds")
        runs = [acc for by_seed in gpu.get(name, {}).values() for acc in by_seed.values()]
        gpu_cell = f"{min(runs):.2f} ({len(runs)} runs)" if runs else "not yet run"
        lines.append(f"| `{name}` | {cpu[0].params:,} | {RECIPES[name].epochs} | ≥ {RECIPES[name].target}% | "
                     f"{min(h.final_accuracy for h in cpu):.2f} ({len(cpu)} seeds) | {gpu_cell} |")
    return lines


def bench_tables(records: dict[str, dict]) -> list[str]:
    """The benchmark records by label as three tables: pipelines (s/epoch, images/s, speed-up over the
    classic pipeline), the timed 20-epoch runs of step 4, and the time to 99.4% by the fixed-budget rule."""
    lines = ["| record | pipeline | s/epoch | images/s | speed-up |", "| --- | --- | --- | --- | --- |"]
    for label, record in records.items():
        lines += [f"| {label} | {row['pipeline']} | {row['seconds_per_epoch']:.3f} | {row['images_per_second']:,} | "
                  f"{row['speedup']:.2f}x |" for row in record["pipelines"]]
    runs = [(label, record[key]) for label, record in records.items() for key in ("full_run", "full_run_compiled")
            if key in record]
    if runs:
        lines += ["", "| record | run (test pass after every epoch) | wall time | final (%) |",
                  "| --- | --- | --- | --- |"]
        lines += [f"| {label} | {run['recipe']}{' compiled' if run.get('compile_scope') else ''}, "
                  f"{run['epochs']} epochs | {run['wall_seconds']:.2f} s | {run['final_accuracy']:.2f} |"
                  for label, run in runs]
    lines += ["", "| record | recipe | seeds at ≥ 99.4% | mean training time | time to 99.4% |",
              "| --- | --- | --- | --- | --- |"]
    for label, record in records.items():
        reach = record["time_to_target"]
        time = f"{reach['time_to_target_seconds']:.2f} s" if reach["met"] else "not met"
        lines.append(f"| {label} | {reach['recipe']} | {reach['seeds_at_target']} of {len(reach['finals'])} | "
                     f"{reach['mean_train_seconds']:.2f} s | {time} |")
    return lines


def cpu_options_table(rows: list[dict]) -> list[str]:
    """A CPU benchmark's option rows (``bench.cpu_options``): seconds, and ratios to their model's eager NCHW step."""
    lines = ["| CPU option | s/step | step vs eager NCHW fp32 | test pass (s) | vs eager NCHW fp32 |",
             "| --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['option']} | failed: {r['error']} | | | |" if "error" in r else
                     f"| {r['option']} | {r['step_seconds']:.4f} | | {r['test_pass_seconds']:.2f} | |"
                     if "step_speedup" not in r else
                     f"| {r['option']} | {r['step_seconds']:.4f} | {r['step_speedup']:.2f}x | "
                     f"{r['test_pass_seconds']:.2f} | {r['test_pass_speedup']:.2f}x |")
    return lines


def stored_runs_table(histories: dict[str, History]) -> list[str]:
    """The notebooks' stored full runs: size, epochs, final and best test accuracy, device, seconds."""
    lines = ["| recipe | parameters | epochs | final test accuracy (%) | best (%) | device | seconds |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, h in histories.items():
        best = h.best_record
        lines.append(f"| `{name}` | {h.params:,} | {len(h.epochs)} | {h.final_accuracy:.2f} | "
                     f"{best['test_accuracy']:.2f} (epoch {best['epoch']}) | {h.device} | {h.total_seconds:.0f} |")
    return lines
