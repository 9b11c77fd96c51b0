"""A compiled range decoder that reads constriction's words exactly as constriction does.

Why: constriction is reached through one Python call per batch of rows, and each row must be
made first: a raster planar plane is about 130 wavefronts, each a call to make its rows and a
call or two to decode them. A decoder whose state lives in an array can be driven from inside a
compiled kernel that computes the samples' means as it goes (``codec.planar_kernel``: a whole
plane in one call, the GIL released), and a row of the integer Laplace tables need not be made
at all (``decode_laplace``): its entries' running sums are the tables' cumulative counts, so a
symbol is found by bisection, where constriction sums and scans the row's floats.

What it mirrors (constriction 0.5, ``src/stream/queue.rs`` and
``src/stream/model/categorical/lazy_contiguous.rs``): the queue ``RangeDecoder`` of 32-bit words
with a 64-bit state (lower, range, point), and the ``Categorical(perfect=False)`` model at 24-bit
precision, which quantizes a float64 row p of K entries as: normalization = the row's sum, left
to right (refused unless a positive normal float); scale = (2^24 - K) / normalization; the left
cumulative of symbol s is ``floor(sum(p[:s]) * scale) + s``, the last symbol's right end 2^24.
Decoding a symbol: ``quantile = (point - lower) // (range >> 24)`` (refused if >= 2^24), the
symbol whose cumulative interval holds it (found as constriction's ``quantile_function`` finds
it: a float scan to a lower bound, then the integer cumulatives), then lower += scale * left,
range = scale * probability, and if range < 2^32, the state moves up a word and the next word
is read in (none past the end).
Every operation is the same IEEE double or wrapping 64-bit integer operation in the same order,
so the symbols are constriction's on every input, valid or not (``tests/test_range_coder.py``
checks both against constriction).
"""

from __future__ import annotations

import numba
import numpy as np

from . import table_kernel
from .errors import FormatError

PRECISION = 24
_ONE = 1 << PRECISION
#: Status codes of the kernels.
OK, BAD_ROW, BAD_DATA = 0, 1, 2
_EPS = np.finfo(np.float64).eps
_TINY = np.finfo(np.float64).tiny
_HUGE = np.finfo(np.float64).max


@numba.njit(cache=True, nogil=True, inline="always")
def row_scale(row):  # pragma: no cover - compiled
    """The model's scale of ``row`` (1-D float64), or -1.0 where constriction refuses the row."""
    k = row.size
    if k < 2 or k >= _ONE - 1:
        return -1.0
    total = 0.0
    for s in range(k):
        total += row[s]
    if not (total >= _TINY and total <= _HUGE):  # positive and normal (NaN fails both)
        return -1.0
    return np.float64(_ONE - k) / total


@numba.njit(cache=True, nogil=True, inline="always")
def _as_u32(x):  # pragma: no cover - compiled
    """Rust's ``f64 as u32``: truncation toward zero, saturating (NaN to 0)."""
    if not (x > 0.0):
        return np.uint64(0)
    if x >= 4294967295.0:
        return np.uint64(4294967295)
    return np.uint64(x)


@numba.njit(cache=True, nogil=True, inline="always")
def _quantile(row, scale, quantile):  # pragma: no cover - compiled
    """constriction's ``quantile_function``: (symbol, left cumulative, probability) of the
    interval of ``quantile`` (uint64 < 2^24)."""
    k = row.size
    left_f = 0.0
    right_f = 0.0
    enlarged = (1.0 + _EPS + _EPS) * scale
    q_low = quantile - np.uint64(k) if quantile > np.uint64(k) else np.uint64(0)
    lower_bound = np.float64(q_low) / enlarged
    nxt = 0
    while nxt < k:
        p = row[nxt]
        nxt += 1
        left_f = right_f
        right_f = right_f + p
        if right_f >= lower_bound:
            break
    left = _as_u32(left_f * scale) + np.uint64(nxt - 1)
    while nxt < k:
        right = _as_u32(right_f * scale) + np.uint64(nxt)
        if right > quantile:
            return nxt - 1, left, right - left
        left = right
        right_f = right_f + row[nxt]
        nxt += 1
    return nxt - 1, left, np.uint64(_ONE) - left


