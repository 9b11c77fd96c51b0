"""Planar frames coded as their JPEG coefficients (kind 4 of mode 6, format version 19).

A frame whose 8-bit planes a JPEG decoder made (Motion JPEG: webcams, cameras, MJPEG AVIs) is
coded as what it was made of, per plane: the quantization steps, the quantized DCT levels of its
8x8 blocks (``codec.jpeg_blocks``), and the samples that FFmpeg's IDCT of those levels does not
give (another decoder's IDCT, partial blocks at the edges) as exceptions. Decoding rebuilds the
planes with the same integer IDCT, exactly.

Levels are coded by frequency (JPEG's zigzag order), each pass one batch over all blocks, under
adaptive counts: a magnitude symbol 0..ESCAPE (ESCAPE: more, Exp-Golomb bits follow) and a sign,
the counts by context and updated after every CHUNK values (FFV1's and JPEG arithmetic's
adaptive states, here per chunk so that a chunk is a few vectorized calls). An AC level's context
is its frequency band, how many of the block's earlier levels are nonzero, and the level at the
same place in the previous frame (its planes' levels by an integer DCT at this frame's steps):
where the scene stands still, so do most levels. The DC level is predicted from its left (first
column: upper) neighbour as JPEG does, or from the previous frame's, as the encoder chooses per
plane. Luma and chroma planes keep separate counts, chroma's shared by its planes.
"""

from __future__ import annotations

import numpy as np

from ..bitstream import entropy
from ..bitstream.errors import FormatError
from . import jpeg_blocks

#: Magnitude symbols 0..ESCAPE - 1 are the magnitude; ESCAPE: at least ESCAPE, the rest follows
#: as Exp-Golomb (a bit count under adaptive counts, then the bits).
ESCAPE = 15
#: At most this many Exp-Golomb bits (levels, gaps and counts below 2^EXP_BITS).
EXP_BITS = 24
#: Counts start at PRIOR, grow by INCREMENT per value, and are halved (rounding up) when a
#: context's total passes LIMIT.
PRIOR = np.array([12, 8, 5, 4, 3, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 2], np.int64)
INCREMENT = 4
LIMIT = 1 << 13
#: Values are coded in chunks of CHUNK; the counts move between chunks.
CHUNK = 1024
#: The AC levels' frequency bands: BAND[z] for zigzag position z (0: the DC's, unused).
BAND = np.repeat(np.arange(11), [1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 10])
BANDS = 11  # band 0 (the DC) unused
#: How many of the block's AC levels from here on are nonzero, bucketed: 1, 2, 3-4, 5-8, 9-16, 17
#: and more (0: none, and the rest of the block is not coded).
REMAINING_BUCKET = np.array([0, 0, 1, 2, 2] + [3] * 4 + [4] * 8 + [5] * 47)
NONZERO_BUCKETS = 6
#: A block's count of nonzero AC levels is coded first, in a context of the previous frame's count
#: there, bucketed: 0, 1, 2, 3-4, 5-8, 9-16, 17 and more; COUNT_NONE without a previous frame.
COUNT_BUCKET = np.array([0, 1, 2, 3, 3] + [4] * 4 + [5] * 8 + [6] * 47)
COUNT_NONE = 7
#: The previous frame's level there: 0, 1, 2, 3 and more; PREVIOUS_NONE without a previous frame.
PREVIOUS_BUCKETS = 5
PREVIOUS_NONE = 4
AC_CONTEXTS = BANDS * NONZERO_BUCKETS * PREVIOUS_BUCKETS
#: The other contexts: the step table, DC differences (by prediction), the exceptions.
CTX_TABLE = AC_CONTEXTS
CTX_DC = AC_CONTEXTS + 1  # + prediction (DC_LEFT, DC_PREVIOUS)
CTX_COUNT = AC_CONTEXTS + 3
CTX_GAP = AC_CONTEXTS + 4
CTX_SAMPLE = AC_CONTEXTS + 5
CTX_NONZERO = AC_CONTEXTS + 6  # + COUNT_BUCKET of the previous frame's count, or COUNT_NONE
CONTEXTS = AC_CONTEXTS + 14
#: DC predictions: the left block's DC (the first column's: the upper block's), the previous frame's.
DC_LEFT, DC_PREVIOUS = 0, 1
#: A frame is coded this way only where every plane's exceptions are at most this share of it.
MAX_MISS_SHARE = 0.02
#: A rebuilt plane's exceptions are at most its samples; steps 1..MAX_STEP.
_UNIFORM2 = np.ones(2, np.float64)


