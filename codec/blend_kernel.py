"""Compiled kernel for ``palette_context.blend_sparse``: the context counts' blend, one pass over the rows.

In numpy the blend is two binary searches per pixel and order, the expansion of every (pixel, colour,
count) triple into arrays, and scattered adds, most of a palette part's time after the model rows.
This loop looks each pixel's contexts up in the sorted count tables and adds their counts in place,
with the same float64 operations in the same order as ``palette_context.blend_sparse_reference``
(no fast-math, so no reassociation or fused multiply-adds), hence the same rows, bit for bit
(``tests/test_blend_kernel.py``). Imported on first use, like ``weight_kernel``.
"""

from __future__ import annotations

import numba
import numpy as np

from .weight_kernel import first_call

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


def blend(
    p: np.ndarray,
    keys: list[np.ndarray],
    betas: tuple[float, ...],
    tables: list[tuple[np.ndarray, np.ndarray]],
) -> np.ndarray:
    """Blend float64 rows ``p`` (N, K) in place with the counts of ``tables`` (per order: sorted
    codes and their counts, int64) after the pixels' context ``keys``."""
    with first_call(_blend):
        return _blend(
            p,
            np.stack([np.asarray(k, np.int64) for k in keys]),
            np.asarray(betas, np.float64),
            tuple(np.ascontiguousarray(t[0], np.int64) for t in tables),
            tuple(np.ascontiguousarray(t[1], np.int64) for t in tables),
        )
