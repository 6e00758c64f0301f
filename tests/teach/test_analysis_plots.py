import pytest
import torch
from torch import nn

from mnistlib.core.data import Split
from mnistlib.core.recipes import get_recipe
from mnistlib.core.runs import History
from mnistlib.teach import analysis, plots


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
    assert h.final_accuracy == 99.4 and h.best_record["epoch"] == 2 and h.total_seconds == 3.0


def test_the_best_epoch_is_chosen_by_test_accuracy_alone():
    """Each other column points at another epoch, so choosing by any of them gives another answer."""
    h = History("step4_final", "final", 12_400, 0, "cpu")
    rows = [  # epoch: train accuracy highest at 1, test accuracy at 2, validation at 3, test loss lowest at 4
        (99.9, 98.0, 97.0, 0.060), (97.0, 99.6, 98.0, 0.050), (98.0, 99.5, 99.9, 0.040),
        (98.5, 99.3, 98.5, 0.010), (98.6, 99.0, 98.6, 0.030)]
    for epoch, (train, test, val, loss) in enumerate(rows, 1):
        h.epochs.append({"epoch": epoch, "train_accuracy": train, "test_accuracy": test, "val_accuracy": val,
                         "test_loss": loss, "seconds": 1.0})
    assert h.best_record["epoch"] == 2 and h.final_accuracy == 99.0


def test_plots_draw_what_they_are_given(quick_data):
    h = history([98.0, 99.0, 99.3])
    loss_ax, acc_ax = plots.plot_history(h).axes
    assert [line.get_label() for line in acc_ax.lines] == ["train", "test"]
    assert list(acc_ax.lines[1].get_ydata()) == [98.0, 99.0, 99.3]
    assert list(loss_ax.lines[0].get_ydata()) == h.column("train_loss")
    (ax,) = plots.plot_comparison({"a": history([98.0]), "b": history([97.0, 99.0])}).axes
    assert [list(line.get_ydata()) for line in ax.lines[:2]] == [[98.0], [97.0, 99.0]]
    assert [t.get_text() for t in ax.get_legend().get_texts()][:2] == ["a: 12,400 params, final 98.00%",
                                                                       "b: 12,400 params, final 99.00%"]
    assert len(ax.get_legend().get_texts()) == len(ax.lines) == 2  # no target line unless asked: only what is drawn
    with pytest.raises(ValueError, match="no runs to compare"):
        plots.plot_comparison({})
    fig = plots.plot_augmentation(quick_data, get_recipe("step3_augment"), count=4)
    top = [ax.images[0].get_array() for ax in fig.axes[:4]]
    overlay = [ax.images[0].get_array() for ax in fig.axes[4:]]  # red: the stored digit, cyan: the moved one
    originals = (quick_data.train.images[:4, 0] * quick_data.std + quick_data.mean).clamp(0, 1).numpy()
    assert all(abs(a - o).max() < 1e-6 for a, o in zip(top, originals, strict=True))
    assert all(abs(o[..., 0] - a).max() < 1e-6 for o, a in zip(overlay, top, strict=True))
    assert all(abs(o[..., 1] - a).max() > 0.5 and (o[..., 1] == o[..., 2]).all() for o, a in zip(overlay, top,
                                                                                                   strict=True))
    model = FixedLogits([1.0] + [0.0] * 9)
    mistakes = plots.plot_mistakes(model, quick_data.test, quick_data.mean, quick_data.std, count=8)
    wrong = int((quick_data.test.labels != 0).sum())
    assert mistakes._suptitle.get_text().startswith(f"the first 8 of {wrong} misclassified")
    assert [ax.get_title() for ax in mistakes.axes[:8]] == [
        f"0 / {label}" for label in quick_data.test.labels[quick_data.test.labels != 0][:8].tolist()]
    confusion = plots.plot_confusion(analysis.confusion_matrix(model, quick_data.test))
    shown = {t.get_text() for t in confusion.axes[0].texts}
    assert shown == {str(int((quick_data.test.labels == d).sum())) for d in range(1, 10)}


