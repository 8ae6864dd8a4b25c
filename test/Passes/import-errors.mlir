// RUN: hardcore-opt %s --split-input-file --verify-diagnostics --pass-pipeline='builtin.module(hardcore-import)'

// Every unsupported op is reported at its own location, not just the first.
func.func @unsupported(%arg0: !torch.vtensor<[1,4],f32>) -> !torch.vtensor<[1,4],f32> {
  // expected-error @+1 {{hardcore-import: unsupported op 'torch.aten.sin'}}
  %0 = torch.aten.sin %arg0 : !torch.vtensor<[1,4],f32> -> !torch.vtensor<[1,4],f32>
  // expected-error @+1 {{hardcore-import: unsupported op 'torch.aten.cos'}}
  %1 = torch.aten.cos %0 : !torch.vtensor<[1,4],f32> -> !torch.vtensor<[1,4],f32>
  return %1 : !torch.vtensor<[1,4],f32>
}

// -----

// expected-error @+1 {{hardcore-import: expected batch size 1 as the first dimension, got !torch.vtensor<[8,4],f32>}}
func.func @batch_of_eight(%arg0: !torch.vtensor<[8,4],f32>) -> !torch.vtensor<[8,4],f32> {
  %0 = torch.aten.relu %arg0 : !torch.vtensor<[8,4],f32> -> !torch.vtensor<[8,4],f32>
  return %0 : !torch.vtensor<[8,4],f32>
}

// -----

func.func @nan_weight(%arg0: !torch.vtensor<[1,2],f32>) -> !torch.vtensor<[1,1],f32> {
  %none = torch.constant.none
  %w = torch.vtensor.literal(dense<[[0x7FC00000, 1.0]]> : tensor<1x2xf32>) : !torch.vtensor<[1,2],f32>
  // expected-error @+1 {{hardcore-import: linear weight contains NaN or infinity}}
  %0 = torch.aten.linear %arg0, %w, %none : !torch.vtensor<[1,2],f32>, !torch.vtensor<[1,2],f32>, !torch.none -> !torch.vtensor<[1,1],f32>
  return %0 : !torch.vtensor<[1,1],f32>
}

// -----

// A transposed convolution (ConvTranspose1d, as torch-mlir imports it) is not
// a convolution this pass unrolls.
func.func @transposed_convolution(%arg0: !torch.vtensor<[1,1,3],f32>) -> !torch.vtensor<[1,1,4],f32> {
  %true = torch.constant.bool true
  %int0 = torch.constant.int 0
  %0 = torch.vtensor.literal(dense<[[[0.5, -0.25]]]> : tensor<1x1x2xf32>) : !torch.vtensor<[1,1,2],f32>
  %1 = torch.vtensor.literal(dense<-0.675533414> : tensor<1xf32>) : !torch.vtensor<[1],f32>
  %int1 = torch.constant.int 1
  %2 = torch.prim.ListConstruct %int1 : (!torch.int) -> !torch.list<int>
  %3 = torch.prim.ListConstruct %int0 : (!torch.int) -> !torch.list<int>
  %4 = torch.prim.ListConstruct %int0 : (!torch.int) -> !torch.list<int>
  %5 = torch.prim.ListConstruct %int1 : (!torch.int) -> !torch.list<int>
  // expected-error @+1 {{hardcore-import: transposed convolution is not supported}}
  %6 = torch.aten.convolution %arg0, %0, %1, %2, %3, %5, %true, %4, %int1 : !torch.vtensor<[1,1,3],f32>, !torch.vtensor<[1,1,2],f32>, !torch.vtensor<[1],f32>, !torch.list<int>, !torch.list<int>, !torch.list<int>, !torch.bool, !torch.list<int>, !torch.int -> !torch.vtensor<[1,1,4],f32>
  return %6 : !torch.vtensor<[1,1,4],f32>
}

// -----

