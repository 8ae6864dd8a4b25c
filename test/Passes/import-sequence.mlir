// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-import)' | filecheck %s

// Sequence models (docs/dialect.md, "Sequence models") as torch-mlir's FX importer
// writes them (locations dropped, weights inline).  Tensors keep their shapes:
// [T, D] for T positions.

// A Linear on a sequence [1, 3, 2]: one `hardcore.dense` over the 3 rows, the same
// 2x2 weights on each (no expanded matrix).
// CHECK-LABEL: func.func @linear_rows
// CHECK-SAME: (%[[X:.+]]: tensor<3x2xf32>) -> tensor<3x2xf32>
// CHECK-NEXT: %[[D:.+]] = "hardcore.dense"(%[[X]]) {bias = dense<[5.000000e-01, -1.000000e+00]> : tensor<2xf32>, hardcore.kind = "linear 2->2, 3 rows", weight = dense<{{\[\[}}1.000000e+00, -5.000000e-01], [2.500000e-01, 2.000000e+00]]> : tensor<2x2xf32>} : (tensor<3x2xf32>) -> tensor<3x2xf32>
// CHECK-NEXT: return %[[D]]
func.func @linear_rows(%arg0: !torch.vtensor<[1,3,2],f32>) -> !torch.vtensor<[1,3,2],f32> {
  %0 = torch.vtensor.literal(dense<[[1.0, -0.5], [0.25, 2.0]]> : tensor<2x2xf32>) : !torch.vtensor<[2,2],f32>
  %1 = torch.vtensor.literal(dense<[0.5, -1.0]> : tensor<2xf32>) : !torch.vtensor<[2],f32>
  %2 = torch.aten.linear %arg0, %0, %1 : !torch.vtensor<[1,3,2],f32>, !torch.vtensor<[2,2],f32>, !torch.vtensor<[2],f32> -> !torch.vtensor<[1,3,2],f32>
  return %2 : !torch.vtensor<[1,3,2],f32>
}

// -----

