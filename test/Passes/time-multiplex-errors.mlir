// RUN: hardcore-opt %s --split-input-file --verify-diagnostics --pass-pipeline='builtin.module(hardcore-time-multiplex{reuse=2})'

// expected-error @+1 {{hardcore-time-multiplex: expected a quantized function of one argument starting with hardcore.quantize (run hardcore-quantize first)}}
func.func @float_layers(%arg0: tensor<2xf32>) -> tensor<2xf32> {
  %0 = "hardcore.relu"(%arg0) : (tensor<2xf32>) -> tensor<2xf32>
  return %0 : tensor<2xf32>
}

// -----

func.func @argmax_output(%arg0: tensor<2xf32>) -> tensor<1xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 0 : i64, min = -4 : i64, max = 3 : i64} : (tensor<2xf32>) -> tensor<2xi3>
  %1 = "hardcore.dense"(%0) {bias = dense<[0, 0]> : tensor<2xi64>, weight = dense<[[1, 2], [3, 4]]> : tensor<2x2xi8>} : (tensor<2xi3>) -> tensor<2xi6>
  // expected-error @+1 {{hardcore-time-multiplex: cannot time-multiplex 'hardcore.argmax' (only a chain of dense layers with relu and requant)}}
  %2 = "hardcore.argmax"(%1) : (tensor<2xi6>) -> tensor<1xi2>
  %3 = "hardcore.dequantize"(%2) {frac_bits = 0 : i64} : (tensor<1xi2>) -> tensor<1xf32>
  return %3 : tensor<1xf32>
}

// -----

func.func @dense_over_rows(%arg0: tensor<2x2xf32>) -> tensor<2x1xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 0 : i64, min = -4 : i64, max = 3 : i64} : (tensor<2x2xf32>) -> tensor<2x2xi3>
  // expected-error @+1 {{hardcore-time-multiplex: cannot time-multiplex a dense layer over rows of its input (only a vector)}}
  %1 = "hardcore.dense"(%0) {bias = dense<[0]> : tensor<1xi64>, weight = dense<[[1, 2]]> : tensor<1x2xi8>} : (tensor<2x2xi3>) -> tensor<2x1xi6>
  %2 = "hardcore.dequantize"(%1) {frac_bits = 0 : i64} : (tensor<2x1xi6>) -> tensor<2x1xf32>
  return %2 : tensor<2x1xf32>
}

// -----

func.func @residual_add(%arg0: tensor<2xf32>) -> tensor<2xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 0 : i64, min = -4 : i64, max = 3 : i64} : (tensor<2xf32>) -> tensor<2xi3>
  %1 = "hardcore.dense"(%0) {bias = dense<[0, 0]> : tensor<2xi64>, weight = dense<[[1, 2], [3, 4]]> : tensor<2x2xi8>} : (tensor<2xi3>) -> tensor<2xi6>
  // expected-error @+1 {{hardcore-time-multiplex: cannot time-multiplex 'hardcore.add_tensors' (only a chain of dense layers with relu and requant)}}
  %2 = "hardcore.add_tensors"(%1, %0) {lhs_shift = 0 : i64, rhs_shift = 0 : i64} : (tensor<2xi6>, tensor<2xi3>) -> tensor<2xi7>
  %3 = "hardcore.dequantize"(%2) {frac_bits = 0 : i64} : (tensor<2xi7>) -> tensor<2xf32>
  return %3 : tensor<2xf32>
}

// -----

func.func @relu_first(%arg0: tensor<2xf32>) -> tensor<2xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 0 : i64, min = -4 : i64, max = 3 : i64} : (tensor<2xf32>) -> tensor<2xi3>
  // expected-error @+1 {{hardcore-time-multiplex: 'hardcore.relu' before the first dense layer}}
  %1 = "hardcore.relu"(%0) : (tensor<2xi3>) -> tensor<2xi3>
  %2 = "hardcore.dense"(%1) {bias = dense<[0, 0]> : tensor<2xi64>, weight = dense<[[1, 2], [3, 4]]> : tensor<2x2xi8>} : (tensor<2xi3>) -> tensor<2xi6>
  %3 = "hardcore.dequantize"(%2) {frac_bits = 0 : i64} : (tensor<2xi6>) -> tensor<2xf32>
  return %3 : tensor<2xf32>
}

// -----

// expected-error @+1 {{hardcore-time-multiplex: no dense layer to time-multiplex}}
func.func @no_layer(%arg0: tensor<2xf32>) -> tensor<2xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 0 : i64, min = -4 : i64, max = 3 : i64} : (tensor<2xf32>) -> tensor<2xi3>
  %1 = "hardcore.dequantize"(%0) {frac_bits = 0 : i64} : (tensor<2xi3>) -> tensor<2xf32>
  return %1 : tensor<2xf32>
}