// A convolution whose weight is computed from the input, not a literal.
func.func @convolution_weight_not_constant(%arg0: !torch.vtensor<[1,1,2],f32>) -> !torch.vtensor<[1,1,1],f32> {
  %false = torch.constant.bool false
  %none = torch.constant.none
  %int0 = torch.constant.int 0
  %int1 = torch.constant.int 1
  %int2 = torch.constant.int 2
  %shape = torch.prim.ListConstruct %int1, %int1, %int2 : (!torch.int, !torch.int, !torch.int) -> !torch.list<int>
  %0 = torch.aten.view %arg0, %shape : !torch.vtensor<[1,1,2],f32>, !torch.list<int> -> !torch.vtensor<[1,1,2],f32>
  %1 = torch.prim.ListConstruct %int1 : (!torch.int) -> !torch.list<int>
  %2 = torch.prim.ListConstruct %int0 : (!torch.int) -> !torch.list<int>
  %3 = torch.prim.ListConstruct  : () -> !torch.list<int>
  // expected-error @+1 {{hardcore-import: convolution weight must be a constant}}
  %4 = torch.aten.convolution %arg0, %0, %none, %1, %2, %1, %false, %3, %int1 : !torch.vtensor<[1,1,2],f32>, !torch.vtensor<[1,1,2],f32>, !torch.none, !torch.list<int>, !torch.list<int>, !torch.list<int>, !torch.bool, !torch.list<int>, !torch.int -> !torch.vtensor<[1,1,1],f32>
  return %4 : !torch.vtensor<[1,1,1],f32>
}

// -----

// Batch norm in training mode (training=true) normalizes by the batch.
func.func @batchnorm_training(%arg0: !torch.vtensor<[1,2],f32>) -> !torch.vtensor<[1,2],f32> {
  %true = torch.constant.bool true
  %false = torch.constant.bool false
  %momentum = torch.constant.float 1.000000e-01
  %eps = torch.constant.float 1.000000e-05
  %ones = torch.vtensor.literal(dense<1.0> : tensor<2xf32>) : !torch.vtensor<[2],f32>
  %zeros = torch.vtensor.literal(dense<0.0> : tensor<2xf32>) : !torch.vtensor<[2],f32>
  // expected-error @+1 {{hardcore-import: batch_norm in training mode normalizes by the batch's statistics: compile the model in eval mode}}
  %0 = torch.aten.batch_norm %arg0, %ones, %zeros, %zeros, %ones, %true, %momentum, %eps, %false : !torch.vtensor<[1,2],f32>, !torch.vtensor<[2],f32>, !torch.vtensor<[2],f32>, !torch.vtensor<[2],f32>, !torch.vtensor<[2],f32>, !torch.bool, !torch.float, !torch.float, !torch.bool -> !torch.vtensor<[1,2],f32>
  return %0 : !torch.vtensor<[1,2],f32>
}

// -----

// Batch norm without running statistics (track_running_stats=False).
func.func @batchnorm_without_running_stats(%arg0: !torch.vtensor<[1,2],f32>) -> !torch.vtensor<[1,2],f32> {
  %false = torch.constant.bool false
  %none = torch.constant.none
  %momentum = torch.constant.float 1.000000e-01
  %eps = torch.constant.float 1.000000e-05
  // expected-error @+1 {{hardcore-import: batch_norm without running statistics (track_running_stats=False) normalizes by the batch's statistics: not supported}}
  %0 = torch.aten.batch_norm %arg0, %none, %none, %none, %none, %false, %momentum, %eps, %false : !torch.vtensor<[1,2],f32>, !torch.none, !torch.none, !torch.none, !torch.none, !torch.bool, !torch.float, !torch.float, !torch.bool -> !torch.vtensor<[1,2],f32>
  return %0 : !torch.vtensor<[1,2],f32>
}

// -----

// Dropout in training mode is random.
func.func @dropout_training(%arg0: !torch.vtensor<[1,2],f32>) -> !torch.vtensor<[1,2],f32> {
  %p = torch.constant.float 2.500000e-01
  %true = torch.constant.bool true
  // expected-error @+1 {{hardcore-import: dropout in training mode is random: compile the model in eval mode}}
  %0 = torch.aten.dropout %arg0, %p, %true : !torch.vtensor<[1,2],f32>, !torch.float, !torch.bool -> !torch.vtensor<[1,2],f32>
  return %0 : !torch.vtensor<[1,2],f32>
}
