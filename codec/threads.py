"""How fpcodec shares the cores: its parallelism is numba's compiled kernels (and compiled calls
that release the GIL, run side by side); BLAS runs on one thread.

numpy's OpenBLAS starts a thread per core, and after each call its idle threads spin for a while
before they sleep. fpcodec's GEMMs are small (one frame's convolutions, the encoder's cost tables), so
their extra threads win little, and their spinning takes the cores from the numba kernels that run
next (the palette weights): on 2 cores a 96x96 clip decoded in 4.5 s with OpenBLAS's threads and in
3.4 s without (bench/SPEED.md). Coding a frame therefore holds BLAS at one thread and gives the
setting back afterwards; the coded bytes and decoded frames do not depend on it.
"""

from __future__ import annotations

import concurrent.futures
import functools
import os
from typing import Callable, ParamSpec, Sequence, TypeVar

import threadpoolctl

P = ParamSpec("P")
R = TypeVar("R")


@functools.cache
def _controller() -> threadpoolctl.ThreadpoolController:
    """The thread pools of the libraries loaded so far (numpy's BLAS is, when fpcodec codes)."""
    return threadpoolctl.ThreadpoolController()


def one_blas_thread(func: Callable[P, R]) -> Callable[P, R]:
    """Run ``func`` with BLAS limited to one thread (restored afterwards)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with _controller().limit(limits=1, user_api="blas"):
            return func(*args, **kwargs)

    return wrapper


def side_by_side(jobs: Sequence[Callable[[], None]]) -> None:
    """Run ``jobs`` on as many threads as numba may use (``numba.get_num_threads``, which
    ``NUMBA_NUM_THREADS`` sets), the calling thread taking the first share, and return once all
    are done (the first failure raised). For jobs that spend their time in compiled code without
    the GIL, each on data of its own (the encoder's substreams): which thread runs a job changes
    nothing in what it writes."""
    import numba  # loaded already where there are compiled jobs

    workers = min(len(jobs), numba.get_num_threads())
    shares = [jobs[w::workers] for w in range(workers)]

    def run(share: Sequence[Callable[[], None]]) -> None:
        for job in share:
            job()

    if workers <= 1:
        run(jobs)
        return
    handed = [_pool().submit(run, share) for share in shares[1:]]
    try:
        run(shares[0])
    finally:
        concurrent.futures.wait(handed)  # no job may still write once this returns or raises
    for f in handed:
        f.result()


@functools.cache
def _pool() -> concurrent.futures.ThreadPoolExecutor:
    """``side_by_side``'s threads (they sleep between jobs, unlike BLAS's)."""
    import numba

    return concurrent.futures.ThreadPoolExecutor(
        numba.config.NUMBA_NUM_THREADS, thread_name_prefix="fpcodec-jobs"
    )


if hasattr(os, "register_at_fork"):  # a forked child has none of the parent's threads: a new pool
    os.register_at_fork(after_in_child=_pool.cache_clear)
