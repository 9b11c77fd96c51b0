"""Compiled rows of the integer Laplace tables: ``entropy.table_rows`` (every value of the range),
``entropy.window_rows`` (a window of values around the mean and an escape symbol),
``entropy.single_window`` (a batch's window chosen and built in one call) and
``entropy.escape_rows`` (whole rows less a window, for the values that escaped it).

Why: these rows are what the RGB modes and the planar frames hand constriction, 256 or up to 128
entries a sample, and in numpy each is several passes over (samples x values) arrays (a gather,
a difference, a sum, the tails' columns): the largest part of decoding a planar frame. These loops
build each sample's row at once from the same integer tables (``entropy.cdf_table`` and
``entropy.bin_table``), so the rows are the same integers (``tests/test_table_kernel.py`` checks
them against the numpy references). Imported on first use: numba takes a moment to load, and the
container's own code never needs it.

``first_call`` is shared by every compiled kernel of the package (``codec``'s too).
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterator

import numba
import numpy as np

from . import cache_loading, compile_note, entropy

#: The tables' constants, as the kernels read them (numba freezes module globals).
_STEPS = entropy.MEAN_STEPS
_HALF = entropy.MEAN_STEPS // 2  # a value's bin reaches half a level (in 1/16) either side of it
_BIN_SPAN = entropy.BIN_SPAN
_CDF_HALF = entropy.CDF_HALF
_CDF_TOTAL = entropy.CDF_TOTAL
_SYMBOL_MIN, _SYMBOL_MAX = entropy.SYMBOL_MIN, entropy.SYMBOL_MAX


@numba.njit(cache=True, nogil=True, inline="always")
def _table_row(m, s, lo, hi, bins, bin_width, cdf, cdf_width, total, row):  # pragma: no cover - compiled
    """``entropy.count_rows`` of every value lo..hi at mean ``m`` and scale index ``s``, into ``row``:
    interior values from the bins, the two end values with their tails from the cumulative counts."""
    b = s * bin_width + _BIN_SPAN - m
    c = s * cdf_width + _CDF_HALF - m
    row[0] = cdf[c + lo * _STEPS + _HALF] + 1
    for k in range(1, hi - lo):
        row[k] = bins[b + (lo + k) * _STEPS]
    row[hi - lo] = total - cdf[c + hi * _STEPS - _HALF] + 1


@numba.njit(cache=True, nogil=True, inline="always")
def _window_row(m, s, radius, cdf, cdf_width, total, full, row):  # pragma: no cover - compiled
    """The window's row at mean ``m`` and scale index ``s`` into ``row`` (the counts between
    consecutive bin edges, clipped to the table, plus 1; the ends of the range take their tails),
    then the escape's mass, what the window leaves of the whole row's; returns the window's first
    value."""
    width = 2 * radius + 1
    top = _SYMBOL_MAX - 2 * radius
    base = s * cdf_width + _CDF_HALF
    lo = window_start(m, radius)
    edge = lo * _STEPS - _HALF - m
    below = 0 if lo == _SYMBOL_MIN else cdf[base + min(max(edge, -_CDF_HALF), _CDF_HALF)]
    mass = 0
    for k in range(width):
        edge += _STEPS
        if k == width - 1 and lo == top:
            above = total
        else:
            above = cdf[base + min(max(edge, -_CDF_HALF), _CDF_HALF)]
        count = above - below + 1
        row[k] = count
        mass += count
        below = above
    row[width] = full - mass
    return lo


#: Phased cumulative counts (``phased_cdf``): a scale's edges in 16 phases (edge mod 16) of
#: PHASE_SPAN consecutive steps of 16 each, the first step at edge -PHASE_SPAN / 2 * 16.
PHASE_SPAN = 2 * (_CDF_HALF // _STEPS + 1)
_PHASE_ZERO = PHASE_SPAN // 2


def phased_cdf() -> np.ndarray:
    """The cumulative counts (``entropy.cdf_table``) laid out for ``value_prefix``: flat, with
    entry ``(s * 16 + (e & 15)) * PHASE_SPAN + (e >> 4) + PHASE_SPAN / 2`` holding scale s's count at
    edge e (-CDF_HALF..CDF_HALF). A row's edges are 16 apart, so in ``cdf_table``'s layout each is
    on a cache line of its own; here they are consecutive (cached: 4 MB)."""
    global _PHASED
    if _PHASED is None:
        cdf = entropy.cdf_table()
        edges = np.arange(-_PHASE_ZERO * _STEPS, _PHASE_ZERO * _STEPS)  # every (phase, step) pair
        table = cdf[:, np.clip(edges, -_CDF_HALF, _CDF_HALF) + _CDF_HALF]  # (S, steps * 16), edge order
        phased = table.reshape(cdf.shape[0], PHASE_SPAN, _STEPS).transpose(0, 2, 1)  # (S, phase, step)
        _PHASED = np.ascontiguousarray(phased).ravel()
    return _PHASED


_PHASED: np.ndarray | None = None
#: Values of a pixel row, and a whole row's mass (every value's frequency summed).
VALUES = _SYMBOL_MAX - _SYMBOL_MIN + 1
FULL = entropy.FULL_MASS


@numba.njit(cache=True, nogil=True, inline="always")
def value_prefix(v, m, s, phased):  # pragma: no cover - compiled
    """The frequencies f(0) + ... + f(v - 1) of a whole row (mean ``m``, scale index ``s``), v in
    0..256: they telescope to the cumulative count at the edge 16 v - 8 - m, plus one per value."""
    if v <= 0:
        return 0
    if v >= VALUES:
        return FULL
    edge = v * _STEPS - _HALF - m
    return phased[(s * _STEPS + (edge & (_STEPS - 1))) * PHASE_SPAN + (edge >> 4) + _PHASE_ZERO] + v


@numba.njit(cache=True, nogil=True, inline="always")
def cdf_at(s, edge, phased):  # pragma: no cover - compiled
    """Scale index ``s``'s cumulative count at ``edge`` (1/16 of a value from the mean), the edge
    clamped to +-CDF_HALF: ``entropy._cdf_at`` read from ``phased_cdf``'s layout."""
    e = min(max(edge, -_CDF_HALF), _CDF_HALF)
    return phased[(s * _STEPS + (e & (_STEPS - 1))) * PHASE_SPAN + (e >> 4) + _PHASE_ZERO]


