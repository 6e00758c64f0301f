"""The training device: what the user asked for, checked against what PyTorch sees, and its description."""

from __future__ import annotations

from contextlib import contextmanager

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
