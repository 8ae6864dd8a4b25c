// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-import)' | filecheck %s
// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-import{output=argmax})' | filecheck %s --check-prefix=ARGMAX

// Pooling layers as torch-mlir's FX importer writes them (locations dropped).
// Each becomes one op over the flattened tensor whose `windows` list, for every
// output element (channel, then position, row-major), the flat input indices
// its window covers, -1 where it covers padding.

// MaxPool2d(3, stride=2, padding=1) on 3x3: each output's window is 2x2 of the
// input, its other five taps are padding.
// CHECK-LABEL: func.func @maxpool2d_padding
// CHECK-SAME: (%[[X:.+]]: tensor<1x3x3xf32>) -> tensor<1x2x2xf32>
// CHECK: %[[F:.+]] = "hardcore.reshape"(%[[X]]) : (tensor<1x3x3xf32>) -> tensor<9xf32>
// CHECK: %[[M:.+]] = "hardcore.maxpool"(%[[F]])
// CHECK-SAME: hardcore.kind = "maxpool2d 3x3 stride 2 padding 1, 1 channel 3x3->2x2 positions"
// CHECK-SAME: windows = dense<{{\[\[}}-1, -1, -1, -1, 0, 1, -1, 3, 4], [-1, -1, -1, 1, 2, -1, 4, 5, -1], [-1, 3, 4, -1, 6, 7, -1, -1, -1], [4, 5, -1, 7, 8, -1, -1, -1, -1]]> : tensor<4x9xi64>
// CHECK-SAME: : (tensor<9xf32>) -> tensor<4xf32>
// CHECK: %[[R:.+]] = "hardcore.reshape"(%[[M]]) : (tensor<4xf32>) -> tensor<1x2x2xf32>
// CHECK: return %[[R]] : tensor<1x2x2xf32>
// ARGMAX-LABEL: func.func @maxpool2d_padding
// ARGMAX-SAME: -> tensor<1xf32>
// ARGMAX: %[[M:.+]] = "hardcore.maxpool"
// ARGMAX: %[[I:.+]] = "hardcore.argmax"(%[[M]]) {hardcore.kind = "argmax of 4"} : (tensor<4xf32>) -> tensor<1xf32>
// ARGMAX: return %[[I]] : tensor<1xf32>
func.func @maxpool2d_padding(%arg0: !torch.vtensor<[1,1,3,3],f32>) -> !torch.vtensor<[1,1,2,2],f32> {
  %false = torch.constant.bool false
  %int1 = torch.constant.int 1
  %int2 = torch.constant.int 2
  %int3 = torch.constant.int 3
  %0 = torch.prim.ListConstruct %int3, %int3 : (!torch.int, !torch.int) -> !torch.list<int>
  %1 = torch.prim.ListConstruct %int2, %int2 : (!torch.int, !torch.int) -> !torch.list<int>
  %2 = torch.prim.ListConstruct %int1, %int1 : (!torch.int, !torch.int) -> !torch.list<int>
  %3 = torch.prim.ListConstruct %int1, %int1 : (!torch.int, !torch.int) -> !torch.list<int>
  %4 = torch.aten.max_pool2d %arg0, %0, %1, %2, %3, %false : !torch.vtensor<[1,1,3,3],f32>, !torch.list<int>, !torch.list<int>, !torch.list<int>, !torch.list<int>, !torch.bool -> !torch.vtensor<[1,1,2,2],f32>
  return %4 : !torch.vtensor<[1,1,2,2],f32>
}

// -----

