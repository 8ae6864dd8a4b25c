// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-kv-decode)' | filecheck %s

// One attention head over T = 3 positions.  kᵀ (%kt, positions on axis 1) and
// v (the embedding, positions on axis 0) are read in full by the matmuls: they
// are the caches, arguments 2 and 3, each with the step's fresh row written in
// at %pos; their fresh rows are results 1 and 2.  The causal softmax keeps
// the j <= pos of the step's row.
// CHECK-LABEL: func.func @attention
// CHECK-SAME: (%[[TOKEN:.+]]: tensor<1xi64>, %[[POS:.+]]: tensor<1xi3>, %[[KT:.+]]: tensor<2x3xi4>, %[[V:.+]]: tensor<3x2xi3>)
// CHECK-SAME: -> (tensor<1x2xf32>, tensor<2x1xi4>, tensor<1x2xi3>)
// CHECK-SAME: hardcore.decoder = {cache_axes = [1, 0], positions = 3 : i64}
// CHECK: %[[ID:.+]] = "hardcore.quantize"(%[[TOKEN]]) {{.*}} : (tensor<1xi64>) -> tensor<1xi3>
// CHECK: %[[X:.+]] = "hardcore.embedding"(%[[ID]]) {{.*}} : (tensor<1xi3>) -> tensor<1x2xi3>
// CHECK: %[[Q:.+]] = "hardcore.dense"(%[[X]]) {{.*}} : (tensor<1x2xi3>) -> tensor<1x2xi4>
// CHECK: %[[K:.+]] = "hardcore.dense"(%[[X]]) {{.*}} : (tensor<1x2xi3>) -> tensor<1x2xi4>
// CHECK: %[[KROW:.+]] = "hardcore.reshape"(%[[K]]) : (tensor<1x2xi4>) -> tensor<2x1xi4>
// CHECK: %[[KFULL:.+]] = "hardcore.insert_row"(%[[KT]], %[[KROW]], %[[POS]]) {axis = 1 : i64} : (tensor<2x3xi4>, tensor<2x1xi4>, tensor<1xi3>) -> tensor<2x3xi4>
// CHECK: %[[S:.+]] = "hardcore.matmul"(%[[Q]], %[[KFULL]]) : (tensor<1x2xi4>, tensor<2x3xi4>) -> tensor<1x3xi8>
// CHECK: %[[S3:.+]] = "hardcore.requant"(%[[S]]) {max = 3 : i64, min = -4 : i64, shift = 3 : i64} : (tensor<1x3xi8>) -> tensor<1x3xi3>
// CHECK: %[[A:.+]] = "hardcore.qsoftmax_at"(%[[S3]], %[[POS]]) {exp_min = -7 : i64, {{.*}}offset = 0 : i64, {{.*}}} : (tensor<1x3xi3>, tensor<1xi3>) -> tensor<1x3xi4>
// CHECK: %[[VFULL:.+]] = "hardcore.insert_row"(%[[V]], %[[X]], %[[POS]]) {axis = 0 : i64} : (tensor<3x2xi3>, tensor<1x2xi3>, tensor<1xi3>) -> tensor<3x2xi3>
// CHECK: %[[O:.+]] = "hardcore.matmul"(%[[A]], %[[VFULL]]) : (tensor<1x3xi4>, tensor<3x2xi3>) -> tensor<1x2xi8>
// CHECK: %[[Y:.+]] = "hardcore.dequantize"(%[[O]]) {frac_bits = 3 : i64} : (tensor<1x2xi8>) -> tensor<1x2xf32>
// CHECK: return %[[Y]], %[[KROW]], %[[X]] : tensor<1x2xf32>, tensor<2x1xi4>, tensor<1x2xi3>
func.func @attention(%ids: tensor<3xi64>) -> tensor<3x2xf32> {
  %0 = "hardcore.quantize"(%ids) {frac_bits = 0 : i64, min = 0 : i64, max = 3 : i64} : (tensor<3xi64>) -> tensor<3xi3>
  %x = "hardcore.embedding"(%0) {table = dense<[[[1, -2], [3, 0], [-1, 2], [2, 2]]]> : tensor<1x4x2xi8>} : (tensor<3xi3>) -> tensor<3x2xi3>
  %q = "hardcore.dense"(%x) {weight = dense<[[1, 1], [0, 1]]> : tensor<2x2xi8>, bias = dense<[0, 0]> : tensor<2xi64>} : (tensor<3x2xi3>) -> tensor<3x2xi4>
  %k = "hardcore.dense"(%x) {weight = dense<[[1, 0], [1, -1]]> : tensor<2x2xi8>, bias = dense<[0, 0]> : tensor<2xi64>} : (tensor<3x2xi3>) -> tensor<3x2xi4>
  %kt = "hardcore.gather"(%k) {indices = dense<[0, 2, 4, 1, 3, 5]> : tensor<6xi64>} : (tensor<3x2xi4>) -> tensor<2x3xi4>
  %s = "hardcore.matmul"(%q, %kt) : (tensor<3x2xi4>, tensor<2x3xi4>) -> tensor<3x3xi8>
  %s3 = "hardcore.requant"(%s) {shift = 3 : i64, min = -4 : i64, max = 3 : i64} : (tensor<3x3xi8>) -> tensor<3x3xi3>
  %a = "hardcore.qsoftmax"(%s3) {causal = 1 : i64, exp_table = dense<[0, 0, 1, 1, 2, 3, 5, 8]> : tensor<8xi32>, exp_min = -7 : i64, sum_shift = 0 : i64, recip_table = dense<[64, 64, 64, 64, 64, 64, 64, 64, 64, 57, 51, 47, 43, 39, 37, 34, 32, 30, 28, 27, 26, 24, 23, 22, 21]> : tensor<25xi32>, shift = 6 : i64, min = 0 : i64, max = 7 : i64} : (tensor<3x3xi3>) -> tensor<3x3xi4>
  %o = "hardcore.matmul"(%a, %x) : (tensor<3x3xi4>, tensor<3x2xi3>) -> tensor<3x2xi8>
  %y = "hardcore.dequantize"(%o) {frac_bits = 3 : i64} : (tensor<3x2xi8>) -> tensor<3x2xf32>
  return %y : tensor<3x2xf32>
}

