// RUN: hardcore-opt %s --split-input-file --verify-diagnostics --pass-pipeline='builtin.module(hardcore-kv-decode)'

// expected-error @+1 {{hardcore-kv-decode: expected a quantized function of one argument starting with hardcore.quantize (run hardcore-quantize first)}}
func.func @float_layers(%arg0: tensor<2x2xf32>) -> tensor<2x2xf32> {
  %0 = "hardcore.relu"(%arg0) : (tensor<2x2xf32>) -> tensor<2x2xf32>
  return %0 : tensor<2x2xf32>
}

// -----

// Attention without a causal mask: position 0 attends to every key.
func.func @softmax_without_causal_mask(%ids: tensor<3xi64>) -> tensor<3x2xf32> {
  %0 = "hardcore.quantize"(%ids) {frac_bits = 0 : i64, min = 0 : i64, max = 3 : i64} : (tensor<3xi64>) -> tensor<3xi3>
  %x = "hardcore.embedding"(%0) {table = dense<[[[1, -2], [3, 0], [-1, 2], [2, 2]]]> : tensor<1x4x2xi8>} : (tensor<3xi3>) -> tensor<3x2xi3>
  %kt = "hardcore.gather"(%x) {indices = dense<[0, 2, 4, 1, 3, 5]> : tensor<6xi64>} : (tensor<3x2xi3>) -> tensor<2x3xi3>
  %s = "hardcore.matmul"(%x, %kt) : (tensor<3x2xi3>, tensor<2x3xi3>) -> tensor<3x3xi6>
  %s3 = "hardcore.requant"(%s) {shift = 3 : i64, min = -4 : i64, max = 3 : i64} : (tensor<3x3xi6>) -> tensor<3x3xi3>
  // expected-error @+1 {{hardcore-kv-decode: 'hardcore.qsoftmax' breaks causality: its result at position 0 depends on position 2 (it has no causal mask)}}
  %a = "hardcore.qsoftmax"(%s3) {causal = 0 : i64, exp_table = dense<[0, 0, 1, 1, 2, 3, 5, 8]> : tensor<8xi32>, exp_min = -7 : i64, sum_shift = 0 : i64, recip_table = dense<[64, 64, 64, 64, 64, 64, 64, 64, 64, 57, 51, 47, 43, 39, 37, 34, 32, 30, 28, 27, 26, 24, 23, 22, 21]> : tensor<25xi32>, shift = 6 : i64, min = 0 : i64, max = 7 : i64} : (tensor<3x3xi3>) -> tensor<3x3xi4>
  %o = "hardcore.matmul"(%a, %x) : (tensor<3x3xi4>, tensor<3x2xi3>) -> tensor<3x2xi8>
  %y = "hardcore.dequantize"(%o) {frac_bits = 3 : i64} : (tensor<3x2xi8>) -> tensor<3x2xf32>
  return %y : tensor<3x2xf32>
}

// -----

// Non-causal attention: the causal mask is applied to the transposed scores
// (key rows, query columns) and transposed back, so query 0 sees keys 0..2.
func.func @mask_on_the_keys(%ids: tensor<3xi64>) -> tensor<3x2xf32> {
  %0 = "hardcore.quantize"(%ids) {frac_bits = 0 : i64, min = 0 : i64, max = 3 : i64} : (tensor<3xi64>) -> tensor<3xi3>
  %x = "hardcore.embedding"(%0) {table = dense<[[[1, -2], [3, 0], [-1, 2], [2, 2]]]> : tensor<1x4x2xi8>} : (tensor<3xi3>) -> tensor<3x2xi3>
  %kt = "hardcore.gather"(%x) {indices = dense<[0, 2, 4, 1, 3, 5]> : tensor<6xi64>} : (tensor<3x2xi3>) -> tensor<2x3xi3>
  %s = "hardcore.matmul"(%x, %kt) : (tensor<3x2xi3>, tensor<2x3xi3>) -> tensor<3x3xi6>
  %st = "hardcore.gather"(%s) {indices = dense<[0, 3, 6, 1, 4, 7, 2, 5, 8]> : tensor<9xi64>} : (tensor<3x3xi6>) -> tensor<3x3xi6>
  %s3 = "hardcore.requant"(%st) {shift = 3 : i64, min = -4 : i64, max = 3 : i64} : (tensor<3x3xi6>) -> tensor<3x3xi3>
  // expected-error @+1 {{hardcore-kv-decode: 'hardcore.qsoftmax' breaks causality: its result at position 0 depends on position 2 (its causal mask does not hide the later positions)}}
  %a = "hardcore.qsoftmax"(%s3) {causal = 1 : i64, exp_table = dense<[0, 0, 1, 1, 2, 3, 5, 8]> : tensor<8xi32>, exp_min = -7 : i64, sum_shift = 0 : i64, recip_table = dense<[64, 64, 64, 64, 64, 64, 64, 64, 64, 57, 51, 47, 43, 39, 37, 34, 32, 30, 28, 27, 26, 24, 23, 22, 21]> : tensor<25xi32>, shift = 6 : i64, min = 0 : i64, max = 7 : i64} : (tensor<3x3xi3>) -> tensor<3x3xi4>
  %at = "hardcore.gather"(%a) {indices = dense<[0, 3, 6, 1, 4, 7, 2, 5, 8]> : tensor<9xi64>} : (tensor<3x3xi4>) -> tensor<3x3xi4>
  %o = "hardcore.matmul"(%at, %x) : (tensor<3x3xi4>, tensor<3x2xi3>) -> tensor<3x2xi8>
  %y = "hardcore.dequantize"(%o) {frac_bits = 3 : i64} : (tensor<3x2xi8>) -> tensor<3x2xf32>
  return %y : tensor<3x2xf32>
}

