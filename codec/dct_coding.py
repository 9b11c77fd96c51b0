"""Planar frames coded as their JPEG coefficients (kind 4 of mode 6, format version 19).

A frame whose 8-bit planes a JPEG decoder made (Motion JPEG: webcams, cameras, MJPEG AVIs) is
coded as what it was made of, per plane: the quantization steps, the quantized DCT levels of its
8x8 blocks (``codec.jpeg_blocks``), and the samples that FFmpeg's IDCT of those levels does not
give (another decoder's IDCT, partial blocks at the edges) as exceptions. Decoding rebuilds the
planes with the same integer IDCT, exactly.

Levels are coded by frequency (JPEG's zigzag order), each pass one batch over all blocks, under
adaptive counts: a magnitude symbol 0..ESCAPE (ESCAPE: more, Exp-Golomb bits follow) and a sign,
the counts by context, starting from trained ``priors`` and updated after every CHUNK values
(FFV1's and JPEG arithmetic's adaptive states, here per chunk so that a chunk is one compiled
call: ``dct_kernel``). First, in diagonal wavefronts over the blocks, each block's DC level
(predicted by the median of its left, upper and upper-left neighbours', or by the previous
frame's, as the encoder chooses per plane) and its count of nonzero AC levels; then the AC
levels, only in blocks with nonzero levels still to come. An AC level's context is its
frequency band, how many of the block's nonzero levels remain, and the level at the same place
in the previous frame (its planes' levels by an integer DCT at this frame's steps): where the
scene stands still, so do most levels. Luma and chroma planes keep separate counts, chroma's
shared by its planes.
"""

from __future__ import annotations

import functools

import numpy as np

from ..bitstream import entropy
from ..bitstream.errors import FormatError, WeightsError
from . import jpeg_blocks, raster_rule

#: Magnitude symbols 0..ESCAPE - 1 are the magnitude; ESCAPE: at least ESCAPE, the rest follows
#: as Exp-Golomb (a bit count under adaptive counts, then the bits).
ESCAPE = 15
#: At most this many Exp-Golomb bits (levels, gaps and counts below 2^EXP_BITS).
EXP_BITS = 24
#: Counts start at the trained ``priors`` (PRIOR: where their training starts), grow by INCREMENT
#: per value, and are halved (rounding up) when a context's total passes LIMIT.
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
#: The previous frame's level there: 0, 1, 2, 3 and more; PREVIOUS_NONE without a previous frame.
PREVIOUS_BUCKETS = 5
PREVIOUS_NONE = 4
AC_CONTEXTS = BANDS * NONZERO_BUCKETS * PREVIOUS_BUCKETS
#: A count of nonzero AC levels (a block's, or the mean of its left and upper neighbours'),
#: bucketed: 0, 1, 2, 3-4, 5-8, 9-16, 17 and more; COUNT_NONE: no previous frame.
COUNT_BUCKET = np.array([0, 1, 2, 3, 3] + [4] * 4 + [5] * 8 + [6] * 47)
COUNT_BUCKETS = 7
COUNT_NONE = 7
#: A DC difference's context: how much its decoded neighbours differ, |a - c| + |b - c| (a left,
#: b up, c up-left, in levels; where some are missing, the difference of those there),
#: bucketed: 0, 1, 2, 3-4, 5-8, 9-16, 17 and more.
GRADIENT_BUCKET = np.array([0, 1, 2, 3, 3] + [4] * 4 + [5] * 8 + [6])
GRADIENT_BUCKETS = 7
#: The other contexts: the step table, DC differences (by prediction and gradient), the
#: exceptions, the blocks' counts of nonzero AC levels (by the neighbours' and the previous
#: frame's counts).
CTX_TABLE = AC_CONTEXTS
CTX_DC = AC_CONTEXTS + 1  # + prediction * GRADIENT_BUCKETS + gradient bucket
CTX_COUNT = CTX_DC + 2 * GRADIENT_BUCKETS
CTX_GAP = CTX_COUNT + 1
CTX_SAMPLE = CTX_COUNT + 2
CTX_NONZERO = CTX_COUNT + 3  # + neighbours' bucket * 8 + previous frame's bucket (or COUNT_NONE)
CONTEXTS = CTX_NONZERO + COUNT_BUCKETS * (COUNT_NONE + 1)
#: DC predictions: LOCO-I's median of the left, upper and upper-left blocks' DC levels (a row's
#: first block: the upper one's, the first row: the left one's, the first block: 0), or the
#: previous frame's.
DC_MEDIAN, DC_PREVIOUS = 0, 1
#: A frame is coded this way only where every plane's exceptions are at most this share of it.
MAX_MISS_SHARE = 0.02
#: The row of a bit as likely 0 as 1 (signs, Exp-Golomb bits, the DC prediction's choice).
_UNIFORM2 = np.ones(2, np.float64)


