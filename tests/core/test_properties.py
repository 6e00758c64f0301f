"""Numbers that must hold on any PyTorch version: each is derived here by hand, never from the expression
the library computes it with (the golden run pins the rest bit for bit, on the versions it was recorded on)."""

import dataclasses
import math

import pytest
import torch

from mnistlib.core import augment, training
from mnistlib.core import data as mnist_data
from mnistlib.core.recipes import RECIPES, get_recipe

# Warm-up from 10% of the peak over the first 20% of the steps, then cosine down to zero: at 1,000 steps,
# step 0 is 0.1 x peak, step 100 halfway up (0.55), step 200 the peak, step 600 halfway down the cosine
# (0.5), step 800 at cos(3/4 pi) (0.5 * (1 - 1/sqrt 2) = 0.1464...) and step 1,000 zero.
LR_SHARE = {0: 0.1, 100: 0.55, 200: 1.0, 600: 0.5, 800: 0.5 * (1 - 2 ** -0.5), 1000: 0.0}


@pytest.mark.parametrize("name", ["step4_final", "step4_fast", "beyond_8k"])
def test_learning_rate_at_known_steps(name):
    recipe = RECIPES[name]
    for at, share in LR_SHARE.items():
        assert recipe.lr_at(at, 1000) == pytest.approx(share * recipe.lr, abs=1e-12), at


def test_the_schedule_the_steps_follow_has_the_same_known_values():
    """Both training steps read their rates from the run's schedule, computed once; it must hold them."""
    recipe = RECIPES["step4_final"]
    rates = recipe.lr_schedule(1000)
    assert len(rates) == 1000
    for at, share in LR_SHARE.items():
        if at < 1000:
            assert rates[at] == pytest.approx(share * recipe.lr, abs=1e-12), at


# The settings every committed record and stored notebook run was trained with (results/, the reference runs).
# Changing one changes what the records mean: re-record (`python -m mnistlib records`) and update this table.
RECORDED_SETTINGS = {
    "step4_final": ("final", 20, 128, 0.05, 0.9, 5e-4, 7.0, 2.0, 0.0),
    "step4_fast": ("final", 8, 128, 0.1, 0.9, 5e-4, 7.0, 2.0, 0.0),
    "beyond_8k": ("compact8k", 20, 64, 0.05, 0.9, 5e-4, 7.0, 2.0, 0.0),
    "beyond_5k": ("compact5k", 20, 64, 0.05, 0.9, 5e-4, 7.0, 2.0, 0.0),
    "beyond_fast": ("compact15k", 8, 128, 0.1, 0.9, 5e-4, 7.0, 2.0, 0.0),
    "beyond_cpu_fast": ("space_to_depth", 5, 256, 0.1, 0.9, 5e-4, 7.0, 2.0, 0.0),
    "step1_relu_output": ("base_relu_output", 1, 128, 0.01, 0.9, 5e-4, 0.0, 0.0, 0.0),
    "step1_base": ("base", 1, 128, 0.01, 0.9, 5e-4, 0.0, 0.0, 0.0),
    "step2_slim": ("slim", 20, 128, 0.05, 0.9, 5e-4, 0.0, 0.0, 0.0),
    "step3_augment": ("slim", 20, 128, 0.05, 0.9, 5e-4, 7.0, 2.0, 0.0),
    "step4_batchnorm_only": ("final_no_dropout", 20, 128, 0.05, 0.9, 5e-4, 7.0, 2.0, 0.0),
    "step4_dropout_only": ("final_no_batchnorm", 20, 128, 0.05, 0.9, 5e-4, 7.0, 2.0, 0.0),
}


@pytest.mark.parametrize("name", RECIPES)
def test_each_recipe_is_what_its_records_were_trained_with(name):
    r = RECIPES[name]
    settings = (r.model, r.epochs, r.batch_size, r.lr, r.momentum, r.weight_decay, r.rotation, r.shift,
                r.label_smoothing)
    assert settings == RECORDED_SETTINGS[name]


def ink(images: torch.Tensor, background: float) -> torch.Tensor:
    return (images > background + 0.5).float()


def centre_of_ink(image: torch.Tensor) -> torch.Tensor:
    mass = image[0]
    rows, cols = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
    return torch.stack([(mass * rows).sum(), (mass * cols).sum()]) / mass.sum()


