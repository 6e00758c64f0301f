"""The model summary: torchinfo's table and the receptive field of every conv and pool."""

from mnistlib.core.models import build_model
from mnistlib.teach.summary import receptive_fields, summary


def test_receptive_field_reaches_the_whole_digit():
    rows = receptive_fields(build_model("final"))
    assert [rf for *_, rf in rows] == [3, 5, 6, 10, 14, 16, 24, 32, 32, 40]
    assert rows[-1][2] == (10, 1, 1)


def test_global_average_pooling_counts_as_a_window_over_the_whole_map():
    from torch import nn

    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Conv2d(4, 10, 1), nn.Flatten())
    assert [rf for *_, rf in receptive_fields(model)] == [3, 28, 28]


def test_beyond_models_keep_a_positional_head():
    rows = receptive_fields(build_model("compact5k"))
    assert rows[-1][2] == (10, 1, 1) and rows[-1][3] == 40


def test_summary_runs_on_cpu_and_reports_the_total():
    text = summary("slim")
    assert "Total params: 12,352" in text and "receptive field" in text
    assert "Total mult-adds (M): 1.31" in text and "Units." not in text
