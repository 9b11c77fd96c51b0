"""Compiled sums of the encoder's parameter searches for a palette frame: the mix field's weights
(``palette_coding.choose_mix_stats``) and the context betas (``modes.palette._choose_betas``), and
the mixed probabilities between them (``palette_coding.mixed_true_p_stats``, exact).

Each search tries a small grid of parameters (8 previous-colour weights times 4 neighbour weights
per agreement level; 16 pairs of betas, then 4 for the repeat context) and keeps the one whose
ideal code length, the sum over the frame's pixels of -log2 of the true colour's probability, is
smallest. In numpy every grid point is a pass over the pixels with several temporaries; here one
pass computes every grid point's sum. The pixels are summed in fixed chunks of CHUNK, in order
within a chunk, and the chunks' sums in order: the same totals for any number of threads. They
may differ from numpy's pairwise sums in the last bits, so a search can break an exact tie the
other way; any choice decodes (the encoder's choice, written in the frame's mix field).

Also the copied blocks' scroll search (``copied_blocks.find_shift``): how many moved pixels each
shift of an axis explains, integers, the same for any order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numba
import numpy as np

from ..bitstream import entropy
from ..bitstream.table_kernel import first_call

if TYPE_CHECKING:
    from .palette_coding import TrueColourStats

#: Pixels per partial sum: small enough that the threads share a sampled frame's 16-43 thousand
#: pixels evenly (16,384 left 43,000 pixels in three chunks on two threads; 2,048 took 0.68 of the
#: time on bikes480's 69 searches, with the same choices).
CHUNK = 1 << 11


def _chunks(n: int) -> int:
    return max(1, -(-n // CHUNK))


def _columns(stats: TrueColourStats) -> tuple[np.ndarray, ...]:
    """The statistics as the kernels take them: contiguous, probabilities float64, flags bool."""
    true_p, has_prev, match, hits, valid, level = stats
    return (
        np.ascontiguousarray(true_p, np.float64),
        np.ascontiguousarray(has_prev, np.bool_),
        np.ascontiguousarray(match, np.bool_),
        np.ascontiguousarray(hits),
        np.ascontiguousarray(valid),
        np.ascontiguousarray(level),
    )


@numba.njit(cache=True, nogil=True, parallel=True)
def _mix_costs(
    true_p, has_prev, match, hits, valid, level, mix_table, nbr_table, floor, out
):  # pragma: no cover
    n = true_p.size
    n_mix, n_nbr = mix_table.size, nbr_table.size
    levels = (out.shape[2] - 1) // n_nbr
    for k in numba.prange(out.shape[0]):
        for i in range(k * CHUNK, min(n, (k + 1) * CHUNK)):
            lv = np.int64(level[i])
            if lv > levels:
                continue
            p = true_p[i]
            m = 1.0 if match[i] else 0.0
            v = np.float64(hits[i]) / np.float64(max(valid[i], 1))  # palette_coding.votes_of
            col = 1 + (lv - 1) * n_nbr
            if not has_prev[i]:  # p1 = p for every previous-colour weight: its bits once, added to each
                if lv == 0:
                    bits = np.log2(max(p, floor))
                    for a in range(n_mix):
                        out[k, a, 0] -= bits
                else:
                    for w in range(n_nbr):
                        wn = nbr_table[w]
                        bits = np.log2(max((1 - wn) * p + wn * v, floor))
                        for a in range(n_mix):
                            out[k, a, col + w] -= bits
                continue
            for a in range(n_mix):
                wp = mix_table[a]
                p1 = (1 - wp) * p + wp * m
                if lv == 0:
                    out[k, a, 0] -= np.log2(max(p1, floor))
                else:
                    for w in range(n_nbr):
                        wn = nbr_table[w]
                        out[k, a, col + w] -= np.log2(max((1 - wn) * p1 + wn * v, floor))
    return out


def mix_costs(
    stats: TrueColourStats,
    mix_table: np.ndarray,
    nbr_table: np.ndarray,
    levels: int,
) -> np.ndarray:
    """(len(mix_table), 1 + levels * len(nbr_table)) bits: per previous-colour weight, column 0
    the pixels without agreeing neighbours (level 0), then per level 1..``levels`` and neighbour
    weight the pixels of that level (pixels above ``levels`` count nowhere); the votes made from
    the hits and valid neighbours as ``palette_coding.votes_of`` makes them."""
    n = stats.true_p.size
    out = np.zeros((_chunks(n), len(mix_table), 1 + levels * len(nbr_table)), np.float64)
    with first_call(_mix_costs):
        _mix_costs(
            *_columns(stats),
            np.asarray(mix_table, np.float64),
            np.asarray(nbr_table, np.float64),
            float(entropy.MIN_PROBABILITY),
            out,
        )
    return out.sum(axis=0)


@numba.njit(cache=True, nogil=True, parallel=True)
def _mixed_p(true_p, has_prev, match, hits, valid, level, w_prev, w_levels, out):  # pragma: no cover
    levels = w_levels.size
    for i in numba.prange(true_p.size):
        p1 = (1 - w_prev) * true_p[i] + w_prev * (1.0 if match[i] else 0.0) if has_prev[i] else true_p[i]
        lv = np.int64(level[i])
        w = w_levels[min(max(lv, 1), levels) - 1] if lv > 0 else 0.0
        out[i] = (1 - w) * p1 + w * (np.float64(hits[i]) / np.float64(max(valid[i], 1)))
    return out


def mixed_p(stats: TrueColourStats, w_prev: float, w_levels: np.ndarray) -> np.ndarray:
    """``palette_coding.mixed_true_p_stats``: each pixel's mixed probability of its true colour,
    in one pass and one output array (float64)."""
    out = np.empty(stats.true_p.size, np.float64)
    with first_call(_mixed_p):
        return _mixed_p(
            *_columns(stats),
            float(w_prev),
            np.asarray(w_levels, np.float64),
            out,
        )


@numba.njit(cache=True, nogil=True, parallel=True)
def _beta_costs(p_true, own, total, fixed, table, pairs, floor, out):  # pragma: no cover
    """Orders 0..len(fixed)-1 blended with the betas ``fixed``, then the next order with each of
    ``table`` (``out[k, b]``), or with ``pairs`` the next two orders with every pair
    (``out[k, b1 * len(table) + b2]``)."""
    n = p_true.size
    n_b = table.size
    first = len(fixed)
    for k in numba.prange(out.shape[0]):
        for i in range(k * CHUNK, min(n, (k + 1) * CHUNK)):
            p = p_true[i]
            for o in range(first):
                b = fixed[o]
                if b > 0:
                    p = (np.float64(own[o][i]) + b * p) / (np.float64(total[o][i]) + b)
            for b1 in range(n_b):
                beta = table[b1]
                p1 = p
                if beta > 0:
                    p1 = (np.float64(own[first][i]) + beta * p) / (np.float64(total[first][i]) + beta)
                if not pairs:
                    out[k, b1] -= np.log2(max(p1, floor))
                    continue
                for b2 in range(n_b):
                    beta2 = table[b2]
                    p2 = p1
                    if beta2 > 0:
                        p2 = (np.float64(own[first + 1][i]) + beta2 * p1) / (
                            np.float64(total[first + 1][i]) + beta2
                        )
                    out[k, b1 * n_b + b2] -= np.log2(max(p2, floor))
    return out


def beta_costs(
    p_true: np.ndarray,
    own: list[np.ndarray],
    total: list[np.ndarray],
    fixed: tuple[float, ...],
    table: tuple[float, ...],
    pairs: bool,
) -> np.ndarray:
    """Bits of ``palette_context.blend_true`` with the orders before ``len(fixed)`` at the betas
    ``fixed`` and: with ``pairs``, the next two orders at every (b1, b2) of ``table``
    ((len(table), len(table)) array); else the next order at every beta of ``table``."""
    n, n_b = p_true.size, len(table)
    used = len(fixed) + (2 if pairs else 1)
    if used > min(len(own), len(total)):
        raise ValueError(f"{used} orders used, counts of {min(len(own), len(total))} given")
    out = np.zeros((_chunks(n), n_b * n_b if pairs else n_b), np.float64)
    with first_call(_beta_costs):
        _beta_costs(  # every order's counts, used or not: one compiled signature for all steps
            np.ascontiguousarray(p_true, np.float64),
            tuple(np.ascontiguousarray(a) for a in own),
            tuple(np.ascontiguousarray(a) for a in total),
            np.asarray(fixed, np.float64),
            np.asarray(table, np.float64),
            bool(pairs),
            float(entropy.MIN_PROBABILITY),
            out,
        )
    sums = out.sum(axis=0)
    return sums.reshape(n_b, n_b) if pairs else sums


@numba.njit(cache=True, nogil=True, parallel=True)
def _shift_gains(prev, ys, xs, values, axis, shifts, gains):  # pragma: no cover - compiled
    h, w = prev.shape
    for k in numba.prange(shifts.size):
        d, n = shifts[k], 0
        for i in range(ys.size):
            y, x = ys[i], xs[i]
            if axis == 0:
                y += d
            else:
                x += d
            if 0 <= y < h and 0 <= x < w and prev[y, x] == values[i]:
                n += 1
        gains[k] = n
    return gains


def shift_gains(
    prev: np.ndarray, ys: np.ndarray, xs: np.ndarray, values: np.ndarray, axis: int, shifts: np.ndarray
) -> np.ndarray:
    """For each of ``shifts`` along ``axis`` (0: rows, 1: columns), how many of the pixels at
    (``ys``, ``xs``) equal ``prev`` (H, W) there shifted by it (outside the frame: not equal), as
    int64: ``copied_blocks.find_shift``'s gains, one pass per shift, no temporaries (in numpy a
    480x270 frame's 1.4 million (shift, pixel) pairs took 11 ms)."""
    gains = np.zeros(shifts.size, np.int64)
    with first_call(_shift_gains):
        return _shift_gains(
            np.ascontiguousarray(prev),
            np.ascontiguousarray(ys, np.int64),
            np.ascontiguousarray(xs, np.int64),
            np.ascontiguousarray(values, prev.dtype),
            int(axis),
            np.ascontiguousarray(shifts, np.int64),
            gains,
        )
