"""A digit drawn with the mouse, read by a trained model after each stroke.

``drawing_pad`` shows a black canvas to draw on in white, a Clear button and a file upload; after each
stroke the drawing goes through MNIST's preprocessing (``preprocess``) and the model's three most likely
digits are shown with the prepared 28x28 image. The strokes' points are kept here and drawn again with
Pillow, so what the model reads never depends on the canvas's own pixels. The widgets need a Jupyter
frontend that renders them (JupyterLab, Notebook 7, VS Code, or Colab with its custom widget manager
enabled); elsewhere the pad shows one line of text instead.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from ..core.errors import UserError
from .classify import predict
from .preprocess import Stages, preprocess_stages

SIZE = 280  # the canvas, in pixels: ten times MNIST's 28x28
# The pen's width in canvas pixels. Preprocessing scales a digit's taller side to 20 pixels; a digit drawn
# about 200 pixels tall then gets strokes about 2 pixels wide, as thick as MNIST's pen strokes.
PEN_WIDTH = 20
SHOWN_SIZE = 112  # the prepared 28x28 image is shown enlarged four times, its pixels kept square

NO_FRONTEND = ("The drawing pad needs a Jupyter frontend with widgets (JupyterLab, Notebook 7, VS Code or Colab); "
               "the cell below takes an image file instead.")

Point = tuple[float, float]


def rasterize(strokes: Sequence[Sequence[Point]], size: int = SIZE, width: int | None = None) -> Image.Image:
    """The strokes drawn as the canvas shows them: a grey (``L``) PIL image ``size`` x ``size``, white ink
    (255) with round ends and joints on black (0). ``strokes``: one sequence of (x, y) points per stroke,
    in canvas pixels (x to the right, y down); a stroke of one point is a dot. Empty strokes are skipped.
    ``width``: the pen's, in canvas pixels; default ``PEN_WIDTH`` as it is at the call, as the pad draws."""
    width = int(PEN_WIDTH if width is None else width)
    image = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(image)
    radius = width / 2
    for stroke in strokes:
        points = [(float(x), float(y)) for x, y in stroke]
        if len(points) > 1:
            draw.line(points, fill=255, width=width)
        for x, y in points:  # round ends and joints, as the canvas's round line caps draw them
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
    return image


def top_three(probabilities: torch.Tensor) -> str:
    """One line naming the three most likely digits of ``probabilities`` (10,) (one row of ``predict``),
    most likely first: "the network reads: 7 (98.1%), 1 (1.2%), 9 (0.3%)"."""
    top = probabilities.topk(3)
    return "the network reads: " + ", ".join(f"{int(d)} ({float(p):.1%})" for p, d in zip(*top, strict=True))


def read(model: torch.nn.Module, image, mean: float, std: float) -> tuple[Stages, torch.Tensor]:
    """``image`` (anything ``preprocess`` takes: a path, a PIL image, an array) prepared, and the model's
    class probabilities for it, float32 (10,) summing to 1. ``mean`` and ``std``: the training set's, as
    ``predict`` takes them. Raises ``UserError`` for an unreadable image, ``NoInk`` for a blank one."""
    stages = preprocess_stages(image)
    return stages, predict(model, stages.tensor(), mean, std)[0]


def enlarged_png(stages: Stages, size: int = SHOWN_SIZE) -> bytes:
    """The prepared 28x28 digit as PNG bytes, enlarged to ``size`` x ``size`` with square pixels."""
    digit = Image.fromarray((stages.centred * 255).round().astype("uint8"))
    buffer = io.BytesIO()
    digit.resize((size, size), Image.Resampling.NEAREST).save(buffer, format="PNG")
    return buffer.getvalue()


def uploaded_image(name: str, content: bytes):
    """An uploaded file's bytes read as an image (``load_image`` of a temporary copy, so that a file that
    is no image is named as ``load_image`` names it). Raises ``UserError`` for a file that is no image."""
    from .images import load_image

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / ("upload" + Path(name).suffix)  # the suffix only: a name is no path here
        path.write_bytes(content)
        image = load_image(path)
        image.load()
        return image


