"""A float layer to its quantized layer: a dense or average pool with its requant, a table, a residual add,
a concat or a shape op checked, with its output scale and error bound (`check_quantize`).
"""

from __future__ import annotations

import numpy as np
from torch_mlir import ir

from hardcore.interpreter import _SEMANTICS
from hardcore.irutil import array_attr, int_attr
from hardcore.verify.compare import VerificationError, _element_count
from hardcore.verify.pairing import _is_clamp, _is_fake_quant


def _float_matrix(op) -> tuple[np.ndarray, np.ndarray]:
    """(weight, bias) in float64 of a float dense or average pool (1/divisor on each window's taps)."""
    if op.operation.name == "hardcore.dense":
        weight = array_attr(op, "weight").astype(np.float64)
        return weight.reshape(weight.shape[0], -1), array_attr(op, "bias").astype(np.float64).reshape(-1)
    windows = array_attr(op, "windows").astype(np.int64)
    divisors = array_attr(op, "divisors").astype(np.float64).reshape(-1)
    weight = np.zeros((windows.shape[0], _element_count(op.operands[0].type)))
    rows, taps = np.nonzero(windows >= 0)
    np.add.at(weight, (rows, windows[rows, taps]), 1.0 / divisors[rows])
    return weight, np.zeros(windows.shape[0])


def _shifts(op, outputs: int) -> np.ndarray:
    """A requant's shift for each output (one integer, or an array with per-channel weight scales)."""
    attribute = op.attributes["shift"]
    if isinstance(attribute, ir.IntegerAttr):
        return np.full(outputs, int(ir.IntegerAttr(attribute).value), dtype=np.int64)
    return np.broadcast_to(array_attr(op, "shift").astype(np.int64).reshape(-1), (outputs,)).copy()


def _row_weight_fracs(weight_q, bias_q, weight_f, bias_f, frac_in) -> tuple[np.ndarray, np.ndarray]:
    """Each row's weight scale 2^-fw at which its integers and bias best match the float ones,
    and which rows fix it (rows of integer zeros fit any scale)."""
    rows = weight_q.shape[0]
    best_error, best = np.full(rows, np.inf), np.zeros(rows, dtype=np.int64)
    for frac_weight in range(-80, 81):
        error = np.maximum(np.abs(weight_q * 2.0 ** -frac_weight - weight_f).max(axis=1, initial=0.0),
                           np.abs(bias_q * 2.0 ** -(frac_in + frac_weight) - bias_f))
        better = error < best_error
        best_error[better], best[better] = error[better], frac_weight
    fixed = (weight_q != 0).any(axis=1) | (bias_q != 0)
    return best, fixed


def _requant_act_bits(op, unsigned: bool) -> int:
    """A requantized layer's act-bits, from its integer type: act-bits wide, one more bit when unsigned
    (so a layer a quantization config gives other act-bits is checked at its own)."""
    width = ir.IntegerType(ir.RankedTensorType(op.results[0].type).element_type).width
    return width - 1 if unsigned else width


def _saturation(op, group) -> tuple[int, int]:
    """The codes a requantized layer may saturate to: act-bits signed, or unsigned (one more bit)
    when its float result cannot be negative (a ReLU, a clamp at >= 0, an average pool).

    Not the requant's own bounds: a pass that saturates too early must not hide behind them.
    """
    last = group[-1]
    non_negative = last.operation.name == "hardcore.relu" or group[0].operation.name == "hardcore.avgpool" or (
        _is_clamp(last) and ir.FloatAttr(ir.DictAttr(last.attributes["params"])["min"]).value >= 0)
    unsigned = non_negative and int_attr(op, "min") >= 0
    act_bits = _requant_act_bits(op, unsigned)
    return (0, (1 << act_bits) - 1) if unsigned else _signed_bounds(act_bits)


def _signed_bounds(bits: int) -> tuple[int, int]:
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def _fail(pass_name: str, where: str, message: str):
    raise VerificationError(f"{pass_name} changed the result (--verify-each): {where}: {message}")


