"""Compiled kernels for a palette part's rows after the model weights: the votes' mix and then
the context counts' blend, one pass over the rows for both (``mix_blend``; ``mix`` and ``blend``
alone are the same kernel).

In numpy the mix is a handful of passes over the (pixels x colours) rows and the blend two binary
searches per pixel and order, the expansion of every (pixel, colour, count) triple into arrays and
scattered adds: together more of a palette part's time than the weights. These loops do each
pixel's row at once, with the same float64 operations in the same order as the numpy references
(``palette_coding.mix_rows_reference``, ``palette_context.blend_sparse_reference``) and no
fast-math (no reassociation, no fused multiply-adds), hence the same rows, bit for bit
(``tests/test_rows_kernel.py``). Imported on first use, like ``weight_kernel``.
"""

from __future__ import annotations

import time
import weakref
from typing import TYPE_CHECKING

import numba
import numpy as np

from ..bitstream.table_kernel import first_call
from .palette_context import MAX_ORDERS

if TYPE_CHECKING:
    from .intra import Ring

_SYMBOL_BITS = 8
_SYMBOL_MASK = (1 << _SYMBOL_BITS) - 1


@numba.njit(cache=True, nogil=True, inline="always")
def _first_at_least(codes, value):  # pragma: no cover - compiled
    """Index of the first code >= value in the sorted ``codes`` (``np.searchsorted(..., 'left')``)."""
    return _first_at_least_in(codes, 0, codes.size, value)


@numba.njit(cache=True, nogil=True, inline="always")
def _first_at_least_in(codes, lo, hi, value):  # pragma: no cover - compiled
    """``_first_at_least`` of ``codes[lo:hi]``, as an index into ``codes`` (``hi``: none)."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if codes[mid] < value:
            lo = mid + 1
        else:
            hi = mid
    return lo


#: A count table's index (``index_of``) has a bucket for about every BUCKET_CODES of its codes.
BUCKET_CODES = 8
#: The index's header: the table's first code, the shift that makes a code's bucket.
_INDEX_HEAD = 2


@numba.njit(cache=True, nogil=True)
def _index(codes):  # pragma: no cover - compiled
    """``index_of``'s index of the sorted ``codes``: [first code, shift s, then for every bucket b
    (codes c with (c - first) >> s == b, the last bucket one past the largest) the position of its
    first code, and ``codes.size`` once more at the end]. s is the least shift that leaves at most
    about codes.size / BUCKET_CODES buckets."""
    n = codes.size
    if n == 0:
        return np.zeros(_INDEX_HEAD + 1, np.int64)
    first = codes[0]
    span = codes[n - 1] - first
    most = max(1, n // BUCKET_CODES)
    shift = 0
    while (span >> shift) >= most:
        shift += 1
    buckets = (span >> shift) + 1
    out = np.empty(_INDEX_HEAD + buckets + 1, np.int64)
    out[0] = first
    out[1] = shift
    b = 0
    for q in range(n):
        here = (codes[q] - first) >> shift
        while b <= here:
            out[_INDEX_HEAD + b] = q
            b += 1
    while b <= buckets:
        out[_INDEX_HEAD + b] = n
        b += 1
    return out


@numba.njit(cache=True, nogil=True, inline="always")
def _context_range(codes, index, key):  # pragma: no cover - compiled
    """(lo, hi): context ``key``'s entries are ``codes[lo:hi]``. ``index`` is ``_index(codes)``:
    the first code at least key << 8 is in that value's bucket (a few codes, in one or two cache
    lines) or is the next bucket's first, so a lookup reads two places of a table that does not
    fit the cache where a binary search read a dozen. hi is found by walking the context's
    entries from lo (at most 256, usually a few, which the caller reads next anyway)."""
    n = codes.size
    value = key << _SYMBOL_BITS
    if n == 0:
        return 0, 0
    offset = value - index[0]
    if offset <= 0:
        lo = 0
    else:
        b = offset >> index[1]
        if b >= index.size - _INDEX_HEAD - 1:  # past the last code
            return n, n
        lo = _first_at_least_in(codes, index[_INDEX_HEAD + b], index[_INDEX_HEAD + b + 1], value)
    end = (key + 1) << _SYMBOL_BITS
    hi = lo
    while hi < n and codes[hi] < end:
        hi += 1
    return lo, hi


def indexed(codes: np.ndarray) -> np.ndarray:
    """A count table's index for ``_context_range`` (``_index``), made now."""
    with first_call(_index):
        return _index(np.asarray(codes, np.int64))


