"""Planes that a JPEG decoder made: their 8x8 blocks' quantized DCT coefficients, found again.

Motion JPEG (webcams, cameras, MJPEG in AVI/MOV) and every JPEG-coded frame decode to samples
that are, block by block, the inverse DCT of a few quantized coefficients. A lossless coder of the
samples pays for the quantization noise all over again; the coefficients themselves are several
times smaller (the JPEG file's size). When FFmpeg (PyAV) decodes JPEG, each block is
``simple_idct`` of the dequantized coefficients, clipped to 0..255; ``idct`` here computes the
same integers (FFmpeg's ``simple_idct_template.c``, 8 bits: its row pass with the DC-only
shortcut, its column pass), so a plane rebuilt from the right coefficients is the decoded plane,
sample for sample. The encoder finds the coefficients by a forward DCT of each block and the
quantization steps that the values fall on, or libjpeg's tables where those rebuild more
(``fit``); a partial block at the plane's right or bottom edge is fitted to its visible samples
only, as libjpeg padded it; what still does not rebuild (another decoder's IDCT, a level
rounding could not find) is coded as exceptions by ``codec.dct_coding``. Everything the decoder
computes is integer arithmetic.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

#: Block side.
N = 8
#: JPEG's zigzag scan: ZIGZAG[z] is the natural (row * 8 + column) position of the z-th coefficient.
ZIGZAG = np.array(
    [
        0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
        12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
        35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
        58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
    ],
    np.int64,
)  # fmt: skip
#: The DC coefficient's level shift (JPEG's 128 per sample, times 8: FFmpeg's ``last_dc`` start).
DC_OFFSET = 1024
#: Quantization steps are 1..MAX_STEP (baseline JPEG's 8-bit tables).
MAX_STEP = 255
#: FFmpeg's simple IDCT constants (8 bits): W[i] = round(cos(i pi / 16) sqrt(2) 2^14), W4 - 1.
_W1, _W2, _W3, _W4, _W5, _W6, _W7 = 22725, 21407, 19266, 16383, 12873, 8867, 4520
_ROW_SHIFT, _COL_SHIFT = 11, 20
#: The forward DCT's basis, orthonormal (JPEG's scaling): F = C f C^T.
_K = np.arange(N)
_C = np.sqrt(2 / N) * np.cos((2 * _K[None, :] + 1) * _K[:, None] * np.pi / (2 * N))
_C[0] /= np.sqrt(2)
#: The same basis in integers (2^12), for the decoder's contexts: exact on every platform.
_C_SHIFT = 12
_C_INT = np.round(_C * (1 << _C_SHIFT)).astype(np.int64)


def blocks(plane: np.ndarray) -> np.ndarray:
    """(rows, columns, 8, 8) blocks of a 2-D plane (its dtype), its last row and column repeated
    to whole blocks (what a JPEG encoder codes at the edges)."""
    h, w = plane.shape
    bh, bw = -(-h // N), -(-w // N)
    padded = np.pad(plane, ((0, bh * N - h), (0, bw * N - w)), mode="edge")
    return np.ascontiguousarray(padded.reshape(bh, N, bw, N).swapaxes(1, 2))


def unblocks(blocks_: np.ndarray, height: int, width: int) -> np.ndarray:
    """The plane of ``blocks``, cropped to ``height`` x ``width``."""
    bh, bw = blocks_.shape[:2]
    return blocks_.swapaxes(1, 2).reshape(bh * N, bw * N)[:height, :width]


def _row_pass(r: np.ndarray) -> np.ndarray:
    """``idctRowCondDC``: rows of dequantized coefficients (..., 8) to the column pass's input."""
    a0 = _W4 * r[..., 0] + (1 << (_ROW_SHIFT - 1))
    a1, a2, a3 = a0 + _W6 * r[..., 2], a0 - _W6 * r[..., 2], a0 - _W2 * r[..., 2]
    a0 = a0 + _W2 * r[..., 2]
    b0 = _W1 * r[..., 1] + _W3 * r[..., 3]
    b1 = _W3 * r[..., 1] - _W7 * r[..., 3]
    b2 = _W5 * r[..., 1] - _W1 * r[..., 3]
    b3 = _W7 * r[..., 1] - _W5 * r[..., 3]
    a0 = a0 + _W4 * r[..., 4] + _W6 * r[..., 6]
    a1 = a1 - _W4 * r[..., 4] - _W2 * r[..., 6]
    a2 = a2 - _W4 * r[..., 4] + _W2 * r[..., 6]
    a3 = a3 + _W4 * r[..., 4] - _W6 * r[..., 6]
    b0 = b0 + _W5 * r[..., 5] + _W7 * r[..., 7]
    b1 = b1 - _W1 * r[..., 5] - _W5 * r[..., 7]
    b2 = b2 + _W7 * r[..., 5] + _W3 * r[..., 7]
    b3 = b3 + _W3 * r[..., 5] - _W1 * r[..., 7]
    out = np.stack([a0 + b0, a1 + b1, a2 + b2, a3 + b3, a3 - b3, a2 - b2, a1 - b1, a0 - b0], -1) >> _ROW_SHIFT
    # A row with only its DC: every entry is DC * 8 as an int16 (FFmpeg writes it as one word).
    dc = (r[..., 0] * 8 + 32768) % 65536 - 32768
    only_dc = ~np.any(r[..., 1:], axis=-1)
    return np.where(only_dc[..., None], dc[..., None], out)


