"""PyTorch model -> torch-dialect MLIR in a hardcore context (via torch-mlir's FX importer)."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import importlib.util
import inspect
import logging
import sys
from pathlib import Path

import torch
from torch_mlir import fx, ir
from torch_mlir.extras.fx_importer import FxImporter

from hardcore.errors import CompileError, UsageError
from hardcore.recurrent.unroll import unroll

__all__ = ["import_model", "example_inputs", "load_model_file"]


# Dropouts in eval mode (train=False) are the identity.  torch-mlir imports only
# aten.dropout; the others (Dropout1d/2d/3d, AlphaDropout) would stop the import.
_DROPOUTS = ("dropout", "feature_dropout", "alpha_dropout", "feature_alpha_dropout")
# Kept as one op each for hardcore-import, instead of torch-mlir's decompositions.  A dropout
# that is left (in training mode) stays one op that hardcore-import refuses by name, not
# random-number ops.
_BACKEND_LEGAL_OPS = ["aten.linear", "aten.batch_norm", "aten.mean.dim", "aten.dropout"]
# Fake quantization (quantization-aware training) kept whole: its scale sets the circuit's
# (hardcore-import); decomposed it would be a division, a rounding and a clamp.
_FAKE_QUANT_LEGAL_OPS = ["aten.fake_quantize_per_tensor_affine", "aten.fake_quantize_per_channel_affine"]
# Activations kept whole too: torch-mlir would decompose them into minimum/maximum
# and arithmetic, which hardcore-import would have to match back into functions.
_ACTIVATION_LEGAL_OPS = ["aten.hardtanh", "aten.relu6", "aten.clamp_min", "aten.clamp_max",
                         "aten.leaky_relu", "aten.hardsigmoid", "aten.hardswish", "aten.gelu", "aten.silu",
                         "aten.elu", "aten.prelu", "aten.threshold", "aten.softplus"]
# Sequence models' ops kept whole: decomposed, a LayerNorm is mean/var/rsqrt, a softmax
# max/sub/exp/sum/div and attention matmul/broadcast/mul, which hardcore-import would have
# to match back (docs/dialect.md, "Sequence models").
_SEQUENCE_LEGAL_OPS = ["aten.layer_norm", "aten.rms_norm", "aten.softmax.int", "aten._softmax",
                       "aten.scaled_dot_product_attention", "aten.embedding"]
# In-place activations (nn.ReLU(inplace=True), Hardswish(inplace=True), F.relu_ ...), and the
# masked_fill_ nn.MultiheadAttention builds a float mask with: torch.export keeps them and
# torch-mlir cannot import them on value tensors.
_IN_PLACE_OPS = ("relu", "hardtanh", "leaky_relu", "hardsigmoid", "hardswish", "sigmoid", "tanh",
                         "clamp", "clamp_min", "clamp_max", "gelu", "silu", "masked_fill")


@contextlib.contextmanager
def _quiet_torch_logging():
    """torch.export logs a failure (warnings, tracebacks) before raising it; the exception is the one message."""
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        yield
    finally:
        logging.disable(previous)


def _first_line(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": ")


def example_inputs(model, example_input) -> tuple:
    """`example_input` as the tuple of tensors `model` is called with: a tensor is one input.

    A tuple or list holds one tensor per input of the model's `forward`;
    anything else, or a tuple whose length the `forward` cannot take, is a
    UsageError naming what `forward` takes (torch.export's own message would
    be about the first tensor attribute it reads).
    """
    inputs = tuple(example_input) if isinstance(example_input, (tuple, list)) else (example_input,)
    for index, value in enumerate(inputs):
        if not isinstance(value, torch.Tensor):
            where = f" element {index}" if isinstance(example_input, (tuple, list)) else ""
            raise UsageError(f"compile: example_input{where} must be a torch.Tensor, got {type(value).__name__}")
    if not inputs:
        raise UsageError("compile: example_input is an empty tuple; give one tensor per input of the model")
    forward = model.forward if isinstance(model, torch.nn.Module) else None
    try:
        parameters = list(inspect.signature(forward).parameters.values()) if forward is not None else None
    except (TypeError, ValueError):  # a builtin or C forward: torch.export checks the call
        parameters = None
    if parameters is not None and not any(p.kind == p.VAR_POSITIONAL for p in parameters):
        positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        required = [p for p in positional if p.default is p.empty]
        if not len(required) <= len(inputs) <= len(positional):
            names = ", ".join(p.name for p in positional)
            count = len(required) if len(required) == len(positional) else f"{len(required)} to {len(positional)}"
            raise UsageError(f"compile: the model's forward({names}) takes {count} input"
                             f"{'s' if count != 1 else ''}, got an example_input of {len(inputs)} tensor"
                             f"{'s' if len(inputs) != 1 else ''}")
    return inputs


def import_model(model, example_input, context: ir.Context) -> ir.Module:
    """Export `model` (an nn.Module or a torch.export ExportedProgram) to the torch dialect.

    `example_input` is a float tensor, or an int64 tensor of token ids for a model that
    starts with an embedding (`torch.zeros(1, T, dtype=torch.long)`); a model with
    several inputs takes a tuple of tensors, one per input (`example_inputs`).
    `aten.linear`, `aten.batch_norm`, fake quantization, the activations and the
    sequence models' ops (LayerNorm, softmax, attention, embedding) are kept
    legal so each layer stays one op (see hardcore-import); eval-mode dropouts are
    removed from the exported graph, torch.ao fake quantizers are frozen at their
    scales first (`_FrozenFakeQuantize`), and nn.RNN, nn.GRU and nn.LSTM are written
    out over the sequence (`hardcore.recurrent.unroll`: torch-mlir cannot import them).
    """
    inputs = example_inputs(model, example_input)
    if isinstance(model, torch.nn.Module):
        model = unroll(model)  # its own errors name the module, not torch-mlir
    try:
        if isinstance(model, torch.nn.Module):
            model = _freeze_fake_quantizers(model)
            with torch.no_grad(), _quiet_torch_logging():
                program = torch.export.export(model.eval(), inputs, strict=False)
        else:
            program = model
        _remove_eval_dropouts(program.graph_module)
        _functionalize_activations(program.graph_module)
        # results the model computes and never returns (a stacked RNN's h_n when only its
        # sequence is read) are not imported: torch.export keeps them
        program.graph_module.graph.eliminate_dead_code()
        with torch.no_grad():
            return fx.export_and_import(
                program, output_type="torch", decomposition_table={},
                backend_legal_ops=(_BACKEND_LEGAL_OPS + _FAKE_QUANT_LEGAL_OPS + _ACTIVATION_LEGAL_OPS
                                   + _SEQUENCE_LEGAL_OPS),
                fx_importer=FxImporter(context=context))
    except Exception as exc:  # torch.export reports model problems as many exception types
        shapes = " and ".join(str(list(x.shape)) for x in inputs)
        raise CompileError(f"torch-mlir could not import the model for an input{'s' if len(inputs) > 1 else ''} "
                           f"of shape{'s' if len(inputs) > 1 else ''} {shapes}: {_first_line(exc)}") from None


class _FrozenFakeQuantize(torch.nn.Module):
    """A torch.ao fake quantizer at its current scale and zero point (its `scale` and
    `zero_point` buffers), its observer off.

    torch.ao's FakeQuantize modules decide in Python whether to observe and
    whether to fake-quantize (`if self.observer_enabled[0] == 1`), which
    torch.export cannot trace; an inference never observes, so this module
    calls the fake-quantize function the trained module would call.
    """

    def __init__(self, quantizer):
        super().__init__()
        self.quant_min, self.quant_max = int(quantizer.quant_min), int(quantizer.quant_max)
        self.axis = int(getattr(quantizer, "ch_axis", -1))
        scale, zero_point = quantizer.scale, quantizer.zero_point  # what its forward uses
        if quantizer.qscheme == torch.per_channel_affine_float_qparams:
            raise ValueError("fake quantization with float zero points (per_channel_affine_float_qparams) "
                             "is not supported")
        self.per_channel = quantizer.qscheme in (torch.per_channel_symmetric, torch.per_channel_affine) \
            or scale.numel() > 1
        if self.per_channel:
            self.register_buffer("scale", scale.detach().to(torch.float32).clone())
            self.register_buffer("zero_point", zero_point.detach().to(torch.int32).clone())
        else:  # Python numbers: export traces no tensor-to-number conversion
            self.scale = float(scale.reshape(-1)[0])
            self.zero_point = int(zero_point.reshape(-1)[0])

    def forward(self, x):
        if self.per_channel:
            return torch.fake_quantize_per_channel_affine(x, self.scale, self.zero_point, self.axis,
                                                          self.quant_min, self.quant_max)
        return torch.fake_quantize_per_tensor_affine(x, self.scale, self.zero_point, self.quant_min, self.quant_max)


def _freeze_fake_quantizers(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of `model` whose torch.ao fake quantizers are `_FrozenFakeQuantize` (or nothing when
    disabled); `model` itself when it has none."""
    from torch.ao.quantization import FakeQuantizeBase

    if not any(isinstance(m, FakeQuantizeBase) for m in model.modules()):
        return model
    model = copy.deepcopy(model)
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, FakeQuantizeBase):
                enabled = bool(child.fake_quant_enabled[0])
                setattr(parent, name, _FrozenFakeQuantize(child) if enabled else torch.nn.Identity())
    return model


