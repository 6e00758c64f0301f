import errno
import gzip
import os
import re
import struct
from pathlib import Path

import pytest
import torch

from mnistlib.core import data as mnist_data
from mnistlib.core.augment import random_rotate_and_shift
from mnistlib.core.errors import UserError
from mnistlib.core.files import atomic_write


def test_real_data_matches_published_facts(data_root):
    mnist = mnist_data.load("cpu", data_root)
    assert mnist.train.images.shape == (60000, 1, 28, 28) and mnist.test.images.shape == (10000, 1, 28, 28)
    assert mnist.train.labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert mnist.test.labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert torch.bincount(mnist.train.labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert mnist.mean == pytest.approx(0.1306604763, abs=1e-6)
    assert mnist.std == pytest.approx(0.3081078039, abs=1e-6)
    # normalized with the training statistics: the training set has mean 0 and std 1
    assert mnist.train.images.mean().item() == pytest.approx(0.0, abs=1e-4)
    assert mnist.train.images.std().item() == pytest.approx(1.0, abs=1e-4)


def test_root_argument_beats_environment_beats_default(monkeypatch, tmp_path):
    monkeypatch.setenv("MNISTLIB_DATA", str(tmp_path / "env"))
    assert mnist_data.data_root(tmp_path / "arg") == tmp_path / "arg"
    assert mnist_data.data_root() == tmp_path / "env"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for unset in ("", " ", "\r\n"):  # empty, or blank as a line read from a file can be: no setting
        monkeypatch.setenv("MNISTLIB_DATA", unset)
        assert mnist_data.data_root() == tmp_path / "cache" / "mnistlib"
    monkeypatch.delenv("MNISTLIB_DATA")
    assert mnist_data.data_root() == tmp_path / "cache" / "mnistlib"


def test_plain_files_are_read_as_well_as_gz(copied_root):
    raw = copied_root / "MNIST" / "raw"
    gz = raw / "t10k-labels-idx1-ubyte.gz"
    if gz.exists():
        (raw / "t10k-labels-idx1-ubyte").write_bytes(gzip.decompress(gz.read_bytes()))
        gz.unlink()
    assert mnist_data.load_raw(copied_root, download=False)["t10k-labels-idx1-ubyte"][:3].tolist() == [7, 2, 1]


def _rewrite(path: Path, change) -> None:
    payload = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    path.write_bytes(gzip.compress(change(payload)) if path.suffix == ".gz" else change(payload))


def _file(root: Path, name: str) -> Path:
    return next((root / "MNIST" / "raw").glob(f"{name}*"))


def test_truncated_file_is_a_clear_error(copied_root):
    path = _file(copied_root, "train-labels-idx1-ubyte")
    _rewrite(path, lambda b: b[:-100])
    with pytest.raises(UserError, match=r"corrupt MNIST file .*train-labels.*truncated"):
        mnist_data.load_raw(copied_root, download=False)


def test_truncated_gzip_stream_is_a_clear_error(copied_root):
    path = _file(copied_root, "t10k-labels-idx1-ubyte")
    plain = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    whole = gzip.compress(plain)
    path.unlink()
    (path.parent / "t10k-labels-idx1-ubyte.gz").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(UserError, match="corrupt MNIST file .*t10k-labels"):
        mnist_data.load_raw(copied_root, download=False)


def test_wrong_checksum_is_a_clear_error(copied_root):
    path = _file(copied_root, "t10k-labels-idx1-ubyte")
    _rewrite(path, lambda b: b[:-1] + bytes([(b[-1] + 1) % 10]))  # one label changed, same size
    with pytest.raises(UserError, match="corrupt MNIST file .*MD5"):
        mnist_data.load_raw(copied_root, download=False)


def test_a_wrong_idx_header_is_named_before_size_and_checksum(copied_root):
    """A labels file where the images belong (same size): the header check catches it first."""
    path = _file(copied_root, "t10k-labels-idx1-ubyte")
    _rewrite(path, lambda b: struct.pack(">I", 2051) + b[4:])  # the magic number of an images file
    with pytest.raises(UserError, match=r"corrupt MNIST file .*t10k-labels.*: idx header 2051 \[10000\], expected "
                                        r"2049 \[10000\] \(another file under this name\?\)"):
        mnist_data.load_raw(copied_root, download=False)


def test_a_file_too_short_for_its_header_is_a_clear_error(copied_root):
    _rewrite(_file(copied_root, "t10k-labels-idx1-ubyte"), lambda b: b[:3])
    with pytest.raises(UserError, match="3 bytes, too short for an idx header"):
        mnist_data.load_raw(copied_root, download=False)


def test_missing_file_offline_names_folder_and_file(copied_root, offline):
    _file(copied_root, "t10k-images-idx3-ubyte").unlink()
    with pytest.raises(UserError) as error:
        mnist_data.load_raw(copied_root)
    message = str(error.value)
    assert message.startswith("MNIST data incomplete: point --data-dir at a folder holding MNIST/raw/")
    assert f"({copied_root / 'MNIST' / 'raw'} lacks t10k-images-idx3-ubyte (plain or .gz)" in message
    assert "; download failed: 127.0.0.1:9: Connection refused)" in message
    assert "\n" not in message


def test_a_folder_without_the_files_it_wants_names_them(tmp_path, offline):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / "mnist_train.csv").write_text("a copy in another format")
    with pytest.raises(UserError, match=f"no MNIST data: .* \\({raw} lacks train-images-idx3-ubyte, "
                                        "train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte "
                                        "\\(plain or .gz\\); download failed"):
        mnist_data.load_raw(tmp_path)


