"""Reports on a compiled circuit: a readable table, Yosys figures against the `*` baseline, a plot.

`hardcore report OUT_DIR [--synth] [--asic] [--plot]` and `Circuit.report` use these
(the --asic figures come from `hardcore.physical.asic`).
Synthesis keeps the design's hierarchy (one module per layer), so the LUTs
are counted per layer; the baseline is the same quantized network with one
`*` per weight (`hardcore.baseline`), one module per layer too, synthesized
the same way, so each layer has its folded `luts`, its `plain_luts` and their
`lut_ratio`.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from hardcore.scale import parallel

__all__ = ["format_table", "synthesize", "plot"]

_COLUMNS = (("weights", "weights"), ("nonzero_weights", "nonzero"), ("adders", "adders"),
            ("adder_bits", "adder bits"), ("adder_depth", "depth"), ("multipliers", "multipliers"),
            ("multiplier_bits", "mult bits"), ("tables", "tables"), ("table_entries", "table entries"),
            ("register_bits", "reg bits"),
            ("stages", "stages"), ("luts", "LUTs"), ("plain_luts", "plain LUTs"), ("lut_ratio", "plain/folded"))
_PLOT_SERIES = (("adders", "adders"), ("luts", "6-LUTs, folded"), ("plain_luts", "6-LUTs, plain '*'"))


# The Yosys figures a report keeps of each synthesis (the folded circuit and its plain baseline).
_KEPT = ("cells", "luts", "ffs", "logic_levels", "seconds")


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
    ports = report["ports"]  # x and y, or x0, x1, ... and y0, y1, ... (several inputs or outputs)
    names = sorted((n for n in ports if n[:1] in ("x", "y") and (n[1:] == "" or n[1:].isdigit())),
                   key=lambda n: (n[0], int(n[1:] or -1)))
    lines.append("")
    lines.append(f"module {report['module']}: " + ", ".join(
        f"{n} {ports[n]['elements']} x {ports[n]['element_width']} bits (frac {ports[n]['frac_bits']})"
        for n in names))
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
    recurrent = report.get("recurrent")
    if recurrent:  # hardcore.recurrent: a time step a clock, the state in registers
        interval = recurrent.get("interval_cycles", 1)
        pace = f"one time step every {interval} cycles (a pipelined step, latency {latency} cycles)" \
            if interval > 1 else "one time step a clock"
        lines.append(f"stateful recurrent: {pace}, {recurrent['cycles_per_sequence']} cycles a "
                     f"sequence, state {recurrent['state_size']} x {recurrent['state_width']} bits, "
                     f"register bits {report.get('register_bits', 0)}")
    elif not report.get("stream"):  # a streamed circuit's timing is its own table's
        lines.append(f"latency {latency} cycles" + (f", register bits {report.get('register_bits', 0)}, "
                                                   + (f"one inference every {reuse} cycles" if reuse else
                                                      "one inference per clock") if latency else " (combinational)"))
    stream = report.get("stream")
    if stream:
        lines += [""] + _stream_table(report)
    synthesis = report.get("synthesis")
    if synthesis:
        folded, plain = synthesis["folded"], synthesis["plain"]
        plain_detail = "" if plain.get("cells") is None else \
            f", {plain['cells']} cells, {plain['logic_levels']} logic levels"
        lines.append(f"Yosys (abc -lut 6): folded {folded['luts']} LUTs, {folded['ffs']} FFs, "
                     f"{folded['cells']} generic cells, {folded['logic_levels']} logic levels; "
                     f"plain '*' {plain['luts']} LUTs{plain_detail}; "
                     f"plain/folded LUTs = {synthesis['lut_ratio']:.2f}x")
    if report.get("asic"):
        lines += [""] + _asic_table(report["asic"])
    return "\n".join(lines)


_ASIC_COLUMNS = (("cells", "cells", "{:,}"), ("area_um2", "µm²", "{:,.0f}"), ("transistors", "transistors", "{:,}"),
                 ("flip_flops", "FFs", "{:,}"), ("transistors_per_weight", "T/weight", "{:.1f}"),
                 ("transistors_per_nonzero_weight", "T/nonzero", "{:.1f}"), ("um2_per_weight", "µm²/weight", "{:.1f}"),
                 ("um2_per_nonzero_weight", "µm²/nonzero", "{:.1f}"))


def _asic_table(asic: dict) -> list[str]:
    """`hardcore report --asic` (docs/asic.md): each layer's and the whole circuit's figures, folded and plain `*`."""
    rows = [["layer", "design", "weights"] + [title for _, title, _ in _ASIC_COLUMNS]]

    def row(name: str, kind: str, weights, figures: dict) -> list[str]:
        return [name, kind, weights] + [form.format(figures[key]) if key in figures else ""
                                        for key, _, form in _ASIC_COLUMNS]

    for index, layer in enumerate(asic["layers"]):
        for kind in ("folded", "plain"):
            if kind in layer:
                rows.append(row(str(index), kind if kind == "folded" else "'*'", f"{layer['weights']:,}", layer[kind]))
    for kind in ("folded", "plain"):
        if any(asic["top"][kind].values()):
            rows.append(row("top", kind if kind == "folded" else "'*'", "", asic["top"][kind]))
    for kind in ("folded", "plain"):
        rows.append(row("total", kind if kind == "folded" else "'*'", f"{asic['weights']:,}", asic[kind]))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.rjust(width) for cell, width in zip(r, widths)) for r in rows]
    lines.append(f"ASIC estimate: transistors from Yosys' CMOS mapping ({asic['flow']['transistors']}); cells and µm² "
                 f"on sky130_fd_sc_hd, no wires, placement or clock tree (docs/asic.md); "
                 f"plain/folded: {asic['transistor_ratio']:.2f}x transistors, {asic['area_ratio']:.2f}x µm²")
    return lines


_NODE_COLUMNS = (("kind", "kind"), ("grid", "output C x H x W"), ("adders", "adders"),
                 ("line_buffer_bits", "line-buffer bits"), ("fifo_bits", "FIFO bits"),
                 ("cycles_per_frame", "cycles/image"), ("luts", "LUTs"), ("plain_luts", "'*' LUTs"))


def _stream_table(report: dict) -> list[str]:
    """A streamed circuit's nodes (docs/streaming.md): what each costs and how long an image takes."""
    nodes = report["stream"]["nodes"]
    columns = [(key, title) for key, title in _NODE_COLUMNS if any(key in node for node in nodes)]
    rows = [["node"] + [title for _, title in columns]]
    for node in nodes:
        cells = []
        for key, _ in columns:
            value = node.get(key, "")
            cells.append("x".join(map(str, value)) if isinstance(value, list) else _cell(value))
        rows.append([str(node["node"])] + cells)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.rjust(width) for cell, width in zip(row, widths)) for row in rows]
    cycles = report["stream"]["cycles_per_frame"]
    lines.append(f"streamed: one pixel a clock on AXI4-Stream, one image every {cycles} cycles "
                 f"({200e6 / cycles:,.0f} images/s at 200 MHz); line buffers {report.get('line_buffer_bits', 0)} "
                 f"bits, FIFOs {report.get('fifo_bits', 0)} bits")
    return lines


