"""Classifying your own digits: an image of any size and mode made to look like an MNIST digit, then the model.

MNIST's digits are bright ink on black, size-normalized to fit a 20x20 box with their aspect ratio
kept (the grey levels come from the anti-aliasing of that step) and centred by their centre of mass
in a 28x28 field (LeCun, Cortes and Burges, "The MNIST database", yann.lecun.com/exdb/mnist). A
photo of a digit is dark ink on light paper, large, off-centre and noisy; a model trained on MNIST
scores far below its test accuracy on it unless it is prepared the same way (``preprocess``).
Pillow does the image work (decoding, modes, filters, resampling); this module adds the steps
MNIST itself defines.
"""

from __future__ import annotations

import functools
import os
import stat
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError, features

from .errors import UserError

BOX = 20  # MNIST's digits fit a 20x20 box ...
FIELD = 28  # ... inside a 28x28 field
# Where MNIST's digits have their centre of mass: on average at row 14.00 and column 14.01 (0-based pixel
# indices) over the 60,000 training images, with a spread of 0.29 px, that of whole-pixel shifts.
CENTRE = 14
WORKING_SIZE = 256  # larger images are first reduced to this many pixels on their longer side


class NoInk(UserError):
    """The image holds no digit: one even tone, or too little contrast to tell ink from paper."""


class Sheet(UserError):
    """The image is a sheet of predictions that ``predict --show`` saved (``SHEET_METADATA``), not a digit."""


# The PNG text that marks the sheets ``predict --show`` saves (matplotlib's ``savefig(metadata=...)``), so
# that a sheet read back, renamed or moved included, is recognized as no digit.
SHEET_METADATA = {"Software": "mnistlib predict --show", "Title": "images and the digits a model saw in them"}


def is_sheet(image: Image.Image) -> bool:
    """Whether ``image`` (as Pillow opened it) carries the mark of a ``predict --show`` sheet."""
    return str(image.info.get("Software", "")) == SHEET_METADATA["Software"]


# How much of a file is read to tell its format by its signature (an SVG's <svg> tag can follow an XML
# prolog and comments).
HEAD = 4096
# ISO base media file format brands (the ftyp box that opens the file): HEIF, AVIF, Canon's CR3 raw.
HEIC_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs"}
HEIF_BRANDS = {b"mif1", b"msf1"}  # HEIF's own, shared by HEIC and AVIF files: the codec brand decides
AVIF_BRANDS = {b"avif", b"avis"}
# What a file Pillow cannot open is, by ``sniff_format``, and what to do with it.
UNREADABLE = {
    "heif": "a HEIC/HEIF photo (phones save these), which Pillow reads only with a plugin: pip install "
            "pillow-heif (predict then uses it), or export it as JPEG or PNG",
    "avif": "an AVIF image, and this Pillow was built without AVIF support: pip install --upgrade pillow "
            "(its wheels read AVIF), or export it as PNG or JPEG",
    "jxl": "a JPEG XL image, which Pillow does not read: export it as PNG or JPEG",
    "cr3": "a Canon raw photo (CR3): export it as JPEG or PNG from a photo program",
    "mp4": "an MP4/QuickTime file (video or sound), not a still image: save one frame as PNG or JPEG",
    "svg": "an SVG drawing (vector graphics), which Pillow does not read: export it as PNG",
    "html": "a web page (HTML), not an image: save the image itself from the browser (Save image as)",
    "pdf": "a PDF document, not an image: export the page as PNG or JPEG",
    "zip": "a ZIP archive (or an office document), not an image: take the image out of it",
    "empty": "an empty file (0 bytes)",
}


def sniff_format(head: bytes) -> str | None:
    """The format of a file whose first bytes are ``head`` (up to ``HEAD``), told by its signature, among
    those people take for images and Pillow cannot open (without a plugin): a key of ``UNREADABLE``
    ("heif", "avif", "jxl", "cr3", "mp4", "svg", "html", "pdf", "zip", "empty"), else None."""
    if not head:
        return "empty"
    if head[4:8] == b"ftyp":  # an ISO base media file: the major brand, then the compatible ones
        size = int.from_bytes(head[:4], "big")
        brands = [head[8:12]] + [head[i: i + 4] for i in range(16, min(size, len(head)) - 3, 4)]
        for brand in brands:
            if brand in AVIF_BRANDS:
                return "avif"
            if brand in HEIC_BRANDS:
                return "heif"
        if HEIF_BRANDS.intersection(brands):
            return "heif"
        return "cr3" if b"crx " in brands else "mp4"
    if head.startswith((b"\xff\x0a", b"\x00\x00\x00\x0cJXL \r\n\x87\n")):
        return "jxl"
    if b"%PDF-" in head[:1024]:  # PDF readers accept a header up to 1 KiB in
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    if text.startswith(b"<"):
        if b"<svg" in text:
            return "svg"
        if text.startswith(b"<!doctype html") or b"<html" in text:
            return "html"
    return None


