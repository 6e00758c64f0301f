"""Your own digits: MNIST's preprocessing on photo-like images, the predict command, and bad input."""

import builtins
import errno
import importlib.util
import io
import json
import os
import sys
import types

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import assert_user_error, into_a_closed_pipe, mnistlib
from mnistlib import cli
from mnistlib.core import data as mnist_data
from mnistlib.core import runs
from mnistlib.core.errors import UserError
from mnistlib.digits import classify, images, photos, preprocess
from mnistlib.teach import notebook

COUNT = 300  # test digits re-drawn as photos


@pytest.fixture(scope="module")
def test_digits(data_root):
    raw = mnist_data.load_raw(data_root, names=mnist_data.TEST_FILES)
    return raw["t10k-images-idx3-ubyte"][:COUNT], raw["t10k-labels-idx1-ubyte"][:COUNT].long()


@pytest.fixture(scope="module")
def photo_set(test_digits):
    images, labels = test_digits
    return photos.photos(images, seed=0), labels


@pytest.fixture(scope="module")
def quick_model(quick_run_dir):
    return runs.load_checkpoint(quick_run_dir[0])


def accuracy(model, checkpoint, inputs, labels) -> float:
    probabilities = classify.predict(model, torch.stack(inputs), checkpoint["mean"], checkpoint["std"])
    return 100 * (probabilities.argmax(1) == labels).float().mean().item()


def test_the_photo_set_looks_like_photos(photo_set):
    images, _ = photo_set
    modes = {image.mode for image in images}
    assert modes == {"RGB", "RGBA"} and sum(image.format == "JPEG" for image in images) > COUNT / 2
    sides = [max(image.size) for image in images]
    assert min(sides) >= 5 * 28 * 1.2 - 1 and max(sides) <= 14 * 28 * 2 + 1
    rgb = np.asarray(next(i for i in images if i.mode == "RGB"), dtype=np.float32)
    assert np.median(rgb) > 128  # light paper


def test_preprocessing_recovers_mnist_accuracy_where_the_squeezed_ink_fails(quick_model, photo_set):
    model, checkpoint = quick_model
    images, labels = photo_set
    inputs = [preprocess.stage_inputs(preprocess.preprocess_stages(image)) for image in images]
    assert all(x.shape == (1, 28, 28) and x.dtype == torch.float32 for x in inputs[0].values())
    assert all(torch.equal(i["+ centre of mass"], preprocess.preprocess(image))
               for i, image in zip(inputs[:5], images[:5], strict=True))
    after = {stage: accuracy(model, checkpoint, [i[stage] for i in inputs], labels) for stage in inputs[0]}
    print(", ".join(f"{stage} {acc:.1f}%" for stage, acc in after.items()), f"on {COUNT} photo-like test digits")
    assert after["+ centre of mass"] >= notebook.OWN_DIGITS_BAR and after["ink, squeezed"] < notebook.NAIVE_CEILING


def test_single_and_batched_predictions_agree(quick_model, photo_set):
    model, checkpoint = quick_model
    digits = torch.stack([preprocess.preprocess(image) for image in photo_set[0][:32]])
    batched = classify.predict(model, digits, checkpoint["mean"], checkpoint["std"])
    one_by_one = torch.cat([classify.predict(model, digit, checkpoint["mean"], checkpoint["std"]) for digit in digits])
    torch.testing.assert_close(one_by_one, batched, rtol=1e-4, atol=1e-6)
    assert batched.shape == (32, 10) and torch.allclose(batched.sum(1), torch.ones(32))


def test_a_prepared_digit_is_shaped_like_mnists(photo_set):
    digit = preprocess.preprocess(photo_set[0][0])
    assert digit.shape == (1, 28, 28) and digit.dtype == torch.float32
    assert digit.min() >= 0 and digit.max() <= 1 and digit.max() > 0.9
    ink = digit[0] > 0
    rows, cols = ink.any(1).nonzero().flatten(), ink.any(0).nonzero().flatten()
    assert max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1) == 20  # fits the 20x20 box, touching it
    index = torch.arange(28.0)
    mass = digit[0].sum()
    centre = ((digit[0].sum(1) * index).sum() / mass, (digit[0].sum(0) * index).sum() / mass)
    assert all(abs(c - 14) <= 0.5 for c in centre)


