"""Side-by-side CMVM benchmark: hardcore against da4ml and alkaid on the same matrices.

    python bench/cmvm.py                  # every case, one table
    python bench/cmvm.py --cases mlp rand16x64_int8
    python bench/cmvm.py --lookahead 128   # hardcore with its look-ahead on pattern choice (off by default)
    python bench/cmvm.py --scaling        # hardcore alone on N×N int8, N = 64..512
    python bench/cmvm.py --scaling --max-depth 12   # the same at a fixed depth budget

Every solver's result is turned into a `hardcore.adder_graph.AdderGraph`
and checked against W bit for bit (the matrix it computes must equal W), and
all figures come from that one representation: adders (live add/sub nodes,
plus the negations of outputs: the bare CMVM has no bias adder to absorb a
sign), adder bits (sum of each adder's exact result width for the case's
input widths), depth (adders on the longest input-to-output path).
Negations are counted as each tool's circuit has them: hardcore's
`AdderGraph.negations()` (one per negated output value and shift), da4ml's
and alkaid's from their own graphs (one per operation their outputs read
negated, `out_negs`, in every stage, and one per alkaid negation op); their
intermediate signs that the conversion folds into subtractions are free in
their circuits too.  Times are wall
clock of the solve call alone.

da4ml and alkaid run with their defaults (their `solve`/`cmvm_solve`,
which search the decomposition depth themselves), each in a child process
with a time limit.  hardcore then runs with `max_depth` set to the depth of
the better competitor's graph (fewest adders), so it is compared at equal or
smaller depth.  Either competitor missing is said so in the table.

da4ml/alkaid are optional, benchmark-only dependencies, pinned in pyproject.toml:
`.venv/bin/pip install -e '.[bench]'`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "python"))

from hardcore import cmvm  # noqa: E402
from hardcore.adder_graph import AdderGraph, AdderNode  # noqa: E402

# Time limit for one competitor solve, seconds.
DEFAULT_TIMEOUT = 1800
SCALING_SIZES = (64, 128, 256, 512)


@dataclass
class Case:
    name: str
    W: np.ndarray
    input_bits: int = 8
    signed: bool = True
    note: str = ""


# -- the matrices --------------------------------------------------------------

def trained_like(rows: int, cols: int, bits: int, seed: int, zero_fraction: float = 0.1) -> np.ndarray:
    """Gaussian-like integer weights, as quantized trained layers look, with some zeros.

    sigma is a third of the largest magnitude, so about 3 sigma fills the range.
    """
    rng = np.random.default_rng(seed)
    top = (1 << (bits - 1)) - 1
    W = np.rint(rng.normal(0.0, (top + 1) / 3, size=(rows, cols)))
    W[rng.random((rows, cols)) < zero_fraction] = 0
    return np.clip(W, -top - 1, top).astype(np.int64)


def uniform_129_255(size: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(129, 256, size=(size, size)).astype(np.int64)


def trained_mlp(seed: int = 0, bits: int = 8) -> list[np.ndarray]:
    """A 16-64-32-32-5 ReLU MLP trained on a synthetic 5-class task, weights of `bits` bits.

    Each layer is quantized with a power-of-two scale (the smallest that
    keeps its largest weight within int `bits`).  Returns the layers as out×in
    integer matrices.  Trains with numpy alone in a few seconds.
    """
    rng = np.random.default_rng(seed)
    sizes = [16, 64, 32, 32, 5]
    # task: the class of a point is its nearest of 5 random centres (noisy)
    centres = rng.normal(size=(5, 16))
    X = rng.normal(size=(4000, 16))
    labels = np.argmin(((X[:, None, :] - centres[None]) ** 2).sum(-1), axis=1)
    weights = [rng.normal(0, np.sqrt(2 / a), size=(b, a)) for a, b in zip(sizes, sizes[1:])]
    biases = [np.zeros(b) for b in sizes[1:]]
    moments = [[np.zeros_like(p), np.zeros_like(p)] for p in weights + biases]
    rate, beta1, beta2 = 3e-3, 0.9, 0.999
    for step in range(1, 601):
        batch = rng.integers(0, len(X), 256)
        activations = [X[batch]]
        for k, (w, b) in enumerate(zip(weights, biases)):
            z = activations[-1] @ w.T + b
            activations.append(np.maximum(z, 0) if k < len(weights) - 1 else z)
        logits = activations[-1]
        prob = np.exp(logits - logits.max(1, keepdims=True))
        prob /= prob.sum(1, keepdims=True)
        grad = prob
        grad[np.arange(len(batch)), labels[batch]] -= 1
        grad /= len(batch)
        grads_w, grads_b = [None] * len(weights), [None] * len(weights)
        for k in reversed(range(len(weights))):
            grads_w[k] = grad.T @ activations[k]
            grads_b[k] = grad.sum(0)
            if k:
                grad = (grad @ weights[k]) * (activations[k] > 0)
        for p, g, mom in zip(weights + biases, grads_w + grads_b, moments):
            mom[0] = beta1 * mom[0] + (1 - beta1) * g
            mom[1] = beta2 * mom[1] + (1 - beta2) * g * g
            p -= rate * (mom[0] / (1 - beta1 ** step)) / (np.sqrt(mom[1] / (1 - beta2 ** step)) + 1e-8)
    layers = []
    top = (1 << (bits - 1)) - 1
    for w in weights:
        scale = 2.0 ** np.ceil(np.log2(np.abs(w).max() / top))
        layers.append(np.clip(np.rint(w / scale), -top - 1, top).astype(np.int64))
    return layers


def cases() -> list[Case]:
    result = []
    for bits in (8, 4):
        for seed, (rows, cols) in enumerate([(16, 64), (64, 32), (64, 64), (256, 256)]):
            result.append(Case(f"rand{rows}x{cols}_int{bits}", trained_like(rows, cols, bits, seed=100 * bits + seed)))
    for bits, prefix in ((8, "mlp"), (4, "mlp4")):
        for k, W in enumerate(trained_mlp(bits=bits)):
            rows, cols = W.shape
            # the first layer sees signed inputs, the others ReLU outputs (unsigned)
            result.append(Case(f"{prefix}_l{k + 1}_{rows}x{cols}", W, signed=(k == 0)))
    for size in (8, 16):
        note = "lit.: da4ml 343, H_cmvm 338" if size == 16 else ""
        result.append(Case(f"u129-255_{size}x{size}", uniform_129_255(size, seed=size), note=note))
    return result


# -- competitors' graphs as AdderGraphs ------------------------------------------

def from_stages(stages, n_inputs: int, flavor: str) -> tuple[AdderGraph, int]:
    """da4ml/alkaid CombLogic stages -> (AdderGraph, the negations their circuit has).

    Their buffers hold fixed-point values; each value here is
    (sign) * v << e with v an input or node and e any integer, so their
    negative shifts become shifts of the other operand.  Their code
    generators emit one negation per operation an output reads negated
    (`out_negs`, shared by outputs reading the same one) and one per alkaid
    negation op; the signs of their adders' operands are subtractions.
    """
    graph = AdderGraph(n_inputs=n_inputs)
    negations = 0
    current = [(j, 0, 1) for j in range(n_inputs)]  # stage inputs as (value, exponent, sign)
    for stage in stages:
        buf = []
        for op in stage.ops:
            if flavor == "da4ml":
                operands, code, shift = (op.id0, op.id1), op.opcode, op.data
                index = op.id0
            else:
                operands, code = op.addr, op.opcode
                shift = op.data[0] if op.data else 0
                index = op.data[0] if op.data else None
            if code == -1:
                value, exponent, sign = current[index]
                buf.append((value, exponent + stage.inp_shifts[index], sign))
            elif code == -2:  # alkaid's negation
                negations += 1
                value, exponent, sign = buf[operands[0]]
                buf.append((value, exponent, -sign))
            elif code in (0, 1):
                (a, ea, sa), (b, eb, sb) = buf[operands[0]], buf[operands[1]]
                eb += shift
                sb *= -1 if code == 1 else 1
                low = min(ea, eb)
                graph.nodes.append(AdderNode(a, ea - low, b, eb - low, sa * sb))
                buf.append((n_inputs + len(graph.nodes) - 1, low, sa))
            else:
                raise ValueError(f"{flavor}: unexpected opcode {code}")
        negations += len({idx for idx, neg in zip(stage.out_idxs, stage.out_negs) if neg and idx >= 0})
        outputs = []
        for idx, shift, neg in zip(stage.out_idxs, stage.out_shifts, stage.out_negs):
            if idx < 0:
                outputs.append(None)
                continue
            value, exponent, sign = buf[idx]
            outputs.append((value, exponent + shift, -sign if neg else sign))
        current = outputs
    graph.outputs = []
    for out in current:
        if out is None:
            graph.outputs.append(None)
            continue
        value, exponent, sign = out
        if exponent < 0:
            raise ValueError(f"{flavor}: fractional output scale 2^{exponent}")
        graph.outputs.append((value, exponent, sign))
    return _live(graph), negations


def _live(graph: AdderGraph) -> AdderGraph:
    """The graph without adders no output depends on."""
    n = graph.n_inputs
    needed = set(o[0] for o in graph.outputs if o is not None)
    for k in range(len(graph.nodes) - 1, -1, -1):
        if n + k in needed:
            needed.update((graph.nodes[k].a, graph.nodes[k].b))
    renumber = {j: j for j in range(n)}
    live = AdderGraph(n_inputs=n, input_bits=graph.input_bits, signed=graph.signed)
    for k, node in enumerate(graph.nodes):
        if n + k in needed:
            live.nodes.append(AdderNode(renumber[node.a], node.a_shift, renumber[node.b], node.b_shift, node.sign))
            renumber[n + k] = n + len(live.nodes) - 1
    live.outputs = [None if o is None else (renumber[o[0]], o[1], o[2]) for o in graph.outputs]
    return live


# -- running one solver -------------------------------------------------------------

def _input_ranges(case_bits: int, signed: bool, n: int):
    lo, hi = (-(1 << (case_bits - 1)), (1 << (case_bits - 1)) - 1) if signed else (0, (1 << case_bits) - 1)
    return [(float(lo), float(hi), 1.0)] * n


def _solve_competitor(tool: str, W: np.ndarray, bits: int, signed: bool) -> dict:
    n = W.shape[1]
    kernel = np.ascontiguousarray(W.T.astype(np.float32))  # they compute x @ kernel
    ranges = _input_ranges(bits, signed, n)
    if tool == "da4ml":
        import da4ml
        from da4ml.cmvm import solve
        from da4ml.types import QInterval
        start = time.perf_counter()
        pipeline = solve(kernel, qintervals=[QInterval(*r) for r in ranges])
        seconds = time.perf_counter() - start
        stages, version = pipeline.solutions, da4ml.__version__
    else:
        import alkaid
        from alkaid.cmvm import cmvm_solve
        start = time.perf_counter()
        stages = cmvm_solve(kernel, qintervals=ranges)
        seconds = time.perf_counter() - start
        version = alkaid.__version__
    graph, negations = from_stages(stages, n, tool)
    return _figures(graph, negations, W, bits, signed, seconds) | {"version": version}


def _figures(graph: AdderGraph, negations: int, W: np.ndarray, bits: int, signed: bool, seconds: float) -> dict:
    """adders counts the output negations too (the bare CMVM: no bias adder absorbs a sign)."""
    exact = bool(np.array_equal(graph.matrix().astype(object), W.astype(object)))
    return {"adders": graph.adders + negations, "negations": negations,
            "adder_bits": graph.adder_bits_at(bits, signed), "depth": graph.depth,
            "seconds": seconds, "exact": exact}


def _child(tool, W, bits, signed, queue):
    try:
        queue.put(_solve_competitor(tool, W, bits, signed))
    except Exception as error:  # reported in the table, not raised
        queue.put({"error": f"{type(error).__name__}: {error}"})


def run_competitor(tool: str, case: Case, timeout: float) -> Optional[dict]:
    """The tool's figures, {'missing': ...} if not installed, or {'timeout': s}."""
    try:
        __import__(tool)
    except ImportError:
        return {"missing": f"{tool} not installed"}
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    process = ctx.Process(target=_child, args=(tool, case.W, case.input_bits, case.signed, queue))
    process.start()
    try:
        return queue.get(timeout=timeout)
    except Exception:
        return {"timeout": timeout}
    finally:
        process.join(1)
        if process.is_alive():
            process.kill()
            process.join()


