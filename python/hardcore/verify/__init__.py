"""Differential checking of every pass (`--verify-each`): the IR before and after a pass must compute the same.

The reference interpreter (`hardcore.interpreter`) runs the IR before and
after each pass on the same inputs: random ones and the extreme ones
(all-minimum, all-maximum, alternating signs both ways, zero).  The first pass
whose output differs stops the pipeline with a `VerificationError` naming the
pass, the input vector and both outputs.  What "differs" means depends on the
stages the pass goes between (docs/verification.md gives the reasons):

| before -> after                        | inputs                  | the check                             |
| -------------------------------------- | ----------------------- | ------------------------------------- |
| torch dialect -> anything              | -                       | none here (no interpreter for torch); |
|                                        |                         | `hardcore.compile` compares the torch |
|                                        |                         | model with the float layer IR instead |
| float layers -> float layers           | float vectors           | equal to 1e-9 relative                |
| float -> quantized (hardcore-quantize) | codes of the input grid | layer by layer within the rounding    |
|                                        |                         | the scheme allows (`check_quantize`)  |
| quantized -> quantized                 | input codes             | bit-exact                             |
| quantized -> DAG (fold-weights)        | input codes             | bit-exact                             |
| DAG -> DAG (pipeline, canonicalize)    | input codes             | bit-exact; a pipelined DAG runs as a  |
|                                        |                         | stream, each register a 1-cycle delay |
| DAG -> hw (hardcore-to-hw)             | input codes             | bit-exact in Icarus, when installed   |
| window -> decoder step (kv-decode)     | token code sequences    | each step bit-exact to the window's   |
|                                        |                         | row, from stale caches                |

The interpreter also checks every integer result against its declared width,
so an overflow after a pass fails the same way, with the vector that caused it.

The package, one module per concern: `compare` (the input vectors and the exact comparison),
`driver` (the check each pass gets, and the pass-manager level), `quantize` (hardcore-quantize
layer by layer) with `pairing` (float groups to quantized ops), `layers` (dense, pool, table and
graph-op bounds) and `sequence` (embedding, product, qsoftmax and qnorm bounds).
"""

from __future__ import annotations

from hardcore.verify.compare import (VerificationError, VerifyOptions, extreme_inputs, input_vectors, run_stream,
                                     stage_of)
from hardcore.verify.driver import (VerifyingPass, check_decoder, check_import, check_step, run_verified,
                                    verify_pass)
from hardcore.verify.quantize import check_quantize
from hardcore.verify.sequence import qnorm_bound, qsoftmax_bound

__all__ = ["VerificationError", "VerifyOptions", "extreme_inputs", "input_vectors", "verify_pass",
           "check_quantize", "check_import", "check_decoder", "check_step", "run_stream", "stage_of",
           "VerifyingPass", "run_verified", "qsoftmax_bound", "qnorm_bound"]
