"""Post-training quantization options: activation scales from a percentile, table codes by span.

- `act_percentile`: an output scale comes from that percentile of |x| on the
  calibration inputs instead of the largest |x|; the few values above it
  saturate at the requantization (the circuit stays exact: saturation, never
  overflow).  Per layer in a quant_config; recorded in the circuit's options.
- `table_codes="wide"`: a signed activation table (GELU, tanh) is act-bits + 1
  wide, as an unsigned act-bits output is, and one fractional bit finer
  (docs/dialect.md, "Activations"); a table >= 0 (sigmoid) is unchanged.
Both are off by default, and then change nothing.
"""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import hardcore
from hardcore.cli import main
from hardcore.errors import UsageError
from hardcore.mlir import new_context, parse_module
from hardcore.passes.quantize import QuantizePass, activation_table
from hardcore.pipeline import run_pipeline

torch.set_num_threads(1)


def summing_layer() -> nn.Module:
    """y = 0.75 (x0 + x1): weights exact at 7 fractional bits (code 96)."""
    model = nn.Linear(2, 1).eval()
    with torch.no_grad():
        model.weight.fill_(0.75)
        model.bias.zero_()
    return model


def one_outlier() -> np.ndarray:
    """(t, 0) and (0, t) for 500 t in [-1, 1], and one (1, 1): |x| <= 1 everywhere, |y| <= 0.75 but
    for that one sample, where y = 1.5.  |y|'s 99.9th percentile (of 1001 values) is 0.75."""
    t = np.linspace(-1.0, 1.0, 500)
    zeros = np.zeros_like(t)
    return np.concatenate([np.stack([t, zeros], 1), np.stack([zeros, t], 1), [[1.0, 1.0]]])


def requant_shift(circuit) -> int:
    line = next(line for line in circuit.stages["quantized"].splitlines() if "hardcore.requant" in line)
    return int(line.split("shift = ")[1].split(" ")[0])


def test_percentile_scale_and_an_outlier_saturating():
    x = one_outlier()
    largest = hardcore.compile(summing_layer(), torch.zeros(1, 2), calibration=x)
    percentile = hardcore.compile(summing_layer(), torch.zeros(1, 2), calibration=x, act_percentile=99.9)
    # the input: |x| <= 1 either way, 7 fractional bits
    assert largest.in_frac_bits == percentile.in_frac_bits == 7
    # the output: 1.5 needs 6 fractional bits (1.5 * 64 = 96), 0.75 fits 7 (96)
    assert (largest.out_frac_bits, requant_shift(largest)) == (6, 14 - 6)
    assert (percentile.out_frac_bits, requant_shift(percentile)) == (7, 14 - 7)
    codes = percentile.quantize_input(np.array([[1.0, 1.0], [0.5, 0.0], [-1.0, 0.0]]))
    assert codes.tolist() == [[127, 127], [64, 0], [-128, 0]]
    # the outlier (1, 1): 127 * 96 * 2 = 24384 at 2^-14, 190.5 at 2^-7, saturates to 127
    assert percentile.reference(codes)[:, 0].tolist() == [127, 48, -96]
    assert largest.reference(codes)[:, 0].tolist() == [95, 24, -48]
    assert percentile.options["act_percentile"] == 99.9 and "act_percentile" not in largest.options


def test_percentile_passes_verify_each_and_folds_exactly():
    x = one_outlier()
    circuit = hardcore.compile(summing_layer(), torch.zeros(1, 2), calibration=x, act_percentile=99.9,
                               verify_each=True)
    codes = np.stack(np.meshgrid(np.arange(-128, 128), np.arange(-128, 128)), -1).reshape(-1, 2)
    assert circuit.reference(codes).min() == -128 and circuit.reference(codes).max() == 127


def test_percentile_per_layer_in_a_config():
    x = one_outlier()
    configured = hardcore.compile(summing_layer(), torch.zeros(1, 2), calibration=x,
                                  quant_config={"layers": {"0": {"act_percentile": 99.9}}})
    assert configured.out_frac_bits == 7
    assert configured.options["quant_config"] == {"layers": {"0": {"act_percentile": 99.9}}}


@pytest.mark.parametrize("options, message", [
    ({"act_percentile": 0}, "hardcore-quantize: act-percentile must be a number in (0, 100], got 0"),
    ({"act_percentile": 100.5}, "hardcore-quantize: act-percentile must be a number in (0, 100], got 100.5"),
    ({"quant_config": {"act_percentile": "99"}},
     "quant_config: act_percentile must be a number in (0, 100], got '99'"),
    ({"table_codes": "signed"}, "hardcore-quantize: table-codes must be one of magnitude, wide, got 'signed'"),
])
def test_bad_options(options, message):
    with pytest.raises(UsageError, match="^" + message.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]") + "$"):
        hardcore.compile(summing_layer(), torch.zeros(1, 2), **options)


