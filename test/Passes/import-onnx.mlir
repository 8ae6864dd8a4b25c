// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(convert-torch-onnx-to-torch),canonicalize,hardcore-normalize-onnx)' | filecheck %s --check-prefix=NORM
// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(convert-torch-onnx-to-torch),canonicalize,hardcore-normalize-onnx,hardcore-import)' | filecheck %s

// ONNX graphs as torch-mlir's ONNX importer writes them (`hardcore.onnx_frontend` runs this
// pipeline).  convert-torch-onnx-to-torch makes aten ops; hardcore-normalize-onnx turns the ones
// the FX importer writes differently into the FX form (Gemm's transpose + mm + add: one
// aten.linear; Clip's clamp.Tensor: aten.clamp; Flatten's prims.collapse: aten.reshape;
// AveragePool's stride list without the dilations appended); hardcore-import then makes the
// same layers as for the PyTorch model.

// Gemm(transB=1) + Relu + Clip(max 6): one linear layer, a ReLU and a clamp.
// NORM-LABEL: func.func @gemm_relu_clip
// NORM: %[[B:.+]] = torch.vtensor.literal(dense<[5.000000e-01, -5.000000e-01]> : tensor<2xf32>)
// NORM: %[[W:.+]] = torch.vtensor.literal(dense<{{\[\[}}1.000000e+00, 2.000000e+00, 3.000000e+00], [4.000000e+00, 5.000000e+00, 6.000000e+00]]> : tensor<2x3xf32>)
// NORM: %[[L:.+]] = torch.aten.linear %arg0, %[[W]], %[[B]] :
// NORM-NOT: torch.aten.mm
// NORM-NOT: torch.aten.add.Tensor
// NORM: %[[R:.+]] = torch.aten.relu %[[L]]
// NORM: torch.aten.clamp %[[R]], %{{.+}}, %float6.000000e00 : !torch.vtensor<[1,2],f32>, !torch.none, !torch.float
// CHECK-LABEL: func.func @gemm_relu_clip
// CHECK-SAME: (%[[X:.+]]: tensor<3xf32>) -> tensor<2xf32>
// CHECK: %[[D:.+]] = "hardcore.dense"(%[[X]]) {bias = dense<[5.000000e-01, -5.000000e-01]> : tensor<2xf32>, hardcore.kind = "linear 3->2", weight = dense<{{\[\[}}1.000000e+00, 2.000000e+00, 3.000000e+00], [4.000000e+00, 5.000000e+00, 6.000000e+00]]> : tensor<2x3xf32>}
// CHECK: %[[R:.+]] = "hardcore.relu"(%[[D]])
// CHECK: %[[C:.+]] = "hardcore.activation"(%[[R]]) {fn = "clamp", params = {max = 6.000000e+00 : f64, min = 0xFFF0000000000000 : f64}}
// CHECK: return %[[C]] : tensor<2xf32>
func.func @gemm_relu_clip(%arg0: !torch.vtensor<[1,3],f32>) -> !torch.vtensor<[1,2],f32> attributes {torch.onnx_meta.ir_version = 14 : si64, torch.onnx_meta.opset_version = 17 : si64, torch.onnx_meta.producer_name = "", torch.onnx_meta.producer_version = ""} {
  %0 = torch.operator "onnx.Constant"() {torch.onnx.value = dense<[[1.000000e+00, 2.000000e+00, 3.000000e+00], [4.000000e+00, 5.000000e+00, 6.000000e+00]]> : tensor<2x3xf32>} : () -> !torch.vtensor<[2,3],f32>
  %1 = torch.operator "onnx.Constant"() {torch.onnx.value = dense<[5.000000e-01, -5.000000e-01]> : tensor<2xf32>} : () -> !torch.vtensor<[2],f32>
  %2 = torch.operator "onnx.Constant"() {torch.onnx.value = dense<6.000000e+00> : tensor<f32>} : () -> !torch.vtensor<[],f32>
  %none = torch.constant.none
  %3 = torch.operator "onnx.Gemm"(%arg0, %0, %1) {torch.onnx.transB = 1 : si64} : (!torch.vtensor<[1,3],f32>, !torch.vtensor<[2,3],f32>, !torch.vtensor<[2],f32>) -> !torch.vtensor<[1,2],f32>
  %4 = torch.operator "onnx.Relu"(%3) : (!torch.vtensor<[1,2],f32>) -> !torch.vtensor<[1,2],f32>
  %5 = torch.operator "onnx.Clip"(%4, %none, %2) : (!torch.vtensor<[1,2],f32>, !torch.none, !torch.vtensor<[],f32>) -> !torch.vtensor<[1,2],f32>
  return %5 : !torch.vtensor<[1,2],f32>
}

