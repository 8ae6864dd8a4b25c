// hardcore passes mix with upstream passes before hardcore-to-hw and with
// CIRCT passes after it, in one --pass-pipeline.
// RUN: hardcore-opt %s --pass-pipeline='builtin.module(hardcore-import,canonicalize,hardcore-quantize{weight-bits=6 act-bits=6},cse,hardcore-fold-weights,canonicalize,hardcore-to-hw,hw.module(cse))' | filecheck %s
// RUN: hardcore-opt %s --pass-pipeline='builtin.module(hardcore-import,hardcore-quantize,hardcore-fold-weights,hardcore-to-hw)' --emit=verilog -o %t.sv
// RUN: filecheck %s --check-prefix=SV < %t.sv
// RUN: cat %s | hardcore-opt --pass-pipeline='hardcore-import,hardcore-quantize' | filecheck %s --check-prefix=STDIN
// RUN: not hardcore-opt %s --pass-pipeline='builtin.module(hardcore-import,no-such-pass)' -o %t.never 2>&1 | filecheck %s --check-prefix=UNKNOWN
// RUN: not test -e %t.never

// Each layer is a module of its own; the top, first, instantiates them.
// CHECK: hw.module @tiny(in %x : i12, out y : i12)
// CHECK: hw.instance "layer0" @tiny_layer0(
// CHECK: hw.instance "layer1" @tiny_layer1(
// CHECK: hw.output
// CHECK: hw.module @tiny_layer0(in %i0 : i6, in %i1 : i6, out o0 : i{{[0-9]+}}
// CHECK: comb.sub
// CHECK: hw.module @tiny_layer1(
// CHECK: comb.add
// SV: module tiny(
// SV-NEXT: input  [15:0] x,
// SV-NEXT: output [15:0] y
// SV: endmodule
// SV: module tiny_layer0(
// SV: module tiny_layer1(
// STDIN: "hardcore.quantize"
// STDIN: "hardcore.requant"
// STDIN: "hardcore.dequantize"
// UNKNOWN: hardcore-opt: error: --pass-pipeline: 'no-such-pass' does not refer to a registered pass or pass pipeline
func.func @tiny(%arg0: !torch.vtensor<[1,2],f32>) -> !torch.vtensor<[1,2],f32> {
  %w1 = torch.vtensor.literal(dense<[[0.75, -0.5], [0.25, 1.0], [-1.0, 0.125]]> : tensor<3x2xf32>) : !torch.vtensor<[3,2],f32>
  %b1 = torch.vtensor.literal(dense<[0.1, -0.2, 0.3]> : tensor<3xf32>) : !torch.vtensor<[3],f32>
  %w2 = torch.vtensor.literal(dense<[[0.5, -0.25, 0.75], [1.0, 0.5, -0.5]]> : tensor<2x3xf32>) : !torch.vtensor<[2,3],f32>
  %b2 = torch.vtensor.literal(dense<[0.0, 0.05]> : tensor<2xf32>) : !torch.vtensor<[2],f32>
  %0 = torch.aten.linear %arg0, %w1, %b1 : !torch.vtensor<[1,2],f32>, !torch.vtensor<[3,2],f32>, !torch.vtensor<[3],f32> -> !torch.vtensor<[1,3],f32>
  %1 = torch.aten.relu %0 : !torch.vtensor<[1,3],f32> -> !torch.vtensor<[1,3],f32>
  %2 = torch.aten.linear %1, %w2, %b2 : !torch.vtensor<[1,3],f32>, !torch.vtensor<[2,3],f32>, !torch.vtensor<[2],f32> -> !torch.vtensor<[1,2],f32>
  return %2 : !torch.vtensor<[1,2],f32>
}
