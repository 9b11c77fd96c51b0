"""Compiled finishing steps of the numpy backend's convolutions (``integer_numpy.py``):
a band of output rows comes out of the GEMMs as one sum per kernel column, and these kernels add
them up, requantize and (for the ConvLSTM's gates) update the cell, in one pass over the band
while it is in the cache, on the thread that made it (``nogil``: the two bands of a conv finish
side by side). In numpy each of those was a pass over the whole frame's array on the main thread.

Every value is an integer below 2^24 and every operation exact (sums within the checked
accumulator bound; a gate, at most 128, times the cell state, at most about 5 x 2^14 after the
window's five steps; multiplications by powers of two, floor, clamps), so the results do not
depend on the order of the additions or the precision the compiler picks: they are the torch
backend's integers (``tests/test_integer_numpy.py``).

Arrays are float32 and C-contiguous: (column sums, rows, channels, columns) for the GEMMs' sums,
(rows, channels, columns) for a band.

Imported on first use: numba takes a moment to load.
"""

from __future__ import annotations

import functools

import numba
import numpy as np

from ..bitstream.table_kernel import first_call
from .integer_spec import CELL_ONE, GATE_ONE

_HALF_GATE = GATE_ONE // 2
_INV_GATE = 1.0 / GATE_ONE
_H_ROUND = 1 << 12  # the hidden output: (o c + 2^12) / 2^13 in 1/256
_INV_H = 1.0 / (1 << 13)


@numba.njit(cache=True, nogil=True, inline="always")
def _gate_row(sums, count, extra, has_extra, r, ch, bias, inv, lo, hi, row):  # pragma: no cover - compiled
    """``row`` = clamp(floor((sum of the column sums + extra + bias) * 2^-n), lo, hi) of output
    row r, channel ch (a pass over the row per term: each loop vectorizes)."""
    width = row.shape[0]
    b = bias[ch]
    if count:
        first = sums[0, r, ch]
        for x in range(width):
            row[x] = first[x] + b
    else:
        for x in range(width):
            row[x] = b
    for d in range(1, count):
        term = sums[d, r, ch]
        for x in range(width):
            row[x] += term[x]
    if has_extra:
        term = extra[r, ch]
        for x in range(width):
            row[x] += term[x]
    s, low, high = inv[ch], lo[ch], hi[ch]
    for x in range(width):
        v = np.floor(row[x] * s)
        if v < low:
            v = low
        if v > high:
            v = high
        row[x] = v


@numba.njit(cache=True, nogil=True)
def requantize_band(sums, count, extra, has_extra, bias, inv, lo, hi, out):  # pragma: no cover - compiled
    """``out`` (rows, O, W) = the layer's output of a band: its ``count`` column sums plus
    ``extra`` (where ``has_extra``) plus the bias, times 2^-n, floored and clamped per channel.
    With bias 0, inv 1 and infinite bounds: the plain sum."""
    rows, channels, _ = out.shape
    for r in range(rows):
        for ch in range(channels):
            _gate_row(sums, count, extra, has_extra, r, ch, bias, inv, lo, hi, out[r, ch])


@numba.njit(cache=True, nogil=True)
def lstm_band(
    sums, count, extra, bias, inv, lo, hi, c_prev, has_prev, h_out, c_out
):  # pragma: no cover - compiled
    """A ConvLSTM step on a band: the gates (i, f, o, g; 4 x hid channels) are the requantized
    sums of the hidden state's ``count`` column sums and the input's products ``extra``; then
    c = floor((f c_prev + 64) / 128) + i g and h = floor((o clamp(c, +-2^14) + 2^12) / 2^13)
    (the torch backend's ``IntegerNet.cell``, the same operations), c_prev 0 where not
    ``has_prev``."""
    rows, hid, width = h_out.shape
    z = np.empty((4, width), np.float32)
    zi, zf, zo, zg = z[0], z[1], z[2], z[3]
    for r in range(rows):
        for j in range(hid):
            for g in range(4):
                _gate_row(sums, count, extra, True, r, g * hid + j, bias, inv, lo, hi, z[g])
            c_row, h_row = c_out[r, j], h_out[r, j]
            if has_prev:
                before = c_prev[r, j]
                for x in range(width):
                    c_row[x] = zf[x] * before[x]
            else:
                for x in range(width):
                    c_row[x] = 0.0
            for x in range(width):
                c = np.floor((c_row[x] + _HALF_GATE) * _INV_GATE) + zi[x] * zg[x]
                c_row[x] = c
                if c < -CELL_ONE:
                    c = -CELL_ONE
                if c > CELL_ONE:
                    c = CELL_ONE
                h_row[x] = np.floor((zo[x] * c + _H_ROUND) * _INV_H)


@functools.cache
def ready() -> None:
    """Load (or, on a machine's first run, compile) both kernels on the calling thread, before
    the convolution threads call them: ``first_call`` is not for threads."""
    channels = np.zeros(4, np.float32)  # bias, 2^-n, lo, hi of four output channels
    params = (channels, channels, channels, channels)
    sums, band, cell = (
        np.zeros((1, 1, 4, 1), np.float32),
        np.zeros((1, 4, 1), np.float32),
        np.zeros((1, 1, 1), np.float32),
    )
    with first_call(requantize_band):
        requantize_band(sums, 1, band, True, *params, band.copy())
    with first_call(lstm_band):
        lstm_band(sums, 1, band, *params, cell, True, cell.copy(), cell.copy())
