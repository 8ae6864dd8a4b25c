// The hardcore dialect, in IRDL: the single source of truth for its ops.
// Load it into any MLIR tool with `--irdl-file=dialects/hardcore.irdl.mlir`.
// Exact integer semantics of every op: docs/dialect.md.
//
// Two levels:
//  * layer ops on tensors of one sample (no batch dimension): quantize,
//    dense, conv, relu, activation, lut, requant, reshape, dequantize, maxpool,
//    avgpool, argmax, add_tensors, concat, gather, and for sequence models
//    embedding, sub_tensors, mul_tensors, matmul, softmax, layernorm (float)
//    and qsoftmax, qnorm (their exact integer forms); a decoder step's
//    embedding_at, insert_row and qsoftmax_at (hardcore-kv-decode);
//  * scalar DAG ops on signless integers read as two's complement, each
//    result exactly as wide as its value range needs: extract, pack,
//    constant, sext, shl, shr, add, sub, neg, mul, clamp, table, reg, max, pick,
//    mux.
irdl.dialect @hardcore {
  // ---- layer level ------------------------------------------------------

  // y = W x + b, on float or integer tensors.  W is N x K; an operand of R*K
  // elements is R rows of K (row-major), each mapped to its N outputs:
  // y[r] = W x[r] + b (a Linear on a sequence; R = 1 for a flat vector).
  irdl.operation @dense {
    %in = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    %weight = irdl.base "#builtin.dense_typed_elements"
    %bias = irdl.base "#builtin.dense_typed_elements"
    irdl.operands(input: %in)
    irdl.results(output: %out)
    irdl.attributes {"weight" = %weight, "bias" = %bias}
  }

  // A 2-D convolution of one sample, C x H x W -> O x Ho x Wo (docs/dialect.md):
  // y[o, i, j] = bias[o] + sum over c' < C/groups, kh, kw of
  // weight[o, c', kh, kw] * x[(o / (O/groups)) * C/groups + c',
  // i*stride[0] - padding[0] + kh*dilation[0], j*stride[1] - padding[1] + kw*dilation[1]],
  // a tap outside the input reading 0.  Float, or integer (exact).
  irdl.operation @conv {
    %in = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    %weight = irdl.base "#builtin.dense_typed_elements"
    %bias = irdl.base "#builtin.dense_typed_elements"
    %stride = irdl.base "#builtin.dense_typed_elements"
    %padding = irdl.base "#builtin.dense_typed_elements"
    %dilation = irdl.base "#builtin.dense_typed_elements"
    %groups = irdl.base "#builtin.integer"
    irdl.operands(input: %in)
    irdl.results(output: %out)
    irdl.attributes {"weight" = %weight, "bias" = %bias, "stride" = %stride, "padding" = %padding,
                     "dilation" = %dilation, "groups" = %groups}
  }

  // y = max(x, 0), elementwise.
  irdl.operation @relu {
    %in = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    irdl.operands(input: %in)
    irdl.results(output: %out)
  }

  // A float elementwise activation: `fn` names it ("clamp", "leaky_relu",
  // "hardsigmoid", "hardswish", "sigmoid", "tanh"), `params` holds its f64
  // parameters (clamp: min, max; leaky_relu: negative_slope).
  irdl.operation @activation {
    %in = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    %fn = irdl.base "#builtin.string"
    %params = irdl.base "#builtin.dictionary"
    irdl.operands(input: %in)
    irdl.results(output: %out)
    irdl.attributes {"fn" = %fn, "params" = %params}
  }

  // An integer lookup table, elementwise: y = table[x - min].
  irdl.operation @lut {
    %in = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    %table = irdl.base "#builtin.dense_typed_elements"
    %min = irdl.base "#builtin.integer"
    irdl.operands(input: %in)
    irdl.results(output: %out)
    irdl.attributes {"table" = %table, "min" = %min}
  }

  // Same elements in the same (row-major) order, another shape.
  irdl.operation @reshape {
    %in = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    irdl.operands(input: %in)
    irdl.results(output: %out)
  }

  // Float to fixed point: clamp(floor(x * 2^frac_bits + 1/2), min, max).
  irdl.operation @quantize {
    %in = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    %frac = irdl.base "#builtin.integer"
    %min = irdl.base "#builtin.integer"
    %max = irdl.base "#builtin.integer"
    irdl.operands(input: %in)
    irdl.results(output: %out)
    irdl.attributes {"frac_bits" = %frac, "min" = %min, "max" = %max}
  }

  // Fixed point to float: x * 2^-frac_bits.
  irdl.operation @dequantize {
    %in = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    %frac = irdl.base "#builtin.integer"
    irdl.operands(input: %in)
    irdl.results(output: %out)
    irdl.attributes {"frac_bits" = %frac}
  }

  // Shift right with rounding half up, then saturate:
  // clamp(floor((x + 2^(shift-1)) / 2^shift), min, max); shift <= 0 shifts left.
  // `shift` is one integer for every element, or a dense array of i64 with one
  // shift per element (row-major): per-channel weight scales.
  irdl.operation @requant {
    %in = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    %shift_scalar = irdl.base "#builtin.integer"
    %shift_array = irdl.base "#builtin.dense_typed_elements"
    %shift = irdl.any_of(%shift_scalar, %shift_array)
    %min = irdl.base "#builtin.integer"
    %max = irdl.base "#builtin.integer"
    irdl.operands(input: %in)
    irdl.results(output: %out)
    irdl.attributes {"shift" = %shift, "min" = %min, "max" = %max}
  }

  // y[i] = max of x[windows[i, j]] over the j with windows[i, j] >= 0 (-1:
  // padding, never the maximum), on flat float or integer tensors.
  irdl.operation @maxpool {
    %in = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    %windows = irdl.base "#builtin.dense_typed_elements"
    irdl.operands(input: %in)
    irdl.results(output: %out)
    irdl.attributes {"windows" = %windows}
  }

  // y[i] = min of x[windows[i, j]] over the j with windows[i, j] >= 0, on
  // flat float or integer tensors: torch.minimum of two tensors (their
  // concatenation, windows [i, N + i]).
  irdl.operation @minpool {
    %in = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    %windows = irdl.base "#builtin.dense_typed_elements"
    irdl.operands(input: %in)
    irdl.results(output: %out)
    irdl.attributes {"windows" = %windows}
  }

  // y[i] = (sum of x[windows[i, j]] over the j with windows[i, j] >= 0) /
  // divisors[i], on flat float tensors (hardcore-quantize makes it a dense
  // layer of integers and a requantization).
  irdl.operation @avgpool {
    %in = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    %windows = irdl.base "#builtin.dense_typed_elements"
    %divisors = irdl.base "#builtin.dense_typed_elements"
    irdl.operands(input: %in)
    irdl.results(output: %out)
    irdl.attributes {"windows" = %windows, "divisors" = %divisors}
  }

  // A one-element tensor holding the index of the first largest element of
  // x (row-major): float in, float index out; integer in, integer index out.
  irdl.operation @argmax {
    %in = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    irdl.operands(input: %in)
    irdl.results(output: %out)
  }

  // y = a + b, elementwise on two tensors of one shape (a residual add).  Not
  // the scalar `hardcore.add`: integer operands are at one scale (exact).
  irdl.operation @add_tensors {
    %lhs = irdl.base "!builtin.tensor"
    %rhs = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    irdl.operands(lhs: %lhs, rhs: %rhs)
    irdl.results(output: %out)
  }

  // lhs and rhs joined along dimension `dim` (of one sample), like torch.cat
  // of two (a cat of more is a chain); integer operands share one element
  // type and scale.  (Binary: IRDL gives variadic operands one type.)
  irdl.operation @concat {
    %lhs = irdl.base "!builtin.tensor"
    %rhs = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    %dim = irdl.base "#builtin.integer"
    irdl.operands(lhs: %lhs, rhs: %rhs)
    irdl.results(output: %out)
    irdl.attributes {"dim" = %dim}
  }

  // Element i (row-major) of y is element indices[i] (row-major) of x: a
  // constant permutation or selection (permute, transpose).
  irdl.operation @gather {
    %in = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    %indices = irdl.base "#builtin.dense_typed_elements"
    irdl.operands(input: %in)
    irdl.results(output: %out)
    irdl.attributes {"indices" = %indices}
  }

  // ---- sequence models (docs/dialect.md, "Sequence models") ---------------

  // Token embedding: y[t, :] = table[p, clip(x[t], 0, V-1), :] with table
  // P x V x D, p = t when P > 1 (a learned position embedding folded in),
  // p = 0 when P = 1.  x holds token ids (integers); y is float or integer.
  irdl.operation @embedding {
    %in = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    %table = irdl.base "#builtin.dense_typed_elements"
    irdl.operands(input: %in)
    irdl.results(output: %out)
    irdl.attributes {"table" = %table}
  }

  // y = a - b, elementwise on two tensors of one shape (integer: one scale).
  irdl.operation @sub_tensors {
    %lhs = irdl.base "!builtin.tensor"
    %rhs = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    irdl.operands(lhs: %lhs, rhs: %rhs)
    irdl.results(output: %out)
  }

  // y = a * b, elementwise on two tensors of one shape: an exact product of
  // two activations (integer: scale 2^-(fa+fb)), a multiplier in hardware.
  irdl.operation @mul_tensors {
    %lhs = irdl.base "!builtin.tensor"
    %rhs = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    irdl.operands(lhs: %lhs, rhs: %rhs)
    irdl.results(output: %out)
  }

  // Batched product of two activations: lhs [..., M, K] x rhs [..., K, N] ->
  // [..., M, N], the same leading dimensions; exact on integers.
  irdl.operation @matmul {
    %lhs = irdl.base "!builtin.tensor"
    %rhs = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    irdl.operands(lhs: %lhs, rhs: %rhs)
    irdl.results(output: %out)
  }

  // Float softmax of scale * x over the last dimension; with causal = 1 an
  // operand [..., M, N] keeps, in row i, only the j <= i + N - M (the others
  // are 0).  hardcore-quantize makes it a `qsoftmax`.
  irdl.operation @softmax {
    %in = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    %scale = irdl.base "#builtin.float"
    %causal = irdl.base "#builtin.integer"
    irdl.operands(input: %in)
    irdl.results(output: %out)
    irdl.attributes {"scale" = %scale, "causal" = %causal}
  }

  // Float normalization over the last dimension, no affine part:
  // rms = 0: (x - mean) / sqrt(var + eps) (LayerNorm, biased variance);
  // rms = 1: x / sqrt(mean(x^2) + eps) (RMSNorm).  -> `qnorm`.
  irdl.operation @layernorm {
    %in = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    %eps = irdl.base "#builtin.float"
    %rms = irdl.base "#builtin.integer"
    irdl.operands(input: %in)
    irdl.results(output: %out)
    irdl.attributes {"eps" = %eps, "rms" = %rms}
  }

  // Integer softmax over the last dimension, exactly as docs/dialect.md
  // defines it: max, exp table, sum, reciprocal table, product, requant.
  irdl.operation @qsoftmax {
    %in = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    %causal = irdl.base "#builtin.integer"
    %exp_table = irdl.base "#builtin.dense_typed_elements"
    %exp_min = irdl.base "#builtin.integer"
    %sum_shift = irdl.base "#builtin.integer"
    %recip_table = irdl.base "#builtin.dense_typed_elements"
    %shift = irdl.base "#builtin.integer"
    %min = irdl.base "#builtin.integer"
    %max = irdl.base "#builtin.integer"
    irdl.operands(input: %in)
    irdl.results(output: %out)
    irdl.attributes {"causal" = %causal, "exp_table" = %exp_table, "exp_min" = %exp_min,
                     "sum_shift" = %sum_shift, "recip_table" = %recip_table, "shift" = %shift,
                     "min" = %min, "max" = %max}
  }

  // Integer LayerNorm / RMSNorm over the last dimension, exactly as
  // docs/dialect.md defines it: centring, sum of squares, rsqrt table,
  // product, requant.
  irdl.operation @qnorm {
    %in = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    %rms = irdl.base "#builtin.integer"
    %sq_shift = irdl.base "#builtin.integer"
    %rsqrt_table = irdl.base "#builtin.dense_typed_elements"
    %shift = irdl.base "#builtin.integer"
    %min = irdl.base "#builtin.integer"
    %max = irdl.base "#builtin.integer"
    irdl.operands(input: %in)
    irdl.results(output: %out)
    irdl.attributes {"rms" = %rms, "sq_shift" = %sq_shift, "rsqrt_table" = %rsqrt_table,
                     "shift" = %shift, "min" = %min, "max" = %max}
  }

  // ---- decoder steps (hardcore-kv-decode, docs/decoder.md) ----------------
  // `pos` is the step's position: an integer tensor of one element.

  // y[j, :] = table[clip(pos, 0, P-1), clip(x[j], 0, V-1), :]: `embedding`'s
  // table (P x V x D) read at the step's position.
  irdl.operation @embedding_at {
    %in = irdl.base "!builtin.tensor"
    %pos = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    %table = irdl.base "#builtin.dense_typed_elements"
    irdl.operands(input: %in, pos: %pos)
    irdl.results(output: %out)
    irdl.attributes {"table" = %table}
  }

  // y = x with its index pos along `axis` replaced by `row` (x's shape with 1
  // on that axis); y = x when pos is no index of the axis.  A KV cache and the
  // step's fresh row.
  irdl.operation @insert_row {
    %in = irdl.base "!builtin.tensor"
    %row = irdl.base "!builtin.tensor"
    %pos = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    %axis = irdl.base "#builtin.integer"
    irdl.operands(input: %in, row: %row, pos: %pos)
    irdl.results(output: %out)
    irdl.attributes {"axis" = %axis}
  }

  // `qsoftmax` whose kept set, in every row of the last axis, is the
  // j <= pos + offset (a causal qsoftmax's row at position pos); a row that
  // keeps nothing is all zeros.
  irdl.operation @qsoftmax_at {
    %in = irdl.base "!builtin.tensor"
    %pos = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.tensor"
    %offset = irdl.base "#builtin.integer"
    %exp_table = irdl.base "#builtin.dense_typed_elements"
    %exp_min = irdl.base "#builtin.integer"
    %sum_shift = irdl.base "#builtin.integer"
    %recip_table = irdl.base "#builtin.dense_typed_elements"
    %shift = irdl.base "#builtin.integer"
    %min = irdl.base "#builtin.integer"
    %max = irdl.base "#builtin.integer"
    irdl.operands(input: %in, pos: %pos)
    irdl.results(output: %out)
    irdl.attributes {"offset" = %offset, "exp_table" = %exp_table, "exp_min" = %exp_min,
                     "sum_shift" = %sum_shift, "recip_table" = %recip_table, "shift" = %shift,
                     "min" = %min, "max" = %max}
  }

  // ---- scalar DAG level -------------------------------------------------

  // Element `index` (row-major) of an integer tensor.
  irdl.operation @extract {
    %in = irdl.base "!builtin.tensor"
    %out = irdl.base "!builtin.integer"
    %index = irdl.base "#builtin.integer"
    irdl.operands(input: %in)
    irdl.results(output: %out)
    irdl.attributes {"index" = %index}
  }

  // x, sign-extended to a wider type: a wire.
  irdl.operation @sext {
    %in = irdl.base "!builtin.integer"
    %out = irdl.base "!builtin.integer"
    irdl.operands(input: %in)
    irdl.results(output: %out)
  }

  // A tensor from its elements, all of the tensor's element type.
  irdl.operation @pack {
    %in = irdl.base "!builtin.integer"
    %out = irdl.base "!builtin.tensor"
    irdl.operands(elements: variadic %in)
    irdl.results(output: %out)
  }

  // An integer constant.
  irdl.operation @constant {
    %out = irdl.base "!builtin.integer"
    %value = irdl.base "#builtin.integer"
    irdl.results(output: %out)
    irdl.attributes {"value" = %value}
  }

  // x * 2^amount: a wire.
  irdl.operation @shl {
    %in = irdl.base "!builtin.integer"
    %out = irdl.base "!builtin.integer"
    %amount = irdl.base "#builtin.integer"
    irdl.operands(input: %in)
    irdl.results(output: %out)
    irdl.attributes {"amount" = %amount}
  }

  // floor(x / 2^amount): a wire (the low bits are dropped).
  irdl.operation @shr {
    %in = irdl.base "!builtin.integer"
    %out = irdl.base "!builtin.integer"
    %amount = irdl.base "#builtin.integer"
    irdl.operands(input: %in)
    irdl.results(output: %out)
    irdl.attributes {"amount" = %amount}
  }

  // lhs + rhs: one adder.
  irdl.operation @add {
    %lhs = irdl.base "!builtin.integer"
    %rhs = irdl.base "!builtin.integer"
    %out = irdl.base "!builtin.integer"
    irdl.operands(lhs: %lhs, rhs: %rhs)
    irdl.results(output: %out)
  }

  // lhs - rhs: one subtractor.
  irdl.operation @sub {
    %lhs = irdl.base "!builtin.integer"
    %rhs = irdl.base "!builtin.integer"
    %out = irdl.base "!builtin.integer"
    irdl.operands(lhs: %lhs, rhs: %rhs)
    irdl.results(output: %out)
  }

  // lhs * rhs: one multiplier (a product of two activations).
  irdl.operation @mul {
    %lhs = irdl.base "!builtin.integer"
    %rhs = irdl.base "!builtin.integer"
    %out = irdl.base "!builtin.integer"
    irdl.operands(lhs: %lhs, rhs: %rhs)
    irdl.results(output: %out)
  }

  // -x.
  irdl.operation @neg {
    %in = irdl.base "!builtin.integer"
    %out = irdl.base "!builtin.integer"
    irdl.operands(input: %in)
    irdl.results(output: %out)
  }

  // x, one clock cycle later: a pipeline register (hardcore-pipeline).
  irdl.operation @reg {
    %in = irdl.base "!builtin.integer"
    %out = irdl.base "!builtin.integer"
    irdl.operands(input: %in)
    irdl.results(output: %out)
  }

  // table[x - min]: a lookup, one mux tree over x's low bits.
  irdl.operation @table {
    %in = irdl.base "!builtin.integer"
    %out = irdl.base "!builtin.integer"
    %table = irdl.base "#builtin.dense_typed_elements"
    %min = irdl.base "#builtin.integer"
    irdl.operands(input: %in)
    irdl.results(output: %out)
    irdl.attributes {"table" = %table, "min" = %min}
  }

  // min(max(x, min), max): saturation, and relu when min = 0.
  irdl.operation @clamp {
    %in = irdl.base "!builtin.integer"
    %out = irdl.base "!builtin.integer"
    %min = irdl.base "#builtin.integer"
    %max = irdl.base "#builtin.integer"
    irdl.operands(input: %in)
    irdl.results(output: %out)
    irdl.attributes {"min" = %min, "max" = %max}
  }

  // max(lhs, rhs): one comparator and a mux.
  irdl.operation @max {
    %lhs = irdl.base "!builtin.integer"
    %rhs = irdl.base "!builtin.integer"
    %out = irdl.base "!builtin.integer"
    irdl.operands(lhs: %lhs, rhs: %rhs)
    irdl.results(output: %out)
  }

  // rhs > lhs ? if_rhs : if_lhs: the value that goes with max(lhs, rhs),
  // ties to lhs (an argmax step); one comparator, shared with a max of the
  // same operands, and a mux.
  irdl.operation @pick {
    %lhs = irdl.base "!builtin.integer"
    %rhs = irdl.base "!builtin.integer"
    %if_lhs = irdl.base "!builtin.integer"
    %if_rhs = irdl.base "!builtin.integer"
    %out = irdl.base "!builtin.integer"
    irdl.operands(lhs: %lhs, rhs: %rhs, if_lhs: %if_lhs, if_rhs: %if_rhs)
    irdl.results(output: %out)
  }

  // min <= sel <= max ? if_in : if_out: a comparison of sel with constants
  // (equality when min = max), shared by every mux on the same test, and a
  // mux.  A decoder step's position selects with it (insert_row, qsoftmax_at,
  // embedding_at).
  irdl.operation @mux {
    %sel = irdl.base "!builtin.integer"
    %if_in = irdl.base "!builtin.integer"
    %if_out = irdl.base "!builtin.integer"
    %out = irdl.base "!builtin.integer"
    %min = irdl.base "#builtin.integer"
    %max = irdl.base "#builtin.integer"
    irdl.operands(sel: %sel, if_in: %if_in, if_out: %if_out)
    irdl.results(output: %out)
    irdl.attributes {"min" = %min, "max" = %max}
  }
}
