"""An image of a handwritten digit made to look like an MNIST digit, stage by stage.

MNIST's digits are bright ink on black, size-normalized to fit a 20x20 box with their aspect ratio
kept (the grey levels come from the anti-aliasing of that step) and centred by their centre of mass
in a 28x28 field (LeCun, Cortes and Burges, "The MNIST database", yann.lecun.com/exdb/mnist). A
photo of a digit is dark ink on light paper, large, off-centre and noisy; a model trained on MNIST
scores far below its test accuracy on it unless it is prepared the same way (``preprocess``).
Pillow does the image work (decoding, modes, filters, resampling); this module adds the steps
MNIST itself defines.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageFilter

from ..core.errors import UserError
from .images import load_image

BOX = 20  # MNIST's digits fit a 20x20 box ...
FIELD = 28  # ... inside a 28x28 field
# Where MNIST's digits have their centre of mass: on average at row 14.00 and column 14.01 (0-based pixel
# indices) over the 60,000 training images, with a spread of 0.29 px, that of whole-pixel shifts.
CENTRE = 14
WORKING_SIZE = 256  # larger images are first reduced to this many pixels on their longer side


class NoInk(UserError):
    """The image holds no digit: one even tone, or too little contrast to tell ink from paper."""


@dataclass
class Stages:
    """What ``preprocess`` made of an image, stage by stage (for showing it): the image as read (reduced
    to at most 256 pixels a side), then float32 arrays in 0..1, ink bright."""

    image: Image.Image
    grey: np.ndarray  # ink strength as read: inverted (light paper), as it was, or the opacity
    ink: np.ndarray  # ink strength, the paper's uneven level subtracted, scaled to 0..1
    cropped: np.ndarray  # the ink's bounding box, paper and specks cleared
    boxed: np.ndarray  # fitted into 20x20, aspect ratio kept, anti-aliased
    centred: np.ndarray  # 28x28, centre of mass at pixel (14, 14)
    ink_from: str  # "inverted" (dark ink on light paper), "as it was" (light on dark) or "opacity"

    def tensor(self) -> torch.Tensor:
        """The centred digit as the model takes it: float32 (1, 28, 28), 0..1, ink bright."""
        return torch.from_numpy(self.centred)[None]


def grey_ink(image: Image.Image) -> tuple[np.ndarray, str]:
    """The image as ink strength, float32 (H, W) in 0..1, and where it came from (``Stages.ink_from``).

    With a transparent background (most pixels see-through), the ink is where the image is opaque.
    Otherwise it is the luminance (ITU-R 601, Pillow's ``L``), inverted when the background is light:
    the median pixel, the paper under any digit, is then above mid-grey.
    """
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA"):
        alpha = np.asarray(image.getchannel("A"), dtype=np.float32) / 255
        if (alpha < 0.5).mean() > 0.5:
            return alpha, "opacity"
        image = Image.alpha_composite(Image.new("RGBA", image.size, "white"), image.convert("RGBA"))
    grey = np.asarray(image.convert("L"), dtype=np.float32) / 255
    if np.median(grey) > 0.5:
        return 1 - grey, "inverted"
    return grey, "as it was"


def level_paper(ink: np.ndarray) -> np.ndarray:
    """Subtract the paper's own level, which varies across a photo (shadows, uneven light).

    On a 48-pixel thumbnail, the pixels below Otsu's threshold (and away from the ink) are paper; its
    level elsewhere, under the strokes too, is their smoothed average nearby (a normalized convolution:
    blurred paper values over blurred paper weights), enlarged back to the image's size.
    """
    image = _grey(ink)
    scale = 48 / max(image.size)
    small = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                         Image.Resampling.BOX)
    values = np.asarray(small, dtype=np.float32) / 255
    paper = _grey((values <= otsu_threshold(values)).astype(np.float32)).filter(ImageFilter.MinFilter(3))
    blur = ImageFilter.GaussianBlur(6)
    weight = np.asarray(paper, dtype=np.float32) / 255
    level_sum = np.asarray(_grey(values * weight).filter(blur), dtype=np.float32)
    weight_sum = np.asarray(paper.filter(blur), dtype=np.float32)
    level = np.where(weight_sum > 0, level_sum / np.maximum(weight_sum, 1e-6), 0).astype(np.float32)
    level = np.asarray(Image.fromarray(level, mode="F").resize(image.size, Image.Resampling.BILINEAR))
    return np.clip(ink - level, 0, 1)


def _grey(values: np.ndarray) -> Image.Image:
    """An 8-bit grey image of ``values`` in 0..1 (Pillow's filters work on 8-bit images)."""
    return Image.fromarray(np.round(values * 255).astype(np.uint8))


def otsu_threshold(values: np.ndarray) -> float:
    """The threshold that best splits ``values`` (0..1) into two classes (Otsu, 1979): the one that
    maximizes the variance between them, over a 256-bin histogram."""
    counts, edges = np.histogram(values, bins=256, range=(0.0, 1.0))
    centres = (edges[:-1] + edges[1:]) / 2
    weight = np.cumsum(counts)
    mass = np.cumsum(counts * centres)
    total, total_mass = weight[-1], mass[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (total_mass * weight - total * mass) ** 2 / (weight * (total - weight))
    if not np.isfinite(between).any():  # every value in one bin: nothing to split
        return float(values.max())
    return float(edges[1:][np.nanargmax(between)])


def preprocess_stages(image) -> Stages:
    """``preprocess``, keeping every stage (see ``Stages``)."""
    image = load_image(image)
    if max(image.size) > WORKING_SIZE:
        image = image.copy()
        image.thumbnail((WORKING_SIZE, WORKING_SIZE), Image.Resampling.BOX)
    grey, ink_from = grey_ink(image)
    ink = level_paper(grey)
    threshold = otsu_threshold(ink)
    strokes = ink[ink > threshold]
    if strokes.size == 0 or np.median(strokes) < 0.1:  # too little contrast: paper, shadows and noise only
        raise NoInk("no ink found: the image is one even tone (blank?)")
    strongest = float(np.percentile(strokes, 90))
    ink = np.clip(ink / strongest, 0, 1)
    mask = ink > threshold / strongest
    if min(mask.shape) >= 64:  # strokes of a large image are several pixels wide: clear specks of noise
        mask = np.asarray(Image.fromarray(mask).filter(ImageFilter.MedianFilter(3)), dtype=bool)
    if not mask.any():
        raise NoInk("no ink found: nothing stands out from the paper")
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    scale = BOX / max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1)  # the thresholded digit fits 20x20
    near = np.asarray(Image.fromarray(mask).filter(ImageFilter.MaxFilter(3)), dtype=bool)
    kept = np.where(near, ink, 0)  # the strokes with their soft edges; specks and paper cleared
    rows, cols = np.flatnonzero(kept.any(1)), np.flatnonzero(kept.any(0))
    cropped = kept[rows[0]: rows[-1] + 1, cols[0]: cols[-1] + 1]
    height, width = cropped.shape
    size = (max(1, min(FIELD, round(width * scale))), max(1, min(FIELD, round(height * scale))))
    boxed = np.clip(np.asarray(Image.fromarray(cropped, mode="F").resize(size, Image.Resampling.BILINEAR)), 0, 1)
    centred = np.zeros((FIELD, FIELD), dtype=np.float32)
    h, w = boxed.shape
    mass = boxed.sum()
    cy = (boxed.sum(1) * np.arange(h)).sum() / mass
    cx = (boxed.sum(0) * np.arange(w)).sum() / mass
    top = min(max(round(CENTRE - cy), 0), FIELD - h)
    left = min(max(round(CENTRE - cx), 0), FIELD - w)
    centred[top: top + h, left: left + w] = boxed
    return Stages(image, grey, ink, cropped, boxed, centred, ink_from)


def preprocess(image) -> torch.Tensor:
    """An image of a handwritten digit as MNIST presents its digits: float32 (1, 28, 28), 0..1, ink bright.

    ``image``: a path, a PIL image or an array (``load_image``), of any size and mode (L, RGB, RGBA with
    a transparent background, palette). Steps: grey ink (inverted when the paper is light; the opaque
    part when the background is transparent), the paper's uneven level subtracted, ink separated from
    paper by Otsu's threshold (specks cleared on large images), cropped to the ink, fitted into a 20x20
    box keeping the aspect ratio (anti-aliased), and placed in 28x28 with its centre of mass at pixel
    (14, 14), as MNIST's digits are. Normalize with the training set's mean and std before the model
    (``predict`` does). Raises ``UserError`` for an unreadable image, ``NoInk`` (a ``UserError``) for a
    blank one.
    """
    return preprocess_stages(image).tensor()


def squeeze(values: np.ndarray) -> torch.Tensor:
    """An ink array (H, W) in 0..1 resized to 28x28 as it is (aspect ratio not kept; area-averaged when
    reduced): float32 (1, 28, 28)."""
    small = Image.fromarray(np.asarray(values, dtype=np.float32), mode="F").resize((FIELD, FIELD), Image.Resampling.BOX)
    return torch.from_numpy(np.clip(np.asarray(small), 0, 1))[None]


def in_the_middle(boxed: np.ndarray) -> torch.Tensor:
    """A digit fitted into 20x20 placed in the middle of the 28x28 field (its box centred, not its mass):
    float32 (1, 28, 28)."""
    field = np.zeros((FIELD, FIELD), dtype=np.float32)
    h, w = boxed.shape
    top, left = (FIELD - h) // 2, (FIELD - w) // 2
    field[top: top + h, left: left + w] = boxed
    return torch.from_numpy(field)[None]


def stage_inputs(stages: Stages) -> dict[str, torch.Tensor]:
    """What the model would be given if preprocessing stopped after each stage, label -> float32 (1, 28, 28):
    the ink squeezed to 28x28; the paper's level subtracted; cropped to the ink (then squeezed); fitted
    into 20x20 keeping the aspect ratio, in the middle of the field; centred by centre of mass (all of
    ``preprocess``)."""
    return {"ink, squeezed": squeeze(stages.grey),
            "+ paper levelled": squeeze(stages.ink),
            "+ cropped to the ink": squeeze(stages.cropped),
            "+ 20x20, aspect kept": in_the_middle(stages.boxed),
            "+ centre of mass": stages.tensor()}
