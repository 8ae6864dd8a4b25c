// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-fold-weights)' | filecheck %s
// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-fold-weights,hardcore-pipeline{max-adder-depth=1})' | filecheck %s --check-prefix=PIPE

// A lookup table becomes one hardcore.table per element, trimmed to the inputs
// the element can reach: after the clamp to [-1, 2], entries -1..2 of the
// 8-entry table (min -4).  Its result is exactly as wide as those entries.
// CHECK-LABEL: func.func @trimmed_tables
// CHECK: %[[X0:.+]] = "hardcore.extract"(%arg0) {index = 0 : i64} : (tensor<2xi3>) -> i3
// CHECK: %[[C0:.+]] = "hardcore.clamp"(%[[X0]]) {max = 2 : i64, min = -1 : i64} : (i3) -> i3
// CHECK: %[[T0:.+]] = "hardcore.table"(%[[C0]]) {min = -1 : i64, table = dense<[2, 4, 6, 7]> : tensor<4xi64>} : (i3) -> i4
// CHECK: %[[T1:.+]] = "hardcore.table"(%{{.*}}) {min = -1 : i64, table = dense<[2, 4, 6, 7]> : tensor<4xi64>} : (i3) -> i4
// CHECK: "hardcore.add"(%[[T0]], %[[T1]]) : (i4, i4) -> i5
// A table is one pipeline level, like an adder: clamp in stage 1, table in stage 2,
// the adder in stage 3.
// PIPE-LABEL: func.func @trimmed_tables
// PIPE-SAME: hardcore.latency = 3 : i64
// PIPE: %[[C0:.+]] = "hardcore.clamp"
// PIPE: %[[R0:.+]] = "hardcore.reg"(%[[C0]]) : (i3) -> i3
// PIPE: %[[T0:.+]] = "hardcore.table"(%[[R0]])
// PIPE: %[[S0:.+]] = "hardcore.reg"(%[[T0]]) : (i4) -> i4
// PIPE: "hardcore.add"(%[[S0]], %{{.*}}) : (i4, i4) -> i5
func.func @trimmed_tables(%arg0: tensor<2xf32>) -> tensor<3xf32> {
  %q = "hardcore.quantize"(%arg0) {frac_bits = 0 : i64, min = -4 : i64, max = 3 : i64} : (tensor<2xf32>) -> tensor<2xi3>
  %c = "hardcore.requant"(%q) {shift = 0 : i64, min = -1 : i64, max = 2 : i64} : (tensor<2xi3>) -> tensor<2xi3>
  %t = "hardcore.lut"(%c) {min = -4 : i64, table = dense<[0, 0, 1, 2, 4, 6, 7, 7]> : tensor<8xi64>} : (tensor<2xi3>) -> tensor<2xi4>
  %d = "hardcore.dense"(%t) {weight = dense<[[1, 0], [0, 1], [1, 1]]> : tensor<3x2xi8>, bias = dense<[0, 0, 0]> : tensor<3xi64>} : (tensor<2xi4>) -> tensor<3xi32>
  %r = "hardcore.requant"(%d) {shift = 0 : i64, min = -128 : i64, max = 127 : i64} : (tensor<3xi32>) -> tensor<3xi8>
  %f = "hardcore.dequantize"(%r) {frac_bits = 3 : i64} : (tensor<3xi8>) -> tensor<3xf32>
  return %f : tensor<3xf32>
}

// -----

// Where every reachable entry is the same (inputs -4..-3 of this sigmoid table:
// 0, 0) the table is that constant, which the next dense layer adds to its bias:
// no table is left, and both outputs are the constant 5.
// CHECK-LABEL: func.func @flat_table_is_a_constant
// CHECK-NOT: "hardcore.table"
// CHECK: %[[FIVE:.+]] = "hardcore.constant"() {value = 5 : i64} : () -> i4
// CHECK-NOT: "hardcore.table"
// CHECK: "hardcore.pack"(%[[FIVE]], %[[FIVE]]) : (i4, i4) -> tensor<2xi4>
func.func @flat_table_is_a_constant(%arg0: tensor<2xf32>) -> tensor<2xf32> {
  %q = "hardcore.quantize"(%arg0) {frac_bits = 0 : i64, min = -4 : i64, max = 3 : i64} : (tensor<2xf32>) -> tensor<2xi3>
  %c = "hardcore.requant"(%q) {shift = 0 : i64, min = -4 : i64, max = -3 : i64} : (tensor<2xi3>) -> tensor<2xi3>
  %t = "hardcore.lut"(%c) {min = -4 : i64, table = dense<[0, 0, 1, 2, 4, 6, 7, 7]> : tensor<8xi64>} : (tensor<2xi3>) -> tensor<2xi4>
  %d = "hardcore.dense"(%t) {weight = dense<[[1, 0], [0, 1]]> : tensor<2x2xi8>, bias = dense<[5, 5]> : tensor<2xi64>} : (tensor<2xi4>) -> tensor<2xi32>
  %r = "hardcore.requant"(%d) {shift = 0 : i64, min = -128 : i64, max = 127 : i64} : (tensor<2xi32>) -> tensor<2xi8>
  %f = "hardcore.dequantize"(%r) {frac_bits = 3 : i64} : (tensor<2xi8>) -> tensor<2xf32>
  return %f : tensor<2xf32>
}
