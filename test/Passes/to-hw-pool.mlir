// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-to-hw)' | filecheck %s
// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-to-hw)' --emit=verilog | filecheck %s --check-prefix=SV

// max(a, b) is one signed comparator and a mux at the operands' common
// width: the narrower operand is sign-extended first.  Bits of bits (the
// shifted element, then its sign) come straight from x.
// CHECK-LABEL: hw.module @max_of_mixed_widths(in %x : i12, out y : i6)
// CHECK-DAG: %[[A:.+]] = comb.extract %x from 0 : (i12) -> i6
// CHECK: %[[B:.+]] = comb.extract %x from 8 : (i12) -> i4
// CHECK: %[[SIGN:.+]] = comb.extract %x from 11 : (i12) -> i1
// CHECK: %[[FILL:.+]] = comb.replicate %[[SIGN]] : (i1) -> i2
// CHECK: %[[BW:.+]] = comb.concat %[[FILL]], %[[B]] : i2, i4
// CHECK: %[[GT:.+]] = comb.icmp sgt %[[BW]], %[[A]] : i6
// CHECK: %[[M:.+]] = comb.mux %[[GT]], %[[BW]], %[[A]] : i6
// CHECK: hw.output %[[M]] : i6
func.func @max_of_mixed_widths(%arg0: tensor<2xi6>) -> tensor<1xi6> {
  %0 = "hardcore.extract"(%arg0) {index = 0 : i64} : (tensor<2xi6>) -> i6
  %1 = "hardcore.extract"(%arg0) {index = 1 : i64} : (tensor<2xi6>) -> i6
  %2 = "hardcore.shr"(%1) {amount = 2 : i64} : (i6) -> i4
  %3 = "hardcore.max"(%0, %2) : (i6, i4) -> i6
  %4 = "hardcore.pack"(%3) : (i6) -> tensor<1xi6>
  return %4 : tensor<1xi6>
}

// -----

// An argmax of three: the pick and the max of elements 0 and 1 share one
// comparator; the root compares that max with element 2.  The index (i3 read
// signed, in [0, 2]) leaves through a 2-bit unsigned port: the function is
// `hardcore.output_unsigned`, so the sign bit, always 0, is dropped: the
// root's mux chooses among the 2 bits the port reads.
// CHECK-LABEL: hw.module @argmax_of_3(in %x : i24, out y : i2)
// CHECK-DAG: %[[X0:.+]] = comb.extract %x from 0 : (i24) -> i8
// CHECK-DAG: %[[X1:.+]] = comb.extract %x from 8 : (i24) -> i8
// CHECK-DAG: %[[X2:.+]] = comb.extract %x from 16 : (i24) -> i8
// CHECK: %[[GT01:.+]] = comb.icmp sgt %[[X1]], %[[X0]] : i8
// CHECK: %[[P01:.+]] = comb.mux %[[GT01]], %{{.+}}, %{{.+}} : i2
// CHECK-NOT: comb.icmp sgt %[[X1]], %[[X0]]
// CHECK: %[[M01:.+]] = comb.mux %[[GT01]], %[[X1]], %[[X0]] : i8
// CHECK: %[[GT:.+]] = comb.icmp sgt %[[X2]], %[[M01]] : i8
// CHECK: %[[P:.+]] = comb.mux %[[GT]], %{{.+}}, %{{.+}} : i2
// CHECK: hw.output %[[P]] : i2
// SV-LABEL: module argmax_of_3(
// SV: input  [23:0] x,
// SV: output [1:0]  y
func.func @argmax_of_3(%arg0: tensor<3xi8>) -> tensor<1xi3> attributes {hardcore.output_unsigned} {
  %0 = "hardcore.extract"(%arg0) {index = 0 : i64} : (tensor<3xi8>) -> i8
  %1 = "hardcore.extract"(%arg0) {index = 1 : i64} : (tensor<3xi8>) -> i8
  %2 = "hardcore.extract"(%arg0) {index = 2 : i64} : (tensor<3xi8>) -> i8
  %c0 = "hardcore.constant"() {value = 0 : i64} : () -> i1
  %c1 = "hardcore.constant"() {value = 1 : i64} : () -> i2
  %c2 = "hardcore.constant"() {value = 2 : i64} : () -> i3
  %3 = "hardcore.pick"(%0, %1, %c0, %c1) : (i8, i8, i1, i2) -> i2
  %4 = "hardcore.max"(%0, %1) : (i8, i8) -> i8
  %5 = "hardcore.pick"(%4, %2, %3, %c2) : (i8, i8, i2, i3) -> i3
  %6 = "hardcore.pack"(%5) : (i3) -> tensor<1xi3>
  return %6 : tensor<1xi3>
}
