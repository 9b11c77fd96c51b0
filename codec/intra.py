"""The format's intra rule for frames with no usable history: coarse-to-fine interpolation.

A fixed coding rule of the stream format (FORMAT.md, "Intra frames"), not a learned predictor, so it
lives with the coding code: RGB intra and palette intra code in these passes, and from format
version 5 palette inter and update frames use the same pass geometry.

Pixels are coded in passes, every pass a vectorized batch (no loop over pixels): first a sparse grid
every GRID pixels, then, halving the step s each level, the centres of the known 2s-squares (from
their four diagonal neighbours) and then the edge midpoints (from their four axis neighbours). Every
neighbour a pass reads was coded in an earlier pass, so the decoder can mirror it. The prediction is
the mean of the available neighbours and the scale grows with their spread, an edge-aware rule in
the spirit of FLIF's interlaced mode.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..bitstream import entropy

GRID = 16
#: Scale rule: FLOOR + GAIN * (max - min of the neighbours); first-grid pixels get FIRST_SCALE.
FLOOR = 0.6
GAIN = 0.35
FIRST_SCALE = 48.0


@dataclass(frozen=True)
class Pass:
    """Flat pixel indices coded in one pass and, per neighbour, their flat index (-1 if outside)."""

    targets: np.ndarray
    neighbours: np.ndarray  # (K, N), -1 where out of bounds; empty (0, N) for the first grid
    diagonal: bool = False  # neighbours (-s,-s), (-s,s), (s,-s), (s,s); else (-s,0), (s,0), (0,-s), (0,s)
    step: int = 0  # s; 0 for the first grid
    #: (dy, dx) of the neighbours and then the ring, in pixels, for a pass of another schedule
    #: (``codec.row_schedule``, version 10); empty for these passes (their ring is RING_*).
    template: tuple[tuple[int, int], ...] = ()


#: The ring around a pass's pixel (``ring``), (dy, dx) in units of the pass's step s: with the
#: four listed neighbours, the 16 positions nearest to the pixel among those decoded in earlier
#: passes (all within 3s in each direction).
RING_DIAGONAL = (
    *((-3, -1), (-3, 1), (-1, -3), (-1, 3), (1, -3), (1, 3), (3, -1), (3, 1)),
    *((-3, -3), (-3, 3), (3, -3), (3, 3)),
)
RING_AXIS = (
    *((-2, -1), (-2, 1), (-1, -2), (-1, 2), (1, -2), (1, 2), (2, -1), (2, 1)),
    *((-3, 0), (3, 0), (0, -3), (0, 3)),
)


def index_dtype(pixels: int) -> type:
    """Flat pixel indices as int32 when they fit (half the memory of the cached schedules), else int64."""
    return np.int32 if pixels < (1 << 31) else np.int64


#: Pass schedules (of either kind) of frames up to this many pixels (640x480 and 800x600 are
#: cached, 1280x720 is not) are cached, 8 sizes at most. Larger ones are a ``Schedule``: made pass
#: by pass each time they are read (19 ms for 1280x720, 0.19 s for 7.3 Mpixels, a hundredth of
#: the frame's coding), so that a large frame's coding holds at most two of its passes'
#: positions, never the whole schedule at 20 bytes a pixel (2 Mpixels until issue 15's memory
#: target of 64 bytes a pixel met 1280x720 palette frames).
CACHED_PIXELS = 1 << 19


class Schedule:
    """The passes of a frame too large to cache its schedule, made one at a time by ``make``
    (height, width) each time they are iterated: the same passes as the cached tuple's."""

    def __init__(self, make: Callable[[int, int], Iterator[Pass]], height: int, width: int) -> None:
        self._make, self.height, self.width = make, height, width

    def __iter__(self) -> Iterator[Pass]:
        return self._make(self.height, self.width)


