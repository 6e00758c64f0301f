"""Data augmentation: random rotations and shifts of a whole batch at once, on the batch's device.

One affine grid per batch (``torch.nn.functional.affine_grid`` and ``grid_sample``) moves every image by
its own angle and shift, so augmentation costs a few kernels per batch instead of Python work per image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .data import MNIST
from .recipes import Recipe


def rotate_and_shift(images: torch.Tensor, angles: torch.Tensor, shifts: torch.Tensor,
                     background: float) -> torch.Tensor:
    """Rotate image i of ``images`` (N, C, H, W) by ``angles[i]`` radians about its centre and shift it by
    ``shifts[:, i]`` (x, y) pixels, in one affine grid for the whole batch: a positive angle turns the
    digit counter-clockwise as displayed (as ``torch.rot90``), a positive x (y) shift moves it left (up).
    Corners uncovered by the move get ``background`` (normalized black). Nearest-neighbour sampling,
    like torchvision's RandomRotation default, so strokes stay as sharp as in the test images.
    """
    _, _, height, width = images.shape
    cos, sin = angles.cos(), angles.sin()
    tx, ty = shifts[0] * 2 / width, shifts[1] * 2 / height  # pixels to affine_grid's [-1, 1] units
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    shifted = images - background  # so that grid_sample's zero padding means "black"
    return F.grid_sample(shifted, grid, mode="nearest", padding_mode="zeros", align_corners=False) + background


def random_rotate_and_shift(images: torch.Tensor, max_degrees: float, max_shift: float,
                            background: float) -> torch.Tensor:
    """``rotate_and_shift`` each image by its own uniform random angle in [-max_degrees, max_degrees]
    and shift in [-max_shift, max_shift] pixels along each axis (drawn from torch's global generator
    on the images' device)."""
    n = len(images)
    angles = (torch.rand(n, device=images.device) * 2 - 1) * math.radians(max_degrees)
    shifts = (torch.rand(2, n, device=images.device) * 2 - 1) * max_shift
    return rotate_and_shift(images, angles, shifts, background)


@dataclass(frozen=True)
class Augmentation:
    """Random rotations and shifts of a batch (``random_rotate_and_shift``), called on (N, 1, 28, 28) images.

    A plain value whose settings are its fields: the compiled step's guards check those, and a new
    run with the same settings reuses the compiled code (a test checks that nothing recompiles).
    """

    rotation: float  # max degrees
    shift: float  # max pixels along each axis
    background: float  # the normalized value of a black pixel

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return random_rotate_and_shift(images, self.rotation, self.shift, self.background)


def augmentation(recipe: Recipe, data: MNIST) -> Augmentation | None:
    """The recipe's augmentation for ``data``'s images, or None when the recipe has none."""
    if not (recipe.rotation or recipe.shift):
        return None
    return Augmentation(recipe.rotation, recipe.shift, data.background)
