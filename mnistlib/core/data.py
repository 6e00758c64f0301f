"""MNIST on the training device: verified idx files in, one normalized tensor per split out.

Files live in torchvision's layout, ``<root>/MNIST/raw/<name>``, each plain or ``.gz``, under
either name MNIST files go by (``train-images-idx3-ubyte`` or ``train-images.idx3-ubyte``). Every
file is checked (idx header, size, MD5 of the uncompressed bytes) before training starts. Batches
are index slices of a tensor that already sits on the device, and augmentation runs batched on
that device, so the training loop has no DataLoader and no per-image Python work.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import os
import struct
import sys
import tempfile
import urllib.error
import urllib.parse
import zlib
from dataclasses import dataclass
from pathlib import Path

import torch

from .errors import UserError, printable
from .files import WriteError, atomic_write

ENV_VAR = "MNISTLIB_DATA"


@dataclass(frozen=True)
class IdxFile:
    """One MNIST file as published: the MD5 and size of its uncompressed bytes, its idx magic number and shape."""
    md5: str  # of the uncompressed file, as published
    size: int
    magic: int  # 2051: unsigned bytes in 3 dimensions (images); 2049: in 1 dimension (labels)
    shape: tuple[int, ...]


# The four files and their published facts (http://yann.lecun.com/exdb/mnist/; torchvision's MNIST).
FILES = {
    "train-images-idx3-ubyte": IdxFile("6bbc9ace898e44ae57da46a324031adb", 47040016, 2051, (60000, 28, 28)),
    "train-labels-idx1-ubyte": IdxFile("a25bea736e30d166cdddb491f175f624", 60008, 2049, (60000,)),
    "t10k-images-idx3-ubyte": IdxFile("2646ac647ad5339dbf082846283269ea", 7840016, 2051, (10000, 28, 28)),
    "t10k-labels-idx1-ubyte": IdxFile("27ae3e4e09519cfbb04c329615203637", 10008, 2049, (10000,)),
}
TEST_FILES = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

# torchvision's list; the old yann.lecun.com mirror answers 403, so the S3 copy comes first.
MIRRORS = ["https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"]


CONTROL_AND_SPACE = "".join(map(chr, range(33))) + "\x7f"  # ASCII control characters and the space
_stripped: set[str] = set()


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data root: the argument, else $MNISTLIB_DATA, else ~/.cache/mnistlib (a path, not checked).

    Whitespace and control characters around it (a line ending read with the value from an ``.env``
    file written on Windows, a space pasted with it) are removed, and that is said once per process on
    stderr: no folder name ends in a carriage return on purpose. A blank ``$MNISTLIB_DATA`` is no setting.
    """
    origin = "the data folder"
    if root is None and os.environ.get(ENV_VAR, "").strip(CONTROL_AND_SPACE):  # a blank value is no setting
        root, origin = os.environ[ENV_VAR], f"${ENV_VAR}"
    elif root is None:
        root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mnistlib"
    text = str(root)
    clean = text.strip(CONTROL_AND_SPACE).strip()
    if clean != text and clean:
        if text not in _stripped:
            _stripped.add(text)
            print(f"{origin} is {text!r}: using {clean!r}, without the whitespace or control characters around it",
                  file=sys.stderr)
        text = clean
    return Path(text).expanduser()


def file_names(name: str) -> list[str]:
    """The names one MNIST file is found under: torchvision's (``t10k-images-idx3-ubyte``) and the other
    common spelling (``t10k-images.idx3-ubyte``), each plain or gzip-compressed."""
    other = name.replace("-idx", ".idx")
    return [name, f"{name}.gz", other, f"{other}.gz"]


def _broken_link(path: Path, fix: str) -> UserError | None:
    """The error for ``path`` if it is a symbolic link that leads nowhere (to nothing, or round in a loop),
    ending in ``fix``; else None."""
    if not path.is_symlink() or path.exists():
        return None
    try:
        os.stat(path)
        loop = False
    except OSError as exc:
        loop = exc.errno == errno.ELOOP
    where = "which leads back to itself (a loop of links)" if loop else "which leads to nothing"
    return UserError(f"{printable(path)} is a symbolic link to {printable(os.readlink(path))}, {where}: {fix}")


