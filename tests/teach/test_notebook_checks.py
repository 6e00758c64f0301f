"""The checks the notebooks' last cells rely on, each tried at its bar and just below it."""

import dataclasses

import numpy as np
import pytest
import torch

from conftest import ROOT
from mnistlib.core import data as mnist_data
from mnistlib.core.errors import UserError, article
from mnistlib.core.recipes import CLAIMED, RECIPES, RECORD_SEEDS, SINGLE_RUN_MARGIN
from mnistlib.core.runs import History, save_history
from mnistlib.evidence.records import SeedSummary
from mnistlib.teach import notebook


def one_run(recipe: str, final: float, quick: bool = False, params: int | None = None, epochs: int | None = None):
    r = RECIPES[recipe]
    count = epochs or (1 if quick else r.epochs)
    return History(recipe, r.model, params or 1, 0, "cpu", quick, planned_epochs=count, finished=True,
                   epochs=[{"epoch": e, "test_accuracy": final} for e in range(1, count + 1)])


def test_the_single_run_bar_is_the_target_less_one_margin():
    assert RECIPES["step4_final"].notebook_bar == 99.2 and RECIPES["beyond_8k"].notebook_bar == 99.3
    assert SINGLE_RUN_MARGIN == 0.2


@pytest.mark.parametrize("name", [n for n, r in RECIPES.items() if r.target])
@pytest.mark.parametrize("quick", [False, True])
def test_check_target_passes_at_the_bar_and_fails_just_below(name, quick):
    recipe = RECIPES[name]
    if quick and recipe.quick_target is None:
        pytest.skip(f"{name} has no quick-mode bar (see the next test)")
    bar = recipe.quick_target if quick else round(recipe.target - recipe.margin, 2)
    notebook.check_target(one_run(name, bar, quick))
    with pytest.raises(AssertionError, match=f"final test accuracy {bar - 0.01:.2f}% < {bar}%"):
        notebook.check_target(one_run(name, round(bar - 0.01, 2), quick))


def test_step_3_in_quick_mode_has_no_accuracy_bar_but_full_mode_does(capsys):
    notebook.check_target(one_run("step3_augment", 11.35, quick=True))
    assert "quick mode: no accuracy bar for step3_augment" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="final test accuracy 11.35% < 99.1%"):
        notebook.check_target(one_run("step3_augment", 11.35))


def test_check_target_fails_on_too_many_parameters_or_epochs():
    limit = RECIPES["step4_final"].max_params
    notebook.check_target(one_run("step4_final", 99.5, params=limit))
    with pytest.raises(AssertionError, match="20,001 parameters > 20,000"):
        notebook.check_target(one_run("step4_final", 99.5, params=limit + 1))
    with pytest.raises(AssertionError):
        notebook.check_target(one_run("step4_final", 99.5, epochs=21))


def records(name: str, finals: list[float], seeds=RECORD_SEEDS) -> SeedSummary:
    return SeedSummary(name, 1, RECIPES[name].epochs, dict(zip(seeds, finals, strict=True)))


@pytest.mark.parametrize("name", CLAIMED)
def test_check_seed_records_holds_every_seed_to_the_full_target(name):
    target = RECIPES[name].target
    notebook.check_seed_records({name: records(name, [target] * 5)})
    with pytest.raises(AssertionError):
        notebook.check_seed_records({name: records(name, [target] * 4 + [round(target - 0.01, 2)])})


def test_check_seed_records_fails_with_nothing_to_check():
    with pytest.raises(AssertionError, match="no seed records to check"):
        notebook.check_seed_records({})
    with pytest.raises(AssertionError, match=r"records of seeds \[100, 101\], expected \[100, 101, 102, 103, 104\]"):
        notebook.check_seed_records({"step4_final": records("step4_final", [99.5, 99.5], seeds=(100, 101))})


@pytest.fixture(scope="module")
def small_data(data_root):
    """2,560 training images and 1,000 test images: a quick step 2 or step 4 run in about a second."""
    data = mnist_data.load("cpu", data_root, train_size=2_560)
    return dataclasses.replace(data, test=mnist_data.Split(data.test.images[:1000], data.test.labels[:1000]))


