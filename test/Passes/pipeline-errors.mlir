// RUN: hardcore-opt %s --split-input-file --verify-diagnostics --pass-pipeline='builtin.module(hardcore-pipeline)'
// RUN: not hardcore-opt %s --pass-pipeline='builtin.module(hardcore-pipeline{max-adder-depth=0})' 2>&1 | filecheck %s --check-prefix=DEPTH
// RUN: not hardcore-opt %s --pass-pipeline='builtin.module(hardcore-pipeline{clock-enable=maybe})' 2>&1 | filecheck %s --check-prefix=BOOL

// DEPTH: hardcore-opt: error: hardcore-pipeline: max-adder-depth must be at least 1, got 0
// BOOL: hardcore-opt: error: hardcore-pipeline: option 'clock-enable' expects bool, got 'maybe'

// expected-error @+1 {{hardcore-pipeline: expected a scalar DAG (run hardcore-fold-weights first)}}
func.func @layers(%arg0: tensor<2xf32>) -> tensor<2xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 4 : i64, min = -128 : i64, max = 127 : i64} : (tensor<2xf32>) -> tensor<2xi8>
  %1 = "hardcore.dequantize"(%0) {frac_bits = 4 : i64} : (tensor<2xi8>) -> tensor<2xf32>
  return %1 : tensor<2xf32>
}

// -----

// expected-error @+1 {{hardcore-pipeline: the function is already pipelined}}
func.func @twice(%arg0: tensor<1xi8>) -> tensor<1xi8> attributes {hardcore.latency = 1 : i64} {
  %0 = "hardcore.extract"(%arg0) {index = 0 : i64} : (tensor<1xi8>) -> i8
  %1 = "hardcore.reg"(%0) : (i8) -> i8
  %2 = "hardcore.pack"(%1) : (i8) -> tensor<1xi8>
  return %2 : tensor<1xi8>
}

// -----

// expected-error @+1 {{hardcore-pipeline: a decoder step stays combinational (the next step reads its fresh cache rows the next clock)}}
func.func @decoder_step(%x: tensor<1xi3>, %pos: tensor<1xi2>) -> tensor<1xi3> attributes {hardcore.decoder = {cache_axes = [], positions = 2 : i64}} {
  %t = "hardcore.extract"(%x) {index = 0 : i64} : (tensor<1xi3>) -> i3
  %y = "hardcore.pack"(%t) : (i3) -> tensor<1xi3>
  return %y : tensor<1xi3>
}
