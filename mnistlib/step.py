"""The training step: augment, forward, loss, backward, SGD. Eager everywhere, or captured as CUDA graphs.

Eager (``train_epoch``) is what the CPU runs and what any iterable of batches can feed (the
benchmark's classic DataLoader too). On a GPU the same step is captured once per batch size as a
CUDA graph (``GraphedStep``) and replayed: the batch is gathered inside the graph from a static
index buffer, the learning rate is a device tensor set before each replay, dropout and augmentation
draw their random numbers inside the graph, and loss and accuracy are summed in device buffers.
Optionally part of the step inside the graphs is ``torch.compile``d, which fuses its small kernels;
that costs a one-time compilation, counted with the capture. The ``compile_scope`` says which part:
the model alone, or the whole forward side of the step (gather, augmentation, model, loss and the
sums), which leaves fewer kernels to launch. The weights are kept channels-last unless the step is
compiled (``make_step``: whichever layout measured faster).
"""

from __future__ import annotations

import time
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


def train_epoch(model, optimizer, batches, recipe: Recipe, first_step: int, total_steps: int,
                augment=None, bar=None) -> EpochStats:
    """One eager pass over ``batches`` of (images, labels): augment, forward, backward, optimizer step.

    The learning rate follows ``recipe.lr_at`` from optimizer step ``first_step`` of ``total_steps``.
    Loss and accuracy are summed on the device: no host sync per batch.
    """
    device = next(model.parameters()).device
    stats = EpochStats(torch.zeros((), device=device), torch.zeros((), dtype=torch.long, device=device))
    model.train()
    for step, (images, labels) in enumerate(batches, start=first_step):
        images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        stats.lr = recipe.lr_at(step, total_steps)
        for group in optimizer.param_groups:
            group["lr"] = stats.lr
        loss = batch_loss(model, images, labels, augment, recipe.label_smoothing, stats.loss_sum, stats.correct)
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
        self.model, self.optimizer, self.split, self.recipe = model, optimizer, split, recipe
        self.augment, self.total_steps = augment, total_steps

    def epoch(self, first_step: int, bar=None) -> EpochStats:
        batches = self.split.batches(self.recipe.batch_size, shuffle=True)
        return train_epoch(self.model, self.optimizer, batches, self.recipe, first_step, self.total_steps,
                           self.augment, bar)


# What a compiled step compiles: the model alone, or the whole forward side of the step. "step" is the
# default because it fuses strictly more (the augmentation alone is about 25 small kernels eager);
# it has not been timed on a GPU yet, and ``bench --compile`` times both.
COMPILE_SCOPES = ("model", "step")
COMPILE_SCOPE = "step"


def batch_sizes(n: int, batch_size: int) -> list[int]:
    """The batch sizes of one epoch over ``n`` images: the full batch, and the smaller last one if any."""
    sizes = {min(batch_size, n)}
    if n > batch_size and n % batch_size:
        sizes.add(n % batch_size)
    return sorted(sizes, reverse=True)


def lr_schedule(recipe: Recipe, total_steps: int) -> list[float]:
    """The learning rate of every optimizer step, as the eager step sets it one by one."""
    return [recipe.lr_at(step, total_steps) for step in range(total_steps)]


