// RUN: hardcore-opt %s --split-input-file --verify-diagnostics --pass-pipeline='builtin.module(hardcore-fold-weights)'

// An argmax (output=argmax: an unsigned index) only as a model's one result.
// expected-error @+1 {{hardcore-fold-weights: an argmax result (output=argmax) is supported only as a model's one result}}
func.func @argmax_of_two_results(%arg0: tensor<2xf32>) -> (tensor<2xf32>, tensor<1xf32>) {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 5 : i64, max = 127 : i64, min = -128 : i64} : (tensor<2xf32>) -> tensor<2xi8>
  %1 = "hardcore.argmax"(%0) : (tensor<2xi8>) -> tensor<1xi2>
  %2 = "hardcore.dequantize"(%0) {frac_bits = 5 : i64} : (tensor<2xi8>) -> tensor<2xf32>
  %3 = "hardcore.dequantize"(%1) {frac_bits = 0 : i64} : (tensor<1xi2>) -> tensor<1xf32>
  return %2, %3 : tensor<2xf32>, tensor<1xf32>
}

// -----

// Every argument of a model (not a decoder step) is quantized first.
// expected-error @+1 {{hardcore-fold-weights: expected a hardcore.quantize of each of the 2 arguments and a hardcore.dequantize for each result (only a decoder step, hardcore.decoder, has integer arguments and results)}}
func.func @second_argument_not_quantized(%arg0: tensor<2xf32>, %arg1: tensor<2xi8>) -> tensor<2xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 5 : i64, max = 127 : i64, min = -128 : i64} : (tensor<2xf32>) -> tensor<2xi8>
  %1 = "hardcore.dequantize"(%0) {frac_bits = 5 : i64} : (tensor<2xi8>) -> tensor<2xf32>
  return %1 : tensor<2xf32>
}
