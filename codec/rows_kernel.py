"""Compiled kernels for a palette part's rows after the model weights: the votes' mix and the
context counts' blend, each one pass over the rows.

In numpy the mix is a handful of passes over the (pixels x colours) rows and the blend two binary
searches per pixel and order, the expansion of every (pixel, colour, count) triple into arrays and
scattered adds: together more of a palette part's time than the weights. These loops do each
pixel's row at once, with the same float64 operations in the same order as the numpy references
(``palette_coding.mix_rows_reference``, ``palette_context.blend_sparse_reference``) and no
fast-math (no reassociation, no fused multiply-adds), hence the same rows, bit for bit
(``tests/test_rows_kernel.py``). Imported on first use, like ``weight_kernel``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numba
import numpy as np

from ..bitstream.table_kernel import first_call

if TYPE_CHECKING:
    from .intra import Ring

_SYMBOL_BITS = 8
_SYMBOL_MASK = (1 << _SYMBOL_BITS) - 1


@numba.njit(cache=True, nogil=True, inline="always")
def _first_at_least(codes, value):  # pragma: no cover - compiled
    """Index of the first code >= value in the sorted ``codes`` (``np.searchsorted(..., 'left')``)."""
    lo, hi = 0, codes.size
    while lo < hi:
        mid = (lo + hi) >> 1
        if codes[mid] < value:
            lo = mid + 1
        else:
            hi = mid
    return lo


@numba.njit(cache=True, nogil=True, parallel=True)
def _blend(p, keys, betas, codes, counts):  # pragma: no cover - compiled
    """``p`` (N, K) float64 in place; per active order o (``betas[o]`` > 0): ``keys[o]`` the pixels'
    context keys and the order's table, ``codes[o]`` (sorted, context << 8 | symbol) and
    ``counts[o]``."""
    n, k_count = p.shape
    n_orders = betas.size
    for i in numba.prange(n):
        lo = np.zeros(n_orders, np.int64)
        hi = np.zeros(n_orders, np.int64)
        coeff = np.zeros(n_orders)
        a = 1.0
        for o in range(n_orders):
            b = betas[o]
            if b <= 0:
                continue
            table = codes[o]
            key = keys[o, i]
            lo[o] = _first_at_least(table, key << _SYMBOL_BITS)
            hi[o] = _first_at_least(table, (key + 1) << _SYMBOL_BITS)
            total = np.int64(0)
            for q in range(lo[o], hi[o]):
                total += counts[o][q]
            denom = np.float64(total) + b
            shrink = b / denom
            a = a * shrink
            for q in range(o):
                coeff[q] = coeff[q] * shrink
            coeff[o] = 1.0 / denom
        for k in range(k_count):
            p[i, k] *= a
        for o in range(n_orders):
            c = coeff[o]
            for q in range(lo[o], hi[o]):
                p[i, codes[o][q] & _SYMBOL_MASK] += c * np.float64(counts[o][q])
    return p


@numba.njit(cache=True, nogil=True, parallel=True)
def _mix(p, prev_idx, w_prev, nbr_idx, w_levels):  # pragma: no cover - compiled
    """``p`` (N, K) float64 integer weights in place: normalized, mixed with the previous colour
    (``prev_idx`` (N,), -1: none; weight ``w_prev``) and the neighbours' votes (``nbr_idx`` (J, N),
    -1: absent; weight ``w_levels[agreement - 1]``)."""
    n, k_count = p.shape
    j_count = nbr_idx.shape[0]
    for i in numba.prange(n):
        count = 0
        level = 0
        for a in range(j_count):
            if nbr_idx[a, i] < 0:
                continue
            count += 1
            same = 0
            for b in range(j_count):
                if nbr_idx[b, i] >= 0 and nbr_idx[b, i] == nbr_idx[a, i]:
                    same += 1
            level = max(level, same)
        w_nbr = w_levels[level - 1] if level > 0 else 0.0
        has_prev = w_prev > 0 and prev_idx[i] >= 0
        total = 0.0  # an integer below 2^29: exact in any order
        for k in range(k_count):
            total += p[i, k]
        keep_nbr = 1.0 - w_nbr
        scale = ((1.0 - w_prev) if has_prev else 1.0) * keep_nbr / total
        for k in range(k_count):
            p[i, k] *= scale
        if has_prev:
            p[i, prev_idx[i]] += w_prev * keep_nbr
        if w_nbr > 0:
            vote = w_nbr / np.float64(count)
            for a in range(j_count):
                if nbr_idx[a, i] >= 0:
                    p[i, nbr_idx[a, i]] += vote
    return p


def mix(
    p: np.ndarray, prev_idx: np.ndarray | None, w_prev: float, nbr_idx: np.ndarray | None, w_levels
) -> np.ndarray:
    """``palette_coding.mix_rows`` with ``normalize`` on float64 integer weights, in place."""
    n = p.shape[0]
    with first_call(_mix):
        return _mix(
            p,
            np.full(n, -1, np.int64) if prev_idx is None else np.asarray(prev_idx, np.int64),
            float(w_prev),
            np.zeros((0, n), np.int64) if nbr_idx is None else np.ascontiguousarray(nbr_idx, np.int64),
            np.zeros(4) if w_levels is None else np.asarray(w_levels, np.float64),
        )


def blend(
    p: np.ndarray,
    keys: list[np.ndarray],
    betas: tuple[float, ...],
    tables: list[tuple[np.ndarray, np.ndarray]],
) -> np.ndarray:
    """Blend float64 rows ``p`` (N, K) in place with the counts of ``tables`` (per order: sorted
    codes, int64, and their counts, int32) after the pixels' context ``keys``."""
    count_type = np.result_type(np.int32, *(t[1].dtype for t in tables))  # one type: no copies
    with first_call(_blend):
        return _blend(
            p,
            np.stack([np.asarray(k, np.int64) for k in keys]),
            np.asarray(betas, np.float64),
            tuple(np.ascontiguousarray(t[0], np.int64) for t in tables),
            tuple(np.ascontiguousarray(t[1], count_type) for t in tables),
        )


