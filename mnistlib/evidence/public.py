"""Published MNIST results that mark the frontier this project's recipes stand against.

Their numbers are what their authors report, under their conditions, which differ from this project's
(each entry's ``conditions`` say how: a best epoch chosen while watching the test accuracy, the best of
many runs, a mean over seeds), where every claim here is the last epoch on each fresh seed. A chart or
table quoting an entry says its conditions too.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PublicResult:
    """One published result: ``params`` trainable parameters (None where the result is about time),
    ``accuracy`` the test accuracy in percent, ``seconds`` the training time where it is timed."""

    name: str
    accuracy: float
    conditions: str
    source: str
    params: int | None = None
    seconds: float | None = None


# Accuracy against size: two published small networks, near 99.5% and near 99%.
SIZE_ANCHORS = [
    PublicResult("a notebook's small CNN", 99.52, "best of 15 epochs, one seed, batch 32, shifts, scaling, rotations "
                 "and brightness/contrast augmentation", "a public notebook", params=3_762),
    PublicResult("Parameter-Efficient-MNIST", 99.03, "best of about 700 runs of up to 200 epochs, the test set as "
                 "validation", "https://github.com/JoshWarn/Parameter-Efficient-MNIST", params=697),
]
# Time to an accuracy: a published fast training, to 99% on a laptop GPU.
TIME_ANCHOR = PublicResult("train_mnist_fast", 99.04, "mean over seeds, not every seed reaching 99%; one epoch on a "
                           "laptop's NVIDIA GTX 1660 Ti; the data prepared and put on the GPU beforehand, untimed",
                           "https://github.com/tuomaso/train_mnist_fast", seconds=0.762)