#: Tables of at least this many codes have their index remembered (``index_of``).
INDEX_KEPT_FROM = 1 << 8
#: The index of every empty table (most recent tables between two merges, and the mix alone's).
_EMPTY_INDEX = np.zeros(_INDEX_HEAD + 1, np.int64)
#: id(codes) -> (a weak reference to the codes, their index); an entry leaves when its codes die.
_INDEXES: dict[int, tuple[weakref.ref, np.ndarray]] = {}


def index_of(codes: np.ndarray) -> np.ndarray:
    """``indexed(codes)``, made once per table: a palette part is coded in blocks of a few thousand
    pixels (2,048 at 256 colours) with the same tables, and each block's call made the index again
    (a tenth of decoding a 15-Mpixel frame, when it was a sample of the codes). A table is a new
    array after every merge (the merged codes' view), and its codes are never written while it is
    the table, so the index holds for as long as that array lives; the weak reference ends the
    entry with it (its id may be reused)."""
    if codes.size < INDEX_KEPT_FROM:
        return indexed(codes) if codes.size else _EMPTY_INDEX
    key = id(codes)
    hit = _INDEXES.get(key)
    if hit is not None and hit[0]() is codes:
        return hit[1]
    index = indexed(codes)
    _INDEXES[key] = (weakref.ref(codes, lambda _, key=key: _INDEXES.pop(key, None)), index)
    return index


@numba.njit(cache=True, nogil=True, inline="always")
def _run_ranges(
    start,
    stop,
    keys,
    betas,
    codes,
    indexes,
    counts,
    r_codes,
    r_indexes,
    r_counts,
    lo,
    hi,
    r_lo,
    r_hi,
    coeff,
    shrink,
):  # pragma: no cover - compiled
    """For pixels start..stop-1 (row j = i - start of the scratch) and each active order o
    (``betas[o]`` > 0): where ``keys[o, i]``'s entries are in the order's two tables, the base
    ``codes[o]`` (sorted, context << 8 | symbol; ``indexes[o]`` its ``_index``) and the recent
    ``r_codes[o]`` (``palette_context.ContextCounts``' levels: a code's count is the sum of its
    two), in ``lo``, ``hi``, ``r_lo``, ``r_hi``; then each order's coefficient (``coeff``) and the
    row's factor (``shrink[j]``) of the blend. The lookups of a run are done first, in tight
    loops, so that the CPU has several of them in flight (a table of a large frame is far from the
    cache) where one row's mix and blend between two lookups left it one at a time."""
    n_orders = betas.size
    for o in range(n_orders):
        if betas[o] <= 0:
            continue
        for i in range(start, stop):
            lo[i - start, o], hi[i - start, o] = _context_range(codes[o], indexes[o], keys[o, i])
        if r_codes[o].size:
            for i in range(start, stop):
                r_lo[i - start, o], r_hi[i - start, o] = _context_range(r_codes[o], r_indexes[o], keys[o, i])
    for j in range(stop - start):
        a = 1.0
        for o in range(n_orders):
            coeff[j, o] = 0.0
            b = betas[o]
            if b <= 0:
                continue
            total = np.int64(0)
            for q in range(lo[j, o], hi[j, o]):
                total += counts[o][q]
            for q in range(r_lo[j, o], r_hi[j, o]):
                total += r_counts[o][q]
            denom = np.float64(total) + b
            factor = b / denom
            a = a * factor
            for q in range(o):
                coeff[j, q] = coeff[j, q] * factor
            coeff[j, o] = 1.0 / denom
        shrink[j] = a


@numba.njit(cache=True, nogil=True, inline="always")
def _blend_row(
    p, i, j, codes, counts, r_codes, r_counts, lo, hi, r_lo, r_hi, coeff, shrink
):  # pragma: no cover - compiled
    """Row i of ``p`` blended with the counts after its contexts, from row j of ``_run_ranges``'
    scratch (an inactive order has an empty range and a zero coefficient): the row times
    ``shrink[j]``, then each order's counts times its coefficient added, order by order."""
    k_count = p.shape[1]
    a = shrink[j]
    for k in range(k_count):
        p[i, k] *= a
    for o in range(lo.shape[1]):
        c = coeff[j, o]
        q, q_end, r, r_end = lo[j, o], hi[j, o], r_lo[j, o], r_hi[j, o]
        if r == r_end:  # the context has no recent codes (most pixels)
            for e in range(q, q_end):
                p[i, codes[o][e] & _SYMBOL_MASK] += c * np.float64(counts[o][e])
            continue
        while q < q_end or r < r_end:  # the two ranges in code order: one add per symbol
            if r == r_end or (q < q_end and codes[o][q] < r_codes[o][r]):
                p[i, codes[o][q] & _SYMBOL_MASK] += c * np.float64(counts[o][q])
                q += 1
            elif q == q_end or r_codes[o][r] < codes[o][q]:
                p[i, r_codes[o][r] & _SYMBOL_MASK] += c * np.float64(r_counts[o][r])
                r += 1
            else:
                both = np.int64(counts[o][q]) + np.int64(r_counts[o][r])
                p[i, codes[o][q] & _SYMBOL_MASK] += c * np.float64(both)
                q += 1
                r += 1


