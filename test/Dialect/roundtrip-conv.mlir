// The convolution op parses, verifies and prints back, float and integer, in
// hardcore-opt and in any MLIR tool that loads the IRDL file.
// RUN: hardcore-opt %s | hardcore-opt | filecheck %s
// RUN: torch-mlir-opt --irdl-file=%irdl %s | torch-mlir-opt --irdl-file=%irdl | filecheck %s

// A float 3x3 convolution 1 -> 2 channels, padding 1, 4x4 -> 4x4.
// CHECK-LABEL: func.func @conv_float
// CHECK: "hardcore.conv"(%{{.*}}) {bias = dense<[5.000000e-01, -1.000000e+00]> : tensor<2xf32>, dilation = dense<1> : tensor<2xi64>, groups = 1 : i64, padding = dense<1> : tensor<2xi64>, stride = dense<1> : tensor<2xi64>, weight = dense<2.500000e-01> : tensor<2x1x3x3xf32>} : (tensor<1x4x4xf32>) -> tensor<2x4x4xf32>
func.func @conv_float(%x: tensor<1x4x4xf32>) -> tensor<2x4x4xf32> {
  %y = "hardcore.conv"(%x) {weight = dense<0.25> : tensor<2x1x3x3xf32>, bias = dense<[0.5, -1.0]> : tensor<2xf32>,
                            stride = dense<[1, 1]> : tensor<2xi64>, padding = dense<[1, 1]> : tensor<2xi64>,
                            dilation = dense<[1, 1]> : tensor<2xi64>, groups = 1 : i64}
       : (tensor<1x4x4xf32>) -> tensor<2x4x4xf32>
  return %y : tensor<2x4x4xf32>
}

// An integer depthwise 2x2 convolution, stride 2, dilation [1, 2], with the
// hardcore.kind and hardcore.window a quantized average pool carries.
// CHECK-LABEL: func.func @conv_integer_depthwise
// CHECK: "hardcore.conv"(%{{.*}}) {bias = dense<0> : tensor<2xi64>, dilation = dense<[1, 2]> : tensor<2xi64>, groups = 2 : i64, hardcore.kind = "avgpool", hardcore.window = {ceil_mode = 0 : i64, dilation = dense<1> : tensor<2xi64>, kernel = dense<2> : tensor<2xi64>, padding = dense<0> : tensor<2xi64>, stride = dense<2> : tensor<2xi64>}, padding = dense<0> : tensor<2xi64>, stride = dense<2> : tensor<2xi64>, weight = dense<{{\[\[\[\[}}1, -2], [3, 4]]], {{\[\[\[}}5, 6], [7, -8]]]]> : tensor<2x1x2x2xi8>} : (tensor<2x4x6xi8>) -> tensor<2x2x2xi32>
func.func @conv_integer_depthwise(%x: tensor<2x4x6xi8>) -> tensor<2x2x2xi32> {
  %y = "hardcore.conv"(%x) {weight = dense<[[[[1, -2], [3, 4]]], [[[5, 6], [7, -8]]]]> : tensor<2x1x2x2xi8>,
                            bias = dense<0> : tensor<2xi64>, stride = dense<[2, 2]> : tensor<2xi64>,
                            padding = dense<[0, 0]> : tensor<2xi64>, dilation = dense<[1, 2]> : tensor<2xi64>,
                            groups = 2 : i64, hardcore.kind = "avgpool",
                            hardcore.window = {kernel = dense<[2, 2]> : tensor<2xi64>, stride = dense<[2, 2]> : tensor<2xi64>,
                                               padding = dense<[0, 0]> : tensor<2xi64>, dilation = dense<[1, 1]> : tensor<2xi64>,
                                               ceil_mode = 0 : i64}}
       : (tensor<2x4x6xi8>) -> tensor<2x2x2xi32>
  return %y : tensor<2x2x2xi32>
}
