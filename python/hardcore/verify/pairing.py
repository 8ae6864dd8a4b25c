"""Float layer IR to quantized IR: the float ops grouped as hardcore-quantize groups them, each group paired
with the quantized op that ends it (`check_quantize` compares each pair).
"""

from __future__ import annotations

from torch_mlir import ir

from hardcore.irutil import body_ops


def _single_user(value):
    uses = list(value.uses)
    return uses[0].owner if len(uses) == 1 else None


def _is_clamp(op) -> bool:
    return op is not None and op.operation.name == "hardcore.activation" and \
        ir.StringAttr(op.attributes["fn"]).value == "clamp"


def _is_fake_quant(op) -> bool:
    return op is not None and op.operation.name == "hardcore.activation" and \
        ir.StringAttr(op.attributes["fn"]).value == "fake_quant"


def _input_fake_quant(function, index: int = 0):
    """The fake_quant input `index` reaches through reshapes only, each the only user of the one before
    (hardcore-quantize takes the input's scale from it and emits nothing for it); or None."""
    value = function.regions[0].blocks[0].arguments[index]
    while (user := _single_user(value)) is not None and user.operation.name == "hardcore.reshape":
        value = user.results[0]
    user = _single_user(value)
    return user if _is_fake_quant(user) else None


def _float_layers(function) -> list[list]:
    """The float ops grouped as hardcore-quantize groups them: one group per quantized layer output.

    A dense layer takes its ReLU or clamp and then a fake_quant (QAT) that is
    the only user; an average pool, a residual add and a subtraction their ReLU.
    """
    groups, absorbed = [], set()
    for op in body_ops(function):
        name = op.operation.name
        if name == "func.return" or op in absorbed:
            continue
        group = [op]
        if name in ("hardcore.dense", "hardcore.avgpool", "hardcore.add_tensors", "hardcore.sub_tensors"):
            follower = _single_user(op.results[0])
            if follower is not None and follower.operation.name == "hardcore.relu":
                group.append(follower)
            elif name == "hardcore.dense" and _is_clamp(follower):
                group.append(follower)
            if name == "hardcore.dense" and not _is_clamp(group[-1]) and \
                    _is_fake_quant(follower := _single_user(group[-1].results[0])):
                group.append(follower)
        absorbed.update(group)
        groups.append(group)
    return groups


def _ends_group(group, op, seen_core: bool) -> bool:
    """Whether quantized `op` is the one whose result stands for float `group`'s result.

    hardcore-quantize emits each group's ops in order and contiguously: a dense
    or average pool (with its ReLU) and a clamp end in their requant, an
    activation in its table or requant, a residual add or a subtraction in the
    requant after the add (the requants before it align the operands), a
    product in the requant after it, a concat in the concat (the requants
    before it rescale the operands), a softmax in its qsoftmax, a layer norm in
    its qnorm, every other op in itself.  `seen_core`: the integer op of the
    float op's name (the add, the product) came before `op`.
    """
    first, name = group[0].operation.name, op.operation.name
    if first in ("hardcore.dense", "hardcore.avgpool"):
        return name == "hardcore.requant"
    if first == "hardcore.activation":
        return name in ("hardcore.requant", "hardcore.lut")
    if first in _REQUANTIZED_OPS:
        return seen_core and name == "hardcore.requant"
    return name == _QUANTIZED_NAME.get(first, first)


# Graph ops: several operands, each brought to one scale by the pass (requants before the op).
_GRAPH_OPS = ("hardcore.add_tensors", "hardcore.sub_tensors", "hardcore.concat")
# Products of two activations: exact, then requantized.
_PRODUCT_OPS = ("hardcore.mul_tensors", "hardcore.matmul")
# Float ops whose integer op of the same name is followed by the requant that ends the group.
_REQUANTIZED_OPS = ("hardcore.add_tensors", "hardcore.sub_tensors") + _PRODUCT_OPS
# Float ops that become an integer op of another name.
_QUANTIZED_NAME = {"hardcore.softmax": "hardcore.qsoftmax", "hardcore.layernorm": "hardcore.qnorm"}


def _pair_layers(groups, function, input_fake_quants) -> list | None:
    """The quantized op ending each float group (the pairing through the DAG); None if they do not pair.

    The inputs' fake_quants (`input_fake_quants`) have no op of their own: None stands for each.
    """
    ops = [op for op in body_ops(function) if op.operation.name not in
           ("hardcore.quantize", "hardcore.dequantize", "func.return")]
    pairs, position = [], 0
    for group in groups:
        if group[0] in input_fake_quants:
            pairs.append(None)
            continue
        seen_core = False
        while position < len(ops) and not _ends_group(group, ops[position], seen_core):
            seen_core = seen_core or ops[position].operation.name == group[0].operation.name
            position += 1
        if position == len(ops):
            return None
        pairs.append(ops[position])
        position += 1
    return pairs if position == len(ops) else None