def session(data, quick: bool = True, seed: int = 0) -> notebook.Session:
    return notebook.Session(quick=quick, device=torch.device("cpu"), data=data, seed=seed)


def test_a_session_compares_its_own_runs_with_the_stored_ones(tmp_path, monkeypatch, small_data, one_thread):
    """Every step's stored full run ships with the package; the Session's own run is drawn beside it,
    labelled as its own, quick and full runs kept apart."""
    monkeypatch.chdir(tmp_path)
    full, quick = session(small_data, quick=False), session(small_data)
    steps = ["step2_slim", "step4_final"]
    assert quick.trained == {} and not quick.histories.exists()
    assert list(notebook.runs_to_compare(quick, steps)) == ["step 2 (stored run of notebook 2, seed 0)",
                                                            "step 4 (stored run of notebook 4, seed 0)"]
    _, history = notebook.run_step(quick, "step4_final")
    runs = notebook.runs_to_compare(quick, steps)
    assert list(runs) == ["step 2 (stored run of notebook 2, seed 0)", "step 4 (this quick run, seed 0)"]
    assert runs["step 4 (this quick run, seed 0)"] is quick.trained["step4_final"] is history
    assert History.load(quick.histories / "step4_final.json") == history and quick.histories.parts[1] == "quick"
    assert not runs["step 2 (stored run of notebook 2, seed 0)"].quick
    assert "step 4 (this run, seed 0)" not in notebook.runs_to_compare(full, steps)
    assert full.histories != quick.histories and full.histories.parts[0] == "runs"
    assert "notebooks/runs/" in (ROOT / ".gitignore").read_text()  # never committed


def test_two_notebooks_in_one_folder_each_show_only_their_own_run(tmp_path, monkeypatch, small_data, one_thread):
    """Two sessions in one folder, seeds 0 and 1, train the same step: both save runs/quick/step2_slim.json,
    and each chart still labels its own run, not the one saved last, as "this quick run"."""
    monkeypatch.chdir(tmp_path)
    first, second = session(small_data, seed=0), session(small_data, seed=1)
    _, mine = notebook.run_step(first, "step2_slim")
    _, theirs = notebook.run_step(second, "step2_slim")
    assert (mine.seed, theirs.seed) == (0, 1) and mine.epochs != theirs.epochs
    for own, history in ((first, mine), (second, theirs)):
        shown = notebook.runs_to_compare(own, ["step2_slim"])[f"step 2 (this quick run, seed {history.seed})"]
        assert shown.seed == history.seed and shown.epochs == history.epochs
    assert History.load(first.histories / "step2_slim.json") == theirs != mine  # the second session's run now


def test_a_run_left_in_the_folder_is_never_labelled_this_sessions(tmp_path, monkeypatch, small_data, one_thread):
    """Runs an earlier notebook or an earlier kernel left in runs/full/ (the same seed and mode, even) are
    not the Session's: notebook 4 labels only its own step 4 as "this run", not steps 1-3."""
    monkeypatch.chdir(tmp_path)
    earlier = session(small_data, quick=False)
    for name in ("step1_base", "step2_slim", "step4_final"):
        save_history(earlier.histories / f"{name}.json", one_run(name, 97.0))
    now = session(small_data, quick=False)
    steps = ["step1_base", "step2_slim", "step4_final"]
    assert now.trained == {}
    assert [label.split(" (")[1] for label in notebook.runs_to_compare(now, steps)] == [
        "stored run of notebook 1, seed 0)", "stored run of notebook 2, seed 0)", "stored run of notebook 4, seed 0)"]
    _, history = notebook.run_step(now, "step4_final", epochs=1)
    runs = notebook.runs_to_compare(now, steps)
    assert [label for label in runs if "this" in label] == ["step 4 (this run, seed 0)"]
    assert runs["step 4 (this run, seed 0)"] == history and not history.quick
    assert list(now.trained) == ["step4_final"] and History.load(now.histories / "step4_final.json") == history
    assert History.load(now.histories / "step1_base.json") == one_run("step1_base", 97.0)  # the earlier one's