// -----

// Attention weights from the scores of every key (no softmax, no mask).
func.func @product_with_later_keys(%ids: tensor<3xi64>) -> tensor<3x3xf32> {
  %0 = "hardcore.quantize"(%ids) {frac_bits = 0 : i64, min = 0 : i64, max = 3 : i64} : (tensor<3xi64>) -> tensor<3xi3>
  %x = "hardcore.embedding"(%0) {table = dense<[[[1, -2], [3, 0], [-1, 2], [2, 2]]]> : tensor<1x4x2xi8>} : (tensor<3xi3>) -> tensor<3x2xi3>
  %kt = "hardcore.gather"(%x) {indices = dense<[0, 2, 4, 1, 3, 5]> : tensor<6xi64>} : (tensor<3x2xi3>) -> tensor<2x3xi3>
  // expected-error @+1 {{hardcore-kv-decode: 'hardcore.matmul' breaks causality: its result at position 0 depends on position 2}}
  %s = "hardcore.matmul"(%x, %kt) : (tensor<3x2xi3>, tensor<2x3xi3>) -> tensor<3x3xi6>
  %y = "hardcore.dequantize"(%s) {frac_bits = 3 : i64} : (tensor<3x3xi6>) -> tensor<3x3xf32>
  return %y : tensor<3x3xf32>
}

// -----

// The logits of the last position only (`[:, -1]`): not a row per position.
func.func @last_position_only(%ids: tensor<3xi64>) -> tensor<2xf32> {
  %0 = "hardcore.quantize"(%ids) {frac_bits = 0 : i64, min = 0 : i64, max = 3 : i64} : (tensor<3xi64>) -> tensor<3xi3>
  %x = "hardcore.embedding"(%0) {table = dense<[[[1, -2], [3, 0], [-1, 2], [2, 2]]]> : tensor<1x4x2xi8>} : (tensor<3xi3>) -> tensor<3x2xi3>
  // expected-error @+1 {{hardcore-kv-decode: 'hardcore.gather' keeps position 2 of 3: its result tensor<2xi3> is not per position}}
  %last = "hardcore.gather"(%x) {indices = dense<[4, 5]> : tensor<2xi64>} : (tensor<3x2xi3>) -> tensor<2xi3>
  %y = "hardcore.dequantize"(%last) {frac_bits = 3 : i64} : (tensor<2xi3>) -> tensor<2xf32>
  return %y : tensor<2xf32>
}

// -----

func.func @argmax_output(%ids: tensor<3xi64>) -> tensor<1xf32> {
  %0 = "hardcore.quantize"(%ids) {frac_bits = 0 : i64, min = 0 : i64, max = 3 : i64} : (tensor<3xi64>) -> tensor<3xi3>
  %x = "hardcore.embedding"(%0) {table = dense<[[[1, -2], [3, 0], [-1, 2], [2, 2]]]> : tensor<1x4x2xi8>} : (tensor<3xi3>) -> tensor<3x2xi3>
  // expected-error @+1 {{hardcore-kv-decode: cannot decode 'hardcore.argmax' (a step computes add_tensors, concat, dense, dequantize, embedding, gather, lut, matmul, mul_tensors, qnorm, qsoftmax, quantize, relu, requant, reshape, sub_tensors)}}
  %i = "hardcore.argmax"(%x) : (tensor<3x2xi3>) -> tensor<1xi4>
  %y = "hardcore.dequantize"(%i) {frac_bits = 0 : i64} : (tensor<1xi4>) -> tensor<1xf32>
  return %y : tensor<1xf32>
}

