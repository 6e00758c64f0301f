"""One named recipe per notebook step, so notebooks, command line and tests train the same thing."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from .errors import UserError

# Quick mode: one epoch over this many training images (unless a recipe sets its own share), then
# the full test set. Fewer images are not enough for the small networks: on 30,000 the final model
# ended at 95.5-97.5% (4 seeds), and the slim network with augmentation (step 3), which has no batch
# norm, stayed at chance for the whole epoch on 3 seeds out of 3. One epoch of the full set gives
# 98.6-98.7% (step 4) and 83% (step 3) on seed 0.
QUICK_TRAIN_SIZE = 60_000


@dataclass(frozen=True)
class Recipe:
    name: str
    model: str
    summary: str
    epochs: int = 20
    batch_size: int = 128
    lr: float = 0.05  # peak learning rate
    momentum: float = 0.9
    weight_decay: float = 5e-4
    rotation: float = 0.0  # max degrees of the per-image random rotation; 0 = no augmentation
    shift: float = 0.0  # max pixels of the per-image random shift (with rotation)
    schedule: str = "onecycle"  # see lr_at()
    label_smoothing: float = 0.0  # of the training loss (the test loss is plain cross-entropy)
    # What the recipe claims, in percent of the test set at its last epoch (full, quick mode). The
    # full target must hold on every committed seed record; one notebook run asserts it less
    # ``margin``, since a single run of a recipe whose seeds all clear the target can still fall
    # a little short (other seed, other device: a GPU draws other random numbers).
    target: float = 0.0
    quick_target: float = 0.0
    margin: float = 0.0
    max_params: int | None = None  # part of the claim, where the recipe makes one about size
    quick_size: int = QUICK_TRAIN_SIZE  # training images of quick mode's one epoch
    quick_batch_size: int | None = None  # quick mode's batch size, where it differs

    def quick_variant(self) -> Recipe:
        """What quick mode trains (for one epoch, on the first ``quick_size`` images)."""
        return dataclasses.replace(self, batch_size=self.quick_batch_size or self.batch_size)

    @property
    def notebook_bar(self) -> float:
        """What a single full-length run (a notebook's last cell) must reach."""
        return round(self.target - self.margin, 2)

    def lr_at(self, step: int, total_steps: int) -> float:
        """Learning rate for optimizer step ``step`` of ``total_steps``.

        Stepped per batch rather than per epoch, so the same policy fits 1 quick epoch or 20 full ones.
        - "onecycle" (every recipe): linear warm-up from 10% of the peak over the first 20% of steps,
          then cosine annealing to zero. Ending near zero is what makes the *last* epoch reliably good,
          not just the best one. With weight decay 5e-4 it is the policy chosen for step 4: on seed 0
          it beat a x0.1 step decay at 50% and 75% (99.45% vs 99.40% final without weight decay).
        - "step": the peak rate, then x0.1 at 50% and again at 75% of training (kept for comparison).
        """
        progress = step / max(total_steps, 1)
        if self.schedule == "step":
            return self.lr * (1.0 if progress < 0.5 else 0.1 if progress < 0.75 else 0.01)
        if self.schedule == "onecycle":
            if progress < 0.2:
                return self.lr * (0.1 + 0.9 * progress / 0.2)
            return self.lr * 0.5 * (1 + math.cos(math.pi * (progress - 0.2) / 0.8))
        raise ValueError(f"unknown schedule {self.schedule!r}")


# A single run may fall this far below a target that every seed record meets: 0.2 points is 20 test
# images, about three standard errors of one run's accuracy on 10,000 images (0.07 points at 99.5%)
# and over three times the spread of final accuracies across seeds seen so far (0.02-0.06).
SINGLE_RUN_MARGIN = 0.2
CLAIM = {"margin": SINGLE_RUN_MARGIN}

# Rotations alone, as in the original write-up, left step 4's last epoch at 99.42-99.48% on seed 1
# (bilinear or nearest sampling); adding shifts of up to 2 px gave 99.58% on the same seed.
AUGMENT = {"rotation": 7.0, "shift": 2.0}

STARTER_QUICK = {"quick_size": 8_000, "quick_batch_size": 32}

RECIPES = {
    r.name: r
    for r in [
        # Steps 1-3 claim no more than the story needs; their bars sit well below any measured run.
        # The starter network needs about a gigaflop per training image, so its quick mode is a share of
        # the data: on seed 0, 8,000 images at batch 32 (250 steps) gave 38.2% with the ReLU on the logits
        # and 93.6% without; at batch 128 (63 steps) the network without it reached only 42.7%.
        Recipe("step1_relu_output", "base_relu_output", "starter CNN with a ReLU on its logits", lr=0.01, epochs=1,
               **STARTER_QUICK),
        Recipe("step1_base", "base", "starter CNN, ReLU removed from the logits", lr=0.01, epochs=1,
               target=96.5, quick_target=80.0, **STARTER_QUICK),
        Recipe("step2_slim", "slim", "two blocks of two 3x3 convs, ~12k parameters", target=99.0, quick_target=70.0),
        Recipe("step3_augment", "slim", "step 2 plus random rotations (7 degrees) and shifts (2 px)",
               target=99.1, quick_target=70.0, **AUGMENT),
        Recipe("step4_final", "final", "step 3 plus batch norm and dropout 0.1", target=99.4, quick_target=95.0,
               max_params=20_000, **AUGMENT, **CLAIM),
        # The same model in 8 epochs instead of 20, at twice the peak learning rate; on validation it beat
        # 7 epochs and batch 256 (README). It claimed 99.4% until fresh CPU seeds ended at 99.35% and
        # 99.39%, then 99.3% until one of 30 fresh GPU runs (the compiled step, seed 107) ended at
        # 99.26%: the claim that holds on every fresh seed, CPU and GPU, is 99.2%.
        Recipe("step4_fast", "final", "step 4 in 8 epochs at twice the learning rate", epochs=8, lr=0.1,
               target=99.2, quick_target=95.0, max_params=20_000, **AUGMENT, **CLAIM),
        # Batch 64 (twice the optimizer steps of batch 128) at peak 0.05. In 15 epochs it claimed 99.5% until
        # a fresh CPU seed ended at 99.48%; on validation (CPU, seeds 0 and 1) 20 epochs then beat 15 by
        # 0.11 points and batch 128 at peak 0.1 (README), and its fresh CPU seeds all ended at 99.53% or more.
        Recipe("beyond_8k", "compact8k", "narrower blocks, a two-conv head, no dropout: 7,654 parameters",
               epochs=20, batch_size=64, target=99.5, quick_target=97.0, max_params=8_000, **AUGMENT, **CLAIM),
        # In 15 epochs it claimed 99.4% until fresh CPU seeds ended at 99.36% and 99.39%. On validation (CPU,
        # seeds 0 and 1) 20 epochs then beat 15 by 0.085 points (batch 128 at peak 0.1 tied with them), but
        # on fresh seeds they ended at 99.39-99.47%: what holds on every one is still 99.3%.
        Recipe("beyond_5k", "compact5k", "the same design, narrower still: 4,758 parameters",
               epochs=20, batch_size=64, target=99.3, quick_target=97.0, max_params=5_000, **AUGMENT, **CLAIM),
        # For the GPU's time to 99.4% (bench): step4_fast's 8 epochs, batch and peak rate, with a wider
        # compact network instead of step 4's. On validation (CPU, seeds 0 and 1) it beat step4_fast by
        # 0.11 points; 7 epochs and 6 scored 0.05 and 0.07 lower (README). Its ten fresh CPU seeds ended
        # at 99.51-99.63%.
        Recipe("beyond_fast", "compact15k", "the compact design, wider, in 8 epochs: 15,230 parameters", epochs=8,
               lr=0.1, target=99.5, quick_target=97.0, max_params=20_000, **AUGMENT, **CLAIM),
    ]
}
DEFAULT_RECIPE = "step4_final"
FAST_RECIPE = "beyond_fast"  # what the benchmark's time to 99.4% trains by default
# The recipes that make a claim about size and accuracy, and the seeds of their committed records:
# seeds that were never used to choose anything about any recipe.
CLAIMED = [name for name, r in RECIPES.items() if r.max_params is not None]
RECORD_SEEDS = (100, 101, 102, 103, 104)
# The time to 99.4% asks 9 of 10 fresh seeds: the records' five and the next five.
TEN_FRESH_SEEDS = tuple(range(RECORD_SEEDS[0], RECORD_SEEDS[0] + 10))
# The story of notebooks 1-4; the other recipes go beyond it.
STEPS = ["step1_relu_output", "step1_base", "step2_slim", "step3_augment", "step4_final"]


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise UserError(f"unknown recipe {name!r}; choose one of: {', '.join(RECIPES)}")
    return RECIPES[name]