class _Counts:
    """Adaptive counts of one family of planes (luma; chroma): magnitude symbols per context, and
    Exp-Golomb bit counts."""

    def __init__(self) -> None:
        self.symbols = np.tile(PRIOR, (CONTEXTS, 1))
        self.bits = np.ones((CONTEXTS, EXP_BITS + 1), np.int64)

    def update(self, table: np.ndarray, ctx: np.ndarray, symbols: np.ndarray) -> None:
        """Counts of ``symbols`` in their contexts raised, and over-full rows halved."""
        np.add.at(table, (ctx, symbols), INCREMENT)
        full = np.unique(ctx[table[ctx].sum(axis=1) > LIMIT])
        table[full] = (table[full] + 1) >> 1


def _groups(ctx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(order, distinct contexts, their starts in ``order`` plus the end): the chunk's values
    grouped by context, in context order, each group in value order."""
    order = np.argsort(ctx, kind="stable")
    sorted_ctx = ctx[order]
    starts = np.flatnonzero(np.r_[True, sorted_ctx[1:] != sorted_ctx[:-1]])
    return order, sorted_ctx[starts], np.r_[starts, ctx.size]


def encode_ints(enc: entropy.FrameEncoder, counts: _Counts, values: np.ndarray, ctx: np.ndarray) -> None:
    """Signed integers (|v| < 2^EXP_BITS + ESCAPE - 1) in contexts, chunk by chunk."""
    values = np.asarray(values, np.int64).ravel()
    ctx = np.broadcast_to(np.asarray(ctx, np.int64), values.shape).ravel()
    for start in range(0, values.size, CHUNK):
        v, c = values[start : start + CHUNK], ctx[start : start + CHUNK]
        mag = np.abs(v)
        sym = np.minimum(mag, ESCAPE)
        order, distinct, bounds = _groups(c)
        for u, lo, hi in zip(distinct, bounds[:-1], bounds[1:], strict=True):
            enc.ranges.encode_fixed(sym[order[lo:hi]], counts.symbols[u].astype(np.float64))
        escaped = np.flatnonzero(sym == ESCAPE)
        if escaped.size:
            rest = mag[escaped] - ESCAPE + 1  # >= 1: Exp-Golomb of rest
            nbits = np.floor(np.log2(rest)).astype(np.int64)
            if int(nbits.max()) > EXP_BITS:
                raise ValueError(f"a value of {int(mag[escaped].max())} (the encoder's bug: too large)")
            _encode_grouped(enc, counts.bits, nbits, c[escaped])
            for j in range(int(nbits.max())):
                has = nbits > j
                enc.ranges.encode_fixed((rest[has] >> (nbits[has] - 1 - j)) & 1, _UNIFORM2)
            counts.update(counts.bits, c[escaped], nbits)
        signed = np.flatnonzero(v)
        enc.ranges.encode_fixed((v[signed] < 0).astype(np.int64), _UNIFORM2)
        counts.update(counts.symbols, c, sym)


def _encode_grouped(enc: entropy.FrameEncoder, table: np.ndarray, sym: np.ndarray, ctx: np.ndarray) -> None:
    order, distinct, bounds = _groups(ctx)
    for u, lo, hi in zip(distinct, bounds[:-1], bounds[1:], strict=True):
        enc.ranges.encode_fixed(sym[order[lo:hi]], table[u].astype(np.float64))


def _decode_grouped(dec: entropy.FrameDecoder, table: np.ndarray, ctx: np.ndarray) -> np.ndarray:
    out = np.empty(ctx.size, np.int64)
    order, distinct, bounds = _groups(ctx)
    for u, lo, hi in zip(distinct, bounds[:-1], bounds[1:], strict=True):
        out[order[lo:hi]] = dec.ranges.decode_fixed(table[u].astype(np.float64), int(hi - lo))
    return out


def decode_ints(dec: entropy.FrameDecoder, counts: _Counts, ctx: np.ndarray, count: int) -> np.ndarray:
    """Mirror of ``encode_ints``: ``count`` integers in contexts ``ctx`` (broadcast)."""
    ctx = np.broadcast_to(np.asarray(ctx, np.int64), (count,)).ravel()
    out = np.empty(count, np.int64)
    for start in range(0, count, CHUNK):
        c = ctx[start : start + CHUNK]
        sym = _decode_grouped(dec, counts.symbols, c)
        mag = sym.copy()
        escaped = np.flatnonzero(sym == ESCAPE)
        if escaped.size:
            nbits = _decode_grouped(dec, counts.bits, c[escaped])
            rest = np.ones(escaped.size, np.int64)
            for j in range(int(nbits.max())):
                has = nbits > j
                rest[has] = (rest[has] << 1) | dec.ranges.decode_fixed(_UNIFORM2, int(np.count_nonzero(has)))
            mag[escaped] = rest + ESCAPE - 1
            counts.update(counts.bits, c[escaped], nbits)
        signed = np.flatnonzero(mag)
        negative = dec.ranges.decode_fixed(_UNIFORM2, signed.size).astype(bool)
        mag[signed[negative]] *= -1
        out[start : start + c.size] = mag
        counts.update(counts.symbols, c, sym)
    return out


def _ac_contexts(
    remaining: np.ndarray, z: int, previous: np.ndarray | None, chosen: np.ndarray
) -> np.ndarray:
    """The ``chosen`` blocks' contexts for their levels at zigzag position z (``remaining``: each
    block's nonzero levels from z on; ``previous``: the previous frame's levels, (blocks, 64), or None)."""
    prev = PREVIOUS_NONE if previous is None else np.minimum(np.abs(previous[chosen, z]), 3)
    return (BAND[z] * NONZERO_BUCKETS + REMAINING_BUCKET[remaining[chosen]]) * PREVIOUS_BUCKETS + prev


def _count_contexts(previous: np.ndarray | None, blocks: int) -> np.ndarray | int:
    """The blocks' contexts for their counts of nonzero AC levels."""
    if previous is None:
        return CTX_NONZERO + COUNT_NONE
    return CTX_NONZERO + COUNT_BUCKET[np.count_nonzero(previous[:, 1:], axis=1)]