#: The trained initial counts (``models/training/jpeg_priors.py``): part of the format, so the file
#: must be this one (its SHA-256).
PRIORS_NAME = "jpeg-priors"
PRIORS_SHA256 = "7dd1d5272ee93fc9d265e47fcc642b2dc34c99d0176080b4fdd30fd5a6175edb"
FAMILIES = 2


@functools.cache
def priors() -> tuple[np.ndarray, np.ndarray]:
    """(symbols (FAMILIES, CONTEXTS, ESCAPE + 1), bits (FAMILIES, CONTEXTS, EXP_BITS + 1)): every
    context's initial counts, read once from the shipped file (WeightsError if it is not the
    format's)."""
    from ..models.weights import read_weights, shipped_path

    file = read_weights(shipped_path(PRIORS_NAME), "it ships with fpcodec: reinstall it", framework="numpy")
    if file.sha256.hex() != PRIORS_SHA256:
        raise WeightsError(
            f"{file.path} is not format version 19's JPEG priors (sha256 {file.sha256.hex()[:16]}...)"
        )
    symbols, bits = file.tensors["symbols"].astype(np.int64), file.tensors["bits"].astype(np.int64)
    if symbols.shape != (FAMILIES, CONTEXTS, ESCAPE + 1) or bits.shape != (FAMILIES, CONTEXTS, EXP_BITS + 1):
        raise WeightsError(f"{file.path} holds tables of {symbols.shape} and {bits.shape}")
    return symbols, bits


class Counts:
    """Adaptive counts of one family of planes (0 luma, 1 chroma): magnitude symbols per context,
    and Exp-Golomb bit counts, from the trained ``priors`` (or, ``untrained``, from PRIOR and 1:
    what the training starts from). ``tally``: also the plain number of each symbol per context."""

    def __init__(self, family: int, untrained: bool = False, tally: bool = False) -> None:
        if untrained:
            self.symbols = np.tile(PRIOR, (CONTEXTS, 1))
            self.bits = np.ones((CONTEXTS, EXP_BITS + 1), np.int64)
        else:
            symbols, bits = priors()
            self.symbols, self.bits = symbols[family].copy(), bits[family].copy()
        self.tally = (np.zeros_like(self.symbols), np.zeros_like(self.bits)) if tally else None

    def update(self, table: np.ndarray, ctx: np.ndarray, symbols: np.ndarray) -> None:
        """Counts of ``symbols`` in their contexts raised, and over-full rows halved."""
        if self.tally is not None:
            np.add.at(self.tally[0 if table is self.symbols else 1], (ctx, symbols), 1)
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


#: The integer coder's rules, as ``dct_kernel`` takes them.
_RULES = (ESCAPE, CHUNK, INCREMENT, LIMIT)


def encode_ints(
    enc: entropy.FrameEncoder,
    counts: Counts,
    values: np.ndarray,
    ctx: np.ndarray | int,
    signed: np.ndarray | bool = True,
) -> None:
    """Integers (|v| < 2^EXP_BITS + ESCAPE - 1) in contexts, chunk by chunk; a nonzero value's
    sign is coded where ``signed`` (per value, or for all), else it must be positive. Compiled
    (``dct_kernel``); counts that tally (the training's) take the numpy reference."""
    if counts.tally is not None:
        encode_ints_reference(enc, counts, values, ctx, signed)
        return
    from . import dct_kernel  # numba: loaded on first use

    values = np.ascontiguousarray(values, np.int64).ravel()
    if values.size:
        dct_kernel.encode(enc, counts, values, *_batch(ctx, signed, values.size), _RULES)


