"""Compiled kernel for the (pixels x colours) palette weights of format version 4.

The weights are ``palette_coding.colour_weights``'s rule: per channel the integer frequency of the
colour's value under the pixel's snapped Laplace (the coupled means of ``entropy.coupled_mean_q``),
multiplied over the channels with a right shift by 20 after each product, plus 1. In numpy that is a
dozen passes over (N, K) arrays and most of a palette frame's decoding time; this loop does it in one
pass with the same integer arithmetic (numba compiles it once and caches it next to this file), so
its result is the same integers. ``tests/test_integer_coupling.py`` checks it against the numpy rule.
Imported on first use: numba takes a moment to load.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Iterator

import numba
import numpy as np

from ..bitstream import entropy

#: A value's bin reaches half a level (in 1/16) either side of it; the top value in 1/16.
_HALF = entropy.MEAN_STEPS // 2
_TOP = entropy.SYMBOL_MAX * entropy.MEAN_STEPS


@numba.njit(cache=True, nogil=True, inline="always")
def _count(s, j, v16, tables):  # pragma: no cover - compiled
    """``entropy.count_rows``'s frequency of a value (16 v = v16) j sixteenths from the mean under
    scale s: ``tables`` = (bins, cdf, bins' row length, bins' centre, cdf's row length, cdf's
    centre, CDF total)."""
    bins, cdf, bin_width, bin_span, cdf_width, cdf_half, total = tables
    if v16 == 0:  # the lowest value takes the tail below it
        return cdf[s * cdf_width + cdf_half + j + _HALF] + 1
    if v16 == _TOP:  # the highest value takes the tail above it
        return total - cdf[s * cdf_width + cdf_half + j - _HALF] + 1
    return np.int64(bins[s * bin_width + bin_span + j])


@numba.njit(cache=True, nogil=True, parallel=True)
def _weights(
    mean_q, coupling_q, scale_idx, values16, tables, shift, coupling_shift, mean_max, out
):  # pragma: no cover - compiled
    channels, n = mean_q.shape
    k_count = values16.shape[1]
    one = np.int64(1) << coupling_shift
    rounding = one >> 1
    for i in numba.prange(n):  # rows are independent: any thread count gives the same integers
        m_r = np.int64(mean_q[0, i])
        g_base = np.int64(mean_q[1, i]) * one + rounding
        b_base = np.int64(mean_q[2, i]) * one + rounding
        k0, k1, k2 = np.int64(coupling_q[0, i]), np.int64(coupling_q[1, i]), np.int64(coupling_q[2, i])
        s_r, s_g, s_b = np.int64(scale_idx[0, i]), np.int64(scale_idx[1, i]), np.int64(scale_idx[2, i])
        for k in range(k_count):
            v_r, v_g, v_b = np.int64(values16[0, k]), np.int64(values16[1, k]), np.int64(values16[2, k])
            r16 = v_r - m_r
            w = _count(s_r, r16, v_r, tables)
            m_g = min(max((g_base + k0 * r16) >> coupling_shift, 0), mean_max)
            g16 = v_g - m_g
            w = (w * _count(s_g, g16, v_g, tables)) >> shift
            if w == 0:  # a colour far from the mean: every later product is 0 too
                out[i, k] = 1
                continue
            m_b = min(max((b_base + k1 * r16 + k2 * g16) >> coupling_shift, 0), mean_max)
            w = (w * _count(s_b, v_b - m_b, v_b, tables)) >> shift
            if channels == 4:  # alpha: not coupled
                v_a = np.int64(values16[3, k])
                s_a, m_a = np.int64(scale_idx[3, i]), np.int64(mean_q[3, i])
                w = (w * _count(s_a, v_a - m_a, v_a, tables)) >> shift
            out[i, k] = w + 1
    return out


def colour_weights(
    mean_q: np.ndarray, coupling_q: np.ndarray, scale_idx: np.ndarray, palette: np.ndarray, shift: int
) -> np.ndarray:
    """(N, K) float64 weights of the K ``palette`` colours ((K, C) uint8, C = 3 or 4) at N pixels:
    ``mean_q`` (C, N) means in 1/16, ``coupling_q`` (3, N) coupling in 1/256 (zeros: none),
    ``scale_idx`` (C, N) indices into the scale table; ``shift`` is the right shift after each
    channel's product."""
    bins, cdf = entropy.bin_table(), entropy.cdf_table()
    tables = (
        bins.ravel(),
        cdf.ravel(),
        bins.shape[1],
        entropy.BIN_SPAN,
        cdf.shape[1],
        entropy.CDF_HALF,
        entropy.CDF_TOTAL,
    )
    out = np.empty((mean_q.shape[1], len(palette)), np.float64)
    values16 = np.ascontiguousarray(palette.T, np.int32) * entropy.MEAN_STEPS
    with first_call(_weights):
        return _weights(
            np.ascontiguousarray(mean_q, np.int32),
            np.ascontiguousarray(coupling_q, np.int32),
            np.ascontiguousarray(scale_idx, np.int32),
            values16,
            tables,
            shift,
            entropy.COUPLING_SHIFT,
            _TOP,
            out,
        )


@contextlib.contextmanager
def first_call(kernel) -> Iterator[None]:
    """Around the first call, which loads the compiled kernel from numba's cache: numba then loads
    its type registries, and one of them imports scipy.linalg (a quarter of a second) only to learn
    whether jitted ``np.dot`` can use BLAS. These kernels use no BLAS, so scipy.linalg is hidden for
    that moment (when nothing has imported it yet) and numba records "no BLAS"; scipy.linalg
    imports normally afterwards."""
    hide = not kernel.signatures and "scipy.linalg" not in sys.modules
    if hide:
        sys.modules["scipy.linalg"] = None  # an import of it raises ImportError
    try:
        yield
    finally:
        if hide and sys.modules.get("scipy.linalg", 0) is None:
            del sys.modules["scipy.linalg"]
