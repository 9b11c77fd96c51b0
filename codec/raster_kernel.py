"""Compiled raster rules of planar frames (``raster_rule.params``, kind 2, and
``raster_rule.inter_params``, kind 3): each sample's mean and context from its causal neighbours
(and, inter, the motion-compensated plane).

Why: raster inter codes a plane in about 126 wavefronts and raster intra in 2 H + W of them, and
in numpy each wavefront's rule is up to fifty small array operations (gathers, medians, the
blend's three weights, a search of the thresholds), most of a planar frame's decoding time after
the rows. These loops do a sample at a time with the same integer arithmetic (floor divisions
included), so the means and contexts are the same integers (``tests/test_raster_kernel.py``
checks them against the numpy rules). Imported on first use: numba takes a moment to load.
"""

from __future__ import annotations

import numba
import numpy as np

from ..bitstream.table_kernel import first_call
from . import planar_rule, raster_rule

#: planar_rule's constants, as the loop reads them (numba freezes module globals).
_ONE = planar_rule._ONE
_HALF = planar_rule._HALF
_QUALITY = planar_rule.QUALITY
_FIRST = planar_rule.FIRST
_LUMA_WEIGHT = planar_rule.LUMA_WEIGHT


@numba.njit(cache=True, nogil=True, inline="always")
def _median(a, b, c):  # pragma: no cover - compiled
    low, high = min(a, b), max(a, b)
    if c >= high:
        return low
    if c <= low:
        return high
    return a + b - c


@numba.njit(cache=True, nogil=True, inline="always")
def _weight(error):  # pragma: no cover - compiled
    return _ONE // ((error + _HALF) * (error + _HALF))


@numba.njit(cache=True, nogil=True, inline="always")
def _neighbour(plane, mc, j, mid):  # pragma: no cover - compiled
    """(decoded, compensated) samples of neighbour j, (mid, mid) where there is none (j < 0)."""
    if j < 0:
        return mid, mid
    return np.int64(plane[j]), np.int64(mc[j])


@numba.njit(cache=True, nogil=True, inline="always")
def _shift_error(j, diff, change12):  # pragma: no cover - compiled
    return abs(12 * diff - change12) if j >= 0 else 0


@numba.njit(cache=True, nogil=True, parallel=True)
def _inter_params(
    plane, mc, neighbours, targets, depth, luma_error, has_luma, thresholds, mean_out, ctx_out
):  # pragma: no cover - compiled
    max_value = (np.int64(1) << depth) - 1
    mid = np.int64(1) << (depth - 1)
    for i in numba.prange(targets.size):
        here = np.int64(mc[targets[i]])
        ja, jb, jc, jd = neighbours[0, i], neighbours[1, i], neighbours[2, i], neighbours[3, i]
        a, ra = _neighbour(plane, mc, ja, mid)  # mid where absent: the median and the activity's rule
        b, rb = _neighbour(plane, mc, jb, mid)
        c, rc = _neighbour(plane, mc, jc, mid)
        d, rd = _neighbour(plane, mc, jd, mid)
        count = (ja >= 0) + (jb >= 0) + (jc >= 0) + (jd >= 0)
        if count == 0:  # the first sample: mc in the first-grid context
            mean_out[i], ctx_out[i] = 16 * here, _FIRST
            continue
        # the blend's differences: an absent neighbour's is 0 (its samples are mid on both sides)
        da, db, dc, dd = a - ra, b - rb, c - rc, d - rd
        exact = (ja >= 0 and da == 0) + (jb >= 0 and db == 0) + (jc >= 0 and dc == 0) + (jd >= 0 and dd == 0)
        spread = 36 * (abs(d - b) + abs(b - c) + abs(c - a))
        err_smooth = abs(here - _median(ra, rb, rc)) * 144 + spread
        mean12 = 12 * _median(a, b, c)
        unit = 12 // count
        change12 = (da + db + dc + dd) * unit
        here12 = 12 * here
        err_copy = (abs(da) + abs(db) + abs(dc) + abs(dd)) * unit * 12
        if has_luma:
            err_copy += _LUMA_WEIGHT * np.int64(luma_error[targets[i]])
        shift = (
            _shift_error(ja, da, change12)
            + _shift_error(jb, db, change12)
            + _shift_error(jc, dc, change12)
            + _shift_error(jd, dd, change12)
        )
        err_shift = shift * unit
        w_copy, w_shift, w_smooth = _weight(err_copy), _weight(err_shift), _weight(err_smooth)
        total = w_copy + w_shift + w_smooth
        num = w_copy * here12 + w_shift * (here12 + change12) + w_smooth * mean12
        if exact == count:
            mean, group = 16 * here, 2
        else:
            mean, group = (4 * num + (3 * total) // 2) // (3 * total), 1 if exact > 0 else 0
        level = 0
        while level < thresholds.size and thresholds[level] <= total:
            level += 1
        mean_out[i] = min(max(mean, 0), 16 * max_value)
        ctx_out[i] = group * _QUALITY + level


@numba.njit(cache=True, nogil=True, parallel=True)
def _intra_params(plane, neighbours, depth, thresholds, mean_out, ctx_out):  # pragma: no cover - compiled
    mid = np.int64(1) << (depth - 1)
    for i in numba.prange(mean_out.size):
        a, _ = _neighbour(plane, plane, neighbours[0, i], mid)
        b, _ = _neighbour(plane, plane, neighbours[1, i], mid)
        c, _ = _neighbour(plane, plane, neighbours[2, i], mid)
        d, _ = _neighbour(plane, plane, neighbours[3, i], mid)
        activity = (abs(d - b) + abs(b - c) + abs(c - a)) >> (depth - 8)
        level = 0
        while level < thresholds.size and thresholds[level] <= activity:
            level += 1
        mean_out[i], ctx_out[i] = 16 * _median(a, b, c), level


def intra_params(plane: np.ndarray, neighbours: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """``raster_rule.params_reference``'s (means, contexts), int64."""
    n = neighbours.shape[1]
    mean, ctx = np.empty(n, np.int64), np.empty(n, np.int64)
    with first_call(_intra_params):
        _intra_params(plane, np.ascontiguousarray(neighbours), depth, raster_rule.THRESHOLDS, mean, ctx)
    return mean, ctx


def inter_params(
    plane: np.ndarray,
    mc: np.ndarray,
    neighbours: np.ndarray,
    targets: np.ndarray,
    depth: int,
    luma_error: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``raster_rule.inter_params_reference``'s (means, contexts), int64."""
    n = targets.size
    mean, ctx = np.empty(n, np.int64), np.empty(n, np.int64)
    with first_call(_inter_params):
        _inter_params(
            plane,
            mc,
            np.ascontiguousarray(neighbours),
            targets,
            depth,
            np.zeros(1, np.int64) if luma_error is None else luma_error,
            luma_error is not None,
            planar_rule.THRESHOLDS,
            mean,
            ctx,
        )
    return mean, ctx
