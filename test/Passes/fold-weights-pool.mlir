// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-fold-weights)' | filecheck %s
// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-fold-weights,hardcore-to-hw)' | filecheck %s --check-prefix=HW

// A max pool is a balanced tree of `hardcore.max` per window (padding taps,
// -1, are left out), each as wide as its value range; it is a layer of its
// own (comparators, no adders).  The argmax of the two maxima is one
// `hardcore.pick` of the constant indices: the root needs no max.  Its result
// is the output: an index in [0, 1], so i2 read signed, and the function is
// marked `hardcore.output_unsigned` (the port drops the sign bit).
// CHECK-LABEL: func.func @maxpool_argmax
// CHECK-SAME: (%[[X:.+]]: tensor<4xi4>) -> tensor<1xi2>
// CHECK-SAME: hardcore.layers = [{adder_bits = 0 : i64, adder_depth = 0 : i64, adders = 0 : i64, comparator_depth = 2 : i64, comparators = 3 : i64, inputs = 4 : i64, kind = "maxpool", nonzero_weights = 0 : i64, outputs = 2 : i64, weights = 0 : i64}, {adder_bits = 0 : i64, adder_depth = 0 : i64, adders = 0 : i64, comparator_depth = 1 : i64, comparators = 1 : i64, inputs = 2 : i64, kind = "argmax of 2", nonzero_weights = 0 : i64, outputs = 1 : i64, weights = 0 : i64}]
// CHECK-SAME: hardcore.output_unsigned
// CHECK: %[[X0:.+]] = "hardcore.extract"(%[[X]]) {index = 0 : i64}
// CHECK: %[[X1:.+]] = "hardcore.extract"(%[[X]]) {index = 1 : i64}
// CHECK: %[[X2:.+]] = "hardcore.extract"(%[[X]]) {index = 2 : i64}
// CHECK: %[[X3:.+]] = "hardcore.extract"(%[[X]]) {index = 3 : i64}
// CHECK: %[[M01:.+]] = "hardcore.max"(%[[X0]], %[[X1]]) : (i4, i4) -> i4
// CHECK: %[[M0:.+]] = "hardcore.max"(%[[M01]], %[[X2]]) : (i4, i4) -> i4
// CHECK: %[[M1:.+]] = "hardcore.max"(%[[X2]], %[[X3]]) : (i4, i4) -> i4
// CHECK: %[[I0:.+]] = "hardcore.constant"() {value = 0 : i64} : () -> i1
// CHECK: %[[I1:.+]] = "hardcore.constant"() {value = 1 : i64} : () -> i2
// CHECK: %[[I:.+]] = "hardcore.pick"(%[[M0]], %[[M1]], %[[I0]], %[[I1]]) : (i4, i4, i1, i2) -> i2
// CHECK: "hardcore.pack"(%[[I]]) : (i2) -> tensor<1xi2>
// Each layer is a module of its own (after the top module): the pool's three
// comparators, then the argmax's one, whose index is the 1-bit port (the
// index's sign bit, always 0, is not computed).
// HW-LABEL: hw.module @maxpool_argmax(in %x : i16, out y : i1)
// HW-LABEL: hw.module @maxpool_argmax_layer0(in %i0 : i4, in %i1 : i4, in %i2 : i4, in %i3 : i4, out o0 : i4, out o1 : i4)
// HW-COUNT-3: comb.icmp sgt
// HW-LABEL: hw.module @maxpool_argmax_layer1(in %i0 : i4, in %i1 : i4, out o0 : i1)
// HW: %[[GT:.+]] = comb.icmp sgt %i1, %i0 : i4
// HW: comb.mux %[[GT]], %{{.+}}, %{{.+}} : i1
func.func @maxpool_argmax(%arg0: tensor<4xf32>) -> tensor<1xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 0 : i64, min = -8 : i64, max = 7 : i64} : (tensor<4xf32>) -> tensor<4xi4>
  %1 = "hardcore.maxpool"(%0) {hardcore.kind = "maxpool", windows = dense<[[0, 1, 2], [2, 3, -1]]> : tensor<2x3xi64>} : (tensor<4xi4>) -> tensor<2xi4>
  %2 = "hardcore.argmax"(%1) {hardcore.kind = "argmax of 2"} : (tensor<2xi4>) -> tensor<1xi2>
  %3 = "hardcore.dequantize"(%2) {frac_bits = 0 : i64} : (tensor<1xi2>) -> tensor<1xf32>
  return %3 : tensor<1xf32>
}

// -----

