"""Inside the network: feature maps, filters, activation statistics, and the scores' histograms."""

import torch

from mnistlib.core.models import build_model
from mnistlib.core.recipes import get_recipe
from mnistlib.teach import inside, plots


def test_feature_maps_are_each_relus_output_for_one_digit_and_leave_the_model_as_it_was():
    model = build_model("final").train()
    maps = inside.feature_maps(model, torch.randn(1, 28, 28))
    shapes = {name: tuple(m.shape) for name, m in maps.items()}
    assert shapes == {"conv1": (8, 28, 28), "conv2": (8, 28, 28), "conv3": (16, 14, 14), "conv4": (16, 14, 14),
                      "conv5": (16, 5, 5), "conv6": (32, 3, 3), "conv7": (10, 3, 3)}
    assert all((m >= 0).all() for m in maps.values())  # after a ReLU
    assert model.training and not any(m._forward_hooks for m in model.modules())


def test_activation_stats_record_every_relu_at_every_step(quick_data):
    stats = inside.activation_stats(get_recipe("step4_final"), quick_data, steps=5)
    assert stats.layers == [f"conv{i}" for i in range(1, 8)]
    assert stats.mean.shape == stats.std.shape == stats.zeros.shape == (5, 7)
    assert ((stats.zeros >= 0) & (stats.zeros <= 1)).all() and (stats.std > 0).all()


def test_batch_norm_keeps_the_deep_activations_spread_where_step_3_lets_them_shrink(quick_data):
    """What notebook 4's chart shows: at the first step, step 3's activations shrink layer by layer and
    step 4's do not."""
    three = inside.activation_stats(get_recipe("step3_augment"), quick_data, steps=1)
    four = inside.activation_stats(get_recipe("step4_final"), quick_data, steps=1)
    assert three.std[0, 3] < three.std[0, 0] / 4
    assert four.std[0, 3] > 5 * three.std[0, 3]


def test_the_filter_chart_has_one_square_per_filter():
    assert len(inside.plot_filters(build_model("final").block1[0]).axes) == 8


def test_the_score_histograms_give_the_share_of_scores_at_zero():
    scores = torch.tensor([[0.0, 0.0, 1.0, 2.0]])
    (ax,) = plots.plot_score_histograms({"clamped": scores}).axes
    assert ax.get_title() == "clamped: 50.0% of scores exactly 0"
