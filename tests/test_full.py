"""Full-length step-4 training (about 10 minutes on 2 CPU cores): run when MNISTLIB_FULL_TESTS=1, as CI does."""

import json
import os

import pytest

from conftest import mnistlib
from mnistlib.core.recipes import RECIPES

pytestmark = pytest.mark.skipif(os.environ.get("MNISTLIB_FULL_TESTS") != "1",
                                reason="full-length training; set MNISTLIB_FULL_TESTS=1 (CI does)")


def test_step_four_reaches_99_4_at_its_last_epoch(tmp_path):
    result = mnistlib("train", "--no-progress", "--out", tmp_path / "run", "--seed", "0")
    print(result.stdout)
    assert result.returncode == 0, result.stderr
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert len(history["epochs"]) <= 20 and history["params"] < 20_000
    # One run: the recipe's target less the single-run margin; the strict claim is checked on the records.
    assert history["epochs"][-1]["test_accuracy"] >= RECIPES["step4_final"].notebook_bar