def test_every_mirror_refusing_shows_each_status(tmp_path, serve, monkeypatch):
    mirrors = [serve(tmp_path, status=403), serve(tmp_path, status=404)]
    monkeypatch.setattr(mnist_data, "MIRRORS", mirrors)
    with pytest.raises(UserError) as error:
        mnist_data.load_raw(tmp_path / "data")
    first, second = (url.split("/")[2] for url in mirrors)
    assert f"; download failed: {first}: HTTP 403 Forbidden; {second}: HTTP 404 Not Found)" in str(error.value)


def test_a_folder_that_cannot_be_written_is_named_before_any_download(copied_root, mirror_folder, serve,
                                                                       monkeypatch):
    _file(copied_root, "t10k-images-idx3-ubyte").unlink()
    monkeypatch.setattr(mnist_data, "MIRRORS", [serve(mirror_folder)])

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(mnist_data.tempfile, "TemporaryDirectory", read_only)
    with pytest.raises(UserError) as error:
        mnist_data.load_raw(copied_root)
    assert str(error.value) == (f"cannot write into {copied_root / 'MNIST' / 'raw'} (Read-only file system), where "
                                "the missing t10k-images-idx3-ubyte would be downloaded: point --data-dir at a folder "
                                "you can write, or copy the files there")
    assert not serve.requests


def test_a_failed_write_after_a_good_download_is_a_write_error(copied_root, mirror_folder, serve, monkeypatch):
    _file(copied_root, "t10k-labels-idx1-ubyte").unlink()
    before = sorted(p.name for p in (copied_root / "MNIST" / "raw").iterdir())
    monkeypatch.setattr(mnist_data, "MIRRORS", [serve(mirror_folder)])

    def full(f):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(mnist_data, "atomic_write", lambda path, write: atomic_write(path, full))
    with pytest.raises(UserError, match=r"^downloaded t10k-labels-idx1-ubyte.gz but cannot write it into .* \(No space "
                                        r"left on device\): free space, or point --data-dir at a folder you can "
                                        r"write$"):
        mnist_data.load_raw(copied_root)
    assert sorted(p.name for p in (copied_root / "MNIST" / "raw").iterdir()) == before  # no leftovers


@pytest.mark.parametrize("level", ["MNIST", "MNIST/raw"])
def test_a_root_one_level_off_uses_the_files_there(copied_root, mirror_folder, serve, monkeypatch, capsys, level):
    monkeypatch.setattr(mnist_data, "MIRRORS", [serve(mirror_folder)])
    monkeypatch.setattr(mnist_data, "_announced", set())
    before = sorted(p.relative_to(copied_root) for p in copied_root.rglob("*"))
    labels = mnist_data.load_raw(copied_root / level, names=mnist_data.TEST_FILES)["t10k-labels-idx1-ubyte"]
    assert labels[:3].tolist() == [7, 2, 1]
    assert sorted(p.relative_to(copied_root) for p in copied_root.rglob("*")) == before  # nothing downloaded
    assert capsys.readouterr().err == f"MNIST files found in {copied_root / 'MNIST' / 'raw'}; using them\n"
    mnist_data.load_raw(copied_root / level, names=mnist_data.TEST_FILES)
    assert capsys.readouterr().err == ""  # said once


