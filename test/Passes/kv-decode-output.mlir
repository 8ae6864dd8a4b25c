// RUN: hardcore-opt %s --pass-pipeline='builtin.module(hardcore-kv-decode{output=argmax})' | filecheck %s --check-prefixes=CHECK,ARGMAX
// RUN: hardcore-opt %s --pass-pipeline='builtin.module(hardcore-kv-decode{output=both})' | filecheck %s --check-prefixes=CHECK,BOTH

// output=argmax: the step's first result is the index of the row's first
// largest logit (the next token), dequantized at 0 frac bits like an argmax
// classifier's; output=both keeps the logits row too, as the last result,
// after the fresh rows.  The decoder attribute says which.
// CHECK-LABEL: func.func @next_token
// ARGMAX-SAME: (%[[TOKEN:.+]]: tensor<1xi64>, %[[POS:.+]]: tensor<1xi3>, %[[KT:.+]]: tensor<2x3xi3>, %[[V:.+]]: tensor<3x2xi3>) -> (tensor<1xf32>, tensor<2x1xi3>, tensor<1x2xi3>)
// ARGMAX-SAME: hardcore.decoder = {cache_axes = [1, 0], output = "argmax", positions = 3 : i64}
// BOTH-SAME: -> (tensor<1xf32>, tensor<2x1xi3>, tensor<1x2xi3>, tensor<1x3xf32>)
// BOTH-SAME: hardcore.decoder = {cache_axes = [1, 0], output = "both", positions = 3 : i64}
// CHECK: %[[X:.+]] = "hardcore.embedding"
// CHECK: %[[KROW:.+]] = "hardcore.reshape"(%[[X]])
// CHECK: %[[L:.+]] = "hardcore.dense"
// CHECK: %[[Y:.+]] = "hardcore.dequantize"(%[[L]]) {frac_bits = 3 : i64} : (tensor<1x3xi9>) -> tensor<1x3xf32>
// CHECK: %[[I:.+]] = "hardcore.argmax"(%[[L]]) : (tensor<1x3xi9>) -> tensor<1xi3>
// CHECK: %[[N:.+]] = "hardcore.dequantize"(%[[I]]) {frac_bits = 0 : i64} : (tensor<1xi3>) -> tensor<1xf32>
// ARGMAX: return %[[N]], %[[KROW]], %[[X]] : tensor<1xf32>, tensor<2x1xi3>, tensor<1x2xi3>
// BOTH: return %[[N]], %[[KROW]], %[[X]], %[[Y]] : tensor<1xf32>, tensor<2x1xi3>, tensor<1x2xi3>, tensor<1x3xf32>
func.func @next_token(%ids: tensor<3xi64>) -> tensor<3x3xf32> {
  %0 = "hardcore.quantize"(%ids) {frac_bits = 0 : i64, min = 0 : i64, max = 3 : i64} : (tensor<3xi64>) -> tensor<3xi3>
  %x = "hardcore.embedding"(%0) {table = dense<[[[1, -2], [3, 0], [-1, 2], [2, 2]]]> : tensor<1x4x2xi8>} : (tensor<3xi3>) -> tensor<3x2xi3>
  %kt = "hardcore.gather"(%x) {indices = dense<[0, 2, 4, 1, 3, 5]> : tensor<6xi64>} : (tensor<3x2xi3>) -> tensor<2x3xi3>
  %s = "hardcore.matmul"(%x, %kt) : (tensor<3x2xi3>, tensor<2x3xi3>) -> tensor<3x3xi6>
  %s3 = "hardcore.requant"(%s) {shift = 3 : i64, min = -4 : i64, max = 3 : i64} : (tensor<3x3xi6>) -> tensor<3x3xi3>
  %a = "hardcore.qsoftmax"(%s3) {causal = 1 : i64, exp_table = dense<[0, 0, 1, 1, 2, 3, 5, 8]> : tensor<8xi32>, exp_min = -7 : i64, sum_shift = 0 : i64, recip_table = dense<[64, 64, 64, 64, 64, 64, 64, 64, 64, 57, 51, 47, 43, 39, 37, 34, 32, 30, 28, 27, 26, 24, 23, 22, 21]> : tensor<25xi32>, shift = 6 : i64, min = 0 : i64, max = 7 : i64} : (tensor<3x3xi3>) -> tensor<3x3xi4>
  %o = "hardcore.matmul"(%a, %x) : (tensor<3x3xi4>, tensor<3x2xi3>) -> tensor<3x2xi8>
  %l = "hardcore.dense"(%o) {weight = dense<[[1, 0], [0, 1], [1, -1]]> : tensor<3x2xi8>, bias = dense<[0, 2, -1]> : tensor<3xi64>} : (tensor<3x2xi8>) -> tensor<3x3xi9>
  %y = "hardcore.dequantize"(%l) {frac_bits = 3 : i64} : (tensor<3x3xi9>) -> tensor<3x3xf32>
  return %y : tensor<3x3xf32>
}
