// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-quantize)' | filecheck %s
// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-quantize{weight-scale=per-channel})' | filecheck %s --check-prefix=PERCH

// A float `hardcore.conv` (hardcore-import{stream=true}) quantizes exactly as
// its unrolled dense layer would: weight codes from the kernel, the bias at
// the accumulator's scale, the ReLU absorbed, and the requantization; with
// per-channel scales a shift per output element (each channel's repeated over
// its 2x2 positions).  Calibration: 256 seeded standard-normal inputs (input
// frac bits 5).  The largest weight, 1.0, gets 7 frac bits (saturating to 127);
// channel 1's largest, 0.5, gets 8 per channel.
// CHECK-LABEL: func.func @conv_relu
// CHECK: %[[Q:.+]] = "hardcore.quantize"
// CHECK: %[[C:.+]] = "hardcore.conv"(%[[Q]])
// CHECK-SAME: bias = dense<[1024, -2048]> : tensor<2xi64>, dilation = dense<1> : tensor<2xi64>, groups = 1 : i64
// CHECK-SAME: hardcore.kind = "conv2d 1->2 2x2, 3x3->2x2 positions (kernel)"
// CHECK-SAME: padding = dense<0> : tensor<2xi64>, stride = dense<1> : tensor<2xi64>
// CHECK-SAME: weight = dense<{{\[\[\[\[}}64, -32], [96, 127]]], {{\[\[\[}}-64, 16], [32, 8]]]]> : tensor<2x1x2x2xi8>}
// CHECK-SAME: : (tensor<1x3x3xi8>) -> tensor<2x2x2xi32>
// CHECK: %[[R:.+]] = "hardcore.relu"(%[[C]]) : (tensor<2x2x2xi32>) -> tensor<2x2x2xi32>
// CHECK: "hardcore.requant"(%[[R]]) {max = 255 : i64, min = 0 : i64, shift = 6 : i64} : (tensor<2x2x2xi32>) -> tensor<2x2x2xi9>
// PERCH-LABEL: func.func @conv_relu
// PERCH: "hardcore.conv"
// PERCH-SAME: bias = dense<[1024, -4096]> : tensor<2xi64>
// PERCH-SAME: weight = dense<{{\[\[\[\[}}64, -32], [96, 127]]], {{\[\[\[}}-128, 32], [64, 16]]]]> : tensor<2x1x2x2xi8>}
// PERCH: "hardcore.requant"
// PERCH-SAME: shift = dense<[6, 6, 6, 6, 7, 7, 7, 7]> : tensor<8xi64>
func.func @conv_relu(%x: tensor<1x3x3xf32>) -> tensor<2x2x2xf32> {
  %c = "hardcore.conv"(%x) {weight = dense<[[[[0.5, -0.25], [0.75, 1.0]]], [[[-0.5, 0.125], [0.25, 0.0625]]]]> : tensor<2x1x2x2xf32>,
                            bias = dense<[0.25, -0.5]> : tensor<2xf32>, stride = dense<[1, 1]> : tensor<2xi64>,
                            padding = dense<[0, 0]> : tensor<2xi64>, dilation = dense<[1, 1]> : tensor<2xi64>,
                            groups = 1 : i64, hardcore.kind = "conv2d 1->2 2x2, 3x3->2x2 positions (kernel)"}
       : (tensor<1x3x3xf32>) -> tensor<2x2x2xf32>
  %r = "hardcore.relu"(%c) : (tensor<2x2x2xf32>) -> tensor<2x2x2xf32>
  return %r : tensor<2x2x2xf32>
}

// -----

