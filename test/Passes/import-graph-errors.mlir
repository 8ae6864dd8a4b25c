// RUN: hardcore-opt %s --split-input-file --verify-diagnostics --pass-pipeline='builtin.module(hardcore-import)'

// torch.add(x, x, alpha=2): only a + b.
func.func @add_alpha(%arg0: !torch.vtensor<[1,4],f32>) -> !torch.vtensor<[1,4],f32> {
  %int2 = torch.constant.int 2
  // expected-error @+1 {{hardcore-import: add.Tensor with alpha 2 is not supported (only a + b)}}
  %0 = torch.aten.add.Tensor %arg0, %arg0, %int2 : !torch.vtensor<[1,4],f32>, !torch.vtensor<[1,4],f32>, !torch.int -> !torch.vtensor<[1,4],f32>
  return %0 : !torch.vtensor<[1,4],f32>
}

// -----

// x + x.mean(1, keepdim=True): broadcasting is not supported.
func.func @add_broadcast(%arg0: !torch.vtensor<[1,4],f32>) -> !torch.vtensor<[1,4],f32> {
  %int1 = torch.constant.int 1
  %true = torch.constant.bool true
  %none = torch.constant.none
  %0 = torch.prim.ListConstruct %int1 : (!torch.int) -> !torch.list<int>
  %1 = torch.aten.mean.dim %arg0, %0, %true, %none : !torch.vtensor<[1,4],f32>, !torch.list<int>, !torch.bool, !torch.none -> !torch.vtensor<[1,1],f32>
  // expected-error @+1 {{hardcore-import: add.Tensor of shapes [4] and [1] is not supported (no broadcasting: both operands must have one shape)}}
  %2 = torch.aten.add.Tensor %arg0, %1, %int1 : !torch.vtensor<[1,4],f32>, !torch.vtensor<[1,1],f32>, !torch.int -> !torch.vtensor<[1,4],f32>
  return %2 : !torch.vtensor<[1,4],f32>
}

// -----

// x + a constant tensor that differs between rows (and is not added to an
// embedding) is not supported; a constant the same in every row is a bias
// (import-sequence.mlir).
func.func @add_constant(%arg0: !torch.vtensor<[1,2,2],f32>) -> !torch.vtensor<[1,2,2],f32> {
  %int1 = torch.constant.int 1
  %0 = torch.vtensor.literal(dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>) : !torch.vtensor<[2,2],f32>
  // expected-error @+1 {{hardcore-import: add.Tensor of a constant tensor of shape [2, 2] is not supported (only a constant that is the same for every row of the last dimension, or a position embedding added to a token embedding)}}
  %1 = torch.aten.add.Tensor %arg0, %0, %int1 : !torch.vtensor<[1,2,2],f32>, !torch.vtensor<[2,2],f32>, !torch.int -> !torch.vtensor<[1,2,2],f32>
  return %1 : !torch.vtensor<[1,2,2],f32>
}

// -----

func.func @mean_over_batch(%arg0: !torch.vtensor<[1,4],f32>) -> !torch.vtensor<[1,4],f32> {
  %int0 = torch.constant.int 0
  %true = torch.constant.bool true
  %none = torch.constant.none
  %0 = torch.prim.ListConstruct %int0 : (!torch.int) -> !torch.list<int>
  // expected-error @+1 {{hardcore-import: mean over the batch dimension is not supported}}
  %1 = torch.aten.mean.dim %arg0, %0, %true, %none : !torch.vtensor<[1,4],f32>, !torch.list<int>, !torch.bool, !torch.none -> !torch.vtensor<[1,4],f32>
  return %1 : !torch.vtensor<[1,4],f32>
}

// -----

// A sum over the batch dimension adds samples.
func.func @sum_over_batch(%arg0: !torch.vtensor<[1,4],f32>) -> !torch.vtensor<[1,4],f32> {
  %int0 = torch.constant.int 0
  %false = torch.constant.bool false
  %none = torch.constant.none
  %0 = torch.prim.ListConstruct %int0 : (!torch.int) -> !torch.list<int>
  // expected-error @+1 {{hardcore-import: sum over the batch dimension is not supported}}
  %1 = torch.aten.sum.dim_IntList %arg0, %0, %false, %none : !torch.vtensor<[1,4],f32>, !torch.list<int>, !torch.bool, !torch.none -> !torch.vtensor<[4],f32>
  %2 = torch.aten.unsqueeze %1, %int0 : !torch.vtensor<[4],f32>, !torch.int -> !torch.vtensor<[1,4],f32>
  return %2 : !torch.vtensor<[1,4],f32>
}
