// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-quantize)' | filecheck %s
// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-quantize{weight-bits=4 act-bits=6})' | filecheck %s --check-prefix=NARROW

// Power-of-two scales: the default calibration (standard normal, seeded)
// reaches |x| = 3.x, so the input keeps 5 fractional bits of 8; the weights'
// largest magnitude 1.5 leaves 6 of 8 (4 wide: 2).  Dense + ReLU is requantized
// to unsigned 8 bits (0..255), the last layer to signed 8 bits; the bias is
// exact at the accumulator's 5 + 6 = 11 fractional bits (0.5 -> 1024).
// CHECK-LABEL: func.func @two_layers
// CHECK: %[[Q:.+]] = "hardcore.quantize"(%arg0) {frac_bits = 5 : i64, max = 127 : i64, min = -128 : i64} : (tensor<2xf32>) -> tensor<2xi8>
// CHECK: %[[D:.+]] = "hardcore.dense"(%[[Q]]) {bias = dense<[1024, -512]> : tensor<2xi64>, weight = dense<{{\[\[}}64, -96], [32, 16]]> : tensor<2x2xi8>} : (tensor<2xi8>) -> tensor<2xi32>
// CHECK: %[[R:.+]] = "hardcore.relu"(%[[D]])
// CHECK: %[[S:.+]] = "hardcore.requant"(%[[R]]) {max = 255 : i64, min = 0 : i64, shift = [[SHIFT:[0-9]+]] : i64} : (tensor<2xi32>) -> tensor<2xi9>
// CHECK: %[[D2:.+]] = "hardcore.dense"(%[[S]])
// CHECK: %[[S2:.+]] = "hardcore.requant"(%[[D2]]) {max = 127 : i64, min = -128 : i64, shift = {{-?[0-9]+}} : i64} : (tensor<1xi32>) -> tensor<1xi8>
// CHECK: %[[F:.+]] = "hardcore.dequantize"(%[[S2]]) {frac_bits = {{-?[0-9]+}} : i64} : (tensor<1xi8>) -> tensor<1xf32>
// CHECK: return %[[F]] : tensor<1xf32>
// NARROW-LABEL: func.func @two_layers
// NARROW: "hardcore.quantize"(%arg0) {frac_bits = 3 : i64, max = 31 : i64, min = -32 : i64} : (tensor<2xf32>) -> tensor<2xi6>
// NARROW: "hardcore.dense"(%{{.*}}) {bias = dense<[16, -8]> : tensor<2xi64>, weight = dense<{{\[\[}}4, -6], [2, 1]]> : tensor<2x2xi8>}
// NARROW: "hardcore.requant"(%{{.*}}) {max = 63 : i64, min = 0 : i64, shift = {{-?[0-9]+}} : i64} : (tensor<2xi32>) -> tensor<2xi7>
func.func @two_layers(%arg0: tensor<2xf32>) -> tensor<1xf32> {
  %0 = "hardcore.dense"(%arg0) {weight = dense<[[1.0, -1.5], [0.5, 0.25]]> : tensor<2x2xf32>, bias = dense<[0.5, -0.25]> : tensor<2xf32>} : (tensor<2xf32>) -> tensor<2xf32>
  %1 = "hardcore.relu"(%0) : (tensor<2xf32>) -> tensor<2xf32>
  %2 = "hardcore.dense"(%1) {weight = dense<[[0.75, -0.5]]> : tensor<1x2xf32>, bias = dense<[0.125]> : tensor<1xf32>} : (tensor<2xf32>) -> tensor<1xf32>
  return %2 : tensor<1xf32>
}
