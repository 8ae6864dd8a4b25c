// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-quantize{act-bits=4})' | filecheck %s
// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-quantize{act-bits=4 weight-scale=per-channel})' | filecheck %s --check-prefix=CHANNEL

// Token ids (an int64 input) pass unchanged: frac bits 0, [0, V-1], as wide as
// that range (V = 5: i4).  The embedding's table becomes codes at the scale whose
// act-bits range holds it (1.5 at 4 signed bits: 2 frac bits, 1.5 -> 6); the
// result is as wide as the codes the ids reach (-4..6: i4).
// CHECK-LABEL: func.func @token_embedding
// CHECK: %[[T:.+]] = "hardcore.quantize"(%arg0) {frac_bits = 0 : i64, max = 4 : i64, min = 0 : i64} : (tensor<3xi64>) -> tensor<3xi4>
// CHECK: %[[E:.+]] = "hardcore.embedding"(%[[T]]) {table = dense<{{\[\[\[}}2, -4], [1, 3], [0, 0], [6, 2], [0, 1]]]> : tensor<1x5x2xi8>} : (tensor<3xi4>) -> tensor<3x2xi4>
// CHECK: "hardcore.dequantize"(%[[E]]) {frac_bits = 2 : i64}
func.func @token_embedding(%arg0: tensor<3xi64>) -> tensor<3x2xf32> {
  %0 = "hardcore.embedding"(%arg0) {table = dense<[[[0.5, -1.0], [0.25, 0.75], [-0.125, 0.0], [1.5, 0.5], [0.0, 0.25]]]> : tensor<1x5x2xf32>} : (tensor<3xi64>) -> tensor<3x2xf32>
  return %0 : tensor<3x2xf32>
}

// -----

// Two embeddings read the ids: the smaller vocabulary (3) bounds them.  A table
// >= 0 is unsigned (2.0 at 4 bits saturates to 15 at 3 frac bits), and with
// ids 0..2 the first embedding reaches the codes 2..8 only (i5), a learned
// position embedding (P = 2) included.
// CHECK-LABEL: func.func @smallest_vocabulary
// CHECK: "hardcore.quantize"(%arg0) {frac_bits = 0 : i64, max = 2 : i64, min = 0 : i64} : (tensor<2xi64>) -> tensor<2xi3>
// CHECK: "hardcore.embedding"(%{{.+}}) {table = dense<{{\[\[\[}}4], [2], [8], [15]], {{\[\[}}4], [2], [8], [15]]]> : tensor<2x4x1xi8>} : (tensor<2xi3>) -> tensor<2x1xi5>
// CHECK: "hardcore.embedding"(%{{.+}}) {table = dense<{{\[\[\[}}7], [-8], [4]]]> : tensor<1x3x1xi8>} : (tensor<2xi3>) -> tensor<2x1xi4>
func.func @smallest_vocabulary(%arg0: tensor<2xi64>) -> tensor<2x1xf32> {
  %0 = "hardcore.embedding"(%arg0) {table = dense<[[[0.5], [0.25], [1.0], [2.0]], [[0.5], [0.25], [1.0], [2.0]]]> : tensor<2x4x1xf32>} : (tensor<2xi64>) -> tensor<2x1xf32>
  %1 = "hardcore.embedding"(%arg0) {table = dense<[[[1.0], [-1.0], [0.5]]]> : tensor<1x3x1xf32>} : (tensor<2xi64>) -> tensor<2x1xf32>
  %2 = "hardcore.add_tensors"(%0, %1) : (tensor<2x1xf32>, tensor<2x1xf32>) -> tensor<2x1xf32>
  return %2 : tensor<2x1xf32>
}

// -----

