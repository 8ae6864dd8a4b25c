// RUN: hardcore-opt %s --pass-pipeline='builtin.module(hardcore-quantize)' | filecheck %s --check-prefix=LARGEST
// RUN: hardcore-opt %s --pass-pipeline='builtin.module(hardcore-quantize{act-percentile=90})' | filecheck %s --check-prefix=PERCENTILE
// RUN: echo '{"layers": {"0": {"act_percentile": 90}}}' > %t.json
// RUN: hardcore-opt %s --pass-pipeline='builtin.module(hardcore-quantize{config=%t.json})' | filecheck %s --check-prefix=LAYER

// The default calibration (256 seeded standard-normal samples): |x| reaches 3.90, its
// 90th percentile is 1.52; the dense layer's |y| reaches 2.20, its 90th percentile
// 1.02.  From the largest (the default): the input 5 fractional bits (3.90 * 32 <=
// 128), the output 5 (shift 5 + 7 - 5).  act-percentile=90: the input 6, the output 6
// (the 10% above saturate).  A config's act_percentile sets one layer's output scale;
// the input keeps the top-level one (none: the largest).
// LARGEST: "hardcore.quantize"(%arg0) {frac_bits = 5 : i64, max = 127 : i64, min = -128 : i64}
// LARGEST: "hardcore.requant"(%{{.+}}) {max = 127 : i64, min = -128 : i64, shift = 7 : i64}
// LARGEST: "hardcore.dequantize"(%{{.+}}) {frac_bits = 5 : i64}
// PERCENTILE: "hardcore.quantize"(%arg0) {frac_bits = 6 : i64, max = 127 : i64, min = -128 : i64}
// PERCENTILE: "hardcore.requant"(%{{.+}}) {max = 127 : i64, min = -128 : i64, shift = 7 : i64}
// PERCENTILE: "hardcore.dequantize"(%{{.+}}) {frac_bits = 6 : i64}
// LAYER: "hardcore.quantize"(%arg0) {frac_bits = 5 : i64, max = 127 : i64, min = -128 : i64}
// LAYER: "hardcore.requant"(%{{.+}}) {max = 127 : i64, min = -128 : i64, shift = 6 : i64}
// LAYER: "hardcore.dequantize"(%{{.+}}) {frac_bits = 6 : i64}
func.func @dense_scales(%arg0: tensor<4xf32>) -> tensor<2xf32> {
  %0 = "hardcore.dense"(%arg0) {weight = dense<[[0.75, 0.0, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25]]> : tensor<2x4xf32>, bias = dense<[0.0, 0.0]> : tensor<2xf32>} : (tensor<4xf32>) -> tensor<2xf32>
  return %0 : tensor<2xf32>
}
