"""The four networks of the story, each one visible step from the one before.

Every model maps (N, 1, 28, 28) normalized images to (N, 10) logits; the loss applies the softmax.
"""

from __future__ import annotations

import torch
from torch import nn

from .devices import torch_threads
from .errors import UserError


class BaseReLUOutput(nn.Module):
    """Step 1, as first written: the classic starter CNN, ~6.38M parameters.

    Its last conv produces the logits and still has a ReLU after it, so no class score can be
    negative: every logit the ReLU clamps to zero carries no information for the softmax.
    """

    def __init__(self, relu_on_logits: bool = True):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(),  # 28x28
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),  # 14x14
            nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(),
            nn.Conv2d(128, 256, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),  # 7x7
            nn.Conv2d(256, 512, 3), nn.ReLU(),  # 5x5
            nn.Conv2d(512, 1024, 3), nn.ReLU(),  # 3x3
            nn.Conv2d(1024, 10, 3),  # 1x1: the logits
        )
        self.output = nn.ReLU() if relu_on_logits else nn.Identity()

    def forward(self, x):
        return self.output(self.features(x)).flatten(1)


class Base(BaseReLUOutput):
    """Step 1, fixed: the same network without the ReLU on the logits."""

    def __init__(self):
        super().__init__(relu_on_logits=False)


