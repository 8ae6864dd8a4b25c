// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-fold-weights)' | filecheck %s

// Token ids (an i64 input quantized to [0, V-1]) make the function
// `hardcore.input_unsigned`: port x holds each id in ceil(log2 V) = 2 bits,
// and the DAG takes every value they hold, so each table has 4 entries, the
// id 3 reading row V - 1 = 2.  One table per output element over its token's
// id; column 1 is one value, the constant 1 (no table).
// CHECK-LABEL: func.func @embedding_of_tokens
// CHECK-SAME: (%[[X:.+]]: tensor<2xi3>) -> tensor<2x2xi4>
// CHECK-SAME: hardcore.input_unsigned
// CHECK-SAME: hardcore.layers = [{adder_bits = 0 : i64, adder_depth = 0 : i64, adders = 0 : i64, inputs = 2 : i64, kind = "embedding 3x2", nonzero_weights = 6 : i64, outputs = 4 : i64, table_entries = 8 : i64, tables = 2 : i64, weights = 6 : i64}]
// CHECK: %[[T0:.+]] = "hardcore.extract"(%[[X]]) {index = 0 : i64} : (tensor<2xi3>) -> i3
// CHECK: %[[T1:.+]] = "hardcore.extract"(%[[X]]) {index = 1 : i64} : (tensor<2xi3>) -> i3
// CHECK: %[[E0:.+]] = "hardcore.table"(%[[T0]]) {min = 0 : i64, table = dense<[5, -3, 7, 7]> : tensor<4xi64>} : (i3) -> i4
// CHECK: %[[E1:.+]] = "hardcore.table"(%[[T1]]) {min = 0 : i64, table = dense<[5, -3, 7, 7]> : tensor<4xi64>} : (i3) -> i4
// CHECK: %[[ONE:.+]] = "hardcore.constant"() {value = 1 : i64} : () -> i2
// CHECK: "hardcore.pack"(%[[E0]], %{{.+}}, %[[E1]], %{{.+}})
func.func @embedding_of_tokens(%arg0: tensor<2xi64>) -> tensor<2x2xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 0 : i64, min = 0 : i64, max = 2 : i64} : (tensor<2xi64>) -> tensor<2xi3>
  %1 = "hardcore.embedding"(%0) {table = dense<[[[5, 1], [-3, 1], [7, 1]]]> : tensor<1x3x2xi8>} : (tensor<2xi3>) -> tensor<2x2xi5>
  %2 = "hardcore.dequantize"(%1) {frac_bits = 2 : i64} : (tensor<2x2xi5>) -> tensor<2x2xf32>
  return %2 : tensor<2x2xf32>
}

// -----

// Products of activations are `hardcore.mul`, as wide as their interval (x·x
// is a square: [0, 64], i8); a constant factor is a shift/add constant
// multiply (3·x3 = x3 + (x3 << 1)), never a multiplier.  A difference of
// tensors is one subtractor per element.  Both are layers.  The gather keeps
// elements 0 and 3: the ops of elements 1 and 2 reach no result and are swept,
// and the layers count what is left (1 of 2 multipliers, 2 of 4 subtractors).
// CHECK-LABEL: func.func @products
// CHECK-SAME: adders = 1 : i64, inputs = 8 : i64, kind = "multiply 2x2", multiplier_bits = 8 : i64, multipliers = 1 : i64
// CHECK-SAME: adders = 2 : i64, inputs = 8 : i64, kind = "subtract 2x2"
// CHECK: %[[X0:.+]] = "hardcore.extract"(%{{.+}}) {index = 0 : i64}
// CHECK-NEXT: %[[X3:.+]] = "hardcore.extract"(%{{.+}}) {index = 3 : i64}
// CHECK-NEXT: %[[SQ:.+]] = "hardcore.mul"(%[[X0]], %[[X0]]) : (i4, i4) -> i8
// CHECK-NEXT: %[[X3X2:.+]] = "hardcore.shl"(%[[X3]]) {amount = 1 : i64} : (i4) -> i5
// CHECK-NEXT: %[[X3X3:.+]] = "hardcore.add"(%[[X3]], %[[X3X2]]) : (i4, i5) -> i6
// CHECK-NEXT: "hardcore.sub"(%[[SQ]], %[[X0]]) : (i8, i4) -> i8
// CHECK-NEXT: "hardcore.sub"(%[[X3X3]], %[[X3]]) : (i6, i4) -> i6
func.func @products(%arg0: tensor<4xf32>) -> tensor<2xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 0 : i64, min = -8 : i64, max = 7 : i64} : (tensor<4xf32>) -> tensor<4xi4>
  %1 = "hardcore.reshape"(%0) : (tensor<4xi4>) -> tensor<2x2xi4>
  %2 = "hardcore.dense"(%1) {weight = dense<[[1, 0], [0, 0]]> : tensor<2x2xi8>, bias = dense<[0, 3]> : tensor<2xi32>} : (tensor<2x2xi4>) -> tensor<2x2xi8>
  %3 = "hardcore.mul_tensors"(%1, %2) : (tensor<2x2xi4>, tensor<2x2xi8>) -> tensor<2x2xi8>
  %4 = "hardcore.sub_tensors"(%3, %1) : (tensor<2x2xi8>, tensor<2x2xi4>) -> tensor<2x2xi8>
  %5 = "hardcore.gather"(%4) {indices = dense<[0, 3]> : tensor<2xi64>} : (tensor<2x2xi8>) -> tensor<2xi8>
  %6 = "hardcore.dequantize"(%5) {frac_bits = 0 : i64} : (tensor<2xi8>) -> tensor<2xf32>
  return %6 : tensor<2xf32>
}

