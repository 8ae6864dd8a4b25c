// RUN: hardcore-opt %s --split-input-file --verify-diagnostics --pass-pipeline='builtin.module(hardcore-fold-weights)'
// RUN: not hardcore-opt %s --pass-pipeline='builtin.module(hardcore-fold-weights{algorithm=magic})' 2>&1 | filecheck %s --check-prefix=ALGO

// ALGO: hardcore-opt: error: hardcore-fold-weights: unknown algorithm 'magic' (one of: csd, cse)

// expected-error @+1 {{hardcore-fold-weights: expected a quantized function starting with hardcore.quantize (run hardcore-quantize first)}}
func.func @float_layers(%arg0: tensor<2xf32>) -> tensor<2xf32> {
  %0 = "hardcore.relu"(%arg0) : (tensor<2xf32>) -> tensor<2xf32>
  return %0 : tensor<2xf32>
}

// -----

func.func @requant_shifts_per_element(%arg0: tensor<2xf32>) -> tensor<2xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 4 : i64, min = -128 : i64, max = 127 : i64} : (tensor<2xf32>) -> tensor<2xi8>
  // expected-error @+1 {{hardcore-fold-weights: 'hardcore.requant' has 3 shifts for 2 elements}}
  %1 = "hardcore.requant"(%0) {shift = dense<[1, 2, 3]> : tensor<3xi64>, min = -128 : i64, max = 127 : i64} : (tensor<2xi8>) -> tensor<2xi8>
  %2 = "hardcore.dequantize"(%1) {frac_bits = 3 : i64} : (tensor<2xi8>) -> tensor<2xf32>
  return %2 : tensor<2xf32>
}
