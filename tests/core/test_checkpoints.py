"""Checkpoints in, models out: one validation for every reader, named causes, a model ready for inference;
and run folders that one run at a time can write."""

import dataclasses
import errno
import re
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import ROOT, assert_user_error, cli_env, mnistlib
from mnistlib.core import data as mnist_data
from mnistlib.core import runs, training
from mnistlib.core.errors import UserError
from mnistlib.core.files import WriteError, atomic_write
from mnistlib.core.recipes import get_recipe

SMALL_RECIPE = dataclasses.replace(get_recipe("step4_final"), epochs=1)


@pytest.fixture(scope="module")
def small_data(data_root):
    """2,560 training images and 1,000 test images: a one-epoch run in seconds."""
    data = mnist_data.load("cpu", data_root, train_size=2_560)
    return dataclasses.replace(data, test=mnist_data.Split(data.test.images[:1000], data.test.labels[:1000]))


@pytest.fixture(scope="module")
def run_dir(small_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("checkpoints") / "run"
    training.train(SMALL_RECIPE, data=small_data, device="cpu", out=out, progress=False, log=lambda line: None)
    return out


def saved(tmp_path, payload, name="w.pt"):
    torch.save(payload, tmp_path / name)
    return tmp_path / name


def good_checkpoint(run_dir) -> dict:
    return torch.load(run_dir / "model.pt", weights_only=True)


@pytest.mark.parametrize("change, fragment", [
    (lambda c: {"model": "final", "state_dict": c["state_dict"]}, "lacks recipe, params, mean, std, epoch: not a "
                                                                  "complete mnistlib checkpoint"),
    (lambda c: c["state_dict"], "is a bare state_dict (weights only): mnistlib needs the model.pt a run writes"),
    (lambda c: [1, 2], "holds a list, not an mnistlib checkpoint"),
    (lambda c: {**c, "mean": "0.13"}, "has wrong fields: mean (str where a float belongs)"),
    (lambda c: {**c, "std": 0.0}, "has wrong fields: std (0.0, not above 0)"),
    (lambda c: {**c, "epoch": 1.5, "params": True}, "params (bool where an int belongs); epoch (float where an int"),
    (lambda c: {**c, "model": "resnet"}, "model ('resnet', not one of base_relu_output,"),
    (lambda c: {**c, "history": [1]}, "has wrong fields: history (list where a dict belongs)"),
    (lambda c: {**c, "model": "slim"}, "its weights do not fit its model 'slim' (Missing key(s)"),
])
def test_a_wrong_checkpoint_is_named_by_the_library_and_the_command_line(run_dir, tmp_path, change, fragment):
    path = saved(tmp_path, change(good_checkpoint(run_dir)))
    with pytest.raises(UserError, match=f"^checkpoint {path}") as error:
        runs.load_checkpoint(path)
    assert fragment in str(error.value)
    assert_user_error(mnistlib("evaluate", "--checkpoint", path, "--device", "cpu"), fragment)


def test_resuming_needs_the_optimizer_and_random_state(run_dir, tmp_path):
    checkpoint = good_checkpoint(run_dir)
    path = saved(tmp_path, {k: v for k, v in checkpoint.items() if k not in ("optimizer", "rng")}, "model.pt")
    with pytest.raises(UserError, match="lacks optimizer, rng: not a complete mnistlib checkpoint"):
        training.resume(tmp_path, device="cpu")
    runs.load_checkpoint(path)  # what inference needs is all there


def test_a_torch_load_failure_says_why(tmp_path):
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match=r"is not a readable mnistlib checkpoint: torch.load failed \(\w+Error: "):
        runs.load_checkpoint(tmp_path / "bad.pt")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_the_library_blames_the_missing_gpu_not_the_checkpoint(run_dir):
    with pytest.raises(UserError, match=r"^device cuda asked for, but PyTorch sees no CUDA GPU here") as error:
        runs.load_checkpoint(run_dir, device="cuda")
    assert "checkpoint" not in str(error.value)


def test_a_loaded_model_is_ready_for_inference(run_dir, small_data):
    """Eval mode: one image at a time gets the batch's predictions, and nothing in the model changes."""
    model, _ = runs.load_checkpoint(run_dir)
    assert not model.training and not any(m.training for m in model.modules())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    images = small_data.test.images[:64]
    with torch.no_grad():
        batched = model(images)
        one_by_one = torch.cat([model(image[None]) for image in images])
    torch.testing.assert_close(one_by_one, batched, rtol=1e-4, atol=1e-5)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # running statistics kept
    # in training mode, as load_checkpoint returned it before, a single image is normalized by itself
    model.train()
    with torch.no_grad():
        assert not torch.allclose(torch.cat([model(image[None]) for image in images[:8]]), batched[:8], atol=1e-3)


