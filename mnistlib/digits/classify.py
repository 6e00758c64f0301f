"""A trained model's answer for prepared digits: class probabilities."""

from __future__ import annotations

import torch

from .preprocess import FIELD


@torch.inference_mode()
def predict(model: torch.nn.Module, images: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """Class probabilities, float32 (N, 10) summing to 1 per row, of ``images`` (N, 1, 28, 28) or (1, 28, 28)
    float in 0..1 (``preprocess``), normalized with ``mean`` and ``std`` (a checkpoint's, those of the
    training set), on the model's device, in evaluation mode (the model's mode is put back after).
    Raises ``ValueError`` for images of another shape."""
    if images.dim() == 3:
        images = images[None]
    if images.dim() != 4 or images.shape[1:] != (1, FIELD, FIELD):
        raise ValueError(f"images must be (N, 1, 28, 28), got {tuple(images.shape)}")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        return torch.softmax(model(((images.float() - mean) / std).to(device)), 1).cpu()
    finally:
        model.train(was_training)


