"""Matplotlib figures for the notebooks: curves from histories, mistakes and confusions of a model."""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from .analysis import predict
from .data import MNIST, Split, random_rotation
from .recipes import DEFAULT_RECIPE, RECIPES, Recipe
from .records import History


def plot_history(history: History, title: str | None = None):
    """Train and test loss (left) and accuracy (right) per epoch."""
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 3.5))
    epochs = history.column("epoch")
    for split, style in (("train", "--"), ("test", "-")):
        loss_ax.plot(epochs, history.column(f"{split}_loss"), style, marker=".", label=split)
        acc_ax.plot(epochs, history.column(f"{split}_accuracy"), style, marker=".", label=split)
    loss_ax.set(xlabel="epoch", ylabel="loss", yscale="log", title="loss")
    acc_ax.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    acc_ax.set_ylim(max(min(history.column("test_accuracy") + history.column("train_accuracy")) - 0.5, 80), 100)
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title or f"{history.recipe}: {history.model}, {history.params:,} parameters")
    fig.tight_layout()
    return fig


def plot_comparison(histories: dict[str, History], target: float | None = RECIPES[DEFAULT_RECIPE].target):
    """Test accuracy per epoch of several runs, parameter counts in the legend."""
    fig, ax = plt.subplots(figsize=(8, 4))
    for label, history in histories.items():
        marker = "o" if len(history.epochs) == 1 else "."
        ax.plot(history.column("epoch"), history.column("test_accuracy"), marker=marker,
                label=f"{label}: {history.params:,} params, final {history.final_accuracy:.2f}%")
    if target is not None:
        ax.axhline(target, color="grey", linestyle=":", label=f"target {target}%")
    # Zoomed on the last percent or two, where the steps differ; a run far below is still in the legend.
    lowest = min(min(h.column("test_accuracy")) for h in histories.values())
    ax.set(xlabel="epoch", ylabel="test accuracy (%)", ylim=(max(lowest - 0.3, 97), 100))
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def plot_augmentation(data: MNIST, recipe: Recipe, count: int = 8, seed: int = 0):
    """The first training digits (top) and the same digits as the recipe's augmentation moves them."""
    torch.manual_seed(seed)
    images = data.train.images[:count]
    moved = random_rotation(images, recipe.rotation, data.background, recipe.shift)
    fig, axes = plt.subplots(2, count, figsize=(count * 1.1, 2.6))
    for row, batch in enumerate((images, moved)):
        for ax, image in zip(axes[row], batch, strict=True):
            ax.imshow((image[0].cpu() * data.std + data.mean).numpy(), cmap="gray_r", vmin=0, vmax=1)
            ax.axis("off")
    fig.suptitle(f"training digits; below, rotated up to ±{recipe.rotation:g}° and shifted up to {recipe.shift:g} px")
    fig.tight_layout()
    return fig


def plot_mistakes(model: torch.nn.Module, split: Split, mean: float, std: float, count: int = 24):
    """A grid of misclassified test digits titled 'predicted / true'."""
    predicted = predict(model, split)
    wrong = (predicted != split.labels).nonzero().flatten()[:count].cpu()
    cols = 8
    rows = max(1, -(-len(wrong) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.2, rows * 1.4), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, index in zip(axes.flat, wrong.tolist(), strict=False):
        ax.imshow((split.images[index, 0].cpu() * std + mean).numpy(), cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(f"{predicted[index].item()} / {split.labels[index].item()}", fontsize=9)
    fig.suptitle(f"{int((predicted != split.labels).sum())} misclassified test digits (predicted / true)")
    fig.tight_layout()
    return fig


def plot_confusion(matrix: torch.Tensor):
    """The confusion matrix with the diagonal left out, so the mistakes are what stands out."""
    off_diagonal = matrix.clone().fill_diagonal_(0)
    fig, ax = plt.subplots(figsize=(5, 4.5))
    image = ax.imshow(off_diagonal.numpy(), cmap="Reds")
    for true in range(10):
        for pred in range(10):
            if matrix[true, pred] and true != pred:
                ax.text(pred, true, int(matrix[true, pred]), ha="center", va="center", fontsize=8)
    ax.set(xlabel="predicted", ylabel="true", xticks=range(10), yticks=range(10),
           title="confusions (diagonal omitted)")
    fig.colorbar(image, ax=ax, shrink=0.8)
    fig.tight_layout()
    return fig


def plot_accuracy_vs_params(points: dict[str, tuple[int, list[float]]],
                            target: float | None = RECIPES[DEFAULT_RECIPE].target,
                            floor: float = 97.0):
    """Final test accuracy against parameter count (log scale), one point per recipe.

    ``points`` maps a recipe to (parameters, final accuracies); with several seeds the point is their
    mean and the bar spans min to max. A recipe below ``floor`` is drawn on the floor as a down arrow.
    """
    fig, ax = plt.subplots(figsize=(9, 4.5))
    markers = "osD^PX*hv<>"
    for index, (name, (params, finals)) in enumerate(points.items()):
        mean = sum(finals) / len(finals)
        label = f"{name}: {mean:.2f}%" + (f" (mean of {len(finals)} seeds)" if len(finals) > 1 else "")
        if mean < floor:
            ax.plot(params, floor + 0.05, marker="v", markersize=9, linestyle="none", label=label)
            continue
        ax.errorbar(params, mean, yerr=[[mean - min(finals)], [max(finals) - mean]], capsize=4, linestyle="none",
                    marker=markers[index % len(markers)], markersize=7, alpha=0.85, label=label)
    if target is not None:
        ax.axhline(target, color="grey", linestyle=":", label=f"target {target}%")
    ax.set(xscale="log", xlabel="parameters (log scale)", ylabel="final test accuracy (%)", ylim=(floor, 100),
           title="accuracy against size")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    return fig
