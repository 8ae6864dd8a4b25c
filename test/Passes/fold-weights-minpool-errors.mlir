// RUN: hardcore-opt %s --split-input-file --verify-diagnostics --pass-pipeline='builtin.module(hardcore-fold-weights)'

// A window reads past the pool's input.
func.func @window_out_of_range(%arg0: tensor<4xf32>) -> tensor<2xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 0 : i64, min = -8 : i64, max = 7 : i64} : (tensor<4xf32>) -> tensor<4xi4>
  // expected-error @+1 {{hardcore-fold-weights: hardcore.minpool windows must list indices of its 4 inputs (-1 for padding), each window at least one}}
  %1 = "hardcore.minpool"(%0) {windows = dense<[[0, 2], [1, 9]]> : tensor<2x2xi64>} : (tensor<4xi4>) -> tensor<2xi4>
  %2 = "hardcore.dequantize"(%1) {frac_bits = 0 : i64} : (tensor<2xi4>) -> tensor<2xf32>
  return %2 : tensor<2xf32>
}

// -----

// A window of padding only has no minimum.
func.func @window_of_padding(%arg0: tensor<4xf32>) -> tensor<2xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 0 : i64, min = -8 : i64, max = 7 : i64} : (tensor<4xf32>) -> tensor<4xi4>
  // expected-error @+1 {{hardcore-fold-weights: hardcore.maxpool windows must list indices of its 4 inputs (-1 for padding), each window at least one}}
  %1 = "hardcore.maxpool"(%0) {windows = dense<[[0, 2], [-1, -1]]> : tensor<2x2xi64>} : (tensor<4xi4>) -> tensor<2xi4>
  %2 = "hardcore.dequantize"(%1) {frac_bits = 0 : i64} : (tensor<2xi4>) -> tensor<2xf32>
  return %2 : tensor<2xf32>
}
