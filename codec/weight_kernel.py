"""Compiled kernels for the (pixels x colours) palette weights of format version 4: the rows
(``colour_weights``), and each pixel's true-colour weight with its row sum (``true_weights``, the
encoder's estimate, which needs no rows).

The weights are ``palette_coding.colour_weights``'s rule: per channel the integer frequency of the
colour's value under the pixel's snapped Laplace (the coupled means of ``entropy.coupled_mean_q``),
multiplied over the channels with a right shift by 20 after each product, plus 1. In numpy that is a
dozen passes over (N, K) arrays and most of a palette frame's decoding time; this loop does it in one
pass with the same integer arithmetic (numba compiles it once and caches it next to this file), so
its result is the same integers. ``tests/test_integer_coupling.py`` checks both against the numpy
rule. The loop over a pixel's colours has no branch on the data: a colour whose running product is
0 after two channels goes on to the blue product (0 again: its weight is 1 either way), and the
colours with no channel at 0 or 255 read their bins without the ends' tests (``_bin``); the two
branches, mispredicted where a pixel's colours come near and far in turn, had cost 30 % of the
rows' time (one thread, a 96x96 clip's blocks: 663 -> 463 ns a pixel of 242 colours).

Most colours of a pixel are that far from its mean: a weight above 1 needs the product after blue to reach 1, and green's and blue's
frequencies are at most the tops of their scales' bins, so red's must reach a bound that only a
window of red values around the mean does (``_windows``, per red, green and blue scale). The
kernels visit only the colours whose red lies in the window (the palette sorted by red,
``_order_of``) and those with a channel at an end of its range (their tails are not bins),
and give every other colour 1: the same integers. On a dithered 480x270 GIF the window holds 44 of
a pixel's 256 colours, and the rows take 0.55 the time, the estimate's sums 0.43.

Imported on first use: numba takes a moment to load.
"""

from __future__ import annotations

import functools

import numba
import numpy as np

from ..bitstream import entropy
from ..bitstream.table_kernel import first_call

#: A value's bin reaches half a level (in 1/16) either side of it; the top value in 1/16.
_HALF = entropy.MEAN_STEPS // 2
_TOP = entropy.MEAN_Q_MAX
#: The clamps of a mean (1/16) and a coupling (1/256), as ``entropy.quantize_mean`` and
#: ``quantize_coupling`` clamp.
_MEAN_MIN = entropy.MEAN_Q_MIN
_STEPS = np.float64(entropy.MEAN_STEPS)
_COUPLING_MAX = entropy.COUPLING_MAX


@numba.njit(cache=True, nogil=True, inline="always")
def _bin(s, j, tables):  # pragma: no cover - compiled
    """``_count`` of an interior value (neither 0 nor 255): its bin, without the ends' tests."""
    bins, bin_width, bin_span = tables[0], tables[2], tables[3]
    return np.int64(bins[s * bin_width + bin_span + j])


@numba.njit(cache=True, nogil=True, inline="always")
def _count(s, j, v16, tables):  # pragma: no cover - compiled
    """``entropy.count_rows``'s frequency of a value (16 v = v16) j sixteenths from the mean under
    scale s: ``tables`` = (bins, cdf, bins' row length, bins' centre, cdf's row length, cdf's
    centre, CDF total)."""
    _, cdf, _, _, cdf_width, cdf_half, total = tables
    if v16 == 0:  # the lowest value takes the tail below it
        return cdf[s * cdf_width + cdf_half + j + _HALF] + 1
    if v16 == _TOP:  # the highest value takes the tail above it
        return total - cdf[s * cdf_width + cdf_half + j - _HALF] + 1
    return _bin(s, j, tables)


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
    interior,
):  # pragma: no cover - compiled
    """Colour k's weight at a pixel (its means, coupling and scales unpacked by the caller);
    ``interior`` (a constant): none of the colour's red, green and blue is 0 or 255."""
    v_r, v_g, v_b = np.int64(values16[0, k]), np.int64(values16[1, k]), np.int64(values16[2, k])
    r16 = v_r - m_r
    w = _bin(s_r, r16, tables) if interior else _count(s_r, r16, v_r, tables)
    m_g = min(max((g_base + k0 * r16) >> coupling_shift, 0), mean_max)
    g16 = v_g - m_g
    w = (w * (_bin(s_g, g16, tables) if interior else _count(s_g, g16, v_g, tables))) >> shift
    m_b = min(max((b_base + k1 * r16 + k2 * g16) >> coupling_shift, 0), mean_max)
    b16 = v_b - m_b
    w = (w * (_bin(s_b, b16, tables) if interior else _count(s_b, b16, v_b, tables))) >> shift
    if values16.shape[0] == 4:  # alpha: not coupled
        v_a = np.int64(values16[3, k])
        w = (w * _count(s_a, v_a - m_a, v_a, tables)) >> shift
    return w + 1


