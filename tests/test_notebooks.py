"""The stored notebooks: real outputs, clean files, and no library code copied into them."""

import json
import re

import pytest

from conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def cells(path, kind):
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == kind]


def text(cell):
    return "".join(cell["source"])


def test_the_four_steps_the_beyond_and_the_own_digits_notebooks_are_there():
    assert [p.name[:3] for p in NOTEBOOKS] == ["01_", "02_", "03_", "04_", "05_", "06_"]


PYPROJECT = (ROOT / "pyproject.toml").read_text()
REPOSITORY = re.search(r'^Repository = "https://github\.com/([\w.-]+/[\w.-]+)"$', PYPROJECT, re.M)[1]
RELEASE = "v" + re.search(r'^version = "([\d.]+)"$', PYPROJECT, re.M)[1]


def test_the_package_says_its_own_version():
    import mnistlib

    assert "v" + mnistlib.__version__ == RELEASE


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_badge_opens_the_notebook_of_this_release(path):
    first = text(cells(path, "markdown")[0])
    badge = re.search(r"\(https://colab\.research\.google\.com/github/(\S+?)\)", first)
    assert badge and badge[1] == f"{REPOSITORY}/blob/{RELEASE}/notebooks/{path.name}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_colab_install_is_guarded_first_and_installs_this_release(path):
    setup = text(cells(path, "code")[0])
    assert "import google.colab" in setup
    guard, install = setup.index("import google.colab"), setup.index("%pip install")
    assert guard < install and setup[install - 4 : install] == "    "  # indented under the try
    pinned = re.search(rf'%pip install --quiet "mnistlib(\[draw\])? @ git\+https://github\.com/{re.escape(REPOSITORY)}'
                       rf'@{re.escape(RELEASE)}"', setup)
    assert pinned, "installs this release (with the drawing pad's widgets where the notebook shows it)"
    if pinned[1]:  # Colab renders third-party widgets only once its custom widget manager is enabled
        assert "enable_custom_widget_manager()" in setup[pinned.end():]


def test_every_badge_and_link_of_the_readme_names_the_one_repository():
    readme = (ROOT / "README.md").read_text()
    ours = {a for a in re.findall(r"(?:github\.com|/gh|/github)/([\w.-]+/[\w.-]+)", readme) if a.endswith("/mnistlib")}
    assert ours == {REPOSITORY}
    colab = re.findall(r"colab\.research\.google\.com/github/[\w.-]+/[\w.-]+/blob/([\w.-]+)/notebooks/(\S+?)\)", readme)
    assert sorted(name for _, name in colab) == [p.name for p in NOTEBOOKS] and {ref for ref, _ in colab} == {RELEASE}
    assert f"mybinder.org/v2/gh/{REPOSITORY}/{RELEASE}?" in readme


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_each_notebook_links_its_neighbours_first_and_last_and_the_docs_of_this_release(path):
    markdown = cells(path, "markdown")
    i = NOTEBOOKS.index(path)
    neighbours = [p.name for p in NOTEBOOKS[max(i - 1, 0): i + 2] if p != path]
    for cell in (markdown[0], markdown[-1]):
        assert re.findall(r"\]\(([\w.-]+\.ipynb)\)", "".join(cell["source"])) == neighbours
    text = "".join("".join(c["source"]) for c in markdown)
    refs = re.findall(rf"github\.com/{REPOSITORY}/blob/([\w.-]+)/", text)
    assert refs and set(refs) == {RELEASE}, "docs are linked at the release the notebook belongs to"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_outputs_are_from_a_full_run_and_clean(path):
    raw = path.read_text()
    code = cells(path, "code")
    assert all(c["outputs"] or c["execution_count"] for c in code), "every code cell was run"
    counts = [c["execution_count"] for c in code]
    assert counts == list(range(1, len(code) + 1)), "run top to bottom, in order"
    assert '"widgets"' not in raw and "application/vnd.jupyter.widget" not in raw
    assert not re.search(r"/(work|home|root|tmp|Users)/", raw), "no machine paths"
    outputs = "".join("".join(o.get("text", "")) for c in code for o in c["outputs"])
    assert "full length, because the environment variable MNISTLIB_QUICK=0 is set" in outputs and "\r" not in outputs
    assert "target met" in outputs or "claim holds" in outputs
    assert not any(o.get("output_type") == "error" or o.get("name") == "stderr" for c in code for o in c["outputs"])


