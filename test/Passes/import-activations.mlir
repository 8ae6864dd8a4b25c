// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-import)' | filecheck %s

// Each activation as torch-mlir's FX importer writes it (hardcore.frontend keeps
// them whole as backend-legal ops; locations dropped), applied to a 2x2 input.
// Like a ReLU, the activation works on the flat tensor, between the reshapes.

// nn.ReLU6 exports as aten.hardtanh(0, 6): a clamp.
// CHECK-LABEL: func.func @relu6
// CHECK-SAME: (%[[X:.+]]: tensor<2x2xf32>) -> tensor<2x2xf32>
// CHECK: %[[F:.+]] = "hardcore.reshape"(%[[X]]) : (tensor<2x2xf32>) -> tensor<4xf32>
// CHECK: %[[A:.+]] = "hardcore.activation"(%[[F]]) {fn = "clamp", params = {max = 6.000000e+00 : f64, min = 0.000000e+00 : f64}} : (tensor<4xf32>) -> tensor<4xf32>
// CHECK: %[[R:.+]] = "hardcore.reshape"(%[[A]]) : (tensor<4xf32>) -> tensor<2x2xf32>
// CHECK: return %[[R]] : tensor<2x2xf32>
// CHECK-NOT: torch.
func.func @relu6(%arg0: !torch.vtensor<[1,2,2],f32>) -> !torch.vtensor<[1,2,2],f32> {
  %float0.000000e00 = torch.constant.float 0.000000e+00
  %float6.000000e00 = torch.constant.float 6.000000e+00
  %0 = torch.aten.hardtanh %arg0, %float0.000000e00, %float6.000000e00 : !torch.vtensor<[1,2,2],f32>, !torch.float, !torch.float -> !torch.vtensor<[1,2,2],f32>
  return %0 : !torch.vtensor<[1,2,2],f32>
}

// -----

// F.relu6 exports as aten.relu6: the same clamp.
// CHECK-LABEL: func.func @relu6_function
// CHECK-SAME: (%[[X:.+]]: tensor<2x2xf32>) -> tensor<2x2xf32>
// CHECK: "hardcore.activation"(%{{.*}}) {fn = "clamp", params = {max = 6.000000e+00 : f64, min = 0.000000e+00 : f64}} : (tensor<4xf32>) -> tensor<4xf32>
// CHECK-NOT: torch.
func.func @relu6_function(%arg0: !torch.vtensor<[1,2,2],f32>) -> !torch.vtensor<[1,2,2],f32> {
  %0 = torch.aten.relu6 %arg0 : !torch.vtensor<[1,2,2],f32> -> !torch.vtensor<[1,2,2],f32>
  return %0 : !torch.vtensor<[1,2,2],f32>
}

// -----

// Hardtanh(-0.5, 1.5).
// CHECK-LABEL: func.func @hardtanh
// CHECK-SAME: (%[[X:.+]]: tensor<2x2xf32>) -> tensor<2x2xf32>
// CHECK: "hardcore.activation"(%{{.*}}) {fn = "clamp", params = {max = 1.500000e+00 : f64, min = -5.000000e-01 : f64}} : (tensor<4xf32>) -> tensor<4xf32>
// CHECK-NOT: torch.
func.func @hardtanh(%arg0: !torch.vtensor<[1,2,2],f32>) -> !torch.vtensor<[1,2,2],f32> {
  %float-5.000000e-01 = torch.constant.float -5.000000e-01
  %float1.500000e00 = torch.constant.float 1.500000e+00
  %0 = torch.aten.hardtanh %arg0, %float-5.000000e-01, %float1.500000e00 : !torch.vtensor<[1,2,2],f32>, !torch.float, !torch.float -> !torch.vtensor<[1,2,2],f32>
  return %0 : !torch.vtensor<[1,2,2],f32>
}

// -----

// torch.clamp(x, min=-1): no upper bound (+inf).
// CHECK-LABEL: func.func @clamp_min_only
// CHECK-SAME: (%[[X:.+]]: tensor<2x2xf32>) -> tensor<2x2xf32>
// CHECK: "hardcore.activation"(%{{.*}}) {fn = "clamp", params = {max = 0x7FF0000000000000 : f64, min = -1.000000e+00 : f64}} : (tensor<4xf32>) -> tensor<4xf32>
// CHECK-NOT: torch.
func.func @clamp_min_only(%arg0: !torch.vtensor<[1,2,2],f32>) -> !torch.vtensor<[1,2,2],f32> {
  %float-1.000000e00 = torch.constant.float -1.000000e+00
  %none = torch.constant.none
  %0 = torch.aten.clamp %arg0, %float-1.000000e00, %none : !torch.vtensor<[1,2,2],f32>, !torch.float, !torch.none -> !torch.vtensor<[1,2,2],f32>
  return %0 : !torch.vtensor<[1,2,2],f32>
}

// -----