// -----

// Conv (no bias) + AveragePool(2x2, stride 2, pads 1; ONNX's default count_include_pad=0) + Flatten.
// NORM-LABEL: func.func @conv_pool_flatten
// NORM: torch.aten.convolution
// NORM: %[[KERNEL:.+]] = torch.prim.ListConstruct %int2, %int2 : (!torch.int, !torch.int) -> !torch.list<int>
// NORM: %[[STRIDE:.+]] = torch.prim.ListConstruct %int2, %int2 : (!torch.int, !torch.int) -> !torch.list<int>
// NORM: torch.aten.avg_pool2d %{{.+}}, %[[KERNEL]], %[[STRIDE]], %{{.+}}, %false, %false, %none
// NORM-NOT: torch.prims.collapse
// NORM: torch.aten.reshape
// CHECK-LABEL: func.func @conv_pool_flatten
// CHECK-SAME: (%[[X:.+]]: tensor<1x3x3xf32>) -> tensor<8xf32>
// CHECK: %[[F:.+]] = "hardcore.reshape"(%[[X]]) : (tensor<1x3x3xf32>) -> tensor<9xf32>
// CHECK: %[[D:.+]] = "hardcore.dense"(%[[F]]) {bias = dense<0.000000e+00> : tensor<8xf32>, hardcore.kind = "conv2d 1->2 2x2, 3x3->2x2 positions (dense 8x9)"
// CHECK: %[[P:.+]] = "hardcore.avgpool"(%[[D]]) {divisors = dense<1> : tensor<8xi64>, hardcore.kind = "avgpool2d 2x2 padding 1, 2 channels 2x2->2x2 positions count_include_pad=False", windows = dense<{{\[\[}}-1, -1, -1, 0], [-1, -1, 1, -1], [-1, 2, -1, -1], [3, -1, -1, -1], [-1, -1, -1, 4], [-1, -1, 5, -1], [-1, 6, -1, -1], [7, -1, -1, -1]]> : tensor<8x4xi64>}
// CHECK: return %[[P]] : tensor<8xf32>
func.func @conv_pool_flatten(%arg0: !torch.vtensor<[1,1,3,3],f32>) -> !torch.vtensor<[1,8],f32> attributes {torch.onnx_meta.ir_version = 14 : si64, torch.onnx_meta.opset_version = 17 : si64, torch.onnx_meta.producer_name = "", torch.onnx_meta.producer_version = ""} {
  %0 = torch.operator "onnx.Constant"() {torch.onnx.value = dense<[[[[0.000000e+00, 1.250000e-01], [2.500000e-01, 3.750000e-01]]], [[[5.000000e-01, 6.250000e-01], [7.500000e-01, 8.750000e-01]]]]> : tensor<2x1x2x2xf32>} : () -> !torch.vtensor<[2,1,2,2],f32>
  %none = torch.constant.none
  %1 = torch.operator "onnx.Conv"(%arg0, %0) {torch.onnx.kernel_shape = [2 : si64, 2 : si64]} : (!torch.vtensor<[1,1,3,3],f32>, !torch.vtensor<[2,1,2,2],f32>) -> !torch.vtensor<[1,2,2,2],f32>
  %2 = torch.operator "onnx.AveragePool"(%1) {torch.onnx.kernel_shape = [2 : si64, 2 : si64], torch.onnx.pads = [1 : si64, 1 : si64, 1 : si64, 1 : si64], torch.onnx.strides = [2 : si64, 2 : si64]} : (!torch.vtensor<[1,2,2,2],f32>) -> !torch.vtensor<[1,2,2,2],f32>
  %3 = torch.operator "onnx.Flatten"(%2) : (!torch.vtensor<[1,2,2,2],f32>) -> !torch.vtensor<[1,8],f32>
  return %3 : !torch.vtensor<[1,8],f32>
}