@pytest.mark.parametrize("level", ["MNIST", "MNIST/raw"])
def test_an_empty_root_named_like_the_layout_downloads_into_that_layout(tmp_path, mirror_folder, serve, monkeypatch,
                                                                       level):
    monkeypatch.setattr(mnist_data, "MIRRORS", [serve(mirror_folder)])
    root = tmp_path / "data"
    (root / level).mkdir(parents=True)
    mnist_data.load_raw(root / level, names=mnist_data.TEST_FILES)
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*.gz")) == [
        f"MNIST/raw/{name}.gz" for name in mnist_data.TEST_FILES]


@pytest.mark.parametrize("compressed", [True, False])
def test_files_named_with_a_dot_before_idx_are_found(copied_root, offline, compressed):
    raw = copied_root / "MNIST" / "raw"
    for name in mnist_data.FILES:
        path = _file(copied_root, name)
        payload = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        path.unlink()
        dotted = raw / (name.replace("-idx", ".idx") + (".gz" if compressed else ""))
        dotted.write_bytes(gzip.compress(payload) if compressed else payload)
    assert mnist_data.load_raw(copied_root)["t10k-labels-idx1-ubyte"][:3].tolist() == [7, 2, 1]


def test_missing_data_names_the_variable_when_no_folder_was_given(tmp_path, offline, monkeypatch):
    monkeypatch.setenv("MNISTLIB_DATA", str(tmp_path))
    with pytest.raises(UserError, match=r"point --data-dir \(or \$MNISTLIB_DATA\) at"):
        mnist_data.load_raw()


def test_the_test_split_alone_reads_only_the_test_files(copied_root, offline):
    full = mnist_data.load("cpu", copied_root)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"):
        _file(copied_root, name).unlink()
    test = mnist_data.load_test("cpu", full.mean, full.std, copied_root)
    assert torch.equal(test.images, full.test.images) and torch.equal(test.labels, full.test.labels)


def test_missing_files_are_downloaded_from_a_mirror(tmp_path, mirror_folder, serve, monkeypatch):
    monkeypatch.setattr(mnist_data, "MIRRORS", ["http://127.0.0.1:9/", serve(mirror_folder)])
    arrays = mnist_data.load_raw(tmp_path / "fresh")
    assert arrays["train-images-idx3-ubyte"].shape == (60000, 28, 28)
    assert sorted(p.name for p in (tmp_path / "fresh" / "MNIST" / "raw").iterdir()) == sorted(
        f"{n}.gz" for n in mnist_data.FILES
    )