def shown(path) -> list[tuple[str, str, str]]:
    """(call, stored text, what the library shows now) for every ``notebook.show``/``show_model_change``
    call of a notebook, in order."""
    import ast

    from IPython.core.inputtransformer2 import TransformerManager

    import mnistlib
    from mnistlib.core import augment, models, step
    from mnistlib.digits import preprocess
    from mnistlib.teach import inside, notebook

    names = {"mnistlib": mnistlib, "augment": augment, "models": models, "notebook": notebook,
             "preprocess": preprocess, "step": step, "inside": inside}
    found = []
    for cell in cells(path, "code"):
        python = TransformerManager().transform_cell(text(cell))  # the install cell's %pip, as IPython runs it
        calls = [node for node in ast.walk(ast.parse(python)) if isinstance(node, ast.Call)
                 and ast.unparse(node.func) in ("notebook.show", "notebook.show_model_change")]
        calls.sort(key=lambda node: (node.lineno, node.col_offset))
        stored = ["".join(o["data"]["text/plain"]) for o in cell["outputs"] if o.get("output_type") == "display_data"
                  and "text/latex" in o.get("data", {})]  # what IPython's Code displays
        for node, output in zip(calls, stored + [""] * len(calls), strict=False):
            if ast.unparse(node.func) == "notebook.show":  # the object shown: a name the notebook imported
                now = notebook.source(eval(ast.unparse(node.args[0]), {}, names))  # noqa: S307 - our own notebooks
            else:
                now = notebook.model_change(*(ast.literal_eval(a) for a in node.args))
            found.append((ast.unparse(node), output, now))
    return found


def stored_torch(path) -> str:
    outputs = "".join("".join(o.get("text", "")) for c in cells(path, "code") for o in c["outputs"])
    return re.search(r"; torch (\S+)", outputs)[1]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_what_a_notebook_shows_is_the_librarys_current_code(path):
    """The code a notebook shows comes from the library when it runs; its stored outputs must be that code
    as it is now. Layer listings (``show_model_change``) are PyTorch's printout, compared on the version
    the notebook was run with."""
    import torch

    calls = shown(path)
    assert calls, "every notebook shows the code of its change"
    for call, stored, now in calls:
        if "show_model_change" in call and stored_torch(path) != torch.__version__:
            continue
        # IPython's plain-text view of the displayed code drops its last newline
        assert stored.rstrip() == now.rstrip(), f"{call}: the stored output is not the library's code; re-run it"


REPORT = re.compile(r"(\w+): ([\d,]+) parameters, (\d+) epoch\(s\), seed \d+\ntest accuracy: [\d.]+% after epoch 1, "
                    r"([\d.]+)% at the end.*\n.*\ndevice (\w+): (\d+) min (\d+) s of training and testing")


def test_each_stored_run_is_the_one_its_notebook_shows():
    """The package's stored run of a recipe is the run its own notebook printed (the first notebook of the
    series that trains it: notebook 4's step 4, not notebook 6's): the same size, epochs, final accuracy,
    device and time."""
    from mnistlib.evidence import reference
    from mnistlib.evidence.remake import history_owners

    owners = history_owners(NOTEBOOKS)
    assert owners["step4_final"].name == "04_batchnorm_dropout.ipynb"
    for recipe, path in owners.items():
        printed = [m.groups() for c in cells(path, "code") for o in c["outputs"]
                   for m in REPORT.finditer("".join(o.get("text", ""))) if m[1] == recipe]
        stored = reference.stored_history(recipe)
        minutes, seconds = divmod(stored.total_seconds, 60)
        assert printed == [(recipe, f"{stored.params:,}", str(len(stored.epochs)), f"{stored.final_accuracy:.2f}",
                            stored.device, str(int(minutes)), f"{seconds:.0f}")], recipe


def test_each_stored_run_is_credited_to_the_notebook_that_trains_it():
    """runs_to_compare names the notebook of a stored run from notebook.STORED_IN (the notebooks are not in
    the installed package); it must be the notebook whose run `records --notebooks` stores."""
    from mnistlib.evidence.remake import history_owners
    from mnistlib.teach.notebook import STORED_IN

    owners = history_owners(NOTEBOOKS)
    assert {recipe: int(path.name[:2]) for recipe, path in owners.items()} == STORED_IN
