// RUN: hardcore-opt %s --split-input-file --pass-pipeline='builtin.module(hardcore-fold-weights{algorithm=csd})' | filecheck %s

// A weight of 0 vanishes, 8 is a wire, 7 is (x << 3) - x; every result is
// exactly as wide as its range: 8 * [-128, 127] needs 11 bits, 7 * the same
// also 11.  The function's signature becomes the integers the circuit sees.
// CHECK-LABEL: func.func @csd_per_weight
// CHECK-SAME: (%[[X:.+]]: tensor<2xi8>) -> tensor<2xi11>
// CHECK-SAME: hardcore.input_frac_bits = 4 : i64
// CHECK-SAME: hardcore.output_frac_bits = 4 : i64
// CHECK-DAG: %[[X0:.+]] = "hardcore.extract"(%[[X]]) {index = 0 : i64} : (tensor<2xi8>) -> i8
// CHECK-DAG: %[[X1:.+]] = "hardcore.extract"(%[[X]]) {index = 1 : i64} : (tensor<2xi8>) -> i8
// CHECK: %[[X0S3:.+]] = "hardcore.shl"(%[[X0]]) {amount = 3 : i64} : (i8) -> i11
// CHECK: %[[SEVEN:.+]] = "hardcore.sub"(%[[X0S3]], %[[X0]]) : (i11, i8) -> i11
// CHECK: %[[EIGHT:.+]] = "hardcore.shl"(%[[X1]]) {amount = 3 : i64} : (i8) -> i11
// CHECK-NOT: hardcore.add
// CHECK: %[[Y:.+]] = "hardcore.pack"(%[[EIGHT]], %[[SEVEN]]) : (i11, i11) -> tensor<2xi11>
// CHECK: return %[[Y]]
func.func @csd_per_weight(%arg0: tensor<2xf32>) -> tensor<2xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 4 : i64, min = -128 : i64, max = 127 : i64} : (tensor<2xf32>) -> tensor<2xi8>
  %1 = "hardcore.dense"(%0) {weight = dense<[[0, 8], [7, 0]]> : tensor<2x2xi8>, bias = dense<0> : tensor<2xi64>} : (tensor<2xi8>) -> tensor<2xi32>
  %2 = "hardcore.requant"(%1) {shift = 0 : i64, min = -1024 : i64, max = 1023 : i64} : (tensor<2xi32>) -> tensor<2xi11>
  %3 = "hardcore.dequantize"(%2) {frac_bits = 4 : i64} : (tensor<2xi11>) -> tensor<2xf32>
  return %3 : tensor<2xf32>
}

// -----

// Dense + ReLU + requantization: the bias and the rounding constant (2^(4-1))
// are one constant added once; the shift drops 4 low bits (a wire); ReLU and
// saturation are one clamp.  Weight 3 is (x << 2) - x, 5 is x + (x << 2).
// CHECK-LABEL: func.func @bias_relu_requant
// CHECK-DAG: %[[X0:.+]] = "hardcore.extract"(%{{.+}}) {index = 0 : i64} : (tensor<2xi8>) -> i8
// CHECK-DAG: %[[X1:.+]] = "hardcore.extract"(%{{.+}}) {index = 1 : i64} : (tensor<2xi8>) -> i8
// CHECK: %[[X0S2:.+]] = "hardcore.shl"(%[[X0]]) {amount = 2 : i64} : (i8) -> i10
// CHECK: %[[T3:.+]] = "hardcore.sub"(%[[X0S2]], %[[X0]]) : (i10, i8) -> i10
// CHECK: %[[X1S2:.+]] = "hardcore.shl"(%[[X1]]) {amount = 2 : i64} : (i8) -> i10
// CHECK: %[[T5:.+]] = "hardcore.add"(%[[X1]], %[[X1S2]]) : (i8, i10) -> i11
// CHECK: %[[SUM:.+]] = "hardcore.add"(%[[T3]], %[[T5]]) : (i10, i11) -> i11
// CHECK: %[[C:.+]] = "hardcore.constant"() {value = 108 : i64} : () -> i8
// CHECK: %[[B:.+]] = "hardcore.add"(%[[SUM]], %[[C]]) : (i11, i8) -> i12
// CHECK: %[[SH:.+]] = "hardcore.shr"(%[[B]]) {amount = 4 : i64} : (i12) -> i8
// CHECK: %[[R:.+]] = "hardcore.clamp"(%[[SH]]) {max = 127 : i64, min = 0 : i64} : (i8) -> i8
// CHECK: "hardcore.pack"(%[[R]]) : (i8) -> tensor<1xi8>
func.func @bias_relu_requant(%arg0: tensor<2xf32>) -> tensor<1xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 4 : i64, min = -128 : i64, max = 127 : i64} : (tensor<2xf32>) -> tensor<2xi8>
  %1 = "hardcore.dense"(%0) {weight = dense<[[3, 5]]> : tensor<1x2xi8>, bias = dense<100> : tensor<1xi64>} : (tensor<2xi8>) -> tensor<1xi32>
  %2 = "hardcore.relu"(%1) : (tensor<1xi32>) -> tensor<1xi32>
  %3 = "hardcore.requant"(%2) {shift = 4 : i64, min = 0 : i64, max = 255 : i64} : (tensor<1xi32>) -> tensor<1xi9>
  %4 = "hardcore.dequantize"(%3) {frac_bits = 4 : i64} : (tensor<1xi9>) -> tensor<1xf32>
  return %4 : tensor<1xf32>
}

