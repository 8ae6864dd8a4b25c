// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-quantize)' | filecheck %s
// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-quantize{act-bits=4})' | filecheck %s --check-prefix=NARROW

// A max pool compares integers at its input's scale: same type, same
// fractional bits, no requantization.
// CHECK-LABEL: func.func @relu_maxpool
// CHECK: %[[S:.+]] = "hardcore.requant"(%{{.+}}) {max = 255 : i64, min = 0 : i64, shift = 7 : i64} : (tensor<4xi32>) -> tensor<4xi9>
// CHECK: %[[M:.+]] = "hardcore.maxpool"(%[[S]]) {hardcore.kind = "maxpool1d 2, 2 channels 2->1 positions", windows = dense<{{\[\[}}0, 1], [2, 3]]> : tensor<2x2xi64>} : (tensor<4xi9>) -> tensor<2xi9>
// CHECK: "hardcore.dequantize"(%[[M]]) {frac_bits = 5 : i64}
func.func @relu_maxpool(%arg0: tensor<4xf32>) -> tensor<2xf32> {
  %0 = "hardcore.dense"(%arg0) {weight = dense<[[1.0, -1.0, 0.5, 0.25], [0.5, 0.5, -0.5, 1.0], [1.0, 1.0, 1.0, 1.0], [-1.0, 0.0, 0.5, 0.0]]> : tensor<4x4xf32>, bias = dense<0.0> : tensor<4xf32>} : (tensor<4xf32>) -> tensor<4xf32>
  %1 = "hardcore.relu"(%0) : (tensor<4xf32>) -> tensor<4xf32>
  %2 = "hardcore.maxpool"(%1) {hardcore.kind = "maxpool1d 2, 2 channels 2->1 positions", windows = dense<[[0, 1], [2, 3]]> : tensor<2x2xi64>} : (tensor<4xf32>) -> tensor<2xf32>
  return %2 : tensor<2xf32>
}

// -----

// A window of 4 is a sum (a dense layer of ones, exact integers whatever the
// weight bits) and a shift by 2 more in the requantization: here the output
// keeps the input's 5 fractional bits, so the shift is just the 2.
// CHECK-LABEL: func.func @avgpool_window_4
// CHECK: %[[D:.+]] = "hardcore.dense"(%{{.+}}) {bias = dense<0> : tensor<2xi64>, hardcore.kind = "avgpool2d 2x2, sum >> 2", weight = dense<{{\[\[}}1, 1, 0, 0, 1, 1, 0, 0], [0, 0, 1, 1, 0, 0, 1, 1]]> : tensor<2x8xi8>} : (tensor<8xi8>) -> tensor<2xi32>
// CHECK: %[[R:.+]] = "hardcore.requant"(%[[D]]) {max = 127 : i64, min = -128 : i64, shift = 2 : i64} : (tensor<2xi32>) -> tensor<2xi8>
// CHECK: "hardcore.dequantize"(%[[R]]) {frac_bits = 5 : i64}
// NARROW-LABEL: func.func @avgpool_window_4
// NARROW: "hardcore.dense"(%{{.+}}) {bias = dense<0> : tensor<2xi64>, hardcore.kind = "avgpool2d 2x2, sum >> 2", weight = dense<{{\[\[}}1, 1, 0, 0, 1, 1, 0, 0], [0, 0, 1, 1, 0, 0, 1, 1]]> : tensor<2x8xi8>}
func.func @avgpool_window_4(%arg0: tensor<8xf32>) -> tensor<2xf32> {
  %0 = "hardcore.avgpool"(%arg0) {divisors = dense<4> : tensor<2xi64>, hardcore.kind = "avgpool2d 2x2", windows = dense<[[0, 1, 4, 5], [2, 3, 6, 7]]> : tensor<2x4xi64>} : (tensor<8xf32>) -> tensor<2xf32>
  return %0 : tensor<2xf32>
}

// -----

// Divisors that are no power of two: each row's weights are M = round(2^q / d)
// with q = act-bits + 1 + ceil(log2 9) = 13 (8 bits: 2048, 1365, 910), lowered
// while every M is even (4 bits: q = 9 gives 128, 85, 57).  A ReLU after the
// pool joins the requantization, which is then unsigned; the argmax after it
// is an integer index in [0, 2] at scale 2^0.
// CHECK-LABEL: func.func @avgpool_divisors_4_6_9
// CHECK: %[[D:.+]] = "hardcore.dense"(%{{.+}}) {bias = dense<0> : tensor<3xi64>, hardcore.kind = "avgpool, sum x round(2^13/divisor) >> 13", weight = dense<{{\[\[}}2048, 2048, 0], [0, 1365, 1365], [910, 0, 0]]> : tensor<3x3xi16>} : (tensor<3xi8>) -> tensor<3xi32>
// CHECK: %[[R:.+]] = "hardcore.relu"(%[[D]])
// CHECK: %[[Q:.+]] = "hardcore.requant"(%[[R]]) {max = 255 : i64, min = 0 : i64, shift = 10 : i64} : (tensor<3xi32>) -> tensor<3xi9>
// CHECK: %[[I:.+]] = "hardcore.argmax"(%[[Q]]) {hardcore.kind = "argmax of 3"} : (tensor<3xi9>) -> tensor<1xi3>
// CHECK: "hardcore.dequantize"(%[[I]]) {frac_bits = 0 : i64} : (tensor<1xi3>) -> tensor<1xf32>
// NARROW-LABEL: func.func @avgpool_divisors_4_6_9
// NARROW: "hardcore.dense"(%{{.+}}) {bias = dense<0> : tensor<3xi64>, hardcore.kind = "avgpool, sum x round(2^9/divisor) >> 9", weight = dense<{{\[\[}}128, 128, 0], [0, 85, 85], [57, 0, 0]]> : tensor<3x3xi16>}
// NARROW: "hardcore.requant"(%{{.+}}) {max = 15 : i64, min = 0 : i64, shift = {{[0-9]+}} : i64} : (tensor<3xi32>) -> tensor<3xi5>
func.func @avgpool_divisors_4_6_9(%arg0: tensor<3xf32>) -> tensor<1xf32> {
  %0 = "hardcore.avgpool"(%arg0) {divisors = dense<[4, 6, 9]> : tensor<3xi64>, hardcore.kind = "avgpool", windows = dense<[[0, 1], [1, 2], [0, -1]]> : tensor<3x2xi64>} : (tensor<3xf32>) -> tensor<3xf32>
  %1 = "hardcore.relu"(%0) : (tensor<3xf32>) -> tensor<3xf32>
  %2 = "hardcore.argmax"(%1) {hardcore.kind = "argmax of 3"} : (tensor<3xf32>) -> tensor<1xf32>
  return %2 : tensor<1xf32>
}