def decode_ints(
    dec: entropy.FrameDecoder,
    counts: Counts,
    ctx: np.ndarray | int,
    count: int,
    signed: np.ndarray | bool = True,
) -> np.ndarray:
    """Mirror of ``encode_ints``: ``count`` integers in contexts ``ctx`` (broadcast)."""
    from . import dct_kernel  # numba: loaded on first use

    if count == 0:
        return np.zeros(0, np.int64)
    return dct_kernel.decode(dec, counts, *_batch(ctx, signed, count), count, _RULES)


def _batch(ctx: np.ndarray | int, signed: np.ndarray | bool, count: int) -> tuple[np.ndarray, np.ndarray]:
    """A batch's contexts (int64) and signedness (bool), one each per value, contiguous."""
    ctx = np.ascontiguousarray(np.broadcast_to(np.asarray(ctx, np.int64), (count,)))
    return ctx, np.ascontiguousarray(np.broadcast_to(np.asarray(signed, bool), (count,)))


def encode_ints_reference(
    enc: entropy.FrameEncoder,
    counts: Counts,
    values: np.ndarray,
    ctx: np.ndarray | int,
    signed: np.ndarray | bool = True,
) -> None:
    """``encode_ints`` in numpy, a few calls per context and chunk (the kernel's reference)."""
    values = np.asarray(values, np.int64).ravel()
    ctx, signed = _batch(ctx, signed, values.size)
    for start in range(0, values.size, CHUNK):
        v, c = values[start : start + CHUNK], ctx[start : start + CHUNK]
        mag = np.abs(v)
        sym = np.minimum(mag, ESCAPE)
        _encode_grouped(enc, counts.symbols, sym, c)
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
        with_sign = (v != 0) & signed[start : start + CHUNK]
        enc.ranges.encode_fixed((v[with_sign] < 0).astype(np.int64), _UNIFORM2)
        counts.update(counts.symbols, c, sym)


def decode_ints_reference(
    dec: entropy.FrameDecoder,
    counts: Counts,
    ctx: np.ndarray | int,
    count: int,
    signed: np.ndarray | bool = True,
) -> np.ndarray:
    """``decode_ints`` in numpy (the kernel's reference)."""
    ctx, signed = _batch(ctx, signed, count)
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
        with_sign = np.flatnonzero((mag != 0) & signed[start : start + c.size])
        negative = dec.ranges.decode_fixed(_UNIFORM2, with_sign.size).astype(bool)
        mag[with_sign[negative]] *= -1
        out[start : start + c.size] = mag
        counts.update(counts.symbols, c, sym)
    return out


def _encode_grouped(enc: entropy.FrameEncoder, table: np.ndarray, sym: np.ndarray, ctx: np.ndarray) -> None:
    """Symbols grouped by context (``_groups``), each group under its context's counts."""
    order, distinct, bounds = _groups(ctx)
    for u, lo, hi in zip(distinct, bounds[:-1], bounds[1:], strict=True):
        enc.ranges.encode_fixed(sym[order[lo:hi]], table[u].astype(np.float64))


def _decode_grouped(dec: entropy.FrameDecoder, table: np.ndarray, ctx: np.ndarray) -> np.ndarray:
    """Mirror of ``_encode_grouped``."""
    out = np.empty(ctx.size, np.int64)
    order, distinct, bounds = _groups(ctx)
    for u, lo, hi in zip(distinct, bounds[:-1], bounds[1:], strict=True):
        out[order[lo:hi]] = dec.ranges.decode_fixed(table[u].astype(np.float64), int(hi - lo))
    return out


def _ac_contexts(
    remaining: np.ndarray, z: int, previous: np.ndarray | None, chosen: np.ndarray
) -> np.ndarray:
    """The ``chosen`` blocks' contexts for their levels at zigzag position z (``remaining``: each
    block's nonzero levels from z on; ``previous``: the previous frame's levels, (blocks, 64), or None)."""
    prev = PREVIOUS_NONE if previous is None else np.minimum(np.abs(previous[chosen, z]), 3)
    return (BAND[z] * NONZERO_BUCKETS + REMAINING_BUCKET[remaining[chosen]]) * PREVIOUS_BUCKETS + prev


