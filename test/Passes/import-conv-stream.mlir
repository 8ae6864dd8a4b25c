// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-import{stream=true})' | filecheck %s

// hardcore-import{stream=true}: a 2-D convolution becomes one `hardcore.conv`
// (its kernel, not an unrolled matrix), 2-D pools keep their windows and get
// their geometry as `hardcore.window`, for hardcore-stream.

// The Conv2d(2, 2, 2, stride=2, padding=1, groups=2) + BatchNorm2d + ReLU of
// import.mlir (weights 1..8, bias [0.5, -1]; batch-norm scale [0.5, 2], shift
// [-0.5, 1]): the batch norm folds into the kernel of each output channel
// (channel 0's taps 1..4 times 0.5, channel 1's 5..8 times 2; bias
// [0.5 * 0.5 - 0.5, -1 * 2 + 1]), and the ReLU reads the conv's C x H x W
// result directly.
// CHECK-LABEL: func.func @conv2d_batchnorm_relu
// CHECK-SAME: (%[[X:.+]]: tensor<2x2x3xf32>) -> tensor<8xf32>
// CHECK: %[[C:.+]] = "hardcore.conv"(%[[X]])
// CHECK-SAME: bias = dense<[-2.500000e-01, -1.000000e+00]> : tensor<2xf32>
// CHECK-SAME: dilation = dense<1> : tensor<2xi64>, groups = 2 : i64
// CHECK-SAME: hardcore.kind = "conv2d 2->2 2x2 stride 2 padding 1 groups 2, 2x3->2x2 positions (kernel) + batchnorm"
// CHECK-SAME: padding = dense<1> : tensor<2xi64>, stride = dense<2> : tensor<2xi64>
// CHECK-SAME: weight = dense<{{\[\[\[\[}}5.000000e-01, 1.000000e+00], [1.500000e+00, 2.000000e+00]]], {{\[\[\[}}1.000000e+01, 1.200000e+01], [1.400000e+01, 1.600000e+01]]]]> : tensor<2x1x2x2xf32>}
// CHECK-SAME: : (tensor<2x2x3xf32>) -> tensor<2x2x2xf32>
// CHECK: %[[R:.+]] = "hardcore.relu"(%[[C]]) : (tensor<2x2x2xf32>) -> tensor<2x2x2xf32>
// CHECK: %[[F:.+]] = "hardcore.reshape"(%[[R]]) : (tensor<2x2x2xf32>) -> tensor<8xf32>
// CHECK: return %[[F]] : tensor<8xf32>
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