def test_mnist_digits_stay_as_readable(quick_model, test_digits):
    """Preprocessing images that already are MNIST digits costs at most a point of accuracy: they come back
    nearly as they were (cropped, refitted into the box, recentred; a few faint edge pixels cleared)."""
    model, checkpoint = quick_model
    images, labels = test_digits
    raw = accuracy(model, checkpoint, list(images[:, None].float() / 255), labels)
    again = accuracy(model, checkpoint, [preprocess.preprocess(image.numpy()) for image in images], labels)
    print(f"MNIST test digits as they are {raw:.1f}%, preprocessed {again:.1f}%")
    assert again >= raw - 1.0


def test_every_image_mode_gives_the_same_digit(test_digits):
    digit = test_digits[0][0].numpy()
    dark_on_light = Image.fromarray(255 - digit)
    variants = {
        "L": dark_on_light, "RGB": dark_on_light.convert("RGB"), "P": dark_on_light.convert("P"),
        "light on dark": Image.fromarray(digit),
        "RGBA, transparent": Image.fromarray(np.dstack([np.zeros((28, 28, 3), np.uint8), digit])),
        "float array": digit.astype(np.float32) / 255, "tensor": torch.from_numpy(digit)[None].float() / 255,
        "16-bit": Image.fromarray((255 - digit).astype(np.uint16) * 257),  # Pillow reads uint16 as I;16
        "int64 array": (255 - digit).astype(np.int64), "16-bit array": (255 - digit).astype(np.uint16) * 257,
    }
    reference = preprocess.preprocess(dark_on_light)
    for name, variant in variants.items():
        torch.testing.assert_close(preprocess.preprocess(variant), reference, atol=0.02, rtol=0, msg=name)


def test_a_small_digit_in_a_large_photo_is_found(quick_model, test_digits):
    """A digit written a fifth of the way up a 1200x900 page, the rest of it empty paper."""
    model, checkpoint = quick_model
    images, labels = test_digits
    ink = np.asarray(Image.fromarray(images[1].numpy()).resize((180, 180), Image.Resampling.BICUBIC), np.float32)
    page = np.full((900, 1200), 235.0, dtype=np.float32)
    page[500:680, 700:880] -= ink / 255 * 200  # dark ink on the light page
    answer = classify.predict(model, preprocess.preprocess(Image.fromarray(page.astype(np.uint8))), checkpoint["mean"],
                             checkpoint["std"]).argmax(1)
    assert int(answer) == int(labels[1])


def test_an_image_too_large_to_open_safely_is_refused(tmp_path, monkeypatch):
    Image.new("L", (100, 100), 255).save(tmp_path / "huge.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000)
    with pytest.raises(images.UserError, match="huge.png: too many pixels to open safely"):
        images.load_image(tmp_path / "huge.png")


def test_a_blank_image_is_refused(tmp_path):
    for image in (Image.new("L", (50, 40), 255), Image.new("RGB", (50, 40), (200, 190, 180))):
        with pytest.raises(preprocess.NoInk, match="no ink found"):
            preprocess.preprocess(image)


@pytest.fixture
def folder(tmp_path, photo_set):
    images, labels = photo_set
    for i in range(3):
        images[i].save(tmp_path / f"digit{i}-{int(labels[i])}.{'png' if images[i].mode == 'RGBA' else 'jpg'}")
    return tmp_path


def test_predict_prints_one_line_per_image_with_the_top_three(quick_run_dir, folder, photo_set):
    result = mnistlib("predict", "--checkpoint", quick_run_dir[0], folder)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 3
    for line, label in zip(lines, photo_set[1][:3].tolist(), strict=True):
        path, answer = line.split(": ", 1)
        assert path.endswith(f"-{label}.jpg") or path.endswith(f"-{label}.png")
        assert answer.startswith(f"{label} (") and answer.count(": ") == 3


def test_predict_json_and_sheet(quick_run_dir, folder, tmp_path):
    sheet = tmp_path / "sheet.png"
    result = mnistlib("predict", "--checkpoint", quick_run_dir[0] / "model.pt", folder, "--json", "--show", sheet)
    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout)
    assert len(answers) == 3 and all(abs(sum(a["probabilities"]) - 1) < 1e-3 for a in answers)
    assert all(a["digit"] == int(a["file"].rsplit("-", 1)[1][0]) for a in answers)
    assert sheet.read_bytes()[:4] == b"\x89PNG"


