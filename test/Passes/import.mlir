// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-import)' | filecheck %s

// Linear + ReLU + Linear without bias; flatten becomes a reshape; the batch
// dimension is dropped.
// CHECK-LABEL: func.func @mlp
// CHECK-SAME: (%[[X:.+]]: tensor<2x2xf32>) -> tensor<2xf32>
// CHECK: %[[R:.+]] = "hardcore.reshape"(%[[X]]) : (tensor<2x2xf32>) -> tensor<4xf32>
// CHECK: %[[D:.+]] = "hardcore.dense"(%[[R]]) {bias = dense<[5.000000e-01, -2.500000e-01, 0.000000e+00]> : tensor<3xf32>, weight = dense<{{\[\[}}1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00], [-1.000000e+00, 0.000000e+00, 5.000000e-01, 2.500000e-01], [0.000000e+00, 0.000000e+00, 0.000000e+00, 1.000000e+00]]> : tensor<3x4xf32>} : (tensor<4xf32>) -> tensor<3xf32>
// CHECK: %[[A:.+]] = "hardcore.relu"(%[[D]]) : (tensor<3xf32>) -> tensor<3xf32>
// CHECK: %[[O:.+]] = "hardcore.dense"(%[[A]]) {bias = dense<0.000000e+00> : tensor<2xf32>, weight = dense<{{\[\[}}1.000000e+00, -1.000000e+00, 2.000000e+00], [0.000000e+00, 1.000000e+00, 1.000000e+00]]> : tensor<2x3xf32>}
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
// CHECK: "hardcore.dense"(%{{.*}}) {bias = dense<[1.000000e+00, -2.000000e+00]> : tensor<2xf32>, weight = dense<{{\[\[}}5.000000e-01], [-1.500000e+00]]> : tensor<2x1xf32>}
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
