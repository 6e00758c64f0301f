"""Numbers about a trained model beyond its accuracy: predictions, confusions, clamped logits."""

from __future__ import annotations

import torch

from .data import Split

# Images per forward pass when testing: the whole test set at once on a GPU; on the CPU, slices of
# 250, where the starter network's activations take about 160 MB (1,000 took 490 MB, too much for
# Binder's 1-2 GB). The logits do not depend on the slice size (checked bit for bit on all models).
EVAL_BATCH = {"cpu": 250, "cuda": 10_000}


@torch.inference_mode()
def logits(model: torch.nn.Module, split: Split) -> torch.Tensor:
    """The model's (N, 10) outputs for a split, in evaluation mode; the model's mode is put back after."""
    was_training = model.training
    model.eval()
    try:
        batch = EVAL_BATCH.get(split.labels.device.type, 1000)
        return torch.cat([model(images) for images, _ in split.batches(batch)])
    finally:
        model.train(was_training)


def predict(model: torch.nn.Module, split: Split) -> torch.Tensor:
    """Predicted digit for every image of a split."""
    return logits(model, split).argmax(1)


def confusion_matrix(model: torch.nn.Module, split: Split) -> torch.Tensor:
    """10x10 counts: row = true digit, column = predicted digit."""
    return torch.bincount(split.labels * 10 + predict(model, split), minlength=100).reshape(10, 10).cpu()


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
