// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-stream)' | filecheck %s
// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-stream,hardcore-fold-weights)' | filecheck %s --check-prefix=DAG

// A 3x3 convolution (padding 1, two channels in groups of one) becomes one
// window step: its kernel as a dense of 2 x (9 taps * 2 channels), zero outside
// each output channel's group, taps (kh, kw) then channels; the ReLU and the
// requantization after it belong to the step.  Its input range holds the
// padding value 0 as well as the quantized input's [1, 15].
// CHECK-LABEL: func.func @conv_node0(%arg0: tensor<18xf32>) -> tensor<2xf32>
// CHECK-SAME: hardcore.stream = {channels = 2 : i64, dilation = dense<1> : tensor<2xi64>, height = 4 : i64, inputs = dense<-1> : tensor<1xi64>, kernel = dense<3> : tensor<2xi64>, kind = "window", last = 1 : i64, node = 0 : i64, out_channels = 2 : i64, out_height = 2 : i64, out_width = 3 : i64, pad = 0 : i64, padding = dense<1> : tensor<2xi64>, stride = dense<[2, 1]> : tensor<2xi64>, width = 3 : i64}
// CHECK: "hardcore.quantize"(%arg0) {frac_bits = 4 : i64, max = 15 : i64, min = 0 : i64} : (tensor<18xf32>) -> tensor<18xi5>
// CHECK: "hardcore.dense"
// CHECK-SAME: weight = dense<{{\[\[}}1, 0, 2, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, -1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4]]> : tensor<2x18xi8>
// CHECK-SAME: (tensor<18xi5>) -> tensor<2xi12>
// CHECK: "hardcore.relu"{{.*}}(tensor<2xi12>) -> tensor<2xi12>
// CHECK: "hardcore.requant"{{.*}}shift = dense<[1, 2]> : tensor<2xi64>{{.*}}(tensor<2xi12>) -> tensor<2xi9>
// CHECK: "hardcore.dequantize"{{.*}}frac_bits = 3 : i64
// DAG-LABEL: func.func @conv_node0(%arg0: tensor<18xi5>) -> tensor<2xi7>
// DAG-SAME: hardcore.stream = {
func.func @conv(%arg0: tensor<2x4x3xf32>) -> tensor<2x2x3xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 4 : i64, min = 1 : i64, max = 15 : i64} : (tensor<2x4x3xf32>) -> tensor<2x4x3xi5>
  %1 = "hardcore.conv"(%0) {weight = dense<[[[[1, 2, 0], [0, 3, 0], [0, 0, 0]]], [[[0, -1, 0], [0, 0, 0], [0, 0, 4]]]]> : tensor<2x1x3x3xi8>, bias = dense<[3, -2]> : tensor<2xi64>, stride = dense<[2, 1]> : tensor<2xi64>, padding = dense<[1, 1]> : tensor<2xi64>, dilation = dense<[1, 1]> : tensor<2xi64>, groups = 2 : i64} : (tensor<2x4x3xi5>) -> tensor<2x2x3xi12>
  %2 = "hardcore.relu"(%1) : (tensor<2x2x3xi12>) -> tensor<2x2x3xi12>
  %3 = "hardcore.requant"(%2) {shift = dense<[1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2]> : tensor<12xi64>, min = 0 : i64, max = 255 : i64} : (tensor<2x2x3xi12>) -> tensor<2x2x3xi9>
  %4 = "hardcore.dequantize"(%3) {frac_bits = 3 : i64} : (tensor<2x2x3xi9>) -> tensor<2x2x3xf32>
  return %4 : tensor<2x2x3xf32>
}

// -----

