"""``python -m mnistlib figures``: the README's and the docs' charts, drawn by the notebooks' own plots from
the reference runs, and every table of the README and the docs printed from the records."""

from __future__ import annotations

from pathlib import Path

from ..core.errors import UserError
from ..core.files import atomic_write
from ..core.recipes import ABLATION, ABLATION_NAMES, DEFAULT_RECIPE, RECORD_SEEDS, STEPS
from ..core.runs import check_writable
from ..evidence import public, reference
from ..evidence.tables import CPU_BENCH, tables
from . import plots


def figures(out: Path, log=print) -> None:
    """Write steps.png, accuracy_vs_params.png, step4_curves.png and ablation.png into ``out`` and print every
    table.
    Run in the repository's root (it reads ``results/``). Raises ``UserError`` (one line) when ``out``
    cannot be written or the records are not there."""
    check_writable(out / "steps.png", "--out")
    if not Path(CPU_BENCH).is_file() or not Path("results", f"{DEFAULT_RECIPE}-seed{RECORD_SEEDS[0]}.json").is_file():
        raise UserError(f"figures reads the records in results/ (and {CPU_BENCH}): run it in the repository's root")
    histories, seeds = reference.stored_histories(), reference.seed_summaries()
    charts = {"steps.png": plots.plot_comparison({name: histories[name] for name in STEPS}),
              "accuracy_vs_params.png": plots.plot_accuracy_vs_params(reference.accuracy_points(),
                                                                      anchors=public.SIZE_ANCHORS),
              "step4_curves.png": plots.plot_history(histories[DEFAULT_RECIPE]),
              "ablation.png": plots.plot_seed_spread({ABLATION_NAMES[name]: seeds[name] for name in ABLATION})}
    for name, fig in charts.items():
        atomic_write(out / name, lambda f, fig=fig: fig.savefig(f, format="png", dpi=110, bbox_inches="tight"))
        log(out / name)
    for where, lines in tables().items():
        log(f"\n{where}:\n" + "\n".join(lines))
