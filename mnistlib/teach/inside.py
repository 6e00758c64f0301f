"""A look inside a network: its first-layer filters, the feature maps of one digit, and the statistics of
every layer's activations during the first training steps (fastai's ``ActivationStats``, fastbook chapter 13).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import matplotlib.pyplot as plt
import torch
from torch import nn

from ..core.augment import augmentation
from ..core.data import MNIST
from ..core.models import build_model
from ..core.recipes import Recipe
from ..core.step import make_optimizer, train_epoch


def relu_outputs(model: nn.Module) -> list[tuple[str, nn.ReLU]]:
    """(name, module) of every ReLU of ``model`` in forward order, named "conv1", "conv2", ... after the conv
    before it (in these networks every conv but the last is followed by a ReLU)."""
    return [(f"conv{i}", m) for i, m in enumerate((m for m in model.modules() if isinstance(m, nn.ReLU)), 1)]


@torch.inference_mode()
def feature_maps(model: nn.Module, image: torch.Tensor) -> dict[str, torch.Tensor]:
    """What each ReLU of ``model`` puts out for one normalized ``image`` (1, 28, 28), in evaluation mode:
    name -> float32 (channels, H, W) on the CPU, in forward order (``relu_outputs``' names)."""
    maps, hooks = {}, []
    for name, relu in relu_outputs(model):
        hooks.append(relu.register_forward_hook(lambda m, i, out, name=name: maps.__setitem__(name, out[0].cpu())))
    was_training = model.training
    model.eval()
    try:
        model(image[None].to(next(model.parameters()).device))
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    return maps


@dataclass
class ActivationStats:
    """Per training step (rows) and ReLU (columns, ``layers``): the mean, the standard deviation and the
    share of exact zeros (0..1) of that ReLU's output over the batch, float32 (steps, layers) each."""

    layers: list[str]
    mean: torch.Tensor
    std: torch.Tensor
    zeros: torch.Tensor


def activation_stats(recipe: Recipe, data: MNIST, steps: int = 50, seed: int = 0) -> ActivationStats:
    """Train a fresh network of ``recipe`` for its first ``steps`` steps (at most one epoch of ``data.train``),
    as the run would (its batches, augmentation, learning rates; eager, torch's own layers) from ``seed``,
    recording every ReLU's output statistics at each step. Seeds torch's global generator, as ``train`` does.
    Raises ``ValueError`` when ``steps`` < 1."""
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    torch.manual_seed(seed)
    model = build_model(recipe.model).to(data.train.labels.device)
    named = relu_outputs(model)
    rows: list[list[tuple[float, float, float]]] = []

    def record(module, inputs, out):
        if len(rows[-1]) == len(named):
            rows.append([])
        rows[-1].append((out.mean().item(), out.std().item(), (out == 0).float().mean().item()))

    hooks = [relu.register_forward_hook(record) for _, relu in named]
    try:
        total = recipe.epochs * -(-len(data.train) // recipe.batch_size)
        batches = itertools.islice(data.train.batches(recipe.batch_size, shuffle=True), steps)
        rows.append([])
        train_epoch(model, make_optimizer(model, recipe), batches, recipe.lr_schedule(total)[:steps],
                    augmentation(recipe, data), recipe.label_smoothing)
    finally:
        for hook in hooks:
            hook.remove()
    table = torch.tensor([r for r in rows if len(r) == len(named)])
    return ActivationStats([name for name, _ in named], table[..., 0], table[..., 1], table[..., 2])


def plot_filters(conv: nn.Conv2d):
    """The kernels of a conv with one input channel (the first layer's): one grey square per filter, white
    for positive weights, black for negative, on a scale symmetric about 0 shared by all."""
    weights = conv.weight.detach().cpu()[:, 0]
    limit = float(weights.abs().max())
    fig, axes = plt.subplots(1, len(weights), figsize=(1.1 * len(weights), 1.4), squeeze=False)
    for i, (ax, kernel) in enumerate(zip(axes[0], weights, strict=True)):
        ax.imshow(kernel, cmap="gray", vmin=-limit, vmax=limit)
        ax.set_title(f"filter {i + 1}", fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    return fig


def plot_feature_maps(image: torch.Tensor, maps: dict[str, torch.Tensor], most: int = 8):
    """The digit (left) and, one row per layer of ``maps`` (``feature_maps``), its first ``most`` channels,
    each on its own grey scale (black 0), titled with the layer and its map size."""
    fig, axes = plt.subplots(len(maps), most + 1, figsize=(1.1 * (most + 1), 1.2 * len(maps)), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    axes[0, 0].imshow(image[0].cpu(), cmap="gray")
    axes[0, 0].set_title("input", fontsize=8)
    for row, (name, channels) in enumerate(maps.items()):
        for col, channel in enumerate(channels[:most], 1):
            axes[row, col].imshow(channel, cmap="gray", vmin=0)
        axes[row, 1].set_title(f"{name}: {channels.shape[0]} maps of {channels.shape[1]}x{channels.shape[2]}",
                               fontsize=8, loc="left")
    fig.tight_layout()
    return fig


def plot_activation_stats(runs: dict[str, ActivationStats]):
    """For each run (a row), the standard deviation and the share of zeros of every layer's activations
    per training step (columns), on axes shared down each column; one line per layer, all listed."""
    fig, axes = plt.subplots(len(runs), 2, figsize=(10, 3 * len(runs)), sharex=True, sharey="col", squeeze=False)
    for (label, stats), (std_ax, zero_ax) in zip(runs.items(), axes, strict=True):
        steps = range(1, len(stats.std) + 1)
        for j, layer in enumerate(stats.layers):
            std_ax.plot(steps, stats.std[:, j], label=layer)
            zero_ax.plot(steps, 100 * stats.zeros[:, j], label=layer)
        std_ax.set(ylabel="standard deviation", yscale="log", title=f"{label}: spread of the activations")
        zero_ax.set(ylabel="activations at 0 (%)", ylim=(0, 100), title=f"{label}: activations the ReLU zeroed")
    for ax in axes[-1]:
        ax.set_xlabel("training step")
    for ax in axes.flat:
        ax.grid(alpha=0.3)
    axes[0, 1].legend(fontsize="small", ncol=2)
    fig.tight_layout()
    return fig
