// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-quantize)' | filecheck %s

// A residual add: the layer's output (2 fractional bits: its weights reach 4)
// is shifted left by 3 to the input's 5, exactly (a requant with shift -3 that
// cannot saturate), the two are added exactly (i12), and the sum is
// requantized once to 8 bits at its calibrated scale, unsigned because the
// ReLU after it is absorbed (like a dense layer's).
// CHECK-LABEL: func.func @residual_relu
// CHECK: %[[X:.+]] = "hardcore.quantize"(%arg0) {frac_bits = 5 : i64, max = 127 : i64, min = -128 : i64}
// CHECK: %[[L:.+]] = "hardcore.requant"(%{{.+}}) {max = 127 : i64, min = -128 : i64, shift = 8 : i64} : (tensor<2xi32>) -> tensor<2xi8>
// CHECK: %[[A:.+]] = "hardcore.requant"(%[[L]]) {max = 1016 : i64, min = -1024 : i64, shift = -3 : i64} : (tensor<2xi8>) -> tensor<2xi11>
// CHECK: %[[S:.+]] = "hardcore.add_tensors"(%[[A]], %[[X]]) {hardcore.kind = "residual add 2"} : (tensor<2xi11>, tensor<2xi8>) -> tensor<2xi12>
// CHECK: %[[R:.+]] = "hardcore.relu"(%[[S]]) : (tensor<2xi12>) -> tensor<2xi12>
// CHECK: %[[Q:.+]] = "hardcore.requant"(%[[R]]) {max = 255 : i64, min = 0 : i64, shift = 1 : i64} : (tensor<2xi12>) -> tensor<2xi9>
// CHECK: "hardcore.dequantize"(%[[Q]]) {frac_bits = 4 : i64}
func.func @residual_relu(%arg0: tensor<2xf32>) -> tensor<2xf32> {
  %0 = "hardcore.dense"(%arg0) {weight = dense<[[4.0, -2.0], [3.0, 1.0]]> : tensor<2x2xf32>, bias = dense<0.0> : tensor<2xf32>} : (tensor<2xf32>) -> tensor<2xf32>
  %1 = "hardcore.add_tensors"(%0, %arg0) {hardcore.kind = "residual add 2"} : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  %2 = "hardcore.relu"(%1) : (tensor<2xf32>) -> tensor<2xf32>
  return %2 : tensor<2xf32>
}

// -----

// A concat of a layer's output (2 fractional bits) and the input (5): the
// calibrated range of the concatenation sets one scale, 2 bits, so the input
// is requantized (a right shift by 3, rounding half up) and the layer's output
// passes as it is.  A gather keeps its input's integers and scale.
// CHECK-LABEL: func.func @concat_scales
// CHECK: %[[X:.+]] = "hardcore.quantize"(%arg0) {frac_bits = 5 : i64
// CHECK: %[[L:.+]] = "hardcore.requant"(%{{.+}}) {max = 127 : i64, min = -128 : i64, shift = 8 : i64} : (tensor<2xi32>) -> tensor<2xi8>
// CHECK: %[[LS:.+]] = "hardcore.reshape"(%[[L]]) : (tensor<2xi8>) -> tensor<1x2xi8>
// CHECK: %[[XS:.+]] = "hardcore.reshape"(%[[X]]) : (tensor<2xi8>) -> tensor<1x2xi8>
// CHECK: %[[XR:.+]] = "hardcore.requant"(%[[XS]]) {max = 127 : i64, min = -128 : i64, shift = 3 : i64} : (tensor<1x2xi8>) -> tensor<1x2xi8>
// CHECK: %[[C:.+]] = "hardcore.concat"(%[[LS]], %[[XR]]) {dim = 0 : i64} : (tensor<1x2xi8>, tensor<1x2xi8>) -> tensor<2x2xi8>
// CHECK: %[[G:.+]] = "hardcore.gather"(%[[C]]) {indices = dense<[0, 2, 1, 3]> : tensor<4xi64>} : (tensor<2x2xi8>) -> tensor<2x2xi8>
// CHECK: "hardcore.dequantize"(%[[G]]) {frac_bits = 2 : i64}
func.func @concat_scales(%arg0: tensor<2xf32>) -> tensor<2x2xf32> {
  %0 = "hardcore.dense"(%arg0) {weight = dense<[[4.0, -2.0], [3.0, 1.0]]> : tensor<2x2xf32>, bias = dense<0.0> : tensor<2xf32>} : (tensor<2xf32>) -> tensor<2xf32>
  %1 = "hardcore.reshape"(%0) : (tensor<2xf32>) -> tensor<1x2xf32>
  %2 = "hardcore.reshape"(%arg0) : (tensor<2xf32>) -> tensor<1x2xf32>
  %3 = "hardcore.concat"(%1, %2) {dim = 0 : i64} : (tensor<1x2xf32>, tensor<1x2xf32>) -> tensor<2x2xf32>
  %4 = "hardcore.gather"(%3) {indices = dense<[0, 2, 1, 3]> : tensor<4xi64>} : (tensor<2x2xf32>) -> tensor<2x2xf32>
  return %4 : tensor<2x2xf32>
}