class Dropout(nn.Dropout):
    """``nn.Dropout`` with a cheaper mask on the CPU; elsewhere it is ``nn.Dropout``.

    On the CPU, ``nn.Dropout`` draws one 32-bit random number per element, and that alone took 35%
    of a step-4 training step (profiled). Here each 64-bit random number yields four 16-bit draws;
    an element is kept when its draw is at least ``p`` x 65536, so it is dropped with probability
    ``p`` (to 1/65536) and survivors are scaled by 1/(1-p) (rounded to float32, then to the input's
    dtype), as in ``nn.Dropout``. The mask takes the input's memory layout (channels-last or not), so
    the products stream through memory in one order; the draws go to the same elements in either layout.
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
# norm (below) was not measured and PyTorch's own path runs.
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


class BatchNorm2d(nn.BatchNorm2d):
    """``nn.BatchNorm2d`` that trains on one thread where PyTorch's multithreaded CPU kernel is slower.

    PyTorch's CPU batch norm works across a channels-last input's channels a vector register at a
    time. Timed alone on this project's 2-core AVX-512 machine, its training pass took longer on two
    threads than on one with 8, 10, 12 and 24 channels, and less with 16: channel counts that are
    not a multiple of the register's 16 floats, presumably for the remainder the vectors leave.
    There (an AVX-512 CPU, more than one thread, a channels-last input in training mode) the same
    kernels run on one thread, so one-thread runs give the same numbers bit for bit either way; on
    more threads a run follows another path of rounding than with PyTorch's own batch norm. The
    benchmark times both (``python -m mnistlib bench --device cpu``: the rows "batch norm on all
    threads"): one thread made the training step of ``beyond_fast``'s model (12 channels first, 24
    in its second block) 1.25x faster. Same parameters, buffers and state dict as ``nn.BatchNorm2d``;
    everywhere else, and for inputs with one value per channel, it is ``nn.BatchNorm2d``. The thread
    count is the process's (``devices.torch_threads``).
    """

    all_threads = False  # True: always PyTorch's own path (the benchmark times both)

    def forward(self, x):
        if not (self.training and self.track_running_stats and x.device.type == "cpu" and not self.all_threads
                and ONE_THREAD_BN_VECTOR_FLOATS and self.num_features % ONE_THREAD_BN_VECTOR_FLOATS
                and x.dim() == 4 and x.numel() > x.size(1) and x.is_contiguous(memory_format=torch.channels_last)
                and torch.get_num_threads() > 1):
            return super().forward(x)
        self.num_batches_tracked.add_(1)
        momentum = 1 / self.num_batches_tracked.item() if self.momentum is None else self.momentum
        return _OneThreadBatchNorm.apply(x, self.weight, self.bias, self.running_mean, self.running_var,
                                         momentum, self.eps)


def conv_unit(c_in: int, c_out: int, batch_norm: bool, dropout: float) -> list[nn.Module]:
    """A padded 3x3 conv and ReLU; optionally batch norm before the ReLU and dropout after it."""
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 3, padding=1, bias=not batch_norm)]
    if batch_norm:
        layers.append(BatchNorm2d(c_out))  # its shift replaces the conv's bias
    layers.append(nn.ReLU())
    if dropout:
        layers.append(Dropout(dropout))
    return layers


class Slim(nn.Module):
    """Step 2: two blocks of two 3x3 convs (8, 8 then 16, 16) with max-pool, ~12k parameters."""

    def __init__(self, batch_norm: bool = False, dropout: float = 0.0):
        super().__init__()
        self.block1 = nn.Sequential(
            *conv_unit(1, 8, batch_norm, dropout),  # 28x28
            *conv_unit(8, 8, batch_norm, dropout),
            nn.MaxPool2d(2),  # 14x14
        )
        self.block2 = nn.Sequential(
            *conv_unit(8, 16, batch_norm, dropout),
            *conv_unit(16, 16, batch_norm, dropout),
            nn.MaxPool2d(2),  # 7x7
        )
        self.head = nn.Sequential(
            nn.Conv2d(16, 16, 3), nn.ReLU(),  # 5x5
            nn.Conv2d(16, 32, 3), nn.ReLU(),  # 3x3
            nn.Conv2d(32, 10, 1), nn.ReLU(),  # 3x3, 1x1 transition down to 10 channels
            nn.Conv2d(10, 10, 3),  # 1x1: the logits
        )

    def forward(self, x):
        return self.head(self.block2(self.block1(x))).flatten(1)


class Final(Slim):
    """Step 4: ``Slim`` with batch norm and dropout 0.1 after every conv of the two blocks."""

    def __init__(self):
        super().__init__(batch_norm=True, dropout=0.1)


class Compact(nn.Module):
    """Beyond the story: step 4's two blocks, narrower, and a head of two convs instead of four.

    Step 4's head holds 8,200 of its 12,400 parameters. Here a valid 3x3 conv takes the 7x7 map to
    5x5, and one 5x5 conv reads that whole map into the ten logits, so the head keeps knowing
    *where* a stroke is (global average pooling, tried first, forgets it and scored lower).
    Every conv but the last has batch norm; ``dropout`` follows each conv of the blocks.
    """

    def __init__(self, block1: tuple[int, int], block2: tuple[int, int], head: int, dropout: float = 0.0):
        super().__init__()
        (a, b), (c, d) = block1, block2
        self.block1 = nn.Sequential(*conv_unit(1, a, True, dropout), *conv_unit(a, b, True, dropout),
                                    nn.MaxPool2d(2))  # 14x14
        self.block2 = nn.Sequential(*conv_unit(b, c, True, dropout), *conv_unit(c, d, True, dropout),
                                    nn.MaxPool2d(2))  # 7x7
        self.head = nn.Sequential(
            nn.Conv2d(d, head, 3, bias=False), BatchNorm2d(head), nn.ReLU(),  # 5x5
            nn.Conv2d(head, 10, 5),  # 1x1: the logits
        )

    def forward(self, x):
        return self.head(self.block2(self.block1(x))).flatten(1)


MODELS = {
    "base_relu_output": BaseReLUOutput,
    "base": Base,
    "slim": Slim,
    "final": Final,
    "final_no_dropout": lambda: Slim(batch_norm=True),  # a validation candidate (README)
    "compact8k": lambda: Compact((8, 8), (10, 16), 12),
    "compact5k": lambda: Compact((8, 8), (8, 10), 8),
    "compact15k": lambda: Compact((12, 16), (16, 24), 16),  # wider: learns faster, for the fast recipe
}


def build_model(name: str) -> nn.Module:
    if name not in MODELS:
        raise UserError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}")
    return MODELS[name]()


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