@functools.cache
def register_heif_plugin() -> bool:
    """Register pillow-heif's HEIF/HEIC opener with Pillow, once, if pillow-heif is installed; whether it is."""
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        return False
    register_heif_opener()
    return True


# Kinds of file that are not regular files, which an image reader would wait on (a FIFO) or misread.
SPECIAL_FILES = {stat.S_ISFIFO: "a FIFO (named pipe)", stat.S_ISSOCK: "a socket", stat.S_ISCHR: "a character device",
                 stat.S_ISBLK: "a block device"}


@dataclass
class Stages:
    """What ``preprocess`` made of an image, stage by stage (for showing it): the image as read (reduced
    to at most 256 pixels a side), then float32 arrays in 0..1, ink bright."""

    image: Image.Image
    ink: np.ndarray  # ink strength, the paper's uneven level subtracted, scaled to 0..1
    cropped: np.ndarray  # the ink's bounding box, paper and specks cleared
    boxed: np.ndarray  # fitted into 20x20, aspect ratio kept, anti-aliased
    centred: np.ndarray  # 28x28, centre of mass at pixel (14, 14)
    ink_from: str  # "inverted" (dark ink on light paper), "as it was" (light on dark) or "opacity"

    def tensor(self) -> torch.Tensor:
        """The centred digit as the model takes it: float32 (1, 28, 28), 0..1, ink bright."""
        return torch.from_numpy(self.centred)[None]


