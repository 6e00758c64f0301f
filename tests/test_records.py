"""The figures the README quotes are the ones in the committed run records."""

import json
import re
import statistics

import pytest

from conftest import ROOT
from mnistlib import reference
from mnistlib.recipes import CLAIMED, FAST_RECIPE, RECIPES, RECORD_SEEDS, TEN_FRESH_SEEDS
from mnistlib.records import History, load_finished
from mnistlib.results import gpu_benches, gpu_finals, seed_runs, summarize

RESULTS = ROOT / "results"
GPU_FOLDERS = sorted(RESULTS.glob("cuda-*"))  # one per GPU model, e.g. cuda-h200


def _merged(by_folder: list[tuple[str, dict]], what: str) -> dict:
    """Dicts keyed by run label, one per GPU folder, merged: a label names one run set across all of them."""
    merged = {}
    for folder, by_label in by_folder:
        for label, value in by_label.items():
            assert label not in merged, f"{folder}: {what} label {label!r} used twice"
            merged[label] = value
    return merged


def all_gpu_finals() -> dict[str, dict[str, dict[int, float]]]:
    """``gpu_finals`` of every GPU folder, merged per recipe."""
    per_folder = [(folder.name, gpu_finals(folder)) for folder in GPU_FOLDERS]
    recipes = sorted({recipe for _, finals in per_folder for recipe in finals})
    return {recipe: _merged([(name, finals.get(recipe, {})) for name, finals in per_folder], "run")
            for recipe in recipes}


def all_gpu_benches() -> dict[str, dict]:
    return _merged([(folder.name, gpu_benches(folder)) for folder in GPU_FOLDERS], "benchmark")


def test_a_history_says_what_was_compiled():
    """A history holds the compile scope; ``compiled`` follows from it, and is not saved."""
    bench = json.loads((RESULTS / "cuda-h200" / "bench-nchw-compile.json").read_text())
    compiled = History.from_dict(bench["histories"][0])
    assert (compiled.compile_scope, compiled.compiled) == ("model", True)
    plain = History.load(RESULTS / "step4_final-seed100.json")
    assert (plain.compile_scope, plain.compiled) == (None, False)
    saved = plain.to_dict()
    assert "compiled" not in saved and History.from_dict(saved) == plain


def readme_rows():
    """Rows of the README's results table: | seed | final % | best % (epoch) | s/epoch | total s |"""
    pattern = re.compile(r"^\| (\d+) \| ([\d.]+) \| ([\d.]+) \(epoch (\d+)\) \| ([\d.]+) \| ([\d.]+) \|$", re.M)
    return pattern.findall((ROOT / "README.md").read_text())


def test_readme_results_match_the_run_records():
    rows = readme_rows()
    assert [int(r[0]) for r in rows] == list(RECORD_SEEDS)
    for seed, final, best, best_epoch, per_epoch, total in rows:
        record = json.loads((RESULTS / f"step4_final-seed{seed}.json").read_text())
        epochs = record["epochs"]
        assert record["recipe"] == "step4_final" and record["seed"] == int(seed) and not record["quick"]
        assert f"{epochs[-1]['test_accuracy']:.2f}" == final
        top = max(epochs, key=lambda e: e["test_accuracy"])
        assert (f"{top['test_accuracy']:.2f}", int(best_epoch)) == (best, top["epoch"])
        assert f"{sum(e['seconds'] for e in epochs) / len(epochs):.1f}" == per_epoch
        assert f"{sum(e['seconds'] for e in epochs):.0f}" == total


@pytest.mark.parametrize("recipe", CLAIMED)
def test_every_claim_holds_on_every_fresh_seed_on_the_cpu(recipe):
    """The strict claim: each committed record (seeds never used for choosing) meets the recipe's target."""
    target = RECIPES[recipe]
    runs = seed_runs(recipe, RESULTS)
    assert [run.seed for run in runs] == list(RECORD_SEEDS)
    for run in runs:
        assert run.finished and run.device == "cpu" and len(run.epochs) == target.epochs, run.seed
        assert run.params <= target.max_params and run.final_accuracy >= target.target, (run.seed, run.final_accuracy)


def not_yet_on_a_gpu() -> list[str]:
    """The claimed recipes the README names as not yet checked on a GPU (changed since its last GPU run)."""
    line = re.search(r"^\*\*Not yet checked on a GPU:\*\* (.+)$", (ROOT / "README.md").read_text(), re.M)
    return re.findall(r"`(\w+)`", line.group(1)) if line else []


