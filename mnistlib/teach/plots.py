"""Matplotlib figures for the notebooks: curves from histories, mistakes and confusions of a model."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.ticker import FormatStrFormatter, MaxNLocator, NullFormatter

from ..core.augment import random_rotate_and_shift
from ..core.data import MNIST, Split
from ..core.errors import printable
from ..core.recipes import RECIPES, Recipe
from ..core.runs import History
from ..evidence.records import SeedSummary
from .analysis import predicted_digits


def whole_epochs(ax, epochs: int) -> None:
    """Epoch axes count whole epochs: ticks on integers, and a one-epoch chart spans epochs 0 to 2."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if epochs == 1:
        ax.set_xlim(0.5, 1.5)
        ax.set_xticks([1])


# Accuracy axes are stretched towards 100%: equal heights for 90 -> 99 -> 99.9%, each a tenth of the error
# before (the error rate on a log scale), so a first epoch at chance and a last one at 99.6% are both on
# the chart and the differences near the top stay visible.
ACCURACY_TICKS = [10, 30, 50, 70, 80, 90, 95, 97, 98, 99, 99.5, 99.8, 99.9]
_TOP = 99.97  # the axis ends here: 100% would lie infinitely high ...
_CAP = 99.95  # ... so an accuracy above this one (100% only, at two decimals) is drawn at it, inside the axis


def _stretch(accuracy):
    return -np.log10(100 - np.minimum(accuracy, _CAP))


def _unstretch(height):
    return 100 - 10 ** -np.asarray(height)


def accuracy_axis(ax, values: list[float], label: str = "accuracy (%)") -> None:
    """Give ``ax`` the stretched accuracy scale, from just below the lowest of ``values`` (percent) to 99.97%
    (a value of 100% is drawn at 99.95%), with ticks labelled in percent."""
    lowest = min(values)
    bottom = max(0.0, 100 - (100 - lowest) * 1.25)
    ax.set_yscale("function", functions=(_stretch, _unstretch))
    ax.set_ylim(bottom, _TOP)
    ax.set_yticks([t for t in ACCURACY_TICKS if t >= bottom], [f"{t:g}" for t in ACCURACY_TICKS if t >= bottom])
    ax.set_yticks([], minor=True)
    ax.set_ylabel(f"{label}, stretched near 100")


def plot_history(history: History, title: str | None = None):
    """Train and test loss (left, log scale) and accuracy (right, stretched towards 100%: ``accuracy_axis``)
    per epoch; every epoch's point is on the chart."""
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 3.5))
    epochs = history.column("epoch")
    for split, style in (("train", "--"), ("test", "-")):
        loss_ax.plot(epochs, history.column(f"{split}_loss"), style, marker=".", label=split)
        acc_ax.plot(epochs, history.column(f"{split}_accuracy"), style, marker=".", label=split)
    loss_ax.set(xlabel="epoch", ylabel="loss (log scale)", yscale="log", title="loss")
    loss_ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    loss_ax.yaxis.set_minor_formatter(NullFormatter())
    accuracy_axis(acc_ax, history.column("test_accuracy") + history.column("train_accuracy"))
    acc_ax.set(xlabel="epoch", title="accuracy")
    for ax in (loss_ax, acc_ax):
        whole_epochs(ax, len(epochs))
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title or f"{history.recipe}: {history.model}, {history.params:,} parameters")
    fig.tight_layout()
    return fig


def plot_comparison(histories: dict[str, History], target: float | None = None, title: str | None = None):
    """Test accuracy per epoch of several runs on one stretched accuracy axis (``accuracy_axis``): every
    epoch of every run is on the chart, and the legend lists exactly the lines drawn, each with its
    parameters and final accuracy (and the target line, when ``target`` is given). Raises
    ``ValueError`` when there is nothing to compare."""
    if not histories:
        raise ValueError("no runs to compare")
    fig, ax = plt.subplots(figsize=(8, 4.5 + 0.25 * len(histories)))
    for label, history in histories.items():
        marker = "o" if len(history.epochs) == 1 else "."
        ax.plot(history.column("epoch"), history.column("test_accuracy"), marker=marker,
                label=f"{label}: {history.params:,} params, final {history.final_accuracy:.2f}%")
    if target is not None:
        ax.axhline(target, color="grey", linestyle=":", label=f"target {target:g}%")
    accuracy_axis(ax, [a for h in histories.values() for a in h.column("test_accuracy")], "test accuracy (%)")
    ax.set(xlabel="epoch", title=title)
    whole_epochs(ax, max(len(h.epochs) for h in histories.values()))
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.15), frameon=False)
    fig.tight_layout()
    return fig


