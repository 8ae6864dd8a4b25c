// RUN: hardcore-opt %s --split-input-file --verify-diagnostics --pass-pipeline='builtin.module(hardcore-fold-weights)'

// expected-error @+1 {{hardcore-fold-weights: a decoder step with 1 caches takes 2 + 1 arguments (token, position, caches), got 2}}
func.func @no_cache_argument(%token: tensor<1xi64>, %pos: tensor<1xi2>) -> (tensor<1x2xf32>, tensor<1x2xi4>) attributes {hardcore.decoder = {cache_axes = [0], positions = 2 : i64}} {
  %0 = "hardcore.quantize"(%token) {frac_bits = 0 : i64, min = 0 : i64, max = 2 : i64} : (tensor<1xi64>) -> tensor<1xi3>
  %x = "hardcore.embedding"(%0) {table = dense<[[[1, -2], [3, 0], [-1, 2]]]> : tensor<1x3x2xi8>} : (tensor<1xi3>) -> tensor<1x2xi4>
  %y = "hardcore.dequantize"(%x) {frac_bits = 0 : i64} : (tensor<1x2xi4>) -> tensor<1x2xf32>
  return %y, %x : tensor<1x2xf32>, tensor<1x2xi4>
}

// -----

// expected-error @+1 {{hardcore-fold-weights: expected the fresh rows as integers}}
func.func @dequantized_fresh_row(%token: tensor<1xi64>, %pos: tensor<1xi2>, %cache: tensor<2x2xi4>) -> (tensor<1x2xf32>, tensor<1x2xf32>) attributes {hardcore.decoder = {cache_axes = [0], positions = 2 : i64}} {
  %0 = "hardcore.quantize"(%token) {frac_bits = 0 : i64, min = 0 : i64, max = 2 : i64} : (tensor<1xi64>) -> tensor<1xi3>
  %x = "hardcore.embedding"(%0) {table = dense<[[[1, -2], [3, 0], [-1, 2]]]> : tensor<1x3x2xi8>} : (tensor<1xi3>) -> tensor<1x2xi4>
  %y = "hardcore.dequantize"(%x) {frac_bits = 0 : i64} : (tensor<1x2xi4>) -> tensor<1x2xf32>
  return %y, %y : tensor<1x2xf32>, tensor<1x2xf32>
}

// -----

func.func @cache_read_in_full(%token: tensor<1xi64>, %pos: tensor<1xi2>, %cache: tensor<2x2xi4>) -> (tensor<1x2xf32>, tensor<1x2xi4>) attributes {hardcore.decoder = {cache_axes = [0], positions = 2 : i64}} {
  %0 = "hardcore.quantize"(%token) {frac_bits = 0 : i64, min = 0 : i64, max = 2 : i64} : (tensor<1xi64>) -> tensor<1xi3>
  %x = "hardcore.embedding"(%0) {table = dense<[[[1, -2], [3, 0], [-1, 2]]]> : tensor<1x3x2xi8>} : (tensor<1xi3>) -> tensor<1x2xi4>
  // expected-error @+1 {{hardcore-fold-weights: cache 0 is read before an insert_row writes its fresh row}}
  %s = "hardcore.matmul"(%x, %cache) : (tensor<1x2xi4>, tensor<2x2xi4>) -> tensor<1x2xi8>
  %y = "hardcore.dequantize"(%s) {frac_bits = 0 : i64} : (tensor<1x2xi8>) -> tensor<1x2xf32>
  return %y, %x : tensor<1x2xf32>, tensor<1x2xi4>
}

// -----

// expected-error @+1 {{hardcore-fold-weights: the fresh row of cache 0 reaches [2, 6] at element 0, outside the range its cache was read at [-1, 3]}}
func.func @fresh_row_outside_the_cache(%token: tensor<1xi64>, %pos: tensor<1xi2>, %cache: tensor<2x2xi4>) -> (tensor<1x4xf32>, tensor<1x2xi4>) attributes {hardcore.decoder = {cache_axes = [0], positions = 2 : i64}} {
  %0 = "hardcore.quantize"(%token) {frac_bits = 0 : i64, min = 0 : i64, max = 2 : i64} : (tensor<1xi64>) -> tensor<1xi3>
  %x = "hardcore.embedding"(%0) {table = dense<[[[1, -2], [3, 0], [-1, 2]]]> : tensor<1x3x2xi8>} : (tensor<1xi3>) -> tensor<1x2xi4>
  %other = "hardcore.embedding"(%0) {table = dense<[[[2, 0], [6, 0], [3, 0]]]> : tensor<1x3x2xi8>} : (tensor<1xi3>) -> tensor<1x2xi4>
  %all = "hardcore.insert_row"(%cache, %x, %pos) {axis = 0 : i64} : (tensor<2x2xi4>, tensor<1x2xi4>, tensor<1xi2>) -> tensor<2x2xi4>
  %flat = "hardcore.reshape"(%all) : (tensor<2x2xi4>) -> tensor<1x4xi4>
  %y = "hardcore.dequantize"(%flat) {frac_bits = 0 : i64} : (tensor<1x4xi4>) -> tensor<1x4xf32>
  return %y, %other : tensor<1x4xf32>, tensor<1x2xi4>
}

// -----

func.func @axis_out_of_range(%token: tensor<1xi64>, %pos: tensor<1xi2>, %cache: tensor<2x2xi4>) -> (tensor<1x4xf32>, tensor<1x2xi4>) attributes {hardcore.decoder = {cache_axes = [0], positions = 2 : i64}} {
  %0 = "hardcore.quantize"(%token) {frac_bits = 0 : i64, min = 0 : i64, max = 2 : i64} : (tensor<1xi64>) -> tensor<1xi3>
  %x = "hardcore.embedding"(%0) {table = dense<[[[1, -2], [3, 0], [-1, 2]]]> : tensor<1x3x2xi8>} : (tensor<1xi3>) -> tensor<1x2xi4>
  // expected-error @+1 {{hardcore-fold-weights: axis 2 is not an axis of the cache's shape [2, 2]}}
  %all = "hardcore.insert_row"(%cache, %x, %pos) {axis = 2 : i64} : (tensor<2x2xi4>, tensor<1x2xi4>, tensor<1xi2>) -> tensor<2x2xi4>
  %flat = "hardcore.reshape"(%all) : (tensor<2x2xi4>) -> tensor<1x4xi4>
  %y = "hardcore.dequantize"(%flat) {frac_bits = 0 : i64} : (tensor<1x4xi4>) -> tensor<1x4xf32>
  return %y, %x : tensor<1x4xf32>, tensor<1x2xi4>
}