def _remove_eval_dropouts(graph_module: torch.fx.GraphModule) -> None:
    targets = {getattr(torch.ops.aten, name).default for name in _DROPOUTS}
    graph = graph_module.graph
    for node in list(graph.nodes):
        if node.op == "call_function" and node.target in targets:
            train = node.args[2] if len(node.args) > 2 else node.kwargs.get("train")
            if train is False:
                node.replace_all_uses_with(node.args[0])
                graph.erase_node(node)
    graph_module.recompile()


def _returns_alias(target) -> bool:
    """Whether an op's result may share memory with an operand (views, in-place ops); True if unknown."""
    schema = getattr(target, "_schema", None)
    return schema is None or any(ret.alias_info is not None for ret in schema.returns)


def _functionalize_activations(graph_module: torch.fx.GraphModule) -> None:
    """In-place activations become their functional form, and later readers of the mutated
    tensor read the result instead.  Only where the tensor is a plain intermediate value:
    not an input or parameter (a mutation the caller sees) and not a view or an in-place
    result (a mutation of another tensor too); those are left for torch-mlir to refuse."""
    graph = graph_module.graph
    in_place = {}
    for name in _IN_PLACE_OPS:
        packet = getattr(torch.ops.aten, name + "_", None)
        if packet is not None:
            for overload in packet.overloads():
                in_place[getattr(packet, overload)] = getattr(getattr(torch.ops.aten, name), overload)
    order = {node: index for index, node in enumerate(graph.nodes)}
    changed = False
    for node in list(graph.nodes):
        if node.op != "call_function" or node.target not in in_place:
            continue
        source = node.args[0]
        if not isinstance(source, torch.fx.Node) or source.op != "call_function" or _returns_alias(source.target):
            continue
        for user in list(source.users):
            if user is not node and order[user] > order[node]:
                user.replace_input_with(source, node)
        node.target = in_place[node.target]
        changed = True
    if changed:
        graph_module.recompile()


