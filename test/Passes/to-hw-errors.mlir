// RUN: hardcore-opt %s --split-input-file --verify-diagnostics --pass-pipeline='builtin.module(hardcore-to-hw)'
// RUN: not hardcore-opt %s --pass-pipeline='builtin.module(hardcore-to-hw,hardcore-quantize)' 2>&1 | filecheck %s --check-prefix=ORDER

// ORDER: hardcore-opt: error: hardcore-quantize must run before hardcore-to-hw

// Layer ops must be folded first.
func.func @unfolded(%arg0: tensor<2xi8>) -> tensor<1xi32> {
  // expected-error @+1 {{hardcore-to-hw cannot lower 'hardcore.dense'}}
  %0 = "hardcore.dense"(%arg0) {weight = dense<[[1, 2]]> : tensor<1x2xi8>, bias = dense<0> : tensor<1xi64>} : (tensor<2xi8>) -> tensor<1xi32>
  return %0 : tensor<1xi32>
}

// -----

// expected-error @+1 {{hardcore-to-hw: expected integer tensor inputs and results (run hardcore-fold-weights first)}}
func.func @float_signature(%arg0: tensor<2xf32>) -> tensor<2xf32> {
  return %arg0 : tensor<2xf32>
}
