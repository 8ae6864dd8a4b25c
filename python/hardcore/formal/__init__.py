"""Formal equivalence, layer by layer: the folded DAG against the quantized layer ops (Z3).

`verify` proves, for every input in each layer's input range, that the scalar DAG after
`hardcore-fold-weights` (or `hardcore-pipeline`; a register is the identity) computes
what the layer ops after `hardcore-quantize` define (`W·x + b`, ReLU, requantization,
clamp, table, max pool, argmax), with the hardware semantics `hardcore-to-hw` gives each
DAG op: fixed-width two's complement, operands resized to the result, so an overflow
anywhere counts.  Per layer (a step of the quantized chain; a table is a step of its own):

- its input box: each input element's interval (interval arithmetic over the quantized
  ops; exact for dense outputs, sound after);
- its cut: the DAG values holding its input elements (the extract ops, then values proposed
  by matching sample runs; the previous step's proof checks each proposal it relies on);
- (A) every DAG value of the cone fits its type, so the hardware computes exact integers;
  exact for linear forms (the adder graph: extremes at the box's corners), Z3 for the rest;
- (B) those exact integers equal the specification's: Z3 in linear integer arithmetic, each
  output on its own over an abstraction that gives every linear form's primitive part one
  atom (sound: unsat for all atom values is unsat for all inputs), then, if needed, random
  points of the box and the unabstracted query.  Table steps are enumerated instead.

Graphs (residual add, concat, gather): see docs/formal.md, "Graphs and per-element shifts".
Sequence models: an embedding is enumerated, a dense over rows and a subtraction of tensors
are proven like a dense layer and a residual add; layers that multiply two activations
(mul_tensors, matmul, qsoftmax, qnorm) are reported NOT_COVERED with the reason, not proven
(docs/formal.md, "Sequence models").
By induction over the steps, the circuit's output equals the quantized function's for
every input in its range.  docs/formal.md has the argument in full, op by op.

The package, one module per concern: `driver` (`verify`, `verify_directory`), `report` (the
verdicts), `segments` (the quantized IR cut into steps), `spec` (the quantized layer ops:
intervals, Z3 encodings, batches), `dag` (the DAG ops: Z3 encodings, hardware semantics),
`terms` (exact integers as linear forms or Z3 terms), `cut` (the DAG cut at the layer
boundaries), `prove` (one layer's proof) and `reuse` (a time-multiplexed circuit's steps,
cycle by cycle: `verify_steps`, docs/formal.md, "Time-multiplexed circuits").
"""

from __future__ import annotations

from hardcore.formal.dag import evaluate_dag
from hardcore.formal.driver import DEFAULT_MAX_WEIGHTS, DEFAULT_TIMEOUT, verify, verify_directory
from hardcore.formal.report import COUNTEREXAMPLE, NOT_COVERED, PROVEN, TOO_LARGE, UNKNOWN, FormalReport, LayerResult

__all__ = ["verify", "verify_directory", "FormalReport", "LayerResult", "DEFAULT_TIMEOUT",
           "DEFAULT_MAX_WEIGHTS", "PROVEN", "COUNTEREXAMPLE", "UNKNOWN", "TOO_LARGE", "NOT_COVERED", "evaluate_dag"]