// -----

// A learned position embedding (P = T tables): the step reads the table at
// %pos.  A model without attention has no cache.
// CHECK-LABEL: func.func @position_table
// CHECK-SAME: (%[[TOKEN:.+]]: tensor<1xi64>, %[[POS:.+]]: tensor<1xi2>) -> tensor<1x3xf32>
// CHECK-SAME: hardcore.decoder = {cache_axes = [], positions = 2 : i64}
// CHECK: %[[ID:.+]] = "hardcore.quantize"(%[[TOKEN]])
// CHECK: %[[X:.+]] = "hardcore.embedding_at"(%[[ID]], %[[POS]]) {table = dense<{{.+}}> : tensor<2x3x2xi8>} : (tensor<1xi3>, tensor<1xi2>) -> tensor<1x2xi4>
// CHECK: %[[H:.+]] = "hardcore.dense"(%[[X]]) {{.*}} : (tensor<1x2xi4>) -> tensor<1x3xi6>
// CHECK: %[[R:.+]] = "hardcore.relu"(%[[H]]) : (tensor<1x3xi6>) -> tensor<1x3xi6>
// CHECK: %[[Y:.+]] = "hardcore.dequantize"(%[[R]]) {frac_bits = 2 : i64} : (tensor<1x3xi6>) -> tensor<1x3xf32>
// CHECK: return %[[Y]] : tensor<1x3xf32>
func.func @position_table(%ids: tensor<2xi64>) -> tensor<2x3xf32> {
  %0 = "hardcore.quantize"(%ids) {frac_bits = 0 : i64, min = 0 : i64, max = 2 : i64} : (tensor<2xi64>) -> tensor<2xi3>
  %x = "hardcore.embedding"(%0) {table = dense<[[[1, -2], [3, 0], [-1, 2]], [[7, -8], [0, 5], [-3, -3]]]> : tensor<2x3x2xi8>} : (tensor<2xi3>) -> tensor<2x2xi4>
  %h = "hardcore.dense"(%x) {weight = dense<[[1, 1], [0, 1], [2, -1]]> : tensor<3x2xi8>, bias = dense<[0, 1, -1]> : tensor<3xi64>} : (tensor<2x2xi4>) -> tensor<2x3xi6>
  %r = "hardcore.relu"(%h) : (tensor<2x3xi6>) -> tensor<2x3xi6>
  %y = "hardcore.dequantize"(%r) {frac_bits = 2 : i64} : (tensor<2x3xi6>) -> tensor<2x3xf32>
  return %y : tensor<2x3xf32>
}

// -----

