"""How far a training run is from what the processor can compute: FLOPs per training image, and the
CPU's peak rate to hold the achieved rate against."""

from __future__ import annotations

import functools
import re

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from ..core.devices import cpu_model
from ..core.models import build_model

# Floating-point multiply-adds per core per clock cycle = FMA units x floats per vector register. Intel's
# Xeon Scalable server cores (Skylake-SP Gold and Platinum and later, Ice Lake-SP) and AMD's Zen cores
# have two FMA units each (Intel 64 and IA-32 Architectures Optimization Reference Manual, "Intel AVX-512
# FMA units"; AMD Software Optimization Guide for the Zen microarchitecture); an AVX-512 register holds 16
# float32, an AVX2 register 8.
FMA_UNITS_PER_CORE = 2
FLOATS_PER_VECTOR = {"AVX512": 16, "AVX2": 8}


@functools.cache
def training_flops_per_image(model_name: str, batch_size: int = 64) -> int:
    """Floating-point operations (a multiply-add counts 2) of one training image of ``model_name``: the
    forward and backward passes of its convolutions and matrix products, as ``torch.utils.flop_counter``
    counts them on one batch of ``batch_size`` images (the backward pass skips the gradient of the input
    images, which nothing needs). Not counted: batch norm, ReLU, pooling, augmentation and the optimizer,
    a few operations per value each, whose cost is memory traffic rather than arithmetic."""
    model = build_model(model_name).train()
    images = torch.zeros(batch_size, 1, 28, 28)
    labels = torch.zeros(batch_size, dtype=torch.long)
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(images), labels).backward()
    return round(counter.get_total_flops() / batch_size)


def nominal_clock_ghz() -> float | None:
    """The CPU's nominal clock in GHz as its model name states it (e.g. "Intel(R) Xeon(R) Processor @
    2.60GHz"), or None where the name does not say (AMD's names do not)."""
    found = re.search(r"@\s*([\d.]+)\s*GHz", cpu_model())
    return float(found.group(1)) if found else None


def cpu_peak_gflops(threads: int | None = None) -> dict | None:
    """The nominal float32 peak of ``threads`` cores (default: torch's thread count), in GFLOP/s: cores x
    nominal clock x ``FMA_UNITS_PER_CORE`` x floats per vector register x 2 (a multiply-add is two
    operations), with the figures it used under their names. None where the clock is not in the CPU's
    name or PyTorch's kernels use neither AVX-512 nor AVX2 here.

    An upper bound resting on assumptions the CPU's name cannot confirm: one thread per physical core
    (two hyperthreads share one core's units), two FMA units per core (some Xeon models have one, and
    AMD's Zen 4 runs AVX-512 on 256-bit units), and the nominal clock (turbo raises it; heavy AVX-512
    work can run below it)."""
    threads = threads or torch.get_num_threads()
    clock, capability = nominal_clock_ghz(), torch.backends.cpu.get_cpu_capability()
    floats = FLOATS_PER_VECTOR.get(capability)
    if clock is None or floats is None:
        return None
    return {"cores": threads, "clock_ghz": clock, "fma_units_per_core": FMA_UNITS_PER_CORE,
            "floats_per_vector": floats, "vector_instructions": capability,
            "gflops": round(threads * clock * FMA_UNITS_PER_CORE * floats * 2, 1)}


def throughput(model_name: str, images_per_second: float, peak: dict | None) -> dict:
    """A training of ``model_name`` timed at ``images_per_second``: "flops_per_image" (``training_flops_per_image``),
    "images_per_second" (rounded), "gflops" (FLOPs per image x images per second / 1e9, achieved GFLOP/s) and
    "percent_of_peak" (of ``peak["gflops"]``, ``cpu_peak_gflops``; None without a peak)."""
    flops = training_flops_per_image(model_name)
    achieved = flops * images_per_second / 1e9
    return {"flops_per_image": flops, "images_per_second": round(images_per_second), "gflops": round(achieved, 2),
            "percent_of_peak": round(100 * achieved / peak["gflops"], 2) if peak else None}
