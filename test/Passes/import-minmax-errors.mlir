// RUN: hardcore-opt %s --split-input-file --verify-diagnostics --pass-pipeline='builtin.module(hardcore-import)'

// A maximum with a constant tensor is a clamp (torch.clamp takes numbers), not
// a comparison of two tensors the model computes.
func.func @maximum_of_a_constant(%arg0: !torch.vtensor<[1,2],f32>) -> !torch.vtensor<[1,2],f32> {
  %0 = torch.vtensor.literal(dense<[0.000000e+00, 1.000000e+00]> : tensor<2xf32>) : !torch.vtensor<[2],f32>
  // expected-error @+1 {{hardcore-import: maximum of a constant tensor is not supported (only of tensors the model computes)}}
  %1 = torch.aten.maximum %arg0, %0 : !torch.vtensor<[1,2],f32>, !torch.vtensor<[2],f32> -> !torch.vtensor<[1,2],f32>
  return %1 : !torch.vtensor<[1,2],f32>
}