def plot_accuracies(accuracies: dict[str, float], chance: float | None = None,
                    xlabel: str = "final test accuracy (%)", decimals: int = 2):
    """One horizontal bar per label with its accuracy (percent) written beside it, the first on top, and the
    chance level (the share of the most frequent digit, percent) as a dashed line when given: for runs of
    one epoch, where a curve would be a single point, or for one model on several inputs; each value is
    written with ``decimals`` decimals. Raises
    ``ValueError`` when there is nothing to draw."""
    if not accuracies:
        raise ValueError("nothing to draw")
    fig, ax = plt.subplots(figsize=(9, 0.8 + 0.6 * len(accuracies)))
    labels = list(accuracies)[::-1]
    values = [accuracies[label] for label in labels]
    ax.barh(labels, values, color=[f"C{len(labels) - 1 - i}" for i in range(len(labels))])
    for y, value in enumerate(values):
        ax.text(value + 1, y, f"{value:.{decimals}f}%", va="center", fontsize=9)
    if chance is not None:
        ax.axvline(chance, color="grey", linestyle="--")
        ax.text(chance + 1, len(labels) - 0.45, f"chance: {chance:.2f}%", color="grey", fontsize=8)
    ax.set(xlim=(0, 100), xlabel=xlabel)
    ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return fig


def plot_seed_spread(summaries: dict[str, SeedSummary], zoom: float = 99.3):
    """Test accuracy after the first epoch and after the last (both on a stretched accuracy axis, every run
    on the chart) of several recipes, one dot per seed run (``records.SeedSummary``), the seeds of a recipe
    side by side in seed order, and a black bar at their mean; a recipe with one run is drawn as a hollow
    dot. When a final accuracy lies below ``zoom`` percent, a third panel shows the finals from ``zoom`` up,
    naming the runs below it. Raises ``ValueError`` when there is nothing to draw."""
    if not summaries:
        raise ValueError("no runs to draw")
    panels = [("first_epoch", "after epoch 1"), ("finals", "after the last epoch")]
    below = [f"{label.split(' (')[0]}, seed {seed}: {acc:.2f}%" for label, summary in summaries.items()
             for seed, acc in sorted(summary.finals.items()) if acc < zoom]
    if below:
        panels.append(("zoom", f"after the last epoch, from {zoom:g}%"))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4))
    for ax, (key, title) in zip(axes, panels, strict=True):
        values = []
        for x, summary in enumerate(summaries.values()):
            by_seed = [acc for _, acc in sorted(getattr(summary, "finals" if key == "zoom" else key).items())]
            offsets = np.linspace(-0.2, 0.2, len(by_seed)) if len(by_seed) > 1 else np.zeros(1)
            shown = [(o, acc) for o, acc in zip(offsets, by_seed, strict=True) if key != "zoom" or acc >= zoom]
            colour = f"C{x}"
            ax.plot([x + o for o, _ in shown], [acc for _, acc in shown], "o", color=colour, markersize=6,
                    markerfacecolor=colour if len(by_seed) > 1 else "none")
            if len(by_seed) > 1 and (key != "zoom" or np.mean(by_seed) >= zoom):
                ax.hlines(np.mean(by_seed), x - 0.3, x + 0.3, color="black", linewidth=2)
            values += [acc for _, acc in shown]
        ax.set_xticks(range(len(summaries)), list(summaries), fontsize=8)
        ax.set_xlim(-0.6, len(summaries) - 0.4)
        ax.set_title(title)
        ax.grid(alpha=0.3, axis="y")
        if key == "zoom" or min(values) >= zoom:
            spread = max(values) - min(values)
            ax.set_ylim(min(values) - max(0.1, spread * 0.2), max(values) + max(0.1, spread * 0.2))
            ax.set_ylabel("test accuracy (%)")
        else:
            accuracy_axis(ax, values, "test accuracy (%)")
    single = any(len(summary.finals) == 1 for summary in summaries.values())
    notes = ["dots: one run each, seeds side by side in seed order; black bar: their mean"
             + ("; hollow dot: a single run" if single else "")]
    if below:
        notes.append(f"below {zoom:g}%, so only in the middle panel: " + "; ".join(below))
    fig.text(0.01, 0.01, "\n".join(notes), fontsize=8, color="dimgrey")
    fig.tight_layout(rect=(0, 0.03 * (len(notes) + 1), 1, 1))
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


def plot_mistakes(model: torch.nn.Module, split: Split, mean: float, std: float, count: int = 48):
    """A grid of the first ``count`` misclassified test digits titled 'predicted / true'; the title says how
    many of how many it shows."""
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
    total = int((predicted != split.labels).sum())
    shown = f"all {total}" if len(wrong) == total else f"the first {len(wrong)} of {total}"
    fig.suptitle(f"{shown} misclassified test digits (predicted / true)")
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


