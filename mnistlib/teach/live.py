"""Training curves that grow while a notebook cell trains: one figure, redrawn in place after every epoch.

The figure is a display output with an id; each epoch replaces its content (``DisplayHandle.update``), which
JupyterLab, Notebook, VS Code and Colab all honour. The notebook therefore keeps exactly one figure per run,
the last one, however often the cell is run. The figure goes out as a PNG (whatever matplotlib backend the
kernel has) and is closed after each draw, so that the inline backend does not show it again when the
cell ends.
"""

from __future__ import annotations

import io

import matplotlib.pyplot as plt

from ..core.progress import in_kernel
from ..core.runs import History
from .plots import plot_history

WAITING = "training curves: drawn here after the first epoch"


class LiveCurves:
    """An ``on_epoch`` callback for ``training.train``: shows ``plots.plot_history`` of the run so far.

    Create it where the figure should appear (it displays a one-line placeholder there at once); it then
    redraws after each epoch. Outside a Jupyter kernel nothing is displayed and nothing is drawn."""

    def __init__(self):
        from IPython.display import display

        self.handle = display({"text/plain": WAITING}, raw=True, display_id=True) if in_kernel() else None
        self.draws = 0

    def __call__(self, model, optimizer, history: History) -> None:
        if self.handle is None:
            return
        from IPython.display import Image

        figure = plot_history(history)
        png = io.BytesIO()
        figure.savefig(png, format="png", bbox_inches="tight")
        plt.close(figure)
        self.handle.update(Image(png.getvalue()))
        self.draws += 1
