// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-pipeline{max-adder-depth=1})' | filecheck %s
// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-pipeline{max-adder-depth=2 clock-enable=true})' | filecheck %s --check-prefix=DEPTH2
// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-pipeline{max-adder-depth=1},hardcore-to-hw)' | filecheck %s --check-prefix=HW

// y0 = (x0 + x1) + x1 crosses two adders, y1 = x0 is a wire.  At one adder
// level per stage: the first sum is registered, x1 is delayed to meet it, and
// every output gets its final register, so both paths have latency 2.
// CHECK-LABEL: func.func @two_levels
// CHECK-SAME: hardcore.latency = 2 : i64
// CHECK: %[[X0:.+]] = "hardcore.extract"(%arg0) {index = 0 : i64}
// CHECK: %[[X1:.+]] = "hardcore.extract"(%arg0) {index = 1 : i64}
// CHECK: %[[S:.+]] = "hardcore.add"(%[[X0]], %[[X1]]) : (i8, i8) -> i9
// CHECK: %[[RS:.+]] = "hardcore.reg"(%[[S]]) : (i9) -> i9
// CHECK: %[[RX1:.+]] = "hardcore.reg"(%[[X1]]) : (i8) -> i8
// CHECK: %[[T:.+]] = "hardcore.add"(%[[RS]], %[[RX1]]) : (i9, i8) -> i10
// CHECK: %[[OUT0:.+]] = "hardcore.reg"(%[[T]]) : (i10) -> i10
// The sign extension is a wire: x0 is registered at 8 bits and widened after.
// CHECK: %[[W:.+]] = "hardcore.reg"(%[[X0]]) : (i8) -> i8
// CHECK: %[[OUT1:.+]] = "hardcore.reg"(%[[W]]) : (i8) -> i8
// CHECK: %[[WIDE:.+]] = "hardcore.sext"(%[[OUT1]]) : (i8) -> i10
// CHECK: "hardcore.pack"(%[[OUT0]], %[[WIDE]])
// At two levels per stage everything fits in one stage: only output registers.
// DEPTH2-LABEL: func.func @two_levels
// DEPTH2-SAME: hardcore.clock_enable = true
// DEPTH2-SAME: hardcore.latency = 1 : i64
// DEPTH2-COUNT-2: "hardcore.reg"
// DEPTH2-NOT: "hardcore.reg"
// HW-LABEL: hw.module @two_levels(in %clk : !seq.clock, in %rst : i1, in %in_valid : i1, in %x : i16, out out_valid : i1, out y : i20)
// HW: seq.compreg %{{.+}}, %clk : i9
// HW: %[[V1:.+]] = seq.compreg %in_valid, %clk reset %rst, %false : i1
// HW: %[[V2:.+]] = seq.compreg %[[V1]], %clk reset %rst, %false : i1
// HW: hw.output %[[V2]], %{{.+}} : i1, i20
func.func @two_levels(%arg0: tensor<2xi8>) -> tensor<2xi10> {
  %0 = "hardcore.extract"(%arg0) {index = 0 : i64} : (tensor<2xi8>) -> i8
  %1 = "hardcore.extract"(%arg0) {index = 1 : i64} : (tensor<2xi8>) -> i8
  %2 = "hardcore.add"(%0, %1) : (i8, i8) -> i9
  %3 = "hardcore.add"(%2, %1) : (i9, i8) -> i10
  %4 = "hardcore.sext"(%0) : (i8) -> i10
  %5 = "hardcore.pack"(%3, %4) : (i10, i10) -> tensor<2xi10>
  return %5 : tensor<2xi10>
}
