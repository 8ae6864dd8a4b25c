// RUN: hardcore-opt %s --split-input-file --verify-diagnostics --pass-pipeline='builtin.module(hardcore-import)'

// torch's default QAT qconfig: scales that are no power of two, nonzero zero points.
func.func @scale_not_a_power_of_two(%arg0: !torch.vtensor<[1,4],f32>) -> !torch.vtensor<[1,4],f32> {
  %int0 = torch.constant.int 0
  %int255 = torch.constant.int 255
  %float = torch.constant.float 4.094480e-02
  // expected-error @+1 {{hardcore-import: fake_quantize_per_tensor_affine with scale 0.0409448: hardcore supports only power-of-two scales (2^-k) with zero point 0}}
  %0 = torch.aten.fake_quantize_per_tensor_affine %arg0, %float, %int0, %int0, %int255 : !torch.vtensor<[1,4],f32>, !torch.float, !torch.int, !torch.int, !torch.int -> !torch.vtensor<[1,4],f32>
  return %0 : !torch.vtensor<[1,4],f32>
}

// -----

func.func @zero_point(%arg0: !torch.vtensor<[1,4],f32>) -> !torch.vtensor<[1,4],f32> {
  %int0 = torch.constant.int 0
  %int72 = torch.constant.int 72
  %int255 = torch.constant.int 255
  %float = torch.constant.float 6.250000e-02
  // expected-error @+1 {{hardcore-import: fake_quantize_per_tensor_affine with zero point 72: hardcore supports only power-of-two scales (2^-k) with zero point 0}}
  %0 = torch.aten.fake_quantize_per_tensor_affine %arg0, %float, %int72, %int0, %int255 : !torch.vtensor<[1,4],f32>, !torch.float, !torch.int, !torch.int, !torch.int -> !torch.vtensor<[1,4],f32>
  return %0 : !torch.vtensor<[1,4],f32>
}

// -----

func.func @per_channel_weight_scale(%arg0: !torch.vtensor<[1,2],f32>) -> !torch.vtensor<[1,2],f32> {
  %int0 = torch.constant.int 0
  %int-128 = torch.constant.int -128
  %int127 = torch.constant.int 127
  %none = torch.constant.none
  %w = torch.vtensor.literal(dense<[[0.5, 0.25], [0.1, 0.2]]> : tensor<2x2xf32>) : !torch.vtensor<[2,2],f32>
  %s = torch.vtensor.literal(dense<[7.812500e-03, 3.000000e-03]> : tensor<2xf32>) : !torch.vtensor<[2],f32>
  %z = torch.vtensor.literal(dense<0> : tensor<2xsi32>) : !torch.vtensor<[2],si32>
  // expected-error @+1 {{hardcore-import: fake_quantize_per_channel_affine with scale 0.00300000003: hardcore supports only power-of-two scales (2^-k) with zero point 0}}
  %0 = torch.aten.fake_quantize_per_channel_affine %w, %s, %z, %int0, %int-128, %int127 : !torch.vtensor<[2,2],f32>, !torch.vtensor<[2],f32>, !torch.vtensor<[2],si32>, !torch.int, !torch.int, !torch.int -> !torch.vtensor<[2,2],f32>
  %1 = torch.aten.linear %arg0, %0, %none : !torch.vtensor<[1,2],f32>, !torch.vtensor<[2,2],f32>, !torch.none -> !torch.vtensor<[1,2],f32>
  return %1 : !torch.vtensor<[1,2],f32>
}

// -----

func.func @per_channel_activation(%arg0: !torch.vtensor<[1,2],f32>) -> !torch.vtensor<[1,2],f32> {
  %int1 = torch.constant.int 1
  %int-128 = torch.constant.int -128
  %int127 = torch.constant.int 127
  %s = torch.vtensor.literal(dense<[7.812500e-03, 3.125000e-02]> : tensor<2xf32>) : !torch.vtensor<[2],f32>
  %z = torch.vtensor.literal(dense<0> : tensor<2xsi32>) : !torch.vtensor<[2],si32>
  // expected-error @+1 {{hardcore-import: fake_quantize_per_channel_affine on activations: hardcore supports one scale per activation tensor}}
  %0 = torch.aten.fake_quantize_per_channel_affine %arg0, %s, %z, %int1, %int-128, %int127 : !torch.vtensor<[1,2],f32>, !torch.vtensor<[2],f32>, !torch.vtensor<[2],si32>, !torch.int, !torch.int, !torch.int -> !torch.vtensor<[1,2],f32>
  return %0 : !torch.vtensor<[1,2],f32>
}
