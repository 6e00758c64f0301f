import pytest
import torch

from mnistlib.errors import UserError
from mnistlib.models import MODELS, ONE_THREAD_BN_VECTOR_FLOATS, build_model, count_parameters
from mnistlib.summary import receptive_fields, summary

EXPECTED_PARAMETERS = {"base_relu_output": 6_379_786, "base": 6_379_786, "slim": 12_352, "final": 12_400,
                       "final_no_dropout": 12_400, "compact8k": 7_654, "compact5k": 4_758,
                       # 3x3 convs 1-12-16 | 16-16-24 | 24-16 (no biases, batch norm: 2 per channel) and
                       # the 5x5 logits conv 16-10 with biases
                       "compact15k": 9 * (12 + 12 * 16 + 16 * 16 + 16 * 24 + 24 * 16) + 2 * (12 + 16 + 16 + 24 + 16)
                       + 25 * 16 * 10 + 10}


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


def test_receptive_field_reaches_the_whole_digit():
    rows = receptive_fields(build_model("final"))
    assert [rf for *_, rf in rows] == [3, 5, 6, 10, 14, 16, 24, 32, 32, 40]
    assert rows[-1][2] == (10, 1, 1)


def test_global_average_pooling_counts_as_a_window_over_the_whole_map():
    from torch import nn

    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Conv2d(4, 10, 1), nn.Flatten())
    assert [rf for *_, rf in receptive_fields(model)] == [3, 28, 28]


def test_beyond_models_keep_a_positional_head():
    rows = receptive_fields(build_model("compact5k"))
    assert rows[-1][2] == (10, 1, 1) and rows[-1][3] == 40


def test_summary_runs_on_cpu_and_reports_the_total():
    text = summary("slim")
    assert "Total params: 12,352" in text and "receptive field" in text
    assert "Total mult-adds (M): 1.31" in text and "Units." not in text


def test_cpu_dropout_drops_at_its_rate_and_rescales():
    from mnistlib.models import Dropout

    layer = Dropout(0.1)
    x = torch.ones(64, 8, 28, 28, requires_grad=True)
    torch.manual_seed(0)
    y = layer(x)
    kept = y != 0
    assert 1 - kept.float().mean().item() == pytest.approx(0.1, abs=0.003)
    assert torch.allclose(y[kept], torch.full_like(y[kept], 1 / 0.9))
    y.sum().backward()
    assert torch.equal(x.grad != 0, kept)  # no gradient through a dropped element
    torch.manual_seed(0)
    assert torch.equal(layer(x), y)  # the same seed gives the same mask
    assert not torch.equal(layer(x), y)  # the next call draws a new one
    assert torch.equal(layer.eval()(x), x)


def test_cpu_dropout_draws_the_same_mask_in_either_memory_layout():
    from mnistlib.models import Dropout

    layer = Dropout(0.1)
    x = torch.randn(4, 8, 6, 6)
    torch.manual_seed(0)
    y = layer(x)
    torch.manual_seed(0)
    y_cl = layer(x.contiguous(memory_format=torch.channels_last))
    assert y_cl.is_contiguous(memory_format=torch.channels_last) and torch.equal(y_cl, y)


def batch_norm_step(layer, x, grad):
    """Output, input/weight/bias gradients and running statistics of one training step of ``layer``."""
    x = x.clone().requires_grad_()
    out = layer(x)
    out.backward(grad)
    return [out, x.grad, layer.weight.grad, layer.bias.grad, layer.running_mean, layer.running_var]


@pytest.mark.parametrize("momentum", [0.1, None])  # None: running averages over all batches so far
def test_one_thread_batch_norm_is_pytorchs_own_on_one_thread(momentum):
    """Where it runs, the one-thread path gives what ``nn.BatchNorm2d`` gives on one thread, bit for bit,
    over two training steps."""
    from mnistlib.devices import torch_threads
    from mnistlib.models import BatchNorm2d

    torch.manual_seed(0)
    xs = [torch.randn(16, 12, 10, 10).contiguous(memory_format=torch.channels_last) * 3 + 1 for _ in range(2)]
    grad = torch.randn(16, 12, 10, 10).contiguous(memory_format=torch.channels_last)
    ours, theirs = BatchNorm2d(12, momentum=momentum), torch.nn.BatchNorm2d(12, momentum=momentum)
    for layer in ours, theirs:
        layer.weight.data = torch.linspace(0.5, 1.5, 12)
        layer.bias.data = torch.linspace(-1, 1, 12)
    threads = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
        expected = [batch_norm_step(theirs, x, grad) for x in xs]
    assert torch.get_num_threads() == threads
    torch.set_num_threads(2)
    try:
        got = [batch_norm_step(ours, x, grad) for x in xs]
        assert torch.get_num_threads() == 2  # restored after the forward and the backward pass
    finally:
        torch.set_num_threads(threads)
    assert ours.num_batches_tracked.item() == 2
    pairs = [(a, b) for step_got, step_expected in zip(got, expected, strict=True)
             for a, b in zip(step_got, step_expected, strict=True)]
    if ONE_THREAD_BN_VECTOR_FLOATS is not None:  # the one-thread path ran: 12 channels fill no AVX-512 vector
        assert all(torch.equal(a, b) for a, b in pairs)
    else:
        assert all(torch.allclose(a, b, atol=1e-5) for a, b in pairs)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_cpu_dropout_mask_is_keep_times_scale(dtype):
    """The mask is the float32 keep * 1/(1-p) in the input's dtype: what the layer always multiplied by."""
    from mnistlib.models import Dropout

    x = torch.randn(4, 8, 6, 6).to(dtype)
    torch.manual_seed(0)
    y = Dropout(0.1)(x)
    torch.manual_seed(0)
    n = x.numel()
    draws = torch.empty(-(-n // 4), dtype=torch.int64).random_(-(2**63), 2**63 - 1).view(torch.int16)[:n]
    keep = draws.view(x.shape) >= round(0.1 * 65536) - 32768
    assert y.dtype == dtype and torch.equal(y, x * (keep * (1 / 0.9)).to(dtype))


@pytest.mark.skipif(ONE_THREAD_BN_VECTOR_FLOATS is None, reason="one-thread batch norm runs on AVX-512 CPUs only")
def test_batch_norm_takes_one_thread_only_where_channels_do_not_fill_whole_vectors(monkeypatch):
    from mnistlib import models

    calls = []
    monkeypatch.setattr(models._OneThreadBatchNorm, "apply", lambda *args: calls.append(args) or args[0])
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    channels_last = torch.channels_last
    models.BatchNorm2d(12).train()(torch.randn(2, 12, 4, 4).contiguous(memory_format=channels_last))
    assert len(calls) == 1
    models.BatchNorm2d(12).train()(torch.randn(2, 12, 4, 4))  # NCHW: PyTorch's own path
    lanes = ONE_THREAD_BN_VECTOR_FLOATS
    models.BatchNorm2d(lanes).train()(torch.randn(2, lanes, 4, 4).contiguous(memory_format=channels_last))  # whole
    models.BatchNorm2d(12).eval()(torch.randn(2, 12, 4, 4).contiguous(memory_format=channels_last))
    with pytest.raises(ValueError, match="more than 1 value per channel"):  # PyTorch's own check
        models.BatchNorm2d(12).train()(torch.randn(1, 12, 1, 1).contiguous(memory_format=channels_last))
    assert len(calls) == 1
