"""Compile time and memory at scale: Linear(n, n) -> ReLU -> Linear(n, 10), stage by stage (issue 15).

    python bench/scale.py                          # n = 256, 512, 1024 at int8 and 1024 at int4
    python bench/scale.py --sizes 256,512 --workers serial
    python bench/scale.py --sizes 1024:4           # n:weight-bits (8 when left out)
    python bench/scale.py --sizes 512 --cluster    # also on a local 2-worker Dask cluster: time and bytes

Each case runs in a fresh child process (so its peak memory is its own):
seeded random weights, 256 seeded normal calibration samples,
`hardcore.compile(..., timing=rows)` then `Circuit.write` into a temporary
folder.  Printed: each stage's wall seconds and peak resident MB
(`hardcore.scale.timing`) per case, the totals (the memory of the compiling
process: the solver pool's workers are not counted), and time(4N)/time(N)
for each pair of int8 sizes a factor of 2 apart in n (4x the weights).  `--blocks` prints instead what splitting
an n x n matrix into column blocks (`hardcore-fold-weights`'
`BLOCK_COLUMNS`) costs in adders against solving it whole.  A benchmark, not a
test: it asserts nothing.  `--cluster` runs every case a second time with
its solves on a Dask cluster started here (2 worker processes, one thread
each: `compile(scheduler=...)`) and prints both times and whether the two
SystemVerilog texts are the same bytes (their SHA-256).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time

DEFAULT_CASES = "256,512,1024,1024:4"


def _case(text: str) -> tuple[int, int]:
    size, _, bits = text.partition(":")
    return int(size), int(bits or 8)


def _child(size: int, weight_bits: int, workers: str) -> dict:
    """One case in this process: the rows of compile + write, as JSON-ready data."""
    import numpy as np
    import torch

    torch.set_num_threads(1)
    import hardcore
    from hardcore.scale import timing

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(size, size), torch.nn.ReLU(), torch.nn.Linear(size, 10))
    calibration = np.random.default_rng(0).standard_normal((256, size)).astype(np.float32)
    rows = []
    start = time.perf_counter()
    with timing.recording(rows), tempfile.TemporaryDirectory() as folder:
        where = {"scheduler": workers} if "://" in str(workers) else {"workers": workers}
        circuit = hardcore.compile(model, torch.zeros(1, size), weight_bits=weight_bits, act_bits=8,
                                   calibration=calibration, **where)
        circuit.write(folder)
    total = time.perf_counter() - start
    return {"size": size, "weight_bits": weight_bits, "weights": size * size + 10 * size,
            "adders": circuit.report["adders"], "total": total,
            "verilog_sha256": hashlib.sha256(circuit.verilog.encode()).hexdigest(),
            "peak_mb": max(row.peak_mb for row in rows),
            "rows": [list(row) for row in rows]}


def _run_case(size: int, weight_bits: int, workers: str) -> dict:
    result = subprocess.run([sys.executable, __file__, "--child", f"{size}:{weight_bits}", "--workers", workers],
                            capture_output=True, text=True)
    if result.returncode:
        sys.exit(f"case n={size} int{weight_bits} failed:\n{result.stderr}")
    return json.loads(result.stdout.splitlines()[-1])


def _stage_seconds(case: dict) -> dict:
    merged: dict = {}
    for stage, seconds, peak in case["rows"]:
        total, top = merged.get(stage, (0.0, 0.0))
        merged[stage] = (total + seconds, max(top, peak))
    return merged


def _print_table(cases: list[dict]) -> None:
    stages = list(dict.fromkeys(stage for case in cases for stage, _, _ in case["rows"]))
    per_case = [_stage_seconds(case) for case in cases]
    heads = [f"n={c['size']} int{c['weight_bits']}" for c in cases]
    width = max(len(stage) for stage in stages)
    print(f"{'stage':<{width}}  " + "  ".join(f"{head:>16}" for head in heads))
    print(f"{'':<{width}}  " + "  ".join(f"{'s':>7} {'MB':>8}" for _ in heads))
    for stage in stages:
        cells = [f"{merged[stage][0]:7.1f} {merged[stage][1]:8.0f}" if stage in merged else f"{'-':>16}"
                 for merged in per_case]
        print(f"{stage:<{width}}  " + "  ".join(cells))
    print(f"{'total':<{width}}  " + "  ".join(f"{c['total']:7.1f} {c['peak_mb']:8.0f}" for c in cases))
    print(f"{'weights':<{width}}  " + "  ".join(f"{c['weights']:>16,}" for c in cases))
    print(f"{'adders':<{width}}  " + "  ".join(f"{c['adders']:>16,}" for c in cases))
    int8 = {c["size"]: c["total"] for c in cases if c["weight_bits"] == 8}
    for size in sorted(int8):
        if 2 * size in int8:
            print(f"time(n={2 * size}) / time(n={size}) at int8 (4x the weights): {int8[2 * size] / int8[size]:.2f}")


def _print_blocks(sizes: list[int], weight_bits: int) -> None:
    """Adders of an n x n matrix solved whole against in column blocks, and the seconds of each."""
    import numpy as np
    import torch

    torch.set_num_threads(1)
    from hardcore.passes.fold_weights import dense
    from hardcore.scale import parallel

    print(f"column blocks of {dense.BLOCK_COLUMNS} (compile splits matrices wider than {dense.BLOCK_MIN_COLUMNS} columns), "
          f"int{weight_bits} weights, 8-bit signed inputs, serial:")
    for size in sizes:
        torch.manual_seed(0)
        weight = torch.nn.Linear(size, size).weight.detach().numpy()
        limit = (1 << (weight_bits - 1)) - 1
        matrix = np.round(weight / np.abs(weight).max() * limit).astype(np.int64)
        ranges = [(-128, 127)] * size
        figures = []
        for columns in (size, dense.BLOCK_COLUMNS):
            jobs = dense.solve_jobs(matrix, ranges, None, block_columns=columns)
            start = time.perf_counter()
            with parallel.session("serial"):
                graph = dense._combine(jobs, parallel.solve_all(jobs))
            figures.append((graph.adders, graph.depth, time.perf_counter() - start, len(jobs)))
        (whole, whole_depth, whole_s, _), (blocked, blocked_depth, blocked_s, blocks) = figures
        print(f"  {size}x{size}: whole {whole:,} adders (depth {whole_depth}, {whole_s:.1f} s); "
              f"{blocks} blocks {blocked:,} adders (depth {blocked_depth}, {blocked_s:.1f} s): "
              f"{100 * (blocked - whole) / whole:+.1f}%")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=DEFAULT_CASES,
                        help=f"comma-separated n or n:weight-bits (default {DEFAULT_CASES})")
    parser.add_argument("--workers", default="auto", help="auto, serial or a number of processes (compile's workers)")
    parser.add_argument("--blocks", action="store_true", help="the adder cost of column blocks instead")
    parser.add_argument("--cluster", action="store_true",
                        help="also run each case on a local 2-worker Dask cluster; compare time and bytes")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    workers = args.workers
    if args.child:
        size, bits = _case(args.child)
        print(json.dumps(_child(size, bits, int(workers) if workers.isdigit() else workers)))
        return 0
    cases = [_case(text) for text in args.sizes.split(",") if text]
    if args.blocks:
        _print_blocks([size for size, _ in cases], cases[0][1])
        return 0
    print(f"hardcore.compile + Circuit.write of Linear(n, n) -> ReLU -> Linear(n, 10), 256 calibration samples, "
          f"workers={workers}, {os.cpu_count()} cores; each case in a fresh process", flush=True)
    results = []
    for size, bits in cases:
        results.append(_run_case(size, bits, workers))
        print(f"  n={size} int{bits}: {results[-1]['total']:.1f} s, {results[-1]['peak_mb']:.0f} MB", flush=True)
    _print_table(results)
    if args.cluster:
        _compare_cluster(cases, results)
    return 0


def _compare_cluster(cases: list, results: list[dict]) -> None:
    """Every case again with its solves on a local 2-worker Dask cluster: time beside, bytes compared."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      host="127.0.0.1", silence_logs=40) as cluster:
        print(f"\nthe same cases with the solves on a local Dask cluster ({cluster.scheduler_address}, "
              f"2 worker processes, 1 thread each):")
        print(f"{'case':<14}{'one process':>14}{'Dask cluster':>14}  SystemVerilog")
        for (size, bits), single in zip(cases, results):
            clustered = _run_case(size, bits, cluster.scheduler_address)
            same = "byte-identical" if clustered["verilog_sha256"] == single["verilog_sha256"] else "DIFFERENT"
            print(f"{f'n={size} int{bits}':<14}{single['total']:>12.1f} s{clustered['total']:>12.1f} s  {same} "
                  f"(sha256 {clustered['verilog_sha256'][:16]})", flush=True)


if __name__ == "__main__":
    sys.exit(main())