def run_hardcore(case: Case, max_depth: Optional[int], lookahead: int = 0) -> dict:
    cmvm.solve(np.array([[3, 5], [7, 1]]))  # loads the C extension outside the timed call
    start = time.perf_counter()
    graph = cmvm.solve(case.W, input_bits=case.input_bits, signed=case.signed, max_depth=max_depth,
                       lookahead=lookahead)
    seconds = time.perf_counter() - start
    return _figures(graph, graph.negations(), case.W, case.input_bits, case.signed, seconds)


# -- the table ----------------------------------------------------------------------

def _cache_key(tool: str, case: Case) -> str:
    digest = hashlib.sha256(case.W.tobytes() + repr((case.W.shape, case.input_bits, case.signed)).encode())
    return f"{tool}:{case.name}:{digest.hexdigest()[:16]}"


def _cell(result: Optional[dict]) -> str:
    if result is None:
        return "-"
    if "missing" in result:
        return result["missing"]
    if "timeout" in result:
        return f"timeout > {result['timeout']:.0f} s"
    if "error" in result:
        return result["error"][:40]
    mark = "" if result["exact"] else " WRONG"
    return (f"{result['adders']} ({result['negations']}) / {result['adder_bits']} / {result['depth']} / "
            f"{result['seconds']:.2f} s{mark}")