_HASH_MUL = np.uint64(0x9E3779B97F4A7C15)


@numba.njit(cache=True, nogil=True, parallel=True)
def _keys(
    index_canvas, neighbours, targets, ring, height, width, radix, hash_shift, wide, out
):  # pragma: no cover - compiled
    """``palette_context.context_keys``'s keys into ``out`` (2 or 3, N): ``neighbours`` (J, N) flat
    positions (-1 outside), then the ring's positions, ``targets`` + ``ring`` ((R, 2) (dy, dx)) in
    the height x width frame, computed here; a third row hashes all J + R classes. Narrow keys:
    the first neighbour, then it and the third (the second when J = 2); ``wide`` keys (J = 4): the
    first two neighbours, then all four."""
    n_first, n = neighbours.shape
    t_count = n_first + ring.shape[0]
    second = 2 if n_first > 2 else n_first - 1
    one = np.uint64(1)
    for i in numba.prange(n):
        h = np.uint64(0)
        first = np.int64(0)
        ty, tx = np.int64(0), np.int64(0)
        if ring.shape[0] > 0:
            ty, tx = divmod(np.int64(targets[i]), width)
        for t in range(t_count):
            if t < n_first:
                pos = np.int64(neighbours[t, i])
            else:
                ny, nx = ty + ring[t - n_first, 0], tx + ring[t - n_first, 1]
                pos = ny * width + nx if 0 <= ny < height and 0 <= nx < width else np.int64(-1)
            c = np.int64(0) if pos < 0 else np.int64(index_canvas[pos]) + 2
            if wide:
                if t < 4:
                    first = first * radix + c
                if t == 1:
                    out[0, i] = first
                elif t == 3:
                    out[1, i] = first
            else:
                if t == 0:
                    first = c
                    out[0, i] = c
                if t == second:
                    out[1, i] = first * radix + c
            h = h * _HASH_MUL + (np.uint64(c) + one)
        if out.shape[0] > 2:
            out[2, i] = np.int64(h >> np.uint64(hash_shift))
    return out


_NO_RING = np.zeros((0, 2), np.int64)


def context_keys(
    index_canvas: np.ndarray,
    neighbours: np.ndarray,
    ring: Ring | None,
    radix: int,
    hash_shift: int,
    wide: bool = False,
    targets: np.ndarray | None = None,
) -> np.ndarray:
    """(2 or 3, N) int64 keys of ``palette_context.context_keys`` (neighbours (J, N), J >= 1; J = 4
    when ``wide``; ``ring``: an ``intra.Ring`` around ``targets``, or None)."""
    n = neighbours.shape[1]
    out = np.empty((2 if ring is None else 3, n), np.int64)
    if ring is None:
        offsets, height, width, targets = _NO_RING, 0, 1, neighbours[0]
    else:
        if targets is None or targets.size != n:
            raise ValueError(
                f"a ring needs the pass's {n} targets, got {None if targets is None else targets.size}"
            )
        offsets, height, width = np.ascontiguousarray(ring.offsets, np.int64), ring.height, ring.width
    with first_call(_keys):
        return _keys(
            index_canvas,
            np.ascontiguousarray(neighbours),
            np.ascontiguousarray(targets),
            offsets,
            np.int64(height),
            np.int64(width),
            radix,
            hash_shift,
            wide,
            out,
        )


