"""Compiled loops of the planar frames' block motion (``codec.motion``): the motion-compensated
luma plane, and the per-block costs the encoder's search compares.

Why: in numpy a compensated plane is a dozen whole-plane passes (positions, parities, four
clamped gathers, three selections), and the search forms one for each of its 30 candidates per
reference frame, then sums the block differences: most of a planar frame's encoding time. These
loops do one pass per candidate with the same integer arithmetic, so the planes and the costs are
the same integers (``tests/test_motion_kernel.py`` checks them against ``motion``'s numpy
rules). Imported on first use: numba takes a moment to load.
"""

from __future__ import annotations

import numba
import numpy as np

from ..bitstream.table_kernel import first_call


@numba.njit(cache=True, nogil=True, inline="always")
def _sample(half, y, x, vy, vx):  # pragma: no cover - compiled
    """The compensated sample at (y, x) for the vector (vy, vx) in quarter samples: whole and half
    samples from ``half``, a quarter sample the rounded-up mean of the two nearest (on the
    diagonal for the four positions between half samples); positions clamped to ``half``."""
    h2, w2 = half.shape
    qy = 4 * y + vy
    qx = 4 * x + vx
    y0, x0 = qy >> 1, qx >> 1
    odd_y, odd_x = qy & 1, qx & 1
    ya, xa = min(max(y0, 0), h2 - 1), min(max(x0, 0), w2 - 1)
    if odd_y == 0 and odd_x == 0:
        return half[ya, xa]
    yb, xb = min(max(y0 + 1, 0), h2 - 1), min(max(x0 + 1, 0), w2 - 1)
    if odd_y == 1 and odd_x == 1:
        if ((y0 + x0) & 1) == 0:  # the anti-diagonal: right and below
            return (half[ya, xb] + half[yb, xa] + 1) >> 1
        return (half[ya, xa] + half[yb, xb] + 1) >> 1
    if odd_y == 1:
        return (half[ya, xa] + half[yb, xa] + 1) >> 1
    return (half[ya, xa] + half[ya, xb] + 1) >> 1


@numba.njit(cache=True, nogil=True, parallel=True)
def _compensate(half, vy, vx, block_h, block_w, out):  # pragma: no cover - compiled
    h, w = out.shape
    for y in numba.prange(h):
        by = y // block_h
        for x in range(w):
            bx = x // block_w
            out[y, x] = _sample(half, y, x, np.int64(vy[by, bx]), np.int64(vx[by, bx]))


@numba.njit(cache=True, nogil=True, parallel=True)
def _compensated_costs(cur, half, vy, vx, block, out):  # pragma: no cover - compiled
    """Per block, the sum of absolute differences between ``cur`` and its compensation by the
    block's vector, over the block's samples inside the plane."""
    h, w = cur.shape
    bh, bw = out.shape
    for by in numba.prange(bh):
        for bx in range(bw):
            v_y, v_x = np.int64(vy[by, bx]), np.int64(vx[by, bx])
            total = np.int64(0)
            for y in range(by * block, min((by + 1) * block, h)):
                for x in range(bx * block, min((bx + 1) * block, w)):
                    total += abs(np.int64(cur[y, x]) - np.int64(_sample(half, y, x, v_y, v_x)))
            out[by, bx] = total


@numba.njit(cache=True, nogil=True, parallel=True)
def _whole_sample_costs(cur, ref, vy, vx, block, out):  # pragma: no cover - compiled
    """Per block of ``cur`` (whose sides are multiples of ``block``), the sum of absolute
    differences with ``ref`` moved by the block's whole-sample vector, positions clamped."""
    h, w = cur.shape
    bh, bw = out.shape
    for by in numba.prange(bh):
        for bx in range(bw):
            v_y, v_x = np.int64(vy[by, bx]), np.int64(vx[by, bx])
            total = np.int64(0)
            for y in range(by * block, (by + 1) * block):
                ry = min(max(y + v_y, 0), h - 1)
                for x in range(bx * block, (bx + 1) * block):
                    rx = min(max(x + v_x, 0), w - 1)
                    total += abs(np.int64(cur[y, x]) - np.int64(ref[ry, rx]))
            out[by, bx] = total


def compensate(half: np.ndarray, vy: np.ndarray, vx: np.ndarray, block_h: int, block_w: int) -> np.ndarray:
    """``motion.compensate_reference``'s plane ((H, W), ``half``'s dtype)."""
    h2, w2 = half.shape
    out = np.empty((h2 // 2, w2 // 2), half.dtype)
    with first_call(_compensate):
        _compensate(np.ascontiguousarray(half), vy, vx, block_h, block_w, out)
    return out


def compensated_costs(
    cur: np.ndarray, half: np.ndarray, vy: np.ndarray, vx: np.ndarray, block: int
) -> np.ndarray:
    """(bh, bw) int64 sums of |cur - compensate(half, vy, vx)| per ``block`` x ``block`` block
    (the field's shape; the last blocks may reach past the plane)."""
    out = np.empty(vy.shape, np.int64)
    with first_call(_compensated_costs):
        _compensated_costs(np.ascontiguousarray(cur), np.ascontiguousarray(half), vy, vx, block, out)
    return out


def whole_sample_costs(
    cur: np.ndarray, ref: np.ndarray, vy: np.ndarray, vx: np.ndarray, block: int
) -> np.ndarray:
    """(bh, bw) int64 sums of |cur - ref moved by the block's whole-sample vector| (positions
    clamped to the plane) per ``block`` x ``block`` block of ``cur``."""
    out = np.empty((cur.shape[0] // block, cur.shape[1] // block), np.int64)
    with first_call(_whole_sample_costs):
        _whole_sample_costs(np.ascontiguousarray(cur), np.ascontiguousarray(ref), vy, vx, block, out)
    return out
