"""The benchmark: a one-epoch smoke run through the command line (no speed threshold), and its parts."""

import gzip
import importlib.util
import json
import re
import time

import pytest
import torch

from conftest import ROOT, assert_user_error, mnistlib
from mnistlib.core import data as mnist_data
from mnistlib.core import step, training
from mnistlib.core.augment import augmentation
from mnistlib.core.recipes import CPU_FAST_RECIPE, FAST_RECIPE
from mnistlib.core.runs import History
from mnistlib.evidence import bench, cpu_options, records


def test_bench_smoke_run(tmp_path):
    out = tmp_path / "bench.json"
    result = mnistlib("bench", "--device", "cpu", "--epochs", "1", "--quick", "--out", out)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert re.fullmatch(r"speed-up vs classic pipeline: \d+\.\d\dx", lines[-1])
    assert any(line.startswith("| classic (torchvision MNIST + DataLoader) |") for line in lines)
    assert any(line.startswith("timed region: ") for line in lines)
    assert "classic, epoch 1/1: 100%" in result.stdout and "mnistlib eager, epoch 1/1: 100%" in result.stdout
    record = json.loads(out.read_text())
    assert record["device"] == "cpu" and record["torch"] == torch.__version__ and record["cpu_threads"] >= 1
    classic, ours = record["pipelines"]
    assert classic["images"] == ours["images"] == 60_000
    assert record["speedup"] == pytest.approx(classic["seconds_per_epoch"] / ours["seconds_per_epoch"], rel=1e-2)
    assert all(share > 0 for share in record["step_breakdown_percent"].values())  # they are shares of 100
    assert [row["pipeline"].split(" ")[1] for row in record["pipelines"][1:]] == ["eager"]  # no graph on a CPU
    reaches = record["times_to_target"]
    assert [reach["recipe"] for reach in reaches] == [CPU_FAST_RECIPE, FAST_RECIPE] and "full_run" not in record
    assert all(len(reach["finals"]) == 1 for reach in reaches)
    assert len(record["histories"]) == 2 and all(len(h["epochs"]) == 1 for h in record["histories"])
    # every timed training has its FLOPs and its share of the CPU's peak, and the table shows them
    for row in record["pipelines"] + reaches:
        assert row["flops_per_image"] > 1e6 and row["gflops"] > 0, row
        assert row["percent_of_peak"] is None or 0 < row["percent_of_peak"] < 100, row
    assert any(line.startswith(f"| this run | {CPU_FAST_RECIPE}, time to 99.4% | `space_to_depth` |")
               for line in lines)


def test_bench_refuses_to_overwrite_a_record(tmp_path):
    (tmp_path / "old.json").write_text("keep me")
    assert_user_error(mnistlib("bench", "--quick", "--out", tmp_path / "old.json"), "already exists")
    assert (tmp_path / "old.json").read_text() == "keep me"


@pytest.mark.parametrize("args, fragment", [(("--target", "0"), "--target"), (("--target", "101"), "--target"),
                                            (("--epochs", "0"), "--epochs"),
                                            (("--recipes", "fast9"), "invalid choice")])
def test_bench_bad_arguments(args, fragment, tmp_path):
    assert_user_error(mnistlib("bench", *args, "--out", tmp_path / "b.json"), fragment)
    assert not (tmp_path / "b.json").exists()


def history(accuracies, train_seconds=10.0, test_seconds=2.0):
    epochs = [{"epoch": i + 1, "test_accuracy": a, "train_seconds": train_seconds,
               "seconds": train_seconds + test_seconds} for i, a in enumerate(accuracies)]
    return History("r", "final", 1, 0, "cpu", epochs=epochs)


def test_time_to_target_counts_training_only_up_to_the_first_epoch_at_target():
    reach = bench.time_to_target(history([98.0, 99.41, 99.3, 99.5]), 99.4)
    assert (reach["reached_at_epoch"], reach["train_seconds"], reach["eval_seconds"]) == (2, 20.0, 4.0)
    assert reach["final_accuracy"] == 99.5 and reach["total_train_seconds"] == 40.0


def test_fixed_budget_needs_nine_seeds_in_ten_at_their_last_epoch():
    runs = [history([98.0, 99.5]) for _ in range(9)] + [history([99.6, 99.3])]
    budget = bench.fixed_budget(runs, 99.4, test_pass_seconds=0.5)
    assert (budget["seeds_at_target"], budget["met"], budget["time_to_target_seconds"]) == (9, True, 20.5)
    runs[0] = history([99.6, 99.3])
    assert not bench.fixed_budget(runs, 99.4, 0.5)["met"]


