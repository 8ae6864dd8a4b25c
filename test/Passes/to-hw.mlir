// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-to-hw)' | filecheck %s
// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-to-hw)' --emit=verilog | filecheck %s --check-prefix=SV

// Packed ports: element i of x at bits [i*8 +: 8], element i of y at
// [i*11 +: 11].  Shifts are concatenations with zeros, each adder is as wide
// as its result, and its operands are sign-extended to that width.
// CHECK-LABEL: hw.module @seven_and_eight(in %x : i16, out y : i22)
// CHECK-DAG: %[[X0:.+]] = comb.extract %x from 0 : (i16) -> i8
// CHECK-DAG: %[[X1:.+]] = comb.extract %x from 8 : (i16) -> i8
// CHECK-DAG: %[[Z3:.+]] = hw.constant 0 : i3
// CHECK: %[[S:.+]] = comb.concat %[[X0]], %[[Z3]] : i8, i3
// CHECK: %[[SIGN:.+]] = comb.extract %x from 7 : (i16) -> i1
// CHECK: %[[FILL:.+]] = comb.replicate %[[SIGN]] : (i1) -> i3
// CHECK: %[[X0W:.+]] = comb.concat %[[FILL]], %[[X0]] : i3, i8
// CHECK: %[[SEVEN:.+]] = comb.sub %[[S]], %[[X0W]] : i11
// CHECK: %[[EIGHT:.+]] = comb.concat %[[X1]], %[[Z3]] : i8, i3
// CHECK: %[[Y:.+]] = comb.concat %[[SEVEN]], %[[EIGHT]] : i11, i11
// CHECK: hw.output %[[Y]] : i22
// SV-LABEL: module seven_and_eight(
// SV: input  [15:0] x,
// SV: output [21:0] y
// SV: endmodule
func.func @seven_and_eight(%arg0: tensor<2xi8>) -> tensor<2xi11> {
  %0 = "hardcore.extract"(%arg0) {index = 0 : i64} : (tensor<2xi8>) -> i8
  %1 = "hardcore.extract"(%arg0) {index = 1 : i64} : (tensor<2xi8>) -> i8
  %2 = "hardcore.shl"(%0) {amount = 3 : i64} : (i8) -> i11
  %3 = "hardcore.sub"(%2, %0) : (i11, i8) -> i11
  %4 = "hardcore.shl"(%1) {amount = 3 : i64} : (i8) -> i11
  %5 = "hardcore.pack"(%4, %3) : (i11, i11) -> tensor<2xi11>
  return %5 : tensor<2xi11>
}

// -----

// A left shift that an adder sign-extends is no wire of its own: the sign
// bit, the value and the zeros are one concat; an extension by one bit is the
// sign bit itself, by more a replicate of it.
// CHECK-LABEL: hw.module @shift_and_extend(in %x : i16, out y : i12)
// CHECK-DAG: %[[X0:.+]] = comb.extract %x from 0 : (i16) -> i8
// CHECK-DAG: %[[X1:.+]] = comb.extract %x from 8 : (i16) -> i8
// CHECK: %[[SIGN0:.+]] = comb.extract %x from 7 : (i16) -> i1
// CHECK: %[[Z2:.+]] = hw.constant 0 : i2
// CHECK: %[[SHIFTED:.+]] = comb.concat %[[SIGN0]], %[[X0]], %[[Z2]] : i1, i8, i2
// CHECK: %[[SIGN1:.+]] = comb.extract %x from 15 : (i16) -> i1
// CHECK: %[[FILL:.+]] = comb.replicate %[[SIGN1]] : (i1) -> i3
// CHECK: %[[X1W:.+]] = comb.concat %[[FILL]], %[[X1]] : i3, i8
// CHECK: %[[SUM:.+]] = comb.add %[[SHIFTED]], %[[X1W]] : i11
// CHECK: %[[SIGN:.+]] = comb.extract %[[SUM]] from 10 : (i11) -> i1
// CHECK-NEXT: %[[Y:.+]] = comb.concat %[[SIGN]], %[[SUM]] : i1, i11
// CHECK-NEXT: hw.output %[[Y]] : i12
func.func @shift_and_extend(%arg0: tensor<2xi8>) -> tensor<1xi12> {
  %0 = "hardcore.extract"(%arg0) {index = 0 : i64} : (tensor<2xi8>) -> i8
  %1 = "hardcore.extract"(%arg0) {index = 1 : i64} : (tensor<2xi8>) -> i8
  %2 = "hardcore.shl"(%0) {amount = 2 : i64} : (i8) -> i10
  %3 = "hardcore.add"(%2, %1) : (i10, i8) -> i11
  %4 = "hardcore.sext"(%3) : (i11) -> i12
  %5 = "hardcore.pack"(%4) : (i12) -> tensor<1xi12>
  return %5 : tensor<1xi12>
}

// -----