def test_batches_cover_every_image_once(quick_data):
    split = quick_data.train
    seen = torch.cat([labels for _, labels in split.batches(1000, shuffle=True)])
    assert len(seen) == len(split)
    assert torch.equal(seen.sort().values, split.labels.sort().values)
    sizes = [len(labels) for _, labels in split.batches(3000)]
    assert sizes == [3000] * (len(split) // 3000) + ([len(split) % 3000] if len(split) % 3000 else [])


def test_shuffled_batches_keep_images_with_their_labels(quick_data):
    split = quick_data.train
    torch.manual_seed(0)
    images, labels = next(iter(split.batches(64, shuffle=True)))
    assert images.shape == (64, 1, 28, 28) and labels.dtype == torch.int64
    first = next(iter(split.batches(64)))
    assert not torch.equal(labels, first[1])  # shuffled
    for image, label in zip(images[:8], labels[:8], strict=True):
        index = (split.images == image).flatten(1).all(1).nonzero().item()
        assert split.labels[index] == label


def test_rotation_differs_per_sample_and_stays_in_range(quick_data):
    image = quick_data.train.images[:1]
    batch = image.repeat(16, 1, 1, 1)
    torch.manual_seed(0)
    rotated = random_rotate_and_shift(batch, 7.0, 0.0, quick_data.background)
    assert rotated.shape == batch.shape
    assert not torch.allclose(rotated, batch)
    # every sample draws its own angle; nearest-pixel sampling maps close angles to the same image,
    # so at 7 degrees only several of 16 differ, and at 30 degrees all of them do
    assert len({tuple(r.flatten().tolist()) for r in rotated}) >= 6
    wide = random_rotate_and_shift(batch, 30.0, 0.0, quick_data.background)
    assert len({tuple(r.flatten().tolist()) for r in wide}) == 16
    assert rotated.min() >= quick_data.background - 1e-5 and rotated.max() <= batch.max() + 1e-5
    # a small rotation moves pixels a little: the picture stays close to the original
    assert (rotated - batch).abs().mean() < 0.5 * batch.abs().mean()


def test_shift_moves_the_digit(quick_data):
    image = quick_data.train.images[:1].repeat(32, 1, 1, 1)
    torch.manual_seed(0)
    shifted = random_rotate_and_shift(image, 0.0, 2.0, quick_data.background)
    ink = (image > 0).float()[0, 0]
    rows = torch.arange(28.0)
    centre = (ink.sum(1) * rows).sum() / ink.sum()
    moved = [((s[0] > 0).float().sum(1) * rows).sum() / (s[0] > 0).float().sum() - centre for s in shifted]
    assert max(abs(m) for m in moved) <= 2.5 and max(abs(m) for m in moved) >= 0.5


def test_zero_degrees_is_the_identity(quick_data):
    batch = quick_data.train.images[:4]
    assert torch.allclose(random_rotate_and_shift(batch, 0.0, 0.0, quick_data.background), batch, atol=1e-5)


def test_a_gzip_file_with_a_damaged_body_is_a_clear_error(copied_root):
    path = _file(copied_root, "t10k-labels-idx1-ubyte")
    plain = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    whole = bytearray(gzip.compress(plain))
    whole[10:18] = b"\xff" * 8  # the deflate stream's first block broken, the gzip header intact
    path.unlink()
    (path.parent / "t10k-labels-idx1-ubyte.gz").write_bytes(bytes(whole))
    with pytest.raises(UserError, match="corrupt MNIST file .*t10k-labels.*cannot read it"):
        mnist_data.load_raw(copied_root, download=False)


@pytest.mark.parametrize("around", [("", "\r"), ("", "\r\n"), (" ", "\t")])
def test_a_data_root_read_with_its_line_ending_is_used_without_it_and_says_so(copied_root, offline, monkeypatch,
                                                                               capsys, around):
    before, after = around
    monkeypatch.setattr(mnist_data, "_stripped", set())
    monkeypatch.setenv("MNISTLIB_DATA", f"{before}{copied_root}{after}")
    labels = mnist_data.load_raw(names=mnist_data.TEST_FILES)["t10k-labels-idx1-ubyte"]
    assert labels[:3].tolist() == [7, 2, 1]
    said = capsys.readouterr().err
    assert said == (f"$MNISTLIB_DATA is {before + str(copied_root) + after!r}: using {str(copied_root)!r}, without "
                    "the whitespace or control characters around it\n")
    mnist_data.load_raw(names=mnist_data.TEST_FILES)
    assert capsys.readouterr().err == ""  # said once
    mnist_data.load_raw(f"{copied_root}{after * 2}", names=mnist_data.TEST_FILES)  # an argument too
    assert capsys.readouterr().err.startswith("the data folder is")
    assert sorted(p.name for p in copied_root.parent.iterdir()) == ["data"]  # no folder named with the stray end


def test_a_failed_download_creates_no_folder_and_a_stray_character_shows(tmp_path, offline):
    root = tmp_path / "da\x1bta"
    with pytest.raises(UserError) as error:
        mnist_data.load_raw(root)
    assert f"nothing in {tmp_path}/da\\x1bta/MNIST/raw;" in str(error.value)  # the escape visible
    assert list(tmp_path.iterdir()) == []  # no data folder, no MNIST/raw, no staging folder left


def _remove(root: Path, name: str) -> Path:
    path = _file(root, name)
    path.unlink()
    return path


@pytest.mark.parametrize("make, fragment", [
    (lambda path: path.symlink_to("moved/t10k-labels-idx1-ubyte.gz"),
     "is a symbolic link to moved/t10k-labels-idx1-ubyte.gz, which leads to nothing: point the link at"),
    (lambda path: (path.symlink_to("loop"), path.with_name("loop").symlink_to(path.name)),
     "is a symbolic link to loop, which leads back to itself (a loop of links): point the link at the MNIST file"),
    (lambda path: path.mkdir(), "is a folder, not the MNIST file of that name"),
    (lambda path: os.mkfifo(path), "is not a regular file (a device, pipe or socket)"),
])
def test_an_odd_entry_under_a_files_name_is_named_and_never_downloaded_over(copied_root, mirror_folder, serve,
                                                                           monkeypatch, make, fragment):
    path = _remove(copied_root, "t10k-labels-idx1-ubyte")
    make(path)
    monkeypatch.setattr(mnist_data, "MIRRORS", [serve(mirror_folder)])
    with pytest.raises(UserError, match=f"^{re.escape(str(path))} {re.escape(fragment)}"):
        mnist_data.load_raw(copied_root)
    assert not serve.requests
    assert path.is_symlink() or path.is_dir() or path.is_fifo()  # still what it was


def test_a_file_that_is_not_what_its_name_says_is_named_as_such(copied_root, offline):
    gz = _remove(copied_root, "t10k-labels-idx1-ubyte")
    plain = gzip.decompress((Path(mnist_data.data_root()) / "MNIST" / "raw" / gz.name).read_bytes())
    gz.write_bytes(plain)  # a plain idx file named .gz
    with pytest.raises(UserError, match=f"^{re.escape(str(gz))} is not gzip-compressed, though its name ends in .gz "
                                        r"\(it holds a plain idx file\): rename it to t10k-labels-idx1-ubyte$"):
        mnist_data.load_raw(copied_root)
    gz.write_bytes(b"<!DOCTYPE html><html><body>403 Forbidden</body></html>")  # a web page saved in its place
    with pytest.raises(UserError, match="it holds a web page, an error page saved in its place"):
        mnist_data.load_raw(copied_root)
    gz.write_bytes(b"")  # an interrupted copy
    with pytest.raises(UserError, match=r"is empty \(0 bytes: an interrupted copy or download\?\): remove it"):
        mnist_data.load_raw(copied_root)
    gz.unlink()
    (gz.parent / gz.stem).write_bytes(b"<html><body>Not Found</body></html>")  # a web page under the plain name
    with pytest.raises(UserError, match=r"\(it holds a web page, an error page saved in its place\?\)$"):
        mnist_data.load_raw(copied_root)
    (gz.parent / gz.stem).write_bytes(gzip.compress(plain))  # gzip-compressed under the plain name
    with pytest.raises(UserError, match="is gzip-compressed, though its name has no .gz: rename it to "
                                        "t10k-labels-idx1-ubyte.gz$"):
        mnist_data.load_raw(copied_root)


def test_another_mnist_file_under_a_files_name_is_named(copied_root):
    test_labels = _file(copied_root, "t10k-labels-idx1-ubyte")
    test_labels.write_bytes(_file(copied_root, "train-labels-idx1-ubyte").read_bytes())
    with pytest.raises(UserError, match=r"\(it holds train-labels-idx1-ubyte \(by its idx header\)\)$"):
        mnist_data.load_raw(copied_root)


@pytest.mark.parametrize("level", ["", "MNIST", "MNIST/raw"])
def test_a_data_folder_that_is_a_broken_link_is_named_not_reported_missing(tmp_path, offline, level):
    root = tmp_path / "data"
    link = root / level if level else root
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(tmp_path / "unmounted" / "data")
    with pytest.raises(UserError, match=f"^{re.escape(str(link))} is a symbolic link to .*, which leads to nothing: "
                                        "point the link at the folder that holds the files, or remove it$"):
        mnist_data.load_raw(root)


def test_after_a_partial_download_only_what_is_still_missing_is_named(tmp_path, mirror_folder, serve, monkeypatch):
    (mirror_folder / "t10k-labels-idx1-ubyte.gz").unlink()  # the mirror lacks one of the two
    monkeypatch.setattr(mnist_data, "MIRRORS", [serve(mirror_folder)])
    with pytest.raises(UserError, match=r"lacks t10k-labels-idx1-ubyte \(plain or .gz\); download failed"):
        mnist_data.load_raw(tmp_path, names=mnist_data.TEST_FILES)
    assert [p.name for p in (tmp_path / "MNIST" / "raw").iterdir()] == ["t10k-images-idx3-ubyte.gz"]
