"""Quantized CNNs written as layer IR, with their exact function in numpy: inputs for hardcore-stream's tests and fuzzer.

`Net` writes the quantized IR that hardcore-quantize would (hardcore.conv,
relu, requant, maxpool with `hardcore.window`, add_tensors, a global average
pool as a depthwise conv, a flatten and dense layers) from seeded random
integer weights, and evaluates the same function in numpy, independently of
the interpreter and of the passes.
"""

from __future__ import annotations

import numpy as np

from hardcore.adder_graph import signed_width


def _dense_text(array, element: str) -> str:
    array = np.asarray(array)
    body = np.array2string(array, separator=", ", threshold=1 << 30, max_line_width=1 << 30)
    return f"dense<{body}> : tensor<{'x'.join(str(d) for d in array.shape)}x{element}>"


def _pair(values) -> str:
    return f"dense<[{values[0]}, {values[1]}]> : tensor<2xi64>"


class Net:
    """A quantized function of one image (C x H x W), built layer by layer."""

    def __init__(self, shape, low: int = -128, high: int = 127, seed: int = 0, frac_bits: int = 4):
        self.rng = np.random.default_rng(seed)
        self.lines: list[str] = []
        self.count = 0
        self.in_shape = list(shape)
        self.in_range = (low, high)
        self.functions = []  # numpy: value name -> function of the earlier values
        type_ = self._type(shape, signed_width(low, high))
        self.lines.append(f'    %x = "hardcore.quantize"(%arg0) {{frac_bits = {frac_bits} : i64, min = {low} : i64, '
                          f'max = {high} : i64}} : ({self._type(shape, "f32")}) -> {type_}')
        self.input = ("%x", list(shape), signed_width(low, high), (low, high))
        self.values = {"%x": None}

    @staticmethod
    def _type(shape, width) -> str:
        element = width if isinstance(width, str) else f"i{width}"
        return f"tensor<{'x'.join(str(d) for d in shape)}x{element}>"

    def _op(self, text: str, shape, width: int, value_range, evaluate) -> tuple:
        name = f"%v{self.count}"
        self.count += 1
        self.lines.append(f"    {name} = {text}")
        self.functions.append((name, evaluate))
        return name, list(shape), width, value_range

    def _requant(self, value, shift: int, low: int, high: int, relu: bool):
        name, shape, width, (vlow, vhigh) = value
        if relu:
            value = self._op(f'"hardcore.relu"({name}) : ({self._type(shape, width)}) -> {self._type(shape, width)}',
                             shape, width, (max(vlow, 0), max(vhigh, 0)), lambda v, n=name: np.maximum(v[n], 0))
            name = value[0]
        out = signed_width(low, high)

        def requant(v, n=name):
            x = v[n]
            if shift > 0:
                x = np.floor_divide(x + (1 << (shift - 1)), 1 << shift)
            else:
                x = x << -shift
            return np.clip(x, low, high)
        return self._op(f'"hardcore.requant"({name}) {{shift = {shift} : i64, min = {low} : i64, max = {high} : i64}}'
                        f' : ({self._type(shape, width)}) -> {self._type(shape, out)}', shape, out, (low, high),
                        requant)

    def conv(self, value, out_channels: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1,
             groups: int = 1, relu: bool = True, act_bits: int = 8, weight_range: int = 8, bias: bool = True):
        name, (channels, height, width), in_width, (low, high) = value
        per_group = channels // groups
        weight = self.rng.integers(-weight_range, weight_range, size=(out_channels, per_group, kernel, kernel))
        magnitude = max(abs(low), abs(high))
        bias_values = self.rng.integers(-magnitude * 4, magnitude * 4 + 1, size=out_channels) if bias else \
            np.zeros(out_channels, dtype=np.int64)
        out_h = (height + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
        out_w = (width + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
        bound = int(np.abs(weight).reshape(out_channels, -1).sum(axis=1).max()) * magnitude + \
            int(np.abs(bias_values).max(initial=0))
        acc = signed_width(-bound, bound)
        shape = [out_channels, out_h, out_w]

        def convolve(v, n=name):
            x = np.pad(v[n], ((0, 0), (0, 0), (padding, padding), (padding, padding)))
            out = np.zeros((x.shape[0], out_channels, out_h, out_w), dtype=np.int64)
            for o in range(out_channels):
                first = (o // (out_channels // groups)) * per_group
                for c in range(per_group):
                    for a in range(kernel):
                        for b in range(kernel):
                            rows = np.arange(out_h) * stride + a * dilation
                            columns = np.arange(out_w) * stride + b * dilation
                            out[:, o] += weight[o, c, a, b] * x[:, first + c][:, rows[:, None], columns[None, :]]
                out[:, o] += bias_values[o]
            return out
        text = (f'"hardcore.conv"({name}) {{weight = {_dense_text(weight, "i8")}, bias = {_dense_text(bias_values, "i64")}, '
                f'stride = {_pair([stride] * 2)}, padding = {_pair([padding] * 2)}, dilation = {_pair([dilation] * 2)}, '
                f'groups = {groups} : i64}} : ({self._type([channels, height, width], in_width)}) -> {self._type(shape, acc)}')
        conv = self._op(text, shape, acc, (-bound, bound), convolve)
        shift = max(acc - act_bits - 1, 0)
        if relu:
            return self._requant(conv, shift, 0, (1 << act_bits) - 1, True)
        return self._requant(conv, shift, -(1 << (act_bits - 1)), (1 << (act_bits - 1)) - 1, False)

    def maxpool(self, value, kernel: int, stride: int, padding: int = 0):
        name, (channels, height, width), in_width, value_range = value
        out_h = (height + 2 * padding - kernel) // stride + 1
        out_w = (width + 2 * padding - kernel) // stride + 1
        windows = []
        for c in range(channels):
            for i in range(out_h):
                for j in range(out_w):
                    taps = []
                    for a in range(kernel):
                        for b in range(kernel):
                            r, s = i * stride - padding + a, j * stride - padding + b
                            taps.append(c * height * width + r * width + s if 0 <= r < height and 0 <= s < width else -1)
                    windows.append(taps)

        def pool(v, n=name):
            x = v[n].reshape(v[n].shape[0], -1)
            table = np.array(windows)
            gathered = np.where(table >= 0, x[:, np.maximum(table, 0)], np.iinfo(np.int64).min)
            return gathered.max(axis=2).reshape(x.shape[0], channels, out_h, out_w)
        geometry = (f'{{kernel = {_pair([kernel] * 2)}, stride = {_pair([stride] * 2)}, padding = {_pair([padding] * 2)}, '
                    f'dilation = {_pair([1, 1])}, ceil_mode = 0 : i64}}')
        shape = [channels, out_h, out_w]
        return self._op(f'"hardcore.maxpool"({name}) {{windows = {_dense_text(windows, "i64")}, hardcore.window = {geometry}}}'
                        f' : ({self._type([channels, height, width], in_width)}) -> {self._type(shape, in_width)}',
                        shape, in_width, value_range, pool)

    def add(self, a, b, act_bits: int = 8, align: int = 1, relu: bool = True):
        """a + (b << align), requantized by one bit, with a ReLU."""
        if align:
            b = self._requant(b, -align, b[3][0] << align, b[3][1] << align, False)
        low, high = a[3][0] + b[3][0], a[3][1] + b[3][1]
        width = signed_width(low, high)
        total = self._op(f'"hardcore.add_tensors"({a[0]}, {b[0]}) : ({self._type(a[1], a[2])}, {self._type(b[1], b[2])})'
                         f' -> {self._type(a[1], width)}', a[1], width, (low, high),
                         lambda v, x=a[0], y=b[0]: v[x] + v[y])
        shift = max(width - act_bits - 1, 1)
        return self._requant(total, shift, 0 if relu else -(1 << (act_bits - 1)),
                             (1 << act_bits) - 1 if relu else (1 << (act_bits - 1)) - 1, relu)

    def global_pool(self, value, act_bits: int = 8):
        """A global average pool as hardcore-quantize makes it: a depthwise conv of one constant per channel."""
        name, (channels, height, width), in_width, (low, high) = value
        positions = height * width
        multiplier = 1 if positions & (positions - 1) == 0 else int(np.floor(2 ** 12 / positions + 0.5))
        weight = np.full((channels, 1, height, width), multiplier)
        bound = positions * max(abs(low), abs(high)) * multiplier
        acc = signed_width(-bound, bound)
        shape = [channels, 1, 1]
        text = (f'"hardcore.conv"({name}) {{weight = {_dense_text(weight, "i16")}, bias = {_dense_text(np.zeros(channels, dtype=np.int64), "i64")}, '
                f'stride = {_pair([1, 1])}, padding = {_pair([0, 0])}, dilation = {_pair([1, 1])}, groups = {channels} : i64, '
                f'hardcore.window = {{kernel = {_pair([height, width])}, stride = {_pair([height, width])}}}}}'
                f' : ({self._type([channels, height, width], in_width)}) -> {self._type(shape, acc)}')
        pooled = self._op(text, shape, acc, (-bound, bound),
                          lambda v, n=name: v[n].sum(axis=(2, 3), keepdims=True) * multiplier)
        shift = max(acc - act_bits - 1, 0)
        return self._requant(pooled, shift, 0, (1 << act_bits) - 1, False)

    def flatten(self, value):
        name, shape, width, value_range = value
        size = int(np.prod(shape))
        return self._op(f'"hardcore.reshape"({name}) : ({self._type(shape, width)}) -> {self._type([size], width)}',
                        [size], width, value_range, lambda v, n=name: v[n].reshape(v[n].shape[0], -1))

    def dense(self, value, outputs: int, act_bits: int = 8, relu: bool = False):
        name, shape, width, (low, high) = value
        inputs = int(np.prod(shape))
        weight = self.rng.integers(-8, 8, size=(outputs, inputs))
        bias_values = self.rng.integers(-100, 101, size=outputs)
        bound = int(np.abs(weight).sum(axis=1).max()) * max(abs(low), abs(high)) + 100
        acc = signed_width(-bound, bound)
        total = self._op(f'"hardcore.dense"({name}) {{weight = {_dense_text(weight, "i8")}, bias = {_dense_text(bias_values, "i64")}}}'
                         f' : ({self._type(shape, width)}) -> {self._type([outputs], acc)}', [outputs], acc,
                         (-bound, bound), lambda v, n=name: v[n].reshape(v[n].shape[0], -1) @ weight.T + bias_values)
        shift = max(acc - act_bits - 1, 0)
        if relu:
            return self._requant(total, shift, 0, (1 << act_bits) - 1, True)
        return self._requant(total, shift, -(1 << (act_bits - 1)), (1 << (act_bits - 1)) - 1, False)

    def text(self, output, name: str = "net", frac_bits: int = 2) -> str:
        out_name, shape, width, _ = output
        lines = [f"module {{\n  func.func @{name}(%arg0: {self._type(self.in_shape, 'f32')}) -> {self._type(shape, 'f32')} {{"]
        lines += self.lines
        lines.append(f'    %out = "hardcore.dequantize"({out_name}) {{frac_bits = {frac_bits} : i64}} : '
                     f'({self._type(shape, width)}) -> {self._type(shape, "f32")}')
        lines.append(f"    return %out : {self._type(shape, 'f32')}\n  }}\n}}\n")
        self.output = out_name
        return "\n".join(lines)

    def evaluate(self, images) -> np.ndarray:
        """The function on integer images (batch, C, H, W): the output, (batch, elements)."""
        values = {"%x": np.asarray(images, dtype=np.int64).reshape([-1] + self.in_shape)}
        for name, function in self.functions:
            values[name] = function(values)
        result = values[self.output]
        return result.reshape(result.shape[0], -1)

    def images(self, count: int, seed: int = 1) -> np.ndarray:
        rng = np.random.default_rng(seed)
        return rng.integers(self.in_range[0], self.in_range[1] + 1, size=[count] + self.in_shape)
