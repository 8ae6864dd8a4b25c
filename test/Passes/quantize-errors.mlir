// RUN: hardcore-opt %s --split-input-file --verify-diagnostics --pass-pipeline='builtin.module(hardcore-quantize)'
// RUN: not hardcore-opt %s --pass-pipeline='builtin.module(hardcore-quantize{weight-bits=1})' 2>&1 | filecheck %s --check-prefix=BITS
// RUN: not hardcore-opt %s --pass-pipeline='builtin.module(hardcore-quantize{bits=8})' 2>&1 | filecheck %s --check-prefix=OPTION
// RUN: not hardcore-opt %s --pass-pipeline='builtin.module(hardcore-quantize{calibration=%t.missing.npy})' 2>&1 | filecheck %s --check-prefix=CALIB

// BITS: hardcore-opt: error: hardcore-quantize: weight-bits must be between 2 and 16, got 1
// OPTION: hardcore-opt: error: hardcore-quantize: unknown option 'bits' (options: weight-bits, act-bits, calibration, weight-scale, config, act-percentile, table-codes)
// CALIB: hardcore-opt: error: hardcore-quantize: cannot read calibration file '{{.*}}.missing.npy'

func.func @torch_left(%arg0: tensor<2xf32>) -> tensor<2xf32> {
  // expected-error @+1 {{hardcore-quantize: cannot quantize 'hardcore.dequantize' (run hardcore-import first)}}
  %0 = "hardcore.dequantize"(%arg0) {frac_bits = 1 : i64} : (tensor<2xf32>) -> tensor<2xf32>
  return %0 : tensor<2xf32>
}

// -----

func.func @unknown_activation(%arg0: tensor<2xf32>) -> tensor<2xf32> {
  // expected-error @+1 {{hardcore-quantize: unknown activation 'mish' (one of: clamp, elu, fake_quant, gelu, gelu_tanh, hardsigmoid, hardswish, leaky_relu, sigmoid, silu, softplus, tanh, threshold)}}
  %0 = "hardcore.activation"(%arg0) {fn = "mish", params = {}} : (tensor<2xf32>) -> tensor<2xf32>
  return %0 : tensor<2xf32>
}

// -----

func.func @activation_parameters(%arg0: tensor<2xf32>) -> tensor<2xf32> {
  // expected-error @+1 {{hardcore-quantize: activation 'leaky_relu' takes the parameters [negative_slope], got [slope]}}
  %0 = "hardcore.activation"(%arg0) {fn = "leaky_relu", params = {slope = 0.1 : f64}} : (tensor<2xf32>) -> tensor<2xf32>
  return %0 : tensor<2xf32>
}