@numba.njit(cache=True, nogil=True, inline="always")
def decode_symbol(row, scale, words, state):  # pragma: no cover - compiled
    """One symbol under ``row`` (its ``row_scale``), advancing ``state`` (uint64[4]: lower, range,
    point, next word); -1 for data no encoder could have written (constriction's InvalidData)."""
    step, quantile = _point(state)
    if quantile >= np.uint64(_ONE):
        return -1
    symbol, left, prob = _quantile(row, scale, quantile)
    _advance(step, left, prob, words, state)
    return symbol


@numba.njit(cache=True, nogil=True, inline="always")
def _point(state):  # pragma: no cover - compiled
    """(range >> 24, the point's quantile): data no encoder wrote gives a quantile >= 2^24."""
    step = state[1] >> np.uint64(PRECISION)
    return step, (state[2] - state[0]) // step


@numba.njit(cache=True, nogil=True, inline="always")
def _advance(step, left, probability, words, state):  # pragma: no cover - compiled
    """The state past a symbol of interval [left, left + probability): lower and range narrowed,
    and if range < 2^32, moved up a word with the next word read into the point."""
    lower = state[0] + step * left
    rng = step * probability
    point = state[2]
    if rng < (np.uint64(1) << np.uint64(32)):
        lower = lower << np.uint64(32)
        rng = rng << np.uint64(32)
        point = point << np.uint64(32)
        pos = state[3]
        if pos < np.uint64(words.size):
            point = point | np.uint64(words[pos])
            state[3] = pos + np.uint64(1)
    state[0], state[1], state[2] = lower, rng, point


@numba.njit(cache=True, nogil=True, inline="always")
def _cumulative(prefix, scale, symbol):  # pragma: no cover - compiled
    """The model's left cumulative of ``symbol`` whose row's entries before it sum to ``prefix``
    (an integer, exact in float64 as constriction's running float sum of integer entries is)."""
    return _as_u32(np.float64(prefix) * scale) + np.uint64(symbol)


#: Row kinds of ``decode_laplace``: a whole row f(0..255), a window f(lo..lo + width - 1) and
#: its escape, the whole row with that window's values set to 0 (``entropy``'s windowed rows).
WHOLE, WINDOW, ESCAPE = 0, 1, 2


@numba.njit(cache=True, nogil=True, inline="always")
def _prefix(kind, k, lo, width, mean, scale_idx, phased):  # pragma: no cover - compiled
    """The sum of a row's first k entries, from the integer tables."""
    if kind == WINDOW:
        return table_kernel.value_prefix(lo + k, mean, scale_idx, phased) - table_kernel.value_prefix(
            lo, mean, scale_idx, phased
        )
    if kind == ESCAPE:
        if k <= lo:
            return table_kernel.value_prefix(k, mean, scale_idx, phased)
        start = table_kernel.value_prefix(lo, mean, scale_idx, phased)
        if k <= lo + width:
            return start
        gap = table_kernel.value_prefix(lo + width, mean, scale_idx, phased) - start
        return table_kernel.value_prefix(k, mean, scale_idx, phased) - gap
    return table_kernel.value_prefix(k, mean, scale_idx, phased)


@numba.njit(cache=True, nogil=True, inline="always")
def laplace_model(kind, lo, width, mean, scale_idx, phased):  # pragma: no cover - compiled
    """(symbols, the model's scale) of a Laplace table row of ``kind``: the row's mass is a whole
    row's, less the window's for an escape row (an integer, as the row's float sum is exactly)."""
    if kind == WINDOW:
        count, total = width + 1, table_kernel.FULL
    elif kind == ESCAPE:
        count = table_kernel.VALUES
        total = table_kernel.FULL - (
            table_kernel.value_prefix(lo + width, mean, scale_idx, phased)
            - table_kernel.value_prefix(lo, mean, scale_idx, phased)
        )
    else:
        count, total = table_kernel.VALUES, table_kernel.FULL
    return count, np.float64(_ONE - count) / np.float64(total)


