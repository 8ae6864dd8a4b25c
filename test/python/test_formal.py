"""hardcore verify --formal: Z3 proves the folded DAG equal to the quantized layer ops, layer by layer.

A proof covers every input in the layer's input range with the hardware's
fixed-width semantics; a broken graph (a shift changed, an adder narrowed, a
table entry changed) must come back as a counterexample that the hardware
semantics reproduce.  Times are printed (`pytest -s`).
"""

import re
import sys
import time

import numpy as np
import pytest
import torch
from torch import nn
from torch_mlir import ir

import hardcore
from hardcore import formal
from hardcore.cli import main
from hardcore.interpreter import find_function, run_function
from hardcore.irutil import array_attr, body_ops, dense_attr, int_type
from hardcore.mlir import new_context, parse_module
from hardcore.pipeline import run_pipeline

from conftest import extreme_inputs


def quantized_dense(n: int, m: int, seed: int = 0, relu: bool = True, shift: int = 7) -> str:
    """The IR after hardcore-quantize of one dense layer: random dense int8 weights, int8 input."""
    rng = np.random.default_rng(seed)
    weight = rng.integers(-128, 128, size=(m, n))
    bias = rng.integers(-2000, 2000, size=m)
    rows = ", ".join("[" + ", ".join(map(str, row)) + "]" for row in weight)
    low, high = (0, 255) if relu else (-128, 127)
    relu_op = f'  %r = "hardcore.relu"(%1) : (tensor<{m}xi32>) -> tensor<{m}xi32>\n' if relu else ""
    return f'''func.func @layer(%arg0: tensor<{n}xf32>) -> tensor<{m}xf32> {{
  %0 = "hardcore.quantize"(%arg0) {{frac_bits = 4 : i64, min = -128 : i64, max = 127 : i64}} : (tensor<{n}xf32>) -> tensor<{n}xi8>
  %1 = "hardcore.dense"(%0) {{weight = dense<[{rows}]> : tensor<{m}x{n}xi8>, bias = dense<[{", ".join(map(str, bias))}]> : tensor<{m}xi64>}} : (tensor<{n}xi8>) -> tensor<{m}xi32>
{relu_op}  %2 = "hardcore.requant"({"%r" if relu else "%1"}) {{shift = {shift} : i64, min = {low} : i64, max = {high} : i64}} : (tensor<{m}xi32>) -> tensor<{m}xi16>
  %3 = "hardcore.dequantize"(%2) {{frac_bits = 4 : i64}} : (tensor<{m}xi16>) -> tensor<{m}xf32>
  return %3 : tensor<{m}xf32>
}}
'''


def fold(quantized: str, algorithm: str = "cse") -> str:
    module = parse_module(quantized, new_context())
    return run_pipeline(module, f"hardcore-fold-weights{{algorithm={algorithm}}}").text()


def timed_verify(quantized: str, dag: str, label: str, **options) -> formal.FormalReport:
    started = time.monotonic()
    report = formal.verify(quantized, dag, **options)
    print(f"\n{label}: {time.monotonic() - started:.2f} s\n{report.summary()}")
    return report


def statuses(report: formal.FormalReport) -> list[str]:
    return [layer.status for layer in report.layers]


def run_dag(dag: str, inputs) -> np.ndarray:
    """The DAG's outputs with hardware semantics (values wrap at their widths)."""
    module = parse_module(dag, new_context())  # kept alive while its function runs
    return formal.evaluate_dag(find_function(module.operation), np.asarray(inputs))


def run_quantized(quantized: str, inputs) -> np.ndarray:
    module = parse_module(quantized, new_context())
    return run_function(find_function(module.operation), np.asarray(inputs), from_quantized=True).reshape(
        len(inputs), -1)


def retype(dag: str, name: str, width: int) -> str:
    """The DAG with value `name`'s result type narrowed to i`width`, its users' operand types too."""
    lines = dag.split("\n")
    for index, line in enumerate(lines):
        if line.strip().startswith(f"{name} = "):
            lines[index] = re.sub(r"-> i\d+$", f"-> i{width}", line)
        elif re.search(rf"{name}[,)]", line) and '"hardcore.' in line:
            operands = re.search(r'"\((%[^)]*)\)', line).group(1).split(", ")
            signature = re.search(r": \(([^)]*)\) ->", line)
            types = [f"i{width}" if o == name else t for o, t in zip(operands, signature.group(1).split(", "))]
            lines[index] = line[:signature.start(1)] + ", ".join(types) + line[signature.end(1):]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def dense16():
    quantized = quantized_dense(16, 16)
    return quantized, fold(quantized)


