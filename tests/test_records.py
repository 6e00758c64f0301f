"""The figures the README quotes are the ones in the committed run records."""

import json
import re

from conftest import ROOT

RESULTS = ROOT / "results"


def readme_rows():
    """Rows of the README's results table: | seed | final % | best % (epoch) | s/epoch | total s |"""
    pattern = re.compile(r"^\| (\d+) \| ([\d.]+) \| ([\d.]+) \(epoch (\d+)\) \| ([\d.]+) \| ([\d.]+) \|$", re.M)
    return pattern.findall((ROOT / "README.md").read_text())


def test_readme_results_match_the_run_records():
    rows = readme_rows()
    assert len(rows) == 3
    for seed, final, best, best_epoch, per_epoch, total in rows:
        record = json.loads((RESULTS / f"step4_final-seed{seed}.json").read_text())
        epochs = record["epochs"]
        assert record["recipe"] == "step4_final" and record["seed"] == int(seed) and not record["quick"]
        assert f"{epochs[-1]['test_accuracy']:.2f}" == final
        top = max(epochs, key=lambda e: e["test_accuracy"])
        assert (f"{top['test_accuracy']:.2f}", int(best_epoch)) == (best, top["epoch"])
        assert f"{sum(e['seconds'] for e in epochs) / len(epochs):.1f}" == per_epoch
        assert f"{sum(e['seconds'] for e in epochs):.0f}" == total


def test_every_recorded_run_meets_the_target():
    records = sorted(RESULTS.glob("step4_final-seed*.json"))
    assert len(records) >= 3
    for path in records:
        record = json.loads(path.read_text())
        assert len(record["epochs"]) <= 20 and record["params"] < 20_000
        assert record["epochs"][-1]["test_accuracy"] >= 99.4, path.name


def test_readme_notebook_results_match_the_notebook_histories():
    pattern = re.compile(
        r"^\| `(\w+)` \| ([\d,]+) \| (\d+) \| ([\d.]+) \| ([\d.]+) \(epoch (\d+)\) \| (\w+) \| ([\d.]+) \|$", re.M
    )
    rows = pattern.findall((ROOT / "README.md").read_text())
    assert [r[0] for r in rows] == ["step1_relu_output", "step1_base", "step2_slim", "step3_augment", "step4_final",
                                    "beyond_8k", "beyond_5k"]
    for recipe, params, epochs, final, best, best_epoch, device, minutes in rows:
        history = json.loads((ROOT / "notebooks" / "histories" / f"{recipe}.json").read_text())
        e = history["epochs"]
        top = max(e, key=lambda x: x["test_accuracy"])
        assert (params, int(epochs), device) == (f"{history['params']:,}", len(e), history["device"])
        assert (final, best, int(best_epoch)) == (f"{e[-1]['test_accuracy']:.2f}", f"{top['test_accuracy']:.2f}",
                                                  top["epoch"])
        assert minutes == f"{sum(x['seconds'] for x in e) / 60:.1f}"


BEYOND_TARGETS = {"beyond_8k": (8_000, 99.5), "beyond_5k": (5_000, 99.4)}


def test_beyond_recipes_meet_their_targets_on_three_seeds():
    from mnistlib.results import seed_runs

    for recipe, (max_params, bar) in BEYOND_TARGETS.items():
        runs = seed_runs(recipe, RESULTS)
        assert len(runs) >= 3, recipe
        for run in runs:
            assert run.params <= max_params and len(run.epochs) <= 15, (recipe, run.seed)
            assert run.final_accuracy >= bar, (recipe, run.seed, run.final_accuracy)


def test_readme_seed_table_matches_the_records():
    from mnistlib.results import summarize

    readme = (ROOT / "README.md").read_text()
    for recipe in ["step4_final", "step4_fast", "beyond_8k", "beyond_5k"]:
        assert summarize(recipe, RESULTS).row() in readme, recipe


def bench_records():
    return [json.loads(p.read_text()) for p in sorted(RESULTS.glob("bench-*.json"))]


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


def test_fast_recipe_records_are_the_bench_runs():
    """results/step4_fast-seed<S>.json are the histories the bench records carry, copied out."""
    for record in bench_records():
        history = record["history"]
        copied = json.loads((RESULTS / f"{history['recipe']}-seed{history['seed']}.json").read_text())
        assert copied == history
