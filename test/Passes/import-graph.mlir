// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-import)' | filecheck %s

// Graphs and shape ops as torch-mlir's FX importer writes them (locations
// dropped; the linear's weights written inline instead of as resources).

// A residual add, relu(fc(x) + x): both operands are model tensors of one
// shape, alpha 1.  It becomes a `hardcore.add_tensors` (a layer of its own in
// the report: "residual add"), and the ReLU follows it.
// CHECK-LABEL: func.func @residual
// CHECK-SAME: (%[[X:.+]]: tensor<2xf32>) -> tensor<2xf32>
// CHECK: %[[D:.+]] = "hardcore.dense"(%[[X]])
// CHECK: %[[A:.+]] = "hardcore.add_tensors"(%[[D]], %[[X]]) {hardcore.kind = "residual add 2"} : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
// CHECK: %[[R:.+]] = "hardcore.relu"(%[[A]])
// CHECK: return %[[R]]
func.func @residual(%arg0: !torch.vtensor<[1,2],f32>) -> !torch.vtensor<[1,2],f32> {
  %int1 = torch.constant.int 1
  %0 = torch.vtensor.literal(dense<[[1.0, -0.5], [0.25, 2.0]]> : tensor<2x2xf32>) : !torch.vtensor<[2,2],f32>
  %1 = torch.vtensor.literal(dense<[0.5, -1.0]> : tensor<2xf32>) : !torch.vtensor<[2],f32>
  %2 = torch.aten.linear %arg0, %0, %1 : !torch.vtensor<[1,2],f32>, !torch.vtensor<[2,2],f32>, !torch.vtensor<[2],f32> -> !torch.vtensor<[1,2],f32>
  %3 = torch.aten.add.Tensor %2, %arg0, %int1 : !torch.vtensor<[1,2],f32>, !torch.vtensor<[1,2],f32>, !torch.int -> !torch.vtensor<[1,2],f32>
  %4 = torch.aten.relu %3 : !torch.vtensor<[1,2],f32> -> !torch.vtensor<[1,2],f32>
  return %4 : !torch.vtensor<[1,2],f32>
}

// -----

// torch.cat([x, relu(x), x], dim=-1): dim -1 of the batched tensor is dim 1
// of a sample; three tensors are a chain of two binary concats.
// CHECK-LABEL: func.func @cat_three
// CHECK-SAME: (%[[X:.+]]: tensor<2x2xf32>) -> tensor<2x6xf32>
// CHECK: %[[F:.+]] = "hardcore.reshape"(%[[X]]) : (tensor<2x2xf32>) -> tensor<4xf32>
// CHECK: %[[R:.+]] = "hardcore.relu"(%[[F]])
// CHECK: %[[S:.+]] = "hardcore.reshape"(%[[R]]) : (tensor<4xf32>) -> tensor<2x2xf32>
// CHECK: %[[C:.+]] = "hardcore.concat"(%[[X]], %[[S]]) {dim = 1 : i64} : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x4xf32>
// CHECK: %[[C2:.+]] = "hardcore.concat"(%[[C]], %[[X]]) {dim = 1 : i64} : (tensor<2x4xf32>, tensor<2x2xf32>) -> tensor<2x6xf32>
// CHECK: return %[[C2]]
func.func @cat_three(%arg0: !torch.vtensor<[1,2,2],f32>) -> !torch.vtensor<[1,2,6],f32> {
  %int-1 = torch.constant.int -1
  %0 = torch.aten.relu %arg0 : !torch.vtensor<[1,2,2],f32> -> !torch.vtensor<[1,2,2],f32>
  %1 = torch.prim.ListConstruct %arg0, %0, %arg0 : (!torch.vtensor<[1,2,2],f32>, !torch.vtensor<[1,2,2],f32>, !torch.vtensor<[1,2,2],f32>) -> !torch.list<vtensor>
  %2 = torch.aten.cat %1, %int-1 : !torch.list<vtensor>, !torch.int -> !torch.vtensor<[1,2,6],f32>
  return %2 : !torch.vtensor<[1,2,6],f32>
}

// -----

