// RUN: echo '{"layers": {"0": {"reuse": 3}, "1": {"reuse": 1}}}' > %t.json
// RUN: hardcore-opt %s --pass-pipeline='builtin.module(hardcore-time-multiplex{config=%t.json})' | filecheck %s
// RUN: hardcore-opt %s --pass-pipeline='builtin.module(hardcore-time-multiplex{config=%t.json},hardcore-to-hw)' | filecheck %s --check-prefix=HW
// RUN: echo '{"reuse": 3}' > %t.top.json
// RUN: hardcore-opt %s --pass-pipeline='builtin.module(hardcore-time-multiplex{reuse=2 config=%t.top.json})' | filecheck %s --check-prefix=TOP

// The reuse per layer from a quantization config (the file hardcore-quantize
// reads): layer 0's three rows over three cycles, one slot; layer 1 in one
// cycle (reuse 1: its cycle is always 0, a one-bit type, a zero-width port; its
// rows the CSE solver's adder graph, as hardcore-fold-weights builds them).
// CHECK-LABEL: func.func @two_layers_step0
// CHECK-SAME: (%{{.+}}: tensor<2xi3>, %{{.+}}: tensor<1xi3>) -> tensor<1xi4>
// CHECK-SAME: hardcore.reuse = {layer = 0 : i64, realization = "mux", reuse = 3 : i64, rows = 3 : i64, slots = 1 : i64}
// CHECK: "hardcore.table"(%{{.+}}) {min = 0 : i64, table = dense<[2, -1, 1]> : tensor<3xi64>}
// CHECK-LABEL: func.func @two_layers_step1
// CHECK-SAME: (%{{.+}}: tensor<3xi4>, %{{.+}}: tensor<1xi1>) -> tensor<1xi
// CHECK-SAME: hardcore.reuse = {layer = 1 : i64, realization = "cse", reuse = 1 : i64, rows = 1 : i64, slots = 1 : i64}
// CHECK-NOT: "hardcore.mux"
// CHECK-NOT: func.func @two_layers(

// HW-LABEL: hw.module @two_layers_step0(in %x : i6, in %cycle : i2, out y : i4)
// HW-LABEL: hw.module @two_layers_step1(in %x : i12, in %cycle : i0, out y :

// The config's top-level reuse replaces the option for every layer it does not name.
// TOP: reuse = 3 : i64, rows = 3 : i64, slots = 1 : i64
// TOP: reuse = 3 : i64, rows = 1 : i64, slots = 1 : i64
func.func @two_layers(%arg0: tensor<2xf32>) -> tensor<1xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 2 : i64, min = -4 : i64, max = 3 : i64} : (tensor<2xf32>) -> tensor<2xi3>
  %1 = "hardcore.dense"(%0) {bias = dense<[1, -2, 0]> : tensor<3xi64>, weight = dense<[[3, 0], [1, -1], [0, 2]]> : tensor<3x2xi8>} : (tensor<2xi3>) -> tensor<3xi8>
  %2 = "hardcore.relu"(%1) : (tensor<3xi8>) -> tensor<3xi8>
  %3 = "hardcore.requant"(%2) {shift = 1 : i64, min = 0 : i64, max = 7 : i64} : (tensor<3xi8>) -> tensor<3xi4>
  %4 = "hardcore.dense"(%3) {bias = dense<[5]> : tensor<1xi64>, weight = dense<[[1, -3, 2]]> : tensor<1x3xi8>} : (tensor<3xi4>) -> tensor<1xi8>
  %5 = "hardcore.dequantize"(%4) {frac_bits = 0 : i64} : (tensor<1xi8>) -> tensor<1xf32>
  return %5 : tensor<1xf32>
}
