// RUN: hardcore-opt %s --split-input-file --verify-diagnostics --pass-pipeline='builtin.module(hardcore-import)'

// softmax over another dimension than the last.
func.func @softmax_not_last(%arg0: !torch.vtensor<[1,3,2],f32>) -> !torch.vtensor<[1,3,2],f32> {
  %int1 = torch.constant.int 1
  %none = torch.constant.none
  // expected-error @+1 {{hardcore-import: softmax over dim 1 of 3 is not supported (only over the last one)}}
  %0 = torch.aten.softmax.int %arg0, %int1, %none : !torch.vtensor<[1,3,2],f32>, !torch.int, !torch.none -> !torch.vtensor<[1,3,2],f32>
  return %0 : !torch.vtensor<[1,3,2],f32>
}

// -----

// masked_fill(triu(ones), -inf): a constant mask, but not the causal one.
func.func @mask_not_causal(%arg0: !torch.vtensor<[1,3,3],f32>) -> !torch.vtensor<[1,3,3],f32> {
  %int0 = torch.constant.int 0
  %int-1 = torch.constant.int -1
  %none = torch.constant.none
  %0 = torch.vtensor.literal(dense<0xFF800000> : tensor<f32>) : !torch.vtensor<[],f32>
  %1 = torch.vtensor.literal(dense<true> : tensor<3x3xi1>) : !torch.vtensor<[3,3],i1>
  %2 = torch.aten.triu %1, %int0 : !torch.vtensor<[3,3],i1>, !torch.int -> !torch.vtensor<[3,3],i1>
  // expected-error @+1 {{hardcore-import: where.self: only a causal mask of softmax scores is supported (query i keeps the keys j <= i + N - M); this one masks key 0 of query 0}}
  %3 = torch.aten.where.self %2, %0, %arg0 : !torch.vtensor<[3,3],i1>, !torch.vtensor<[],f32>, !torch.vtensor<[1,3,3],f32> -> !torch.vtensor<[1,3,3],f32>
  %4 = torch.aten.softmax.int %3, %int-1, %none : !torch.vtensor<[1,3,3],f32>, !torch.int, !torch.none -> !torch.vtensor<[1,3,3],f32>
  return %4 : !torch.vtensor<[1,3,3],f32>
}

// -----

// A mask the model computes (x > 0) is not a constant.
func.func @mask_computed(%arg0: !torch.vtensor<[1,3,3],f32>) -> !torch.vtensor<[1,3,3],f32> {
  %int0 = torch.constant.int 0
  %int-1 = torch.constant.int -1
  %none = torch.constant.none
  %0 = torch.vtensor.literal(dense<0xFF800000> : tensor<f32>) : !torch.vtensor<[],f32>
  // expected-error @+1 {{hardcore-import: 'torch.aten.gt.Scalar' is supported on constants only, not on a tensor the model computes}}
  %1 = torch.aten.gt.Scalar %arg0, %int0 : !torch.vtensor<[1,3,3],f32>, !torch.int -> !torch.vtensor<[1,3,3],i1>
  %2 = torch.aten.where.self %1, %0, %arg0 : !torch.vtensor<[1,3,3],i1>, !torch.vtensor<[],f32>, !torch.vtensor<[1,3,3],f32> -> !torch.vtensor<[1,3,3],f32>
  %3 = torch.aten.softmax.int %2, %int-1, %none : !torch.vtensor<[1,3,3],f32>, !torch.int, !torch.none -> !torch.vtensor<[1,3,3],f32>
  return %3 : !torch.vtensor<[1,3,3],f32>
}

// -----

// where.self that is not a softmax's mask.
func.func @where_elsewhere(%arg0: !torch.vtensor<[1,2],f32>) -> !torch.vtensor<[1,2],f32> {
  %0 = torch.vtensor.literal(dense<[true, false]> : tensor<2xi1>) : !torch.vtensor<[2],i1>
  // expected-error @+1 {{hardcore-import: 'torch.aten.where.self' of a tensor the model computes is supported only as a constant causal mask of softmax scores}}
  %1 = torch.aten.where.self %0, %arg0, %arg0 : !torch.vtensor<[2],i1>, !torch.vtensor<[1,2],f32>, !torch.vtensor<[1,2],f32> -> !torch.vtensor<[1,2],f32>
  return %1 : !torch.vtensor<[1,2],f32>
}

