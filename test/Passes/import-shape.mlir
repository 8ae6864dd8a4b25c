// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-import)' | filecheck %s

// Element maps as torch-mlir's FX importer writes them (locations dropped):
// flip, nearest upsampling and constant padding become gathers, wires once
// quantized; padding reads a constant besides.

// torch.flip(x, [1, 2]) of a 2x3 sample: every element in reverse order, a gather.
// CHECK-LABEL: func.func @flip
// CHECK-SAME: (%[[X:.+]]: tensor<2x3xf32>) -> tensor<2x3xf32>
// CHECK: %[[F:.+]] = "hardcore.reshape"(%[[X]]) : (tensor<2x3xf32>) -> tensor<6xf32>
// CHECK: %[[G:.+]] = "hardcore.gather"(%[[F]]) {indices = dense<[5, 4, 3, 2, 1, 0]> : tensor<6xi64>} : (tensor<6xf32>) -> tensor<6xf32>
// CHECK: %[[R:.+]] = "hardcore.reshape"(%[[G]]) : (tensor<6xf32>) -> tensor<2x3xf32>
// CHECK: return %[[R]]
// CHECK-NOT: torch.
func.func @flip(%arg0: !torch.vtensor<[1,2,3],f32>) -> !torch.vtensor<[1,2,3],f32> {
  %int1 = torch.constant.int 1
  %int2 = torch.constant.int 2
  %0 = torch.prim.ListConstruct %int1, %int2 : (!torch.int, !torch.int) -> !torch.list<int>
  %1 = torch.aten.flip %arg0, %0 : !torch.vtensor<[1,2,3],f32>, !torch.list<int> -> !torch.vtensor<[1,2,3],f32>
  return %1 : !torch.vtensor<[1,2,3],f32>
}

// -----

// nn.Upsample(scale_factor=2) (nearest) on 1x2x2: each element repeated in 2x2.
// CHECK-LABEL: func.func @upsample_nearest_2d
// CHECK: "hardcore.gather"(%{{.+}}) {indices = dense<[0, 0, 1, 1, 0, 0, 1, 1, 2, 2, 3, 3, 2, 2, 3, 3]> : tensor<16xi64>} : (tensor<4xf32>) -> tensor<16xf32>
// CHECK-NOT: torch.
func.func @upsample_nearest_2d(%arg0: !torch.vtensor<[1,1,2,2],f32>) -> !torch.vtensor<[1,1,4,4],f32> {
  %false = torch.constant.bool false
  %str = torch.constant.str "nearest"
  %none = torch.constant.none
  %float2.000000e00 = torch.constant.float 2.000000e+00
  %0 = torch.prim.ListConstruct %float2.000000e00, %float2.000000e00 : (!torch.float, !torch.float) -> !torch.list<float>
  %1 = torch.aten.__interpolate.size_list_scale_list %arg0, %none, %0, %str, %none, %none, %false : !torch.vtensor<[1,1,2,2],f32>, !torch.none, !torch.list<float>, !torch.str, !torch.none, !torch.none, !torch.bool -> !torch.vtensor<[1,1,4,4],f32>
  return %1 : !torch.vtensor<[1,1,4,4],f32>
}

// -----

// F.interpolate(x, size=5) from 3: torch's source floor(i * 3/5) (float32), at most 2.
// CHECK-LABEL: func.func @interpolate_size
// CHECK: "hardcore.gather"(%{{.+}}) {indices = dense<[0, 0, 1, 1, 2]> : tensor<5xi64>} : (tensor<3xf32>) -> tensor<5xf32>
// CHECK-NOT: torch.
func.func @interpolate_size(%arg0: !torch.vtensor<[1,1,3],f32>) -> !torch.vtensor<[1,1,5],f32> {
  %false = torch.constant.bool false
  %str = torch.constant.str "nearest"
  %none = torch.constant.none
  %int5 = torch.constant.int 5
  %0 = torch.prim.ListConstruct %int5 : (!torch.int) -> !torch.list<int>
  %1 = torch.aten.__interpolate.size_list_scale_list %arg0, %0, %none, %str, %none, %none, %false : !torch.vtensor<[1,1,3],f32>, !torch.list<int>, !torch.none, !torch.str, !torch.none, !torch.none, !torch.bool -> !torch.vtensor<[1,1,5],f32>
  return %1 : !torch.vtensor<[1,1,5],f32>
}

// -----

// nn.ConstantPad1d((2, 1), 0.5): the operand joined to a constant 0.5 (a dense of
// zero weights, its bias the value), and a gather that reads the constant at
// each padded position.
// CHECK-LABEL: func.func @pad_1d
// CHECK-SAME: (%[[X:.+]]: tensor<1x2xf32>) -> tensor<1x5xf32>
// CHECK: %[[F:.+]] = "hardcore.reshape"(%[[X]]) : (tensor<1x2xf32>) -> tensor<2xf32>
// CHECK: %[[C:.+]] = "hardcore.dense"(%[[F]]) {bias = dense<5.000000e-01> : tensor<1xf32>, hardcore.kind = "constant 0.5 (padding 1x2->1x5)", weight = dense<0.000000e+00> : tensor<1x2xf32>} : (tensor<2xf32>) -> tensor<1xf32>
// CHECK: %[[J:.+]] = "hardcore.concat"(%[[F]], %[[C]]) {dim = 0 : i64} : (tensor<2xf32>, tensor<1xf32>) -> tensor<3xf32>
// CHECK: %[[G:.+]] = "hardcore.gather"(%[[J]]) {indices = dense<[2, 2, 0, 1, 2]> : tensor<5xi64>} : (tensor<3xf32>) -> tensor<5xf32>
// CHECK: %[[R:.+]] = "hardcore.reshape"(%[[G]]) : (tensor<5xf32>) -> tensor<1x5xf32>
// CHECK: return %[[R]]
func.func @pad_1d(%arg0: !torch.vtensor<[1,1,2],f32>) -> !torch.vtensor<[1,1,5],f32> {
  %float5.000000e-01 = torch.constant.float 5.000000e-01
  %int2 = torch.constant.int 2
  %int1 = torch.constant.int 1
  %0 = torch.prim.ListConstruct %int2, %int1 : (!torch.int, !torch.int) -> !torch.list<int>
  %1 = torch.aten.constant_pad_nd %arg0, %0, %float5.000000e-01 : !torch.vtensor<[1,1,2],f32>, !torch.list<int>, !torch.float -> !torch.vtensor<[1,1,5],f32>
  return %1 : !torch.vtensor<[1,1,5],f32>
}