def test_bad_inputs_are_named_and_the_rest_classified(quick_run_dir, folder, tmp_path):
    (folder / "notes.txt").write_text("not an image")
    Image.new("RGB", (60, 60), "white").save(folder / "blank.png")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 cut short")
    result = mnistlib("predict", "--checkpoint", quick_run_dir[0], folder, tmp_path / "missing.png")
    assert result.returncode == 2
    assert len(result.stdout.strip().splitlines()) == 3  # the three digits still classified
    errors = result.stderr.strip().splitlines()
    assert errors[1].startswith(f"python -m mnistlib: skipped {folder / 'broken.jpg'}: a damaged image (")
    assert errors[:1] + errors[2:] == [
        f"python -m mnistlib: skipped {folder / 'blank.png'}: no ink found: the image is one even tone (blank?)",
        f"python -m mnistlib: skipped {folder / 'notes.txt'}: not an image (Pillow recognizes no image format in it)",
        f"python -m mnistlib: skipped {tmp_path / 'missing.png'}: no such file",
        "python -m mnistlib: error: 4 of 7 files skipped (see above)",
    ]


@pytest.mark.parametrize("args, fragment", [
    (("nothing-here.png",), "skipped nothing-here.png: no such file"),
    (("--device", "tpu", "x.png"), "invalid choice"),
])
def test_predict_bad_arguments(quick_run_dir, args, fragment):
    result = mnistlib("predict", "--checkpoint", quick_run_dir[0], *args)
    assert result.returncode == 2 and fragment in result.stderr and "Traceback" not in result.stderr


def test_an_integer_array_out_of_range_is_refused():
    with pytest.raises(UserError, match=r"integer image array must hold values 0-255 \(or 0-65535\), got -1..70000"):
        preprocess.preprocess(np.array([[-1, 70000], [0, 0]]))


def test_the_sheet_goes_into_a_new_folder_and_a_folder_is_refused_up_front(quick_run_dir, folder, tmp_path):
    sheet = tmp_path / "new" / "sheet.png"
    assert mnistlib("predict", "--checkpoint", quick_run_dir[0], folder, "--show", sheet).returncode == 0
    assert sheet.read_bytes()[:4] == b"\x89PNG"
    assert_user_error(mnistlib("predict", "--checkpoint", quick_run_dir[0], folder, "--show", tmp_path),
                      f"--show {tmp_path} is a folder: give the file to save the sheet in")


def test_predict_without_a_checkpoint(tmp_path):
    assert_user_error(mnistlib("predict", "--checkpoint", tmp_path / "none", "x.png"), "not found")


@pytest.mark.parametrize("backend", ["nonsense", "module://no_such_backend"])
def test_the_sheet_is_drawn_whatever_mplbackend_says(quick_run_dir, folder, tmp_path, backend):
    sheet = tmp_path / "out" / "sheet.png"
    result = mnistlib("predict", "--checkpoint", quick_run_dir[0], folder, "--show", sheet, MPLBACKEND=backend)
    assert result.returncode == 0, result.stderr
    assert sheet.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("json_flag", [(), ("--json",)])
def test_predict_into_a_closed_pipe_ends_quietly(quick_run_dir, folder, json_flag):
    result = into_a_closed_pipe("predict", "--checkpoint", quick_run_dir[0], folder, *json_flag)
    assert (result.returncode, result.stderr) == (141, "")


HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64)  # an iPhone's: major brand heic
HEIF = b"\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00mif1heicmiaf" + bytes(64)  # major brand mif1, then heic


