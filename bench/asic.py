"""Where a hardwired MLP's transistors go, and how transistors per weight move with weight bits and reuse.

    python bench/asic.py                         # docs/asic.png, docs/asic.json, Markdown tables on stdout
    python bench/asic.py --bits 2 4 --reuse 1 2 --timeout 600 --out out/asic

The 30-48-24-2 ReLU MLP of docs/asic.md, trained briefly on a synthetic
two-class task (`examples/mlp.py`'s `train_mlp`, 300 steps, seed 0) and
calibrated on 512 of its inputs, at 4-bit activations.  Each design goes
through `hardcore.physical.asic.asic_report` (Yosys: `abc -g cmos3` transistors
with 24 a flip-flop, and sky130 cells and µm²), one at a time, each bounded by
`--timeout` seconds (a design that runs out of time is recorded as "timeout"):

- the breakdown, at 4-bit weights: the combinational circuit (its per-layer
  modules: weight arithmetic, bias and rounding, the ReLU and saturation
  clamps; a ReLU MLP has no activation tables), the plain-`*` baseline, and
  the circuit pipelined with --max-adder-depth 4 (its flip-flops are the
  registers: 24 transistors each, plus the top module's own logic);
- weight bits 2, 3, 4, 6, 8 (`--bits`), combinational;
- reuse R = 1, 2, 4, 8 (`--reuse`, `hardcore.compile(reuse=R)`, 4-bit
  weights): one input every R cycles, its registers and muxes counted.

After every design it rewrites `asic.json` and `asic.png` (transistors per
weight against weight bits and against R, with the hardwired-LLM silicon's 6.6
as a reference line) in `--out`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))

import hardcore  # noqa: E402
from hardcore.baseline import baseline_verilog  # noqa: E402
from hardcore.physical.asic import HARDWIRED_LLM_TRANSISTORS_PER_WEIGHT, asic_report  # noqa: E402
from hardcore.sim import SimulationError  # noqa: E402
from mlp import train_mlp  # noqa: E402

SIZES = (30, 48, 24, 2)
ACT_BITS = 4
PIPELINE_DEPTH = 4


def _figures(verilog: str, top: str, workdir: Path, timeout: float) -> dict:
    """asic_report's totals and per-module figures, or {"transistors": "timeout"} past `timeout` seconds."""
    try:
        report = asic_report(verilog, top, workdir=workdir, timeout=timeout,
                             progress=lambda message: print(f"  {message}", file=sys.stderr))
    except SimulationError as error:
        if "timed out" not in str(error):
            raise
        return {"transistors": "timeout", "seconds": f">{timeout:g}"}
    keep = ("transistors", "flip_flops", "cells", "area_um2", "cell_transistors")
    return {**{key: report[key] for key in keep}, "seconds": round(report["seconds"]),
            "modules": {name: {key: figures[key] for key in keep} for name, figures in report["modules"].items()}}


def _per_weight(figures: dict, weights: int) -> dict:
    if not isinstance(figures.get("transistors"), int):
        return {}
    return {"transistors_per_weight": figures["transistors"] / weights, "um2_per_weight": figures["area_um2"] / weights}


def _compile(model, calibration, weight_bits: int, **options):
    return hardcore.compile(model, torch.zeros(1, SIZES[0]), calibration=calibration, weight_bits=weight_bits,
                            act_bits=ACT_BITS, name="mlp", **options)


def _breakdown(result: dict) -> list[str]:
    """Where the 4-bit circuit's transistors go, as Markdown."""
    combinational, pipelined, plain = (result["breakdown"][key] for key in ("combinational", "pipelined", "plain"))
    weights = result["weights"]
    lines = ["| part | transistors | per weight | share |", "|---|---:|---:|---:|"]
    if not isinstance(combinational.get("transistors"), int):
        return lines + ["| (timeout) | | | |"]
    total = combinational["transistors"]
    for index in range(len(SIZES) - 1):
        module = combinational["modules"].get(f"mlp_layer{index}", {}).get("transistors", 0)
        lines.append(f"| layer {index} ({SIZES[index]}→{SIZES[index + 1]}): weight arithmetic, bias, clamps | "
                     f"{module:,} | {module / weights:.1f} | {module / total:.0%} |")
    lines.append("| activation tables (a ReLU MLP has none) | 0 | 0 | 0% |")
    lines.append(f"| **combinational circuit** | **{total:,}** | **{total / weights:.1f}** | 100% |")
    if isinstance(pipelined.get("transistors"), int):
        registers = pipelined["flip_flops"] * 24
        lines.append(f"| pipelined (max adder depth {PIPELINE_DEPTH}): {pipelined['flip_flops']:,} flip-flops × 24 | "
                     f"{registers:,} | {registers / weights:.1f} | {registers / pipelined['transistors']:.0%} of "
                     f"{pipelined['transistors']:,} |")
    if isinstance(plain.get("transistors"), int):
        lines.append(f"| plain '*' baseline, combinational | {plain['transistors']:,} | "
                     f"{plain['transistors'] / weights:.1f} | {plain['transistors'] / total:.2f}x |")
    return lines