// torch.clamp_max(x, 2), an integer bound: no lower bound (-inf).
// CHECK-LABEL: func.func @clamp_max
// CHECK-SAME: (%[[X:.+]]: tensor<2x2xf32>) -> tensor<2x2xf32>
// CHECK: "hardcore.activation"(%{{.*}}) {fn = "clamp", params = {max = 2.000000e+00 : f64, min = 0xFFF0000000000000 : f64}} : (tensor<4xf32>) -> tensor<4xf32>
// CHECK-NOT: torch.
func.func @clamp_max(%arg0: !torch.vtensor<[1,2,2],f32>) -> !torch.vtensor<[1,2,2],f32> {
  %int2 = torch.constant.int 2
  %0 = torch.aten.clamp_max %arg0, %int2 : !torch.vtensor<[1,2,2],f32>, !torch.int -> !torch.vtensor<[1,2,2],f32>
  return %0 : !torch.vtensor<[1,2,2],f32>
}

// -----

// LeakyReLU(0.125).
// CHECK-LABEL: func.func @leaky_relu
// CHECK-SAME: (%[[X:.+]]: tensor<2x2xf32>) -> tensor<2x2xf32>
// CHECK: "hardcore.activation"(%{{.*}}) {fn = "leaky_relu", params = {negative_slope = 1.250000e-01 : f64}} : (tensor<4xf32>) -> tensor<4xf32>
// CHECK-NOT: torch.
func.func @leaky_relu(%arg0: !torch.vtensor<[1,2,2],f32>) -> !torch.vtensor<[1,2,2],f32> {
  %float1.250000e-01 = torch.constant.float 1.250000e-01
  %0 = torch.aten.leaky_relu %arg0, %float1.250000e-01 : !torch.vtensor<[1,2,2],f32>, !torch.float -> !torch.vtensor<[1,2,2],f32>
  return %0 : !torch.vtensor<[1,2,2],f32>
}

// -----

// Hardsigmoid: no parameters.
// CHECK-LABEL: func.func @hardsigmoid
// CHECK-SAME: (%[[X:.+]]: tensor<2x2xf32>) -> tensor<2x2xf32>
// CHECK: "hardcore.activation"(%{{.*}}) {fn = "hardsigmoid", params = {}} : (tensor<4xf32>) -> tensor<4xf32>
// CHECK-NOT: torch.
func.func @hardsigmoid(%arg0: !torch.vtensor<[1,2,2],f32>) -> !torch.vtensor<[1,2,2],f32> {
  %0 = torch.aten.hardsigmoid %arg0 : !torch.vtensor<[1,2,2],f32> -> !torch.vtensor<[1,2,2],f32>
  return %0 : !torch.vtensor<[1,2,2],f32>
}

// -----

// Hardswish.
// CHECK-LABEL: func.func @hardswish
// CHECK-SAME: (%[[X:.+]]: tensor<2x2xf32>) -> tensor<2x2xf32>
// CHECK: "hardcore.activation"(%{{.*}}) {fn = "hardswish", params = {}} : (tensor<4xf32>) -> tensor<4xf32>
// CHECK-NOT: torch.
func.func @hardswish(%arg0: !torch.vtensor<[1,2,2],f32>) -> !torch.vtensor<[1,2,2],f32> {
  %0 = torch.aten.hardswish %arg0 : !torch.vtensor<[1,2,2],f32> -> !torch.vtensor<[1,2,2],f32>
  return %0 : !torch.vtensor<[1,2,2],f32>
}

// -----

// Sigmoid.
// CHECK-LABEL: func.func @sigmoid
// CHECK-SAME: (%[[X:.+]]: tensor<2x2xf32>) -> tensor<2x2xf32>
// CHECK: "hardcore.activation"(%{{.*}}) {fn = "sigmoid", params = {}} : (tensor<4xf32>) -> tensor<4xf32>
// CHECK-NOT: torch.
func.func @sigmoid(%arg0: !torch.vtensor<[1,2,2],f32>) -> !torch.vtensor<[1,2,2],f32> {
  %0 = torch.aten.sigmoid %arg0 : !torch.vtensor<[1,2,2],f32> -> !torch.vtensor<[1,2,2],f32>
  return %0 : !torch.vtensor<[1,2,2],f32>
}

// -----

// Tanh.
// CHECK-LABEL: func.func @tanh
// CHECK-SAME: (%[[X:.+]]: tensor<2x2xf32>) -> tensor<2x2xf32>
// CHECK: "hardcore.activation"(%{{.*}}) {fn = "tanh", params = {}} : (tensor<4xf32>) -> tensor<4xf32>
// CHECK-NOT: torch.
func.func @tanh(%arg0: !torch.vtensor<[1,2,2],f32>) -> !torch.vtensor<[1,2,2],f32> {
  %0 = torch.aten.tanh %arg0 : !torch.vtensor<[1,2,2],f32> -> !torch.vtensor<[1,2,2],f32>
  return %0 : !torch.vtensor<[1,2,2],f32>
}