// An average pool that carries its geometry (stream=true) with one divisor:
// a depthwise `hardcore.conv` (groups = channels) with M at every tap, zero
// bias, and the requantization the dense layer it would otherwise become gets
// (2x2: M = 1, q = 2, a plain sum and a shift); `hardcore.window` stays on it.
// CHECK-LABEL: func.func @avgpool_2x2_relu
// CHECK: %[[C:.+]] = "hardcore.conv"
// CHECK-SAME: bias = dense<0> : tensor<2xi64>, dilation = dense<1> : tensor<2xi64>, groups = 2 : i64
// CHECK-SAME: hardcore.kind = "avgpool2d 2x2, 2 channels 4x4->2x2 positions, sum >> 2"
// CHECK-SAME: hardcore.window = {ceil_mode = 0 : i64, dilation = dense<1> : tensor<2xi64>, kernel = dense<2> : tensor<2xi64>, padding = dense<0> : tensor<2xi64>, stride = dense<2> : tensor<2xi64>}
// CHECK-SAME: padding = dense<0> : tensor<2xi64>, stride = dense<2> : tensor<2xi64>, weight = dense<1> : tensor<2x1x2x2xi8>}
// CHECK-SAME: : (tensor<2x4x4xi8>) -> tensor<2x2x2xi32>
// CHECK: "hardcore.requant"(%[[C]]) {max = 255 : i64, min = 0 : i64, shift = 1 : i64} : (tensor<2x2x2xi32>) -> tensor<2x2x2xi9>
func.func @avgpool_2x2_relu(%arg0: tensor<2x4x4xf32>) -> tensor<2x2x2xf32> {
  %0 = "hardcore.reshape"(%arg0) : (tensor<2x4x4xf32>) -> tensor<32xf32>
  %1 = "hardcore.relu"(%0) : (tensor<32xf32>) -> tensor<32xf32>
  %2 = "hardcore.reshape"(%1) : (tensor<32xf32>) -> tensor<2x4x4xf32>
  %3 = "hardcore.avgpool"(%2) {divisors = dense<4> : tensor<8xi64>, hardcore.kind = "avgpool2d 2x2, 2 channels 4x4->2x2 positions", hardcore.window = {ceil_mode = 0 : i64, dilation = dense<1> : tensor<2xi64>, kernel = dense<2> : tensor<2xi64>, padding = dense<0> : tensor<2xi64>, stride = dense<2> : tensor<2xi64>}, windows = dense<[[0, 1, 4, 5], [2, 3, 6, 7], [8, 9, 12, 13], [10, 11, 14, 15], [16, 17, 20, 21], [18, 19, 22, 23], [24, 25, 28, 29], [26, 27, 30, 31]]> : tensor<8x4xi64>} : (tensor<2x4x4xf32>) -> tensor<2x2x2xf32>
  return %3 : tensor<2x2x2xf32>
}

// -----

// AvgPool2d(3, stride=1, padding=1) (count_include_pad: every divisor 9): M =
// 455 at all nine taps, q = 12; the taps on padding read 0, as the dense
// layer's zero entries do.
// CHECK-LABEL: func.func @avgpool_3x3_padding
// CHECK: %[[C:.+]] = "hardcore.conv"
// CHECK-SAME: groups = 1 : i64
// CHECK-SAME: hardcore.kind = "avgpool2d 3x3 stride 1 padding 1, 1 channel 3x3->3x3 positions, sum x 455 >> 12"
// CHECK-SAME: padding = dense<1> : tensor<2xi64>, stride = dense<1> : tensor<2xi64>, weight = dense<455> : tensor<1x1x3x3xi16>}
// CHECK: "hardcore.requant"(%[[C]]) {max = 127 : i64, min = -128 : i64, shift = 11 : i64} : (tensor<1x3x3xi32>) -> tensor<1x3x3xi8>
func.func @avgpool_3x3_padding(%arg0: tensor<1x3x3xf32>) -> tensor<1x3x3xf32> {
  %0 = "hardcore.avgpool"(%arg0) {divisors = dense<9> : tensor<9xi64>, hardcore.kind = "avgpool2d 3x3 stride 1 padding 1, 1 channel 3x3->3x3 positions", hardcore.window = {ceil_mode = 0 : i64, dilation = dense<1> : tensor<2xi64>, kernel = dense<3> : tensor<2xi64>, padding = dense<1> : tensor<2xi64>, stride = dense<1> : tensor<2xi64>}, windows = dense<[[-1, -1, -1, -1, 0, 1, -1, 3, 4], [-1, -1, -1, 0, 1, 2, 3, 4, 5], [-1, -1, -1, 1, 2, -1, 4, 5, -1], [-1, 0, 1, -1, 3, 4, -1, 6, 7], [0, 1, 2, 3, 4, 5, 6, 7, 8], [1, 2, -1, 4, 5, -1, 7, 8, -1], [-1, 3, 4, -1, 6, 7, -1, -1, -1], [3, 4, 5, 6, 7, 8, -1, -1, -1], [4, 5, -1, 7, 8, -1, -1, -1, -1]]> : tensor<9x9xi64>} : (tensor<1x3x3xf32>) -> tensor<1x3x3xf32>
  return %0 : tensor<1x3x3xf32>
}
