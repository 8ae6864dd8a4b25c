// RUN: hardcore-opt %s --pass-pipeline='builtin.module(hardcore-import)' | filecheck %s

// Fake quantization (QAT) with power-of-two scales: on the input and after the ReLU a
// "fake_quant" activation (frac bits = -log2(scale), the code range); on the constant
// weights the fake-quantized weights, rounded half to even like torch (0.01953125 · 2^7
// = 2.5 -> 2), with each row's frac bits (scales 2^-7 and 2^-5) and the code range.
// CHECK-LABEL: func.func @main
// CHECK: %[[X:.+]] = "hardcore.activation"(%arg0) {fn = "fake_quant", params = {frac_bits = 4.000000e+00 : f64, max = 1.270000e+02 : f64, min = -1.280000e+02 : f64}}
// CHECK: %[[D:.+]] = "hardcore.dense"(%[[X]]) {bias = dense<[1.000000e-01, -2.000000e-01]> : tensor<2xf32>, hardcore.kind = "linear 4->2", hardcore.weight_frac_bits = dense<[7, 5]> : tensor<2xi64>, hardcore.weight_max = 127 : i64, hardcore.weight_min = -128 : i64, weight = dense<{{\[\[}}2.968750e-01, -5.000000e-01, 7.812500e-03, 1.562500e-02], [1.875000e-01, 9.375000e-02, -6.875000e-01, 2.000000e+00]]> : tensor<2x4xf32>}
// CHECK: %[[R:.+]] = "hardcore.relu"(%[[D]])
// CHECK: "hardcore.activation"(%[[R]]) {fn = "fake_quant", params = {frac_bits = 3.000000e+00 : f64, max = 2.550000e+02 : f64, min = 0.000000e+00 : f64}}
func.func @main(%arg0: !torch.vtensor<[1,4],f32>) -> !torch.vtensor<[1,2],f32> {
  %int0 = torch.constant.int 0
  %int-128 = torch.constant.int -128
  %int127 = torch.constant.int 127
  %int255 = torch.constant.int 255
  %float6.250000e-02 = torch.constant.float 6.250000e-02
  %float1.250000e-01 = torch.constant.float 1.250000e-01
  %w = torch.vtensor.literal(dense<[[0.3, -0.5, 0.0078125, 0.01953125], [0.2, 0.1, -0.7, 2.0]]> : tensor<2x4xf32>) : !torch.vtensor<[2,4],f32>
  %b = torch.vtensor.literal(dense<[0.1, -0.2]> : tensor<2xf32>) : !torch.vtensor<[2],f32>
  %s = torch.vtensor.literal(dense<[7.812500e-03, 3.125000e-02]> : tensor<2xf32>) : !torch.vtensor<[2],f32>
  %z = torch.vtensor.literal(dense<0> : tensor<2xsi32>) : !torch.vtensor<[2],si32>
  %0 = torch.aten.fake_quantize_per_tensor_affine %arg0, %float6.250000e-02, %int0, %int-128, %int127 : !torch.vtensor<[1,4],f32>, !torch.float, !torch.int, !torch.int, !torch.int -> !torch.vtensor<[1,4],f32>
  %1 = torch.aten.fake_quantize_per_channel_affine %w, %s, %z, %int0, %int-128, %int127 : !torch.vtensor<[2,4],f32>, !torch.vtensor<[2],f32>, !torch.vtensor<[2],si32>, !torch.int, !torch.int, !torch.int -> !torch.vtensor<[2,4],f32>
  %2 = torch.aten.linear %0, %1, %b : !torch.vtensor<[1,4],f32>, !torch.vtensor<[2,4],f32>, !torch.vtensor<[2],f32> -> !torch.vtensor<[1,2],f32>
  %3 = torch.aten.relu %2 : !torch.vtensor<[1,2],f32> -> !torch.vtensor<[1,2],f32>
  %4 = torch.aten.fake_quantize_per_tensor_affine %3, %float1.250000e-01, %int0, %int0, %int255 : !torch.vtensor<[1,2],f32>, !torch.float, !torch.int, !torch.int, !torch.int -> !torch.vtensor<[1,2],f32>
  return %4 : !torch.vtensor<[1,2],f32>
}