def find_file(raw: Path, name: str) -> Path | None:
    """The file ``name`` in the folder ``raw`` under any of its ``file_names``, or None if none is there.

    Raises ``UserError`` when none is a readable file but one of the names is taken by something else: a
    symbolic link to nothing, a folder, a device or pipe. Such an entry is named, never reported as
    missing, and so never replaced by a download.
    """
    paths = [raw / n for n in file_names(name)]
    if found := next((p for p in paths if p.is_file()), None):
        return found
    for path in paths:
        if error := _broken_link(path, "point the link at the MNIST file, or remove it to have the file downloaded"):
            raise error
        if path.is_dir():
            raise UserError(f"{printable(path)} is a folder, not the MNIST file of that name: move it away, or put "
                            f"{name}.gz in {printable(raw)}")
        if path.exists():
            raise UserError(f"{printable(path)} is not a regular file (a device, pipe or socket): remove it, or put "
                            f"{name}.gz in {printable(raw)}")
    return None


def raw_candidates(root: Path) -> list[Path]:
    """Where the files of ``root`` may be: torchvision's ``root/MNIST/raw``, or a root that is itself
    one level off (``.../MNIST``, whose files are in ``raw/``, or ``.../MNIST/raw`` itself)."""
    return [root / "MNIST" / "raw", root / "raw", root]


def download_folder(root: Path) -> Path:
    """Where missing files of ``root`` are downloaded: its ``MNIST/raw``, or the folder of that layout that
    ``root`` already is (so a root one level off never gets a second copy nested inside it)."""
    if root.name == "raw" and root.parent.name == "MNIST":
        return root
    if root.name == "MNIST":
        return root / "raw"
    return root / "MNIST" / "raw"


_announced: set[Path] = set()


def raw_folder(root: Path, names: tuple[str, ...]) -> Path:
    """The folder that holds the MNIST files of ``root``: the first of ``raw_candidates`` holding any of
    ``names``, else ``download_folder(root)``. Says once (per process) when that is not ``root/MNIST/raw``."""
    for folder in raw_candidates(root):
        if any(find_file(folder, name) for name in names):
            if folder != root / "MNIST" / "raw" and folder not in _announced:
                _announced.add(folder)
                print(f"MNIST files found in {printable(folder)}; using them", file=sys.stderr)
            return folder
    return download_folder(root)


