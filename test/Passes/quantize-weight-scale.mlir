// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-quantize{weight-scale=per-channel})' | filecheck %s
// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-quantize)' | filecheck %s --check-prefix=LAYER
// RUN: echo '{"weight_bits": 4, "layers": {"0": {"weight_scale": "per-channel", "act_bits": 6, "weight_bits": 8}}}' > %t.json
// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-quantize{config=%t.json})' | filecheck %s --check-prefix=CONFIG
// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-quantize{weight-scale=per-channel},hardcore-fold-weights)' | filecheck %s --check-prefix=FOLD

// Per-channel: row 0's largest magnitude 1.5 leaves 6 fractional bits of 8, row 1's
// 0.2 leaves 9 (0.1 -> 51, 0.2 -> 102, where one scale for the layer gives 6 and 13).
// The accumulator of row r is at 5 + w_frac[r] fractional bits (the bias too:
// -0.25 -> -4096 at 14), so the requantization shifts each row by its own amount.
// CHECK-LABEL: func.func @two_layers
// CHECK: "hardcore.dense"(%{{.+}}) {bias = dense<[1024, -4096]> : tensor<2xi64>, weight = dense<{{\[\[}}64, -96], [51, 102]]> : tensor<2x2xi8>}
// CHECK: "hardcore.requant"(%{{.+}}) {max = 255 : i64, min = 0 : i64, shift = dense<[6, 9]> : tensor<2xi64>} : (tensor<2xi32>) -> tensor<2xi9>
// A layer whose rows share one scale keeps the single shift.
// CHECK: "hardcore.dense"(%{{.+}}) {bias = dense<512> : tensor<1xi64>, weight = dense<{{\[\[}}96, -64]]> : tensor<1x2xi8>}
// CHECK: "hardcore.requant"(%{{.+}}) {max = 127 : i64, min = -128 : i64, shift = 8 : i64}
// LAYER-LABEL: func.func @two_layers
// LAYER: "hardcore.dense"(%{{.+}}) {bias = dense<[1024, -512]> : tensor<2xi64>, weight = dense<{{\[\[}}64, -96], [6, 13]]> : tensor<2x2xi8>}
// LAYER: "hardcore.requant"(%{{.+}}) {max = 255 : i64, min = 0 : i64, shift = 6 : i64}
// The config: 4-bit weights everywhere (layer 1: 0.75 -> 6 at 3 fractional bits), but
// layer 0 has 8-bit per-channel weights and a 6-bit output (unsigned after the ReLU: 0..63).
// CONFIG-LABEL: func.func @two_layers
// CONFIG: "hardcore.dense"(%{{.+}}) {bias = dense<[1024, -4096]> : tensor<2xi64>, weight = dense<{{\[\[}}64, -96], [51, 102]]> : tensor<2x2xi8>}
// CONFIG: "hardcore.requant"(%{{.+}}) {max = 63 : i64, min = 0 : i64, shift = dense<[8, 11]> : tensor<2xi64>} : (tensor<2xi32>) -> tensor<2xi7>
// CONFIG: "hardcore.dense"(%{{.+}}) {bias = dense<8> : tensor<1xi64>, weight = dense<{{\[\[}}6, -4]]> : tensor<1x2xi8>}
// CONFIG: "hardcore.requant"(%{{.+}}) {max = 127 : i64, min = -128 : i64, shift = 2 : i64} : (tensor<1xi32>) -> tensor<1xi8>
// hardcore-fold-weights rounds and shifts each output by its own shift.
// FOLD-LABEL: func.func @two_layers
// FOLD-DAG: "hardcore.shr"(%{{.+}}) {amount = 1 : i64}
// FOLD-DAG: "hardcore.shr"(%{{.+}}) {amount = 9 : i64}
func.func @two_layers(%arg0: tensor<2xf32>) -> tensor<1xf32> {
  %0 = "hardcore.dense"(%arg0) {weight = dense<[[1.0, -1.5], [0.1, 0.2]]> : tensor<2x2xf32>, bias = dense<[0.5, -0.25]> : tensor<2xf32>} : (tensor<2xf32>) -> tensor<2xf32>
  %1 = "hardcore.relu"(%0) : (tensor<2xf32>) -> tensor<2xf32>
  %2 = "hardcore.dense"(%1) {weight = dense<[[0.75, -0.5]]> : tensor<1x2xf32>, bias = dense<[0.125]> : tensor<1xf32>} : (tensor<2xf32>) -> tensor<1xf32>
  return %2 : tensor<1xf32>
}

// -----

// A convolution's output channel is a block of rows (`hardcore.out_channels`): one
// scale per block, from its largest magnitude (channel 0: 1.0 -> 7 bits, channel 1: 0.2 -> 9).
// CHECK-LABEL: func.func @conv_channels
// CHECK: "hardcore.dense"(%{{.+}}) {bias = dense<0> : tensor<4xi64>, weight = dense<{{\[\[}}127, 0], [0, 64], [51, 0], [0, 102]]> : tensor<4x2xi8>}
// CHECK: "hardcore.requant"(%{{.+}}) {max = 127 : i64, min = -128 : i64, shift = dense<[7, 7, 9, 9]> : tensor<4xi64>}
func.func @conv_channels(%arg0: tensor<2xf32>) -> tensor<4xf32> {
  %0 = "hardcore.dense"(%arg0) {weight = dense<[[1.0, 0.0], [0.0, 0.5], [0.1, 0.0], [0.0, 0.2]]> : tensor<4x2xf32>, bias = dense<[0.0, 0.0, 0.0, 0.0]> : tensor<4xf32>, hardcore.out_channels = 2 : i64} : (tensor<2xf32>) -> tensor<4xf32>
  return %0 : tensor<4xf32>
}
