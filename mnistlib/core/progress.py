"""Progress bars that leave one clean line behind, in a terminal and in a notebook alike.

In a terminal a tqdm bar redraws its line with carriage returns. In a Jupyter kernel those returns
would be kept in the saved notebook, hundreds per bar, whichever way it was run (Jupyter, nbconvert,
nbclient); there the bar is a display that is updated in place, so the notebook keeps its last state.
"""

from __future__ import annotations

import sys

from tqdm import tqdm


def in_kernel() -> bool:
    """Whether this code runs in a Jupyter kernel (JupyterLab, Notebook, VS Code, Colab), whose outputs a
    frontend shows and a notebook stores; a terminal IPython has no kernel."""
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    return getattr(shell, "kernel", None) is not None


class DisplayLine:
    """A file for tqdm that shows the bar's latest state as one display output, updated in place."""

    def __init__(self):
        self.handle = None

    def write(self, text: str) -> None:
        from IPython.display import display

        line = text.rsplit("\r", 1)[-1].strip()
        if not line:
            return
        if self.handle is None:
            self.handle = display({"text/plain": line}, raw=True, display_id=True)
        else:
            self.handle.update({"text/plain": line}, raw=True)

    def flush(self) -> None:
        pass


def bar(total: int, description: str, enabled: bool = True) -> tqdm:
    """A progress bar of ``total`` steps (updated by hand), at most one redraw a second."""
    return tqdm(total=total, desc=description, disable=not enabled, file=DisplayLine() if in_kernel() else sys.stdout,
                ncols=100, mininterval=1.0)
