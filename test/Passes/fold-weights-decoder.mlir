// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-fold-weights)' | filecheck %s

// A decoder step (hardcore-kv-decode): the token on port x, the position in
// [0, T - 1] and a cache.  insert_row is a mux per element on p == n; where
// p's range decides a side (p >= 0, p <= 2) only the other is compared.  The
// cache holds what its fresh row is: the embedding's entries, [-2, 3], so its
// argument narrows from i4 to i3, as does the fresh row.
// CHECK-LABEL: func.func @insert_row
// CHECK-SAME: (%[[X:.+]]: tensor<1xi3>, %[[POS:.+]]: tensor<1xi3>, %[[CACHE:.+]]: tensor<3x2xi3>) -> (tensor<1x6xi3>, tensor<1x2xi3>)
// CHECK-SAME: hardcore.decoder = {cache_axes = [0], positions = 3 : i64}
// CHECK-SAME: kind = "cache 3x2, rows on axis 0", muxes = 6 : i64
// CHECK: %[[P:.+]] = "hardcore.extract"(%[[POS]]) {index = 0 : i64} : (tensor<1xi3>) -> i3
// CHECK: %[[R0:.+]] = "hardcore.table"
// CHECK: %[[R1:.+]] = "hardcore.table"
// CHECK: %[[C0:.+]] = "hardcore.extract"(%[[CACHE]]) {index = 0 : i64} : (tensor<3x2xi3>) -> i3
// CHECK: %[[C5:.+]] = "hardcore.extract"(%[[CACHE]]) {index = 5 : i64} : (tensor<3x2xi3>) -> i3
// CHECK: %[[M0:.+]] = "hardcore.mux"(%[[P]], %[[R0]], %[[C0]]) {max = 0 : i64, min = -4 : i64} : (i3, i3, i3) -> i3
// CHECK: "hardcore.mux"(%[[P]], %[[R0]], %{{.+}}) {max = 1 : i64, min = 1 : i64}
// CHECK: %[[M5:.+]] = "hardcore.mux"(%[[P]], %[[R1]], %[[C5]]) {max = 3 : i64, min = 2 : i64} : (i3, i3, i3) -> i3
// CHECK: %[[ALL:.+]] = "hardcore.pack"(%[[M0]], {{.+}}, %[[M5]]) : (i3, i3, i3, i3, i3, i3) -> tensor<1x6xi3>
// CHECK: %[[FRESH:.+]] = "hardcore.pack"(%[[R0]], %[[R1]]) : (i3, i3) -> tensor<1x2xi3>
// CHECK: return %[[ALL]], %[[FRESH]] : tensor<1x6xi3>, tensor<1x2xi3>
func.func @insert_row(%token: tensor<1xi64>, %pos: tensor<1xi3>, %cache: tensor<3x2xi4>) -> (tensor<1x6xf32>, tensor<1x2xi4>) attributes {hardcore.decoder = {cache_axes = [0], positions = 3 : i64}} {
  %0 = "hardcore.quantize"(%token) {frac_bits = 0 : i64, min = 0 : i64, max = 2 : i64} : (tensor<1xi64>) -> tensor<1xi3>
  %x = "hardcore.embedding"(%0) {table = dense<[[[1, -2], [3, 0], [-1, 2]]]> : tensor<1x3x2xi8>} : (tensor<1xi3>) -> tensor<1x2xi4>
  %all = "hardcore.insert_row"(%cache, %x, %pos) {axis = 0 : i64} : (tensor<3x2xi4>, tensor<1x2xi4>, tensor<1xi3>) -> tensor<3x2xi4>
  %flat = "hardcore.reshape"(%all) : (tensor<3x2xi4>) -> tensor<1x6xi4>
  %y = "hardcore.dequantize"(%flat) {frac_bits = 0 : i64} : (tensor<1x6xi4>) -> tensor<1x6xf32>
  return %y, %x : tensor<1x6xf32>, tensor<1x2xi4>
}

// -----

