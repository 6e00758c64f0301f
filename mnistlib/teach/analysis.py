"""Numbers about a trained model beyond its accuracy: predictions, confusions, clamped logits."""

from __future__ import annotations

import torch

from ..core.data import Split
from ..core.training import logits


def predicted_digits(model: torch.nn.Module, split: Split) -> torch.Tensor:
    """The predicted digit, int64 (N,) 0-9, of each of the N images of ``split`` (``logits``' argmax)."""
    return logits(model, split).argmax(1)


def confusion_matrix(model: torch.nn.Module, split: Split) -> torch.Tensor:
    """10x10 counts: row = true digit, column = predicted digit."""
    return torch.bincount(split.labels * 10 + predicted_digits(model, split), minlength=100).reshape(10, 10).cpu()


def clamped_logits(model: torch.nn.Module, split: Split) -> dict[str, float]:
    """How much of the output is exactly zero: the trace a ReLU on the logits leaves.

    ``zero_logits``: share of all class scores that are 0. ``true_class_zero``: share of images whose
    correct class scores 0, so it can at best tie with the classes the ReLU also clamped.
    ``all_zero``: share of images with all ten scores 0, where argmax can only fall back to digit 0.
    """
    out = logits(model, split)
    zero = out == 0
    true_zero = zero.gather(1, split.labels[:, None]).squeeze(1)
    return {
        "zero_logits": zero.float().mean().item(),
        "true_class_zero": true_zero.float().mean().item(),
        "all_zero": zero.all(1).float().mean().item(),
    }
