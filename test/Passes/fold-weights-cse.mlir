// RUN: hardcore-opt %s --pass-pipeline='builtin.module(hardcore-fold-weights{algorithm=cse})' | filecheck %s --check-prefix=CSE
// RUN: hardcore-opt %s --pass-pipeline='builtin.module(hardcore-fold-weights{algorithm=csd})' | filecheck %s --check-prefix=CSD
// RUN: hardcore-opt %s --pass-pipeline='builtin.module(hardcore-fold-weights{algorithm=cse max-depth=2})' | filecheck %s --check-prefix=CSE

// y0 = 3*x0 + 3*x1 and y1 = x0 + x1 + 4*x2 share s = x0 + x1: y0 = s + (s << 1)
// (3 = 2 + 1, narrower than (s << 2) - s), y1 = (x2 << 2) + s.  Three adders,
// where folding each weight on its own (csd) needs five.  The layer's figures
// record the count.
// CSE-LABEL: func.func @shared_pair
// CSE-SAME: adder_depth = 2 : i64, adders = 3 : i64
// CSE-DAG: %[[X0:.+]] = "hardcore.extract"(%{{.+}}) {index = 0 : i64}
// CSE-DAG: %[[X1:.+]] = "hardcore.extract"(%{{.+}}) {index = 1 : i64}
// CSE-DAG: %[[X2:.+]] = "hardcore.extract"(%{{.+}}) {index = 2 : i64}
// CSE: %[[S:.+]] = "hardcore.add"(%[[X0]], %[[X1]]) : (i8, i8) -> i9
// CSE: %[[S2:.+]] = "hardcore.shl"(%[[S]]) {amount = 1 : i64} : (i9) -> i10
// CSE: %[[Y0:.+]] = "hardcore.add"(%[[S]], %[[S2]]) : (i9, i10) -> i11
// CSE: %[[X24:.+]] = "hardcore.shl"(%[[X2]]) {amount = 2 : i64} : (i8) -> i10
// CSE: %[[Y1:.+]] = "hardcore.add"(%[[X24]], %[[S]]) : (i10, i9) -> i11
// CSE-NOT: hardcore.add
// CSE-NOT: hardcore.sub
// CSE: "hardcore.pack"(%[[Y0]], %[[Y1]])
// CSD-LABEL: func.func @shared_pair
// CSD-SAME: adders = 5 : i64
// CSD-COUNT-5: "hardcore.{{add|sub}}"
// CSD-NOT: "hardcore.{{add|sub}}"
// CSD: "hardcore.pack"
func.func @shared_pair(%arg0: tensor<3xf32>) -> tensor<2xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 4 : i64, min = -128 : i64, max = 127 : i64} : (tensor<3xf32>) -> tensor<3xi8>
  %1 = "hardcore.dense"(%0) {weight = dense<[[3, 3, 0], [1, 1, 4]]> : tensor<2x3xi8>, bias = dense<0> : tensor<2xi64>} : (tensor<3xi8>) -> tensor<2xi32>
  %2 = "hardcore.requant"(%1) {shift = 0 : i64, min = -1024 : i64, max = 1023 : i64} : (tensor<2xi32>) -> tensor<2xi11>
  %3 = "hardcore.dequantize"(%2) {frac_bits = 4 : i64} : (tensor<2xi11>) -> tensor<2xf32>
  return %3 : tensor<2xf32>
}