def test_a_pipeline_that_fails_is_recorded_and_the_fastest_working_scope_is_used():
    def fails():
        raise RuntimeError("inductor: no kernel for this\nmore detail")

    lines = []
    model, step = (bench.COMPILED_PIPELINES[scope] for scope in ("model", "step"))
    failed = bench.attempt(fails, step, lines.append)
    assert failed == {"pipeline": step, "error": "RuntimeError: inductor: no kernel for this"}
    assert lines == ["mnistlib graphed + compiled step failed, left out: RuntimeError: inductor: no kernel for this"]
    rows = [{"pipeline": "mnistlib graphed (one CUDA graph per step)", "seconds_per_epoch": 0.2},
            {"pipeline": model, "seconds_per_epoch": 0.3}]
    assert bench.fastest_compile_scope(rows) == "model"
    assert bench.fastest_compile_scope(rows + [{"pipeline": step, "seconds_per_epoch": 0.25}]) == "step"
    assert bench.fastest_compile_scope(rows[:1]) is None


def test_cpu_options_run_on_the_threads_they_name_in_turns_and_a_failing_one_is_a_row(monkeypatch):
    """Each option's steps run on the process's threads unless it names others, the options take
    turns round by round, each model's rows are against its own first row, and one that cannot be
    built is recorded as failed."""
    calls = []
    # Seconds per step: the fast recipe's model is slower, and channels-last halves a step.
    seconds = {(None, False): 0.02, (None, True): 0.01, (FAST_RECIPE, False): 0.06, (FAST_RECIPE, True): 0.03}

    def runner(option, recipe, data):
        if option.compiled:
            raise RuntimeError("no C++ compiler")

        def step():
            calls.append((option.name, torch.get_num_threads()))
            time.sleep(seconds[option.recipe, option.channels_last])

        return step, lambda: time.sleep(0.01)

    monkeypatch.setattr(cpu_options, "cpu_option_runner", runner)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        rows = cpu_options.cpu_options(None, None, log=lambda line: None, rounds=2, steps=1)
    finally:
        torch.set_num_threads(threads)
    working = [o for o in cpu_options.CPU_OPTIONS if not o.compiled]
    assert calls == 2 * [(o.name, o.threads or 2) for o in working]
    assert [row["option"] for row in rows] == [o.name for o in cpu_options.CPU_OPTIONS]
    failed = [row for row in rows if "error" in row]
    assert failed == [{"option": "torch.compile (default mode)", "error": "RuntimeError: no C++ compiler"}]
    for option, row in zip(cpu_options.CPU_OPTIONS, rows, strict=True):
        if not option.compiled:  # 2x for channels-last against its own model's NCHW row (sleeps overshoot a bit)
            assert row["step_speedup"] == pytest.approx(2.0 if option.channels_last else 1.0, rel=0.25), option


def test_a_pipeline_keeps_its_median_run_and_says_what_the_others_took():
    runs = [{"pipeline": "p", "seconds_per_epoch": t, "images": 60_000} for t in (3.0, 1.0, 2.0)]
    assert bench.median_run(runs) == {**runs[2], "runs_seconds_per_epoch": [3.0, 1.0, 2.0]}
    assert bench.median_run(runs[:1]) == runs[0]


def test_time_to_target_not_reached():
    reach = bench.time_to_target(history([98.0, 99.0]), 99.4)
    assert reach["reached_at_epoch"] is None and reach["train_seconds"] is None


def test_classic_loader_reads_gz_only_data_without_writing_to_it(copied_root):
    raw = copied_root / "MNIST" / "raw"
    for path in raw.iterdir():  # keep only .gz files, as a download leaves them
        if path.suffix != ".gz":
            payload = path.read_bytes()
            path.unlink()
            (raw / f"{path.name}.gz").write_bytes(gzip.compress(payload))
    before = sorted(p.name for p in raw.iterdir())
    with bench.torchvision_root(copied_root) as root:
        assert root != copied_root
        loader = bench.classic_loader(root, torch.device("cpu"), 128, 7.0, 0.1307, 0.3081)
        images, labels = next(iter(loader))
    assert images.shape == (128, 1, 28, 28) and labels.shape == (128,)
    assert images.min().item() == pytest.approx(-0.1307 / 0.3081, abs=0.02)  # black background, normalized
    assert sorted(p.name for p in raw.iterdir()) == before
    assert not root.exists()  # the temporary copy is gone


