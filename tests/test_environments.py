"""Binder and conda configurations list what pyproject.toml requires (no Binder is reachable here)."""

import re
import subprocess

from conftest import ROOT

IMPORT_NAMES = {"torch": {"torch", "pytorch"}}  # conda-forge calls torch "pytorch"


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
    assert runtime_dependencies() | {"jupyterlab", "nbval"} <= requirement_names(lines)
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
