"""The training device: what the user asked for, checked against what PyTorch sees, and its description."""

from __future__ import annotations

import platform
from contextlib import contextmanager
from pathlib import Path

import torch

from .errors import UserError

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` (the GPU if PyTorch sees one, else the CPU), ``"cpu"`` or ``"cuda"`` as a torch.device.

    Raises ``UserError`` for another name, or for ``"cuda"`` where PyTorch sees no CUDA GPU.
    """
    name = str(device)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.split(":")[0] not in ("cpu", "cuda"):
        raise UserError(f"unknown device {name!r}; choose auto, cpu or cuda")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device {name} asked for, but PyTorch sees no CUDA GPU here; use the device cpu or auto "
                        "(--device on the command line)")
    return torch.device(name)


def describe_device(device: torch.device) -> str:
    """The device as runs, notebooks and the benchmark report it: the GPU's name, or the CPU threads."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    threads = torch.get_num_threads()
    return f"cpu ({threads} thread{'' if threads == 1 else 's'})"


def cpu_model() -> str:
    """The CPU's model name as the operating system reports it (Linux: the first ``model name`` of
    /proc/cpuinfo, e.g. "AMD EPYC"; elsewhere ``platform.processor()``), or "unknown CPU"."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and ":" in line:
                return line.split(":", 1)[1].strip() or "unknown CPU"
    except OSError:
        pass
    return platform.processor().strip() or "unknown CPU"


def cpu_kind() -> tuple[str, str]:
    """What a CPU run's last bits depend on besides PyTorch's version and the thread count: the vector
    instructions PyTorch's kernels use here (``torch.backends.cpu.get_cpu_capability()``: "AVX512", "AVX2",
    "DEFAULT", ...; ``ATEN_CPU_CAPABILITY`` can lower it) and the CPU's model (``cpu_model``), whose
    cache sizes set how oneDNN's convolutions split their sums."""
    return torch.backends.cpu.get_cpu_capability(), cpu_model()


@contextmanager
def torch_threads(threads: int):
    """PyTorch's CPU kernels on ``threads`` threads inside the block; the count is restored after, also on
    an error. The setting is the process's: not for blocks that other Python threads running torch overlap."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
