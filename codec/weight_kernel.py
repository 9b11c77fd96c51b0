"""Compiled kernels for the (pixels x colours) palette weights of format version 4: the rows
(``colour_weights``), and each pixel's true-colour weight with its row sum (``true_weights``, the
encoder's estimate, which needs no rows).

The weights are ``palette_coding.colour_weights``'s rule: per channel the integer frequency of the
colour's value under the pixel's snapped Laplace (the coupled means of ``entropy.coupled_mean_q``),
multiplied over the channels with a right shift by 20 after each product, plus 1. In numpy that is a
dozen passes over (N, K) arrays and most of a palette frame's decoding time; this loop does it in one
pass with the same integer arithmetic (numba compiles it once and caches it next to this file), so
its result is the same integers (a colour whose running product is 0 after two channels stops there:
its weight is 1 whatever follows). ``tests/test_integer_coupling.py`` checks both against the numpy
rule.
Imported on first use: numba takes a moment to load.
"""

from __future__ import annotations

import numba
import numpy as np

from ..bitstream import entropy
from ..bitstream.table_kernel import first_call

#: A value's bin reaches half a level (in 1/16) either side of it; the top value in 1/16.
_HALF = entropy.MEAN_STEPS // 2
_TOP = entropy.MEAN_Q_MAX


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


@numba.njit(cache=True, nogil=True, inline="always")
def _weight(
    k,
    values16,
    m_r,
    g_base,
    b_base,
    k0,
    k1,
    k2,
    s_r,
    s_g,
    s_b,
    s_a,
    m_a,
    tables,
    shift,
    coupling_shift,
    mean_max,
):  # pragma: no cover - compiled
    """Colour k's weight at a pixel (its means, coupling and scales unpacked by the caller)."""
    v_r, v_g, v_b = np.int64(values16[0, k]), np.int64(values16[1, k]), np.int64(values16[2, k])
    r16 = v_r - m_r
    w = _count(s_r, r16, v_r, tables)
    m_g = min(max((g_base + k0 * r16) >> coupling_shift, 0), mean_max)
    g16 = v_g - m_g
    w = (w * _count(s_g, g16, v_g, tables)) >> shift
    if w == 0:  # a colour far from the mean: every later product is 0 too
        return np.int64(1)
    m_b = min(max((b_base + k1 * r16 + k2 * g16) >> coupling_shift, 0), mean_max)
    w = (w * _count(s_b, v_b - m_b, v_b, tables)) >> shift
    if values16.shape[0] == 4:  # alpha: not coupled
        v_a = np.int64(values16[3, k])
        w = (w * _count(s_a, v_a - m_a, v_a, tables)) >> shift
    return w + 1


@numba.njit(cache=True, nogil=True, inline="always")
def _pixel(i, mean_q, coupling_q, scale_idx, coupling_shift):  # pragma: no cover - compiled
    """Pixel i's means, coupling and scales as ``_weight`` takes them."""
    one = np.int64(1) << coupling_shift
    rounding = one >> 1
    alpha = mean_q.shape[0] == 4
    return (
        np.int64(mean_q[0, i]),
        np.int64(mean_q[1, i]) * one + rounding,
        np.int64(mean_q[2, i]) * one + rounding,
        np.int64(coupling_q[0, i]),
        np.int64(coupling_q[1, i]),
        np.int64(coupling_q[2, i]),
        np.int64(scale_idx[0, i]),
        np.int64(scale_idx[1, i]),
        np.int64(scale_idx[2, i]),
        np.int64(scale_idx[3, i]) if alpha else np.int64(0),
        np.int64(mean_q[3, i]) if alpha else np.int64(0),
    )


@numba.njit(cache=True, nogil=True, parallel=True)
def _weights(
    mean_q, coupling_q, scale_idx, values16, tables, shift, coupling_shift, mean_max, out
):  # pragma: no cover - compiled
    for i in numba.prange(mean_q.shape[1]):  # rows are independent: any thread count gives the same integers
        m_r, g_base, b_base, k0, k1, k2, s_r, s_g, s_b, s_a, m_a = _pixel(
            i, mean_q, coupling_q, scale_idx, coupling_shift
        )
        for k in range(values16.shape[1]):
            out[i, k] = _weight(
                k, values16, m_r, g_base, b_base, k0, k1, k2, s_r, s_g, s_b, s_a, m_a, tables, shift,
                coupling_shift, mean_max,
            )  # fmt: skip
    return out


@numba.njit(cache=True, nogil=True, parallel=True)
def _true_weights(
    mean_q, coupling_q, scale_idx, values16, tables, shift, coupling_shift, mean_max, truth, own, total
):  # pragma: no cover - compiled
    for i in numba.prange(mean_q.shape[1]):
        m_r, g_base, b_base, k0, k1, k2, s_r, s_g, s_b, s_a, m_a = _pixel(
            i, mean_q, coupling_q, scale_idx, coupling_shift
        )
        t = np.int64(0)
        for k in range(values16.shape[1]):
            w = _weight(
                k, values16, m_r, g_base, b_base, k0, k1, k2, s_r, s_g, s_b, s_a, m_a, tables, shift,
                coupling_shift, mean_max,
            )  # fmt: skip
            t += w
            if k == truth[i]:
                own[i] = w
        total[i] = t


def colour_weights(
    mean_q: np.ndarray, coupling_q: np.ndarray, scale_idx: np.ndarray, palette: np.ndarray, shift: int
) -> np.ndarray:
    """(N, K) float64 weights of the K ``palette`` colours ((K, C) uint8, C = 3 or 4) at N pixels:
    ``mean_q`` (C, N) means in 1/16, ``coupling_q`` (3, N) coupling in 1/256 (zeros: none),
    ``scale_idx`` (C, N) indices into the scale table; ``shift`` is the right shift after each
    channel's product."""
    out = np.empty((mean_q.shape[1], len(palette)), np.float64)
    with first_call(_weights):
        return _weights(*_arguments(mean_q, coupling_q, scale_idx, palette, shift), out)


def true_weights(
    mean_q: np.ndarray,
    coupling_q: np.ndarray,
    scale_idx: np.ndarray,
    palette: np.ndarray,
    shift: int,
    truth: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(weight of colour ``truth[i]``, sum of the row) per pixel, int64, without building the
    (N, K) rows of ``colour_weights``: what the encoder's estimate needs of them."""
    n = mean_q.shape[1]
    own, total = np.zeros(n, np.int64), np.empty(n, np.int64)  # own stays 0 for a truth outside the palette
    with first_call(_true_weights):
        _true_weights(
            *_arguments(mean_q, coupling_q, scale_idx, palette, shift),
            np.ascontiguousarray(truth, np.int64),
            own,
            total,
        )
    return own, total


def _arguments(mean_q, coupling_q, scale_idx, palette, shift) -> tuple:
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
    return (
        np.ascontiguousarray(mean_q, np.int32),
        np.ascontiguousarray(coupling_q, np.int32),
        np.ascontiguousarray(scale_idx, np.int32),
        np.ascontiguousarray(palette.T, np.int32) * entropy.MEAN_STEPS,
        tables,
        shift,
        entropy.COUPLING_SHIFT,
        _TOP,
    )
