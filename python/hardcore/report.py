"""Reports on a compiled circuit: a readable table, Yosys figures against the `*` baseline, a plot.

`hardcore report OUT_DIR [--synth] [--plot]` and `Circuit.report` use these.
Synthesis keeps the design's hierarchy (one module per layer), so the LUTs
are counted per layer; the baseline is the same quantized network with one
`*` per weight (`hardcore.baseline`), synthesized the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

__all__ = ["format_table", "synthesize", "plot"]

_COLUMNS = (("weights", "weights"), ("nonzero_weights", "nonzero"), ("adders", "adders"),
            ("adder_bits", "adder bits"), ("adder_depth", "depth"), ("register_bits", "reg bits"),
            ("stages", "stages"), ("luts", "LUTs"))


def format_table(report: dict) -> str:
    """Per-layer figures and totals as aligned text."""
    columns = [(key, title) for key, title in _COLUMNS
               if any(key in layer for layer in report["layers"])]
    rows = [["layer"] + [title for _, title in columns]]
    for index, layer in enumerate(report["layers"]):
        rows.append([str(index)] + [str(layer.get(key, "")) for key, _ in columns])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.rjust(width) for cell, width in zip(row, widths)) for row in rows]
    x, y = report["ports"]["x"], report["ports"]["y"]
    lines.append("")
    lines.append(f"module {report['module']}: x {x['elements']} x {x['element_width']} bits "
                 f"(frac {x['frac_bits']}), y {y['elements']} x {y['element_width']} bits (frac {y['frac_bits']})")
    lines.append(f"adders {report['adders']}, adder bits {report['adder_bits']}, "
                 f"critical adder depth {report['adder_depth']}")
    latency = report.get("latency_cycles", 0)
    lines.append(f"latency {latency} cycles" + (f", register bits {report.get('register_bits', 0)}, "
                                               "one inference per clock" if latency else " (combinational)"))
    synthesis = report.get("synthesis")
    if synthesis:
        folded, plain = synthesis["folded"], synthesis["plain"]
        lines.append(f"Yosys (abc -lut 6): folded {folded['luts']} LUTs, {folded['cells']} generic cells, "
                     f"{folded['logic_levels']} logic levels; plain '*' {plain['luts']} LUTs, "
                     f"{plain['cells']} cells; plain/folded LUTs = {synthesis['lut_ratio']:.2f}x")
    return "\n".join(lines)


def synthesize(circuit, workdir, progress: Callable[[str], None] | None = None,
               timeout: float | None = None) -> dict:
    """Yosys on the folded circuit and on the `*` baseline; per-layer LUTs into the layers."""
    from hardcore.baseline import baseline_verilog
    from hardcore.sim import synth_report

    workdir = Path(workdir)
    folded = synth_report(circuit.verilog, circuit.name, workdir=workdir / "folded", flatten=False,
                          timeout=timeout, progress=progress)
    plain = synth_report(baseline_verilog(circuit.stages["quantized"], f"{circuit.name}_plain"),
                         f"{circuit.name}_plain", workdir=workdir / "plain", timeout=timeout, progress=progress)
    for index, layer in enumerate(circuit.layers):
        module = folded["modules"].get(f"{circuit.name}_layer{index}")
        if module is not None:
            layer["luts"] = module["luts"]
    keep = ("cells", "luts", "ffs", "logic_levels", "seconds")
    result = {"folded": {k: folded[k] for k in keep}, "plain": {k: plain[k] for k in keep},
              "lut_ratio": plain["luts"] / max(folded["luts"], 1)}
    circuit.figures["synthesis"] = result
    return result


def plot(report: dict, path) -> Path:
    """A PNG of adders and (when synthesized) LUTs per layer."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers = report["layers"]
    names = [f"layer {i}\n{layer['inputs']}→{layer['outputs']}" for i, layer in enumerate(layers)]
    series = [("adders", "adders")] + ([("luts", "6-LUTs")] if all("luts" in layer for layer in layers) else [])
    figure, axis = plt.subplots(figsize=(2 + 1.6 * len(layers), 4))
    width = 0.8 / len(series)
    for offset, (key, label) in enumerate(series):
        positions = [i + (offset - (len(series) - 1) / 2) * width for i in range(len(layers))]
        bars = axis.bar(positions, [layer[key] for layer in layers], width, label=label)
        axis.bar_label(bars, fontsize=8)
    axis.set_xticks(range(len(layers)), names)
    axis.set_ylabel("count")
    title = f"{report['module']}: {report['adders']} adders"
    if "synthesis" in report:
        title += f", {report['synthesis']['folded']['luts']} LUTs ({report['synthesis']['lut_ratio']:.2f}x fewer than '*')"
    axis.set_title(title, fontsize=10)
    axis.legend()
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
