"""``python -m mnistlib``: train, recipes, summary, evaluate, predict, bench, records, figures."""

from __future__ import annotations

import argparse
import errno
import os
import signal
import sys
import threading
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from .core.devices import DEVICES
from .core.errors import UserError
from .core.files import WriteError
from .core.graphs import COMPILE_SCOPE, COMPILE_SCOPES
from .core.models import MODELS
from .core.recipes import CLAIMED, CPU_FAST_RECIPE, DEFAULT_RECIPE, FAST_RECIPE, RECIPES, RECORD_SEEDS, RECORDED


class Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr (no usage dump) and exit code 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def whole_number(low: int):
    """An argparse type: a whole number of at least ``low``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {low}, got {value}")
        return value
    return parse


positive_int, nonnegative_int = whole_number(1), whole_number(0)


def build_parser() -> Parser:
    """The command line's parser: one subcommand per command, each with its options."""
    parser = Parser(prog="python -m mnistlib", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    train = commands.add_parser("train", help="train a recipe and write a run folder")
    train.add_argument("--recipe", choices=RECIPES, metavar="NAME",
                       help=f"one of: {', '.join(RECIPES)} (default {DEFAULT_RECIPE})")
    train.add_argument("--epochs", type=positive_int, help="override the recipe's epochs (1-1000)")
    train.add_argument("--seed", type=nonnegative_int, help="random seed (default 0)")
    train.add_argument("--data-dir", help="folder holding MNIST/raw (default: $MNISTLIB_DATA, else ~/.cache/mnistlib)")
    train.add_argument("--device", default="auto", choices=DEVICES,
                       help="auto (default): the GPU if PyTorch sees one, else the CPU")
    train.add_argument("--out", help="run folder to create (default runs/<recipe>-seed<S>-<time>)")
    train.add_argument("--quick", action="store_true", default=None,
                       help="one epoch of the training set, a smoke run (also MNISTLIB_QUICK=1)")
    train.add_argument("--val-size", type=nonnegative_int, metavar="N",
                       help="hold out the last N training images and report validation accuracy per epoch "
                            "(default 0: train on all 60,000)")
    train.add_argument("--resume", metavar="RUN_DIR",
                       help="continue a run folder that stopped before its last epoch, as it was planned (its "
                            "recipe, seed, epochs and folder; not with --recipe, --seed, --epochs, --out, --quick "
                            "or --val-size)")
    train.add_argument("--no-graph", dest="graph", action="store_false", default=None,
                       help="on a GPU, run the eager training step instead of the captured CUDA graphs")
    train.add_argument("--compile", nargs="?", const=COMPILE_SCOPE, choices=COMPILE_SCOPES, metavar="SCOPE",
                       help="on a GPU, torch.compile part of the captured step inside its graphs: faster epochs "
                            f"after a one-time compilation. SCOPE: {COMPILE_SCOPES[1]} (default: its whole forward "
                            f"side, gather, augmentation, model and loss) or {COMPILE_SCOPES[0]} (the model alone)")
    train.add_argument("--threads", type=positive_int, metavar="N",
                       help="CPU threads for torch (default: torch's choice); 1 on a machine that is busy with "
                            "other work")
    train.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bars")

    commands.add_parser("recipes", help="list the recipes")

    summary = commands.add_parser("summary", help="layer table and receptive fields of a model")
    summary.add_argument("--model", default="final", choices=MODELS, metavar="NAME",
                         help=f"one of: {', '.join(MODELS)} (default final)")

    evaluate = commands.add_parser("evaluate", help="test accuracy of a saved checkpoint")
    evaluate.add_argument("--checkpoint", required=True, help="a model.pt from a run folder")
    evaluate.add_argument("--data-dir", help="folder holding MNIST/raw")
    evaluate.add_argument("--device", default="auto", choices=DEVICES,
                          help="auto (default): the GPU if PyTorch sees one, else the CPU")
    predict = commands.add_parser("predict", help="classify your own images of handwritten digits")
    predict.add_argument("images", nargs="+", metavar="IMAGE_OR_FOLDER",
                         help="image files (PNG, JPEG, ...; HEIC with pillow-heif installed; any size, dark ink on "
                              "light paper or the reverse), or folders of them")
    predict.add_argument("--checkpoint", required=True, help="a run folder or its model.pt")
    predict.add_argument("--device", default="cpu", choices=DEVICES, help="default cpu")
    predict.add_argument("--json", action="store_true", help="print one JSON document instead of a line per image")
    predict.add_argument("--show", metavar="FILE.png",
                         help="also save a sheet of each image beside the 28x28 digit the model saw (marked in "
                              "its PNG text: predict passes over a sheet it finds among its inputs)")
    bench = commands.add_parser("bench", help="time mnistlib's pipeline against the classic one, and time to 99.4%%")
    bench.add_argument("--device", default="auto", choices=DEVICES,
                       help="auto (default): the GPU if PyTorch sees one, else the CPU")
    bench.add_argument("--epochs", type=positive_int, default=1, help="epochs each pipeline trains (default 1)")
    bench.add_argument("--recipes", nargs="+", choices=RECIPES, metavar="NAME",
                       help=f"recipes whose time to --target is measured, one after the other (default "
                            f"{CPU_FAST_RECIPE} {FAST_RECIPE} on the CPU, {FAST_RECIPE} on a GPU)")
    bench.add_argument("--seeds", type=positive_int, help="runs of each recipe, from --seed on (default 10 on a GPU, "
                                                          "1 on the CPU); the target counts if 9 in 10 end above it")
    bench.add_argument("--target", type=float, default=99.4, help="test accuracy to reach, in %% (default 99.4)")
    bench.add_argument("--seed", type=nonnegative_int, default=0, help="random seed (default 0)")
    bench.add_argument("--quick", action="store_true", help="train the recipe for one epoch only (a smoke run)")
    bench.add_argument("--data-dir", help="folder holding MNIST/raw")
    bench.add_argument("--compile", action="store_true",
                       help="on a GPU, also time the captured step torch.compile'd (the model alone, and the "
                            "step's whole forward side), and use the faster for a full run and the time to --target")
    bench.add_argument("--threads", type=positive_int, metavar="N",
                       help="CPU threads for torch (default: torch's choice)")
    bench.add_argument("--out", help="JSON record to write (default runs/bench-<device>-<time>.json)")
    bench.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bars")

    records = commands.add_parser("records", help="re-run the committed run records (results/, notebooks/)")
    records.add_argument("--recipes", nargs="+", choices=RECORDED, metavar="NAME", default=CLAIMED,
                         help=f"recipes whose seed records to re-run (default: {', '.join(CLAIMED)})")
    records.add_argument("--seeds", nargs="+", type=nonnegative_int, default=list(RECORD_SEEDS), metavar="S",
                         help=f"seeds (default {' '.join(map(str, RECORD_SEEDS))}: never used to choose a recipe)")
    records.add_argument("--device", default="cpu", choices=DEVICES,
                         help="device of the records (default cpu, as the committed ones)")
    records.add_argument("--data-dir", help="folder holding MNIST/raw")
    records.add_argument("--threads", type=positive_int, metavar="N",
                         help="CPU threads for torch (default: torch's choice); the records use 1")
    records.add_argument("--notebooks", nargs="*", metavar="NOTEBOOK",
                         help="instead: execute the notebooks (default all; or names such as 05_beyond) at "
                              "full length in place and copy their histories to the package's reference runs")

    figures = commands.add_parser("figures", help="draw the README's charts from the reference runs and print the "
                                                  "tables of the README and the docs (in the repository's root)")
    figures.add_argument("--out", default="docs", help="folder for the PNG files (default docs)")
    return parser


class Interrupted(Exception):
    """Ctrl-C or a stop signal, with what it left behind (the message) and the exit code."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


class Stopped(KeyboardInterrupt):
    """A stop signal (``signum``), raised where the command is so that it ends as on Ctrl-C: what is
    being written is finished or dropped whole, the run folder's claim is released, the resume hint said."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)  # docker stop and job schedulers; a closed terminal


def _raise_stopped(signum, frame):
    for number in STOP_SIGNALS:  # a second signal must not cut short the clean-up the first one began
        signal.signal(number, signal.SIG_IGN)
    raise Stopped(signum)


@contextmanager
def stop_signals_as_interrupts():
    """Inside the block, ``STOP_SIGNALS`` raise ``Stopped`` (a ``KeyboardInterrupt``) instead of ending the
    process at once; a signal the process was started ignoring (``nohup``) stays ignored. Only the main
    thread can set signal handlers: called from another thread, the block changes nothing."""
    previous = {}
    for number in STOP_SIGNALS if threading.current_thread() is threading.main_thread() else ():  # Python's rule
        if signal.getsignal(number) is not signal.SIG_IGN:
            previous[number] = signal.signal(number, _raise_stopped)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def interrupted(exc: KeyboardInterrupt | BrokenPipeError, what: str) -> Interrupted:
    """``exc`` (Ctrl-C, a ``Stopped`` signal, or the reader of stdout gone) as an ``Interrupted`` saying
    ``what`` it left; exit code 130 for Ctrl-C, 128 + the signal's number for a stop signal (143 for
    SIGTERM, 129 for SIGHUP), as shells report a process a signal ended, and ``BROKEN_PIPE`` (141) for
    a closed stdout (``| head -1``)."""
    if isinstance(exc, BrokenPipeError):
        return Interrupted(f"stopped: the program reading its output closed the pipe{what}", BROKEN_PIPE)
    if isinstance(exc, Stopped):
        return Interrupted(f"stopped by {signal.Signals(exc.signum).name}{what}", 128 + exc.signum)
    return Interrupted(f"interrupted{what}", 130)


def check_compile(args, device) -> None:
    """bench's --compile conditions (``graphs.check_step``), checked before any work."""
    from .core.graphs import check_step

    if args.compile:  # bench times every scope: the default one stands for them
        check_step(device, True, COMPILE_SCOPE)


# What a run was planned with: fixed for a run that --resume continues.
PLAN_FLAGS = {"recipe": "--recipe", "seed": "--seed", "epochs": "--epochs", "out": "--out", "quick": "--quick",
              "val_size": "--val-size"}


def log_line(line: str) -> None:
    """A training run's line per epoch, flushed: it reaches a pipe or a log file as the epoch ends (not when
    a buffer fills), and a reader that stopped (``| head -1``) stops the run at that epoch, with the
    resume hint."""
    print(line, flush=True)


def cmd_train(args) -> None:
    """``train``: a new run, or ``--resume`` of one, then its result in one line."""
    from .core.runs import CHECKPOINT_FILE
    from .core.training import chance_warning, quick_mode, resume, train

    if args.resume:
        given = [flag for name, flag in PLAN_FLAGS.items() if getattr(args, name) is not None]
        if given:
            raise UserError(f"--resume continues {args.resume} as it was planned; it cannot go with "
                            f"{', '.join(given)} (start a new run for other settings)")
        out = Path(args.resume)
        run = lambda: resume(out, device=args.device, data_dir=args.data_dir, progress=args.progress,  # noqa: E731
                             graph=args.graph, compile_scope=args.compile, log=log_line)
    else:
        quick = quick_mode(args.quick)
        recipe, seed = args.recipe or DEFAULT_RECIPE, args.seed or 0
        stamp = f"{'-quick' if quick else ''}-{datetime.now():%Y%m%d-%H%M%S}"
        out = Path(args.out or Path("runs") / f"{recipe}-seed{seed}{stamp}")
        run = lambda: train(recipe, seed=seed, epochs=args.epochs, quick=quick, device=args.device,  # noqa: E731
                            data_dir=args.data_dir, out=out, progress=args.progress, val_size=args.val_size or 0,
                            graph=args.graph, compile_scope=args.compile, log=log_line)
    start = time.perf_counter()
    try:
        _, history = run()
    except (KeyboardInterrupt, BrokenPipeError) as exc:  # a run stopped early, for the user to resume
        if not (out / CHECKPOINT_FILE).exists():
            raise interrupted(exc, " before the first epoch ended; nothing was saved") from None
        raise interrupted(exc, f": {out} holds the last finished epoch; continue with: "
                               f"python -m mnistlib train --resume {out}") from None
    best = history.best_record
    print(
        f"{history.recipe}: final test accuracy {history.final_accuracy:.2f}% "
        f"(best {best['test_accuracy']:.2f}% at epoch {best['epoch']} of {len(history.epochs)}), "
        f"{history.params:,} parameters, {time.perf_counter() - start:.1f} s on {history.device}"
        f"{' (quick mode)' if history.quick else ''}; run saved in {out}"
    )
    if warning := chance_warning(history):
        print(f"warning: {warning}", file=sys.stderr)


def cmd_recipes(args) -> None:
    """``recipes``: every recipe with its model, size, epochs and what it changes."""
    from .core.models import build_model, count_parameters

    for recipe in RECIPES.values():
        params = count_parameters(build_model(recipe.model))
        print(f"{recipe.name:<18} model={recipe.model:<16} params={params:<9,} epochs={recipe.epochs:<3}"
              f" {recipe.summary}")


def cmd_summary(args) -> None:
    """``summary``: a model's layer table and receptive fields."""
    from .teach.summary import summary

    print(summary(args.model))


def cmd_evaluate(args) -> None:
    """``evaluate``: a saved run's test loss and accuracy."""
    from .core import data as mnist_data
    from .core.runs import load_checkpoint
    from .core.training import evaluate

    model, checkpoint = load_checkpoint(args.checkpoint, args.device)
    device = next(model.parameters()).device
    test = mnist_data.load_test(device, checkpoint["mean"], checkpoint["std"], args.data_dir)
    loss, correct = evaluate(model, test)
    print(
        f"Test set: Average loss: {loss:.4f}, Accuracy: {correct}/{len(test)} ({100 * correct / len(test):.2f}%)"
        f" - {checkpoint['model']}, {checkpoint['params']:,} parameters"
    )


def files_only_backend() -> None:
    """Matplotlib on its non-interactive Agg backend, whatever ``MPLBACKEND`` names, for the commands that
    only save image files (``predict --show``, ``figures``): they need no window, and a misspelt backend
    would stop matplotlib's import, which reads and checks ``MPLBACKEND``; so this runs before it."""
    os.environ["MPLBACKEND"] = "agg"
    import matplotlib

    matplotlib.use("agg")  # for a matplotlib imported before (main called from Python)


def holds_a_sheet(path: Path) -> bool:
    """Whether ``path`` is a sheet that ``predict --show`` saved (``images.Sheet``), not an input of its own."""
    from .digits.images import Sheet, load_image

    try:
        load_image(path)
    except Sheet:
        return True
    except Exception:  # noqa: BLE001 - unreadable, so no sheet
        return False
    return False


# What a per-file skip that no check foresaw (an exception of Pillow or of preprocessing) ends with.
RESAVE = "save it as PNG or JPEG and try again"


def cmd_predict(args) -> None:
    """``predict``: the top three digits of each image, skipping in one line each file it cannot read."""
    import json

    import torch

    from .core.errors import one_line, printable
    from .core.files import atomic_write
    from .core.runs import check_writable, load_checkpoint
    from .digits.classify import predict
    from .digits.images import SHEET_METADATA, Sheet, image_files
    from .digits.preprocess import preprocess_stages

    show = Path(args.show) if args.show else None
    sheet_error = None
    if show is not None:
        if show.is_dir():
            raise UserError(f"--show {show} is a folder: give the file to save the sheet in, e.g. "
                            f"{show / 'sheet.png'}")
        check_writable(show, "--show")
        files_only_backend()
    model, checkpoint = load_checkpoint(args.checkpoint, args.device)
    files, unreadable = image_files(args.images)
    for reason in unreadable.values():
        print(f"python -m mnistlib: skipped {printable(reason)}", file=sys.stderr)
    if not files:
        if unreadable:
            raise UserError(f"nothing to classify: {_count(unreadable, 'folder')} skipped (see above)")
        raise UserError(f"no files in {', '.join(map(printable, args.images))}: give image files, or folders "
                        "holding them")
    target = next((path for path in files if show is not None and os.path.realpath(path) == os.path.realpath(show)),
                  None)  # the input that --show's sheet will replace: it may only be an earlier sheet
    if target is not None and target.exists() and not holds_a_sheet(target):
        raise UserError(f"--show {show} is one of the images to classify: give another file for the sheet")
    if hasattr(sys.stdout, "reconfigure"):  # what printable() leaves, a character the stream's encoding lacks
        sys.stdout.reconfigure(errors="backslashreplace")  # prints escaped, as on stderr
    seen, skipped, passed_over = {}, {}, set()
    for path in files:
        try:
            if path == target:
                raise Sheet(f"{path}: the file --show names, where this run's sheet goes")
            seen[path] = preprocess_stages(path)
        except Sheet as exc:  # predict's own output, not a digit: passed over, not a mistake
            passed_over.add(path)
            print(f"python -m mnistlib: passed over {printable(str(exc))}", file=sys.stderr)
        except Exception as exc:  # noqa: BLE001 - whatever one file does wrong, the others are classified
            reason = str(exc) if isinstance(exc, UserError) else f"{one_line(exc)}; {RESAVE}"
            skipped[path] = reason if reason.startswith(str(path)) else f"{path}: {reason}"
            print(f"python -m mnistlib: skipped {printable(skipped[path])}", file=sys.stderr)
    if not seen and not skipped:
        raise UserError(f"nothing to classify: {len(passed_over)} sheet{'s' if len(passed_over) > 1 else ''} "
                        "that predict --show saved passed over (see above); give images of digits")
    digits = torch.stack([stages.tensor() for stages in seen.values()]) if seen else None
    probabilities = dict(zip(seen, predict(model, digits, checkpoint["mean"], checkpoint["std"]), strict=True)) \
        if seen else {}
    if show is not None and seen:  # saved before the answers are printed: a reader that stops early (| head)
        from .teach.plots import plot_predictions  # ends the command at a print, and must not lose the sheet

        fig = plot_predictions({str(path): (seen[path], probabilities[path]) for path in seen})
        try:
            atomic_write(show, lambda f: fig.savefig(f, format="png", dpi=80, metadata=SHEET_METADATA))
        except WriteError as exc:  # the answers are still printed; the failed sheet is the error after them
            sheet_error, show = exc, None
    if args.json:
        print(json.dumps([{"file": str(path), "error": reason} for path, reason in unreadable.items()] +
                         [{"file": str(path), "error": skipped[path]} if path in skipped else
                          {"file": str(path), "digit": int(probabilities[path].argmax()),
                           "probabilities": [round(float(p), 4) for p in probabilities[path]]}
                          for path in files if path not in passed_over], indent=1))
    else:
        for path, p in probabilities.items():
            top = p.topk(3)
            print(f"{printable(path)}: {int(top.indices[0])} (" + ", ".join(
                f"{int(i)}: {float(v):.2f}" for v, i in zip(top.values, top.indices, strict=True)) + ")")
    if show is not None and seen:
        print(f"sheet saved in {printable(show)}", file=sys.stderr if args.json else sys.stdout)
    if sheet_error is not None:
        raise sheet_error
    if skipped or unreadable:
        counts = [f"{len(skipped)} of {_count(files, 'file')}"] if skipped else []
        raise UserError(" and ".join(counts + ([_count(unreadable, "folder")] if unreadable else []))
                        + " skipped (see above)")


def _count(things, word: str) -> str:
    """How many ``things`` there are, with ``word`` after, plural when it is not one: "1 file", "3 files"."""
    return f"{len(things)} {word}{'' if len(things) == 1 else 's'}"


def cmd_bench(args) -> None:
    """``bench``: the benchmark, its record saved as JSON."""
    import json

    from .core.devices import resolve_device
    from .core.files import atomic_write
    from .evidence.bench import bench

    if not 1 <= args.epochs <= 100:
        raise UserError(f"--epochs must be between 1 and 100, got {args.epochs}")
    if not 0 < args.target <= 100:
        raise UserError(f"--target must be a percentage above 0 and at most 100, got {args.target}")
    from .core.runs import check_writable
    from .core.training import check_seed

    check_seed(args.seed)
    if args.seeds is not None and not 1 <= args.seeds <= 100:
        raise UserError(f"--seeds must be between 1 and 100, got {args.seeds}")
    device = resolve_device(args.device)
    check_compile(args, device)
    out = Path(args.out or Path("runs") / f"bench-{device.type}-{datetime.now():%Y%m%d-%H%M%S}.json")
    if out.exists():
        raise UserError(f"--out {out} already exists; choose another file")
    check_writable(out, "--out")
    record = bench(device, epochs=args.epochs, recipes=tuple(args.recipes or ()), target=args.target, quick=args.quick,
                   seed=args.seed, data_root=args.data_dir, seeds=args.seeds, progress=args.progress,
                   compiled=args.compile)
    payload = json.dumps(record, indent=1).encode() + b"\n"
    atomic_write(out, lambda f: f.write(payload))
    print(f"record saved in {out}")
    print(f"speed-up vs classic pipeline: {record['speedup']:.2f}x")


def cmd_records(args) -> None:
    """``records``: remake the seed records, or (``--notebooks``) the notebooks' stored runs."""
    from .evidence.remake import remake_notebooks, remake_seed_records

    if args.notebooks is not None:
        remake_notebooks(args.notebooks)
    else:
        remake_seed_records(args.recipes, args.seeds, device=args.device, data_dir=args.data_dir)


def cmd_figures(args) -> None:
    """``figures``: the docs' charts and tables."""
    files_only_backend()
    from .teach.figures import figures

    figures(Path(args.out))


# The exit status when the reader of stdout went away (``| head -1``): 128 + SIGPIPE's 13, what a shell
# reports for a Unix tool that SIGPIPE ended.
BROKEN_PIPE = 141


def main(argv: list[str] | None = None) -> int:
    """Run the command ``argv`` names (default ``sys.argv[1:]``); its exit status: 0 done, 2 a mistake the
    user can fix (``UserError``: one line on stderr), 130 interrupted (Ctrl-C), 143 or 129 stopped by
    SIGTERM or SIGHUP (``STOP_SIGNALS``, 128 + the signal's number), ``BROKEN_PIPE`` (141) when
    whatever reads stdout closed it early, as ``| head`` does: the rest of the output is dropped (a
    training run says on stderr where it stopped), stdout pointed at the null device, as the ``signal``
    module's note on SIGPIPE advises, so that the flush at exit does not fail again. Output that cannot
    be written for another reason (a full disk under ``> file``) is one line and exit 2."""
    try:
        try:
            return run_command(argv)
        finally:
            if sys.stdout is not None:  # None when the process was started with stdout closed
                sys.stdout.flush()  # output still buffered meets a closed pipe here, not at exit
    except BrokenPipeError:
        _drop_output()
        return BROKEN_PIPE
    except OSError as exc:
        # Every file mnistlib writes is written by atomic_write (a WriteError, a UserError) or named where
        # it is made: a refused write that gets here is the output's (a full disk under ``> file``).
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO):
            raise
        _drop_output()
        error = WriteError("the output", exc.strerror or str(exc), errno=exc.errno)
        print(f"python -m mnistlib: error: {error} (or send the output elsewhere)", file=sys.stderr)
        return 2


