"""The training step: augment, forward, loss, backward, SGD, eager; the captured CUDA-graph version is in
``graphs``, and ``training.make_step`` picks one of them for a run.

``train_epoch`` is what the CPU runs and what any iterable of batches can feed (the benchmark's
classic DataLoader too).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .data import Split
from .recipes import Recipe


@dataclass
class EpochStats:
    """Sums over one training epoch, kept on the device until the epoch ends."""

    loss_sum: torch.Tensor
    correct: torch.Tensor
    images: int = 0
    lr: float = 0.0


def batch_loss(model, images, labels, augment, label_smoothing: float, loss_sum: torch.Tensor,
               correct: torch.Tensor) -> torch.Tensor:
    """The forward side of a training step: augment, forward, the loss to backpropagate. Adds the
    batch's summed loss and its number of correct predictions to the device tensors ``loss_sum`` and
    ``correct``, so nothing waits for the device."""
    if augment is not None:
        images = augment(images)
    logits = model(images)
    loss = F.cross_entropy(logits, labels, label_smoothing=label_smoothing)
    loss_sum += loss.detach() * len(labels)
    correct += (logits.detach().argmax(1) == labels).sum()
    return loss


def indexed_batch_loss(model, split: Split, index: torch.Tensor, augment, label_smoothing: float,
                       loss_sum: torch.Tensor, correct: torch.Tensor) -> torch.Tensor:
    """``batch_loss`` of the examples of ``split`` at ``index``, gathered on the device (what the
    captured step runs, and compiles whole when its compile scope is the step)."""
    return batch_loss(model, split.images.index_select(0, index), split.labels.index_select(0, index), augment,
                      label_smoothing, loss_sum, correct)


def make_optimizer(model: torch.nn.Module, recipe: Recipe, graph: bool = False) -> torch.optim.Optimizer:
    """SGD with momentum and weight decay; fused for a captured step (``GraphedStep`` gives it its
    device-tensor learning rate)."""
    return torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                           weight_decay=recipe.weight_decay, fused=True if graph else None)


def train_epoch(model, optimizer, batches, rates, augment=None, label_smoothing: float = 0.0,
                bar=None) -> EpochStats:
    """One eager pass over ``batches`` of (images, labels): augment, forward, backward, optimizer step.

    ``rates``: the learning rate of each batch in turn (the run's schedule from this epoch's first step).
    Loss and accuracy are summed on the device: no host sync per batch.
    """
    device = next(model.parameters()).device
    stats = EpochStats(torch.zeros((), device=device), torch.zeros((), dtype=torch.long, device=device))
    model.train()
    for (images, labels), rate in zip(batches, rates, strict=False):
        images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        stats.lr = rate
        for group in optimizer.param_groups:
            group["lr"] = rate
        loss = batch_loss(model, images, labels, augment, label_smoothing, stats.loss_sum, stats.correct)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        stats.images += len(labels)
        if bar is not None:
            bar.update()
    return stats


class EagerStep:
    """``train_epoch`` over shuffled index slices of a device-resident split."""

    graph = False
    capture_seconds = None

    def __init__(self, model, optimizer, split: Split, recipe: Recipe, augment, total_steps: int):
        self.model, self.optimizer, self.split, self.recipe, self.augment = model, optimizer, split, recipe, augment
        self.schedule = recipe.lr_schedule(total_steps)

    def epoch(self, first_step: int, bar=None) -> EpochStats:
        """One epoch over the split, shuffled anew, from run step ``first_step`` of the learning-rate schedule."""
        batches = self.split.batches(self.recipe.batch_size, shuffle=True)
        return train_epoch(self.model, self.optimizer, batches, self.schedule[first_step:], self.augment,
                           self.recipe.label_smoothing, bar)


def to_channels_last(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
    """Weights in channels-last memory format, in place: the parameters stay the same objects (the
    optimizer holds them), and momentum buffers already there (a resumed run) take their layout."""
    model.to(memory_format=torch.channels_last)
    for p in model.parameters():
        state = optimizer.state.get(p, {})
        if state.get("momentum_buffer") is not None:
            state["momentum_buffer"] = torch.empty_like(p).copy_(state["momentum_buffer"])