@numba.njit(cache=True, nogil=True, inline="always")
def _clamped(v, lo, hi):  # pragma: no cover - compiled
    return min(max(np.int64(v), lo), hi)


@numba.njit(cache=True, nogil=True, inline="always")
def _pixel(i, mean_q, coupling_q, scale_idx, coupling_shift):  # pragma: no cover - compiled
    """Pixel i's means, coupling and scales as ``_weight`` takes them, the means and coupling
    clamped as ``entropy.quantize_mean`` and ``quantize_coupling`` clamp (``_plane``)."""
    one = np.int64(1) << coupling_shift
    rounding = one >> 1
    alpha = mean_q.shape[0] == 4
    return (
        _clamped(mean_q[0, i], _MEAN_MIN, _TOP),
        _clamped(mean_q[1, i], _MEAN_MIN, _TOP) * one + rounding,
        _clamped(mean_q[2, i], _MEAN_MIN, _TOP) * one + rounding,
        _clamped(coupling_q[0, i], -_COUPLING_MAX, _COUPLING_MAX),
        _clamped(coupling_q[1, i], -_COUPLING_MAX, _COUPLING_MAX),
        _clamped(coupling_q[2, i], -_COUPLING_MAX, _COUPLING_MAX),
        np.int64(scale_idx[0, i]),
        np.int64(scale_idx[1, i]),
        np.int64(scale_idx[2, i]),
        np.int64(scale_idx[3, i]) if alpha else np.int64(0),
        _clamped(mean_q[3, i], _MEAN_MIN, _TOP) if alpha else np.int64(0),
    )


@numba.njit(cache=True, nogil=True, inline="always")
def _window(m_r, s_r, s_g, s_b, first, lo, hi):  # pragma: no cover - compiled
    """The positions p0:p1, in the palette's red order, of the colours whose red lies in the window
    of a pixel's red mean ``m_r`` (1/16) and scales: ``_windows``' bounds around it."""
    a, b = m_r + lo[s_r, s_g, s_b], m_r + hi[s_r, s_g, s_b]
    va, vb = max((a + 15) >> 4, 0), min(b >> 4, 255)  # red values v with a <= 16 v <= b
    if va > vb:
        return 0, 0
    return first[va], first[vb + 1]


@numba.njit(cache=True, nogil=True, parallel=True)
def _weights(
    mean_q, coupling_q, scale_idx, values16, tables, shift, coupling_shift, mean_max, order, out, sums
):  # pragma: no cover - compiled
    first, regular, regular16, extremes, lo, hi = order
    for i in numba.prange(mean_q.shape[1]):  # rows are independent: any thread count gives the same integers
        m_r, g_base, b_base, k0, k1, k2, s_r, s_g, s_b, s_a, m_a = _pixel(
            i, mean_q, coupling_q, scale_idx, coupling_shift
        )
        out[i, :] = 1.0  # the colours outside the window
        p0, p1 = _window(m_r, s_r, s_g, s_b, first, lo, hi)
        t = np.int64(out.shape[1] - (p1 - p0) - extremes.size)  # weight 1 each outside the window
        for p in range(p0, p1):  # the window's values side by side in ``regular16``
            w = _weight(
                p, regular16, m_r, g_base, b_base, k0, k1, k2, s_r, s_g, s_b, s_a, m_a, tables, shift,
                coupling_shift, mean_max, True,
            )  # fmt: skip
            out[i, regular[p]] = w
            t += w
        for k in extremes:
            w = _weight(
                k, values16, m_r, g_base, b_base, k0, k1, k2, s_r, s_g, s_b, s_a, m_a, tables, shift,
                coupling_shift, mean_max, False,
            )  # fmt: skip
            out[i, k] = w
            t += w
        if sums.size:
            sums[i] = np.float64(t)
    return out