def _table_saturation(table, act_range) -> tuple[int, int]:
    """The codes a table may saturate to: act-bits signed, or unsigned (one more bit) when its entries
    are >= 0, or act-bits + 1 signed when its entries do not fit act-bits signed (`table-codes=wide`).
    Without the act-bits (`act_range` None: a model of token ids, whose input says nothing of them)
    its own lowest and highest entries, and each entry must then be within one step of the function
    unsaturated too."""
    if act_range is None:
        return int(table.min(initial=0)), int(table.max(initial=0))
    low, high = act_range
    if table.min(initial=0) >= 0:
        return 0, 2 * high + 1
    if table.min(initial=0) < low or table.max(initial=0) > high:
        return 2 * low, 2 * high + 1
    return low, high


def _table_frac(op, group, frac_in, act_range, pass_name: str, where: str) -> int:
    """Output scale of a `hardcore.lut`; checks every entry against its float function (half a step)."""
    table = array_attr(op, "table").astype(np.int64).reshape(-1)
    codes = int_attr(op, "min") + np.arange(table.size)
    values = _SEMANTICS["hardcore.activation"](group[0], [codes * 2.0 ** -frac_in]).astype(np.float64)
    low, high = _table_saturation(table, act_range)
    inside = (table > low) & (table < high)  # entries that did not saturate fix the scale
    fit = inside if inside.any() else np.ones(table.size, dtype=bool)
    frac_out = min(range(-80, 81), key=lambda f: float(np.abs(table[fit] * 2.0 ** -f - values[fit]).max()))
    step = 2.0 ** -frac_out
    error = np.abs(np.clip(values, low * step, high * step) - table * step)
    bad = np.flatnonzero(error > 0.5 * step * (1 + 1e-9) + 1e-12 * np.abs(values))
    if act_range is None:
        bad = np.union1d(bad, np.flatnonzero(np.abs(values - table * step) > step * (1 + 1e-9)))
    if bad.size:
        k = int(bad[0])
        _fail(pass_name, where, f"the table's entry for input code {int(codes[k])} is {int(table[k])} * 2^-{frac_out}"
              f" = {table[k] * step:.6g}, the function gives {values[k]:.6g} (more than half a step)")
    return frac_out


def _operand_scales(pass_name: str, where: str, float_op, quantized_op, frac: dict, trace: dict, paired: dict,
                    count: int) -> list:
    """Each operand of a quantized add or concat: the paired quantized value of the float operand,
    or a requant of it; returns (integers, frac bits) of each as the op reads them."""
    operands = []
    for k, (float_value, value) in enumerate(zip(float_op.operands, quantized_op.operands)):
        source, shift = value, 0
        if value != paired.get(float_value) and isinstance(value, ir.OpResult) and \
                value.owner.name == "hardcore.requant":
            source, shift = value.owner.operands[0], int(_shifts(value.owner, 1)[0])
        if source != paired.get(float_value):
            _fail(pass_name, where, f"its operand {k} is not the quantized value of the float operand {k}")
        operands.append((np.asarray(trace[value], dtype=np.float64).reshape(count, -1), frac[source] - shift))
    return operands