def _ok(result: Optional[dict]) -> bool:
    return result is not None and "adders" in result and result["exact"]


def benchmark(selected: list[str], timeout: float, cache_path: Optional[Path],
              competitors_only: bool = False, lookahead: int = 0) -> int:
    cache = json.loads(cache_path.read_text()) if cache_path and cache_path.exists() else {}
    header = ["case", "m×n", "nnz", "da4ml", "alkaid", "hardcore (max_depth)",
              "adders ratio", "bits ratio", "time ratio", "time ÷ faster"]
    print("Each cell: adders, output negations included (of which negations) / adder bits / depth / "
          "solve time.  Ratios: hardcore ÷ the better "
          "of da4ml and alkaid (fewest adders); the last column: hardcore's time ÷ the faster "
          "of the two, whatever its adders.", flush=True)
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header), flush=True)
    totals = {"hardcore": [0, 0, 0.0], "best": [0, 0, 0.0], "fastest": [0, 0, 0.0]}
    losses, slower, slower_than_fastest = [], [], []
    for case in cases():
        if selected and not any(s in case.name for s in selected):
            continue
        results = {}
        for tool in ("da4ml", "alkaid"):
            key = _cache_key(tool, case)
            if key in cache and ("negations" in cache[key] or "adders" not in cache[key]):
                results[tool] = cache[key]
                continue
            results[tool] = run_competitor(tool, case, timeout)
            if cache_path is not None and (_ok(results[tool]) or "timeout" in results[tool]):
                cache[key] = results[tool]
                cache_path.write_text(json.dumps(cache, indent=1))
        if competitors_only:
            print(f"| {case.name} | {_cell(results['da4ml'])} | {_cell(results['alkaid'])} |", flush=True)
            continue
        valid = [r for r in results.values() if _ok(r)]
        best = min(valid, key=lambda r: (r["adders"], r["depth"])) if valid else None
        depth = best["depth"] if best else None
        mine = run_hardcore(case, depth, lookahead)
        m, n = case.W.shape
        ratios = ["-", "-", "-", "-"]
        if best:
            fastest = min(valid, key=lambda r: r["seconds"])
            ratios = [f"{mine['adders'] / best['adders']:.3f}", f"{mine['adder_bits'] / best['adder_bits']:.3f}",
                      f"{mine['seconds'] / best['seconds']:.3f}", f"{mine['seconds'] / fastest['seconds']:.3f}"]
            for name, r in (("hardcore", mine), ("best", best), ("fastest", fastest)):
                totals[name][0] += r["adders"]
                totals[name][1] += r["adder_bits"]
                totals[name][2] += r["seconds"]
            if mine["adders"] > best["adders"] or mine["depth"] > best["depth"]:
                losses.append(case.name)
            if mine["seconds"] > best["seconds"]:
                slower.append(case.name)
            if mine["seconds"] > fastest["seconds"]:
                slower_than_fastest.append(case.name)
        label = case.name + (f" ({case.note})" if case.note else "")
        print(f"| {label} | {m}×{n} | {np.count_nonzero(case.W)} | {_cell(results['da4ml'])} | "
              f"{_cell(results['alkaid'])} | {_cell(mine)} ({depth if depth is not None else 'none'}) | "
              + " | ".join(ratios) + " |", flush=True)
    if totals["best"][0]:
        hc, best = totals["hardcore"], totals["best"]
        print(f"| total (cases with a competitor) | | | | | {hc[0]} / {hc[1]} / {hc[2]:.1f} s | "
              f"{hc[0] / best[0]:.3f} | {hc[1] / best[1]:.3f} | {hc[2] / best[2]:.3f} | "
              f"{hc[2] / totals['fastest'][2]:.3f} |")
    print("cases where hardcore has more adders or more depth than the better competitor: "
          + (", ".join(losses) if losses else "none"))
    print("cases where hardcore is slower than the better competitor: "
          + (", ".join(slower) if slower else "none"))
    print("cases where hardcore is slower than the faster competitor: "
          + (", ".join(slower_than_fastest) if slower_than_fastest else "none"))
    return 0