@pytest.mark.skipif(importlib.util.find_spec("pillow_heif") is not None, reason="pillow-heif reads HEIC here")
def test_formats_pillow_cannot_open_are_named_with_what_to_do(quick_run_dir, folder):
    files = {"photo.heic": HEIC, "from-a-phone.jpg": HEIF,  # told by their bytes, not their suffix
             "drawing.svg": b'<?xml version="1.0"?>\n<!-- a comment -->\n<svg xmlns="http://www.w3.org/2000/svg"/>',
             "scan.pdf": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "saved-link.png": b"<!DOCTYPE html><html><img></html>"}
    for name, payload in files.items():
        (folder / name).write_bytes(payload)
    result = mnistlib("predict", "--checkpoint", quick_run_dir[0], folder)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stdout.strip().splitlines()) == 3  # the three digits still classified
    lines = {line.split(": ", 2)[1].removeprefix(f"skipped {folder}{os.sep}"): line.split(": ", 2)[2]
             for line in result.stderr.strip().splitlines()[:-1]}
    assert lines.keys() == files.keys()
    for name in ("photo.heic", "from-a-phone.jpg"):
        assert lines[name].startswith("a HEIC/HEIF photo") and "pip install pillow-heif" in lines[name]
    assert lines["drawing.svg"].startswith("an SVG drawing") and "export it as PNG" in lines["drawing.svg"]
    assert lines["scan.pdf"].startswith("a PDF document") and "export the page" in lines["scan.pdf"]
    assert lines["saved-link.png"].startswith("a web page (HTML)")