def _left_prediction(dc: np.ndarray) -> np.ndarray:
    """JPEG's DC prediction in a (rows, columns) grid: the left block's, the first column's the
    upper block's, the first block's 0."""
    pred = np.zeros_like(dc)
    pred[:, 1:] = dc[:, :-1]
    pred[1:, 0] = dc[:-1, 0]
    return pred


def _undo_left(diff: np.ndarray) -> np.ndarray:
    """The DC grid whose ``_left_prediction`` differences are ``diff``."""
    first = np.cumsum(diff[:, 0])
    return np.cumsum(np.concatenate([first[:, None], diff[:, 1:]], axis=1), axis=1)


class PlaneCode:
    """What the encoder found of one plane."""

    def __init__(self, fit: jpeg_blocks.Fit, plane: np.ndarray) -> None:
        self.fit = fit
        self.plane = plane


def fit_frame(planes: list[np.ndarray]) -> list[PlaneCode] | None:
    """Each plane's JPEG levels, or None where the frame is not JPEG-decoded (a plane that does
    not fit, or whose exceptions are above MAX_MISS_SHARE)."""
    out = []
    for plane in planes:
        fit = jpeg_blocks.fit(plane)
        if fit is None or fit.misses.size > MAX_MISS_SHARE * plane.size:
            return None
        out.append(PlaneCode(fit, plane))
    return out


def _previous_levels(previous: np.ndarray | None, steps: np.ndarray) -> np.ndarray | None:
    """The previous frame's plane's levels at this plane's steps, (blocks, 64), or None."""
    if previous is None:
        return None
    return jpeg_blocks.integer_levels(jpeg_blocks.blocks(previous), steps).reshape(-1, 64)


