"""Compiled ``jpeg_blocks.rebuild``: FFmpeg's 8-bit simple IDCT of dequantized levels, block by block;
the count of samples a block does not rebuild (``wrong_counts``), without the block's samples; and
the encoder's loops over them (``settle_steps``, ``nudge_levels``).

Why: the encoder's fit of a JPEG-decoded plane (``jpeg_blocks.fit``) tries steps and levels by
rebuilding blocks, thousands of small calls a frame, and in numpy each call is some forty passes
over (blocks, 8, 8) int64 temporaries: four fifths of encoding a Motion JPEG clip (a 160x120
webcam clip encoded at 0.17x its decoding speed). Here a block's rows, columns, clipping and
comparison are one loop over its 64 coefficients, with the same integer operations as the numpy
reference (``jpeg_blocks.rebuild_reference``): integer additions and products in any order give
the same int64 (they are exact, or wrap alike), and the shifts, the DC-only rows' int16 wrap and
the clipping are those of the reference, so the samples are the same
(``tests/test_jpeg_kernel.py``). Imported on first use, like the other kernels.
"""

from __future__ import annotations

import numba
import numpy as np

from ..bitstream.table_kernel import first_call
from . import jpeg_blocks as jb

_W1, _W2, _W3, _W4, _W5, _W6, _W7 = jb._W1, jb._W2, jb._W3, jb._W4, jb._W5, jb._W6, jb._W7
_ROW_SHIFT, _COL_SHIFT = jb._ROW_SHIFT, jb._COL_SHIFT
_ROW_ROUND = 1 << (_ROW_SHIFT - 1)
_COL_ROUND = (1 << (_COL_SHIFT - 1)) // _W4
_DC_OFFSET = jb.DC_OFFSET


@numba.njit(cache=True, nogil=True, inline="always")
def _block(levels, b, steps, zigzag, rows, out):  # pragma: no cover - compiled
    """Block b of ``levels`` (blocks, 64; zigzag order) rebuilt into ``out`` (64,) int64 samples,
    row-major; ``rows`` (64,) int64 is scratch for the row pass."""
    for k in range(64):
        rows[k] = 0
    for z in range(64):
        rows[zigzag[z]] = levels[b, z] * steps[z]
    rows[0] += _DC_OFFSET
    for i in range(8):  # idctRowCondDC
        o = 8 * i
        r0, r1, r2, r3 = rows[o], rows[o + 1], rows[o + 2], rows[o + 3]
        r4, r5, r6, r7 = rows[o + 4], rows[o + 5], rows[o + 6], rows[o + 7]
        if r1 == 0 and r2 == 0 and r3 == 0 and r4 == 0 and r5 == 0 and r6 == 0 and r7 == 0:
            dc = (r0 * 8 + 32768) % 65536 - 32768  # written as one int16 word
            for j in range(8):
                rows[o + j] = dc
            continue
        a0 = _W4 * r0 + _ROW_ROUND
        a1, a2, a3 = a0 + _W6 * r2, a0 - _W6 * r2, a0 - _W2 * r2
        a0 = a0 + _W2 * r2
        b0 = _W1 * r1 + _W3 * r3
        b1 = _W3 * r1 - _W7 * r3
        b2 = _W5 * r1 - _W1 * r3
        b3 = _W7 * r1 - _W5 * r3
        a0 = a0 + _W4 * r4 + _W6 * r6
        a1 = a1 - _W4 * r4 - _W2 * r6
        a2 = a2 - _W4 * r4 + _W2 * r6
        a3 = a3 + _W4 * r4 - _W6 * r6
        b0 = b0 + _W5 * r5 + _W7 * r7
        b1 = b1 - _W1 * r5 - _W5 * r7
        b2 = b2 + _W7 * r5 + _W3 * r7
        b3 = b3 + _W3 * r5 - _W1 * r7
        rows[o] = (a0 + b0) >> _ROW_SHIFT
        rows[o + 1] = (a1 + b1) >> _ROW_SHIFT
        rows[o + 2] = (a2 + b2) >> _ROW_SHIFT
        rows[o + 3] = (a3 + b3) >> _ROW_SHIFT
        rows[o + 4] = (a3 - b3) >> _ROW_SHIFT
        rows[o + 5] = (a2 - b2) >> _ROW_SHIFT
        rows[o + 6] = (a1 - b1) >> _ROW_SHIFT
        rows[o + 7] = (a0 - b0) >> _ROW_SHIFT
    for j in range(8):  # idctSparseColPut
        c0, c1, c2, c3 = rows[j], rows[8 + j], rows[16 + j], rows[24 + j]
        c4, c5, c6, c7 = rows[32 + j], rows[40 + j], rows[48 + j], rows[56 + j]
        a0 = _W4 * (c0 + _COL_ROUND)
        a1, a2, a3 = a0 + _W6 * c2, a0 - _W6 * c2, a0 - _W2 * c2
        a0 = a0 + _W2 * c2
        b0 = _W1 * c1 + _W3 * c3 + _W5 * c5 + _W7 * c7
        b1 = _W3 * c1 - _W7 * c3 - _W1 * c5 - _W5 * c7
        b2 = _W5 * c1 - _W1 * c3 + _W7 * c5 + _W3 * c7
        b3 = _W7 * c1 - _W5 * c3 + _W3 * c5 - _W1 * c7
        a0 = a0 + _W4 * c4 + _W6 * c6
        a1 = a1 - _W4 * c4 - _W2 * c6
        a2 = a2 - _W4 * c4 + _W2 * c6
        a3 = a3 + _W4 * c4 - _W6 * c6
        out[j] = min(max((a0 + b0) >> _COL_SHIFT, 0), 255)
        out[8 + j] = min(max((a1 + b1) >> _COL_SHIFT, 0), 255)
        out[16 + j] = min(max((a2 + b2) >> _COL_SHIFT, 0), 255)
        out[24 + j] = min(max((a3 + b3) >> _COL_SHIFT, 0), 255)
        out[32 + j] = min(max((a3 - b3) >> _COL_SHIFT, 0), 255)
        out[40 + j] = min(max((a2 - b2) >> _COL_SHIFT, 0), 255)
        out[48 + j] = min(max((a1 - b1) >> _COL_SHIFT, 0), 255)
        out[56 + j] = min(max((a0 - b0) >> _COL_SHIFT, 0), 255)


