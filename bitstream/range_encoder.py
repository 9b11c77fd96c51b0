"""A compiled range encoder that writes the words constriction's encoder writes.

Why: the mirror of ``range_decoder`` on the encoder's side. A planar frame's samples were coded a
wavefront at a time: each wavefront's rows made (up to 128 entries a sample) and handed to
constriction, about 400 calls a frame; here a plane's samples go in one compiled call, and a
Laplace row's cumulatives are read from the integer tables (``range_decoder.decode_laplace``'s
``_prefix``) instead of being summed from a row that is made first.

What it mirrors (constriction 0.5, ``src/stream/queue.rs``, ``RangeEncoder::encode_symbol`` and
``seal_words``): a 64-bit state (lower, range) over 32-bit words; a symbol with left cumulative
``left`` and probability ``p`` (``Categorical(perfect=False)`` at 24-bit precision, as
``range_decoder`` describes) sets range = (range >> 24) p and lower += (range >> 24) left
(wrapping). When range drops below 2^32, lower's top word is written, or, where lower + range
wraps past 2^64 (a carry may still reach it), held back with the words after it ("inverted")
until a later symbol settles the carry. Finishing writes the held-back words, the word of lower
+ 2^32 - 1 and, when that word is also the upper end's, a zero word. The words are
constriction's (``tests/test_range_coder.py`` compares them on every kind of row).
"""

from __future__ import annotations

import numba
import numpy as np

from . import entropy, range_decoder, table_kernel
from .errors import FormatError

PRECISION = range_decoder.PRECISION
_ONE = 1 << PRECISION
#: The state's fields (uint64): lower, range, held-back words (0: none), the first of them, words
#: written so far.
_LOWER, _RANGE, _HELD, _FIRST, _WRITTEN = 0, 1, 2, 3, 4
_WORD_MASK = np.uint64(0xFFFFFFFF)
#: Statuses of the kernels besides range_decoder.OK.
BAD_SYMBOL = 3
#: Deeper samples' low bits (``_encode_low_bits``) of 8-bit samples: none.
_NO_LOW = np.zeros(0, np.int64)


@numba.njit(cache=True, nogil=True, inline="always")
def _write(out, state, word):  # pragma: no cover - compiled
    out[state[_WRITTEN]] = np.uint32(word & _WORD_MASK)
    state[_WRITTEN] += np.uint64(1)


@numba.njit(cache=True, nogil=True, inline="always")
def encode_interval(left, probability, state, out):  # pragma: no cover - compiled
    """Code the symbol whose interval is [left, left + probability) of 2^24, as constriction's
    ``encode_symbol`` does. Inlined into each coding loop (as ``range_decoder``'s steps are):
    called, it cost a planar stream's samples 72 ns each, inlined 46 (the same words; its
    callers compile in about the same time)."""
    lower, rng = state[_LOWER], state[_RANGE]
    step = rng >> np.uint64(PRECISION)
    rng = step * probability
    new_lower = lower + step * left
    if state[_HELD] > 0 and new_lower + rng > new_lower:  # the carry is settled: write the held words
        if new_lower < lower:
            first, rest = state[_FIRST] + np.uint64(1), np.uint64(0)
        else:
            first, rest = state[_FIRST], _WORD_MASK
        _write(out, state, first)
        for _ in range(1, np.int64(state[_HELD])):
            _write(out, state, rest)
        state[_HELD] = 0
    lower = new_lower
    if rng < (np.uint64(1) << np.uint64(32)):
        rng = rng << np.uint64(32)
        word = lower >> np.uint64(32)
        lower = lower << np.uint64(32)
        if state[_HELD] > 0:
            state[_HELD] += np.uint64(1)
        elif lower + rng > lower:
            _write(out, state, word)
        else:
            state[_HELD] = 1
            state[_FIRST] = word
    state[_LOWER], state[_RANGE] = lower, rng


@numba.njit(cache=True, nogil=True)
def _encode_row_symbol(row, scale, symbol, state, out):  # pragma: no cover - compiled
    """``symbol`` under a float64 row (``range_decoder.row_scale``'s ``scale``): its left
    cumulative from the row's sum before it, left to right, as constriction's model sums it."""
    k = row.size
    left_f = 0.0
    for s in range(symbol):
        left_f += row[s]
    left = range_decoder._cumulative(left_f, scale, symbol)
    if symbol == k - 1:
        right = np.uint64(_ONE)
    else:
        right = range_decoder._as_u32((left_f + row[symbol]) * scale) + np.uint64(symbol + 1)
    encode_interval(left, right - left, state, out)