// -----

// ConstantPad2d((-1, 0, 1, 0)): a negative amount crops (the first column), and
// a row of zeros goes on top.
// CHECK-LABEL: func.func @pad_crop
// CHECK: "hardcore.dense"(%{{.+}}) {bias = dense<0.000000e+00> : tensor<1xf32>, hardcore.kind = "constant 0 (padding 1x2x2->1x3x1)", weight = dense<0.000000e+00> : tensor<1x4xf32>}
// CHECK: "hardcore.gather"(%{{.+}}) {indices = dense<[4, 1, 3]> : tensor<3xi64>} : (tensor<5xf32>) -> tensor<3xf32>
func.func @pad_crop(%arg0: !torch.vtensor<[1,1,2,2],f32>) -> !torch.vtensor<[1,1,3,1],f32> {
  %float0.000000e00 = torch.constant.float 0.000000e+00
  %int-1 = torch.constant.int -1
  %int0 = torch.constant.int 0
  %int1 = torch.constant.int 1
  %0 = torch.prim.ListConstruct %int-1, %int0, %int1, %int0 : (!torch.int, !torch.int, !torch.int, !torch.int) -> !torch.list<int>
  %1 = torch.aten.constant_pad_nd %arg0, %0, %float0.000000e00 : !torch.vtensor<[1,1,2,2],f32>, !torch.list<int>, !torch.float -> !torch.vtensor<[1,1,3,1],f32>
  return %1 : !torch.vtensor<[1,1,3,1],f32>
}

// -----

// Only cropping (pad (0, -1)): no constant, a gather of what is left.
// CHECK-LABEL: func.func @pad_nothing
// CHECK-NOT: hardcore.dense
// CHECK: "hardcore.gather"(%{{.+}}) {indices = dense<[0, 2]> : tensor<2xi64>} : (tensor<4xf32>) -> tensor<2xf32>
// CHECK-NOT: hardcore.concat
func.func @pad_nothing(%arg0: !torch.vtensor<[1,1,2,2],f32>) -> !torch.vtensor<[1,1,2,1],f32> {
  %float0.000000e00 = torch.constant.float 0.000000e+00
  %int-1 = torch.constant.int -1
  %int0 = torch.constant.int 0
  %0 = torch.prim.ListConstruct %int0, %int-1 : (!torch.int, !torch.int) -> !torch.list<int>
  %1 = torch.aten.constant_pad_nd %arg0, %0, %float0.000000e00 : !torch.vtensor<[1,1,2,2],f32>, !torch.list<int>, !torch.float -> !torch.vtensor<[1,1,2,1],f32>
  return %1 : !torch.vtensor<[1,1,2,1],f32>
}

// -----

// nn.UpsamplingBilinear2d(size=3) on 1x2x2 (align_corners): a dense layer of the
// interpolation weights, the Kronecker product of each axis' [[1, 0], [.5, .5], [0, 1]].
// CHECK-LABEL: func.func @upsample_bilinear
// CHECK: "hardcore.dense"(%{{.+}}) {bias = dense<0.000000e+00> : tensor<9xf32>, hardcore.kind = "bilinear upsampling 1x2x2->1x3x3", weight = dense<{{\[\[}}1.000000e+00, 0.000000e+00, 0.000000e+00, 0.000000e+00], [5.000000e-01, 5.000000e-01, 0.000000e+00, 0.000000e+00], [0.000000e+00, 1.000000e+00, 0.000000e+00, 0.000000e+00], [5.000000e-01, 0.000000e+00, 5.000000e-01, 0.000000e+00], [2.500000e-01, 2.500000e-01, 2.500000e-01, 2.500000e-01], [0.000000e+00, 5.000000e-01, 0.000000e+00, 5.000000e-01], [0.000000e+00, 0.000000e+00, 1.000000e+00, 0.000000e+00], [0.000000e+00, 0.000000e+00, 5.000000e-01, 5.000000e-01], [0.000000e+00, 0.000000e+00, 0.000000e+00, 1.000000e+00]]> : tensor<9x4xf32>} : (tensor<4xf32>) -> tensor<9xf32>
// CHECK-NOT: torch.
func.func @upsample_bilinear(%arg0: !torch.vtensor<[1,1,2,2],f32>) -> !torch.vtensor<[1,1,3,3],f32> {
  %true = torch.constant.bool true
  %none = torch.constant.none
  %int3 = torch.constant.int 3
  %0 = torch.prim.ListConstruct %int3, %int3 : (!torch.int, !torch.int) -> !torch.list<int>
  %1 = torch.aten.upsample_bilinear2d.vec %arg0, %0, %true, %none : !torch.vtensor<[1,1,2,2],f32>, !torch.list<int>, !torch.bool, !torch.none -> !torch.vtensor<[1,1,3,3],f32>
  return %1 : !torch.vtensor<[1,1,3,3],f32>
}