def test_accuracy_vs_params_names_each_compact_recipe_and_notes_the_rest():
    fig = plots.plot_accuracy_vs_params({"a": (12_400, [99.6, 99.5, 99.4]), "beyond_5k": (4_758, [99.45]),
                                         "c": (12_352, [99.7]), "relu": (6_379_786, [20.99])})
    ax = fig.axes[0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["c: 99.70%, one run (12,352 parameters)", "a: 99.50%, mean of 3 seeds (12,400 parameters)",
                      "beyond_5k: 99.45%, one run (4,758 parameters); claims 99.3%"]  # the most accurate first
    claims = [line for line in ax.lines if line.get_linestyle() == "--"]
    assert [list(line.get_ydata()) for line in claims] == [[99.3, 99.3]]  # only a claiming recipe has a line
    note = fig.texts[0].get_text()
    assert "relu: 6,379,786 parameters, 20.99%" in note and "a little apart sideways" in note
    assert ax.get_xscale() == "log" and ax.get_ylim()[0] == 99.0
    # a and c, about the same size, are drawn side by side, the smaller on the left; b where it is
    x = {round(line.get_ydata()[0], 2): line.get_xdata()[0] for line in ax.lines if len(line.get_xdata()) == 1}
    assert 12_352 * 0.95 < x[99.7] < 12_352 < 12_400 < x[99.5] < 12_400 * 1.05 and x[99.45] == 4_758


def test_every_point_of_a_curve_is_on_its_chart():
    """An epoch at chance and a last epoch at 99.7% are both inside the accuracy axis, and the legend names
    exactly the lines drawn (the target too when it is given)."""
    runs = {"step 3": history([11.35, 97.0, 99.9]), "step 1": history([30.31])}  # 99.9: a training accuracy seen
    figures = [plots.plot_history(runs["step 3"]), plots.plot_comparison(runs, target=99.4)]
    for fig in figures:
        for ax in fig.axes:
            low, high = ax.get_ylim()
            for line in ax.lines:
                assert all(low < y < high for y in line.get_ydata()), (ax.get_title(), line.get_label())
    (ax,) = figures[1].axes
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [line.get_label() for line in ax.lines]
    assert ax.lines[-1].get_label() == "target 99.4%"


def test_epoch_axes_count_whole_epochs():
    one = plots.plot_history(history([98.0])).axes[0]
    assert list(one.get_xticks()) == [1]
    many = plots.plot_comparison({"a": history([98.0, 98.5, 99.0, 99.2, 99.3])}).axes[0]
    assert all(float(t).is_integer() for t in many.get_xticks())


def test_seed_summary_mean_and_sample_std(tmp_path):
    import json

    from mnistlib.evidence import records

    for seed, acc in [(0, 99.5), (1, 99.7), (2, 99.6)]:
        history = History("beyond_5k", "compact5k", 4_758, seed, "cpu", epochs=[{"test_accuracy": acc}],
                          planned_epochs=1, finished=True)
        (tmp_path / f"beyond_5k-seed{seed}.json").write_text(json.dumps(history.to_dict()))
    quick = History("beyond_5k", "compact5k", 4_758, 3, "cpu", quick=True, epochs=[{"test_accuracy": 90.0}],
                    planned_epochs=1, finished=True)
    (tmp_path / "beyond_5k-seed3.json").write_text(json.dumps(quick.to_dict()))  # quick runs do not count
    found = records.summarize("beyond_5k", tmp_path)
    assert found.finals == {0: 99.5, 1: 99.7, 2: 99.6}
    assert (round(found.mean, 6), round(found.std, 6)) == (99.6, 0.1)
    assert found.row() == "| `beyond_5k` | 4,758 | 1 | 99.3 | 99.50, 99.70, 99.60 | 99.60 ± 0.10 | 99.50 |"
    assert records.summarize("step4_fast", tmp_path) is None


def test_published_results_are_drawn_inside_the_size_chart_with_their_conditions():
    from mnistlib.evidence.public import SIZE_ANCHORS

    fig = plots.plot_accuracy_vs_params({"beyond_5k": (4_758, [99.45, 99.40]), "big": (42_186, [99.5])},
                                        anchors=SIZE_ANCHORS)
    ax = fig.axes[0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert [line for line in legend if line.startswith("published: ")] == [
        f"published: {a.name}, {a.accuracy:.2f}%, {a.params:,} parameters\n  ({a.conditions})" for a in SIZE_ANCHORS]
    (low, high), (left, right) = ax.get_ylim(), ax.get_xlim()
    for x, y in [(a.params, a.accuracy) for a in SIZE_ANCHORS] + [(42_186, 99.5), (4_758, 99.425)]:
        assert left < x < right and low < y < high, (x, y)