def encode_planes(
    enc: entropy.FrameEncoder, codes: list[PlaneCode], previous: list[np.ndarray] | None
) -> None:
    """Every plane's steps, levels and exceptions into ``enc`` (compiled)."""
    families = [_Counts(), _Counts()]
    for k, code in enumerate(codes):
        counts = families[min(k, 1)]
        steps, grid = code.fit.steps, code.fit.levels
        encode_ints(enc, counts, np.diff(np.r_[0, steps]), CTX_TABLE)
        levels = grid.reshape(-1, 64)
        prev = _previous_levels(None if previous is None else previous[k], steps)
        dc = grid[..., 0]
        diffs = [dc - _left_prediction(dc)]
        if prev is not None:
            diffs.append(dc - prev[:, 0].reshape(dc.shape))
        pick = int(np.argmin([np.abs(d).sum() for d in diffs]))
        if prev is not None:
            enc.ranges.encode_fixed(np.array([pick]), _UNIFORM2)
        encode_ints(enc, counts, diffs[pick], CTX_DC + pick)
        remaining = np.count_nonzero(levels[:, 1:], axis=1)
        encode_ints(enc, counts, remaining, _count_contexts(prev, remaining.size))
        for z in range(1, 64):
            chosen = np.flatnonzero(remaining)
            encode_ints(enc, counts, levels[chosen, z], _ac_contexts(remaining, z, prev, chosen))
            remaining[chosen] -= levels[chosen, z] != 0
        rebuilt = jpeg_blocks.unblocks(jpeg_blocks.rebuild(grid, steps), *code.plane.shape).ravel()
        misses = code.fit.misses
        encode_ints(enc, counts, np.array([misses.size]), CTX_COUNT)
        encode_ints(enc, counts, np.diff(np.r_[-1, misses]) - 1, CTX_GAP)
        encode_ints(enc, counts, code.plane.ravel()[misses].astype(np.int64) - rebuilt[misses], CTX_SAMPLE)


def decode_planes(
    dec: entropy.FrameDecoder, shapes: list[tuple[int, int]], previous: list[np.ndarray] | None
) -> list[np.ndarray]:
    """Mirror of ``encode_planes``: the uint8 planes of ``shapes``."""
    families = [_Counts(), _Counts()]
    out = []
    for k, (height, width) in enumerate(shapes):
        counts = families[min(k, 1)]
        steps = np.cumsum(decode_ints(dec, counts, CTX_TABLE, 64))
        if steps.min() < 1 or steps.max() > jpeg_blocks.MAX_STEP:
            raise FormatError(
                f"JPEG planar frame: a quantization step of {int(steps.min())} or {int(steps.max())}"
            )
        rows, cols = -(-height // jpeg_blocks.N), -(-width // jpeg_blocks.N)
        prev = _previous_levels(None if previous is None else previous[k], steps)
        pick = DC_LEFT
        if prev is not None:
            pick = int(dec.ranges.decode_fixed(_UNIFORM2, 1)[0])
        diff = decode_ints(dec, counts, CTX_DC + pick, rows * cols).reshape(rows, cols)
        levels = np.zeros((rows * cols, 64), np.int64)
        levels[:, 0] = (
            _undo_left(diff) if pick == DC_LEFT else diff + prev[:, 0].reshape(rows, cols)
        ).ravel()
        remaining = decode_ints(dec, counts, _count_contexts(prev, rows * cols), rows * cols)
        if remaining.min(initial=0) < 0 or remaining.max(initial=0) > 63:
            raise FormatError(
                f"JPEG planar frame: a block of {int(remaining.max())} nonzero AC levels (0..63)"
            )
        for z in range(1, 64):
            chosen = np.flatnonzero(remaining)
            at = decode_ints(dec, counts, _ac_contexts(remaining, z, prev, chosen), chosen.size)
            if at.size and (63 - z < remaining[chosen] - (at != 0)).any():
                raise FormatError("JPEG planar frame: a block's nonzero AC levels outrun its positions")
            levels[chosen, z] = at
            remaining[chosen] -= at != 0
        if np.abs(levels).max(initial=0) > 1 << 16:
            raise FormatError(f"JPEG planar frame: a level of {int(np.abs(levels).max())}")
        plane = jpeg_blocks.unblocks(
            jpeg_blocks.rebuild(levels.reshape(rows, cols, 64), steps), height, width
        )
        plane = plane.ravel().copy()
        count = int(decode_ints(dec, counts, CTX_COUNT, 1)[0])
        if not 0 <= count <= plane.size:
            raise FormatError(f"JPEG planar frame: {count} exceptions in a plane of {plane.size} samples")
        at = np.cumsum(decode_ints(dec, counts, CTX_GAP, count) + 1) - 1
        if count and (at.min() < 0 or at[-1] >= plane.size):
            raise FormatError("JPEG planar frame: an exception outside its plane")
        plane[at] += decode_ints(dec, counts, CTX_SAMPLE, count)
        if count and (plane[at].min() < 0 or plane[at].max() > 255):
            raise FormatError("JPEG planar frame: an exception outside 0..255")
        out.append(plane.reshape(height, width).astype(np.uint8))
    return out
