"""The tables of the README and the docs, made from the committed records (``python -m mnistlib figures``
prints them all; the tests hold the README and the docs to them)."""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path

from ..core.recipes import ABLATION, ABLATION_NAMES, CLAIMED, DEFAULT_RECIPE, RECIPES
from ..core.runs import History
from . import reference
from .records import SeedSummary, all_gpu_benches, all_gpu_finals, seed_runs, summarize, times_to_target

TABLE_HEADER = ("| recipe | parameters | epochs | target (%) | final test accuracy per seed (%) | mean ± std (%) "
                "| lowest (%) |\n| --- | --- | --- | --- | --- | --- | --- |")


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
        for reach in times_to_target(record):
            time = f"{reach['time_to_target_seconds']:.2f} s" if reach["met"] else "not met"
            lines.append(f"| {label} | {reach['recipe']} | {reach['seeds_at_target']} of {len(reach['finals'])} | "
                         f"{reach['mean_train_seconds']:.2f} s | {time} |")
    return lines


def flops_table(records: dict[str, dict]) -> list[str]:
    """Every training a benchmark record timed (its pipelines, on step 4's model, and its recipes' time to
    the target): FLOPs per training image, images per second, the achieved GFLOP/s and its share of the
    CPU's peak (``flops``). Records made before the benchmark counted FLOPs have no rows."""
    lines = ["| record | timed training | network | FLOPs per training image | images/s | GFLOP/s | of peak |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for label, record in records.items():
        timed = [(row["pipeline"].split(" (")[0], record["model"], row) for row in record["pipelines"]]
        timed += [(f"{reach['recipe']}, time to {reach['target']}%",
                   reach.get("model") or RECIPES[reach["recipe"]].model, reach) for reach in times_to_target(record)]
        for what, model, row in timed:
            if "flops_per_image" not in row:
                continue
            share = f"{row['percent_of_peak']:.1f}%" if row["percent_of_peak"] is not None else "unknown"
            lines.append(f"| {label} | {what} | `{model}` | {row['flops_per_image'] / 1e6:.2f} M | "
                         f"{row['images_per_second']:,} | {row['gflops']:.1f} | {share} |")
    return lines


def cpu_options_table(rows: list[dict]) -> list[str]:
    """A CPU benchmark's option rows (``cpu_options.cpu_options``): seconds, and speed-ups over the first row
    of their model (torch's layers, NCHW, fp32)."""
    lines = ["| CPU option | s/step | step speed-up | test pass (s) | test pass speed-up |",
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


def ablation_rows(summaries: list[SeedSummary], names: dict[str, str]) -> list[str]:
    """Step 4's ablation, one row per variant (``names``: recipe -> variant name): test accuracy after epoch
    1 and after the last, each seed's and their mean ± sample standard deviation, and the lowest final."""
    lines = ["| variant | recipe | parameters | after epoch 1 (%), by seed | mean ± std | final (%), by seed | "
             "mean ± std | lowest |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for found in summaries:
        firsts = [acc for _, acc in sorted(found.first_epoch.items())]
        finals = [acc for _, acc in sorted(found.finals.items())]
        lines.append(f"| {names.get(found.recipe, found.recipe)} | `{found.recipe}` | {found.params:,} | "
                     f"{', '.join(f'{a:.2f}' for a in firsts)} | {statistics.mean(firsts):.2f} ± "
                     f"{statistics.stdev(firsts):.2f} | {', '.join(f'{a:.2f}' for a in finals)} | "
                     f"{found.mean:.2f} ± {found.std:.2f} | {found.minimum:.2f} |")
    return lines


CPU_BENCH = "results/bench-cpu.json"  # the CPU benchmark the docs quote


def tables() -> dict[str, list[str]]:
    """Where each table goes -> its lines, from the records (read relative to the repository's root)."""
    cpu_bench = {"cpu": json.loads(Path(CPU_BENCH).read_text())}
    return {
        "README.md, results": summary_table(CLAIMED),
        "README.md and docs/results.md, the notebooks' stored runs": stored_runs_table(reference.stored_histories()),
        "docs/results.md, seed records": seed_records_table(CLAIMED),
        "docs/results.md, step 4's ablation": ablation_rows([summarize(name, "results") for name in ABLATION],
                                                            ABLATION_NAMES),
        f"docs/results.md, {DEFAULT_RECIPE} run by run": runs_table(DEFAULT_RECIPE),
        "docs/results.md, GPU runs": gpu_finals_table(),
        "docs/performance.md, CPU benchmark": bench_tables(cpu_bench) + [""]
        + cpu_options_table(cpu_bench["cpu"]["cpu_options"]),
        "docs/performance.md, FLOPs": flops_table(cpu_bench),
        "docs/performance.md, GPU benchmarks": bench_tables(all_gpu_benches()),
    }