@numba.njit(cache=True, nogil=True, inline="always")
def low_bits_row(c, mean_q, s, parts, phased, row):  # pragma: no cover - compiled
    """Fill ``row[:parts]`` with one sample's ``entropy.low_bits_rows`` row: the table counts (scale
    index ``s``) between the edges of the ``parts`` equal parts of top value ``c``'s bin (mean
    ``mean_q``), plus 1; c = 0 and 255 take the tails. The encoder's and decoder's (compiled) row."""
    step = _STEPS // parts
    start = _STEPS * c - _HALF - mean_q
    prev = 0 if c == _SYMBOL_MIN else cdf_at(s, start, phased)
    for j in range(1, parts + 1):
        cur = _CDF_TOTAL if j == parts and c == _SYMBOL_MAX else cdf_at(s, start + step * j, phased)
        row[j - 1] = np.float64(cur - prev + 1)
        prev = cur


@numba.njit(cache=True, nogil=True, inline="always")
def window_start(m, radius):  # pragma: no cover - compiled
    """The first value of the window of ``radius`` around mean ``m`` (1/16), kept inside 0..255."""
    return min(max(((m + _HALF) >> 4) - radius, _SYMBOL_MIN), _SYMBOL_MAX - 2 * radius)


@numba.njit(cache=True, nogil=True, inline="always")
def widest_radius(scale_idx, start, stop, window_of_scale):  # pragma: no cover - compiled
    """The one window radius of the batch ``scale_idx[start:stop]`` (``entropy.single_window``):
    the widest any of its samples needs, or 0 (whole rows) if one needs no window."""
    radius = 0
    for i in range(start, stop):
        r = window_of_scale[scale_idx[i]]
        if r == 0:
            return 0
        radius = max(radius, r)
    return radius


@numba.njit(cache=True, nogil=True, parallel=True)
def _table_rows(
    mean_q, scale_idx, lo, hi, bins, bin_width, cdf, cdf_width, total, out
):  # pragma: no cover - compiled
    """``entropy.count_rows`` of every value lo..hi."""
    for i in numba.prange(mean_q.size):
        _table_row(mean_q[i], scale_idx[i], lo, hi, bins, bin_width, cdf, cdf_width, total, out[i])


