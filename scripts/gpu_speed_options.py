"""What might make the captured training step faster on a GPU, each measured on its own.

    python scripts/gpu_speed_options.py [--epochs 3] [--out options.json]

Times step 4's captured step (batch 128, seconds per epoch after capture, the capture or compile
cost apart) in the default NCHW memory format and in channels-last (mnistlib's default on a GPU),
and with one change each on top: cuDNN's autotuner (``cudnn.benchmark``), bf16 autocast, and
``torch.compile`` of the model inside the graphs. Speed only: a change that pays must then show,
over seeds, that it leaves the accuracy as it was before it is kept.

The README's table of what was tried came from this script's first version, which applied each
change on top of the NCHW step (channels-last by wrapping the model); this version, written once
channels-last had become the default, has not yet been run on a GPU.
"""

import argparse
import json
import sys
from contextlib import contextmanager

import torch

from mnistlib import data as mnist_data
from mnistlib.bench import time_pipeline
from mnistlib.recipes import DEFAULT_RECIPE, get_recipe
from mnistlib.step import augmentation, make_step


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


OPTIONS = {  # name: (channels-last, wrap the model, compile it, cudnn.benchmark)
    "graphed, NCHW": (False, None, False, False),
    "graphed, channels-last": (True, None, False, False),
    "channels-last + cudnn.benchmark": (True, None, False, True),
    "channels-last + bf16 autocast": (True, Bf16, False, False),
    "NCHW + torch.compile": (False, None, True, False),
    "channels-last + torch.compile": (True, None, True, False),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--out")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("gpu_speed_options: PyTorch sees no CUDA GPU here", file=sys.stderr)
        return 2
    device = torch.device("cuda")
    recipe = get_recipe(DEFAULT_RECIPE)
    data = mnist_data.load(device)
    augment = augmentation(recipe, data)
    rows = []
    for name, (channels_last, wrap, compiled, benchmark) in OPTIONS.items():
        def make(model, optimizer, total, channels_last=channels_last, wrap=wrap, compiled=compiled):
            runner = make_step(wrap(model) if wrap else model, optimizer, data.train, recipe, augment, total,
                               True, compiled, channels_last)
            return runner.epoch, {"capture_seconds": round(runner.capture_seconds, 3)}
        with cudnn_benchmark(benchmark):
            row = time_pipeline(name, make, recipe, device, args.epochs, 0, len(data.train), graph=True,
                                progress=False)
        rows.append(row)
        print(f"{name}: {row['seconds_per_epoch']:.3f} s/epoch, capture {row['capture_seconds']:.1f} s", flush=True)
    base = rows[0]["seconds_per_epoch"]
    print(f"\n{torch.cuda.get_device_name()}, torch {torch.__version__}, {recipe.name}, batch {recipe.batch_size}, "
          f"{args.epochs} epochs each")
    print("| option | s/epoch | vs NCHW | capture (once) |\n| --- | --- | --- | --- |")
    for row in rows:
        print(f"| {row['pipeline']} | {row['seconds_per_epoch']:.3f} | {base / row['seconds_per_epoch']:.2f}x | "
              f"{row['capture_seconds']:.1f} s |")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"device": torch.cuda.get_device_name(), "torch": torch.__version__, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
