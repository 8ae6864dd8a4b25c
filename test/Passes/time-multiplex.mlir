// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-time-multiplex{reuse=2 realization=mux})' | filecheck %s --check-prefixes=CHECK,MUX
// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-time-multiplex{reuse=2 realization=rom})' | filecheck %s --check-prefixes=CHECK,ROM
// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-time-multiplex{reuse=2 realization=rom},hardcore-to-hw)' | filecheck %s --check-prefix=HW

// Three rows over two cycles: two slots, rows 0 and 1 in cycle 0, row 2 (and a
// zero row, never stored) in cycle 1.  Slot 0 meets weights (3, 0) in cycle 0
// and (0, 2) in cycle 1; the biases with the rounding constant 1 are a table
// on the cycle; relu goes into the requant's clamp at 0.
// CHECK-LABEL: func.func @two_layers_step0
// CHECK-SAME: (%[[X:.+]]: tensor<2xi3>, %[[C:.+]]: tensor<1xi2>) -> tensor<2xi4>
// CHECK-SAME: hardcore.reuse = {layer = 0 : i64, realization = "{{mux|rom}}", reuse = 2 : i64, rows = 3 : i64, slots = 2 : i64}
// CHECK-DAG: %[[X0:.+]] = "hardcore.extract"(%[[X]]) {index = 0 : i64}
// CHECK-DAG: %[[CYCLE:.+]] = "hardcore.extract"(%[[C]]) {index = 0 : i64} : (tensor<1xi2>) -> i2
// 3 = 4 - 1: x0 << 2 in cycle 0, and -x0 (one neg for every slot) in cycle 0.
// MUX: %[[FOUR:.+]] = "hardcore.shl"(%[[X0]]) {amount = 2 : i64} : (i3) -> i5
// MUX: %[[ZERO:.+]] = "hardcore.constant"() {value = 0 : i64} : () -> i1
// MUX: "hardcore.mux"(%[[CYCLE]], %[[ZERO]], %[[FOUR]]) {max = 1 : i64, min = 1 : i64} : (i2, i1, i5) -> i5
// MUX: %[[NEG:.+]] = "hardcore.neg"(%[[X0]]) : (i3) -> i4
// MUX: "hardcore.mux"(%[[CYCLE]], %[[ZERO]], %[[NEG]]) {max = 1 : i64, min = 1 : i64} : (i2, i1, i4) -> i4
// ROM: %[[W:.+]] = "hardcore.table"(%[[CYCLE]]) {min = 0 : i64, table = dense<[3, 0]> : tensor<2xi64>} : (i2) -> i3
// ROM: "hardcore.mul"(%[[X0]], %[[W]]) : (i3, i3) -> i5
// CHECK: %[[BIAS:.+]] = "hardcore.table"(%[[CYCLE]]) {min = 0 : i64, table = dense<[2, 1]> : tensor<2xi64>} : (i2) -> i3
// CHECK: %[[SUM:.+]] = "hardcore.add"(%{{.+}}, %[[BIAS]]) : (i6, i3) -> i6
// CHECK: %[[SHIFTED:.+]] = "hardcore.shr"(%[[SUM]]) {amount = 1 : i64} : (i6) -> i5
// CHECK: %[[SLOT0:.+]] = "hardcore.clamp"(%[[SHIFTED]]) {max = 7 : i64, min = 0 : i64} : (i5) -> i4
// CHECK: %[[PACK:.+]] = "hardcore.pack"(%[[SLOT0]], %{{.+}}) : (i4, i4) -> tensor<2xi4>
// CHECK: return %[[PACK]] : tensor<2xi4>
// The second layer reads all three rows; its one row takes one cycle of two.
// CHECK-LABEL: func.func @two_layers_step1
// CHECK-SAME: (%{{.+}}: tensor<3xi4>, %{{.+}}: tensor<1xi2>) -> tensor<1xi
// CHECK-SAME: hardcore.output_frac_bits = 0 : i64
// CHECK-SAME: rows = 1 : i64, slots = 1 : i64
// CHECK-NOT: func.func @two_layers(

// A step becomes an hw module with ports x, cycle (unsigned: 0..R-1) -> y.
// HW-LABEL: hw.module @two_layers_step0(in %x : i6, in %cycle : i1, out y : i8)
// HW-LABEL: hw.module @two_layers_step1(in %x : i12, in %cycle : i1, out y :
func.func @two_layers(%arg0: tensor<2xf32>) -> tensor<1xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 2 : i64, min = -4 : i64, max = 3 : i64} : (tensor<2xf32>) -> tensor<2xi3>
  %1 = "hardcore.dense"(%0) {bias = dense<[1, -2, 0]> : tensor<3xi64>, weight = dense<[[3, 0], [1, -1], [0, 2]]> : tensor<3x2xi8>} : (tensor<2xi3>) -> tensor<3xi8>
  %2 = "hardcore.relu"(%1) : (tensor<3xi8>) -> tensor<3xi8>
  %3 = "hardcore.requant"(%2) {shift = 1 : i64, min = 0 : i64, max = 7 : i64} : (tensor<3xi8>) -> tensor<3xi4>
  %4 = "hardcore.dense"(%3) {bias = dense<[5]> : tensor<1xi64>, weight = dense<[[1, -3, 2]]> : tensor<1x3xi8>} : (tensor<3xi4>) -> tensor<1xi8>
  %5 = "hardcore.dequantize"(%4) {frac_bits = 0 : i64} : (tensor<1xi8>) -> tensor<1xf32>
  return %5 : tensor<1xf32>
}

// -----

// A per-element requant shift is a mux among the shifted sums; a plain relu a clamp at 0.
// CHECK-LABEL: func.func @shift_per_row_step0
// CHECK: %[[CYCLE:.+]] = "hardcore.extract"(%{{.+}}) {index = 0 : i64} : (tensor<1xi2>) -> i2
// CHECK: %[[TWO:.+]] = "hardcore.shr"(%[[SUM:.+]]) {amount = 2 : i64}
// CHECK: %[[ONE:.+]] = "hardcore.shr"(%[[SUM]]) {amount = 1 : i64}
// CHECK: %[[SHIFT:.+]] = "hardcore.mux"(%[[CYCLE]], %[[ONE]], %[[TWO]]) {max = 1 : i64, min = 1 : i64}
// CHECK: %[[REQUANT:.+]] = "hardcore.clamp"(%[[SHIFT]]) {max = 7 : i64, min = -8 : i64}
// CHECK: "hardcore.clamp"(%[[REQUANT]]) {max = 7 : i64, min = 0 : i64}
func.func @shift_per_row(%arg0: tensor<1xf32>) -> tensor<2xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 0 : i64, min = -8 : i64, max = 7 : i64} : (tensor<1xf32>) -> tensor<1xi4>
  %1 = "hardcore.dense"(%0) {bias = dense<[0, 0]> : tensor<2xi64>, weight = dense<[[5], [-7]]> : tensor<2x1xi8>} : (tensor<1xi4>) -> tensor<2xi8>
  %2 = "hardcore.requant"(%1) {shift = dense<[2, 1]> : tensor<2xi64>, min = -8 : i64, max = 7 : i64} : (tensor<2xi8>) -> tensor<2xi4>
  %3 = "hardcore.relu"(%2) : (tensor<2xi4>) -> tensor<2xi4>
  %4 = "hardcore.dequantize"(%3) {frac_bits = 0 : i64} : (tensor<2xi4>) -> tensor<2xf32>
  return %4 : tensor<2xf32>
}
