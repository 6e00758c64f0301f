"""MNIST on the training device: verified idx files in, one normalized tensor per split out.

Files live in torchvision's layout, ``<root>/MNIST/raw/<name>`` or ``<name>.gz``. Every file is
checked (size, MD5 of the uncompressed bytes, idx magic number and shape) before training starts.
Batches are index slices of a tensor that already sits on the device, and augmentation runs
batched on that device, so the training loop has no DataLoader and no per-image Python work.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import struct
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from .errors import UserError
from .files import atomic_write

ENV_VAR = "MNISTLIB_DATA"


@dataclass(frozen=True)
class IdxFile:
    md5: str  # of the uncompressed file, as published
    size: int
    magic: int
    shape: tuple[int, ...]


FILES = {
    "train-images-idx3-ubyte": IdxFile("6bbc9ace898e44ae57da46a324031adb", 47040016, 2051, (60000, 28, 28)),
    "train-labels-idx1-ubyte": IdxFile("a25bea736e30d166cdddb491f175f624", 60008, 2049, (60000,)),
    "t10k-images-idx3-ubyte": IdxFile("2646ac647ad5339dbf082846283269ea", 7840016, 2051, (10000, 28, 28)),
    "t10k-labels-idx1-ubyte": IdxFile("27ae3e4e09519cfbb04c329615203637", 10008, 2049, (10000,)),
}

# torchvision's list; the old yann.lecun.com mirror answers 403, so the S3 copy comes first.
MIRRORS = ["https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"]


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The folder holding ``MNIST/raw``: the argument, else $MNISTLIB_DATA, else ~/.cache/mnistlib."""
    if root is None:
        root = os.environ.get(ENV_VAR) or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mnistlib"
    return Path(root).expanduser()


