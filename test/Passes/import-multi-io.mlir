// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-import)' | filecheck %s

// Models with several inputs and results, as torch-mlir's FX importer writes them
// (locations dropped; weights inline instead of as resources).

// Two inputs and two results: each argument and result keeps its place, without
// the batch dimension; the second input feeds a residual add and a concat.
// CHECK-LABEL: func.func @two_inputs_two_results
// CHECK-SAME: (%[[X0:.+]]: tensor<2xf32>, %[[X1:.+]]: tensor<2xf32>) -> (tensor<2xf32>, tensor<4xf32>)
// CHECK: %[[D:.+]] = "hardcore.dense"(%[[X0]])
// CHECK: %[[R:.+]] = "hardcore.relu"(%[[D]])
// CHECK: %[[A:.+]] = "hardcore.add_tensors"(%[[R]], %[[X1]]) {hardcore.kind = "residual add 2"}
// CHECK: %[[C:.+]] = "hardcore.concat"(%[[R]], %[[X1]]) {dim = 0 : i64} : (tensor<2xf32>, tensor<2xf32>) -> tensor<4xf32>
// CHECK: return %[[A]], %[[C]] : tensor<2xf32>, tensor<4xf32>
func.func @two_inputs_two_results(%arg0: !torch.vtensor<[1,2],f32>, %arg1: !torch.vtensor<[1,2],f32>) -> (!torch.vtensor<[1,2],f32>, !torch.vtensor<[1,4],f32>) {
  %int-1 = torch.constant.int -1
  %int1 = torch.constant.int 1
  %0 = torch.vtensor.literal(dense<[[1.0, -0.5], [0.25, 2.0]]> : tensor<2x2xf32>) : !torch.vtensor<[2,2],f32>
  %1 = torch.vtensor.literal(dense<[0.5, -1.0]> : tensor<2xf32>) : !torch.vtensor<[2],f32>
  %2 = torch.aten.linear %arg0, %0, %1 : !torch.vtensor<[1,2],f32>, !torch.vtensor<[2,2],f32>, !torch.vtensor<[2],f32> -> !torch.vtensor<[1,2],f32>
  %3 = torch.aten.relu %2 : !torch.vtensor<[1,2],f32> -> !torch.vtensor<[1,2],f32>
  %4 = torch.aten.add.Tensor %3, %arg1, %int1 : !torch.vtensor<[1,2],f32>, !torch.vtensor<[1,2],f32>, !torch.int -> !torch.vtensor<[1,2],f32>
  %5 = torch.prim.ListConstruct %3, %arg1 : (!torch.vtensor<[1,2],f32>, !torch.vtensor<[1,2],f32>) -> !torch.list<vtensor>
  %6 = torch.aten.cat %5, %int-1 : !torch.list<vtensor>, !torch.int -> !torch.vtensor<[1,4],f32>
  return %4, %6 : !torch.vtensor<[1,2],f32>, !torch.vtensor<[1,4],f32>
}

// -----

// einsum('bij,bjk->bik', a, b): torch-mlir decomposes it into identity permutes
// and a bmm, a product of two activations.
// CHECK-LABEL: func.func @einsum_batch_matmul
// CHECK-SAME: (%[[A:.+]]: tensor<2x3xf32>, %[[B:.+]]: tensor<3x2xf32>) -> tensor<2x2xf32>
// CHECK: %[[M:.+]] = "hardcore.matmul"(%[[A]], %[[B]]) {hardcore.kind = "matmul 2x3 @ 3x2"} : (tensor<2x3xf32>, tensor<3x2xf32>) -> tensor<2x2xf32>
// CHECK: return %[[M]]
func.func @einsum_batch_matmul(%arg0: !torch.vtensor<[1,2,3],f32>, %arg1: !torch.vtensor<[1,3,2],f32>) -> !torch.vtensor<[1,2,2],f32> {
  %int0 = torch.constant.int 0
  %int1 = torch.constant.int 1
  %int2 = torch.constant.int 2
  %0 = torch.prim.ListConstruct %int0, %int1, %int2 : (!torch.int, !torch.int, !torch.int) -> !torch.list<int>
  %1 = torch.aten.permute %arg0, %0 : !torch.vtensor<[1,2,3],f32>, !torch.list<int> -> !torch.vtensor<[1,2,3],f32>
  %2 = torch.aten.permute %arg1, %0 : !torch.vtensor<[1,3,2],f32>, !torch.list<int> -> !torch.vtensor<[1,3,2],f32>
  %3 = torch.aten.bmm %1, %2 : !torch.vtensor<[1,2,3],f32>, !torch.vtensor<[1,3,2],f32> -> !torch.vtensor<[1,2,2],f32>
  %4 = torch.aten.permute %3, %0 : !torch.vtensor<[1,2,2],f32>, !torch.list<int> -> !torch.vtensor<[1,2,2],f32>
  return %4 : !torch.vtensor<[1,2,2],f32>
}


// -----