def test_step_breakdown_adds_up(quick_data):
    split = mnist_data.Split(quick_data.train.images[:2048], quick_data.train.labels[:2048])
    small = mnist_data.MNIST(split, quick_data.test, quick_data.mean, quick_data.std)
    parts = bench.step_breakdown(bench.get_recipe("step4_final"), small, torch.device("cpu"), steps=3)
    assert set(parts) == {"batch slicing", "augmentation", "forward", "backward", "optimizer"}
    assert all(share > 0 for share in parts.values()) and parts["forward"] + parts["backward"] > 50


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GPU_BENCHES = sorted((ROOT / "results").glob("cuda-*/bench-*.json"))


def test_there_are_gpu_benchmark_records_to_tabulate():
    assert GPU_BENCHES


@pytest.mark.parametrize("record", GPU_BENCHES, ids=lambda p: p.stem)
def test_gpu_check_tabulates_every_gpu_benchmark_record(record):
    """gpu-check's table of a benchmark record (it runs only on a GPU, so its table is checked here,
    on the committed GPU records, before a GPU session depends on it)."""
    saved = json.loads(record.read_text())
    rows = _script("gpu_check").bench_rows(saved)
    assert all(len(row) == 3 and all(isinstance(cell, str) for cell in row) for row in rows)
    assert rows[0][1] == " / ".join(f"{r['seconds_per_epoch']:.3f}" for r in saved["pipelines"])
    assert sum(row[0].startswith("step4_final") for row in rows) == 1 + ("full_run_compiled" in saved)
    assert rows[-1][2].startswith(f"{records.times_to_target(saved)[-1]['seeds_at_target']}/10 seeds")


def test_gpu_check_goes_on_after_a_part_fails_and_prints_each_row_at_once(capsys):
    def bench_fails():
        raise RuntimeError("compile failed\nsecond line")

    printed = []

    def notebooks():
        printed.append(capsys.readouterr().out)  # what was printed before this part started
        return [("notebooks, full length, nbval", "100 s", "passed")]

    rows, ok = _script("gpu_check").run_parts([("bench", bench_fails), ("notebooks", notebooks)])
    assert rows == [("bench", "", "FAILED: RuntimeError: compile failed"),
                    ("notebooks, full length, nbval", "100 s", "passed")] and not ok
    assert printed == ["| bench |  | FAILED: RuntimeError: compile failed |\n"]
    assert _script("gpu_check").run_parts([("notebooks", notebooks)])[1]


def test_speed_options_profile_says_where_an_epoch_went(quick_data):
    """The profile that scripts/gpu_speed_options.py prints per option, here of the eager step on the
    CPU (operators instead of kernels): per-step figures that add up."""
    from mnistlib.core.models import build_model
    from mnistlib.core.recipes import get_recipe

    recipe = get_recipe("step4_final")
    split = quick_data.train.head(4 * recipe.batch_size)
    model = build_model(recipe.model)
    runner = training.make_step(model, step.make_optimizer(model, recipe), split, recipe,
                                augmentation(recipe, quick_data), 4, graph=False)
    lines = _script("gpu_speed_options").profile_epoch(runner.epoch, 0, 4, torch.device("cpu"), top=5)
    head = re.fullmatch(r"  (\d+) operators a step, (\d+) us a step of CPU time", lines[0])
    assert head and int(head[1]) > 20 and len(lines) == 6
    per_step = [float(line.split()[0]) for line in lines[1:]]
    assert per_step == sorted(per_step, reverse=True) and sum(per_step) <= int(head[2]) + 1


def test_training_flops_count_each_conv_forward_and_backward():
    """space_to_depth's convs by hand: (positions x output channels x input channels x kernel area) multiply-adds
    forward; backward, the gradients of weights and inputs, twice that, less the input gradient of the first
    conv, which nothing needs; 2 FLOPs per multiply-add."""
    from mnistlib.evidence.flops import training_flops_per_image

    convs = [14 * 14 * 16 * 4 * 9, 14 * 14 * 16 * 16 * 9, 7 * 7 * 32 * 16 * 9, 5 * 5 * 64 * 32 * 9, 10 * 64 * 25]
    assert training_flops_per_image("space_to_depth") == 2 * (3 * sum(convs) - convs[0])


def test_cpu_peak_is_cores_clock_fma_units_and_vector_width(monkeypatch):
    from mnistlib.evidence import flops

    monkeypatch.setattr(flops, "cpu_model", lambda: "Intel(R) Xeon(R) Processor @ 2.60GHz")
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    assert flops.cpu_peak_gflops(threads=2)["gflops"] == 2 * 2.6 * 2 * 16 * 2
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    assert flops.cpu_peak_gflops(threads=2)["gflops"] == 2 * 2.6 * 2 * 8 * 2
    monkeypatch.setattr(flops, "cpu_model", lambda: "AMD EPYC 7B13")  # no clock in the name: no peak to claim
    assert flops.cpu_peak_gflops(threads=2) is None