def _find(raw: Path, name: str) -> Path | None:
    for candidate in (raw / name, raw / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def read_idx(path: Path, spec: IdxFile) -> torch.Tensor:
    """Read one idx file (plain or .gz) after checking it against the published size and MD5."""
    try:
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise UserError(f"corrupt MNIST file {path}: cannot read it ({exc})") from None
    if len(data) != spec.size:
        raise UserError(f"corrupt MNIST file {path}: {len(data)} bytes, expected {spec.size} (truncated?)")
    digest = hashlib.md5(data).hexdigest()
    if digest != spec.md5:
        raise UserError(f"corrupt MNIST file {path}: MD5 {digest}, expected {spec.md5}")
    magic, *dims = struct.unpack(f">{1 + len(spec.shape)}I", data[: 4 * (1 + len(spec.shape))])
    if magic != spec.magic or tuple(dims) != spec.shape:
        raise UserError(
            f"corrupt MNIST file {path}: idx header {magic} {dims}, expected {spec.magic} {list(spec.shape)}"
        )
    offset = 4 * (1 + len(spec.shape))
    return torch.frombuffer(bytearray(data[offset:]), dtype=torch.uint8).reshape(spec.shape)


def check_payload(name: str, data: bytes) -> None:
    """Raise ValueError unless ``data`` is the published file ``name`` (size and MD5)."""
    spec = FILES[name]
    if len(data) != spec.size or hashlib.md5(data).hexdigest() != spec.md5:
        raise ValueError(f"{name}: the download is not the published file (size or MD5 differs)")


def _download(raw: Path, names: list[str]) -> None:
    """Fetch ``<name>.gz`` from the mirrors into ``raw``; each file appears whole or not at all."""
    for name in names:
        errors = []
        for mirror in MIRRORS:
            try:
                with urllib.request.urlopen(f"{mirror}{name}.gz", timeout=30) as response:
                    payload = response.read()
                check_payload(name, gzip.decompress(payload))  # before anything reaches the folder
            except Exception as exc:  # noqa: BLE001 - any failure means: try the next mirror
                errors.append(f"{mirror}: {exc}")
                continue
            raw.mkdir(parents=True, exist_ok=True)
            atomic_write(raw / f"{name}.gz", lambda f, payload=payload: f.write(payload))
            break
        else:
            raise OSError("; ".join(errors))


TEST_FILES = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def load_raw(root: str | os.PathLike | None = None, download: bool = True,
             names: tuple[str, ...] = tuple(FILES)) -> dict[str, torch.Tensor]:
    """The verified MNIST arrays ``names`` (default all four) as uint8 CPU tensors, keyed by file name."""
    raw = data_root(root) / "MNIST" / "raw"
    missing = [name for name in names if _find(raw, name) is None]
    if missing:
        failure = "download disabled"
        if download:
            try:
                _download(raw, missing)
                failure = ""
            except OSError:
                failure = "download failed"
        if failure:
            partly = f"{', '.join(missing)} missing; " if len(missing) < len(names) else ""
            raise UserError(_missing_message(root, raw, f"{partly}{failure}"))
    return {name: read_idx(_find(raw, name), FILES[name]) for name in names}


def _missing_message(root: str | os.PathLike | None, raw: Path, why: str) -> str:
    """One line, the fix first: where to point, then where it looked."""
    given = data_root(root)
    if given.name == "raw" and given.parent.name == "MNIST":
        return f"give the folder that holds MNIST/raw/, not MNIST/raw itself: {given.parent.parent}"
    where = "--data-dir" if root is not None else f"--data-dir (or ${ENV_VAR})"
    return f"no MNIST data: point {where} at a folder holding MNIST/raw/ (looked in {raw}; {why})"


@dataclass
class Split:
    """One split on the device: normalized images (N, 1, 28, 28) float32 and labels (N,) int64."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def head(self, n: int) -> Split:
        """The first ``n`` examples (a view, no copy)."""
        return Split(self.images[:n], self.labels[:n])

    def batches(self, batch_size: int, shuffle: bool = False):
        """Yield (images, labels) mini-batches as index slices; the last one may be smaller."""
        n = len(self)
        order = torch.randperm(n, device=self.labels.device) if shuffle else None
        for start in range(0, n, batch_size):
            if order is None:
                yield self.images[start : start + batch_size], self.labels[start : start + batch_size]
            else:
                idx = order[start : start + batch_size]
                yield self.images[idx], self.labels[idx]


@dataclass
class MNIST:
    train: Split
    test: Split
    mean: float
    std: float
    val: Split | None = None  # held out from the training set for choosing recipes; never trained on

    @property
    def background(self) -> float:
        """The value of a black pixel after normalization."""
        return -self.mean / self.std


def _normalize(images: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """uint8 (N, 28, 28) to normalized float32 (N, 1, 28, 28), in one allocation (Binder has 1-2 GB)."""
    return images.float().div_(255).sub_(mean).div_(std).unsqueeze(1)


def load(
    device: str | torch.device = "cpu",
    root: str | os.PathLike | None = None,
    train_size: int | None = None,
    download: bool = True,
    val_size: int = 0,
) -> MNIST:
    """Load, verify and normalize MNIST onto ``device``.

    ``val_size`` holds out the *last* that many of the 60,000 training images as a validation split
    (the same images for every seed); training uses the rest, or the first ``train_size`` of them
    (quick mode). Mean and std come from the full training set, so every split is normalized alike.
    """
    raw = load_raw(root, download)
    labels = raw["train-labels-idx1-ubyte"].long()
    pixels = raw.pop("train-images-idx3-ubyte").float().div_(255)
    mean, std = pixels.mean().item(), pixels.std().item()
    if not 0 <= val_size < len(pixels):
        raise UserError(f"--val-size must be between 0 and {len(pixels) - 1}, got {val_size}")
    train = pixels.sub_(mean).div_(std).unsqueeze(1).to(device)  # in place: the training set is 188 MB
    kept = len(train) - val_size
    n = min(train_size or kept, kept)
    test = _normalize(raw["t10k-images-idx3-ubyte"], mean, std)
    return MNIST(
        train=Split(train[:n], labels[:n].to(device)),
        test=Split(test.to(device), raw["t10k-labels-idx1-ubyte"].long().to(device)),
        mean=mean,
        std=std,
        val=Split(train[kept:], labels[kept:].to(device)) if val_size else None,
    )


def load_test(device: str | torch.device, mean: float, std: float, root: str | os.PathLike | None = None,
              download: bool = True) -> Split:
    """Only the test split, normalized with the training statistics a checkpoint saved: reads the two
    small test files, not the 47 MB of training images."""
    raw = load_raw(root, download, TEST_FILES)
    images, labels = (raw[name] for name in TEST_FILES)
    return Split(_normalize(images, mean, std).to(device), labels.long().to(device))


def random_rotation(
    images: torch.Tensor, max_degrees: float, background: float, max_shift: float = 0.0
) -> torch.Tensor:
    """Rotate each image by its own uniform random angle in [-max_degrees, max_degrees].

    Optionally also shift it by up to ``max_shift`` pixels along each axis. One affine grid for the
    whole batch; corners uncovered by the move get ``background``. Nearest-neighbour sampling, like
    torchvision's RandomRotation default, so strokes stay as sharp as in the test images.
    """
    n, _, height, width = images.shape
    angles = (torch.rand(n, device=images.device) * 2 - 1) * math.radians(max_degrees)
    cos, sin = angles.cos(), angles.sin()
    shifts = (torch.rand(2, n, device=images.device) * 2 - 1) * max_shift
    tx, ty = shifts[0] * 2 / width, shifts[1] * 2 / height  # pixels to affine_grid's [-1, 1] units
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    shifted = images - background  # so that grid_sample's zero padding means "black"
    return F.grid_sample(shifted, grid, mode="nearest", padding_mode="zeros", align_corners=False) + background