def _drop_output() -> None:
    """Point stdout, and stderr if it fails too (both into one pipe, ``2>&1``), at the null device."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        if sys.stdout is not None:
            os.dup2(devnull, sys.stdout.fileno())
        try:
            sys.stderr.flush()
        except OSError:
            os.dup2(devnull, sys.stderr.fileno())
    finally:
        os.close(devnull)


def run_command(argv: list[str] | None = None) -> int:
    """``main`` without its handling of a closed stdout."""
    args = build_parser().parse_args(argv)
    if getattr(args, "threads", None):
        import torch

        torch.set_num_threads(args.threads)
    handler = {"train": cmd_train, "recipes": cmd_recipes, "summary": cmd_summary, "evaluate": cmd_evaluate,
               "predict": cmd_predict, "bench": cmd_bench, "records": cmd_records, "figures": cmd_figures}
    try:
        with stop_signals_as_interrupts():
            handler[args.command](args)
    except UserError as exc:
        print(f"python -m mnistlib: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        exc = interrupted(exc, "")
        print(f"\npython -m mnistlib: {exc}", file=sys.stderr)
        return exc.code
    except Interrupted as exc:
        print(f"python -m mnistlib: {exc}", file=sys.stderr)
        return exc.code
    return 0


def console_main() -> None:
    """The ``mnistlib`` console script: ``main``'s exit status."""
    sys.exit(main())