def test_every_claim_holds_on_every_fresh_seed_on_the_gpu():
    finals = all_gpu_finals()
    assert GPU_FOLDERS and sorted(finals) == sorted(set(CLAIMED) - set(not_yet_on_a_gpu()))
    runs = [(p, load_finished(p).to_dict()) for folder in GPU_FOLDERS for p in folder.glob("*-seed*.json")]
    runs += [(p, json.loads(p.read_text())) for folder in GPU_FOLDERS for p in folder.glob("*-finals-*.json")]
    assert runs, "no GPU run records"
    for path, run in runs:  # finals records before the 20-epoch recipes, all of step 4, do not say their epochs
        epochs = run.get("epochs")
        epochs = len(epochs) if isinstance(epochs, list) else epochs
        assert epochs in (None, RECIPES[run["recipe"]].epochs), f"{path.name}: not the recipe as it is now"
    for recipe, runs in finals.items():
        assert any(set(RECORD_SEEDS) <= set(by_seed) for by_seed in runs.values()), recipe
        for label, by_seed in runs.items():
            assert min(by_seed.values()) >= RECIPES[recipe].target, (recipe, label, by_seed)


def test_readme_gpu_table_matches_the_gpu_records():
    readme = (ROOT / "README.md").read_text()
    assert all_gpu_finals()
    for recipe, runs in all_gpu_finals().items():
        for label, by_seed in runs.items():
            finals = [acc for _, acc in sorted(by_seed.items())]
            row = (f"| `{recipe}` | {label} | {len(finals)} ({min(by_seed)}-{max(by_seed)}) | "
                   f"{', '.join(f'{a:.2f}' for a in finals)} | {statistics.mean(finals):.2f} | {min(finals):.2f} |")
            assert row in readme, row


def test_single_run_margins_cover_the_spread_of_fresh_seeds():
    """A notebook asserts target - margin for one run: every fresh seed, CPU or GPU, clears that bar
    with room, so the notebooks do not flake where the strict claim holds."""
    for recipe in CLAIMED:
        finals = list(summarize(recipe, RESULTS).finals.values())
        finals += [acc for by_seed in all_gpu_finals().get(recipe, {}).values() for acc in by_seed.values()]
        assert min(finals) - RECIPES[recipe].notebook_bar >= 0.15, recipe


def test_readme_notebook_results_match_the_notebook_histories():
    pattern = re.compile(
        r"^\| `(\w+)` \| ([\d,]+) \| (\d+) \| ([\d.]+) \| ([\d.]+) \(epoch (\d+)\) \| (\w+) \| ([\d.]+) \|$", re.M
    )
    rows = pattern.findall((ROOT / "README.md").read_text())
    assert [r[0] for r in rows] == ["step1_relu_output", "step1_base", "step2_slim", "step3_augment", "step4_final",
                                    "beyond_8k", "beyond_5k"]
    for recipe, params, epochs, final, best, best_epoch, device, seconds in rows:
        history = json.loads((reference.folder() / reference.HISTORIES / f"{recipe}.json").read_text())
        e = history["epochs"]
        top = max(e, key=lambda x: x["test_accuracy"])
        assert (params, int(epochs), device) == (f"{history['params']:,}", len(e), history["device"])
        assert (final, best, int(best_epoch)) == (f"{e[-1]['test_accuracy']:.2f}", f"{top['test_accuracy']:.2f}",
                                                  top["epoch"])
        assert seconds == f"{sum(x['seconds'] for x in e):.0f}"


def test_readme_seed_table_matches_the_records():
    from mnistlib.results import summarize

    readme = (ROOT / "README.md").read_text()
    for recipe in CLAIMED:
        assert summarize(recipe, RESULTS).row() in readme, recipe


def bench_records():
    """The CPU benchmark runs of the previous pipeline code (each timed 1 epoch per pipeline)."""
    return [json.loads(p.read_text()) for p in sorted(RESULTS.glob("bench-cpu-*.json"))]


