"""LUTs of hardcore's and da4ml's Verilog for the same constant matrix-vector products, one Yosys flow.

    python bench/cmvm_luts.py                      # the MLP's first layers (int8, int4), the random 16x64 ones
    python bench/cmvm_luts.py --cases mlp4_l1 --timeout 600

For each matrix W (the cases of bench/cmvm.py), both tools' Verilog for the
bare y = W·x (combinational, no bias, every output at its full width):

- hardcore: the compiler's own Verilog, `hardcore-opt` running
  `hardcore-fold-weights{algorithm=cse max-depth=D}` and `hardcore-to-hw` on
  a one-layer function (quantize, dense with a zero bias, a requantization
  that neither shifts nor clamps, dequantize).  D is da4ml's depth, so the
  graphs are compared at equal or smaller depth.  The fold calls
  `cmvm.solve` with no output's sign free (no bias), so a negated output is a
  `hardcore.neg`.
- da4ml: its own hardware flow, the tracer (`comb_trace` of `x @ W.T`:
  one combinational graph, the one its `solve` finds) and its code
  generator (`comb_logic_gen` and its Verilog sources).

Both are simulated with Verilator on random and extreme input vectors
and compared with W @ x bit for bit; a mismatch stops the script.  Then
both go through the same flow, `hardcore.sim.synth_report` (Yosys `synth
-flatten`, `abc -lut 6` with a bounded SAT sweep), and the LUTs are printed
side by side with the ratio, with each graph's adders (negations included),
adder bits and depth.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "python"))
sys.path.insert(0, str(REPO / "bench"))

import cmvm as bench  # noqa: E402
from hardcore import cmvm, sim  # noqa: E402
from hardcore.adder_graph import input_range, signed_width  # noqa: E402

DEFAULT_CASES = ("mlp_l1_64x16", "mlp4_l1_64x16", "rand16x64_int8", "rand16x64_int4")
VECTORS = 300
DEFAULT_TIMEOUT = 1200.0


# -- hardcore's Verilog ------------------------------------------------------------

def _output_bits(W: np.ndarray, bits: int, signed: bool) -> int:
    """The width that holds every row of W·x: the requantization's type, so it never clamps."""
    lo, hi = input_range(bits, signed)
    low = np.where(W > 0, W * lo, W * hi).sum(axis=1).min()
    high = np.where(W > 0, W * hi, W * lo).sum(axis=1).max()
    return signed_width(int(low), int(high))


def hardcore_verilog(W: np.ndarray, bits: int, signed: bool, max_depth: int, workdir: Path) -> tuple[str, int, int]:
    """(SystemVerilog of module `cmvm`, its input and output widths) from hardcore-opt."""
    m, n = W.shape
    lo, hi = input_range(bits, signed)
    out_bits = _output_bits(W, bits, signed)
    out_lo, out_hi = input_range(out_bits, True)
    weight_bits = next(b for b in (8, 16, 32, 64) if signed_width(int(W.min()), int(W.max())) <= b)
    bits = signed_width(lo, hi)  # the quantized input's type: one more bit for unsigned inputs
    weight = "[" + ", ".join("[" + ", ".join(str(int(v)) for v in row) + "]" for row in W) + "]"
    text = f"""func.func @cmvm(%arg0: tensor<{n}xf32>) -> tensor<{m}xf32> {{
  %0 = "hardcore.quantize"(%arg0) {{frac_bits = 0 : i64, min = {lo} : i64, max = {hi} : i64}} : (tensor<{n}xf32>) -> tensor<{n}xi{bits}>
  %1 = "hardcore.dense"(%0) {{weight = dense<{weight}> : tensor<{m}x{n}xi{weight_bits}>, bias = dense<0> : tensor<{m}xi64>}} : (tensor<{n}xi{bits}>) -> tensor<{m}xi32>
  %2 = "hardcore.requant"(%1) {{shift = 0 : i64, min = {out_lo} : i64, max = {out_hi} : i64}} : (tensor<{m}xi32>) -> tensor<{m}xi{out_bits}>
  %3 = "hardcore.dequantize"(%2) {{frac_bits = 0 : i64}} : (tensor<{m}xi{out_bits}>) -> tensor<{m}xf32>
  return %3 : tensor<{m}xf32>
}}
"""
    source = workdir / "cmvm.mlir"
    source.write_text(text)
    opt = Path(sys.executable).parent / "hardcore-opt"
    pipeline = f"builtin.module(hardcore-fold-weights{{algorithm=cse max-depth={max_depth}}},hardcore-to-hw)"
    verilog = subprocess.run([str(opt), str(source), f"--pass-pipeline={pipeline}", "--emit=verilog"],
                             capture_output=True, text=True, check=True).stdout
    if "module cmvm(" not in verilog:
        raise RuntimeError(f"hardcore-opt wrote no module cmvm for {source}")
    return verilog, bits, out_bits