def test_proves_a_16x16_int8_layer(dense16):
    quantized, dag = dense16
    report = timed_verify(quantized, dag, "16x16 int8 dense + relu + requant (cse)")
    assert statuses(report) == [formal.PROVEN]
    assert report.layers[0].checked == 16 and report.layers[0].dag_ops > 100
    assert report.exit_code == 0 and report.proven


@pytest.mark.parametrize("relu, algorithm", [(False, "cse"), (True, "csd")])
def test_proves_other_foldings(relu, algorithm):
    quantized = quantized_dense(16, 16, seed=3, relu=relu, shift=6)
    report = timed_verify(quantized, fold(quantized, algorithm), f"16x16 relu={relu} {algorithm}")
    assert statuses(report) == [formal.PROVEN]


def test_a_changed_shift_is_a_counterexample(dense16):
    quantized, dag = dense16
    shifts = [m for m in re.finditer(r'"hardcore.shl"\(%\d+\) \{amount = (\d) : i64\}', dag)]
    target = next(m for m in shifts if m.group(1) == "3")
    broken = dag[:target.start(1)] + "2" + dag[target.end(1):]  # x << 3 becomes x << 2: still fits its type
    report = timed_verify(quantized, broken, "16x16 with one shl 3 -> 2")
    layer = report.layers[0]
    assert layer.status == formal.COUNTEREXAMPLE and report.exit_code == 1
    assert layer.reason == "the folded layer computes another function"
    # The counterexample is real: the broken circuit and the quantized layer, run on it, differ there.
    circuit, expected = run_dag(broken, [layer.inputs])[0], run_quantized(quantized, [layer.inputs])[0]
    assert list(circuit) == layer.circuit and list(expected) == layer.expected
    assert layer.mismatches == [i for i in range(16) if circuit[i] != expected[i]] != []
    assert list(run_dag(dag, [layer.inputs])[0]) == layer.expected  # the unbroken DAG gets it right


def test_a_narrowed_adder_is_an_overflow_counterexample(dense16):
    quantized, dag = dense16
    match = re.search(r'(%\d+) = "hardcore.add"\(.*-> i(\d+)$', dag, re.M)
    broken = retype(dag, match.group(1), int(match.group(2)) - 3)
    report = timed_verify(quantized, broken, f"16x16 with adder {match.group(1)} 3 bits narrower")
    layer = report.layers[0]
    assert layer.status == formal.COUNTEREXAMPLE
    assert re.fullmatch(rf"dag:\d+:\d+: 'hardcore.add' of type i{int(match.group(2)) - 3} reaches -?\d+, "
                        rf"outside \[-\d+, \d+\]", layer.reason), layer.reason
    circuit, expected = run_dag(broken, [layer.inputs])[0], run_quantized(quantized, [layer.inputs])[0]
    assert list(circuit) == layer.circuit != list(expected)


def test_evaluate_dag_is_the_interpreter_while_nothing_overflows(dense16, rng):
    quantized, dag = dense16
    inputs = np.concatenate([extreme_inputs(16, -128, 127), rng.integers(-128, 128, size=(200, 16))])
    assert np.array_equal(run_dag(dag, inputs), run_quantized(quantized, inputs))