def test_readme_performance_table_matches_the_bench_records():
    pattern = re.compile(r"^\| (\d+) \| (\w+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+)x \| `(\w+)` \| "
                         r"([\d.]+) s \(epoch (\d+)\) \| ([\d.]+) \|$", re.M)
    rows = pattern.findall((ROOT / "README.md").read_text())
    records = bench_records()
    assert len(rows) == len(records) >= 3
    for row, record in zip(rows, records, strict=True):
        seed, device, classic, ours, speedup, recipe, seconds, epoch, final = row
        reach = record["time_to_target"]
        assert (int(seed), device, recipe) == (reach["seed"], record["device"], reach["recipe"])
        assert classic == f"{record['pipelines'][0]['seconds_per_epoch']:.1f}"
        assert ours == f"{record['pipelines'][1]['seconds_per_epoch']:.1f}"
        assert speedup == f"{record['speedup']:.2f}"
        assert (seconds, int(epoch)) == (f"{reach['train_seconds']:.1f}", reach["reached_at_epoch"])
        assert final == f"{reach['final_accuracy']:.2f}"


def test_readme_gpu_performance_tables_match_the_gpu_benches():
    readme = (ROOT / "README.md").read_text()
    assert all_gpu_benches()
    for label, record in all_gpu_benches().items():
        for row in record["pipelines"]:
            assert (f"| {label} | {row['pipeline']} | {row['seconds_per_epoch']:.3f} | {row['images_per_second']:,} | "
                    f"{row['speedup']:.1f}x |") in readme, (label, row["pipeline"])
        for key in ("full_run", "full_run_compiled"):
            if key in record:
                run = record[key]
                assert (f"| {label} | {run['recipe']}{' compiled' if run.get('compile_scope') else ''}, 20 epochs | "
                        f"{run['wall_seconds']:.2f} s | {run['final_accuracy']:.2f} |") in readme, (label, key)
        reach = record["time_to_target"]
        time = f"{reach['time_to_target_seconds']:.2f} s" if reach["met"] else "not met"
        assert (f"| {label} | {reach['recipe']} | {reach['seeds_at_target']} of {len(reach['finals'])} | "
                f"{reach['mean_train_seconds']:.2f} s | {time} |") in readme, label


@pytest.mark.parametrize("folder", [RESULTS / "superseded", *(f / "superseded" for f in GPU_FOLDERS
                                                                if (f / "superseded").is_dir())])
def test_readme_superseded_runs_match_their_histories(folder):
    """Fresh-seed runs of a recipe as it was before a change (``<recipe>-<E>-epochs-seed<S>.json``):
    kept, since the README tells what they showed."""
    groups = sorted({path.name.split("-seed")[0] for path in folder.glob("*-seed*.json")})
    assert groups
    for group in groups:
        recipe, epochs = re.fullmatch(r"(\w+)-(\d+)-epochs", group).groups()
        runs = seed_runs(group, folder)
        assert [run.seed for run in runs] == list(RECORD_SEEDS), group
        assert all(run.recipe == recipe and len(run.epochs) == int(epochs) != RECIPES[recipe].epochs for run in runs)
        finals = ", ".join(f"{run.final_accuracy:.2f}%" for run in runs)
        assert finals in (ROOT / "README.md").read_text(), (group, finals)


def test_readme_quotes_ten_cpu_seeds_of_the_fast_recipe():
    """The time to 99.4% asks 9 of 10 fresh seeds: the fast recipe's seeds 105-109 on the CPU are kept in
    results/more-seeds/ (beside its records 100-104), and the README quotes all ten."""
    recipe = RECIPES[FAST_RECIPE]
    runs = seed_runs(FAST_RECIPE, RESULTS) + seed_runs(FAST_RECIPE, RESULTS / "more-seeds")
    assert [run.seed for run in runs] == list(TEN_FRESH_SEEDS)
    assert all(run.finished and run.device == "cpu" and len(run.epochs) == recipe.epochs for run in runs)
    finals = ", ".join(f"{run.final_accuracy:.2f}" for run in runs)
    assert finals in (ROOT / "README.md").read_text(), finals


def test_the_packaged_seed_summary_is_the_records():
    """What the notebooks show of the seed records (shipped with the package) is what results/ holds."""
    summaries = reference.seed_summaries()
    assert sorted(summaries) == sorted(CLAIMED)
    for recipe in CLAIMED:
        assert summaries[recipe] == summarize(recipe, RESULTS), recipe


def test_every_stored_notebook_run_ships_with_the_package():
    from mnistlib.recipes import STEPS

    for recipe in [*STEPS, "beyond_8k", "beyond_5k"]:
        history = reference.stored_history(recipe)
        assert history is not None and history.finished and not history.quick, recipe