def read_idx(path: Path, spec: IdxFile) -> torch.Tensor:
    """Read one idx file (plain or .gz) as a uint8 tensor of ``spec.shape``, after checking, in this
    order, its idx header (magic number and dimensions), its size and the MD5 of its bytes against the
    published ones. Raises ``UserError`` (one line naming the file and what differs) at the first check
    that fails."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read the MNIST file {printable(path)} ({exc.strerror or exc})") from None
    if not data:
        raise UserError(f"{printable(path)} is empty (0 bytes: an interrupted copy or download?): remove it to have it "
                        "downloaded")
    compressed = data[:2] == GZIP_MAGIC
    if compressed != (path.suffix == ".gz"):
        raise UserError(_misnamed(path, data, compressed, spec))
    try:
        if compressed:
            data = gzip.decompress(data)
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise UserError(f"corrupt MNIST file {printable(path)}: cannot read it ({exc})") from None
    header = 4 * (1 + len(spec.shape))
    if len(data) < header:
        raise UserError(f"corrupt MNIST file {printable(path)}: {len(data)} bytes, too short for an idx header")
    magic, *dims = struct.unpack(f">{1 + len(spec.shape)}I", data[:header])
    if magic != spec.magic or tuple(dims) != spec.shape:
        what = _held(data) or "another file under this name?"
        raise UserError(f"corrupt MNIST file {printable(path)}: idx header {magic} {dims}, expected {spec.magic} "
                        f"{list(spec.shape)} ({what})")
    if len(data) != spec.size:
        raise UserError(f"corrupt MNIST file {path}: {len(data)} bytes, expected {spec.size} (truncated?)")
    digest = hashlib.md5(data).hexdigest()
    if digest != spec.md5:
        raise UserError(f"corrupt MNIST file {path}: MD5 {digest}, expected {spec.md5}")
    return torch.frombuffer(bytearray(data[header:]), dtype=torch.uint8).reshape(spec.shape)


GZIP_MAGIC = b"\x1f\x8b"  # the first two bytes of every gzip file (RFC 1952)


def _idx_header(spec: IdxFile) -> bytes:
    return struct.pack(f">{1 + len(spec.shape)}I", spec.magic, *spec.shape)


def _held(data: bytes) -> str | None:
    """What a file's (uncompressed) bytes hold when they are recognizably something else than the file
    its name promises: another MNIST file, or a web page; None otherwise."""
    other = next((name for name, spec in FILES.items() if data.startswith(_idx_header(spec))), None)
    if other is not None:
        return f"it holds {other} (by its idx header)"
    if data[:64].lstrip().lower().startswith((b"<!doctype html", b"<html")):
        return "it holds a web page, an error page saved in its place?"
    return None


def _misnamed(path: Path, data: bytes, compressed: bool, spec: IdxFile) -> str:
    """Why the file at ``path``, holding ``data``, is not what its name says (gzip-compressed or plain)."""
    if compressed:
        return f"{printable(path)} is gzip-compressed, though its name has no .gz: rename it to {path.name}.gz"
    if data.startswith(_idx_header(spec)):
        return (f"{printable(path)} is not gzip-compressed, though its name ends in .gz (it holds a plain idx file): "
                f"rename it to {path.stem}")
    held = _held(data) or f"it starts with {data[:8]!r}"
    return (f"{printable(path)} is not gzip-compressed, though its name ends in .gz ({held}): remove it to have it "
            "downloaded")


def _why(error: Exception) -> str:
    """A download failure in a few words: the HTTP status, or the network's reason."""
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        return str(getattr(error.reason, "strerror", None) or error.reason)
    return str(error) or type(error).__name__


class DownloadFailed(Exception):
    """No mirror gave a file; the message says what each one answered."""


def _existing_folder(path: Path) -> Path:
    """``path`` if it is there, else the nearest folder above it that is."""
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def _download(raw: Path, names: list[str]) -> None:
    """Fetch ``<name>.gz`` of each of ``names`` from the first mirror that has it (torchvision's
    ``download_url``) into ``raw``; each file appears there whole and verified, or not at all.

    Files are fetched into a temporary folder in the nearest existing folder of ``raw`` (which also shows
    it can be written, before any download); ``raw`` itself is made only when the first verified file
    is moved into it, so a failed download leaves no folder behind.

    Raises ``UserError`` when ``raw`` cannot be written (checked before any download) or a downloaded
    file cannot be stored there, and ``DownloadFailed`` when no mirror gave a file.
    """
    from torchvision.datasets.utils import download_url

    try:
        staging = tempfile.TemporaryDirectory(dir=_existing_folder(raw), prefix=".mnistlib-download-")
    except OSError as exc:
        raise UserError(f"cannot write into {printable(raw)} ({exc.strerror or exc}), where the missing "
                        f"{', '.join(names)} would be downloaded: point --data-dir at a folder you can write, or copy "
                        "the files there") from None
    with staging as tmp:
        for name in names:
            answers = []
            for mirror in MIRRORS:
                fetched = Path(tmp) / f"{name}.gz"
                fetched.unlink(missing_ok=True)  # download_url keeps a file that is already there
                try:
                    download_url(f"{mirror}{name}.gz", tmp, f"{name}.gz")
                    read_idx(fetched, FILES[name])  # the published file, before it reaches the folder
                    break
                except (OSError, RuntimeError, UserError) as exc:  # HTTPError and URLError are OSErrors
                    host = urllib.parse.urlsplit(mirror).netloc
                    answers.append(f"{host}: {_why(exc) if isinstance(exc, OSError) else exc}")
            else:
                raise DownloadFailed(f"download failed: {'; '.join(answers)}")
            try:
                atomic_write(raw / f"{name}.gz", lambda f, fetched=fetched: f.write(fetched.read_bytes()))
            except WriteError as exc:
                raise UserError(f"downloaded {name}.gz but cannot write it into {printable(raw)} ({exc.reason}): "
                                f"{exc.fix}, or point --data-dir at a folder you can write") from None


