// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-import)' | filecheck %s

// Linear + ReLU + Linear without bias; flatten becomes a reshape; the batch
// dimension is dropped.
// CHECK-LABEL: func.func @mlp
// CHECK-SAME: (%[[X:.+]]: tensor<2x2xf32>) -> tensor<2xf32>
// CHECK: %[[R:.+]] = "hardcore.reshape"(%[[X]]) : (tensor<2x2xf32>) -> tensor<4xf32>
// CHECK: %[[D:.+]] = "hardcore.dense"(%[[R]]) {bias = dense<[5.000000e-01, -2.500000e-01, 0.000000e+00]> : tensor<3xf32>, hardcore.kind = "linear 4->3", weight = dense<{{\[\[}}1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00], [-1.000000e+00, 0.000000e+00, 5.000000e-01, 2.500000e-01], [0.000000e+00, 0.000000e+00, 0.000000e+00, 1.000000e+00]]> : tensor<3x4xf32>} : (tensor<4xf32>) -> tensor<3xf32>
// CHECK: %[[A:.+]] = "hardcore.relu"(%[[D]]) : (tensor<3xf32>) -> tensor<3xf32>
// CHECK: %[[O:.+]] = "hardcore.dense"(%[[A]]) {bias = dense<0.000000e+00> : tensor<2xf32>, hardcore.kind = "linear 3->2", weight = dense<{{\[\[}}1.000000e+00, -1.000000e+00, 2.000000e+00], [0.000000e+00, 1.000000e+00, 1.000000e+00]]> : tensor<2x3xf32>}
// CHECK: return %[[O]] : tensor<2xf32>
// CHECK-NOT: torch.
func.func @mlp(%arg0: !torch.vtensor<[1,2,2],f32>) -> !torch.vtensor<[1,2],f32> {
  %none = torch.constant.none
  %w1 = torch.vtensor.literal(dense<[[1.0, 2.0, 3.0, 4.0], [-1.0, 0.0, 0.5, 0.25], [0.0, 0.0, 0.0, 1.0]]> : tensor<3x4xf32>) : !torch.vtensor<[3,4],f32>
  %b1 = torch.vtensor.literal(dense<[0.5, -0.25, 0.0]> : tensor<3xf32>) : !torch.vtensor<[3],f32>
  %w2 = torch.vtensor.literal(dense<[[1.0, -1.0, 2.0], [0.0, 1.0, 1.0]]> : tensor<2x3xf32>) : !torch.vtensor<[2,3],f32>
  %int1 = torch.constant.int 1
  %int-1 = torch.constant.int -1
  %0 = torch.aten.flatten.using_ints %arg0, %int1, %int-1 : !torch.vtensor<[1,2,2],f32>, !torch.int, !torch.int -> !torch.vtensor<[1,4],f32>
  %1 = torch.aten.linear %0, %w1, %b1 : !torch.vtensor<[1,4],f32>, !torch.vtensor<[3,4],f32>, !torch.vtensor<[3],f32> -> !torch.vtensor<[1,3],f32>
  %2 = torch.aten.relu %1 : !torch.vtensor<[1,3],f32> -> !torch.vtensor<[1,3],f32>
  %3 = torch.aten.linear %2, %w2, %none : !torch.vtensor<[1,3],f32>, !torch.vtensor<[2,3],f32>, !torch.none -> !torch.vtensor<[1,2],f32>
  return %3 : !torch.vtensor<[1,2],f32>
}

// -----

// Weights as torch-mlir's FX importer writes them: dense_resource blobs
// (little-endian f32 after a 4-byte alignment header).
// CHECK-LABEL: func.func @resource_weights
// CHECK: "hardcore.dense"(%{{.*}}) {bias = dense<[1.000000e+00, -2.000000e+00]> : tensor<2xf32>, hardcore.kind = "linear 1->2", weight = dense<{{\[\[}}5.000000e-01], [-1.500000e+00]]> : tensor<2x1xf32>}
func.func @resource_weights(%arg0: !torch.vtensor<[1,1],f32>) -> !torch.vtensor<[1,2],f32> {
  %w = torch.vtensor.literal(dense_resource<weight_2x1> : tensor<2x1xf32>) : !torch.vtensor<[2,1],f32>
  %b = torch.vtensor.literal(dense_resource<bias_2> : tensor<2xf32>) : !torch.vtensor<[2],f32>
  %0 = torch.aten.linear %arg0, %w, %b : !torch.vtensor<[1,1],f32>, !torch.vtensor<[2,1],f32>, !torch.vtensor<[2],f32> -> !torch.vtensor<[1,2],f32>
  return %0 : !torch.vtensor<[1,2],f32>
}

