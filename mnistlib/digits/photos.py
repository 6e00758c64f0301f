"""MNIST test digits re-drawn as photos of handwriting: what a learner's own digits look like to a model.

Each digit is enlarged 5-14 times, drawn in dark ink on light, tinted paper lit unevenly, placed off
centre on a larger sheet, blurred, given sensor noise and saved as a JPEG (or, one time in five, as a
PNG with a transparent background, as drawing programs export). The variation is drawn from a seed,
so a set of photos is the same on every machine.
"""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image, ImageFilter


def photo(digit: torch.Tensor, seed: int) -> Image.Image:
    """One photo-like image (RGB, or RGBA with a transparent background) of ``digit``: an MNIST image as
    uint8 (28, 28) 0-255 or float (28, 28) 0..1, ink bright. Its size is 1.2-2 times the enlarged digit."""
    rng = np.random.default_rng(seed)
    pixels = digit.detach().cpu().float().numpy()
    pixels = pixels / 255 if pixels.max() > 1 else pixels
    scale = rng.uniform(5, 14)
    side = round(28 * scale)
    strokes = np.asarray(Image.fromarray(pixels, mode="F").resize((side, side), Image.Resampling.BICUBIC))
    strokes = np.clip(strokes, 0, 1)
    sheet_h, sheet_w = (round(side * rng.uniform(1.2, 2.0)) for _ in range(2))
    top, left = rng.integers(0, sheet_h - side + 1), rng.integers(0, sheet_w - side + 1)
    ink = np.zeros((sheet_h, sheet_w), dtype=np.float32)
    ink[top: top + side, left: left + side] = strokes
    if rng.random() < 0.2:  # a drawing program's export: dark ink, transparent background
        colour = np.full((sheet_h, sheet_w, 3), rng.uniform(0, 60), dtype=np.float32)
        rgba = np.dstack([colour, ink * 255]).round().clip(0, 255).astype(np.uint8)
        return Image.fromarray(rgba, mode="RGBA")
    paper = rng.uniform(170, 240) + rng.uniform(-15, 15, size=3)  # a tint per channel
    rows, cols = np.mgrid[0:sheet_h, 0:sheet_w] / max(sheet_h, sheet_w)
    light = 1 + rng.uniform(-0.15, 0.15) * (rows - 0.5) + rng.uniform(-0.15, 0.15) * (cols - 0.5)
    pen = rng.uniform(10, 80)
    rgb = (paper[None, None, :] * light[..., None]) * (1 - ink[..., None]) + pen * ink[..., None]
    rgb += rng.normal(0, rng.uniform(2, 8), size=rgb.shape)
    image = Image.fromarray(rgb.round().clip(0, 255).astype(np.uint8), mode="RGB")
    image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2) * scale / 5))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=int(rng.integers(40, 91)))
    return Image.open(io.BytesIO(buffer.getvalue()))


def photos(images: torch.Tensor, seed: int = 0) -> list[Image.Image]:
    """``photo`` of each of ``images`` (N, 28, 28) or (N, 1, 28, 28), the i-th drawn with seed ``seed + i``."""
    return [photo(image.reshape(28, 28), seed + i) for i, image in enumerate(images)]
