// RUN: hardcore-opt %s --split-input-file --verify-diagnostics --pass-pipeline='builtin.module(hardcore-fold-weights)'
// RUN: not hardcore-opt %s --pass-pipeline='builtin.module(hardcore-fold-weights{algorithm=magic})' 2>&1 | filecheck %s --check-prefix=ALGO

// ALGO: hardcore-opt: error: hardcore-fold-weights: unknown algorithm 'magic' (one of: csd, cse)

// expected-error @+1 {{hardcore-fold-weights: expected a quantized function starting with hardcore.quantize (run hardcore-quantize first)}}
func.func @float_layers(%arg0: tensor<2xf32>) -> tensor<2xf32> {
  %0 = "hardcore.relu"(%arg0) : (tensor<2xf32>) -> tensor<2xf32>
  return %0 : tensor<2xf32>
}