// qsoftmax_at keeps entry j when p >= j: entry 0 always (no mux), entries 1
// and 2 by a comparison of p.  A masked entry enters the max as the row's
// lowest value (-2: x_j - max stays never positive) and the sum and the
// product as 0.
// CHECK-LABEL: func.func @qsoftmax_at
// CHECK-SAME: (%{{.+}}: tensor<1xi2>, %[[POS:.+]]: tensor<1xi3>)
// CHECK-SAME: kind = "qsoftmax 1x3, kept up to pos + 0", multiplier_bits = 32 : i64, multipliers = 3 : i64, muxes = 4 : i64
// CHECK: %[[P:.+]] = "hardcore.extract"(%[[POS]]) {index = 0 : i64} : (tensor<1xi3>) -> i3
// CHECK: %[[X0:.+]] = "hardcore.table"
// CHECK: %[[X1:.+]] = "hardcore.table"
// CHECK: %[[X2:.+]] = "hardcore.table"
// CHECK: %[[LOW:.+]] = "hardcore.constant"() {value = -2 : i64} : () -> i2
// CHECK: %[[K1:.+]] = "hardcore.mux"(%[[P]], %[[X1]], %[[LOW]]) {max = 3 : i64, min = 1 : i64} : (i3, i2, i2) -> i2
// CHECK: %[[K2:.+]] = "hardcore.mux"(%[[P]], %[[X2]], %[[LOW]]) {max = 3 : i64, min = 2 : i64} : (i3, i2, i2) -> i2
// CHECK: %[[M:.+]] = "hardcore.max"(%[[X0]], %[[K2]]) : (i3, i2) -> i3
// CHECK: %[[D1:.+]] = "hardcore.sub"(%[[K1]], %[[M]]) : (i2, i3) -> i3
// CHECK: %[[E1:.+]] = "hardcore.table"(%[[D1]])
// CHECK: %[[ZERO:.+]] = "hardcore.constant"() {value = 0 : i64} : () -> i1
// CHECK: "hardcore.mux"(%[[P]], %[[E1]], %[[ZERO]]) {max = 3 : i64, min = 1 : i64} : (i3, i4, i1) -> i4
func.func @qsoftmax_at(%token: tensor<1xi64>, %pos: tensor<1xi3>) -> tensor<1x3xf32> attributes {hardcore.decoder = {cache_axes = [], positions = 3 : i64}} {
  %0 = "hardcore.quantize"(%token) {frac_bits = 0 : i64, min = 0 : i64, max = 1 : i64} : (tensor<1xi64>) -> tensor<1xi2>
  %x = "hardcore.embedding"(%0) {table = dense<[[[0, -1, 1], [2, -2, 0]]]> : tensor<1x2x3xi8>} : (tensor<1xi2>) -> tensor<1x3xi3>
  %a = "hardcore.qsoftmax_at"(%x, %pos) {offset = 0 : i64, exp_table = dense<[1, 1, 2, 3, 5, 8]> : tensor<6xi32>, exp_min = -5 : i64, sum_shift = 0 : i64, recip_table = dense<[64, 64, 64, 64, 64, 64, 64, 64, 64, 57, 51, 47, 43, 39, 37, 34, 32, 30, 28, 27, 26, 24, 23, 22, 21]> : tensor<25xi32>, shift = 6 : i64, min = 0 : i64, max = 7 : i64} : (tensor<1x3xi3>, tensor<1xi3>) -> tensor<1x3xi4>
  %y = "hardcore.dequantize"(%a) {frac_bits = 3 : i64} : (tensor<1x3xi4>) -> tensor<1x3xf32>
  return %y : tensor<1x3xf32>
}

// -----