@pytest.mark.parametrize("head, kind", [
    (HEIC, "heif"), (HEIF, "heif"), (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf", "avif"),
    (b"\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00mif1avifmiaf", "avif"),
    (b"\x00\x00\x00\x18ftypcrx \x00\x00\x00\x01crx isom", "cr3"),
    (b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  ", "mp4"),
    (b"\xff\x0a\xfa\x7f", "jxl"), (b"\x00\x00\x00\x0cJXL \r\n\x87\n", "jxl"), (b"\xef\xbb\xbf  <svg width='9'>", "svg"),
    (b"%PDF-1.4", "pdf"), (b"PK\x03\x04\x14\x00", "zip"), (b"\n<html><body>", "html"), (b"", "empty"),
    (b"\x89PNG\r\n\x1a\n", None), (b"not an image", None), (b"<?xml version='1.0'?><notes/>", None),
])
def test_formats_are_told_by_their_first_bytes(head, kind):
    assert images.sniff_format(head) == kind
    assert kind is None or kind in images.UNREADABLE


def test_an_installed_heif_plugin_is_registered_before_opening(monkeypatch, tmp_path, test_digits):
    """pillow-heif, when installed, reads the HEIC file predict names it for: here a stand-in whose
    opener decodes the file as the digit it stands for."""
    digit = io.BytesIO()
    Image.fromarray(255 - test_digits[0][0].numpy()).save(digit, format="PNG")
    Image.init()
    monkeypatch.setattr(Image, "ID", list(Image.ID))
    monkeypatch.setattr(Image, "OPEN", dict(Image.OPEN))
    plugin = types.ModuleType("pillow_heif")
    plugin.register_heif_opener = lambda: Image.register_open(
        "HEIF", lambda fp, filename: Image.open(io.BytesIO(digit.getvalue())),
        lambda prefix: prefix[4:12] == b"ftypheic")
    monkeypatch.setitem(sys.modules, "pillow_heif", plugin)
    images.register_heif_plugin.cache_clear()
    (tmp_path / "photo.heic").write_bytes(HEIC)
    try:
        torch.testing.assert_close(preprocess.preprocess(tmp_path / "photo.heic"),
                                   preprocess.preprocess(Image.open(digit)))
    finally:
        images.register_heif_plugin.cache_clear()


@pytest.mark.parametrize("error, message", [
    (PermissionError(errno.EACCES, "Permission denied"), "cannot read it (Permission denied); check its permissions"),
    (OSError(errno.EIO, "Input/output error"), "cannot read it (Input/output error)"),
    (FileNotFoundError(errno.ENOENT, "No such file or directory"), "no such file"),  # gone since it was listed
])
def test_a_file_the_system_cannot_read_is_not_called_damaged(monkeypatch, tmp_path, error, message):
    path = tmp_path / "digit.png"
    Image.new("L", (40, 40), 255).save(path)
    real_open = builtins.open

    def refusing_open(file, *args, **kwargs):
        if os.fspath(file) == str(path):
            raise error
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", refusing_open)
    with pytest.raises(UserError) as raised:
        images.load_image(path)
    assert str(raised.value) == f"{path}: {message}"


def test_odd_files_are_skipped_in_one_line_each_and_the_rest_classified(quick_run_dir, folder, tmp_path):
    os.mkfifo(folder / "pipe.png")  # opening it would wait for a writer
    given = tmp_path / "elsewhere" / "given.png"  # a subfolder: not among the folder's files
    given.parent.mkdir()
    os.mkfifo(given)
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "link.png").symlink_to(tmp_path / "nowhere.png")
    result = mnistlib("predict", "--checkpoint", quick_run_dir[0], folder, given, timeout=300)
    assert result.returncode == 2
    assert len(result.stdout.strip().splitlines()) == 3
    assert result.stderr.strip().splitlines() == [
        f"python -m mnistlib: skipped {folder / 'empty.jpg'}: an empty file (0 bytes)",
        f"python -m mnistlib: skipped {folder / 'link.png'}: a link to a missing file",
        f"python -m mnistlib: skipped {folder / 'pipe.png'}: not a regular file but a FIFO (named pipe); give an "
        "image file",
        f"python -m mnistlib: skipped {given}: not a regular file but a FIFO (named pipe); give an "
        "image file",
        "python -m mnistlib: error: 4 of 7 files skipped (see above)",
    ]


def test_whatever_one_file_raises_the_others_are_classified(quick_run_dir, folder, monkeypatch, capsys):
    files = sorted(folder.iterdir())
    errors = {files[0]: RuntimeError("the decoder gave up\nat byte 9"), files[2]: MemoryError()}
    prepare = preprocess.preprocess_stages

    def failing(path):
        if path in errors:
            raise errors[path]
        return prepare(path)

    monkeypatch.setattr(preprocess, "preprocess_stages", failing)
    assert cli.main(["predict", "--checkpoint", str(quick_run_dir[0]), str(folder)]) == 2
    out, err = capsys.readouterr()
    assert [line.split(": ")[0] for line in out.strip().splitlines()] == [str(files[1])]
    assert err.strip().splitlines() == [
        f"python -m mnistlib: skipped {files[0]}: RuntimeError: the decoder gave up; save it as PNG or JPEG and try "
        "again",
        f"python -m mnistlib: skipped {files[2]}: MemoryError; save it as PNG or JPEG and try again",
        "python -m mnistlib: error: 2 of 3 files skipped (see above)",
    ]


def test_a_file_name_in_another_encoding_is_classified(quick_run_dir, folder):
    source = sorted(folder.iterdir())[0]
    try:
        source.rename(folder / os.fsdecode(b"digit-\xff" + source.suffix.encode()))  # Latin-1 bytes, not UTF-8
    except OSError:
        pytest.skip("this file system takes UTF-8 names only")
    result = mnistlib("predict", "--checkpoint", quick_run_dir[0], folder)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.strip().splitlines()) == 3 and "digit-\\udcff" in result.stdout


def test_a_sheet_saved_in_the_input_folder_is_passed_over(quick_run_dir, folder):
    sheet = folder / "sheet.png"
    for _ in range(2):  # the second run finds the first one's sheet among its inputs
        result = mnistlib("predict", "--checkpoint", quick_run_dir[0], folder, "--show", sheet)
    assert result.returncode == 0, result.stderr
    assert [line for line in result.stdout.splitlines() if str(sheet) in line] == [f"sheet saved in {sheet}"]
    assert result.stderr.strip().splitlines() == [
        f"python -m mnistlib: passed over {sheet}: the file --show names, where this run's sheet goes"]
    assert Image.open(sheet).info["Software"] == images.SHEET_METADATA["Software"]