# -- da4ml's Verilog -------------------------------------------------------------------

def da4ml_verilog(W: np.ndarray, bits: int, signed: bool):
    """(Verilog of module `cmvm`, its output ports' (keep_negative, integers, fractional), the graph, negations).

    da4ml's hardware flow: its tracer (`FixedVariableArray` inputs, `x @ kernel`, `comb_trace`)
    gives one combinational `CombLogic` (the same graph as its `solve`, checked in the table by
    the adders), and `comb_logic_gen` writes it with its Verilog sources.
    """
    from da4ml.codegen.rtl.verilog import comb_logic_gen
    from da4ml.trace import FixedVariableArray, comb_trace
    from da4ml.types import minimal_kif

    lo, hi = input_range(bits, signed)
    n = W.shape[1]
    inputs = FixedVariableArray.from_lhs(np.full(n, float(lo)), np.full(n, float(hi)), np.ones(n))
    comb = comb_trace(inputs, inputs @ np.ascontiguousarray(W.T.astype(np.float64)))
    body = comb_logic_gen(comb, "cmvm", timescale=None)
    # its Verilog sources, those the module instantiates (each file holds the module of its name)
    sources = Path(comb_logic_gen.__code__.co_filename).parent / "source"
    library = "\n".join(path.read_text().replace("`timescale 1ns / 1ps", "")
                        for path in sorted(sources.glob("*.v")) if f"{path.stem} #(" in body)
    # a lint code Verilator 5.006 does not know yet (negative.v): an error there
    library = re.sub(r"/\*\s*verilator lint_(off|on) WIDTHTRUNC\s*\*/", "", library)
    graph, negations = bench.from_stages([comb], n, "da4ml")
    return library + "\n" + body, [tuple(minimal_kif(q)) for q in comb.out_qint], graph, negations


# -- simulation ----------------------------------------------------------------------------

def _vectors(n: int, bits: int, signed: bool, count: int, seed: int = 0) -> np.ndarray:
    lo, hi = input_range(bits, signed)
    rng = np.random.default_rng(seed)
    X = rng.integers(lo, hi + 1, size=(count, n))
    X[0], X[1] = lo, hi
    X[2] = np.where(np.arange(n) % 2 == 0, lo, hi)
    X[3] = np.where(np.arange(n) % 2 == 1, lo, hi)
    return X.astype(np.int64)


def simulate(verilog: str, in_port: str, out_port: str, in_bits: int, in_width: int, out_width: int,
             X: np.ndarray, workdir: Path) -> list[int]:
    """Raw output words of module `cmvm` for each input vector (Verilator)."""
    n = X.shape[1]
    words = []
    for x in X.tolist():
        word = 0
        for j, v in enumerate(x):
            word |= (v & ((1 << in_bits) - 1)) << (j * in_bits)
        words.append(word)
    digits_in = (in_width + 3) // 4
    (workdir / "inputs.hex").write_text("".join(f"{w:0{digits_in}x}\n" for w in words))
    tb = f"""module tb;
  reg [{in_width - 1}:0] memory [0:{len(words) - 1}];
  reg [{in_width - 1}:0] x;
  wire [{out_width - 1}:0] y;
  integer k;
  cmvm dut (.{in_port}(x), .{out_port}(y));
  initial begin
    $readmemh("inputs.hex", memory);
    for (k = 0; k < {len(words)}; k = k + 1) begin
      x = memory[k];
      #1 $display("%h", y);
    end
    $finish;
  end
endmodule
"""
    assert n * in_bits == in_width
    (workdir / "design.v").write_text(verilog)
    (workdir / "tb.v").write_text(tb)
    # Verilator, not Icarus: Icarus 11 gives X for da4ml's zero-width replications ({0{1'b0}})
    subprocess.run(["verilator", "--binary", "--timing", "-Wno-fatal", "-Wno-lint", "-Wno-style",
                    "--top-module", "tb", "design.v", "tb.v", "-Mdir", "obj",
                    "-MAKEFLAGS", "OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0"],
                   cwd=workdir, check=True, capture_output=True)
    out = subprocess.run(["./obj/Vtb"], cwd=workdir, capture_output=True, text=True, check=True).stdout
    lines = [line for line in out.splitlines() if line and all(c in "0123456789abcdefxz" for c in line)]
    if len(lines) != len(words) or any("x" in line or "z" in line for line in lines):
        raise RuntimeError(f"simulation in {workdir} printed unexpected output")
    return [int(line, 16) for line in lines]


