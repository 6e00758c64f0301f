"""The package's layout: imports go one way, from ``cli`` down to ``core``, and no two modules import each other.

``core`` (what trains and tests) imports nothing else of mnistlib; ``digits`` and ``evidence`` import
``core``; ``teach`` (what the notebooks use) imports those three; ``cli`` and the package's
``__init__`` may import anything. Every import counts, also one inside a function.
"""

import ast
import shutil
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "mnistlib"

# part -> the parts its modules may import from
ALLOWED = {
    "core": {"core"},
    "digits": {"core", "digits"},
    "evidence": {"core", "evidence"},
    "teach": {"core", "digits", "evidence", "teach"},
}


def module_name(path: Path, package: Path) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, root: Path) -> set[str]:
    """The mnistlib modules (dotted names) that the file at ``path`` (in the package at ``root``) imports,
    relative imports resolved."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("mnistlib")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            elif node.module and node.module.startswith("mnistlib"):
                target = node.module
            else:
                continue
            # ``from . import x``: x may be a module of that package
            found |= {f"{target}.{alias.name}" if (root.parent / f"{target}.{alias.name}".replace(".", "/")
                                                ).with_suffix(".py").is_file() else target for alias in node.names}
    return found


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """module -> the mnistlib modules it imports, for every module under ``package``."""
    return {module_name(path, package): imports(path, package) for path in sorted(package.rglob("*.py"))}


def part(module: str) -> str | None:
    """The part of the layout a module belongs to ("core", "teach", ...), or None for the top level."""
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 2 or (len(pieces) == 2 and pieces[1] in ALLOWED) else None


def wrong_way(graph: dict[str, set[str]]) -> list[str]:
    """Every import that goes against ``ALLOWED``, as "importer -> imported"."""
    return sorted(f"{module} -> {target}" for module, targets in graph.items() if part(module) in ALLOWED
                  for target in targets if part(target) not in ALLOWED[part(module)])


def cycles(graph: dict[str, set[str]]) -> list[tuple[str, ...]]:
    """Each pair of modules that import each other, directly or through others (one cycle per pair)."""
    def reach(start):
        seen, todo = set(), [start]
        while todo:
            for nxt in graph.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    reached = {module: reach(module) for module in graph}
    return sorted({tuple(sorted((a, b))) for a in graph for b in reached[a] if a != b and a in reached.get(b, ())})


def test_imports_go_one_way():
    graph = import_graph()
    assert {part(m) for m in graph} >= set(ALLOWED)  # the four parts are there
    assert wrong_way(graph) == []


def test_no_two_modules_import_each_other():
    assert cycles(import_graph()) == []


@pytest.mark.parametrize(("module", "line", "found"), [
    ("core/models.py", "from ..teach import plots", "mnistlib.core.models -> mnistlib.teach.plots"),
    ("core/training.py", "from mnistlib.evidence.bench import bench",
     "mnistlib.core.training -> mnistlib.evidence.bench"),
    ("digits/images.py", "    from ..teach.notebook import show", "mnistlib.digits.images -> mnistlib.teach.notebook"),
])
def test_an_import_against_the_layout_is_found(tmp_path, module, line, found):
    """The check reads real files: a copy of the package with one import the wrong way fails it, also an
    import inside a function."""
    copy = tmp_path / "mnistlib"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "reference_data"))
    path = copy / module
    if line.startswith(" "):
        path.write_text(path.read_text() + f"\n\ndef _late():\n{line}\n")
    else:
        path.write_text(path.read_text() + f"\n{line}\n")
    assert found in wrong_way(import_graph(copy))


def test_two_modules_importing_each_other_are_found():
    graph = {"mnistlib.core.step": {"mnistlib.core.graphs"}, "mnistlib.core.graphs": {"mnistlib.core.step"},
             "mnistlib.core.data": set()}
    assert cycles(graph) == [("mnistlib.core.graphs", "mnistlib.core.step")]


def test_the_package_documents_its_api_and_its_parts():
    """``import mnistlib`` gives the public API (``__all__``) and its docstring names the four parts."""
    import mnistlib

    assert all(getattr(mnistlib, name) is not None for name in mnistlib.__all__)
    assert all(f"``mnistlib.{part}``" in mnistlib.__doc__ for part in ALLOWED)
    with pytest.raises(AttributeError):
        mnistlib.nothing  # noqa: B018
