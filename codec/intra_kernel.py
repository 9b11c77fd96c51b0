"""Compiled kernels of the coarse-to-fine passes: ``intra.pass_params`` (a pass's mean and scale index
from its decoded neighbours) and ``intra.Ring.positions`` (the positions of the repeat context's ring).

In numpy the rule builds three (channels, neighbours, pixels) float32 arrays per block (the values,
then with 0, -inf and +inf where a neighbour is absent); this loop reads each neighbour once. The
operations are those of ``intra.block_params_reference``: the neighbours' float32 sum in their
order, divided by their count in float64 and rounded to float32; the scale FLOOR + GAIN x (max -
min) in float32, then its index in the scale table by the comparisons of ``entropy.quantize_scale``
(a binary search of SCALE_BOUNDS in float64). So the results are the same bit for bit
(``tests/test_intra_kernel.py``), and the float scales, three per pixel, are never stored. The ring
is integer arithmetic, in one pass over the pixels instead of a dozen.
"""

from __future__ import annotations

import numba
import numpy as np

from ..bitstream import entropy
from ..bitstream.table_kernel import first_call


@numba.njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def _params(canvas, neighbours, floor, gain, bounds, shift, mean, scale_idx):  # pragma: no cover - compiled
    channels = canvas.shape[0]
    j_count, n = neighbours.shape
    for i in numba.prange(n):
        count = 0
        for j in range(j_count):
            if neighbours[j, i] >= 0:
                count += 1
        for c in range(channels):
            total = np.float32(0.0)
            hi = np.float32(-np.inf)
            lo = np.float32(np.inf)
            for j in range(j_count):
                pos = neighbours[j, i]
                if pos >= 0:
                    v = np.float32(canvas[c, pos])
                    total += v
                    hi = max(hi, v)
                    lo = min(lo, v)
            mean[c, i] = np.float32(np.float64(total) / np.float64(count))
            scale = np.float64(floor + gain * (hi - lo))
            # np.searchsorted(bounds, scale, "left"): the first bound >= scale
            a, b = 0, bounds.size
            while a < b:
                mid = (a + b) // 2
                if bounds[mid] < scale:
                    a = mid + 1
                else:
                    b = mid
            # plus the frame's shift, clamped to 0..len(SCALE_TABLE) - 1 (modes.base.shifted)
            scale_idx[c, i] = min(max(a + shift, 0), bounds.size)
    return mean, scale_idx


def block_params(canvas: np.ndarray, neighbours: np.ndarray, floor: float, gain: float, shift: int = 0):
    """(mean (C, N) float32, scale index (C, N) int32): ``intra.block_params_reference``'s mean,
    and ``entropy.quantize_scale`` of its scale, plus ``shift`` and clamped to the table (the
    frame's scale shift, ``modes.base.shifted``)."""
    c, n = canvas.shape[0], neighbours.shape[1]
    mean, scale_idx = np.empty((c, n), np.float32), np.empty((c, n), np.int32)
    with first_call(_params):
        return _params(
            canvas,
            np.ascontiguousarray(neighbours),
            np.float32(floor),
            np.float32(gain),
            entropy.SCALE_BOUNDS,
            np.int64(shift),
            mean,
            scale_idx,
        )


@numba.njit(cache=True, nogil=True, parallel=True)
def _ring(targets, offsets, step, height, width, out):  # pragma: no cover - compiled
    for i in numba.prange(targets.size):
        ty, tx = divmod(np.int64(targets[i]), width)
        for r in range(offsets.shape[0]):
            ny, nx = ty + offsets[r, 0] * step, tx + offsets[r, 1] * step
            out[r, i] = ny * width + nx if 0 <= ny < height and 0 <= nx < width else -1
    return out


def ring(targets: np.ndarray, offsets: np.ndarray, step: int, height: int, width: int) -> np.ndarray:
    """(R, N) flat positions targets + step x offsets ((R, 2) (dy, dx)), -1 outside the frame, in
    the targets' dtype."""
    out = np.empty((len(offsets), targets.size), targets.dtype)
    with first_call(_ring):
        return _ring(
            targets, np.asarray(offsets, np.int64), np.int64(step), np.int64(height), np.int64(width), out
        )


@numba.njit(cache=True, nogil=True, parallel=True)
def _grid(row_y, row_x0, row_start, xstep, offsets, height, width, targets, neighbours):  # pragma: no cover
    for r in numba.prange(row_y.size):
        y = np.int64(row_y[r])
        i = row_start[r]
        for x in range(row_x0[r], width, xstep):
            targets[i] = y * width + x
            for j in range(offsets.shape[0]):
                ny, nx = y + offsets[j, 0], x + offsets[j, 1]
                neighbours[j, i] = ny * width + nx if 0 <= ny < height and 0 <= nx < width else -1
            i += 1
    return targets, neighbours


def grid(
    row_y: np.ndarray, row_x0: np.ndarray, xstep: int, offsets, height: int, width: int, dtype
) -> tuple[np.ndarray, np.ndarray]:
    """(targets (N,), neighbours (K, N)) of a pass whose pixels are, row by row in ``row_y``'s
    order, the columns ``row_x0[r]``, + ``xstep``, ... < width; neighbours at the (K, 2) (dy, dx)
    ``offsets`` (-1 outside the frame), all in ``dtype``: the schedules' geometry in one pass
    over the pixels, without the numpy version's int64 temporaries."""
    row_y, row_x0 = np.asarray(row_y, np.int64), np.asarray(row_x0, np.int64)
    counts = np.maximum(0, (width - row_x0 + xstep - 1) // xstep)
    row_start = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    n = int(counts.sum())
    offsets = np.asarray(offsets, np.int64).reshape(-1, 2)
    targets, neighbours = np.empty(n, dtype), np.empty((len(offsets), n), dtype)
    with first_call(_grid):
        return _grid(
            row_y,
            row_x0,
            row_start,
            np.int64(xstep),
            offsets,
            np.int64(height),
            np.int64(width),
            targets,
            neighbours,
        )


@numba.njit(cache=True, nogil=True)
def _compact(targets, neighbours, keep):  # pragma: no cover - compiled
    n = 0
    for i in range(targets.size):
        if keep[i]:
            targets[n] = targets[i]
            for j in range(neighbours.shape[0]):
                neighbours[j, n] = neighbours[j, i]
            n += 1
    return n


def compact(targets: np.ndarray, neighbours: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(targets, neighbours) of the pixels that ``keep`` ((N,) bool) marks, in order, moved to the
    front of the arrays themselves (their first n entries: views): a large frame's pass, made for
    one read, gives its coded part without a second copy of its positions (20 bytes a pixel)."""
    with first_call(_compact):
        n = _compact(targets, neighbours, np.ascontiguousarray(keep))
    return targets[:n], neighbours[:, :n]


@numba.njit(cache=True, nogil=True, parallel=True)
def _paint(canvas, palette, idx, targets):  # pragma: no cover - compiled
    for i in numba.prange(targets.size):
        t = targets[i]
        colour = idx[t]
        for c in range(canvas.shape[0]):
            canvas[c, t] = palette[colour, c]


def paint(canvas: np.ndarray, palette: np.ndarray, idx: np.ndarray, targets: np.ndarray) -> None:
    """``canvas[:, targets] = palette[idx[targets]].T`` in place, in one pass: the palette intra
    decoder's canvas (uint8, or float32) after each pass."""
    with first_call(_paint):
        _paint(canvas, np.ascontiguousarray(palette), idx, np.ascontiguousarray(targets))