// -----

// A constant added to softmax scores that is not a mask of 0 and -inf (ALiBi).
func.func @score_bias(%arg0: !torch.vtensor<[1,2,2],f32>) -> !torch.vtensor<[1,2,2],f32> {
  %int1 = torch.constant.int 1
  %int-1 = torch.constant.int -1
  %none = torch.constant.none
  %0 = torch.vtensor.literal(dense<[[0.0, -1.0], [-1.0, 0.0]]> : tensor<2x2xf32>) : !torch.vtensor<[2,2],f32>
  // expected-error @+1 {{hardcore-import: add.Tensor of softmax scores and a constant other than a mask of 0 and -inf is not supported}}
  %1 = torch.aten.add.Tensor %arg0, %0, %int1 : !torch.vtensor<[1,2,2],f32>, !torch.vtensor<[2,2],f32>, !torch.int -> !torch.vtensor<[1,2,2],f32>
  %2 = torch.aten.softmax.int %1, %int-1, %none : !torch.vtensor<[1,2,2],f32>, !torch.int, !torch.none -> !torch.vtensor<[1,2,2],f32>
  return %2 : !torch.vtensor<[1,2,2],f32>
}

// -----

// scaled_dot_product_attention with dropout is random.
func.func @sdpa_dropout(%arg0: !torch.vtensor<[1,3,2],f32>) -> !torch.vtensor<[1,3,2],f32> {
  %false = torch.constant.bool false
  %none = torch.constant.none
  %float = torch.constant.float 1.000000e-01
  // expected-error @+1 {{hardcore-import: scaled_dot_product_attention with dropout_p > 0 is random: compile the model in eval mode, with dropout_p=0}}
  %0 = torch.aten.scaled_dot_product_attention %arg0, %arg0, %arg0, %none, %float, %false, %none, %false : !torch.vtensor<[1,3,2],f32>, !torch.vtensor<[1,3,2],f32>, !torch.vtensor<[1,3,2],f32>, !torch.none, !torch.float, !torch.bool, !torch.none, !torch.bool -> !torch.vtensor<[1,3,2],f32>
  return %0 : !torch.vtensor<[1,3,2],f32>
}

// -----

func.func @sdpa_gqa(%arg0: !torch.vtensor<[1,3,2],f32>) -> !torch.vtensor<[1,3,2],f32> {
  %false = torch.constant.bool false
  %true = torch.constant.bool true
  %none = torch.constant.none
  %float = torch.constant.float 0.000000e+00
  // expected-error @+1 {{hardcore-import: scaled_dot_product_attention with enable_gqa=True is not supported}}
  %0 = torch.aten.scaled_dot_product_attention %arg0, %arg0, %arg0, %none, %float, %false, %none, %true : !torch.vtensor<[1,3,2],f32>, !torch.vtensor<[1,3,2],f32>, !torch.vtensor<[1,3,2],f32>, !torch.none, !torch.float, !torch.bool, !torch.none, !torch.bool -> !torch.vtensor<[1,3,2],f32>
  return %0 : !torch.vtensor<[1,3,2],f32>
}

// -----

// is_causal with fewer queries than keys: torch aligns the mask top-left.
func.func @sdpa_causal_rectangular(%arg0: !torch.vtensor<[1,2,2],f32>, %arg1: !torch.vtensor<[1,3,2],f32>) -> !torch.vtensor<[1,2,2],f32> {
  %false = torch.constant.bool false
  %true = torch.constant.bool true
  %none = torch.constant.none
  %float = torch.constant.float 0.000000e+00
  // expected-error @+1 {{hardcore-import: scaled_dot_product_attention with is_causal for 2 queries and 3 keys is not supported (torch aligns its mask top-left, hardcore.softmax bottom-right)}}
  %0 = torch.aten.scaled_dot_product_attention %arg0, %arg1, %arg1, %none, %float, %true, %none, %false : !torch.vtensor<[1,2,2],f32>, !torch.vtensor<[1,3,2],f32>, !torch.vtensor<[1,3,2],f32>, !torch.none, !torch.float, !torch.bool, !torch.none, !torch.bool -> !torch.vtensor<[1,2,2],f32>
  return %0 : !torch.vtensor<[1,2,2],f32>
}

