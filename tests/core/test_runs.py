"""Run records that say what they are, resuming, validation, Ctrl-C, and the graph-safe step's parts."""

import dataclasses
import gzip
import json
import re
import signal
import subprocess
import sys
import threading
import time

import pytest
import torch

from conftest import ROOT, assert_user_error, cli_env, mnistlib
from mnistlib.core import augment, cpu_speedups, graphs, models, runs, step, training
from mnistlib.core import data as mnist_data
from mnistlib.core.errors import UserError
from mnistlib.core.recipes import get_recipe

SMALL_RECIPE = dataclasses.replace(get_recipe("step4_final"), epochs=3)


@pytest.fixture(scope="module")
def small_data(data_root):
    """2,560 training images (20 batches) and 1,000 test images: seconds per epoch on one CPU thread."""
    data = mnist_data.load("cpu", data_root, train_size=2_560)
    return dataclasses.replace(data, test=mnist_data.Split(data.test.images[:1000], data.test.labels[:1000]))


def without_time(history):
    return [{k: v for k, v in e.items() if k not in ("seconds", "train_seconds")} for e in history.epochs]


def test_resume_after_ctrl_c_is_bit_identical_to_an_uninterrupted_run(small_data, tmp_path, one_thread):
    quiet = {"recipe": SMALL_RECIPE, "seed": 5, "device": "cpu", "data": small_data, "progress": False, "quick": False}
    whole_model, whole = training.train(**quiet, out=tmp_path / "whole", log=lambda line: None)

    def stop_in_epoch_two(line):
        if "Accuracy" in line and len(lines) == 1:
            raise KeyboardInterrupt
        lines.append(line)

    lines = []
    with pytest.raises(KeyboardInterrupt):
        training.train(**quiet, out=tmp_path / "cut", log=stop_in_epoch_two)
    cut = runs.History.load(tmp_path / "cut")
    assert (len(cut.epochs), cut.planned_epochs, cut.finished) == (1, 3, False)
    assert torch.load(tmp_path / "cut" / "model.pt", weights_only=True)["epoch"] == 1  # the pair agrees
    with pytest.raises(UserError, match="unfinished run"):
        runs.load_finished(tmp_path / "cut")

    model, resumed = training.resume(tmp_path / "cut", device="cpu", data=small_data, progress=False,
                                     log=lambda line: None)
    assert resumed.finished and without_time(resumed) == without_time(whole)
    for (name, a), b in zip(whole_model.state_dict().items(), model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert runs.load_finished(tmp_path / "cut").final_accuracy == whole.final_accuracy
    with pytest.raises(UserError, match="finished run"):
        training.resume(tmp_path / "cut", device="cpu", data=small_data)


def test_validation_split_is_held_out_and_reported(data_root, small_data, one_thread):
    data = mnist_data.load("cpu", data_root, val_size=10_000)
    assert (len(data.train), len(data.val)) == (50_000, 10_000)
    full = mnist_data.load("cpu", data_root)
    assert torch.equal(data.val.images, full.train.images[50_000:])  # the last 10,000, the same for every seed
    assert torch.equal(data.train.labels, full.train.labels[:50_000])
    held = dataclasses.replace(small_data, val=mnist_data.Split(full.train.images[-500:], full.train.labels[-500:]))
    model, history = training.train(dataclasses.replace(SMALL_RECIPE, epochs=1), data=held, device="cpu",
                                    progress=False, log=lambda line: None)
    with torch.no_grad():  # the held-out images, counted here: right answers over 500, in percent
        right = int((model.eval()(held.val.images).argmax(1) == held.val.labels).sum())
    assert history.val_size == 500 and history.epochs[0]["val_accuracy"] == pytest.approx(right / 5, abs=1e-9)
    with pytest.raises(UserError, match="--val-size"):
        mnist_data.load("cpu", data_root, val_size=60_000)


def test_ctrl_c_in_the_first_epoch_exits_130_with_one_line_and_no_folder(tmp_path):
    # As in a terminal, where Ctrl-C is not ignored: a job started in the background by a
    # non-interactive shell inherits SIGINT ignored, and Python then never raises KeyboardInterrupt.
    proc = subprocess.Popen([sys.executable, "-m", "mnistlib", "train", "--quick", "--device", "cpu",
                             "--out", str(tmp_path / "run")], cwd=ROOT, env=cli_env(PYTHONUNBUFFERED="1"), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen = ""
    while "Epoch 1/1" not in seen:  # the progress bar is up: training has begun
        char = proc.stdout.read(1)
        assert char, "the run ended before its first epoch began"
        seen += char
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate()
    assert proc.returncode == 130, stderr
    assert stderr.strip().splitlines() == ["python -m mnistlib: interrupted before the first epoch ended; "
                                           "nothing was saved"]
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("args, fragment", [
    (("train", "--seed", "99999999999999999999999"), "--seed must be between"),
    (("train", "--out", "/proc/nope/run"), "cannot write"),
    (("bench", "--out", "/proc/nope/bench.json"), "cannot write"),
    (("figures", "--out", "/proc/nope"), "cannot write"),
    (("train", "--resume", "/nonexistent/run"), "not found"),
])
def test_bad_input_is_refused_before_any_work(args, fragment):
    start = time.perf_counter()
    assert_user_error(mnistlib(*args), fragment)
    assert time.perf_counter() - start < 120  # refused up front, not after a training run


def test_quick_help_says_what_quick_mode_is():
    out = mnistlib("train", "--help").stdout
    assert "one epoch" in out and "a few thousand" not in out


def test_download_is_checked_before_it_reaches_the_cache(tmp_path, serve, monkeypatch):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for name in mnist_data.FILES:
        (mirror / f"{name}.gz").write_bytes(gzip.compress(b"valid gzip, wrong file"))
    monkeypatch.setattr(mnist_data, "MIRRORS", [serve(mirror)])
    with pytest.raises(UserError, match="download failed: 127.0.0.1:\\d+: corrupt MNIST file"):
        mnist_data.load_raw(tmp_path / "data")
    assert not list((tmp_path / "data").rglob("*.gz"))


def test_evaluate_keeps_the_model_mode(small_data):
    model = models.build_model("final").train()
    training.evaluate(model, small_data.test)
    assert model.training
    training.logits(model.eval(), small_data.test)
    assert not model.training


def test_dropout_keeps_the_dtype_and_drops_everything_at_p_1():
    x = torch.ones(4, 8, dtype=torch.bfloat16)
    assert cpu_speedups.FastDropout(0.1).train()(x).dtype == torch.bfloat16
    assert torch.equal(cpu_speedups.FastDropout(1.0).train()(torch.ones(3, 5)), torch.zeros(3, 5))


def test_graph_step_batch_sizes_cover_the_epoch():
    assert graphs.batch_sizes(60_000, 128) == [128, 96]
    assert graphs.batch_sizes(50_000, 64) == [64, 16]
    assert graphs.batch_sizes(6_400, 128) == [128]
    assert graphs.batch_sizes(100, 128) == [100]


def test_captured_step_needs_a_gpu(small_data):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(UserError, match="CUDA GPU"):
        training.fit(models.build_model("final"), small_data, SMALL_RECIPE, graph=True, progress=False)


def _on_gpu(split: mnist_data.Split, n: int) -> mnist_data.Split:
    return mnist_data.Split(split.images[:n].cuda(), split.labels[:n].cuda())


def _indexed_loss_and_grads(model_name: str, compiled: bool, split, index, augment):
    torch.manual_seed(1)
    model = models.build_model(model_name).train()
    loss_fn = torch.compile(step.indexed_batch_loss, dynamic=False) if compiled else step.indexed_batch_loss
    loss_sum, correct = torch.zeros(()), torch.zeros((), dtype=torch.long)
    torch.manual_seed(2)
    loss = loss_fn(model, split, index, augment, 0.1, loss_sum, correct)
    loss.backward()
    return loss.item(), loss_sum.item(), correct.item(), torch.cat([p.grad.flatten() for p in model.parameters()])


def test_the_compiled_step_is_the_eager_step_on_the_cpu(small_data, one_thread):
    """What the captured step compiles when its compile scope is the step (gather, augmentation,
    model, loss and sums; the GPU tests below add the capture): the same loss, sums and gradients as
    eager, augmentation included, with inductor drawing its random numbers as eager does."""
    index = torch.arange(64, 192)
    moves = augment.Augmentation(7.0, 2.0, small_data.background)
    with torch._inductor.config.patch(fallback_random=True):
        eager, compiled = (_indexed_loss_and_grads("final_no_dropout", c, small_data.train, index, moves)
                           for c in (False, True))
    assert compiled[:3] == pytest.approx(eager[:3], rel=1e-5)
    assert torch.allclose(compiled[3], eager[3], rtol=1e-4, atol=1e-6)


def test_a_new_run_reuses_the_compiled_step(small_data):
    """New models and new augmentations with the same settings hit the code compiled for the first
    (bench trains ten seeds in a row): dynamo compiles ``indexed_batch_loss`` once."""
    graphs = []

    def counting_backend(graph_module, example_inputs):
        graphs.append(graph_module)
        return graph_module.forward

    torch._dynamo.reset()
    try:
        for seed in range(3):
            torch.manual_seed(seed)
            model = models.build_model("final_no_dropout").train()
            loss_fn = torch.compile(step.indexed_batch_loss, backend=counting_backend, dynamic=False)
            moves = augment.augmentation(get_recipe("step4_final"), small_data)
            loss_fn(model, small_data.train, torch.arange(32), moves, 0.0, torch.zeros(()),
                    torch.zeros((), dtype=torch.long)).backward()
            assert len(graphs) == 1, f"compiled again for run {seed}"
    finally:
        torch._dynamo.reset()


# Each way the captured step can run: not compiled, or compiled with each compile scope.
STEP_KINDS = [None, *graphs.COMPILE_SCOPES]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("scope", STEP_KINDS)
def test_graphed_step_follows_the_eager_step_on_the_gpu(small_data, scope):
    """One to three steps, dropout and augmentation off: graphed and eager weights agree closely.
    (Over long runs they drift apart like any two float orders do.) The compiled step
    sums in another order, hence its looser tolerance."""
    recipe = dataclasses.replace(get_recipe("step2_slim"), epochs=1)
    split = _on_gpu(small_data.train, 384)
    finals = []
    for graph in (False, True):
        torch.manual_seed(0)
        model = models.build_model("slim").cuda()
        optimizer = step.make_optimizer(model, recipe, graph)
        runner = training.make_step(model, optimizer, split, recipe, None, 3, graph, scope if graph else None)
        torch.manual_seed(1)
        stats = runner.epoch(0)
        finals.append((torch.cat([p.detach().flatten() for p in model.parameters()]), stats.loss_sum.item()))
    (eager, eager_loss), (graphed, graphed_loss) = finals
    tolerance = 1e-3 if scope else 1e-4
    assert torch.allclose(eager, graphed, rtol=tolerance, atol=tolerance / 10)
    assert graphed_loss == pytest.approx(eager_loss, rel=tolerance)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("scope", STEP_KINDS)
def test_each_replay_draws_new_random_numbers(small_data, scope):
    """Replaying the same batch at learning rate 0 gives another loss each time with dropout and
    augmentation (their random numbers are drawn inside the graph), the same loss without them."""
    split = _on_gpu(small_data.train, 128)
    for recipe_name, random_ops in [("step4_final", True), ("step2_slim", False)]:
        recipe = dataclasses.replace(get_recipe(recipe_name), lr=0.0, epochs=1)
        data = dataclasses.replace(small_data, train=split)
        model = models.build_model(recipe.model).cuda()
        runner = training.make_step(model, step.make_optimizer(model, recipe, True), split, recipe,
                                    augment.augmentation(recipe, data), 2, True, scope)
        runner.index[128].copy_(torch.arange(128, device="cuda"))
        losses = []
        for _ in range(3):
            runner.loss_sum.zero_()
            runner.graphs[128].replay()
            losses.append(runner.loss_sum.item())
        assert (len(set(losses)) == 3) if random_ops else (losses[0] == pytest.approx(losses[2], rel=1e-6)), losses


def test_history_json_says_what_the_run_was(tmp_path, small_data, one_thread):
    training.train(dataclasses.replace(SMALL_RECIPE, epochs=1), data=small_data, device="cpu", progress=False,
                   out=tmp_path / "run", log=lambda line: None)
    saved = json.loads((tmp_path / "run" / "history.json").read_text())
    assert (saved["planned_epochs"], saved["finished"], saved["device_name"]) == (1, True, "cpu (1 thread)")
    checkpoint = torch.load(tmp_path / "run" / "model.pt", weights_only=True)
    assert checkpoint["epoch"] == 1 and checkpoint["optimizer"]["state"]


def test_every_notebook_reaches_a_learner_in_auto_mode():
    import nbformat

    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        cells = nbformat.read(path, as_version=4).cells
        (parameters,) = [c for c in cells if "parameters" in c.metadata.get("tags", [])]
        assert re.findall(r'^MODE = "\w+"', parameters.source, re.M) == ['MODE = "auto"'], path.name


def test_refreshed_notebooks_keep_one_line_per_progress_bar():
    from mnistlib.evidence.remake import _merge_streams

    pieces = ["\rEpoch 1/2:   0%| 0/9", "\rEpoch 1/2: 100%| 9/9", "\nTest set: 97%\n", "\rEpoch 2/2: 100%| 9/9",
              "\nTest set: 98%\n"]
    merged = _merge_streams([{"output_type": "stream", "name": "stdout", "text": p} for p in pieces])
    assert len(merged) == 1
    assert merged[0]["text"] == "Epoch 1/2: 100%| 9/9\nTest set: 97%\nEpoch 2/2: 100%| 9/9\nTest set: 98%\n"


@pytest.mark.parametrize("value, quick", [("1", True), ("true", True), ("yes", True), ("0", False),
                                          ("false", False), ("off", False), ("", False)])
def test_quick_mode_reads_the_environment_as_a_person_means_it(monkeypatch, value, quick):
    monkeypatch.setenv("MNISTLIB_QUICK", value)
    assert training.quick_mode() is quick


def test_quick_mode_refuses_a_value_it_cannot_read(monkeypatch):
    monkeypatch.setenv("MNISTLIB_QUICK", "maybe")
    with pytest.raises(UserError, match="MNISTLIB_QUICK"):
        training.quick_mode()


def test_threads_flag_and_device_help():
    out = mnistlib("train", "--help").stdout + mnistlib("evaluate", "--help").stdout
    assert "--threads N" in out and out.count("the GPU if PyTorch sees one") == 2


def test_writable_check_accepts_a_file_to_replace_and_a_folder_to_make(tmp_path):
    (tmp_path / "old.png").write_bytes(b"x")
    runs.check_writable(tmp_path / "old.png", "--out")  # figures redraws docs/*.png in place
    runs.check_writable(tmp_path / "new" / "deeper" / "run", "--out")
    with pytest.raises(UserError, match="not a folder"):
        runs.check_writable(tmp_path / "old.png" / "run", "--out")


@pytest.mark.parametrize(("mode", "env", "device", "quick"), [
    ("auto", "", "cpu", True), ("auto", "", "cuda", False), ("full", "", "cpu", False), ("quick", "", "cuda", True),
    ("full", "1", "cpu", True), ("quick", "off", "cuda", False),  # MNISTLIB_QUICK, when set, wins
])
def test_notebook_mode_auto_is_full_on_a_gpu_only_and_the_variable_wins(mode, env, device, quick, monkeypatch):
    from mnistlib.teach import notebook

    monkeypatch.setenv("MNISTLIB_QUICK", env)
    assert notebook.choose_mode(mode, torch.device(device))[0] is quick


def test_notebook_mode_must_be_one_of_three(monkeypatch):
    from mnistlib.teach import notebook

    monkeypatch.delenv("MNISTLIB_QUICK", raising=False)
    with pytest.raises(UserError, match="MODE must be one of 'auto', 'full', 'quick', got 'fast'"):
        notebook.choose_mode("fast", torch.device("cpu"))


def test_notebook_start_says_the_mode_and_how_long_each_takes_here(data_root, monkeypatch, capsys):
    from mnistlib.teach import notebook

    monkeypatch.delenv("MNISTLIB_QUICK", raising=False)
    session = notebook.start("auto", 7, "cpu", recipes=["step2_slim"], data_dir=data_root)
    first, switch, second = capsys.readouterr().out.strip().splitlines()
    assert session.quick and session.seed == 7 and len(session.data.train) == 60_000
    assert re.fullmatch(r'quick mode, because MODE = "auto" and PyTorch sees no GPU: one epoch of 60,000 training '
                        r'images, ~\d+ (s|min) here\.', first), first
    assert re.fullmatch(r'set MODE = "full" for the full recipe \(20 epochs of 60,000\), ~\d+ (s|min) here\.',
                        switch), switch
    assert second.startswith("device: cpu (")


def test_quick_mode_trains_on_the_recipes_own_share_of_the_data(small_data, one_thread):
    recipe = dataclasses.replace(SMALL_RECIPE, quick_size=640)
    _, history = training.train(recipe, quick=True, data=small_data, device="cpu", progress=False,
                                log=lambda line: None)
    assert history.train_size == 640 and len(history.epochs) == 1
    assert get_recipe("step1_base").quick_size < get_recipe("step4_final").quick_size == 60_000
    assert get_recipe("step1_base").quick_variant().batch_size == 32 < get_recipe("step1_base").batch_size


def test_a_time_estimate_grows_with_the_work(small_data, one_thread):
    from mnistlib.teach import notebook

    quick, full = notebook._estimates([SMALL_RECIPE], small_data)
    assert 0 < quick < full


@pytest.mark.parametrize("number, wait_for, code, after", [
    (signal.SIGTERM, "Epoch 2/3", 143, ": {out} holds the last finished epoch; continue with: python -m mnistlib "
                                       "train --resume {out}"),
    (signal.SIGHUP, "Epoch 1/3", 129, " before the first epoch ended; nothing was saved"),
])
def test_a_stop_signal_ends_a_run_as_ctrl_c_does(tmp_path, number, wait_for, code, after):
    """docker stop, a job scheduler (SIGTERM) or a closed terminal (SIGHUP): the resume hint, the claim on the
    folder released, and the exit code a shell reports for that signal (128 + its number)."""
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "mnistlib", "train", "--quick", "--recipe", "step2_slim",
                             "--epochs", "3", "--device", "cpu", "--out", str(out)], cwd=ROOT,
                            env=cli_env(PYTHONUNBUFFERED="1"), text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    seen = ""
    while wait_for not in seen:
        char = proc.stdout.read(1)
        assert char, f"the run ended before {wait_for} began"
        seen += char
    time.sleep(0.5)
    proc.send_signal(number)
    _, stderr = proc.communicate()
    assert proc.returncode == code, stderr
    name = signal.Signals(number).name
    assert stderr.strip().splitlines() == [f"python -m mnistlib: stopped by {name}{after.format(out=out)}"]
    if number == signal.SIGTERM:
        assert sorted(p.name for p in out.iterdir()) == ["history.json", "model.pt"]  # no lock left
        assert runs.read_checkpoint(out, resuming=True)["epoch"] == 1
    else:
        assert not out.exists()


def test_the_command_line_called_from_another_thread_runs_without_signal_handlers(capsys):
    """Python lets only the main thread set signal handlers; a tool calling ``main`` from a worker thread
    still gets its command run."""
    from mnistlib import cli

    codes = []
    worker = threading.Thread(target=lambda: codes.append(cli.main(["recipes"])))
    worker.start()
    worker.join()
    assert codes == [0] and "step4_final" in capsys.readouterr().out
