"""`hardcore.conv`: 2-D convolutions kept as one kernel (hardcore-import{stream=true}) for hardcore-stream.

The float checks prove the streamed import is torch's model; the key check is
that hardcore-quantize makes of it *exactly* the integer function it makes of
the unrolled (Toeplitz) import, compared bit for bit in the reference
interpreter on random inputs: convolutions of every option, batch norms,
ReLUs, both weight scales, per-layer settings, QAT weights, and average pools
that become depthwise convolutions.
"""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import hardcore
from hardcore.frontend import import_model
from hardcore.interpreter import find_function, run_function
from hardcore.irutil import body_ops
from hardcore.mlir import new_context, parse_module
from hardcore.passes.import_ import ImportPass
from hardcore.passes.quantize import QuantizePass
from hardcore.pipeline import run_pipeline

from test_conv import with_batch_statistics

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[2]


def conv_block(in_channels, out_channels, kernel, stride=1, padding=0, dilation=1, groups=1, bias=True,
               batch_norm=False, relu=False):
    layers = [nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=padding, dilation=dilation,
                        groups=groups, bias=bias)]
    layers += [nn.BatchNorm2d(out_channels)] if batch_norm else []
    layers += [nn.ReLU()] if relu else []
    return nn.Sequential(*layers)


# name -> (model factory, input shape without the batch): every option of a 2-D convolution.
CONVS = {
    "plain": (lambda: conv_block(2, 3, 3), (2, 6, 5)),
    "stride2_padding1_bn_relu": (lambda: conv_block(2, 4, 3, stride=2, padding=1, batch_norm=True, relu=True),
                                 (2, 7, 6)),
    "padding2_dilation2_no_bias": (lambda: conv_block(3, 2, 3, padding=2, dilation=2, bias=False), (3, 6, 6)),
    "groups2_bn": (lambda: conv_block(4, 6, 3, padding=1, groups=2, batch_norm=True), (4, 5, 5)),
    "depthwise_relu": (lambda: conv_block(3, 3, 3, stride=2, padding=1, groups=3, relu=True), (3, 6, 6)),
    "rectangular_kernel": (lambda: nn.Sequential(nn.Conv2d(2, 3, (3, 2), stride=(2, 1), padding=(1, 0),
                                                           dilation=(1, 2)), nn.ReLU()), (2, 7, 6)),
    # kernel taps that only ever read padding: the unrolled matrix has no column for them
    "taps_on_padding_only": (lambda: conv_block(1, 2, 3, stride=2, padding=2), (1, 1, 4)),
    "two_convs_bn_relu_linear": (lambda: nn.Sequential(
        conv_block(1, 4, 3, padding=1, batch_norm=True, relu=True),
        conv_block(4, 4, 3, stride=2, padding=1, groups=2, batch_norm=True, relu=True),
        nn.Flatten(), nn.Linear(4 * 3 * 3, 5)), (1, 6, 6)),
}

# Average pools (after a conv and a ReLU, so their inputs are unsigned like a CNN's).
AVG_POOLS = {
    "avgpool_2x2_stride2": (lambda: nn.Sequential(conv_block(2, 3, 3, padding=1, relu=True), nn.AvgPool2d(2)),
                            (2, 6, 6)),
    "avgpool_3x3_padding1": (lambda: nn.Sequential(conv_block(2, 3, 3, padding=1), nn.AvgPool2d(
        3, stride=1, padding=1, count_include_pad=True), nn.ReLU()), (2, 5, 5)),
    "global_avgpool": (lambda: nn.Sequential(conv_block(2, 4, 3, relu=True), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                             nn.Linear(4, 3)), (2, 5, 6)),
    "global_mean": (lambda: nn.Sequential(conv_block(2, 4, 3, relu=True), GlobalMean(), nn.Linear(4, 3)),
                    (2, 4, 4)),
    # unequal divisors: stays a dense layer
    "avgpool_exclude_pad": (lambda: nn.Sequential(conv_block(1, 2, 1), nn.AvgPool2d(
        3, stride=1, padding=1, count_include_pad=False)), (1, 4, 4)),
}


class GlobalMean(nn.Module):
    def forward(self, x):
        return x.mean((2, 3))


def model_for(factory, seed: int = 0):
    torch.manual_seed(seed)
    return with_batch_statistics(factory(), seed)


def imported(model, shape, stream: bool, quantize: QuantizePass | None = None):
    """The model through hardcore-import (stream or not) and, given `quantize`, hardcore-quantize."""
    module = import_model(model, torch.zeros(1, *shape), new_context())
    passes = "hardcore-import" + (",hardcore-quantize" if quantize is not None else "")
    run_pipeline(module, passes, overrides={"hardcore-import": ImportPass(stream=stream),
                                            "hardcore-quantize": quantize or QuantizePass()})
    return module


