// RUN: hardcore-opt %s --split-input-file --verify-diagnostics --pass-pipeline='builtin.module(hardcore-fold-weights)'

func.func @float_table(%arg0: tensor<2xi64>) -> tensor<2x1xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 0 : i64, min = 0 : i64, max = 2 : i64} : (tensor<2xi64>) -> tensor<2xi3>
  // expected-error @+1 {{hardcore-fold-weights: the table is not integer (run hardcore-quantize first)}}
  %1 = "hardcore.embedding"(%0) {table = dense<0.5> : tensor<1x3x1xf32>} : (tensor<2xi3>) -> tensor<2x1xf32>
  %2 = "hardcore.dequantize"(%1) {frac_bits = 0 : i64} : (tensor<2x1xf32>) -> tensor<2x1xf32>
  return %2 : tensor<2x1xf32>
}

// -----

func.func @positions(%arg0: tensor<2xi64>) -> tensor<2x1xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 0 : i64, min = 0 : i64, max = 2 : i64} : (tensor<2xi64>) -> tensor<2xi3>
  // expected-error @+1 {{hardcore-fold-weights: the table has 3 positions for 2 tokens}}
  %1 = "hardcore.embedding"(%0) {table = dense<1> : tensor<3x3x1xi8>} : (tensor<2xi3>) -> tensor<2x1xi8>
  %2 = "hardcore.dequantize"(%1) {frac_bits = 0 : i64} : (tensor<2x1xi8>) -> tensor<2x1xf32>
  return %2 : tensor<2x1xf32>
}

// -----

func.func @matmul_shapes(%arg0: tensor<2x3xf32>) -> tensor<2x3xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 0 : i64, min = -8 : i64, max = 7 : i64} : (tensor<2x3xf32>) -> tensor<2x3xi4>
  // expected-error @+1 {{hardcore-fold-weights: cannot multiply 2x3 by 2x3 (expected ...xMxK and ...xKxN)}}
  %1 = "hardcore.matmul"(%0, %0) : (tensor<2x3xi4>, tensor<2x3xi4>) -> tensor<2x3xi32>
  %2 = "hardcore.dequantize"(%1) {frac_bits = 0 : i64} : (tensor<2x3xi32>) -> tensor<2x3xf32>
  return %2 : tensor<2x3xf32>
}

// -----

func.func @exp_table_without_zero(%arg0: tensor<2xf32>) -> tensor<2xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 0 : i64, min = -4 : i64, max = 3 : i64} : (tensor<2xf32>) -> tensor<2xi3>
  // expected-error @+1 {{hardcore-fold-weights: the exp table covers [-4, -1], not [exp_min, 0]}}
  %1 = "hardcore.qsoftmax"(%0) {causal = 0 : i64, exp_table = dense<[0, 1, 1, 2]> : tensor<4xi64>, exp_min = -4 : i64, sum_shift = 0 : i64, recip_table = dense<[1]> : tensor<1xi64>, shift = 0 : i64, min = 0 : i64, max = 3 : i64} : (tensor<2xi3>) -> tensor<2xi3>
  %2 = "hardcore.dequantize"(%1) {frac_bits = 2 : i64} : (tensor<2xi3>) -> tensor<2xf32>
  return %2 : tensor<2xf32>
}

// -----

func.func @negative_exp(%arg0: tensor<2xf32>) -> tensor<2xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 0 : i64, min = -4 : i64, max = 3 : i64} : (tensor<2xf32>) -> tensor<2xi3>
  // expected-error @+1 {{hardcore-fold-weights: the exp table has a negative entry, -1}}
  %1 = "hardcore.qsoftmax"(%0) {causal = 0 : i64, exp_table = dense<[-1, 1]> : tensor<2xi64>, exp_min = -1 : i64, sum_shift = 0 : i64, recip_table = dense<[1]> : tensor<1xi64>, shift = 0 : i64, min = 0 : i64, max = 3 : i64} : (tensor<2xi3>) -> tensor<2xi3>
  %2 = "hardcore.dequantize"(%1) {frac_bits = 2 : i64} : (tensor<2xi3>) -> tensor<2xf32>
  return %2 : tensor<2xf32>
}

// -----

func.func @negative_sq_shift(%arg0: tensor<2xf32>) -> tensor<2xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 0 : i64, min = -4 : i64, max = 3 : i64} : (tensor<2xf32>) -> tensor<2xi3>
  // expected-error @+1 {{hardcore-fold-weights: sq_shift is -1: expected 0 or more}}
  %1 = "hardcore.qnorm"(%0) {rms = 1 : i64, sq_shift = -1 : i64, rsqrt_table = dense<[1]> : tensor<1xi64>, shift = 0 : i64, min = -8 : i64, max = 7 : i64} : (tensor<2xi3>) -> tensor<2xi4>
  %2 = "hardcore.dequantize"(%1) {frac_bits = 2 : i64} : (tensor<2xi4>) -> tensor<2xf32>
  return %2 : tensor<2xf32>
}

// -----

func.func @dense_rows(%arg0: tensor<4xf32>) -> tensor<2xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 0 : i64, min = -8 : i64, max = 7 : i64} : (tensor<4xf32>) -> tensor<4xi4>
  // expected-error @+1 {{hardcore-fold-weights: an operand of 4 elements is not rows of the weight's 3 columns}}
  %1 = "hardcore.dense"(%0) {weight = dense<1> : tensor<2x3xi8>, bias = dense<0> : tensor<2xi32>} : (tensor<4xi4>) -> tensor<2xi32>
  %2 = "hardcore.dequantize"(%1) {frac_bits = 0 : i64} : (tensor<2xi32>) -> tensor<2xf32>
  return %2 : tensor<2xf32>
}

// -----

func.func @empty_reciprocal_table(%arg0: tensor<2xf32>) -> tensor<2xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 0 : i64, min = -4 : i64, max = 3 : i64} : (tensor<2xf32>) -> tensor<2xi3>
  // expected-error @+1 {{hardcore-fold-weights: the reciprocal table is empty}}
  %1 = "hardcore.qsoftmax"(%0) {causal = 0 : i64, exp_table = dense<[1]> : tensor<1xi64>, exp_min = 0 : i64, sum_shift = 0 : i64, recip_table = dense<> : tensor<0xi64>, shift = 0 : i64, min = 0 : i64, max = 3 : i64} : (tensor<2xi3>) -> tensor<2xi3>
  %2 = "hardcore.dequantize"(%1) {frac_bits = 2 : i64} : (tensor<2xi3>) -> tensor<2xf32>
  return %2 : tensor<2xf32>
}
