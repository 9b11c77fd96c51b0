"""Compiled prediction rules of planar frames: the raster kinds' (``raster_rule.params``, kind 2,
and ``raster_rule.inter_params``, kind 3) and the coarse-to-fine passes' (``planar_rule.pass_params``,
kinds 0 and 1): each sample's mean and context from its decoded neighbours (and, inter, the
motion-compensated plane), the inter blend shared by both.

Why: raster inter codes a plane in about 126 wavefronts and raster intra in 2 H + W of them, and
in numpy each wavefront's rule is up to fifty small array operations (gathers, medians, the
blend's three weights, a search of the thresholds), most of a planar frame's decoding time after
the rows; the encoder estimates the coarse-to-fine passes of every frame as well. These loops do
a sample at a time with the same integer arithmetic (floor divisions included), so the means and
contexts are the same integers (``tests/test_planar_kernel.py`` checks them against the numpy
rules). The decoder takes a raster wavefront in one call (``raster_rows``: the rule, the context
table and the window's rows), and the encoder's scale-table fit counts its histogram in one pass
(``pair_histogram``): with a wavefront of a few hundred samples, a call's overhead is as large
as its work. Imported on first use: numba takes a moment to load.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import numba
import numpy as np

from ..bitstream import entropy, range_decoder, table_kernel
from ..bitstream.table_kernel import first_call
from . import planar_rule, raster_rule

#: planar_rule's constants, as the loop reads them (numba freezes module globals).
_ONE = planar_rule._ONE
_HALF = planar_rule._HALF
_QUALITY = planar_rule.QUALITY
_FIRST = planar_rule.FIRST
_LUMA_WEIGHT = planar_rule.LUMA_WEIGHT
_REFINE_GROUPS = raster_rule.REFINE_GROUPS
_REFINE_SHIFT = raster_rule.REFINE_SHIFT
_INTRA_GROUP_SPAN = raster_rule.INTRA_GROUP_SPAN
#: Deeper samples (FORMAT.md, "Deeper samples"): the low bits coded under Laplace rows
#: (``planar.MODELLED_LOW_BITS``) and the largest coarse mean.
_MODELLED_LOW_BITS = entropy.LOW_BITS_MAX
_COARSE_MEAN_MAX = 16 * entropy.SYMBOL_MAX
#: The rules' outputs (``planar_rule``'s types: as narrow as they go).
MEAN_DTYPE = planar_rule.MEAN_DTYPE
CONTEXT_DTYPE = planar_rule.CONTEXT_DTYPE
LEVEL_DTYPE = planar_rule.LEVEL_DTYPE
#: The rules' kernels read a plane's neighbour indices as C-ordered (4, n) rows, copied from the
#: schedule's transposed (N, 4) (``raster_rule.run_schedule``) at most this many samples at a
#: time: a whole 1080p luma plane's copy, 33 MB, was the encoder's largest temporary at its peak.
ROWS_CHUNK = 1 << 16
#: The motion-compensated plane as the kernels take it (``planar_rule.MC_DTYPE``); intra calls
#: pass NO_MC, which they do not read.
MC_DTYPE = planar_rule.MC_DTYPE
NO_MC = np.zeros(1, MC_DTYPE)


def _mc_arg(mc: np.ndarray | None) -> np.ndarray:
    """``mc`` as the kernels take it (a plane in another integer type converted: the tests'),
    or NO_MC."""
    return NO_MC if mc is None else np.ascontiguousarray(mc, MC_DTYPE)


def _row_chunks(neighbours) -> Iterator[tuple[slice, np.ndarray]]:
    """(samples, their C-ordered neighbour rows): ``neighbours`` whole where it is a C-ordered
    array, else (a transposed array, or ``raster_rule.ScheduleRows``, which stores none) made in
    chunks of ROWS_CHUNK samples."""
    n = neighbours.shape[1]
    if isinstance(neighbours, np.ndarray) and neighbours.flags.c_contiguous:
        yield slice(0, n), neighbours
        return
    for at in range(0, n, ROWS_CHUNK):
        part = slice(at, min(at + ROWS_CHUNK, n))
        if isinstance(neighbours, np.ndarray):
            yield part, np.ascontiguousarray(neighbours[:, part])
        else:
            yield part, neighbours.rows(part)


@numba.njit(cache=True, nogil=True, inline="always")
def _abcd(idx, width, tx, has_up, last):  # pragma: no cover - compiled
    """The raster rule's a, b, c, d of the sample at flat index ``idx`` (-1: none), by the edge
    rules of ``raster_rule._neighbour_maps``: ``tx`` its column in its tile, ``has_up`` whether
    the row above is in its tile and run, ``last`` whether it ends its tile's row. The stored
    schedules' (``_schedule``) and the made ones' (``_schedule_rows``)."""
    up = idx - width
    a = idx - 1 if tx > 0 else (up if has_up else -1)
    b = up if has_up else a
    c = up - 1 if has_up and tx > 0 else b
    d = up + 1 if has_up and not last else b
    return a, b, c, d


@numba.njit(cache=True, nogil=True)
def _schedule_rows(samples, width, tile_w, row_top, out):  # pragma: no cover - compiled
    """``_schedule``'s a, b, c, d of the flat indices ``samples`` (a whole plane's), from their
    positions: ``row_top[y]`` is 1 where row y has no row above it in its tile and run."""
    for i in range(samples.size):
        idx = np.int64(samples[i])
        y = idx // width
        x = idx - y * width
        tx = x % tile_w
        a, b, c, d = _abcd(idx, width, tx, row_top[y] == 0, tx == tile_w - 1 or x == width - 1)
        out[0, i], out[1, i], out[2, i], out[3, i] = a, b, c, d


def schedule_rows(samples: np.ndarray, width: int, tile_w: int, row_top: np.ndarray) -> np.ndarray:
    """(4, n) C-ordered a, b, c, d (``samples``' type) of the flat indices ``samples``
    (``raster_rule.ScheduleRows``: ``tile_w`` the tiles' width, at most the plane's)."""
    out = np.empty((4, samples.size), samples.dtype)
    with first_call(_schedule_rows):
        _schedule_rows(samples, np.int64(width), np.int64(tile_w), row_top, out)
    return out


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
def _samples(values, j, present):  # pragma: no cover - compiled
    """The four neighbours' samples (flat positions ``j``), 0 where ``present`` says there is none."""
    return (
        np.int64(values[j[0]]) if present[0] else np.int64(0),
        np.int64(values[j[1]]) if present[1] else np.int64(0),
        np.int64(values[j[2]]) if present[2] else np.int64(0),
        np.int64(values[j[3]]) if present[3] else np.int64(0),
    )


@numba.njit(cache=True, nogil=True, inline="always")
def _level(total, thresholds):  # pragma: no cover - compiled
    """How many of the ascending ``thresholds`` are <= total (``np.searchsorted(..., 'right')``)."""
    level = 0
    while level < thresholds.size and thresholds[level] <= total:
        level += 1
    return level


@numba.njit(cache=True, nogil=True, inline="always")
def _blend(
    diffs, present, count, here, mean12, err_smooth, err_luma, max_value, thresholds
):  # pragma: no cover - compiled
    """``planar_rule.blend`` of one sample with ``count`` (1..4) neighbours: ``diffs`` their
    decoded minus compensated samples (0 where absent), ``present`` which exist, ``here`` its own
    compensated sample, ``mean12`` the spatial prediction (1/12), ``err_smooth`` its error and
    ``err_luma`` the chroma's luma term (1/144): (snapped mean, context)."""
    unit = 12 // count
    change, copy, exact = np.int64(0), np.int64(0), 0
    for k in range(4):
        if present[k]:
            change += diffs[k]
            copy += abs(diffs[k])
            if diffs[k] == 0:
                exact += 1
    change12 = change * unit
    here12 = 12 * here
    err_copy = copy * unit * 12 + err_luma
    shift = np.int64(0)
    for k in range(4):
        if present[k]:
            shift += abs(12 * diffs[k] - change12)
    w_copy, w_shift, w_smooth = _weight(err_copy), _weight(shift * unit), _weight(err_smooth)
    total = w_copy + w_shift + w_smooth
    if exact == count:
        mean, group = 16 * here, 2
    else:
        num = w_copy * here12 + w_shift * (here12 + change12) + w_smooth * mean12
        mean, group = (4 * num + (3 * total) // 2) // (3 * total), 1 if exact > 0 else 0
    return min(max(mean, 0), 16 * max_value), group * _QUALITY + _level(total, thresholds)


@numba.njit(cache=True, nogil=True, inline="always")
def _inter_sample(
    plane, mc, neighbours, targets, i, max_value, mid, luma_error, has_luma, thresholds
):  # pragma: no cover - compiled
    """Raster inter's (mean, context) of the i-th sample of a wavefront."""
    here = np.int64(mc[targets[i]])
    ja, jb, jc, jd = neighbours[0, i], neighbours[1, i], neighbours[2, i], neighbours[3, i]
    a, ra = _neighbour(plane, mc, ja, mid)  # mid where absent: the median and the activity's rule
    b, rb = _neighbour(plane, mc, jb, mid)
    c, rc = _neighbour(plane, mc, jc, mid)
    d, rd = _neighbour(plane, mc, jd, mid)
    present = (ja >= 0, jb >= 0, jc >= 0, jd >= 0)
    count = present[0] + present[1] + present[2] + present[3]
    if count == 0:  # the first sample: mc in the first-grid context
        return 16 * here, np.int64(_FIRST)
    spread = 36 * (abs(d - b) + abs(b - c) + abs(c - a))
    err_smooth = abs(here - _median(ra, rb, rc)) * 144 + spread
    err_luma = _LUMA_WEIGHT * np.int64(luma_error[targets[i]]) if has_luma else np.int64(0)
    mean, ctx = _blend(
        (a - ra, b - rb, c - rc, d - rd), present, count, here, 12 * _median(a, b, c),
        err_smooth, err_luma, max_value, thresholds,
    )  # fmt: skip
    return mean, np.int64(ctx)


@numba.njit(cache=True, nogil=True, inline="always")
def _intra_sample(plane, neighbours, i, depth, mid, thresholds):  # pragma: no cover - compiled
    """Raster intra's (mean, context) of the i-th sample of a wavefront."""
    a, _ = _neighbour(plane, plane, neighbours[0, i], mid)
    b, _ = _neighbour(plane, plane, neighbours[1, i], mid)
    c, _ = _neighbour(plane, plane, neighbours[2, i], mid)
    d, _ = _neighbour(plane, plane, neighbours[3, i], mid)
    activity = (abs(d - b) + abs(b - c) + abs(c - a)) >> (depth - 8)
    return 16 * _median(a, b, c), np.int64(_level(activity, thresholds))


@numba.njit(cache=True, nogil=True, inline="always")
def _moved(mean, acc, max_value):  # pragma: no cover - compiled
    moved = mean + ((acc + (np.int64(1) << (_REFINE_SHIFT - 1))) >> _REFINE_SHIFT)
    return min(max(moved, 0), 16 * max_value)


@numba.njit(cache=True, nogil=True, inline="always")
def _neighbour_terms(plane, neighbours, i, weights, group, mean, mid):  # pragma: no cover - compiled
    """The refinement's sum over the decoded a, b, c, d (features 0..3; absent: ``mid``)."""
    acc = np.int64(0)
    for q in range(4):
        j = neighbours[q, i]
        value = np.int64(plane[j]) if j >= 0 else mid
        acc += weights[group, q] * (16 * value - mean)
    return acc


@numba.njit(cache=True, nogil=True, inline="always")
def _refined(plane, mc, neighbours, targets, i, width, height, mean, ctx, weights, mid, max_value):  # pragma: no cover - compiled  # fmt: skip
    """``raster_rule.refine`` of the i-th sample of a raster inter wavefront (its blend's
    ``mean``, ``ctx``)."""
    group = ctx // _QUALITY
    if group >= _REFINE_GROUPS:
        return mean
    t = np.int64(targets[i])
    y = t // width
    x = t - y * width
    acc = _neighbour_terms(plane, neighbours, i, weights, group, mean, mid)
    k = 4
    for dy in range(-1, 2):
        row = min(max(y + dy, 0), height - 1) * width
        for dx in range(-1, 2):
            acc += weights[group, k] * (16 * np.int64(mc[row + min(max(x + dx, 0), width - 1)]) - mean)
            k += 1
    return _moved(mean, acc, max_value)


@numba.njit(cache=True, nogil=True, inline="always")
def _refined_intra(plane, neighbours, i, mean, ctx, weights, mid, max_value):  # pragma: no cover - compiled
    """``raster_rule.refine`` of the i-th sample of a raster intra wavefront."""
    group = ctx // _INTRA_GROUP_SPAN
    return _moved(mean, _neighbour_terms(plane, neighbours, i, weights, group, mean, mid), max_value)


@numba.njit(cache=True, nogil=True, parallel=True)
def _refine(plane, mc, inter, neighbours, targets, width, height, mean, ctx, weights, depth, out):  # pragma: no cover - compiled  # fmt: skip
    max_value = (np.int64(1) << depth) - 1
    mid = np.int64(1) << (depth - 1)
    for i in numba.prange(targets.size):
        if inter:
            out[i] = _refined(
                plane, mc, neighbours, targets, i, width, height, mean[i], ctx[i], weights, mid, max_value
            )
        else:
            out[i] = _refined_intra(plane, neighbours, i, mean[i], ctx[i], weights, mid, max_value)


def refine(
    plane: np.ndarray,
    mc: np.ndarray | None,
    neighbours: np.ndarray,
    targets: np.ndarray,
    width: int,
    mean: np.ndarray,
    ctx: np.ndarray,
    weights: np.ndarray,
    depth: int,
) -> np.ndarray:
    """``raster_rule.refine_reference``'s refined means, int32 (inter with ``mc``, else intra;
    held through a plane's fit: 4 bytes a sample rather than 8)."""
    out = np.empty(targets.size, MEAN_DTYPE)
    mean, ctx = np.ascontiguousarray(mean, MEAN_DTYPE), np.ascontiguousarray(ctx, CONTEXT_DTYPE)
    weights, mc_arg = np.ascontiguousarray(weights, np.int64), _mc_arg(mc)
    with first_call(_refine):
        for part, rows in _row_chunks(neighbours):
            _refine(
                plane,
                mc_arg,
                mc is not None,
                rows,
                targets[part],
                np.int64(width),
                np.int64(plane.size // width),
                mean[part],
                ctx[part],
                weights,
                depth,
                out[part],
            )
    return out


#: Samples per block of the refinement fit's inputs (``fit_inputs``): a block's features (13 x 256
#: float32, 13 KB) stay in the L1 cache while ``weighted_normal`` reads them for its 91 products.
FIT_BLOCK = 256
#: ``weighted_normal`` sums the blocks in this many parts, one a thread at a time, and adds the
#: parts' sums in order: the same floats on any number of threads.
FIT_PARTS = 8


@numba.njit(cache=True, nogil=True, parallel=True)
def _fit_inputs(plane, mc, inter, neighbours, targets, chosen, width, height, mean, depth, x, t):  # pragma: no cover - compiled  # fmt: skip
    mid = np.int64(1) << (depth - 1)
    for b in numba.prange(x.shape[0]):  # blocks are independent: the same arrays on any thread count
        for c in range(min(FIT_BLOCK, chosen.size - b * FIT_BLOCK)):
            i = chosen[b * FIT_BLOCK + c]
            m = np.int64(mean[i])
            for q in range(4):
                j = neighbours[q, i]
                value = np.int64(plane[j]) if j >= 0 else mid
                x[b, q, c] = np.float32(16 * value - m)
            s = np.int64(targets[i])
            if inter:
                y = s // width
                col = s - y * width
                k = 4
                for dy in range(-1, 2):
                    row = min(max(y + dy, 0), height - 1) * width
                    for dx in range(-1, 2):
                        x[b, k, c] = np.float32(16 * np.int64(mc[row + min(max(col + dx, 0), width - 1)]) - m)
                        k += 1
            t[b, c] = np.float64(16 * np.int64(plane[s]) - m)


def fit_inputs(
    plane: np.ndarray,
    mc: np.ndarray | None,
    neighbours: np.ndarray,
    targets: np.ndarray,
    chosen: np.ndarray,
    width: int,
    mean: np.ndarray,
    depth: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(x, t) of ``refinement.fit``'s least-squares problem for the samples ``chosen`` (indices
    into ``targets``), in blocks of FIT_BLOCK samples: x (blocks, features, FIT_BLOCK) float32 =
    16 ``raster_rule.refine_features`` - mean, t (blocks, FIT_BLOCK) float64 = 16 times the
    sample - mean (the last block's rows past ``chosen.size`` are 0), the same integers as those
    numpy operations, in one pass: the features' gathers and their copies had been a quarter of
    the fit's time. Blocks of features (not rows) let ``weighted_normal``'s products run over
    contiguous samples. The features are integers below 2^21 in magnitude (16-bit samples), so
    float32 holds them exactly and ``weighted_normal`` reads the same values in float64: half the
    bytes of float64 (up to 6.25 MB a fit at FIT_SAMPLES, a 640x480 frame's encoding peak)."""
    inter = mc is not None
    if not isinstance(neighbours, np.ndarray):  # raster_rule.ScheduleRows: the chosen samples' rows
        neighbours = np.asfortranarray(neighbours.rows_at(chosen))  # the stored ones' layout: one compile
        targets, mean, chosen = targets[chosen], mean[chosen], np.arange(chosen.size)
    blocks = -(-chosen.size // FIT_BLOCK)
    x = np.zeros((blocks, raster_rule.refine_shape(inter)[1], FIT_BLOCK), np.float32)
    t = np.zeros((blocks, FIT_BLOCK), np.float64)
    with first_call(_fit_inputs):
        _fit_inputs(
            plane,
            _mc_arg(mc),
            inter,
            neighbours,
            targets,
            np.ascontiguousarray(chosen, np.int64),  # one layout: the caller's may be a strided view
            np.int64(width),
            np.int64(plane.size // width),
            mean,
            depth,
            x,
            t,
        )
    return x, t


@numba.njit(cache=True, nogil=True, parallel=True, fastmath={"reassoc", "contract"})
def _weighted_normal(x, t, n, w, reweight, products, floor, normal, rhs, spread):  # pragma: no cover - compiled  # fmt: skip
    blocks, f, size = x.shape
    parts = normal.shape[0]
    per = -(-blocks // parts)
    for p in numba.prange(parts):
        a, b = normal[p], rhs[p]
        a[:] = 0.0
        b[:] = 0.0
        total = 0.0
        r = np.empty(size)
        weighted = np.empty((f, size))
        for block in range(p * per, min(blocks, (p + 1) * per)):
            m = min(size, n - block * size)
            xb, tb = x[block], t[block]
            for i in range(m):
                r[i] = tb[i]
            for k in range(f):
                wk, xk = w[k], xb[k]
                for i in range(m):
                    r[i] -= xk[i] * wk
            for i in range(m):
                e = max(abs(r[i]), floor)
                total += e
                r[i] = 1.0 / e if reweight else 1.0
            if not products:
                continue
            for k in range(f):
                xk, sk = xb[k], weighted[k]
                for i in range(m):
                    sk[i] = xk[i] * r[i]
            for j in range(f):
                sj = weighted[j]
                for k in range(j + 1):
                    xk = xb[k]
                    acc = 0.0
                    for i in range(m):
                        acc += sj[i] * xk[i]
                    a[j, k] += acc
                acc = 0.0
                for i in range(m):
                    acc += sj[i] * tb[i]
                b[j] += acc
        spread[p] = total


def weighted_normal(
    x: np.ndarray, t: np.ndarray, n: int, w: np.ndarray, reweight: bool, floor: float, products: bool = True
) -> tuple[np.ndarray, np.ndarray, float]:
    """One round of ``refinement``'s reweighted least squares over the first ``n`` samples of
    ``fit_inputs``' blocks: (A, b, spread) with A = sum of s x xT (features x features), b = sum
    of s t x, where s = 1 / max(|t - x . w|, ``floor``) (``reweight``) or 1, and spread = sum of
    max(|t - x . w|, ``floor``); without ``products`` only the spread (A and b are 0). In one
    pass over blocks that stay in the cache, on the cores: numpy's three products and BLAS on
    13-column matrices took 3.3x as long on one thread. Its floats differ from BLAS's in the last
    bits (the order of the sums), and are the same on any number of threads (FIT_PARTS)."""
    f = x.shape[1]
    normal = np.empty((FIT_PARTS, f, f))
    rhs = np.empty((FIT_PARTS, f))
    spread = np.empty(FIT_PARTS)
    with first_call(_weighted_normal):
        _weighted_normal(
            x,
            t,
            np.int64(n),
            np.ascontiguousarray(w, np.float64),
            reweight,
            products,
            float(floor),
            normal,
            rhs,
            spread,
        )
    lower = normal.sum(axis=0)
    return lower + np.tril(lower, -1).T, rhs.sum(axis=0), float(spread.sum())


@numba.njit(cache=True, nogil=True)
def _numpy_sum(a):  # pragma: no cover - compiled
    """numpy's sum of a float64 vector of at most 128 entries, in its order (pairwise summation:
    below 8 entries one after the other from 0.0; else eight running sums, added as a tree, then
    the rest), so that the compiled fit adds as ``numpy.sum`` and ``numpy.trace`` did."""
    n = a.size
    if n < 8:
        total = 0.0
        for i in range(n):
            total += a[i]
        return total
    r = a[:8].copy()
    i = 8
    while i < n - n % 8:
        for j in range(8):
            r[j] += a[i + j]
        i += 8
    total = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
    while i < n:
        total += a[i]
        i += 1
    return total


@numba.njit(cache=True, nogil=True)
def _solve(a, b):  # pragma: no cover - compiled
    """x with a x = b for a small square ``a`` (Gaussian elimination with partial pivoting, on
    copies): the refinement's normal equations, 4 (intra) or 13 (inter) unknowns, made positive
    definite by the ridge, so that no pivot is 0."""
    n = b.size
    m = a.copy()
    x = b.copy()
    for col in range(n):
        pivot = col
        for row in range(col + 1, n):
            if abs(m[row, col]) > abs(m[pivot, col]):
                pivot = row
        if pivot != col:
            for k in range(n):
                m[col, k], m[pivot, k] = m[pivot, k], m[col, k]
            x[col], x[pivot] = x[pivot], x[col]
        for row in range(col + 1, n):
            factor = m[row, col] / m[col, col]
            for k in range(col, n):
                m[row, k] -= factor * m[col, k]
            x[row] -= factor * x[col]
    for row in range(n - 1, -1, -1):
        acc = x[row]
        for k in range(row + 1, n):
            acc -= m[row, k] * x[k]
        x[row] = acc / m[row, row]
    return x


@numba.njit(cache=True, nogil=True)
def _irls(x, t, n, rounds, floor, ridge, one, limit, normal, rhs, spread, w):  # pragma: no cover - compiled  # fmt: skip
    f = x.shape[1]
    parts = normal.shape[0]
    w[:] = 0.0
    a = np.empty((f, f))
    b = np.empty(f)
    diagonal = np.empty(f)
    before = 0.0
    for r in range(rounds + 1):  # the first round unweighted: least squares
        _weighted_normal(x, t, n, w, r > 0, True, floor, normal, rhs, spread)
        if r == 0:
            before = _numpy_sum(spread)  # w = 0: t's own errors
        # the parts added one after the other (numpy's sum over the first axis), the lower
        # triangle mirrored (the parts' upper triangles are 0)
        for j in range(f):
            for k in range(j + 1):
                acc = normal[0, j, k]
                for p in range(1, parts):
                    acc += normal[p, j, k]
                a[j, k] = acc
                a[k, j] = acc
            acc = rhs[0, j]
            for p in range(1, parts):
                acc += rhs[p, j]
            b[j] = acc
        for j in range(f):
            diagonal[j] = a[j, j]
        lift = ridge * _numpy_sum(diagonal) / f + 1e-9
        for j in range(f):
            a[j, j] += lift
        solved = _solve(a, b)
        for j in range(f):
            w[j] = min(max(np.rint(solved[j] * one), -limit), limit) / one
    _weighted_normal(x, t, n, w, False, False, floor, normal, rhs, spread)
    return before / _numpy_sum(spread)


def irls(
    x: np.ndarray, t: np.ndarray, n: int, rounds: int, floor: float, ridge: float
) -> tuple[np.ndarray, float]:
    """``refinement.irls_reference`` in one compiled call: ``rounds`` reweighted least-squares
    rounds after the unweighted one over the first ``n`` samples of ``fit_inputs``' blocks, each
    solving the normal equations (``weighted_normal``'s parts added as numpy adds them, the ridge
    on the diagonal) and rounding the weights to 1/2^REFINE_SHIFT (clamped to REFINE_MAX);
    returns the int64 weights and the ratio of the mean absolute errors before and after them.
    In Python the rounds' numpy calls (the parts' sums, the ridge, ``numpy.linalg.solve``, the
    rounding) took as long as their compiled normal equations on a 176x144 clip. The solve is
    Gaussian elimination with partial pivoting, not LAPACK's, so a solution may differ in its
    last bits; the weights are rounded to 1/256 after it (on the natural dev clips' 634 fits the
    same weights and ratios, and the same streams)."""
    f = x.shape[1]
    w = np.empty(f)
    one = float(1 << raster_rule.REFINE_SHIFT)
    with first_call(_irls):
        ratio = _irls(
            x,
            t,
            np.int64(n),
            np.int64(rounds),
            float(floor),
            float(ridge),
            one,
            float(raster_rule.REFINE_MAX),
            np.empty((FIT_PARTS, f, f)),
            np.empty((FIT_PARTS, f)),
            np.empty(FIT_PARTS),
            w,
        )
    return np.rint(w * one).astype(np.int64), float(ratio)


@numba.njit(cache=True, nogil=True, parallel=True)
def _inter_params(
    plane, mc, neighbours, targets, depth, luma_error, has_luma, thresholds, mean_out, ctx_out
):  # pragma: no cover - compiled
    max_value = (np.int64(1) << depth) - 1
    mid = np.int64(1) << (depth - 1)
    for i in numba.prange(targets.size):
        mean_out[i], ctx_out[i] = _inter_sample(
            plane, mc, neighbours, targets, i, max_value, mid, luma_error, has_luma, thresholds
        )


@numba.njit(cache=True, nogil=True, parallel=True)
def _pass_params(
    plane,
    mc,
    has_mc,
    neighbours,
    targets,
    diagonal,
    max_value,
    luma_error,
    has_luma,
    thresholds,
    mean_out,
    ctx_out,
):  # pragma: no cover - compiled
    """``planar_rule.pass_params`` of a pass with four neighbours per sample."""
    for i in numba.prange(targets.size):
        j = (neighbours[0, i], neighbours[1, i], neighbours[2, i], neighbours[3, i])
        present = (j[0] >= 0, j[1] >= 0, j[2] >= 0, j[3] >= 0)
        cur = _samples(plane, j, present)
        count = present[0] + present[1] + present[2] + present[3]
        unit = 12 // count
        top, bottom, total_cur = np.int64(-1), max_value + 1, np.int64(0)
        for k in range(4):
            if present[k]:
                top, bottom = max(top, cur[k]), min(bottom, cur[k])
            total_cur += cur[k]
        spread = 3 * (top - bottom) * 12
        # edge-directed interpolation: the opposite pairs (0, 3) and (1, 2) of a diagonal pass,
        # (0, 1) and (2, 3) of an axis pass, each weighted by how much its two samples agree
        a0, b0 = 0, (3 if diagonal else 1)
        a1, b1 = (1, 2) if diagonal else (2, 3)
        w0 = _weight(abs(cur[a0] - cur[b0]) * 72) if present[a0] and present[b0] else np.int64(0)
        w1 = _weight(abs(cur[a1] - cur[b1]) * 72) if present[a1] and present[b1] else np.int64(0)
        w_dir = w0 + w1
        if w_dir > 0:
            sums = w0 * (cur[a0] + cur[b0]) * 6 + w1 * (cur[a1] + cur[b1]) * 6
            mean12 = (sums + w_dir // 2) // w_dir
        else:
            mean12 = total_cur * unit
            w_dir = _weight(spread)
        if not has_mc:
            mean_out[i] = min(max((4 * mean12 + 1) // 3, 0), 16 * max_value)
            ctx_out[i] = _level(w_dir, thresholds)
            continue
        ref = _samples(mc, j, present)
        ref_total = ref[0] + ref[1] + ref[2] + ref[3]
        diffs = (cur[0] - ref[0], cur[1] - ref[1], cur[2] - ref[2], cur[3] - ref[3])
        here = np.int64(mc[targets[i]])
        err_smooth = abs(12 * here - ref_total * unit) * 12 + spread
        err_luma = _LUMA_WEIGHT * np.int64(luma_error[targets[i]]) if has_luma else np.int64(0)
        mean_out[i], ctx_out[i] = _blend(
            diffs, present, count, here, mean12, err_smooth, err_luma, max_value, thresholds
        )


def _luma_term(luma_error: np.ndarray | None) -> tuple[np.ndarray, bool]:
    """The kernels' (luma error, whether there is one): chroma planes of inter frames have it."""
    return (np.zeros(1, np.int64), False) if luma_error is None else (luma_error, True)


def pass_params(
    plane: np.ndarray,
    mc: np.ndarray | None,
    neighbours: np.ndarray,
    targets: np.ndarray,
    diagonal: bool,
    max_value: int,
    luma_error: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``planar_rule.pass_params_reference``'s (means, contexts), int32 and int16
    (``MEAN_DTYPE``, ``CONTEXT_DTYPE``), of a pass with four neighbours per sample."""
    n = targets.size
    mean, ctx = np.empty(n, MEAN_DTYPE), np.empty(n, CONTEXT_DTYPE)
    with first_call(_pass_params):
        _pass_params(
            plane,
            _mc_arg(mc),
            mc is not None,
            np.ascontiguousarray(neighbours),
            targets,
            bool(diagonal),
            np.int64(max_value),
            *_luma_term(luma_error),
            planar_rule.THRESHOLDS,
            mean,
            ctx,
        )
    return mean, ctx


@numba.njit(cache=True, nogil=True, parallel=True)
def _intra_params(plane, neighbours, depth, thresholds, mean_out, ctx_out):  # pragma: no cover - compiled
    mid = np.int64(1) << (depth - 1)
    for i in numba.prange(mean_out.size):
        mean_out[i], ctx_out[i] = _intra_sample(plane, neighbours, i, depth, mid, thresholds)


_NO_MEANS = np.zeros(1, MEAN_DTYPE)
_ERROR_WEIGHTS = np.array(raster_rule.ERROR_WEIGHTS, np.int64)


@numba.njit(cache=True, nogil=True, inline="always")
def _error_level(plane, means, neighbours, i, shift, weights, thresholds):  # pragma: no cover - compiled
    """``raster_rule.error_levels`` of sample i (``shift``: bits - 8)."""
    total = np.int64(0)
    for q in range(4):
        j = neighbours[q, i]
        if j >= 0:
            total += weights[q] * (abs(16 * np.int64(plane[j]) - np.int64(means[j])) >> shift)
    return _level(total >> 1, thresholds)


@numba.njit(cache=True, nogil=True, parallel=True)
def _error_levels(plane, means, neighbours, shift, weights, thresholds, out):  # pragma: no cover - compiled
    for i in numba.prange(out.size):
        out[i] = _error_level(plane, means, neighbours, i, shift, weights, thresholds)


def error_levels(plane: np.ndarray, means: np.ndarray, neighbours: np.ndarray, depth: int) -> np.ndarray:
    """``raster_rule.error_levels_reference``, compiled: one pass over the samples (the numpy rule
    makes a dozen temporaries of 4 x N: 8 ms for a 640x272 plane), int8 levels; ``means`` in
    its own integer type (``MEAN_DTYPE`` in the codec)."""
    out = np.empty(neighbours.shape[1], LEVEL_DTYPE)
    means = np.ascontiguousarray(means)
    with first_call(_error_levels):
        for part, rows in _row_chunks(neighbours):
            _error_levels(
                plane, means, rows, depth - 8, _ERROR_WEIGHTS, raster_rule.ERROR_THRESHOLDS, out[part]
            )
    return out


@numba.njit(cache=True, nogil=True, inline="always")
def _raster_sample(
    plane, mc, inter, neighbours, targets, i, luma_error, has_luma, thresholds, table, means, levels,
    error_weights, error_thresholds, width, height, weights, refined, depth,
):  # pragma: no cover - compiled  # fmt: skip
    """(mean, scale index) of sample i of a raster wavefront of ``depth``-bit samples:
    ``_inter_sample`` or ``_intra_sample``, refined by ``weights`` where there are any, and
    ``table`` of its context, or with ``levels`` > 1 of its context and error level (its mean
    then kept in ``means``)."""
    mid = np.int64(1) << (depth - 1)
    top = (np.int64(1) << depth) - 1
    if inter:
        mean, ctx = _inter_sample(
            plane, mc, neighbours, targets, i, top, mid, luma_error, has_luma, thresholds
        )
        if refined:
            mean = _refined(plane, mc, neighbours, targets, i, width, height, mean, ctx, weights, mid, top)
    else:
        mean, ctx = _intra_sample(plane, neighbours, i, depth, mid, thresholds)
        if refined:
            mean = _refined_intra(plane, neighbours, i, mean, ctx, weights, mid, top)
    if levels > 1:
        shift = depth - 8
        ctx = ctx * levels + _error_level(plane, means, neighbours, i, shift, error_weights, error_thresholds)
        means[targets[i]] = mean  # read by later wavefronts only: no other sample of this one
    return mean, table[ctx]


@numba.njit(cache=True, nogil=True, parallel=True)
def _raster_rows(
    plane, mc, inter, neighbours, targets, luma_error, has_luma, thresholds, table, means, levels,
    error_weights, error_thresholds, width, weights, window_of_scale, bins, bin_width, cdf, cdf_width,
    total, full, mean_out, scale_out, lo_out,
):  # pragma: no cover - compiled  # fmt: skip
    """A wavefront of 8-bit samples in one call: each sample's ``_raster_sample``, then
    ``table_kernel.fill_single_window``'s (radius, rows)."""
    n = targets.size
    height = plane.size // width
    refined = weights.shape[0] > 0
    for i in numba.prange(n):
        mean_out[i], scale_out[i] = _raster_sample(
            plane, mc, inter, neighbours, targets, i, luma_error, has_luma, thresholds, table, means, levels,
            error_weights, error_thresholds, width, height, weights, refined, 8,
        )  # fmt: skip
    return table_kernel.fill_single_window(
        mean_out, scale_out, -1, window_of_scale, bins, bin_width, cdf, cdf_width, total, full, lo_out
    )


@numba.njit(cache=True, nogil=True, inline="always")
def _decode_wavefront(plane, targets, mean, scale, n, escaped, window_of_scale, phased, words, state):  # pragma: no cover - compiled  # fmt: skip
    """A wavefront's ``n`` samples (their ``mean`` and ``scale`` made) into ``plane``: the
    wavefront's single window (``entropy.single_window``: the widest any sample needs, or whole
    rows), every sample's symbol under its window's row, then the escaped samples' values under
    their escape rows, in order (``entropy.decode_single_rows``), each symbol read from the range
    decoder's ``words`` and ``state`` by ``range_decoder.decode_laplace`` without making its row.
    Returns a ``range_decoder`` status."""
    radius = table_kernel.widest_radius(scale, 0, n, window_of_scale)
    span = 2 * radius + 1
    kind = range_decoder.WHOLE if radius == 0 else range_decoder.WINDOW
    # The window's symbols, then the escaped samples' values: one loop, one decoder call
    # site (the decoder is inlined, and each copy is compiled anew).
    escapes = 0
    t = 0
    while t < n + escapes:
        i = t if t < n else escaped[t - n]
        lo = 0 if radius == 0 else table_kernel.window_start(mean[i], radius)
        got = range_decoder.decode_laplace(
            kind if t < n else range_decoder.ESCAPE, lo, span, mean[i], scale[i], phased, words, state
        )
        if got < 0:
            return range_decoder.BAD_DATA
        if t >= n:
            plane[targets[i]] = got
        elif radius > 0 and got == span:
            escaped[escapes] = i
            escapes += 1
        else:
            plane[targets[i]] = lo + got
        t += 1
    return range_decoder.OK


@numba.njit(cache=True, nogil=True)
def _decode_deep_wavefront(
    plane, targets, mean, scale, n, escaped, coarse, ident, row, window_of_scale, phased, words, state,
    depth, aligned,
):  # pragma: no cover - compiled  # fmt: skip
    """``_decode_wavefront`` for samples of 9-16 bits (``planar._decode_batch``'s order): every
    sample's top 8 bits under its windowed row (mean ``planar._coarse_mean``, version 17's
    ``aligned`` or before), then its next bits under ``entropy.low_bits_rows``'s row (made here
    from the table, one sample at a time), then (14, 16 bits) its lowest bits under the uniform
    row. ``coarse``, ``ident`` (0, 1, 2, ...) and ``row`` (16 entries) are scratch. Not inlined:
    the raster kernels call one compiled copy (an inlined range decoder is compiled anew each time)."""
    extra = depth - 8
    modelled = min(extra, _MODELLED_LOW_BITS)
    rest = extra - modelled
    for i in range(n):
        m = mean[i]
        if aligned:
            m = m - 8 * ((np.int64(1) << extra) - 1) + (np.int64(1) << (extra - 1))
        mean[i] = min(max(m >> extra, 0), _COARSE_MEAN_MAX)
    status = _decode_wavefront(coarse, ident, mean, scale, n, escaped, window_of_scale, phased, words, state)
    if status != range_decoder.OK:
        return status
    parts = 1 << modelled
    for i in range(n):
        c = coarse[i]
        table_kernel.low_bits_row(c, mean[i], scale[i], parts, phased, row)
        got = range_decoder.decode_symbol(row[:parts], range_decoder.row_scale(row[:parts]), words, state)
        if got < 0:
            return range_decoder.BAD_DATA
        coarse[i] = (c << modelled) | got
    if rest:
        uniform = row[: 1 << rest]
        uniform[:] = 1.0
        uniform_scale = range_decoder.row_scale(uniform)
        for i in range(n):
            got = range_decoder.decode_symbol(uniform, uniform_scale, words, state)
            if got < 0:
                return range_decoder.BAD_DATA
            coarse[i] = (coarse[i] << rest) | got
    for i in range(n):
        plane[targets[i]] = coarse[i]
    return range_decoder.OK


@numba.njit(cache=True, nogil=True)
def _widest(starts):  # pragma: no cover - compiled
    """The most samples of any wavefront of ``starts``."""
    widest = 0
    for f in range(starts.size - 1):
        widest = max(widest, starts[f + 1] - starts[f])
    return widest


@numba.njit(cache=True, nogil=True, parallel=True)
def _raster_plane(
    plane, mc, inter, all_targets, all_neighbours, starts, luma_error, has_luma, thresholds, table, means,
    levels, error_weights, error_thresholds, width, weights, window_of_scale, phased, words, state, depth,
    aligned,
):  # pragma: no cover - compiled  # fmt: skip
    """A whole raster plane of ``depth``-bit samples decoded in place into ``plane``: wavefront by
    wavefront (``starts``: each one's first position in ``all_targets`` and ``all_neighbours``),
    the rule (``_raster_sample``, on threads), then ``_decode_wavefront`` (deeper samples:
    ``_decode_deep_wavefront``, ``aligned`` as it says). Returns a ``range_decoder`` status."""
    height = plane.size // width
    refined = weights.shape[0] > 0
    widest = _widest(starts)
    mean = np.empty(widest, np.int64)
    scale = np.empty(widest, np.int64)
    escaped = np.empty(widest, np.int64)
    coarse, ident, row = _deep_scratch(widest if depth > 8 else 0)
    for f in range(starts.size - 1):
        s0, s1 = starts[f], starts[f + 1]
        n = s1 - s0
        targets = all_targets[s0:s1]
        neighbours = all_neighbours[:, s0:s1]
        for i in numba.prange(n):  # threads even for a few samples: no cost measured at 320x240
            mean[i], scale[i] = _raster_sample(
                plane, mc, inter, neighbours, targets, i, luma_error, has_luma, thresholds, table,
                means, levels, error_weights, error_thresholds, width, height, weights, refined, depth,
            )  # fmt: skip
        status = _decode_front(
            plane, targets, mean, scale, n, escaped, coarse, ident, row, window_of_scale, phased, words,
            state, depth, aligned,
        )  # fmt: skip
        if status != range_decoder.OK:
            return status
    return range_decoder.OK


@numba.njit(cache=True, nogil=True, inline="always")
def _decode_front(
    plane, targets, mean, scale, n, escaped, coarse, ident, row, window_of_scale, phased, words, state,
    depth, aligned,
):  # pragma: no cover - compiled  # fmt: skip
    """One wavefront's samples from the range decoder, the rule's ``mean`` and ``scale`` given:
    ``_decode_wavefront`` for 8 bits, ``_decode_deep_wavefront`` above (its scratch ``coarse``,
    ``ident``, ``row``). The raster kernels' one step, whole plane or run."""
    if depth > 8:
        return _decode_deep_wavefront(
            plane, targets, mean, scale, n, escaped, coarse, ident, row, window_of_scale, phased, words,
            state, depth, aligned,
        )  # fmt: skip
    return _decode_wavefront(plane, targets, mean, scale, n, escaped, window_of_scale, phased, words, state)


@numba.njit(cache=True, nogil=True, inline="always")
def _deep_scratch(widest):  # pragma: no cover - compiled
    """``_decode_deep_wavefront``'s scratch for wavefronts of up to ``widest`` samples."""
    return np.empty(widest, np.int64), np.arange(widest), np.empty(16, np.float64)


@numba.njit(cache=True, nogil=True, parallel=True)
def _raster_parts(
    plane, mc, inter, all_targets, all_neighbours, starts, run_fronts, luma_error, has_luma, thresholds,
    table, means, levels, error_weights, error_thresholds, width, weights, window_of_scale, phased,
    all_words, run_words, states, status, depth, aligned,
):  # pragma: no cover - compiled  # fmt: skip
    """A raster plane's runs (format version 14's substreams) decoded side by side, a thread
    each: run p's wavefronts are ``run_fronts[p]`` to ``run_fronts[p + 1] - 1`` of ``starts``
    (``raster_rule.run_schedule``), its words ``all_words[run_words[p]:run_words[p + 1]]`` and
    its range decoder's state ``states[p]``; within a run the wavefronts go one after another,
    the rule and the symbols serially (``_raster_plane``'s steps without its threads). Every
    run's ``range_decoder`` status goes into ``status[p]``."""
    height = plane.size // width
    refined = weights.shape[0] > 0
    for p in numba.prange(run_fronts.size - 1):
        f0, f1 = run_fronts[p], run_fronts[p + 1]
        words = all_words[run_words[p] : run_words[p + 1]]
        state = states[p]
        widest = _widest(starts[f0 : f1 + 1]) if f1 > f0 else 0
        mean = np.empty(widest, np.int64)
        scale = np.empty(widest, np.int64)
        escaped = np.empty(widest, np.int64)
        coarse, ident, row = _deep_scratch(widest if depth > 8 else 0)
        status[p] = range_decoder.OK
        for f in range(f0, f1):
            s0, s1 = starts[f], starts[f + 1]
            n = s1 - s0
            targets = all_targets[s0:s1]
            neighbours = all_neighbours[:, s0:s1]
            for i in range(n):
                mean[i], scale[i] = _raster_sample(
                    plane, mc, inter, neighbours, targets, i, luma_error, has_luma, thresholds, table,
                    means, levels, error_weights, error_thresholds, width, height, weights, refined, depth,
                )  # fmt: skip
            status[p] = _decode_front(
                plane, targets, mean, scale, n, escaped, coarse, ident, row, window_of_scale, phased, words,
                state, depth, aligned,
            )  # fmt: skip
            if status[p] != range_decoder.OK:
                break


def _rule_args(
    mc: np.ndarray | None,
    table: np.ndarray,
    luma_error: np.ndarray | None,
    means: np.ndarray | None,
    width: int,
    weights: np.ndarray,
) -> tuple:
    """The raster rule's arguments of ``_raster_rows`` and ``_raster_plane``, from luma_error to
    weights (``raster_rows`` says what each is)."""
    return (
        *_luma_term(luma_error),
        raster_rule.THRESHOLDS if mc is None else planar_rule.THRESHOLDS,
        table,
        _NO_MEANS if means is None else means,
        1 if means is None else raster_rule.ERROR_LEVELS,
        _ERROR_WEIGHTS,
        raster_rule.ERROR_THRESHOLDS,
        np.int64(width),
        np.ascontiguousarray(weights, np.int64),
    )


def decode_raster_plane(
    ranges: list[range_decoder.RangeDecoder],
    plane: np.ndarray,
    mc: np.ndarray | None,
    width: int,
    table: np.ndarray,
    luma_error: np.ndarray | None = None,
    means: np.ndarray | None = None,
    weights: np.ndarray = raster_rule.NO_REFINEMENT,
    depth: int = 8,
    aligned: bool = True,
) -> None:
    """Decode a raster plane of ``depth``-bit samples (flat ``plane``, zeros, filled in
    place) from the frame's range decoders ``ranges``, in one call: raster inter with ``mc``
    (tiled), else raster intra, with ``table``, ``means`` and ``weights`` as ``raster_rows``
    takes them; deeper samples with ``aligned`` coarse means (version 17) or not. The same
    samples as ``raster_rows`` and ``entropy.decode_single_rows`` wavefront by wavefront
    (``tests/test_range_coder.py``), without a Python step per wavefront. One decoder: the
    plane's wavefronts one after another, each wavefront's rule on threads (``_raster_plane``);
    more (format version 14's substreams): run p of ``raster_rule.run_schedule`` from
    ``ranges[p]``, the runs side by side on threads (``_raster_parts``: they share nothing), each
    decoder's state moved on as if it had decoded its run alone. On one thread the runs go one
    after another through ``_raster_plane``, whose loops ran 5-10 % faster there (bikes). Deeper
    samples are the Python steps' (``planar._decode_batch``), checked alike in
    ``tests/test_deep_samples.py``."""
    height = plane.size // width
    tile = raster_rule.WHOLE if mc is None else raster_rule.TILED
    targets, neighbours, starts, run_fronts = raster_rule.run_schedule(height, width, tile, len(ranges))
    head = (plane, _mc_arg(mc), mc is not None, targets, neighbours, starts)
    rule = (*_rule_args(mc, table, luma_error, means, width, weights), entropy.WINDOW_OF_SCALE)
    if len(ranges) == 1 or numba.get_num_threads() == 1:  # run after run, each wavefront's rule on threads
        for r, f0, f1 in zip(ranges, run_fronts[:-1], run_fronts[1:], strict=True):
            s0, s1 = starts[f0], starts[f1]
            run = (targets[s0:s1], neighbours[:, s0:s1], starts[f0 : f1 + 1] - s0)
            with first_call(_raster_plane):
                status = _raster_plane(
                    *head[:3], *run, *rule, table_kernel.phased_cdf(), r.words, r.state, depth, aligned
                )
            range_decoder.check(status)
        return
    states = np.stack([r.state for r in ranges])
    status = np.zeros(len(ranges), np.int64)
    with first_call(_raster_parts):
        _raster_parts(
            *head,
            run_fronts,
            *rule,
            table_kernel.phased_cdf(),
            np.concatenate([r.words for r in ranges]),
            np.cumsum([0] + [r.words.size for r in ranges]),
            states,
            status,
            depth,
            aligned,
        )
    for r, state in zip(ranges, states, strict=True):
        r.state[:] = state
    range_decoder.check(int(status.max()))


def intra_params(plane: np.ndarray, neighbours: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """``raster_rule.params_reference``'s (means, contexts), ``MEAN_DTYPE`` and ``CONTEXT_DTYPE``."""
    n = neighbours.shape[1]
    mean, ctx = np.empty(n, MEAN_DTYPE), np.empty(n, CONTEXT_DTYPE)
    with first_call(_intra_params):
        for part, rows in _row_chunks(neighbours):
            _intra_params(plane, rows, depth, raster_rule.THRESHOLDS, mean[part], ctx[part])
    return mean, ctx


def inter_params(
    plane: np.ndarray,
    mc: np.ndarray,
    neighbours: np.ndarray,
    targets: np.ndarray,
    depth: int,
    luma_error: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``raster_rule.inter_params_reference``'s (means, contexts), ``MEAN_DTYPE`` and
    ``CONTEXT_DTYPE``."""
    n = targets.size
    mean, ctx = np.empty(n, MEAN_DTYPE), np.empty(n, CONTEXT_DTYPE)
    mc = _mc_arg(mc)
    with first_call(_inter_params):
        for part, rows in _row_chunks(neighbours):
            _inter_params(
                plane,
                mc,  # _mc_arg's, once for all the chunks
                rows,
                targets[part],
                depth,
                *_luma_term(luma_error),
                planar_rule.THRESHOLDS,
                mean[part],
                ctx[part],
            )
    return mean, ctx


def raster_rows(
    plane: np.ndarray,
    mc: np.ndarray | None,
    neighbours: np.ndarray,
    targets: np.ndarray,
    table: np.ndarray,
    luma_error: np.ndarray | None = None,
    means: np.ndarray | None = None,
    width: int = 1,
    weights: np.ndarray = raster_rule.NO_REFINEMENT,
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(radius, first values, rows, means, scale indices) of a wavefront of an 8-bit plane, raster
    inter with ``mc``, else raster intra: ``raster_rule.inter_params`` (or ``params``), ``table``
    of the contexts and ``entropy.single_window`` in one call (the decoder's: a plane is about
    150 wavefronts of a few hundred samples, where each call's overhead counts). With ``means``
    (version 12: the plane's means so far, flat MEAN_DTYPE, where the wavefront's are written),
    ``table`` is ``raster_rule.level_scales``'s, indexed by context and
    ``raster_rule.error_levels``. With ``weights`` (version 13: the plane's refinement; ``width``:
    the plane's), the means are ``raster_rule.refine``'s."""
    n = targets.size
    mean, scale, lo = np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.int64)
    with first_call(_raster_rows):
        radius, rows = _raster_rows(
            plane,
            _mc_arg(mc),
            mc is not None,
            np.ascontiguousarray(neighbours),
            targets,
            *_rule_args(mc, table, luma_error, means, width, weights),
            entropy.WINDOW_OF_SCALE,
            *table_kernel.laplace_tables(),
            entropy.FULL_MASS,
            mean,
            scale,
            lo,
        )
    return int(radius), lo, rows, mean, scale


@numba.njit(cache=True, nogil=True)
def _pair_histogram(plane, targets, shift, mean, pair, steps, rows, hist0, cols0):  # pragma: no cover - compiled  # fmt: skip
    n = targets.size
    distance = np.empty(n, np.int32)  # < 16 x 65536
    top = cols0[-1] if cols0.size else 0
    for i in range(n):
        distance[i] = abs((np.int64(plane[targets[i]]) >> shift) * steps - mean[i])
        top = max(top, distance[i])
    column = np.zeros(top + 1, np.int64)
    for k in range(cols0.size):
        column[cols0[k]] = 1
    for i in range(n):
        column[distance[i]] = 1
    cols = np.flatnonzero(column)
    for k in range(cols.size):
        column[cols[k]] = k
    hist = np.zeros((rows, cols.size), np.int64)
    for r in range(hist0.shape[0]):  # the counts so far, in their columns of the union
        for k in range(cols0.size):
            hist[r, column[cols0[k]]] = hist0[r, k]
    for i in range(n):
        hist[pair[i], column[distance[i]]] += 1
    return hist, cols


@numba.njit(cache=True, nogil=True)
def _low_bits(values, targets, mean, ctx, table, depth, phased):  # pragma: no cover - compiled
    """``low_bits``'s sum, one sample at a time, in ``modes.planar._low_bits``'s float64 terms."""
    extra = depth - 8
    modelled = min(extra, _MODELLED_LOW_BITS)
    rest = extra - modelled
    parts = 1 << modelled
    row = np.empty(1 << _MODELLED_LOW_BITS)
    bits = 0.0
    for i in range(targets.size):
        v = np.int64(values[targets[i]])
        m = mean[i] - 8 * ((np.int64(1) << extra) - 1) + (np.int64(1) << (extra - 1))  # aligned
        m = min(max(m >> extra, 0), _COARSE_MEAN_MAX)
        table_kernel.low_bits_row(v >> extra, m, table[ctx[i]], parts, phased, row)
        total = 0.0
        for j in range(parts):
            total += row[j]
        low = (v & ((np.int64(1) << extra) - 1)) >> rest
        bits += np.log2(total) - np.log2(row[low]) + rest
    return bits


def low_bits(
    values: np.ndarray, targets: np.ndarray, mean: np.ndarray, ctx: np.ndarray, table: np.ndarray, depth: int
) -> float:
    """The bits of the low ``depth - 8`` bits of the samples ``targets`` of the flat plane
    ``values``, whose rule gave ``mean`` (1/16 of a sample) and ``ctx``, under the scale indexes
    ``table`` (per context): the modelled bits under ``entropy.low_bits_rows``'s rows (made one
    at a time, as the coders make them: no (N, 16) temporaries), the rest uniform. The encoder's
    estimate (``modes.planar._low_bits``); ``modes.planar._low_bits_reference`` is it in numpy."""
    with first_call(_low_bits):
        return _low_bits(
            np.ascontiguousarray(values),
            np.ascontiguousarray(targets),
            np.ascontiguousarray(mean, MEAN_DTYPE),
            np.ascontiguousarray(ctx, CONTEXT_DTYPE),
            np.ascontiguousarray(table, np.int64),
            depth,
            table_kernel.phased_cdf(),
        )


def pair_histogram(
    plane: np.ndarray,
    targets: np.ndarray,
    mean: np.ndarray,
    pair: np.ndarray,
    rows: int,
    shift: int = 0,
    into: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(hist, cols): one count per sample ``targets`` of the flat ``plane`` (its value ``>>
    shift``: a deeper sample's top 8 bits) at (its row ``pair``, the distance of its value from
    its mean in 1/16), over only the distances that occur (``cols``, ascending; hist[r, k]
    counts the samples of row r at distance cols[k]): the encoder's scale-table fits in one pass
    (numpy's several passes over a 640x480 plane took 3.7 ms), and the error levels' fit has 13
    rows per context, 45 MB dense over all 4081 distances. The samples are read where they are
    (a gathered int64 copy of a 1080p luma plane's was 17 MB at the encoder's peak). ``into``: an
    earlier call's (hist, cols) of the same rows, whose counts the result adds these samples to
    (over the union of the distances): a plane's passes counted batch by batch without numpy's
    union and scatters between them (7 % of a 176x144 clip's encoding)."""
    if into is None:
        into = (np.zeros((0, 0), np.int64), np.zeros(0, np.int64))
    elif into[0].shape[0] != rows:
        raise ValueError(f"a histogram of {into[0].shape[0]} rows cannot take counts of {rows}")
    with first_call(_pair_histogram):
        return _pair_histogram(
            np.ascontiguousarray(plane),
            np.ascontiguousarray(targets),
            np.int64(shift),
            np.ascontiguousarray(mean, MEAN_DTYPE),
            np.ascontiguousarray(pair, CONTEXT_DTYPE),
            entropy.MEAN_STEPS,
            rows,
            np.ascontiguousarray(into[0], np.int64),
            np.ascontiguousarray(into[1], np.int64),
        )


@numba.njit(cache=True, nogil=True, parallel=True)
def _pair_costs(hist, cols, rows, table, out):  # pragma: no cover - compiled
    scales = table.shape[1]
    for u in numba.prange(rows.size):  # rows are independent: the same sums on any thread count
        r = rows[u]
        for c in range(cols.size):
            n = np.float64(hist[r, c])
            if n == 0.0:
                continue
            bits = table[cols[c]]
            for s in range(scales):
                out[u, s] += n * bits[s]
    return out


def pair_costs(hist: np.ndarray, cols: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(rows.size, scales) float64: for each row ``rows[u]`` of ``pair_histogram``'s ``hist``
    (over the distances ``cols``), its samples' bits under every scale index
    (``entropy.interior_bits_table``): the product of the histogram's rows with the table's columns,
    summed over the non-zero counts only, column by column. The histograms are sparse (a
    176x144 luma plane's 25,000 samples over 106 x 13 error-level rows and 400-750 distances), so
    the dense product in float64 (BLAS's, after a float64 copy of the rows) did 30-60 times the
    multiplications; and the sums go in one order on every machine (each product is exact: a
    count below 2^29 times a float32 value)."""
    table = _distance_bits()
    if cols.size and not 0 <= cols[0] <= cols[-1] < len(table):  # the kernel reads table[cols]
        raise ValueError(f"distances {cols[0]}..{cols[-1]} outside the bits table's 0..{len(table) - 1}")
    out = np.zeros((rows.size, len(entropy.SCALE_TABLE)), np.float64)
    with first_call(_pair_costs):
        return _pair_costs(
            np.ascontiguousarray(hist, np.int64),
            np.ascontiguousarray(cols, np.int64),
            np.ascontiguousarray(rows, np.int64),
            table,
            out,
        )


@functools.cache
def _distance_bits() -> np.ndarray:
    """``entropy.interior_bits_table`` in float64 by distance: (distances, scales), a distance's
    costs side by side."""
    table = np.ascontiguousarray(entropy.interior_bits_table().T, np.float64)
    table.setflags(write=False)
    return table


@numba.njit(cache=True, nogil=True)
def _level_turns(costs, search, turns, fitted, offsets):  # pragma: no cover - compiled
    used, levels, scales = costs.shape
    for level in range(levels):  # element by element: array assignments take seconds to compile
        offsets[level] = 0
    moved = np.empty(levels, np.int64)
    by_offset = np.empty(2 * search + 1)
    totals = np.empty(scales)
    for _ in range(turns):
        for u in range(used):  # the table for the offsets: each context's best entry
            # every entry's sum over the levels, level by level (each entry's additions in the
            # same order as one entry at a time: the same floats, read along the rows)
            totals[:] = 0.0
            for level in range(levels):
                shift, row = offsets[level], costs[u, level]
                for s in range(scales):
                    totals[s] += row[min(max(s + shift, 0), scales - 1)]
            best, arg = np.inf, 0
            for s in range(scales):
                if totals[s] < best:  # the first of equal costs, as numpy's argmin
                    best, arg = totals[s], s
            fitted[u] = arg
        for level in range(levels):  # the offsets for the table: each level's best, over all contexts
            for k in range(by_offset.size):
                by_offset[k] = 0.0
            for u in range(used):
                for k in range(by_offset.size):
                    by_offset[k] += costs[u, level, min(max(fitted[u] + k - search, 0), scales - 1)]
            best, arg = np.inf, 0
            for k in range(by_offset.size):
                if by_offset[k] < best:
                    best, arg = by_offset[k], k
            moved[level] = arg - search
        same = True
        for level in range(levels):
            same = same and moved[level] == offsets[level]
        if same:  # the table is already the best for these offsets
            break
        for level in range(levels):
            offsets[level] = moved[level]


def level_turns(costs: np.ndarray, search: int, turns: int) -> tuple[np.ndarray, np.ndarray]:
    """(table entry per context, offset per level) of ``modes.planar._fit_levels``' turns over
    ``costs`` (context in use, error level, scale index: a plane's bits), each scale index the
    entry plus the level's offset clamped to the scale indices: the table for the offsets, then
    the offsets (each within +-``search``) for the table, until they stay or after ``turns``
    turns. numpy's gathers of every (context, level, candidate) took 0.55 ms a turn, a tenth of a
    planar frame's estimate; ``modes.planar.level_turns_reference`` is the numpy rule."""
    fitted = np.empty(costs.shape[0], np.int64)
    offsets = np.empty(costs.shape[1], np.int64)
    with first_call(_level_turns):
        _level_turns(np.ascontiguousarray(costs, np.float64), search, turns, fitted, offsets)
    return fitted, offsets


@numba.njit(cache=True, nogil=True)
def _schedule(height, width, tile_h, tile_w, offset, order, stored, neighbours, at, counts):  # pragma: no cover - compiled  # fmt: skip
    """``raster_rule.run_schedule_reference``'s schedule of one run (a plane of ``height`` rows,
    its samples ``offset`` on in the whole plane) into ``order[at:]`` and ``neighbours[:, at:]``:
    a counting sort of the samples by wavefront (in increasing flat index within one, as the
    stable sort does), each sample's a, b, c, d made on the way; ``counts`` (one per wavefront,
    zeros) ends holding their sizes."""
    for y in range(height):
        ty = y % tile_h
        for x in range(width):
            counts[x % tile_w + 2 * ty] += 1
    total = 0
    for k in range(counts.size):
        size = counts[k]
        counts[k] = total  # the wavefront's next slot, from its first
        total += size
    for y in range(height):
        ty = y % tile_h
        for x in range(width):
            tx = x % tile_w
            k = tx + 2 * ty
            j = at + counts[k]
            counts[k] += 1
            idx = offset + y * width + x
            order[j] = idx
            if stored:
                last = tx == tile_w - 1 or x == width - 1
                a, b, c, d = _abcd(idx, width, tx, ty > 0, last)
                neighbours[0, j], neighbours[1, j], neighbours[2, j], neighbours[3, j] = a, b, c, d
    for k in range(counts.size - 1, 0, -1):  # the slots moved to each wavefront's end: back to sizes
        counts[k] -= counts[k - 1]


def schedule_run(
    height: int,
    width: int,
    tile: tuple[int, int],
    offset: int,
    order: np.ndarray,
    neighbours: np.ndarray | None,
    at: int,
) -> np.ndarray:
    """Fill ``order[at:at + n]`` and (unless it is None) ``neighbours[:, at:at + n]`` (n = height x
    width) with the wavefront schedule of a run of ``height`` rows whose first sample is
    ``offset`` in the whole plane; returns the run's wavefront starts (from 0, one more at the
    end; empty wavefronts left out). Memory: the outputs only (the numpy rule made ten
    temporaries of the plane's size, the peak of a large frame's decoding)."""
    tile_h, tile_w = min(tile[0], height), min(tile[1], width)
    counts = np.zeros(tile_w + 2 * (tile_h - 1), np.int64)
    stored = neighbours is not None
    if not stored:  # one argument type either way: a (4, 2) of the stored ones' type and layout
        neighbours = np.empty((2, 4), order.dtype).T
    with first_call(_schedule):
        _schedule(height, width, tile[0], tile[1], offset, order, stored, neighbours, at, counts)
    sizes = counts[counts > 0]
    return np.concatenate([np.zeros(1, np.int64), np.cumsum(sizes)])
