"""What every timing of the benchmark shares: waiting for the device, and a row that fails without
costing the others."""

from __future__ import annotations

import torch

from ..core.errors import one_line


def sync(device: torch.device) -> None:
    """Wait until ``device`` has finished its queued work (a CUDA GPU; the CPU runs in order)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def attempt(run, name: str, log=print, key: str = "pipeline") -> dict:
    """``run()``'s row, or, if it raised, a row ``{key: name, "error": ...}`` that says so: a pipeline or
    option that cannot compile on this machine must not cost the rest of the benchmark."""
    try:
        return run()
    except Exception as error:  # noqa: BLE001 - anything compile or capture raises; it goes in the record
        log(f"{name.split(' (')[0]} failed, left out: {one_line(error)}")
        return {key: name, "error": one_line(error)}