@numba.njit(cache=True, nogil=True, parallel=True)
def _window_rows(
    mean_q, scale_idx, radius, cdf, cdf_width, total, full, out_lo, out
):  # pragma: no cover - compiled
    """``entropy.window_rows_reference``: per sample the window's first value and its row."""
    for i in numba.prange(mean_q.size):
        out_lo[i] = _window_row(mean_q[i], scale_idx[i], radius, cdf, cdf_width, total, full, out[i])


@numba.njit(cache=True, nogil=True, inline="always")
def fill_single_window(
    mean_q, scale_idx, radius, window_of_scale, bins, bin_width, cdf, cdf_width, total, full, out_lo
):  # pragma: no cover - compiled
    """(radius, rows) of one batch in one window (``entropy.single_window``): with ``radius`` < 0,
    the widest that any of its samples needs (0, whole rows, where one needs them). The rows are
    allocated here, once the width is known (whole rows would take twice the widest window's).
    Inlined into the kernels that call it (``codec.planar_kernel``'s wavefronts too), its loops
    run on their threads."""
    n = mean_q.size
    if radius < 0:
        radius = widest_radius(scale_idx, 0, n, window_of_scale)
    if radius == 0:
        rows = np.empty((n, _SYMBOL_MAX - _SYMBOL_MIN + 1), np.float64)
        for i in numba.prange(n):
            out_lo[i] = _SYMBOL_MIN
            _table_row(
                mean_q[i],
                scale_idx[i],
                _SYMBOL_MIN,
                _SYMBOL_MAX,
                bins,
                bin_width,
                cdf,
                cdf_width,
                total,
                rows[i],
            )
    else:
        rows = np.empty((n, 2 * radius + 2), np.float64)
        for i in numba.prange(n):
            out_lo[i] = _window_row(mean_q[i], scale_idx[i], radius, cdf, cdf_width, total, full, rows[i])
    return radius, rows


@numba.njit(cache=True, nogil=True, parallel=True)
def _single_window(
    mean_q, scale_idx, radius, window_of_scale, bins, bin_width, cdf, cdf_width, total, full, out_lo
):  # pragma: no cover - compiled
    return fill_single_window(
        mean_q, scale_idx, radius, window_of_scale, bins, bin_width, cdf, cdf_width, total, full, out_lo
    )


@numba.njit(cache=True, nogil=True, parallel=True)
def _escape_rows(
    mean_q, scale_idx, lo, width, bins, bin_width, cdf, cdf_width, total, out
):  # pragma: no cover - compiled
    """Whole rows with the values lo .. lo + width - 1 of each sample's window set to 0."""
    for i in numba.prange(mean_q.size):
        _table_row(
            mean_q[i], scale_idx[i], _SYMBOL_MIN, _SYMBOL_MAX, bins, bin_width, cdf, cdf_width, total, out[i]
        )
        for v in range(max(lo[i], _SYMBOL_MIN), min(lo[i] + width[i], _SYMBOL_MAX + 1)):
            out[i, v - _SYMBOL_MIN] = 0.0


def laplace_tables() -> tuple[np.ndarray, int, np.ndarray, int, int]:
    """The integer tables as the kernels read them: (bins, a scale's bins, cumulative counts, a
    scale's cumulative counts, their total)."""
    bins, cdf = entropy.bin_table(), entropy.cdf_table()
    return bins.ravel(), bins.shape[1], cdf.ravel(), cdf.shape[1], entropy.CDF_TOTAL