def _graph_op_scale(pass_name: str, where: str, group, op, frac: dict, trace: dict, paired: dict, shadow: dict,
                    act_range, quantize_width: int) -> tuple:
    """A residual add (with its ReLU) or a concat: (output frac bits, saturation, error bound a value).

    The operands must reach one scale; for an add exactly (left shifts: each
    aligned operand equals its float operand, the dequantized value of the
    layer before), so the sum is exact and only its requantization rounds;
    for a concat each operand is rounded (half up) to the common scale.
    Either way the result is within half an output step of the float op on
    the dequantized inputs, saturated to act-bits (unsigned, one more bit,
    after a ReLU or when the concat's type is that wide; the lower bound is
    always act-bits' signed one, so negative values clamped to 0 are caught).
    """
    count = len(next(iter(shadow.values())))
    if group[0].operation.name == "hardcore.concat":
        operands = _operand_scales(pass_name, where, group[0], op, frac, trace, paired, count)
        fracs = sorted({f for _, f in operands})
        if len(fracs) > 1:
            _fail(pass_name, where, f"its operands are at different scales 2^-{fracs}")
        frac_out = fracs[0]
        width = ir.IntegerType(ir.RankedTensorType(op.results[0].type).element_type).width
        if act_range is None:  # token ids: act-bits from the concat's type (unsigned: one bit wider)
            low, high = _signed_bounds(width)
            high_sat = high
        else:
            low, high = act_range
            high_sat = 2 * high + 1 if width > quantize_width else high
    else:
        add = op.operands[0].owner
        relu = None
        if add.name == "hardcore.relu":
            relu, add = add, add.operands[0].owner
        if add.name != group[0].operation.name or (relu is None) != (len(group) == 1):
            what = "add" if add.name == "hardcore.add_tensors" else "subtraction"
            _fail(pass_name, where, f"it is not the requantized {what} (and ReLU) of the float {what}")
        operands = _operand_scales(pass_name, where, group[0], add, frac, trace, paired, count)
        fracs = sorted({f for _, f in operands})
        if len(fracs) > 1:
            _fail(pass_name, where, f"its operands are added at different scales 2^-{fracs}")
        for k, (integers, operand_frac) in enumerate(operands):
            float_value = np.asarray(shadow[group[0].operands[k]], dtype=np.float64).reshape(count, -1)
            if not np.array_equal(integers * 2.0 ** -operand_frac, float_value):
                vector, element = np.argwhere(integers * 2.0 ** -operand_frac != float_value)[0]
                _fail(pass_name, where, f"operand {k} aligned to 2^-{operand_frac} is "
                      f"{integers[vector, element] * 2.0 ** -operand_frac:.6g}, not its input "
                      f"{float_value[vector, element]:.6g} (input vector {vector}, element {element}): "
                      f"the alignment must be exact")
        frac_out = fracs[0] - int(_shifts(op, 1)[0])
        # act-bits from the requant's type; the lower bound act-bits' signed one even after a ReLU
        low, high = _signed_bounds(_requant_act_bits(op, relu is not None))
        high_sat = 2 * high + 1 if relu is not None else high
    step = 2.0 ** -frac_out
    expected = np.asarray(shadow[group[-1].results[0]])
    return frac_out, low * step, high_sat * step, np.full((count, expected.size // count), 0.5 * step)


def _layer_scale(pass_name: str, where: str, group, op, frac: dict, trace: dict, paired: dict, expected,
                 act_range) -> tuple:
    """A layer of a chain (dense, pool, table, clamp, shape op): its weights, bias and table checked;
    (output frac bits, lowest and highest float value it may saturate to, error bound a value)."""
    name = op.operation.name
    layer_ops = [op]
    while layer_ops[-1].operands[0] not in frac:  # back to the layer's input (requant <- relu <- dense)
        layer_ops.append(layer_ops[-1].operands[0].owner)
    source = layer_ops[-1].operands[0]
    if group[0].operands and source != paired.get(group[0].operands[0]):
        _fail(pass_name, where, "its input is not the quantized value of the float layer's input")
    x = np.asarray(trace[source], dtype=np.float64).reshape(len(expected), -1) * 2.0 ** -frac[source]
    dense = next((o for o in layer_ops if o.operation.name == "hardcore.dense"), None)
    if name == "hardcore.requant":
        bound = np.zeros_like(expected)
        shifts = _shifts(op, expected.shape[1])
        frac_out = frac[source] - int(shifts[0])
        if dense is not None:
            weight_f, bias_f = _float_matrix(group[0])
            weight_q = array_attr(dense, "weight").astype(np.float64).reshape(weight_f.shape)
            bias_q = array_attr(dense, "bias").astype(np.float64).reshape(-1)
            # a dense over R rows (a sequence): every row shifted alike
            rows = expected.shape[1] // max(weight_f.shape[0], 1)
            row_shifts = shifts.reshape(rows, -1)
            if (row_shifts != row_shifts[:1]).any():
                _fail(pass_name, where, "its rows are shifted differently")
            shifts = row_shifts[0]
            # one weight scale per row (weight-scale=per-channel: each row its own, and
            # the requant shifts each output by its own amount)
            frac_weight, fixed = _row_weight_fracs(weight_q, bias_q, weight_f, bias_f, frac[source])
            outputs = frac[source] + frac_weight - shifts
            if fixed.any():
                if len(set(outputs[fixed].tolist())) > 1:
                    _fail(pass_name, where, f"its outputs are at different scales 2^-{sorted(set(outputs[fixed].tolist()))}")
                frac_out = int(outputs[fixed][0])
            frac_weight = np.where(fixed, frac_weight, frac_out + shifts - frac[source])
            frac_acc = frac[source] + frac_weight
            row_unit = 2.0 ** -frac_weight.astype(np.float64)
            weight_error = np.abs(weight_q * row_unit[:, None] - weight_f)
            # A row whose integers are all multiples of 2^k was rounded with a step 2^k coarser.
            row_gcd = np.gcd.reduce(np.abs(weight_q).astype(np.int64), axis=1)
            row_step = np.where(row_gcd > 0, row_gcd & -row_gcd, 1) * row_unit
            too_far = weight_error > row_step[:, None] * (1 + 1e-9)
            if too_far.any():
                i, j = np.argwhere(too_far)[0]
                _fail(pass_name, where, f"weight [{i}, {j}] is {int(weight_q[i, j])} * 2^-{frac_weight[i]} = "
                      f"{weight_q[i, j] * row_unit[i]:.6g}, the float weight {weight_f[i, j]:.6g} "
                      f"(more than one step)")
            acc_unit = 2.0 ** -frac_acc.astype(np.float64)
            bias_error = np.abs(bias_q * acc_unit - bias_f)
            if (bias_error > 0.5 * acc_unit * (1 + 1e-9)).any():
                i = int(np.argmax(bias_error / acc_unit))
                _fail(pass_name, where, f"bias [{i}] is {int(bias_q[i])} * 2^-{frac_acc[i]} = "
                      f"{bias_q[i] * acc_unit[i]:.6g}, the float bias {bias_f[i]:.6g} (more than half a step)")
            bound = (np.abs(x).reshape(len(x), rows, -1) @ weight_error.T + bias_error).reshape(len(x), -1)
        step = 2.0 ** -frac_out
        low_sat, high_sat = (bound_code * step for bound_code in _saturation(op, group))
        bound = bound + step
    elif name == "hardcore.lut":
        frac_out = _table_frac(op, group, frac[source], act_range, pass_name, where)
        step = 2.0 ** -frac_out
        low_sat, high_sat = (code * step for code in _table_saturation(array_attr(op, "table"), act_range))
        bound = np.full_like(expected, 0.5 * step)
    else:  # max pool, relu, reshape, gather, argmax: exact
        frac_out = 0 if name == "hardcore.argmax" else frac[source]
        low_sat, high_sat, bound = -np.inf, np.inf, np.zeros_like(expected)
    if _is_fake_quant(group[-1]):  # QAT: the model's own scale; its float op saturates at its codes itself
        model_frac = _fake_quant_codes(group[-1])[0]
        if frac_out != model_frac:
            _fail(pass_name, where, f"its scale is 2^-{frac_out}, the model's fake_quant's 2^-{model_frac}")
        low_sat, high_sat = -np.inf, np.inf
    return frac_out, low_sat, high_sat, bound


def _fake_quant_codes(op) -> tuple[int, int, int]:
    """A fake_quant's (frac bits, lowest code, highest code)."""
    params = ir.DictAttr(op.attributes["params"])
    return tuple(int(ir.FloatAttr(params[key]).value) for key in ("frac_bits", "min", "max"))
