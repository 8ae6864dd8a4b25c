// RUN: hardcore-opt %s --split-input-file --verify-diagnostics --pass-pipeline='builtin.module(hardcore-stream{max-line-buffer-bits=4000})'

// expected-error @+1 {{hardcore-stream: expected a quantized function of one argument starting with hardcore.quantize (run hardcore-quantize first)}}
func.func @float_layers(%arg0: tensor<2xf32>) -> tensor<2xf32> {
  %0 = "hardcore.relu"(%arg0) : (tensor<2xf32>) -> tensor<2xf32>
  return %0 : tensor<2xf32>
}

// -----

func.func @not_an_image(%arg0: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{hardcore-stream: a streamed input is one image C x H x W, got a tensor of shape [4]}}
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 0 : i64, min = -8 : i64, max = 7 : i64} : (tensor<4xf32>) -> tensor<4xi4>
  %1 = "hardcore.dequantize"(%0) {frac_bits = 0 : i64} : (tensor<4xi4>) -> tensor<4xf32>
  return %1 : tensor<4xf32>
}

// -----

func.func @unstreamable_op(%arg0: tensor<1x2x2xf32>) -> tensor<1x2x2xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 0 : i64, min = -8 : i64, max = 7 : i64} : (tensor<1x2x2xf32>) -> tensor<1x2x2xi4>
  // expected-error @+1 {{hardcore-stream: cannot stream 'hardcore.mul_tensors' (convolutions, max pools, residual adds, their relu/requant/lut, and a flatten or global average pool into dense layers)}}
  %1 = "hardcore.mul_tensors"(%0, %0) : (tensor<1x2x2xi4>, tensor<1x2x2xi4>) -> tensor<1x2x2xi8>
  %2 = "hardcore.dequantize"(%1) {frac_bits = 0 : i64} : (tensor<1x2x2xi8>) -> tensor<1x2x2xf32>
  return %2 : tensor<1x2x2xf32>
}

// -----

func.func @pool_without_geometry(%arg0: tensor<1x2x2xf32>) -> tensor<1x1x1xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 0 : i64, min = -8 : i64, max = 7 : i64} : (tensor<1x2x2xf32>) -> tensor<1x2x2xi4>
  // expected-error @+1 {{hardcore-stream: a max pool without its geometry 'hardcore.window' cannot stream (import with stream=true)}}
  %1 = "hardcore.maxpool"(%0) {windows = dense<[[0, 1, 2, 3]]> : tensor<1x4xi64>} : (tensor<1x2x2xi4>) -> tensor<1x1x1xi4>
  %2 = "hardcore.dequantize"(%1) {frac_bits = 0 : i64} : (tensor<1x1x1xi4>) -> tensor<1x1x1xf32>
  return %2 : tensor<1x1x1xf32>
}

// -----

func.func @ceil_mode(%arg0: tensor<1x3x3xf32>) -> tensor<1x2x2xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 0 : i64, min = -8 : i64, max = 7 : i64} : (tensor<1x3x3xf32>) -> tensor<1x3x3xi4>
  // expected-error @+1 {{hardcore-stream: its output 2x2 is not the 1x1 its kernel, stride, padding and dilation give (ceil_mode does not stream)}}
  %1 = "hardcore.maxpool"(%0) {windows = dense<[[0, 1, 3, 4], [2, -1, 5, -1], [6, 7, -1, -1], [8, -1, -1, -1]]> : tensor<4x4xi64>, hardcore.window = {kernel = dense<2> : tensor<2xi64>, stride = dense<2> : tensor<2xi64>, ceil_mode = 1 : i64}} : (tensor<1x3x3xi4>) -> tensor<1x2x2xi4>
  %2 = "hardcore.dequantize"(%1) {frac_bits = 0 : i64} : (tensor<1x2x2xi4>) -> tensor<1x2x2xf32>
  return %2 : tensor<1x2x2xf32>
}

// -----

// An image too large for the line-buffer budget (here 4000 bits): 3 x 3 taps
// over 200 + 2 columns of 8 channels of 4 bits need (2 * 202 + 3) * 32 = 13024 bits.
// expected-error @+1 {{hardcore-stream: the line buffers need 13024 bits, more than max-line-buffer-bits=4000 (an image this large does not stream here)}}
func.func @too_wide(%arg0: tensor<8x4x200xf32>) -> tensor<1x4x200xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 0 : i64, min = -8 : i64, max = 7 : i64} : (tensor<8x4x200xf32>) -> tensor<8x4x200xi4>
  %1 = "hardcore.conv"(%0) {weight = dense<1> : tensor<1x8x3x3xi8>, bias = dense<0> : tensor<1xi64>, stride = dense<1> : tensor<2xi64>, padding = dense<1> : tensor<2xi64>, dilation = dense<1> : tensor<2xi64>, groups = 1 : i64} : (tensor<8x4x200xi4>) -> tensor<1x4x200xi11>
  %2 = "hardcore.dequantize"(%1) {frac_bits = 0 : i64} : (tensor<1x4x200xi11>) -> tensor<1x4x200xf32>
  return %2 : tensor<1x4x200xf32>
}

// -----

func.func @two_tails(%arg0: tensor<1x2x2xf32>) -> tensor<4xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 0 : i64, min = -8 : i64, max = 7 : i64} : (tensor<1x2x2xf32>) -> tensor<1x2x2xi4>
  %1 = "hardcore.reshape"(%0) : (tensor<1x2x2xi4>) -> tensor<4xi4>
  %2 = "hardcore.dense"(%1) {weight = dense<1> : tensor<4x4xi8>, bias = dense<0> : tensor<4xi64>} : (tensor<4xi4>) -> tensor<4xi6>
  // expected-error @+1 {{hardcore-stream: reads the stream after it ended in a vector (a flatten or a global pool): only one tail}}
  %3 = "hardcore.add_tensors"(%2, %1) : (tensor<4xi6>, tensor<4xi4>) -> tensor<4xi7>
  %4 = "hardcore.dequantize"(%3) {frac_bits = 0 : i64} : (tensor<4xi7>) -> tensor<4xf32>
  return %4 : tensor<4xf32>
}

// -----

func.func @self_add(%arg0: tensor<1x2x2xf32>) -> tensor<1x2x2xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 0 : i64, min = -8 : i64, max = 7 : i64} : (tensor<1x2x2xf32>) -> tensor<1x2x2xi4>
  // expected-error @+1 {{hardcore-stream: adds a stream to itself: the two operands must come from different layers}}
  %1 = "hardcore.add_tensors"(%0, %0) : (tensor<1x2x2xi4>, tensor<1x2x2xi4>) -> tensor<1x2x2xi5>
  %2 = "hardcore.dequantize"(%1) {frac_bits = 0 : i64} : (tensor<1x2x2xi5>) -> tensor<1x2x2xf32>
  return %2 : tensor<1x2x2xf32>
}