// Moves within a row, a chain of moves first made one move: the transpose of
// each position's 2x2 block (a reshape, then a gather) does not keep the
// row's order (a gather of the row's 4 elements); a head split [T, 4] ->
// [2, T, 2] and its merge undo each other (a reshape of the row).  A shift per
// element, the same at every position, is one row's shifts.  The unused dense
// is not in the step.
// CHECK-LABEL: func.func @moves_in_a_row
// CHECK-SAME: (%[[TOKEN:.+]]: tensor<1xi64>, %[[POS:.+]]: tensor<1xi2>) -> tensor<1x2x2xf32>
// CHECK: %[[X:.+]] = "hardcore.embedding"
// CHECK-NOT: "hardcore.dense"
// CHECK: %[[S:.+]] = "hardcore.requant"(%[[X]]) {max = 7 : i64, min = -8 : i64, shift = dense<[0, 1, 0, 1]> : tensor<4xi64>} : (tensor<1x4xi4>) -> tensor<1x4xi4>
// CHECK: %[[T:.+]] = "hardcore.gather"(%[[S]]) {indices = dense<[0, 2, 1, 3]> : tensor<4xi64>} : (tensor<1x4xi4>) -> tensor<1x2x2xi4>
// CHECK: %[[M:.+]] = "hardcore.reshape"(%[[S]]) : (tensor<1x4xi4>) -> tensor<1x2x2xi4>
// CHECK: "hardcore.add_tensors"(%[[T]], %[[M]]) : (tensor<1x2x2xi4>, tensor<1x2x2xi4>) -> tensor<1x2x2xi5>
func.func @moves_in_a_row(%ids: tensor<2xi64>) -> tensor<2x2x2xf32> {
  %0 = "hardcore.quantize"(%ids) {frac_bits = 0 : i64, min = 0 : i64, max = 2 : i64} : (tensor<2xi64>) -> tensor<2xi3>
  %x = "hardcore.embedding"(%0) {table = dense<[[[1, -2, 3, 4], [3, 0, -5, 7], [-1, 2, 6, -8]]]> : tensor<1x3x4xi8>} : (tensor<2xi3>) -> tensor<2x4xi4>
  %unused = "hardcore.dense"(%x) {weight = dense<[[1, 1, 1, 1]]> : tensor<1x4xi8>, bias = dense<[0]> : tensor<1xi64>} : (tensor<2x4xi4>) -> tensor<2x1xi7>
  %s = "hardcore.requant"(%x) {shift = dense<[0, 1, 0, 1, 0, 1, 0, 1]> : tensor<8xi64>, min = -8 : i64, max = 7 : i64} : (tensor<2x4xi4>) -> tensor<2x4xi4>
  %heads = "hardcore.gather"(%s) {indices = dense<[0, 1, 4, 5, 2, 3, 6, 7]> : tensor<8xi64>} : (tensor<2x4xi4>) -> tensor<2x2x2xi4>
  %blocks = "hardcore.reshape"(%s) : (tensor<2x4xi4>) -> tensor<2x2x2xi4>
  %t = "hardcore.gather"(%blocks) {indices = dense<[0, 2, 1, 3, 4, 6, 5, 7]> : tensor<8xi64>} : (tensor<2x2x2xi4>) -> tensor<2x2x2xi4>
  %merged = "hardcore.gather"(%heads) {indices = dense<[0, 1, 4, 5, 2, 3, 6, 7]> : tensor<8xi64>} : (tensor<2x2x2xi4>) -> tensor<2x2x2xi4>
  %sum = "hardcore.add_tensors"(%t, %merged) : (tensor<2x2x2xi4>, tensor<2x2x2xi4>) -> tensor<2x2x2xi5>
  %y = "hardcore.dequantize"(%sum) {frac_bits = 0 : i64} : (tensor<2x2x2xi5>) -> tensor<2x2x2xf32>
  return %y : tensor<2x2x2xf32>
}

// -----