@numba.njit(cache=True, nogil=True, inline="always")
def _mix_row(p, i, prev_idx, w_prev, nbr_idx, w_levels):  # pragma: no cover - compiled
    """Row i of ``p`` (integer weights) normalized, mixed with the previous colour (``prev_idx``
    (N,), -1: none; weight ``w_prev``) and the neighbours' votes (``nbr_idx`` (J, N), -1: absent;
    weight ``w_levels[agreement - 1]``)."""
    k_count = p.shape[1]
    j_count = nbr_idx.shape[0]
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
    # The row's total is an integer below 2^29, exact in any order: four running sums (chains the
    # CPU overlaps) give the very total one sum gives (bikes480 decodes 2 % faster: ab_row_sums.txt).
    t0 = t1 = t2 = t3 = 0.0
    k = 0
    while k + 4 <= k_count:
        t0 += p[i, k]
        t1 += p[i, k + 1]
        t2 += p[i, k + 2]
        t3 += p[i, k + 3]
        k += 4
    while k < k_count:
        t0 += p[i, k]
        k += 1
    total = (t0 + t1) + (t2 + t3)
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


#: Pixels a thread takes at a time in ``_rows`` (its scratch is made once per run of them).
_RUN = 64
#: Rows mixed and blended before their running sums are made, four at a time (``_running_sums``).
_SUMMED = 8


@numba.njit(cache=True, nogil=True, inline="always")
def _running_sums(p, a, b):  # pragma: no cover - compiled
    """Rows a..b-1 of ``p`` replaced by their running sums, each added left to right from 0.0. A
    row's sum is a chain of dependent additions (4 cycles each); four rows at a time are four
    chains the CPU overlaps, each row's additions in the same order: the same floats. On one
    thread, a block of 2048 rows of 215 colours: 0.116 ms of sums, 0.189 row by row (eight rows
    at a time: 0.105)."""
    k_count = p.shape[1]
    i = a
    while i + 4 <= b:
        s0 = s1 = s2 = s3 = 0.0
        for k in range(k_count):
            s0 += p[i, k]
            p[i, k] = s0
            s1 += p[i + 1, k]
            p[i + 1, k] = s1
            s2 += p[i + 2, k]
            p[i + 2, k] = s2
            s3 += p[i + 3, k]
            p[i + 3, k] = s3
        i += 4
    while i < b:
        s = 0.0
        for k in range(k_count):
            s += p[i, k]
            p[i, k] = s
        i += 1