def table_rows(mean_q: np.ndarray, scale_idx: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """(N, hi - lo + 1) float64 rows: ``entropy.table_rows_reference``'s integers."""
    mean_q = np.ascontiguousarray(mean_q, np.int64).ravel()
    out = np.empty((mean_q.size, hi - lo + 1), np.float64)
    with first_call(_table_rows):
        _table_rows(
            mean_q,
            np.ascontiguousarray(scale_idx, np.int64).ravel(),
            lo,
            hi,
            *laplace_tables(),
            out,
        )
    return out


def window_rows(mean_q: np.ndarray, scale_idx: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """(first value of each window, (N, 2 radius + 2) float64 rows): ``entropy.window_rows_reference``'s."""
    mean_q = np.ascontiguousarray(mean_q, np.int64).ravel()
    cdf = entropy.cdf_table()
    lo = np.empty(mean_q.size, np.int64)
    out = np.empty((mean_q.size, 2 * radius + 2), np.float64)
    with first_call(_window_rows):
        _window_rows(
            mean_q,
            np.ascontiguousarray(scale_idx, np.int64).ravel(),
            radius,
            cdf.ravel(),
            cdf.shape[1],
            entropy.CDF_TOTAL,
            entropy.FULL_MASS,
            lo,
            out,
        )
    return lo, out


def single_window(
    mean_q: np.ndarray, scale_idx: np.ndarray, radius: int = -1
) -> tuple[int, np.ndarray, np.ndarray]:
    """(radius, first value of each window, rows): ``entropy.single_window``'s, in one call."""
    mean_q = np.ascontiguousarray(mean_q, np.int64).ravel()
    lo = np.empty(mean_q.size, np.int64)
    with first_call(_single_window):
        radius, rows = _single_window(
            mean_q,
            np.ascontiguousarray(scale_idx, np.int64).ravel(),
            radius,
            entropy.WINDOW_OF_SCALE,
            *laplace_tables(),
            entropy.FULL_MASS,
            lo,
        )
    return int(radius), lo, rows


def escape_rows(mean_q: np.ndarray, scale_idx: np.ndarray, lo: np.ndarray, width: np.ndarray) -> np.ndarray:
    """(N, 256) float64 rows: ``entropy.escape_rows_reference``'s."""
    mean_q = np.ascontiguousarray(mean_q, np.int64).ravel()
    out = np.empty((mean_q.size, _SYMBOL_MAX - _SYMBOL_MIN + 1), np.float64)
    with first_call(_escape_rows):
        _escape_rows(
            mean_q,
            np.ascontiguousarray(scale_idx, np.int64).ravel(),
            np.ascontiguousarray(lo, np.int64).ravel(),
            np.ascontiguousarray(width, np.int64).ravel(),
            *laplace_tables(),
            out,
        )
    return out


#: The kernels that have been called once (``first_call``): asking numba for a dispatcher's
#: ``signatures`` costs some 16 us (it hashes every type), and the kernels are called tens of
#: thousands of times per clip.
_CALLED: set[int] = set()


def _cached(kernel) -> bool:
    """Whether numba's cache holds ``kernel`` (its index file exists; a stale one, after the source
    changed, counts as cached). Anything else than a caching dispatcher counts as cached."""
    index = getattr(getattr(getattr(kernel, "_cache", None), "_cache_file", None), "_index_path", None)
    return index is None or os.path.exists(index)


#: What ``first_call`` gives for every later call: a shared context that does nothing.
_LATER_CALL = contextlib.nullcontext()


def first_call(kernel) -> contextlib.AbstractContextManager:
    """Around the first call, which loads the compiled kernel from numba's cache, without numba's
    lowering registries (``cache_loading``). Where the cache does not hold the kernel, numba
    compiles it instead (a machine's first run), and the CLI's note comes first
    (``compile_note``); numba then loads its registries, and one of them imports scipy.linalg (a
    quarter of a second) only to learn whether jitted ``np.dot`` can use BLAS. These kernels use no
    BLAS, so scipy.linalg is hidden for that moment (when nothing has imported it yet) and numba
    records "no BLAS"; scipy.linalg imports normally afterwards. Later
    calls get a context that does nothing (0.13 us, not a generator's 0.77: a 320x240 clip's
    encode of 22 frames makes 16,000 kernel calls)."""
    if id(kernel) in _CALLED:
        return _LATER_CALL
    return _loading(kernel)


@contextlib.contextmanager
def _loading(kernel) -> Iterator[None]:
    cache_loading.install()
    if not kernel.signatures and not _cached(kernel):
        compile_note.before_compile()
    hide = not kernel.signatures and "scipy.linalg" not in sys.modules
    if hide:
        sys.modules["scipy.linalg"] = None  # an import of it raises ImportError
    try:
        yield
    finally:
        if hide and sys.modules.get("scipy.linalg", 0) is None:
            del sys.modules["scipy.linalg"]
        _CALLED.add(id(kernel))
