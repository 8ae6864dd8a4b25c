"""The quantized step and head functions -> the quantized unrolled function: T steps, then the head.

    x (T x inputs) --quantize--> codes; state_0 = the initial state's codes
    z_t = concat(x_t, state_t),  state_(t+1) = step(z_t)          t = 0 .. T-1
    y = head(state_T)

Every step is the quantized step function's ops, renamed (`t3_12`), between
its leading `hardcore.quantize` and its closing `hardcore.dequantize`: the
input codes of step t + 1 are the output codes of step t, so the unrolled
function computes what the stateful circuit computes, step by step, bit for
bit.  Its input is quantized at x's scale and the step's code range (the
step's z holds x_t's codes at that scale: `split.py`).  A constant initial
state is a dense layer of zero weights whose bias is the state's codes (the
IR has no tensor constant): `hardcore-fold-weights` makes it constants, no
adders.  An initial state that is a model input (h0, an LSTM's h0 and c0) is
the function's next arguments, quantized at the state's scale.  Layer kinds are prefixed with their step (`step 3: linear 4->24`)
or `head: `, for the report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from hardcore.errors import CompileError

__all__ = ["QuantizedBody", "body_of", "unrolled_text"]

_SSA = re.compile(r"%([A-Za-z0-9_]+)")
_OP = re.compile(r'^\s*(%\w+) = "([\w.]+)"\((.*?)\).* : \((.*)\) -> (\S+)$')
_RETURN = re.compile(r"^\s*return (%\w+) : (\S+)$")


@dataclass
class QuantizedBody:
    """One quantized function's ops as text, after its leading quantize."""

    lines: list[str]  # the ops, SSA names as printed
    input: str  # the quantize's result
    input_type: str  # e.g. tensor<12xi8>
    quantize: str  # the quantize's attribute dictionary
    result: str  # the returned value
    result_type: str
    integer_result: str  # the closing dequantize's operand (or the result itself)
    integer_type: str


def body_of(text: str, what: str) -> QuantizedBody:
    """The body of the one function in a quantized module's text (printed without locations)."""
    lines = [line for line in text.splitlines() if line.strip()]
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("func.func"))
    ops = lines[start + 1:]
    first = _OP.match(ops[0])
    if first is None or first.group(2) != "hardcore.quantize":
        raise CompileError(f"recurrent: the quantized {what} does not start with hardcore.quantize")
    end = next(i for i, line in enumerate(ops) if _RETURN.match(line))
    result, result_type = _RETURN.match(ops[end]).groups()
    body = ops[1:end]
    integer, integer_type = result, result_type
    for line in body:
        match = _OP.match(line)
        if match and match.group(1) == result and match.group(2) == "hardcore.dequantize":
            integer, integer_type = match.group(3), match.group(4)
    attributes = re.search(r"\{[^}]*\}", ops[0]).group(0)
    return QuantizedBody(lines=body, input=first.group(1), input_type=first.group(5), quantize=attributes,
                         result=result, result_type=result_type, integer_result=integer, integer_type=integer_type)


def _renamed(body: QuantizedBody, prefix: str, input_value: str, kind_prefix: str, keep_dequantize: bool) -> list[str]:
    def rename(match: re.Match) -> str:
        name = "%" + match.group(1)
        return input_value if name == body.input else f"%{prefix}_{match.group(1)}"

    lines = []
    for line in body.lines:
        match = _OP.match(line)
        if not keep_dequantize and match and match.group(1) == body.result and match.group(2) == "hardcore.dequantize":
            continue
        line = _SSA.sub(rename, line)
        lines.append(line.replace('hardcore.kind = "', f'hardcore.kind = "{kind_prefix}'))
    return lines


def _vector(values) -> str:
    return "[" + ", ".join(str(int(v)) for v in values) + "]"


