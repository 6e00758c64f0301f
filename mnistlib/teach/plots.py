"""Matplotlib figures for the notebooks: curves from histories, mistakes and confusions of a model."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.ticker import MaxNLocator

from ..core.augment import random_rotate_and_shift
from ..core.data import MNIST, Split
from ..core.errors import printable
from ..core.recipes import DEFAULT_RECIPE, RECIPES, Recipe
from ..core.runs import History
from .analysis import predicted_digits


def whole_epochs(ax, epochs: int) -> None:
    """Epoch axes count whole epochs: ticks on integers, and a one-epoch chart spans epochs 0 to 2."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if epochs == 1:
        ax.set_xlim(0.5, 1.5)
        ax.set_xticks([1])


def plot_history(history: History, title: str | None = None):
    """Train and test loss (left) and accuracy (right) per epoch."""
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 3.5))
    epochs = history.column("epoch")
    for split, style in (("train", "--"), ("test", "-")):
        loss_ax.plot(epochs, history.column(f"{split}_loss"), style, marker=".", label=split)
        acc_ax.plot(epochs, history.column(f"{split}_accuracy"), style, marker=".", label=split)
    loss_ax.set(xlabel="epoch", ylabel="loss", yscale="log", title="loss")
    for ax in (loss_ax, acc_ax):
        whole_epochs(ax, len(epochs))
    acc_ax.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    acc_ax.set_ylim(max(min(history.column("test_accuracy") + history.column("train_accuracy")) - 0.5, 80), 100)
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title or f"{history.recipe}: {history.model}, {history.params:,} parameters")
    fig.tight_layout()
    return fig


def plot_comparison(histories: dict[str, History], target: float | None = RECIPES[DEFAULT_RECIPE].target,
                    zoom: float = 97.0):
    """Test accuracy per epoch of several runs, parameter counts in the legend: every run on the left,
    and, if any run ends above ``zoom`` percent, the same zoomed on ``zoom``-100% on the right, where
    the compact networks differ. Raises ``ValueError`` when there is nothing to compare."""
    if not histories:
        raise ValueError("no runs to compare")
    finals = [h.final_accuracy for h in histories.values()]
    panels = 2 if max(finals) >= zoom and min(finals) < zoom else 1
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels + 2, 4), squeeze=False)
    lowest = min(min(h.column("test_accuracy")) for h in histories.values())
    every_run = (10 * (lowest // 10), 100)
    if panels == 2:
        limits = [every_run, (zoom, 100)]
    else:
        limits = [(max(lowest - 0.3, zoom), 100) if min(finals) >= zoom else every_run]
    for ax, ylim in zip(axes[0], limits, strict=True):
        for label, history in histories.items():
            marker = "o" if len(history.epochs) == 1 else "."
            ax.plot(history.column("epoch"), history.column("test_accuracy"), marker=marker,
                    label=f"{label}: {history.params:,} params, final {history.final_accuracy:.2f}%")
        if target is not None:
            ax.axhline(target, color="grey", linestyle=":", label=f"target {target}%")
        ax.set(xlabel="epoch", ylabel="test accuracy (%)", ylim=ylim)
        whole_epochs(ax, max(len(h.epochs) for h in histories.values()))
        ax.grid(alpha=0.3)
    if panels == 2:
        axes[0, 0].set_title("every run")
        axes[0, 1].set_title(f"zoomed on {zoom:g}-100%")
    axes[0, -1].legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1), frameon=False)
    fig.tight_layout()
    return fig


