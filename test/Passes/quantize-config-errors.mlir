// RUN: echo '{"layers": {"3": {"act_bits": 6}}}' > %t.layer.json
// RUN: not hardcore-opt %s --pass-pipeline='builtin.module(hardcore-quantize{config=%t.layer.json})' 2>&1 | filecheck %s --check-prefix=LAYER
// RUN: echo '{"layers": {"1": {"weight_bits": 4}}}' > %t.pool.json
// RUN: not hardcore-opt %s --pass-pipeline='builtin.module(hardcore-quantize{config=%t.pool.json})' 2>&1 | filecheck %s --check-prefix=POOL
// RUN: echo '{"layers": {"0": {"weight_bits": 1}}}' > %t.bits.json
// RUN: not hardcore-opt %s --pass-pipeline='builtin.module(hardcore-quantize{config=%t.bits.json})' 2>&1 | filecheck %s --check-prefix=BITS
// RUN: echo '{"layers": {"0": {"weight_bits": 4,}}}' > %t.json.json
// RUN: not hardcore-opt %s --pass-pipeline='builtin.module(hardcore-quantize{config=%t.json.json})' 2>&1 | filecheck %s --check-prefix=JSON
// RUN: not hardcore-opt %s --pass-pipeline='builtin.module(hardcore-quantize{config=%t.missing.json})' 2>&1 | filecheck %s --check-prefix=MISSING
// RUN: not hardcore-opt %s --pass-pipeline='builtin.module(hardcore-quantize{weight-scale=per-row})' 2>&1 | filecheck %s --check-prefix=SCALE
// RUN: echo '{"layers": {"1": {"act_percentile": 99}}}' > %t.pool-percentile.json
// RUN: not hardcore-opt %s --pass-pipeline='builtin.module(hardcore-quantize{config=%t.pool-percentile.json})' 2>&1 | filecheck %s --check-prefix=POOL-PERCENTILE
// RUN: echo '{"act_percentile": 0}' > %t.percentile.json
// RUN: not hardcore-opt %s --pass-pipeline='builtin.module(hardcore-quantize{config=%t.percentile.json})' 2>&1 | filecheck %s --check-prefix=PERCENTILE
// RUN: not hardcore-opt %s --pass-pipeline='builtin.module(hardcore-quantize{act-percentile=150})' 2>&1 | filecheck %s --check-prefix=PERCENTILE-OPTION
// RUN: not hardcore-opt %s --pass-pipeline='builtin.module(hardcore-quantize{table-codes=signed})' 2>&1 | filecheck %s --check-prefix=CODES

// LAYER: error: hardcore-quantize: the quantization config sets layer 3, but the model has 2 layers (0 to 1)
// POOL: error: hardcore-quantize: the quantization config sets weight_bits of layer 1, a max pool, which has no weights or requantization
// BITS: hardcore-opt: error: {{.*}}.bits.json: layer 0: weight_bits must be an integer between 2 and 16, got 1
// JSON: hardcore-opt: error: quantization config '{{.*}}.json.json' is not valid JSON: Illegal trailing comma before end of object: line 1 column 35 (char 34)
// MISSING: hardcore-opt: error: cannot read quantization config '{{.*}}.missing.json': No such file or directory
// SCALE: hardcore-opt: error: hardcore-quantize: weight-scale must be one of per-layer, per-channel, got 'per-row'
// POOL-PERCENTILE: error: hardcore-quantize: the quantization config sets act_percentile of layer 1, a max pool, which has no weights or requantization
// PERCENTILE: hardcore-opt: error: {{.*}}.percentile.json: act_percentile must be a number in (0, 100], got 0
// PERCENTILE-OPTION: hardcore-opt: error: hardcore-quantize: act-percentile must be a number in (0, 100], got 150.0
// CODES: hardcore-opt: error: hardcore-quantize: table-codes must be one of magnitude, wide, got 'signed'

func.func @dense_then_pool(%arg0: tensor<4xf32>) -> tensor<1xf32> {
  %0 = "hardcore.dense"(%arg0) {weight = dense<[[1.0, 0.5, 0.0, 0.0], [0.0, 0.0, 1.0, -1.0]]> : tensor<2x4xf32>, bias = dense<[0.0, 0.0]> : tensor<2xf32>} : (tensor<4xf32>) -> tensor<2xf32>
  %1 = "hardcore.maxpool"(%0) {windows = dense<[[0, 1]]> : tensor<1x2xi64>} : (tensor<2xf32>) -> tensor<1xf32>
  return %1 : tensor<1xf32>
}