def claim_in_another_process(folder, resuming=False):
    """A process that claims ``folder`` (as a run that starts, or one that resumes) and then waits;
    returns once the claim is held."""
    code = ("import sys, time; from pathlib import Path; from mnistlib.core.runs import claim_run_dir\n"
            "with claim_run_dir(Path(sys.argv[1]), sys.argv[2] == 'True'):\n"
            "    print('claimed', flush=True); time.sleep(600)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(folder), str(resuming)], cwd=ROOT, env=cli_env(),
                            text=True, stdout=subprocess.PIPE)
    assert proc.stdout.readline() == "claimed\n"
    return proc


def test_a_folder_being_written_is_refused_and_a_dead_claim_blocks_nothing(small_data, tmp_path):
    out = tmp_path / "run"
    holder = claim_in_another_process(out)
    try:
        with pytest.raises(UserError, match=f"^run folder {out} is being written by another run right now"):
            training.train(SMALL_RECIPE, data=small_data, device="cpu", out=out, progress=False)
        assert sorted(p.name for p in out.iterdir()) == [runs.LOCK_FILE]  # nothing written, nothing taken
    finally:
        holder.send_signal(signal.SIGKILL)  # a killed run cannot release anything itself
        holder.wait()
    _, history = training.train(SMALL_RECIPE, data=small_data, device="cpu", out=out, progress=False,
                                log=lambda line: None)
    assert runs.History.load(out).seed == history.seed and sorted(p.name for p in out.iterdir()) == [
        "history.json", "model.pt"]