def load_raw(root: str | os.PathLike | None = None, download: bool = True,
             names: tuple[str, ...] = tuple(FILES)) -> dict[str, torch.Tensor]:
    """The verified MNIST arrays ``names`` (default all four) as uint8 CPU tensors keyed by file name:
    images (N, 28, 28), labels (N,) with values 0-9.

    Looks in ``data_root(root)``'s ``raw_folder``; downloads what is missing there unless ``download`` is
    false. Raises ``UserError`` (one line: the fix first) when files are missing and cannot be
    downloaded, or when a file is corrupt.
    """
    given = data_root(root)
    for folder in (given, given / "MNIST", given / "MNIST" / "raw"):
        if error := _broken_link(folder, "point the link at the folder that holds the files, or remove it"):
            raise error
    raw = raw_folder(given, names)
    missing = [name for name in names if find_file(raw, name) is None]
    if missing and not download:
        raise UserError(_missing_message(root, raw, missing, "download disabled"))
    if missing:
        try:
            _download(raw, missing)
        except DownloadFailed as exc:
            still = [name for name in missing if find_file(raw, name) is None]  # some may have come meanwhile
            raise UserError(_missing_message(root, raw, still, str(exc))) from None
    return {name: read_idx(find_file(raw, name), FILES[name]) for name in names}


def _missing_message(root: str | os.PathLike | None, raw: Path, missing: list[str], why: str) -> str:
    """One line, the fix first: where to point, then where it looked, what it wanted, and why it has not."""
    where = "--data-dir" if root is not None else f"--data-dir (or ${ENV_VAR})"
    what = "no MNIST data" if len(missing) == len(FILES) else "MNIST data incomplete"
    if raw.is_dir() and any(raw.iterdir()):  # something is there: say what was expected
        looked = f"{printable(raw)} lacks {', '.join(missing)} (plain or .gz)"
    else:
        looked = f"nothing in {printable(raw)}"
    return f"{what}: point {where} at a folder holding MNIST/raw/ ({looked}; {why})"


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
    """The splits on one device (``Split``s), normalized with the training set's pixel ``mean`` and ``std``
    (of pixel values 0..1)."""
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
    Each split holds images (N, 1, 28, 28) float32, pixel values (0..1) less the mean over the std, and
    labels (N,) int64 0..9.

    Raises ``UserError`` (one line): the files cannot be found, downloaded or written, or one fails its
    idx header, size or MD5 check; ``val_size`` out of range.
    """
    raw = load_raw(root, download)
    labels = raw["train-labels-idx1-ubyte"].long()
    pixels = raw.pop("train-images-idx3-ubyte").float().div_(255)
    mean, std = pixels.mean().item(), pixels.std().item()
    if not 0 <= val_size < len(pixels):
        raise UserError(f"--val-size must be between 0 and {len(pixels) - 1}, got {val_size}")
    train = pixels.sub_(mean).div_(std).unsqueeze(1)  # in place: the training set is 188 MB
    kept = len(train) - val_size
    n = min(train_size or kept, kept)
    if n < len(train):  # copies of the parts in use, so that the rest of the 188 MB is freed
        train, val = train[:n].clone(), train[kept:].clone()
    else:
        val = train[kept:]
    test = _normalize(raw["t10k-images-idx3-ubyte"], mean, std)
    return MNIST(
        train=Split(train[:n].to(device), labels[:n].to(device)),
        test=Split(test.to(device), raw["t10k-labels-idx1-ubyte"].long().to(device)),
        mean=mean,
        std=std,
        val=Split(val.to(device), labels[kept:].to(device)) if val_size else None,
    )


def load_test(device: str | torch.device, mean: float, std: float, root: str | os.PathLike | None = None,
              download: bool = True) -> Split:
    """Only the test split (10,000 images (N, 1, 28, 28) float32 and labels int64), normalized with the
    training statistics a checkpoint saved: reads the two small test files, not the 47 MB of training
    images. Raises ``UserError`` as ``load`` does."""
    raw = load_raw(root, download, TEST_FILES)
    images, labels = (raw[name] for name in TEST_FILES)
    return Split(_normalize(images, mean, std).to(device), labels.long().to(device))