// -----

// A 1x4 by 4x1 product: 4 multipliers and a balanced tree of 3 adders.
// CHECK-LABEL: func.func @matmul
// CHECK-SAME: -> tensor<1xi10>
// CHECK-SAME: adder_depth = 2 : i64, adders = 3 : i64, inputs = 8 : i64, kind = "matmul 1x4 x 4x1", multiplier_bits = 32 : i64, multipliers = 4 : i64
// CHECK-COUNT-4: "hardcore.mul"
// CHECK: %[[A:.+]] = "hardcore.add"(%{{.+}}, %{{.+}}) : (i8, i8) -> i9
// CHECK: %[[B:.+]] = "hardcore.add"(%{{.+}}, %{{.+}}) : (i8, i8) -> i9
// CHECK: %[[S:.+]] = "hardcore.add"(%[[A]], %[[B]]) : (i9, i9) -> i10
// CHECK: "hardcore.pack"(%[[S]])
func.func @matmul(%arg0: tensor<4xf32>) -> tensor<1xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 0 : i64, min = -8 : i64, max = 7 : i64} : (tensor<4xf32>) -> tensor<4xi4>
  %1 = "hardcore.reshape"(%0) : (tensor<4xi4>) -> tensor<1x4xi4>
  %2 = "hardcore.reshape"(%0) : (tensor<4xi4>) -> tensor<4x1xi4>
  %3 = "hardcore.matmul"(%1, %2) : (tensor<1x4xi4>, tensor<4x1xi4>) -> tensor<1x1xi9>
  %4 = "hardcore.dequantize"(%3) {frac_bits = 0 : i64} : (tensor<1x1xi9>) -> tensor<1xf32>
  return %4 : tensor<1xf32>
}

// -----

// The definition, op for op: the row's max; x_j - max, never positive (i4,
// not the i5 of interval arithmetic), clamped at exp_min; the exp table; the
// sum and its requantization (rounding constant, shift by sum_shift; below
// the reciprocal table's size, so no clamp); the reciprocal table; a
// multiplier per entry and the output requantization.
// CHECK-LABEL: func.func @qsoftmax
// CHECK-SAME: comparators = 5 : i64
// CHECK-SAME: kind = "qsoftmax 2", multiplier_bits = 20 : i64, multipliers = 2 : i64
// CHECK-SAME: table_entries = 15 : i64, tables = 3 : i64
// CHECK: %[[X0:.+]] = "hardcore.extract"(%{{.+}}) {index = 0 : i64}
// CHECK: %[[X1:.+]] = "hardcore.extract"(%{{.+}}) {index = 1 : i64}
// CHECK: %[[M:.+]] = "hardcore.max"(%[[X0]], %[[X1]]) : (i3, i3) -> i3
// CHECK: %[[D0:.+]] = "hardcore.sub"(%[[X0]], %[[M]]) : (i3, i3) -> i4
// CHECK: %[[C0:.+]] = "hardcore.clamp"(%[[D0]]) {max = 7 : i64, min = -4 : i64} : (i4) -> i3
// CHECK: %[[E0:.+]] = "hardcore.table"(%[[C0]]) {min = -4 : i64, table = dense<[0, 1, 1, 2, 4]> : tensor<5xi64>} : (i3) -> i4
// CHECK: %[[D1:.+]] = "hardcore.sub"(%[[X1]], %[[M]])
// CHECK: %[[E1:.+]] = "hardcore.table"
// CHECK: %[[S:.+]] = "hardcore.add"(%[[E0]], %[[E1]]) : (i4, i4) -> i5
// CHECK: %[[HALF:.+]] = "hardcore.constant"() {value = 1 : i64}
// CHECK: %[[SR:.+]] = "hardcore.add"(%[[S]], %[[HALF]])
// CHECK: %[[K:.+]] = "hardcore.shr"(%[[SR]]) {amount = 1 : i64} : (i5) -> i4
// CHECK: %[[R:.+]] = "hardcore.table"(%[[K]]) {min = 0 : i64, table = dense<[64, 64, 32, 21, 16]> : tensor<5xi64>} : (i4) -> i8
// CHECK: %[[P0:.+]] = "hardcore.mul"(%[[E0]], %[[R]]) : (i4, i8) -> i10
// CHECK: %[[Y0:.+]] = "hardcore.shr"(%{{.+}}) {amount = 4 : i64}
// CHECK: "hardcore.clamp"(%[[Y0]]) {max = 3 : i64, min = -32 : i64} : (i6) -> i3
// CHECK: "hardcore.mul"(%[[E1]], %[[R]]) : (i4, i8) -> i10
func.func @qsoftmax(%arg0: tensor<2xf32>) -> tensor<2xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 0 : i64, min = -4 : i64, max = 3 : i64} : (tensor<2xf32>) -> tensor<2xi3>
  %1 = "hardcore.qsoftmax"(%0) {causal = 0 : i64, exp_table = dense<[0, 1, 1, 2, 4]> : tensor<5xi64>, exp_min = -4 : i64, sum_shift = 1 : i64, recip_table = dense<[64, 64, 32, 21, 16]> : tensor<5xi64>, shift = 4 : i64, min = 0 : i64, max = 3 : i64} : (tensor<2xi3>) -> tensor<2xi3>
  %2 = "hardcore.dequantize"(%1) {frac_bits = 2 : i64} : (tensor<2xi3>) -> tensor<2xf32>
  return %2 : tensor<2xf32>
}

