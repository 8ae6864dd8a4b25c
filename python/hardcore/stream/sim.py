"""Images through a streamed circuit's Verilog, pixel by pixel, with random stalls (Icarus or Verilator)."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hardcore.errors import HardcoreError, UsageError
from hardcore.stream.circuit import StreamedCircuit

__all__ = ["FrameResult", "simulate_frames"]


# -- simulation ------------------------------------------------------------------------------------------

_TESTBENCH = """\
module hardcore_axis_tb;
  reg clk = 0, rst = 1;
  reg s_valid = 0, s_last = 0, m_ready = 0;
  reg [{x_bits}-1:0] s_data = 0;
  wire s_ready, m_valid, m_last, frame_error;
  wire [{y_bits}-1:0] m_data;
  reg [{x_bits}-1:0] pixels [0:{count}-1];
  integer sent = 0, received = 0, cycle = 0, first_in = -1, first_out = -1, file, seed = {seed};
  {name} dut(.clk(clk), .rst(rst), .s_axis_tvalid(s_valid), .s_axis_tdata(s_data), .s_axis_tlast(s_last),
             .s_axis_tready(s_ready), .m_axis_tvalid(m_valid), .m_axis_tdata(m_data), .m_axis_tlast(m_last),
             .m_axis_tready(m_ready), .frame_error(frame_error));
  always #5 clk = ~clk;
  initial begin
    $readmemh("pixels.hex", pixels);
    file = $fopen("outputs.hex", "w");
    seed = $urandom(seed);
    @(negedge clk); @(negedge clk); rst = 0;
  end
  // AXI4-Stream source and sink: a valid pixel stays until taken; the source idles and the
  // sink stalls at random in {stall}% of the cycles.
  always @(posedge clk) if (!rst) begin
    cycle <= cycle + 1;
    m_ready <= ($urandom % 100) >= {stall};
    if (!s_valid || s_ready) begin
      if (s_valid) begin
        if (first_in < 0) first_in <= cycle;
      end
      if (sent + (s_valid ? 1 : 0) < {count} && ($urandom % 100) >= {stall}) begin
        s_valid <= 1;
        s_data <= pixels[sent + (s_valid ? 1 : 0)];
        s_last <= ((sent + (s_valid ? 1 : 0)) % {frame}) == {frame} - 1;
      end else s_valid <= 0;
      if (s_valid) sent <= sent + 1;
    end
    if (m_valid && m_ready) begin
      if (first_out < 0) first_out <= cycle;
      $fwrite(file, "%h %0d\\n", m_data, m_last);
      received <= received + 1;
      if (received + 1 == {beats}) begin
        $fwrite(file, "cycles %0d %0d %0d %0d\\n", first_in, first_out, cycle, frame_error);
        $fclose(file);
        $finish;
      end
    end
    if (cycle > {limit}) begin $fclose(file); $finish; end
  end
