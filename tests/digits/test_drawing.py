"""The drawing pad's parts that need no browser: strokes drawn with Pillow and prepared as MNIST's digits,
the top-three line, the one line a frontend without widgets shows, and a missing widget package."""

import io
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from mnistlib.digits import drawing, preprocess

SEVEN = [[(80, 60), (140, 60), (200, 60)], [(200, 60), (160, 145), (120, 230)]]


def prepare(strokes):
    """The drawing as the pad prepares it: drawn with Pillow, then MNIST's preprocessing."""
    return preprocess.preprocess_stages(drawing.rasterize(strokes))


def test_strokes_become_an_image_that_prepares_to_an_mnist_digit():
    image = drawing.rasterize(SEVEN)
    assert image.mode == "L" and image.size == (drawing.SIZE, drawing.SIZE)
    ink = np.asarray(image)
    assert ink[60, 140] == 255 and ink[145, 160] == 255 and ink[250, 30] == 0
    assert ink[60, 70] == 255, "round ends reach half the pen's width past the last point"
    digit = prepare(SEVEN).tensor()
    assert digit.shape == (1, 28, 28) and digit.dtype == torch.float32
    assert 0 <= digit.min() and digit.max() <= 1 and digit.max() > 0.9
    assert torch.equal(digit, preprocess.preprocess(image))


def test_a_stroke_of_one_point_is_a_dot_and_nothing_drawn_is_no_ink():
    assert (np.asarray(drawing.rasterize([[(140, 140)]])) > 0).sum() > 200
    with pytest.raises(preprocess.NoInk):
        prepare([])
    with pytest.raises(preprocess.NoInk):
        prepare([[]])


def test_top_three_names_the_three_likeliest_digits_first_to_last():
    probabilities = torch.tensor([0.001, 0.012, 0.0, 0.0, 0.0, 0.0, 0.0, 0.981, 0.0, 0.006])
    assert drawing.top_three(probabilities) == "the network reads: 7 (98.1%), 1 (1.2%), 9 (0.6%)"


def test_the_prepared_digit_is_shown_enlarged_with_square_pixels():
    stages = prepare(SEVEN)
    shown = Image.open(io.BytesIO(drawing.enlarged_png(stages)))
    assert shown.mode == "L" and shown.size == (drawing.SHOWN_SIZE, drawing.SHOWN_SIZE)
    pixels = np.asarray(shown).reshape(28, 4, 28, 4)
    assert (pixels == pixels[:, :1, :, :1]).all(), "each pixel of the 28x28 digit a 4x4 square"
    assert (pixels[:, 0, :, 0] == np.round(stages.centred * 255)).all()


class Constant(torch.nn.Module):
    """A model that always reads a 7."""

    def __init__(self):
        super().__init__()
        self.bias = torch.nn.Parameter(torch.zeros(10))

    def forward(self, x):
        return self.bias.expand(len(x), 10) + 10 * torch.nn.functional.one_hot(torch.tensor(7), 10)


def test_a_frontend_without_widgets_sees_one_line_pointing_to_the_image_cell():
    pytest.importorskip("ipycanvas")
    pad = drawing.drawing_pad(Constant(), 0.13, 0.31)
    bundle = pad._repr_mimebundle_()
    plain = bundle["text/plain"]
    assert plain == drawing.NO_FRONTEND and "\n" not in plain
    assert "widgets" in plain and "image file" in plain
    assert "application/vnd.jupyter.widget-view+json" in bundle


def test_the_pad_reads_each_stroke_and_clear_forgets_them():
    pytest.importorskip("ipycanvas")
    pad = drawing.drawing_pad(Constant(), 0.13, 0.31)
    for stroke in SEVEN:
        pad._down(*stroke[0])
        for point in stroke[1:]:
            pad._move(*point)
        pad._up(*stroke[-1])
    assert pad.reading.value.startswith("the network reads: 7 (") and pad.prepared.value
    assert len(pad.strokes) == 2
    pad.clear()
    assert pad.strokes == [] and pad.reading.value == "draw a digit" and pad.prepared.value == b""


def test_an_uploaded_file_that_is_no_image_is_named_not_raised():
    pytest.importorskip("ipycanvas")
    pad = drawing.drawing_pad(Constant(), 0.13, 0.31)
    pad._uploaded({"new": ({"name": "notes.pdf", "content": memoryview(b"%PDF-1.4 not an image")},)})
    assert pad.reading.value.startswith("no digit read:") and "PDF" in pad.reading.value


@pytest.mark.parametrize("missing", ["ipycanvas", "ipywidgets"])
def test_without_a_widget_package_the_pad_says_what_to_install_in_one_line(monkeypatch, capsys, missing):
    monkeypatch.setitem(sys.modules, missing, None)  # import of it fails, as when it is not installed
    assert drawing.drawing_pad(Constant(), 0.13, 0.31) is None
    printed = capsys.readouterr().out
    assert printed.count("\n") == 1 and f"needs {missing}," in printed and "pip install" in printed


def test_a_stored_run_keeps_the_pads_line_and_not_the_widget():
    from mnistlib.evidence import remake

    pad = {"output_type": "execute_result", "data": {"text/plain": drawing.NO_FRONTEND,
                                                      remake.WIDGET_VIEW: {"model_id": "abc"}}}
    plot = {"output_type": "display_data", "data": {"image/png": "iVBO", "text/plain": "<Figure>"}}
    assert remake._without_widgets([pad, plot]) == [
        {"output_type": "execute_result", "data": {"text/plain": drawing.NO_FRONTEND}}, plot]
