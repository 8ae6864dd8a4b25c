// RUN: hardcore-opt %s --verify-diagnostics --pass-pipeline='builtin.module(hardcore-fold-weights)'

// A quantized `hardcore.conv` (stream=true) is hardcore-stream's to fold.
func.func @conv_is_streamed(%x: tensor<1x3x3xf32>) -> tensor<1x2x2xf32> {
  %q = "hardcore.quantize"(%x) {frac_bits = 4 : i64, min = -128 : i64, max = 127 : i64} : (tensor<1x3x3xf32>) -> tensor<1x3x3xi8>
  // expected-error @+1 {{hardcore-fold-weights: hardcore.conv is folded by hardcore-stream (compile with stream=True); the fully parallel path unrolls convolutions at import}}
  %c = "hardcore.conv"(%q) {weight = dense<1> : tensor<1x1x2x2xi8>, bias = dense<0> : tensor<1xi64>,
                            stride = dense<[1, 1]> : tensor<2xi64>, padding = dense<[0, 0]> : tensor<2xi64>,
                            dilation = dense<[1, 1]> : tensor<2xi64>, groups = 1 : i64}
       : (tensor<1x3x3xi8>) -> tensor<1x2x2xi10>
  %d = "hardcore.dequantize"(%c) {frac_bits = 4 : i64} : (tensor<1x2x2xi10>) -> tensor<1x2x2xf32>
  return %d : tensor<1x2x2xf32>
}