def load_image(source) -> Image.Image:
    """A PIL image from a path, a PIL image, a NumPy array (H, W), (H, W, 3) or (H, W, 4) of integers
    0-255 (0-65535 for 16-bit values) or floats 0-1, or a torch tensor of those shapes (or (1, H, W)). A
    photo is turned upright by its EXIF orientation. Raises ``UserError`` naming the file when it cannot
    be read as an image (naming the format and what to do for formats Pillow cannot open, see
    ``sniff_format``), ``Sheet`` (a ``UserError``) for a sheet that ``predict --show`` saved, or
    ``UserError`` naming the array's shape or range when it is not one."""
    if isinstance(source, Image.Image):
        if is_sheet(source):
            raise Sheet("a sheet of predictions that predict --show saved, not a digit")
        return _eight_bit(source)
    if isinstance(source, (str, os.PathLike)):
        return _open_file(Path(source))
    array = source.detach().cpu().numpy() if isinstance(source, torch.Tensor) else np.asarray(source)
    if array.ndim == 3 and array.shape[0] == 1:
        array = array[0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)) or array.size == 0:
        raise UserError(f"an image array must be (H, W), (H, W, 3) or (H, W, 4), got shape {array.shape}")
    if np.issubdtype(array.dtype, np.integer) and array.dtype != np.uint8:
        low, high = int(array.min()), int(array.max())
        if low < 0 or high > 65535:
            raise UserError(f"an integer image array must hold values 0-255 (or 0-65535), got {low}..{high}")
        array = array.astype(np.float32) / (255 if high <= 255 else 65535)
    if array.dtype != np.uint8:
        array = np.clip(np.nan_to_num(array.astype(np.float32)) * 255 + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(array)


def _open_file(path: Path) -> Image.Image:
    """``load_image`` of a path: a regular file, read by Pillow (with pillow-heif for HEIF when installed)."""
    try:
        kind = next((kind for test, kind in SPECIAL_FILES.items() if test(path.stat().st_mode)), None)
        if kind is not None:
            raise UserError(f"{path}: not a regular file but {kind}; give an image file")
        with open(path, "rb") as file:
            head = file.read(HEAD)
            if sniff_format(head) == "heif":
                register_heif_plugin()
            file.seek(0)
            with warnings.catch_warnings():
                # Pillow warns of an image above MAX_IMAGE_PIXELS (its error limit, twice that, stays): it
                # is reduced to WORKING_SIZE anyway, and the warning would break the one-line output.
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(file) as image:
                    image.load()
                    if is_sheet(image):
                        raise Sheet(f"{path}: a sheet of predictions that predict --show saved, not a digit")
                    return _eight_bit(ImageOps.exif_transpose(image))
    except FileNotFoundError:
        raise UserError(f"{path}: {'a link to a missing file' if path.is_symlink() else 'no such file'}") from None
    except UnidentifiedImageError:
        kind = sniff_format(head)
        if (kind == "heif" and register_heif_plugin()) or (kind == "avif" and features.check("avif")):
            what = f"a damaged {'AVIF' if kind == 'avif' else 'HEIC/HEIF'} image (Pillow reads the format, " \
                   "but found no picture in this file)"
        else:
            what = UNREADABLE.get(kind, "not an image (Pillow recognizes no image format in it)")
        raise UserError(f"{path}: {what}") from None
    except Image.DecompressionBombError:
        raise UserError(f"{path}: too many pixels to open safely (Pillow's limit against decompression "
                        "bombs); give a smaller image") from None
    except PermissionError as exc:
        raise UserError(f"{path}: cannot read it ({exc.strerror}); check its permissions") from None
    except OSError as exc:
        if exc.errno is not None:  # the file system's error, not the decoder's
            raise UserError(f"{path}: cannot read it ({exc.strerror or exc})") from None
        raise UserError(f"{path}: a damaged image ({_detail(exc)})") from None
    except (ValueError, EOFError, struct.error) as exc:
        raise UserError(f"{path}: a damaged image ({_detail(exc)})") from None


def _detail(exc: BaseException) -> str:
    """The first line of a decoder's error, at most 80 characters, for a message in parentheses."""
    lines = str(exc).strip("()'\" \n").splitlines()
    return lines[0][:80] if lines else type(exc).__name__


def _eight_bit(image: Image.Image) -> Image.Image:
    """16-bit and float grey images as 8-bit ones, their range stretched to 0-255 (Pillow's conversion to
    ``L`` clips them instead); other images as they are."""
    if image.mode not in ("I", "I;16", "I;16B", "I;16L", "F"):
        return image
    values = np.asarray(image, dtype=np.float64)
    low, high = float(values.min()), float(values.max())
    scaled = (values - low) / (high - low) if high > low else np.zeros_like(values)
    return Image.fromarray(np.round(scaled * 255).astype(np.uint8))


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
    ink, ink_from = grey_ink(image)
    ink = level_paper(ink)
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
    return Stages(image, ink, cropped, boxed, centred, ink_from)


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


def naive(image) -> torch.Tensor:
    """What one tries first: the image in grey, squeezed to 28x28, float32 (1, 28, 28) in 0..1, nothing else."""
    grey = load_image(image).convert("L").resize((FIELD, FIELD), Image.Resampling.BILINEAR)
    return torch.from_numpy(np.asarray(grey, dtype=np.float32) / 255)[None]


@torch.inference_mode()
def predict(model: torch.nn.Module, images: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """Class probabilities, float32 (N, 10) summing to 1 per row, of ``images`` (N, 1, 28, 28) or (1, 28, 28)
    float in 0..1 (``preprocess``), normalized with ``mean`` and ``std`` (a checkpoint's, those of the
    training set), on the model's device, in evaluation mode (the model's mode is put back after).
    Raises ``ValueError`` for images of another shape."""
    if images.dim() == 3:
        images = images[None]
    if images.dim() != 4 or images.shape[1:] != (1, FIELD, FIELD):
        raise ValueError(f"images must be (N, 1, 28, 28), got {tuple(images.shape)}")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        return torch.softmax(model(((images.float() - mean) / std).to(device)), 1).cpu()
    finally:
        model.train(was_training)


def image_files(paths: list[str | os.PathLike]) -> tuple[list[Path], dict[Path, str]]:
    """The files ``paths`` name, and the folders among them that cannot be read, folder -> why (one line
    naming it, the reason and what to do). The files: each path that is no folder as given, and a
    folder's files (sorted; not its subfolders or hidden files). A folder's files that are not images by
    their suffix, and its entries that are not regular files (FIFOs, sockets, broken links), are kept
    too, so that they are reported rather than passed over in silence. A folder that cannot be listed,
    or whose entries cannot be looked at (read but no execute permission), is left out whole; a path
    that cannot be looked at itself is kept as a file, for ``load_image`` to name why it cannot be read."""
    found, unreadable = [], {}
    for path in map(Path, paths):
        try:
            if not path.is_dir():
                found.append(path)
                continue
        except OSError:  # the folder above it cannot be searched: reading it fails too, and says why
            found.append(path)
            continue
        try:
            found += sorted(p for p in path.iterdir() if not p.name.startswith(".") and not p.is_dir())
        except OSError as exc:
            fix = "; check its permissions (listing a folder's files needs its r and x)" \
                if isinstance(exc, PermissionError) else ""
            unreadable[path] = f"{path}: cannot read this folder ({exc.strerror or exc}){fix}"
    return found, unreadable