def plot_augmentation(data: MNIST, recipe: Recipe, count: int = 8, seed: int = 0):
    """The first training digits (top) and each overlaid with itself as the recipe's augmentation moves
    it (bottom): red where only the stored digit has ink, cyan where only the moved one does."""
    torch.manual_seed(seed)
    images = data.train.images[:count]
    moved = random_rotate_and_shift(images, recipe.rotation, recipe.shift, data.background)
    fig, axes = plt.subplots(2, count, figsize=(count * 1.1, 2.8))
    for ax, image, shifted in zip(axes.T, images, moved, strict=True):
        stored, seen = ((x[0].cpu() * data.std + data.mean).clamp(0, 1).numpy() for x in (image, shifted))
        ax[0].imshow(stored, cmap="gray_r", vmin=0, vmax=1)
        ax[1].imshow(np.stack([stored, seen, seen], axis=-1))
        for a in ax:
            a.axis("off")
    fig.suptitle(f"training digits; below, each as one batch sees it, rotated up to ±{recipe.rotation:g}° and "
                 f"shifted up to {recipe.shift:g} px\n(red: only the stored digit, cyan: only the moved one, "
                 "white: both)", fontsize=9)
    fig.tight_layout()
    return fig


def plot_mistakes(model: torch.nn.Module, split: Split, mean: float, std: float, count: int = 24):
    """A grid of misclassified test digits titled 'predicted / true'."""
    predicted = predicted_digits(model, split)
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
    dark = off_diagonal.max().item() / 2  # above this a cell is dark red: white numbers on it
    for true in range(10):
        for pred in range(10):
            if matrix[true, pred] and true != pred:
                ax.text(pred, true, int(matrix[true, pred]), ha="center", va="center", fontsize=8,
                        color="white" if matrix[true, pred] > dark else "black")
    ax.set(xlabel="predicted", ylabel="true", xticks=range(10), yticks=range(10),
           title="confusions (diagonal omitted)")
    fig.colorbar(image, ax=ax, shrink=0.8)
    fig.tight_layout()
    return fig


def plot_accuracy_vs_params(points: dict[str, tuple[int, list[float]]],
                            target: float | None = RECIPES[DEFAULT_RECIPE].target,
                            floor: float = 99.0, max_params: int = 100_000):
    """Final test accuracy against parameter count, one point per recipe, named in the legend.

    ``points`` maps a recipe to (parameters, final accuracies); with several seeds the point is their
    mean and the bar spans lowest to highest. Recipes of (about) the same size are spread a little
    sideways so that none hides another. The axes zoom on the compact recipes: a recipe with more
    than ``max_params`` parameters or below ``floor`` is named in a note under the chart instead.
    Raises ``ValueError`` when no recipe would be drawn.
    """
    fig, ax = plt.subplots(figsize=(10.5, 4.5))
    shown, left_out = [], []
    for name, (params, finals) in points.items():
        mean = sum(finals) / len(finals)
        (shown if params <= max_params and mean >= floor else left_out).append((name, params, finals, mean))
    if not shown:
        raise ValueError(f"no recipe with at most {max_params:,} parameters and {floor}% or more to draw")
    shown.sort(key=lambda p: (p[1], p[3]))
    groups = []  # runs of recipes within 3% of each other in size
    for point in shown:
        if groups and point[1] / groups[-1][0][1] < 1.03:
            groups[-1].append(point)
        else:
            groups.append([point])
    entries = []  # (accuracy, handle, label): the legend lists the recipes from the most accurate down
    for group in groups:
        for i, (name, params, finals, mean) in enumerate(group):
            x = params * 1.04 ** (i - (len(group) - 1) / 2)
            handle = ax.errorbar(x, mean, yerr=[[mean - min(finals)], [max(finals) - mean]], capsize=4, marker="o",
                                 linestyle="none", markersize=6)
            seeds = f", {len(finals)} seeds" if len(finals) > 1 else ""
            entries.append((mean, handle, f"{name} {mean:.2f}%{seeds} ({params:,} parameters)"))
    if entries:
        entries.sort(key=lambda e: -e[0])
        ax.legend([e[1] for e in entries], [e[2] for e in entries], loc="upper left", bbox_to_anchor=(1.01, 1),
                  fontsize=8, frameon=False)
    if target is not None:
        ax.axhline(target, color="grey", linestyle=":")
        ax.annotate(f"target {target}%", (0.99, target), xycoords=("axes fraction", "data"), xytext=(0, -10),
                    textcoords="offset points", ha="right", fontsize=8, color="grey")
    ax.set(xscale="log", xlabel="parameters (log scale)", ylabel="final test accuracy (%)", ylim=(floor, 100),
           xlim=(3_000, 30_000), title="accuracy against size")
    ticks = [4_000, 5_000, 8_000, 12_000, 20_000]
    ax.set_xticks(ticks, [f"{t // 1000}k" for t in ticks])
    ax.set_xticks([], minor=True)
    ax.grid(alpha=0.3)
    if left_out:
        note = "; ".join(f"{name}: {params:,} parameters, {mean:.2f}%" for name, params, _, mean in left_out)
        fig.text(0.01, 0.01, f"off the chart: {note}", fontsize=8, color="dimgrey")
    fig.tight_layout(rect=(0, 0.04 if left_out else 0, 1, 1))
    return fig