// AvgPool2d(3, stride=1, padding=1), MaxPool2d(2, stride=1, padding=1,
// dilation=2, ceil_mode=True) and AdaptiveAvgPool2d(1) (an avg_pool2d over the
// whole 3x3 input): each keeps its windows and divisors and carries its geometry.
// They read and give C x H x W tensors (the windows index their row-major elements).
// CHECK-LABEL: func.func @pools_carry_their_window
// CHECK-SAME: (%[[X:.+]]: tensor<1x3x3xf32>)
// CHECK: %[[A:.+]] = "hardcore.avgpool"(%[[X]])
// CHECK-SAME: hardcore.window = {ceil_mode = 0 : i64, dilation = dense<1> : tensor<2xi64>, kernel = dense<3> : tensor<2xi64>, padding = dense<1> : tensor<2xi64>, stride = dense<1> : tensor<2xi64>}
// CHECK-SAME: : (tensor<1x3x3xf32>) -> tensor<1x3x3xf32>
// CHECK: %[[M:.+]] = "hardcore.maxpool"(%[[A]])
// CHECK-SAME: hardcore.window = {ceil_mode = 1 : i64, dilation = dense<2> : tensor<2xi64>, kernel = dense<2> : tensor<2xi64>, padding = dense<1> : tensor<2xi64>, stride = dense<1> : tensor<2xi64>}
// CHECK-SAME: : (tensor<1x3x3xf32>) -> tensor<1x3x3xf32>
// CHECK: "hardcore.avgpool"(%[[M]])
// CHECK-SAME: divisors = dense<9> : tensor<1xi64>
// CHECK-SAME: hardcore.window = {ceil_mode = 0 : i64, dilation = dense<1> : tensor<2xi64>, kernel = dense<3> : tensor<2xi64>, padding = dense<0> : tensor<2xi64>, stride = dense<3> : tensor<2xi64>}
// CHECK-SAME: : (tensor<1x3x3xf32>) -> tensor<1x1x1xf32>
func.func @pools_carry_their_window(%arg0: !torch.vtensor<[1,1,3,3],f32>) -> !torch.vtensor<[1,1,1,1],f32> {
  %int0 = torch.constant.int 0
  %int2 = torch.constant.int 2
  %none = torch.constant.none
  %true = torch.constant.bool true
  %false = torch.constant.bool false
  %int1 = torch.constant.int 1
  %int3 = torch.constant.int 3
  %0 = torch.prim.ListConstruct %int3, %int3 : (!torch.int, !torch.int) -> !torch.list<int>
  %1 = torch.prim.ListConstruct %int1, %int1 : (!torch.int, !torch.int) -> !torch.list<int>
  %2 = torch.prim.ListConstruct %int1, %int1 : (!torch.int, !torch.int) -> !torch.list<int>
  %3 = torch.aten.avg_pool2d %arg0, %0, %1, %2, %false, %true, %none : !torch.vtensor<[1,1,3,3],f32>, !torch.list<int>, !torch.list<int>, !torch.list<int>, !torch.bool, !torch.bool, !torch.none -> !torch.vtensor<[1,1,3,3],f32>
  %4 = torch.prim.ListConstruct %int2, %int2 : (!torch.int, !torch.int) -> !torch.list<int>
  %5 = torch.prim.ListConstruct %int1, %int1 : (!torch.int, !torch.int) -> !torch.list<int>
  %6 = torch.prim.ListConstruct %int1, %int1 : (!torch.int, !torch.int) -> !torch.list<int>
  %7 = torch.prim.ListConstruct %int2, %int2 : (!torch.int, !torch.int) -> !torch.list<int>
  %8 = torch.aten.max_pool2d %3, %4, %5, %6, %7, %true : !torch.vtensor<[1,1,3,3],f32>, !torch.list<int>, !torch.list<int>, !torch.list<int>, !torch.list<int>, !torch.bool -> !torch.vtensor<[1,1,3,3],f32>
  %9 = torch.prim.ListConstruct %int3, %int3 : (!torch.int, !torch.int) -> !torch.list<int>
  %10 = torch.prim.ListConstruct %int3, %int3 : (!torch.int, !torch.int) -> !torch.list<int>
  %11 = torch.prim.ListConstruct %int0, %int0 : (!torch.int, !torch.int) -> !torch.list<int>
  %12 = torch.aten.avg_pool2d %8, %9, %10, %11, %false, %true, %none : !torch.vtensor<[1,1,3,3],f32>, !torch.list<int>, !torch.list<int>, !torch.list<int>, !torch.bool, !torch.bool, !torch.none -> !torch.vtensor<[1,1,1,1],f32>
  return %12 : !torch.vtensor<[1,1,1,1],f32>
}

// -----

// x.mean((2, 3)) on 2 x 2 x 3: a global average pool, kernel = stride = the whole 2x3.
// CHECK-LABEL: func.func @global_mean_carries_its_window
// CHECK: "hardcore.avgpool"
// CHECK-SAME: hardcore.window = {ceil_mode = 0 : i64, dilation = dense<1> : tensor<2xi64>, kernel = dense<[2, 3]> : tensor<2xi64>, padding = dense<0> : tensor<2xi64>, stride = dense<[2, 3]> : tensor<2xi64>}
func.func @global_mean_carries_its_window(%arg0: !torch.vtensor<[1,2,2,3],f32>) -> !torch.vtensor<[1,2],f32> {
  %none = torch.constant.none
  %false = torch.constant.bool false
  %int2 = torch.constant.int 2
  %int3 = torch.constant.int 3
  %0 = torch.prim.ListConstruct %int2, %int3 : (!torch.int, !torch.int) -> !torch.list<int>
  %1 = torch.aten.mean.dim %arg0, %0, %false, %none : !torch.vtensor<[1,2,2,3],f32>, !torch.list<int>, !torch.bool, !torch.none -> !torch.vtensor<[1,2],f32>
  return %1 : !torch.vtensor<[1,2],f32>
}
