"""hardcore's passes, one a file, and the one registry from pass name to pass.

`hardcore-to-hw` is the one pass that leaves torch-mlir's MLIR: it produces
CIRCT hw/comb IR, which lives in CIRCT's own copy of MLIR (see
`hardcore.backend`).  The others run in any torch-mlir PassManager.
"""

from __future__ import annotations

from hardcore.passes.fold_weights import FoldWeightsPass
from hardcore.passes.import_ import ImportPass
from hardcore.passes.kv_decode import KvDecodePass
from hardcore.passes.normalize_onnx import NormalizeOnnxPass
from hardcore.passes.pipeline import PipelinePass
from hardcore.passes.quantize import QuantizePass
from hardcore.passes.stream import StreamPass
from hardcore.passes.time_multiplex import TimeMultiplexPass
from hardcore.passes.to_hw import ToHwPass

__all__ = ["PASSES", "ImportPass", "NormalizeOnnxPass", "QuantizePass", "FoldWeightsPass", "PipelinePass", "ToHwPass",
           "KvDecodePass", "TimeMultiplexPass", "StreamPass"]

PASSES = {cls.name: cls for cls in (NormalizeOnnxPass, ImportPass, QuantizePass, FoldWeightsPass, PipelinePass, ToHwPass,
                                    KvDecodePass, TimeMultiplexPass, StreamPass)}
