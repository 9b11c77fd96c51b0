"""Compiled kernels for JPEG-level coding's integers (``dct_coding.encode_ints`` and
``decode_ints``): a whole batch of chunks in one call, the same symbols in the same order under
the same rows as the numpy references (``dct_coding.encode_ints_reference``,
``decode_ints_reference``), hence the same words (``tests/test_jpeg_planes.py``). In numpy a chunk
is a few calls per context and per escape bit, which made decoding a plane of JPEG levels a
thousand Python steps. Imported on first use, like the other kernels.
"""

from __future__ import annotations

import numba
import numpy as np

from ..bitstream import range_decoder, range_encoder
from ..bitstream.table_kernel import first_call


@numba.njit(cache=True, nogil=True)
def _group(ctx):  # pragma: no cover - compiled
    """(order, starts): ``ctx``'s indices stably sorted by context, and where each context's run
    starts (plus the end)."""
    order = np.argsort(ctx, kind="mergesort")
    starts = [0]
    for i in range(1, ctx.size):
        if ctx[order[i]] != ctx[order[i - 1]]:
            starts.append(i)
    starts.append(ctx.size)
    return order, np.array(starts, np.int64)


@numba.njit(cache=True, nogil=True)
def _update(table, ctx, symbols, increment, limit):  # pragma: no cover - compiled
    """``dct_coding.Counts.update``: every (context, symbol) raised by ``increment``, then each context
    touched whose row sums above ``limit`` halved (rounding up)."""
    for i in range(ctx.size):
        table[ctx[i], symbols[i]] += increment
    order, starts = _group(ctx)
    for g in range(starts.size - 1):
        u = ctx[order[starts[g]]]
        if table[u].sum() > limit:
            for k in range(table.shape[1]):
                table[u, k] = (table[u, k] + 1) >> 1


@numba.njit(cache=True, nogil=True)
def _decode_grouped(table, ctx, words, state, out):  # pragma: no cover - compiled
    """Symbols into ``out`` grouped by context (``_group``), each group under its context's row of
    counts in ``table``; a range decoder status."""
    order, starts = _group(ctx)
    for g in range(starts.size - 1):
        row = table[ctx[order[starts[g]]]].astype(np.float64)
        scale = range_decoder.row_scale(row)
        if scale < 0.0:
            return range_decoder.BAD_ROW
        for i in range(starts[g], starts[g + 1]):
            s = range_decoder.decode_symbol(row, scale, words, state)
            if s < 0:
                return range_decoder.BAD_DATA
            out[order[i]] = s
    return range_decoder.OK


@numba.njit(cache=True, nogil=True)
def _encode_grouped(table, ctx, symbols, state, out):  # pragma: no cover - compiled
    """Mirror of ``_decode_grouped``."""
    order, starts = _group(ctx)
    for g in range(starts.size - 1):
        row = table[ctx[order[starts[g]]]].astype(np.float64)
        scale = range_decoder.row_scale(row)
        if scale < 0.0:
            return range_decoder.BAD_ROW
        for i in range(starts[g], starts[g + 1]):
            range_encoder._encode_row_symbol(row, scale, symbols[order[i]], state, out)
    return range_decoder.OK