@numba.njit(cache=True, nogil=True, parallel=True)
def _true_weights(
    mean_q, coupling_q, scale_idx, values16, tables, shift, coupling_shift, mean_max, order, truth, own, total
):  # pragma: no cover - compiled
    first, regular, regular16, extremes, lo, hi = order
    for i in numba.prange(mean_q.shape[1]):
        m_r, g_base, b_base, k0, k1, k2, s_r, s_g, s_b, s_a, m_a = _pixel(
            i, mean_q, coupling_q, scale_idx, coupling_shift
        )
        p0, p1 = _window(m_r, s_r, s_g, s_b, first, lo, hi)
        t = np.int64(regular.size - (p1 - p0))  # weight 1 each outside the window
        for p in range(p0, p1):
            t += _weight(
                p, regular16, m_r, g_base, b_base, k0, k1, k2, s_r, s_g, s_b, s_a, m_a, tables, shift,
                coupling_shift, mean_max, True,
            )  # fmt: skip
        for k in extremes:
            t += _weight(
                k, values16, m_r, g_base, b_base, k0, k1, k2, s_r, s_g, s_b, s_a, m_a, tables, shift,
                coupling_shift, mean_max, False,
            )  # fmt: skip
        k = truth[i]
        if 0 <= k < values16.shape[1]:  # own stays 0 for a truth outside the palette
            own[i] = _weight(
                k, values16, m_r, g_base, b_base, k0, k1, k2, s_r, s_g, s_b, s_a, m_a, tables, shift,
                coupling_shift, mean_max, False,
            )  # fmt: skip
        total[i] = t


