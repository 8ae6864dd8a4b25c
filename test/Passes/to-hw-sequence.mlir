// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-to-hw)' | filecheck %s
// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-to-hw)' --emit=verilog | filecheck %s --check-prefix=SV

// A product of two activations is one `comb.mul` of its operands
// sign-extended to the product's width; exported, a `*` of the extended
// operands (which Verilator, Icarus and Yosys read).
// CHECK-LABEL: hw.module @product(in %x : i8, out y : i8)
// CHECK: %[[A:.+]] = comb.extract %x from 0 : (i8) -> i4
// CHECK: %[[B:.+]] = comb.extract %x from 4 : (i8) -> i4
// CHECK: %[[AS:.+]] = comb.extract %x from 3 : (i8) -> i1
// CHECK: %[[AF:.+]] = comb.replicate %[[AS]] : (i1) -> i4
// CHECK: %[[AW:.+]] = comb.concat %[[AF]], %[[A]] : i4, i4
// CHECK: %[[BW:.+]] = comb.concat %{{.+}}, %[[B]] : i4, i4
// CHECK: %[[P:.+]] = comb.mul %[[AW]], %[[BW]] : i8
// CHECK: hw.output %[[P]] : i8
// SV-LABEL: module product(
// SV: assign y = {{[{][{]}}4{x[3]}}, x[3:0]} * {{[{][{]}}4{x[7]}}, x[7:4]};
func.func @product(%arg0: tensor<2xi4>) -> tensor<1xi8> {
  %0 = "hardcore.extract"(%arg0) {index = 0 : i64} : (tensor<2xi4>) -> i4
  %1 = "hardcore.extract"(%arg0) {index = 1 : i64} : (tensor<2xi4>) -> i4
  %2 = "hardcore.mul"(%0, %1) : (i4, i4) -> i8
  %3 = "hardcore.pack"(%2) : (i8) -> tensor<1xi8>
  return %3 : tensor<1xi8>
}

// -----

// Token ids (`hardcore.input_unsigned`): port x holds each id in 2 bits, not
// the DAG's 3 (its sign bit is always 0); an id is zero-extended where it is
// read whole, and a table reads only its select bits.
// CHECK-LABEL: hw.module @tokens(in %x : i4, out y : i8)
// CHECK-DAG: %[[ID1:.+]] = comb.extract %x from 2 : (i4) -> i2
// CHECK-DAG: %[[FALSE:.+]] = hw.constant false
// CHECK: %[[WIDE:.+]] = comb.concat %[[FALSE]], %[[ID1]] : i1, i2
// CHECK: %[[S0:.+]] = comb.extract %x from 0 : (i4) -> i1
// CHECK: %[[S1:.+]] = comb.extract %x from 1 : (i4) -> i1
// CHECK: comb.mux %[[S1]], %{{.+}}, %{{.+}} : i4
// SV-LABEL: module tokens(
// SV: input  [3:0] x,
func.func @tokens(%arg0: tensor<2xi3>) -> tensor<2xi4> attributes {hardcore.input_unsigned} {
  %0 = "hardcore.extract"(%arg0) {index = 0 : i64} : (tensor<2xi3>) -> i3
  %1 = "hardcore.extract"(%arg0) {index = 1 : i64} : (tensor<2xi3>) -> i3
  %2 = "hardcore.table"(%0) {min = 0 : i64, table = dense<[5, -3, 7, 7]> : tensor<4xi64>} : (i3) -> i4
  %3 = "hardcore.sext"(%1) : (i3) -> i4
  %4 = "hardcore.pack"(%2, %3) : (i4, i4) -> tensor<2xi4>
  return %4 : tensor<2xi4>
}