@numba.njit(cache=True, nogil=True)
def decode_ints(
    ctx, signed, symbols_table, bits_table, escape, chunk, increment, limit, words, state, out
):  # pragma: no cover - compiled
    """``dct_coding.decode_ints`` of ``out.size`` values into ``out``; a range decoder status."""
    uniform = np.ones(2, np.float64)
    half = range_decoder.row_scale(uniform)
    for start in range(0, out.size, chunk):
        stop = min(start + chunk, out.size)
        c = ctx[start:stop]
        n = stop - start
        sym = np.empty(n, np.int64)
        status = _decode_grouped(symbols_table, c, words, state, sym)
        if status != range_decoder.OK:
            return status
        mag = sym.copy()
        escaped = np.flatnonzero(sym == escape)
        if escaped.size:
            ce = c[escaped]
            nbits = np.empty(escaped.size, np.int64)
            status = _decode_grouped(bits_table, ce, words, state, nbits)
            if status != range_decoder.OK:
                return status
            rest = np.ones(escaped.size, np.int64)
            for j in range(nbits.max()):
                for e in range(escaped.size):
                    if nbits[e] > j:
                        b = range_decoder.decode_symbol(uniform, half, words, state)
                        if b < 0:
                            return range_decoder.BAD_DATA
                        rest[e] = (rest[e] << 1) | b
            for e in range(escaped.size):
                mag[escaped[e]] = rest[e] + escape - 1
            _update(bits_table, ce, nbits, increment, limit)
        for i in range(n):
            if mag[i] != 0 and signed[start + i]:
                b = range_decoder.decode_symbol(uniform, half, words, state)
                if b < 0:
                    return range_decoder.BAD_DATA
                if b:
                    mag[i] = -mag[i]
        out[start:stop] = mag
        _update(symbols_table, c, sym, increment, limit)
    return range_decoder.OK


@numba.njit(cache=True, nogil=True)
def encode_ints(
    values, ctx, signed, symbols_table, bits_table, escape, chunk, increment, limit, state, out
):  # pragma: no cover - compiled
    """``dct_coding.encode_ints`` of ``values``; a range encoder status."""
    uniform = np.ones(2, np.float64)
    half = range_decoder.row_scale(uniform)
    for start in range(0, values.size, chunk):
        stop = min(start + chunk, values.size)
        v = values[start:stop]
        c = ctx[start:stop]
        n = stop - start
        mag = np.abs(v)
        sym = np.minimum(mag, escape)
        if _encode_grouped(symbols_table, c, sym, state, out) != range_decoder.OK:
            return range_decoder.BAD_ROW
        escaped = np.flatnonzero(sym == escape)
        if escaped.size:
            ce = c[escaped]
            rest = mag[escaped] - escape + 1
            nbits = np.empty(escaped.size, np.int64)
            for e in range(escaped.size):
                k = 0
                while (rest[e] >> (k + 1)) > 0:
                    k += 1
                nbits[e] = k
            if nbits.max() >= bits_table.shape[1]:
                return range_encoder.BAD_SYMBOL
            if _encode_grouped(bits_table, ce, nbits, state, out) != range_decoder.OK:
                return range_decoder.BAD_ROW
            for j in range(nbits.max()):
                for e in range(escaped.size):
                    if nbits[e] > j:
                        bit = (rest[e] >> (nbits[e] - 1 - j)) & 1
                        range_encoder._encode_row_symbol(uniform, half, bit, state, out)
            _update(bits_table, ce, nbits, increment, limit)
        for i in range(n):
            if v[i] != 0 and signed[start + i]:
                range_encoder._encode_row_symbol(uniform, half, 1 if v[i] < 0 else 0, state, out)
        _update(symbols_table, c, sym, increment, limit)
    return range_decoder.OK


def encode(enc, counts, values: np.ndarray, ctx: np.ndarray, signed: np.ndarray, rules: tuple) -> None:
    """``encode_ints`` into ``enc.ranges`` (room made for every symbol it may write)."""
    escape, chunk, increment, limit = rules
    mag = np.abs(values)
    escapes = mag >= escape
    symbols = values.size + int(np.count_nonzero(values)) + int(escapes.sum()) * 26
    enc.ranges._room(symbols)
    with first_call(encode_ints):
        range_encoder._check(
            encode_ints(
                values, ctx, signed, counts.symbols, counts.bits, escape, chunk, increment, limit,
                enc.ranges.state, enc.ranges.out,
            )
        )  # fmt: skip


def decode(dec, counts, ctx: np.ndarray, signed: np.ndarray, count: int, rules: tuple) -> np.ndarray:
    """``decode_ints`` from ``dec.ranges``."""
    escape, chunk, increment, limit = rules
    out = np.empty(count, np.int64)
    with first_call(decode_ints):
        range_decoder.check(
            decode_ints(
                ctx, signed, counts.symbols, counts.bits, escape, chunk, increment, limit,
                dec.ranges.words, dec.ranges.state, out,
            )
        )  # fmt: skip
    return out
