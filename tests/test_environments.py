"""Binder and conda configurations list what pyproject.toml requires, pinned to what the stored notebooks ran
with (no Binder is reachable here)."""

import re
import subprocess

from conftest import ROOT

IMPORT_NAMES = {"torch": {"torch", "pytorch"}}  # conda-forge calls torch "pytorch"


def pins(lines) -> dict[str, str]:
    return dict(re.findall(r"^\s*(?:- )?([\w-]+)==([\w.]+)\s*$", "\n".join(lines), re.M))


def stored_torch() -> set[str]:
    """The PyTorch versions (local build suffix dropped) the stored notebooks say they ran with."""
    outputs = "".join(p.read_text() for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    return {v.split("+")[0] for v in re.findall(r"; torch ([\w.+]+)", outputs)}


def test_binder_and_conda_pin_the_versions_the_stored_notebooks_ran_with():
    binder = pins((ROOT / "binder" / "requirements.txt").read_text().splitlines())
    conda = pins((ROOT / "environment.yml").read_text().splitlines())
    assert stored_torch() == {binder["torch"]} == {conda["torch"]}
    for name in runtime_dependencies() | {"ipykernel", "nbval"}:
        assert binder[name] == conda[name], name


def requirement_names(lines):
    names = set()
    for line in lines:
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            names.add(re.split(r"[<>=!~\[ ;]", line)[0].lower())
    return names


def runtime_dependencies():
    block = re.search(r"^dependencies = \[(.*?)^\]", (ROOT / "pyproject.toml").read_text(), re.M | re.S)[1]
    return requirement_names(re.findall(r'"([^"]+)"', block))


def test_binder_installs_cpu_torch_every_dependency_and_the_package():
    lines = (ROOT / "binder" / "requirements.txt").read_text().splitlines()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in lines
    assert runtime_dependencies() | {"jupyterlab", "nbval", "ipykernel"} <= requirement_names(lines)
    post_build = (ROOT / "binder" / "postBuild").read_text()
    assert "pip install --no-deps --editable ." in post_build and post_build.startswith("#!/bin/bash")
    assert (ROOT / "binder" / "postBuild").stat().st_mode & 0o111, "postBuild must be executable"


def test_conda_environment_lists_every_dependency_and_the_checkout():
    text = (ROOT / "environment.yml").read_text()
    listed = set(re.findall(r"^\s+- ([\w-]+)", text, re.M))
    for name in runtime_dependencies() | {"jupyterlab", "nbval", "python", "pip"}:
        assert IMPORT_NAMES.get(name, {name}) & listed, name
    assert re.search(r"^\s+- --editable \.$", text, re.M)


def make_dry_run(tmp_path, *args):
    venv = tmp_path / "venv"  # a .venv that does not exist yet, so make plans to create it
    return subprocess.run(["make", "-n", "-C", str(ROOT), f"VENV={venv}", *args, f"{venv}/bin/python"],
                          capture_output=True, text=True)


def test_make_torch_cpu_installs_the_cpu_build_and_the_default_does_not(tmp_path):
    cpu = make_dry_run(tmp_path, "TORCH=cpu")
    assert cpu.returncode == 0 and "--index-url https://download.pytorch.org/whl/cpu torch torchvision" in cpu.stdout
    default = make_dry_run(tmp_path)
    assert default.returncode == 0 and "download.pytorch.org" not in default.stdout
    wrong = make_dry_run(tmp_path, "TORCH=gpu")
    assert wrong.returncode != 0 and "TORCH must be cpu or default, got 'gpu'" in wrong.stderr