// -----

// A zero row is only its bias: a constant, no adder.
// CHECK-LABEL: func.func @zero_row
// CHECK-NOT: hardcore.add
// CHECK: %[[C:.+]] = "hardcore.constant"() {value = 2 : i64} : () -> i3
// CHECK: "hardcore.pack"(%[[C]]) : (i3) -> tensor<1xi3>
func.func @zero_row(%arg0: tensor<2xf32>) -> tensor<1xf32> {
  %0 = "hardcore.quantize"(%arg0) {frac_bits = 4 : i64, min = -128 : i64, max = 127 : i64} : (tensor<2xf32>) -> tensor<2xi8>
  %1 = "hardcore.dense"(%0) {weight = dense<0> : tensor<1x2xi8>, bias = dense<33> : tensor<1xi64>} : (tensor<2xi8>) -> tensor<1xi32>
  %2 = "hardcore.requant"(%1) {shift = 4 : i64, min = -128 : i64, max = 127 : i64} : (tensor<1xi32>) -> tensor<1xi8>
  %3 = "hardcore.dequantize"(%2) {frac_bits = 0 : i64} : (tensor<1xi8>) -> tensor<1xf32>
  return %3 : tensor<1xf32>
}

// -----

// A saturation range the value never reaches (ReLU gives [0, 3], the bounds
// are [4, 4]) makes the output a constant, not a clamp whose lower bound
// exceeds its upper one (found by hardcore.fuzz).
// CHECK-LABEL: func.func @saturation_above_the_range
// CHECK-NOT: hardcore.clamp
// CHECK: %[[C:.+]] = "hardcore.constant"() {value = 4 : i64} : () -> i4
// CHECK: "hardcore.pack"(%[[C]]) : (i4) -> tensor<1xi4>
func.func @saturation_above_the_range(%arg0: tensor<1xf32>) -> tensor<1xf32> {
  %q = "hardcore.quantize"(%arg0) {frac_bits = 0 : i64, min = -4 : i64, max = 3 : i64} : (tensor<1xf32>) -> tensor<1xi3>
  %d0 = "hardcore.dense"(%q) {weight = dense<[[1]]> : tensor<1x1xi8>, bias = dense<[0]> : tensor<1xi64>} : (tensor<1xi3>) -> tensor<1xi64>
  %r0 = "hardcore.relu"(%d0) : (tensor<1xi64>) -> tensor<1xi64>
  %s0 = "hardcore.requant"(%r0) {shift = 0 : i64, min = 4 : i64, max = 4 : i64} : (tensor<1xi64>) -> tensor<1xi4>
  %f = "hardcore.dequantize"(%s0) {frac_bits = 0 : i64} : (tensor<1xi4>) -> tensor<1xf32>
  return %f : tensor<1xf32>
}