// A dense over 3 rows of 2: the weights of one row; with per-channel weight
// scales the shifts of the two outputs repeat for each row.
// CHECK-LABEL: func.func @dense_over_rows
// CHECK: "hardcore.dense"(%{{.+}}) {bias = dense<[64, -32]> : tensor<2xi64>, weight = dense<{{\[\[}}64, -96], [4, 2]]> : tensor<2x2xi8>} : (tensor<3x2xi4>) -> tensor<3x2xi32>
// CHECK: "hardcore.requant"(%{{.+}}) {max = 7 : i64, min = -8 : i64, shift = 7 : i64} : (tensor<3x2xi32>) -> tensor<3x2xi4>
// CHANNEL-LABEL: func.func @dense_over_rows
// CHANNEL: "hardcore.dense"(%{{.+}}) {bias = dense<[64, -1024]> : tensor<2xi64>, weight = dense<{{\[\[}}64, -96], [127, 64]]> : tensor<2x2xi8>}
// CHANNEL: "hardcore.requant"(%{{.+}}) {max = 7 : i64, min = -8 : i64, shift = dense<[7, 12, 7, 12, 7, 12]> : tensor<6xi64>} : (tensor<3x2xi32>) -> tensor<3x2xi4>
func.func @dense_over_rows(%arg0: tensor<3x2xf32>) -> tensor<3x2xf32> {
  %0 = "hardcore.dense"(%arg0) {weight = dense<[[1.0, -1.5], [0.0625, 0.03125]]> : tensor<2x2xf32>, bias = dense<[0.5, -0.25]> : tensor<2xf32>} : (tensor<3x2xf32>) -> tensor<3x2xf32>
  return %0 : tensor<3x2xf32>
}

// -----

// A difference like a residual add: the layer's output (-2 frac bits) shifted
// left by 3 to the input's 1, exactly; x - y exact (-64..56 subtracted from
// -8..7: i8), requantized once at the difference's calibrated scale.
// CHECK-LABEL: func.func @sub_tensors
// CHECK: %[[X:.+]] = "hardcore.quantize"(%arg0) {frac_bits = 1 : i64
// CHECK: %[[L:.+]] = "hardcore.requant"(%{{.+}}) {max = 7 : i64, min = -8 : i64, shift = 8 : i64} : (tensor<2xi32>) -> tensor<2xi4>
// CHECK: %[[A:.+]] = "hardcore.requant"(%[[L]]) {max = 56 : i64, min = -64 : i64, shift = -3 : i64} : (tensor<2xi4>) -> tensor<2xi7>
// CHECK: %[[D:.+]] = "hardcore.sub_tensors"(%[[X]], %[[A]]) : (tensor<2xi4>, tensor<2xi7>) -> tensor<2xi8>
// CHECK: "hardcore.requant"(%[[D]]) {max = 7 : i64, min = -8 : i64, shift = 2 : i64} : (tensor<2xi8>) -> tensor<2xi4>
func.func @sub_tensors(%arg0: tensor<2xf32>) -> tensor<2xf32> {
  %0 = "hardcore.dense"(%arg0) {weight = dense<[[4.0, -2.0], [3.0, 1.0]]> : tensor<2x2xf32>, bias = dense<0.0> : tensor<2xf32>} : (tensor<2xf32>) -> tensor<2xf32>
  %1 = "hardcore.sub_tensors"(%arg0, %0) : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  return %1 : tensor<2xf32>
}

// -----

// Products of two activations, exact at 1 + 4 frac bits: relu(x) * sigmoid(x),
// both >= 0, is requantized to unsigned act-bits; x * sigmoid(x) to signed.
// The product's type holds the interval product: [-8, 7] * [0, 15] is i8.
// CHECK-LABEL: func.func @mul_tensors
// CHECK: %[[X:.+]] = "hardcore.quantize"(%arg0) {frac_bits = 1 : i64
// CHECK: %[[R:.+]] = "hardcore.relu"(%[[X]])
// CHECK: %[[S:.+]] = "hardcore.lut"(%[[X]]) {hardcore.kind = "sigmoid, 16 entries, frac bits 1 -> 4"
// CHECK: %[[P:.+]] = "hardcore.mul_tensors"(%[[R]], %[[S]]) : (tensor<2xi4>, tensor<2xi5>) -> tensor<2xi8>
// CHECK: "hardcore.requant"(%[[P]]) {max = 15 : i64, min = 0 : i64, shift = 3 : i64} : (tensor<2xi8>) -> tensor<2xi5>
// CHECK: %[[Q:.+]] = "hardcore.mul_tensors"(%[[X]], %[[S]]) : (tensor<2xi4>, tensor<2xi5>) -> tensor<2xi8>
// CHECK: "hardcore.requant"(%[[Q]]) {max = 7 : i64, min = -8 : i64, shift = 4 : i64} : (tensor<2xi8>) -> tensor<2xi4>
func.func @mul_tensors(%arg0: tensor<2xf32>) -> tensor<2xf32> {
  %0 = "hardcore.relu"(%arg0) : (tensor<2xf32>) -> tensor<2xf32>
  %1 = "hardcore.activation"(%arg0) {fn = "sigmoid", params = {}} : (tensor<2xf32>) -> tensor<2xf32>
  %2 = "hardcore.mul_tensors"(%0, %1) : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  %3 = "hardcore.mul_tensors"(%arg0, %1) : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  %4 = "hardcore.add_tensors"(%2, %3) : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  return %4 : tensor<2xf32>
}