// Token ids with a batch of one ([1, T]): the positions are the first axis
// longer than 1.  A matmul whose operands hold the positions on one batch
// axis reads no other position.
// CHECK-LABEL: func.func @batch_of_one
// CHECK-SAME: (%[[TOKEN:.+]]: tensor<1x1xi64>, %[[POS:.+]]: tensor<1xi3>) -> tensor<1x1x1xf32>
// CHECK-SAME: hardcore.decoder = {cache_axes = [], positions = 3 : i64}
// CHECK: %[[X:.+]] = "hardcore.embedding"(%{{.+}}) {{.*}} : (tensor<1x1xi3>) -> tensor<1x1x2xi3>
// CHECK: %[[R:.+]] = "hardcore.reshape"(%[[X]]) : (tensor<1x1x2xi3>) -> tensor<1x2x1xi3>
// CHECK: "hardcore.matmul"(%[[X]], %[[R]]) : (tensor<1x1x2xi3>, tensor<1x2x1xi3>) -> tensor<1x1x1xi6>
func.func @batch_of_one(%ids: tensor<1x3xi64>) -> tensor<1x3x1xf32> {
  %0 = "hardcore.quantize"(%ids) {frac_bits = 0 : i64, min = 0 : i64, max = 3 : i64} : (tensor<1x3xi64>) -> tensor<1x3xi3>
  %x = "hardcore.embedding"(%0) {table = dense<[[[1, -2], [3, 0], [-1, 2], [2, 2]]]> : tensor<1x4x2xi8>} : (tensor<1x3xi3>) -> tensor<1x3x2xi3>
  %c = "hardcore.reshape"(%x) : (tensor<1x3x2xi3>) -> tensor<3x2x1xi3>
  %xs = "hardcore.reshape"(%x) : (tensor<1x3x2xi3>) -> tensor<3x1x2xi3>
  %sq = "hardcore.matmul"(%xs, %c) : (tensor<3x1x2xi3>, tensor<3x2x1xi3>) -> tensor<3x1x1xi6>
  %r = "hardcore.reshape"(%sq) : (tensor<3x1x1xi6>) -> tensor<1x3x1xi6>
  %y = "hardcore.dequantize"(%r) {frac_bits = 0 : i64} : (tensor<1x3x1xi6>) -> tensor<1x3x1xf32>
  return %y : tensor<1x3x1xf32>
}

// -----

// A residual add as hardcore-import writes it, over the flattened tensors: the
// reshapes move past the per-element ops (requant, add_tensors) and cancel, so
// every op works on [T, 2] and the step on its row.
// CHECK-LABEL: func.func @flattened_residual
// CHECK-SAME: (%[[TOKEN:.+]]: tensor<1xi64>, %[[POS:.+]]: tensor<1xi2>) -> tensor<1x2xf32>
// CHECK: %[[X:.+]] = "hardcore.embedding"
// CHECK: %[[H:.+]] = "hardcore.dense"(%[[X]]) {{.*}} : (tensor<1x2xi3>) -> tensor<1x2xi5>
// CHECK: %[[A:.+]] = "hardcore.requant"(%[[X]]) {max = 12 : i64, min = -16 : i64, shift = -2 : i64} : (tensor<1x2xi3>) -> tensor<1x2xi5>
// CHECK: %[[S:.+]] = "hardcore.add_tensors"(%[[A]], %[[H]]) : (tensor<1x2xi5>, tensor<1x2xi5>) -> tensor<1x2xi6>
// CHECK: %[[R:.+]] = "hardcore.requant"(%[[S]]) {{.*}} : (tensor<1x2xi6>) -> tensor<1x2xi4>
// CHECK-NOT: "hardcore.reshape"
// CHECK: "hardcore.dequantize"(%[[R]]) {frac_bits = 2 : i64} : (tensor<1x2xi4>) -> tensor<1x2xf32>
func.func @flattened_residual(%ids: tensor<2xi64>) -> tensor<2x2xf32> {
  %0 = "hardcore.quantize"(%ids) {frac_bits = 0 : i64, min = 0 : i64, max = 2 : i64} : (tensor<2xi64>) -> tensor<2xi3>
  %x = "hardcore.embedding"(%0) {table = dense<[[[1, -2], [3, 0], [-1, 2]]]> : tensor<1x3x2xi8>} : (tensor<2xi3>) -> tensor<2x2xi3>
  %h = "hardcore.dense"(%x) {weight = dense<[[1, 1], [2, -1]]> : tensor<2x2xi8>, bias = dense<[0, 1]> : tensor<2xi64>} : (tensor<2x2xi3>) -> tensor<2x2xi5>
  %xf = "hardcore.reshape"(%x) : (tensor<2x2xi3>) -> tensor<4xi3>
  %hf = "hardcore.reshape"(%h) : (tensor<2x2xi5>) -> tensor<4xi5>
  %a = "hardcore.requant"(%xf) {shift = -2 : i64, min = -16 : i64, max = 12 : i64} : (tensor<4xi3>) -> tensor<4xi5>
  %s = "hardcore.add_tensors"(%a, %hf) : (tensor<4xi5>, tensor<4xi5>) -> tensor<4xi6>
  %r = "hardcore.requant"(%s) {shift = 1 : i64, min = -8 : i64, max = 7 : i64} : (tensor<4xi6>) -> tensor<4xi4>
  %back = "hardcore.reshape"(%r) : (tensor<4xi4>) -> tensor<2x2xi4>
  %y = "hardcore.dequantize"(%back) {frac_bits = 2 : i64} : (tensor<2x2xi4>) -> tensor<2x2xf32>
  return %y : tensor<2x2xf32>
}