def test_check_own_digits_at_its_bars():
    notebook.check_own_digits(notebook.OWN_DIGITS_BAR, notebook.NAIVE_CEILING - 0.1)
    with pytest.raises(AssertionError, match="prepared as MNIST: 96.9% < 97.0%"):
        notebook.check_own_digits(96.9, 10.0)
    with pytest.raises(AssertionError, match="ink squeezed to 28x28: 70.0% >= 70.0%"):
        notebook.check_own_digits(99.0, 70.0)


def test_an_install_without_its_reference_runs_says_so(tmp_path, monkeypatch):
    """A notebook opened alone relies on the runs the package ships; a broken install is named, with the fix."""
    from mnistlib.evidence import reference

    monkeypatch.setattr(reference, "folder", lambda: tmp_path)
    session = notebook.Session(quick=True, device=torch.device("cpu"), data=None)
    with pytest.raises(UserError, match=r"has no stored full run of step2_slim .*: reinstall mnistlib"):
        notebook.runs_to_compare(session, ["step2_slim"])
    with pytest.raises(UserError, match=r"lacks its seed records .*seed_records.json\): reinstall mnistlib"):
        reference.accuracy_points()


def start_with_papermill(name: str, injected: str, monkeypatch) -> dict:
    """Run notebook ``name``'s cells up to its ``notebook.start`` cell as papermill runs them: the parameters
    cell, then a cell of ``injected`` settings after it; returns the notebook's namespace."""
    import nbformat
    from IPython.core.inputtransformer2 import TransformerManager

    monkeypatch.delenv("MNISTLIB_QUICK", raising=False)
    cells = [c for c in nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4).cells
             if c.cell_type == "code"]
    namespace: dict = {"get_ipython": lambda: None}  # as IPython's namespace holds it
    for cell in cells:
        exec(TransformerManager().transform_cell(cell.source), namespace)  # noqa: S102 - our own notebooks
        if "parameters" in cell.metadata.get("tags", []):
            exec(injected, namespace)  # noqa: S102
        if "notebook.start(" in cell.source:
            return namespace
    raise AssertionError(f"{name} never calls notebook.start")


@pytest.mark.parametrize(("name", "injected", "message"), [
    ("02_under_20k_params", 'SEED = "1"', "SEED = '1' is a str; it must be a whole number (int), e.g. SEED = 1"),
    ("02_under_20k_params", "SEED = 1.5", "SEED = 1.5 is a float; it must be a whole number (int), e.g. SEED = 0"),
    ("03_augmentation", "MODE = 1", 'MODE = 1 is an int; it must be "auto", "full" or "quick" (a str), '
                                    'e.g. MODE = "auto"'),
    ("04_batchnorm_dropout", "DEVICE = None", 'DEVICE = None is a NoneType; it must be "auto", "cuda" or "cpu" '
                                              '(a str), e.g. DEVICE = "auto"'),
])
def test_a_parameter_papermill_injected_as_the_wrong_type_is_named_at_start(name, injected, message, monkeypatch):
    with pytest.raises(UserError) as error:
        start_with_papermill(name, injected, monkeypatch)
    assert str(error.value) == message


