// RUN: echo '{"layers": {"0": {"act_bits": 14}}}' > %t.wide.json
// RUN: hardcore-opt %s --split-input-file --verify-diagnostics --pass-pipeline='builtin.module(hardcore-quantize{config=%t.wide.json})'

// Layer 0 of each function has 14 act-bits (the config), the rest 8.

func.func @token_ids_read_by_a_dense(%arg0: tensor<2xi64>) -> tensor<2xf32> {
  // expected-error @+1 {{hardcore-quantize: the token input (tensor<2xi64>) is read by 'hardcore.dense'; only a 'hardcore.embedding' reads token ids}}
  %0 = "hardcore.dense"(%arg0) {weight = dense<[[1.0, 0.5], [0.25, 1.0]]> : tensor<2x2xf32>, bias = dense<0.0> : tensor<2xf32>} : (tensor<2xi64>) -> tensor<2xf32>
  return %0 : tensor<2xf32>
}

// -----

func.func @embedding_of_floats(%arg0: tensor<2xf32>) -> tensor<2x1xf32> {
  // expected-error @+1 {{hardcore-quantize: an embedding reads token ids: its operand must be the model's integer input or an argmax}}
  %0 = "hardcore.embedding"(%arg0) {table = dense<[[[1.0], [-1.0]]]> : tensor<1x2x1xf32>} : (tensor<2xf32>) -> tensor<2x1xf32>
  return %0 : tensor<2x1xf32>
}

// -----

func.func @softmax_scale(%arg0: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{hardcore-quantize: a softmax's scale must be a positive number, got -0.5}}
  %0 = "hardcore.softmax"(%arg0) {scale = -0.5 : f64, causal = 0 : i64} : (tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// The product has 14 act-bits: differences down to -16383 at 2^-9, where
// exp(0.01 d 2^-9) * 2^f_e stays above 1/2 all the way.
func.func @softmax_exp_table_too_large(%arg0: tensor<2x2xf32>) -> tensor<2x2xf32> {
  %0 = "hardcore.matmul"(%arg0, %arg0) : (tensor<2x2xf32>, tensor<2x2xf32>) -> tensor<2x2xf32>
  // expected-error @+1 {{hardcore-quantize: the softmax's exp table on inputs [-8192, 8191] at 2^-9 would have 16384 entries, more than the 4096 a table may hold (fewer act-bits before it)}}
  %1 = "hardcore.softmax"(%0) {scale = 0.01 : f64, causal = 0 : i64} : (tensor<2x2xf32>) -> tensor<2x2xf32>
  return %1 : tensor<2x2xf32>
}

// -----

func.func @layernorm_eps(%arg0: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{hardcore-quantize: a layer norm's eps must be a number >= 0, got -1}}
  %0 = "hardcore.layernorm"(%arg0) {eps = -1.0 : f64, rms = 0 : i64} : (tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

// 14 act-bits: up to 2^16 entries (32805 for the calibration's largest sum of squares).
func.func @layernorm_table_too_large(%arg0: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{hardcore-quantize: the layer norm's inverse square-root table would have 32805 entries, more than the 4096 a table may hold (act-bits 10 at most)}}
  %0 = "hardcore.layernorm"(%arg0) {eps = 1.0e-05 : f64, rms = 0 : i64} : (tensor<4xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}