class _Wavefronts:
    """A plane's blocks in diagonal wavefronts r + c = k (the left, upper and upper-left blocks of
    a block are in earlier ones), each in increasing r: the order of the DC levels and the counts."""

    def __init__(self, rows: int, cols: int) -> None:
        r, c = np.divmod(np.arange(rows * cols), cols)
        self.order = np.lexsort((r, r + c))
        self.starts = np.searchsorted((r + c)[self.order], np.arange(rows + cols))
        at = np.arange(rows * cols).reshape(rows, cols)
        # Neighbour indices (-1: none): left, up, up-left.
        self.left = np.where(c > 0, at.ravel() - 1, -1)
        self.up = np.where(r > 0, at.ravel() - cols, -1)
        self.up_left = np.where((r > 0) & (c > 0), at.ravel() - cols - 1, -1)

    def fronts(self):
        """Each wavefront's blocks (indices into the plane's blocks)."""
        for lo, hi in zip(self.starts[:-1], self.starts[1:], strict=True):
            yield self.order[lo:hi]


def _dc_side(fronts: _Wavefronts, blocks: np.ndarray, dc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(median prediction, gradient bucket) of ``blocks`` from the decoded DC levels ``dc``."""
    left, up, corner = fronts.left[blocks], fronts.up[blocks], fronts.up_left[blocks]
    a, b, c = dc[left], dc[up], dc[corner]
    has_a, has_b = left >= 0, up >= 0
    pred = np.where(has_a & has_b, raster_rule.median(a, b, c), np.where(has_a, a, np.where(has_b, b, 0)))
    gradient = np.where(has_a & has_b, np.abs(a - c) + np.abs(b - c), 0)
    return pred, GRADIENT_BUCKET[np.minimum(gradient, GRADIENT_BUCKET.size - 1)]


def _count_context(
    fronts: _Wavefronts, blocks: np.ndarray, nonzero: np.ndarray, previous: np.ndarray | None
) -> np.ndarray:
    """Contexts of ``blocks``' counts of nonzero AC levels: the mean of the left and upper blocks'
    counts (0 without either) and the previous frame's count there."""
    left, up = fronts.left[blocks], fronts.up[blocks]
    total = np.where(left >= 0, nonzero[left], 0) + np.where(up >= 0, nonzero[up], 0)
    mean = (total + ((left >= 0) & (up >= 0))) // np.maximum((left >= 0).astype(np.int64) + (up >= 0), 1)
    prev = COUNT_NONE if previous is None else COUNT_BUCKET[previous[blocks]]
    return CTX_NONZERO + COUNT_BUCKET[mean] * (COUNT_NONE + 1) + prev


class PlaneCode:
    """What the encoder found of one plane."""

    def __init__(self, fit: jpeg_blocks.Fit, plane: np.ndarray) -> None:
        self.fit = fit
        self.plane = plane


def fit_frame(planes: list[np.ndarray]) -> list[PlaneCode] | None:
    """Each plane's JPEG levels, or None where the frame is not JPEG-decoded (its first plane's DC
    values do not say so, or a plane's exceptions are above MAX_MISS_SHARE)."""
    out = []
    for k, plane in enumerate(planes):
        fit = jpeg_blocks.fit(plane, gate=k == 0, hints=[code.fit.steps for code in out[1:]])  # chroma's
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
    enc: entropy.FrameEncoder,
    codes: list[PlaneCode],
    previous: list[np.ndarray] | None,
    families: list[Counts] | None = None,
) -> None:
    """Every plane's steps, levels and exceptions into ``enc`` (compiled); ``families``: the
    counts to start from (the training's), else the trained priors."""
    families = families or [Counts(f) for f in range(FAMILIES)]
    for k, code in enumerate(codes):
        counts = families[min(k, 1)]
        steps, grid = code.fit.steps, code.fit.levels
        encode_ints(enc, counts, np.diff(np.r_[0, steps]), CTX_TABLE)
        levels = grid.reshape(-1, 64)
        prev = _previous_levels(None if previous is None else previous[k], steps)
        fronts = _Wavefronts(*grid.shape[:2])
        dc, nonzero = levels[:, 0], np.count_nonzero(levels[:, 1:], axis=1)
        # Every DC and count is known here, so their predictions and contexts come at once (the
        # decoder's come wavefront by wavefront, from what it has decoded).
        every = np.arange(dc.size)
        median, bucket = _dc_side(fronts, every, dc)
        prev_nonzero = None if prev is None else np.count_nonzero(prev[:, 1:], axis=1)
        count_ctx = _count_context(fronts, every, nonzero, prev_nonzero)
        pick = DC_MEDIAN  # the encoder's choice: the smaller sum of |differences|
        if prev is not None:
            pick = int(np.abs(dc - prev[:, 0]).sum() < np.abs(dc - median).sum())
            enc.ranges.encode_fixed(np.array([pick]), _UNIFORM2)
        diff = dc - (prev[:, 0] if pick == DC_PREVIOUS else median)
        dc_ctx = CTX_DC + pick * GRADIENT_BUCKETS + bucket
        for blocks in fronts.fronts():
            values = np.r_[diff[blocks], nonzero[blocks]]
            ctx = np.r_[dc_ctx[blocks], count_ctx[blocks]]
            encode_ints(enc, counts, values, ctx, np.arange(values.size) < blocks.size)
        remaining = nonzero.copy()
        for z in range(1, 64):
            chosen = np.flatnonzero(remaining)
            encode_ints(enc, counts, levels[chosen, z], _ac_contexts(remaining, z, prev, chosen))
            remaining[chosen] -= levels[chosen, z] != 0
        misses = code.fit.misses
        encode_ints(enc, counts, np.array([misses.size]), CTX_COUNT, signed=False)
        encode_ints(enc, counts, np.diff(np.r_[-1, misses]) - 1, CTX_GAP, signed=False)
        encode_ints(enc, counts, code.fit.deltas, CTX_SAMPLE)


