"""The command line as a user meets it: real subprocesses, exit codes, one-line errors."""

import json
import os
import subprocess
import sys

import pytest
import torch

from conftest import ROOT, assert_user_error, cli_env, into_a_closed_pipe, mnistlib
from mnistlib.core import training
from mnistlib.core.recipes import RECIPES
from mnistlib.core.runs import History


def test_train_quick_prints_epochs_and_a_final_line(quick_run_dir):
    out, stdout = quick_run_dir
    lines = stdout.strip().splitlines()
    assert lines[0].startswith("Test set: Average loss: ")
    history = json.loads((out / "history.json").read_text())
    final = history["epochs"][-1]["test_accuracy"]
    assert lines[-1].startswith(f"step4_final: final test accuracy {final:.2f}% (best ")
    assert "12,400 parameters" in lines[-1] and "quick mode" in lines[-1]


def test_evaluate_reports_the_saved_accuracy(quick_run_dir):
    out, _ = quick_run_dir
    history = json.loads((out / "history.json").read_text())
    result = mnistlib("evaluate", "--checkpoint", out / "model.pt", "--device", "cpu")
    assert result.returncode == 0, result.stderr
    assert f"({history['epochs'][-1]['test_accuracy']:.2f}%)" in result.stdout


def test_recipes_lists_one_line_per_recipe():
    result = mnistlib("recipes")
    assert result.returncode == 0
    lines = result.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines] == [
        "step1_relu_output", "step1_base", "step2_slim", "step3_augment", "step4_final", "step4_batchnorm_only",
        "step4_dropout_only", "step4_fast", "beyond_8k", "beyond_5k", "beyond_fast", "beyond_cpu_fast",
    ]
    assert "params=12,400" in lines[4] and "params=4,758" in lines[-3] and "params=15,230" in lines[-2]
    assert "params=42,186" in lines[-1]


def test_summary_defaults_to_the_final_model_on_cpu():
    result = mnistlib("summary")
    assert result.returncode == 0, result.stderr
    assert "Total params: 12,400" in result.stdout and "40x40" in result.stdout


@pytest.mark.parametrize(
    "args, fragment",
    [
        ((), "required"),
        (("fly",), "invalid choice"),
        (("train", "--recipe", "step9"), "invalid choice"),
        (("train", "--epochs", "0"), "expected a whole number >= 1, got 0"),
        (("train", "--epochs", "-1"), "expected a whole number >= 1, got -1"),
        (("train", "--epochs", "5000"), "--epochs must be between 1 and 1000"),
        (("train", "--epochs", "ten"), "whole number"),
        (("train", "--seed", "-3"), ">= 0"),
        (("train", "--device", "tpu"), "invalid choice"),
        (("train", "--compile", "--no-graph", "--device", "cpu"), "--compile"),
        (("bench", "--compile", "--device", "cpu"), "--compile compiles the captured CUDA-graph step"),
        (("train", "--compile", "everything"), "invalid choice: 'everything'"),
        (("train", "--compile", "model", "--device", "cpu"), "needs a CUDA GPU"),
        (("train", "--bogus"), "unrecognized arguments"),
        (("bench", "--epochs", "101"), "--epochs must be between 1 and 100, got 101"),
        (("bench", "--target", "0"), "--target must be a percentage above 0 and at most 100, got 0.0"),
        (("bench", "--target", "100.5"), "--target must be a percentage above 0 and at most 100, got 100.5"),
        (("bench", "--seeds", "101"), "--seeds must be between 1 and 100, got 101"),
        (("bench", "--seed", "99999999999999999999"), "--seed must be between 0 and"),
        (("summary", "--model", "resnet"), "invalid choice"),
        (("evaluate",), "--checkpoint"),
    ],
)
def test_bad_arguments(args, fragment, tmp_path):
    result = mnistlib(*args, "--out", tmp_path / "run") if args[:1] == ("train",) else mnistlib(*args)
    assert_user_error(result, fragment)
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu(tmp_path):
    assert_user_error(mnistlib("train", "--device", "cuda", "--out", tmp_path / "run"), "no CUDA GPU")
    assert_user_error(mnistlib("train", "--compile", "--out", tmp_path / "run"), "needs a CUDA GPU")
    assert not (tmp_path / "run").exists()


def test_missing_data_offline(tmp_path):
    result = mnistlib("train", "--quick", "--data-dir", tmp_path / "empty", "--out", tmp_path / "run")
    assert_user_error(result, "no MNIST data: point --data-dir at a folder holding MNIST/raw/", "empty")
    assert "MNISTLIB_DATA" not in result.stderr and len(result.stderr) < 320  # the fix first, on one line
    assert not (tmp_path / "run").exists()


def test_corrupt_data(copied_root, tmp_path):
    path = next((copied_root / "MNIST" / "raw").glob("t10k-labels*"))
    path.write_bytes(path.read_bytes()[:50])
    assert_user_error(mnistlib("train", "--quick", "--data-dir", copied_root, "--out", tmp_path / "run"),
                      "corrupt MNIST file")
    assert not (tmp_path / "run").exists()


