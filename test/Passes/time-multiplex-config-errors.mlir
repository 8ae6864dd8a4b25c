// RUN: echo '{"layers": {"2": {"reuse": 4}}}' > %t.layer.json
// RUN: not hardcore-opt %s --pass-pipeline='builtin.module(hardcore-time-multiplex{config=%t.layer.json})' 2>&1 | filecheck %s --check-prefix=LAYER
// RUN: echo '{"layers": {"1": {"reuse": 0}}}' > %t.value.json
// RUN: not hardcore-opt %s --pass-pipeline='builtin.module(hardcore-time-multiplex{config=%t.value.json})' 2>&1 | filecheck %s --check-prefix=VALUE

// LAYER: error: hardcore-time-multiplex: the quantization config sets the reuse of layer 2 to 4, but the chain has 2 dense layers (0 to 1)
// VALUE: hardcore-opt: error: {{.*}}.value.json: layer 1: reuse must be an integer of at least 1, got 0
func.func @two_layers(%arg0: tensor<2xf32>) -> tensor<1xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 2 : i64, min = -4 : i64, max = 3 : i64} : (tensor<2xf32>) -> tensor<2xi3>
  %1 = "hardcore.dense"(%0) {bias = dense<[1, -2, 0]> : tensor<3xi64>, weight = dense<[[3, 0], [1, -1], [0, 2]]> : tensor<3x2xi8>} : (tensor<2xi3>) -> tensor<3xi8>
  %2 = "hardcore.relu"(%1) : (tensor<3xi8>) -> tensor<3xi8>
  %3 = "hardcore.requant"(%2) {shift = 1 : i64, min = 0 : i64, max = 7 : i64} : (tensor<3xi8>) -> tensor<3xi4>
  %4 = "hardcore.dense"(%3) {bias = dense<[5]> : tensor<1xi64>, weight = dense<[[1, -3, 2]]> : tensor<1x3xi8>} : (tensor<3xi4>) -> tensor<1xi8>
  %5 = "hardcore.dequantize"(%4) {frac_bits = 0 : i64} : (tensor<1xi8>) -> tensor<1xf32>
  return %5 : tensor<1xf32>
}
