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
    arguments = list(before.regions[0].blocks[0].arguments)
    quantizes = body_ops(after)[:len(arguments)]  # one per input, in argument order
    _, low, high = _code_range(after)
    # the input's range is act-bits', which concats and tables take, unless the input is token ids
    tokens = isinstance(ir.RankedTensorType(before.type.inputs[0]).element_type, ir.IntegerType)
    act_range = None if tokens else (low, high)
    trace: dict = {}
    frac, paired, shadow, codes, labels = {}, {}, {}, [], []  # quantized value -> its fractional bits;
    # float value -> the quantized value that stands for it; float value -> what the float ops see
    for number, (argument, quantize) in enumerate(zip(arguments, quantizes)):
        codes_in, labels = input_vectors(_element_count(argument.type), int_attr(quantize, "min"),
                                         int_attr(quantize, "max"), options.vectors, options.seed + number)
        codes.append(codes_in)
        frac[quantize.results[0]] = int_attr(quantize, "frac_bits")
        paired[argument] = quantize.results[0]
        shadow[argument] = (codes_in * 2.0 ** -frac[quantize.results[0]]).reshape(
            [len(codes_in)] + list(ir.RankedTensorType(argument.type).shape))
    try:
        run_function(after, [shadow[argument] for argument in arguments], trace=trace)
    except InterpreterError as error:
        raise VerificationError(f"{pass_name} broke the IR (--verify-each): the IR after it fails: {error}") from None
    for quantize, codes_in in zip(quantizes, codes):
        trace[quantize.results[0]] = codes_in.reshape(trace[quantize.results[0]].shape)
    inputs = np.concatenate([shadow[argument].reshape(len(codes[0]), -1) for argument in arguments], axis=1)
    groups = _float_layers(before)
    input_fake_quants = {_input_fake_quant(before, number): quantize for number, quantize in enumerate(quantizes)}
    input_fake_quants.pop(None, None)
    layers = _pair_layers(groups, after, input_fake_quants)
    if layers is None:
        raise VerificationError(f"{pass_name}: cannot pair the layers (--verify-each): the quantized ops do not "
                                f"follow the {len(groups)} float layer outputs in order")
    # the quantized value each result's dequantize reads -> that dequantize
    dequantizes = {op.operands[0]: op for op in body_ops(after) if op.operation.name == "hardcore.dequantize"}
    quantize_width = ir.IntegerType(ir.RankedTensorType(quantizes[0].results[0].type).element_type).width
    index = -1
    for group, op in zip(groups, layers):
        for float_op in group:  # the float layer on what the quantized IR holds for its input
            shadow[float_op.results[0]] = np.reshape(_SEMANTICS[float_op.operation.name](
                float_op, [shadow[v] for v in float_op.operands]),
                [len(inputs)] + list(ir.RankedTensorType(float_op.results[0].type).shape))
        if op is None:  # an input's fake_quant: its hardcore.quantize must be exactly it
            model = _fake_quant_codes(group[0])
            quantize = input_fake_quants[group[0]]
            codes_of = tuple(int_attr(quantize, key) for key in ("frac_bits", "min", "max"))
            if codes_of != model:
                _fail(pass_name, f"the input's fake_quant at {location_text(group[0].location)}",
                      f"the input is quantized at 2^-{codes_of[0]} to [{codes_of[1]}, {codes_of[2]}], the model's "
                      f"fake_quant at 2^-{model[0]} to [{model[1]}, {model[2]}]")
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
        dequantize = dequantizes.get(op.results[0])
        if dequantize is not None and frac_out != int_attr(dequantize, "frac_bits"):
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
    results = next(op for op in body_ops(before) if op.operation.name == "func.return").operands
    returned = next(op for op in body_ops(after) if op.operation.name == "func.return").operands
    for result, value in zip(results, returned):
        dequantize = value.owner
        if paired.get(result) != dequantize.operands[0]:
            _fail(pass_name, f"the dequantize at {location_text(dequantize.location)}",
                  "its input is not the quantized value of the float result")
    return (f"{pass_name}: each of {index + 1} layers within its rounding bound on {len(inputs)} "
            f"input vectors of the input grid")
