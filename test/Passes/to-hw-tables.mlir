// RUN: hardcore-opt %s --pass-pipeline='builtin.module(hardcore-to-hw)' | filecheck %s
// RUN: hardcore-opt %s --pass-pipeline='builtin.module(hardcore-to-hw)' --emit=verilog | filecheck %s --check-prefix=SV

// A table is a tree of 2:1 muxes on the input's low bits: the 8 entries of
// inputs -4..3 sit at leaf (x mod 8), so no subtraction: leaves 0..7 hold
// 4 6 7 7 0 0 1 2.  The tree splits on bit 2, then bit 1, then bit 0; a
// subtree of equal leaves is a constant (7 7 and 0 0), so 5 muxes, not 7.
// CHECK-LABEL: hw.module @sigmoid_table(in %x : i3, out y : i4)
// CHECK-DAG: %[[B0:.+]] = comb.extract %x from 0 : (i3) -> i1
// CHECK-DAG: %[[B1:.+]] = comb.extract %x from 1 : (i3) -> i1
// CHECK-DAG: %[[B2:.+]] = comb.extract %x from 2 : (i3) -> i1
// CHECK-DAG: %[[C0:.+]] = hw.constant 0 : i4
// CHECK-DAG: %[[C1:.+]] = hw.constant 1 : i4
// CHECK-DAG: %[[C2:.+]] = hw.constant 2 : i4
// CHECK-DAG: %[[C4:.+]] = hw.constant 4 : i4
// CHECK-DAG: %[[C6:.+]] = hw.constant 6 : i4
// CHECK-DAG: %[[C7:.+]] = hw.constant 7 : i4
// CHECK-DAG: %[[M12:.+]] = comb.mux %[[B0]], %[[C2]], %[[C1]] : i4
// CHECK-DAG: %[[HIGH:.+]] = comb.mux %[[B1]], %[[M12]], %[[C0]] : i4
// CHECK-DAG: %[[M46:.+]] = comb.mux %[[B0]], %[[C6]], %[[C4]] : i4
// CHECK-DAG: %[[LOW:.+]] = comb.mux %[[B1]], %[[C7]], %[[M46]] : i4
// CHECK: %[[Y:.+]] = comb.mux %[[B2]], %[[HIGH]], %[[LOW]] : i4
// CHECK-NOT: comb.mux
// CHECK: hw.output %[[Y]] : i4
// SV-LABEL: module sigmoid_table(
// SV: assign y =
// SV-NEXT: x[2] ? (x[1] ? (x[0] ? 4'h2 : 4'h1) : 4'h0) : x[1] ? 4'h7 : x[0] ? 4'h6 : 4'h4;
func.func @sigmoid_table(%arg0: tensor<1xi3>) -> tensor<1xi4> attributes {hardcore.input_frac_bits = 0 : i64, hardcore.output_frac_bits = 3 : i64, hardcore.layers = []} {
  %x = "hardcore.extract"(%arg0) {index = 0 : i64} : (tensor<1xi3>) -> i3
  %t = "hardcore.table"(%x) {min = -4 : i64, table = dense<[0, 0, 1, 2, 4, 6, 7, 7]> : tensor<8xi64>} : (i3) -> i4
  %y = "hardcore.pack"(%t) : (i4) -> tensor<1xi4>
  return %y : tensor<1xi4>
}
