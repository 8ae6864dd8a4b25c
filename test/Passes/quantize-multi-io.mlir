// RUN: hardcore-opt %s --pass-pipeline='builtin.module(hardcore-quantize)' | filecheck %s

// Two inputs and two results: a hardcore.quantize per input, in argument order
// and before any layer, each at the scale its own calibration sets (seeded
// standard-normal samples here); a hardcore.dequantize per result at its own scale.
// CHECK-LABEL: func.func @two_inputs_two_results
// CHECK-SAME: (%arg0: tensor<2xf32>, %arg1: tensor<2xf32>) -> (tensor<2xf32>, tensor<4xf32>)
// CHECK: %[[X0:.+]] = "hardcore.quantize"(%arg0) {frac_bits = 5 : i64, max = 127 : i64, min = -128 : i64} : (tensor<2xf32>) -> tensor<2xi8>
// CHECK-NEXT: %[[X1:.+]] = "hardcore.quantize"(%arg1) {frac_bits = 5 : i64, max = 127 : i64, min = -128 : i64} : (tensor<2xf32>) -> tensor<2xi8>
// CHECK-NEXT: "hardcore.dense"(%[[X0]])
// CHECK: %[[S:.+]] = "hardcore.add_tensors"(%{{.+}}, %[[X1]])
// CHECK: %[[Y0:.+]] = "hardcore.requant"(%[[S]])
// CHECK: %[[Y1:.+]] = "hardcore.concat"
// CHECK: %[[D0:.+]] = "hardcore.dequantize"(%[[Y0]]) {frac_bits = 4 : i64} : (tensor<2xi8>) -> tensor<2xf32>
// CHECK: %[[D1:.+]] = "hardcore.dequantize"(%[[Y1]]) {frac_bits = 4 : i64} : (tensor<4xi8>) -> tensor<4xf32>
// CHECK: return %[[D0]], %[[D1]] : tensor<2xf32>, tensor<4xf32>
func.func @two_inputs_two_results(%arg0: tensor<2xf32>, %arg1: tensor<2xf32>) -> (tensor<2xf32>, tensor<4xf32>) {
  %0 = "hardcore.dense"(%arg0) {bias = dense<[5.000000e-01, -1.000000e+00]> : tensor<2xf32>, hardcore.kind = "linear 2->2", weight = dense<[[1.000000e+00, -5.000000e-01], [2.500000e-01, 2.000000e+00]]> : tensor<2x2xf32>} : (tensor<2xf32>) -> tensor<2xf32>
  %1 = "hardcore.relu"(%0) : (tensor<2xf32>) -> tensor<2xf32>
  %2 = "hardcore.add_tensors"(%1, %arg1) {hardcore.kind = "residual add 2"} : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  %3 = "hardcore.concat"(%1, %arg1) {dim = 0 : i64} : (tensor<2xf32>, tensor<2xf32>) -> tensor<4xf32>
  return %2, %3 : tensor<2xf32>, tensor<4xf32>
}