// MaxPool1d(2, stride=1) on two channels of 3: channel 1's windows start at 3.
// CHECK-LABEL: func.func @maxpool1d
// CHECK: "hardcore.maxpool"(%{{.+}}) {hardcore.kind = "maxpool1d 2 stride 1, 2 channels 3->2 positions", windows = dense<{{\[\[}}0, 1], [1, 2], [3, 4], [4, 5]]> : tensor<4x2xi64>} : (tensor<6xf32>) -> tensor<4xf32>
func.func @maxpool1d(%arg0: !torch.vtensor<[1,2,3],f32>) -> !torch.vtensor<[1,2,2],f32> {
  %false = torch.constant.bool false
  %int0 = torch.constant.int 0
  %int1 = torch.constant.int 1
  %int2 = torch.constant.int 2
  %0 = torch.prim.ListConstruct %int2 : (!torch.int) -> !torch.list<int>
  %1 = torch.prim.ListConstruct %int1 : (!torch.int) -> !torch.list<int>
  %2 = torch.prim.ListConstruct %int0 : (!torch.int) -> !torch.list<int>
  %3 = torch.prim.ListConstruct %int1 : (!torch.int) -> !torch.list<int>
  %4 = torch.aten.max_pool1d %arg0, %0, %1, %2, %3, %false : !torch.vtensor<[1,2,3],f32>, !torch.list<int>, !torch.list<int>, !torch.list<int>, !torch.list<int>, !torch.bool -> !torch.vtensor<[1,2,2],f32>
  return %4 : !torch.vtensor<[1,2,2],f32>
}

// -----

// AvgPool2d(2) on 2x4: two windows of 4 elements (a power of two).
// CHECK-LABEL: func.func @avgpool2d_window_4
// CHECK: "hardcore.avgpool"(%{{.+}}) {divisors = dense<4> : tensor<2xi64>, hardcore.kind = "avgpool2d 2x2, 1 channel 2x4->1x2 positions", windows = dense<{{\[\[}}0, 1, 4, 5], [2, 3, 6, 7]]> : tensor<2x4xi64>} : (tensor<8xf32>) -> tensor<2xf32>
func.func @avgpool2d_window_4(%arg0: !torch.vtensor<[1,1,2,4],f32>) -> !torch.vtensor<[1,1,1,2],f32> {
  %none = torch.constant.none
  %true = torch.constant.bool true
  %false = torch.constant.bool false
  %int0 = torch.constant.int 0
  %int2 = torch.constant.int 2
  %0 = torch.prim.ListConstruct %int2, %int2 : (!torch.int, !torch.int) -> !torch.list<int>
  %1 = torch.prim.ListConstruct %int2, %int2 : (!torch.int, !torch.int) -> !torch.list<int>
  %2 = torch.prim.ListConstruct %int0, %int0 : (!torch.int, !torch.int) -> !torch.list<int>
  %3 = torch.aten.avg_pool2d %arg0, %0, %1, %2, %false, %true, %none : !torch.vtensor<[1,1,2,4],f32>, !torch.list<int>, !torch.list<int>, !torch.list<int>, !torch.bool, !torch.bool, !torch.none -> !torch.vtensor<[1,1,1,2],f32>
  return %3 : !torch.vtensor<[1,1,1,2],f32>
}

// -----

// AvgPool2d(3, stride=1, padding=1) on 2x3: torch's default count_include_pad
// divides every window by 9, padding included.
// CHECK-LABEL: func.func @avgpool2d_window_9
// CHECK: "hardcore.avgpool"(%{{.+}}) {divisors = dense<9> : tensor<6xi64>, hardcore.kind = "avgpool2d 3x3 stride 1 padding 1, 1 channel 2x3->2x3 positions", windows = dense<{{\[\[}}-1, -1, -1, -1, 0, 1, -1, 3, 4], [-1, -1, -1, 0, 1, 2, 3, 4, 5], [-1, -1, -1, 1, 2, -1, 4, 5, -1], [-1, 0, 1, -1, 3, 4, -1, -1, -1], [0, 1, 2, 3, 4, 5, -1, -1, -1], [1, 2, -1, 4, 5, -1, -1, -1, -1]]> : tensor<6x9xi64>}
func.func @avgpool2d_window_9(%arg0: !torch.vtensor<[1,1,2,3],f32>) -> !torch.vtensor<[1,1,2,3],f32> {
  %none = torch.constant.none
  %true = torch.constant.bool true
  %false = torch.constant.bool false
  %int1 = torch.constant.int 1
  %int3 = torch.constant.int 3
  %0 = torch.prim.ListConstruct %int3, %int3 : (!torch.int, !torch.int) -> !torch.list<int>
  %1 = torch.prim.ListConstruct %int1, %int1 : (!torch.int, !torch.int) -> !torch.list<int>
  %2 = torch.prim.ListConstruct %int1, %int1 : (!torch.int, !torch.int) -> !torch.list<int>
  %3 = torch.aten.avg_pool2d %arg0, %0, %1, %2, %false, %true, %none : !torch.vtensor<[1,1,2,3],f32>, !torch.list<int>, !torch.list<int>, !torch.list<int>, !torch.bool, !torch.bool, !torch.none -> !torch.vtensor<[1,1,2,3],f32>
  return %3 : !torch.vtensor<[1,1,2,3],f32>
}

