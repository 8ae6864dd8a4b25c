"""Fuzzing streamed CNNs: random small quantized CNNs through hardcore-stream, against the interpreter, in Icarus.

A network is drawn with hypothesis (`stream_networks()`): an image of 1-3
channels and 3-9 x 3-9 pixels at 3-8 bits (signed or not), then 1-4 layers,
each a convolution (1-4 output channels, kernel 1-3, stride 1-2, padding
0-2, dilation 1-2, groups when the channels allow, weights of 2-6 bits, a
bias or not, ReLU or a signed output; one in three keeps its input's shape)
or a max pool (kernel 2-3, stride 1-2,
padding up to half the kernel), and after a layer, when an earlier stream
value has its shape, half the time a residual add with it (aligned by an exact
left shift); the stream ends in a flatten and a dense layer, a global average
pool (and a dense layer), or leaves as a stream of pixels.  Each network
goes through `hardcore-stream` and `hardcore-fold-weights` under
`--verify-each`; the steps applied at every pixel (`run_steps`) must equal
the reference interpreter and an independent numpy evaluation
(`hardcore.stream_nets`), and the Verilog in Icarus, images pixel by pixel
(1, 2 or 4 pixels a clock, when that divides the width) with the source
idling and the sink stalling at random (0-50% of the cycles), must give
every output bit for bit.

    python -m hardcore.fuzz_stream --minutes 5
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from hypothesis import strategies as st

from hardcore.stream_nets import Net

__all__ = ["StreamFuzzNetwork", "stream_networks", "run_stream_network", "main"]

EXAMPLES_PER_SEED = 20
# What the networks had, counted from their descriptions.
FEATURES = {"max pool": "maxpool", "stride 2": " s2", "padding": " p1", "dilation 2": " d2", "grouped conv": " g2",
            "residual add": "residual add", "flatten": "flatten", "global pool": "global pool",
            "streamed output": "stream", "P pixels a clock": "pixels a clock"}


@dataclass
class StreamFuzzNetwork:
    net: Net
    text: str
    description: str
    stall: int
    pixels: int = 1     # pixels a clock


def _out_size(size: int, kernel: int, stride: int, padding: int, dilation: int = 1) -> int:
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


@st.composite
def stream_networks(draw) -> StreamFuzzNetwork:
    channels = draw(st.integers(1, 3))
    height, width = draw(st.integers(3, 9)), draw(st.integers(3, 9))
    bits = draw(st.integers(3, 8))
    signed = draw(st.booleans())
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    net = Net([channels, height, width], low, high, seed=draw(st.integers(0, 2 ** 16)))
    value = net.input
    earlier = [value]
    steps = []
    for _ in range(draw(st.integers(1, 4))):
        c, h, w = value[1]
        if draw(st.integers(0, 3)) == 0 and min(h, w) >= 2:  # a max pool
            kernel = draw(st.integers(2, min(3, h, w)))
            stride = draw(st.integers(1, 2))
            padding = draw(st.integers(0, kernel // 2))
            value = net.maxpool(value, kernel, stride, padding)
            steps.append(f"maxpool {kernel} s{stride} p{padding}")
        else:
            kernel = draw(st.integers(1, 3))
            dilation = draw(st.integers(1, 2)) if kernel > 1 else 1
            padding = draw(st.integers(0, 2))
            stride = draw(st.integers(1, 2))
            out_channels = draw(st.integers(1, 4))
            if draw(st.integers(0, 2)) == 0:  # the shape kept (a residual block's convolution)
                kernel = draw(st.sampled_from([1, 3]))
                dilation = draw(st.integers(1, 2)) if kernel > 1 else 1
                padding, stride, out_channels = dilation * (kernel - 1) // 2, 1, c
            if min(_out_size(h, kernel, stride, padding, dilation), _out_size(w, kernel, stride, padding, dilation)) < 1:
                kernel, dilation, padding, stride = 1, 1, 0, 1
            groups = c if c == out_channels and c > 1 and draw(st.booleans()) else 1
            relu = draw(st.booleans())
            act_bits = draw(st.integers(3, 8))
            value = net.conv(value, out_channels, kernel, stride=stride, padding=padding, dilation=dilation,
                             groups=groups, relu=relu, act_bits=act_bits,
                             weight_range=1 << draw(st.integers(1, 5)), bias=draw(st.booleans()))
            steps.append(f"conv {out_channels} k{kernel} s{stride} p{padding} d{dilation} g{groups}"
                         f"{' relu' if relu else ''}")
        same = [v for v in earlier if v[1] == value[1] and v[0] != value[0]]
        if same and draw(st.booleans()):
            other = draw(st.sampled_from(same))
            value = net.add(value, other, align=draw(st.integers(0, 2)), relu=draw(st.booleans()))
            steps.append("residual add")
        earlier.append(value)
    ending = draw(st.sampled_from(["flatten", "global pool", "stream"]))
    if ending == "flatten":
        value = net.dense(net.flatten(value), draw(st.integers(1, 5)))
    elif ending == "global pool":
        value = net.global_pool(value)
        if draw(st.booleans()):
            value = net.dense(value, draw(st.integers(1, 5)))
    steps.append(ending)
    pixels = draw(st.sampled_from([p for p in (1, 2, 4) if width % p == 0]))
    if pixels > 1:
        steps.append(f"{pixels} pixels a clock")
    description = f"{channels}x{height}x{width} [{low}, {high}]: " + ", ".join(steps)
    return StreamFuzzNetwork(net, net.text(value), description, draw(st.sampled_from([0, 20, 50])), pixels)


def run_stream_network(network: StreamFuzzNetwork, workdir, images: int = 4, seed: int = 0,
                       simulate: bool = True) -> str | None:
    """Compile and check one network; None when every check holds, else what differed first."""
    from hardcore.interpreter import find_function, run_function
    from hardcore.mlir import new_context, parse_module
    from hardcore.passes.stream import stream_steps
    from hardcore.pipeline import run_pipeline
    from hardcore.sim import tool_available
    from hardcore.stream import build_streamed, run_steps, simulate_frames

    net = network.net
    module = parse_module(network.text, new_context(), "quantized")
    stages = {"quantized": network.text}
    run_pipeline(module, "builtin.module(hardcore-stream)", verify_each=True)
    stages["streamed"] = module.operation.get_asm(large_elements_limit=None)
    run_pipeline(module, "builtin.module(hardcore-fold-weights)", verify_each=True)
    stages["dag"] = module.operation.get_asm(large_elements_limit=None)
    circuit = build_streamed(module, "fuzz", stages, {"pixels_per_clock": network.pixels} if network.pixels > 1 else {})
    codes = net.images(images, seed=seed)
    extremes = np.stack([np.full(net.in_shape, net.in_range[0]), np.full(net.in_shape, net.in_range[1])])
    codes = np.concatenate([extremes, codes])
    flat = codes.reshape(len(codes), -1)
    quantized = parse_module(network.text, new_context(), "quantized")
    reference = run_function(find_function(quantized.operation), flat, from_quantized=True).reshape(len(codes), -1)
    if not np.array_equal(reference, net.evaluate(codes)):
        return f"{network.description}: the interpreter differs from the numpy evaluation"
    steps = run_steps(stream_steps(module.operation), codes).reshape(len(codes), -1)
    if not np.array_equal(steps, reference):
        return f"{network.description}: run_steps differs from the reference"
    if simulate and tool_available("iverilog"):
        result = simulate_frames(circuit, flat, workdir, simulator="icarus", stall=network.stall, seed=seed + 1)
        if result.frame_error or not np.array_equal(result.outputs, reference):
            bad = int(np.argmax(np.any(result.outputs != reference, axis=1)))
            return (f"{network.description}: Icarus ({network.stall}% stalls) image {bad}: "
                    f"{result.outputs[bad].tolist()} != {reference[bad].tolist()}"
                    + (" (frame_error)" if result.frame_error else ""))
    return None


def main(argv: list[str] | None = None) -> int:
    from hypothesis import HealthCheck, given, settings

    from hardcore.fuzz import run_seeds

    parser = argparse.ArgumentParser(prog="python -m hardcore.fuzz_stream", description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=1.0, help="how long to run (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="the first hypothesis seed")
    parser.add_argument("--images", type=int, default=4, help="random images per network (default 4)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    deadline = started + 60 * args.minutes
    totals = {"networks": 0, "images": 0}
    with_feature = dict.fromkeys(FEATURES, 0)
    state = {"failing": False}

    @settings(max_examples=EXAMPLES_PER_SEED, deadline=None, database=None, print_blob=True,
              suppress_health_check=list(HealthCheck))
    @given(network=stream_networks())
    def fuzz_one(network):
        if time.monotonic() > deadline and not state["failing"]:  # a failure is shrunk even past the deadline
            return
        with tempfile.TemporaryDirectory(prefix="hardcore-fuzz-stream-") as workdir:
            try:
                problem = run_stream_network(network, Path(workdir), images=args.images, seed=state["seed"])
            except Exception:
                state["failing"] = True
                raise
        totals["networks"] += 1
        totals["images"] += args.images + 2
        for feature, marker in FEATURES.items():
            with_feature[feature] += marker in network.description.split(": ", 1)[1]
        if problem is not None:
            state["failing"] = True
        assert problem is None, problem

    next_seed, failures = run_seeds(
        fuzz_one, state, args.seed, deadline,
        lambda failed: f"{totals['networks']} networks, {totals['images']} images, {failed} failures")
    print(f"{(time.monotonic() - started) / 60:.1f} minutes, seeds {args.seed}..{next_seed - 1}: "
          f"{totals['networks']} streamed networks, {totals['images']} images through Icarus with random stalls, "
          f"{len(failures)} failing seeds")
    print("networks with " + ", ".join(f"{feature}: {count}" for feature, count in with_feature.items()))
    for failing_seed, message in failures:
        print(f"failing seed {failing_seed}: {message}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
