// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-quantize{act-bits=3})' | filecheck %s
// RUN: not hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-quantize{act-bits=13})' 2>&1 | filecheck %s --check-prefix=WIDE

// At act-bits=3 the default calibration (standard normal) leaves the input 0
// fractional bits: codes -4..3.  A table has one entry per code: entry k is
// round-half-up(f(code) * 2^f_out) for code = min + k, saturated.  sigmoid is
// positive, so its output is unsigned 3 bits; its largest value on these codes,
// 0.953, sets f_out = 3: 8 * sigmoid(-4..3) = 0.14 0.38 0.95 2.15 4 5.85 7.05 7.62,
// and the last saturates to 7.
// CHECK-LABEL: func.func @sigmoid_table
// CHECK: %[[Q:.+]] = "hardcore.quantize"(%arg0) {frac_bits = 0 : i64, max = 3 : i64, min = -4 : i64} : (tensor<2xf32>) -> tensor<2xi3>
// CHECK: %[[T:.+]] = "hardcore.lut"(%[[Q]]) {hardcore.kind = "sigmoid, 8 entries, frac bits 0 -> 3", min = -4 : i64, table = dense<[0, 0, 1, 2, 4, 6, 7, 7]> : tensor<8xi64>} : (tensor<2xi3>) -> tensor<2xi4>
// CHECK: "hardcore.dequantize"(%[[T]]) {frac_bits = 3 : i64} : (tensor<2xi4>) -> tensor<2xf32>
// WIDE: error: hardcore-quantize: a 'sigmoid' table on inputs [-4096, 4095] would have 8192 entries, more than the 4096 a table may hold (act-bits 12 at most)
func.func @sigmoid_table(%arg0: tensor<2xf32>) -> tensor<2xf32> {
  %0 = "hardcore.activation"(%arg0) {fn = "sigmoid", params = {}} : (tensor<2xf32>) -> tensor<2xf32>
  return %0 : tensor<2xf32>
}

// -----

// LeakyReLU(0.25) is signed, as wide as its input: -4 * 0.25 = -1, and -0.75 rounds
// half up to -1, -0.5 and -0.25 to 0.
// CHECK-LABEL: func.func @leaky_relu_table
// CHECK: "hardcore.lut"(%{{.*}}) {hardcore.kind = "leaky_relu negative_slope=0.25, 8 entries, frac bits 0 -> 0", min = -4 : i64, table = dense<[-1, -1, 0, 0, 0, 1, 2, 3]> : tensor<8xi64>} : (tensor<2xi3>) -> tensor<2xi3>
func.func @leaky_relu_table(%arg0: tensor<2xf32>) -> tensor<2xf32> {
  %0 = "hardcore.activation"(%arg0) {fn = "leaky_relu", params = {negative_slope = 0.25 : f64}} : (tensor<2xf32>) -> tensor<2xf32>
  return %0 : tensor<2xf32>
}

// -----

// A clamp right after a dense layer is that layer's requantization: no table, and
// the bounds at the output's scale.  The clamped output reaches 1.0, so 2
// fractional bits of 3 signed: min -0.5 -> -2, max 1.0 -> 4, saturated to 3.
// CHECK-LABEL: func.func @hardtanh_after_dense
// CHECK: %[[D:.+]] = "hardcore.dense"
// CHECK-NEXT: %[[R:.+]] = "hardcore.requant"(%[[D]]) {max = 3 : i64, min = -2 : i64, shift = 4 : i64} : (tensor<2xi32>) -> tensor<2xi3>
// CHECK-NEXT: "hardcore.dequantize"(%[[R]]) {frac_bits = 2 : i64}
// CHECK-NOT: hardcore.lut
func.func @hardtanh_after_dense(%arg0: tensor<2xf32>) -> tensor<2xf32> {
  %0 = "hardcore.dense"(%arg0) {weight = dense<[[1.0, -1.5], [0.5, 0.25]]> : tensor<2x2xf32>, bias = dense<[0.5, -0.25]> : tensor<2xf32>} : (tensor<2xf32>) -> tensor<2xf32>
  %1 = "hardcore.activation"(%0) {fn = "clamp", params = {min = -0.5 : f64, max = 1.0 : f64}} : (tensor<2xf32>) -> tensor<2xf32>
  return %1 : tensor<2xf32>
}

// -----

// Anywhere else a clamp saturates at the input's scale (a requant of shift 0):
// min 1.6 rounds to 2 at 0 fractional bits; no upper bound becomes the input's own
// maximum, 3.  The result holds 2..3.
// CHECK-LABEL: func.func @clamp_on_input
// CHECK: %[[Q:.+]] = "hardcore.quantize"
// CHECK-NEXT: %[[C:.+]] = "hardcore.requant"(%[[Q]]) {max = 3 : i64, min = 2 : i64, shift = 0 : i64} : (tensor<2xi3>) -> tensor<2xi3>
// CHECK-NEXT: "hardcore.dequantize"(%[[C]]) {frac_bits = 0 : i64}
func.func @clamp_on_input(%arg0: tensor<2xf32>) -> tensor<2xf32> {
  %0 = "hardcore.activation"(%arg0) {fn = "clamp", params = {min = 1.6 : f64, max = 0x7FF0000000000000 : f64}} : (tensor<2xf32>) -> tensor<2xf32>
  return %0 : tensor<2xf32>
}