// -----

// The same with count_include_pad=False: each window divides by the input
// elements it covers, 4 at the corners and 6 in the middle column.
// CHECK-LABEL: func.func @avgpool2d_count_exclude_pad
// CHECK: "hardcore.avgpool"(%{{.+}}) {divisors = dense<[4, 6, 4, 4, 6, 4]> : tensor<6xi64>, hardcore.kind = "avgpool2d 3x3 stride 1 padding 1, 1 channel 2x3->2x3 positions count_include_pad=False"
func.func @avgpool2d_count_exclude_pad(%arg0: !torch.vtensor<[1,1,2,3],f32>) -> !torch.vtensor<[1,1,2,3],f32> {
  %none = torch.constant.none
  %false = torch.constant.bool false
  %int1 = torch.constant.int 1
  %int3 = torch.constant.int 3
  %0 = torch.prim.ListConstruct %int3, %int3 : (!torch.int, !torch.int) -> !torch.list<int>
  %1 = torch.prim.ListConstruct %int1, %int1 : (!torch.int, !torch.int) -> !torch.list<int>
  %2 = torch.prim.ListConstruct %int1, %int1 : (!torch.int, !torch.int) -> !torch.list<int>
  %3 = torch.aten.avg_pool2d %arg0, %0, %1, %2, %false, %false, %none : !torch.vtensor<[1,1,2,3],f32>, !torch.list<int>, !torch.list<int>, !torch.list<int>, !torch.bool, !torch.bool, !torch.none -> !torch.vtensor<[1,1,2,3],f32>
  return %3 : !torch.vtensor<[1,1,2,3],f32>
}

// -----

// AdaptiveAvgPool2d(1): torch-mlir imports it as an avg_pool2d whose kernel
// is the whole 2x3 input, so each channel's window is all of it.  The
// flatten after it is a reshape.
// CHECK-LABEL: func.func @adaptive_avgpool2d
// CHECK-SAME: -> tensor<2xf32>
// CHECK: %[[A:.+]] = "hardcore.avgpool"(%{{.+}}) {divisors = dense<6> : tensor<2xi64>, hardcore.kind = "avgpool2d 2x3, 2 channels 2x3->1x1 positions", windows = dense<{{\[\[}}0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11]]> : tensor<2x6xi64>} : (tensor<12xf32>) -> tensor<2xf32>
// CHECK: return %[[A]] : tensor<2xf32>
func.func @adaptive_avgpool2d(%arg0: !torch.vtensor<[1,2,2,3],f32>) -> !torch.vtensor<[1,2],f32> {
  %int3 = torch.constant.int 3
  %int2 = torch.constant.int 2
  %int0 = torch.constant.int 0
  %int1 = torch.constant.int 1
  %int-1 = torch.constant.int -1
  %false = torch.constant.bool false
  %true = torch.constant.bool true
  %none = torch.constant.none
  %0 = torch.prim.ListConstruct %int2, %int3 : (!torch.int, !torch.int) -> !torch.list<int>
  %1 = torch.prim.ListConstruct %int2, %int3 : (!torch.int, !torch.int) -> !torch.list<int>
  %2 = torch.prim.ListConstruct %int0, %int0 : (!torch.int, !torch.int) -> !torch.list<int>
  %3 = torch.aten.avg_pool2d %arg0, %0, %1, %2, %false, %true, %none : !torch.vtensor<[1,2,2,3],f32>, !torch.list<int>, !torch.list<int>, !torch.list<int>, !torch.bool, !torch.bool, !torch.none -> !torch.vtensor<[1,2,1,1],f32>
  %4 = torch.aten.flatten.using_ints %3, %int1, %int-1 : !torch.vtensor<[1,2,1,1],f32>, !torch.int, !torch.int -> !torch.vtensor<[1,2],f32>
  return %4 : !torch.vtensor<[1,2],f32>
}
