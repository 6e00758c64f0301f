"""``python -m mnistlib records``: the one way the committed run records and the reference runs are remade.

Nothing else writes into ``results/`` or the package's ``reference_data/``: training runs and notebook
runs write into ignored ``runs/`` folders. This module re-runs what each record came from and copies
the finished histories over: ``train --recipe R --seed S`` for ``results/R-seedS.json`` (then their
summary, ``reference_data/seed_records.json``), and the notebooks at full length (executed in place
with ``MODE = "full"``, so their stored outputs are that run's) for ``reference_data/histories/``.
Run it from the repository's root.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

from ..core.errors import UserError
from ..core.files import atomic_write
from ..core.recipes import RECORDED
from ..core.runs import CHECKPOINT_FILE, HISTORY_FILE, History, load_finished
from ..core.training import resume, train
from . import reference

RESULTS = Path("results")
RUNS = Path("runs") / "records"
NOTEBOOKS = Path("notebooks")


def _check_repository() -> None:
    """Refuse to run but in the repository's root, with mnistlib imported from it (editable install): what
    this writes into the package's reference_data must land in the repository, not in site-packages."""
    if not (RESULTS.is_dir() and NOTEBOOKS.is_dir()):
        raise UserError(f"run this from the repository's root: no {RESULTS}/ and {NOTEBOOKS}/ in {Path.cwd()}")
    if not reference.folder().resolve().is_relative_to(Path.cwd().resolve()):
        raise UserError(f"mnistlib is imported from {reference.folder().parent}, not from this repository: install "
                        "it editable here (pip install -e .) so that the records land in the repository")


def remake_seed_records(recipes: list[str], seeds: list[int], device: str = "cpu", data_dir=None, log=print) -> None:
    """Train each recipe on each seed (a finished run in runs/records is reused, an unfinished one
    resumed), copy its history to results/<recipe>-seed<S>.json, then summarize the records into the
    package's seed_records.json."""
    _check_repository()
    for recipe in recipes:
        for seed in seeds:
            run_dir = RUNS / f"{recipe}-seed{seed}"
            if (run_dir / HISTORY_FILE).is_file() and History.load(run_dir).finished:
                log(f"{run_dir}: finished earlier, reused")
            elif (run_dir / CHECKPOINT_FILE).is_file():
                resume(run_dir, device=device, data_dir=data_dir, progress=False, log=log)
            else:
                log(f"training {recipe}, seed {seed} -> {run_dir}")
                train(recipe, seed=seed, quick=False, device=device, data_dir=data_dir, out=run_dir, progress=False,
                      log=log)
            history = load_finished(run_dir / HISTORY_FILE)
            target = RESULTS / f"{recipe}-seed{seed}.json"
            payload = (run_dir / HISTORY_FILE).read_bytes()
            atomic_write(target, lambda f, payload=payload: f.write(payload))
            log(f"{target}: final test accuracy {history.final_accuracy:.2f}%")
    reference.write_seed_summaries(RECORDED, RESULTS)
    log(f"{reference.folder() / reference.SEED_RECORDS}: the summary of results/")


def _merge_streams(outputs: list) -> list:
    """One output per run of stdout (or stderr) pieces, showing what a terminal would: of a line that
    a progress bar redrew with '\\r', only its last state."""
    merged = []
    for output in outputs:
        if output.get("output_type") == "stream" and merged and merged[-1].get("output_type") == "stream" \
                and merged[-1]["name"] == output["name"]:
            merged[-1]["text"] += output["text"]
        else:
            merged.append(output)
    for output in merged:
        if output.get("output_type") == "stream":
            output["text"] = "\n".join(line.rsplit("\r", 1)[-1] for line in output["text"].split("\n"))
    return merged


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def _without_widgets(outputs: list) -> list:
    """The outputs as a notebook viewer without widgets shows them: a displayed widget (notebook 6's
    drawing pad) keeps its ``text/plain`` line only, since its live state is not stored."""
    for output in outputs:
        data = output.get("data", {})
        if WIDGET_VIEW in data:
            del data[WIDGET_VIEW]
    return outputs


RUN_STEP = re.compile(r"run_step\(session, \"(\w+)\"")


def history_owners(paths: list[Path]) -> dict[str, Path]:
    """recipe -> the notebook whose run of it is the stored one: the first of ``paths`` (in the series'
    order) whose code trains it with ``notebook.run_step(session, "<recipe>")``."""
    import nbformat

    owners: dict[str, Path] = {}
    for path in sorted(paths):
        code = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
        for recipe in RUN_STEP.findall(code):
            owners.setdefault(recipe, path)
    return owners


def _copy_histories(notebook: Path, started: float, owners: dict[str, Path], log) -> None:
    """Copy the histories ``notebook``'s run wrote since ``started`` into the reference runs, those of the
    recipes it owns only (notebook 4's step 4, not notebook 6's, also when notebook 6 runs alone)."""
    stored = reference.folder() / reference.HISTORIES
    for history in sorted((NOTEBOOKS / "runs" / "full").glob("*.json")):
        if history.stat().st_mtime < started or owners.get(history.stem) != notebook:
            continue
        load_finished(history)
        shutil.copyfile(history, stored / history.name)
        log(f"{stored / history.name}: copied from {history}")


def remake_notebooks(names: list[str] | None = None, log=print) -> None:
    """Execute the notebooks (all, or those named) at full length in place, then copy the histories
    their runs wrote into the package's reference_data/histories/.

    Each runs with MNISTLIB_QUICK=0 in the kernel's environment, which wins over the notebook's MODE: the
    parameters cell stays as a learner gets it ("auto"), and the stored mode line says why the run is
    full length.
    """
    try:
        import nbclient
        import nbformat
    except ImportError:
        raise UserError("records --notebooks needs nbclient and nbformat: pip install -e '.[tests]'") from None

    _check_repository()
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    owners = history_owners(paths)
    if names:
        unknown = set(names) - {p.stem for p in paths}
        if unknown:
            raise UserError(f"no notebook {', '.join(sorted(unknown))}; choose from {', '.join(p.stem for p in paths)}")
        paths = [p for p in paths if p.stem in names]
    env = dict(os.environ)
    os.environ["MNISTLIB_QUICK"] = "0"  # the kernel inherits the environment
    try:
        for path in paths:
            start, started = time.perf_counter(), time.time()
            notebook = nbformat.read(path, as_version=4)
            nbclient.NotebookClient(notebook, timeout=3600, kernel_name="python3", store_widget_state=False,
                                    resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
            notebook.metadata.pop("widgets", None)
            for cell in notebook.cells:
                if cell.cell_type == "code":
                    cell.outputs = _without_widgets(_merge_streams(cell.outputs))
            payload = nbformat.writes(notebook).encode()
            atomic_write(path, lambda f, payload=payload: f.write(payload))
            log(f"{path}: executed in {time.perf_counter() - start:.0f} s")
            _copy_histories(path, started, owners, log)
    finally:
        os.environ.clear()
        os.environ.update(env)

