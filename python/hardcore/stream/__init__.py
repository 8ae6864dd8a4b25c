"""A streamed circuit: the step of every node (hardcore-stream) between line buffers, FIFOs and AXI4-Stream ports.

`hardcore.compile(model, x, stream=True)` imports convolutions whole
(`hardcore-import{stream=true}`), quantizes, runs `hardcore-stream` (a step
function per node: a convolution's kernel applied to one window, a max pool,
a residual add, a tail of dense layers) and `hardcore-fold-weights` on each
step; `hardcore-to-hw` makes each step a combinational module
`<name>_nodeK`, and `wrapper_text` wraps them in the top module `<name>`
(docs/streaming.md, "Streaming convolutions"):

    clk, rst, s_axis_tvalid, s_axis_tdata, s_axis_tlast, m_axis_tready
      -> s_axis_tready, m_axis_tvalid, m_axis_tdata, m_axis_tlast, frame_error

One pixel (all channels) a transfer, raster order.  Every node is a stage
with a valid/ready handshake and an output register:

- a *window* node walks its padded input grid (H + 2 ph) x (W + 2 pw) one
  position a clock: at a position inside the image it takes a pixel from its
  producer (and waits for one), on the padding it shifts in the padding
  value; its line buffer is one shift register of
  (KH - 1) dh (W + 2 pw) + (KW - 1) dw + 1 pixels, whose fixed taps are the
  window of the output pixel whose bottom-right tap just entered; when that
  position is an output position (stride), the step computes the output
  pixel into the output register;
- a *map* or *join* node computes its pixel (a join: when both inputs have
  one) into its output register;
- the *tail* collects the feature map (a frame buffer: a shift register of
  H x W pixels; or per-channel accumulators for a global average pool) and
  computes the vector output into its register;
- a node read by several nodes (a residual's fork) hands a pixel on when all
  readers take it; a join's inputs go through FIFOs deep enough for the lag
  between its two branches (`fifo_depths`), so the fork never deadlocks.

With `pixels_per_clock=P` (> 1; `_ParallelWrapper`) a transfer carries P
pixels of a row, a window node takes a group of P positions of its padded
row (rounded up to a multiple of P with dead positions) a clock through P
instances of its step, and every edge is a gearbox FIFO of pixels: the
producer writes its 0..P pixels when the FIFOs it feeds have room for P,
the consumer takes what its clock needs.

`StreamedCircuit.reference` is `Circuit`'s (the quantized function of one
image); `run_steps` applies the steps at every pixel in numpy, and
`simulate_frames` runs the Verilog with random stalls on both sides.

One module per concern: `schedule` (the nodes as the wrapper sees them; what
each output needs; FIFO depths), `wrapper` (the top module, one pixel a
clock), `parallel` (P pixels a clock), `circuit` (`run_steps`,
`build_streamed`, `StreamedCircuit`) and `sim` (`simulate_frames`).
"""

from hardcore.stream.circuit import StreamedCircuit, build_streamed, run_steps
from hardcore.stream.parallel import wrapper_text
from hardcore.stream.schedule import NodeLayout, fifo_depths, source_needs
from hardcore.stream.sim import FrameResult, simulate_frames

__all__ = ["StreamedCircuit", "NodeLayout", "build_streamed", "wrapper_text", "run_steps", "fifo_depths",
           "source_needs", "simulate_frames", "FrameResult"]
