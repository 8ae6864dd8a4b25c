// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-quantize{act-bits=4})' | filecheck %s --check-prefix=MAGNITUDE
// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-quantize{act-bits=4 table-codes=wide})' | filecheck %s --check-prefix=WIDE

// At act-bits=4 the default calibration (standard normal) leaves the input 1
// fractional bit: codes -8..7, x = -4..3.5.  GELU there lies in [-0.159, 3.499].
// table-codes=magnitude (the default): signed 4 bits at the scale of the largest
// |f|, 2^1 (3.499 * 2 = 7.0); the negative values round to 0, and the codes -8..-1
// are never used.  table-codes=wide: signed 5 bits, so 2^2 (3.499 * 4 = 14.0): one
// more fractional bit, the entries in [-1, 14], 5 bits wide as an unsigned 4-bit
// output (a ReLU's) is.
// MAGNITUDE-LABEL: func.func @gelu_table
// MAGNITUDE: %[[Q:.+]] = "hardcore.quantize"(%arg0) {frac_bits = 1 : i64, max = 7 : i64, min = -8 : i64} : (tensor<2xf32>) -> tensor<2xi4>
// MAGNITUDE: %[[T:.+]] = "hardcore.lut"(%[[Q]]) {hardcore.kind = "gelu, 16 entries, frac bits 1 -> 1", min = -8 : i64, table = dense<[0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7]> : tensor<16xi64>} : (tensor<2xi4>) -> tensor<2xi4>
// MAGNITUDE: "hardcore.dequantize"(%[[T]]) {frac_bits = 1 : i64} : (tensor<2xi4>) -> tensor<2xf32>
// WIDE-LABEL: func.func @gelu_table
// WIDE: %[[Q:.+]] = "hardcore.quantize"(%arg0) {frac_bits = 1 : i64, max = 7 : i64, min = -8 : i64} : (tensor<2xf32>) -> tensor<2xi4>
// WIDE: %[[T:.+]] = "hardcore.lut"(%[[Q]]) {hardcore.kind = "gelu, 16 entries, frac bits 1 -> 2", min = -8 : i64, table = dense<[0, 0, 0, 0, 0, 0, -1, -1, 0, 1, 3, 6, 8, 10, 12, 14]> : tensor<16xi64>} : (tensor<2xi4>) -> tensor<2xi5>
// WIDE: "hardcore.dequantize"(%[[T]]) {frac_bits = 2 : i64} : (tensor<2xi5>) -> tensor<2xf32>
func.func @gelu_table(%arg0: tensor<2xf32>) -> tensor<2xf32> {
  %0 = "hardcore.activation"(%arg0) {fn = "gelu", params = {}} : (tensor<2xf32>) -> tensor<2xf32>
  return %0 : tensor<2xf32>
}

// -----

// tanh: signed 4 bits at 2^3 (0.998 * 8 = 7.98 saturates to 7), or wide, signed 5
// bits at 2^4 (0.998 * 16 = 15.97 saturates to 15).
// MAGNITUDE-LABEL: func.func @tanh_table
// MAGNITUDE: "hardcore.lut"(%{{.+}}) {hardcore.kind = "tanh, 16 entries, frac bits 1 -> 3", min = -8 : i64, table = dense<[-8, -8, -8, -8, -8, -7, -6, -4, 0, 4, 6, 7, 7, 7, 7, 7]> : tensor<16xi64>} : (tensor<2xi4>) -> tensor<2xi4>
// WIDE-LABEL: func.func @tanh_table
// WIDE: "hardcore.lut"(%{{.+}}) {hardcore.kind = "tanh, 16 entries, frac bits 1 -> 4", min = -8 : i64, table = dense<[-16, -16, -16, -16, -15, -14, -12, -7, 0, 7, 12, 14, 15, 15, 15, 15]> : tensor<16xi64>} : (tensor<2xi4>) -> tensor<2xi5>
func.func @tanh_table(%arg0: tensor<2xf32>) -> tensor<2xf32> {
  %0 = "hardcore.activation"(%arg0) {fn = "tanh", params = {}} : (tensor<2xf32>) -> tensor<2xf32>
  return %0 : tensor<2xf32>
}

// -----

// A function >= 0 gets the same table either way, unsigned 4 bits (5 wide already).
// sigmoid's largest value, 0.971, sets f_out = 4; 16 * 0.971 = 15.5 rounds to 16
// and saturates to 15.
// MAGNITUDE-LABEL: func.func @sigmoid_table
// MAGNITUDE: "hardcore.lut"(%{{.+}}) {hardcore.kind = "sigmoid, 16 entries, frac bits 1 -> 4", min = -8 : i64, table = dense<[0, 0, 1, 1, 2, 3, 4, 6, 8, 10, 12, 13, 14, 15, 15, 15]> : tensor<16xi64>} : (tensor<2xi4>) -> tensor<2xi5>
// WIDE-LABEL: func.func @sigmoid_table
// WIDE: "hardcore.lut"(%{{.+}}) {hardcore.kind = "sigmoid, 16 entries, frac bits 1 -> 4", min = -8 : i64, table = dense<[0, 0, 1, 1, 2, 3, 4, 6, 8, 10, 12, 13, 14, 15, 15, 15]> : tensor<16xi64>} : (tensor<2xi4>) -> tensor<2xi5>
func.func @sigmoid_table(%arg0: tensor<2xf32>) -> tensor<2xf32> {
  %0 = "hardcore.activation"(%arg0) {fn = "sigmoid", params = {}} : (tensor<2xf32>) -> tensor<2xf32>
  return %0 : tensor<2xf32>
}
