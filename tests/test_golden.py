"""A bit-exact golden run on the CPU: any change that alters the numbers fails here.

One thread, the step-4 recipe (augmentation, batch norm, dropout, SGD with the one-cycle policy)
for 4 epochs of the first 6,400 training images (200 optimizer steps), tested on the first 2,000
test images: about 15 s. The per-epoch losses and accuracies in ``golden/step4_cpu-torch<V>.json``
must come back exactly on PyTorch ``<V>``; other versions round differently, so there the test skips
and says which versions it has numbers for (``tests/test_properties.py`` holds what any version must
give). A change to data, augmentation, model, dropout or optimizer that changes the numbers must
refresh every golden file (``python tests/test_golden.py`` records the one of the installed PyTorch)
*and* the committed records (``python -m mnistlib records``) in the same commit.
"""

import dataclasses
import json
import sys
from pathlib import Path

import pytest
import torch

FOLDER = Path(__file__).resolve().parent / "golden"


def golden_file(version: str = torch.__version__) -> Path:
    return FOLDER / f"step4_cpu-torch{version}.json"
KEYS = ("train_loss", "train_accuracy", "test_loss", "test_accuracy", "lr")


def golden_run(data_root=None) -> dict:
    from mnistlib import data as mnist_data
    from mnistlib import training
    from mnistlib.devices import torch_threads
    from mnistlib.recipes import get_recipe

    with torch_threads(1):
        data = mnist_data.load("cpu", data_root, train_size=6_400)
        data = dataclasses.replace(data, test=mnist_data.Split(data.test.images[:2000], data.test.labels[:2000]))
        model, history = training.train(get_recipe("step4_final"), seed=0, epochs=4, quick=False, device="cpu",
                                        data=data, progress=False, log=lambda line: None)
    # The rounded records could hide a change in the last bits; the weights' sum in float64 cannot.
    weights = sum(v.double().sum().item() for v in model.state_dict().values() if v.is_floating_point())
    return {"torch": torch.__version__, "epochs": [{k: e[k] for k in KEYS} for e in history.epochs],
            "weights_sum": weights}


def test_golden_run_is_bit_exact(data_root):
    if not golden_file().is_file():
        recorded = sorted(p.stem.split("-torch", 1)[1] for p in FOLDER.glob("step4_cpu-torch*.json"))
        pytest.skip(f"no golden numbers for torch {torch.__version__} (recorded for {', '.join(recorded)}); "
                    "record them with: python tests/test_golden.py")
    golden = json.loads(golden_file().read_text())
    assert golden["torch"] == torch.__version__
    run = golden_run(data_root)
    assert run["epochs"] == golden["epochs"]
    assert run["weights_sum"] == golden["weights_sum"]


if __name__ == "__main__":  # python tests/test_golden.py: (re)write the installed PyTorch's golden file
    sys.path.insert(0, str(FOLDER.parent.parent))
    FOLDER.mkdir(exist_ok=True)
    golden_file().write_text(json.dumps(golden_run(), indent=1) + "\n")
    print(f"wrote {golden_file()}")