def passes(height: int, width: int, kept_up_to: int | None = None) -> tuple[Pass, ...] | Schedule:
    """The pass schedule for a frame size (it only depends on the size): a cached tuple up to
    ``kept_up_to`` pixels (CACHED_PIXELS unless given), a ``Schedule`` above. Indices are
    ``index_dtype`` integers, 5 per pixel. Each pass's pixels are row by row a step of columns
    (``intra_kernel.grid``); ``passes_reference`` is the rule in numpy."""
    if height * width <= (CACHED_PIXELS if kept_up_to is None else kept_up_to):
        return cached_passes(height, width)
    return Schedule(iter_passes, height, width)


def iter_passes(height: int, width: int) -> Iterator[Pass]:
    """``passes``, each pass made as it is read."""
    from . import intra_kernel  # numba: loaded on first use

    dt = index_dtype(height * width)
    first_rows = np.arange(0, height, GRID)
    targets, _ = intra_kernel.grid(first_rows, np.zeros_like(first_rows), GRID, (), height, width, dt)
    made = [Pass(targets, np.zeros((0, targets.size), dtype=dt))]
    del targets
    yield made.pop()  # held by the reader only (below too): it may drop the pass while it reads on
    s = GRID // 2
    while s >= 1:
        two = 2 * s
        centre = np.arange(s, height, two)  # rows s mod 2s, columns s mod 2s
        edges = np.arange(0, height, s)  # rows 0 mod 2s: columns s mod 2s; rows s mod 2s: columns 0 mod 2s
        for rows, x0, offsets, diagonal in (
            (centre, np.full(centre.size, s), ((-s, -s), (-s, s), (s, -s), (s, s)), True),
            (edges, np.where(edges % two == 0, s, 0), ((-s, 0), (s, 0), (0, -s), (0, s)), False),
        ):
            targets, nbr = intra_kernel.grid(rows, x0, two, offsets, height, width, dt)
            made = [Pass(targets, nbr, diagonal, s)] if targets.size else []
            del targets, nbr
            if made:
                yield made.pop()
        s //= 2


@lru_cache(maxsize=8)
def cached_passes(height: int, width: int) -> tuple[Pass, ...]:
    """``iter_passes`` as a tuple, kept for the next frame of the size."""
    return tuple(iter_passes(height, width))


def passes_reference(height: int, width: int) -> tuple[Pass, ...]:
    """``passes`` from masks of the whole frame, in numpy (for testing it)."""
    dt = index_dtype(height * width)
    ys, xs = np.mgrid[0:height, 0:width]
    out = []
    first = (ys % GRID == 0) & (xs % GRID == 0)
    out.append(Pass(np.flatnonzero(first).astype(dt), np.zeros((0, int(first.sum())), dtype=dt)))
    s = GRID // 2
    while s >= 1:
        two = 2 * s
        centre = (ys % two == s) & (xs % two == s)
        edges = ((ys % two == 0) & (xs % two == s)) | ((ys % two == s) & (xs % two == 0))
        for mask, offsets, diagonal in (
            (centre, ((-s, -s), (-s, s), (s, -s), (s, s)), True),
            (edges, ((-s, 0), (s, 0), (0, -s), (0, s)), False),
        ):
            ty, tx = np.nonzero(mask)
            if ty.size == 0:
                continue
            nbr = []
            for dy, dx in offsets:
                ny, nx = ty + dy, tx + dx
                ok = (ny >= 0) & (ny < height) & (nx >= 0) & (nx < width)
                nbr.append(np.where(ok, ny * width + nx, -1).astype(dt))
            out.append(Pass((ty * width + tx).astype(dt), np.stack(nbr), diagonal, s))
        s //= 2
    return tuple(out)