def decode_planes(
    dec: entropy.FrameDecoder, shapes: list[tuple[int, int]], previous: list[np.ndarray] | None
) -> list[np.ndarray]:
    """Mirror of ``encode_planes``: the uint8 planes of ``shapes``."""
    families = [Counts(f) for f in range(FAMILIES)]
    out = []
    for k, (height, width) in enumerate(shapes):
        counts = families[min(k, 1)]
        steps = np.cumsum(decode_ints(dec, counts, CTX_TABLE, 64))
        if steps.min() < 1 or steps.max() > jpeg_blocks.MAX_STEP:
            raise FormatError(
                f"JPEG planar frame: a quantization step of {int(steps.min())} or {int(steps.max())} (1..255)"
            )
        rows, cols = -(-height // jpeg_blocks.N), -(-width // jpeg_blocks.N)
        prev = _previous_levels(None if previous is None else previous[k], steps)
        pick = DC_MEDIAN if prev is None else int(dec.ranges.decode_fixed(_UNIFORM2, 1)[0])
        prev_nonzero = None if prev is None else np.count_nonzero(prev[:, 1:], axis=1)
        fronts = _Wavefronts(rows, cols)
        levels = np.zeros((rows * cols, 64), np.int64)
        dc, nonzero = levels[:, 0], np.zeros(rows * cols, np.int64)
        for blocks in fronts.fronts():
            pred, bucket = _dc_side(fronts, blocks, dc)
            if pick == DC_PREVIOUS:
                pred = prev[blocks, 0]
            ctx = np.r_[
                CTX_DC + pick * GRADIENT_BUCKETS + bucket,
                _count_context(fronts, blocks, nonzero, prev_nonzero),
            ]
            values = decode_ints(dec, counts, ctx, ctx.size, np.arange(ctx.size) < blocks.size)
            dc[blocks] = values[: blocks.size] + pred
            nonzero[blocks] = values[blocks.size :]
            if nonzero[blocks].max() > 63 or np.abs(dc[blocks]).max() > 1 << 16:
                raise FormatError(
                    f"JPEG planar frame: a block of {int(nonzero[blocks].max())} nonzero AC levels (0..63) "
                    f"or a DC level of {int(np.abs(dc[blocks]).max())}"
                )
        remaining = nonzero
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
        count = int(decode_ints(dec, counts, CTX_COUNT, 1, signed=False)[0])
        if count > plane.size:
            raise FormatError(f"JPEG planar frame: {count} exceptions in a plane of {plane.size} samples")
        at = np.cumsum(decode_ints(dec, counts, CTX_GAP, count, signed=False) + 1) - 1
        if count and at[-1] >= plane.size:
            raise FormatError("JPEG planar frame: an exception outside its plane")
        samples = plane[at].astype(np.int64) + decode_ints(dec, counts, CTX_SAMPLE, count)
        if count and (samples.min() < 0 or samples.max() > 255):
            raise FormatError("JPEG planar frame: an exception outside 0..255")
        plane[at] = samples
        out.append(plane.reshape(height, width))
    return out
