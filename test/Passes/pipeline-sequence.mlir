// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-pipeline{max-adder-depth=4})' | filecheck %s
// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-pipeline{max-adder-depth=2})' | filecheck %s --check-prefix=DEPTH2
// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-pipeline{max-adder-depth=2},hardcore-to-hw)' | filecheck %s --check-prefix=HW

// A multiplier counts ceil(log2 w) adder levels, w its narrower operand's
// width: its w partial products summed by a balanced adder tree.  An 8x8
// product is 3 levels, the add after it the 4th: one stage at 4 levels.  A
// 2x8 product is 1 level.
// CHECK-LABEL: func.func @product_then_sum
// CHECK-SAME: hardcore.latency = 1 : i64
// CHECK: %[[X0:.+]] = "hardcore.extract"(%arg0) {index = 0 : i64}
// CHECK: %[[X1:.+]] = "hardcore.extract"(%arg0) {index = 1 : i64}
// CHECK: %[[X2:.+]] = "hardcore.extract"(%arg0) {index = 2 : i64}
// CHECK: %[[P:.+]] = "hardcore.mul"(%[[X0]], %[[X1]]) : (i8, i8) -> i16
// CHECK: %[[S:.+]] = "hardcore.add"(%[[P]], %[[X2]]) : (i16, i8) -> i17
// CHECK: "hardcore.mul"(%{{.+}}, %[[X0]]) : (i2, i8) -> i10
// CHECK-COUNT-2: "hardcore.reg"
// CHECK-NOT: "hardcore.reg"
// At 2 levels a stage, the 3-level product cannot be split: its operands are
// registered before it, it fills a stage alone, and the add that reads it
// starts the next stage (x2 delayed twice to meet it).
// DEPTH2-LABEL: func.func @product_then_sum
// DEPTH2-SAME: hardcore.latency = 3 : i64
// DEPTH2: %[[X0:.+]] = "hardcore.extract"(%arg0) {index = 0 : i64}
// DEPTH2: %[[X1:.+]] = "hardcore.extract"(%arg0) {index = 1 : i64}
// DEPTH2: %[[X2:.+]] = "hardcore.extract"(%arg0) {index = 2 : i64}
// DEPTH2: %[[R0:.+]] = "hardcore.reg"(%[[X0]]) : (i8) -> i8
// DEPTH2: %[[R1:.+]] = "hardcore.reg"(%[[X1]]) : (i8) -> i8
// DEPTH2: %[[P:.+]] = "hardcore.mul"(%[[R0]], %[[R1]]) : (i8, i8) -> i16
// DEPTH2: %[[RP:.+]] = "hardcore.reg"(%[[P]]) : (i16) -> i16
// DEPTH2: %[[RX2:.+]] = "hardcore.reg"(%[[X2]]) : (i8) -> i8
// DEPTH2: %[[RRX2:.+]] = "hardcore.reg"(%[[RX2]]) : (i8) -> i8
// DEPTH2: "hardcore.add"(%[[RP]], %[[RRX2]]) : (i16, i8) -> i17
// HW-LABEL: hw.module @product_then_sum(in %clk : !seq.clock, in %rst : i1, in %in_valid : i1, in %x : i24, out out_valid : i1, out y : i34)
// HW: %[[A:.+]] = seq.compreg %{{.+}}, %clk : i8
// HW: %[[B:.+]] = seq.compreg %{{.+}}, %clk : i8
// HW: comb.mul %{{.+}}, %{{.+}} : i16
func.func @product_then_sum(%arg0: tensor<3xi8>) -> tensor<2xi17> {
  %0 = "hardcore.extract"(%arg0) {index = 0 : i64} : (tensor<3xi8>) -> i8
  %1 = "hardcore.extract"(%arg0) {index = 1 : i64} : (tensor<3xi8>) -> i8
  %2 = "hardcore.extract"(%arg0) {index = 2 : i64} : (tensor<3xi8>) -> i8
  %3 = "hardcore.mul"(%0, %1) : (i8, i8) -> i16
  %4 = "hardcore.add"(%3, %2) : (i16, i8) -> i17
  %5 = "hardcore.shr"(%2) {amount = 6 : i64} : (i8) -> i2
  %6 = "hardcore.mul"(%5, %0) : (i2, i8) -> i10
  %7 = "hardcore.sext"(%6) : (i10) -> i17
  %8 = "hardcore.pack"(%4, %7) : (i17, i17) -> tensor<2xi17>
  return %8 : tensor<2xi17>
}