def test_a_quarter_turn_is_exactly_rot90_and_a_shift_is_exactly_a_roll(quick_data):
    """A rotation turns pixels around the centre without shearing or scaling: a quarter turn maps pixel
    centres onto pixel centres, so it must equal ``torch.rot90`` (to float rounding: the background is
    subtracted and added back); a whole-pixel shift must equal moving every pixel, black coming in."""
    images = quick_data.train.images[:16]
    background = quick_data.background
    quarter = augment.rotate_and_shift(images, torch.full((16,), math.pi / 2), torch.zeros(2, 16), background)
    torch.testing.assert_close(quarter, torch.rot90(images, 1, dims=(2, 3)), rtol=0, atol=1e-6)
    shift = torch.tensor([[2.0] * 16, [-1.0] * 16])  # 2 px left, 1 px down
    moved = augment.rotate_and_shift(images, torch.zeros(16), shift, background)
    torch.testing.assert_close(moved[:, :, 1:, :-2], images[:, :, :-1, 2:], rtol=0, atol=1e-6)
    edges = torch.cat([moved[:, :, :, -2:].flatten(), moved[:, :, 0, :].flatten()])
    torch.testing.assert_close(edges, torch.full_like(edges, background), rtol=0, atol=1e-6)


def test_random_rotations_keep_the_inks_area_and_centre(quick_data):
    images = quick_data.train.images[:256]
    background = quick_data.background
    torch.manual_seed(0)
    turned = augment.random_rotate_and_shift(images, 7.0, 0.0, background)
    before, after = ink(images, background), ink(turned, background)
    area = after.sum((1, 2, 3)) / before.sum((1, 2, 3))
    assert 0.9 < area.min() and area.max() < 1.1 and abs(area.mean() - 1) < 0.02
    moved = torch.stack([(centre_of_ink(a) - centre_of_ink(b)).norm() for a, b in zip(after, before, strict=True)])
    assert moved.max() < 1.0  # MNIST centres digits by mass: turning about the centre barely moves it


def test_random_angles_and_shifts_are_uniform_in_their_range(monkeypatch):
    drawn = {}

    def spy(images, angles, shifts, background):
        drawn.update(angles=angles, shifts=shifts)
        return images

    monkeypatch.setattr(augment, "rotate_and_shift", spy)
    torch.manual_seed(0)
    augment.random_rotate_and_shift(torch.zeros(20_000, 1, 28, 28), 7.0, 2.0, 0.0)
    degrees = drawn["angles"] * 180 / math.pi
    assert -7.0 <= degrees.min() < -6.9 and 6.9 < degrees.max() <= 7.0 and abs(degrees.mean()) < 0.1
    assert degrees.std().item() == pytest.approx(14 / math.sqrt(12), rel=0.02)  # uniform on [-7, 7]
    assert drawn["shifts"].shape == (2, 20_000) and -2.0 <= drawn["shifts"].min() < -1.99
    assert drawn["shifts"].std(1).tolist() == pytest.approx([4 / math.sqrt(12)] * 2, rel=0.02)


MEAN, STD = 0.1306604763, 0.3081078039  # of the 60,000 training images (pixels / 255), as published


def test_every_split_is_normalized_with_the_training_statistics(quick_data):
    """Black is -mean/std and white (1 - mean)/std in the training and in the test split alike."""
    black, white = -MEAN / STD, (1 - MEAN) / STD
    for split in (quick_data.train, quick_data.test):
        assert split.images.min().item() == pytest.approx(black, abs=1e-5)
        assert split.images.max().item() == pytest.approx(white, abs=1e-5)
    assert quick_data.background == pytest.approx(black, abs=1e-6)
    test = mnist_data.load_test("cpu", quick_data.mean, quick_data.std)
    assert test.images.min().item() == pytest.approx(black, abs=1e-5)
    assert test.images.mean().item() == pytest.approx((0.1325 - MEAN) / STD, abs=1e-3)  # the test set's own mean


class Constant(torch.nn.Module):
    """Predicts digit ``digit`` for every image."""

    def __init__(self, digit: int):
        super().__init__()
        self.digit = digit

    def forward(self, x):
        return torch.nn.functional.one_hot(torch.full((len(x),), self.digit), 10).float()


def test_accuracy_is_correct_test_images_over_all_test_images(quick_data):
    """A model that always answers 1 is right on exactly the 1,135 ones among the 10,000 test images; a
    trained run's recorded accuracy is its model's correct answers counted here, over 10,000."""
    assert int((quick_data.test.labels == 1).sum()) == 1135
    assert training.evaluate(Constant(1), quick_data.test)[1] == 1135
    small = dataclasses.replace(quick_data, train=quick_data.train.head(512))
    model, history = training.train(dataclasses.replace(get_recipe("step4_final"), epochs=1), data=small,
                                    device="cpu", progress=False, log=lambda line: None)
    with torch.no_grad():
        right = int((model.eval()(quick_data.test.images).argmax(1) == quick_data.test.labels).sum())
    assert history.final_accuracy == pytest.approx(right / 100, abs=1e-9)