class DrawingPad:
    """The widgets of ``drawing_pad`` and the strokes drawn so far (``strokes``: lists of (x, y) canvas
    pixels). ``box`` is the ipywidgets box shown; ``reading`` the HTML widget whose text is the model's top
    three (``top_three``), or why there is none."""

    def __init__(self, model: torch.nn.Module, mean: float, std: float, ipycanvas, ipywidgets):
        self.model, self.mean, self.std = model, mean, std
        self.strokes: list[list[Point]] = []
        self.drawing = False
        self.canvas = ipycanvas.Canvas(width=SIZE, height=SIZE, layout=ipywidgets.Layout(
            width=f"{SIZE}px", height=f"{SIZE}px", border="1px solid #888"))
        self.canvas.add_class("mnistlib-canvas")
        self.canvas.line_width = PEN_WIDTH
        self.canvas.line_cap = "round"
        self.canvas.line_join = "round"
        self.canvas.stroke_style = "white"
        self.canvas.on_mouse_down(self._down)
        self.canvas.on_mouse_move(self._move)
        self.canvas.on_mouse_up(self._up)
        self.canvas.on_mouse_out(self._up)
        self.clear_button = ipywidgets.Button(description="Clear", icon="eraser")
        self.clear_button.on_click(lambda _: self.clear())
        self.upload = ipywidgets.FileUpload(accept="image/*", multiple=False, description="Photo")
        self.upload.observe(self._uploaded, names="value")
        self.prepared = ipywidgets.Image(format="png", width=SHOWN_SIZE, height=SHOWN_SIZE)
        self.reading = ipywidgets.HTML("draw a digit")
        self.reading.add_class("mnistlib-reading")
        side = ipywidgets.VBox([ipywidgets.Label("prepared, 28x28:"), self.prepared, self.reading],
                               layout=ipywidgets.Layout(margin="0 0 0 12px"))
        self.box = ipywidgets.VBox([ipywidgets.HBox([self.canvas, side]),
                                    ipywidgets.HBox([self.clear_button, self.upload])])
        self.box.add_class("mnistlib-drawing-pad")
        self.clear()

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.box._repr_mimebundle_(**kwargs)
        data, metadata = bundle if isinstance(bundle, tuple) else (bundle, None)
        data = {**data, "text/plain": NO_FRONTEND}  # what a frontend without widgets shows
        return (data, metadata) if metadata is not None else data

    def clear(self) -> None:
        """Forget the strokes and blank the canvas, the prepared image and the reading."""
        self.strokes, self.drawing = [], False
        self.canvas.fill_style = "black"
        self.canvas.fill_rect(0, 0, SIZE, SIZE)
        self.prepared.value = b""
        self.reading.value = "draw a digit"
        self.upload.value = ()  # so that the same photo, uploaded again, is read again

    def _down(self, x: float, y: float) -> None:
        self.drawing = True
        self.strokes.append([(x, y)])
        self.canvas.fill_style = "white"
        self.canvas.line_width = PEN_WIDTH  # as it is now, as ``rasterize`` reads it
        self.canvas.fill_circle(x, y, PEN_WIDTH / 2)

    def _move(self, x: float, y: float) -> None:
        if not self.drawing:
            return
        x0, y0 = self.strokes[-1][-1]
        self.strokes[-1].append((x, y))
        self.canvas.stroke_line(x0, y0, x, y)

    def _up(self, x: float, y: float) -> None:
        if not self.drawing:
            return
        self._move(x, y)
        self.drawing = False
        self.show(rasterize(self.strokes))

    def _uploaded(self, change) -> None:
        if not change["new"]:
            return
        upload = change["new"][-1]
        try:
            image = uploaded_image(upload["name"], bytes(upload["content"]))
        except UserError as error:
            self.reading.value = f"no digit read: {error}"
            return
        finally:
            self.upload.value = ()  # so that the same photo, uploaded again, is read again
        self.show(image)

    def show(self, image) -> None:
        """Prepare ``image`` (anything ``preprocess`` takes), show it and the model's top three; a blank or
        unreadable image shows why there is no reading instead."""
        try:
            stages, probabilities = read(self.model, image, self.mean, self.std)
        except UserError as error:
            self.prepared.value = b""
            self.reading.value = f"no digit read: {error}"
            return
        self.prepared.value = enlarged_png(stages)
        self.reading.value = top_three(probabilities)


def drawing_pad(model: torch.nn.Module, mean: float, std: float) -> DrawingPad | None:
    """A pad to draw a digit on (a 280x280 canvas, white on black), read by ``model`` after each stroke.

    ``model``: a trained MNIST network taking float32 (N, 1, 28, 28) and giving (N, 10) logits; ``mean`` and
    ``std``: the training set's, with which ``predict`` normalizes the prepared images (float32 (1, 28, 28),
    0..1, ink bright). Each stroke's points are drawn with Pillow (``rasterize``), prepared as MNIST
    prepared its digits (``preprocess``) and read; the prepared image and the three most likely digits with
    their probabilities are shown (``top_three``). An uploaded photo goes through the same steps. Display
    the result (leave it last in a cell). Without ipywidgets or ipycanvas it prints one line naming the
    missing package and how to install it, and returns None; nothing is raised.
    """
    try:
        import ipycanvas
        import ipywidgets
    except ImportError as error:
        missing = error.name or "ipycanvas"
        print(f"The drawing pad needs {missing}, which is not installed: pip install ipywidgets ipycanvas")
        return None
    return DrawingPad(model, mean, std, ipycanvas, ipywidgets)