// -----

// The positions in reverse order.
func.func @reversed(%ids: tensor<3xi64>) -> tensor<3x2xf32> {
  %0 = "hardcore.quantize"(%ids) {frac_bits = 0 : i64, min = 0 : i64, max = 3 : i64} : (tensor<3xi64>) -> tensor<3xi3>
  %x = "hardcore.embedding"(%0) {table = dense<[[[1, -2], [3, 0], [-1, 2], [2, 2]]]> : tensor<1x4x2xi8>} : (tensor<3xi3>) -> tensor<3x2xi3>
  // expected-error @+1 {{hardcore-kv-decode: 'hardcore.gather' moves elements between positions: no axis of its result tensor<3x2xi3> holds one position per index}}
  %r = "hardcore.gather"(%x) {indices = dense<[4, 5, 2, 3, 0, 1]> : tensor<6xi64>} : (tensor<3x2xi3>) -> tensor<3x2xi3>
  %y = "hardcore.dequantize"(%r) {frac_bits = 3 : i64} : (tensor<3x2xi3>) -> tensor<3x2xf32>
  return %y : tensor<3x2xf32>
}

// -----

// A linear layer over time (rows of the transposed sequence).
func.func @dense_over_time(%ids: tensor<3xi64>) -> tensor<2x3xf32> {
  %0 = "hardcore.quantize"(%ids) {frac_bits = 0 : i64, min = 0 : i64, max = 3 : i64} : (tensor<3xi64>) -> tensor<3xi3>
  %x = "hardcore.embedding"(%0) {table = dense<[[[1, -2], [3, 0], [-1, 2], [2, 2]]]> : tensor<1x4x2xi8>} : (tensor<3xi3>) -> tensor<3x2xi3>
  %xt = "hardcore.gather"(%x) {indices = dense<[0, 2, 4, 1, 3, 5]> : tensor<6xi64>} : (tensor<3x2xi3>) -> tensor<2x3xi3>
  // expected-error @+1 {{hardcore-kv-decode: 'hardcore.dense' mixes positions: one of its rows of 3 elements holds positions 0, 1, 2}}
  %h = "hardcore.dense"(%xt) {weight = dense<[[1, 1, 1], [0, 1, 2], [1, 0, 0]]> : tensor<3x3xi8>, bias = dense<[0, 0, 0]> : tensor<3xi64>} : (tensor<2x3xi3>) -> tensor<2x3xi6>
  %y = "hardcore.dequantize"(%h) {frac_bits = 3 : i64} : (tensor<2x3xi6>) -> tensor<2x3xf32>
  return %y : tensor<2x3xf32>
}

// -----

// A normalization over the positions.
func.func @norm_over_time(%ids: tensor<3xi64>) -> tensor<2x3xf32> {
  %0 = "hardcore.quantize"(%ids) {frac_bits = 0 : i64, min = 0 : i64, max = 3 : i64} : (tensor<3xi64>) -> tensor<3xi3>
  %x = "hardcore.embedding"(%0) {table = dense<[[[1, -2], [3, 0], [-1, 2], [2, 2]]]> : tensor<1x4x2xi8>} : (tensor<3xi3>) -> tensor<3x2xi3>
  %xt = "hardcore.gather"(%x) {indices = dense<[0, 2, 4, 1, 3, 5]> : tensor<6xi64>} : (tensor<3x2xi3>) -> tensor<2x3xi3>
  // expected-error @+1 {{hardcore-kv-decode: 'hardcore.qnorm' breaks causality: its result at position 0 depends on position 2}}
  %n = "hardcore.qnorm"(%xt) {rms = 1 : i64, sq_shift = 0 : i64, rsqrt_table = dense<[4, 4, 3, 2]> : tensor<4xi32>, shift = 1 : i64, min = -4 : i64, max = 3 : i64} : (tensor<2x3xi3>) -> tensor<2x3xi3>
  %y = "hardcore.dequantize"(%n) {frac_bits = 3 : i64} : (tensor<2x3xi3>) -> tensor<2x3xf32>
  return %y : tensor<2x3xf32>
}

// -----