endmodule
"""


@dataclass
class FrameResult:
    """What `simulate_frames` measured: the outputs (batch, elements) as the reference gives them,
    cycles from the first pixel taken to the last output, cycles per frame in steady state, and from
    the first pixel taken to the first output."""

    outputs: np.ndarray
    cycles: int
    cycles_per_frame: float
    frame_error: bool
    latency: int = 0  # cycles from the first pixel taken to the first output


def simulate_frames(circuit: StreamedCircuit, images, workdir, simulator: str = "verilator", stall: int = 0,
                    seed: int = 1) -> FrameResult:
    """Stream `images` (quantized codes, what `reference` takes) through the Verilog, P pixels a transfer;
    the source idles and the sink stalls in `stall`% of the cycles at random (seeded)."""
    if not 0 <= stall < 100:
        raise UsageError(f"simulate_frames: stall is a percentage in [0, 100), got {stall}")
    images = np.asarray(images, dtype=np.int64).reshape([-1] + list(circuit.in_shape))
    channels, height, width = circuit.in_shape
    per_beat = circuit.pixels_per_clock
    frame = height * width // per_beat
    mask = (1 << circuit.in_width) - 1
    pixels = images.transpose(0, 2, 3, 1).reshape(-1, per_beat * channels)  # a row: P pixels, channels within
    lines = [format(sum((int(v) & mask) << (c * circuit.in_width) for c, v in enumerate(row)), "x")
             for row in pixels]
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "pixels.hex").write_text("\n".join(lines) + "\n")
    (workdir / "design.sv").write_text(circuit.verilog)
    last = circuit.nodes[-1]
    streamed_out = last["kind"] != "tail"
    out_beat = circuit.out_beat
    out_elements = last["grid"][0] * out_beat if streamed_out else circuit.n_out
    beats = len(images) * (last["grid"][1] * last["grid"][2] // out_beat if streamed_out else 1)
    y_bits = out_elements * circuit.out_width
    slowdown = 100 / (100 - stall)
    limit = int((len(images) + 2) * circuit.cycles_per_frame * slowdown * slowdown) + 1000
    (workdir / "tb.sv").write_text(_TESTBENCH.format(
        name=circuit.name, x_bits=per_beat * channels * circuit.in_width, y_bits=y_bits, count=len(pixels), frame=frame,
        beats=beats, limit=limit, stall=int(stall), seed=int(seed)))
    if simulator == "icarus":
        if shutil.which("iverilog") is None:
            raise UsageError("simulate_frames: Icarus Verilog (iverilog, vvp) is not installed")
        commands = [["iverilog", "-g2012", "-s", "hardcore_axis_tb", "-o", "sim.vvp", "design.sv", "tb.sv"],
                    ["vvp", "-n", "sim.vvp"]]
    elif simulator == "verilator":
        if shutil.which("verilator") is None:
            raise UsageError("simulate_frames: Verilator is not installed")
        from hardcore.sim import VERILATOR_MAKEFLAGS
        build = ["verilator", "--binary", "--timing", "-Wno-fatal", "-Wno-lint", "-Wno-style", "--top-module",
                 "hardcore_axis_tb", "-Mdir", "obj", "design.sv", "tb.sv"]
        for flag in VERILATOR_MAKEFLAGS:
            build += ["-MAKEFLAGS", flag]
        commands = [build, ["obj/Vhardcore_axis_tb"]]
    else:
        raise UsageError(f"simulate_frames: unknown simulator '{simulator}' (verilator or icarus)")
    for command in commands:
        run = subprocess.run(command, cwd=workdir, capture_output=True, text=True)
        if run.returncode:
            raise HardcoreError(f"{command[0]} failed:\n{run.stdout[-2000:]}{run.stderr[-2000:]}")
    text = (workdir / "outputs.hex").read_text().split("\n")
    summary = [line for line in text if line.startswith("cycles")]
    words = [line.split() for line in text if line and not line.startswith("cycles")]
    if not summary:
        raise HardcoreError(f"simulate_frames: {len(words)} of {beats} outputs within {limit} cycles ({workdir})")
    first_in, first_out, last_out, error = (int(v) for v in summary[0].split()[1:])
    width = circuit.out_width
    values = np.array([[(int(word, 16) >> (i * width)) & ((1 << width) - 1) for i in range(out_elements)]
                       for word, _ in words], dtype=np.int64)
    if circuit.out_signed:
        values = np.where(values >= 1 << (width - 1), values - (1 << width), values)
    tlast = np.array([int(flag) for _, flag in words])
    per_frame = beats // len(images)
    expected_last = (np.arange(beats) % per_frame) == per_frame - 1
    if np.any(tlast.astype(bool) != expected_last):
        raise HardcoreError(f"simulate_frames: m_axis_tlast not on each frame's last output ({workdir})")
    if streamed_out:
        rows, columns = last["grid"][1], last["grid"][2]
        outputs = values.reshape(len(images), rows, columns, out_elements // out_beat).transpose(0, 3, 1, 2)
    else:
        outputs = values.reshape(len(images), -1)
    interval = (last_out - first_out) / max(len(images) - 1, 1) if not streamed_out else \
        (last_out - first_in) / len(images)
    return FrameResult(outputs.reshape(len(images), -1), last_out - first_in + 1,
                       interval, bool(error), first_out - first_in)
