"""The runs behind the notebooks' "Try this" exercises: each exercise's change, trained as a learner would
train it (quick mode on a CPU where the notebook's "auto" mode is quick there), one line per run.

    OMP_NUM_THREADS=1 python scripts/exercise_runs.py [--only NOTEBOOK ...] | tee -a results/exercises-cpu.txt

Each line: notebook | recipe and change | mode | seed | final test accuracy.
"""

import argparse
import dataclasses

import torch

from mnistlib.core import data as mnist_data
from mnistlib.core.recipes import get_recipe
from mnistlib.core.training import train
from mnistlib.digits import drawing, photos, preprocess
from mnistlib.digits.classify import predict

# notebook -> runs: (recipe, change label, changes to the recipe, quick, seeds)
EXERCISES = {
    "01": [("step1_relu_output", "as committed", {}, True, [1]), ("step1_base", "as committed", {}, True, [1])],
    "02": [("step2_slim", "as committed", {}, True, [0, 1, 2, 3, 4]),
           ("step2_slim", "peak learning rate 0.01", {"lr": 0.01}, True, [0, 1, 2]),
           ("step2_slim", "peak learning rate 0.2", {"lr": 0.2}, True, [0, 1, 2]),
           ("step2_slim", "batch 32", {"batch_size": 32}, True, [0, 1, 2])],
    "03": [("step3_augment", "as committed", {}, True, [0, 1, 2, 3, 4]),
           ("step3_augment", "rotation 20 degrees", {"rotation": 20.0}, True, [0, 1, 2, 3, 4])],
    "04": [("step4_final", "as committed", {}, True, [0, 1, 2, 3, 4]),
           ("step4_final", "peak learning rate 0.2", {"lr": 0.2}, True, [0, 1, 2, 3, 4])],
}
PHOTO_SEEDS = [1, 2, 3]  # notebook 6: other photos of the same 300 digits, all stages
# notebook 6: a 7 and a 1 drawn on the pad (canvas pixels), read with pens of these widths
DRAWN = {"7": [[(80, 60), (140, 60), (200, 60)], [(200, 60), (160, 145), (120, 230)]], "1": [[(140, 50), (140, 230)]]}
PEN_WIDTHS = [4, 20, 60]


def run(notebook: str, recipe: str, label: str, changes: dict, quick: bool, seed: int) -> None:
    variant = dataclasses.replace(get_recipe(recipe), **changes)
    _, history = train(variant, seed=seed, quick=quick, progress=False, log=lambda *_: None)
    print(f"notebook {notebook} | {recipe}, {label} | {'quick' if quick else 'full'} | seed {seed} | "
          f"test {history.final_accuracy:.2f}%", flush=True)


def photo_stages() -> None:
    """Notebook 6's stage table with the photos drawn from other seeds (its quick-mode model, seed 0)."""
    data = mnist_data.load("cpu", train_size=get_recipe("step4_final").quick_size)
    model, _ = train("step4_final", seed=0, quick=True, data=data, progress=False, log=lambda *_: None)
    test, mean, std = data.test, data.mean, data.std
    digits = (test.images[:300, 0] * std + mean).clamp(0, 1)
    for seed in PHOTO_SEEDS:
        inputs = [preprocess.stage_inputs(preprocess.preprocess_stages(shot)) for shot in photos.photos(digits, seed)]
        right = {stage: 100 * (predict(model, torch.stack([i[stage] for i in inputs]), mean, std).argmax(1)
                               == test.labels[:300]).float().mean().item() for stage in inputs[0]}
        print(f"notebook 06 | photos seed {seed} | quick model, seed 0 | "
              + ", ".join(f"{stage} {value:.1f}%" for stage, value in right.items()), flush=True)
    for width in PEN_WIDTHS:
        for digit, strokes in DRAWN.items():
            image = drawing.rasterize(strokes, width=width)
            top = drawing.top_three(predict(model, preprocess.preprocess(image), mean, std)[0])
            print(f"notebook 06 | a drawn {digit}, pen {width} px | quick model, seed 0 | {top}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", default=[*EXERCISES, "06"], help="notebooks, e.g. 02 04")
    args = parser.parse_args()
    for notebook in args.only:
        for recipe, label, changes, quick, seeds in EXERCISES.get(notebook, []):
            for seed in seeds:
                run(notebook, recipe, label, changes, quick, seed)
        if notebook == "06":
            photo_stages()


if __name__ == "__main__":
    main()
