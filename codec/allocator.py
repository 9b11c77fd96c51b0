"""Large arrays from the heap, not each from a mapping of its own: glibc's mmap threshold raised once.

glibc's malloc gives every block above its mmap threshold (128 KB when a process starts) a mapping
of its own, whose pages fault in on first touch and go back to the kernel when it is freed. When
such a block is freed, glibc raises the threshold to the block's size (up to 32 MiB), so that later
blocks of that size come from the heap and are reused without faults. A coder allocates planes and
per-sample arrays of 1-30 MB for every frame, so it ran at the mercy of whichever large temporary
happened to be freed first: a raster inter rule kernel on bikes' 640x272 luma took 5.6-7 ms with the
threshold still at its start and 3.6 ms with it raised, a whole encode of bikes 1.16x the time
(bench/SPEED.md, "Planar memory"). Coders therefore free one 31 MiB block once per process, the
largest size glibc adapts to, before their first frame: what glibc would do after the first such
temporary anyway, only without waiting for it. Its pages are never touched, so it costs no memory;
the heap may then hold up to 62 MiB freed before it gives it back (glibc's trim threshold follows
at twice the mmap threshold). Nothing is done on other C libraries.
"""

from __future__ import annotations

import functools
import platform

import numpy as np

#: glibc's largest dynamic mmap threshold is 32 MiB on 64-bit machines (DEFAULT_MMAP_THRESHOLD_MAX);
#: a block of this size plus malloc's header stays within it.
BLOCK_BYTES = 31 << 20


@functools.cache
def raise_mmap_threshold() -> bool:
    """Free one BLOCK_BYTES block once per process (glibc only); whether it was done."""
    if platform.libc_ver()[0] != "glibc":
        return False
    block = np.empty(BLOCK_BYTES, np.uint8)  # a mapping of its own, never touched
    del block  # glibc raises its mmap threshold to the block's size
    return True
