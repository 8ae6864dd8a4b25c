// Every hardcore op parses, verifies and prints back, in hardcore-opt and in
// any MLIR tool that loads the IRDL file.
// RUN: hardcore-opt %s | hardcore-opt | filecheck %s
// RUN: torch-mlir-opt --irdl-file=%irdl %s | torch-mlir-opt --irdl-file=%irdl | filecheck %s

// CHECK-LABEL: func.func @layer_ops
func.func @layer_ops(%x: tensor<2xf32>) -> tensor<3xf32> {
  // CHECK: "hardcore.quantize"(%{{.*}}) {frac_bits = 5 : i64, max = 127 : i64, min = -128 : i64} : (tensor<2xf32>) -> tensor<2xi8>
  %q = "hardcore.quantize"(%x) {frac_bits = 5 : i64, min = -128 : i64, max = 127 : i64} : (tensor<2xf32>) -> tensor<2xi8>
  // CHECK: "hardcore.dense"(%{{.*}}) {bias = dense<[1, 2, 3]> : tensor<3xi64>, weight = dense<{{\[\[}}3, -7], [0, 8], [1, 1]]> : tensor<3x2xi8>}
  %d = "hardcore.dense"(%q) {weight = dense<[[3, -7], [0, 8], [1, 1]]> : tensor<3x2xi8>, bias = dense<[1, 2, 3]> : tensor<3xi64>} : (tensor<2xi8>) -> tensor<3xi32>
  // CHECK: "hardcore.relu"
  %r = "hardcore.relu"(%d) : (tensor<3xi32>) -> tensor<3xi32>
  // CHECK: "hardcore.requant"(%{{.*}}) {max = 255 : i64, min = 0 : i64, shift = 4 : i64}
  %s = "hardcore.requant"(%r) {shift = 4 : i64, min = 0 : i64, max = 255 : i64} : (tensor<3xi32>) -> tensor<3xi9>
  // One shift per element (per-channel weight scales).
  // CHECK: "hardcore.requant"(%{{.*}}) {max = 255 : i64, min = 0 : i64, shift = dense<[4, 6, 5]> : tensor<3xi64>}
  %s2 = "hardcore.requant"(%r) {shift = dense<[4, 6, 5]> : tensor<3xi64>, min = 0 : i64, max = 255 : i64} : (tensor<3xi32>) -> tensor<3xi9>
  // CHECK: "hardcore.reshape"
  %t = "hardcore.reshape"(%s) : (tensor<3xi9>) -> tensor<1x3xi9>
  // CHECK: "hardcore.dequantize"(%{{.*}}) {frac_bits = 4 : i64}
  %f = "hardcore.dequantize"(%t) {frac_bits = 4 : i64} : (tensor<1x3xi9>) -> tensor<3xf32>
  return %f : tensor<3xf32>
}

// CHECK-LABEL: func.func @scalar_ops
func.func @scalar_ops(%x: tensor<2xi8>) -> tensor<2xi12> {
  // CHECK: %[[A:.+]] = "hardcore.extract"(%{{.*}}) {index = 0 : i64} : (tensor<2xi8>) -> i8
  %a = "hardcore.extract"(%x) {index = 0 : i64} : (tensor<2xi8>) -> i8
  %b = "hardcore.extract"(%x) {index = 1 : i64} : (tensor<2xi8>) -> i8
  // CHECK: %[[S:.+]] = "hardcore.shl"(%[[A]]) {amount = 3 : i64} : (i8) -> i11
  %s = "hardcore.shl"(%a) {amount = 3 : i64} : (i8) -> i11
  // CHECK: "hardcore.sub"(%[[S]], %[[A]]) : (i11, i8) -> i11
  %m = "hardcore.sub"(%s, %a) : (i11, i8) -> i11
  %c = "hardcore.constant"() {value = -5 : i64} : () -> i4
  // CHECK: "hardcore.add"
  %n = "hardcore.add"(%m, %c) : (i11, i4) -> i12
  // CHECK: "hardcore.neg"
  %g = "hardcore.neg"(%b) : (i8) -> i9
  // CHECK: "hardcore.shr"(%{{.*}}) {amount = 1 : i64} : (i9) -> i8
  %h = "hardcore.shr"(%g) {amount = 1 : i64} : (i9) -> i8
  // CHECK: "hardcore.clamp"(%{{.*}}) {max = 100 : i64, min = 0 : i64} : (i8) -> i8
  %k = "hardcore.clamp"(%h) {min = 0 : i64, max = 100 : i64} : (i8) -> i8
  // CHECK: "hardcore.sext"(%{{.*}}) : (i8) -> i12
  %w = "hardcore.sext"(%k) : (i8) -> i12
  // CHECK: "hardcore.pack"(%{{.*}}, %{{.*}}) : (i12, i12) -> tensor<2xi12>
  %p = "hardcore.pack"(%n, %w) : (i12, i12) -> tensor<2xi12>
  return %p : tensor<2xi12>
}