def _column_pass(c: np.ndarray) -> np.ndarray:
    """``idctSparseColPut``: columns (..., 8) of the row pass to samples, clipped to 0..255."""
    a0 = _W4 * (c[..., 0] + ((1 << (_COL_SHIFT - 1)) // _W4))
    a1, a2, a3 = a0 + _W6 * c[..., 2], a0 - _W6 * c[..., 2], a0 - _W2 * c[..., 2]
    a0 = a0 + _W2 * c[..., 2]
    b0 = _W1 * c[..., 1] + _W3 * c[..., 3] + _W5 * c[..., 5] + _W7 * c[..., 7]
    b1 = _W3 * c[..., 1] - _W7 * c[..., 3] - _W1 * c[..., 5] - _W5 * c[..., 7]
    b2 = _W5 * c[..., 1] - _W1 * c[..., 3] + _W7 * c[..., 5] + _W3 * c[..., 7]
    b3 = _W7 * c[..., 1] - _W5 * c[..., 3] + _W3 * c[..., 5] - _W1 * c[..., 7]
    a0 = a0 + _W4 * c[..., 4] + _W6 * c[..., 6]
    a1 = a1 - _W4 * c[..., 4] - _W2 * c[..., 6]
    a2 = a2 - _W4 * c[..., 4] + _W2 * c[..., 6]
    a3 = a3 + _W4 * c[..., 4] - _W6 * c[..., 6]
    out = np.stack([a0 + b0, a1 + b1, a2 + b2, a3 + b3, a3 - b3, a2 - b2, a1 - b1, a0 - b0], -1) >> _COL_SHIFT
    return np.clip(out, 0, 255)


def idct(coefficients: np.ndarray) -> np.ndarray:
    """Samples (..., 8, 8) int64 of dequantized coefficients (..., 8, 8) in natural order, the DC
    with DC_OFFSET: FFmpeg's 8-bit ``simple_idct_put``, integer for integer."""
    rows = _row_pass(coefficients.astype(np.int64))
    return _column_pass(rows.swapaxes(-1, -2)).swapaxes(-1, -2)


def dequantize(levels: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Dequantized coefficients (..., 8, 8) of zigzag-ordered levels (..., 64) and a plane's
    zigzag-ordered steps (64,), the DC level shift added."""
    natural = np.zeros(levels.shape, np.int64)
    natural[..., ZIGZAG] = levels * steps
    natural[..., 0] += DC_OFFSET
    return natural.reshape(*levels.shape[:-1], N, N)


#: ``rebuild_reference`` works through this many blocks at a time (the IDCT's integer temporaries
#: are some 130 bytes a sample; a frame's worth would be a 1080p frame's 270 MB).
REBUILD_BLOCKS = 4096


def rebuild(levels: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """The blocks (..., 8, 8), uint8, that a JPEG decoder makes of ``levels`` (..., 64): compiled
    (``jpeg_kernel``), the same samples as ``rebuild_reference``."""
    from . import jpeg_kernel  # numba: loaded on first use

    return jpeg_kernel.rebuild(levels, steps)


def rebuild_reference(levels: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """``rebuild`` in numpy (``idct``), for testing the kernel."""
    flat = levels.reshape(-1, N * N)
    out = np.empty((flat.shape[0], N, N), np.uint8)
    for start in range(0, flat.shape[0], REBUILD_BLOCKS):
        part = slice(start, start + REBUILD_BLOCKS)
        out[part] = idct(dequantize(flat[part], steps))
    return out.reshape(*levels.shape[:-1], N, N)


def integer_levels(block_samples: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Zigzag levels (..., 64) of samples' blocks (..., 8, 8) by an integer DCT, each rounded to the
    nearest multiple of its step (half away from zero): close to the levels the blocks were
    decoded from, and the same on every platform (the decoder's contexts and predictions).
    REBUILD_BLOCKS blocks at a time."""
    flat = block_samples.reshape(-1, N, N)
    out = np.empty((flat.shape[0], N * N), np.int64)
    unit = steps.astype(np.int64) << (2 * _C_SHIFT)
    for start in range(0, flat.shape[0], REBUILD_BLOCKS):
        f = flat[start : start + REBUILD_BLOCKS].astype(np.int64) - 128
        coeffs = (_C_INT @ f @ _C_INT.T).reshape(-1, N * N)[:, ZIGZAG]
        out[start : start + REBUILD_BLOCKS] = np.sign(coeffs) * ((2 * np.abs(coeffs) + unit) // (2 * unit))
    return out.reshape(*block_samples.shape[:-2], N * N)


class Fit(NamedTuple):
    """A plane's coefficients as found by the encoder."""

    steps: np.ndarray  # (64,) int64, zigzag order, 1..MAX_STEP
    levels: np.ndarray  # (rows, columns, 64) int64, zigzag order
    misses: np.ndarray  # flat indices of the samples the levels do not rebuild
    deltas: np.ndarray  # those samples less what the levels rebuild there, int64


#: A coefficient position's step is the one that describes its values in the fewest bits: per
#: value v beyond NOISE, its level k = round(v / q) (log2(2 |k| + 1) bits) and its distance from
#: k q under a Gaussian of SIGMA (at most MISS_BITS, as a block that does not rebuild costs about
#: that). The forward DCT of a decoder's output is off from the dequantized coefficients by the
#: IDCT's rounding and approximations, up to about 3, mostly below 1.5; a multiple of the true step
#: loses its odd levels, a divisor pays a bit more for every level, a huge step misses every value.
#: Blocks with a sample at 0 or 255 (perhaps clipped, so off by more) are left out where at least
#: MIN_BLOCKS others remain, and for the DC's step flat blocks too.
NOISE = 3.5
SIGMA = 0.8
MISS_BITS = 40.0
MIN_BLOCKS = 16
#: A plane is taken for JPEG-decoded only where its DC step is at least MIN_DC_STEP or its DC
#: values (of blocks neither flat nor clipped) lie on the step's multiples, their mean squared
#: distance at most DC_SPREAD (JPEG luma: 0.02-0.14 on the dev clips at FFmpeg's and libjpeg's
#: qualities 50-95, chroma up to 0.29). A natural plane's values lie anywhere between the
#: multiples, so the smallest steps describe them best: 2 or 3, at 0.55-0.78 for luma.
MIN_DC_STEP = 4
DC_SPREAD = 0.25
_CANDIDATES = np.arange(2, MAX_STEP + 1, dtype=np.float64)


#: At most this many blocks (evenly spaced) decide the AC steps, and the DC's (which decides
#: whether the plane is JPEG-decoded at all, on every frame of every 8-bit source).
STEP_BLOCKS = 4096
DC_BLOCKS = 1024


def fit(plane: np.ndarray, gate: bool = True, hints: Sequence[np.ndarray] = ()) -> Fit | None:
    """The plane's quantization steps and levels, or None where its blocks do not look
    JPEG-decoded (an 8-bit plane only; ``gate``: by its DC values, MIN_DC_STEP and DC_SPREAD,
    before the work of the other steps; a frame's first plane decides for the frame). ``hints``:
    other planes' steps, tried as the IJG tables are (``_other_steps``): a JPEG's two chroma
    planes usually share a table."""
    if plane.dtype != np.uint8:
        return None
    b = blocks(plane)
    flat = b.reshape(-1, N * N)
    low, high = flat.min(axis=1), flat.max(axis=1)
    steps = np.empty(N * N, np.int64)
    # The DC's step (its values are the blocks' sums, less 128 a sample, over 8) from the blocks
    # that are not flat: a flat block's samples are its DC / 8 rounded, so its value is a
    # multiple of 8, up to 4 off the DC's.
    dc_blocks = _chosen((low > 0) & (high < 255) & (low < high), DC_BLOCKS)
    dc = (flat[dc_blocks].astype(np.int64).sum(axis=1) - 128 * N * N) / N
    steps[0] = _step(dc)
    spread = np.mean((dc - np.round(dc / steps[0]) * steps[0]) ** 2) if dc.size else 0.0
    if gate and steps[0] < MIN_DC_STEP and spread > DC_SPREAD:
        return None
    sample = _forward(flat[_chosen((low > 0) & (high < 255), STEP_BLOCKS)].reshape(-1, N, N))
    for z in range(1, N * N):
        steps[z] = _step(sample[:, z])
    values = np.empty((flat.shape[0], N * N))
    for start in range(0, flat.shape[0], REBUILD_BLOCKS):
        values[start : start + REBUILD_BLOCKS] = _forward(
            flat[start : start + REBUILD_BLOCKS].reshape(-1, N, N)
        )
    target = _visible_samples(flat, *plane.shape)
    found = steps.copy()  # as read off the values, before settling
    levels, steps, cost = _settled(steps, values, target, flat)
    if cost[1] > TABLES_FROM * plane.size:  # samples left unrebuilt: other steps may do better
        seen = np.count_nonzero(np.abs(sample) > NOISE, axis=0)
        seen[0] = dc.size
        for other in _other_steps(found, seen, values, target, hints):
            tried = _settled(other, values, target, flat)
            if tried[2][0] < cost[0]:  # the first of equal costs stays
                levels, steps, cost = tried
    levels = levels.reshape(*b.shape[:2], N * N)
    rebuilt = unblocks(rebuild(levels, steps), *plane.shape)
    misses = np.flatnonzero(rebuilt.ravel() != plane.ravel())
    deltas = plane.ravel()[misses].astype(np.int64) - rebuilt.ravel()[misses]
    return Fit(steps, levels, misses, deltas)


#: IJG's (libjpeg's) example quantization tables, JPEG Annex K, in natural order: luma, chroma.
#: libjpeg, and most software that writes JPEGs through it, scales them by the quality setting.
IJG_BASE = (
    np.array(
        [
            16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
            14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
            18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
            49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
        ],
        np.int64,
    ),
    np.array(
        [
            17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99,
            24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99,
        ]
        + [99] * 32,
        np.int64,
    ),
)  # fmt: skip


def ijg_table(base: np.ndarray, quality: int) -> np.ndarray:
    """``base`` scaled to ``quality`` (1..100) as libjpeg's ``jpeg_quality_scaling`` and
    ``jpeg_add_quant_table`` do (baseline: steps 1..255), in zigzag order."""
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return np.clip((base * scale + 50) // 100, 1, MAX_STEP)[ZIGZAG]


#: Every IJG table: (2 x 100, 64), zigzag order.
_IJG_TABLES = np.array([ijg_table(base, q) for base in IJG_BASE for q in range(1, 101)])
#: Where the steps found leave more than TABLES_FROM of a plane's samples unrebuilt, other steps
#: are fitted too (``_other_steps``). A position's step found from at least TABLE_SEEN values
#: beyond NOISE counts as known; the IJG tables whose steps agree best with at least TABLE_KNOWN
#: known positions, on at least TABLE_AGREEMENT of them, are candidates (a small plane knows few
#: positions, which many qualities' tables share), and the TABLE_TRIES least costly before
#: settling are fitted, fewer in a plane of more than TABLE_SAMPLES / TABLE_TRIES samples (as
#: many as fit TABLE_SAMPLES, one at least): the bits before settling rank them only roughly.
TABLES_FROM = 0.002
TABLE_SEEN = 4
TABLE_KNOWN = 3
TABLE_AGREEMENT = 0.6
TABLE_TRIES = 16
TABLE_SAMPLES = 1 << 18


def _other_steps(
    steps: np.ndarray,
    seen: np.ndarray,
    values: np.ndarray,
    target: np.ndarray,
    hints: Sequence[np.ndarray] = (),
) -> list[np.ndarray]:
    """Other steps worth a fit where the steps found position by position leave samples
    unrebuilt: the ``hints`` and the IJG tables that agree best with the known positions, the
    TABLE_TRIES of them that cost the plane least before settling (``_table_bits``). Why: a
    position's step is read off the values it has, and a small plane (a thumbnail, a 4:2:0
    chroma plane) has few beyond the noise at the high frequencies, or a divisor of the true
    step fits its few DC values as well; most JPEGs were quantized by one of these tables (a
    77x53 libjpeg image: its luma DC step found as 4 where its table has 8, chroma steps of 1
    and 255 where its table has 9 and 24, 3 % of a chroma plane's samples exceptions; 0 with
    the table)."""
    tries = [np.asarray(h, np.int64) for h in hints]
    known = seen >= TABLE_SEEN
    if known.sum() >= TABLE_KNOWN:
        agreement = (_IJG_TABLES[:, known] == steps[known]).mean(axis=1)
        if agreement.max() >= TABLE_AGREEMENT:
            tries += list(_IJG_TABLES[np.flatnonzero(agreement == agreement.max())])
    tries = [t for t in tries if not np.array_equal(t, steps)]
    bits = [_table_bits(t, values, target) for t in tries]
    most = min(TABLE_TRIES, max(1, TABLE_SAMPLES // target.size))  # a small plane's fits are cheap
    return [tries[k].copy() for k in np.argsort(bits, kind="stable")[:most]]


def _settled(
    steps: np.ndarray, values: np.ndarray, target: np.ndarray, padded: np.ndarray
) -> tuple[np.ndarray, np.ndarray, tuple[float, int]]:
    """(levels, steps, (cost in bits, samples unrebuilt)) of the blocks' ``values`` rounded to
    ``steps`` (changed in place), then settled, refined at the edges and nudged."""
    levels = np.round(values / steps).astype(np.int64)
    for _ in range(SETTLE_SWEEPS):
        _settle_steps(levels, values, target, steps)
    _refine(levels, target, steps)
    _refine_edges(levels, target, steps, padded)
    _nudge(levels, target, steps)
    return levels, steps, _plane_bits(levels, target, steps)


def _table_bits(steps: np.ndarray, values: np.ndarray, target: np.ndarray) -> float:
    """``_plane_bits`` of the blocks' ``values`` rounded to ``steps``, before any settling."""
    return _plane_bits(np.round(values / steps).astype(np.int64), target, steps)[0]


def _plane_bits(levels: np.ndarray, target: np.ndarray, steps: np.ndarray) -> tuple[float, int]:
    """(bits, samples unrebuilt) of a plane's levels, roughly: each level's log2(2 |level| + 1)
    bits (as ``_costs`` counts them) and MISS_BITS for each sample of ``target`` its blocks do not
    rebuild. A step of 1 rebuilds everything at that position and pays for it in levels."""
    wrong = int(_wrong(levels, target, steps).sum())
    return float(np.log2(2 * np.abs(levels) + 1).sum()) + MISS_BITS * wrong, wrong


def _visible_samples(flat: np.ndarray, height: int, width: int) -> np.ndarray:
    """The blocks' samples (blocks, 64) as int16, -1 where a block of the last row or column
    reaches past the plane: what the levels must rebuild. A JPEG decoder's edge block is the IDCT
    of a whole block whose hidden part the encoder filled from its own (unquantized) edge, so
    the decoded edge repeated (``blocks``) is close to it but not it: rebuilding that too made
    every edge block of an odd-sized plane an exception (a 333x251 4:2:0 JPEG's chroma planes
    missed 2 % of their samples, all at the edges, and the frame was refused)."""
    target = flat.astype(np.int16)
    rows, cols = -(-height // N), -(-width // N)
    if height % N == 0 and width % N == 0:
        return target
    grid = target.reshape(rows, cols, N, N)
    grid[-1, :, height - (rows - 1) * N :, :] = -1
    grid[:, -1, :, width - (cols - 1) * N :] = -1
    return target


#: ``_settle_steps`` tries the steps this far from each chosen one, on at most SETTLE_BLOCKS of
#: the blocks that a step changes (evenly spaced).
SETTLE_SPAN = 2
SETTLE_SWEEPS = 2
SETTLE_BLOCKS = 48


def _settle_steps(levels: np.ndarray, values: np.ndarray, flat: np.ndarray, steps: np.ndarray) -> None:
    """``_settle_steps_reference``, compiled (``jpeg_kernel.settle_steps``): the same steps and
    levels, in place."""
    from . import jpeg_kernel  # numba: loaded on first use

    jpeg_kernel.settle_steps(levels, values, flat, steps, SETTLE_SPAN, SETTLE_BLOCKS)


def _settle_steps_reference(
    levels: np.ndarray, values: np.ndarray, flat: np.ndarray, steps: np.ndarray
) -> None:
    """Each position's step (and the levels, in place) moved to a near one (SETTLE_SPAN) where
    that rebuilds more samples (of SETTLE_BLOCKS of the blocks it changes): the bits that choose
    a step cannot tell 32 from 33 where most levels are 1 and the decoder's rounding moves a lone
    coefficient's value by 1 or 2. Only positions where a block that does not rebuild has a
    nonzero level are tried, and only the blocks whose coefficient the other step changes are
    rebuilt."""
    wrong = _wrong_reference(levels, flat, steps) > 0
    for z in range(N * N):
        if not np.any(levels[wrong, z]):
            continue
        for q in range(max(1, int(steps[z]) - SETTLE_SPAN), min(MAX_STEP, int(steps[z]) + SETTLE_SPAN) + 1):
            trial = np.round(values[:, z] / q).astype(np.int64)
            changed = np.flatnonzero(trial * q != levels[:, z] * steps[z])
            if changed.size == 0 or q == steps[z]:
                continue
            sample = changed[:: -(-changed.size // SETTLE_BLOCKS)]
            moved = levels[sample].copy()
            moved[:, z] = trial[sample]
            at_q = steps.copy()
            at_q[z] = q
            if (
                _wrong_reference(moved, flat[sample], at_q).sum()
                < _wrong_reference(levels[sample], flat[sample], steps).sum()
            ):
                steps[z] = q
                levels[:, z] = trial
                wrong[changed] = _wrong_reference(levels[changed], flat[changed], steps) > 0


#: Rounds of ``_refine``.
REFINE_ROUNDS = 6


def _refine(levels: np.ndarray, flat: np.ndarray, steps: np.ndarray) -> None:
    """Levels (blocks, 64) of the blocks that do not rebuild, found again (in place) by
    back-projection: the unclipped IDCT of the levels, moved by what the rebuilt block misses of
    the samples (and to at most 0 or at least 255 where the decoder clipped), gives the next
    levels; a block takes them once they rebuild it better. Where a step is 1 or 2, or the
    decoder clipped, rounding the forward DCT is off by a level now and then. Samples outside
    the plane (-1 in ``flat``, ``_visible_samples``) are left free: the IDCT's own values there."""
    wrong = _wrong(levels, flat, steps)
    todo = np.flatnonzero(wrong)
    if todo.size == 0:
        return
    target = flat[todo].reshape(-1, N, N).astype(np.float64)
    low, high, free = target == 0, target == 255, target < 0
    trial = levels[todo]
    best = wrong[todo]
    for _ in range(REFINE_ROUNDS):
        coeffs = np.zeros(trial.shape)
        coeffs[:, ZIGZAG] = trial * steps
        x = _C.T @ coeffs.reshape(-1, N, N) @ _C + 128.0
        rebuilt = rebuild(trial, steps).astype(np.float64)
        y = np.where(low, np.minimum(x, 0.0), np.where(high, np.maximum(x, 255.0), x + target - rebuilt))
        y = np.where(free, x, y)
        trial = np.round(_forward_float(y) / steps).astype(np.int64)
        now = _wrong(trial, flat[todo], steps)
        better = now < best
        levels[todo[better]] = trial[better]
        best = np.minimum(best, now)
        if not best.any():
            return


#: Rounds of ``_refine_edges``.
EDGE_ROUNDS = 8


def _refine_edges(levels: np.ndarray, flat: np.ndarray, steps: np.ndarray, padded: np.ndarray) -> None:
    """Levels of the edge blocks (samples outside the plane: -1 in ``flat``) that do not rebuild,
    found again (in place) as a JPEG encoder made them: its block was the visible samples with
    the last visible row and column repeated over the rest (libjpeg pads so), so the levels are
    the rounded DCT of such a block. Starting from the decoded samples repeated (``padded``,
    ``blocks``' edge padding), each round moves the visible samples by what the rebuilt block
    misses of them, repeats them again and rounds again; a block takes the levels once they
    rebuild it better."""
    free = (flat < 0).reshape(-1, N, N)
    wrong = _wrong(levels, flat, steps)
    todo = np.flatnonzero(free.any(axis=(1, 2)) & (wrong > 0))
    if todo.size == 0:
        return
    target = flat[todo].reshape(-1, N, N).astype(np.float64)
    visible = ~free[todo]
    rows = visible[:, :, 0].sum(axis=1)  # visible rows and columns of each block
    cols = visible[:, 0, :].sum(axis=1)
    row_of = np.minimum(np.arange(N)[None, :], rows[:, None] - 1)  # (blocks, 8): the row repeated there
    col_of = np.minimum(np.arange(N)[None, :], cols[:, None] - 1)
    pick = np.arange(todo.size)[:, None, None], row_of[:, :, None], col_of[:, None, :]
    samples = padded[todo].reshape(-1, N, N).astype(np.float64)
    best = wrong[todo]
    for _ in range(EDGE_ROUNDS):
        trial = np.round(_forward_float(samples) / steps).astype(np.int64)
        rebuilt = rebuild(trial, steps).astype(np.float64)
        now = np.count_nonzero((rebuilt != target) & visible, axis=(1, 2))
        better = now < best
        levels[todo[better]] = trial[better]
        best = np.minimum(best, now)
        if not best.any():
            return
        samples = np.where(visible, samples + target - rebuilt, samples)[pick]


#: Rounds of ``_nudge``: each moves one level of a block by 1.
NUDGE_ROUNDS = 8
#: ``_nudge`` leaves a plane alone where more than this share of its blocks do not rebuild: then
#: its samples are not this IDCT's (MPEG-4 part 2 frames pass the DC gate: 90 % of a 320x240
#: luma's blocks missed, and nudging them took 26 ms for 23 % fewer misses, none of it enough).
NUDGE_SHARE = 0.5


def _nudge(levels: np.ndarray, flat: np.ndarray, steps: np.ndarray) -> None:
    """The blocks that still do not rebuild after ``_refine``, their levels moved (in place) one
    at a time by 1, the move that rebuilds the most samples first, while a move rebuilds more
    (NUDGE_ROUNDS at most): rounding the forward DCT leaves a level or two off by one, and
    back-projection, which moves every level at once, often cannot take one back alone.
    Compiled (``jpeg_kernel.nudge_levels``; ``_nudge_reference`` in numpy)."""
    from . import jpeg_kernel  # numba: loaded on first use

    todo = np.flatnonzero(_wrong(levels, flat, steps))
    if 0 < todo.size <= NUDGE_SHARE * len(levels):
        jpeg_kernel.nudge_levels(levels, flat, steps, todo, NUDGE_ROUNDS)


def _nudge_reference(levels: np.ndarray, flat: np.ndarray, steps: np.ndarray) -> None:
    """``_nudge`` in numpy, move for move (for testing the kernel)."""
    todo = np.flatnonzero(_wrong_reference(levels, flat, steps))
    if todo.size > NUDGE_SHARE * len(levels):
        return
    for b in todo:
        now = int(_wrong_reference(levels[b : b + 1], flat[b : b + 1], steps)[0])
        for _ in range(NUDGE_ROUNDS):
            if now == 0:
                break
            trials = np.repeat(levels[b : b + 1], 128, axis=0)
            trials[np.arange(128), np.arange(128) // 2] += np.tile([-1, 1], 64)
            counts = _wrong_reference(trials, np.repeat(flat[b : b + 1], 128, axis=0), steps)
            k = int(np.argmin(counts))
            if counts[k] >= now:
                break
            levels[b] = trials[k]
            now = int(counts[k])


def _wrong(levels: np.ndarray, flat: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Per block (levels (blocks, 64), samples (blocks, 64), -1 outside the plane), how many
    samples it does not rebuild."""
    from . import jpeg_kernel  # numba: loaded on first use

    return jpeg_kernel.wrong_counts(levels, flat, steps)


def _wrong_reference(levels: np.ndarray, flat: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """``_wrong`` in numpy (``rebuild_reference``)."""
    rebuilt = rebuild_reference(levels, steps).reshape(-1, N * N)
    return np.count_nonzero((rebuilt != flat) & (flat >= 0), axis=1)


def _chosen(usable: np.ndarray, most: int) -> np.ndarray:
    """At most ``most`` evenly spaced blocks of the ``usable`` ones (all blocks if fewer than
    MIN_BLOCKS are usable)."""
    chosen = np.flatnonzero(usable)
    if chosen.size < MIN_BLOCKS:
        chosen = np.arange(usable.size)
    return chosen[:: -(-chosen.size // most)]


def _forward(block_samples: np.ndarray) -> np.ndarray:
    """The float DCT of blocks (..., 8, 8), level-shifted, as (..., 64) in zigzag order."""
    return _forward_float(block_samples.astype(np.float64))


def _forward_float(block_samples: np.ndarray) -> np.ndarray:
    """``_forward`` of float samples."""
    f = _C @ (block_samples - 128.0) @ _C.T
    return f.reshape(*f.shape[:-2], N * N)[..., ZIGZAG]


def _costs(values: np.ndarray, candidates: np.ndarray = _CANDIDATES) -> np.ndarray:
    """Per candidate step (default 2..MAX_STEP), the bits of ``values`` described by it (module
    notes). A row's sum does not depend on the other rows: the same floats for any candidates."""
    levels = np.round(values[None, :] / candidates[:, None])
    off = values[None, :] - levels * candidates[:, None]
    miss = np.minimum(off * off * (np.log2(np.e) / (2 * SIGMA * SIGMA)), MISS_BITS)
    return (miss + np.log2(2 * np.abs(levels) + 1)).sum(axis=1)


def _step(values: np.ndarray) -> int:
    """The step of 2..MAX_STEP that describes ``values`` beyond NOISE in the fewest bits;
    MAX_STEP where no value is beyond NOISE (every level 0 whatever the step).

    Only the candidates up to the first one at which every level is 0 are costed: from there on
    (the largest |value| over the step at most 0.5, which rounds to 0, and the float quotient
    only falls as the step grows) each value costs the same under every step, so their sums are
    the same floats and ``argmin``, which takes the first of equal minima, cannot pick a later
    one. High-frequency positions' values are small: 0.58 of the work on a webcam clip's planes."""
    spread = values[np.abs(values) > NOISE]
    if spread.size == 0:
        return MAX_STEP
    zero_from = int(np.searchsorted(np.abs(spread).max() / _CANDIDATES <= 0.5, True))
    return int(np.argmin(_costs(spread, _CANDIDATES[: zero_from + 1]))) + 2