def _field(word: int, start: int, width: int, signed: bool) -> int:
    value = (word >> start) & ((1 << width) - 1)
    return value - (1 << width) if signed and value >> (width - 1) & 1 else value


def check_hardcore(words: list[int], expected: np.ndarray, out_bits: int) -> None:
    m = expected.shape[1]
    got = np.array([[_field(w, i * out_bits, out_bits, True) for i in range(m)] for w in words], dtype=object)
    if not np.array_equal(got, expected):
        raise SystemExit("hardcore's Verilog does not compute W @ x")


def check_da4ml(words: list[int], expected: np.ndarray, out_kifs) -> None:
    rows = []
    for w in words:
        row, start = [], 0
        for keep_negative, integers, fractions in out_kifs:
            width = keep_negative + integers + fractions
            # the field holds y itself (out_qint may claim fractional bits the stages never shift in)
            row.append(_field(w, start, width, bool(keep_negative)) if width else 0)
            start += width
        rows.append(row)
    if not np.array_equal(np.array(rows, dtype=object), expected):
        raise SystemExit("da4ml's Verilog does not compute W @ x")


# -- the table ----------------------------------------------------------------------------

def run_case(case, workdir: Path, timeout: float) -> dict:
    W, bits, signed = case.W, case.input_bits, case.signed
    m, n = W.shape
    X = _vectors(n, bits, signed, VECTORS)
    expected = (X.astype(object) @ W.T.astype(object))
    theirs, out_kifs, their_graph, their_negations = da4ml_verilog(W, bits, signed)
    depth = their_graph.depth
    ours, port_bits, out_bits = hardcore_verilog(W, bits, signed, depth, workdir)
    graph = cmvm.solve(W, input_bits=bits, signed=signed, max_depth=depth)  # the fold's call
    figures = {}
    for tool, verilog in (("hardcore", ours), ("da4ml", theirs)):
        folder = workdir / tool
        folder.mkdir(exist_ok=True)
        if tool == "hardcore":
            words = simulate(verilog, "x", "y", port_bits, n * port_bits, m * out_bits, X, folder)
            check_hardcore(words, expected, out_bits)
        else:
            out_width = sum(sum(k) for k in out_kifs)
            words = simulate(verilog, "model_inp", "model_out", bits, n * bits, out_width, X, folder)
            check_da4ml(words, expected, out_kifs)
        try:
            report = sim.synth_report(verilog, "cmvm", workdir=folder / "yosys", timeout=timeout)
            figures[tool] = {"luts": report["luts"], "levels": report["logic_levels"],
                             "seconds": report["seconds"]}
        except sim.SimulationError as error:
            figures[tool] = {"error": str(error).splitlines()[0][:60]}
    figures["hardcore"].update(adders=graph.adders_with_negations(), negations=graph.negations(),
                               adder_bits=graph.adder_bits, depth=graph.depth)
    figures["da4ml"].update(adders=their_graph.adders + their_negations, negations=their_negations,
                            adder_bits=their_graph.adder_bits_at(bits, signed), depth=depth)
    return figures


def _cell(f: dict) -> str:
    graph = f"{f['adders']} ({f['negations']}) / {f['adder_bits']} / {f['depth']}"
    if "error" in f:
        return f"{graph} / {f['error']}"
    return f"{graph} / {f['luts']} LUTs / {f['levels']} levels / {f['seconds']:.0f} s"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="*", default=list(DEFAULT_CASES), help="substrings of case names")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds allowed for one Yosys run")
    parser.add_argument("--workdir", type=Path, help="keep the designs, simulations and Yosys runs here")
    args = parser.parse_args(argv)
    workroot = args.workdir or Path(tempfile.mkdtemp(prefix="cmvm_luts_"))
    print(f"work folder: {workroot}")
    print("Each cell: adders (of which output negations) / adder bits / depth / 6-LUTs / LUT levels / "
          "Yosys time.  Both simulated bit-exact against W @ x first.")
    print("| case | m×n | hardcore | da4ml | LUT ratio |")
    print("|---|---|---|---|---|", flush=True)
    for case in bench.cases():
        if not any(s in case.name for s in args.cases):
            continue
        workdir = workroot / case.name
        workdir.mkdir(parents=True, exist_ok=True)
        f = run_case(case, workdir, args.timeout)
        ratio = (f"{f['hardcore']['luts'] / f['da4ml']['luts']:.3f}"
                 if "luts" in f["hardcore"] and "luts" in f["da4ml"] else "-")
        m, n = case.W.shape
        print(f"| {case.name} | {m}×{n} | {_cell(f['hardcore'])} | {_cell(f['da4ml'])} | {ratio} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