// Argmax of 5: neighbours pair up level by level, lower indices on the left,
// and the odd one waits for the next level; each pair's pick (the index) and
// max (the value, for the next level) compare the same two values.  A pick
// takes the right index only when its value is strictly larger: ties go to
// the lowest index, as in torch.argmax.
// CHECK-LABEL: func.func @argmax_of_5
// CHECK-SAME: -> tensor<1xi4>
// CHECK: %[[X0:.+]] = "hardcore.extract"(%{{.+}}) {index = 0 : i64}
// CHECK: %[[X1:.+]] = "hardcore.extract"(%{{.+}}) {index = 1 : i64}
// CHECK: %[[X2:.+]] = "hardcore.extract"(%{{.+}}) {index = 2 : i64}
// CHECK: %[[X3:.+]] = "hardcore.extract"(%{{.+}}) {index = 3 : i64}
// CHECK: %[[X4:.+]] = "hardcore.extract"(%{{.+}}) {index = 4 : i64}
// CHECK-DAG: %[[C0:.+]] = "hardcore.constant"() {value = 0 : i64} : () -> i1
// CHECK-DAG: %[[C1:.+]] = "hardcore.constant"() {value = 1 : i64} : () -> i2
// CHECK-DAG: %[[C2:.+]] = "hardcore.constant"() {value = 2 : i64} : () -> i3
// CHECK-DAG: %[[C3:.+]] = "hardcore.constant"() {value = 3 : i64} : () -> i3
// CHECK-DAG: %[[C4:.+]] = "hardcore.constant"() {value = 4 : i64} : () -> i4
// CHECK: %[[P01:.+]] = "hardcore.pick"(%[[X0]], %[[X1]], %[[C0]], %[[C1]]) : (i4, i4, i1, i2) -> i2
// CHECK: %[[M01:.+]] = "hardcore.max"(%[[X0]], %[[X1]]) : (i4, i4) -> i4
// CHECK: %[[P23:.+]] = "hardcore.pick"(%[[X2]], %[[X3]], %[[C2]], %[[C3]]) : (i4, i4, i3, i3) -> i3
// CHECK: %[[M23:.+]] = "hardcore.max"(%[[X2]], %[[X3]]) : (i4, i4) -> i4
// CHECK: %[[P03:.+]] = "hardcore.pick"(%[[M01]], %[[M23]], %[[P01]], %[[P23]]) : (i4, i4, i2, i3) -> i3
// CHECK: %[[M03:.+]] = "hardcore.max"(%[[M01]], %[[M23]]) : (i4, i4) -> i4
// CHECK: %[[P:.+]] = "hardcore.pick"(%[[M03]], %[[X4]], %[[P03]], %[[C4]]) : (i4, i4, i3, i4) -> i4
// CHECK-NOT: "hardcore.max"
// CHECK: "hardcore.pack"(%[[P]]) : (i4) -> tensor<1xi4>
func.func @argmax_of_5(%arg0: tensor<5xf32>) -> tensor<1xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 0 : i64, min = -8 : i64, max = 7 : i64} : (tensor<5xf32>) -> tensor<5xi4>
  %1 = "hardcore.argmax"(%0) : (tensor<5xi4>) -> tensor<1xi4>
  %2 = "hardcore.dequantize"(%1) {frac_bits = 0 : i64} : (tensor<1xi4>) -> tensor<1xf32>
  return %2 : tensor<1xf32>
}

// -----

// Value ranges decide some comparisons: after a ReLU, element 1 (a constant 0
// here, its weights all zero) can never beat element 0, and element 2 (>= 8)
// always beats a value <= 5.  No comparator is built for those.
// CHECK-LABEL: func.func @argmax_decided_by_ranges
// CHECK-NOT: "hardcore.max"
// CHECK-NOT: "hardcore.pick"
// CHECK: %[[C2:.+]] = "hardcore.constant"() {value = 2 : i64} : () -> i3
// CHECK: "hardcore.pack"(%[[C2]]) : (i3) -> tensor<1xi3>
func.func @argmax_decided_by_ranges(%arg0: tensor<1xf32>) -> tensor<1xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 0 : i64, min = 0 : i64, max = 5 : i64} : (tensor<1xf32>) -> tensor<1xi4>
  %1 = "hardcore.dense"(%0) {weight = dense<[[1], [0], [0]]> : tensor<3x1xi8>, bias = dense<[0, 0, 8]> : tensor<3xi64>} : (tensor<1xi4>) -> tensor<3xi32>
  %2 = "hardcore.argmax"(%1) : (tensor<3xi32>) -> tensor<1xi3>
  %3 = "hardcore.dequantize"(%2) {frac_bits = 0 : i64} : (tensor<1xi3>) -> tensor<1xf32>
  return %3 : tensor<1xf32>
}
