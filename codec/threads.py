"""How fpcodec shares the cores: its parallelism is numba's compiled kernels; BLAS runs on one thread.

numpy's OpenBLAS starts a thread per core, and after each call its idle threads spin for a while
before they sleep. fpcodec's GEMMs are small (one frame's convolutions, the encoder's cost tables), so
their extra threads win little, and their spinning takes the cores from the numba kernels that run
next (the palette weights): on 2 cores a 96x96 clip decoded in 4.5 s with OpenBLAS's threads and in
3.4 s without (bench/SPEED.md). Coding a frame therefore holds BLAS at one thread and gives the
setting back afterwards; the coded bytes and decoded frames do not depend on it.
"""

from __future__ import annotations

import functools
from typing import Callable, ParamSpec, TypeVar

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
