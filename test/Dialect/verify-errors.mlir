// The IRDL definition's constraints are enforced by the verifier.
// RUN: hardcore-opt %s --split-input-file --verify-diagnostics
// RUN: torch-mlir-opt --irdl-file=%irdl %s --split-input-file --verify-diagnostics

func.func @dense_needs_weights(%x: tensor<2xi8>) -> tensor<3xi32> {
  // expected-error @+1 {{'hardcore.dense' op}}
  %d = "hardcore.dense"(%x) {bias = dense<[1, 2, 3]> : tensor<3xi64>} : (tensor<2xi8>) -> tensor<3xi32>
  return %d : tensor<3xi32>
}

// -----

func.func @add_takes_integers(%x: tensor<2xi8>) -> tensor<2xi8> {
  // expected-error @+1 {{expected base type 'builtin.integer' but got 'builtin.tensor'}}
  %a = "hardcore.add"(%x, %x) : (tensor<2xi8>, tensor<2xi8>) -> i9
  return %x : tensor<2xi8>
}

// -----

func.func @activation_names_its_function(%x: tensor<2xf32>) -> tensor<2xf32> {
  // expected-error @+1 {{'hardcore.activation' op}}
  %a = "hardcore.activation"(%x) {params = {}} : (tensor<2xf32>) -> tensor<2xf32>
  return %a : tensor<2xf32>
}

// -----

func.func @table_takes_an_integer(%x: tensor<2xi8>) -> tensor<2xi8> {
  // expected-error @+1 {{expected base type 'builtin.integer' but got 'builtin.tensor'}}
  %t = "hardcore.table"(%x) {min = 0 : i64, table = dense<[0, 1]> : tensor<2xi64>} : (tensor<2xi8>) -> i8
  return %x : tensor<2xi8>
}

// -----

func.func @requant_shift_is_an_integer_or_an_array(%x: tensor<2xi32>) -> tensor<2xi8> {
  // expected-error @+1 {{'"4"' does not satisfy the constraint}}
  %r = "hardcore.requant"(%x) {shift = "4", min = -128 : i64, max = 127 : i64} : (tensor<2xi32>) -> tensor<2xi8>
  return %r : tensor<2xi8>
}

// -----

func.func @conv_needs_its_geometry(%x: tensor<1x4x4xf32>) -> tensor<1x2x2xf32> {
  // expected-error @+1 {{'hardcore.conv' op}}
  %y = "hardcore.conv"(%x) {weight = dense<1.0> : tensor<1x1x3x3xf32>, bias = dense<0.0> : tensor<1xf32>,
                            stride = dense<[1, 1]> : tensor<2xi64>, padding = dense<[0, 0]> : tensor<2xi64>,
                            groups = 1 : i64} : (tensor<1x4x4xf32>) -> tensor<1x2x2xf32>
  return %y : tensor<1x2x2xf32>
}
