// RUN: hardcore-opt %s --split-input-file --verify-diagnostics --pass-pipeline='builtin.module(hardcore-quantize)'

// A conv with fake-quantized weights (QAT) whose weights are not the codes at its frac bits.
func.func @qat_conv_weights_not_codes(%x: tensor<1x3x3xf32>) -> tensor<1x2x2xf32> {
  // expected-error @+1 {{hardcore-quantize: the weights are not the codes in [-128, 127] at the frac bits 'hardcore.weight_frac_bits' gives}}
  %c = "hardcore.conv"(%x) {weight = dense<[[[[0.5, 0.3], [0.25, 1.0]]]]> : tensor<1x1x2x2xf32>,
                            bias = dense<0.0> : tensor<1xf32>, stride = dense<[1, 1]> : tensor<2xi64>,
                            padding = dense<[0, 0]> : tensor<2xi64>, dilation = dense<[1, 1]> : tensor<2xi64>,
                            groups = 1 : i64, hardcore.weight_frac_bits = dense<2> : tensor<1xi64>,
                            hardcore.weight_min = -128 : i64, hardcore.weight_max = 127 : i64}
       : (tensor<1x3x3xf32>) -> tensor<1x2x2xf32>
  return %c : tensor<1x2x2xf32>
}
