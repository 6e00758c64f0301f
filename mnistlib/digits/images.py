"""Reading the images people give as digits: files of any format Pillow reads, PIL images, arrays and
tensors. A file that is not one (a vector drawing, a phone's HEIC photo without its plugin, a PDF, a
FIFO, a sheet that ``predict --show`` saved) is named with what it is and what to do with it.
"""

from __future__ import annotations

import functools
import os
import stat
import struct
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError, features

from ..core.errors import UserError


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


def _eight_bit(image: Image.Image) -> Image.Image:
    """16-bit and float grey images as 8-bit ones, their range stretched to 0-255 (Pillow's conversion to
    ``L`` clips them instead); other images as they are."""
    if image.mode not in ("I", "I;16", "I;16B", "I;16L", "F"):
        return image
    values = np.asarray(image, dtype=np.float64)
    low, high = float(values.min()), float(values.max())
    scaled = (values - low) / (high - low) if high > low else np.zeros_like(values)
    return Image.fromarray(np.round(scaled * 255).astype(np.uint8))


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