def plot_accuracy_vs_params(points: dict[str, tuple[int, list[float]]], floor: float = 99.0,
                            max_params: int = 100_000, anchors=()):
    """Final test accuracy against parameter count, one point per recipe, named in the legend, and the
    published results of ``anchors`` (``evidence.public.PublicResult`` with ``params``) as black stars, their
    conditions in the legend after the recipes.

    ``points`` maps a recipe to (parameters, final accuracies). With several runs (seed records) the point
    is their mean, filled, with a bar from the lowest to the highest; a single run is a hollow square.
    A recipe that claims an accuracy (``Recipe.max_params`` set) has its claim drawn as a dashed line of
    its colour across its point. Recipes within 3% of each other in size are drawn a little apart
    sideways (the note under the chart says so), so that none hides another. The axes zoom on the compact
    recipes: one with more than ``max_params`` parameters or below ``floor`` is named in the note instead.
    Raises ``ValueError`` when no recipe would be drawn.
    """
    fig, ax = plt.subplots(figsize=(13, 5))
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
    nudged = any(len(group) > 1 for group in groups)
    entries = []  # (accuracy, handle, label): the legend lists the recipes from the most accurate down
    for group in groups:
        for i, (name, params, finals, mean) in enumerate(group):
            x = params * 1.04 ** (i - (len(group) - 1) / 2)
            colour = f"C{len(entries)}"
            many = len(finals) > 1
            handle = ax.errorbar(x, mean, yerr=[[mean - min(finals)], [max(finals) - mean]] if many else None,
                                 capsize=4, marker="o" if many else "s", linestyle="none", markersize=6,
                                 color=colour, markerfacecolor=colour if many else "white")
            runs = f"mean of {len(finals)} seeds" if many else "one run"
            label = f"{name}: {mean:.2f}%, {runs} ({params:,} parameters)"
            recipe = RECIPES.get(name)
            if recipe is not None and recipe.max_params is not None:
                ax.plot([x / 1.12, x * 1.12], [recipe.target] * 2, "--", color=colour, linewidth=1.5)
                label += f"; claims {recipe.target:g}%"
            entries.append((mean, handle, label))
    entries.sort(key=lambda e: -e[0])
    anchors = [anchor for anchor in anchors if anchor.params is not None]  # a result about time has no size
    for anchor in anchors:
        handle = ax.plot(anchor.params, anchor.accuracy, "*", color="black", markersize=11, linestyle="none")[0]
        entries.append((anchor.accuracy, handle, f"published: {anchor.name}, {anchor.accuracy:.2f}%, "
                                                 f"{anchor.params:,} parameters\n  ({anchor.conditions})"))
    ax.legend([e[1] for e in entries], [e[2] for e in entries], loc="upper left", bbox_to_anchor=(1.01, 1),
              fontsize=8, frameon=False)
    sizes = [p[1] for p in shown] + [a.params for a in anchors]
    bottom = min([floor] + [round(a.accuracy - 0.1, 1) for a in anchors])
    ax.set(xscale="log", xlabel="parameters (log scale)", ylabel="final test accuracy (%)", ylim=(bottom, 99.8),
           xlim=(min(min(sizes) / 1.4, 3_000), max(max(sizes) * 1.4, 30_000)), title="accuracy against size")
    low, high = ax.get_xlim()
    ticks = [t for t in (500, 1_000, 2_000, 4_000, 5_000, 8_000, 12_000, 20_000, 40_000, 80_000) if low <= t <= high]
    ax.set_xticks(ticks, [f"{t / 1000:g}k" for t in ticks])
    ax.set_xticks([], minor=True)
    ax.grid(alpha=0.3)
    notes = ["bars: lowest to highest seed; dashed line: the recipe's claim, in its colour"]
    if nudged:
        notes.append("recipes of nearly the same size are drawn a little apart sideways")
    if left_out:
        notes.append("off the chart: " + "; ".join(f"{name}: {params:,} parameters, {mean:.2f}%"
                                                     for name, params, _, mean in left_out))
    fig.text(0.01, 0.01, "\n".join(notes), fontsize=8, color="dimgrey")
    fig.tight_layout(rect=(0, 0.03 * len(notes), 1, 1))
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
    titles = ["image", "ink, paper levelled", "cropped to the ink", "20x20, aspect kept", "centre of mass"]
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


def plot_score_histograms(scores: dict[str, torch.Tensor]):
    """One panel per network: the histogram of all its class scores (logits, float (N, 10)) on a log count
    axis, with the share of scores that are exactly 0 in the panel's title and 0 marked by a dotted line."""
    fig, axes = plt.subplots(1, len(scores), figsize=(5 * len(scores), 3.2), squeeze=False)
    for ax, (label, values) in zip(axes[0], scores.items(), strict=True):
        flat = values.detach().float().flatten().cpu()
        ax.hist(flat.numpy(), bins=80, color="tab:blue")
        ax.axvline(0, color="grey", linestyle=":")
        ax.set(yscale="log", xlabel="class score (logit)", ylabel="scores (log scale)",
               title=f"{label}: {(flat == 0).float().mean().item():.1%} of scores exactly 0")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