// -----

// x @ x^T over 3 products: exact at 2 frac bits in [3 * -56, 3 * 64] (i9),
// requantized to act-bits at its calibrated scale (-1 frac bits).
// CHECK-LABEL: func.func @matmul
// CHECK: %[[X:.+]] = "hardcore.quantize"(%arg0) {frac_bits = 1 : i64
// CHECK: %[[T:.+]] = "hardcore.gather"(%[[X]])
// CHECK: %[[P:.+]] = "hardcore.matmul"(%[[X]], %[[T]]) : (tensor<2x3xi4>, tensor<3x2xi4>) -> tensor<2x2xi9>
// CHECK: %[[Q:.+]] = "hardcore.requant"(%[[P]]) {max = 7 : i64, min = -8 : i64, shift = 3 : i64} : (tensor<2x2xi9>) -> tensor<2x2xi4>
// CHECK: "hardcore.dequantize"(%[[Q]]) {frac_bits = -1 : i64}
func.func @matmul(%arg0: tensor<2x3xf32>) -> tensor<2x2xf32> {
  %0 = "hardcore.gather"(%arg0) {indices = dense<[0, 3, 1, 4, 2, 5]> : tensor<6xi64>} : (tensor<2x3xf32>) -> tensor<3x2xf32>
  %1 = "hardcore.matmul"(%arg0, %0) : (tensor<2x3xf32>, tensor<3x2xf32>) -> tensor<2x2xf32>
  return %1 : tensor<2x2xf32>
}

// -----

// softmax(0.5 x) over rows of N = 2 at 1 frac bit, act-bits A = 4: f_e = A +
// ceil(log2 N) = 5, so e(0) = 32 and the table covers the differences down to
// lo - hi = -15 (exp(-3.75) * 32 = 0.75 -> 1); sum_shift = ceil(log2 N) = 1,
// so the reciprocal table has one entry per step of 2 up to N * 32:
// round(2^11 / max(2k, 32)); the output is unsigned 4 bits at 2^-4
// (shift 11 - 4).  The causal mask is kept.
// CHECK-LABEL: func.func @softmax_causal
// CHECK: %[[X:.+]] = "hardcore.quantize"(%arg0) {frac_bits = 1 : i64
// CHECK: %[[P:.+]] = "hardcore.qsoftmax"(%[[X]]) {causal = 1 : i64, exp_min = -15 : i64, exp_table = dense<[1, 1, 1, 2, 2, 3, 3, 4, 6, 7, 9, 12, 15, 19, 25, 32]> : tensor<16xi64>, max = 15 : i64, min = 0 : i64, recip_table = dense<[64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 60, 57, 54, 51, 49, 47, 45, 43, 41, 39, 38, 37, 35, 34, 33, 32]> : tensor<33xi64>, shift = 7 : i64, sum_shift = 1 : i64} : (tensor<2x2xi4>) -> tensor<2x2xi5>
// CHECK: "hardcore.dequantize"(%[[P]]) {frac_bits = 4 : i64}
func.func @softmax_causal(%arg0: tensor<2x2xf32>) -> tensor<2x2xf32> {
  %0 = "hardcore.softmax"(%arg0) {scale = 0.5 : f64, causal = 1 : i64} : (tensor<2x2xf32>) -> tensor<2x2xf32>
  return %0 : tensor<2x2xf32>
}

// -----