def op_names(module) -> list[str]:
    return [op.operation.name for op in body_ops(find_function(module.operation))]


def assert_same_integers(model, shape, count: int = 200, **options):
    """The streamed and the unrolled import quantize to one integer function: compared bit for bit."""
    rng = np.random.default_rng(1)
    calibration = rng.uniform(-1, 1, (256,) + shape)
    modules = [imported(model, shape, stream, QuantizePass(calibration_data=calibration, **options))
               for stream in (False, True)]
    unrolled, streamed = (find_function(m.operation) for m in modules)
    x = np.concatenate([rng.uniform(-1.2, 1.2, (count,) + shape), calibration[:8] * 4])
    # the integer results, before the dequantize: one integer function
    expected, actual = (run_function(f, x) * 2.0 ** int(body_ops(f)[-2].attributes["frac_bits"].value)
                        for f in (unrolled, streamed))
    assert np.array_equal(expected, actual)
    assert np.array_equal(np.rint(expected), expected)
    return modules


@pytest.mark.parametrize("name", sorted(CONVS) + sorted(AVG_POOLS))
def test_streamed_import_is_the_torch_model(name):
    factory, shape = {**CONVS, **AVG_POOLS}[name]
    model = model_for(factory)
    module = imported(model, shape, stream=True)
    inputs = np.random.default_rng(0).standard_normal((64,) + shape).astype(np.float32)
    actual = run_function(find_function(module.operation), inputs)
    expected = model(torch.from_numpy(inputs)).detach().numpy()
    np.testing.assert_allclose(actual.reshape(expected.shape), expected, rtol=1e-5,
                               atol=1e-6 * np.abs(expected).max())
    names = op_names(module)
    assert "hardcore.conv" in names or name.startswith("avgpool")
    if name in CONVS:  # no unrolled matrix
        assert names.count("hardcore.dense") == (name == "two_convs_bn_relu_linear")


@pytest.mark.parametrize("weight_scale", ["per-layer", "per-channel"])
@pytest.mark.parametrize("name", sorted(CONVS))
def test_streamed_conv_quantizes_to_the_unrolled_integers(name, weight_scale):
    factory, shape = CONVS[name]
    _, streamed = assert_same_integers(model_for(factory), shape, weight_scale=weight_scale)
    names = op_names(streamed)
    assert "hardcore.dense" not in names or name == "two_convs_bn_relu_linear"
    # a ReLU after the conv is absorbed: conv -> relu -> requant
    for index, op_name in enumerate(names):
        if op_name == "hardcore.conv":
            assert names[index + 1] in ("hardcore.relu", "hardcore.requant")


def test_per_channel_shifts_cover_every_output_element():
    # per-channel scales on a conv whose channels need different frac bits: a shift per element
    model = model_for(CONVS["groups2_bn"][0])
    with torch.no_grad():
        model[0].weight[3:] *= 9.0
    _, streamed = assert_same_integers(model, CONVS["groups2_bn"][1], weight_scale="per-channel")
    requant = [op for op in body_ops(find_function(streamed.operation)) if op.operation.name == "hardcore.requant"][0]
    shifts = np.array(requant.attributes["shift"])
    assert shifts.shape == (6 * 5 * 5,) and len(set(shifts.tolist())) > 1
    assert np.array_equal(shifts, np.repeat(shifts[::25], 25))


@pytest.mark.parametrize("options", [{"act_bits": 4, "weight_bits": 3}, {"act_percentile": 99.0},
                                     {"config_data": {"layers": {"0": {"weight_bits": 4, "weight_scale": "per-channel"},
                                                                 "1": {"act_bits": 6}}}}],
                         ids=["bits", "percentile", "config"])
def test_settings_apply_to_the_conv_as_to_its_dense(options):
    factory, shape = CONVS["two_convs_bn_relu_linear"]
    assert_same_integers(model_for(factory), shape, **options)