// A sum over the positions (x^T x).
func.func @sum_over_time(%ids: tensor<3xi64>) -> tensor<2x2xf32> {
  %0 = "hardcore.quantize"(%ids) {frac_bits = 0 : i64, min = 0 : i64, max = 3 : i64} : (tensor<3xi64>) -> tensor<3xi3>
  %x = "hardcore.embedding"(%0) {table = dense<[[[1, -2], [3, 0], [-1, 2], [2, 2]]]> : tensor<1x4x2xi8>} : (tensor<3xi3>) -> tensor<3x2xi3>
  %xt = "hardcore.gather"(%x) {indices = dense<[0, 2, 4, 1, 3, 5]> : tensor<6xi64>} : (tensor<3x2xi3>) -> tensor<2x3xi3>
  // expected-error @+1 {{hardcore-kv-decode: 'hardcore.matmul' sums over the positions (both operands hold them on the contracted axis): its result is not per position}}
  %g = "hardcore.matmul"(%xt, %x) : (tensor<2x3xi3>, tensor<3x2xi3>) -> tensor<2x2xi7>
  %y = "hardcore.dequantize"(%g) {frac_bits = 3 : i64} : (tensor<2x2xi7>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}

// -----

func.func @concat_along_positions(%ids: tensor<3xi64>) -> tensor<6x2xf32> {
  %0 = "hardcore.quantize"(%ids) {frac_bits = 0 : i64, min = 0 : i64, max = 3 : i64} : (tensor<3xi64>) -> tensor<3xi3>
  %x = "hardcore.embedding"(%0) {table = dense<[[[1, -2], [3, 0], [-1, 2], [2, 2]]]> : tensor<1x4x2xi8>} : (tensor<3xi3>) -> tensor<3x2xi3>
  // expected-error @+1 {{hardcore-kv-decode: 'hardcore.concat' joins along the positions (dim 0)}}
  %c = "hardcore.concat"(%x, %x) {dim = 0 : i64} : (tensor<3x2xi3>, tensor<3x2xi3>) -> tensor<6x2xi3>
  %y = "hardcore.dequantize"(%c) {frac_bits = 3 : i64} : (tensor<6x2xi3>) -> tensor<6x2xf32>
  return %y : tensor<6x2xf32>
}

// -----

func.func @add_across_axes(%ids: tensor<2xi64>) -> tensor<2x2xf32> {
  %0 = "hardcore.quantize"(%ids) {frac_bits = 0 : i64, min = 0 : i64, max = 3 : i64} : (tensor<2xi64>) -> tensor<2xi3>
  %x = "hardcore.embedding"(%0) {table = dense<[[[1, -2], [3, 0], [-1, 2], [2, 2]]]> : tensor<1x4x2xi8>} : (tensor<2xi3>) -> tensor<2x2xi3>
  %xt = "hardcore.gather"(%x) {indices = dense<[0, 2, 1, 3]> : tensor<4xi64>} : (tensor<2x2xi3>) -> tensor<2x2xi3>
  // expected-error @+1 {{hardcore-kv-decode: 'hardcore.add_tensors' mixes positions: its operands hold them on axes 0 and 1}}
  %s = "hardcore.add_tensors"(%x, %xt) : (tensor<2x2xi3>, tensor<2x2xi3>) -> tensor<2x2xi4>
  %y = "hardcore.dequantize"(%s) {frac_bits = 3 : i64} : (tensor<2x2xi4>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}

// -----

func.func @shift_per_position(%ids: tensor<2xi64>) -> tensor<2x2xf32> {
  %0 = "hardcore.quantize"(%ids) {frac_bits = 0 : i64, min = 0 : i64, max = 3 : i64} : (tensor<2xi64>) -> tensor<2xi3>
  %x = "hardcore.embedding"(%0) {table = dense<[[[1, -2], [3, 0], [-1, 2], [2, 2]]]> : tensor<1x4x2xi8>} : (tensor<2xi3>) -> tensor<2x2xi3>
  // expected-error @+1 {{hardcore-kv-decode: 'hardcore.requant' has shifts that differ between positions}}
  %r = "hardcore.requant"(%x) {shift = dense<[0, 0, 1, 1]> : tensor<4xi64>, min = -4 : i64, max = 3 : i64} : (tensor<2x2xi3>) -> tensor<2x2xi3>
  %y = "hardcore.dequantize"(%r) {frac_bits = 3 : i64} : (tensor<2x2xi3>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}

// -----

// expected-error @+1 {{hardcore-kv-decode: expected one result (the output of every position), got 2}}
func.func @two_results(%ids: tensor<2xi64>) -> (tensor<2xi3>, tensor<2xi3>) {
  %0 = "hardcore.quantize"(%ids) {frac_bits = 0 : i64, min = 0 : i64, max = 3 : i64} : (tensor<2xi64>) -> tensor<2xi3>
  return %0, %0 : tensor<2xi3>, tensor<2xi3>
}