@functools.cache
def _windows(shift: int) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi): (scales, scales, scales) int16 offsets (1/16, from the red mean) of the red
    window for red's, green's and blue's scales: outside [lo, hi], red's frequency is too small for
    the product after blue to reach 1 even with green's and blue's largest bins, so a colour there
    (no channel of the three at an end of its range) weighs 1. lo > hi where no red value is."""
    bins = entropy.bin_table().astype(np.int64)
    top = bins.max(axis=1)
    one = 1 << shift
    need_g = -(-one // top)  # per blue scale: the least product after green
    need_r = -(-(need_g[None, :] * one) // top[:, None])  # per (green, blue): red's least frequency
    scales, width = bins.shape
    lo = np.empty((scales, scales, scales), np.int16)
    hi = np.empty((scales, scales, scales), np.int16)
    for s, row in enumerate(bins):  # the first and last bins reaching each bound, from running maxima
        lo[s] = np.searchsorted(np.maximum.accumulate(row), need_r) - entropy.BIN_SPAN
        hi[s] = width - 1 - np.searchsorted(np.maximum.accumulate(row[::-1]), need_r) - entropy.BIN_SPAN
    return lo, hi


def _order_of(palette: np.ndarray, shift: int) -> tuple:
    """The kernels' ``order``: (first, regular, regular16, extremes, lo, hi). ``regular``: the
    colours with none of red, green and blue at 0 or 255, by red; ``regular16``: their values in
    1/16 (as the kernels' ``values16``) in that order, so that a window's colours are read side by
    side, not gathered through ``regular`` (the rows 0.92-0.93 the time on one thread); ``first[v]``:
    how many of them have red below v (v = 0..256); ``extremes``: the others (their tails are not
    bins: always visited)."""
    red = palette[:, 0].astype(np.int64)
    ends = ((palette[:, :3] == 0) | (palette[:, :3] == 255)).any(axis=1)
    regular = np.flatnonzero(~ends)
    regular = regular[np.argsort(red[regular], kind="stable")]
    first = np.searchsorted(red[regular], np.arange(257))
    return (
        first.astype(np.int64),
        regular.astype(np.int64),
        np.ascontiguousarray(palette[regular].T, np.int32) * entropy.MEAN_STEPS,
        np.flatnonzero(ends).astype(np.int64),
        *_windows(shift),
    )


def colour_weights(
    mean_q: np.ndarray,
    coupling_q: np.ndarray,
    scale_idx: np.ndarray,
    palette: np.ndarray,
    shift: int,
    sums: np.ndarray | None = None,
) -> np.ndarray:
    """(N, K) float64 weights of the K ``palette`` colours ((K, C) uint8, C = 3 or 4) at N pixels:
    ``mean_q`` (C, N) means in 1/16, ``coupling_q`` (3, N) coupling in 1/256 (zeros: none),
    ``scale_idx`` (C, N) indices into the scale table; ``shift`` is the right shift after each
    channel's product. ``sums`` ((N,) float64), where given, gets each row's sum (exact: integers
    below 2^53), added up as the row is made: the encoder's estimate needs them, and summing the
    rows again read every row a second time."""
    out = np.empty((mean_q.shape[1], len(palette)), np.float64)
    if sums is None:
        sums = _NO_SUMS
    elif sums.shape != (out.shape[0],) or sums.dtype != np.float64 or not sums.flags.c_contiguous:
        raise ValueError(
            f"row sums of {out.shape[0]} rows need a float64 array of that size, got {sums.shape}"
        )
    with first_call(_weights):
        return _weights(*_arguments(mean_q, coupling_q, scale_idx, palette, shift), out, sums)


_NO_SUMS = np.empty(0, np.float64)


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
    values16, order = _palette_arguments(palette, shift)
    return (
        _plane(mean_q, entropy.MEAN_Q_MIN, entropy.MEAN_Q_MAX),
        _plane(coupling_q, -entropy.COUPLING_MAX, entropy.COUPLING_MAX),
        np.ascontiguousarray(scale_idx, np.int16),
        values16,
        _tables(),
        shift,
        entropy.COUPLING_SHIFT,
        _TOP,
        order,
    )


def _plane(plane: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """A pass's means or coupling as the kernels take them, int16 (every mean in 1/16 and coupling
    in 1/256 fits, as does a scale index): an int16 plane as it is (no copy: a pass of the integer
    network's planes, ``IntegerPrediction.pixels``), a wider one clamped to [lo, hi] first, as
    ``entropy.quantize_mean`` and ``quantize_coupling`` clamp (an in-range plane is unchanged).
    The clamps and int32 copies of each block's three planes had taken as long as a 96x96 pass's
    weights (30 us a call against 35)."""
    if plane.dtype == np.int16:  # the kernels clamp as they read (``_pixel``)
        return np.ascontiguousarray(plane)
    return np.clip(plane, lo, hi).astype(np.int16)


@numba.njit(cache=True, nogil=True)
def _snapped_means(mean, out):  # pragma: no cover - compiled
    for c in range(mean.shape[0]):
        for i in range(mean.shape[1]):
            q = np.rint(np.float64(mean[c, i]) * _STEPS)
            out[c, i] = np.int16(min(max(q, _MEAN_MIN), _TOP))
    return out


def snapped_means(mean: np.ndarray) -> np.ndarray:
    """``entropy.quantize_mean`` of float32 means (C, N), as int16, in one compiled pass: each
    value widened to float64, times 16, rounded half to even and clamped, as numpy does. Palette
    intra's rule gives float means, and numpy's float64 copy, rounding, clamp and narrowing of
    each block had cost as much as a third of its weights (a dithered 480x270 GIF)."""
    mean = np.ascontiguousarray(mean, np.float32)
    if mean.ndim != 2:
        raise ValueError(f"means of shape {mean.shape}, not (channels, pixels)")
    with first_call(_snapped_means):
        return _snapped_means(mean, np.empty(mean.shape, np.int16))


@functools.cache
def _tables() -> tuple:
    """(bins, cdf, bins' row length, bins' centre, cdf's row length, cdf's centre, CDF total)."""
    bins, cdf = entropy.bin_table(), entropy.cdf_table()
    return (
        bins.ravel(),
        cdf.ravel(),
        bins.shape[1],
        entropy.BIN_SPAN,
        cdf.shape[1],
        entropy.CDF_HALF,
        entropy.CDF_TOTAL,
    )


def _palette_arguments(palette: np.ndarray, shift: int) -> tuple[np.ndarray, tuple]:
    """(values16, order): the palette's (C, K) int32 values in 1/16 and ``_order_of`` it, made
    once for the last few palettes: a frame's passes and blocks (a hundred at 480x270) share one."""
    colours = np.ascontiguousarray(palette, np.uint8)
    return _palette_of(colours.tobytes(), colours.shape[1], shift)


@functools.lru_cache(maxsize=4)
def _palette_of(raw: bytes, channels: int, shift: int) -> tuple[np.ndarray, tuple]:
    palette = np.frombuffer(raw, np.uint8).reshape(-1, channels)
    values16 = np.ascontiguousarray(palette.T, np.int32) * entropy.MEAN_STEPS
    return values16, _order_of(palette, shift)
