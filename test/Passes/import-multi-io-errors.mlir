// RUN: hardcore-opt %s --verify-diagnostics --pass-pipeline='builtin.module(hardcore-import)'

// einsum('i,j->ij', a, b) of vectors without a batch dimension: every input,
// not only the first, must have batch size 1 first.
// expected-error @+1 {{hardcore-import: expected batch size 1 as the first dimension, got !torch.vtensor<[4],f32>}}
func.func @second_input_without_batch(%arg0: !torch.vtensor<[1,3],f32>, %arg1: !torch.vtensor<[4],f32>) -> !torch.vtensor<[1,3],f32> {
  return %arg0 : !torch.vtensor<[1,3],f32>
}

