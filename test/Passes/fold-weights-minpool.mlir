// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-fold-weights)' | filecheck %s
// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-fold-weights,hardcore-to-hw)' | filecheck %s --check-prefix=HW

// A min pool (torch.minimum: windows of pairs) is a tree of `hardcore.pick` per
// window, pick(b, a, a, b) = a > b ? b : a, a layer of its own (comparators,
// no adders), like a max pool.
// CHECK-LABEL: func.func @minimum
// CHECK-SAME: hardcore.layers = [{adder_bits = 0 : i64, adder_depth = 0 : i64, adders = 0 : i64, comparator_depth = 1 : i64, comparators = 2 : i64, inputs = 4 : i64, kind = "minimum of two tensors 2", nonzero_weights = 0 : i64, outputs = 2 : i64, weights = 0 : i64}]
// CHECK: %[[A0:.+]] = "hardcore.clamp"(%{{.+}}) {max = 7 : i64, min = 0 : i64} : (i4) -> i4
// CHECK: %[[A1:.+]] = "hardcore.clamp"(%{{.+}}) {max = 7 : i64, min = 0 : i64} : (i4) -> i4
// CHECK: %[[B0:.+]] = "hardcore.clamp"(%{{.+}}) {max = 7 : i64, min = 0 : i64} : (i4) -> i4
// CHECK: %[[B1:.+]] = "hardcore.clamp"(%{{.+}}) {max = 7 : i64, min = 0 : i64} : (i4) -> i4
// CHECK: %[[M0:.+]] = "hardcore.pick"(%[[B0]], %[[A0]], %[[A0]], %[[B0]]) : (i4, i4, i4, i4) -> i4
// CHECK: %[[M1:.+]] = "hardcore.pick"(%[[B1]], %[[A1]], %[[A1]], %[[B1]]) : (i4, i4, i4, i4) -> i4
// CHECK: "hardcore.pack"(%[[M0]], %[[M1]]) : (i4, i4) -> tensor<2xi4>
// One comparator and a mux per element: a > b ? b : a.
// HW-LABEL: hw.module @minimum_layer0(in %i0 : i4, in %i1 : i4, in %i2 : i4, in %i3 : i4, out o0 : i4, out o1 : i4)
// HW: %[[GT:.+]] = comb.icmp sgt %[[A:.+]], %[[B:.+]] : i4
// HW: comb.mux %[[GT]], %[[B]], %[[A]] : i4
// HW-COUNT-1: comb.icmp sgt
func.func @minimum(%arg0: tensor<4xf32>) -> tensor<2xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 0 : i64, min = -8 : i64, max = 7 : i64} : (tensor<4xf32>) -> tensor<4xi4>
  %1 = "hardcore.relu"(%0) : (tensor<4xi4>) -> tensor<4xi4>
  %2 = "hardcore.minpool"(%1) {hardcore.kind = "minimum of two tensors 2", windows = dense<[[0, 2], [1, 3]]> : tensor<2x2xi64>} : (tensor<4xi4>) -> tensor<2xi4>
  %3 = "hardcore.dequantize"(%2) {frac_bits = 0 : i64} : (tensor<2xi4>) -> tensor<2xf32>
  return %3 : tensor<2xf32>
}

// -----

// The minimum's range is [min of the lows, min of the highs]: of [0, 7] and
// [0, 3] it is [0, 3], so the pick is an i3.
// CHECK-LABEL: func.func @minimum_range
// CHECK: %[[A:.+]] = "hardcore.clamp"(%{{.+}}) {max = 7 : i64, min = 0 : i64} : (i4) -> i4
// CHECK: %[[B:.+]] = "hardcore.clamp"(%{{.+}}) {max = 3 : i64, min = 0 : i64} : (i4) -> i3
// CHECK: "hardcore.pick"(%[[B]], %[[A]], %[[A]], %[[B]]) : (i3, i4, i4, i3) -> i3
func.func @minimum_range(%arg0: tensor<2xf32>) -> tensor<1xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 0 : i64, min = -8 : i64, max = 7 : i64} : (tensor<2xf32>) -> tensor<2xi4>
  %1 = "hardcore.relu"(%0) : (tensor<2xi4>) -> tensor<2xi4>
  %2 = "hardcore.requant"(%0) {shift = 0 : i64, min = 0 : i64, max = 3 : i64} : (tensor<2xi4>) -> tensor<2xi3>
  %3 = "hardcore.gather"(%1) {indices = dense<[0]> : tensor<1xi64>} : (tensor<2xi4>) -> tensor<1xi4>
  %4 = "hardcore.gather"(%2) {indices = dense<[1]> : tensor<1xi64>} : (tensor<2xi3>) -> tensor<1xi3>
  %5 = "hardcore.requant"(%4) {shift = 0 : i64, min = -8 : i64, max = 7 : i64} : (tensor<1xi3>) -> tensor<1xi4>
  %6 = "hardcore.concat"(%3, %5) {dim = 0 : i64} : (tensor<1xi4>, tensor<1xi4>) -> tensor<2xi4>
  %7 = "hardcore.minpool"(%6) {windows = dense<[[0, 1]]> : tensor<1x2xi64>} : (tensor<2xi4>) -> tensor<1xi4>
  %8 = "hardcore.dequantize"(%7) {frac_bits = 0 : i64} : (tensor<1xi4>) -> tensor<1xf32>
  return %8 : tensor<1xf32>
}

// -----

// A comparison the ranges decide costs nothing: every value of [-8, -1] is
// below every value of [0, 7], so the minimum is the first, no comparator.
// CHECK-LABEL: func.func @minimum_decided
// CHECK-SAME: comparators = 0 : i64
// CHECK-NOT: hardcore.pick
func.func @minimum_decided(%arg0: tensor<2xf32>) -> tensor<1xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 0 : i64, min = -8 : i64, max = 7 : i64} : (tensor<2xf32>) -> tensor<2xi4>
  %1 = "hardcore.requant"(%0) {shift = 0 : i64, min = -8 : i64, max = -1 : i64} : (tensor<2xi4>) -> tensor<2xi4>
  %2 = "hardcore.relu"(%0) : (tensor<2xi4>) -> tensor<2xi4>
  %3 = "hardcore.concat"(%1, %2) {dim = 0 : i64} : (tensor<2xi4>, tensor<2xi4>) -> tensor<4xi4>
  %4 = "hardcore.minpool"(%3) {windows = dense<[[2, 0]]> : tensor<1x2xi64>} : (tensor<4xi4>) -> tensor<1xi4>
  %5 = "hardcore.dequantize"(%4) {frac_bits = 0 : i64} : (tensor<1xi4>) -> tensor<1xf32>
  return %5 : tensor<1xf32>
}