def test_two_runs_into_one_folder_on_the_command_line(tmp_path):
    """The second of two runs started into one --out gets one line and exit 2; the first goes on."""
    out = tmp_path / "run"
    first = subprocess.Popen([sys.executable, "-m", "mnistlib", "train", "--quick", "--seed", "1", "--device", "cpu",
                              "--out", str(out)], cwd=ROOT, env=cli_env(PYTHONUNBUFFERED="1"), text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        seen = ""
        while "Epoch 1/1" not in seen:  # the first run is training: it has held the folder since it started
            char = first.stdout.read(1)
            assert char, "the first run ended before it began training"
            seen += char
        second = mnistlib("train", "--quick", "--seed", "2", "--device", "cpu", "--out", out)
        assert_user_error(second, f"run folder {out} is being written by another run right now")
        assert first.poll() is None
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate()
    assert not out.exists()  # interrupted in its first epoch: nothing saved, the folder it made is gone


def test_resume_refuses_the_flags_that_would_change_the_run(tmp_path):
    result = mnistlib("train", "--resume", tmp_path / "run", "--epochs", "5", "--seed", "3", "--out", tmp_path / "x")
    assert_user_error(result, f"--resume continues {tmp_path / 'run'} as it was planned; it cannot go with --seed, "
                              "--epochs, --out")
    assert_user_error(mnistlib("train", "--resume", tmp_path / "run", "--quick"), "cannot go with --quick")
    assert not (tmp_path / "x").exists()


def test_resume_of_a_folder_being_written_is_refused(run_dir, tmp_path):
    cut = tmp_path / "cut"
    cut.mkdir()
    checkpoint = good_checkpoint(run_dir)
    checkpoint["history"]["finished"] = False
    torch.save(checkpoint, cut / "model.pt")
    holder = claim_in_another_process(cut, resuming=True)
    try:
        with pytest.raises(UserError, match="is being written by another run"):
            training.resume(cut, device="cpu")
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()



def test_resume_takes_the_model_pt_as_well_as_its_folder(run_dir):
    with pytest.raises(UserError, match=f"^{run_dir} holds a finished run"):
        training.resume(run_dir / "model.pt", device="cpu")


def test_a_history_file_that_is_missing_or_not_json_is_named(tmp_path):
    with pytest.raises(UserError, match=f"^no run history at {tmp_path / 'history.json'}"):
        runs.History.load(tmp_path)
    (tmp_path / "history.json").write_text("{cut short")
    with pytest.raises(UserError, match=r"is not a readable run history \(JSONDecodeError"):
        runs.History.load(tmp_path)
    (tmp_path / "history.json").write_text("[1, 2]")
    with pytest.raises(UserError, match=r"is not a run history \(it holds a JSON list\)"):
        runs.History.load(tmp_path)


def test_a_write_failing_midway_leaves_the_previous_file_whole(tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(b"epoch 1, whole")

    def half_then_full(f):
        f.write(b"epoch 2, ha")
        f.flush()
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(WriteError) as error:
        atomic_write(path, half_then_full)
    assert str(error.value) == f"cannot write {path} (No space left on device): free space, then try again"
    assert path.read_bytes() == b"epoch 1, whole"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]  # no temporary file left


class FullDisk:
    """A binary file that takes ``room`` more bytes, then fails as a full disk does."""

    def __init__(self, f, room: int):
        self.f, self.room = f, room

    def write(self, data) -> int:
        if len(data) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(data)
        return self.f.write(data)

    def flush(self):
        self.f.flush()


def test_a_full_disk_while_saving_keeps_the_last_good_epoch_and_says_how_to_go_on(small_data, tmp_path, monkeypatch):
    out = tmp_path / "run"
    real_save, saves = torch.save, []

    def save(obj, f, **kwargs):  # the second epoch's model.pt meets a full disk after 10 kB
        saves.append(1)
        return real_save(obj, FullDisk(f, 10_000) if len(saves) == 2 else f, **kwargs)

    monkeypatch.setattr(torch, "save", save)
    with pytest.raises(WriteError) as error:
        training.train(dataclasses.replace(SMALL_RECIPE, epochs=2), data=small_data, device="cpu", out=out,
                       progress=False, log=lambda line: None)
    monkeypatch.undo()
    assert str(error.value) == (f"cannot write {out / 'model.pt'} (No space left on device): epoch 1 is saved there; "
                                f"free space, then continue with: python -m mnistlib train --resume {out}")
    assert runs.read_checkpoint(out, resuming=True)["epoch"] == 1  # whole, and what resuming needs
    assert len(runs.History.load(out).epochs) == 1
    assert sorted(p.name for p in out.iterdir()) == ["history.json", "model.pt"]  # no lock, no temporary file


def test_a_file_size_limit_on_the_command_line_is_one_line_and_leaves_no_folder(tmp_path):
    """A process may write files of at most ``RLIMIT_FSIZE`` bytes (Python ignores SIGXFSZ, so a larger
    write fails with EFBIG): the first model.pt cannot be written."""
    out = tmp_path / "run"

    def limit_file_size():
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    result = subprocess.run([sys.executable, "-m", "mnistlib", "train", "--quick", "--recipe", "step2_slim",
                             "--device", "cpu", "--no-progress", "--out", str(out)], cwd=ROOT, env=cli_env(),
                            capture_output=True, text=True, preexec_fn=limit_file_size)
    assert_user_error(result, f"cannot write {out / 'model.pt'} (File too large): no epoch was saved; raise the "
                              "limit on file size (ulimit -f), then start the run again")
    assert not out.exists()


def test_a_run_folder_that_cannot_be_made_at_the_claim_is_one_line():
    """Checked before the claim too, but a disk can fill or a folder turn read-only in between."""
    with pytest.raises(UserError, match=r"^cannot make the run folder /proc/nope/run or its lock file \("):
        with runs.claim_run_dir(Path("/proc/nope/run")):
            pass


def test_a_full_disk_at_the_last_history_json_is_mended_by_resume(small_data, tmp_path, monkeypatch):
    """The last epoch's model.pt is written, its history.json is not: the hint to resume must work."""
    out = tmp_path / "run"
    real_save_history, calls = runs.save_history, []

    def save_history(path, history):
        calls.append(1)
        if history.finished:
            raise WriteError(path, "No space left on device", errno=errno.ENOSPC)
        real_save_history(path, history)

    monkeypatch.setattr(runs, "save_history", save_history)
    with pytest.raises(WriteError, match=r"epoch 1 is saved in model.pt; free space, then continue with: python -m "
                                         f"mnistlib train --resume {re.escape(str(out))}$"):
        training.train(SMALL_RECIPE, data=small_data, device="cpu", out=out, progress=False, log=lambda line: None)
    monkeypatch.undo()
    assert not (out / "history.json").exists() and calls == [1]
    lines = []
    _, history = training.resume(out, device="cpu", data=small_data, progress=False, log=lines.append)
    assert lines == [f"{out} holds a finished run; its history.json was rewritten from model.pt"]
    assert runs.History.load(out) == history and history.finished


def test_a_failed_write_into_new_folders_leaves_none_behind(tmp_path):
    def full(f):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(WriteError):
        atomic_write(tmp_path / "a" / "b" / "sheet.png", full)
    assert list(tmp_path.iterdir()) == []
    atomic_write(tmp_path / "a" / "b" / "sheet.png", lambda f: f.write(b"png"))  # a good write keeps them
    assert (tmp_path / "a" / "b" / "sheet.png").read_bytes() == b"png"
