"""Two CPU speed-ups for training the story's networks, put into a built model in place of torch's layers.

The networks (``models``) are written with ``nn.BatchNorm2d`` and ``nn.Dropout``, the code of the idea.
On the CPU the training step swaps those layers for the two below (``applied``), which compute the
same thing faster there; the benchmark times the step with and without each (``python -m mnistlib
bench --device cpu``; the figures and why each pays are in docs/performance.md):

- ``FastDropout``: dropout with a cheaper random mask. It draws other random numbers than
  ``nn.Dropout`` (the same probability of keeping an element), so a seed's run differs from one
  with torch's layer; every record of this project was made with it.
- ``OneThreadBatchNorm2d``: batch norm in training mode by PyTorch's own CPU kernels, run on one
  thread where the multithreaded kernel was measured slower. On one thread it is PyTorch's own path,
  bit for bit.

A swap changes the class of the module object and nothing else: parameters, buffers, state dict and
the optimizer's references stay, so a checkpoint saved from a swapped model loads into torch's layers.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn

from .devices import torch_threads


class FastDropout(nn.Dropout):
    """``nn.Dropout`` with a cheaper mask on the CPU; elsewhere, and in evaluation mode, it is ``nn.Dropout``.

    Each 64-bit random number yields four 16-bit draws; an element is kept when its draw is at least
    ``p`` x 65536, so it is dropped with probability ``p`` (to 1/65536), and survivors are scaled by
    1/(1-p) (rounded to float32, then to the input's dtype), as in ``nn.Dropout``. The mask takes the
    input's memory layout (channels-last or not), so the product streams through memory in one order.
    Input and output: any shape, float32 or bfloat16.
    """

    def forward(self, x):
        if not self.training or self.p == 0 or x.device.type != "cpu":
            return super().forward(x)
        if self.p == 1:
            return x * 0  # everything dropped (and no division by 1 - p = 0)
        n = x.numel()
        draws = torch.empty(-(-n // 4), dtype=torch.int64).random_(-(2**63), 2**63 - 1).view(torch.int16)[:n]
        keep = torch.empty_like(x, dtype=torch.bool)
        torch.ge(draws.view(x.shape), round(self.p * 65536) - 32768, out=keep)
        # keep * scale would give the same float32 mask, several times slower (mixed-type arithmetic)
        return x * keep.to(torch.float32).mul_(1 / (1 - self.p)).to(x.dtype)


# Floats per vector register in PyTorch's AVX-512 CPU kernels; None on other CPUs, where one-thread batch
# norm was not measured and PyTorch's own path runs.
ONE_THREAD_BN_VECTOR_FLOATS = 16 if torch.backends.cpu.get_cpu_capability() == "AVX512" else None


class _OneThreadBatchNorm(torch.autograd.Function):
    """Batch norm in training mode, forward and backward, by PyTorch's own CPU kernels on one thread."""

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, momentum: float, eps: float):
        with torch_threads(1):
            out, mean, invstd = torch.ops.aten.native_batch_norm(x, weight, bias, running_mean, running_var,
                                                                 True, momentum, eps)
        ctx.save_for_backward(x, weight, mean, invstd)
        ctx.eps = eps
        return out

    @staticmethod
    def backward(ctx, grad):
        x, weight, mean, invstd = ctx.saved_tensors
        with torch_threads(1):
            grads = torch.ops.aten.native_batch_norm_backward(grad, x, weight, None, None, mean, invstd, True,
                                                              ctx.eps, list(ctx.needs_input_grad[:3]))
        return *grads, None, None, None, None


def one_thread_pays(batch_norm: nn.BatchNorm2d, x: torch.Tensor) -> bool:
    """Whether ``batch_norm`` runs on one thread for input ``x``: in training mode with running statistics,
    on an AVX-512 CPU with more than one thread, for a channels-last (N, C, H, W) input of more than one
    value per channel, when C is not a multiple of the vector register's 16 floats (where the
    multithreaded kernel was measured slower: docs/performance.md)."""
    return bool(batch_norm.training and batch_norm.track_running_stats and x.device.type == "cpu"
                and ONE_THREAD_BN_VECTOR_FLOATS and batch_norm.num_features % ONE_THREAD_BN_VECTOR_FLOATS
                and x.dim() == 4 and x.numel() > x.size(1) and x.is_contiguous(memory_format=torch.channels_last)
                and torch.get_num_threads() > 1)


class OneThreadBatchNorm2d(nn.BatchNorm2d):
    """``nn.BatchNorm2d`` that trains on one thread where ``one_thread_pays``; everywhere else it is
    ``nn.BatchNorm2d``. The same kernels as PyTorch's path, so one-thread runs are bit-identical; on more
    threads the sums are split otherwise, so a run rounds differently. Input and output (N, C, H, W)."""

    def forward(self, x):
        if not one_thread_pays(self, x):
            return super().forward(x)
        self.num_batches_tracked.add_(1)
        momentum = 1 / self.num_batches_tracked.item() if self.momentum is None else self.momentum
        return _OneThreadBatchNorm.apply(x, self.weight, self.bias, self.running_mean, self.running_var,
                                         momentum, self.eps)


# torch's layer -> its faster form, by the name ``swap`` takes.
SPEEDUPS = {"dropout": (nn.Dropout, FastDropout), "batch_norm": (nn.BatchNorm2d, OneThreadBatchNorm2d)}


def swap(model: nn.Module, speedups=tuple(SPEEDUPS)) -> list[tuple[nn.Module, type]]:
    """Turn every layer of ``model`` that is exactly torch's layer of one of ``speedups`` (keys of
    ``SPEEDUPS``: "dropout", "batch_norm") into its faster form, in place. Returns each changed layer with
    its class before, for ``swap_back``."""
    changed = []
    for name in speedups:
        layer, fast = SPEEDUPS[name]
        for module in model.modules():
            if type(module) is layer:
                changed.append((module, layer))
                module.__class__ = fast
    return changed


def swap_back(changed: list[tuple[nn.Module, type]]) -> None:
    """Give each layer ``swap`` changed its class before."""
    for module, before in changed:
        module.__class__ = before


@contextmanager
def applied(model: nn.Module, speedups=tuple(SPEEDUPS)):
    """``model`` with ``speedups`` swapped in (``swap``) inside the block, when its parameters are on the
    CPU (elsewhere it is left as it is); the layers it changed are put back after, also on an error."""
    changed = swap(model, speedups) if next(model.parameters()).device.type == "cpu" else []
    try:
        yield model
    finally:
        swap_back(changed)
