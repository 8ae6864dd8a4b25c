// RUN: echo '{"layers": {"1": {"act_bits": 6}}}' > %t.minimum.json
// RUN: not hardcore-opt %s --pass-pipeline='builtin.module(hardcore-quantize{config=%t.minimum.json})' 2>&1 | filecheck %s

// A minimum (like a max pool) compares integers at its input's scale: it has
// no act-bits of its own for a quantization config to set.
// CHECK: error: hardcore-quantize: the quantization config sets act_bits of layer 1, a minimum, which has no weights or requantization
func.func @dense_then_minimum(%arg0: tensor<4xf32>) -> tensor<2xf32> {
  %0 = "hardcore.dense"(%arg0) {weight = dense<[[1.0, 0.5, 0.0, 0.0], [0.0, 0.0, 1.0, -1.0]]> : tensor<2x4xf32>, bias = dense<[0.0, 0.0]> : tensor<2xf32>} : (tensor<4xf32>) -> tensor<2xf32>
  %1 = "hardcore.concat"(%0, %0) {dim = 0 : i64} : (tensor<2xf32>, tensor<2xf32>) -> tensor<4xf32>
  %2 = "hardcore.minpool"(%1) {windows = dense<[[0, 3], [1, 2]]> : tensor<2x2xi64>} : (tensor<4xf32>) -> tensor<2xf32>
  return %2 : tensor<2xf32>
}
