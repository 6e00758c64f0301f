"""What might make the captured training step faster on a GPU, each measured on its own.

    python scripts/gpu_speed_options.py [--epochs 3] [--only NAME ...] [--profile] [--out options.json]

Times step 4's captured step (batch 128, seconds per epoch after capture, the capture or compile
cost apart) in the default NCHW memory format and in channels-last (mnistlib's default),
and with one change each on top: cuDNN's autotuner (``cudnn.benchmark``), bf16 autocast, and
``torch.compile`` inside the graphs of the model alone or of the step's whole forward side (gather,
augmentation, model, loss). Speed only: a change that pays must then show, over seeds, that it
leaves the accuracy as it was before it is kept. ``--profile`` adds, for each option, where one
more epoch's device time went: kernels per step and the kernels that took the most.
"""

import argparse
import json
import sys
from contextlib import contextmanager

import torch

from mnistlib.core import data as mnist_data
from mnistlib.core.augment import augmentation
from mnistlib.core.recipes import DEFAULT_RECIPE, get_recipe
from mnistlib.core.training import make_step
from mnistlib.evidence.bench import time_pipeline
from mnistlib.evidence.timing import attempt


class Bf16(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, images):
        with torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=False):  # no cache under graph capture
            return self.model(images).float()


@contextmanager
def cudnn_benchmark(on: bool):
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = on
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = before


OPTIONS = {  # name: (channels-last, wrap the model, compile scope or None, cudnn.benchmark, inductor settings)
    "graphed, NCHW": (False, None, None, False, {}),
    "graphed, channels-last": (True, None, None, False, {}),
    "channels-last + cudnn.benchmark": (True, None, None, True, {}),
    "channels-last + bf16 autocast": (True, Bf16, None, False, {}),
    "NCHW + compiled model": (False, None, "model", False, {}),
    "channels-last + compiled model": (True, None, "model", False, {}),
    "NCHW + compiled step": (False, None, "step", False, {}),
    "channels-last + compiled step": (True, None, "step", False, {}),
    # Inductor benchmarks its kernel choices (Triton convolutions too) while compiling: minutes, not seconds.
    "NCHW + compiled step, max-autotune": (False, None, "step", False, {"max_autotune": True}),
}
OPT_IN = {"NCHW + compiled step, max-autotune"}  # run only when named in --only


def profile_epoch(run_epoch, first_step: int, steps: int, device: torch.device, top: int = 12) -> list[str]:
    """Lines that say where one more epoch's time went on ``device``: kernels (or, on a CPU, operators)
    per step, and the ``top`` that took the most time."""
    from torch.profiler import ProfilerActivity, profile

    cuda = device.type == "cuda"
    with profile(activities=[ProfilerActivity.CUDA if cuda else ProfilerActivity.CPU]) as prof:
        run_epoch(first_step).loss_sum.item()
    rows = [(e.key, e.count, e.self_device_time_total if cuda else e.self_cpu_time_total)
            for e in prof.key_averages()]
    rows = sorted((r for r in rows if r[2] > 0), key=lambda r: -r[2])
    total, count = sum(r[2] for r in rows), sum(r[1] for r in rows)
    lines = [f"  {count / steps:.0f} {'kernels' if cuda else 'operators'} a step, {total / steps:.0f} us a step "
             f"of {'device' if cuda else 'CPU'} time"]
    lines += [f"  {us / steps:7.1f} us {n / steps:5.1f}x  {name[:90]}" for name, n, us in rows[:top]]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--only", nargs="+", choices=OPTIONS, metavar="NAME",
                        help=f"these options only (the default: all but {', '.join(sorted(OPT_IN))})")
    parser.add_argument("--profile", action="store_true", help="profile one more epoch of each option")
    parser.add_argument("--out")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("gpu_speed_options: PyTorch sees no CUDA GPU here", file=sys.stderr)
        return 2
    device = torch.device("cuda")
    recipe = get_recipe(DEFAULT_RECIPE)
    data = mnist_data.load(device)
    augment = augmentation(recipe, data)
    steps = -(-len(data.train) // recipe.batch_size)
    rows = []
    for name in args.only or [name for name in OPTIONS if name not in OPT_IN]:
        channels_last, wrap, scope, benchmark, inductor = OPTIONS[name]
        made = []

        def make(model, optimizer, total, channels_last=channels_last, wrap=wrap, scope=scope, made=made):
            runner = make_step(wrap(model) if wrap else model, optimizer, data.train, recipe, augment, total,
                               True, scope, channels_last)
            made.append(runner)
            return runner.epoch, {"capture_seconds": round(runner.capture_seconds, 3)}

        def run(name=name, make=make, made=made, benchmark=benchmark, inductor=inductor):
            with cudnn_benchmark(benchmark), torch._inductor.config.patch(inductor):
                row = time_pipeline(name, make, recipe, device, args.epochs, 0, len(data.train), graph=True,
                                    progress=False)
                print(f"{name}: {row['seconds_per_epoch']:.3f} s/epoch, capture {row['capture_seconds']:.1f} s",
                      flush=True)
                if args.profile:
                    row["profile"] = profile_epoch(made[0].epoch, 0, steps, device)
                    print("\n".join(row["profile"]), flush=True)
            return row

        rows.append(attempt(run, name))  # an option that fails is reported, and the next one runs
        if args.out:  # after each option, so that a run cut short keeps what it measured
            with open(args.out, "w") as f:
                json.dump({"device": torch.cuda.get_device_name(), "torch": torch.__version__, "rows": rows}, f,
                          indent=1)
    timed = [row for row in rows if "error" not in row]
    if not timed:
        print("gpu_speed_options: every option failed", file=sys.stderr)
        return 1
    base = timed[0]["seconds_per_epoch"]
    print(f"\n{torch.cuda.get_device_name()}, torch {torch.__version__}, {recipe.name}, batch {recipe.batch_size}, "
          f"{args.epochs} epochs each")
    print(f"| option | s/epoch | vs {timed[0]['pipeline']} | capture (once) |\n| --- | --- | --- | --- |")
    for row in rows:
        if "error" in row:
            print(f"| {row['pipeline']} | failed: {row['error']} | | |")
        else:
            print(f"| {row['pipeline']} | {row['seconds_per_epoch']:.3f} | {base / row['seconds_per_epoch']:.2f}x | "
                  f"{row['capture_seconds']:.1f} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
