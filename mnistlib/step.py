"""The training step: augment, forward, loss, backward, SGD, eager; the captured CUDA-graph version is in
``graphs``.

``train_epoch`` is what the CPU runs and what any iterable of batches can feed (the benchmark's
classic DataLoader too); ``make_step`` picks it or the captured step for a split's device. The
weights are kept channels-last unless the step is compiled (whichever layout measured faster).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from . import data as mnist_data
from .data import MNIST, Split
from .recipes import Recipe


@dataclass
class EpochStats:
    """Sums over one training epoch, kept on the device until the epoch ends."""

    loss_sum: torch.Tensor
    correct: torch.Tensor
    images: int = 0
    lr: float = 0.0


@dataclass(frozen=True)
class Augmentation:
    """Random rotations and shifts of a batch on its device (``data.random_rotation``).

    A plain value whose settings are its fields: the compiled step's guards check those, and a new
    run with the same settings reuses the compiled code (a test checks that nothing recompiles).
    """

    rotation: float
    shift: float
    background: float

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return mnist_data.random_rotation(images, self.rotation, self.background, self.shift)


def augmentation(recipe: Recipe, data: MNIST) -> Augmentation | None:
    """The recipe's batched augmentation on the device, or None."""
    if not (recipe.rotation or recipe.shift):
        return None
    return Augmentation(recipe.rotation, recipe.shift, data.background)


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


def make_step(model, optimizer, split: Split, recipe: Recipe, augment, total_steps: int, graph: bool,
              compile_scope: str | None = None, channels_last: bool | None = None):
    """The training step of a run of ``total_steps`` on ``split``'s device: eager, or (``graph``) captured
    as CUDA graphs with part of it compiled when a ``compile_scope`` is given (``graphs``).

    The weights go channels-last unless the step is compiled: the faster layout for these small networks
    wherever it was measured (``bench``: on the CPU, step 4's training step and test pass; on a GPU, the
    captured step), except for a model compiled on a GPU, which ran faster in NCHW. ``channels_last``
    overrides that choice (the GPU speed options compare both); the step's ``channels_last`` says
    which layout it trains in.
    """
    if channels_last is None:
        channels_last = compile_scope is None
    if channels_last:
        to_channels_last(model, optimizer)
    if graph:
        from .graphs import GraphedStep

        runner = GraphedStep(model, optimizer, split, recipe, augment, total_steps, compile_scope)
    else:
        runner = EagerStep(model, optimizer, split, recipe, augment, total_steps)
    runner.channels_last = channels_last
    return runner