// x.mean((2, 3)) and x.mean(-1, keepdim=True) on 2x2x3: an average pool with
// one window per output element, listing the elements it averages, and their
// count as the divisor.
// CHECK-LABEL: func.func @means
// CHECK: "hardcore.avgpool"(%{{.+}}) {divisors = dense<6> : tensor<2xi64>, hardcore.kind = "mean over dims 2,3, 2x2x3->2", windows = dense<{{\[\[}}0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11]]> : tensor<2x6xi64>} : (tensor<12xf32>) -> tensor<2xf32>
// CHECK: %[[M:.+]] = "hardcore.avgpool"(%{{.+}}) {divisors = dense<3> : tensor<4xi64>, hardcore.kind = "mean over dims 3, 2x2x3->2x2", windows = dense<{{\[\[}}0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11]]> : tensor<4x3xi64>} : (tensor<12xf32>) -> tensor<4xf32>
// CHECK: "hardcore.reshape"(%[[M]]) : (tensor<4xf32>) -> tensor<2x2x1xf32>
func.func @means(%arg0: !torch.vtensor<[1,2,2,3],f32>) -> (!torch.vtensor<[1,2],f32>, !torch.vtensor<[1,2,2,1],f32>) {
  %true = torch.constant.bool true
  %int-1 = torch.constant.int -1
  %none = torch.constant.none
  %false = torch.constant.bool false
  %int2 = torch.constant.int 2
  %int3 = torch.constant.int 3
  %0 = torch.prim.ListConstruct %int2, %int3 : (!torch.int, !torch.int) -> !torch.list<int>
  %1 = torch.aten.mean.dim %arg0, %0, %false, %none : !torch.vtensor<[1,2,2,3],f32>, !torch.list<int>, !torch.bool, !torch.none -> !torch.vtensor<[1,2],f32>
  %2 = torch.prim.ListConstruct %int-1 : (!torch.int) -> !torch.list<int>
  %3 = torch.aten.mean.dim %arg0, %2, %true, %none : !torch.vtensor<[1,2,2,3],f32>, !torch.list<int>, !torch.bool, !torch.none -> !torch.vtensor<[1,2,2,1],f32>
  return %1, %3 : !torch.vtensor<[1,2],f32>, !torch.vtensor<[1,2,2,1],f32>
}

// -----

// x.sum(-1, keepdim=True) on 2x3 (a dot product's sum, `(a * b).sum(-1)`): the
// same windows as a mean's, divisors 1.
// CHECK-LABEL: func.func @sum
// CHECK: "hardcore.avgpool"(%{{.+}}) {divisors = dense<1> : tensor<2xi64>, hardcore.kind = "sum over dims 2, 2x3->2", windows = dense<{{\[\[}}0, 1, 2], [3, 4, 5]]> : tensor<2x3xi64>} : (tensor<6xf32>) -> tensor<2xf32>
func.func @sum(%arg0: !torch.vtensor<[1,2,3],f32>) -> !torch.vtensor<[1,2,1],f32> {
  %true = torch.constant.bool true
  %int-1 = torch.constant.int -1
  %none = torch.constant.none
  %0 = torch.prim.ListConstruct %int-1 : (!torch.int) -> !torch.list<int>
  %1 = torch.aten.sum.dim_IntList %arg0, %0, %true, %none : !torch.vtensor<[1,2,3],f32>, !torch.list<int>, !torch.bool, !torch.none -> !torch.vtensor<[1,2,1],f32>
  return %1 : !torch.vtensor<[1,2,1],f32>
}

// -----

// permute(0, 2, 1), then transpose(1, 2) and transpose(-1, 1) on 2x3: each a
// `hardcore.gather` whose indices list, for each output element (row-major),
// the input element it is.
// CHECK-LABEL: func.func @permute_transpose
// CHECK-SAME: (%[[X:.+]]: tensor<2x3xf32>) -> tensor<3x2xf32>
// CHECK: %[[F:.+]] = "hardcore.reshape"(%[[X]]) : (tensor<2x3xf32>) -> tensor<6xf32>
// CHECK: %[[P:.+]] = "hardcore.gather"(%[[F]]) {indices = dense<[0, 3, 1, 4, 2, 5]> : tensor<6xi64>} : (tensor<6xf32>) -> tensor<6xf32>
// CHECK: %[[T:.+]] = "hardcore.gather"(%[[P]]) {indices = dense<[0, 2, 4, 1, 3, 5]> : tensor<6xi64>} : (tensor<6xf32>) -> tensor<6xf32>
// CHECK: %[[T2:.+]] = "hardcore.gather"(%[[T]]) {indices = dense<[0, 3, 1, 4, 2, 5]> : tensor<6xi64>} : (tensor<6xf32>) -> tensor<6xf32>
// CHECK: %[[R:.+]] = "hardcore.reshape"(%[[T2]]) : (tensor<6xf32>) -> tensor<3x2xf32>
// CHECK: return %[[R]]
func.func @permute_transpose(%arg0: !torch.vtensor<[1,2,3],f32>) -> !torch.vtensor<[1,3,2],f32> {
  %int-1 = torch.constant.int -1
  %int0 = torch.constant.int 0
  %int2 = torch.constant.int 2
  %int1 = torch.constant.int 1
  %0 = torch.prim.ListConstruct %int0, %int2, %int1 : (!torch.int, !torch.int, !torch.int) -> !torch.list<int>
  %1 = torch.aten.permute %arg0, %0 : !torch.vtensor<[1,2,3],f32>, !torch.list<int> -> !torch.vtensor<[1,3,2],f32>
  %2 = torch.aten.transpose.int %1, %int1, %int2 : !torch.vtensor<[1,3,2],f32>, !torch.int, !torch.int -> !torch.vtensor<[1,2,3],f32>
  %3 = torch.aten.transpose.int %2, %int-1, %int1 : !torch.vtensor<[1,2,3],f32>, !torch.int, !torch.int -> !torch.vtensor<[1,3,2],f32>
  return %3 : !torch.vtensor<[1,3,2],f32>
}