def _sweep_table(rows: list[dict], key: str, title: str) -> list[str]:
    lines = [f"| {title} | transistors | T/weight | sky130 cells | µm² | µm²/weight | FFs | Yosys s |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        if isinstance(row.get("transistors"), int):
            lines.append(f"| {row[key]} | {row['transistors']:,} | {row['transistors_per_weight']:.1f} | "
                         f"{row['cells']:,} | {row['area_um2']:,.0f} | {row['um2_per_weight']:.1f} | "
                         f"{row['flip_flops']:,} | {row['seconds']} |")
        else:
            lines.append(f"| {row[key]} | timeout | | | | | | {row['seconds']} |")
    return lines


def _plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for axis, rows, key, label in ((axes[0], result["bits"], "weight_bits", "weight bits (4-bit activations)"),
                                   (axes[1], result["reuse"], "reuse", "reuse factor R (4-bit weights)")):
        done = [row for row in rows if "transistors_per_weight" in row]
        if not done:
            continue
        axis.plot([row[key] for row in done], [row["transistors_per_weight"] for row in done], "o-",
                  label="hardcore, folded")
        for row in done:
            axis.annotate(f"{row['transistors_per_weight']:.0f}", (row[key], row["transistors_per_weight"]),
                          textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
        axis.axhline(HARDWIRED_LLM_TRANSISTORS_PER_WEIGHT, color="black", linestyle="--", linewidth=1,
                     label=f"hardwired LLM (53e9 / 8e9 = {HARDWIRED_LLM_TRANSISTORS_PER_WEIGHT:.1f})")
        axis.set_xlabel(label)
        axis.set_yscale("log")
        if key == "reuse":
            axis.set_xscale("log", base=2)
        axis.legend(fontsize=8)
    axes[0].set_ylabel("transistors per weight (CMOS estimate)")
    figure.suptitle(f"{'-'.join(map(str, SIZES))} MLP, {result['weights']:,} weights: transistors per weight",
                    fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bits", type=int, nargs="+", default=[2, 3, 4, 6, 8])
    parser.add_argument("--reuse", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--timeout", type=float, default=1800, help="seconds Yosys may take per design")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    parser.add_argument("--workdir", type=Path, default=ROOT / "out" / "asic", help="Yosys' scripts and logs")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    model, (inputs, _) = train_mlp(seed=0, steps=300, sizes=SIZES)
    calibration = inputs[:512].numpy()
    weights = sum(a * b for a, b in zip(SIZES, SIZES[1:]))
    result = {"model": "-".join(map(str, SIZES)), "weights": weights, "act_bits": ACT_BITS,
              "breakdown": {}, "bits": [], "reuse": []}

    def save() -> None:
        (args.out / "asic.json").write_text(json.dumps(result, indent=2) + "\n")
        _plot(result, args.out / "asic.png")

    print(f"4-bit weights: combinational, plain '*', pipelined (max adder depth {PIPELINE_DEPTH})", file=sys.stderr)
    circuit = _compile(model, calibration, 4)
    result["nonzero_weights"] = sum(layer["nonzero_weights"] for layer in circuit.layers)
    result["breakdown"]["combinational"] = _figures(circuit.verilog, "mlp", args.workdir / "w4", args.timeout)
    result["breakdown"]["plain"] = _figures(baseline_verilog(circuit.stages["quantized"], "mlp_plain", circuit.out_width),
                                            "mlp_plain", args.workdir / "w4-plain", args.timeout)
    pipelined = _compile(model, calibration, 4, max_adder_depth=PIPELINE_DEPTH)
    result["breakdown"]["pipelined"] = _figures(pipelined.verilog, "mlp", args.workdir / "w4-pipelined", args.timeout)
    save()
    for bits in args.bits:
        print(f"{bits}-bit weights", file=sys.stderr)
        figures = (result["breakdown"]["combinational"] if bits == 4 else
                   _figures(_compile(model, calibration, bits).verilog, "mlp", args.workdir / f"w{bits}", args.timeout))
        result["bits"].append({"weight_bits": bits, **figures, **_per_weight(figures, weights)})
        save()
    for reuse in args.reuse:
        print(f"reuse {reuse}", file=sys.stderr)
        figures = (result["breakdown"]["combinational"] if reuse == 1 else
                   _figures(_compile(model, calibration, 4, reuse=reuse).verilog, "mlp", args.workdir / f"r{reuse}",
                            args.timeout))
        result["reuse"].append({"reuse": reuse, **figures, **_per_weight(figures, weights)})
        save()
    print("\n".join(_breakdown(result)))
    print()
    print("\n".join(_sweep_table(result["bits"], "weight_bits", "weight bits")))
    print()
    print("\n".join(_sweep_table(result["reuse"], "reuse", "R")))
    print(f"\nwrote {args.out / 'asic.json'} and {args.out / 'asic.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