// Requantization is wiring plus one mux: the shift right keeps the high bits,
// ReLU is the sign bit choosing zero (taken from x itself: bits of bits are one extract).
// CHECK-LABEL: hw.module @requant_relu(in %x : i12, out y : i8)
// CHECK: %[[HIGH:.+]] = comb.extract %x from 4 : (i12) -> i8
// CHECK: %[[NEG:.+]] = comb.extract %x from 11 : (i12) -> i1
// CHECK: %[[ZERO:.+]] = hw.constant 0 : i8
// CHECK: %[[R:.+]] = comb.mux %[[NEG]], %[[ZERO]], %[[HIGH]] : i8
// CHECK: hw.output %[[R]] : i8
func.func @requant_relu(%arg0: tensor<1xi12>) -> tensor<1xi8> {
  %0 = "hardcore.extract"(%arg0) {index = 0 : i64} : (tensor<1xi12>) -> i12
  %1 = "hardcore.shr"(%0) {amount = 4 : i64} : (i12) -> i8
  %2 = "hardcore.clamp"(%1) {min = 0 : i64, max = 127 : i64} : (i8) -> i8
  %3 = "hardcore.pack"(%2) : (i8) -> tensor<1xi8>
  return %3 : tensor<1xi8>
}

// -----

// A layer reads an input that pipeline registers delay at the top level, and
// the register stands after the layer's first op in program order (the
// shared-subexpression folding orders ops so).  The layer's instance goes
// after the register all the same.
// CHECK-LABEL: hw.module @late_input_register(
// CHECK: %[[X1:.+]] = comb.extract %x from 8 : (i16) -> i8
// CHECK: %[[R:.+]] = seq.compreg %[[X1]], %clk : i8
// CHECK: hw.instance "layer0" @late_input_register_layer0(clk: %clk: !seq.clock, i0: %{{.+}}: i8, i1: %[[X1]]: i8, i2: %[[R]]: i8)
// CHECK-LABEL: hw.module @late_input_register_layer0(in %clk : !seq.clock, in %i0 : i8, in %i1 : i8, in %i2 : i8, out o0 : i10)
func.func @late_input_register(%arg0: tensor<2xi8>) -> tensor<1xi10> attributes {hardcore.input_frac_bits = 0 : i64, hardcore.output_frac_bits = 0 : i64, hardcore.latency = 2 : i64, hardcore.clock_enable = false} {
  %0 = "hardcore.extract"(%arg0) {index = 0 : i64} : (tensor<2xi8>) -> i8
  %1 = "hardcore.extract"(%arg0) {index = 1 : i64} : (tensor<2xi8>) -> i8
  %2 = "hardcore.add"(%0, %1) : (i8, i8) -> i9 loc("layer0")
  %3 = "hardcore.reg"(%2) : (i9) -> i9 loc("layer0")
  %4 = "hardcore.reg"(%1) : (i8) -> i8
  %5 = "hardcore.add"(%3, %4) : (i9, i8) -> i10 loc("layer0")
  %6 = "hardcore.reg"(%5) : (i10) -> i10 loc("layer0")
  %7 = "hardcore.pack"(%6) : (i10) -> tensor<1xi10>
  return %7 : tensor<1xi10>
}

// -----

// A register that only a ReLU-like clamp reads (lower bound 0, no upper side:
// the value is at most 127 though its type reaches 1023) keeps the sign bit
// and the 8 low bits the clamp reads, not the two bits between.
// CHECK-LABEL: hw.module @relu_after_a_register(
// CHECK-DAG: %[[SIGN:.+]] = comb.extract %x from 10 : (i11) -> i1
// CHECK-DAG: %[[LOW:.+]] = comb.extract %x from 0 : (i11) -> i8
// CHECK: %[[KEPT:.+]] = comb.concat %[[SIGN]], %[[LOW]] : i1, i8
// CHECK: %[[R:.+]] = seq.compreg %[[KEPT]], %clk : i9
// CHECK-DAG: %[[RSIGN:.+]] = comb.extract %[[R]] from 8 : (i9) -> i1
// CHECK-DAG: %[[RLOW:.+]] = comb.extract %[[R]] from 0 : (i9) -> i8
// CHECK: comb.mux %[[RSIGN]], %{{.+}}, %[[RLOW]] : i8
func.func @relu_after_a_register(%arg0: tensor<1xi11>) -> tensor<1xi8> attributes {hardcore.input_frac_bits = 0 : i64, hardcore.output_frac_bits = 0 : i64, hardcore.latency = 1 : i64, hardcore.clock_enable = false} {
  %0 = "hardcore.extract"(%arg0) {index = 0 : i64} : (tensor<1xi11>) -> i11
  %1 = "hardcore.reg"(%0) : (i11) -> i11
  %2 = "hardcore.clamp"(%1) {min = 0 : i64, max = 1023 : i64} : (i11) -> i8
  %3 = "hardcore.pack"(%2) : (i8) -> tensor<1xi8>
  return %3 : tensor<1xi8>
}
