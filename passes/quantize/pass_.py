"""hardcore-quantize: the pass, its options and calibration, and the table from float op to rewrite function.

Each function of float layer ops is run on the calibration inputs (the
trace every scale comes from), then rebuilt op by op: a `hardcore.quantize`
of each input (each input calibrated on its own), each float op's rewrite (one
function per op, gathered in LOWERINGS), and a `hardcore.dequantize` of each result.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from torch_mlir import ir

from hardcore.adder_graph import signed_width
from hardcore.errors import UsageError
from hardcore.interpreter import activation_params, run_function
from hardcore.irutil import (FLOAT_LAYER_OPS, body_ops, create_op, functions, i64_attr, int_type, replace_function,
                             tensor_type)
from hardcore.pass_base import ModulePass, PassFailed
from hardcore.quant_config import (SETTINGS, WEIGHT_SCALES, LayerQuant, check_percentile, load_quant_config,
                                   parse_quant_config)
from hardcore.passes.quantize.activations import TABLE_CODES, lower_activation
from hardcore.passes.quantize.common import Lowering, calibrated_magnitude, frac_bits_for, signed_range
from hardcore.passes.quantize.dense import WEIGHT_FRAC_BITS, lower_conv, lower_dense
from hardcore.passes.quantize.fake_quant import fake_quant_params, input_fake_quant
from hardcore.passes.quantize.graph import lower_add_tensors, lower_concat, lower_gather, lower_relu, lower_reshape
from hardcore.passes.quantize.pools import lower_argmax, lower_avgpool, lower_maxpool
from hardcore.passes.quantize.sequence import (lower_embedding, lower_layernorm, lower_product, lower_softmax,
                                               token_reader)

__all__ = ["QuantizePass", "LOWERINGS", "DEFAULT_CALIBRATION_SAMPLES"]

DEFAULT_CALIBRATION_SAMPLES = 256
# Each float op -> its rewrite function(lowering, op) -> False after an error (a diagnostic).
# A ReLU, clamp or fake_quant right after a layer is absorbed by that layer's rewrite.
LOWERINGS = {
    "hardcore.dense": lower_dense,
    "hardcore.conv": lower_conv,
    "hardcore.relu": lower_relu,
    "hardcore.activation": lower_activation,
    "hardcore.reshape": lower_reshape,
    "hardcore.maxpool": lower_maxpool,
    "hardcore.minpool": lower_maxpool,
    "hardcore.avgpool": lower_avgpool,
    "hardcore.argmax": lower_argmax,
    "hardcore.add_tensors": lower_add_tensors,
    "hardcore.concat": lower_concat,
    "hardcore.gather": lower_gather,
    "hardcore.embedding": lower_embedding,
    "hardcore.sub_tensors": lower_add_tensors,
    "hardcore.mul_tensors": lower_product,
    "hardcore.matmul": lower_product,
    "hardcore.softmax": lower_softmax,
    "hardcore.layernorm": lower_layernorm,
}
# The settings a layer may take from a config, and what the error calls a layer that cannot.
_LAYER_KINDS = {"hardcore.dense": "whose weights the model fake-quantizes (QAT sets them)",
                "hardcore.conv": "whose weights the model fake-quantizes (QAT sets them)",
                "hardcore.avgpool": "an average pool, which has no weights",
                "hardcore.add_tensors": "a residual add, which has no weights",
                "hardcore.maxpool": "a max pool, which has no weights or requantization",
                "hardcore.minpool": "a minimum, which has no weights or requantization",
                "hardcore.argmax": "an argmax, which has no weights or requantization",
                "hardcore.embedding": "an embedding, a table without weights",
                "hardcore.sub_tensors": "a subtraction, which has no weights",
                "hardcore.mul_tensors": "a product of two activations, which has no weights",
                "hardcore.matmul": "a matrix product of two activations, which has no weights",
                "hardcore.softmax": "a softmax, which has no weights",
                "hardcore.layernorm": "a layer norm, which has no weights (its affine part is a dense layer)"}
# (an embedding's codes come from its table and a softmax's scale is fixed: no percentile for them)
_LAYER_SETTINGS = {name: ("act_bits", "act_percentile") for name in _LAYER_KINDS
                   if name not in ("hardcore.maxpool", "hardcore.minpool", "hardcore.argmax")}
_LAYER_SETTINGS.update({"hardcore.dense": SETTINGS, "hardcore.conv": SETTINGS, "hardcore.embedding": ("act_bits",),
                        "hardcore.softmax": ("act_bits",)})


@dataclasses.dataclass(frozen=True)
class QuantizePass(ModulePass):
    name = "hardcore-quantize"
    weight_bits: int = 8
    act_bits: int = 8
    calibration: str | None = None
    weight_scale: str = "per-layer"
    config: str | None = None
    # Output scales from this percentile of |x| on the calibration inputs (None: the largest |x|).
    act_percentile: float | None = None
    # How a standalone activation's table codes its outputs (TABLE_CODES, activations.py).
    table_codes: str = "magnitude"
    calibration_data: Any = dataclasses.field(default=None, metadata={"cli": False}, compare=False)
    # The Python API's config (a dictionary, `quant_config`): instead of the file `config`.
    config_data: Any = dataclasses.field(default=None, metadata={"cli": False}, compare=False)

    def validate(self) -> None:
        for option, value in (("weight-bits", self.weight_bits), ("act-bits", self.act_bits)):
            if not 2 <= value <= 16:
                raise UsageError(f"{self.name}: {option} must be between 2 and 16, got {value}")
        if self.weight_scale not in WEIGHT_SCALES:
            raise UsageError(f"{self.name}: weight-scale must be one of {', '.join(WEIGHT_SCALES)}, "
                             f"got '{self.weight_scale}'")
        if self.act_percentile is not None and not check_percentile(self.act_percentile):
            raise UsageError(f"{self.name}: act-percentile must be a number in (0, 100], "
                             f"got {self.act_percentile!r}")
        if self.table_codes not in TABLE_CODES:
            raise UsageError(f"{self.name}: table-codes must be one of {', '.join(TABLE_CODES)}, "
                             f"got '{self.table_codes}'")
        config, source = self.config_data, "quant_config"
        if config is None and self.config is not None:
            config, source = load_quant_config(self.config), self.config
        base = LayerQuant(self.weight_bits, self.act_bits, self.weight_scale, self.act_percentile)
        # read and checked once, before any work
        object.__setattr__(self, "_quant", parse_quant_config(config, base, source))
        if self.calibration is not None and self.calibration_data is None:
            try:
                data = np.load(self.calibration)
            except (OSError, ValueError) as exc:
                raise UsageError(f"{self.name}: cannot read calibration file "
                                 f"'{self.calibration}': {exc}") from None
            object.__setattr__(self, "calibration_data", data)  # read once, before any work

    def _calibration_sets(self, function) -> list | None:
        """The given calibration data, one array per input (None: none given).

        One input takes an array; several a tuple or list of arrays, one per input,
        or an .npz file's arrays in the order they were saved.
        """
        data = self.calibration_data
        if data is None:
            return None
        inputs = len(function.type.inputs)
        npz = isinstance(data, np.lib.npyio.NpzFile)
        if inputs == 1 and not npz:
            return [data]
        arrays = [data[name] for name in data.files] if npz else data
        if not isinstance(arrays, (tuple, list)) or len(arrays) != inputs:
            got = f"{len(arrays)} array{'s' if len(arrays) != 1 else ''}" \
                if isinstance(arrays, (tuple, list)) else "one array"
            self.error(function, f"{self.name}: the function has {inputs} input{'s' if inputs != 1 else ''}: "
                                 f"calibration data must be {inputs} array{'s' if inputs != 1 else ''}, "
                                 f"one per input, got {got}")
            raise PassFailed()
        return list(arrays)

    def _calibration(self, function, index: int, given, vocabulary: int | None) -> np.ndarray:
        """Input `index`'s calibration samples, batch first: floats, or token ids in [0, vocabulary - 1] (int64)."""
        shape = list(ir.RankedTensorType(function.type.inputs[index]).shape)
        rng = np.random.default_rng(index)  # input 0 as one input always had: seed 0
        which = f" for input {index}" if len(function.type.inputs) > 1 else ""
        if given is not None:
            data = np.asarray(given, dtype=np.float64)
        elif vocabulary is not None:
            data = rng.integers(0, vocabulary, [DEFAULT_CALIBRATION_SAMPLES] + shape)
        else:
            data = rng.standard_normal([DEFAULT_CALIBRATION_SAMPLES] + shape)
        size = int(np.prod(shape))
        # Errors at the function (the model's input): an exception here would be an internal error.
        if data.size == 0 or data.size % size:
            self.error(function, f"{self.name}: calibration data{which} of shape {list(data.shape)} "
                                 f"does not hold samples of shape {shape}")
            raise PassFailed()
        if not np.all(np.isfinite(data)):
            self.error(function, f"{self.name}: calibration data{which} contains NaN or infinity")
            raise PassFailed()
        if vocabulary is None:
            return data.reshape([-1] + shape)
        bad = (data != np.floor(data)) | (data < 0) | (data > vocabulary - 1)
        if bad.any():
            self.error(function, f"{self.name}: calibration data for token ids must hold integers in "
                                 f"[0, {vocabulary - 1}] (the vocabulary), got {data.reshape(-1)[np.argmax(bad)]:g}")
            raise PassFailed()
        return data.astype(np.int64).reshape([-1] + shape)

    @property
    def quant(self):
        """The settings of the network and of each layer (`hardcore.quant_config.QuantConfig`)."""
        if not hasattr(self, "_quant"):
            self.validate()
        return self._quant

    def run(self, module: ir.Operation) -> None:
        ok = True
        for function in functions(module):
            if not _already_quantized(function):
                ok &= self._quantize_function(function)
        if not ok:
            raise PassFailed()

    def _vocabulary(self, function, argument) -> int | None:
        """For an input of token ids (an integer argument): the smallest vocabulary of the embeddings
        that read them; None for a float input.  PassFailed when anything else reads them."""
        if not isinstance(ir.RankedTensorType(argument.type).element_type, ir.IntegerType):
            return None
        # (a float function reads its input: without constants, nothing else makes a float result)
        readers = [use.owner for use in argument.uses]
        bad = [reader for reader in readers if reader.operation.name != "hardcore.embedding"]
        for reader in bad:
            self.error(reader, f"hardcore-quantize: the token input ({argument.type}) is read by "
                               f"'{reader.operation.name}'; only a 'hardcore.embedding' reads token ids")
        if bad:
            raise PassFailed()
        return min(ir.RankedTensorType(r.attributes["table"].type).shape[1] for r in readers)

    def _quantize_function(self, function) -> bool:
        ops = body_ops(function)
        bad = [op for op in ops if op.operation.name not in LOWERINGS and op.operation.name != "func.return"]
        for op in bad:
            self.error(op, f"hardcore-quantize: cannot quantize '{op.operation.name}' "
                       f"(run hardcore-import first)")
        if bad:
            return False
        for op in ops:
            if op.operation.name == "hardcore.activation":
                try:
                    activation_params(op)
                except ValueError as exc:
                    bad.append(op)
                    self.error(op, f"hardcore-quantize: {exc}")
            elif op.operation.name == "hardcore.embedding" and not token_reader(op):
                bad.append(op)
                self.error(op, "hardcore-quantize: an embedding reads token ids: its operand must be the model's "
                               "integer input or an argmax")
        if bad or not self._check_layer_settings(function, ops):
            return False
        layer_index = {op: k for k, op in enumerate(o for o in ops if o.operation.name in FLOAT_LAYER_OPS)}
        act_bits = self.quant.default.act_bits
        arguments = list(function.regions[0].blocks[0].arguments)
        vocabularies = [self._vocabulary(function, argument) for argument in arguments]
        if len(arguments) > 1 and any(v is not None for v in vocabularies):
            self.error(function, "hardcore-quantize: token ids are supported as a model's only input, "
                                 f"not as one of its {len(arguments)} inputs")
            return False
        given = self._calibration_sets(function)
        calibrations = [self._calibration(function, index, None if given is None else given[index], vocabulary)
                        for index, vocabulary in enumerate(vocabularies)]
        trace: dict = {}
        run_function(function, calibrations, trace=trace)
        lowering = Lowering(self, trace, layer_index)

        new = replace_function(function, function.name.value, list(function.type.inputs),
                               list(function.type.results))
        new_block = new.regions[0].blocks[0]
        fake_quants = set()
        with ir.InsertionPoint(new_block):
            # One hardcore.quantize per input, in the order of the arguments, before any layer.
            for argument, new_argument, calibration, vocabulary in zip(arguments, new_block.arguments, calibrations,
                                                                        vocabularies):
                lowering.integers[new_argument] = calibration
                act_low, act_high = signed_range(act_bits)
                in_frac = frac_bits_for(calibrated_magnitude(calibration, self.quant.default.act_percentile),
                                        act_bits, True)
                fake_quant = input_fake_quant(argument)
                if vocabulary is not None:  # token ids pass unchanged; an id past the vocabulary reads its last row
                    in_frac, act_low, act_high = 0, 0, vocabulary - 1
                elif fake_quant is not None:  # QAT: the model quantizes its input itself
                    in_frac, act_low, act_high = fake_quant_params(fake_quant)
                    lowering.absorbed.add(fake_quant)
                    fake_quants.add(fake_quant)
                q = create_op("hardcore.quantize", [new_argument],
                              [tensor_type(list(ir.RankedTensorType(argument.type).shape),
                                           int_type(signed_width(act_low, act_high)))],
                              {"frac_bits": i64_attr(in_frac), "min": i64_attr(act_low),
                               "max": i64_attr(act_high)}, function.location)
                lowering.quantized[argument] = (q.results[0], in_frac, (act_low, act_high))
            for op in ops:
                if op in lowering.absorbed:
                    if op in fake_quants:  # done by the hardcore.quantize
                        lowering.quantized[op.results[0]] = lowering.quantized[op.operands[0]]
                    continue
                if op.operation.name == "func.return":
                    outs = []
                    for operand, result_type in zip(op.operands, function.type.results):
                        value, frac, _ = lowering.quantized[operand]
                        outs.append(create_op("hardcore.dequantize", [value], [result_type],
                                              {"frac_bits": i64_attr(frac)}, op.location).results[0])
                    create_op("func.return", outs, [], None, op.location)
                elif not LOWERINGS[op.operation.name](lowering, op):
                    return False
        function.operation.erase()
        return True

    def _check_layer_settings(self, function, ops) -> bool:
        """Every layer the config names exists and has what the config sets."""
        layers = [op for op in ops if op.operation.name in FLOAT_LAYER_OPS]
        ok = True
        for index, names in sorted(self.quant.named.items()):
            if index >= len(layers):
                self.error(function, f"hardcore-quantize: the quantization config sets layer {index}, but the "
                           f"model has {len(layers)} layers (0 to {len(layers) - 1})")
                ok = False
                continue
            name = layers[index].operation.name
            allowed = _LAYER_SETTINGS.get(name, ())
            if WEIGHT_FRAC_BITS in layers[index].attributes:
                allowed = ("act_bits", "act_percentile", "reuse")
            wrong = [n for n in names if n not in allowed]
            if wrong:
                self.error(layers[index], f"hardcore-quantize: the quantization config sets {wrong[0]} of "
                           f"layer {index}, {_LAYER_KINDS[name]}")
                ok = False
        return ok


def _already_quantized(function) -> bool:
    """Integer layer ops (a `hardcore.quantize`) or a DAG (integer results): nothing to quantize.

    A function of token ids has an integer input but float layer ops and a float result.
    """
    if any(isinstance(t, ir.RankedTensorType) and isinstance(t.element_type, ir.IntegerType)
           for t in function.type.results):
        return True
    return any(op.operation.name == "hardcore.quantize" for op in body_ops(function))
