// RUN: hardcore-opt %s --split-input-file --verify-diagnostics --pass-pipeline='builtin.module(hardcore-to-hw)'

// expected-error @+1 {{hardcore-to-hw: a decoder step is combinational (its caches take the fresh rows the next clock): it cannot be pipelined}}
func.func @pipelined(%x: tensor<1xi3>, %pos: tensor<1xi2>) -> tensor<1xi3> attributes {hardcore.decoder = {cache_axes = [], positions = 2 : i64}, hardcore.latency = 1 : i64, hardcore.clock_enable = false} {
  %t = "hardcore.extract"(%x) {index = 0 : i64} : (tensor<1xi3>) -> i3
  %r = "hardcore.reg"(%t) : (i3) -> i3
  %y = "hardcore.pack"(%r) : (i3) -> tensor<1xi3>
  return %y : tensor<1xi3>
}

// -----

// expected-error @+1 {{hardcore-to-hw: a decoder step with 0 caches has 1 or 2 results, got 3}}
func.func @results(%x: tensor<1xi3>, %pos: tensor<1xi2>) -> (tensor<1xi3>, tensor<1xi3>, tensor<1xi3>) attributes {hardcore.decoder = {cache_axes = [], positions = 2 : i64}} {
  %t = "hardcore.extract"(%x) {index = 0 : i64} : (tensor<1xi3>) -> i3
  %y = "hardcore.pack"(%t) : (i3) -> tensor<1xi3>
  return %y, %y, %y : tensor<1xi3>, tensor<1xi3>, tensor<1xi3>
}
