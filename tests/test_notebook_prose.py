"""Every number a notebook's prose quotes is one its stored outputs show.

A learner reads the markdown beside the outputs of one real run; when a re-run moves a number, the
prose must follow. Quoted numbers are accuracies and other percentages, times, differences in points,
and counts (with a thousands separator, or of mistakes, images and digits). Each must appear, as a
number, in the text the notebook's code cells printed or displayed (run reports, tables of the seed
records and of the training setup, the original write-up's figures, the checks' lines): so a number
that is neither measured by the run nor printed from a record or recipe has no place in the prose.

The exception is a notebook's "Try this" cell: its exercises say what to expect from runs the notebook does
not make, so each of its numbers must be in those runs' committed record (``EXERCISE_RECORDS``) or in the
notebook's outputs.
"""

from __future__ import annotations

import re

import nbformat
import pytest
from test_notebooks import NOTEBOOKS

from conftest import ROOT

EXERCISES = "## Try this"  # the heading of a notebook's exercises
EXERCISE_RECORDS = [ROOT / "results" / "exercises-cpu.txt", ROOT / "results" / "validation-cpu.txt"]

QUOTED = re.compile(
    r"(?<![\w.,±])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)"  # the number, not a piece of 3x3 or v0.3.0
    r"(?:(?=\s?%)|(?=\s(?:min|s|points?|mistakes|misclassified|images|digits|photos|right|wrong|of [\d,]+)\b)"
    r"|(?<=\d,\d{3})(?![\w.]))"  # or any count written with a thousands separator
)
CODE = re.compile(r"`[^`]*`|\[[^\]]*\]\([^)]*\)")  # code spans and links (targets, titles) quote no measurement


TIME = re.compile(r"\d+ min \d+ s")  # a duration is one number: "6 min 15 s" must be printed as it stands


def prose_numbers(markdown: str) -> list[str]:
    """The quoted numbers of a markdown cell, durations first, then the others in order; headings (a
    notebook's title names its step and target, which its check cells print) are left out."""
    prose = CODE.sub(" ", "\n".join(line for line in markdown.splitlines() if not line.startswith("#")))
    return TIME.findall(prose) + QUOTED.findall(TIME.sub(" ", prose))


def output_text(notebook) -> str:
    """Everything the code cells printed or displayed as text, Markdown tables included."""
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            texts.append(output.get("text", ""))
            data = output.get("data", {})
            texts += [data.get("text/markdown", ""), data.get("text/plain", "")]
    return "\n".join("".join(t) if isinstance(t, list) else t for t in texts)


def shown_in(number: str, text: str) -> bool:
    return re.search(rf"(?<![\d.,]){re.escape(number)}(?!\d|[.,]\d)", " ".join(text.split())) is not None


def unbacked(notebook) -> list[str]:
    text = output_text(notebook)
    records = "\n".join([text, *(path.read_text() for path in EXERCISE_RECORDS)])
    return [f"cell {i}: {number}" for i, cell in enumerate(notebook.cells) if cell.cell_type == "markdown"
            for number in prose_numbers(cell.source)
            if not shown_in(number, records if cell.source.startswith(EXERCISES) else text)]


def test_the_pattern_finds_what_prose_quotes_and_skips_the_rest():
    text = ("ended at **99.48%** (best 99.50%) with 12,352 parameters in 3 min 15 s; 34 mistakes, 0.1 points "
            "to spare, 300 of 300 right; 3x3 convs, 20 epochs, `lr=0.05`, v0.3.0, ±7°")
    assert prose_numbers(text) == ["3 min 15 s", "99.48", "99.50", "12,352", "34", "0.1", "300", "300"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_number_the_prose_quotes_is_in_the_stored_outputs(path):
    assert unbacked(nbformat.read(path, as_version=4)) == []


def test_an_edited_number_is_caught():
    notebook = nbformat.read(NOTEBOOKS[3], as_version=4)
    assert unbacked(notebook) == []
    cell = next(i for i, c in enumerate(notebook.cells) if c.cell_type == "markdown" and prose_numbers(c.source))
    number = prose_numbers(notebook.cells[cell].source)[-1]
    edited = number[:-1] + str((int(number[-1]) + 1) % 10)  # one digit off, as a stale number would be
    head, tail = notebook.cells[cell].source.rsplit(number, 1)  # its last occurrence: in the prose, not a title
    notebook.cells[cell].source = head + edited + tail
    assert unbacked(notebook) == [f"cell {cell}: {edited}"]


def test_an_exercise_may_quote_the_exercise_record_and_other_prose_may_not():
    notebook = nbformat.read(NOTEBOOKS[1], as_version=4)
    recorded = re.search(r"test (\d+\.\d\d)%", EXERCISE_RECORDS[0].read_text()).group(1)
    assert not shown_in(recorded, output_text(notebook)), "pick a recorded number the outputs lack"
    notebook.cells.append(nbformat.v4.new_markdown_cell(f"{EXERCISES}\n\n1. Expect about {recorded}%."))
    assert unbacked(notebook) == []
    notebook.cells[-1].source = f"## Analysis\n\nWe got {recorded}%."
    assert unbacked(notebook) == [f"cell {len(notebook.cells) - 1}: {recorded}"]