// -----

func.func @sdpa_mask_computed(%arg0: !torch.vtensor<[1,3,2],f32>, %arg1: !torch.vtensor<[1,3,3],f32>) -> !torch.vtensor<[1,3,2],f32> {
  %false = torch.constant.bool false
  %none = torch.constant.none
  %float = torch.constant.float 0.000000e+00
  // expected-error @+1 {{hardcore-import: scaled_dot_product_attention with an attn_mask the model computes is not supported (only a constant causal mask)}}
  %0 = torch.aten.scaled_dot_product_attention %arg0, %arg0, %arg0, %arg1, %float, %false, %none, %false : !torch.vtensor<[1,3,2],f32>, !torch.vtensor<[1,3,2],f32>, !torch.vtensor<[1,3,2],f32>, !torch.vtensor<[1,3,3],f32>, !torch.float, !torch.bool, !torch.none, !torch.bool -> !torch.vtensor<[1,3,2],f32>
  return %0 : !torch.vtensor<[1,3,2],f32>
}

// -----

// A float attn_mask of other values than 0 and -inf is a bias, not a mask.
func.func @sdpa_mask_bias(%arg0: !torch.vtensor<[1,2,2],f32>) -> !torch.vtensor<[1,2,2],f32> {
  %false = torch.constant.bool false
  %none = torch.constant.none
  %float = torch.constant.float 0.000000e+00
  %0 = torch.vtensor.literal(dense<[[0.0, -1.0], [0.0, 0.0]]> : tensor<2x2xf32>) : !torch.vtensor<[2,2],f32>
  // expected-error @+1 {{hardcore-import: scaled_dot_product_attention with a float attn_mask other than 0 and -inf is not supported}}
  %1 = torch.aten.scaled_dot_product_attention %arg0, %arg0, %arg0, %0, %float, %false, %none, %false : !torch.vtensor<[1,2,2],f32>, !torch.vtensor<[1,2,2],f32>, !torch.vtensor<[1,2,2],f32>, !torch.vtensor<[2,2],f32>, !torch.float, !torch.bool, !torch.none, !torch.bool -> !torch.vtensor<[1,2,2],f32>
  return %1 : !torch.vtensor<[1,2,2],f32>
}

// -----

// nn.LayerNorm((3, 2)) normalizes over two dims.
func.func @layer_norm_two_dims(%arg0: !torch.vtensor<[1,3,2],f32>) -> !torch.vtensor<[1,3,2],f32> {
  %float = torch.constant.float 1.000000e-05
  %false = torch.constant.bool false
  %none = torch.constant.none
  %int2 = torch.constant.int 2
  %int3 = torch.constant.int 3
  %0 = torch.prim.ListConstruct %int3, %int2 : (!torch.int, !torch.int) -> !torch.list<int>
  // expected-error @+1 {{hardcore-import: layer_norm over [3, 2] is not supported (only over the last dimension, [2])}}
  %1 = torch.aten.layer_norm %arg0, %0, %none, %none, %float, %false : !torch.vtensor<[1,3,2],f32>, !torch.list<int>, !torch.none, !torch.none, !torch.float, !torch.bool -> !torch.vtensor<[1,3,2],f32>
  return %1 : !torch.vtensor<[1,3,2],f32>
}

// -----

// Token ids (an integer input) feed only embeddings.
func.func @tokens_elsewhere(%arg0: !torch.vtensor<[1,3],si64>) -> !torch.vtensor<[1,1],f32> {
  %none = torch.constant.none
  %0 = torch.vtensor.literal(dense<[[1.0, 2.0, 3.0]]> : tensor<1x3xf32>) : !torch.vtensor<[1,3],f32>
  // expected-error @+1 {{hardcore-import: 'torch.aten.linear' of token ids (an integer input) is not supported: only an embedding reads them}}
  %1 = torch.aten.linear %arg0, %0, %none : !torch.vtensor<[1,3],si64>, !torch.vtensor<[1,3],f32>, !torch.none -> !torch.vtensor<[1,1],f32>
  return %1 : !torch.vtensor<[1,1],f32>
}

// -----

