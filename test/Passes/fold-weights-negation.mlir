// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-fold-weights{algorithm=cse})' | filecheck %s

// y = -x0 - x1 with no bias: no adder computes -a - b, so the output is a
// negation of x0 + x1, one more adder.
// CHECK-LABEL: func.func @negated_without_bias
// CHECK: %[[S:.+]] = "hardcore.add"(%{{.+}}, %{{.+}}) : (i8, i8) -> i9
// CHECK: %[[Y:.+]] = "hardcore.neg"(%[[S]]) : (i9) -> i10
// CHECK: "hardcore.pack"(%[[Y]])
func.func @negated_without_bias(%arg0: tensor<2xf32>) -> tensor<1xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 0 : i64, min = -128 : i64, max = 127 : i64} : (tensor<2xf32>) -> tensor<2xi8>
  %1 = "hardcore.dense"(%0) {weight = dense<[[-1, -1]]> : tensor<1x2xi8>, bias = dense<0> : tensor<1xi64>} : (tensor<2xi8>) -> tensor<1xi32>
  %2 = "hardcore.requant"(%1) {shift = 0 : i64, min = -512 : i64, max = 511 : i64} : (tensor<1xi32>) -> tensor<1xi10>
  %3 = "hardcore.dequantize"(%2) {frac_bits = 0 : i64} : (tensor<1xi10>) -> tensor<1xf32>
  return %3 : tensor<1xf32>
}

// -----

// With a bias the sign is free: 3 - (x0 + x1) is the bias adder itself.
// CHECK-LABEL: func.func @negated_with_bias
// CHECK: %[[S:.+]] = "hardcore.add"(%{{.+}}, %{{.+}}) : (i8, i8) -> i9
// CHECK: %[[C:.+]] = "hardcore.constant"() {value = 3 : i64}
// CHECK: %[[Y:.+]] = "hardcore.sub"(%[[C]], %[[S]]) : (i3, i9) -> i10
// CHECK-NOT: hardcore.neg
// CHECK: "hardcore.pack"(%[[Y]])
func.func @negated_with_bias(%arg0: tensor<2xf32>) -> tensor<1xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 0 : i64, min = -128 : i64, max = 127 : i64} : (tensor<2xf32>) -> tensor<2xi8>
  %1 = "hardcore.dense"(%0) {weight = dense<[[-1, -1]]> : tensor<1x2xi8>, bias = dense<3> : tensor<1xi64>} : (tensor<2xi8>) -> tensor<1xi32>
  %2 = "hardcore.requant"(%1) {shift = 0 : i64, min = -512 : i64, max = 511 : i64} : (tensor<1xi32>) -> tensor<1xi10>
  %3 = "hardcore.dequantize"(%2) {frac_bits = 0 : i64} : (tensor<1xi10>) -> tensor<1xf32>
  return %3 : tensor<1xf32>
}

// -----

// 7x without a bias is (x << 3) - x, which computes its three low bits; with a
// bias the solver builds x - (x << 3) = -7x, whose low bits are x's wires,
// and the bias adder takes the sign: 3 - (x - (x << 3)).
// CHECK-LABEL: func.func @subtractor_flipped_with_bias
// CHECK: %[[X:.+]] = "hardcore.extract"
// CHECK: %[[X8:.+]] = "hardcore.shl"(%[[X]]) {amount = 3 : i64} : (i8) -> i11
// CHECK: %[[D:.+]] = "hardcore.sub"(%[[X]], %[[X8]]) : (i8, i11) -> i11
// CHECK: %[[C:.+]] = "hardcore.constant"() {value = 3 : i64}
// CHECK: %[[Y:.+]] = "hardcore.sub"(%[[C]], %[[D]]) : (i3, i11) -> i11
// CHECK: "hardcore.pack"(%[[Y]])
func.func @subtractor_flipped_with_bias(%arg0: tensor<1xf32>) -> tensor<1xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 0 : i64, min = -128 : i64, max = 127 : i64} : (tensor<1xf32>) -> tensor<1xi8>
  %1 = "hardcore.dense"(%0) {weight = dense<[[7]]> : tensor<1x1xi8>, bias = dense<3> : tensor<1xi64>} : (tensor<1xi8>) -> tensor<1xi32>
  %2 = "hardcore.requant"(%1) {shift = 0 : i64, min = -1024 : i64, max = 1023 : i64} : (tensor<1xi32>) -> tensor<1xi11>
  %3 = "hardcore.dequantize"(%2) {frac_bits = 0 : i64} : (tensor<1xi11>) -> tensor<1xf32>
  return %3 : tensor<1xf32>
}