def test_out_folder_holding_a_run_is_left_alone(quick_run_dir):
    out, _ = quick_run_dir
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert_user_error(mnistlib("train", "--quick", "--out", out), "already holds a run")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_out_is_a_file(tmp_path):
    (tmp_path / "file").write_text("keep me")
    assert_user_error(mnistlib("train", "--quick", "--out", tmp_path / "file"), "not a folder")
    assert (tmp_path / "file").read_text() == "keep me"


def test_missing_checkpoint(tmp_path):
    assert_user_error(mnistlib("evaluate", "--checkpoint", tmp_path / "nope.pt"), "not found")


def test_unreadable_checkpoint(tmp_path):
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    assert_user_error(mnistlib("evaluate", "--checkpoint", tmp_path / "bad.pt"), "not a readable mnistlib checkpoint")


def test_figures_draws_the_charts_from_the_reference_runs(tmp_path):
    result = mnistlib("figures", "--out", tmp_path / "docs")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "docs").iterdir()) == [
        "ablation.png", "accuracy_vs_params.png", "step4_curves.png", "steps.png"]
    assert (tmp_path / "docs" / "steps.png").read_bytes()[:4] == b"\x89PNG"
    assert "| `step4_final` | 12,400 | 20 |" in result.stdout


CHANCE_LINE = ("warning: step2_slim ended at chance level: final test accuracy 11.35%, no better than always "
               "answering the most frequent digit (11.35% of the test set), so the network has not started learning; "
               "more epochs usually fix it, or a recipe with batch norm such as step4_final, which learns from its "
               "first epoch")


def test_a_run_that_ends_at_chance_is_kept_and_says_so(tmp_path):
    """Slim, without batch norm, in 3 epochs on one thread (seed 0): on this project's CPU it ends at 11.35%,
    the share of the 1s in the test set (with AVX2 kernels it learns: 97.01%). The run is a run like any
    other (exit 0, saved); where it ended at chance one line says so and what usually fixes it, elsewhere
    no line does."""
    out = tmp_path / "run"
    result = mnistlib("train", "--recipe", "step2_slim", "--epochs", 3, "--threads", 1, "--no-progress", "--out", out)
    assert result.returncode == 0, result.stderr
    history = History.load(out)
    assert f"step2_slim: final test accuracy {history.final_accuracy:.2f}%" in result.stdout
    warning = training.chance_warning(history)
    assert result.stderr.splitlines() == ([f"warning: {warning}"] if training.at_chance(history.final_accuracy)
                                          else [])


def test_the_chance_line_follows_the_runs_result_line(tmp_path, monkeypatch, capsys):
    """The same on any CPU: a run that ended at 11.35%, as the command line reports it."""
    from mnistlib import cli

    recipe = RECIPES["step2_slim"]
    history = History("step2_slim", recipe.model, 12_352, 0, "cpu", planned_epochs=2, finished=True,
                      epochs=[{"epoch": e, "test_accuracy": 11.35, "seconds": 1.0} for e in (1, 2)])
    monkeypatch.setattr(training, "train", lambda *args, **kwargs: (None, history))
    assert cli.main(["train", "--recipe", "step2_slim", "--epochs", "2", "--out", str(tmp_path / "run")]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("step2_slim: final test accuracy 11.35% (best 11.35% at epoch 1 of 2)")
    assert err.splitlines() == [CHANCE_LINE]


@pytest.mark.parametrize("args", [("recipes",), ("summary",), ("summary", "--model", "base")])
def test_output_into_a_closed_pipe_ends_quietly(args):
    result = into_a_closed_pipe(*args)
    assert (result.returncode, result.stderr) == (141, "")


@pytest.mark.parametrize("backend", ["nonsense", " "])
def test_figures_draws_whatever_mplbackend_says(tmp_path, backend):
    result = mnistlib("figures", "--out", tmp_path, MPLBACKEND=backend)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "steps.png").read_bytes()[:4] == b"\x89PNG"


def test_a_closed_or_full_stdout_is_quiet_or_one_line():
    """Started with stdout closed (``>&-``), a command runs as with no output; onto a full device
    (``> /dev/full``, a full disk under ``> file``) it is one line naming the cause, exit 2."""
    closed = subprocess.run([sys.executable, "-m", "mnistlib", "recipes"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT, env=cli_env(),
                            preexec_fn=lambda: os.close(1))
    assert (closed.returncode, closed.stderr) == (0, "")
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "mnistlib", "recipes"], stdout=full, stderr=subprocess.PIPE,
                                text=True, cwd=ROOT, env=cli_env())
    assert_user_error(result, "cannot write the output (No space left on device): free space, then try again")


def test_a_run_whose_output_pipe_closes_stops_and_says_so_on_stderr(tmp_path):
    out = tmp_path / "run"
    result = into_a_closed_pipe("train", "--quick", "--recipe", "step2_slim", "--device", "cpu", "--no-progress",
                                "--out", out)
    assert result.returncode == 141
    assert result.stderr.strip().splitlines() == ["python -m mnistlib: stopped: the program reading its output "
                                                  "closed the pipe before the first epoch ended; nothing was saved"]
    assert not out.exists()