#: ``decode_laplace`` starts at the mean below this scale index; from it (b = 37.6 values and
#: more: rows nearly flat over the 256 values) a plain bisection was quicker (``bench.range_speed``:
#: at index 52 both about 88 ns a value, at 56 the search from the mean 90-97 against 83-86).
_NEAR_FIRST_BELOW = 52


@numba.njit(cache=True, nogil=True)
def decode_laplace(kind, lo, width, mean, scale_idx, phased, words, state):  # pragma: no cover - compiled
    """One symbol under a Laplace table row of ``kind`` (mean ``mean`` in 1/16, ``scale_idx``;
    ``lo`` and ``width`` the window's), without making the row: its entries' sums come from the
    cumulative counts (``table_kernel.value_prefix``), and the symbol is found by bisecting the
    model's cumulatives, which rise strictly (each symbol adds its floor plus one). The same
    symbol, cumulative and probability as ``decode_symbol`` on the row, so the same state.

    The value nearest the mean is the row's likeliest symbol (a whole or window row's; an escape
    row has none there): below scale index _NEAR_FIRST_BELOW its interval is tried first, and
    where it holds the point the symbol is found from two cumulatives instead of a bisection's
    log2(symbols); where it does not, the search goes on from it, outward in steps that double,
    until the symbol is bracketed, and bisects the bracket: a few cumulatives for the values near
    the mean, which are the likely ones (``bench.range_speed``: 16-56 ns a value at scales up to
    b = 2 instead of 86-93).

    Not inlined: its callers (the planar wavefronts, compiled in several copies) took 80 s to
    compile on an empty numba cache with this search inlined, against 30 s before it; called, 29 s,
    and a value takes about 10 ns more than inlined (bench/SPEED.md)."""
    count, scale = laplace_model(kind, lo, width, mean, scale_idx, phased)
    step, quantile = _point(state)
    if quantile >= np.uint64(_ONE):
        return -1
    # The last symbol whose left cumulative is <= quantile, between a (whose left cumulative,
    # ``left``, is <= quantile) and b (symbol b + 1's, ``right``, is above it: 2^24 past the end).
    a, b = 0, count - 1
    left, right = np.uint64(0), np.uint64(_ONE)
    near = ((mean + 8) >> 4) - (lo if kind == WINDOW else 0)
    values = count - 1 if kind == WINDOW else (0 if kind == ESCAPE else count)  # a window's last: its escape
    if scale_idx < _NEAR_FIRST_BELOW and 0 <= near < values:
        cumulative = _cumulative(_prefix(kind, near, lo, width, mean, scale_idx, phased), scale, near)
        if cumulative > quantile:
            b, right = near - 1, cumulative
        else:
            a, left = near, cumulative
            after = (  # the symbol past the last is 2^24, as the bisection takes it
                np.uint64(_ONE)
                if near + 1 == count
                else _cumulative(_prefix(kind, near + 1, lo, width, mean, scale_idx, phased), scale, near + 1)
            )
            if quantile < after:
                b, right = near, after
            else:
                a, left = near + 1, after
        # On from the likeliest symbol, outward in steps that double (the symbols near it are
        # the likelier ones), until the symbol is bracketed; then the bisection of the bracket.
        reach = 1
        while a < b and reach < b - a:
            if a > near:  # above: is symbol a + reach's cumulative still <= quantile?
                mid = a + reach
                cumulative = _cumulative(_prefix(kind, mid, lo, width, mean, scale_idx, phased), scale, mid)
                if cumulative > quantile:
                    b, right = mid - 1, cumulative
                    break
                a, left = mid, cumulative
            else:  # below: is symbol b + 1 - reach's cumulative above quantile?
                mid = b + 1 - reach
                cumulative = _cumulative(_prefix(kind, mid, lo, width, mean, scale_idx, phased), scale, mid)
                if cumulative <= quantile:
                    a, left = mid, cumulative
                    break
                b, right = mid - 1, cumulative
            reach *= 2
    while a < b:
        mid = (a + b + 1) >> 1
        cumulative = _cumulative(_prefix(kind, mid, lo, width, mean, scale_idx, phased), scale, mid)
        if cumulative <= quantile:
            a, left = mid, cumulative
        else:
            b, right = mid - 1, cumulative
    _advance(step, left, right - left, words, state)
    return a


