// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-import)' | filecheck %s

// torch.maximum and torch.minimum of two tensors the model computes, as
// torch-mlir's FX importer writes them (locations dropped).

// torch.maximum(x, relu(x)): the two joined (hardcore-quantize puts them at
// one scale) and a max pool of the pairs [i, 3 + i].
// CHECK-LABEL: func.func @maximum
// CHECK-SAME: (%[[X:.+]]: tensor<3xf32>) -> tensor<3xf32>
// CHECK: %[[R:.+]] = "hardcore.relu"(%[[X]])
// CHECK: %[[J:.+]] = "hardcore.concat"(%[[X]], %[[R]]) {dim = 0 : i64} : (tensor<3xf32>, tensor<3xf32>) -> tensor<6xf32>
// CHECK: %[[M:.+]] = "hardcore.maxpool"(%[[J]]) {hardcore.kind = "maximum of two tensors 3", windows = dense<{{\[}}[0, 3], [1, 4], [2, 5]]> : tensor<3x2xi64>} : (tensor<6xf32>) -> tensor<3xf32>
// CHECK: return %[[M]]
// CHECK-NOT: torch.
func.func @maximum(%arg0: !torch.vtensor<[1,3],f32>) -> !torch.vtensor<[1,3],f32> {
  %0 = torch.aten.relu %arg0 : !torch.vtensor<[1,3],f32> -> !torch.vtensor<[1,3],f32>
  %1 = torch.aten.maximum %arg0, %0 : !torch.vtensor<[1,3],f32>, !torch.vtensor<[1,3],f32> -> !torch.vtensor<[1,3],f32>
  return %1 : !torch.vtensor<[1,3],f32>
}

// -----

// torch.minimum of [2, 3] and its first row [1, 3], broadcast as torch does
// (a gather that repeats the row): a min pool of the pairs.
// CHECK-LABEL: func.func @minimum_broadcast
// CHECK: %[[B:.+]] = "hardcore.gather"(%{{.+}}) {indices = dense<[0, 1, 2, 0, 1, 2]> : tensor<6xi64>} : (tensor<3xf32>) -> tensor<6xf32>
// CHECK: %[[J:.+]] = "hardcore.concat"(%{{.+}}, %[[B]]) {dim = 0 : i64} : (tensor<6xf32>, tensor<6xf32>) -> tensor<12xf32>
// CHECK: %[[M:.+]] = "hardcore.minpool"(%[[J]]) {hardcore.kind = "minimum of two tensors 2x3", windows = dense<{{\[}}[0, 6], [1, 7], [2, 8], [3, 9], [4, 10], [5, 11]]> : tensor<6x2xi64>} : (tensor<12xf32>) -> tensor<6xf32>
// CHECK: "hardcore.reshape"(%[[M]]) : (tensor<6xf32>) -> tensor<2x3xf32>
// CHECK-NOT: torch.
func.func @minimum_broadcast(%arg0: !torch.vtensor<[1,2,3],f32>) -> !torch.vtensor<[1,2,3],f32> {
  %int0 = torch.constant.int 0
  %int1 = torch.constant.int 1
  %int2 = torch.constant.int 2
  %0 = torch.aten.slice.Tensor %arg0, %int1, %int0, %int1, %int1 : !torch.vtensor<[1,2,3],f32>, !torch.int, !torch.int, !torch.int, !torch.int -> !torch.vtensor<[1,1,3],f32>
  %1 = torch.aten.minimum %arg0, %0 : !torch.vtensor<[1,2,3],f32>, !torch.vtensor<[1,1,3],f32> -> !torch.vtensor<[1,2,3],f32>
  return %1 : !torch.vtensor<[1,2,3],f32>
}
