// RUN: hardcore-opt %s --verify-diagnostics --pass-pipeline='builtin.module(hardcore-fold-weights{algorithm=csd max-depth=1})'
// RUN: not hardcore-opt %s --pass-pipeline='builtin.module(hardcore-fold-weights{max-depth=1})' 2>&1 | filecheck %s --check-prefix=CSE

// Three CSD terms need two adder levels: a bound of one is an error at the layer,
// with either algorithm (no shift/add graph of any kind can do better).
func.func @too_deep(%arg0: tensor<3xf32>) -> tensor<1xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 4 : i64, min = -128 : i64, max = 127 : i64} : (tensor<3xf32>) -> tensor<3xi8>
  // CSE: fold-weights-depth.mlir:10:8: error: hardcore-fold-weights: max_depth=1 is infeasible: row 0 has 3 canonical signed digits and needs adder depth >= 2
  // expected-error @+1 {{hardcore-fold-weights: per-weight folding needs adder depth 2, more than max-depth=1}}
  %1 = "hardcore.dense"(%0) {weight = dense<[[1, 1, 1]]> : tensor<1x3xi8>, bias = dense<0> : tensor<1xi64>} : (tensor<3xi8>) -> tensor<1xi32>
  %2 = "hardcore.requant"(%1) {shift = 0 : i64, min = -1024 : i64, max = 1023 : i64} : (tensor<1xi32>) -> tensor<1xi11>
  %3 = "hardcore.dequantize"(%2) {frac_bits = 4 : i64} : (tensor<1xi11>) -> tensor<1xf32>
  return %3 : tensor<1xf32>
}
