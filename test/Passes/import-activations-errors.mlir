// RUN: hardcore-opt %s --split-input-file --verify-diagnostics --pass-pipeline='builtin.module(hardcore-import)'

// softplus divides by beta.
func.func @softplus_beta_zero(%arg0: !torch.vtensor<[1,2],f32>) -> !torch.vtensor<[1,2],f32> {
  %float0.000000e00 = torch.constant.float 0.000000e+00
  %float2.000000e01 = torch.constant.float 2.000000e+01
  // expected-error @+1 {{hardcore-import: softplus beta must not be 0}}
  %0 = torch.aten.softplus %arg0, %float0.000000e00, %float2.000000e01 : !torch.vtensor<[1,2],f32>, !torch.float, !torch.float -> !torch.vtensor<[1,2],f32>
  return %0 : !torch.vtensor<[1,2],f32>
}

// -----

func.func @threshold_infinite(%arg0: !torch.vtensor<[1,2],f32>) -> !torch.vtensor<[1,2],f32> {
  %float0.000000e00 = torch.constant.float 0.000000e+00
  %inf = torch.constant.float 0x7FF0000000000000
  // expected-error @+1 {{hardcore-import: threshold value must be a finite number, got inf}}
  %0 = torch.aten.threshold %arg0, %float0.000000e00, %inf : !torch.vtensor<[1,2],f32>, !torch.float, !torch.float -> !torch.vtensor<[1,2],f32>
  return %0 : !torch.vtensor<[1,2],f32>
}

// -----

// Slopes per channel need as many channels (dim 1) as slopes.
func.func @prelu_slopes_and_channels_differ(%arg0: !torch.vtensor<[1,3,2],f32>) -> !torch.vtensor<[1,3,2],f32> {
  %0 = torch.vtensor.literal(dense<[2.500000e-01, 5.000000e-01]> : tensor<2xf32>) : !torch.vtensor<[2],f32>
  // expected-error @+1 {{hardcore-import: prelu with 2 slopes needs 2 channels in dim 1, got [1, 3, 2]}}
  %1 = torch.aten.prelu %arg0, %0 : !torch.vtensor<[1,3,2],f32>, !torch.vtensor<[2],f32> -> !torch.vtensor<[1,3,2],f32>
  return %1 : !torch.vtensor<[1,3,2],f32>
}

// -----

func.func @prelu_weight_not_constant(%arg0: !torch.vtensor<[1,2],f32>) -> !torch.vtensor<[1,2],f32> {
  %0 = torch.aten.relu %arg0 : !torch.vtensor<[1,2],f32> -> !torch.vtensor<[1,2],f32>
  // expected-error @+1 {{hardcore-import: prelu weight must be a constant}}
  %1 = torch.aten.prelu %arg0, %0 : !torch.vtensor<[1,2],f32>, !torch.vtensor<[1,2],f32> -> !torch.vtensor<[1,2],f32>
  return %1 : !torch.vtensor<[1,2],f32>
}