// nn.Embedding(3, 2) of the token ids (int64: the argument is tensor<2xi64>) plus a
// learned position embedding pos[:2], sliced from a [4, 2] parameter: the slice is
// folded, and the positions into the table, one 3x2 table per position
// (table[t] = E + pos[t]).
// CHECK-LABEL: func.func @embedding_positions
// CHECK-SAME: (%[[IDS:.+]]: tensor<2xi64>) -> tensor<2x2xf32>
// CHECK-NEXT: %[[E:.+]] = "hardcore.embedding"(%[[IDS]]) {hardcore.kind = "embedding 3x2, 2 tokens + positions", table = dense<{{\[\[\[}}1.000000e+01, 2.000000e+01], [1.100000e+01, 2.100000e+01], [1.200000e+01, 2.200000e+01]], {{\[\[}}3.000000e+01, 4.000000e+01], [3.100000e+01, 4.100000e+01], [3.200000e+01, 4.200000e+01]]]> : tensor<2x3x2xf32>} : (tensor<2xi64>) -> tensor<2x2xf32>
// CHECK-NEXT: return %[[E]]
func.func @embedding_positions(%arg0: !torch.vtensor<[1,2],si64>) -> !torch.vtensor<[1,2,2],f32> {
  %int-1 = torch.constant.int -1
  %int0 = torch.constant.int 0
  %int1 = torch.constant.int 1
  %int2 = torch.constant.int 2
  %false = torch.constant.bool false
  %0 = torch.vtensor.literal(dense<[[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]> : tensor<3x2xf32>) : !torch.vtensor<[3,2],f32>
  %1 = torch.vtensor.literal(dense<[[10.0, 20.0], [30.0, 40.0], [50.0, 60.0], [70.0, 80.0]]> : tensor<4x2xf32>) : !torch.vtensor<[4,2],f32>
  %2 = torch.aten.embedding %0, %arg0, %int-1, %false, %false : !torch.vtensor<[3,2],f32>, !torch.vtensor<[1,2],si64>, !torch.int, !torch.bool, !torch.bool -> !torch.vtensor<[1,2,2],f32>
  %3 = torch.aten.slice.Tensor %1, %int0, %int0, %int2, %int1 : !torch.vtensor<[4,2],f32>, !torch.int, !torch.int, !torch.int, !torch.int -> !torch.vtensor<[2,2],f32>
  %4 = torch.aten.add.Tensor %2, %3, %int1 : !torch.vtensor<[1,2,2],f32>, !torch.vtensor<[2,2],f32>, !torch.int -> !torch.vtensor<[1,2,2],f32>
  return %4 : !torch.vtensor<[1,2,2],f32>
}

// -----

// A constant the same in every row (shape [2]) added to a computed tensor: a
// diagonal dense over rows, the constant its bias.  x * 0.5 (mul.Scalar) is one too.
// CHECK-LABEL: func.func @row_constants
// CHECK-SAME: (%[[X:.+]]: tensor<3x2xf32>)
// CHECK-NEXT: %[[B:.+]] = "hardcore.dense"(%[[X]]) {bias = dense<[1.000000e+00, 2.000000e+00]> : tensor<2xf32>, hardcore.kind = "add a constant (diagonal 2x2), 3 rows", weight = dense<{{\[\[}}1.000000e+00, 0.000000e+00], [0.000000e+00, 1.000000e+00]]> : tensor<2x2xf32>} : (tensor<3x2xf32>) -> tensor<3x2xf32>
// CHECK-NEXT: %[[S:.+]] = "hardcore.dense"(%[[B]]) {bias = dense<0.000000e+00> : tensor<2xf32>, hardcore.kind = "mul.Scalar 0.5 (diagonal 2x2), 3 rows", weight = dense<{{\[\[}}5.000000e-01, 0.000000e+00], [0.000000e+00, 5.000000e-01]]> : tensor<2x2xf32>} : (tensor<3x2xf32>) -> tensor<3x2xf32>
// CHECK-NEXT: return %[[S]]
func.func @row_constants(%arg0: !torch.vtensor<[1,3,2],f32>) -> !torch.vtensor<[1,3,2],f32> {
  %int1 = torch.constant.int 1
  %float = torch.constant.float 5.000000e-01
  %0 = torch.vtensor.literal(dense<[1.0, 2.0]> : tensor<2xf32>) : !torch.vtensor<[2],f32>
  %1 = torch.aten.add.Tensor %arg0, %0, %int1 : !torch.vtensor<[1,3,2],f32>, !torch.vtensor<[2],f32>, !torch.int -> !torch.vtensor<[1,3,2],f32>
  %2 = torch.aten.mul.Scalar %1, %float : !torch.vtensor<[1,3,2],f32>, !torch.float -> !torch.vtensor<[1,3,2],f32>
  return %2 : !torch.vtensor<[1,3,2],f32>
}

// -----

// Hand-written causal attention: q·kᵀ (bmm of two computed tensors: a
// `hardcore.matmul`), / 2 (div.Scalar) and masked_fill(~tril, -inf) (tril and
// bitwise_not of a constant fold; where.self is the mask) fold into one
// `hardcore.softmax` {scale = 0.5, causal = 1}; then · v.
// CHECK-LABEL: func.func @causal_attention
// CHECK-SAME: (%[[X:.+]]: tensor<3x2xf32>) -> tensor<3x2xf32>
// CHECK-NEXT: %[[F:.+]] = "hardcore.reshape"(%[[X]]) : (tensor<3x2xf32>) -> tensor<6xf32>
// CHECK-NEXT: %[[KT:.+]] = "hardcore.gather"(%[[F]]) {indices = dense<[0, 2, 4, 1, 3, 5]> : tensor<6xi64>} : (tensor<6xf32>) -> tensor<6xf32>
// CHECK-NEXT: %[[K:.+]] = "hardcore.reshape"(%[[KT]]) : (tensor<6xf32>) -> tensor<2x3xf32>
// CHECK-NEXT: %[[S:.+]] = "hardcore.matmul"(%[[X]], %[[K]]) {hardcore.kind = "matmul 3x2 @ 2x3"} : (tensor<3x2xf32>, tensor<2x3xf32>) -> tensor<3x3xf32>
// CHECK-NEXT: %[[P:.+]] = "hardcore.softmax"(%[[S]]) {causal = 1 : i64, hardcore.kind = "softmax 3x3, causal", scale = 5.000000e-01 : f64} : (tensor<3x3xf32>) -> tensor<3x3xf32>
// CHECK-NEXT: %[[A:.+]] = "hardcore.matmul"(%[[P]], %[[X]]) {hardcore.kind = "matmul 3x3 @ 3x2"} : (tensor<3x3xf32>, tensor<3x2xf32>) -> tensor<3x2xf32>
// CHECK-NEXT: return %[[A]]
func.func @causal_attention(%arg0: !torch.vtensor<[1,3,2],f32>) -> !torch.vtensor<[1,3,2],f32> {
  %int0 = torch.constant.int 0
  %int1 = torch.constant.int 1
  %int2 = torch.constant.int 2
  %int-1 = torch.constant.int -1
  %none = torch.constant.none
  %float2 = torch.constant.float 2.000000e+00
  %0 = torch.vtensor.literal(dense<0xFF800000> : tensor<f32>) : !torch.vtensor<[],f32>
  %1 = torch.vtensor.literal(dense<true> : tensor<3x3xi1>) : !torch.vtensor<[3,3],i1>
  %2 = torch.aten.transpose.int %arg0, %int1, %int2 : !torch.vtensor<[1,3,2],f32>, !torch.int, !torch.int -> !torch.vtensor<[1,2,3],f32>
  %3 = torch.aten.bmm %arg0, %2 : !torch.vtensor<[1,3,2],f32>, !torch.vtensor<[1,2,3],f32> -> !torch.vtensor<[1,3,3],f32>
  %4 = torch.aten.div.Scalar %3, %float2 : !torch.vtensor<[1,3,3],f32>, !torch.float -> !torch.vtensor<[1,3,3],f32>
  %5 = torch.aten.tril %1, %int0 : !torch.vtensor<[3,3],i1>, !torch.int -> !torch.vtensor<[3,3],i1>
  %6 = torch.aten.bitwise_not %5 : !torch.vtensor<[3,3],i1> -> !torch.vtensor<[3,3],i1>
  %7 = torch.aten.where.self %6, %0, %4 : !torch.vtensor<[3,3],i1>, !torch.vtensor<[],f32>, !torch.vtensor<[1,3,3],f32> -> !torch.vtensor<[1,3,3],f32>
  %8 = torch.aten.softmax.int %7, %int-1, %none : !torch.vtensor<[1,3,3],f32>, !torch.int, !torch.none -> !torch.vtensor<[1,3,3],f32>
  %9 = torch.aten.bmm %8, %arg0 : !torch.vtensor<[1,3,3],f32>, !torch.vtensor<[1,3,2],f32> -> !torch.vtensor<[1,3,2],f32>
  return %9 : !torch.vtensor<[1,3,2],f32>
}

// -----

// F.scaled_dot_product_attention(q, k, v, is_causal=True) with one head of width 2:
// kᵀ is a gather, then matmul, softmax {scale = 1/sqrt(2), causal = 1}, matmul.
// The view to [1, 1, 3, 2] and back only reshapes.
// CHECK-LABEL: func.func @sdpa_causal
// CHECK-SAME: (%[[X:.+]]: tensor<3x2xf32>) -> tensor<3x2xf32>
// CHECK: %[[S:.+]] = "hardcore.matmul"(%[[X]], %{{.+}}) {hardcore.kind = "matmul 3x2 @ 2x3"}
// CHECK-NEXT: %[[P:.+]] = "hardcore.softmax"(%[[S]]) {causal = 1 : i64, hardcore.kind = "softmax 3x3, causal", scale = 0.70710678118654746 : f64}
// CHECK-NEXT: %[[A:.+]] = "hardcore.matmul"(%[[P]], %[[X]])
// CHECK-NEXT: return %[[A]] : tensor<3x2xf32>
func.func @sdpa_causal(%arg0: !torch.vtensor<[1,3,2],f32>) -> !torch.vtensor<[1,3,2],f32> {
  %false = torch.constant.bool false
  %true = torch.constant.bool true
  %float0 = torch.constant.float 0.000000e+00
  %none = torch.constant.none
  %int1 = torch.constant.int 1
  %int3 = torch.constant.int 3
  %int2 = torch.constant.int 2
  %0 = torch.prim.ListConstruct %int1, %int1, %int3, %int2 : (!torch.int, !torch.int, !torch.int, !torch.int) -> !torch.list<int>
  %1 = torch.aten.view %arg0, %0 : !torch.vtensor<[1,3,2],f32>, !torch.list<int> -> !torch.vtensor<[1,1,3,2],f32>
  %2 = torch.aten.scaled_dot_product_attention %1, %1, %1, %none, %float0, %true, %none, %false : !torch.vtensor<[1,1,3,2],f32>, !torch.vtensor<[1,1,3,2],f32>, !torch.vtensor<[1,1,3,2],f32>, !torch.none, !torch.float, !torch.bool, !torch.none, !torch.bool -> !torch.vtensor<[1,1,3,2],f32>
  %3 = torch.prim.ListConstruct %int1, %int3, %int2 : (!torch.int, !torch.int, !torch.int) -> !torch.list<int>
  %4 = torch.aten.view %2, %3 : !torch.vtensor<[1,1,3,2],f32>, !torch.list<int> -> !torch.vtensor<[1,3,2],f32>
  return %4 : !torch.vtensor<[1,3,2],f32>
}

// -----

// nn.LayerNorm(2): a `hardcore.layernorm` {eps, rms = 0} and its γ, β as a diagonal
// dense over rows; without them (F.layer_norm) nothing follows.  nn.RMSNorm with
// eps None: rms = 1 and torch's eps, float32's machine epsilon.
// CHECK-LABEL: func.func @norms
// CHECK-SAME: (%[[X:.+]]: tensor<3x2xf32>)
// CHECK-NEXT: %[[L:.+]] = "hardcore.layernorm"(%[[X]]) {eps = 1.000000e-05 : f64, hardcore.kind = "layernorm 3x2", rms = 0 : i64} : (tensor<3x2xf32>) -> tensor<3x2xf32>
// CHECK-NEXT: %[[A:.+]] = "hardcore.dense"(%[[L]]) {bias = dense<[5.000000e-01, 0.000000e+00]> : tensor<2xf32>, hardcore.kind = "layernorm weight (diagonal 2x2), 3 rows", weight = dense<{{\[\[}}2.000000e+00, 0.000000e+00], [0.000000e+00, 3.000000e+00]]> : tensor<2x2xf32>}
// CHECK-NEXT: %[[P:.+]] = "hardcore.layernorm"(%[[A]]) {eps = 1.000000e-05 : f64, hardcore.kind = "layernorm 3x2", rms = 0 : i64}
// CHECK-NEXT: %[[R:.+]] = "hardcore.layernorm"(%[[P]]) {eps = 1.1920928955078125E-7 : f64, hardcore.kind = "rmsnorm 3x2", rms = 1 : i64}
// CHECK-NEXT: return %[[R]]
func.func @norms(%arg0: !torch.vtensor<[1,3,2],f32>) -> !torch.vtensor<[1,3,2],f32> {
  %float = torch.constant.float 1.000000e-05
  %false = torch.constant.bool false
  %none = torch.constant.none
  %int2 = torch.constant.int 2
  %0 = torch.vtensor.literal(dense<[2.0, 3.0]> : tensor<2xf32>) : !torch.vtensor<[2],f32>
  %1 = torch.vtensor.literal(dense<[0.5, 0.0]> : tensor<2xf32>) : !torch.vtensor<[2],f32>
  %2 = torch.prim.ListConstruct %int2 : (!torch.int) -> !torch.list<int>
  %3 = torch.aten.layer_norm %arg0, %2, %0, %1, %float, %false : !torch.vtensor<[1,3,2],f32>, !torch.list<int>, !torch.vtensor<[2],f32>, !torch.vtensor<[2],f32>, !torch.float, !torch.bool -> !torch.vtensor<[1,3,2],f32>
  %4 = torch.aten.layer_norm %3, %2, %none, %none, %float, %false : !torch.vtensor<[1,3,2],f32>, !torch.list<int>, !torch.none, !torch.none, !torch.float, !torch.bool -> !torch.vtensor<[1,3,2],f32>
  %5 = torch.aten.rms_norm %4, %2, %none, %none : !torch.vtensor<[1,3,2],f32>, !torch.list<int>, !torch.none, !torch.none -> !torch.vtensor<[1,3,2],f32>
  return %5 : !torch.vtensor<[1,3,2],f32>
}

// -----

// A norm whose only user is a linear (directly, or through selections of rows:
// slice and squeeze of the position dim) takes no diagonal dense: γ and β fold
// into the linear, W·diag(γ) and W·β + b (one rounding fewer once quantized).
// W = [[1, 1], [1, -1]], b = [0.25, 0], γ = [2, 3], β = [0.5, 0]:
// W·diag(γ) = [[2, 3], [2, -3]], W·β + b = [0.75, 0.5].
// CHECK-LABEL: func.func @norm_into_linear
// CHECK-SAME: (%[[X:.+]]: tensor<3x2xf32>)
// CHECK-NEXT: %[[L:.+]] = "hardcore.layernorm"(%[[X]]) {eps = 1.000000e-05 : f64, hardcore.kind = "layernorm 3x2", rms = 0 : i64}
// CHECK-NEXT: %[[D:.+]] = "hardcore.dense"(%[[L]]) {bias = dense<[7.500000e-01, 5.000000e-01]> : tensor<2xf32>, hardcore.kind = "linear 2->2 with the layernorm weight, 3 rows", weight = dense<{{\[\[}}2.000000e+00, 3.000000e+00], [2.000000e+00, -3.000000e+00]]> : tensor<2x2xf32>}
// CHECK-NEXT: %[[M:.+]] = "hardcore.layernorm"(%[[D]]) {eps = 1.000000e-05 : f64, hardcore.kind = "layernorm 3x2", rms = 0 : i64}
// CHECK: %[[LAST:.+]] = "hardcore.gather"(%{{.+}})
// CHECK: "hardcore.dense"(%[[LAST]]) {bias = dense<[7.500000e-01, 5.000000e-01]> : tensor<2xf32>, hardcore.kind = "linear 2->2 with the layernorm weight"
// CHECK-NOT: diagonal
// CHECK: return
func.func @norm_into_linear(%arg0: !torch.vtensor<[1,3,2],f32>) -> !torch.vtensor<[1,2],f32> {
  %float = torch.constant.float 1.000000e-05
  %false = torch.constant.bool false
  %int1 = torch.constant.int 1
  %int2 = torch.constant.int 2
  %int3 = torch.constant.int 3
  %g = torch.vtensor.literal(dense<[2.0, 3.0]> : tensor<2xf32>) : !torch.vtensor<[2],f32>
  %b = torch.vtensor.literal(dense<[0.5, 0.0]> : tensor<2xf32>) : !torch.vtensor<[2],f32>
  %w = torch.vtensor.literal(dense<[[1.0, 1.0], [1.0, -1.0]]> : tensor<2x2xf32>) : !torch.vtensor<[2,2],f32>
  %c = torch.vtensor.literal(dense<[0.25, 0.0]> : tensor<2xf32>) : !torch.vtensor<[2],f32>
  %shape = torch.prim.ListConstruct %int2 : (!torch.int) -> !torch.list<int>
  %0 = torch.aten.layer_norm %arg0, %shape, %g, %b, %float, %false : !torch.vtensor<[1,3,2],f32>, !torch.list<int>, !torch.vtensor<[2],f32>, !torch.vtensor<[2],f32>, !torch.float, !torch.bool -> !torch.vtensor<[1,3,2],f32>
  %1 = torch.aten.linear %0, %w, %c : !torch.vtensor<[1,3,2],f32>, !torch.vtensor<[2,2],f32>, !torch.vtensor<[2],f32> -> !torch.vtensor<[1,3,2],f32>
  %2 = torch.aten.layer_norm %1, %shape, %g, %b, %float, %false : !torch.vtensor<[1,3,2],f32>, !torch.list<int>, !torch.vtensor<[2],f32>, !torch.vtensor<[2],f32>, !torch.float, !torch.bool -> !torch.vtensor<[1,3,2],f32>
  %3 = torch.aten.slice.Tensor %2, %int1, %int2, %int3, %int1 : !torch.vtensor<[1,3,2],f32>, !torch.int, !torch.int, !torch.int, !torch.int -> !torch.vtensor<[1,1,2],f32>
  %4 = torch.aten.squeeze.dim %3, %int1 : !torch.vtensor<[1,1,2],f32>, !torch.int -> !torch.vtensor<[1,2],f32>
  %5 = torch.aten.linear %4, %w, %c : !torch.vtensor<[1,2],f32>, !torch.vtensor<[2,2],f32>, !torch.vtensor<[2],f32> -> !torch.vtensor<[1,2],f32>
  return %5 : !torch.vtensor<[1,2],f32>
}

// -----

// A norm with two users (a linear and a residual add) keeps γ and β as its own
// diagonal dense: the add needs them too.
// CHECK-LABEL: func.func @norm_two_users
// CHECK: "hardcore.layernorm"
// CHECK-NEXT: %[[A:.+]] = "hardcore.dense"(%{{.+}}) {{.*}}hardcore.kind = "layernorm weight (diagonal 2x2), 3 rows"
// CHECK-NEXT: "hardcore.dense"(%[[A]]) {{.*}}hardcore.kind = "linear 2->2, 3 rows"
func.func @norm_two_users(%arg0: !torch.vtensor<[1,3,2],f32>) -> !torch.vtensor<[1,3,2],f32> {
  %float = torch.constant.float 1.000000e-05
  %false = torch.constant.bool false
  %int1 = torch.constant.int 1
  %int2 = torch.constant.int 2
  %g = torch.vtensor.literal(dense<[2.0, 3.0]> : tensor<2xf32>) : !torch.vtensor<[2],f32>
  %b = torch.vtensor.literal(dense<[0.5, 0.0]> : tensor<2xf32>) : !torch.vtensor<[2],f32>
  %w = torch.vtensor.literal(dense<[[1.0, 1.0], [1.0, -1.0]]> : tensor<2x2xf32>) : !torch.vtensor<[2,2],f32>
  %shape = torch.prim.ListConstruct %int2 : (!torch.int) -> !torch.list<int>
  %none = torch.constant.none
  %0 = torch.aten.layer_norm %arg0, %shape, %g, %b, %float, %false : !torch.vtensor<[1,3,2],f32>, !torch.list<int>, !torch.vtensor<[2],f32>, !torch.vtensor<[2],f32>, !torch.float, !torch.bool -> !torch.vtensor<[1,3,2],f32>
  %1 = torch.aten.linear %0, %w, %none : !torch.vtensor<[1,3,2],f32>, !torch.vtensor<[2,2],f32>, !torch.none -> !torch.vtensor<[1,3,2],f32>
  %2 = torch.aten.add.Tensor %0, %1, %int1 : !torch.vtensor<[1,3,2],f32>, !torch.vtensor<[1,3,2],f32>, !torch.int -> !torch.vtensor<[1,3,2],f32>
  return %2 : !torch.vtensor<[1,3,2],f32>
}

// -----

// An RMSNorm written out, x * rsqrt(mean(x^2, -1, keepdim=True) + eps): one
// `hardcore.layernorm` {rms = 1} (pow, mean, add and rsqrt fold into it).
// CHECK-LABEL: func.func @rms_norm_written_out
// CHECK-SAME: (%[[X:.+]]: tensor<3x2xf32>)
// CHECK-NEXT: %[[R:.+]] = "hardcore.layernorm"(%[[X]]) {eps = 9.9999999747524271E-7 : f64, hardcore.kind = "rmsnorm 3x2", rms = 1 : i64} : (tensor<3x2xf32>) -> tensor<3x2xf32>
// CHECK-NEXT: return %[[R]]
func.func @rms_norm_written_out(%arg0: !torch.vtensor<[1,3,2],f32>) -> !torch.vtensor<[1,3,2],f32> {
  %int1 = torch.constant.int 1
  %int2 = torch.constant.int 2
  %int-1 = torch.constant.int -1
  %true = torch.constant.bool true
  %none = torch.constant.none
  %eps = torch.constant.float 9.9999999747524271E-7
  %0 = torch.aten.pow.Tensor_Scalar %arg0, %int2 : !torch.vtensor<[1,3,2],f32>, !torch.int -> !torch.vtensor<[1,3,2],f32>
  %1 = torch.prim.ListConstruct %int-1 : (!torch.int) -> !torch.list<int>
  %2 = torch.aten.mean.dim %0, %1, %true, %none : !torch.vtensor<[1,3,2],f32>, !torch.list<int>, !torch.bool, !torch.none -> !torch.vtensor<[1,3,1],f32>
  %3 = torch.aten.add.Scalar %2, %eps, %int1 : !torch.vtensor<[1,3,1],f32>, !torch.float, !torch.int -> !torch.vtensor<[1,3,1],f32>
  %4 = torch.aten.rsqrt %3 : !torch.vtensor<[1,3,1],f32> -> !torch.vtensor<[1,3,1],f32>
  %5 = torch.aten.mul.Tensor %arg0, %4 : !torch.vtensor<[1,3,2],f32>, !torch.vtensor<[1,3,1],f32> -> !torch.vtensor<[1,3,2],f32>
  return %5 : !torch.vtensor<[1,3,2],f32>
}

// -----

// A gated MLP's product silu(x) * gelu(x, "tanh") and a difference: `mul_tensors` and
// `sub_tensors`; a [3, 1] gate times [3, 2] is broadcast by a gather that repeats
// each gate twice.
// CHECK-LABEL: func.func @products
// CHECK-SAME: (%[[X:.+]]: tensor<3x2xf32>, %[[G:.+]]: tensor<3x1xf32>)
// CHECK: %[[S:.+]] = "hardcore.activation"(%{{.+}}) {fn = "silu", params = {}}
// CHECK: %[[T:.+]] = "hardcore.activation"(%{{.+}}) {fn = "gelu_tanh", params = {}}
// CHECK-NEXT: %[[S2:.+]] = "hardcore.reshape"(%[[S]]) : (tensor<6xf32>) -> tensor<3x2xf32>
// CHECK-NEXT: %[[T2:.+]] = "hardcore.reshape"(%[[T]]) : (tensor<6xf32>) -> tensor<3x2xf32>
// CHECK-NEXT: %[[M:.+]] = "hardcore.mul_tensors"(%[[S2]], %[[T2]]) {hardcore.kind = "product 3x2"} : (tensor<3x2xf32>, tensor<3x2xf32>) -> tensor<3x2xf32>
// CHECK-NEXT: %[[D:.+]] = "hardcore.sub_tensors"(%[[M]], %[[X]]) {hardcore.kind = "difference 3x2"}
// CHECK-NEXT: %[[GF:.+]] = "hardcore.reshape"(%[[G]]) : (tensor<3x1xf32>) -> tensor<3xf32>
// CHECK-NEXT: %[[GB:.+]] = "hardcore.gather"(%[[GF]]) {indices = dense<[0, 0, 1, 1, 2, 2]> : tensor<6xi64>} : (tensor<3xf32>) -> tensor<6xf32>
// CHECK-NEXT: %[[GR:.+]] = "hardcore.reshape"(%[[GB]]) : (tensor<6xf32>) -> tensor<3x2xf32>
// CHECK-NEXT: %[[Y:.+]] = "hardcore.mul_tensors"(%[[GR]], %[[D]])
// CHECK-NEXT: return %[[Y]]
func.func @products(%arg0: !torch.vtensor<[1,3,2],f32>, %arg1: !torch.vtensor<[1,3,1],f32>) -> !torch.vtensor<[1,3,2],f32> {
  %str = torch.constant.str "tanh"
  %int1 = torch.constant.int 1
  %0 = torch.aten.silu %arg0 : !torch.vtensor<[1,3,2],f32> -> !torch.vtensor<[1,3,2],f32>
  %1 = torch.aten.gelu %arg0, %str : !torch.vtensor<[1,3,2],f32>, !torch.str -> !torch.vtensor<[1,3,2],f32>
  %2 = torch.aten.mul.Tensor %0, %1 : !torch.vtensor<[1,3,2],f32>, !torch.vtensor<[1,3,2],f32> -> !torch.vtensor<[1,3,2],f32>
  %3 = torch.aten.sub.Tensor %2, %arg0, %int1 : !torch.vtensor<[1,3,2],f32>, !torch.vtensor<[1,3,2],f32>, !torch.int -> !torch.vtensor<[1,3,2],f32>
  %4 = torch.aten.mul.Tensor %arg1, %3 : !torch.vtensor<[1,3,1],f32>, !torch.vtensor<[1,3,2],f32> -> !torch.vtensor<[1,3,2],f32>
  return %4 : !torch.vtensor<[1,3,2],f32>
}

// -----

// The last position, x[:, -1] (a slice and a squeeze): a gather of its elements.
// x @ W with a constant W is a dense over rows (weight Wᵀ).
// CHECK-LABEL: func.func @last_position
// CHECK-SAME: (%[[X:.+]]: tensor<3x2xf32>) -> tensor<3xf32>
// CHECK-NEXT: %[[D:.+]] = "hardcore.dense"(%[[X]]) {bias = dense<0.000000e+00> : tensor<3xf32>, hardcore.kind = "matmul by a constant 2x3, 3 rows", weight = dense<{{\[\[}}1.000000e+00, 4.000000e+00], [2.000000e+00, 5.000000e+00], [3.000000e+00, 6.000000e+00]]> : tensor<3x2xf32>} : (tensor<3x2xf32>) -> tensor<3x3xf32>
// CHECK-NEXT: %[[F:.+]] = "hardcore.reshape"(%[[D]]) : (tensor<3x3xf32>) -> tensor<9xf32>
// CHECK-NEXT: %[[L:.+]] = "hardcore.gather"(%[[F]]) {indices = dense<[6, 7, 8]> : tensor<3xi64>} : (tensor<9xf32>) -> tensor<3xf32>
// CHECK-NEXT: return %[[L]]
func.func @last_position(%arg0: !torch.vtensor<[1,3,2],f32>) -> !torch.vtensor<[1,3],f32> {
  %int1 = torch.constant.int 1
  %int2 = torch.constant.int 2
  %int3 = torch.constant.int 3
  %0 = torch.vtensor.literal(dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : tensor<2x3xf32>) : !torch.vtensor<[2,3],f32>
  %1 = torch.aten.matmul %arg0, %0 : !torch.vtensor<[1,3,2],f32>, !torch.vtensor<[2,3],f32> -> !torch.vtensor<[1,3,3],f32>
  %2 = torch.aten.slice.Tensor %1, %int1, %int2, %int3, %int1 : !torch.vtensor<[1,3,3],f32>, !torch.int, !torch.int, !torch.int, !torch.int -> !torch.vtensor<[1,1,3],f32>
  %3 = torch.aten.squeeze.dim %2, %int1 : !torch.vtensor<[1,1,3],f32>, !torch.int -> !torch.vtensor<[1,3],f32>
  return %3 : !torch.vtensor<[1,3],f32>
}

// -----

// nn.TransformerEncoderLayer moves the batch dimension: transpose(1, 0) of
// [1, 3, 2] moves no element (nothing to build), a Linear on [3, 1, 2] is a
// dense over its 3 rows, and transpose(0, -2) of [1, 3, 1, 2, 1] (the batch
// moved behind the positions) is a permutation of the sample like any other.
// CHECK-LABEL: func.func @batch_moved
// CHECK-SAME: (%[[X:.+]]: tensor<3x2xf32>) -> tensor<2x3x1x1xf32>
// CHECK-NEXT: %[[D:.+]] = "hardcore.dense"(%[[X]]) {{.+}} : (tensor<3x2xf32>) -> tensor<3x2xf32>
// CHECK-NEXT: %[[F:.+]] = "hardcore.reshape"(%[[D]]) : (tensor<3x2xf32>) -> tensor<6xf32>
// CHECK-NEXT: %[[P:.+]] = "hardcore.gather"(%[[F]]) {indices = dense<[0, 2, 4, 1, 3, 5]> : tensor<6xi64>}
// CHECK-NEXT: %[[R:.+]] = "hardcore.reshape"(%[[P]]) : (tensor<6xf32>) -> tensor<2x3x1x1xf32>
// CHECK-NEXT: return %[[R]]
func.func @batch_moved(%arg0: !torch.vtensor<[1,3,2],f32>) -> !torch.vtensor<[1,2,3,1,1],f32> {
  %int0 = torch.constant.int 0
  %int1 = torch.constant.int 1
  %int-1 = torch.constant.int -1
  %int-2 = torch.constant.int -2
  %none = torch.constant.none
  %0 = torch.vtensor.literal(dense<[[1.0, -0.5], [0.25, 2.0]]> : tensor<2x2xf32>) : !torch.vtensor<[2,2],f32>
  %1 = torch.aten.transpose.int %arg0, %int1, %int0 : !torch.vtensor<[1,3,2],f32>, !torch.int, !torch.int -> !torch.vtensor<[3,1,2],f32>
  %2 = torch.aten.linear %1, %0, %none : !torch.vtensor<[3,1,2],f32>, !torch.vtensor<[2,2],f32>, !torch.none -> !torch.vtensor<[3,1,2],f32>
  %3 = torch.aten.unsqueeze %2, %int0 : !torch.vtensor<[3,1,2],f32>, !torch.int -> !torch.vtensor<[1,3,1,2],f32>
  %4 = torch.aten.unsqueeze %3, %int-1 : !torch.vtensor<[1,3,1,2],f32>, !torch.int -> !torch.vtensor<[1,3,1,2,1],f32>
  %5 = torch.aten.transpose.int %4, %int0, %int-2 : !torch.vtensor<[1,3,1,2,1],f32>, !torch.int, !torch.int -> !torch.vtensor<[2,3,1,1,1],f32>
  %6 = torch.aten.unsqueeze %5, %int0 : !torch.vtensor<[2,3,1,1,1],f32>, !torch.int -> !torch.vtensor<[1,2,3,1,1,1],f32>
  %7 = torch.aten.squeeze.dim %6, %int-1 : !torch.vtensor<[1,2,3,1,1,1],f32>, !torch.int -> !torch.vtensor<[1,2,3,1,1],f32>
  return %7 : !torch.vtensor<[1,2,3,1,1],f32>
}