def load_model_file(spec: str):
    """`path/model.py:ClassName` -> an instance; `path/model.pt2` -> an ExportedProgram."""
    path_text, _, class_name = spec.partition(":") if not spec.endswith(".pt2") else (spec, "", "")
    path = Path(path_text)
    if not path.exists():
        raise UsageError(f"{path}: no such model file")
    try:
        with open(path, "rb") as stream:
            stream.read(1)
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the model file: {exc.strerror}") from None
    if path.suffix == ".pt2":
        try:
            with _quiet_torch_logging():
                return torch.export.load(str(path))
        except Exception as exc:
            raise CompileError(f"{path}: cannot load the exported program: {_first_line(exc)}") from None
    if path.suffix != ".py" or not class_name:
        raise UsageError(f"{spec}: expected path/model.py:ClassName or path/model.pt2")
    # named by a digest of its path, not hash(): the same in every process (PYTHONHASHSEED)
    module_name = f"_hardcore_model_{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]}"
    loader = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(loader)
    sys.modules[module_name] = module
    try:
        loader.loader.exec_module(module)
    except Exception as exc:
        raise CompileError(f"{path}: error while loading: {_first_line(exc)}") from None
    cls = getattr(module, class_name, None)
    if cls is None:
        raise UsageError(f"{path}: no class '{class_name}'")
    try:
        return cls()
    except Exception as exc:
        raise CompileError(f"{path}:{class_name}(): {type(exc).__name__}: {exc}") from None