@numba.njit(cache=True, nogil=True)
def _decode_rows(rows, fixed, count, words, state, out):  # pragma: no cover - compiled
    """``count`` symbols into ``out``: under ``rows[i]``, or with ``fixed`` all under ``rows[0]``."""
    scale = row_scale(rows[0])
    for i in range(count):
        r = 0 if fixed else i
        if r > 0:
            scale = row_scale(rows[r])
        if scale < 0.0:
            return BAD_ROW
        s = decode_symbol(rows[r], scale, words, state)
        if s < 0:
            return BAD_DATA
        out[i] = s
    return OK


@numba.njit(cache=True, nogil=True, inline="always")
def cumulative_scale(sums, k):  # pragma: no cover - compiled
    """``row_scale`` of the row whose running sums are ``sums`` (its last one is the row's sum,
    added left to right from 0.0 as ``row_scale`` adds it)."""
    if k < 2 or k >= _ONE - 1:
        return -1.0
    total = sums[k - 1]
    if not (total >= _TINY and total <= _HUGE):
        return -1.0
    return np.float64(_ONE - k) / total


@numba.njit(cache=True, nogil=True, inline="always")
def left_cumulative(sums, scale, symbol):  # pragma: no cover - compiled
    """The model's left cumulative of ``symbol`` (2^24 past the last) from the row's running sums."""
    if symbol == 0:
        return np.uint64(0)
    if symbol == sums.size:
        return np.uint64(_ONE)
    return _cumulative(sums[symbol - 1], scale, symbol)


@numba.njit(cache=True, nogil=True)
def _decode_sums(sums, hints, words, state, out):  # pragma: no cover - compiled
    """One symbol per row of running sums ``sums`` (N, K): the symbol whose interval holds the
    point, found by bisecting the model's left cumulatives (they rise strictly: each symbol adds its
    floor plus one), as ``decode_laplace`` does; the same symbol, interval and state as
    ``decode_symbol``'s scan of the row (``tests/test_range_coder.py``). ``hints`` (H, N): likely
    symbols per row (-1: none), whose intervals are tried first, in order: where one holds the
    point, its symbol is the one the bisection finds, with the same interval, from two of the
    row's sums instead of eight or so dependent reads and mispredicted branches; one that misses
    narrows the bisection (the symbol lies below or above it)."""
    k = sums.shape[1]
    for i in range(sums.shape[0]):
        row = sums[i]
        scale = cumulative_scale(row, k)
        if scale < 0.0:
            return BAD_ROW
        step, quantile = _point(state)
        if quantile >= np.uint64(_ONE):
            return BAD_DATA
        # The bisection's bounds: symbol a's left cumulative is <= quantile, symbol b + 1's is
        # above it (2^24 past the last symbol). A hint that misses moves one of them.
        a, b = 0, k - 1
        left, right = np.uint64(0), np.uint64(_ONE)
        for j in range(hints.shape[0]):
            h = np.int64(hints[j, i])
            if h < a or h > b:
                continue
            cumulative = left_cumulative(row, scale, h)
            if cumulative > quantile:
                b, right = h - 1, cumulative
                continue
            a, left = h, cumulative
            after = left_cumulative(row, scale, h + 1)
            if quantile < after:  # h's interval holds the point
                b, right = h, after
                break
            a, left = h + 1, after
        while a < b:
            mid = (a + b + 1) >> 1
            cumulative = _cumulative(row[mid - 1], scale, mid)
            if cumulative <= quantile:
                a, left = mid, cumulative
            else:
                b, right = mid - 1, cumulative
        _advance(step, left, right - left, words, state)
        out[i] = a
    return OK