@numba.njit(cache=True, nogil=True)
def _encode_rows(rows, fixed, symbols, state, out):  # pragma: no cover - compiled
    """``symbols`` under ``rows[i]`` (or, ``fixed``, all under ``rows[0]``)."""
    k = rows.shape[1]
    scale = range_decoder.row_scale(rows[0])
    for i in range(symbols.size):
        r = 0 if fixed else i
        if r > 0:
            scale = range_decoder.row_scale(rows[r])
        if scale < 0.0:
            return range_decoder.BAD_ROW
        if symbols[i] < 0 or symbols[i] >= k:
            return BAD_SYMBOL
        _encode_row_symbol(rows[r], scale, symbols[i], state, out)
    return range_decoder.OK


@numba.njit(cache=True, nogil=True)
def _encode_sums(sums, symbols, state, out):  # pragma: no cover - compiled
    """``symbols`` under rows of running sums ``sums`` (``range_decoder._decode_sums``' rows): a
    symbol's interval is read from the sums before and at it, no row is summed or scanned."""
    k = sums.shape[1]
    for i in range(symbols.size):
        scale = range_decoder.cumulative_scale(sums[i], k)
        if scale < 0.0:
            return range_decoder.BAD_ROW
        s = symbols[i]
        if s < 0 or s >= k:
            return BAD_SYMBOL
        left = range_decoder.left_cumulative(sums[i], scale, s)
        encode_interval(left, range_decoder.left_cumulative(sums[i], scale, s + 1) - left, state, out)
    return range_decoder.OK


@numba.njit(cache=True, nogil=True)
def encode_laplace(
    kind, lo, width, mean, scale_idx, phased, symbol, state, out
):  # pragma: no cover - compiled
    """``symbol`` under a Laplace table row (``range_decoder.decode_laplace``'s kinds), the row
    never made: its cumulatives from the tables' counts."""
    count, scale = range_decoder.laplace_model(kind, lo, width, mean, scale_idx, phased)
    left = range_decoder._cumulative(
        range_decoder._prefix(kind, symbol, lo, width, mean, scale_idx, phased), scale, symbol
    )
    if symbol == count - 1:
        right = np.uint64(_ONE)
    else:
        right = range_decoder._cumulative(
            range_decoder._prefix(kind, symbol + 1, lo, width, mean, scale_idx, phased), scale, symbol + 1
        )
    encode_interval(left, right - left, state, out)


@numba.njit(cache=True, nogil=True)
def _encode_values(values, mean_q, scale_idx, phased, state, out):  # pragma: no cover - compiled
    """Pixel values 0..255 under their whole Laplace rows."""
    for i in range(values.size):
        if values[i] < 0 or values[i] > 255:
            return BAD_SYMBOL
        encode_laplace(range_decoder.WHOLE, 0, 0, mean_q[i], scale_idx[i], phased, values[i], state, out)
    return range_decoder.OK


@numba.njit(cache=True, nogil=True)
def _encode_wavefronts(
    values, mean_q, scale_idx, starts, window_of_scale, phased, state, out, low, modelled, rest
):  # pragma: no cover - compiled  # fmt: skip
    """A plane's 8-bit samples (or deeper samples' top 8 bits) in coding order, wavefront by
    wavefront (``starts``), each as ``entropy.encode_windowed`` codes a batch in one window: the
    widest window any of its samples needs (none: whole rows), every sample's window symbol (its
    value's place in the window, or the escape), then the escaped values under their escape rows;
    deeper samples (``modelled`` > 0) then their low bits ``low``, as ``codec.modes.planar``'s
    ``_encode_batch`` codes them: the top ``modelled`` under ``entropy.low_bits_rows``'s row (made
    here from the table), the lowest ``rest`` under the uniform row."""
    row = np.empty(16, np.float64)
    for f in range(starts.size - 1):
        s0, s1 = starts[f], starts[f + 1]
        radius = table_kernel.widest_radius(scale_idx, s0, s1, window_of_scale)
        span = 2 * radius + 1
        for i in range(s0, s1):
            if values[i] < 0 or values[i] > 255:
                return BAD_SYMBOL
            if radius == 0:
                encode_laplace(
                    range_decoder.WHOLE, 0, 0, mean_q[i], scale_idx[i], phased, values[i], state, out
                )
                continue
            lo = table_kernel.window_start(mean_q[i], radius)
            offset = values[i] - lo
            symbol = span if offset < 0 or offset >= span else offset
            encode_laplace(
                range_decoder.WINDOW, lo, span, mean_q[i], scale_idx[i], phased, symbol, state, out
            )
        for i in range(s0, s1 if radius > 0 else s0):  # whole rows escape nothing
            lo = table_kernel.window_start(mean_q[i], radius)
            offset = values[i] - lo
            if offset < 0 or offset >= span:
                encode_laplace(
                    range_decoder.ESCAPE, lo, span, mean_q[i], scale_idx[i], phased, values[i], state, out
                )
        if modelled > 0:
            _encode_low_bits(values, mean_q, scale_idx, s0, s1, phased, state, out, low, modelled, rest, row)
    return range_decoder.OK