def synthesize(circuit, workdir, progress: Callable[[str], None] | None = None,
               timeout: float | None = None, workers: str | int | None = "auto") -> dict:
    """Yosys on the folded circuit and on the `*` baseline; per-layer LUTs of both into the layers.

    The two Yosys runs are independent processes: with `workers` "auto" (on a
    machine of two cores or more) or 2 and more they run at the same time."""
    from hardcore.baseline import baseline_verilog
    from hardcore.sim import synth_report

    workdir = Path(workdir)
    if getattr(circuit, "nodes", None):
        return _synthesize_streamed(circuit, workdir, progress, timeout)
    if "recurrent" in circuit.report:
        return _synthesize_recurrent(circuit, workdir, progress, timeout)

    def run(verilog: str, top: str, kind: str) -> dict:
        figures = synth_report(verilog, top, workdir=workdir / kind, flatten=False, timeout=timeout,
                               progress=progress)
        if progress is not None:
            progress(f"yosys: {top}: {figures['luts']} LUTs in {figures['seconds']:.0f} s")
        return figures

    plain_name = f"{circuit.name}_plain"
    runs = [(circuit.verilog, circuit.name, "folded"),
            (baseline_verilog(circuit.stages["quantized"], plain_name, [port.width for port in circuit.outputs]),
             plain_name, "plain")]
    with ThreadPoolExecutor(max_workers=parallel.local_workers(workers, len(runs))) as pool:
        folded, plain = pool.map(lambda arguments: run(*arguments), runs)
    for index, layer in enumerate(circuit.layers):
        module = folded["modules"].get(f"{circuit.name}_layer{index}")
        if module is not None:
            layer["luts"] = module["luts"]
        module = plain["modules"].get(f"{circuit.name}_plain_layer{index}")
        if module is not None:
            layer["plain_luts"] = module["luts"]
        if "luts" in layer and "plain_luts" in layer:
            layer["lut_ratio"] = layer["plain_luts"] / max(layer["luts"], 1)
    result = {"folded": {k: folded[k] for k in _KEPT}, "plain": {k: plain[k] for k in _KEPT},
              "lut_ratio": plain["luts"] / max(folded["luts"], 1)}
    circuit.figures["synthesis"] = result
    return result


