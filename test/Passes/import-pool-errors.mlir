// RUN: hardcore-opt %s --split-input-file --verify-diagnostics --pass-pipeline='builtin.module(hardcore-import)'
// RUN: not hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-import{output=argmax})' 2>&1 | filecheck %s --check-prefix=ARGMAX
// RUN: not hardcore-opt %s --pass-pipeline='builtin.module(hardcore-import{output=index})' 2>&1 | filecheck %s --check-prefix=OPTION

// OPTION: hardcore-opt: error: hardcore-import: unknown output 'index' (one of: logits, argmax)

// One output (a global average of one channel) is a fine model, but no
// classifier: output=argmax needs two outputs at least.  The error is at the
// return.
// ARGMAX: import-pool-errors.mlir:21:3: error: hardcore-import: output=argmax needs a result of at least 2 elements, got 1
func.func @one_output(%arg0: !torch.vtensor<[1,1,2,2],f32>) -> !torch.vtensor<[1,1,1,1],f32> {
  %none = torch.constant.none
  %true = torch.constant.bool true
  %false = torch.constant.bool false
  %int0 = torch.constant.int 0
  %int2 = torch.constant.int 2
  %0 = torch.prim.ListConstruct %int2, %int2 : (!torch.int, !torch.int) -> !torch.list<int>
  %1 = torch.prim.ListConstruct %int2, %int2 : (!torch.int, !torch.int) -> !torch.list<int>
  %2 = torch.prim.ListConstruct %int0, %int0 : (!torch.int, !torch.int) -> !torch.list<int>
  %3 = torch.aten.avg_pool2d %arg0, %0, %1, %2, %false, %true, %none : !torch.vtensor<[1,1,2,2],f32>, !torch.list<int>, !torch.list<int>, !torch.list<int>, !torch.bool, !torch.bool, !torch.none -> !torch.vtensor<[1,1,1,1],f32>
  return %3 : !torch.vtensor<[1,1,1,1],f32>
}

// -----

// AdaptiveAvgPool2d((2, 3)) on 5x5, as torch-mlir imports it: its windows
// differ in size, which torch-mlir's avg_pool2d cannot express, so it leaves
// failing asserts (and a wrong avg_pool2d) behind.  The first assert is the
// error.
func.func @adaptive_avgpool2d_uneven(%arg0: !torch.vtensor<[1,1,5,5],f32>) -> !torch.vtensor<[1,1,2,3],f32> {
  %int1 = torch.constant.int 1
  %int3 = torch.constant.int 3
  %int2 = torch.constant.int 2
  %int0 = torch.constant.int 0
  %false = torch.constant.bool false
  %true = torch.constant.bool true
  %none = torch.constant.none
  // expected-error @+1 {{hardcore-import: torch-mlir could not lower an op of the model: unimplemented: only support cases with fixed stride size.}}
  torch.runtime.assert %false, "unimplemented: only support cases with fixed stride size."
  torch.runtime.assert %false, "unimplemented: only support cases with fixed kernel size."
  %0 = torch.prim.ListConstruct %int3, %int2 : (!torch.int, !torch.int) -> !torch.list<int>
  %1 = torch.prim.ListConstruct %int2, %int1 : (!torch.int, !torch.int) -> !torch.list<int>
  %2 = torch.prim.ListConstruct %int0, %int0 : (!torch.int, !torch.int) -> !torch.list<int>
  %3 = torch.aten.avg_pool2d %arg0, %0, %1, %2, %false, %true, %none : !torch.vtensor<[1,1,5,5],f32>, !torch.list<int>, !torch.list<int>, !torch.list<int>, !torch.bool, !torch.bool, !torch.none -> !torch.vtensor<[1,1,2,3],f32>
  return %3 : !torch.vtensor<[1,1,2,3],f32>
}