// -----

// A causal softmax over a 2x2: row 0 keeps one entry, whose probability is
// the constant 3 (1 saturates by one step; no multiplier), and the masked
// entry is the constant 0; row 1 is a softmax of two.
// CHECK-LABEL: func.func @causal_qsoftmax
// CHECK-SAME: kind = "qsoftmax 2x2, causal", multiplier_bits = 20 : i64, multipliers = 2 : i64
// CHECK-COUNT-2: "hardcore.mul"
// CHECK-NOT: "hardcore.mul"
// CHECK: %[[ONE:.+]] = "hardcore.constant"() {value = 3 : i64} : () -> i3
// CHECK: %[[ZERO:.+]] = "hardcore.constant"() {value = 0 : i64} : () -> i1
// CHECK: %[[MASKED:.+]] = "hardcore.sext"(%[[ZERO]]) : (i1) -> i3
// CHECK: "hardcore.pack"(%[[ONE]], %[[MASKED]], %{{.+}}, %{{.+}})
func.func @causal_qsoftmax(%arg0: tensor<4xf32>) -> tensor<4xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 0 : i64, min = -4 : i64, max = 3 : i64} : (tensor<4xf32>) -> tensor<4xi3>
  %1 = "hardcore.reshape"(%0) : (tensor<4xi3>) -> tensor<2x2xi3>
  %2 = "hardcore.qsoftmax"(%1) {causal = 1 : i64, exp_table = dense<[0, 1, 1, 2, 4]> : tensor<5xi64>, exp_min = -4 : i64, sum_shift = 1 : i64, recip_table = dense<[64, 64, 32, 21, 16]> : tensor<5xi64>, shift = 4 : i64, min = 0 : i64, max = 3 : i64} : (tensor<2x2xi3>) -> tensor<2x2xi3>
  %3 = "hardcore.reshape"(%2) : (tensor<2x2xi3>) -> tensor<4xi3>
  %4 = "hardcore.dequantize"(%3) {frac_bits = 2 : i64} : (tensor<4xi3>) -> tensor<4xf32>
  return %4 : tensor<4xf32>
}

// -----

