"""The formal check's verdicts: one `LayerResult` a layer, gathered in a `FormalReport`."""

from __future__ import annotations

import dataclasses

__all__ = ["FormalReport", "LayerResult", "PROVEN", "COUNTEREXAMPLE", "UNKNOWN", "TOO_LARGE", "NOT_COVERED"]


PROVEN, COUNTEREXAMPLE, UNKNOWN, TOO_LARGE = "proven", "counterexample", "unknown", "too large"
NOT_COVERED = "not covered"  # a layer this check cannot prove (products of activations, qsoftmax, qnorm)


@dataclasses.dataclass
class LayerResult:
    """The verdict for one layer.

    For a counterexample: `inputs` is the layer's input vector (the circuit's x for
    layer 0; the previous layer's output elements, each in its interval, after
    that), `circuit` the folded DAG's outputs and `expected` the quantized
    layer's, both as the integers the values mean; `mismatches` their indices.
    """

    index: int
    kind: str
    status: str
    seconds: float = 0.0
    reason: str = ""
    inputs: list[int] | None = None
    circuit: list[int] | None = None
    expected: list[int] | None = None
    outputs: list[int] | None = None  # the output element each entry of circuit/expected is
    mismatches: list[int] | None = None
    checked: int = 0  # the layer's output elements that the proof covers (those used downstream)
    elements: int = 0  # the layer's output elements
    dag_ops: int = 0  # DAG ops between the layer's input elements and its outputs
    method: str = "Z3"  # how a proof was found: "Z3", or "enumerated N input values" (tables)

    def summary(self) -> str:
        head = f"layer {self.index} ({self.kind}): {self.status}"
        if self.status == PROVEN:
            plural = "" if self.elements == 1 else "s"
            used = (f"{self.checked} of {self.elements} outputs (the others are unused)"
                    if self.checked < self.elements else f"{self.elements} output{plural}")
            return f"{head}: {used}, {self.dag_ops} DAG ops, {self.method}, in {self.seconds:.2f} s"
        if self.status == COUNTEREXAMPLE:
            return (f"{head} after {self.seconds:.2f} s: {self.reason}\n  input    {self.inputs}\n"
                    f"  outputs  {self.outputs}\n  circuit  {self.circuit}\n  expected {self.expected}\n"
                    f"  differ at outputs {self.mismatches}")
        return f"{head}: {self.reason}" + (f" ({self.seconds:.2f} s)" if self.seconds else "")


@dataclasses.dataclass
class FormalReport:
    layers: list[LayerResult]

    @property
    def proven(self) -> bool:
        """True when every checked layer is proven (skipped, too large layers aside), and none is
        outside what the check covers."""
        return all(layer.status in (PROVEN, TOO_LARGE) for layer in self.layers) and \
            any(layer.status == PROVEN for layer in self.layers)

    @property
    def exit_code(self) -> int:
        """0 all checked layers proven, 1 a counterexample, 3 otherwise (unknown, not covered, or nothing
        checked)."""
        if any(layer.status == COUNTEREXAMPLE for layer in self.layers):
            return 1
        return 0 if self.proven else 3

    def summary(self) -> str:
        counts = {status: sum(layer.status == status for layer in self.layers)
                  for status in (PROVEN, COUNTEREXAMPLE, UNKNOWN, TOO_LARGE, NOT_COVERED)}
        total = ", ".join(f"{count} {status}" for status, count in counts.items() if count)
        return "\n".join([layer.summary() for layer in self.layers] + [f"{len(self.layers)} layers: {total}"])
