// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-to-hw)' | filecheck %s

// A decoder step's ports: x (the token, unsigned), pos, a cache per cache
// argument; y (the next token, unsigned), the fresh rows, the logits row
// (output=both).  A mux on the position compares it once per test (p <= 0,
// p == 1 here: p's range [0, 1] decides the other sides) and shares it.
// CHECK-LABEL: hw.module @ports(in %x : i2, in %pos : i2, in %cache0 : i6, out y : i1, out fresh0 : i3, out logits : i6)
// CHECK: %[[C0:.+]] = comb.extract %cache0 from 0 : (i6) -> i3
// CHECK: %[[C1:.+]] = comb.extract %cache0 from 3 : (i6) -> i3
// CHECK: %[[AT0:.+]] = comb.icmp sle %pos, %{{.+}} : i2
// CHECK: %[[M0:.+]] = comb.mux %[[AT0]], %[[R:.+]], %[[C0]] : i3
// CHECK: %[[AT1:.+]] = comb.icmp eq %pos, %{{.+}} : i2
// CHECK: %[[M1:.+]] = comb.mux %[[AT1]], %[[R]], %[[C1]] : i3
// CHECK: %[[GT:.+]] = comb.icmp sgt %[[M1]], %[[M0]] : i3
// CHECK: %[[I:.+]] = comb.mux %[[GT]], %{{.+}}, %{{.+}} : i1
// CHECK: %[[L:.+]] = comb.concat %[[M1]], %[[M0]] : i3, i3
// CHECK: hw.output %[[I]], %[[R]], %[[L]] : i1, i3, i6
func.func @ports(%x: tensor<1xi3>, %pos: tensor<1xi2>, %cache: tensor<2x1xi3>) -> (tensor<1xi2>, tensor<1x1xi3>, tensor<1x2xi3>) attributes {hardcore.decoder = {cache_axes = [0], output = "both", positions = 2 : i64}, hardcore.input_unsigned, hardcore.output_unsigned} {
  %t = "hardcore.extract"(%x) {index = 0 : i64} : (tensor<1xi3>) -> i3
  %p = "hardcore.extract"(%pos) {index = 0 : i64} : (tensor<1xi2>) -> i2
  %c0 = "hardcore.extract"(%cache) {index = 0 : i64} : (tensor<2x1xi3>) -> i3
  %c1 = "hardcore.extract"(%cache) {index = 1 : i64} : (tensor<2x1xi3>) -> i3
  %r = "hardcore.table"(%t) {min = 0 : i64, table = dense<[1, 3, -1, -1]> : tensor<4xi64>} : (i3) -> i3
  %m0 = "hardcore.mux"(%p, %r, %c0) {min = -2 : i64, max = 0 : i64} : (i2, i3, i3) -> i3
  %m1 = "hardcore.mux"(%p, %r, %c1) {min = 1 : i64, max = 1 : i64} : (i2, i3, i3) -> i3
  %zero = "hardcore.constant"() {value = 0 : i64} : () -> i1
  %one = "hardcore.constant"() {value = 1 : i64} : () -> i2
  %i = "hardcore.pick"(%m0, %m1, %zero, %one) : (i3, i3, i1, i2) -> i2
  %next = "hardcore.pack"(%i) : (i2) -> tensor<1xi2>
  %fresh = "hardcore.pack"(%r) : (i3) -> tensor<1x1xi3>
  %logits = "hardcore.pack"(%m0, %m1) : (i3, i3) -> tensor<1x2xi3>
  return %next, %fresh, %logits : tensor<1xi2>, tensor<1x1xi3>, tensor<1x2xi3>
}

// -----

// A test both sides of which p's type can fail is two comparisons and an and.
// CHECK-LABEL: hw.module @both_sides(in %x : i2, in %pos : i3, out y : i3)
// CHECK: %[[LOW:.+]] = comb.icmp sge %pos, %{{.+}} : i3
// CHECK: %[[HIGH:.+]] = comb.icmp sle %pos, %{{.+}} : i3
// CHECK: %[[IN:.+]] = comb.and %[[LOW]], %[[HIGH]] : i1
// CHECK: comb.mux %[[IN]], %{{.+}}, %{{.+}} : i3
func.func @both_sides(%x: tensor<1xi3>, %pos: tensor<1xi3>) -> tensor<1xi3> attributes {hardcore.decoder = {cache_axes = [], positions = 4 : i64}, hardcore.input_unsigned} {
  %t = "hardcore.extract"(%x) {index = 0 : i64} : (tensor<1xi3>) -> i3
  %p = "hardcore.extract"(%pos) {index = 0 : i64} : (tensor<1xi3>) -> i3
  %r = "hardcore.table"(%t) {min = 0 : i64, table = dense<[1, 3, -1, -1]> : tensor<4xi64>} : (i3) -> i3
  %c = "hardcore.constant"() {value = 2 : i64} : () -> i3
  %m = "hardcore.mux"(%p, %r, %c) {min = 1 : i64, max = 2 : i64} : (i3, i3, i3) -> i3
  %y = "hardcore.pack"(%m) : (i3) -> tensor<1xi3>
  return %y : tensor<1xi3>
}