@dataclass(frozen=True, eq=False)
class Ring:
    """The repeat context's ring around the pixels of a pass, as offsets from each pixel: its
    positions are computed where the context keys read them (``rows_kernel.context_keys``), so the
    twelve per pixel are never stored, and any part or subset of the pass's pixels has the same
    ring."""

    offsets: np.ndarray  # (R, 2) int64 (dy, dx) in pixels
    height: int
    width: int

    def positions(self, targets: np.ndarray) -> np.ndarray:
        """(R, N) flat positions around ``targets`` (-1 outside the frame), in their dtype."""
        from . import intra_kernel  # numba: loaded on first use

        return intra_kernel.ring(targets, self.offsets, 1, self.height, self.width)

    def positions_reference(self, targets: np.ndarray) -> np.ndarray:
        """``positions`` in numpy (for testing the kernels)."""
        ty, tx = np.divmod(targets.astype(np.int64), self.width)
        out = np.empty((len(self.offsets), targets.size), targets.dtype)
        for r, (dy, dx) in enumerate(self.offsets):
            ny, nx = ty + dy, tx + dx
            ok = (ny >= 0) & (ny < self.height) & (nx >= 0) & (nx < self.width)
            out[r] = np.where(ok, ny * self.width + nx, -1)
        return out


def ring(p: Pass, height: int, width: int) -> Ring:
    """The ring around the pixels of ``p`` (none for the first grid): with the four listed
    neighbours, the template of the palette modes' repeat context (format version 8)."""
    if p.step == 0:
        return Ring(np.zeros((0, 2), np.int64), height, width)
    if p.template:
        from . import row_schedule

        return row_schedule.ring(p, height, width)
    offsets = np.array(RING_DIAGONAL if p.diagonal else RING_AXIS, np.int64) * p.step
    return Ring(offsets, height, width)


def ring_reference(p: Pass, height: int, width: int) -> np.ndarray:
    """(12, N) flat positions of ``ring``, from RING_* and the step, in numpy (for testing)."""
    n = p.targets.size
    if p.step == 0:
        return np.zeros((0, n), p.targets.dtype)
    ty, tx = np.divmod(p.targets, width)
    rd = RING_DIAGONAL if p.diagonal else RING_AXIS
    out = np.empty((len(rd), n), p.targets.dtype)
    for r, (dy, dx) in enumerate(rd):
        ny, nx = ty + dy * p.step, tx + dx * p.step
        ok = (ny >= 0) & (ny < height) & (nx >= 0) & (nx < width)
        out[r] = np.where(ok, ny * width + nx, -1)
    return out


def pass_params(canvas: np.ndarray, p: Pass, shift: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean (C, N) float32 and scale index (C, N) int32 (``entropy.quantize_scale`` of the rule's
    scale, plus the frame's scale ``shift``, clamped to the table) for the pixels of pass ``p``
    from ``canvas`` ((C, H*W) uint8: the decoded values, or the encoder's frame).

    Only the neighbours listed in ``p`` are read, so pixels not yet decoded may hold anything.
    """
    c = canvas.shape[0]
    n = p.targets.size
    if p.neighbours.shape[0] == 0:
        first = int(entropy.quantize_scale(np.float64(FIRST_SCALE))) + shift
        first = min(max(first, 0), len(entropy.SCALE_TABLE) - 1)
        return np.full((c, n), 128.0, np.float32), np.full((c, n), first, np.int32)
    from . import intra_kernel  # numba: loaded on first use

    return intra_kernel.block_params(canvas, p.neighbours, FLOOR, GAIN, shift)


def block_params_reference(canvas: np.ndarray, neighbours: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The float (mean, scale) of the pixels with these neighbours, in numpy (the compiled
    ``intra_kernel`` computes the same mean and ``entropy.quantize_scale`` of the scale; for
    testing it)."""
    valid = neighbours >= 0
    vals = canvas[:, np.where(valid, neighbours, 0)].astype(np.float32, copy=False)  # (C, K, N)
    count = valid.sum(axis=0)
    mean = np.where(valid, vals, 0.0).sum(axis=1) / count
    hi = np.where(valid, vals, -np.inf).max(axis=1)
    lo = np.where(valid, vals, np.inf).min(axis=1)
    spread = hi - lo
    return mean.astype(np.float32), (FLOOR + GAIN * spread).astype(np.float32)
