import torch
from torch import nn

from mnistlib import analysis, plots
from mnistlib.data import Split
from mnistlib.recipes import get_recipe
from mnistlib.training import History


class FixedLogits(nn.Module):
    """Returns the same scores for every image."""

    def __init__(self, scores):
        super().__init__()
        self.scores = torch.tensor(scores, dtype=torch.float32)

    def forward(self, x):
        return self.scores.expand(len(x), -1)


def tiny_split(labels):
    return Split(torch.zeros(len(labels), 1, 28, 28), torch.tensor(labels))


def test_clamped_logits_counts_zero_scores():
    split = tiny_split([0, 3, 5, 9])
    stats = analysis.clamped_logits(FixedLogits([0.0] * 5 + [1.0] * 5), split)
    assert stats == {"zero_logits": 0.5, "true_class_zero": 0.5, "all_zero": 0.0}
    assert analysis.clamped_logits(FixedLogits([0.0] * 10), split)["all_zero"] == 1.0


def test_confusion_matrix_rows_are_true_digits():
    split = tiny_split([3, 3, 7])
    matrix = analysis.confusion_matrix(FixedLogits([0.0] * 7 + [1.0, 0.0, 0.0]), split)
    assert matrix.sum() == 3 and matrix[3, 7] == 2 and matrix[7, 7] == 1


def history(accuracies):
    h = History("step4_final", "final", 12_400, 0, "cpu")
    for epoch, acc in enumerate(accuracies, 1):
        h.epochs.append({"epoch": epoch, "train_loss": 1 / epoch, "train_accuracy": acc - 0.1,
                         "test_loss": 1.1 / epoch, "test_accuracy": acc, "lr": 0.01, "seconds": 1.0})
    return h


def test_history_summaries():
    h = history([98.0, 99.5, 99.4])
    assert h.final_accuracy == 99.4 and h.best_epoch["epoch"] == 2 and h.total_seconds == 3.0


def test_plots_draw_without_a_screen(quick_data):
    assert len(plots.plot_history(history([98.0, 99.0])).axes) == 2
    assert len(plots.plot_comparison({"a": history([98.0]), "b": history([97.0, 99.0])}).axes) == 1
    assert len(plots.plot_augmentation(quick_data, get_recipe("step3_augment"), count=4).axes) == 8
    model = FixedLogits([1.0] + [0.0] * 9)
    assert plots.plot_mistakes(model, quick_data.test, quick_data.mean, quick_data.std, count=8).axes
    assert plots.plot_confusion(analysis.confusion_matrix(model, quick_data.test)).axes