@numba.njit(cache=True, nogil=True)
def _encode_low_bits(
    values, mean_q, scale_idx, s0, s1, phased, state, out, low, modelled, rest, row
):  # pragma: no cover - compiled  # fmt: skip
    """Samples s0..s1 - 1's low bits (``_encode_wavefronts``), under rows ``row`` is scratch for."""
    parts = 1 << modelled
    for i in range(s0, s1):
        table_kernel.low_bits_row(values[i], mean_q[i], scale_idx[i], parts, phased, row)
        _encode_row_symbol(row[:parts], range_decoder.row_scale(row[:parts]), low[i] >> rest, state, out)
    if rest:
        uniform = row[: 1 << rest]
        uniform[:] = 1.0
        scale = range_decoder.row_scale(uniform)
        for i in range(s0, s1):
            _encode_row_symbol(uniform, scale, low[i] & ((1 << rest) - 1), state, out)


def _check(status: int) -> None:
    if status == BAD_SYMBOL:
        raise ValueError("a symbol outside its row (the encoder's bug, not the input's)")
    if status != range_decoder.OK:
        raise FormatError("a probability row the coder refuses (fewer than 2 entries, or no positive mass)")


class RangeEncoder:
    """A frame's words as they are written, and the coder's state."""

    def __init__(self) -> None:
        self.state = np.array([0, (1 << 64) - 1, 0, 0, 0], np.uint64)
        self.out = np.empty(1 << 12, np.uint32)

    def _room(self, symbols: int) -> None:
        """Space for ``symbols`` more symbols' words: at most one each, plus the held-back ones."""
        need = int(self.state[_WRITTEN]) + int(self.state[_HELD]) + symbols + 4
        if need > self.out.size:
            grown = np.empty(max(need, 2 * self.out.size), np.uint32)
            grown[: int(self.state[_WRITTEN])] = self.out[: int(self.state[_WRITTEN])]
            self.out = grown

    def encode_rows(self, symbols: np.ndarray, rows: np.ndarray) -> None:
        """One symbol per row of ``rows`` ((N, K) float64)."""
        symbols = np.ascontiguousarray(symbols, np.int64).ravel()
        if symbols.size:
            self._room(symbols.size)
            rows = np.ascontiguousarray(rows, np.float64)
            with table_kernel.first_call(_encode_rows):
                _check(_encode_rows(rows, False, symbols, self.state, self.out))

    def encode_sums(self, symbols: np.ndarray, sums: np.ndarray) -> None:
        """One symbol per row of running sums ((N, K) float64, ``range_decoder.decode_sums``')."""
        symbols = np.ascontiguousarray(symbols, np.int64).ravel()
        if symbols.size:
            self._room(symbols.size)
            sums = np.ascontiguousarray(sums, np.float64)
            with table_kernel.first_call(_encode_sums):
                _check(_encode_sums(sums, symbols, self.state, self.out))

    def encode_fixed(self, symbols: np.ndarray, row: np.ndarray) -> None:
        """Every symbol under the one ``row``."""
        symbols = np.ascontiguousarray(symbols, np.int64).ravel()
        if symbols.size:
            self._room(symbols.size)
            rows = np.array(row, np.float64).reshape(1, -1)
            with table_kernel.first_call(_encode_rows):
                _check(_encode_rows(rows, True, symbols, self.state, self.out))

    def encode_values(self, values: np.ndarray, mean_q: np.ndarray, scale_idx: np.ndarray) -> None:
        """Pixel values under the whole rows of the integer Laplace tables (``entropy.table_rows``)."""
        values = np.ascontiguousarray(values, np.int64).ravel()
        if values.size:
            self._room(values.size)
            with table_kernel.first_call(_encode_values):
                _check(
                    _encode_values(
                        values,
                        np.ascontiguousarray(mean_q, np.int64).ravel(),
                        np.ascontiguousarray(scale_idx, np.int64).ravel(),
                        table_kernel.phased_cdf(),
                        self.state,
                        self.out,
                    )
                )

    def encode_wavefronts(
        self,
        values: np.ndarray,
        mean_q: np.ndarray,
        scale_idx: np.ndarray,
        starts: np.ndarray,
        low: np.ndarray | None = None,
        low_bits: tuple[int, int] = (0, 0),
    ) -> None:
        """8-bit samples in coding order, a single window per wavefront (``starts``: each
        wavefront's first sample, one more at the end), in one call; deeper samples as their top
        8 bits (``values``, ``mean_q`` their coarse means) and ``low`` bits, ``low_bits`` (modelled,
        uniform) of them (``codec.modes.planar._encode_batch``'s order, wavefront by wavefront)."""
        values = np.ascontiguousarray(values, np.int64).ravel()
        if values.size:
            self._room(4 * values.size)  # a window symbol, an escape and two low parts each, at most
            with table_kernel.first_call(_encode_wavefronts):
                _check(
                    _encode_wavefronts(
                        values,
                        np.ascontiguousarray(mean_q, np.int64).ravel(),
                        np.ascontiguousarray(scale_idx, np.int64).ravel(),
                        np.ascontiguousarray(starts, np.int64),
                        entropy.WINDOW_OF_SCALE,
                        table_kernel.phased_cdf(),
                        self.state,
                        self.out,
                        _NO_LOW if low is None else np.ascontiguousarray(low, np.int64).ravel(),
                        *low_bits,
                    )
                )

    def encode_batches(
        self,
        flags: np.ndarray,
        flag_ctx: np.ndarray,
        flag_starts: np.ndarray,
        flag_rows: np.ndarray,
        differences: np.ndarray,
        difference_scales: np.ndarray,
        moved_starts: np.ndarray,
        picks: np.ndarray,
        share: np.ndarray,
        centre: int,
    ) -> None:
        """A motion field's wavefronts in one call (``_encode_batches``; ``flag_starts`` and
        ``moved_starts``: each batch's first flag and first moved block, one more at the end)."""
        self._room(flags.size + 3 * picks.size + 4)
        with table_kernel.first_call(_encode_batches):
            _check(
                _encode_batches(
                    np.ascontiguousarray(flags, np.int64),
                    np.ascontiguousarray(flag_ctx, np.int64),
                    np.ascontiguousarray(flag_starts, np.int64),
                    np.ascontiguousarray(flag_rows, np.float64),
                    np.ascontiguousarray(differences, np.int64).reshape(2, -1),
                    np.ascontiguousarray(difference_scales, np.int64),
                    np.ascontiguousarray(moved_starts, np.int64),
                    np.ascontiguousarray(picks, np.int64),
                    np.ascontiguousarray(share, np.float64),
                    np.int64(centre),
                    table_kernel.phased_cdf(),
                    self.state,
                    self.out,
                )
            )

    def words(self) -> np.ndarray:
        """The words written so far and the ones that finish the stream (``seal_words``), uint32;
        the state is left as it is."""
        lower, rng, held, first = (int(v) for v in self.state[:_WRITTEN])
        written = self.out[: int(self.state[_WRITTEN])]
        if rng == (1 << 64) - 1:
            return written.copy()
        mask = (1 << 64) - 1
        point = (lower + (1 << 32) - 1) & mask
        tail = []
        if held:
            if point >= lower:
                tail += [first] + [0xFFFFFFFF] * (held - 1)
            else:
                tail += [(first + 1) & 0xFFFFFFFF] + [0] * (held - 1)
        point_word = point >> 32
        tail.append(point_word)
        if ((lower + rng) & mask) >> 32 == point_word:
            tail.append(0)
        return np.concatenate([written, np.array(tail, np.uint32)])