def unrolled_text(name: str, step: QuantizedBody, head: QuantizedBody, steps: int, inputs: int,
                  initial_codes: np.ndarray, x_frac_bits: int, initial_inputs: list = (),
                  sequence: bool = False) -> str:
    """The module text of the unrolled function `name` (module doc); x is quantized at 2^-x_frac_bits.

    With `initial_inputs` ("h0", or "h0" and "c0"), the initial state is the function's next arguments,
    quantized at the state's scale, instead of the constant `initial_codes`.  With `sequence`, the head
    follows every step and the result is their rows (T x the head's output)."""
    state_type = head.input_type
    if re.sub(r"i\d+>$", "", step.integer_type) != re.sub(r"i\d+>$", "", state_type):
        raise CompileError(f"recurrent: the step's state {step.integer_type} is not the head's input {state_type}")
    element = re.search(r"x(i\d+)>$", step.input_type).group(1)
    state_size = len(initial_codes)
    x_type = f"tensor<{steps}x{inputs}x{element}>"
    x_step_type = f"tensor<{inputs}x{element}>"
    bounds = re.sub(r"frac_bits = -?\d+", "shift = 0", step.quantize)  # requant to the state's range
    x_quantize = re.sub(r"frac_bits = -?\d+", f"frac_bits = {x_frac_bits}", step.quantize)
    lines = [f'    %x = "hardcore.quantize"(%arg0) {x_quantize} : (tensor<{steps}x{inputs}xf32>) -> {x_type}']
    arguments = [f"%arg0: tensor<{steps}x{inputs}xf32>"]
    if initial_inputs:  # the initial state's codes at the state's scale: the step's own quantize
        part = state_size // len(initial_inputs)
        for index, input_name in enumerate(initial_inputs, start=1):
            arguments.append(f"%arg{index}: tensor<{part}xf32>")
            lines.append(f'    %{input_name} = "hardcore.quantize"(%arg{index}) {step.quantize} : '
                         f'(tensor<{part}xf32>) -> tensor<{part}x{element}>')
        initial, initial_type = f"%{initial_inputs[0]}", f"tensor<{part}x{element}>"
        if len(initial_inputs) > 1:
            operands = ", ".join(f"%{input_name}" for input_name in initial_inputs)
            types = ", ".join(f"tensor<{part}x{element}>" for _ in initial_inputs)
            initial, initial_type = "%initial", f"tensor<{state_size}x{element}>"
            lines.append(f'    %initial = "hardcore.concat"({operands}) {{dim = 0 : i64}} : ({types}) -> '
                         f'{initial_type}')
        if initial_type == state_type:
            lines.append(f'    %state0 = "hardcore.reshape"({initial}) : ({initial_type}) -> {state_type}')
        else:
            lines.append(f'    %state0 = "hardcore.requant"({initial}) {bounds} : ({initial_type}) -> {state_type}')
    else:
        lines += [f'    %first = "hardcore.gather"(%x) {{indices = dense<0> : tensor<1xi64>}} : ({x_type}) -> '
                  f'tensor<1x{element}>',
                  f'    %initial_sum = "hardcore.dense"(%first) {{bias = dense<{_vector(initial_codes)}> : '
                  f'tensor<{state_size}xi64>, hardcore.kind = "initial state {state_size}", weight = dense<0> : '
                  f'tensor<{state_size}x1x{element}>}} : (tensor<1x{element}>) -> tensor<{state_size}xi32>',
                  f'    %state0 = "hardcore.requant"(%initial_sum) {bounds} : (tensor<{state_size}xi32>) -> '
                  f'{state_type}']
    state = "%state0"
    rows = []
    for t in range(steps):
        indices = _vector(range(t * inputs, (t + 1) * inputs))
        lines.append(f'    %x{t} = "hardcore.gather"(%x) {{indices = dense<{indices}> : tensor<{inputs}xi64>}} : '
                     f'({x_type}) -> {x_step_type}')
        lines.append(f'    %z{t} = "hardcore.concat"(%x{t}, {state}) {{dim = 0 : i64}} : '
                     f'({x_step_type}, {state_type}) -> {step.input_type}')
        lines += _renamed(step, f"t{t}", f"%z{t}", f"step {t}: ", keep_dequantize=False)
        state = "%" + f"t{t}_" + step.integer_result[1:]
        if step.integer_type != state_type:  # narrower codes, the same values: sign-extended (a wire)
            lines.append(f'    %state{t + 1} = "hardcore.requant"({state}) {bounds} : ({step.integer_type}) -> '
                         f'{state_type}')
            state = f"%state{t + 1}"
        if sequence:  # the same head function at every step
            lines += _renamed(head, f"head{t}", state, f"step {t} head: ", keep_dequantize=False)
            rows.append(f"%head{t}_" + head.integer_result[1:])
    if sequence:
        result, result_type = _rows(lines, head, rows)
    else:
        lines += _renamed(head, "head", state, "head: ", keep_dequantize=True)
        result, result_type = "%head_" + head.result[1:], head.result_type
    return "\n".join([
        "module {",
        f"  func.func @{name}({', '.join(arguments)}) -> {result_type} {{",
        *lines,
        f"    return {result} : {result_type}",
        "  }",
        "}", ""])


def _rows(lines: list[str], head: QuantizedBody, rows: list[str]) -> tuple[str, str]:
    """Append the ops that stack the heads' integer `rows` into (T x outputs) and dequantize them as the head
    does: (the result, its type)."""
    def stacked(tensor_type: str) -> str:
        return f"tensor<{len(rows)}x{tensor_type[len('tensor<'):]}"

    def flat(count: int) -> str:
        return re.sub(r"^tensor<(\d+)x", lambda m: f"tensor<{count * int(m.group(1))}x", head.integer_type)

    joined = rows[0]
    for count, row in enumerate(rows[1:], start=1):  # hardcore.concat takes two operands
        lines.append(f'    %rows{count} = "hardcore.concat"({joined}, {row}) {{dim = 0 : i64}} : '
                     f'({flat(count)}, {head.integer_type}) -> {flat(count + 1)}')
        joined = f"%rows{count}"
    lines.append(f'    %sequence = "hardcore.reshape"({joined}) : ({flat(len(rows))}) -> {stacked(head.integer_type)}')
    if head.integer_result == head.result:
        return "%sequence", stacked(head.integer_type)
    dequantize = next(line for line in head.lines if _OP.match(line) and _OP.match(line).group(1) == head.result)
    attributes = re.search(r"\{[^}]*\}", dequantize).group(0)
    lines.append(f'    %result = "hardcore.dequantize"(%sequence) {attributes} : ({stacked(head.integer_type)}) -> '
                 f'{stacked(head.result_type)}')
    return "%result", stacked(head.result_type)