def _scaling_child(size: int, max_depth: Optional[int]) -> None:
    W = trained_like(size, size, 8, seed=size)
    start = time.perf_counter()
    graph = cmvm.solve(W, max_depth=max_depth)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"size": size, "nnz": int(np.count_nonzero(W)), "adders": graph.adders,
                      "depth": graph.depth, "seconds": seconds, "peak_mb": peak}))


def scaling(max_depth: Optional[int]) -> int:
    print(f"max_depth: {max_depth if max_depth is not None else 'none'}")
    print("| N×N int8 | nonzero weights | adders | depth | solve time | s per 1k nonzeros | peak RSS |")
    print("|---|---|---|---|---|---|---|", flush=True)
    for size in SCALING_SIZES:
        depth_args = [] if max_depth is None else ["--max-depth", str(max_depth)]
        out = subprocess.run([sys.executable, __file__, "--scaling-child", str(size)] + depth_args,
                             capture_output=True, text=True, check=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(f"| {size}×{size} | {r['nnz']} | {r['adders']} | {r['depth']} | {r['seconds']:.2f} s | "
              f"{1000 * r['seconds'] / r['nnz']:.4f} | {r['peak_mb']:.0f} MB |", flush=True)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="*", default=[], help="substrings of case names to run")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help="seconds allowed for one da4ml/alkaid solve")
    parser.add_argument("--cache", type=Path,
                        help="JSON file keeping da4ml/alkaid results (and time-outs) between runs")
    parser.add_argument("--competitors-only", action="store_true",
                        help="only run da4ml/alkaid (to fill --cache)")
    parser.add_argument("--lookahead", type=int, default=0,
                        help="hardcore's look-ahead on pattern choice (cmvm.solve's lookahead; default 0, off)")
    parser.add_argument("--scaling", action="store_true", help="hardcore's time and memory for N = 64..512")
    parser.add_argument("--max-depth", type=int, help="the depth budget of the --scaling runs (default: none)")
    parser.add_argument("--scaling-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.scaling_child:
        _scaling_child(args.scaling_child, args.max_depth)
        return 0
    if args.scaling:
        return scaling(args.max_depth)
    return benchmark(args.cases, args.timeout, args.cache, args.competitors_only, args.lookahead)


if __name__ == "__main__":
    sys.exit(main())
