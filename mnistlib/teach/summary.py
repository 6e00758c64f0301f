"""Model summary: torchinfo's layer table plus the receptive field after every conv and pool."""

from __future__ import annotations

import re

import torch
from torch import nn
from torchinfo import summary as torchinfo_summary

from ..core.models import build_model


def _pair(value) -> int:
    return value[0] if isinstance(value, tuple) else value


def receptive_fields(model: nn.Module) -> list[tuple[str, str, tuple[int, ...], int]]:
    """(layer name, layer type, output shape, receptive field in input pixels) per conv, pool and
    space-to-depth (``nn.PixelUnshuffle``).

    Follows the layers in the order a forward pass runs them: each k x k window with stride s
    grows the field by (k - 1) * jump, where jump is the product of the strides before it.
    """
    rows, state = [], {"rf": 1, "jump": 1}
    names = {module: name for name, module in model.named_modules()}

    def hook(module, inputs, output):
        if isinstance(module, nn.AdaptiveAvgPool2d):  # global average pooling: one window over the whole map
            kernel = stride = inputs[0].shape[-1]
        elif isinstance(module, nn.PixelUnshuffle):  # space-to-depth: each r x r patch, side by side
            kernel = stride = module.downscale_factor
        else:
            kernel, stride = _pair(module.kernel_size), _pair(module.stride)
        state["rf"] += (kernel - 1) * state["jump"]
        state["jump"] *= stride
        rows.append((names[module], type(module).__name__, tuple(output.shape[1:]), state["rf"]))

    layers = [m for m in model.modules()
              if isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.AdaptiveAvgPool2d, nn.PixelUnshuffle))]
    handles = [m.register_forward_hook(hook) for m in layers]
    try:
        model.eval()
        with torch.inference_mode():
            model(torch.zeros(1, 1, 28, 28))
    finally:
        for handle in handles:
            handle.remove()
    return rows


# torchinfo 1.8 on Python >= 3.11 prints its unit enum ("Total mult-adds (Units.MEGABYTES)"); show the prefix.
_UNIT_PREFIX = {"NONE": "", "KILOBYTES": "k", "MEGABYTES": "M", "GIGABYTES": "G", "TERABYTES": "T"}


def _readable_units(text: str) -> str:
    return re.sub(r"Units\.([A-Z]+)", lambda m: _UNIT_PREFIX.get(m.group(1), m.group(1)), text)


def summary(model_name: str) -> str:
    """The text of ``python -m mnistlib summary``; always on the CPU, deterministic."""
    model = build_model(model_name)
    table = torchinfo_summary(
        model, input_size=(1, 1, 28, 28), device="cpu", verbose=0,
        col_names=("output_size", "num_params"), row_settings=("var_names",),
    )
    rows = receptive_fields(model)
    width = max([10] + [len(kind) + 1 for _, kind, _, _ in rows])
    lines = [_readable_units(str(table)), "", f"{'layer':<12} {'type':<{width}} {'output':<14} receptive field"]
    for name, kind, shape, rf in rows:
        lines.append(f"{name:<12} {kind:<{width}} {'x'.join(map(str, shape)):<14} {rf}x{rf}")
    return "\n".join(lines)


def parameters_by_block(model_name: str) -> dict[str, int]:
    """Trainable parameters of each top-level block of a model, in forward order."""
    model = build_model(model_name)
    return {name: sum(p.numel() for p in block.parameters() if p.requires_grad)
            for name, block in model.named_children()}