// c_j = D·x_j - Σx (D = 2: a shift), each subtractor as wide as the exact
// range of (D-1)·x_j - Σ_{k≠j} x_k, [-7, 7]: i4; the squares and the sum of
// squares; its requantization clamped at the rsqrt table's last index (8);
// the table; a multiplier per entry and the output requantization.
// CHECK-LABEL: func.func @qnorm
// CHECK-SAME: kind = "qnorm 2, layernorm", multiplier_bits = 34 : i64, multipliers = 4 : i64
// CHECK: %[[X0:.+]] = "hardcore.extract"(%{{.+}}) {index = 0 : i64}
// CHECK: %[[X1:.+]] = "hardcore.extract"(%{{.+}}) {index = 1 : i64}
// CHECK: %[[SUM:.+]] = "hardcore.add"(%[[X0]], %[[X1]]) : (i3, i3) -> i4
// CHECK: %[[X0X2:.+]] = "hardcore.shl"(%[[X0]]) {amount = 1 : i64} : (i3) -> i4
// CHECK: %[[C0:.+]] = "hardcore.sub"(%[[X0X2]], %[[SUM]]) : (i4, i4) -> i4
// CHECK: %[[C1:.+]] = "hardcore.sub"(%{{.+}}, %[[SUM]]) : (i4, i4) -> i4
// CHECK: %[[Q0:.+]] = "hardcore.mul"(%[[C0]], %[[C0]]) : (i4, i4) -> i7
// CHECK: %[[Q1:.+]] = "hardcore.mul"(%[[C1]], %[[C1]]) : (i4, i4) -> i7
// CHECK: %[[Q:.+]] = "hardcore.add"(%[[Q0]], %[[Q1]]) : (i7, i7) -> i8
// CHECK: %[[K:.+]] = "hardcore.shr"(%{{.+}}) {amount = 3 : i64} : (i8) -> i5
// CHECK: %[[KC:.+]] = "hardcore.clamp"(%[[K]]) {max = 8 : i64, min = -16 : i64} : (i5) -> i5
// CHECK: %[[R:.+]] = "hardcore.table"(%[[KC]]) {min = 0 : i64, table = dense<[40, 20, 14, 12, 10, 9, 8, 7, 7]> : tensor<9xi64>} : (i5) -> i7
// CHECK: "hardcore.mul"(%[[C0]], %[[R]]) : (i4, i7) -> i10
// CHECK: "hardcore.mul"(%[[C1]], %[[R]]) : (i4, i7) -> i10
func.func @qnorm(%arg0: tensor<2xf32>) -> tensor<2xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 0 : i64, min = -4 : i64, max = 3 : i64} : (tensor<2xf32>) -> tensor<2xi3>
  %1 = "hardcore.qnorm"(%0) {rms = 0 : i64, sq_shift = 3 : i64, rsqrt_table = dense<[40, 20, 14, 12, 10, 9, 8, 7, 7]> : tensor<9xi64>, shift = 4 : i64, min = -8 : i64, max = 7 : i64} : (tensor<2xi3>) -> tensor<2xi4>
  %2 = "hardcore.dequantize"(%1) {frac_bits = 2 : i64} : (tensor<2xi4>) -> tensor<2xf32>
  return %2 : tensor<2xf32>
}

// -----

// A dense over 2 rows of 2: the matrix [[3, 5]] is solved once and its adder
// graph built for each row (3 adders each, then the bias): the layer reports
// its 2 weights once and all 6 adders (the bias adders are outside it).
// CHECK-LABEL: func.func @dense_over_rows
// CHECK-SAME: hardcore.layers = [{adder_bits = 34 : i64, adder_depth = 2 : i64, adders = 6 : i64, inputs = 4 : i64, nonzero_weights = 2 : i64, outputs = 2 : i64, weights = 2 : i64}]
// CHECK: %[[X0:.+]] = "hardcore.extract"(%{{.+}}) {index = 0 : i64}
// CHECK: %[[X1:.+]] = "hardcore.extract"(%{{.+}}) {index = 1 : i64}
// CHECK: %[[X2:.+]] = "hardcore.extract"(%{{.+}}) {index = 2 : i64}
// CHECK: %[[X3:.+]] = "hardcore.extract"(%{{.+}}) {index = 3 : i64}
// CHECK: "hardcore.sub"(%[[X1]], %[[X0]])
// CHECK: "hardcore.add"(%[[X0]], %[[X1]])
// CHECK: "hardcore.sub"(%[[X3]], %[[X2]])
// CHECK: "hardcore.add"(%[[X2]], %[[X3]])
func.func @dense_over_rows(%arg0: tensor<4xf32>) -> tensor<2xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 0 : i64, min = -8 : i64, max = 7 : i64} : (tensor<4xf32>) -> tensor<4xi4>
  %1 = "hardcore.reshape"(%0) : (tensor<4xi4>) -> tensor<2x2xi4>
  %2 = "hardcore.dense"(%1) {weight = dense<[[3, 5]]> : tensor<1x2xi8>, bias = dense<[1]> : tensor<1xi32>} : (tensor<2x2xi4>) -> tensor<2x1xi8>
  %3 = "hardcore.dequantize"(%2) {frac_bits = 0 : i64} : (tensor<2x1xi8>) -> tensor<2xf32>
  return %3 : tensor<2xf32>
}