@numba.njit(cache=True, nogil=True, parallel=True)
def _rebuild(levels, steps, zigzag, out):  # pragma: no cover - compiled
    for b in numba.prange(levels.shape[0]):  # blocks are independent: any thread count, the same samples
        rows = np.empty(64, np.int64)
        samples = np.empty(64, np.int64)
        _block(levels, b, steps, zigzag, rows, samples)
        for k in range(64):
            out[b, k] = samples[k]
    return out


@numba.njit(cache=True, nogil=True, inline="always")
def _block_wrong(levels, b, flat, steps, zigzag, rows, samples):  # pragma: no cover - compiled
    """How many samples of block b the levels do not rebuild."""
    _block(levels, b, steps, zigzag, rows, samples)
    count = 0
    for k in range(64):
        if flat[b, k] >= 0 and samples[k] != flat[b, k]:  # -1: outside the plane, any sample
            count += 1
    return count


@numba.njit(cache=True, nogil=True)
def _wrong(levels, flat, steps, zigzag, out):  # pragma: no cover - compiled
    rows = np.empty(64, np.int64)
    samples = np.empty(64, np.int64)
    for b in range(levels.shape[0]):
        out[b] = _block_wrong(levels, b, flat, steps, zigzag, rows, samples)
    return out


@numba.njit(cache=True, nogil=True)
def _settle(levels, values, flat, steps, zigzag, span, max_step, most):  # pragma: no cover - compiled
    """``jpeg_blocks._settle_steps_reference``, step for step: the same trials in the same order, the
    same sampled blocks, the same comparisons of integer counts."""
    n_blocks = levels.shape[0]
    rows = np.empty(64, np.int64)
    samples = np.empty(64, np.int64)
    wrong = np.empty(n_blocks, np.bool_)
    for b in range(n_blocks):
        wrong[b] = _block_wrong(levels, b, flat, steps, zigzag, rows, samples) > 0
    trial = np.empty(n_blocks, np.int64)
    changed = np.empty(n_blocks, np.int64)
    for z in range(64):
        tried = False
        for b in range(n_blocks):
            if wrong[b] and levels[b, z] != 0:
                tried = True
                break
        if not tried:
            continue
        first = steps[z]  # the span is around the step the position had before its trials
        for q in range(max(1, first - span), min(max_step, first + span) + 1):
            n = 0
            for b in range(n_blocks):
                trial[b] = np.int64(np.rint(values[b, z] / q))
                if trial[b] * q != levels[b, z] * steps[z]:
                    changed[n] = b
                    n += 1
            if n == 0 or q == steps[z]:
                continue
            stride = -(-n // most)
            before = 0
            after = 0
            for i in range(0, n, stride):  # changed[::stride]
                b = changed[i]
                before += _block_wrong(levels, b, flat, steps, zigzag, rows, samples)
                kept_level, kept_step = levels[b, z], steps[z]
                levels[b, z], steps[z] = trial[b], q
                after += _block_wrong(levels, b, flat, steps, zigzag, rows, samples)
                levels[b, z], steps[z] = kept_level, kept_step
            if after < before:
                steps[z] = q
                for b in range(n_blocks):
                    levels[b, z] = trial[b]
                for i in range(n):
                    b = changed[i]
                    wrong[b] = _block_wrong(levels, b, flat, steps, zigzag, rows, samples) > 0


@numba.njit(cache=True, nogil=True, parallel=True)
def _nudge(levels, flat, steps, zigzag, todo, rounds):  # pragma: no cover - compiled
    """``jpeg_blocks._nudge_reference``: per block of ``todo``, up to ``rounds`` times, the one
    level moved by 1 (positions in order, -1 before +1) that leaves the fewest samples unrebuilt,
    where that is fewer than now (the first such kept); blocks are independent."""
    for t in numba.prange(todo.size):
        b = todo[t]
        rows = np.empty(64, np.int64)
        samples = np.empty(64, np.int64)
        now = _block_wrong(levels, b, flat, steps, zigzag, rows, samples)
        for _ in range(rounds):
            if now == 0:
                break
            best, best_z, best_d = now, -1, 0
            for z in range(64):
                for d in (-1, 1):
                    levels[b, z] += d
                    count = _block_wrong(levels, b, flat, steps, zigzag, rows, samples)
                    levels[b, z] -= d
                    if count < best:
                        best, best_z, best_d = count, z, d
            if best_z < 0:
                break
            levels[b, best_z] += best_d
            now = best


def nudge_levels(
    levels: np.ndarray, flat: np.ndarray, steps: np.ndarray, todo: np.ndarray, rounds: int
) -> None:
    """``jpeg_blocks._nudge``: the levels (blocks, 64) int64 of blocks ``todo`` changed in place,
    a level by 1 at a time, while that rebuilds more of ``flat``'s samples (-1: outside the plane)."""
    if levels.dtype != np.int64 or not levels.flags.c_contiguous or levels.shape != flat.shape:
        raise ValueError(
            f"levels must be C-contiguous int64 like the samples {flat.shape}, got {levels.shape}"
        )
    steps = np.ascontiguousarray(steps, np.int64)
    todo = np.unique(np.asarray(todo, np.int64))  # the kernel writes each block once, unchecked
    if todo.size and not 0 <= todo[0] <= todo[-1] < len(levels):
        raise ValueError(f"blocks {todo[0]}..{todo[-1]} of {len(levels)}")
    with first_call(_nudge):
        _nudge(
            levels,
            np.ascontiguousarray(flat, np.int16),
            steps,
            jb.ZIGZAG,
            todo,
            rounds,
        )


def settle_steps(
    levels: np.ndarray, values: np.ndarray, flat: np.ndarray, steps: np.ndarray, span: int, most: int
) -> None:
    """``jpeg_blocks._settle_steps``: levels (blocks, 64) int64 and steps (64,) int64 changed in
    place, from the blocks' forward DCT ``values`` (blocks, 64) float64 and samples ``flat``
    (blocks, 64; -1 outside the plane, as ``wrong_counts`` reads them); ``span`` and ``most``:
    SETTLE_SPAN and SETTLE_BLOCKS."""
    shapes = {levels.shape, values.shape, flat.shape}
    if len(shapes) != 1 or levels.shape[1:] != (jb.N * jb.N,) or steps.shape != (jb.N * jb.N,):
        raise ValueError(
            f"levels {levels.shape}, values {values.shape}, samples {flat.shape}, steps {steps.shape}"
        )
    for name, a in (("levels", levels), ("steps", steps)):  # changed in place: no copies
        if a.dtype != np.int64 or not a.flags.c_contiguous:
            raise ValueError(f"{name} must be C-contiguous int64, got {a.dtype}")
    with first_call(_settle):
        _settle(
            levels,
            np.ascontiguousarray(values, np.float64),
            np.ascontiguousarray(flat, np.int16),
            steps,
            jb.ZIGZAG,
            span,
            jb.MAX_STEP,
            most,
        )


def _inputs(levels: np.ndarray, steps: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.ascontiguousarray(levels.reshape(-1, jb.N * jb.N), np.int64),
        np.ascontiguousarray(steps, np.int64),
        jb.ZIGZAG,
    )


def rebuild(levels: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """``jpeg_blocks.rebuild``: the uint8 blocks (..., 8, 8) a JPEG decoder makes of ``levels``
    (..., 64, zigzag order) and a plane's zigzag steps (64,)."""
    flat, steps, zigzag = _inputs(levels, steps)
    out = np.empty((flat.shape[0], jb.N * jb.N), np.uint8)
    with first_call(_rebuild):
        _rebuild(flat, steps, zigzag, out)
    return out.reshape(*levels.shape[:-1], jb.N, jb.N)


def wrong_counts(levels: np.ndarray, samples: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Per block (levels (blocks, 64), samples (blocks, 64): 0..255, or -1 for a position outside
    the plane, which any sample matches), how many of its samples the levels do not rebuild
    (``jpeg_blocks._wrong``), int64. One thread: the encoder's calls are small (a step's trial
    reads 48 blocks)."""
    flat, steps, zigzag = _inputs(levels, steps)
    if samples.shape != (flat.shape[0], jb.N * jb.N):
        raise ValueError(f"{flat.shape[0]} blocks of levels against samples of {samples.shape}")
    out = np.empty(flat.shape[0], np.int64)
    with first_call(_wrong):
        return _wrong(flat, np.ascontiguousarray(samples, np.int16), steps, zigzag, out)
