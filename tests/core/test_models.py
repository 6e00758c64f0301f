import pytest
import torch

from mnistlib.core.errors import UserError
from mnistlib.core.models import MODELS, build_model, count_parameters

EXPECTED_PARAMETERS = {"base_relu_output": 6_379_786, "base": 6_379_786, "slim": 12_352, "final": 12_400,
                       "final_no_dropout": 12_400, "final_no_batchnorm": 12_352, "compact8k": 7_654, "compact5k": 4_758,
                       # 3x3 convs 1-12-16 | 16-16-24 | 24-16 (no biases, batch norm: 2 per channel) and
                       # the 5x5 logits conv 16-10 with biases
                       "compact15k": 9 * (12 + 12 * 16 + 16 * 16 + 16 * 24 + 24 * 16) + 2 * (12 + 16 + 16 + 24 + 16)
                       + 25 * 16 * 10 + 10,
                       # space-to-depth gives 4 channels; 3x3 convs 4-16-16 | 16-32 | 32-64, the 5x5 logits conv
                       "space_to_depth": 9 * (4 * 16 + 16 * 16 + 16 * 32 + 32 * 64) + 2 * (16 + 16 + 32 + 64)
                       + 25 * 64 * 10 + 10}


@pytest.mark.parametrize("name", list(MODELS))
def test_parameter_count_and_output_shape(name):
    model = build_model(name)
    assert count_parameters(model) == EXPECTED_PARAMETERS[name]
    assert model(torch.randn(3, 1, 28, 28)).shape == (3, 10)


def test_final_model_meets_the_parameter_budget():
    assert count_parameters(build_model("final")) < 20_000


def test_relu_on_logits_is_the_only_difference_in_step_1():
    torch.manual_seed(0)
    with_relu = build_model("base_relu_output")
    torch.manual_seed(0)
    without = build_model("base")
    x = torch.randn(8, 1, 28, 28)
    logits = without(x)
    assert (logits < 0).any()
    assert torch.equal(with_relu(x), logits.clamp(min=0))


def test_unknown_model_is_a_user_error():
    with pytest.raises(UserError, match="unknown model 'resnet'.*final"):
        build_model("resnet")
