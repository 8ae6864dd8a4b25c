// RUN: hardcore-opt %s --pass-pipeline='builtin.module(hardcore-quantize)' | filecheck %s

// torch.minimum of a dense layer's output and a gather of the ReLU'd input, as
// hardcore-import makes it: the concat puts both at one scale (here both are
// at 2^-5 already, so neither is requantized), and the min pool compares the
// integers there, keeping their type and scale: exact, no requantization.
// CHECK-LABEL: func.func @minimum
// CHECK: %[[Q:.+]] = "hardcore.quantize"(%{{.+}}) {frac_bits = 5 : i64, max = 127 : i64, min = -128 : i64} : (tensor<4xf32>) -> tensor<4xi8>
// CHECK: %[[S:.+]] = "hardcore.requant"(%{{.+}}) {max = 127 : i64, min = -128 : i64, shift = 7 : i64} : (tensor<2xi32>) -> tensor<2xi8>
// CHECK: %[[R:.+]] = "hardcore.relu"(%[[Q]]) : (tensor<4xi8>) -> tensor<4xi8>
// CHECK: %[[G:.+]] = "hardcore.gather"(%[[R]]) {indices = dense<[2, 3]> : tensor<2xi64>} : (tensor<4xi8>) -> tensor<2xi8>
// CHECK: %[[J:.+]] = "hardcore.concat"(%[[S]], %[[G]]) {dim = 0 : i64} : (tensor<2xi8>, tensor<2xi8>) -> tensor<4xi8>
// CHECK: %[[M:.+]] = "hardcore.minpool"(%[[J]]) {hardcore.kind = "minimum of two tensors 2", windows = dense<{{\[}}[0, 2], [1, 3]]> : tensor<2x2xi64>} : (tensor<4xi8>) -> tensor<2xi8>
// CHECK: "hardcore.dequantize"(%[[M]]) {frac_bits = 5 : i64} : (tensor<2xi8>) -> tensor<2xf32>
func.func @minimum(%arg0: tensor<4xf32>) -> tensor<2xf32> {
  %0 = "hardcore.dense"(%arg0) {weight = dense<[[1.0, 0.0, 0.0, 0.0], [0.0, 0.5, 0.0, 0.0]]> : tensor<2x4xf32>, bias = dense<[0.0, 0.25]> : tensor<2xf32>} : (tensor<4xf32>) -> tensor<2xf32>
  %1 = "hardcore.relu"(%arg0) : (tensor<4xf32>) -> tensor<4xf32>
  %2 = "hardcore.gather"(%1) {indices = dense<[2, 3]> : tensor<2xi64>} : (tensor<4xf32>) -> tensor<2xf32>
  %3 = "hardcore.concat"(%0, %2) {dim = 0 : i64} : (tensor<2xf32>, tensor<2xf32>) -> tensor<4xf32>
  %4 = "hardcore.minpool"(%3) {hardcore.kind = "minimum of two tensors 2", windows = dense<[[0, 2], [1, 3]]> : tensor<2x2xi64>} : (tensor<4xf32>) -> tensor<2xf32>
  return %4 : tensor<2xf32>
}
