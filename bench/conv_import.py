"""Import and quantization of examples/resnet8.py with hardcore-import{stream=true}: time and peak memory.

    python bench/conv_import.py                      # 16x16, 32x32 and 64x64 inputs, one process each
    python bench/conv_import.py --sizes 32 --unrolled   # the default (unrolled) import too, for contrast

Each row runs in a fresh process (peak RSS is per process): torch-mlir's import
of the model, `hardcore-import{stream=true}`, then `hardcore-quantize` with
`--calibration` CIFAR-like images (`resnet8.calibration`), whose float run in
the reference interpreter is most of the quantization's time.  The IR's size
(its printed text) is the kernels', whatever the image size.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def measure(size: int, calibration_samples: int, stream: bool) -> dict:
    """One import + quantization of ResNet8 at size x size, in this process."""
    import torch

    sys.path.insert(0, str(ROOT / "examples"))
    from resnet8 import ResNet8, calibration

    from hardcore.frontend import import_model
    from hardcore.mlir import new_context
    from hardcore.passes.import_ import ImportPass
    from hardcore.passes.quantize import QuantizePass
    from hardcore.pipeline import run_pipeline

    torch.set_num_threads(1)
    shape = (3, size, size)
    model = ResNet8()
    data = calibration(calibration_samples, shape)
    start = time.perf_counter()
    module = import_model(model, torch.zeros(1, *shape), new_context())
    torch_mlir_done = time.perf_counter()
    run_pipeline(module, "hardcore-import", overrides={"hardcore-import": ImportPass(stream=stream)})
    import_done = time.perf_counter()
    run_pipeline(module, "hardcore-quantize", overrides={"hardcore-quantize": QuantizePass(calibration_data=data)})
    quantize_done = time.perf_counter()
    text = module.operation.get_asm(large_elements_limit=None)
    return {"size": size, "stream": stream, "calibration": calibration_samples,
            "torch_mlir_s": torch_mlir_done - start, "import_s": import_done - torch_mlir_done,
            "quantize_s": quantize_done - import_done, "total_s": quantize_done - start,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "ir_mb": len(text) / 1e6, "convs": text.count('"hardcore.conv"'), "denses": text.count('"hardcore.dense"')}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--calibration", type=int, default=256, help="calibration images (default 256)")
    parser.add_argument("--unrolled", action="store_true", help="also the default import (convolutions unrolled)")
    parser.add_argument("--child", type=str, help=argparse.SUPPRESS)  # one measurement, as JSON
    args = parser.parse_args(argv)
    if args.child:
        size, stream = args.child.split(",")
        print(json.dumps(measure(int(size), args.calibration, stream == "stream")))
        return 0
    print(f"ResNet8 import + quantize, {args.calibration} calibration images, one process per row")
    print(f"{'input':<7} {'mode':>9} {'torch-mlir':>10} {'hardcore-import':>15} {'quantize':>9} {'total':>8} "
          f"{'peak RSS':>9} {'IR':>8} {'convs':>5} {'denses':>6}")
    for size in args.sizes:
        for stream in (True, False) if args.unrolled else (True,):
            child = subprocess.run([sys.executable, __file__, "--child", f"{size},{'stream' if stream else 'unrolled'}",
                                    "--calibration", str(args.calibration)], capture_output=True, text=True)
            if child.returncode:
                print(f"{size}x{size} {'stream' if stream else 'unrolled'}: failed ({child.returncode}) "
                      f"{child.stderr.strip().splitlines()[-1:]}")
                continue
            row = json.loads(child.stdout.strip().splitlines()[-1])
            print(f"{f'{size}x{size}':<7} {'stream' if stream else 'unrolled':>9} {row['torch_mlir_s']:>9.1f}s "
                  f"{row['import_s']:>14.1f}s {row['quantize_s']:>8.1f}s {row['total_s']:>7.1f}s "
                  f"{row['peak_rss_mb']:>6.0f} MB {row['ir_mb']:>5.2f} MB {row['convs']:>5} {row['denses']:>6}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