def _synthesize_streamed(circuit, workdir: Path, progress, timeout) -> dict:
    """A streamed circuit: Yosys on the whole circuit (each node's step a module of its own), and on
    each node's step written with one `*` per weight; the plain circuit is the folded one with its steps
    replaced (the line buffers, FIFOs and handshake are the same in both)."""
    from hardcore.baseline import baseline_verilog
    from hardcore.mlir import new_context, parse_module
    from hardcore.passes.stream import stream_steps
    from hardcore.sim import synth_report

    folded = synth_report(circuit.verilog, circuit.name, workdir=workdir / "folded", flatten=False, timeout=timeout,
                          progress=progress)
    module = parse_module(circuit.stages["streamed"], new_context(), "streamed")
    steps_luts = plain_luts = 0
    for node, step in zip(circuit.nodes, stream_steps(module.operation)):
        name = f"{circuit.name}_node{node['node']}"
        luts = folded["modules"].get(name, {}).get("luts")
        if luts is None:
            continue
        node["luts"] = luts
        text = "module {\n" + step.operation.get_asm(large_elements_limit=None) + "\n}\n"
        plain = synth_report(baseline_verilog(text, f"{name}_plain"), f"{name}_plain",
                             workdir=workdir / "plain" / name, timeout=timeout, progress=progress)
        node["plain_luts"] = plain["luts"]
        steps_luts += luts
        plain_luts += plain["luts"]
        if progress is not None:
            progress(f"yosys: node {node['node']}: {luts} LUTs folded, {plain['luts']} with '*'")
    return _parts_replaced(circuit, folded, steps_luts, plain_luts,
                           "the folded circuit's LUTs with each node's step replaced by its '*' form")


def _synthesize_recurrent(circuit, workdir: Path, progress, timeout) -> dict:
    """A stateful recurrent circuit: Yosys on the whole circuit, and on its step and head written with
    one `*` per weight; the plain circuit is the folded one with the step's and head's layers replaced
    (the state register and the handshake are the same in both)."""
    from hardcore.baseline import baseline_verilog
    from hardcore.sim import synth_report

    folded = synth_report(circuit.verilog, circuit.name, workdir=workdir / "folded", flatten=False, timeout=timeout,
                          progress=progress)
    parts_luts = plain_luts = 0
    for part in ("step", "head"):
        prefix = f"{circuit.name}_{part}_layer"
        luts = sum(module["luts"] for name, module in folded["modules"].items() if name.startswith(prefix))
        name = f"{circuit.name}_{part}_plain"
        plain = synth_report(baseline_verilog(circuit.stages[f"recurrent_{part}"], name), name,
                             workdir=workdir / "plain" / part, timeout=timeout, progress=progress)
        parts_luts += luts
        plain_luts += plain["luts"]
        if progress is not None:
            progress(f"yosys: the {part}: {luts} LUTs folded, {plain['luts']} with '*'")
    return _parts_replaced(circuit, folded, parts_luts, plain_luts,
                           "the folded circuit's LUTs with its step and head replaced by their '*' forms")


def _parts_replaced(circuit, folded: dict, folded_parts: int, plain_parts: int, note: str) -> dict:
    """The synthesis figures of a circuit whose plain baseline is the folded circuit with some of its
    modules (their `folded_parts` LUTs) replaced by their '*' forms (`plain_parts` LUTs)."""
    total_plain = folded["luts"] - folded_parts + plain_parts
    result = {"folded": {k: folded[k] for k in _KEPT},
              "plain": {"luts": total_plain, "cells": None, "logic_levels": None, "note": note},
              "lut_ratio": total_plain / max(folded["luts"], 1)}
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
    width_inches = 2 + 0.6 * len(series) * len(layers)
    if report.get("asic"):
        figure, (axis, asic_axis) = plt.subplots(1, 2, figsize=(2 * max(width_inches, 5), 4))
        _plot_asic(asic_axis, report["asic"], names)
    else:
        figure, axis = plt.subplots(figsize=(width_inches, 4))
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


def _plot_asic(axis, asic: dict, names: list[str]) -> None:
    """Transistors per weight per layer and in total, folded and plain `*`, against the hardwired-LLM figure."""
    from hardcore.physical.asic import HARDWIRED_LLM_TRANSISTORS_PER_WEIGHT

    labels = names + ["total"]
    highest = 0.0
    for offset, (kind, label) in enumerate((("folded", "folded"), ("plain", "plain '*'"))):
        values = [layer.get(kind, {}).get("transistors_per_weight", 0) for layer in asic["layers"]]
        values.append(asic[kind]["transistors_per_weight"])
        highest = max(highest, *values)
        bars = axis.bar([i + (offset - 0.5) * 0.4 for i in range(len(labels))], values, 0.4, label=label)
        axis.bar_label(bars, fmt="%.0f", fontsize=8)
    axis.axhline(HARDWIRED_LLM_TRANSISTORS_PER_WEIGHT, color="black", linestyle="--", linewidth=1,
                 label=f"hardwired LLM, {HARDWIRED_LLM_TRANSISTORS_PER_WEIGHT:.1f}")
    axis.set_xticks(range(len(labels)), labels)
    axis.set_ylabel("transistors per weight")
    axis.set_title(f"transistors (CMOS estimate): {asic['folded']['transistors']:,} folded, "
                   f"{asic['plain']['transistors']:,} plain '*'\nsky130 cells: {asic['folded']['area_um2']:,.0f} µm² "
                   f"folded, {asic['plain']['area_um2']:,.0f} µm² plain '*'", fontsize=9)
    axis.set_ylim(0, 1.35 * highest)  # room for the legend above the bars
    axis.legend(fontsize=8, loc="upper left", ncols=3)