@pytest.mark.parametrize("name", sorted(AVG_POOLS))
def test_streamed_avgpool_quantizes_to_the_unrolled_integers(name):
    factory, shape = AVG_POOLS[name]
    unrolled, streamed = assert_same_integers(model_for(factory), shape)
    pools = [op for op in body_ops(find_function(streamed.operation))
             if "avg" in str(op.attributes["hardcore.kind"] if "hardcore.kind" in op.attributes else "")
             or "mean" in str(op.attributes["hardcore.kind"] if "hardcore.kind" in op.attributes else "")]
    assert len(pools) == 1
    if name == "avgpool_exclude_pad":  # divisors 4, 6 and 9: a dense layer, as without stream
        assert pools[0].operation.name == "hardcore.dense"
        return
    pool = pools[0]
    assert pool.operation.name == "hardcore.conv"
    assert "hardcore.window" in pool.attributes
    channels = int(pool.attributes["groups"].value)
    weight = np.array(pool.attributes["weight"])
    assert weight.shape[:2] == (channels, 1) and len(set(weight.reshape(-1).tolist())) == 1
    window = pool.attributes["hardcore.window"]
    for key in ("stride", "padding", "dilation"):
        assert np.array_equal(np.array(pool.attributes[key]), np.array(window[key]))
    assert np.array_equal(np.array(window["kernel"]), weight.shape[2:])


def test_digits_cnn_streamed_equals_unrolled():
    sys.path.insert(0, str(ROOT / "examples" / "digits"))
    try:
        from digits import IMAGE_SHAPE, DigitsCNN
    finally:
        sys.path.remove(str(ROOT / "examples" / "digits"))
    model = DigitsCNN().eval()
    for weight_scale in ("per-layer", "per-channel"):
        _, streamed = assert_same_integers(model, IMAGE_SHAPE, weight_scale=weight_scale)
        assert op_names(streamed).count("hardcore.conv") == 2


def test_qat_conv_keeps_the_model_codes():
    from test_quant_config import train_qat_cnn

    model, inputs = train_qat_cnn(steps=5)
    modules = [imported(model, (1, 6, 6), stream, QuantizePass(calibration_data=inputs[:64].numpy()))
               for stream in (False, True)]
    x = inputs[64:264].numpy()
    unrolled, streamed = (run_function(find_function(m.operation), x) for m in modules)
    assert np.array_equal(unrolled, streamed)
    conv = [op for op in body_ops(find_function(modules[1].operation)) if op.operation.name == "hardcore.conv"][0]
    weight = np.array(conv.attributes["weight"])
    codes = torch.round(model.conv.weight.detach() * torch.tensor([2.0 ** 6, 2.0 ** 7, 2.0 ** 5])[:, None, None, None])
    assert np.array_equal(weight, codes.numpy().astype(np.int64))


def test_conv1d_with_stream_is_an_error():
    module = import_model(nn.Conv1d(1, 2, 3), torch.zeros(1, 1, 5), new_context())
    with pytest.raises(hardcore.CompileError) as info:
        run_pipeline(module, "hardcore-import{stream=true}")
    assert [d.message for d in info.value.diagnostics] == [
        "hardcore-import: stream=true supports 2-D convolutions only, got a conv1d"]


def test_fold_weights_rejects_a_conv():
    factory, shape = CONVS["plain"]
    module = imported(model_for(factory), shape, stream=True, quantize=QuantizePass())
    with pytest.raises(hardcore.CompileError) as info:
        run_pipeline(module, "hardcore-fold-weights")
    assert [d.message for d in info.value.diagnostics] == [
        "hardcore-fold-weights: hardcore.conv is folded by hardcore-stream (compile with stream=True); "
        "the fully parallel path unrolls convolutions at import"]


def test_stream_false_is_the_unrolled_import():
    factory, shape = CONVS["two_convs_bn_relu_linear"]
    model = model_for(factory)
    default = import_model(model, torch.zeros(1, *shape), new_context())
    run_pipeline(default, "hardcore-import")
    explicit = imported(model, shape, stream=False)
    assert str(default) == str(explicit)
    assert "hardcore.conv" not in str(default) and "hardcore.window" not in str(default)


def _conv_text(weight: np.ndarray, bias: np.ndarray, in_shape, out_shape, stride, padding, dilation, groups,
               element: str, result: str) -> str:
    def dims(shape):
        return "x".join(str(d) for d in shape)
    attributes = (f"weight = dense<{weight.tolist()}> : tensor<{dims(weight.shape)}x{element}>, "
                  f"bias = dense<{bias.tolist()}> : tensor<{bias.size}x{'i64' if element[0] == 'i' else element}>, "
                  f"stride = dense<{list(stride)}> : tensor<2xi64>, padding = dense<{list(padding)}> : tensor<2xi64>, "
                  f"dilation = dense<{list(dilation)}> : tensor<2xi64>, groups = {groups} : i64")
    in_type, out_type = f"tensor<{dims(in_shape)}x{element if element[0] == 'f' else 'i8'}>", \
        f"tensor<{dims(out_shape)}x{result}>"
    return (f"func.func @conv(%x: {in_type}) -> {out_type} {{\n"
            f"  %y = \"hardcore.conv\"(%x) {{{attributes}}} : ({in_type}) -> {out_type}\n"
            f"  return %y : {out_type}\n}}\n")