@pytest.mark.parametrize(("injected", "message"), [
    ("SEED = True", "SEED = True is a bool; it must be a whole number (int), e.g. SEED = 0"),
    ("SEED = 2.0", "SEED = 2.0 is a float; it must be a whole number (int), e.g. SEED = 2"),
    ("SEED = -1", "SEED must be between 0 and 9223372036854775807, got -1"),
    ("MODE = None", 'MODE = None is a NoneType; it must be "auto", "full" or "quick" (a str), e.g. MODE = "auto"'),
    ('MODE = "fast"', "MODE must be one of 'auto', 'full', 'quick', got 'fast'"),
    ('DEVICE = ["cpu"]', "DEVICE = ['cpu'] is a list; it must be \"auto\", \"cuda\" or \"cpu\" (a str), "
                         'e.g. DEVICE = "auto"'),
    ("CHECKPOINT = 1", 'CHECKPOINT = 1 is an int; it must be None or the path (str) of a run folder or its model.pt, '
                       'e.g. CHECKPOINT = "runs/step4_final-seed0"'),
    ("CHECKPOINT = True", "CHECKPOINT = True is a bool; it must be None or the path (str) of a run folder"),
    ('CHECKPOINT = "runs/nothing-here"', "CHECKPOINT = 'runs/nothing-here' names nothing: no file or folder /"),
    ("IMAGE = 5", 'IMAGE = 5 is an int; it must be None, the path (str) of an image file, or a PIL image, NumPy '
                  'array or torch tensor, e.g. IMAGE = "my_digit.png"'),
    ('IMAGE = "my_digit.png"', "IMAGE = 'my_digit.png' names nothing: no file or folder /"),
])
def test_every_parameter_of_the_own_digits_notebook_is_checked_at_start(injected, message, tmp_path, monkeypatch):
    """Notebook 6's CHECKPOINT and IMAGE are not passed to ``start``; it checks them too, before anything is
    loaded or trained (IMAGE is first used after training), with the same one line."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError) as error:
        start_with_papermill("06_own_digits", injected, monkeypatch)
    assert str(error.value).startswith(message)


def test_right_parameters_pass_and_every_notebook_parameter_has_a_check(tmp_path):
    import nbformat
    from PIL import Image

    (tmp_path / "run").mkdir()
    notebook.check_parameters(MODE="full", SEED=3, DEVICE="cpu", CHECKPOINT=None, IMAGE=None)
    notebook.check_parameters(DEVICE=torch.device("cpu"), CHECKPOINT=str(tmp_path / "run"),
                              IMAGE=Image.new("L", (8, 8)))
    notebook.check_parameters(CHECKPOINT=tmp_path / "run", IMAGE=np.zeros((3, 3), np.uint8))
    notebook.check_parameters(SEED=np.int64(1), IMAGE=torch.zeros(28, 28))
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        (cell,) = [c for c in nbformat.read(path, as_version=4).cells if "parameters" in c.metadata.get("tags", [])]
        names = {line.split("=")[0].strip() for line in cell.source.splitlines() if "=" in line.split("#")[0]}
        assert names and names <= set(notebook.PARAMETERS), (path.name, names - set(notebook.PARAMETERS))


def test_a_wrong_mode_is_named_also_when_the_environment_chooses_the_mode(monkeypatch):
    monkeypatch.setenv("MNISTLIB_QUICK", "1")
    with pytest.raises(UserError, match="MODE must be one of 'auto', 'full', 'quick', got 'fast'"):
        notebook.choose_mode("fast", torch.device("cpu"))


@pytest.mark.parametrize("mode, environment, quick", [("auto", None, False), ("quick", None, True),
                                                      ("auto", "1", True), ("full", None, False)])
def test_a_recipe_that_takes_seconds_trains_full_length_in_auto_mode_on_a_cpu(mode, environment, quick, monkeypatch,
                                                                               small_data, tmp_path):
    """``full_in_auto``: MODE = "auto" on a CPU gives quick mode, but not for such a recipe; MODE = "quick" and
    MNISTLIB_QUICK=1 still do. The run goes where runs of its length go."""
    monkeypatch.chdir(tmp_path)
    if environment is None:
        monkeypatch.delenv("MNISTLIB_QUICK", raising=False)
    else:
        monkeypatch.setenv("MNISTLIB_QUICK", environment)
    asked = {}

    def fake_train(recipe, quick, **_):
        asked["quick"] = quick
        return None, run_ending_at(recipe.name, 99.0)

    monkeypatch.setattr(notebook, "train", fake_train)
    monkeypatch.setattr(notebook.mnist_data, "load", lambda *args, **kwargs: small_data)
    monkeypatch.setattr(notebook, "TRAINING_IMAGES", len(small_data.train))  # small_data stands for all of MNIST
    s = notebook.start(mode, 0, "cpu")
    notebook.run_step(s, "beyond_cpu_fast", full_in_auto=True)
    assert asked["quick"] is quick
    assert (tmp_path / notebook.history_folder(quick) / "beyond_cpu_fast.json").is_file()
    notebook.run_step(s, "beyond_8k")  # any other recipe follows the mode
    assert asked["quick"] is s.quick


def test_a_full_run_in_a_quick_session_refuses_a_training_set_loaded_in_part(monkeypatch, small_data):
    monkeypatch.delenv("MNISTLIB_QUICK", raising=False)
    monkeypatch.setattr(notebook.mnist_data, "load", lambda *args, **kwargs: small_data)  # 2,560 images
    s = notebook.start("auto", 0, "cpu")
    with pytest.raises(UserError, match="notebook.start loaded 2,560 training images for quick mode, and a full run of "
                                        "beyond_cpu_fast needs 60,000: add 'beyond_cpu_fast' to notebook.start"):
        notebook.run_step(s, "beyond_cpu_fast", full_in_auto=True)


@pytest.mark.parametrize("seed", [True, 1.5, "1"])
def test_a_step_refuses_a_seed_that_is_no_whole_number(seed, small_data):
    with pytest.raises(UserError, match=rf"--seed must be a whole number \(int\), got {seed!r}"):
        notebook.run_step(session(small_data), "step2_slim", seed=seed)


def run_ending_at(recipe: str, *finals: float) -> History:
    r = RECIPES[recipe]
    return History(recipe, r.model, 12_352, 0, "cpu", planned_epochs=len(finals), finished=True,
                   epochs=[{"epoch": e, "test_accuracy": a, "train_accuracy": a, "train_loss": 1.0, "test_loss": 1.0,
                            "seconds": 7.0} for e, a in enumerate(finals, 1)])


def test_report_says_when_a_run_ended_at_chance_and_what_usually_fixes_it(capsys):
    notebook.report(run_ending_at("step2_slim", 11.35, 11.35))
    out = capsys.readouterr().out.splitlines()
    assert out[1] == "test accuracy: 11.35% after epoch 1, 11.35% at the end, best 11.35% (epoch 1)"
    assert out[-1] == ("step2_slim ended at chance level: final test accuracy 11.35%, no better than always "
                       "answering the most frequent digit (11.35% of the test set), so the network has not started "
                       "learning; more epochs usually fix it, or a recipe with batch norm such as step4_final, which "
                       "learns from its first epoch")
    notebook.report(run_ending_at("step2_slim", 74.33, 11.35))  # it learned, then lost it
    assert capsys.readouterr().out.splitlines()[-1] == (
        "step2_slim ended at chance level: final test accuracy 11.35%, no better than always answering the most "
        "frequent digit (11.35% of the test set); it had reached 74.33% at epoch 1 and lost it, so training "
        "diverged: another seed usually fixes it")
    notebook.report(run_ending_at("step4_final", 9.80))  # it has batch norm already
    assert capsys.readouterr().out.splitlines()[-1].endswith("more epochs usually fix it, or another seed")
    notebook.report(run_ending_at("step1_relu_output", 30.31))  # notebook 1's clamped network has learned
    notebook.report(run_ending_at("step2_slim", 11.35, 12.36))
    assert "chance" not in capsys.readouterr().out


def test_chance_level_is_the_most_frequent_digits_share_plus_what_guessing_can_add(data_root):
    from mnistlib.core import training
    from mnistlib.evidence import reference

    labels = mnist_data.load("cpu", data_root, train_size=256).test.labels
    assert 100 * labels.bincount().max().item() / len(labels) == training.MOST_FREQUENT_DIGIT == 11.35
    assert training.at_chance(9.8) and training.at_chance(12.35) and not training.at_chance(12.36)
    stored = reference.stored_histories()
    assert not training.at_chance(stored["step1_relu_output"].final_accuracy)  # clamped scores, yet it learned
    assert [name for name, h in stored.items() if training.at_chance(h.final_accuracy)] == []
    assert training.at_chance(stored["step3_augment"].epochs[0]["test_accuracy"])  # 11.44%: stuck, then learned


@pytest.mark.parametrize(("values", "message"), [
    ({"SEED": np.arange(2000)}, "SEED = array([   0,    1,    2, ..., 1997, 1998, 1999]* is an ndarray; it must be "
                                "a whole number (int), e.g. SEED = 0"),  # * what NumPy's repr adds (its shape)
    ({"SEED": "9" * 300}, f"SEED = '{'9' * 37}...{'9' * 38}' is a str; it must be a whole number (int), e.g. SEED = 0"),
    ({"MODE": np.zeros((40, 40))}, 'MODE = array([[0., 0., 0., ..., 0., 0., 0.], ...* is an ndarray; it must be '
                                   '"auto", "full" or "quick" (a str), e.g. MODE = "auto"'),
    ({"CHECKPOINT": "a\nb"}, "CHECKPOINT = 'a\\nb' names nothing: no file or folder {}/a\\nb"),
])
def test_a_message_is_one_short_line_whatever_the_value(values, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError) as error:
        notebook.check_parameters(**values)
    start, _, end = message.format(tmp_path.resolve()).partition("*")
    text = str(error.value)
    assert text.startswith(start) and text.endswith(end) and "\n" not in text and len(text) < 200, text


@pytest.mark.parametrize(("values", "message"), [
    ({"CHECKPOINT": ""}, "CHECKPOINT = '' is an empty path, naming nothing: set CHECKPOINT = None for none, or e.g. "
                         'CHECKPOINT = "runs/step4_final-seed0"'),
    ({"IMAGE": ""}, "IMAGE = '' is an empty path, naming nothing: set IMAGE = None for none, or e.g. "
                    'IMAGE = "my_digit.png"'),
    ({"SEED": 1e30}, "SEED = 1e+30 is a float; it must be a whole number (int), e.g. SEED = 0"),
    ({"SEED": "-3"}, "SEED = '-3' is a str; it must be a whole number (int), e.g. SEED = 0"),
    ({"SEED": np.bool_(True)}, f"SEED = {np.bool_(True)!r} is {article(type(np.bool_(True)).__name__)}; it must be "
                               "a whole number (int), e.g. SEED = 0"),
])
def test_a_path_to_nothing_and_a_seed_example_out_of_range_are_refused(values, message):
    with pytest.raises(UserError) as error:
        notebook.check_parameters(**values)
    assert str(error.value) == message


def test_a_folder_is_refused_as_an_image_but_not_as_a_checkpoint(tmp_path):
    notebook.check_parameters(CHECKPOINT=tmp_path)
    with pytest.raises(UserError) as error:
        notebook.check_parameters(IMAGE=tmp_path)
    assert str(error.value) == (f"IMAGE = {tmp_path!r} is a folder, not an image file: name one of its files, "
                                'e.g. IMAGE = "my_digit.png"')


def test_a_scripts_own_globals_do_not_stop_start(monkeypatch, capsys):
    """``start`` reads CHECKPOINT and IMAGE from a notebook's namespace only: an image array named IMAGE is
    a right setting, and in a script's globals even an int named IMAGE is none of its business; a NumPy
    seed is a whole number."""
    monkeypatch.delenv("MNISTLIB_QUICK", raising=False)
    monkeypatch.setattr(notebook.mnist_data, "load", lambda *args, **kwargs: None)  # no data needed here
    namespace = {"notebook": notebook, "np": np, "IMAGE": np.zeros((3, 3), np.uint8), "get_ipython": None}
    exec("session = notebook.start('quick', np.int64(7), 'cpu')", namespace)  # noqa: S102 - the test's own code
    assert type(namespace["session"].seed) is int and namespace["session"].seed == 7
    namespace["IMAGE"] = 3
    with pytest.raises(UserError, match="IMAGE = 3 is an int; it must be None, the path"):
        exec("notebook.start('quick', 0, 'cpu')", namespace)  # noqa: S102
    del namespace["get_ipython"]  # a script
    exec("notebook.start('quick', 0, 'cpu')", namespace)  # noqa: S102


def test_one_whole_number_check_refuses_bools_everywhere():
    from mnistlib.core.errors import article, is_whole_number
    from mnistlib.core.runs import _type_error
    from mnistlib.core.training import check_seed

    assert [is_whole_number(v) for v in (0, np.int64(3), np.uint8(2), True, np.bool_(False), 1.0, "1")] == \
        [True, True, True, False, False, False, False]
    assert check_seed(np.int64(3)) == 3 and type(check_seed(np.int64(3))) is int
    assert _type_error(np.int64(3), int) is None and _type_error(True, int) == "bool where an int belongs"
    assert [article(w) for w in ("int", "str", "ndarray", "uint8", "NoneType", "Image")] == \
        ["an int", "a str", "an ndarray", "a uint8", "a NoneType", "an Image"]


def test_the_setup_table_says_how_each_recipe_trains_and_bolds_what_changed():
    rows = notebook.setup_rows(["step2_slim", "step3_augment", "step4_final"])
    assert rows[0] == "| | `step2_slim` | `step3_augment` | `step4_final` |"
    table = {row.split(" | ")[0].strip("| "): row.split(" | ")[1:] for row in rows[2:]}
    assert table["augmentation"] == ["none", "**rotation up to ±7°, shift up to 2 px**",
                                     "**rotation up to ±7°, shift up to 2 px** |"]  # against the first column
    assert table["network"][1:] == ["`slim`, 12,352 parameters", "**`final`, 12,400 parameters** |"]
    assert table["peak learning rate"] == ["0.05", "0.05", "0.05 |"] and table["batch"] == ["128", "128", "128 |"]
    assert "**" not in "".join(notebook.setup_rows(["step4_final", "step4_final"]))


def test_the_ablation_table_and_chart_show_every_seed(monkeypatch):
    from mnistlib.evidence import reference, tables
    from mnistlib.teach import plots

    both = SeedSummary("step4_final", 12_400, 20, {100: 99.5, 101: 99.4}, {100: 96.0, 101: 97.0})
    lines = tables.ablation_rows([both], {"step4_final": "both (step 4)"})
    assert lines[2] == "| both (step 4) | `step4_final` | 12,400 | 96.00, 97.00 | 96.50 ± 0.71 | 99.50, 99.40 | " \
                       "99.45 ± 0.07 | 99.40 |"
    monkeypatch.setattr(reference, "seed_summaries", lambda: {"step4_final": both})
    assert notebook.ablation_table(["step4_final"]) == {"both (step 4)": both}
    with pytest.raises(UserError, match="no seed records of step3_augment"):
        notebook.ablation_table(["step3_augment"])
    first, last = plots.plot_seed_spread({"both": both}).axes
    assert [list(line.get_ydata()) for line in first.lines] == [[96.0, 97.0]]
    assert [list(line.get_ydata()) for line in last.lines] == [[99.5, 99.4]]
    for ax in (first, last):
        low, high = ax.get_ylim()
        assert all(low < y < high for line in ax.lines for y in line.get_ydata())


def test_a_run_stuck_at_chance_stays_on_the_seed_chart_and_is_named_under_the_zoom():
    from mnistlib.teach import plots

    stuck = SeedSummary("step4_dropout_only", 12_352, 20, {100: 99.5, 104: 11.35}, {100: 80.8, 104: 11.35})
    fig = plots.plot_seed_spread({"dropout only": stuck})
    first, last, zoomed = fig.axes
    low, high = last.get_ylim()
    assert low < 11.35 and 99.5 < high  # every final on the middle panel
    assert [list(line.get_ydata()) for line in zoomed.lines] == [[99.5]]
    assert "dropout only, seed 104: 11.35%" in fig.texts[0].get_text()