def test_default_options_change_nothing():
    x = one_outlier()
    plain = hardcore.compile(summing_layer(), torch.zeros(1, 2), calibration=x)
    explicit = hardcore.compile(summing_layer(), torch.zeros(1, 2), calibration=x, act_percentile=None,
                                table_codes="magnitude")
    assert plain.verilog == explicit.verilog and plain.stages["quantized"] == explicit.stages["quantized"]
    assert "act_percentile" not in plain.options and "table_codes" not in plain.options


def test_cli_records_the_options(tmp_path):
    np.save(tmp_path / "calibration.npy", one_outlier())
    torch.save({f"0.{key}": value for key, value in summing_layer().state_dict().items()}, tmp_path / "weights.pt")
    (tmp_path / "model.py").write_text("from torch import nn\n\n\nclass Sum(nn.Sequential):\n"
                                       "    def __init__(self):\n        super().__init__(nn.Linear(2, 1))\n")
    assert main(["compile", f"{tmp_path / 'model.py'}:Sum", "--input-shape", "1,2", "-o", str(tmp_path / "out"),
                 "-q", "--state-dict", str(tmp_path / "weights.pt"), "--calibration",
                 str(tmp_path / "calibration.npy"), "--act-percentile", "99.9", "--table-codes", "wide"]) == 0
    report = json.loads((tmp_path / "out" / "sum.json").read_text())
    assert report["options"]["act_percentile"] == 99.9 and report["options"]["table_codes"] == "wide"
    assert "shift = 7 : i64" in (tmp_path / "out" / "sum.quantized.mlir").read_text()


def test_wide_gelu_table_is_one_bit_finer():
    # x = code / 16 in [-8, 7.94]: GELU in [-0.170, 7.94]
    narrow, narrow_frac, narrow_range = activation_table("gelu", {}, 4, (-128, 127), 8)
    wide, wide_frac, wide_range = activation_table("gelu", {}, 4, (-128, 127), 8, "wide")
    assert (narrow_frac, narrow_range, int(narrow.min()), int(narrow.max())) == (4, (-128, 127), -3, 127)
    assert (wide_frac, wide_range, int(wide.min()), int(wide.max())) == (5, (-256, 255), -5, 254)
    assert wide[128 + 16] == 27  # GELU(1) = 0.841 -> 26.9 at 2^-5 (13.5 -> 13 at 2^-4)
    assert narrow[128 + 16] == 13


def test_wide_leaves_a_table_of_positive_values_alone():
    narrow, narrow_frac, narrow_range = activation_table("sigmoid", {}, 4, (-128, 127), 8)
    wide, wide_frac, wide_range = activation_table("sigmoid", {}, 4, (-128, 127), 8, "wide")
    assert np.array_equal(narrow, wide) and narrow_frac == wide_frac == 8 and narrow_range == wide_range == (0, 255)


def gelu_mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.Linear(8, 2)).eval()


def test_wide_tables_and_percentile_pass_verify_each():
    circuit = hardcore.compile(gelu_mlp(), torch.zeros(1, 4), table_codes="wide", act_percentile=99.9,
                               verify_each=True)
    lut = next(line for line in circuit.stages["quantized"].splitlines() if "hardcore.lut" in line)
    assert lut.endswith("-> tensor<8xi9>") and "-> tensor<8xi9>" not in hardcore.compile(
        gelu_mlp(), torch.zeros(1, 4)).stages["quantized"]
    assert circuit.options["table_codes"] == "wide" and circuit.options["act_percentile"] == 99.9


def test_tiny_gpt_with_both_options_passes_verify_each():
    """A GPT block (layer norms, attention, a GELU table, residual adds) with both options: hardcore-quantize
    and hardcore-fold-weights checked by --verify-each (to-hw does not see the options; Icarus is slow here)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "tinylm"))
    from model import TinyLM

    torch.manual_seed(0)
    model = TinyLM(vocab_size=30, d_model=16, n_layer=1, n_head=2, context=4, last_only=True).eval()
    calibration = np.random.default_rng(0).integers(0, 30, (128, 4))
    circuit = hardcore.compile(model, torch.zeros(1, 4, dtype=torch.long), calibration=calibration, output="argmax",
                               act_percentile=99.9, table_codes="wide")
    gelu = next(line for line in circuit.stages["quantized"].splitlines() if '"gelu, 256 entries' in line)
    assert "frac bits 6 -> 7" in gelu and gelu.endswith("(tensor<256xi8>) -> tensor<256xi9>")
    module = parse_module(circuit.stages["hardcore"], new_context())
    quantize = QuantizePass(calibration_data=calibration, act_percentile=99.9, table_codes="wide")
    checked = []
    run_pipeline(module, "hardcore-quantize,hardcore-fold-weights", overrides={quantize.name: quantize},
                 verify_each=True, verify_report=checked.append)
    assert checked == ["hardcore-quantize: each of 41 layers within its rounding bound on 69 input vectors of the "
                       "input grid", "hardcore-fold-weights: bit-exact on 69 input vectors"]
