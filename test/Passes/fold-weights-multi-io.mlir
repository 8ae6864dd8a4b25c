// RUN: hardcore-opt %s --pass-pipeline='builtin.module(hardcore-fold-weights)' | filecheck %s
// RUN: hardcore-opt %s --pass-pipeline='builtin.module(hardcore-fold-weights,hardcore-to-hw)' | filecheck %s --check-prefix=HW
// RUN: hardcore-opt %s --pass-pipeline='builtin.module(hardcore-fold-weights,hardcore-pipeline{max-adder-depth=1},hardcore-to-hw)' | filecheck %s --check-prefix=PIPE

// Two inputs and two results: each argument becomes the integer tensor of its
// quantize (i8 and i4 here), its elements extracted; each result a pack.  The
// scales become lists, one entry per input and per result.
// CHECK-LABEL: func.func @two_inputs_two_results
// CHECK-SAME: (%arg0: tensor<2xi8>, %arg1: tensor<3xi4>) -> (tensor<3xi4>, tensor<2xi8>)
// CHECK-SAME: hardcore.input_frac_bits = [5, 3]
// CHECK-SAME: hardcore.output_frac_bits = [3, 5]
// CHECK: %[[A0:.+]] = "hardcore.extract"(%arg0) {index = 0 : i64} : (tensor<2xi8>) -> i8
// CHECK: %[[A1:.+]] = "hardcore.extract"(%arg0) {index = 1 : i64} : (tensor<2xi8>) -> i8
// CHECK: %[[B0:.+]] = "hardcore.extract"(%arg1) {index = 0 : i64} : (tensor<3xi4>) -> i4
// CHECK: %[[R0:.+]] = "hardcore.clamp"(%[[B0]]) {max = 7 : i64, min = 0 : i64} : (i4) -> i4
// CHECK: %[[Y0:.+]] = "hardcore.pack"(%[[R0]], %{{.+}}, %{{.+}}) : (i4, i4, i4) -> tensor<3xi4>
// CHECK: %[[Y1:.+]] = "hardcore.pack"(%[[A0]], %[[A1]]) : (i8, i8) -> tensor<2xi8>
// CHECK: return %[[Y0]], %[[Y1]] : tensor<3xi4>, tensor<2xi8>

// Ports x0, x1, y0, y1, each as wide as its elements.
// HW-LABEL: hw.module @two_inputs_two_results(in %x0 : i16, in %x1 : i12, out y0 : i12, out y1 : i16)
// HW: hw.output %{{.+}}, %{{.+}} : i12, i16

// Pipelined: one in_valid for both inputs and one out_valid for both outputs;
// the output that needs no logic (y1) is registered to the same latency.
// PIPE-LABEL: hw.module @two_inputs_two_results(in %clk : !seq.clock, in %rst : i1, in %in_valid : i1, in %x0 : i16, in %x1 : i12, out out_valid : i1, out y0 : i12, out y1 : i16)
// PIPE: %[[X00:.+]] = comb.extract %x0 from 0 : (i16) -> i8
// PIPE: %[[D0:.+]] = seq.compreg %[[X00]], %clk : i8
// PIPE: %[[V:.+]] = seq.compreg %in_valid, %clk reset %rst
// PIPE: hw.output %[[V]], %{{.+}}, %{{.+}} : i1, i12, i16
func.func @two_inputs_two_results(%arg0: tensor<2xf32>, %arg1: tensor<3xf32>) -> (tensor<3xf32>, tensor<2xf32>) {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 5 : i64, max = 127 : i64, min = -128 : i64} : (tensor<2xf32>) -> tensor<2xi8>
  %1 = "hardcore.quantize"(%arg1) {frac_bits = 3 : i64, max = 7 : i64, min = -8 : i64} : (tensor<3xf32>) -> tensor<3xi4>
  %2 = "hardcore.relu"(%1) : (tensor<3xi4>) -> tensor<3xi4>
  %3 = "hardcore.dequantize"(%2) {frac_bits = 3 : i64} : (tensor<3xi4>) -> tensor<3xf32>
  %4 = "hardcore.dequantize"(%0) {frac_bits = 5 : i64} : (tensor<2xi8>) -> tensor<2xf32>
  return %3, %4 : tensor<3xf32>, tensor<2xf32>
}
