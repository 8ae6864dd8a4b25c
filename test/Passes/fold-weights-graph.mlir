// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-fold-weights)' | filecheck %s
// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-fold-weights,hardcore-to-hw)' | filecheck %s --check-prefix=HW

// A residual add is a layer of its own: one adder per element.  The aligning
// left shift (a requant by -3 that cannot saturate) is a wire built into the
// add; the ReLU and the requantization after it are one rounding constant, a
// shift and a clamp.
// CHECK-LABEL: func.func @residual_relu
// CHECK-SAME: (%[[X:.+]]: tensor<2xi4>) -> tensor<2xi5>
// CHECK-SAME: hardcore.layers = [{adder_bits = 16 : i64, adder_depth = 1 : i64, adders = 2 : i64, inputs = 4 : i64, kind = "residual add 2", nonzero_weights = 0 : i64, outputs = 2 : i64, weights = 0 : i64}]
// CHECK: %[[X0:.+]] = "hardcore.extract"(%[[X]]) {index = 0 : i64} : (tensor<2xi4>) -> i4
// CHECK: %[[X1:.+]] = "hardcore.extract"(%[[X]]) {index = 1 : i64} : (tensor<2xi4>) -> i4
// CHECK: %[[S1:.+]] = "hardcore.shl"(%[[X1]]) {amount = 3 : i64} : (i4) -> i7
// CHECK: %[[A0:.+]] = "hardcore.add"(%[[S1]], %[[X0]]) : (i7, i4) -> i8
// CHECK: %[[S0:.+]] = "hardcore.shl"(%[[X0]]) {amount = 3 : i64} : (i4) -> i7
// CHECK: %[[A1:.+]] = "hardcore.add"(%[[S0]], %[[X1]]) : (i7, i4) -> i8
// CHECK: %[[H:.+]] = "hardcore.constant"() {value = 2 : i64} : () -> i3
// CHECK: %[[R0:.+]] = "hardcore.add"(%[[A0]], %[[H]]) : (i8, i3) -> i8
// CHECK: %[[Q0:.+]] = "hardcore.shr"(%[[R0]]) {amount = 2 : i64} : (i8) -> i6
// CHECK: "hardcore.clamp"(%[[Q0]]) {max = 15 : i64, min = 0 : i64} : (i6) -> i5
func.func @residual_relu(%arg0: tensor<2xf32>) -> tensor<2xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 2 : i64, max = 7 : i64, min = -8 : i64} : (tensor<2xf32>) -> tensor<2xi4>
  %1 = "hardcore.gather"(%0) {indices = dense<[1, 0]> : tensor<2xi64>} : (tensor<2xi4>) -> tensor<2xi4>
  %2 = "hardcore.requant"(%1) {max = 56 : i64, min = -64 : i64, shift = -3 : i64} : (tensor<2xi4>) -> tensor<2xi7>
  %3 = "hardcore.add_tensors"(%2, %0) {hardcore.kind = "residual add 2"} : (tensor<2xi7>, tensor<2xi4>) -> tensor<2xi8>
  %4 = "hardcore.relu"(%3) : (tensor<2xi8>) -> tensor<2xi8>
  %5 = "hardcore.requant"(%4) {max = 15 : i64, min = 0 : i64, shift = 2 : i64} : (tensor<2xi8>) -> tensor<2xi5>
  %6 = "hardcore.dequantize"(%5) {frac_bits = 3 : i64} : (tensor<2xi5>) -> tensor<2xf32>
  return %6 : tensor<2xf32>
}

// -----

