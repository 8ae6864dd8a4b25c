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


// -----

// nn.ELU(0.5): an "elu" with aten.elu's three parameters (nn.ELU's scale and
// input_scale are 1).
// CHECK-LABEL: func.func @elu
// CHECK: "hardcore.activation"(%{{.*}}) {fn = "elu", params = {alpha = 5.000000e-01 : f64, input_scale = 1.000000e+00 : f64, scale = 1.000000e+00 : f64}} : (tensor<4xf32>) -> tensor<4xf32>
// CHECK-NOT: torch.
func.func @elu(%arg0: !torch.vtensor<[1,2,2],f32>) -> !torch.vtensor<[1,2,2],f32> {
  %float5.000000e-01 = torch.constant.float 5.000000e-01
  %int1 = torch.constant.int 1
  %0 = torch.aten.elu %arg0, %float5.000000e-01, %int1, %int1 : !torch.vtensor<[1,2,2],f32>, !torch.float, !torch.int, !torch.int -> !torch.vtensor<[1,2,2],f32>
  return %0 : !torch.vtensor<[1,2,2],f32>
}

// -----

// nn.Threshold(0.25, -1): x > 0.25 ? x : -1.
// CHECK-LABEL: func.func @threshold
// CHECK: "hardcore.activation"(%{{.*}}) {fn = "threshold", params = {threshold = 2.500000e-01 : f64, value = -1.000000e+00 : f64}} : (tensor<4xf32>) -> tensor<4xf32>
// CHECK-NOT: torch.
func.func @threshold(%arg0: !torch.vtensor<[1,2,2],f32>) -> !torch.vtensor<[1,2,2],f32> {
  %float2.500000e-01 = torch.constant.float 2.500000e-01
  %float-1.000000e00 = torch.constant.float -1.000000e+00
  %0 = torch.aten.threshold %arg0, %float2.500000e-01, %float-1.000000e00 : !torch.vtensor<[1,2,2],f32>, !torch.float, !torch.float -> !torch.vtensor<[1,2,2],f32>
  return %0 : !torch.vtensor<[1,2,2],f32>
}

// -----

// nn.Softplus(beta=2, threshold=10).
// CHECK-LABEL: func.func @softplus
// CHECK: "hardcore.activation"(%{{.*}}) {fn = "softplus", params = {beta = 2.000000e+00 : f64, threshold = 1.000000e+01 : f64}} : (tensor<4xf32>) -> tensor<4xf32>
// CHECK-NOT: torch.
func.func @softplus(%arg0: !torch.vtensor<[1,2,2],f32>) -> !torch.vtensor<[1,2,2],f32> {
  %float2.000000e00 = torch.constant.float 2.000000e+00
  %float1.000000e01 = torch.constant.float 1.000000e+01
  %0 = torch.aten.softplus %arg0, %float2.000000e00, %float1.000000e01 : !torch.vtensor<[1,2,2],f32>, !torch.float, !torch.float -> !torch.vtensor<[1,2,2],f32>
  return %0 : !torch.vtensor<[1,2,2],f32>
}

// -----

// nn.PReLU() (one slope): a leaky_relu of that slope.
// CHECK-LABEL: func.func @prelu_one
// CHECK: "hardcore.activation"(%{{.*}}) {fn = "leaky_relu", params = {negative_slope = 1.250000e-01 : f64}} : (tensor<4xf32>) -> tensor<4xf32>
// CHECK-NOT: torch.
func.func @prelu_one(%arg0: !torch.vtensor<[1,2,2],f32>) -> !torch.vtensor<[1,2,2],f32> {
  %0 = torch.vtensor.literal(dense<1.250000e-01> : tensor<1xf32>) : !torch.vtensor<[1],f32>
  %1 = torch.aten.prelu %arg0, %0 : !torch.vtensor<[1,2,2],f32>, !torch.vtensor<[1],f32> -> !torch.vtensor<[1,2,2],f32>
  return %1 : !torch.vtensor<[1,2,2],f32>
}

// -----

// nn.PReLU(3) with slopes 0.25, 0.5, 0.25 on 3 channels of 2: the elements of
// channels 0 and 2 gathered into one leaky_relu, those of channel 1 into the
// other, the two joined and gathered back into the channels' order.
// CHECK-LABEL: func.func @prelu_channels
// CHECK-SAME: (%[[X:.+]]: tensor<3x2xf32>) -> tensor<3x2xf32>
// CHECK: %[[F:.+]] = "hardcore.reshape"(%[[X]]) : (tensor<3x2xf32>) -> tensor<6xf32>
// CHECK: %[[G0:.+]] = "hardcore.gather"(%[[F]]) {indices = dense<[0, 1, 4, 5]> : tensor<4xi64>} : (tensor<6xf32>) -> tensor<4xf32>
// CHECK: %[[A0:.+]] = "hardcore.activation"(%[[G0]]) {fn = "leaky_relu", params = {negative_slope = 2.500000e-01 : f64}}
// CHECK: %[[G1:.+]] = "hardcore.gather"(%[[F]]) {indices = dense<[2, 3]> : tensor<2xi64>} : (tensor<6xf32>) -> tensor<2xf32>
// CHECK: %[[A1:.+]] = "hardcore.activation"(%[[G1]]) {fn = "leaky_relu", params = {negative_slope = 5.000000e-01 : f64}}
// CHECK: %[[J:.+]] = "hardcore.concat"(%[[A0]], %[[A1]]) {dim = 0 : i64} : (tensor<4xf32>, tensor<2xf32>) -> tensor<6xf32>
// CHECK: %[[B:.+]] = "hardcore.gather"(%[[J]]) {indices = dense<[0, 1, 4, 5, 2, 3]> : tensor<6xi64>} : (tensor<6xf32>) -> tensor<6xf32>
// CHECK: %[[R:.+]] = "hardcore.reshape"(%[[B]]) : (tensor<6xf32>) -> tensor<3x2xf32>
// CHECK: return %[[R]]
func.func @prelu_channels(%arg0: !torch.vtensor<[1,3,2],f32>) -> !torch.vtensor<[1,3,2],f32> {
  %0 = torch.vtensor.literal(dense<[2.500000e-01, 5.000000e-01, 2.500000e-01]> : tensor<3xf32>) : !torch.vtensor<[3],f32>
  %1 = torch.aten.prelu %arg0, %0 : !torch.vtensor<[1,3,2],f32>, !torch.vtensor<[3],f32> -> !torch.vtensor<[1,3,2],f32>
  return %1 : !torch.vtensor<[1,3,2],f32>
}
