// RUN: hardcore-opt %s --verify-diagnostics --pass-pipeline='builtin.module(hardcore-quantize)'

// Token ids (an integer input that an embedding reads) only as a model's one input.
// expected-error @+1 {{hardcore-quantize: token ids are supported as a model's only input, not as one of its 2 inputs}}
func.func @tokens_and_floats(%arg0: tensor<2xi64>, %arg1: tensor<2x2xf32>) -> tensor<2x2xf32> {
  %0 = "hardcore.embedding"(%arg0) {table = dense<[[1.0, 0.5], [-0.5, 0.25], [0.0, 1.0]]> : tensor<3x2xf32>} : (tensor<2xi64>) -> tensor<2x2xf32>
  %1 = "hardcore.add_tensors"(%0, %arg1) {hardcore.kind = "residual add 2x2"} : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32>
  return %1 : tensor<2x2xf32>
}