@pytest.mark.parametrize("geometry", [((1, 1), (0, 0), (1, 1), 1), ((2, 1), (1, 2), (1, 2), 2),
                                      ((2, 2), (2, 1), (2, 1), 4)])
def test_interpreter_conv_is_torch_conv2d(geometry):
    """Float (f64) and integer (exact int64) hardcore.conv against torch's conv2d in f64."""
    stride, padding, dilation, groups = geometry
    rng = np.random.default_rng(0)
    in_shape, out_channels, kernel = (4, 7, 6), 8, (3, 2)
    weight_shape = (out_channels, in_shape[0] // groups, *kernel)
    expected_shape = torch.nn.functional.conv2d(torch.zeros(1, *in_shape), torch.zeros(weight_shape), None,
                                                stride, padding, dilation, groups).shape[1:]
    for element in ("f32", "i8"):
        if element == "f32":
            weight = rng.standard_normal(weight_shape).astype(np.float32)
            bias = rng.standard_normal(out_channels).astype(np.float32)
            x = rng.standard_normal((50,) + in_shape)
        else:
            weight = rng.integers(-128, 128, weight_shape)
            bias = rng.integers(-10 ** 6, 10 ** 6, out_channels)
            x = rng.integers(-128, 128, (50,) + in_shape)
        text = _conv_text(weight, bias, in_shape, expected_shape, stride, padding, dilation, groups, element,
                          "f32" if element == "f32" else "i32")
        module = parse_module(text, new_context())
        actual = run_function(find_function(module.operation), x)
        expected = torch.nn.functional.conv2d(torch.from_numpy(x.astype(np.float64)),
                                              torch.from_numpy(weight.astype(np.float64)),
                                              torch.from_numpy(bias.astype(np.float64)), stride, padding, dilation,
                                              groups).numpy()
        if element == "f32":
            np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-12)
        else:
            assert actual.dtype == np.int64 and np.array_equal(actual, expected.astype(np.int64))


def test_interpreter_checks_the_conv_result_type():
    weight = np.full((1, 1, 2, 2), 127)
    text = _conv_text(weight, np.zeros(1, dtype=np.int64), (1, 2, 2), (1, 1, 1), (1, 1), (0, 0), (1, 1), 1, "i8",
                      "i16")
    module = parse_module(text, new_context())
    function = find_function(module.operation)
    assert run_function(function, np.full((1, 1, 2, 2), 64)).item() == 127 * 64 * 4
    with pytest.raises(hardcore.interpreter.InterpreterError, match=r"^<stdin>:2:8: 'hardcore.conv' produced 64516, outside its "
                                                                      r"type tensor<1x1x1xi16> \(overflow\)$"):
        run_function(function, np.full((1, 1, 2, 2), 127))


def _resnet8():
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        from resnet8 import ResNet8, calibration
    finally:
        sys.path.remove(str(ROOT / "examples"))
    return ResNet8(), calibration


def test_resnet8_streamed_equals_unrolled():
    """examples/resnet8.py (residual adds, 1x1 shortcuts, a global average pool) at 8x8, where the unrolled
    import is still small: one integer function."""
    model, _ = _resnet8()
    _, streamed = assert_same_integers(model, (3, 8, 8), weight_scale="per-channel")
    names = op_names(streamed)
    assert names.count("hardcore.conv") == 8 and names.count("hardcore.dense") == 1  # 7 convs, the pool; the linear


def test_resnet8_at_32x32_is_kernels():
    """At CIFAR size the streamed IR holds the kernels (the unrolled one would need gigabytes): the float
    import is the torch model, and the quantized function runs."""
    model, calibration = _resnet8()
    shape = (3, 32, 32)
    data = calibration(32, shape)
    module = imported(model, shape, stream=True)
    expected = model(torch.from_numpy(data[:8]).float()).detach().numpy()
    np.testing.assert_allclose(run_function(find_function(module.operation), data[:8]), expected, rtol=1e-4,
                               atol=1e-5 * np.abs(expected).max())
    module = imported(model, shape, stream=True, quantize=QuantizePass(calibration_data=data))
    assert len(module.operation.get_asm(large_elements_limit=None)) < 400_000
    assert run_function(find_function(module.operation), data).shape == (32, 10)