@numba.njit(cache=True, nogil=True)
def _merge_into(codes, counts, m, new, more):  # pragma: no cover - compiled
    """Merge the sorted unique ``new`` codes (counts ``more``) into the table ``codes[:m]``,
    ``counts[:m]``, whose buffers have room for ``new.size`` more entries; returns the size. The
    codes in both are counted first, so that the merge, from the back, writes every entry once in
    its final place: it never overwrites an entry before reading it, because the entries still to
    write are at least the table's still to read."""
    n = new.size
    both = 0
    i = _first_at_least(codes[:m], new[0]) if n else m
    j = 0
    while i < m and j < n:
        if codes[i] < new[j]:
            i += 1
        elif new[j] < codes[i]:
            j += 1
        else:
            both += 1
            i += 1
            j += 1
    i, j, w = m - 1, n - 1, m + n - both - 1
    while j >= 0:
        if i >= 0 and codes[i] > new[j]:
            codes[w], counts[w] = codes[i], counts[i]
            i -= 1
        elif i >= 0 and codes[i] == new[j]:
            codes[w], counts[w] = codes[i], counts[i] + more[j]
            i -= 1
            j -= 1
        else:
            codes[w], counts[w] = new[j], more[j]
            j -= 1
        w -= 1
    return m + n - both


def merge_into(
    buffers: tuple[np.ndarray, np.ndarray], m: int, new: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """``palette_context.merge_reference`` of the table held in the first ``m`` entries of
    ``buffers`` (int64 codes, counts) and ``new`` (sorted unique int64 codes, counts), written into
    those buffers (they need ``m + new[0].size`` entries and a counts type that holds ``new``'s):
    no second table at the peak. Returns the merged views (the first entries of ``buffers``)."""
    codes, counts = buffers
    size = m + new[0].size
    if codes.size < size or counts.size < size:
        raise ValueError(f"buffers of {min(codes.size, counts.size)} entries cannot hold {size}")
    if np.promote_types(counts.dtype, new[1].dtype) != counts.dtype:
        raise ValueError(f"{counts.dtype} counts cannot hold {new[1].dtype} ones")
    with first_call(_merge_into):
        m = _merge_into(codes, counts, m, np.asarray(new[0], np.int64), new[1])
    return codes[:m], counts[:m]


@numba.njit(cache=True, nogil=True, parallel=True)
def _true_counts(codes, counts, keys, symbols, own, total):  # pragma: no cover - compiled
    for i in numba.prange(keys.size):
        key = keys[i]
        lo = _first_at_least(codes, key << _SYMBOL_BITS)
        hi = _first_at_least(codes, (key + 1) << _SYMBOL_BITS)
        t = np.int64(0)
        for q in range(lo, hi):
            t += counts[q]
        want = (key << _SYMBOL_BITS) | symbols[i]
        at = lo + _first_at_least(codes[lo:hi], want)
        own[i] = np.float64(counts[at]) if at < hi and codes[at] == want else 0.0
        total[i] = np.float64(t)


def true_counts(
    codes: np.ndarray, counts: np.ndarray, keys: np.ndarray, symbols: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``palette_context.ContextCounts.true_counts`` from an order's table: (count of each pixel's
    own symbol after its context, the context's total), float64."""
    own, total = np.empty(keys.size), np.empty(keys.size)
    with first_call(_true_counts):
        _true_counts(codes, counts, np.asarray(keys, np.int64), np.asarray(symbols, np.int64), own, total)
    return own, total


@numba.njit(cache=True, nogil=True, parallel=True)
def _neighbour_colours(index_canvas, neighbours, out):  # pragma: no cover - compiled
    j_count, n = neighbours.shape
    for i in numba.prange(n):
        for j in range(j_count):
            pos = neighbours[j, i]
            out[j, i] = index_canvas[pos] if pos >= 0 else -1
    return out


def neighbour_colours(index_canvas: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """(J, N) int32 palette indices at the neighbours' flat positions, -1 where outside the frame
    (``modes.palette.neighbour_colours``; one pass, no temporaries)."""
    out = np.empty(neighbours.shape, np.int32)
    with first_call(_neighbour_colours):
        return _neighbour_colours(index_canvas, np.ascontiguousarray(neighbours), out)
