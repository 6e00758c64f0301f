"""The four networks of the story, each one visible step from the one before.

Every model maps (N, 1, 28, 28) normalized images to (N, 10) logits; the loss applies the softmax. They
are written with torch's own layers, the code of each idea; on the CPU the training step swaps in faster
forms of two of them (``cpu_speedups``) while it trains.
"""

from __future__ import annotations

from torch import nn

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


def conv_unit(c_in: int, c_out: int, batch_norm: bool, dropout: float) -> list[nn.Module]:
    """A padded 3x3 conv and ReLU; optionally batch norm before the ReLU and dropout after it."""
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 3, padding=1, bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(c_out))  # its shift replaces the conv's bias
    layers.append(nn.ReLU())
    if dropout:
        layers.append(nn.Dropout(dropout))
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
            nn.Conv2d(d, head, 3, bias=False), nn.BatchNorm2d(head), nn.ReLU(),  # 5x5
            nn.Conv2d(head, 10, 5),  # 1x1: the logits
        )

    def forward(self, x):
        return self.head(self.block2(self.block1(x))).flatten(1)


class SpaceToDepth(nn.Module):
    """Beyond the story, for speed on a CPU: no conv runs at 28x28.

    Space-to-depth (``nn.PixelUnshuffle(2)``) rearranges each 2x2 patch of pixels into 4 channels, so the
    first conv reads a 14x14 map of 4 channels: every pixel is still seen, at a quarter of the positions.
    On a CPU a 28x28 conv of a few channels, and the batch norm and ReLU passes over its output, are
    memory-bound and take most of a training step of the compact networks; here two 14x14 convs of
    ``block1`` channels, a max-pool to 7x7, one conv of ``block2`` channels and the compact head (a valid
    3x3 conv of ``head`` channels to 5x5, one 5x5 conv to the ten logits) take about a third of
    ``compact15k``'s epoch time (the CPU benchmark, docs/performance.md), for more parameters. Every conv
    but the last has batch norm. Maps (N, 1, 28, 28) normalized images to (N, 10) logits.
    """

    def __init__(self, block1: int, block2: int, head: int):
        super().__init__()
        self.block1 = nn.Sequential(nn.PixelUnshuffle(2),  # (N, 4, 14, 14)
                                    *conv_unit(4, block1, True, 0.0), *conv_unit(block1, block1, True, 0.0),
                                    nn.MaxPool2d(2))  # 7x7
        self.block2 = nn.Sequential(*conv_unit(block1, block2, True, 0.0))
        self.head = nn.Sequential(
            nn.Conv2d(block2, head, 3, bias=False), nn.BatchNorm2d(head), nn.ReLU(),  # 5x5
            nn.Conv2d(head, 10, 5),  # 1x1: the logits
        )

    def forward(self, x):
        return self.head(self.block2(self.block1(x))).flatten(1)


MODELS = {
    "base_relu_output": BaseReLUOutput,
    "base": Base,
    "slim": Slim,
    "final": Final,
    "final_no_dropout": lambda: Slim(batch_norm=True),  # step 4 without its dropout: batch norm alone
    "final_no_batchnorm": lambda: Slim(dropout=0.1),  # step 4 without its batch norm: dropout alone
    "compact8k": lambda: Compact((8, 8), (10, 16), 12),
    "compact5k": lambda: Compact((8, 8), (8, 10), 8),
    "compact15k": lambda: Compact((12, 16), (16, 24), 16),  # wider: learns faster, for the fast recipe
    "space_to_depth": lambda: SpaceToDepth(16, 32, 64),
}


def build_model(name: str) -> nn.Module:
    """A new network ``name`` (a key of ``MODELS``) with fresh weights, in training mode, on the CPU; it maps
    (N, 1, 28, 28) normalized float32 images to (N, 10) logits. Raises ``UserError`` naming the choices."""
    if name not in MODELS:
        raise UserError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}")
    return MODELS[name]()


def count_parameters(model: nn.Module) -> int:
    """The number of trainable parameters (weights and biases, batch norm's scale and shift) of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