// A larger scale: the exp table stops at the largest difference whose entry
// is 0 (exp(2 d 2^-1) * 2^6 < 1/2 from d = -5 down), not at lo - hi = -15.
// CHECK-LABEL: func.func @softmax_exp_table_ends_at_zero
// CHECK: "hardcore.qsoftmax"(%{{.+}}) {causal = 0 : i64, exp_min = -5 : i64, exp_table = dense<[0, 1, 3, 9, 24, 64]> : tensor<6xi64>
func.func @softmax_exp_table_ends_at_zero(%arg0: tensor<4xf32>) -> tensor<4xf32> {
  %0 = "hardcore.softmax"(%arg0) {scale = 2.0 : f64, causal = 0 : i64} : (tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// LayerNorm over 4 elements at 1 frac bit: c = 4x - sum(x), Q = sum(c^2); the
// calibration's largest Q sets sq_shift = bitlen(Q_cal) - (A + 2) = 5, so the
// inverse square-root table has at most 2^(A+2) entries, its last one
// 2^(A+1) = 32; the output is signed act-bits at its calibrated scale.
// CHECK-LABEL: func.func @layernorm
// CHECK: %[[X:.+]] = "hardcore.quantize"(%arg0) {frac_bits = 1 : i64
// CHECK: %[[N:.+]] = "hardcore.qnorm"(%[[X]]) {max = 7 : i64, min = -8 : i64, rms = 0 : i64, rsqrt_table = dense<[256, 181, 128, 105, {{.*}}, 33, 32, 32]> : tensor<34xi64>, shift = 7 : i64, sq_shift = 5 : i64} : (tensor<2x4xi4>) -> tensor<2x4xi4>
// CHECK: "hardcore.dequantize"(%[[N]]) {frac_bits = 2 : i64}
func.func @layernorm(%arg0: tensor<2x4xf32>) -> tensor<2x4xf32> {
  %0 = "hardcore.layernorm"(%arg0) {eps = 1.0e-05 : f64, rms = 0 : i64} : (tensor<2x4xf32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

// RMSNorm: c = x, Q = sum(x^2).
// CHECK-LABEL: func.func @rmsnorm
// CHECK: "hardcore.qnorm"(%{{.+}}) {max = 7 : i64, min = -8 : i64, rms = 1 : i64, rsqrt_table = dense<[512, 362, 256, {{.*}}, 62, 61]> : tensor<36xi64>, shift = 6 : i64, sq_shift = 1 : i64} : (tensor<4xi4>) -> tensor<4xi4>
func.func @rmsnorm(%arg0: tensor<4xf32>) -> tensor<4xf32> {
  %0 = "hardcore.layernorm"(%arg0) {eps = 1.0e-05 : f64, rms = 1 : i64} : (tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// GELU (erf and tanh) and SiLU are tables like every function; a table reads
// only the codes the op before it produces (GELU's 0..7 after the first).
// CHECK-LABEL: func.func @gelu_silu
// CHECK: "hardcore.lut"(%{{.+}}) {hardcore.kind = "gelu, 16 entries, frac bits 1 -> 1", min = -8 : i64, table = dense<[0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7]> : tensor<16xi64>} : (tensor<2xi4>) -> tensor<2xi4>
// CHECK: "hardcore.lut"(%{{.+}}) {hardcore.kind = "silu, 8 entries, frac bits 1 -> 2", min = 0 : i64, table = dense<[0, 1, 3, 5, 7, 9, 11, 14]> : tensor<8xi64>} : (tensor<2xi4>) -> tensor<2xi5>
// CHECK: "hardcore.lut"(%{{.+}}) {hardcore.kind = "gelu_tanh, 15 entries, frac bits 2 -> 2", min = 0 : i64
func.func @gelu_silu(%arg0: tensor<2xf32>) -> tensor<2xf32> {
  %0 = "hardcore.activation"(%arg0) {fn = "gelu", params = {}} : (tensor<2xf32>) -> tensor<2xf32>
  %1 = "hardcore.activation"(%0) {fn = "silu", params = {}} : (tensor<2xf32>) -> tensor<2xf32>
  %2 = "hardcore.activation"(%1) {fn = "gelu_tanh", params = {}} : (tensor<2xf32>) -> tensor<2xf32>
  return %2 : tensor<2xf32>
}
