"""The checks the notebooks' last cells rely on, each tried at its bar and just below it."""

import pytest
import torch

from conftest import ROOT
from mnistlib import notebook
from mnistlib.errors import UserError
from mnistlib.recipes import CLAIMED, RECIPES, RECORD_SEEDS, SINGLE_RUN_MARGIN
from mnistlib.records import History, save_history
from mnistlib.results import SeedSummary


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


def test_a_session_compares_its_own_runs_with_the_stored_ones(tmp_path, monkeypatch):
    """Every step's stored full run ships with the package; this session's own run is drawn beside it,
    labelled as its own, quick and full runs kept apart."""
    monkeypatch.chdir(tmp_path)
    full = notebook.Session(quick=False, device=torch.device("cpu"), data=None)
    quick = notebook.Session(quick=True, device=torch.device("cpu"), data=None)
    steps = ["step2_slim", "step4_final"]
    assert list(quick.history_path(name) for name in steps) == [None, None]
    assert list(notebook.with_reference_runs(quick, steps)) == ["step2_slim (stored full run)",
                                                                "step4_final (stored full run)"]
    save_history(quick.histories / "step4_final.json", one_run("step4_final", 98.0, quick=True))
    runs = notebook.with_reference_runs(quick, steps)
    assert list(runs) == ["step2_slim (stored full run)", "step4_final (stored full run)",
                          "step4_final (this quick run)"]
    assert runs["step4_final (this quick run)"].final_accuracy == 98.0
    assert not runs["step4_final (stored full run)"].quick
    assert "step4_final (this full run)" not in notebook.with_reference_runs(full, steps)
    assert full.histories != quick.histories and full.histories.parts[0] == "runs"
    assert "notebooks/runs/" in (ROOT / ".gitignore").read_text()  # never committed


def test_check_own_digits_at_its_bars():
    notebook.check_own_digits(notebook.OWN_DIGITS_BAR, notebook.NAIVE_CEILING - 0.1)
    with pytest.raises(AssertionError, match="prepared as MNIST: 96.9% < 97.0%"):
        notebook.check_own_digits(96.9, 10.0)
    with pytest.raises(AssertionError, match="squeezed to 28x28: 50.0% >= 50.0%"):
        notebook.check_own_digits(99.0, 50.0)


def test_an_install_without_its_reference_runs_says_so(tmp_path, monkeypatch):
    """A notebook opened alone relies on the runs the package ships; a broken install is named, with the fix."""
    from mnistlib import reference

    monkeypatch.setattr(reference, "folder", lambda: tmp_path)
    session = notebook.Session(quick=True, device=torch.device("cpu"), data=None)
    with pytest.raises(UserError, match=r"has no stored full run of step2_slim .*: reinstall mnistlib"):
        notebook.with_reference_runs(session, ["step2_slim"])
    with pytest.raises(UserError, match=r"lacks its seed records .*seed_records.json\): reinstall mnistlib"):
        reference.accuracy_points()