// CHECK-LABEL: func.func @activation_ops
func.func @activation_ops(%x: tensor<2xf32>) -> tensor<2xf32> {
  // CHECK: "hardcore.activation"(%{{.*}}) {fn = "leaky_relu", params = {negative_slope = 1.250000e-01 : f64}} : (tensor<2xf32>) -> tensor<2xf32>
  %a = "hardcore.activation"(%x) {fn = "leaky_relu", params = {negative_slope = 0.125 : f64}} : (tensor<2xf32>) -> tensor<2xf32>
  %q = "hardcore.quantize"(%a) {frac_bits = 0 : i64, min = -2 : i64, max = 1 : i64} : (tensor<2xf32>) -> tensor<2xi2>
  // CHECK: "hardcore.lut"(%{{.*}}) {min = -2 : i64, table = dense<[0, 1, 2, 3]> : tensor<4xi64>} : (tensor<2xi2>) -> tensor<2xi3>
  %l = "hardcore.lut"(%q) {min = -2 : i64, table = dense<[0, 1, 2, 3]> : tensor<4xi64>} : (tensor<2xi2>) -> tensor<2xi3>
  %f = "hardcore.dequantize"(%l) {frac_bits = 2 : i64} : (tensor<2xi3>) -> tensor<2xf32>
  return %f : tensor<2xf32>
}

// CHECK-LABEL: func.func @table_op
func.func @table_op(%x: i2) -> i3 {
  // CHECK: "hardcore.table"(%{{.*}}) {min = -2 : i64, table = dense<[3, 1, 0, 1]> : tensor<4xi64>} : (i2) -> i3
  %t = "hardcore.table"(%x) {min = -2 : i64, table = dense<[3, 1, 0, 1]> : tensor<4xi64>} : (i2) -> i3
  return %t : i3
}

// CHECK-LABEL: func.func @decoder_step_ops
func.func @decoder_step_ops(%ids: tensor<1xi3>, %pos: tensor<1xi3>, %cache: tensor<2x4xi4>) -> tensor<1x4xi3> {
  // CHECK: "hardcore.embedding_at"(%{{.*}}, %{{.*}}) {table = dense<{{.+}}> : tensor<2x1x2xi8>} : (tensor<1xi3>, tensor<1xi3>) -> tensor<1x2xi4>
  %x = "hardcore.embedding_at"(%ids, %pos) {table = dense<[[[1, 2]], [[3, -4]]]> : tensor<2x1x2xi8>} : (tensor<1xi3>, tensor<1xi3>) -> tensor<1x2xi4>
  %row = "hardcore.reshape"(%x) : (tensor<1x2xi4>) -> tensor<2x1xi4>
  // CHECK: "hardcore.insert_row"(%{{.*}}, %{{.*}}, %{{.*}}) {axis = 1 : i64} : (tensor<2x4xi4>, tensor<2x1xi4>, tensor<1xi3>) -> tensor<2x4xi4>
  %all = "hardcore.insert_row"(%cache, %row, %pos) {axis = 1 : i64} : (tensor<2x4xi4>, tensor<2x1xi4>, tensor<1xi3>) -> tensor<2x4xi4>
  %s = "hardcore.matmul"(%x, %all) : (tensor<1x2xi4>, tensor<2x4xi4>) -> tensor<1x4xi9>
  // CHECK: "hardcore.qsoftmax_at"(%{{.*}}, %{{.*}}) {exp_min = -1 : i64, exp_table = dense<[1, 2]> : tensor<2xi32>, max = 3 : i64, min = 0 : i64, offset = 0 : i64, recip_table = dense<[2, 1]> : tensor<2xi32>, shift = 1 : i64, sum_shift = 0 : i64}
  %a = "hardcore.qsoftmax_at"(%s, %pos) {offset = 0 : i64, exp_table = dense<[1, 2]> : tensor<2xi32>, exp_min = -1 : i64, sum_shift = 0 : i64, recip_table = dense<[2, 1]> : tensor<2xi32>, shift = 1 : i64, min = 0 : i64, max = 3 : i64} : (tensor<1x4xi9>, tensor<1xi3>) -> tensor<1x4xi3>
  return %a : tensor<1x4xi3>
}
