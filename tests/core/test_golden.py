"""A bit-exact golden run on the CPU: any change that alters the numbers fails here.

One thread, the step-4 recipe (augmentation, batch norm, dropout, SGD with the one-cycle policy)
for 4 epochs of the first 6,400 training images (200 optimizer steps), tested on the first 2,000
test images: about 15 s. A run repeats bit for bit only with the same PyTorch, thread count and kind
of CPU (the vector instructions PyTorch's kernels use and the CPU model: ``devices.cpu_kind``); the
thread count is fixed here, so the numbers are keyed by the other two:
``golden/step4_cpu-torch<V>-<capability>-<CPU model>.json`` must come back exactly on PyTorch ``<V>``
on such a CPU. Elsewhere the test skips, says which kinds it has
numbers for and how to record them (``tests/core/test_properties.py`` holds what any PyTorch on any CPU
must give). A change to data, augmentation, model, dropout or optimizer that changes the numbers must
refresh every golden file (``python tests/core/test_golden.py`` records the one of the installed PyTorch on
this CPU) *and* the committed records (``python -m mnistlib records``) in the same commit.
"""

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

FOLDER = Path(__file__).resolve().parent / "golden"



def run_kind() -> dict:
    """What a golden run's numbers depend on, as its file records it."""
    from mnistlib.core.devices import cpu_kind

    capability, model = cpu_kind()
    return {"torch": torch.__version__, "cpu_capability": capability, "cpu_model": model}


def golden_file(kind: dict) -> Path:
    model = re.sub(r"[^A-Za-z0-9.+]+", "_", kind["cpu_model"]).strip("_")
    return FOLDER / f"step4_cpu-torch{kind['torch']}-{kind['cpu_capability']}-{model}.json"


def describe(kind: dict) -> str:
    return f"torch {kind['torch']} on {kind['cpu_model']} ({kind['cpu_capability']} kernels)"


KEYS = ("train_loss", "train_accuracy", "test_loss", "test_accuracy", "lr")


def golden_run(data_root=None) -> dict:
    from mnistlib.core import data as mnist_data
    from mnistlib.core import training
    from mnistlib.core.devices import torch_threads
    from mnistlib.core.recipes import get_recipe

    with torch_threads(1):
        data = mnist_data.load("cpu", data_root, train_size=6_400)
        data = dataclasses.replace(data, test=mnist_data.Split(data.test.images[:2000], data.test.labels[:2000]))
        model, history = training.train(get_recipe("step4_final"), seed=0, epochs=4, quick=False, device="cpu",
                                        data=data, progress=False, log=lambda line: None)
    # The rounded records could hide a change in the last bits; the weights' sum in float64 cannot.
    weights = sum(v.double().sum().item() for v in model.state_dict().values() if v.is_floating_point())
    return {**run_kind(), "epochs": [{k: e[k] for k in KEYS} for e in history.epochs], "weights_sum": weights}


def recorded_kinds() -> list[str]:
    return sorted(describe(json.loads(p.read_text())) for p in FOLDER.glob("step4_cpu-torch*.json"))


def test_golden_run_is_bit_exact(data_root):
    kind = run_kind()
    if not golden_file(kind).is_file():
        pytest.skip(f"no golden numbers for {describe(kind)}: a seed repeats bit for bit only on the PyTorch and "
                    f"kind of CPU it ran on (recorded for: {'; '.join(recorded_kinds())}); record them here with: "
                    "python tests/core/test_golden.py")
    golden = json.loads(golden_file(kind).read_text())
    assert {key: golden[key] for key in kind} == kind
    run = golden_run(data_root)
    assert run["epochs"] == golden["epochs"]
    assert run["weights_sum"] == golden["weights_sum"]


@pytest.mark.parametrize("capability", ["avx2", "default"])
def test_on_another_kind_of_cpu_the_golden_run_skips_and_says_how_to_record(capability):
    """PyTorch's kernels limited to other vector instructions (``ATEN_CPU_CAPABILITY``, as on a CPU without
    AVX-512) change the last bits of a run: with no numbers for that kind the test skips, never fails."""
    env = {**os.environ, "ATEN_CPU_CAPABILITY": capability}
    result = subprocess.run([sys.executable, "-m", "pytest", f"{__file__}::test_golden_run_is_bit_exact", "-q", "-rs",
                             "-p", "no:cacheprovider"], env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:]
    assert "1 passed" in result.stdout or "record them here with: python tests/core/test_golden.py" in result.stdout


def test_every_golden_file_is_named_by_its_kind():
    """A golden file is found by the kind of run it records, so its name must follow from its contents."""
    files = sorted(FOLDER.glob("step4_cpu-torch*.json"))
    assert files
    for path in files:
        assert golden_file(json.loads(path.read_text())).name == path.name


if __name__ == "__main__":  # python tests/core/test_golden.py: (re)write the golden file of this PyTorch and CPU
    sys.path.insert(0, str(FOLDER.parents[2]))
    FOLDER.mkdir(exist_ok=True)
    run = golden_run()
    golden_file(run).write_text(json.dumps(run, indent=1) + "\n")
    print(f"wrote {golden_file(run)}")
