"""Independent CMVM solves run in this process, on a local process pool, or on a Dask cluster.

A model's layers fold independently, and so do the column blocks of a very
large matrix: each is one `SolveJob`, a pure function of its fields.
`solve_all(jobs)` returns their adder graphs in order, from whichever
executor the current `session` names:

    with parallel.session("auto"):              # the default: a pool when the work pays for it
    with parallel.session("serial"):            # this process only
    with parallel.session(4):                   # a local pool of 4 processes
    with parallel.session("tcp://host:8786"):   # an existing Dask scheduler (dask.distributed)

The solver is deterministic, so every executor gives the same graphs and the
same SystemVerilog, byte for byte.  A session also remembers the graphs it
has solved (by job), so work solved ahead of time is not solved again.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import importlib.machinery
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional, Union

import numpy as np

from hardcore.errors import UsageError

__all__ = ["SolveJob", "solve_all", "solve_ahead", "session", "active", "progress", "executor", "local_workers", "POOL_MIN_NONZEROS"]

# "auto" starts a pool only when the jobs still to solve hold at least this many nonzero weights
# together (starting workers and moving graphs between processes costs about a second).
POOL_MIN_NONZEROS = 50_000
# Progress messages come every this many seconds, on work that takes longer.
PROGRESS_AFTER = 2.0
# Seconds to wait for a Dask scheduler to answer.
CONNECT_TIMEOUT = 20


@dataclass(frozen=True)
class SolveJob:
    """One `cmvm.solve(matrix, input_bits, signed, max_depth, algorithm, restarts)` call, hashable by content."""

    matrix: bytes  # int64, C order
    shape: tuple[int, int]
    input_bits: int
    signed: bool
    max_depth: Optional[int]
    algorithm: str = "cse"
    free_rows: tuple[int, ...] = ()  # cmvm.solve's free_negation_rows
    nonzeros: int = field(default=0, compare=False)
    restarts: Optional[int] = None  # cmvm.solve's (None: as many as the matrix's size allows)
    plans: Optional[tuple[int, ...]] = None  # the cmvm plan codes to try, without restarts (None: cmvm.solve's)

    @classmethod
    def of(cls, matrix, input_bits: int, signed: bool, max_depth: Optional[int], algorithm: str = "cse",
           free_rows=(), restarts: Optional[int] = None, plans=None) -> "SolveJob":
        array = np.ascontiguousarray(matrix, dtype=np.int64)
        return cls(array.tobytes(), tuple(array.shape), int(input_bits), bool(signed),
                   None if max_depth is None else int(max_depth), algorithm, tuple(sorted(int(i) for i in free_rows)),
                   int(np.count_nonzero(array)), None if restarts is None else int(restarts),
                   None if plans is None else tuple(int(code) for code in plans))

    def weights(self) -> np.ndarray:
        return np.frombuffer(self.matrix, dtype=np.int64).reshape(self.shape)

    def key(self) -> str:
        """A name for the job that is the same in every process (Dask's task key)."""
        digest = hashlib.sha256(self.matrix)
        digest.update(repr((self.shape, self.input_bits, self.signed, self.max_depth, self.algorithm,
                            self.free_rows, self.restarts, self.plans)).encode())
        return "hardcore-solve-" + digest.hexdigest()[:32]


def _solve(job: SolveJob):
    """`cmvm.solve` of the job.  A job of given `plans` tries only those, without restarts, and every plan
    when none of them meets its depth bound.

    On a large matrix the row-difference plans cost most of the solve (a
    1024 x 128 block: 2.5 s for the direct plan, 14.8 s for all four) and
    rarely win (docs/scale.md).
    """
    from hardcore import cmvm

    if job.plans is not None and job.algorithm == "cse":
        try:
            return cmvm.solve(job.weights(), input_bits=job.input_bits, signed=job.signed,
                              max_depth=job.max_depth, free_negation_rows=job.free_rows, restarts=0,
                              plans=job.plans)
        except cmvm.PlansInfeasible:
            pass
    return cmvm.solve(job.weights(), input_bits=job.input_bits, signed=job.signed, max_depth=job.max_depth,
                      algorithm=job.algorithm, free_negation_rows=job.free_rows, restarts=job.restarts)


@contextlib.contextmanager
def _main_not_rerun() -> Iterator[None]:
    """Workers started inside the block do not run the user's script again.

    A forkserver (or spawn) worker imports the parent's main module, so a
    script without an `if __name__ == "__main__":` guard would compile its
    model again in every worker.  The workers need only `hardcore.cmvm`:
    while they start, the main module looks like a package's `__main__`,
    which multiprocessing does not import."""
    main = sys.modules.get("__main__")
    if main is None or getattr(main, "__spec__", None) is not None:
        yield
        return
    main.__spec__ = importlib.machinery.ModuleSpec("hardcore.scale.__main__", None)
    try:
        yield
    finally:
        main.__spec__ = None


@dataclass(frozen=True)
class _Raised:
    """A job's solve raised this: raised again when the job's graph is asked for (at the op that asks)."""

    error: Exception


def _solve_or_raised(job: SolveJob):
    try:
        return _solve(job)
    except ValueError as error:  # an infeasible depth bound, say: the fold reports it at its op
        return _Raised(error)


class _Session:
    def __init__(self, executor: Union[str, int], say: Optional[Callable[[str], None]]):
        self.executor = executor
        self.say = say
        self.solved: dict = {}
        self._pool: Optional[ProcessPoolExecutor] = None
        self._client = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
        if self._client is not None:
            self._client.close()

    def run(self, jobs: list[SolveJob], progress: Optional[Callable[[int, int], None]]) -> None:
        if self.executor == "serial" or (self.executor == "auto" and (
                len(jobs) < 2 or (os.cpu_count() or 1) < 2 or sum(job.nonzeros for job in jobs) < POOL_MIN_NONZEROS)):
            for done, job in enumerate(jobs, 1):
                self.solved[job] = _solve_or_raised(job)
                if progress:
                    progress(done, len(jobs))
        elif isinstance(self.executor, str) and "://" in self.executor:
            self._run_dask(jobs, progress)
        else:
            self._run_pool(jobs, progress)

    def _run_pool(self, jobs, progress) -> None:
        import multiprocessing

        with _main_not_rerun():
            if self._pool is None:
                workers = self.executor if isinstance(self.executor, int) else min(os.cpu_count() or 1, len(jobs))
                # forkserver: the workers do not inherit torch's and MLIR's threads and state.
                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload(["hardcore.cmvm"])
                self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
            # Largest first, so the last job to finish is a small one.
            order = sorted(range(len(jobs)), key=lambda k: -jobs[k].nonzeros)
            futures = {self._pool.submit(_solve_or_raised, jobs[k]): jobs[k] for k in order}
        from concurrent.futures import as_completed

        for done, future in enumerate(as_completed(futures), 1):
            self.solved[futures[future]] = future.result()
            if progress:
                progress(done, len(jobs))

    def _run_dask(self, jobs, progress) -> None:
        try:
            from distributed import Client
        except ImportError:
            raise UsageError(f"scheduler {self.executor}: Dask is not installed; install hardcore's 'distributed' "
                             "extra (pip install -e '.[distributed]')") from None
        if self._client is None:
            try:
                self._client = Client(self.executor, timeout=f"{CONNECT_TIMEOUT}s", set_as_default=False)
            except OSError as error:
                raise UsageError(f"scheduler {self.executor}: cannot connect ({error})") from None
        ordered = sorted(jobs, key=lambda job: -job.nonzeros)  # largest first, as on the pool
        futures = [self._client.submit(_solve_or_raised, job, key=job.key(), pure=False) for job in ordered]
        for done, (job, future) in enumerate(zip(ordered, futures), 1):
            self.solved[job] = self._client.gather(future)
            if progress:
                progress(done, len(jobs))


_CURRENT: contextvars.ContextVar[Optional[_Session]] = contextvars.ContextVar("hardcore_parallel", default=None)


def _check(executor) -> Union[str, int]:
    if executor is None:
        return "auto"
    if isinstance(executor, bool) or not isinstance(executor, (str, int)):
        raise UsageError(f"workers: expected 'auto', 'serial', a number of processes or a scheduler address, "
                         f"got {executor!r}")
    if isinstance(executor, int):
        if executor < 1:
            raise UsageError(f"workers: a process pool needs at least 1 process, got {executor}")
        return "serial" if executor == 1 else executor
    if executor in ("auto", "serial") or "://" in executor:
        return executor
    if executor.isdigit():
        return _check(int(executor))
    raise UsageError(f"workers: expected 'auto', 'serial', a number of processes or a scheduler address "
                     f"(tcp://host:port), got {executor!r}")


@contextlib.contextmanager
def session(executor: Union[str, int, None] = "auto", say: Optional[Callable[[str], None]] = None) -> Iterator[None]:
    """Solve jobs through `executor` inside the block (see the module's docstring); nests by replacing.

    `say` receives progress messages (`progress`)."""
    current = _Session(_check(executor), say)
    token = _CURRENT.set(current)
    try:
        yield
    finally:
        _CURRENT.reset(token)
        current.close()


def active() -> bool:
    """Whether a session is open (work solved ahead of time is then kept for the fold)."""
    return _CURRENT.get() is not None


def progress(verb: str, noun: str) -> Optional[Callable[[int, int], None]]:
    """A `(done, total)` callback that tells the session's `say` how far `verb` is, with an ETA; None without one.

    Work that ends within PROGRESS_AFTER seconds says nothing; longer work says
    where it is every PROGRESS_AFTER seconds, and how long it took at the end."""
    current = _CURRENT.get()
    if current is None or current.say is None:
        return None
    say, start, last = current.say, time.monotonic(), [None]

    def report(done: int, total: int) -> None:
        now = time.monotonic()
        elapsed = now - start
        if elapsed < PROGRESS_AFTER or (done < total and last[0] is not None and now - last[0] < PROGRESS_AFTER):
            return
        last[0] = now
        if done < total:
            eta = elapsed / max(done, 1) * (total - done)
            say(f"{verb}: {done}/{total} {noun}, {elapsed:.1f} s, about {eta:.0f} s left")
        else:
            say(f"{verb}: {total} {noun} in {elapsed:.1f} s")
    return report


def local_workers(executor: Union[str, int, None], jobs: int) -> int:
    """How many of `jobs` independent tool runs (Yosys) to start at once on this machine for `executor`.

    A scheduler address counts as "auto": the tools run where their files are."""
    executor = _check(executor)
    if executor == "serial":
        return 1
    limit = executor if isinstance(executor, int) else os.cpu_count() or 1
    return max(1, min(limit, jobs))


def executor(workers: Union[str, int, None], scheduler: Optional[str], lead: str) -> Union[str, int]:
    """What `session` takes for these `workers` and `scheduler` (a scheduler wins), both checked first.

    A scheduler that is no address is a usage error starting with `lead`."""
    workers = _check(workers)
    if scheduler is None:
        return workers
    if not (isinstance(scheduler, str) and "://" in scheduler):
        raise UsageError(f"{lead} a Dask scheduler's address such as tcp://host:8786, got {scheduler!r}")
    return scheduler


def solve_ahead(jobs: list[SolveJob], progress: Optional[Callable[[int, int], None]] = None) -> None:
    """Solve `jobs` now (at once, on the session's executor) for `solve_all` to find later; nothing outside a
    session.  A job that raises raises when `solve_all` asks for it."""
    current = _CURRENT.get()
    todo = [] if current is None else list(dict.fromkeys(job for job in jobs if job not in current.solved))
    if todo:
        current.run(todo, progress)


def solve_all(jobs: list[SolveJob], progress: Optional[Callable[[int, int], None]] = None) -> list:
    """The adder graph of every job, in order, solved by the current session (serially outside one)."""
    current = _CURRENT.get()
    if current is None:
        return [_solve(job) for job in jobs]
    todo = list(dict.fromkeys(job for job in jobs if job not in current.solved))
    if todo:
        current.run(todo, progress)
    graphs = [current.solved[job] for job in jobs]
    for graph in graphs:
        if isinstance(graph, _Raised):
            raise graph.error
    return graphs
