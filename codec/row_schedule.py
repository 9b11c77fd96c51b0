"""The row-first pass schedule of palette frames (format version 10, mix bit 21).

The coarse-to-fine passes (``codec.intra``) predict a quarter of the pixels of each level from the
grid of the level before, 2s apart: thin lines, text and UI edges are aliased on that grid, and
those pixels cost most (0.65 bits against 0.13 for the rest of the last level on a 4-colour dialog
screenshot). This schedule refines rows first and columns within each row level: rows that are
multiples of 16, then for s = 8, 4, 2, 1 the rows equal to s modulo 2s; within each such row
level the columns in the same order (multiples of 16, then s modulo 2s). So every row after the
first level is coded from the whole rows s above and below it, and the pixels coded last see both
their horizontal neighbours and the two whole rows around them. A pass is one (row level,
column level) pair: 25 passes, each still one batch with no pixel depending on another.

Each pass's template is the 16 positions nearest to its pixels among those decoded in earlier
passes (``offsets``): the first four are its neighbours (the prediction's mean and scale, the
votes, the context keys of orders 1 and 2), the other twelve its ring (the repeat context).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

import numpy as np

from .intra import CACHED_PIXELS, Pass, Ring, Schedule, index_dtype

#: Levels of rows (and of columns within a row level): multiples of 16, then s modulo 2s.
LEVELS = (16, 8, 4, 2, 1)
#: Template positions per pass: 4 neighbours and a ring of 12.
TEMPLATE = 16
NEIGHBOURS = 4
#: Template positions are looked for within this many pixels of the pixel, in each direction.
REACH = 32


def level_of(i: np.ndarray) -> np.ndarray:
    """Level (0..4, an index into LEVELS) of row or column ``i``."""
    out = np.zeros(i.shape, np.int64)
    for k, s in enumerate(LEVELS[1:], start=1):
        out[i % (2 * s) == s] = k
    return out


def _state(d: int, level: int) -> int:
    """Where a row (or column) ``d`` away from one of ``level`` stands: -1 a coarser level, 0 the
    same level, 1 a finer one (the same for every row of the level)."""
    if level == 0:
        return 0 if d % 16 == 0 else 1
    s = LEVELS[level]
    if d % (2 * s) == s:
        return -1
    return 0 if d % (2 * s) == 0 else 1


@lru_cache(maxsize=None)
def offsets(row_level: int, col_level: int) -> tuple[tuple[int, int], ...]:
    """The template of pass (row level, column level) as (dy, dx): the TEMPLATE positions within
    REACH decoded before it (rows of a coarser level; or rows of the same level, in columns of a
    coarser level), nearest first, ties by |dy|, then dy, then dx. Empty for the first pass.
    (``offsets_reference`` in a loop; this one costs a process 0.6 ms a pass less, 15 in all.)"""
    d = np.arange(-REACH, REACH + 1)
    row = np.array([_state(int(v), row_level) for v in d])
    col = np.array([_state(int(v), col_level) for v in d]) if col_level > 0 else np.zeros(d.size, np.int64)
    dy, dx = np.meshgrid(d, d, indexing="ij")
    decoded = (row[:, None] == -1) | ((row[:, None] == 0) & (col[None, :] == -1))
    decoded &= (dy != 0) | (dx != 0)
    dy, dx = dy[decoded], dx[decoded]
    nearest = np.lexsort((dx, dy, np.abs(dy), dy * dy + dx * dx))[:TEMPLATE]
    return tuple((int(dy[k]), int(dx[k])) for k in nearest)


def offsets_reference(row_level: int, col_level: int) -> tuple[tuple[int, int], ...]:
    """``offsets`` as a loop over the positions (the rule as written; tests compare them)."""
    found = []
    for dy in range(-REACH, REACH + 1):
        row = _state(dy, row_level)
        if row == 1:
            continue
        for dx in range(-REACH, REACH + 1):
            if (dy, dx) == (0, 0):
                continue
            if row == -1 or (col_level > 0 and _state(dx, col_level) == -1):
                found.append((dy * dy + dx * dx, abs(dy), dy, dx))
    found.sort()
    return tuple((dy, dx) for _, _, dy, dx in found[:TEMPLATE])


def _progression(level: int) -> tuple[int, int]:
    """(first, step) of the rows (or columns) of a level: multiples of 16, then s modulo 2s."""
    s = LEVELS[level]
    return (0, 16) if level == 0 else (s, 2 * s)


def passes(height: int, width: int) -> tuple[Pass, ...] | Schedule:
    """The schedule for a frame size (a cached tuple up to ``intra.CACHED_PIXELS``, a
    ``Schedule`` made pass by pass above, like ``intra.passes``): each Pass holds its pixels, its
    four neighbours and its template; the ring's positions are computed where they are read
    (``ring``). ``passes_reference`` is the rule in numpy."""
    if height * width <= CACHED_PIXELS:
        return cached_passes(height, width)
    return Schedule(iter_passes, height, width)


def iter_passes(height: int, width: int) -> Iterator[Pass]:
    """``passes``, each pass made as it is read."""
    from . import intra_kernel  # numba: loaded on first use

    dt = index_dtype(height * width)
    for r in range(len(LEVELS)):
        y0, ystep = _progression(r)
        ys = np.arange(y0, height, ystep)
        for c in range(len(LEVELS)):
            x0, xstep = _progression(c)
            if ys.size == 0 or x0 >= width:
                continue
            template = offsets(r, c)
            targets, nbr = intra_kernel.grid(
                ys, np.full(ys.size, x0), xstep, template[:NEIGHBOURS], height, width, dt
            )
            made = [Pass(targets, nbr, step=1 if template else 0, template=template)]
            del targets, nbr
            yield made.pop()  # held by the reader only: it may drop the pass while it reads on


@lru_cache(maxsize=8)
def cached_passes(height: int, width: int) -> tuple[Pass, ...]:
    """``iter_passes`` as a tuple, kept for the next frame of the size."""
    return tuple(iter_passes(height, width))


def passes_reference(height: int, width: int) -> tuple[Pass, ...]:
    """``passes`` from each row's and column's level, in numpy (for testing it)."""
    dt = index_dtype(height * width)
    row_levels, col_levels = level_of(np.arange(height)), level_of(np.arange(width))
    out = []
    for r in range(len(LEVELS)):
        ys = np.flatnonzero(row_levels == r)
        for c in range(len(LEVELS)):
            xs = np.flatnonzero(col_levels == c)
            if ys.size == 0 or xs.size == 0:
                continue
            ty, tx = np.repeat(ys, xs.size), np.tile(xs, ys.size)
            template = offsets(r, c)
            nbr = positions(ty, tx, template[:NEIGHBOURS], height, width).astype(dt)
            out.append(Pass((ty * width + tx).astype(dt), nbr, step=1 if template else 0, template=template))
    return tuple(out)


def positions(ty: np.ndarray, tx: np.ndarray, offs, height: int, width: int) -> np.ndarray:
    """(len(offs), N) flat positions of (ty + dy, tx + dx), -1 outside the frame."""
    out = np.empty((len(offs), ty.size), np.int64)
    for j, (dy, dx) in enumerate(offs):
        ny, nx = ty + dy, tx + dx
        ok = (ny >= 0) & (ny < height) & (nx >= 0) & (nx < width)
        out[j] = np.where(ok, ny * width + nx, -1)
    return out


def ring(p: Pass, height: int, width: int) -> Ring:
    """The ring of a pass of this schedule: its template's positions after the neighbours."""
    return Ring(np.array(p.template[NEIGHBOURS:], np.int64).reshape(-1, 2), height, width)


#: Mix-field bit of a palette frame coded in this schedule (version 10).
ROWS_BIT = 1 << 21


def used(mix: int, row_schedule: bool) -> bool:
    """Whether a palette frame with this mix field is in the row schedule (``row_schedule``: the
    stream's profile has it)."""
    return row_schedule and bool(mix & ROWS_BIT)