{-#
  dialect_resources: {
    builtin: {
      weight_2x1: "0x040000000000003F0000C0BF",
      bias_2: "0x040000000000803F000000C0"
    }
  }
#-}

// -----

// Conv2d(2, 2, 2, stride=2, padding=1, groups=2) with weights 1..8 and bias
// [0.5, -1], then BatchNorm2d(2, eps=0) with gamma [1, 2], beta [0, 1], mean
// [1, 0], var [4, 1] (scale [0.5, 2], shift [-0.5, 1]), ReLU and Flatten, as
// torch-mlir imports them (locations dropped).  The convolution becomes one
// dense layer over the flattened 2x2x3 input: row o*4 + q (output channel o,
// position q of the 2x2 output) holds the kernel taps that reach the input,
// scaled by the batch norm; each output channel sees only its own group's
// input channel.  The ReLU comes before any reshape, right after the dense.
// `hardcore.out_channels`: 2 blocks of 4 rows (per-channel weight scales).
// CHECK-LABEL: func.func @conv2d_batchnorm_relu
// CHECK-SAME: (%[[X:.+]]: tensor<2x2x3xf32>) -> tensor<8xf32>
// CHECK: %[[F:.+]] = "hardcore.reshape"(%[[X]]) : (tensor<2x2x3xf32>) -> tensor<12xf32>
// CHECK: %[[D:.+]] = "hardcore.dense"(%[[F]])
// CHECK-SAME: bias = dense<[-2.500000e-01, -2.500000e-01, -2.500000e-01, -2.500000e-01, -1.000000e+00, -1.000000e+00, -1.000000e+00, -1.000000e+00]> : tensor<8xf32>
// CHECK-SAME: hardcore.kind = "conv2d 2->2 2x2 stride 2 padding 1 groups 2, 2x3->2x2 positions (dense 8x12) + batchnorm"
// CHECK-SAME: hardcore.out_channels = 2 : i64
// CHECK-SAME: weight = dense<{{\[}}[2.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00],
// CHECK-SAME: [0.000000e+00, 1.500000e+00, 2.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00],
// CHECK-SAME: [0.000000e+00, 0.000000e+00, 0.000000e+00, 1.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00],
// CHECK-SAME: [0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 5.000000e-01, 1.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00],
// CHECK-SAME: [0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 1.600000e+01, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00],
// CHECK-SAME: [0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 1.400000e+01, 1.600000e+01, 0.000000e+00, 0.000000e+00, 0.000000e+00],
// CHECK-SAME: [0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 1.200000e+01, 0.000000e+00, 0.000000e+00],
// CHECK-SAME: [0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00, 1.000000e+01, 1.200000e+01]]> : tensor<8x12xf32>}
// CHECK-SAME: : (tensor<12xf32>) -> tensor<8xf32>
// CHECK: %[[R:.+]] = "hardcore.relu"(%[[D]]) : (tensor<8xf32>) -> tensor<8xf32>
// CHECK: return %[[R]] : tensor<8xf32>
func.func @conv2d_batchnorm_relu(%arg0: !torch.vtensor<[1,2,2,3],f32>) -> !torch.vtensor<[1,8],f32> {
  %int-1 = torch.constant.int -1
  %float0.000000e00 = torch.constant.float 0.000000e+00
  %float1.000000e-01 = torch.constant.float 1.000000e-01
  %false = torch.constant.bool false
  %0 = torch.vtensor.literal(dense_resource<torch_tensor_2_torch.float32_4> : tensor<2xf32>) : !torch.vtensor<[2],f32>
  %1 = torch.vtensor.literal(dense_resource<torch_tensor_2_torch.float32_3> : tensor<2xf32>) : !torch.vtensor<[2],f32>
  %2 = torch.vtensor.literal(dense_resource<torch_tensor_2_torch.float32_2> : tensor<2xf32>) : !torch.vtensor<[2],f32>
  %3 = torch.vtensor.literal(dense_resource<torch_tensor_2_torch.float32_1> : tensor<2xf32>) : !torch.vtensor<[2],f32>
  %int1 = torch.constant.int 1
  %4 = torch.vtensor.literal(dense_resource<torch_tensor_2_1_2_2_torch.float32> : tensor<2x1x2x2xf32>) : !torch.vtensor<[2,1,2,2],f32>
  %5 = torch.vtensor.literal(dense_resource<torch_tensor_2_torch.float32> : tensor<2xf32>) : !torch.vtensor<[2],f32>
  %int2 = torch.constant.int 2
  %6 = torch.prim.ListConstruct %int2, %int2 : (!torch.int, !torch.int) -> !torch.list<int>
  %7 = torch.prim.ListConstruct %int1, %int1 : (!torch.int, !torch.int) -> !torch.list<int>
  %8 = torch.prim.ListConstruct %int1, %int1 : (!torch.int, !torch.int) -> !torch.list<int>
  %9 = torch.prim.ListConstruct  : () -> !torch.list<int>
  %10 = torch.aten.convolution %arg0, %4, %5, %6, %7, %8, %false, %9, %int2 : !torch.vtensor<[1,2,2,3],f32>, !torch.vtensor<[2,1,2,2],f32>, !torch.vtensor<[2],f32>, !torch.list<int>, !torch.list<int>, !torch.list<int>, !torch.bool, !torch.list<int>, !torch.int -> !torch.vtensor<[1,2,2,2],f32>
  %11 = torch.aten.batch_norm %10, %3, %2, %1, %0, %false, %float1.000000e-01, %float0.000000e00, %false : !torch.vtensor<[1,2,2,2],f32>, !torch.vtensor<[2],f32>, !torch.vtensor<[2],f32>, !torch.vtensor<[2],f32>, !torch.vtensor<[2],f32>, !torch.bool, !torch.float, !torch.float, !torch.bool -> !torch.vtensor<[1,2,2,2],f32>
  %12 = torch.aten.relu %11 : !torch.vtensor<[1,2,2,2],f32> -> !torch.vtensor<[1,2,2,2],f32>
  %13 = torch.prim.ListConstruct %int1, %int-1 : (!torch.int, !torch.int) -> !torch.list<int>
  %14 = torch.aten.view %12, %13 : !torch.vtensor<[1,2,2,2],f32>, !torch.list<int> -> !torch.vtensor<[1,8],f32>
  return %14 : !torch.vtensor<[1,8],f32>
}

{-#
dialect_resources: {
  builtin: {
    torch_tensor_2_torch.float32_4: "0x04000000000080400000803F",
    torch_tensor_2_torch.float32_3: "0x040000000000803F00000000",
    torch_tensor_2_torch.float32_2: "0x04000000000000000000803F",
    torch_tensor_2_torch.float32_1: "0x040000000000803F00000040",
    torch_tensor_2_1_2_2_torch.float32: "0x040000000000803F0000004000004040000080400000A0400000C0400000E04000000041",
    torch_tensor_2_torch.float32: "0x040000000000003F000080BF"
  }
}
#-}

// -----

// A batch norm on the model input follows no layer: a diagonal dense layer
// (scale [0.5, 2], shift [-0.5, 1]); the linear layer after it stays as it is.
// CHECK-LABEL: func.func @batchnorm_first
// CHECK: %[[B:.+]] = "hardcore.dense"(%{{.+}}) {bias = dense<[-5.000000e-01, 1.000000e+00]> : tensor<2xf32>, hardcore.kind = "batchnorm 2 channels (diagonal 2x2)", weight = dense<{{\[\[}}5.000000e-01, 0.000000e+00], [0.000000e+00, 2.000000e+00]]> : tensor<2x2xf32>}
// CHECK: "hardcore.dense"(%[[B]]) {bias = dense<2.500000e-01> : tensor<1xf32>, hardcore.kind = "linear 2->1", weight = dense<{{\[\[}}1.000000e+00, -1.000000e+00]]> : tensor<1x2xf32>}
func.func @batchnorm_first(%arg0: !torch.vtensor<[1,2],f32>) -> !torch.vtensor<[1,1],f32> {
  %0 = torch.vtensor.literal(dense<2.500000e-01> : tensor<1xf32>) : !torch.vtensor<[1],f32>
  %1 = torch.vtensor.literal(dense_resource<torch_tensor_1_2_torch.float32> : tensor<1x2xf32>) : !torch.vtensor<[1,2],f32>
  %2 = torch.vtensor.literal(dense_resource<torch_tensor_2_torch.float32> : tensor<2xf32>) : !torch.vtensor<[2],f32>
  %3 = torch.vtensor.literal(dense_resource<torch_tensor_2_torch.float32_1> : tensor<2xf32>) : !torch.vtensor<[2],f32>
  %4 = torch.vtensor.literal(dense_resource<torch_tensor_2_torch.float32_2> : tensor<2xf32>) : !torch.vtensor<[2],f32>
  %5 = torch.vtensor.literal(dense_resource<torch_tensor_2_torch.float32_3> : tensor<2xf32>) : !torch.vtensor<[2],f32>
  %false = torch.constant.bool false
  %float1.000000e-01 = torch.constant.float 1.000000e-01
  %float0.000000e00 = torch.constant.float 0.000000e+00
  %6 = torch.aten.batch_norm %arg0, %2, %3, %4, %5, %false, %float1.000000e-01, %float0.000000e00, %false : !torch.vtensor<[1,2],f32>, !torch.vtensor<[2],f32>, !torch.vtensor<[2],f32>, !torch.vtensor<[2],f32>, !torch.vtensor<[2],f32>, !torch.bool, !torch.float, !torch.float, !torch.bool -> !torch.vtensor<[1,2],f32>
  %7 = torch.aten.linear %6, %1, %0 : !torch.vtensor<[1,2],f32>, !torch.vtensor<[1,2],f32>, !torch.vtensor<[1],f32> -> !torch.vtensor<[1,1],f32>
  return %7 : !torch.vtensor<[1,1],f32>
}

{-#
dialect_resources: {
  builtin: {
    torch_tensor_1_2_torch.float32: "0x040000000000803F000080BF",
    torch_tensor_2_torch.float32: "0x040000000000803F00000040",
    torch_tensor_2_torch.float32_1: "0x04000000000000000000803F",
    torch_tensor_2_torch.float32_2: "0x040000000000803F00000000",
    torch_tensor_2_torch.float32_3: "0x04000000000080400000803F"
  }
}
#-}

// -----

// The linear layer's output is also a result of the model, so the batch norm
// cannot fold into its weights: the linear layer stays, and a diagonal layer
// follows.
// CHECK-LABEL: func.func @batchnorm_after_shared_layer
// CHECK: %[[L:.+]] = "hardcore.dense"(%{{.+}}) {bias = dense<[2.500000e-01, 0.000000e+00]> : tensor<2xf32>, hardcore.kind = "linear 2->2", weight = dense<{{\[\[}}1.000000e+00, -1.000000e+00], [5.000000e-01, 2.000000e+00]]> : tensor<2x2xf32>}
// CHECK: %[[B:.+]] = "hardcore.dense"(%[[L]]) {bias = dense<[-5.000000e-01, 1.000000e+00]> : tensor<2xf32>, hardcore.kind = "batchnorm 2 channels (diagonal 2x2)"
// CHECK: return %[[L]], %[[B]]
func.func @batchnorm_after_shared_layer(%arg0: !torch.vtensor<[1,2],f32>) -> (!torch.vtensor<[1,2],f32>, !torch.vtensor<[1,2],f32>) {
  %float0.000000e00 = torch.constant.float 0.000000e+00
  %float1.000000e-01 = torch.constant.float 1.000000e-01
  %false = torch.constant.bool false
  %0 = torch.vtensor.literal(dense_resource<torch_tensor_2_torch.float32_4> : tensor<2xf32>) : !torch.vtensor<[2],f32>
  %1 = torch.vtensor.literal(dense_resource<torch_tensor_2_torch.float32_3> : tensor<2xf32>) : !torch.vtensor<[2],f32>
  %2 = torch.vtensor.literal(dense_resource<torch_tensor_2_torch.float32_2> : tensor<2xf32>) : !torch.vtensor<[2],f32>
  %3 = torch.vtensor.literal(dense_resource<torch_tensor_2_torch.float32_1> : tensor<2xf32>) : !torch.vtensor<[2],f32>
  %4 = torch.vtensor.literal(dense_resource<torch_tensor_2_2_torch.float32> : tensor<2x2xf32>) : !torch.vtensor<[2,2],f32>
  %5 = torch.vtensor.literal(dense_resource<torch_tensor_2_torch.float32> : tensor<2xf32>) : !torch.vtensor<[2],f32>
  %6 = torch.aten.linear %arg0, %4, %5 : !torch.vtensor<[1,2],f32>, !torch.vtensor<[2,2],f32>, !torch.vtensor<[2],f32> -> !torch.vtensor<[1,2],f32>
  %7 = torch.aten.batch_norm %6, %3, %2, %1, %0, %false, %float1.000000e-01, %float0.000000e00, %false : !torch.vtensor<[1,2],f32>, !torch.vtensor<[2],f32>, !torch.vtensor<[2],f32>, !torch.vtensor<[2],f32>, !torch.vtensor<[2],f32>, !torch.bool, !torch.float, !torch.float, !torch.bool -> !torch.vtensor<[1,2],f32>
  return %6, %7 : !torch.vtensor<[1,2],f32>, !torch.vtensor<[1,2],f32>
}

{-#
dialect_resources: {
  builtin: {
    torch_tensor_2_torch.float32_4: "0x04000000000080400000803F",
    torch_tensor_2_torch.float32_3: "0x040000000000803F00000000",
    torch_tensor_2_torch.float32_2: "0x04000000000000000000803F",
    torch_tensor_2_torch.float32_1: "0x040000000000803F00000040",
    torch_tensor_2_2_torch.float32: "0x040000000000803F000080BF0000003F00000040",
    torch_tensor_2_torch.float32: "0x040000000000803E00000000"
  }
}
#-}

// -----

// Dropout in eval mode (train=false) is the identity, here as torch-mlir's FX
// importer writes it before its own pipeline removes it (hardcore.compile also
// removes dropouts before torch-mlir sees them).
// CHECK-LABEL: func.func @dropout_removed
// CHECK: %[[D:.+]] = "hardcore.dense"
// CHECK-NEXT: %[[R:.+]] = "hardcore.relu"(%[[D]])
// CHECK-NEXT: return %[[R]]
func.func @dropout_removed(%arg0: !torch.vtensor<[1,2],f32>) -> !torch.vtensor<[1,2],f32> {
  %0 = torch.vtensor.literal(dense_resource<torch_tensor_2_2_torch.float32> : tensor<2x2xf32>) : !torch.vtensor<[2,2],f32>
  %1 = torch.vtensor.literal(dense_resource<torch_tensor_2_torch.float32> : tensor<2xf32>) : !torch.vtensor<[2],f32>
  %2 = torch.aten.linear %arg0, %0, %1 : !torch.vtensor<[1,2],f32>, !torch.vtensor<[2,2],f32>, !torch.vtensor<[2],f32> -> !torch.vtensor<[1,2],f32>
  %float2.500000e-01 = torch.constant.float 2.500000e-01
  %false = torch.constant.bool false
  %3 = torch.aten.dropout %2, %float2.500000e-01, %false : !torch.vtensor<[1,2],f32>, !torch.float, !torch.bool -> !torch.vtensor<[1,2],f32>
  %4 = torch.aten.relu %3 : !torch.vtensor<[1,2],f32> -> !torch.vtensor<[1,2],f32>
  return %4 : !torch.vtensor<[1,2],f32>
}

{-#
dialect_resources: {
  builtin: {
    torch_tensor_2_2_torch.float32: "0x040000000000803F000080BF0000003F00000040",
    torch_tensor_2_torch.float32: "0x040000000000803E00000000"
  }
}
#-}
