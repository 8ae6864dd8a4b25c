"""hardcore-quantize, layer by layer: each quantized layer within its rounding bound of its float layer."""

from __future__ import annotations

import numpy as np
from torch_mlir import ir

from hardcore.interpreter import _SEMANTICS, InterpreterError, run_function
from hardcore.irutil import body_ops, int_attr
from hardcore.mlir import location_text
from hardcore.verify.compare import (VerificationError, VerifyOptions, _code_range, _element_count, _format,
                                     input_vectors)
from hardcore.verify.layers import _fail, _fake_quant_codes, _graph_op_scale, _layer_scale
from hardcore.verify.pairing import _GRAPH_OPS, _float_layers, _input_fake_quant, _pair_layers
from hardcore.verify.sequence import _SEQUENCE_CHECKS

__all__ = ["check_quantize"]


def check_quantize(pass_name: str, before, after, options: VerifyOptions) -> str:
    """hardcore-quantize, layer by layer: each quantized layer computes its float layer on the same input.

    Inputs are codes of the input grid (x = code * 2^-frac_in, so rounding the
    input is exact).  For each layer output of the quantized IR (requant, lut,
    maxpool, reshape, gather, relu, argmax, add, concat) the float ops it stands for run on the
    dequantized quantized input of that layer, so errors do not accumulate:
    - a requantized dense or average-pool layer (with its ReLU or clamp): the
      weight scale 2^-fw is the one at which the integer weights best match
      the float ones; every integer weight must be within one step of its float
      weight (half a step rounding, the largest may saturate by one), every
      bias within half a step of the accumulator (2^-(f_in+fw)).  The output
      scale is then 2^-(f_in+fw-shift), and the float result, saturated to
      the requant's range, must be within sum_j |dW_ij x_j| + |db_i| + one
      output step (half rounding, half a rounded clamp bound) of the
      dequantized integers, dW and db the actual weight and bias errors;
    - a requant on its own (a clamp): within one output step;
    - a table (activation): every entry within half an output step of the
      function at its input code (saturated to act-bits), the output scale
      fixed by the entries that did not saturate; the layer's outputs likewise;
    - max pool, ReLU, reshape, gather, argmax: exactly equal.
    - a residual add (with its ReLU): each operand, as the add reads it (after
      the pass's aligning requant, if any), must be exactly its float operand
      (the paired dequantized value) and both at one scale, so the sum is
      exact; the requantized sum within half an output step of the float sum
      (saturated to act-bits, unsigned after a ReLU);
    - a concat: its operands at one scale; within half an output step;
    - a fake_quant (QAT): on the input, the hardcore.quantize must have its
      scale and codes; absorbed into a dense layer or on its own, the layer's
      output scale must be the fake_quant's, the float op saturating itself;
    - sequence-model ops: a subtraction as an add; an embedding's codes, a
      qsoftmax's and a qnorm's tables entry by entry, a product of the paired
      operands exactly, then each within its bound (`_embedding_scale`,
      `_product_scale`, `_qsoftmax_scale`, `_qnorm_scale`; docs/verification.md).
    Pairing goes through the DAG: the float ops are grouped as the pass groups
    them, each group is paired with the quantized op that ends its contiguous
    run of emitted ops, and every quantized layer must read the quantized
    values paired with its float operands (directly, or through the requants
    the pass inserts before an add or a concat).  The dequantize must read the
    value paired with the float result, at its scale.
    """
    frac_in, low, high = _code_range(after)
    # the input's range is act-bits', which concats and tables take, unless the input is token ids
    tokens = isinstance(ir.RankedTensorType(before.type.inputs[0]).element_type, ir.IntegerType)
    act_range = None if tokens else (low, high)
    n_in = _element_count(before.type.inputs[0])
    codes, labels = input_vectors(n_in, low, high, options.vectors, options.seed)
    inputs = codes * 2.0 ** -frac_in
    trace: dict = {}
    try:
        run_function(after, inputs, trace=trace)
    except InterpreterError as error:
        raise VerificationError(f"{pass_name} broke the IR (--verify-each): the IR after it fails: {error}") from None
    quantize = body_ops(after)[0]
    trace[quantize.results[0]] = codes.reshape(trace[quantize.results[0]].shape)
    groups = _float_layers(before)
    input_fake_quant = _input_fake_quant(before)
    layers = _pair_layers(groups, after, input_fake_quant)
    if layers is None:
        raise VerificationError(f"{pass_name}: cannot pair the layers (--verify-each): the quantized ops do not "
                                f"follow the {len(groups)} float layer outputs in order")
    dequantize = next(op for op in body_ops(after) if op.operation.name == "hardcore.dequantize")
    frac = {quantize.results[0]: frac_in}  # quantized value -> its fractional bits
    argument = before.regions[0].blocks[0].arguments[0]
    paired = {argument: quantize.results[0]}  # float value -> the quantized value that stands for it
    quantize_width = ir.IntegerType(ir.RankedTensorType(quantize.results[0].type).element_type).width
    shadow = {argument: inputs.reshape([len(inputs)] + list(ir.RankedTensorType(argument.type).shape))}
    index = -1
    for group, op in zip(groups, layers):
        for float_op in group:  # the float layer on what the quantized IR holds for its input
            shadow[float_op.results[0]] = np.reshape(_SEMANTICS[float_op.operation.name](
                float_op, [shadow[v] for v in float_op.operands]),
                [len(inputs)] + list(ir.RankedTensorType(float_op.results[0].type).shape))
        if op is None:  # the input's fake_quant: the hardcore.quantize must be exactly it
            model = _fake_quant_codes(group[0])
            if (frac_in, low, high) != model:
                _fail(pass_name, f"the input's fake_quant at {location_text(group[0].location)}",
                      f"the input is quantized at 2^-{frac_in} to [{low}, {high}], the model's fake_quant at "
                      f"2^-{model[0]} to [{model[1]}, {model[2]}]")
            paired[group[0].results[0]] = paired[group[0].operands[0]]
            continue
        index += 1
        expected = np.asarray(shadow[group[-1].results[0]], dtype=np.float64).reshape(len(inputs), -1)
        actual = np.asarray(trace[op.results[0]]).reshape(len(inputs), -1)
        name = op.operation.name
        where = f"layer output {index} ('{name}' at {location_text(op.location)})"
        if group[0].operation.name in _GRAPH_OPS:
            frac_out, low_sat, high_sat, bound = _graph_op_scale(pass_name, where, group, op, frac, trace, paired,
                                                                 shadow, act_range, quantize_width)
        elif group[0].operation.name in _SEQUENCE_CHECKS:
            frac_out, low_sat, high_sat, bound = _SEQUENCE_CHECKS[group[0].operation.name](
                pass_name, where, group[0], op, frac, trace, paired, len(inputs))
        else:
            frac_out, low_sat, high_sat, bound = _layer_scale(pass_name, where, group, op, frac, trace, paired,
                                                              expected, act_range)
        if op.results[0] == dequantize.operands[0] and frac_out != int_attr(dequantize, "frac_bits"):
            _fail(pass_name, where, f"the last layer's scale is 2^-{frac_out}, the dequantize's "
                  f"2^-{int_attr(dequantize, 'frac_bits')}")
        scaled = actual * 2.0 ** -frac_out
        error = np.abs(np.clip(expected, low_sat, high_sat) - scaled)
        differs = error > bound * (1 + 1e-9) + 1e-12 * np.abs(expected)
        if differs.any():
            vector, element = np.argwhere(differs)[0]
            _fail(pass_name, where,
                  f"on input vector {vector} ({labels[vector]}) {_format(inputs[vector])}: the float layer gives "
                  f"{expected[vector, element]:.6g} (saturated to [{low_sat:g}, {high_sat:g}]), the quantized one "
                  f"{actual[vector, element]} * 2^-{frac_out} = {scaled[vector, element]:.6g} (output element "
                  f"{element}), more than the rounding bound {bound[vector, element]:.6g}")
        frac[op.results[0]] = frac_out
        paired[group[-1].results[0]] = op.results[0]
        shadow[group[-1].results[0]] = scaled.reshape(np.shape(shadow[group[-1].results[0]]))
    result = next(op for op in body_ops(before) if op.operation.name == "func.return").operands[0]
    if paired.get(result) != dequantize.operands[0]:
        _fail(pass_name, f"the dequantize at {location_text(dequantize.location)}",
              "its input is not the quantized value of the float result")
    return (f"{pass_name}: each of {index + 1} layers within its rounding bound on {len(inputs)} "
            f"input vectors of the input grid")
