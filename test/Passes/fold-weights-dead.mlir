// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-fold-weights)' | filecheck %s

// The last row of a dense over two rows (a last-position select, as a language
// model's window circuit takes before its head): row 0's elements, adders and
// input extracts reach no result and are swept; the layer's figures count
// only row 1's 3 adders (of 6 built).
// CHECK-LABEL: func.func @last_row
// CHECK-SAME: hardcore.layers = [{adder_bits = 18 : i64, adder_depth = 2 : i64, adders = 3 : i64, inputs = 4 : i64, nonzero_weights = 4 : i64, outputs = 4 : i64, weights = 4 : i64}]
// CHECK-NEXT: %[[X2:.+]] = "hardcore.extract"(%{{.+}}) {index = 2 : i64}
// CHECK-NEXT: %[[X3:.+]] = "hardcore.extract"(%{{.+}}) {index = 3 : i64}
// CHECK-NEXT: %[[D:.+]] = "hardcore.sub"(%[[X2]], %[[X3]]) : (i4, i4) -> i5
// CHECK-NEXT: %[[X2X4:.+]] = "hardcore.shl"(%[[X2]]) {amount = 2 : i64}
// CHECK-NEXT: %[[Y0:.+]] = "hardcore.sub"(%[[X2X4]], %[[D]]) : (i6, i5) -> i6
// CHECK-NEXT: %[[X3X4:.+]] = "hardcore.shl"(%[[X3]]) {amount = 2 : i64}
// CHECK-NEXT: %[[Y1:.+]] = "hardcore.sub"(%[[D]], %[[X3X4]]) : (i5, i6) -> i7
// CHECK-NEXT: %[[Y0W:.+]] = "hardcore.sext"(%[[Y0]]) : (i6) -> i7
// CHECK-NEXT: "hardcore.pack"(%[[Y0W]], %[[Y1]]) : (i7, i7) -> tensor<2xi7>
func.func @last_row(%arg0: tensor<4xf32>) -> tensor<2xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 0 : i64, min = -8 : i64, max = 7 : i64} : (tensor<4xf32>) -> tensor<4xi4>
  %1 = "hardcore.reshape"(%0) : (tensor<4xi4>) -> tensor<2x2xi4>
  %2 = "hardcore.dense"(%1) {weight = dense<[[3, 1], [1, -5]]> : tensor<2x2xi8>, bias = dense<[0, 0]> : tensor<2xi32>} : (tensor<2x2xi4>) -> tensor<2x2xi8>
  %3 = "hardcore.gather"(%2) {indices = dense<[2, 3]> : tensor<2xi64>} : (tensor<2x2xi8>) -> tensor<2xi8>
  %4 = "hardcore.dequantize"(%3) {frac_bits = 0 : i64} : (tensor<2xi8>) -> tensor<2xf32>
  return %4 : tensor<2xf32>
}

// -----

// A dead op's operand that a live op reads stays: output 1 is (x0 + x1) + x2,
// sharing x0 + x1 with output 0, whose bias adder and ReLU clamp nothing reads
// (the bias adder was no layer's: the figures are unchanged, 2 adders).
// CHECK-LABEL: func.func @shared
// CHECK-SAME: adders = 2 : i64
// CHECK: %[[X0:.+]] = "hardcore.extract"(%{{.+}}) {index = 0 : i64}
// CHECK-NEXT: %[[X1:.+]] = "hardcore.extract"(%{{.+}}) {index = 1 : i64}
// CHECK-NEXT: %[[X2:.+]] = "hardcore.extract"(%{{.+}}) {index = 2 : i64}
// CHECK-NEXT: %[[S:.+]] = "hardcore.add"(%[[X0]], %[[X1]]) : (i4, i4) -> i5
// CHECK-NEXT: %[[Y1:.+]] = "hardcore.add"(%[[X2]], %[[S]]) : (i4, i5) -> i6
// CHECK-NEXT: %[[R:.+]] = "hardcore.clamp"(%[[Y1]]) {max = 31 : i64, min = 0 : i64} : (i6) -> i6
// CHECK-NEXT: "hardcore.pack"(%[[R]]) : (i6) -> tensor<1xi6>
func.func @shared(%arg0: tensor<3xf32>) -> tensor<1xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 0 : i64, min = -8 : i64, max = 7 : i64} : (tensor<3xf32>) -> tensor<3xi4>
  %1 = "hardcore.dense"(%0) {weight = dense<[[1, 1, 0], [1, 1, 1]]> : tensor<2x3xi8>, bias = dense<[1, 0]> : tensor<2xi32>} : (tensor<3xi4>) -> tensor<2xi7>
  %2 = "hardcore.relu"(%1) : (tensor<2xi7>) -> tensor<2xi7>
  %3 = "hardcore.gather"(%2) {indices = dense<[1]> : tensor<1xi64>} : (tensor<2xi7>) -> tensor<1xi7>
  %4 = "hardcore.dequantize"(%3) {frac_bits = 0 : i64} : (tensor<1xi7>) -> tensor<1xf32>
  return %4 : tensor<1xf32>
}