def plot_images(images: list, titles: list[str], columns: int = 8):
    """A row (or rows) of images, each with its title: PIL images as they are, arrays and tensors
    (H, W) in grey on a 0..1 scale."""
    rows = max(1, -(-len(images) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(1.4 * columns, 1.6 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, title in zip(axes.flat, images, titles, strict=False):
        if hasattr(image, "convert"):
            ax.imshow(image.convert("RGBA"))
        else:
            ax.imshow(image, cmap="gray", vmin=0, vmax=1)
        ax.set_title(title, fontsize=8)
    fig.tight_layout()
    return fig


def plot_predictions(predictions: dict, columns: int = 4, most: int = 48):
    """Each image beside the 28x28 digit the model saw, titled with the prediction and its probability.

    ``predictions`` maps a name (a path, say; shown by its last part, ``errors.printable``, its first 18
    characters) to (``digits.preprocess.Stages``, probabilities (10,)); the first ``most`` are drawn, ``columns``
    pairs to a row.
    """
    shown = list(predictions.items())[:most]
    rows = max(1, -(-len(shown) // columns))
    fig, axes = plt.subplots(rows, 2 * columns, figsize=(2.2 * columns, 1.3 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, (name, (stages, probabilities)) in enumerate(shown):
        photo, seen = axes[i // columns, 2 * (i % columns)], axes[i // columns, 2 * (i % columns) + 1]
        photo.imshow(stages.image.convert("RGBA"))
        photo.set_title(printable(str(name).rsplit("/", 1)[-1])[:18], fontsize=7)
        seen.imshow(stages.centred, cmap="gray", vmin=0, vmax=1)
        seen.set_title(f"{int(probabilities.argmax())} ({float(probabilities.max()):.0%})", fontsize=9)
    if len(predictions) > len(shown):
        fig.suptitle(f"the first {len(shown)} of {len(predictions)} images", fontsize=9)
    fig.tight_layout()
    return fig


def plot_stages(stages: list, predictions: list | None = None):
    """One row per image: the image, its ink (inverted if the paper was light), cropped to the ink,
    fitted into 20x20, and centred in 28x28 (``digits.preprocess.preprocess_stages``), with the prediction above
    the last when ``predictions`` (probabilities (10,) per image) are given."""
    titles = ["image", "ink", "cropped", "20x20", "28x28, centred"]
    fig, axes = plt.subplots(len(stages), 5, figsize=(9, 1.9 * len(stages)), squeeze=False)
    for row, s in enumerate(stages):
        pictures = [s.image.convert("RGBA"), s.ink, s.cropped, s.boxed, s.centred]
        for col, (ax, picture) in enumerate(zip(axes[row], pictures, strict=True)):
            ax.imshow(picture, cmap="gray", vmin=0, vmax=1) if col else ax.imshow(picture)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(titles[col], fontsize=9)
        axes[row, 1].set_xlabel(s.ink_from, fontsize=8)
        if predictions is not None:
            p = predictions[row]
            axes[row, 4].set_xlabel(f"model: {int(p.argmax())} ({float(p.max()):.0%})", fontsize=9)
    fig.tight_layout()
    return fig