// einsum('bi,bj->bij', a, b), the outer product: a column times a row, a matmul of depth 1.
// CHECK-LABEL: func.func @einsum_outer
// CHECK: %[[A:.+]] = "hardcore.reshape"(%arg0) : (tensor<2xf32>) -> tensor<2x1xf32>
// CHECK: %[[B:.+]] = "hardcore.reshape"(%arg1) : (tensor<3xf32>) -> tensor<1x3xf32>
// CHECK: %[[M:.+]] = "hardcore.matmul"(%[[A]], %[[B]]) {hardcore.kind = "matmul 2x1 @ 1x3"}
// CHECK: return %[[M]] : tensor<2x3xf32>
func.func @einsum_outer(%arg0: !torch.vtensor<[1,2],f32>, %arg1: !torch.vtensor<[1,3],f32>) -> !torch.vtensor<[1,2,3],f32> {
  %int3 = torch.constant.int 3
  %int2 = torch.constant.int 2
  %int0 = torch.constant.int 0
  %int1 = torch.constant.int 1
  %0 = torch.prim.ListConstruct %int0, %int1 : (!torch.int, !torch.int) -> !torch.list<int>
  %1 = torch.aten.permute %arg0, %0 : !torch.vtensor<[1,2],f32>, !torch.list<int> -> !torch.vtensor<[1,2],f32>
  %3 = torch.aten.permute %arg1, %0 : !torch.vtensor<[1,3],f32>, !torch.list<int> -> !torch.vtensor<[1,3],f32>
  %4 = torch.prim.ListConstruct %int1, %int2, %int1 : (!torch.int, !torch.int, !torch.int) -> !torch.list<int>
  %5 = torch.aten.view %1, %4 : !torch.vtensor<[1,2],f32>, !torch.list<int> -> !torch.vtensor<[1,2,1],f32>
  %6 = torch.prim.ListConstruct %int1, %int1, %int3 : (!torch.int, !torch.int, !torch.int) -> !torch.list<int>
  %7 = torch.aten.view %3, %6 : !torch.vtensor<[1,3],f32>, !torch.list<int> -> !torch.vtensor<[1,1,3],f32>
  %8 = torch.aten.bmm %5, %7 : !torch.vtensor<[1,2,1],f32>, !torch.vtensor<[1,1,3],f32> -> !torch.vtensor<[1,2,3],f32>
  %9 = torch.prim.ListConstruct %int0, %int1, %int2 : (!torch.int, !torch.int, !torch.int) -> !torch.list<int>
  %10 = torch.aten.permute %8, %9 : !torch.vtensor<[1,2,3],f32>, !torch.list<int> -> !torch.vtensor<[1,2,3],f32>
  return %10 : !torch.vtensor<[1,2,3],f32>
}


// -----

// einsum('bi,bi->b', a, b), the dot product: a row times a column, one element.
// CHECK-LABEL: func.func @einsum_dot
// CHECK: %[[A:.+]] = "hardcore.reshape"(%arg0) : (tensor<3xf32>) -> tensor<1x3xf32>
// CHECK: %[[B:.+]] = "hardcore.reshape"(%arg1) : (tensor<3xf32>) -> tensor<3x1xf32>
// CHECK: %[[M:.+]] = "hardcore.matmul"(%[[A]], %[[B]]) {hardcore.kind = "matmul 1x3 @ 3x1"}
// CHECK: %[[R:.+]] = "hardcore.reshape"(%[[M]]) : (tensor<1x1xf32>) -> tensor<f32>
// CHECK: return %[[R]] : tensor<f32>
func.func @einsum_dot(%arg0: !torch.vtensor<[1,3],f32>, %arg1: !torch.vtensor<[1,3],f32>) -> !torch.vtensor<[1],f32> {
  %int3 = torch.constant.int 3
  %int1 = torch.constant.int 1
  %int0 = torch.constant.int 0
  %0 = torch.prim.ListConstruct %int0, %int1 : (!torch.int, !torch.int) -> !torch.list<int>
  %1 = torch.aten.permute %arg0, %0 : !torch.vtensor<[1,3],f32>, !torch.list<int> -> !torch.vtensor<[1,3],f32>
  %3 = torch.aten.permute %arg1, %0 : !torch.vtensor<[1,3],f32>, !torch.list<int> -> !torch.vtensor<[1,3],f32>
  %4 = torch.prim.ListConstruct %int1, %int1, %int3 : (!torch.int, !torch.int, !torch.int) -> !torch.list<int>
  %5 = torch.aten.view %1, %4 : !torch.vtensor<[1,3],f32>, !torch.list<int> -> !torch.vtensor<[1,1,3],f32>
  %6 = torch.prim.ListConstruct %int1, %int3, %int1 : (!torch.int, !torch.int, !torch.int) -> !torch.list<int>
  %7 = torch.aten.view %3, %6 : !torch.vtensor<[1,3],f32>, !torch.list<int> -> !torch.vtensor<[1,3,1],f32>
  %8 = torch.aten.bmm %5, %7 : !torch.vtensor<[1,1,3],f32>, !torch.vtensor<[1,3,1],f32> -> !torch.vtensor<[1,1,1],f32>
  %9 = torch.prim.ListConstruct %int1 : (!torch.int) -> !torch.list<int>
  %10 = torch.aten.view %8, %9 : !torch.vtensor<[1,1,1],f32>, !torch.list<int> -> !torch.vtensor<[1],f32>
  %11 = torch.prim.ListConstruct %int0 : (!torch.int) -> !torch.list<int>
  %12 = torch.aten.permute %10, %11 : !torch.vtensor<[1],f32>, !torch.list<int> -> !torch.vtensor<[1],f32>
  return %12 : !torch.vtensor<[1],f32>
}
