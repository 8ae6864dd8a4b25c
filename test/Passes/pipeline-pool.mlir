// RUN: hardcore-opt %s --pass-pipeline='builtin.module(hardcore-pipeline{max-adder-depth=1})' | filecheck %s
// RUN: hardcore-opt %s --pass-pipeline='builtin.module(hardcore-pipeline{max-adder-depth=2})' | filecheck %s --check-prefix=DEPTH2
// RUN: hardcore-opt %s --pass-pipeline='builtin.module(hardcore-pipeline{max-adder-depth=1},hardcore-to-hw)' | filecheck %s --check-prefix=HW

// A comparator and its mux (hardcore.max, hardcore.pick) count as one adder
// level, like a clamp: a comparison is a subtraction's carry chain.  Here the
// index of max(x0 + x1, x2) crosses an adder, then a comparator: at one level
// per stage the sum is registered before the pick, x2 is delayed to meet it,
// and the index gets its final register: latency 2.  The constant indices
// need no registers.
// CHECK-LABEL: func.func @sum_then_argmax
// CHECK-SAME: hardcore.latency = 2 : i64
// CHECK-SAME: hardcore.output_unsigned
// CHECK: %[[X0:.+]] = "hardcore.extract"(%arg0) {index = 0 : i64}
// CHECK: %[[X1:.+]] = "hardcore.extract"(%arg0) {index = 1 : i64}
// CHECK: %[[X2:.+]] = "hardcore.extract"(%arg0) {index = 2 : i64}
// CHECK: %[[S:.+]] = "hardcore.add"(%[[X0]], %[[X1]]) : (i8, i8) -> i9
// CHECK-DAG: %[[C0:.+]] = "hardcore.constant"() {value = 0 : i64} : () -> i1
// CHECK-DAG: %[[C1:.+]] = "hardcore.constant"() {value = 1 : i64} : () -> i2
// CHECK: %[[RS:.+]] = "hardcore.reg"(%[[S]]) : (i9) -> i9
// CHECK: %[[RX2:.+]] = "hardcore.reg"(%[[X2]]) : (i8) -> i8
// CHECK: %[[P:.+]] = "hardcore.pick"(%[[RS]], %[[RX2]], %[[C0]], %[[C1]]) : (i9, i8, i1, i2) -> i2
// CHECK: %[[OUT:.+]] = "hardcore.reg"(%[[P]]) : (i2) -> i2
// CHECK: "hardcore.pack"(%[[OUT]])
// Two levels fit one stage: only the output register.
// DEPTH2-LABEL: func.func @sum_then_argmax
// DEPTH2-SAME: hardcore.latency = 1 : i64
// DEPTH2-COUNT-1: "hardcore.reg"
// DEPTH2-NOT: "hardcore.reg"
// HW-LABEL: hw.module @sum_then_argmax(in %clk : !seq.clock, in %rst : i1, in %in_valid : i1, in %x : i24, out out_valid : i1, out y : i1)
// HW: comb.icmp sgt
// The output register holds the index's one bit that the port reads (its sign is always 0).
// HW: seq.compreg %{{.+}}, %clk : i1
func.func @sum_then_argmax(%arg0: tensor<3xi8>) -> tensor<1xi2> attributes {hardcore.output_unsigned} {
  %0 = "hardcore.extract"(%arg0) {index = 0 : i64} : (tensor<3xi8>) -> i8
  %1 = "hardcore.extract"(%arg0) {index = 1 : i64} : (tensor<3xi8>) -> i8
  %2 = "hardcore.extract"(%arg0) {index = 2 : i64} : (tensor<3xi8>) -> i8
  %3 = "hardcore.add"(%0, %1) : (i8, i8) -> i9
  %c0 = "hardcore.constant"() {value = 0 : i64} : () -> i1
  %c1 = "hardcore.constant"() {value = 1 : i64} : () -> i2
  %4 = "hardcore.pick"(%3, %2, %c0, %c1) : (i9, i8, i1, i2) -> i2
  %5 = "hardcore.pack"(%4) : (i2) -> tensor<1xi2>
  return %5 : tensor<1xi2>
}