def test_a_renamed_or_moved_sheet_is_still_recognized(quick_run_dir, folder, tmp_path):
    sheet = tmp_path / "elsewhere" / "sheet.png"
    assert mnistlib("predict", "--checkpoint", quick_run_dir[0], folder, "--show", sheet).returncode == 0
    sheet.rename(folder / "scan-7.png")
    result = mnistlib("predict", "--checkpoint", quick_run_dir[0], folder, "--json")
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)) == 3 and "scan-7.png" not in result.stdout
    assert result.stderr.strip() == (f"python -m mnistlib: passed over {folder / 'scan-7.png'}: a sheet of "
                                     "predictions that predict --show saved, not a digit")
    with pytest.raises(images.Sheet):
        preprocess.preprocess(folder / "scan-7.png")
    alone = mnistlib("predict", "--checkpoint", quick_run_dir[0], folder / "scan-7.png")
    assert alone.returncode == 2 and alone.stderr.strip().splitlines()[1:] == [
        "python -m mnistlib: error: nothing to classify: 1 sheet that predict --show saved passed over (see above); "
        "give images of digits"]


def test_show_refuses_to_overwrite_an_image_it_classifies(quick_run_dir, folder):
    image = sorted(folder.iterdir())[0]
    before = image.read_bytes()
    assert_user_error(mnistlib("predict", "--checkpoint", quick_run_dir[0], folder, "--show", image),
                      f"--show {image} is one of the images to classify: give another file for the sheet")
    assert image.read_bytes() == before


def denied(*args, **kwargs):
    raise PermissionError(errno.EACCES, "Permission denied")


@pytest.mark.parametrize("refuses", ["iterdir", "is_dir"])
def test_a_folder_that_cannot_be_read_is_skipped_in_one_line_and_the_rest_classified(
        quick_run_dir, folder, tmp_path, monkeypatch, capsys, refuses):
    """A folder that cannot be listed (no read permission: ``iterdir`` fails), or whose entries cannot be
    looked at (read but no execute permission: each entry's ``is_dir`` fails), as root cannot make it."""
    closed = tmp_path / "closed"
    closed.mkdir()
    Image.new("L", (40, 40), 255).save(closed / "digit.png")
    real = getattr(images.Path, refuses)

    def refusing(path, *args, **kwargs):
        if (path.parent if refuses == "is_dir" else path) == closed:
            denied()
        return real(path, *args, **kwargs)

    monkeypatch.setattr(images.Path, refuses, refusing)
    assert cli.main(["predict", "--checkpoint", str(quick_run_dir[0]), str(closed), str(folder)]) == 2
    out, err = capsys.readouterr()
    assert len(out.strip().splitlines()) == 3  # the other folder's digits still classified
    assert err.strip().splitlines() == [
        f"python -m mnistlib: skipped {closed}: cannot read this folder (Permission denied); check its "
        "permissions (listing a folder's files needs its r and x)",
        "python -m mnistlib: error: 1 folder skipped (see above)",
    ]


def test_a_file_in_a_folder_that_cannot_be_searched_is_skipped_in_one_line(quick_run_dir, folder, tmp_path,
                                                                           monkeypatch, capsys):
    given = tmp_path / "closed" / "digit.png"  # its folder has no execute permission: stat fails
    real_is_dir, real_stat = images.Path.is_dir, images.Path.stat
    monkeypatch.setattr(images.Path, "is_dir", lambda path: denied() if path == given else real_is_dir(path))
    monkeypatch.setattr(images.Path, "stat", lambda path, **kw: denied() if path == given else real_stat(path, **kw))
    assert cli.main(["predict", "--checkpoint", str(quick_run_dir[0]), str(given), str(folder)]) == 2
    out, err = capsys.readouterr()
    assert len(out.strip().splitlines()) == 3
    assert err.strip().splitlines() == [
        f"python -m mnistlib: skipped {given}: cannot read it (Permission denied); check its permissions",
        "python -m mnistlib: error: 1 of 4 files skipped (see above)",
    ]