def test_mlp_every_layer_proven(mlp_circuit, tmp_path, capsys):
    report = timed_verify(mlp_circuit.stages["quantized"], mlp_circuit.stages["dag"], "16-64-32-5 MLP")
    assert statuses(report) == [formal.PROVEN] * 3
    assert [layer.kind for layer in report.layers] == ["linear 16->64", "linear 64->32", "linear 32->5"]
    mlp_circuit.write(tmp_path)
    capsys.readouterr()
    assert main(["verify", "--formal", str(tmp_path), "-q"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "3 layers: 3 proven"
    assert lines[0].startswith("layer 0 (linear 16->64): proven: 64 outputs, ")


def test_pipelined_mlp_proven(trained_mlp):
    model, (inputs, _) = trained_mlp
    circuit = hardcore.compile(model, torch.zeros(1, 16), calibration=inputs[:512].numpy(), max_adder_depth=2)
    assert "hardcore.reg" in circuit.stages["pipelined"]
    report = timed_verify(circuit.stages["quantized"], circuit.stages["pipelined"], "pipelined MLP (registers)")
    assert statuses(report) == [formal.PROVEN] * 3


def cnn():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(36, 6), nn.Sigmoid(), nn.Linear(6, 3)).eval()


@pytest.fixture(scope="module")
def cnn_circuit():
    calibration = np.random.default_rng(0).normal(size=(64, 1, 6, 6))
    return hardcore.compile(cnn(), torch.zeros(1, 1, 6, 6), calibration=calibration, output="argmax")


def test_maxpool_table_and_argmax_proven(cnn_circuit):
    dag = cnn_circuit.stages["dag"]
    assert all(f'"hardcore.{name}"' in dag for name in ("max", "table", "pick", "clamp"))
    report = timed_verify(cnn_circuit.stages["quantized"], dag, "conv, relu, maxpool, linear, sigmoid table, argmax")
    assert statuses(report) == [formal.PROVEN] * 6
    assert [(layer.index, layer.kind) for layer in report.layers] == [
        (0, "conv2d 1->4 3x3 padding 1, 6x6->6x6 positions (dense 144x36)"),
        (1, "maxpool2d 2x2, 4 channels 6x6->3x3 positions"), (2, "linear 36->6"),
        (2, "sigmoid, 256 entries, frac bits 6 -> 8"), (3, "linear 6->3"), (4, "argmax of 3")]
    assert report.layers[3].method.startswith("enumerated ")


def test_a_changed_table_entry_is_a_counterexample(cnn_circuit):
    quantized = cnn_circuit.stages["quantized"]
    module = parse_module(cnn_circuit.stages["dag"], new_context())
    with module.context, ir.Location.unknown():
        table = next(op for op in body_ops(find_function(module.operation)) if op.operation.name == "hardcore.table")
        entries = array_attr(table, "table")
        entries[len(entries) // 2] += 1
        table.attributes["table"] = dense_attr(entries, int_type(64))
    report = timed_verify(quantized, str(module), "one table entry + 1")
    assert statuses(report) == [formal.PROVEN] * 3 + [formal.COUNTEREXAMPLE] + [formal.PROVEN] * 2
    layer = report.layers[3]
    assert layer.reason == "the folded step computes another function" and len(layer.mismatches) == 1
    (i,) = layer.mismatches
    assert layer.circuit[layer.outputs.index(i)] == layer.expected[layer.outputs.index(i)] + 1


def test_too_large_layers_are_skipped(dense16):
    quantized, dag = dense16
    report = formal.verify(quantized, dag, max_weights=100)
    layer = report.layers[0]
    assert layer.status == formal.TOO_LARGE
    assert re.fullmatch(r"\d+ nonzero weights, \d+ DAG ops \(limit 100 weights, 400 ops\)", layer.reason)
    assert report.exit_code == 3  # nothing checked: not proven


def test_a_timeout_is_unknown(mlp_circuit):
    report = formal.verify(mlp_circuit.stages["quantized"], mlp_circuit.stages["dag"], timeout=1e-4)
    assert formal.UNKNOWN in statuses(report) and report.exit_code == 3
    assert any(re.search(r"Z3 gave up .* within the 0.0001 s limit", layer.reason) for layer in report.layers)


def test_cli_errors(dense16, tmp_path, capsys):
    quantized, dag = dense16
    (tmp_path / "q.mlir").write_text(quantized)
    (tmp_path / "d.mlir").write_text(dag)
    assert main(["verify", str(tmp_path)]) == 2
    assert capsys.readouterr().err.endswith("error: verify: choose a method: --formal (the only one so far)\n")
    assert main(["verify", "--formal", "--quantized", str(tmp_path / "d.mlir"), "--dag", str(tmp_path / "d.mlir")]) == 1
    assert capsys.readouterr().err == (f"hardcore: error: {tmp_path / 'd.mlir'}: @layer does not start with "
                                       "hardcore.quantize (expected the IR after hardcore-quantize)\n")
    assert main(["verify", "--formal", "--quantized", str(tmp_path / "q.mlir"), "--dag", str(tmp_path / "d.mlir"),
                 "--timeout", "0"]) == 2
    assert main(["verify", "--formal", "--quantized", str(tmp_path / "q.mlir"), "--dag", str(tmp_path / "d.mlir"),
                 "-q"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "1 layers: 1 proven"


# -- graphs, per-element shifts ---------------------------------------------------------------
def _graph_model(name: str):
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    import test_graph
    return test_graph.compiled(name)[2]


@pytest.mark.parametrize("name", ["residual", "concat", "mean", "permute"])
def test_graph_models_proven(name):
    """test_graph's models: residual add, concat chains, means, permutes (gather) all proven."""
    circuit = _graph_model(name)
    report = timed_verify(circuit.stages["quantized"], circuit.stages["dag"], f"graph model {name}")
    assert report.proven and report.exit_code == 0, report.summary()
    assert all(layer.status == formal.PROVEN for layer in report.layers)


def test_a_residual_add_turned_into_a_sub_is_a_counterexample():
    circuit = _graph_model("residual")
    quantized, dag = circuit.stages["quantized"], circuit.stages["dag"]
    defs = {m.group(1): (m.group(2), m.group(3)) for m in re.finditer(r'(%\d+) = "hardcore\.(\w+)"\(([^)]*)\)', dag)}

    def reads_x(value, depth=2):  # an extract of the input, or a shift of one
        kind, args = defs.get(value, (None, ""))
        return kind == "extract" or depth > 0 and kind in ("shl", "sext") and reads_x(args.strip(), depth - 1)
    # The last adder with an input element as an operand: the skip path's adder of the residual add.
    name = [n for n, (kind, args) in defs.items() if kind == "add" and any(reads_x(a.strip()) for a in args.split(","))][-1]
    broken = dag.replace(f'{name} = "hardcore.add"', f'{name} = "hardcore.sub"')
    assert broken != dag
    report = timed_verify(quantized, broken, "residual with one adder of the add turned into a sub")
    assert statuses(report)[:3] == [formal.PROVEN, formal.PROVEN, formal.COUNTEREXAMPLE]
    layer = report.layers[2]
    assert layer.kind == "residual add 2x3x3" and report.exit_code == 1
    assert len(layer.inputs) == 36  # the second convolution's 18 outputs, then the 18 input elements
    assert layer.mismatches and all(layer.circuit[layer.outputs.index(i)] != layer.expected[layer.outputs.index(i)]
                                    for i in layer.mismatches)


def _per_channel_circuit():
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    from test_quant_config import uneven_rows
    return hardcore.compile(uneven_rows(), torch.zeros(1, 6), weight_bits=4, weight_scale="per-channel")


def test_per_channel_shifts_proven_and_a_changed_shift_caught():
    circuit = _per_channel_circuit()
    quantized, dag = circuit.stages["quantized"], circuit.stages["dag"]
    match = re.search(r"shift = dense<\[(-?\d+), (-?\d+)", quantized)
    assert match and match.group(1) != match.group(2), "expected a per-element shift array"
    report = timed_verify(quantized, dag, "per-channel 6->4->3")
    assert statuses(report) == [formal.PROVEN, formal.PROVEN]
    # One element's shift one larger in the quantized IR: the DAG (folded with the old one) differs.
    broken = quantized[:match.start(2)] + str(int(match.group(2)) + 1) + quantized[match.end(2):]
    report = timed_verify(broken, dag, "per-channel with shift[1] + 1")
    layer = report.layers[0]
    assert layer.status == formal.COUNTEREXAMPLE and report.exit_code == 1
    assert 1 in layer.mismatches


GRAPH_ERRORS = [
    ('"hardcore.add_tensors"(%6, %8) {hardcore.kind = "residual add 2x3x3"} : (tensor<18xi8>, tensor<18xi9>)',
     '"hardcore.add_tensors"(%6, %x) {hardcore.kind = "residual add 2x3x3"} : (tensor<18xi8>, tensor<9xi9>)',
     r"^quantized:\d+:\d+: operands of \[18, 9\] elements for 18 \(no broadcasting\)$"),
]


@pytest.mark.parametrize("old, new, message", GRAPH_ERRORS)
def test_unsupported_graph_ops_are_errors(old, new, message):
    circuit = _graph_model("residual")
    quantized = re.sub(r" loc\([^)]*\)", "", circuit.stages["quantized"])
    assert old in quantized
    quantized = quantized.replace(old, new)
    if "%x" in new:
        quantized = quantized.replace('    %9 = "hardcore.add_tensors"',
                                      '    %x = "hardcore.gather"(%8) {indices = dense<[0, 1, 2, 3, 4, 5, 6, 7, 8]> : '
                                      'tensor<9xi64>} : (tensor<18xi9>) -> tensor<9xi9>\n    %9 = "hardcore.add_tensors"')
    with pytest.raises(hardcore.CompileError, match=message):
        formal.verify(quantized, circuit.stages["dag"])


DIFFERENCE_TABLE = ", ".join(str(min(max(2 * v, -128), 127)) for v in range(-128, 128))
DIFFERENCE = f'''func.func @difference(%arg0: tensor<16xf32>) -> tensor<8xf32> {{
  %0 = "hardcore.quantize"(%arg0) {{frac_bits = 4 : i64, min = -128 : i64, max = 127 : i64}} : (tensor<16xf32>) -> tensor<16xi8>
  %1 = "hardcore.gather"(%0) {{indices = dense<[0, 1, 2, 3, 4, 5, 6, 7]> : tensor<8xi64>}} : (tensor<16xi8>) -> tensor<8xi8>
  %2 = "hardcore.lut"(%1) {{min = -128 : i64, table = dense<[{DIFFERENCE_TABLE}]> : tensor<256xi64>}} : (tensor<8xi8>) -> tensor<8xi8>
  %3 = "hardcore.gather"(%0) {{indices = dense<[8, 9, 10, 11, 12, 13, 14, 15]> : tensor<8xi64>}} : (tensor<16xi8>) -> tensor<8xi8>
  %4 = "hardcore.sub_tensors"(%2, %3) : (tensor<8xi8>, tensor<8xi8>) -> tensor<8xi9>
  %5 = "hardcore.requant"(%4) {{shift = 1 : i64, min = -128 : i64, max = 127 : i64}} : (tensor<8xi9>) -> tensor<8xi8>
  %6 = "hardcore.dense"(%5) {{weight = dense<{(3 * np.eye(8, dtype=int)).tolist()}> : tensor<8x8xi8>, bias = dense<0> : tensor<8xi64>}} : (tensor<8xi8>) -> tensor<8xi32>
  %7 = "hardcore.requant"(%6) {{shift = 2 : i64, min = -128 : i64, max = 127 : i64}} : (tensor<8xi32>) -> tensor<8xi8>
  %8 = "hardcore.dequantize"(%7) {{frac_bits = 4 : i64}} : (tensor<8xi8>) -> tensor<8xf32>
  return %8 : tensor<8xf32>
}}
'''


def test_a_difference_saturating_only_at_a_corner_proven():
    """A GRU's `h - n` (issue 16): `(a - b + 1) >> 1` saturates only at a = 127, b = -128, so the value
    before its clamp matches the difference on the box's plain corners (a and b of one parity) and
    on random points; the corners where each difference is largest tell them apart, and the cut is
    the clamp."""
    dag = fold(DIFFERENCE)
    assert '"hardcore.clamp"' in dag
    report = timed_verify(DIFFERENCE, dag, "table - input, requant shift 1")
    assert statuses(report) == [formal.PROVEN] * 3 and report.exit_code == 0
    # The corner that saturates: table(64) = 127, minus -128; the circuit clamps it as the layer does.
    inputs = [[64] * 8 + [-128] * 8]
    assert run_dag(dag, inputs).tolist() == run_quantized(DIFFERENCE, inputs).tolist() == [[95] * 8]


def test_a_gru_classifier_has_no_counterexample(tmp_path, capsys):
    """`hardcore compile` of a GRU over 8 steps and a linear head, then `hardcore verify --formal`: every
    layer proven but the gates' products (not covered)."""
    model_file = tmp_path / "model.py"
    model_file.write_text("import torch\n\n\nclass Gru(torch.nn.Module):\n    def __init__(self):\n"
                          "        super().__init__()\n        torch.manual_seed(0)\n"
                          "        self.rnn = torch.nn.GRU(4, 8, batch_first=True)\n"
                          "        self.head = torch.nn.Linear(8, 3)\n\n"
                          "    def forward(self, x):\n        return self.head(self.rnn(x)[0][:, -1])\n")
    out = tmp_path / "gru"
    assert main(["compile", f"{model_file}:Gru", "--input-shape", "1,8,4", "-o", str(out), "-q"]) == 0
    capsys.readouterr()
    assert main(["verify", "--formal", str(out), "-q"]) == 3
    assert capsys.readouterr().out.splitlines()[-1] == "95 layers: 80 proven, 15 not covered"