// Concats and gathers are wires: the elements in their new order.
// concat([x0 x1], [x2 x3]) along dim 1 of 2x1 tensors is [x0 x2 x1 x3]; the
// gather takes elements 3, 0 and 0 of it (x1 and x2 reach no result: no extract).
// CHECK-LABEL: func.func @concat_gather
// CHECK-SAME: hardcore.layers = []
// CHECK-NEXT: %[[X0:.+]] = "hardcore.extract"(%{{.+}}) {index = 0 : i64}
// CHECK-NEXT: %[[X3:.+]] = "hardcore.extract"(%{{.+}}) {index = 3 : i64}
// CHECK-NEXT: "hardcore.pack"(%[[X3]], %[[X0]], %[[X0]]) : (i4, i4, i4) -> tensor<3xi4>
func.func @concat_gather(%arg0: tensor<4xf32>) -> tensor<3xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 2 : i64, max = 7 : i64, min = -8 : i64} : (tensor<4xf32>) -> tensor<4xi4>
  %1 = "hardcore.gather"(%0) {indices = dense<[0, 1]> : tensor<2xi64>} : (tensor<4xi4>) -> tensor<2x1xi4>
  %2 = "hardcore.gather"(%0) {indices = dense<[2, 3]> : tensor<2xi64>} : (tensor<4xi4>) -> tensor<2x1xi4>
  %3 = "hardcore.concat"(%1, %2) {dim = 1 : i64} : (tensor<2x1xi4>, tensor<2x1xi4>) -> tensor<2x2xi4>
  %4 = "hardcore.gather"(%3) {indices = dense<[3, 0, 0]> : tensor<3xi64>} : (tensor<2x2xi4>) -> tensor<3xi4>
  %5 = "hardcore.dequantize"(%4) {frac_bits = 2 : i64} : (tensor<3xi4>) -> tensor<3xf32>
  return %5 : tensor<3xf32>
}

// -----

// An op of a lower layer is never shared with an identical op made by a higher
// layer.  Layer 1 (%4) reads the concat's element 2 (layer 0's output) times 2:
// a shl by 1.  The requant %6 belongs to layer 0 (its operand's layer) and
// shifts the same element left by 1; it is processed after layer 1, and
// reusing layer 1's shl made layer 0 read layer 1: hardcore-to-hw failed with
// "layers and top-level ops depend on each other in a cycle" (found by the
// fuzzer).  Each layer now has its own shl.
// CHECK-LABEL: func.func @later_layer_shift
// CHECK: %[[L0:.+]] = "hardcore.clamp"(%{{.+}}) {max = 1 : i64, min = -2 : i64} : (i3) -> i2
// CHECK: %[[S1:.+]] = "hardcore.shl"(%[[L0]]) {amount = 1 : i64} : (i2) -> i3
// CHECK: "hardcore.add"(%{{.+}}, %[[S1]])
// CHECK: %[[S0:.+]] = "hardcore.shl"(%[[L0]]) {amount = 1 : i64} : (i2) -> i3
// CHECK: "hardcore.clamp"(%[[S0]]) {max = 1 : i64, min = -2 : i64} : (i3) -> i2
// HW-LABEL: hw.module @later_layer_shift(
// HW: %layer0.o0, %layer0.o1 = hw.instance "layer0" @later_layer_shift_layer0(
// HW: hw.instance "layer1" @later_layer_shift_layer1(i0: %layer0.o0: i2
func.func @later_layer_shift(%arg0: tensor<2xf32>) -> tensor<4xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 0 : i64, min = -2 : i64, max = 1 : i64} : (tensor<2xf32>) -> tensor<2xi2>
  %1 = "hardcore.dense"(%0) {weight = dense<[[1, -1]]> : tensor<1x2xi8>, bias = dense<[0]> : tensor<1xi64>} : (tensor<2xi2>) -> tensor<1xi64>
  %2 = "hardcore.requant"(%1) {shift = 0 : i64, min = -2 : i64, max = 1 : i64} : (tensor<1xi64>) -> tensor<1xi2>
  %3 = "hardcore.concat"(%0, %2) {dim = 0 : i64} : (tensor<2xi2>, tensor<1xi2>) -> tensor<3xi2>
  %4 = "hardcore.dense"(%3) {weight = dense<[[1, 0, 2]]> : tensor<1x3xi8>, bias = dense<[0]> : tensor<1xi64>} : (tensor<3xi2>) -> tensor<1xi64>
  %5 = "hardcore.requant"(%4) {shift = 0 : i64, min = -2 : i64, max = 1 : i64} : (tensor<1xi64>) -> tensor<1xi2>
  %6 = "hardcore.requant"(%3) {shift = dense<[0, 0, -1]> : tensor<3xi64>, min = -2 : i64, max = 1 : i64} : (tensor<3xi2>) -> tensor<3xi2>
  %7 = "hardcore.concat"(%6, %5) {dim = 0 : i64} : (tensor<3xi2>, tensor<1xi2>) -> tensor<4xi2>
  %8 = "hardcore.dequantize"(%7) {frac_bits = 0 : i64} : (tensor<4xi2>) -> tensor<4xf32>
  return %8 : tensor<4xf32>
}