// A residual block: the input forks to a convolution and to the add; the
// skip operand's alignment (an exact left shift) is applied in the join step,
// which takes both pixels (the main operand first); a max pool pads with the
// smallest value of its input's range; a flatten is a view of the stream's
// pixels, and the dense layer that reads it starts the tail, which takes the
// whole 2 x 2 x 2 feature map.
// CHECK-LABEL: func.func @block_node0(%arg0: tensor<2xf32>) -> tensor<2xf32>
// CHECK-SAME: kind = "window"
// CHECK: "hardcore.dense"{{.*}}(tensor<2xi9>) -> tensor<2xi12>
// CHECK-LABEL: func.func @block_node1(%arg0: tensor<4xf32>) -> tensor<2xf32>
// CHECK-SAME: inputs = dense<[0, -1]> : tensor<2xi64>, kind = "join"
// CHECK: "hardcore.gather"{{.*}}indices = dense<[0, 1]>
// CHECK: "hardcore.gather"{{.*}}indices = dense<[2, 3]>
// CHECK: "hardcore.requant"{{.*}}shift = -1
// CHECK: "hardcore.add_tensors"
// CHECK-LABEL: func.func @block_node2(%arg0: tensor<8xf32>) -> tensor<2xf32>
// CHECK-SAME: kind = "window"{{.*}}pad = 0 : i64
// CHECK: "hardcore.maxpool"{{.*}}windows = dense<{{\[\[}}0, 2, 4, 6], [1, 3, 5, 7]]>
// CHECK-LABEL: func.func @block_node3(%arg0: tensor<2x2x2xf32>) -> tensor<3xf32>
// CHECK-SAME: collect = "flat"{{.*}}kind = "tail"
// CHECK-NEXT: "hardcore.quantize"{{.*}} -> tensor<2x2x2xi9>
// CHECK-NEXT: "hardcore.dense"{{.*}}(tensor<2x2x2xi9>) -> tensor<3xi12>
func.func @block(%arg0: tensor<2x4x4xf32>) -> tensor<3xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 4 : i64, min = 0 : i64, max = 255 : i64} : (tensor<2x4x4xf32>) -> tensor<2x4x4xi9>
  %1 = "hardcore.conv"(%0) {weight = dense<[[[[1]], [[2]]], [[[-1]], [[3]]]]> : tensor<2x2x1x1xi8>, bias = dense<[0, 1]> : tensor<2xi64>, stride = dense<1> : tensor<2xi64>, padding = dense<0> : tensor<2xi64>, dilation = dense<1> : tensor<2xi64>, groups = 1 : i64} : (tensor<2x4x4xi9>) -> tensor<2x4x4xi12>
  %2 = "hardcore.requant"(%1) {shift = 2 : i64, min = -128 : i64, max = 127 : i64} : (tensor<2x4x4xi12>) -> tensor<2x4x4xi8>
  %3 = "hardcore.requant"(%0) {shift = -1 : i64, min = 0 : i64, max = 510 : i64} : (tensor<2x4x4xi9>) -> tensor<2x4x4xi10>
  %4 = "hardcore.add_tensors"(%2, %3) : (tensor<2x4x4xi8>, tensor<2x4x4xi10>) -> tensor<2x4x4xi11>
  %5 = "hardcore.relu"(%4) : (tensor<2x4x4xi11>) -> tensor<2x4x4xi11>
  %6 = "hardcore.requant"(%5) {shift = 2 : i64, min = 0 : i64, max = 255 : i64} : (tensor<2x4x4xi11>) -> tensor<2x4x4xi9>
  %7 = "hardcore.maxpool"(%6) {windows = dense<[[0, 1, 4, 5], [2, 3, 6, 7], [8, 9, 12, 13], [10, 11, 14, 15], [16, 17, 20, 21], [18, 19, 22, 23], [24, 25, 28, 29], [26, 27, 30, 31]]> : tensor<8x4xi64>, hardcore.window = {kernel = dense<2> : tensor<2xi64>, stride = dense<2> : tensor<2xi64>}} : (tensor<2x4x4xi9>) -> tensor<2x2x2xi9>
  %8 = "hardcore.reshape"(%7) : (tensor<2x2x2xi9>) -> tensor<8xi9>
  %9 = "hardcore.dense"(%8) {weight = dense<[[1, 0, 0, 0, 0, 0, 0, 2], [0, 1, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, -1, 0]]> : tensor<3x8xi8>, bias = dense<[0, 0, 5]> : tensor<3xi64>} : (tensor<8xi9>) -> tensor<3xi12>
  %10 = "hardcore.requant"(%9) {shift = 1 : i64, min = -128 : i64, max = 127 : i64} : (tensor<3xi12>) -> tensor<3xi8>
  %11 = "hardcore.dequantize"(%10) {frac_bits = 1 : i64} : (tensor<3xi8>) -> tensor<3xf32>
  return %11 : tensor<3xf32>
}

// -----

// A global average pool (the depthwise conv hardcore-quantize makes of it, with
// its hardcore.window: its kernel the whole image, one weight per channel) ends the stream: the tail takes the per-channel sums
// (25 positions of [0, 255]) and multiplies them by the pool's constant.
// CHECK-LABEL: func.func @pooled_node1(%arg0: tensor<2xf32>) -> tensor<2xf32>
// CHECK-SAME: collect = "sum"{{.*}}kind = "tail"
// CHECK: "hardcore.quantize"{{.*}}max = 6375 : i64, min = 0 : i64{{.*}}-> tensor<2xi14>
// CHECK: "hardcore.dense"{{.*}}weight = dense<{{\[\[}}3, 0], [0, 3]]>{{.*}}(tensor<2xi14>) -> tensor<2x1x1xi16>
func.func @pooled(%arg0: tensor<1x4x4xf32>) -> tensor<2xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 4 : i64, min = -8 : i64, max = 7 : i64} : (tensor<1x4x4xf32>) -> tensor<1x4x4xi4>
  %1 = "hardcore.conv"(%0) {weight = dense<[[[[1, 2], [3, 4]]], [[[-1, 0], [0, 1]]]]> : tensor<2x1x2x2xi8>, bias = dense<0> : tensor<2xi64>, stride = dense<1> : tensor<2xi64>, padding = dense<1> : tensor<2xi64>, dilation = dense<1> : tensor<2xi64>, groups = 1 : i64} : (tensor<1x4x4xi4>) -> tensor<2x5x5xi8>
  %2 = "hardcore.relu"(%1) : (tensor<2x5x5xi8>) -> tensor<2x5x5xi8>
  %3 = "hardcore.requant"(%2) {shift = -1 : i64, min = 0 : i64, max = 255 : i64} : (tensor<2x5x5xi8>) -> tensor<2x5x5xi9>
  %4 = "hardcore.conv"(%3) {weight = dense<3> : tensor<2x1x5x5xi8>, bias = dense<0> : tensor<2xi64>, stride = dense<1> : tensor<2xi64>, padding = dense<0> : tensor<2xi64>, dilation = dense<1> : tensor<2xi64>, groups = 2 : i64, hardcore.window = {kernel = dense<5> : tensor<2xi64>, stride = dense<5> : tensor<2xi64>}} : (tensor<2x5x5xi9>) -> tensor<2x1x1xi16>
  %5 = "hardcore.requant"(%4) {shift = 6 : i64, min = 0 : i64, max = 255 : i64} : (tensor<2x1x1xi16>) -> tensor<2x1x1xi9>
  %6 = "hardcore.reshape"(%5) : (tensor<2x1x1xi9>) -> tensor<2xi9>
  %7 = "hardcore.dequantize"(%6) {frac_bits = 2 : i64} : (tensor<2xi9>) -> tensor<2xf32>
  return %7 : tensor<2xf32>
}