// An embedding of float values (not token ids).
func.func @embedding_of_floats(%arg0: !torch.vtensor<[1,2],f32>) -> !torch.vtensor<[1,2,2],f32> {
  %int-1 = torch.constant.int -1
  %false = torch.constant.bool false
  %0 = torch.vtensor.literal(dense<[[0.0, 0.0], [1.0, 1.0]]> : tensor<2x2xf32>) : !torch.vtensor<[2,2],f32>
  // expected-error @+1 {{hardcore-import: embedding of token ids the model computes is not supported (only of the model's integer input, or of constants)}}
  %1 = torch.aten.embedding %0, %arg0, %int-1, %false, %false : !torch.vtensor<[2,2],f32>, !torch.vtensor<[1,2],f32>, !torch.int, !torch.bool, !torch.bool -> !torch.vtensor<[1,2,2],f32>
  return %1 : !torch.vtensor<[1,2,2],f32>
}

// -----

// x times a constant that differs between rows (as a rotary embedding's cos table does).
func.func @rows_differ(%arg0: !torch.vtensor<[1,2,2],f32>) -> !torch.vtensor<[1,2,2],f32> {
  %0 = torch.vtensor.literal(dense<[[0.0, 1.0], [2.0, 3.0]]> : tensor<2x2xf32>) : !torch.vtensor<[2,2],f32>
  // expected-error @+1 {{hardcore-import: mul.Tensor of a constant tensor of shape [2, 2] is not supported (only a constant that is the same for every row of the last dimension, or a position embedding added to a token embedding)}}
  %1 = torch.aten.mul.Tensor %arg0, %0 : !torch.vtensor<[1,2,2],f32>, !torch.vtensor<[2,2],f32> -> !torch.vtensor<[1,2,2],f32>
  return %1 : !torch.vtensor<[1,2,2],f32>
}

// -----

func.func @constant_times_tensor(%arg0: !torch.vtensor<[1,2,2],f32>) -> !torch.vtensor<[1,2,2],f32> {
  %0 = torch.vtensor.literal(dense<[[0.0, 1.0], [2.0, 3.0]]> : tensor<2x2xf32>) : !torch.vtensor<[2,2],f32>
  // expected-error @+1 {{hardcore-import: matmul of a constant by a tensor the model computes is not supported (only x @ W with a constant W)}}
  %1 = torch.aten.matmul %0, %arg0 : !torch.vtensor<[2,2],f32>, !torch.vtensor<[1,2,2],f32> -> !torch.vtensor<[1,2,2],f32>
  return %1 : !torch.vtensor<[1,2,2],f32>
}

// -----

func.func @divide_by_tensor(%arg0: !torch.vtensor<[1,2],f32>) -> !torch.vtensor<[1,2],f32> {
  // expected-error @+1 {{hardcore-import: div.Tensor by a tensor the model computes is not supported (only by constants)}}
  %0 = torch.aten.div.Tensor %arg0, %arg0 : !torch.vtensor<[1,2],f32>, !torch.vtensor<[1,2],f32> -> !torch.vtensor<[1,2],f32>
  return %0 : !torch.vtensor<[1,2],f32>
}

// -----

// rsqrt on its own, not in an RMSNorm.
func.func @rsqrt_alone(%arg0: !torch.vtensor<[1,2],f32>) -> !torch.vtensor<[1,2],f32> {
  // expected-error @+1 {{hardcore-import: 'torch.aten.rsqrt' of a tensor the model computes is supported only in an RMSNorm written out, x * rsqrt(mean(x^2, -1, keepdim=True) + eps)}}
  %0 = torch.aten.rsqrt %arg0 : !torch.vtensor<[1,2],f32> -> !torch.vtensor<[1,2],f32>
  return %0 : !torch.vtensor<[1,2],f32>
}

// -----

func.func @sub_alpha(%arg0: !torch.vtensor<[1,2],f32>) -> !torch.vtensor<[1,2],f32> {
  %int2 = torch.constant.int 2
  // expected-error @+1 {{hardcore-import: sub.Tensor with alpha 2 is not supported (only a - b)}}
  %0 = torch.aten.sub.Tensor %arg0, %arg0, %int2 : !torch.vtensor<[1,2],f32>, !torch.vtensor<[1,2],f32>, !torch.int -> !torch.vtensor<[1,2],f32>
  return %0 : !torch.vtensor<[1,2],f32>
}