@numba.njit(cache=True, nogil=True, parallel=True)
def _rows(
    p,
    mixing,
    prev_idx,
    w_prev,
    nbr_idx,
    w_levels,
    keys,
    betas,
    codes,
    indexes,
    counts,
    r_codes,
    r_indexes,
    r_counts,
    running_sums,
):  # pragma: no cover - compiled
    """``p`` (N, K) float64 in place, row by row: with ``mixing``, ``_mix_row`` (the votes' mix);
    then, where an order is active, ``_blend_row`` (the context counts' blend, its ranges and
    coefficients found for a run of rows at a time by ``_run_ranges``). Both steps of a row run
    while it is in the cache, in the order and with the operations of the two numpy references,
    so the rows are theirs, bit for bit; with ``running_sums``, the row is then replaced by its
    running sums."""
    n = p.shape[0]
    n_orders = betas.size
    blending = False
    for o in range(n_orders):
        blending = blending or betas[o] > 0
    for run in numba.prange((n + _RUN - 1) // _RUN):
        lo = np.zeros((_RUN, n_orders), np.int64)
        hi = np.zeros((_RUN, n_orders), np.int64)
        r_lo = np.zeros((_RUN, n_orders), np.int64)
        r_hi = np.zeros((_RUN, n_orders), np.int64)
        coeff = np.zeros((_RUN, n_orders))
        shrink = np.ones(_RUN)
        start, stop = run * _RUN, min(n, run * _RUN + _RUN)
        if blending:
            _run_ranges(
                start, stop, keys, betas, codes, indexes, counts, r_codes, r_indexes, r_counts, lo, hi, r_lo,
                r_hi, coeff, shrink,
            )  # fmt: skip
        for i in range(start, stop):
            if mixing:
                _mix_row(p, i, prev_idx, w_prev, nbr_idx, w_levels)
            if blending:
                _blend_row(
                    p, i, i - start, codes, counts, r_codes, r_counts, lo, hi, r_lo, r_hi, coeff, shrink
                )
            if running_sums and ((i - start) % _SUMMED == _SUMMED - 1 or i == stop - 1):
                _running_sums(p, i - (i - start) % _SUMMED, i + 1)  # while the rows are in the cache
    return p


@numba.njit(cache=True, nogil=True, parallel=True)
def _true_shares(rows, truth, out):  # pragma: no cover - compiled
    for i in numba.prange(rows.shape[0]):
        total = 0.0
        for k in range(rows.shape[1]):
            total += rows[i, k]
        out[i] = rows[i, truth[i]] / total


def true_shares(rows: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Each row's entry at its pixel's true colour over the row's sum, for float64 rows of
    integers whose sums are exact in any order (the palette weights: below 2^53), so the same
    floats as numpy's pairwise sums give: one parallel pass where numpy made a gathered copy
    and summed the rows on one thread."""
    out = np.empty(rows.shape[0], np.float64)
    with first_call(_true_shares):
        _true_shares(np.ascontiguousarray(rows, np.float64), np.ascontiguousarray(truth, np.int64), out)
    return out


def mix(
    p: np.ndarray, prev_idx: np.ndarray | None, w_prev: float, nbr_idx: np.ndarray | None, w_levels
) -> np.ndarray:
    """``palette_coding.mix_rows`` with ``normalize`` on float64 integer weights, in place."""
    return mix_blend(p, prev_idx, w_prev, nbr_idx, w_levels, None, (), [])


Table = tuple[np.ndarray, np.ndarray]


def blend(
    p: np.ndarray,
    keys: list[np.ndarray],
    betas: tuple[float, ...],
    tables: list[Table],
    recent: list[Table] | None = None,
) -> np.ndarray:
    """Blend float64 rows ``p`` (N, K) in place with the counts of ``tables`` (per order: sorted
    codes, int64, and their counts, int32), plus those of ``recent`` (the same form, per order;
    None: none) where given, after the pixels' context ``keys``."""
    return _run_rows(p, False, None, 0.0, None, None, keys, betas, tables, recent)


def mix_blend(
    p: np.ndarray,
    prev_idx: np.ndarray | None,
    w_prev: float,
    nbr_idx: np.ndarray | None,
    w_levels,
    keys: list[np.ndarray] | None,
    betas: tuple[float, ...],
    tables: list[Table],
    recent: list[Table] | None = None,
    running_sums: bool = False,
) -> np.ndarray:
    """``mix`` and then ``blend`` (``keys`` None: no blend), in one pass over the rows: a part's
    rows (4096 pixels of 256 colours: 8 MB) are read and written once instead of twice. With
    ``running_sums`` each row is left as its running sums (entry k: the sum of entries 0..k, left to
    right from 0.0), which the range coder reads an interval from without summing or scanning the
    row (``range_decoder.decode_sums``): those sums are made here while the row is in the cache,
    on every thread, where the coder would make them one row at a time on one."""
    return _run_rows(p, True, prev_idx, w_prev, nbr_idx, w_levels, keys, betas, tables, recent, running_sums)


_INT32 = np.dtype(np.int32)


def _run_rows(
    p, mixing, prev_idx, w_prev, nbr_idx, w_levels, keys, betas, tables, recent, running_sums=False
) -> np.ndarray:
    n = p.shape[0]
    if keys is None:  # the mix alone: every order inactive, empty tables (one kernel type for all)
        keys, betas, tables = [], (0.0,) * MAX_ORDERS, [_EMPTY_TABLE] * MAX_ORDERS
    if recent is None:
        recent = [_EMPTY_TABLE] * len(tables)
    count_types = [t[1].dtype for t in (*tables, *recent)]
    # one type, no copies (int32 counts, the common case, without numpy's promotion: 4 us a call)
    count_type = np.int32 if all(t == _INT32 for t in count_types) else np.result_type(np.int32, *count_types)
    codes = tuple(np.ascontiguousarray(t[0], np.int64) for t in tables)
    r_codes = tuple(np.ascontiguousarray(t[0], np.int64) for t in recent)
    with first_call(_rows):
        return _rows(
            p,
            mixing,
            np.full(n, -1, np.int64) if prev_idx is None else np.asarray(prev_idx, np.int64),
            float(w_prev),
            np.zeros((0, n), np.int64) if nbr_idx is None else np.ascontiguousarray(nbr_idx, np.int64),
            np.zeros(4) if w_levels is None else np.asarray(w_levels, np.float64),
            np.array(keys, np.int64)  # (orders, N): np.stack took 8 times as long
            if keys
            else np.zeros((len(tables), n), np.int64),
            np.asarray(betas, np.float64),
            codes,
            tuple(index_of(c) for c in codes),
            tuple(np.ascontiguousarray(t[1], count_type) for t in tables),
            r_codes,
            tuple(index_of(c) for c in r_codes),
            tuple(np.ascontiguousarray(t[1], count_type) for t in recent),
            running_sums,
        )


#: The mix alone passes an empty table per context order (``MAX_ORDERS``), so that the kernel meets
#: one type whichever step it runs.
_EMPTY_TABLE = (np.zeros(0, np.int64), np.zeros(0, np.int32))


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


@numba.njit(cache=True, nogil=True)
def _merge_to(codes, counts, new, more, out_codes, out_counts):  # pragma: no cover - compiled
    """The sorted unique tables (``codes``, ``counts``) and (``new``, ``more``) merged into the
    first entries of ``out_codes``, ``out_counts`` in one pass from the front; returns the size."""
    m, n = codes.size, new.size
    i = j = w = 0
    while i < m and j < n:
        a, b = codes[i], new[j]
        if a < b:
            out_codes[w], out_counts[w] = a, counts[i]
            i += 1
        elif b < a:
            out_codes[w], out_counts[w] = b, more[j]
            j += 1
        else:
            out_codes[w], out_counts[w] = a, counts[i] + more[j]
            i += 1
            j += 1
        w += 1
    while i < m:
        out_codes[w], out_counts[w] = codes[i], counts[i]
        i += 1
        w += 1
    while j < n:
        out_codes[w], out_counts[w] = new[j], more[j]
        j += 1
        w += 1
    return w


@numba.njit(cache=True, nogil=True)
def _runs(ordered, codes, counts):  # pragma: no cover - compiled
    """The distinct values of the sorted ``ordered`` into ``codes`` (which may be ``ordered``
    itself) and how many times each comes into ``counts``; returns how many there are. Without
    a branch per value: each value and its position go to slot m, the one after the runs found
    so far; a value that starts a run moves m past it, a repeated one is overwritten later. Then
    the runs' starts become counts. m <= i, so ``codes`` may be ``ordered`` (the previous value is
    kept in a variable: its place may have been written). A branch per value, taken at random on
    a table's codes, cost 1.5-4.4 ns a code from a few thousand codes on, this 0.8-1.5; the same
    at a few hundred (bench/results/speed_cli/runs_2026-12-07k.txt)."""
    n = ordered.size
    if n == 0:
        return 0
    prev = ordered[0]
    codes[0] = prev
    counts[0] = 0
    m = 1
    for i in range(1, n):
        v = ordered[i]
        codes[m] = v
        counts[m] = i
        m += v != prev
        prev = v
    for k in range(m - 1):
        counts[k] = counts[k + 1] - counts[k]
    counts[m - 1] = n - counts[m - 1]
    return m


#: Bits of a digit of ``_radix_sort``: 2048 buckets, whose 16 KB of counts stay in the L1 cache;
#: below ``_WIDE_FROM`` codes, 256 buckets (a pass's clearing and sums of 2048 buckets cost more
#: than its codes: a 96x96 clip's 1,593 tables of 72-2,048 codes, 21.8 -> 13.8 ms in all).
_DIGIT_BITS = 11
_NARROW_DIGIT_BITS = 8
_WIDE_FROM = 2048


@numba.njit(cache=True, nogil=True)
def _radix_sort(codes, a, b, bits):  # pragma: no cover - compiled
    """The non-negative int64 ``codes`` sorted ascending, by a least-significant-digit radix sort
    of as many ``bits``-bit digits as the largest code has, into ``a`` or ``b`` (as long as
    ``codes``; the first pass reads ``codes``, the others go back and forth between the two):
    returns 0 where the result is in ``a``, 1 where it is in ``b``. Integers in order: the same
    array as any sort gives."""
    n = codes.size
    mask = (np.int64(1) << bits) - 1
    top = np.int64(0)
    for i in range(n):
        top = max(top, codes[i])
    bucket = np.zeros(np.int64(1) << bits, np.int64)
    src = codes
    dst = a
    into_a = True
    shift = 0
    while True:
        bucket[:] = 0
        for i in range(n):
            bucket[(src[i] >> shift) & mask] += 1
        total = np.int64(0)
        for d in range(bucket.size):
            c = bucket[d]
            bucket[d] = total
            total += c
        for i in range(n):
            v = src[i]
            d = (v >> shift) & mask
            dst[bucket[d]] = v
            bucket[d] += 1
        shift += bits
        if shift >= 63 or (top >> shift) == 0:
            return 0 if into_a else 1
        src = dst
        dst = b if into_a else a
        into_a = not into_a


@numba.njit(cache=True, nogil=True)
def _unique_counts(codes, ordered):  # pragma: no cover - compiled
    """``unique_counts`` in one call: (codes, counts) of new arrays. ``ordered``: the codes are
    sorted already (by numpy), only their runs are counted; else they are sorted here, by numpy's
    sort where a code is negative, else by ``_radix_sort``. One kernel for both ways: a second
    would be a second load at start-up (several ms)."""
    n = codes.size
    a = np.empty(n, np.int64)
    b = np.empty(n, np.int64)
    if ordered:
        m = _runs(codes, a, b)
        return a[:m].copy(), b[:m].copy()
    negative = False
    for i in range(n):
        negative = negative or codes[i] < 0
    if negative:
        a[:] = codes
        a.sort()
        ordered_codes, counts = a, b
    elif _radix_sort(codes, a, b, _DIGIT_BITS if n >= _WIDE_FROM else _NARROW_DIGIT_BITS) == 0:
        ordered_codes, counts = a, b
    else:
        ordered_codes, counts = b, a  # the other buffer takes the counts
    m = _runs(ordered_codes, ordered_codes, counts)  # each distinct value is written at or before its run
    return ordered_codes[:m].copy(), counts[:m].copy()


@numba.njit(cache=True, nogil=True)
def _pending_codes(keys, symbols, out):  # pragma: no cover - compiled
    m = 0
    for i in range(symbols.size):
        s = symbols[i]
        if s < 0:
            continue
        for o in range(keys.shape[0]):
            out[o, m] = (keys[o, i] << _SYMBOL_BITS) | s
        m += 1
    return m


def pending_codes(keys: np.ndarray | list[np.ndarray], symbols: np.ndarray) -> np.ndarray:
    """(orders, M) int64 codes, context key << 8 | symbol, of the pixels whose ``symbols`` are in
    the palette (>= 0), in order: what ``ContextCounts.add`` records, in one call where a shift,
    an or and the palette's mask had been numpy calls per order (2 % of a 96x96 clip's decoding).
    ``keys``: (orders, N) int64, or a list of such rows."""
    keys = np.ascontiguousarray(keys, np.int64)
    symbols = np.ascontiguousarray(symbols, np.int64)
    if keys.ndim != 2 or keys.shape[1] != symbols.size:
        raise ValueError(f"keys of shape {keys.shape} for {symbols.size} symbols")
    out = np.empty(keys.shape, np.int64)
    with first_call(_pending_codes):
        m = _pending_codes(keys, symbols, out)
    return out[:, :m]


class SortChoice:
    """Which sort ``unique_counts`` uses in this process for each size of table, chosen by timing
    both: numpy's and ``_radix_sort``. Both give the same sorted array, so the choice changes no
    table, only the time. Why measure: which is faster depends on the CPU, numpy's build and the
    table's size. On the Intel machine the radix sort was made on (numpy listing AVX512_ICL) numpy's
    sort took 5.6 ms for 130,000 codes and the radix sort 0.5-1.0; on an AMD EPYC with AVX2 (numpy
    2.4's vectorized sort serving it) numpy's took a third to a half of the radix sort's time at a
    pass's few thousand codes, and bikes480's count tables' sorts took 8.7 ms a frame instead of
    14.4 (``bench/sort_ab.py``; ``bench/SPEED.md``, thirty-first session). Why by size: on that
    EPYC numpy's sort took 0.5-0.7 of the radix sort's time on every size of table a 1280x720 clip
    makes (1,000 to 500,000 codes) while on a 96x96 clip's (up to 4,000) the two tie, and one choice
    made on a process's first tables, small ones, kept the radix sort in 7 of 15 processes tried
    (thirty-third session). Tables are classed by their size's bit length (``size_class``); a
    class's tables of at least ``trial_from`` codes are sorted both ways (the same codes, the order
    alternating) until each way has taken ``enough`` seconds there, at least two tables and at most
    ``trials``, and the sort with the smaller total serves every later table of the class; numpy's
    until then. Why time, not tables: eight tables of a pass's 1,000-2,000 codes took 0.2 ms, and
    their sum picked the sort that was the slower over the rest of the run as often as not.
    Smaller tables take the smallest class's choice. Threads that make tables at once may race on the
    sums: that can change which sort is kept, never a table."""

    def __init__(self, trials: int = 64, trial_from: int = 1024, enough: float = 0.002) -> None:
        self.trials = trials
        self.trial_from = trial_from
        self.enough = enough
        self.classes: dict[int, SortTrial] = {}
        self._warm = False

    @staticmethod
    def size_class(size: int) -> int:
        """A table's class: the bit length of its size (1,024-2,047 codes: 11)."""
        return size.bit_length()

    def chosen(self, size: int) -> str | None:
        """The sort chosen for tables of ``size`` codes (None: not yet)."""
        trial = self.classes.get(self.size_class(max(size, self.trial_from)))
        return None if trial is None else trial.chosen

    def unique_counts(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``unique_counts`` of contiguous int64 ``codes`` by the sort chosen for their size, or by
        both while the choice is being measured."""
        key = self.size_class(max(codes.size, self.trial_from))
        trial = self.classes.get(key)
        if trial is None:
            trial = self.classes[key] = SortTrial()
        if trial.chosen is None and codes.size >= self.trial_from:
            return self._timed(trial, codes)
        if trial.chosen == "radix":
            return _radix_unique_counts(codes)
        return _numpy_unique_counts(codes)

    def _timed(self, trial: SortTrial, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ways = [("numpy", _numpy_unique_counts), ("radix", _radix_unique_counts)]
        if trial.timed % 2:
            ways.reverse()
        if not self._warm:  # first calls (the kernel's loading or compiling, numpy's sort) untimed
            for _, way in ways:
                way(codes[: self.trial_from])
            self._warm = True
        for name, way in ways:
            started = time.perf_counter()
            got = way(codes)
            trial.seconds[name] += time.perf_counter() - started
        trial.timed += 1
        if trial.timed >= self.trials or (trial.timed >= 2 and min(trial.seconds.values()) >= self.enough):
            trial.chosen = min(trial.seconds, key=trial.seconds.__getitem__)
        return got


class SortTrial:
    """One size class's timings of the two sorts (seconds in all, tables timed) and its choice."""

    def __init__(self) -> None:
        self.seconds = {"numpy": 0.0, "radix": 0.0}
        self.timed = 0
        self.chosen: str | None = None

    def __repr__(self) -> str:
        ms = ", ".join(f"{name} {s * 1000:.2f} ms" for name, s in self.seconds.items())
        return f"{self.chosen} ({self.timed} tables: {ms})"


def _numpy_unique_counts(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with first_call(_unique_counts):
        return _unique_counts(np.sort(codes), True)


def _radix_unique_counts(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with first_call(_unique_counts):
        return _unique_counts(codes, False)


#: The process's choice of sort for ``unique_counts``.
SORT_CHOICE = SortChoice()


def unique_counts(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(codes, return_counts=True)`` of int64 codes (counts int64): sorted, then one
    compiled pass over the runs, where ``np.unique`` makes a mask, its nonzero positions and
    their differences (six numpy calls: most of a pass's small table's cost, 0.2 s of a 480x270
    clip's decoding). Sorted by numpy or by the compiled radix sort, whichever this CPU runs
    faster at that size (``SortChoice``). The caller's codes stay as they are."""
    return SORT_CHOICE.unique_counts(np.ascontiguousarray(codes, np.int64))


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


def merge_to(
    old: tuple[np.ndarray, np.ndarray],
    new: tuple[np.ndarray, np.ndarray],
    buffers: tuple[np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """``palette_context.merge_reference`` of the tables ``old`` and ``new`` (sorted unique int64
    codes, counts), written into the first entries of ``buffers`` (other arrays, of at least both
    tables' sizes, with a counts type that holds both tables'): one pass, where copying ``old``
    into them and merging ``new`` in place (``merge_into``) reads and writes the table three
    times. Returns the merged views."""
    codes, counts = buffers
    size = old[0].size + new[0].size
    if codes.size < size or counts.size < size:
        raise ValueError(f"buffers of {min(codes.size, counts.size)} entries cannot hold {size}")
    if np.promote_types(np.promote_types(old[1].dtype, new[1].dtype), counts.dtype) != counts.dtype:
        raise ValueError(f"{counts.dtype} counts cannot hold {old[1].dtype} and {new[1].dtype} ones")
    old_counts, new_counts = old[1].astype(counts.dtype, copy=False), new[1].astype(counts.dtype, copy=False)
    with first_call(_merge_to):
        m = _merge_to(
            np.asarray(old[0], np.int64), old_counts, np.asarray(new[0], np.int64), new_counts, codes, counts
        )
    return codes[:m], counts[:m]


@numba.njit(cache=True, nogil=True, inline="always")
def _own_and_total(codes, index, counts, key, symbol):  # pragma: no cover - compiled
    """(count of ``symbol`` after context ``key``, the context's total) in one table (``index``:
    its ``_index``)."""
    lo, hi = _context_range(codes, index, key)
    t = np.int64(0)
    for q in range(lo, hi):
        t += counts[q]
    want = (key << _SYMBOL_BITS) | symbol
    at = _first_at_least_in(codes, lo, hi, want)
    own = np.int64(counts[at]) if at < hi and codes[at] == want else np.int64(0)
    return own, t


@numba.njit(cache=True, nogil=True, parallel=True)
def _true_counts(
    codes, index, counts, r_codes, r_index, r_counts, keys, symbols, own, total
):  # pragma: no cover - compiled
    for i in numba.prange(keys.size):
        n, t = _own_and_total(codes, index, counts, keys[i], symbols[i])
        if r_codes.size:
            r_n, r_t = _own_and_total(r_codes, r_index, r_counts, keys[i], symbols[i])
            n, t = n + r_n, t + r_t
        own[i] = np.float64(n)
        total[i] = np.float64(t)


def true_counts(
    codes: np.ndarray,
    counts: np.ndarray,
    keys: np.ndarray,
    symbols: np.ndarray,
    recent: Table | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``palette_context.ContextCounts.true_counts`` from an order's table (and its ``recent``
    one, whose counts add to it, where given): (count of each pixel's own symbol after its
    context, the context's total), float64."""
    r_codes, r_counts = _EMPTY_TABLE if recent is None else recent
    count_type = np.result_type(counts.dtype, r_counts.dtype)
    own, total = np.empty(keys.size), np.empty(keys.size)
    with first_call(_true_counts):
        _true_counts(
            codes,
            index_of(codes),
            np.asarray(counts, count_type),
            r_codes,
            index_of(r_codes),
            np.asarray(r_counts, count_type),
            np.asarray(keys, np.int64),
            np.asarray(symbols, np.int64),
            own,
            total,
        )
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


#: Pixels of one step of ``_vote_counts`` (its counters stay in the cache).
_VOTE_CHUNK = 1024


@numba.njit(cache=True, nogil=True, parallel=True)
def _vote_counts(nbr_idx, true_idx, hits, count, level):  # pragma: no cover - compiled
    j_count, n = nbr_idx.shape
    for chunk in numba.prange((n + _VOTE_CHUNK - 1) // _VOTE_CHUNK):
        lo, hi = chunk * _VOTE_CHUNK, min(n, (chunk + 1) * _VOTE_CHUNK)
        h = np.zeros(hi - lo, np.int32)
        c = np.zeros(hi - lo, np.int32)
        best = np.zeros(hi - lo, np.int32)
        same = np.empty(hi - lo, np.int32)
        # pixels innermost, one neighbour (pair) at a time, as numpy's passes: loops the compiler
        # turns into vector instructions (per pixel, the branches on each neighbour's validity
        # were a coin toss each)
        for a in range(j_count):
            row = nbr_idx[a, lo:hi]
            for i in range(hi - lo):
                h[i] += row[i] == true_idx[lo + i]
                c[i] += row[i] >= 0
                same[i] = 0
            for b in range(j_count):
                other = nbr_idx[b, lo:hi]
                for i in range(hi - lo):
                    same[i] += other[i] == row[i]
            for i in range(hi - lo):  # only a valid colour counts (what equals it is valid too)
                best[i] = max(best[i], same[i] if row[i] >= 0 else 0)
        for i in range(hi - lo):
            hits[lo + i], count[lo + i], level[lo + i] = h[i], c[i], best[i]


def vote_counts(nbr_idx: np.ndarray, true_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``palette_coding.vote_counts_reference`` of (J, N) neighbour colours (J >= 1) and true
    colours (palette indices or -1): per pixel, how many neighbours are the true colour, how many
    are valid, and how many valid ones share the most common colour, as uint8. In one call, a
    chunk of pixels at a time: numpy's some 70 passes for four neighbours (``agreement``'s pairs)
    were 2 % of a 96x96 encode (a 500-pixel pass 87 us against 12 here, 65,536 pixels 0.63 ms
    against 0.33)."""
    n = nbr_idx.shape[1]
    hits, count, level = np.empty(n, np.uint8), np.empty(n, np.uint8), np.empty(n, np.uint8)
    with first_call(_vote_counts):
        _vote_counts(
            np.ascontiguousarray(nbr_idx, np.int32),
            np.ascontiguousarray(true_idx, np.int32),
            hits,
            count,
            level,
        )
    return hits, count, level
