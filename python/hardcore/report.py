"""Reports on a compiled circuit: a readable table, Yosys figures against the `*` baseline, a plot.

`hardcore report OUT_DIR [--synth] [--plot]` and `Circuit.report` use these.
Synthesis keeps the design's hierarchy (one module per layer), so the LUTs
are counted per layer; the baseline is the same quantized network with one
`*` per weight (`hardcore.baseline`), one module per layer too, synthesized
the same way, so each layer has its folded `luts`, its `plain_luts` and their
`lut_ratio`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

__all__ = ["format_table", "synthesize", "plot"]

_COLUMNS = (("weights", "weights"), ("nonzero_weights", "nonzero"), ("adders", "adders"),
            ("adder_bits", "adder bits"), ("adder_depth", "depth"), ("multipliers", "multipliers"),
            ("multiplier_bits", "mult bits"), ("tables", "tables"), ("table_entries", "table entries"),
            ("register_bits", "reg bits"),
            ("stages", "stages"), ("luts", "LUTs"), ("plain_luts", "plain LUTs"), ("lut_ratio", "plain/folded"))
_PLOT_SERIES = (("adders", "adders"), ("luts", "6-LUTs, folded"), ("plain_luts", "6-LUTs, plain '*'"))


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def format_table(report: dict) -> str:
    """Per-layer figures and totals as aligned text."""
    columns = [(key, title) for key, title in _COLUMNS
               if any(key in layer for layer in report["layers"])]
    rows = [["layer"] + [title for _, title in columns]]
    for index, layer in enumerate(report["layers"]):
        rows.append([str(index)] + [_cell(layer.get(key, "")) for key, _ in columns])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.rjust(width) for cell, width in zip(row, widths)) for row in rows]
    x, y = report["ports"]["x"], report["ports"]["y"]
    lines.append("")
    lines.append(f"module {report['module']}: x {x['elements']} x {x['element_width']} bits "
                 f"(frac {x['frac_bits']}), y {y['elements']} x {y['element_width']} bits (frac {y['frac_bits']})")
    outside = report["adders"] - sum(layer.get("adders", 0) for layer in report["layers"])
    # The layers' adders are their weight arithmetic; each output's bias and rounding
    # constant costs one more adder, counted in the total only.
    lines.append(f"adders {report['adders']}" + (f" ({outside} of them add biases and rounding constants)"
                                                  if outside > 0 else "")
                 + f", adder bits {report['adder_bits']}, critical adder depth {report['adder_depth']}")
    reuse = report.get("time_multiplex", {}).get("reuse")  # hardcore.time_multiplex: products of tables too
    if report.get("multipliers"):
        lines.append(f"multipliers {report['multipliers']} ("
                     + ("products of an activation and a weight table, or of two activations" if reuse
                        else "products of two activations") + f"), multiplier bits {report['multiplier_bits']}")
    latency = report.get("latency_cycles", 0)
    lines.append(f"latency {latency} cycles" + (f", register bits {report.get('register_bits', 0)}, "
                                               + (f"one inference every {reuse} cycles" if reuse else
                                                  "one inference per clock") if latency else " (combinational)"))
    synthesis = report.get("synthesis")
    if synthesis:
        folded, plain = synthesis["folded"], synthesis["plain"]
        lines.append(f"Yosys (abc -lut 6): folded {folded['luts']} LUTs, {folded['ffs']} FFs, "
                     f"{folded['cells']} generic cells, {folded['logic_levels']} logic levels; "
                     f"plain '*' {plain['luts']} LUTs, {plain['cells']} cells, {plain['logic_levels']} logic levels; "
                     f"plain/folded LUTs = {synthesis['lut_ratio']:.2f}x")
    return "\n".join(lines)


def synthesize(circuit, workdir, progress: Callable[[str], None] | None = None,
               timeout: float | None = None) -> dict:
    """Yosys on the folded circuit and on the `*` baseline; per-layer LUTs of both into the layers."""
    from hardcore.baseline import baseline_verilog
    from hardcore.sim import synth_report

    workdir = Path(workdir)

    def run(verilog: str, top: str, kind: str) -> dict:
        figures = synth_report(verilog, top, workdir=workdir / kind, flatten=False, timeout=timeout,
                               progress=progress)
        if progress is not None:
            progress(f"yosys: {top}: {figures['luts']} LUTs in {figures['seconds']:.0f} s")
        return figures

    folded = run(circuit.verilog, circuit.name, "folded")
    plain_name = f"{circuit.name}_plain"
    plain = run(baseline_verilog(circuit.stages["quantized"], plain_name, circuit.out_width), plain_name, "plain")
    for index, layer in enumerate(circuit.layers):
        module = folded["modules"].get(f"{circuit.name}_layer{index}")
        if module is not None:
            layer["luts"] = module["luts"]
        module = plain["modules"].get(f"{circuit.name}_plain_layer{index}")
        if module is not None:
            layer["plain_luts"] = module["luts"]
        if "luts" in layer and "plain_luts" in layer:
            layer["lut_ratio"] = layer["plain_luts"] / max(layer["luts"], 1)
    keep = ("cells", "luts", "ffs", "logic_levels", "seconds")
    result = {"folded": {k: folded[k] for k in keep}, "plain": {k: plain[k] for k in keep},
              "lut_ratio": plain["luts"] / max(folded["luts"], 1)}
    circuit.figures["synthesis"] = result
    return result


def plot(report: dict, path) -> Path:
    """A PNG of adders and (when synthesized) folded and plain `*` LUTs per layer."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers = report["layers"]
    names = [f"layer {i}\n{layer['inputs']}→{layer['outputs']}" for i, layer in enumerate(layers)]
    series = [(key, label) for key, label in _PLOT_SERIES
              if key == "adders" or all(key in layer for layer in layers)]
    figure, axis = plt.subplots(figsize=(2 + 0.6 * len(series) * len(layers), 4))
    width = 0.8 / len(series)
    for offset, (key, label) in enumerate(series):
        positions = [i + (offset - (len(series) - 1) / 2) * width for i in range(len(layers))]
        bars = axis.bar(positions, [layer[key] for layer in layers], width, label=label)
        axis.bar_label(bars, fontsize=8)
    axis.set_xticks(range(len(layers)), names)
    axis.set_ylabel("count")
    title = f"{report['module']}: {report['adders']} adders"
    if "synthesis" in report:
        synthesis = report["synthesis"]
        title += (f"; 6-LUTs: {synthesis['folded']['luts']} folded, {synthesis['plain']['luts']} plain '*' "
                  f"({synthesis['lut_ratio']:.2f}x)")
    axis.set_title(title, fontsize=10)
    axis.legend()
    figure.tight_layout()
    path = Path(path)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
