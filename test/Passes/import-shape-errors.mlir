// RUN: hardcore-opt %s --split-input-file --verify-diagnostics --pass-pipeline='builtin.module(hardcore-import)'

// Nearest upsampling is wires and bilinear a dense layer; other modes are not supported.
func.func @upsample_bicubic(%arg0: !torch.vtensor<[1,1,2,2],f32>) -> !torch.vtensor<[1,1,4,4],f32> {
  %false = torch.constant.bool false
  %str = torch.constant.str "bicubic"
  %none = torch.constant.none
  %float2.000000e00 = torch.constant.float 2.000000e+00
  %0 = torch.prim.ListConstruct %float2.000000e00, %float2.000000e00 : (!torch.float, !torch.float) -> !torch.list<float>
  // expected-error @+1 {{hardcore-import: interpolate mode 'bicubic' is not supported (only 'nearest' and 'bilinear')}}
  %1 = torch.aten.__interpolate.size_list_scale_list %arg0, %none, %0, %str, %false, %none, %false : !torch.vtensor<[1,1,2,2],f32>, !torch.none, !torch.list<float>, !torch.str, !torch.bool, !torch.none, !torch.bool -> !torch.vtensor<[1,1,4,4],f32>
  return %1 : !torch.vtensor<[1,1,4,4],f32>
}

// -----

// Bilinear upsampling is of an image: batch 1 x C x H x W.
func.func @upsample_bilinear_1d(%arg0: !torch.vtensor<[1,1,2],f32>) -> !torch.vtensor<[1,1,4],f32> {
  %false = torch.constant.bool false
  %str = torch.constant.str "bilinear"
  %none = torch.constant.none
  %float2.000000e00 = torch.constant.float 2.000000e+00
  %0 = torch.prim.ListConstruct %float2.000000e00 : (!torch.float) -> !torch.list<float>
  // expected-error @+1 {{hardcore-import: bilinear upsampling of [1, 1, 2]: expected batch 1 x C x H x W}}
  %1 = torch.aten.__interpolate.size_list_scale_list %arg0, %none, %0, %str, %false, %none, %false : !torch.vtensor<[1,1,2],f32>, !torch.none, !torch.list<float>, !torch.str, !torch.bool, !torch.none, !torch.bool -> !torch.vtensor<[1,1,4],f32>
  return %1 : !torch.vtensor<[1,1,4],f32>
}

// -----

func.func @flip_dim_out_of_range(%arg0: !torch.vtensor<[1,2,3],f32>) -> !torch.vtensor<[1,2,3],f32> {
  %int3 = torch.constant.int 3
  %0 = torch.prim.ListConstruct %int3 : (!torch.int) -> !torch.list<int>
  // expected-error @+1 {{hardcore-import: flip dim 3 is out of range for 3 dimensions}}
  %1 = torch.aten.flip %arg0, %0 : !torch.vtensor<[1,2,3],f32>, !torch.list<int> -> !torch.vtensor<[1,2,3],f32>
  return %1 : !torch.vtensor<[1,2,3],f32>
}

// -----

func.func @pad_not_pairs(%arg0: !torch.vtensor<[1,1,2],f32>) -> !torch.vtensor<[1,1,3],f32> {
  %float0.000000e00 = torch.constant.float 0.000000e+00
  %int1 = torch.constant.int 1
  %0 = torch.prim.ListConstruct %int1 : (!torch.int) -> !torch.list<int>
  // expected-error @+1 {{hardcore-import: constant_pad_nd pad [1] must be (before, after) pairs for at most 3 dims}}
  %1 = torch.aten.constant_pad_nd %arg0, %0, %float0.000000e00 : !torch.vtensor<[1,1,2],f32>, !torch.list<int>, !torch.float -> !torch.vtensor<[1,1,3],f32>
  return %1 : !torch.vtensor<[1,1,3],f32>
}

// -----

// Padding the batch dimension (then slicing a sample back out): the padded
// tensor is two samples, which a circuit of one sample cannot hold.
func.func @pad_batch(%arg0: !torch.vtensor<[1,2],f32>) -> !torch.vtensor<[1,2],f32> {
  %float0.000000e00 = torch.constant.float 0.000000e+00
  %int0 = torch.constant.int 0
  %int1 = torch.constant.int 1
  %int2 = torch.constant.int 2
  %0 = torch.prim.ListConstruct %int0, %int0, %int1, %int0 : (!torch.int, !torch.int, !torch.int, !torch.int) -> !torch.list<int>
  // expected-error @+1 {{hardcore-import: constant_pad_nd over the batch dimension is not supported}}
  %1 = torch.aten.constant_pad_nd %arg0, %0, %float0.000000e00 : !torch.vtensor<[1,2],f32>, !torch.list<int>, !torch.float -> !torch.vtensor<[2,2],f32>
  %2 = torch.aten.slice.Tensor %1, %int0, %int1, %int2, %int1 : !torch.vtensor<[2,2],f32>, !torch.int, !torch.int, !torch.int, !torch.int -> !torch.vtensor<[1,2],f32>
  return %2 : !torch.vtensor<[1,2],f32>
}
