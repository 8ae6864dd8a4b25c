// RUN: hardcore-opt %s --split-input-file --verify-diagnostics --pass-pipeline='builtin.module(hardcore-pipeline)'

// Sequence-model layers are pipelined after hardcore-fold-weights.
// expected-error @+1 {{hardcore-pipeline: expected a scalar DAG (run hardcore-fold-weights first)}}
func.func @unfolded_matmul(%arg0: tensor<4xf32>) -> tensor<1xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 0 : i64, min = -8 : i64, max = 7 : i64} : (tensor<4xf32>) -> tensor<4xi4>
  %1 = "hardcore.reshape"(%0) : (tensor<4xi4>) -> tensor<1x4xi4>
  %2 = "hardcore.reshape"(%0) : (tensor<4xi4>) -> tensor<4x1xi4>
  %3 = "hardcore.matmul"(%1, %2) : (tensor<1x4xi4>, tensor<4x1xi4>) -> tensor<1x1xi9>
  %4 = "hardcore.dequantize"(%3) {frac_bits = 0 : i64} : (tensor<1x1xi9>) -> tensor<1xf32>
  return %4 : tensor<1xf32>
}