class GraphedStep:
    """The whole training step as CUDA graphs, one per batch size an epoch needs (the full batch, and
    the smaller last one when the split does not divide evenly), replayed once per batch.

    Capturing needs a few eager warm-up steps (they create the optimizer's momentum buffers and
    let cuDNN pick its kernels). They run at learning rate 0, and afterwards the weights, batch-norm
    statistics and momentum buffers are put back exactly as they were, so the recipe is unchanged:
    a zero momentum buffer makes the first real step the same as SGD's first step.
    """

    graph = True
    WARMUP_STEPS = 3

    def __init__(self, model, optimizer, split: Split, recipe: Recipe, augment, total_steps: int,
                 compile_scope: str | None = None):
        self.model, self.optimizer, self.split, self.recipe, self.augment = model, optimizer, split, recipe, augment
        if compile_scope not in (None, *COMPILE_SCOPES):
            raise ValueError(f"compile_scope must be None or one of {COMPILE_SCOPES}, got {compile_scope!r}")
        # Static shapes: one specialization per batch size, as the graphs are. A second model of the
        # same architecture (and augmentation settings) reuses the compiled code (no recompilation).
        self.forward = torch.compile(model, dynamic=False) if compile_scope == "model" else model
        self.batch_loss = (torch.compile(indexed_batch_loss, dynamic=False) if compile_scope == "step"
                           else indexed_batch_loss)
        device = split.labels.device
        self.lr = torch.tensor(recipe.lr_at(0, total_steps), device=device)
        for group in optimizer.param_groups:
            group["lr"] = self.lr  # the tensor the captured fused SGD reads on every replay
        self.schedule = torch.tensor(lr_schedule(recipe, total_steps), device=device)
        self.total_steps = total_steps
        self.loss_sum = torch.zeros((), device=device)
        self.correct = torch.zeros((), dtype=torch.long, device=device)
        self.index = {size: torch.arange(size, device=device) for size in batch_sizes(len(split), recipe.batch_size)}
        start = time.perf_counter()
        self.graphs = self._capture()
        torch.cuda.synchronize(device)
        self.capture_seconds = time.perf_counter() - start

    def _step(self, index: torch.Tensor) -> None:
        loss = self.batch_loss(self.forward, self.split, index, self.augment, self.recipe.label_smoothing,
                               self.loss_sum, self.correct)
        loss.backward()
        self.optimizer.step()

    def _capture(self) -> dict[int, torch.cuda.CUDAGraph]:
        model, optimizer = self.model, self.optimizer
        params = list(model.parameters())
        weights = {k: v.clone() for k, v in model.state_dict().items()}
        momenta = [optimizer.state[p].get("momentum_buffer") for p in params]
        momenta = [None if m is None else m.clone() for m in momenta]
        self.lr.fill_(0.0)
        model.train()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for index in self.index.values():
                for _ in range(self.WARMUP_STEPS):
                    optimizer.zero_grad(set_to_none=True)
                    self._step(index)
        torch.cuda.current_stream().wait_stream(side)
        graphs = {}
        for size, index in self.index.items():
            optimizer.zero_grad(set_to_none=True)  # backward in the graph then writes, never accumulates
            graphs[size] = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graphs[size]):
                self._step(index)
        with torch.no_grad():
            for k, v in model.state_dict().items():
                v.copy_(weights[k])
            for p, saved in zip(params, momenta, strict=True):
                buffer = optimizer.state[p]["momentum_buffer"]
                buffer.copy_(saved) if saved is not None else buffer.zero_()
        return graphs

    def epoch(self, first_step: int, bar=None) -> EpochStats:
        n, b = len(self.split), self.recipe.batch_size
        order = torch.randperm(n, device=self.split.labels.device)
        self.loss_sum.zero_()
        self.correct.zero_()
        step = first_step
        for start in range(0, n, b):
            size = min(b, n - start)
            self.index[size].copy_(order[start : start + size])
            self.lr.copy_(self.schedule[step])
            self.graphs[size].replay()
            step += 1
            if bar is not None:
                bar.update()
        return EpochStats(self.loss_sum.clone(), self.correct.clone(), n, self.recipe.lr_at(step - 1, self.total_steps))


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
    """The training step for ``split``'s device; ``compile_scope`` (graphed only) compiles part of it.

    By default the weights go channels-last unless the step is compiled: it is the faster layout for
    these small networks wherever it was measured (``bench``: on the CPU, step 4's training step and
    test pass; on a GPU, the captured step), except for a model compiled on a GPU, which was faster in
    NCHW. The step's ``channels_last`` says which layout it trains in.
    """
    if channels_last is None:
        channels_last = compile_scope is None
    if channels_last:
        to_channels_last(model, optimizer)
    runner = (GraphedStep(model, optimizer, split, recipe, augment, total_steps, compile_scope) if graph
              else EagerStep(model, optimizer, split, recipe, augment, total_steps))
    runner.channels_last = channels_last
    return runner
