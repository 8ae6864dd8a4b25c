// RUN: hardcore-opt %s --split-input-file --verify-diagnostics --pass-pipeline='builtin.module(hardcore-import)'

// Every unsupported op is reported at its own location, not just the first.
func.func @unsupported(%arg0: !torch.vtensor<[1,4],f32>) -> !torch.vtensor<[1,4],f32> {
  // expected-error @+1 {{hardcore-import: unsupported op 'torch.aten.sigmoid'}}
  %0 = torch.aten.sigmoid %arg0 : !torch.vtensor<[1,4],f32> -> !torch.vtensor<[1,4],f32>
  // expected-error @+1 {{hardcore-import: unsupported op 'torch.aten.tanh'}}
  %1 = torch.aten.tanh %0 : !torch.vtensor<[1,4],f32> -> !torch.vtensor<[1,4],f32>
  return %1 : !torch.vtensor<[1,4],f32>
}

// -----

// expected-error @+1 {{hardcore-import: expected batch size 1 as the first dimension, got !torch.vtensor<[8,4],f32>}}
func.func @batch_of_eight(%arg0: !torch.vtensor<[8,4],f32>) -> !torch.vtensor<[8,4],f32> {
  %0 = torch.aten.relu %arg0 : !torch.vtensor<[8,4],f32> -> !torch.vtensor<[8,4],f32>
  return %0 : !torch.vtensor<[8,4],f32>
}

// -----

func.func @nan_weight(%arg0: !torch.vtensor<[1,2],f32>) -> !torch.vtensor<[1,1],f32> {
  %none = torch.constant.none
  %w = torch.vtensor.literal(dense<[[0x7FC00000, 1.0]]> : tensor<1x2xf32>) : !torch.vtensor<[1,2],f32>
  // expected-error @+1 {{hardcore-import: linear weight contains NaN or infinity}}
  %0 = torch.aten.linear %arg0, %w, %none : !torch.vtensor<[1,2],f32>, !torch.vtensor<[1,2],f32>, !torch.none -> !torch.vtensor<[1,1],f32>
  return %0 : !torch.vtensor<[1,1],f32>
}