@numba.njit(cache=True, nogil=True)
def _decode_values(mean_q, scale_idx, phased, words, state, out):  # pragma: no cover - compiled
    """Pixel values 0..255 under their whole Laplace rows (``decode_laplace``), in order."""
    for i in range(out.size):
        v = decode_laplace(WHOLE, 0, 0, mean_q[i], scale_idx[i], phased, words, state)
        if v < 0:
            return BAD_DATA
        out[i] = v
    return OK


def initial_state(words: np.ndarray) -> np.ndarray:
    """The state (lower 0, range 2^64 - 1, point, next word) of a decoder over ``words``: the
    point is the first two words, big end first (fewer words shifted to the top)."""
    point, n = 0, min(2, words.size)
    for w in words[:n]:
        point = (point << 32) | int(w)
    if n == 1:
        point <<= 32
    return np.array([0, (1 << 64) - 1, point, n], np.uint64)


def check(status: int) -> None:
    """FormatError for a kernel's failure status."""
    if status == BAD_ROW:
        raise FormatError("a probability row the coder refuses (fewer than 2 entries, or no positive mass)")
    if status == BAD_DATA:
        raise FormatError("frame payload holds data no encoder writes (range decoder)")


class RangeDecoder:
    """The state of one payload's decoding, shared with compiled kernels that decode in place."""

    def __init__(self, words: np.ndarray) -> None:
        self.words = np.ascontiguousarray(words, np.uint32)
        self.state = initial_state(self.words)

    def decode_rows(self, rows: np.ndarray) -> np.ndarray:
        """One symbol per row of ``rows`` ((N, K) float64), int32."""
        rows = np.ascontiguousarray(rows, np.float64)
        out = np.empty(rows.shape[0], np.int32)
        if rows.shape[0]:
            with table_kernel.first_call(_decode_rows):
                check(_decode_rows(rows, False, rows.shape[0], self.words, self.state, out))
        return out

    def decode_sums(self, sums: np.ndarray, hints: np.ndarray | None = None) -> np.ndarray:
        """One symbol per row of running sums ((N, K) float64: row i's entries summed left to right
        from 0.0, as ``rows_kernel.mix_blend(..., running_sums=True)`` leaves them), int32: the
        symbols ``decode_rows`` gives on the rows themselves, in a bisection instead of two scans.
        ``hints`` (H, N) or a sequence of H arrays (N,): likely symbols per row, tried first in
        order (-1 or out of range: none); the same symbols whatever they are."""
        sums = np.ascontiguousarray(sums, np.float64)
        out = np.empty(sums.shape[0], np.int32)
        if hints is None or len(hints) == 0:
            hints = np.zeros((0, out.size), np.int32)
        else:
            hints = np.array(hints, np.int32, ndmin=2)
        if hints.shape[1:] != out.shape:
            raise ValueError(f"hints of shape {hints.shape} for {out.size} rows")
        if sums.shape[0]:
            with table_kernel.first_call(_decode_sums):
                check(_decode_sums(sums, hints, self.words, self.state, out))
        return out

    def decode_values(self, mean_q: np.ndarray, scale_idx: np.ndarray) -> np.ndarray:
        """Pixel values (uint8, flat) under the whole rows of the integer Laplace tables at
        ``mean_q`` (0..4080) and ``scale_idx`` (0..63): ``entropy.table_rows``'s rows, which are
        never made (each value is found in the tables' cumulative counts)."""
        mean_q = np.ascontiguousarray(mean_q, np.int64).ravel()
        scale_idx = np.ascontiguousarray(scale_idx, np.int64).ravel()
        out = np.empty(mean_q.size, np.uint8)
        if out.size:
            with table_kernel.first_call(_decode_values):
                check(
                    _decode_values(mean_q, scale_idx, table_kernel.phased_cdf(), self.words, self.state, out)
                )
        return out

    def decode_fixed(self, row: np.ndarray, count: int) -> np.ndarray:
        """``count`` symbols under the one ``row`` (K,), int32."""
        out = np.empty(count, np.int32)
        if count:
            rows = np.array(row, np.float64).reshape(1, -1)  # a writable copy: one kernel type for both
            with table_kernel.first_call(_decode_rows):
                check(_decode_rows(rows, True, count, self.words, self.state, out))
        return out
