// The pooling and argmax ops parse, verify and print back, in hardcore-opt and
// in any MLIR tool that loads the IRDL file.
// RUN: hardcore-opt %s | hardcore-opt | filecheck %s
// RUN: torch-mlir-opt --irdl-file=%irdl %s | torch-mlir-opt --irdl-file=%irdl | filecheck %s

// CHECK-LABEL: func.func @pool_layer_ops
func.func @pool_layer_ops(%x: tensor<4xf32>) -> tensor<1xf32> {
  // CHECK: "hardcore.maxpool"(%{{.*}}) {windows = dense<{{\[\[}}0, 1], [2, -1]]> : tensor<2x2xi64>} : (tensor<4xf32>) -> tensor<2xf32>
  %m = "hardcore.maxpool"(%x) {windows = dense<[[0, 1], [2, -1]]> : tensor<2x2xi64>} : (tensor<4xf32>) -> tensor<2xf32>
  // CHECK: "hardcore.avgpool"(%{{.*}}) {divisors = dense<[2, 3]> : tensor<2xi64>, windows = dense<{{\[\[}}0, 1, -1], [1, 2, 3]]> : tensor<2x3xi64>} : (tensor<4xf32>) -> tensor<2xf32>
  %a = "hardcore.avgpool"(%x) {windows = dense<[[0, 1, -1], [1, 2, 3]]> : tensor<2x3xi64>, divisors = dense<[2, 3]> : tensor<2xi64>} : (tensor<4xf32>) -> tensor<2xf32>
  // CHECK: "hardcore.argmax"(%{{.*}}) : (tensor<2xf32>) -> tensor<1xf32>
  %i = "hardcore.argmax"(%a) : (tensor<2xf32>) -> tensor<1xf32>
  return %i : tensor<1xf32>
}

// CHECK-LABEL: func.func @pool_scalar_ops
func.func @pool_scalar_ops(%x: tensor<2xi8>) -> tensor<2xi8> {
  %a = "hardcore.extract"(%x) {index = 0 : i64} : (tensor<2xi8>) -> i8
  %b = "hardcore.extract"(%x) {index = 1 : i64} : (tensor<2xi8>) -> i8
  // CHECK: %[[M:.+]] = "hardcore.max"(%[[A:.+]], %[[B:.+]]) : (i8, i8) -> i8
  %m = "hardcore.max"(%a, %b) : (i8, i8) -> i8
  %zero = "hardcore.constant"() {value = 0 : i64} : () -> i1
  %one = "hardcore.constant"() {value = 1 : i64} : () -> i2
  // CHECK: "hardcore.pick"(%[[A]], %[[B]], %{{.*}}, %{{.*}}) : (i8, i8, i1, i2) -> i2
  %i = "hardcore.pick"(%a, %b, %zero, %one) : (i8, i8, i1, i2) -> i2
  %w = "hardcore.sext"(%i) : (i2) -> i8
  %p = "hardcore.pack"(%m, %w) : (i8, i8) -> tensor<2xi8>
  return %p : tensor<2xi8>
}
