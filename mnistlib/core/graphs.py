"""The training step captured as CUDA graphs (``GraphedStep``), optionally with part of it compiled.

On a GPU a step of these small networks is a hundred or so tiny kernels, so launching them costs more
than running them. The whole step is captured once per batch size as a CUDA graph and replayed: the
batch is gathered inside the graph from a static index buffer, the learning rate is a device tensor
set before each replay, dropout and augmentation draw their random numbers inside the graph, and loss
and accuracy are summed in device buffers. ``torch.compile`` inside the graphs fuses kernels further,
at a one-time cost counted with the capture; the ``compile_scope`` says what it compiles.
"""

from __future__ import annotations

import time

import torch

from .data import Split
from .errors import UserError
from .recipes import Recipe
from .step import EpochStats, indexed_batch_loss

# What a compiled step compiles: the model alone, or the whole forward side of the step. "step" is the
# default because it fuses strictly more (the augmentation alone is about 25 small kernels eager);
# ``bench --compile`` times both and uses the faster.
COMPILE_SCOPES = ("model", "step")
COMPILE_SCOPE = "step"


def check_step(device: torch.device, graph: bool | None, compile_scope: str | None) -> bool:
    """The one check of what a training step needs, before any work: the captured step (``graph``; None:
    on a CUDA device, and only there) a CUDA device, and a ``compile_scope`` (one of ``COMPILE_SCOPES``)
    the captured step. Returns whether the step is captured. Raises ``UserError`` (one line) naming what
    is missing."""
    graph = device.type == "cuda" if graph is None else graph
    if compile_scope is not None and compile_scope not in COMPILE_SCOPES:
        raise UserError(f"unknown compile scope {compile_scope!r}; choose one of: {', '.join(COMPILE_SCOPES)}")
    if compile_scope is not None and device.type != "cuda":
        raise UserError("--compile compiles the captured CUDA-graph step: it needs a CUDA GPU, and the device "
                        f"here is {device.type}")
    if compile_scope is not None and not graph:
        raise UserError("--compile compiles the captured step; it cannot go with --no-graph")
    if graph and device.type != "cuda":
        raise UserError("the captured training step needs a CUDA GPU; use the eager step on the CPU")
    return graph


def batch_sizes(n: int, batch_size: int) -> list[int]:
    """The batch sizes of one epoch over ``n`` images: the full batch, and the smaller last one if any."""
    sizes = {min(batch_size, n)}
    if n > batch_size and n % batch_size:
        sizes.add(n % batch_size)
    return sorted(sizes, reverse=True)


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
        check_step(split.labels.device, True, compile_scope)
        # Static shapes: one specialization per batch size, as the graphs are. A second model of the
        # same architecture (and augmentation settings) reuses the compiled code (no recompilation).
        self.forward = torch.compile(model, dynamic=False) if compile_scope == "model" else model
        self.batch_loss = (torch.compile(indexed_batch_loss, dynamic=False) if compile_scope == "step"
                           else indexed_batch_loss)
        device = split.labels.device
        self.rates = recipe.lr_schedule(total_steps)
        self.lr = torch.tensor(self.rates[0], device=device)
        for group in optimizer.param_groups:
            group["lr"] = self.lr  # the tensor the captured fused SGD reads on every replay
        self.schedule = torch.tensor(self.rates, device=device)
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
        """One epoch of replays over the split, shuffled anew on the device, from run step ``first_step``."""
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
        return EpochStats(self.loss_sum.clone(), self.correct.clone(), n, self.rates[step - 1])
