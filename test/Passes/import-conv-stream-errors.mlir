// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-import{stream=true})' --verify-diagnostics

// stream=true makes 2-D convolutions `hardcore.conv`: a Conv1d is an error at the op.
func.func @conv1d_not_streamed(%arg0: !torch.vtensor<[1,1,3],f32>) -> !torch.vtensor<[1,1,2],f32> {
  %false = torch.constant.bool false
  %int0 = torch.constant.int 0
  %0 = torch.vtensor.literal(dense<[[[0.5, -0.25]]]> : tensor<1x1x2xf32>) : !torch.vtensor<[1,1,2],f32>
  %1 = torch.vtensor.literal(dense<0.125> : tensor<1xf32>) : !torch.vtensor<[1],f32>
  %int1 = torch.constant.int 1
  %2 = torch.prim.ListConstruct %int1 : (!torch.int) -> !torch.list<int>
  %3 = torch.prim.ListConstruct %int0 : (!torch.int) -> !torch.list<int>
  %4 = torch.prim.ListConstruct %int1 : (!torch.int) -> !torch.list<int>
  %5 = torch.prim.ListConstruct  : () -> !torch.list<int>
  // expected-error @+1 {{hardcore-import: stream=true supports 2-D convolutions only, got a conv1d}}
  %6 = torch.aten.convolution %arg0, %0, %1, %2, %3, %4, %false, %5, %int1 : !torch.vtensor<[1,1,3],f32>, !torch.vtensor<[1,1,2],f32>, !torch.vtensor<[1],f32>, !torch.list<int>, !torch.list<int>, !torch.list<int>, !torch.bool, !torch.list<int>, !torch.int -> !torch.vtensor<[1,1,2],f32>
  return %6 : !torch.vtensor<[1,1,2],f32>
}
