"""The plain-multiplier baseline: the same quantized network as `*` by constants, in Verilog.

For reports only: it shows what weight folding saved.  Each output is
`bias + w_0 * x_0 + ... + w_k * x_k` with the weights as signed constants
(zeros included, as a plain design would have them), in an accumulator as
narrow as the exact bound of its sum, so the baseline is not handicapped by
blanket widths.  ReLU, requantization (round half up, shift, saturate) and
the port convention are those of the folded circuit, so both compute the same
integers (the tests check it in simulation).
"""

from __future__ import annotations

import numpy as np

from hardcore.adder_graph import signed_width
from hardcore.interpreter import find_function
from hardcore.irutil import array_attr, body_ops, int_attr
from hardcore.mlir import new_context, parse_module

__all__ = ["baseline_verilog"]


def _literal(value: int) -> str:
    """A signed Verilog constant wide enough for |value| (so negation cannot wrap)."""
    width = signed_width(abs(value), abs(value))
    return f"-{width}'sd{-value}" if value < 0 else f"{width}'sd{value}"


def baseline_verilog(quantized_text: str, module_name: str) -> str:
    """Verilog of the quantized layer IR with one `*` per weight (combinational)."""
    module = parse_module(quantized_text, new_context(), "quantized")
    ops = body_ops(find_function(module.operation))
    quantize = ops[0]
    low, high = int_attr(quantize, "min"), int_attr(quantize, "max")
    in_width = signed_width(low, high)
    n_in = int(np.prod(list(quantize.results[0].type.shape)))
    lines: list[str] = []
    # Each element: (verilog name, width, (low, high)).
    elements = []
    for i in range(n_in):
        lines.append(f"  wire signed [{in_width - 1}:0] in_{i} = x[{i * in_width} +: {in_width}];")
        elements.append((f"in_{i}", in_width, (low, high)))
    values = {quantize.results[0]: elements}
    count = 0
    for op in ops[1:]:
        name = op.operation.name
        if name in ("func.return", "hardcore.dequantize"):
            if name == "hardcore.dequantize":
                values[op.results[0]] = values[op.operands[0]]
            continue
        source = values[op.operands[0]]
        result = []
        if name == "hardcore.reshape":
            result = source
        elif name == "hardcore.dense":
            weight = array_attr(op, "weight").astype(np.int64)
            bias = array_attr(op, "bias").astype(np.int64)
            for i in range(weight.shape[0]):
                terms_low = terms_high = int(bias[i])
                for j, (_, _, (a, b)) in enumerate(source):
                    w = int(weight[i, j])
                    terms_low += min(w * a, w * b)
                    terms_high += max(w * a, w * b)
                width = signed_width(terms_low, terms_high)
                products = " + ".join(f"{_literal(int(weight[i, j]))} * {ref}" for j, (ref, _, _) in enumerate(source))
                count += 1
                # All operands are signed, so Verilog sign-extends them to the accumulator's width.
                lines.append(f"  wire signed [{width - 1}:0] v{count} = {_literal(int(bias[i]))}"
                             f"{' + ' + products if products else ''};")
                result.append((f"v{count}", width, (terms_low, terms_high)))
        elif name == "hardcore.relu":
            for ref, width, (a, b) in source:
                count += 1
                lines.append(f"  wire signed [{width - 1}:0] v{count} = {ref} < 0 ? {width}'sd0 : {ref};")
                result.append((f"v{count}", width, (max(a, 0), max(b, 0))))
        elif name == "hardcore.requant":
            shift, out_low, out_high = int_attr(op, "shift"), int_attr(op, "min"), int_attr(op, "max")
            out_width = signed_width(out_low, out_high)
            for ref, width, (a, b) in source:
                wide = width + abs(shift) + 2
                count += 1
                lines.append(f"  wire signed [{wide - 1}:0] e{count} = {ref};")
                scaled = (f"(e{count} + {_literal(1 << (shift - 1))}) >>> {shift}" if shift > 0
                          else f"e{count} <<< {-shift}")
                lines.append(f"  wire signed [{wide - 1}:0] s{count} = {scaled};")
                lines.append(f"  wire signed [{out_width - 1}:0] v{count} = s{count} < {_literal(out_low)} ? "
                             f"{_literal(out_low)} : s{count} > {_literal(out_high)} ? "
                             f"{_literal(out_high)} : s{count}[{out_width - 1}:0];")
                result.append((f"v{count}", out_width, (out_low, out_high)))
        else:
            raise ValueError(f"the baseline cannot express '{name}'")
        values[op.results[0]] = result
    outputs = values[ops[-1].operands[0]]
    out_width = max(width for _, width, _ in outputs)
    for index, (ref, _, _) in enumerate(outputs):
        lines.append(f"  wire signed [{out_width - 1}:0] out_{index} = {ref};")
    packed = ", ".join(f"out_{index}" for index in reversed(range(len(outputs))))
    header = [f"// The plain-multiplier baseline of {module_name}: one * per weight (hardcore report).",
              f"module {module_name}(",
              f"  input  [{n_in * in_width - 1}:0] x,",
              f"  output [{len(outputs) * out_width - 1}:0] y",
              ");"]
    return "\n".join(header + lines + [f"  assign y = {{{packed}}};", "endmodule", ""])
