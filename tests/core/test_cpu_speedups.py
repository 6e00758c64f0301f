"""The CPU speed-ups: each computes what torch's layer computes (bit for bit on one thread, for batch norm;
the same distribution, for dropout), and swapping them in keeps a model's parameters and state dict."""

import pytest
import torch
from torch import nn

from mnistlib.core import cpu_speedups
from mnistlib.core.cpu_speedups import ONE_THREAD_BN_VECTOR_FLOATS, FastDropout, OneThreadBatchNorm2d
from mnistlib.core.devices import torch_threads
from mnistlib.core.models import build_model


def test_cpu_dropout_drops_at_its_rate_and_rescales():
    layer = FastDropout(0.1)
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
    layer = FastDropout(0.1)
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
    torch.manual_seed(0)
    xs = [torch.randn(16, 12, 10, 10).contiguous(memory_format=torch.channels_last) * 3 + 1 for _ in range(2)]
    grad = torch.randn(16, 12, 10, 10).contiguous(memory_format=torch.channels_last)
    ours, theirs = OneThreadBatchNorm2d(12, momentum=momentum), torch.nn.BatchNorm2d(12, momentum=momentum)
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
    x = torch.randn(4, 8, 6, 6).to(dtype)
    torch.manual_seed(0)
    y = FastDropout(0.1)(x)
    torch.manual_seed(0)
    n = x.numel()
    draws = torch.empty(-(-n // 4), dtype=torch.int64).random_(-(2**63), 2**63 - 1).view(torch.int16)[:n]
    keep = draws.view(x.shape) >= round(0.1 * 65536) - 32768
    assert y.dtype == dtype and torch.equal(y, x * (keep * (1 / 0.9)).to(dtype))


@pytest.mark.skipif(ONE_THREAD_BN_VECTOR_FLOATS is None, reason="one-thread batch norm runs on AVX-512 CPUs only")
def test_batch_norm_takes_one_thread_only_where_channels_do_not_fill_whole_vectors(monkeypatch):
    calls = []
    monkeypatch.setattr(cpu_speedups._OneThreadBatchNorm, "apply", lambda *args: calls.append(args) or args[0])
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    channels_last = torch.channels_last
    OneThreadBatchNorm2d(12).train()(torch.randn(2, 12, 4, 4).contiguous(memory_format=channels_last))
    assert len(calls) == 1
    OneThreadBatchNorm2d(12).train()(torch.randn(2, 12, 4, 4))  # NCHW: PyTorch's own path
    lanes = ONE_THREAD_BN_VECTOR_FLOATS
    OneThreadBatchNorm2d(lanes).train()(torch.randn(2, lanes, 4, 4).contiguous(memory_format=channels_last))  # whole
    OneThreadBatchNorm2d(12).eval()(torch.randn(2, 12, 4, 4).contiguous(memory_format=channels_last))
    with pytest.raises(ValueError, match="more than 1 value per channel"):  # PyTorch's own check
        OneThreadBatchNorm2d(12).train()(torch.randn(1, 12, 1, 1).contiguous(memory_format=channels_last))
    assert len(calls) == 1


@pytest.mark.parametrize("name", ["final", "compact15k"])
def test_a_swap_keeps_the_parameters_and_state_dict_and_goes_back(name):
    """Swapped in, the model holds the same parameter objects and the same state dict; swapped back it is
    made of torch's layers again, and ``applied`` puts them back also when the block raises."""
    model = build_model(name)
    params, state = list(model.parameters()), {k: v.clone() for k, v in model.state_dict().items()}
    layers = {type(m) for m in model.modules()}
    dropouts = sum(type(m) is nn.Dropout for m in model.modules())
    norms = sum(type(m) is nn.BatchNorm2d for m in model.modules())
    changed = cpu_speedups.swap(model)
    assert len(changed) == dropouts + norms > 0
    assert not any(type(m) in (nn.Dropout, nn.BatchNorm2d) for m in model.modules())
    assert list(model.parameters()) == params and model.state_dict().keys() == state.keys()
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())
    cpu_speedups.swap_back(changed)
    assert {type(m) for m in model.modules()} == layers
    with pytest.raises(RuntimeError, match="inside"), cpu_speedups.applied(model):
        assert any(type(m) is OneThreadBatchNorm2d for m in model.modules())
        raise RuntimeError("inside")
    assert {type(m) for m in model.modules()} == layers


def test_applied_puts_back_only_what_it_swapped():
    """A model that already held a fast layer keeps it: ``applied`` undoes its own swaps, no others."""
    model = build_model("final")
    first = next(m for m in model.modules() if type(m) is nn.Dropout)
    first.__class__ = FastDropout
    with cpu_speedups.applied(model):
        assert not any(type(m) is nn.Dropout for m in model.modules())
    assert type(first) is FastDropout
    assert sum(type(m) is nn.Dropout for m in model.modules()) == 3


def test_the_story_s_networks_are_made_of_torch_s_layers():
    """The code a learner reads is torch's: no layer of any network is one of the speed-ups until a CPU
    training step swaps it in."""
    for name in ("final", "compact8k", "compact5k", "compact15k"):
        kinds = {type(m) for m in build_model(name).modules()}
        assert not kinds & {FastDropout, OneThreadBatchNorm2d}
        assert nn.BatchNorm2d in kinds


def test_a_model_on_a_gpu_is_left_as_it_is(monkeypatch):
    model = build_model("final")
    monkeypatch.setattr(cpu_speedups, "swap", lambda *args, **kwargs: pytest.fail("swapped off the CPU"))
    fake = torch.nn.Parameter(torch.zeros(1, device="meta"))
    monkeypatch.setattr(type(model), "parameters", lambda self, recurse=True: iter([fake]))
    with cpu_speedups.applied(model):
        pass


def test_training_on_the_cpu_uses_the_speed_ups_and_gives_back_torch_s_layers(data_root, one_thread, monkeypatch):
    """The CPU training step runs the fast layers (the same numbers as the records: FastDropout's mask), and
    the model ``train`` returns is made of torch's layers again, so what a learner inspects is the idea."""
    import dataclasses

    from mnistlib.core import data as mnist_data
    from mnistlib.core import training
    from mnistlib.core.recipes import get_recipe

    data = mnist_data.load("cpu", data_root, train_size=256)
    seen = []
    forward = FastDropout.forward
    monkeypatch.setattr(FastDropout, "forward", lambda self, x: seen.append(self.training) or forward(self, x))
    recipe = dataclasses.replace(get_recipe("step4_final"), epochs=1, batch_size=128)
    model, history = training.train(recipe, data=data, device="cpu", progress=False, quick=False,
                                    log=lambda line: None)
    assert sum(seen) == 2 * 4  # in training mode: two batches, four dropout layers
    assert {type(m) for m in model.modules()} == {type(m) for m in build_model("final").modules()}
    assert history.epochs[0]["epoch"] == 1 and len(history.epochs) == 1
