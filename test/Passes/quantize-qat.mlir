// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-quantize)' | filecheck %s
// RUN: hardcore-opt %s --split-input-file --verify-diagnostics --pass-pipeline='builtin.module(hardcore-quantize{config=%S/Inputs/layer0-weight-bits.json})' -o /dev/null

// A quantization-aware trained model brings its scales: the input's fake_quant
// (through the import's reshape) sets the hardcore.quantize (4 frac bits, not the 5
// the calibration gives); the weights are the codes at hardcore.weight_frac_bits
// (row 0: 7, row 1: 5; 0.5 -> 64, -0.25 -> -8; bias 0.0625 -> 32 at 4 + 5); the fake_quant after the ReLU sets
// the requantization: shift 4 + fw - 3 per row, unsigned [0, 255] at 3 frac bits.
// The last fake_quant (after a reshape, not a layer) is a requant of its own.
// CHECK-LABEL: func.func @qat
// CHECK: %[[Q:.+]] = "hardcore.quantize"(%arg0) {frac_bits = 4 : i64, max = 127 : i64, min = -128 : i64} : (tensor<2x2xf32>) -> tensor<2x2xi8>
// CHECK: %[[F:.+]] = "hardcore.reshape"(%[[Q]]) : (tensor<2x2xi8>) -> tensor<4xi8>
// CHECK: %[[D:.+]] = "hardcore.dense"(%[[F]]) {bias = dense<[0, 32]> : tensor<2xi64>, hardcore.kind = "linear 4->2", weight = dense<{{\[\[}}64, 0, -32, 1], [-8, 3, 0, 0]]> : tensor<2x4xi8>} : (tensor<4xi8>) -> tensor<2xi32>
// CHECK: %[[R:.+]] = "hardcore.relu"(%[[D]])
// CHECK: %[[S:.+]] = "hardcore.requant"(%[[R]]) {max = 255 : i64, min = 0 : i64, shift = dense<[8, 6]> : tensor<2xi64>} : (tensor<2xi32>) -> tensor<2xi9>
// CHECK: %[[S2:.+]] = "hardcore.reshape"(%[[S]])
// CHECK: %[[S3:.+]] = "hardcore.requant"(%[[S2]]) {max = 15 : i64, min = -16 : i64, shift = 2 : i64} : (tensor<2x1xi9>) -> tensor<2x1xi5>
// CHECK: "hardcore.dequantize"(%[[S3]]) {frac_bits = 1 : i64}
func.func @qat(%arg0: tensor<2x2xf32>) -> tensor<2x1xf32> {
  %0 = "hardcore.reshape"(%arg0) : (tensor<2x2xf32>) -> tensor<4xf32>
  %1 = "hardcore.activation"(%0) {fn = "fake_quant", params = {frac_bits = 4.0 : f64, min = -128.0 : f64, max = 127.0 : f64}} : (tensor<4xf32>) -> tensor<4xf32>
  // expected-error @+1 {{hardcore-quantize: the quantization config sets weight_bits of layer 0, whose weights the model fake-quantizes (QAT sets them)}}
  %2 = "hardcore.dense"(%1) {weight = dense<[[0.5, 0.0, -0.25, 0.0078125], [-0.25, 0.09375, 0.0, 0.0]]> : tensor<2x4xf32>, bias = dense<[0.0, 0.0625]> : tensor<2xf32>, hardcore.kind = "linear 4->2", hardcore.weight_frac_bits = dense<[7, 5]> : tensor<2xi64>, hardcore.weight_min = -128 : i64, hardcore.weight_max = 127 : i64} : (tensor<4xf32>) -> tensor<2xf32>
  %3 = "hardcore.relu"(%2) : (tensor<2xf32>) -> tensor<2xf32>
  %4 = "hardcore.activation"(%3) {fn = "fake_quant", params = {frac_bits = 3.0 : f64, min = 0.0 : f64, max = 255.0 : f64}} : (tensor<2xf32>) -> tensor<2xf32>
  %5 = "hardcore.reshape"(%4) : (tensor<2xf32>) -> tensor<2x1xf32>
  %6 = "hardcore.activation"(%5) {fn = "fake_quant", params = {frac_bits = 1.0 : f64, min = -16.0 : f64, max = 15.0 : f64}} : (tensor<2x1xf32>) -> tensor<2x1xf32>
  return %6 : tensor<2x1xf32>
}