// embedding_at: per element a table over the token's id for each position p
// can take, chosen by a balanced tree of p <= q; position 1's column is one
// value (the constant 2), and positions 0 and 2 have one table.
// CHECK-LABEL: func.func @embedding_at
// CHECK-SAME: (%{{.+}}: tensor<1xi3>, %[[POS:.+]]: tensor<1xi3>)
// CHECK-SAME: kind = "embedding 3x1, 3 positions, at the step's position", muxes = 2 : i64
// CHECK: %[[P:.+]] = "hardcore.extract"(%[[POS]]) {index = 0 : i64} : (tensor<1xi3>) -> i3
// CHECK: %[[T:.+]] = "hardcore.table"(%{{.+}}) {min = 0 : i64, table = dense<[1, 3, -1, -1]> : tensor<4xi64>} : (i3) -> i3
// CHECK: %[[TWO:.+]] = "hardcore.constant"() {value = 2 : i64} : () -> i3
// CHECK: %[[RIGHT:.+]] = "hardcore.mux"(%[[P]], %[[TWO]], %[[T]]) {max = 1 : i64, min = -4 : i64} : (i3, i3, i3) -> i3
// CHECK: %[[E:.+]] = "hardcore.mux"(%[[P]], %[[T]], %[[RIGHT]]) {max = 0 : i64, min = -4 : i64} : (i3, i3, i3) -> i3
// CHECK: "hardcore.pack"(%[[E]]) : (i3) -> tensor<1x1xi3>
func.func @embedding_at(%token: tensor<1xi64>, %pos: tensor<1xi3>) -> tensor<1x1xf32> attributes {hardcore.decoder = {cache_axes = [], positions = 3 : i64}} {
  %0 = "hardcore.quantize"(%token) {frac_bits = 0 : i64, min = 0 : i64, max = 2 : i64} : (tensor<1xi64>) -> tensor<1xi3>
  %x = "hardcore.embedding_at"(%0, %pos) {table = dense<[[[1], [3], [-1]], [[2], [2], [2]], [[1], [3], [-1]]]> : tensor<3x3x1xi8>} : (tensor<1xi3>, tensor<1xi3>) -> tensor<1x1xi3>
  %y = "hardcore.dequantize"(%x) {frac_bits = 0 : i64} : (tensor<1x1xi3>) -> tensor<1x1xf32>
  return %y : tensor<1x1xf32>
}

// -----

// output = both (hardcore-kv-decode): the next token first (an index: the
// function is hardcore.output_unsigned), the fresh row, and the logits row
// last, its frac bits in hardcore.logits_frac_bits.
// CHECK-LABEL: func.func @next_token_and_logits
// CHECK-SAME: -> (tensor<1xi3>, tensor<1x2xi3>, tensor<1x3xi6>)
// CHECK-SAME: hardcore.logits_frac_bits = 2 : i64
// CHECK-SAME: hardcore.output_frac_bits = 0 : i64, hardcore.output_unsigned
// CHECK: "hardcore.pick"
// CHECK: %[[I:.+]] = "hardcore.pick"
// CHECK: %[[NEXT:.+]] = "hardcore.pack"(%[[I]]) : (i3) -> tensor<1xi3>
// CHECK: %[[FRESH:.+]] = "hardcore.pack"
// CHECK: %[[LOGITS:.+]] = "hardcore.pack"
// CHECK: return %[[NEXT]], %[[FRESH]], %[[LOGITS]] : tensor<1xi3>, tensor<1x2xi3>, tensor<1x3xi6>
func.func @next_token_and_logits(%token: tensor<1xi64>, %pos: tensor<1xi2>, %cache: tensor<2x2xi4>) -> (tensor<1xf32>, tensor<1x2xi4>, tensor<1x3xf32>) attributes {hardcore.decoder = {cache_axes = [0], output = "both", positions = 2 : i64}} {
  %0 = "hardcore.quantize"(%token) {frac_bits = 0 : i64, min = 0 : i64, max = 2 : i64} : (tensor<1xi64>) -> tensor<1xi3>
  %x = "hardcore.embedding"(%0) {table = dense<[[[1, -2], [3, 0], [-1, 2]]]> : tensor<1x3x2xi8>} : (tensor<1xi3>) -> tensor<1x2xi4>
  %all = "hardcore.insert_row"(%cache, %x, %pos) {axis = 0 : i64} : (tensor<2x2xi4>, tensor<1x2xi4>, tensor<1xi2>) -> tensor<2x2xi4>
  %s = "hardcore.matmul"(%x, %all) : (tensor<1x2xi4>, tensor<2x2xi4>) -> tensor<1x2xi6>
  %l = "hardcore.dense"(%s) {weight = dense<[[1, 0], [0, 1], [1, 1]]> : tensor<3x2xi8>, bias = dense<[0, 0, 0]> : tensor<3xi64>} : (tensor<1x2xi6>) -> tensor<1x3xi7>
  %logits = "hardcore.dequantize"(%l) {frac_bits = 2 : i64} : (tensor<1x3xi7>) -> tensor<1x3xf32>
  %i = "hardcore.argmax"(%l) : (tensor<1x3xi7>) -> tensor<1xi3>
  %next = "hardcore.dequantize"(%i) {frac_bits = 0 : i64} : (tensor<1xi3>) -> tensor<1xf32>
  return %next, %x, %logits : tensor<1xf32>, tensor<1x2xi4>, tensor<1x3xf32>
}