@numba.njit(cache=True, nogil=True)
def _encode_batches(
    flags, flag_ctx, flag_starts, flag_rows, differences, difference_scales, moved_starts, picks, share,
    centre, phased, state, out,
):  # pragma: no cover - compiled  # fmt: skip
    """Batches of a motion field as ``motion_field.write_symbols`` codes them, each batch its
    flags (``flag_rows`` of their contexts), then its moved blocks' first and second difference
    symbols (whole Laplace rows at ``centre``), then (a ``share`` of two or more) their picks."""
    flag_scale = np.empty(flag_rows.shape[0])
    for c in range(flag_rows.shape[0]):
        flag_scale[c] = range_decoder.row_scale(flag_rows[c])
        if flag_scale[c] < 0.0:
            return range_decoder.BAD_ROW
    share_scale = range_decoder.row_scale(share)
    if share.size > 1 and share_scale < 0.0:
        return range_decoder.BAD_ROW
    for b in range(flag_starts.size - 1):
        for i in range(flag_starts[b], flag_starts[b + 1]):
            _encode_row_symbol(flag_rows[flag_ctx[i]], flag_scale[flag_ctx[i]], flags[i], state, out)
        for c in range(2):
            for k in range(moved_starts[b], moved_starts[b + 1]):
                encode_laplace(
                    range_decoder.WHOLE,
                    0,
                    0,
                    centre,
                    difference_scales[k],
                    phased,
                    differences[c, k],
                    state,
                    out,
                )
        if share.size > 1:
            for k in range(moved_starts[b], moved_starts[b + 1]):
                _encode_row_symbol(share, share_scale, picks[k], state, out)
    return range_decoder.OK
