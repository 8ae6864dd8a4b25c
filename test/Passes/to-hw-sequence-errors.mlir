// RUN: hardcore-opt %s --split-input-file --verify-diagnostics --pass-pipeline='builtin.module(hardcore-to-hw)'

// Sequence-model layer ops must be folded first.
func.func @unfolded_softmax(%arg0: tensor<2xi4>) -> tensor<2xi4> {
  // expected-error @+1 {{hardcore-to-hw cannot lower 'hardcore.qsoftmax'}}
  %0 = "hardcore.qsoftmax"(%arg0) {causal = 0 : i64, exp_table = dense<[1, 2]> : tensor<2xi64>, exp_min = -1 : i64, sum_shift = 0 : i64, recip_table = dense<[1]> : tensor<1xi64>, shift = 0 : i64, min = 0 : i64, max = 3 : i64} : (tensor<2xi4>) -> tensor<2xi4>
  return %0 : tensor<2xi4>
}

// -----

func.func @unfolded_matmul(%arg0: tensor<1x1xi4>) -> tensor<1x1xi8> {
  // expected-error @+1 {{hardcore-to-hw cannot lower 'hardcore.matmul'}}
  %0 = "hardcore.matmul"(%arg0, %arg0) : (tensor<1x1xi4>, tensor<1x1xi4>) -> tensor<1x1xi8>
  return %0 : tensor<1x1xi8>
}