def test_a_folder_alone_that_cannot_be_read_is_named_and_nothing_else(quick_run_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(images.Path, "iterdir", denied)
    assert cli.main(["predict", "--checkpoint", str(quick_run_dir[0]), str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip().splitlines()[1:] == [
        "python -m mnistlib: error: nothing to classify: 1 folder skipped (see above)"]


def test_a_name_in_another_encoding_is_shown_escaped_on_the_sheet_as_on_stdout(quick_run_dir, folder, tmp_path):
    source = sorted(folder.iterdir())[0]
    name = os.fsdecode(b"caf\xe9" + source.suffix.encode())  # Latin-1 bytes, not UTF-8
    try:
        source.rename(folder / name)
    except OSError:
        pytest.skip("this file system takes UTF-8 names only")
    sheet = tmp_path / "sheet.png"
    result = mnistlib("predict", "--checkpoint", quick_run_dir[0], folder, "--show", sheet)
    assert result.returncode == 0, result.stderr
    assert sheet.read_bytes()[:4] == b"\x89PNG"
    assert f"{folder}{os.sep}caf\\udce9{source.suffix}: " in result.stdout


def test_a_printable_name_escapes_what_a_terminal_or_a_figure_cannot_show():
    from mnistlib.core.errors import printable

    assert printable(os.fsdecode(b"caf\xe9.png")) == "caf\\udce9.png"
    assert printable("two\nlines\t.png") == "two\\nlines\\t.png"
    assert printable(images.Path("café/7.png")) == "café/7.png"


@pytest.mark.filterwarnings("error::PIL.Image.DecompressionBombWarning")  # printed, it is two lines
def test_an_image_above_pillows_warning_limit_is_classified_without_a_warning(quick_run_dir, folder, monkeypatch,
                                                                            capsys):
    big = sorted(folder.iterdir())[0]
    with Image.open(big) as image:
        pixels = image.width * image.height
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", pixels * 2 // 3)  # above the warning limit, below the error's
    assert cli.main(["predict", "--checkpoint", str(quick_run_dir[0]), str(folder)]) == 0
    out, err = capsys.readouterr()
    assert len(out.strip().splitlines()) == 3 and err == ""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", pixels // 3)  # above the error limit too: one line
    with pytest.raises(UserError, match="too many pixels to open safely"):
        images.load_image(big)


def test_an_error_no_check_foresaw_is_skipped_with_what_to_do(quick_run_dir, folder):
    Image.new("LAB", (40, 40)).save(folder / "scan.tif")  # Pillow reads it, and cannot convert it
    result = mnistlib("predict", "--checkpoint", quick_run_dir[0], folder)
    assert result.returncode == 2 and len(result.stdout.strip().splitlines()) == 3
    assert result.stderr.strip().splitlines() == [
        f"python -m mnistlib: skipped {folder / 'scan.tif'}: ValueError: conversion from LAB to RGB not supported; "
        "save it as PNG or JPEG and try again",
        "python -m mnistlib: error: 1 of 4 files skipped (see above)",
    ]


def test_the_sheet_is_saved_before_a_closed_pipe_ends_the_command(quick_run_dir, folder, tmp_path):
    digit = sorted(folder.iterdir())[0]
    many = tmp_path / "many"
    many.mkdir()
    for i in range(40):  # 40 lines of over 200 characters: more than stdout's buffer, so a print meets the pipe
        (many / f"{i:02d}-{'x' * 200}{digit.suffix}").write_bytes(digit.read_bytes())
    sheet = tmp_path / "sheet.png"
    result = into_a_closed_pipe("predict", "--checkpoint", quick_run_dir[0], many, "--show", sheet)
    assert (result.returncode, result.stderr) == (141, "")
    assert sheet.read_bytes()[:4] == b"\x89PNG"


def test_a_sheet_that_cannot_be_written_still_lets_the_answers_print(quick_run_dir, folder, tmp_path, monkeypatch,
                                                                     capsys):
    import errno

    from mnistlib import cli
    from mnistlib.core import files

    def full(path, write):
        raise files.WriteError(path, "No space left on device", errno=errno.ENOSPC)

    monkeypatch.setattr(files, "atomic_write", full)
    sheet = tmp_path / "out" / "sheet.png"
    assert cli.main(["predict", "--checkpoint", str(quick_run_dir[0]), str(folder), "--show", str(sheet)]) == 2
    out, err = capsys.readouterr()
    assert len(out.strip().splitlines()) == 3  # every answer
    assert err.strip().splitlines()[-1] == (f"python -m mnistlib: error: cannot write {sheet} (No space left on "
                                            "device): free space, then try again")
