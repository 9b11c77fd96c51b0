"""Compiled loops of the planar frames' block motion (``codec.motion``): the half-sample planes,
the motion-compensated luma and chroma planes, the per-block costs the encoder's search
compares, and each of the search's steps in one call (``search``: every block's candidates in
order inside the loop, where a call per candidate made 284 calls per search).

Why: in numpy a compensated plane is a dozen whole-plane passes (positions, parities, four
clamped gathers, three selections), and the search forms one for each of its 30 candidates per
reference frame, then sums the block differences: most of a planar frame's encoding time. These
loops do one pass per candidate with the same integer arithmetic, so the planes and the costs are
the same integers (``tests/test_motion_kernel.py`` checks them against ``motion``'s numpy
rules). Imported on first use: numba takes a moment to load.
"""

from __future__ import annotations

import numba
import numpy as np

from ..bitstream import range_decoder, table_kernel
from ..bitstream.table_kernel import first_call
from . import raster_rule


#: Per interpolation rule (``motion.INTERPOLATIONS``), what the bilinear rules add before
#: halving: 1 rounds halves up (MPEG-1/2, MPEG-4 with rounding_control 0), 0 down.
_ROUNDING = (1, 1, 1, 0)


@numba.njit(cache=True, nogil=True, inline="always")
def _sample(half, y, x, vy, vx):  # pragma: no cover - compiled
    """The compensated sample at (y, x) for the vector (vy, vx) in quarter samples: whole and half
    samples from ``half``, a quarter sample the rounded-up mean of the two nearest (on the
    diagonal for the four positions between half samples); positions clamped to ``half``."""
    h2, w2 = half.shape
    qy = 4 * y + vy
    qx = 4 * x + vx
    y0, x0 = qy >> 1, qx >> 1
    odd_y, odd_x = qy & 1, qx & 1
    ya, xa = min(max(y0, 0), h2 - 1), min(max(x0, 0), w2 - 1)
    if odd_y == 0 and odd_x == 0:
        return np.int64(half[ya, xa])
    yb, xb = min(max(y0 + 1, 0), h2 - 1), min(max(x0 + 1, 0), w2 - 1)
    if odd_y == 1 and odd_x == 1:
        if ((y0 + x0) & 1) == 0:  # the anti-diagonal: right and below
            return (np.int64(half[ya, xb]) + np.int64(half[yb, xa]) + 1) >> 1
        return (np.int64(half[ya, xa]) + np.int64(half[yb, xb]) + 1) >> 1
    if odd_y == 1:
        return (np.int64(half[ya, xa]) + np.int64(half[yb, xa]) + 1) >> 1
    return (np.int64(half[ya, xa]) + np.int64(half[ya, xb]) + 1) >> 1


@numba.njit(cache=True, nogil=True, parallel=True)
def _compensate(half, vy, vx, pick, r, block_h, block_w, out):  # pragma: no cover - compiled
    """``out``'s samples of the blocks that take reference ``r`` (``pick``), compensated from
    its half-sample plane ``half``; the others left as they are."""
    h, w = out.shape
    for y in numba.prange(h):
        by = y // block_h
        for x in range(w):
            bx = x // block_w
            if pick[by, bx] == r:
                out[y, x] = _sample(half, y, x, np.int64(vy[by, bx]), np.int64(vx[by, bx]))


@numba.njit(cache=True, nogil=True, parallel=True)
def _compensated_costs(cur, half, vy, vx, block, out):  # pragma: no cover - compiled
    """Per block, the sum of absolute differences between ``cur`` and its compensation by the
    block's vector, over the block's samples inside the plane."""
    h, w = cur.shape
    bh, bw = out.shape
    for by in numba.prange(bh):
        for bx in range(bw):
            v_y, v_x = np.int64(vy[by, bx]), np.int64(vx[by, bx])
            total = np.int64(0)
            for y in range(by * block, min((by + 1) * block, h)):
                for x in range(bx * block, min((bx + 1) * block, w)):
                    total += abs(np.int64(cur[y, x]) - np.int64(_sample(half, y, x, v_y, v_x)))
            out[by, bx] = total


@numba.njit(cache=True, nogil=True, parallel=True)
def _whole_sample_costs(cur, ref, vy, vx, block, out):  # pragma: no cover - compiled
    """Per block of ``cur`` (whose sides are multiples of ``block``), the sum of absolute
    differences with ``ref`` moved by the block's whole-sample vector, positions clamped."""
    h, w = cur.shape
    bh, bw = out.shape
    for by in numba.prange(bh):
        for bx in range(bw):
            v_y, v_x = np.int64(vy[by, bx]), np.int64(vx[by, bx])
            total = np.int64(0)
            for y in range(by * block, (by + 1) * block):
                ry = min(max(y + v_y, 0), h - 1)
                for x in range(bx * block, (bx + 1) * block):
                    rx = min(max(x + v_x, 0), w - 1)
                    total += abs(np.int64(cur[y, x]) - np.int64(ref[ry, rx]))
            out[by, bx] = total


@numba.njit(cache=True, nogil=True, inline="always")
def _candidate(k, by, bx, dys, dxs, which, base_y, base_x, median_y, median_x, limit):  # pragma: no cover
    """Candidate k of block (by, bx): (dy, dx) itself (which 0), the block's base plus it (1) or
    the block's median (2), each component clamped to +-limit."""
    if which[k] == 0:
        cy, cx = np.int64(dys[k]), np.int64(dxs[k])
    elif which[k] == 1:
        cy, cx = np.int64(base_y[by, bx]) + dys[k], np.int64(base_x[by, bx]) + dxs[k]
    else:
        cy, cx = np.int64(median_y[by, bx]), np.int64(median_x[by, bx])
    return min(max(cy, -limit), limit), min(max(cx, -limit), limit)


@numba.njit(cache=True, nogil=True, inline="always")
def _whole_sad(cur, ref, y0, y1, x0, x1, cy, cx, total, low):  # pragma: no cover - compiled
    """``total`` plus the block's sum of absolute differences with ``ref`` moved by (cy, cx) (whole
    samples, positions clamped), or a partial sum once it reaches ``low``: the search then drops
    the candidate either way. Rows without clamping where the moved block lies inside ``ref``."""
    h, w = cur.shape
    inside = x0 + cx >= 0 and x1 - 1 + cx < w
    n = np.uint64(x1 - x0)
    for y in range(y0, y1):
        ry = min(max(y + cy, 0), h - 1)
        if inside:  # row views, a row's sum in int32 (``search``'s bound): the loop vectorizes
            row, moved = cur[y, x0:x1], ref[ry, x0 + cx : x1 + cx]
            part = np.int32(0)
            for i in range(n):
                part += abs(row[i] - moved[i])
            total += part
        else:
            for x in range(x0, x1):
                total += abs(np.int64(cur[y, x]) - np.int64(ref[ry, min(max(x + cx, 0), w - 1)]))
        if total >= low:
            return total
    return total


@numba.njit(cache=True, nogil=True, inline="always")
def _quarter_sad(cur, half, y0, y1, x0, x1, cy, cx, total, low):  # pragma: no cover - compiled
    """``_whole_sad`` for a vector in quarter samples: ``_sample``'s interpolation as the rounded-up
    mean of two samples of ``half`` (the same one twice at whole and half samples), which two
    depending on the vector only (4y + cy has the parity of cy): chosen once per candidate, not per
    sample."""
    h2, w2 = half.shape
    oy, ox = cy >> 1, cx >> 1
    odd_y, odd_x = cy & 1, cx & 1
    # (row, column) offsets of the two samples from (2y + oy, 2x + ox)
    dy2, dx1, dx2 = odd_y, 0, odd_x
    if odd_y == 1 and odd_x == 1 and ((oy + ox) & 1) == 0:  # the anti-diagonal: right and below
        dx1, dx2 = 1, 0
    top, left = 2 * y0 + oy, 2 * x0 + ox
    if top >= 0 and 2 * y1 + oy + dy2 <= h2 + 1 and left >= 0 and 2 * x1 + ox + max(dx1, dx2) <= w2 + 1:
        # every position inside the half plane: rows read as strided views, without clamps
        n = np.uint64(x1 - x0)
        for y in range(y0, y1):
            row = cur[y, x0:x1]
            a = half[2 * y + oy, left + dx1 : left + dx1 + 2 * (x1 - x0) : 2]
            b = half[2 * y + oy + dy2, left + dx2 : left + dx2 + 2 * (x1 - x0) : 2]
            part = np.int32(0)  # a row's sum in int32 (``search``'s bound)
            for i in range(n):
                part += abs(row[i] - ((np.int32(a[i]) + np.int32(b[i]) + np.int32(1)) >> np.int32(1)))
            total += part
            if total >= low:
                return total
        return total
    if odd_y == 0 and odd_x == 0:  # a half-sample position: one sample, not the mean of two
        for y in range(y0, y1):
            ya = min(max(2 * y + oy, 0), h2 - 1)
            for x in range(x0, x1):
                total += abs(np.int64(cur[y, x]) - np.int64(half[ya, min(max(2 * x + ox, 0), w2 - 1)]))
            if total >= low:
                return total
        return total
    for y in range(y0, y1):
        ya = min(max(2 * y + oy, 0), h2 - 1)
        yb = min(max(2 * y + oy + dy2, 0), h2 - 1)
        for x in range(x0, x1):
            xa = min(max(2 * x + ox + dx1, 0), w2 - 1)
            xb = min(max(2 * x + ox + dx2, 0), w2 - 1)
            total += abs(np.int64(cur[y, x]) - ((np.int64(half[ya, xa]) + np.int64(half[yb, xb]) + 1) >> 1))
        if total >= low:
            return total
    return total


@numba.njit(cache=True, nogil=True, inline="always")
def _row_sads(cur, ref, y0, y1, cy, cx, block, acc, sums):  # pragma: no cover - compiled
    """Every block's sum of absolute differences in the block row of samples y0:y1 of ``cur``
    against ``ref`` moved by the whole-sample vector (cy, cx) (positions clamped), into ``sums``
    (one per block): the differences added up per column over the rows (``acc``, as long as a
    row), then per block. Each row is three runs (left of the plane, inside it, right of it) with
    no clamp inside the run, so that the loops vectorize: a block of a reduced level is 2-8
    samples wide, too few for a loop of its own."""
    h, w = cur.shape
    acc[:] = 0
    lo = min(max(-cx, 0), w)  # x < lo reads column 0
    hi = max(min(w - cx, w), lo)  # x >= hi reads column w - 1
    inside = np.uint64(hi - lo)  # an unsigned count: the run's indices need no wraparound
    for y in range(y0, y1):
        ry = min(max(y + cy, 0), h - 1)
        row, moved = cur[y], ref[ry]
        first, last = np.int64(moved[0]), np.int64(moved[w - 1])
        for x in range(lo):
            acc[x] += abs(np.int64(row[x]) - first)
        a, c, r = acc[lo:hi], row[lo:hi], moved[lo + cx : hi + cx]
        for i in range(inside):
            a[i] += abs(np.int64(c[i]) - np.int64(r[i]))
        for x in range(hi, w):
            acc[x] += abs(np.int64(row[x]) - last)
    for bx in range(sums.size):
        s = np.int64(0)
        for x in range(bx * block, min((bx + 1) * block, w)):
            s += acc[x]
        sums[bx] = s


@numba.njit(cache=True, nogil=True, parallel=True)
def _search(
    cur,
    ref,
    half,
    quarter,
    block,
    dys,
    dxs,
    which,
    base_y,
    base_x,
    median_y,
    median_x,
    weight,
    limit,
    best,
    vy,
    vx,
):  # pragma: no cover - compiled
    """Per block, the candidates in order (``_candidate``), each costed by its sum of absolute
    differences (whole samples of ``ref`` moved by the vector, positions clamped, or with
    ``quarter`` the compensated samples of the half-sample plane ``half`` over the block's samples
    inside the plane: for a whole-sample vector that keeps the block off the bottom and right
    edges ``ref``'s samples, which are the half plane's even ones, read side by side; at a
    half-sample position one sample, not two) plus ``weight`` per unit away from the block's
    median; a cost below the best so far replaces it and the block's vector (the first of equal
    costs stays). A candidate of one vector for all blocks (which 0, without ``quarter``: the
    reduced levels' full searches) is costed for a whole block row at once (``_row_sads``); the
    others block by block, dropped as soon as a partial sum (the median term first) reaches the
    best: the sums only grow, so the kept vectors and costs are those of the full sums, and
    blocks are independent, so the order of blocks and candidates within a row is free as long
    as each block meets its candidates in order."""
    h, w = cur.shape
    bh, bw = best.shape
    for by in numba.prange(bh):
        y0, y1 = by * block, min((by + 1) * block, h)
        acc = np.empty(w, np.int64)
        sums = np.empty(bw, np.int64)
        for k in range(dys.size):
            if which[k] == 0 and not quarter:
                cy, cx = _candidate(k, by, 0, dys, dxs, which, base_y, base_x, median_y, median_x, limit)
                _row_sads(cur, ref, y0, y1, cy, cx, block, acc, sums)
                for bx in range(bw):
                    my, mx = np.int64(median_y[by, bx]), np.int64(median_x[by, bx])
                    total = weight * (abs(cy - my) + abs(cx - mx)) + sums[bx]
                    if total < best[by, bx]:
                        best[by, bx], vy[by, bx], vx[by, bx] = total, cy, cx
                continue
            for bx in range(bw):
                x0, x1 = bx * block, min((bx + 1) * block, w)
                low = best[by, bx]
                my, mx = np.int64(median_y[by, bx]), np.int64(median_x[by, bx])
                cy, cx = _candidate(k, by, bx, dys, dxs, which, base_y, base_x, median_y, median_x, limit)
                total = weight * (abs(cy - my) + abs(cx - mx))
                if total >= low:
                    continue
                if quarter and ((cy | cx) & 3) == 0 and y1 + (cy >> 2) <= h and x1 + (cx >> 2) <= w:
                    # a whole-sample vector, the block not moved past the bottom or right edge (the
                    # half plane's clamped positions there are half samples): ``ref``'s samples
                    total = _whole_sad(cur, ref, y0, y1, x0, x1, cy >> 2, cx >> 2, total, low)
                elif quarter:
                    total = _quarter_sad(cur, half, y0, y1, x0, x1, cy, cx, total, low)
                else:
                    total = _whole_sad(cur, ref, y0, y1, x0, x1, cy, cx, total, low)
                if total < low:
                    best[by, bx], vy[by, bx], vx[by, bx] = total, cy, cx


@numba.njit(cache=True, nogil=True, inline="always")
def _taps(a, b, c, d, e, f):  # pragma: no cover - compiled
    """H.264's 6-tap sum (1, -5, 20, 20, -5, 1), unrounded."""
    return a - 5 * b + 20 * c + 20 * d - 5 * e + f


@numba.njit(cache=True, nogil=True, parallel=True)
def _horizontal(ref, out):  # pragma: no cover - compiled
    """The unrounded horizontal half samples between x and x + 1 (columns clamped to the plane)."""
    h, w = ref.shape
    for y in numba.prange(h):
        for x in range(w):
            col = (min(max(x - 2, 0), w - 1), min(max(x - 1, 0), w - 1), x, min(x + 1, w - 1),
                   min(x + 2, w - 1), min(x + 3, w - 1))  # fmt: skip
            out[y, x] = _taps(
                np.int64(ref[y, col[0]]), np.int64(ref[y, col[1]]), np.int64(ref[y, col[2]]),
                np.int64(ref[y, col[3]]), np.int64(ref[y, col[4]]), np.int64(ref[y, col[5]]),
            )  # fmt: skip


@numba.njit(cache=True, nogil=True, parallel=True)
def _half_plane(ref, horiz, max_value, out):  # pragma: no cover - compiled
    h, w = ref.shape
    for y in numba.prange(h):
        rows = (max(y - 2, 0), max(y - 1, 0), y, min(y + 1, h - 1), min(y + 2, h - 1), min(y + 3, h - 1))
        for x in range(w):
            vert = _taps(
                np.int64(ref[rows[0], x]), np.int64(ref[rows[1], x]), np.int64(ref[rows[2], x]),
                np.int64(ref[rows[3], x]), np.int64(ref[rows[4], x]), np.int64(ref[rows[5], x]),
            )  # fmt: skip
            centre = _taps(
                horiz[rows[0], x], horiz[rows[1], x], horiz[rows[2], x],
                horiz[rows[3], x], horiz[rows[4], x], horiz[rows[5], x],
            )  # fmt: skip
            out[2 * y, 2 * x] = ref[y, x]
            out[2 * y, 2 * x + 1] = min(max((horiz[y, x] + 16) >> 5, 0), max_value)
            out[2 * y + 1, 2 * x] = min(max((vert + 16) >> 5, 0), max_value)
            out[2 * y + 1, 2 * x + 1] = min(max((centre + 512) >> 10, 0), max_value)


@numba.njit(cache=True, nogil=True, parallel=True)
def _compensate_chroma(
    ref, vy, vx, pick, r, log2_h, log2_w, block_h, block_w, out
):  # pragma: no cover - compiled
    """``out``'s samples of the blocks that take reference ``r`` (``pick``), from its plane ``ref``."""
    h, w = ref.shape
    for y in numba.prange(h):
        by = y // block_h
        for x in range(w):
            bx = x // block_w
            if pick[by, bx] != r:
                continue
            ey = 8 * y + ((np.int64(vy[by, bx]) * 2) >> log2_h)
            ex = 8 * x + ((np.int64(vx[by, bx]) * 2) >> log2_w)
            y0, x0, fy, fx = ey >> 3, ex >> 3, ey & 7, ex & 7
            ya, yb = min(max(y0, 0), h - 1), min(max(y0 + 1, 0), h - 1)
            xa, xb = min(max(x0, 0), w - 1), min(max(x0 + 1, 0), w - 1)
            total = (
                (8 - fx) * (8 - fy) * np.int64(ref[ya, xa])
                + fx * (8 - fy) * np.int64(ref[ya, xb])
                + (8 - fx) * fy * np.int64(ref[yb, xa])
                + fx * fy * np.int64(ref[yb, xb])
            )
            out[y, x] = (total + 32) >> 6


@numba.njit(cache=True, nogil=True, parallel=True)
def _bilinear_half_plane(ref, rounding, out):  # pragma: no cover - compiled
    h, w = ref.shape
    for y in numba.prange(h):
        y1 = min(y + 1, h - 1)
        for x in range(w):
            x1 = min(x + 1, w - 1)
            a, b = np.int64(ref[y, x]), np.int64(ref[y, x1])
            c, d = np.int64(ref[y1, x]), np.int64(ref[y1, x1])
            out[2 * y, 2 * x] = a
            out[2 * y, 2 * x + 1] = (a + b + rounding) >> 1
            out[2 * y + 1, 2 * x] = (a + c + rounding) >> 1
            out[2 * y + 1, 2 * x + 1] = (a + b + c + d + 1 + rounding) >> 2


@numba.njit(cache=True, nogil=True, parallel=True)
def _compensate_chroma_mpeg(
    ref, vy, vx, pick, r, block_h, block_w, rounding, out
):  # pragma: no cover - compiled
    """(vy, vx): each block's vector in the plane's half samples (``motion.mpeg_chroma_field``);
    only the blocks that take reference ``r`` (``pick``)."""
    h, w = ref.shape
    for y in numba.prange(h):
        by = y // block_h
        for x in range(w):
            bx = x // block_w
            if pick[by, bx] != r:
                continue
            cy, cx = np.int64(vy[by, bx]), np.int64(vx[by, bx])
            y0, x0, fy, fx = y + (cy >> 1), x + (cx >> 1), cy & 1, cx & 1
            ya, yb = min(max(y0, 0), h - 1), min(max(y0 + 1, 0), h - 1)
            xa, xb = min(max(x0, 0), w - 1), min(max(x0 + 1, 0), w - 1)
            a = np.int64(ref[ya, xa])
            if fy and fx:
                total = a + np.int64(ref[ya, xb]) + np.int64(ref[yb, xa]) + np.int64(ref[yb, xb])
                out[y, x] = (total + 1 + rounding) >> 2
            elif fx:
                out[y, x] = (a + np.int64(ref[ya, xb]) + rounding) >> 1
            elif fy:
                out[y, x] = (a + np.int64(ref[yb, xa]) + rounding) >> 1
            else:
                out[y, x] = a


def half_sample_plane(ref: np.ndarray, max_value: int, rule: int = 0) -> np.ndarray:
    """``motion.half_sample_plane_reference``'s (2H, 2W) plane, in the samples' own width (uint8
    up to 8 bits, else uint16: every value is clipped to 0..max_value), a quarter or half of the
    int32 plane it was: an encoder holds one per reference frame."""
    ref = np.ascontiguousarray(ref)
    h, w = ref.shape
    if rule:
        out = np.empty((2 * h, 2 * w), np.uint8 if max_value <= 0xFF else np.uint16)
        with first_call(_bilinear_half_plane):
            _bilinear_half_plane(ref, _ROUNDING[rule], out)
        return out
    horiz = np.empty((h, w), np.int32)  # |sum| < 52 x 65535: int32 holds 16-bit samples' sums
    out = np.empty((2 * h, 2 * w), np.uint8 if max_value <= 0xFF else np.uint16)
    with first_call(_horizontal):
        _horizontal(ref, horiz)
    with first_call(_half_plane):
        _half_plane(ref, horiz, max_value, out)
    return out


def _vectors(vy: np.ndarray, vx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A vector field as int64, whether the encoder's search or the decoder's stream gave it:
    one compiled signature for both (a second cost 1.3-1.6 s a kernel on a first run)."""
    return np.ascontiguousarray(vy, np.int64), np.ascontiguousarray(vx, np.int64)


def compensate_chroma(
    ref: np.ndarray,
    vy: np.ndarray,
    vx: np.ndarray,
    log2_h: int,
    log2_w: int,
    block_h: int,
    block_w: int,
    rule: int = 0,
) -> np.ndarray:
    """``motion.compensate_chroma_reference``'s (H, W) int64 plane."""
    out = np.empty(ref.shape, np.int64)
    compensate_chroma_into(out, ref, vy, vx, _every_block(vy), 0, log2_h, log2_w, block_h, block_w, rule)
    return out


def compensate_chroma_into(
    out: np.ndarray,
    ref: np.ndarray,
    vy: np.ndarray,
    vx: np.ndarray,
    pick: np.ndarray,
    r: int,
    log2_h: int,
    log2_w: int,
    block_h: int,
    block_w: int,
    rule: int = 0,
) -> None:
    """``compensate_chroma``'s samples of the blocks whose ``pick`` is ``r`` into ``out`` (the
    plane's shape, an integer type that holds the samples), reference ``r``'s plane being
    ``ref``; the other samples are left as they are."""
    ref = np.ascontiguousarray(ref)
    pick = np.ascontiguousarray(pick, np.int64)
    if rule:
        from . import motion

        cy, cx = _vectors(*motion.mpeg_chroma_field(vy, vx, log2_h, log2_w, block_h << log2_h, rule))
        with first_call(_compensate_chroma_mpeg):
            _compensate_chroma_mpeg(ref, cy, cx, pick, np.int64(r), block_h, block_w, _ROUNDING[rule], out)
        return
    vy, vx = _vectors(vy, vx)
    with first_call(_compensate_chroma):
        _compensate_chroma(ref, vy, vx, pick, np.int64(r), log2_h, log2_w, block_h, block_w, out)


def compensate(half: np.ndarray, vy: np.ndarray, vx: np.ndarray, block_h: int, block_w: int) -> np.ndarray:
    """``motion.compensate_reference``'s plane ((H, W), ``half``'s dtype)."""
    h2, w2 = half.shape
    out = np.empty((h2 // 2, w2 // 2), half.dtype)
    compensate_into(out, half, vy, vx, _every_block(vy), 0, block_h, block_w)
    return out


def compensate_into(
    out: np.ndarray,
    half: np.ndarray,
    vy: np.ndarray,
    vx: np.ndarray,
    pick: np.ndarray,
    r: int,
    block_h: int,
    block_w: int,
) -> None:
    """``compensate``'s samples of the blocks whose ``pick`` is ``r`` into ``out`` ((H, W), an
    integer type that holds the samples), reference ``r``'s half-sample plane being ``half``; the
    other samples are left as they are. A frame whose blocks take several references is so made
    a reference at a time, each computing only its own blocks' samples, where a whole plane per
    reference had been compensated and then copied through a mask (``modes.planar._mc_planes``)."""
    vy, vx = _vectors(vy, vx)
    with first_call(_compensate):
        _compensate(
            np.ascontiguousarray(half),
            vy,
            vx,
            np.ascontiguousarray(pick, np.int64),
            np.int64(r),
            block_h,
            block_w,
            out,
        )


def _every_block(vy: np.ndarray) -> np.ndarray:
    """A field's ``pick`` of reference 0 for every block."""
    return np.zeros(np.shape(vy), np.int64)


def compensated_costs(
    cur: np.ndarray, half: np.ndarray, vy: np.ndarray, vx: np.ndarray, block: int
) -> np.ndarray:
    """(bh, bw) int64 sums of |cur - compensate(half, vy, vx)| per ``block`` x ``block`` block
    (the field's shape; the last blocks may reach past the plane)."""
    out = np.empty(vy.shape, np.int64)
    with first_call(_compensated_costs):
        _compensated_costs(np.ascontiguousarray(cur), np.ascontiguousarray(half), vy, vx, block, out)
    return out


def whole_sample_costs(
    cur: np.ndarray, ref: np.ndarray, vy: np.ndarray, vx: np.ndarray, block: int
) -> np.ndarray:
    """(bh, bw) int64 sums of |cur - ref moved by the block's whole-sample vector| (positions
    clamped to the plane) per ``block`` x ``block`` block of ``cur``."""
    out = np.empty((cur.shape[0] // block, cur.shape[1] // block), np.int64)
    with first_call(_whole_sample_costs):
        _whole_sample_costs(np.ascontiguousarray(cur), np.ascontiguousarray(ref), vy, vx, block, out)
    return out


@numba.njit(cache=True, nogil=True)
def _neighbour_medians(vy, vx, my, mx):  # pragma: no cover - compiled
    h, w = vy.shape
    for v, out in ((vy, my), (vx, mx)):
        for y in range(h):
            up, down = max(y - 1, 0), min(y + 1, h - 1)
            for x in range(w):
                a, b, c = v[y, x], v[up, x], v[down, x]
                d, e = v[y, max(x - 1, 0)], v[y, min(x + 1, w - 1)]
                low = max(min(a, b), min(c, d))  # neither of the two smallest of a..d
                high = min(max(a, b), max(c, d))  # neither of the two largest
                out[y, x] = max(min(low, high), min(max(low, high), e))


def neighbour_medians(vy: np.ndarray, vx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``motion._neighbour_median`` of both components of a field (int32), in one call: the
    search takes one pair per step and reference, each a dozen small numpy operations."""
    vy = np.ascontiguousarray(vy, np.int32)
    vx = np.ascontiguousarray(vx, np.int32)
    my, mx = np.empty_like(vy), np.empty_like(vx)
    with first_call(_neighbour_medians):
        _neighbour_medians(vy, vx, my, mx)
    return my, mx


#: The widest block ``search`` takes (its rows' sums in int32).
MAX_BLOCK = 256


def search(
    cur: np.ndarray,
    ref: np.ndarray,
    half: np.ndarray,
    block: int,
    candidates: list[tuple[int, int, int]],
    base: tuple[np.ndarray, np.ndarray],
    median: tuple[np.ndarray, np.ndarray],
    weight: int,
    best: np.ndarray,
    vy: np.ndarray,
    vx: np.ndarray,
    quarter: bool = False,
    limit: int = 1 << 30,
) -> None:
    """``motion``'s search steps in one call: per block, every candidate (which, dy, dx) in order
    (which 0: the vector (dy, dx); 1: ``base`` + (dy, dx); 2: ``median``), clamped to +-``limit``,
    costed as ``whole_sample_costs`` on ``ref`` (int32) or, ``quarter``, as ``compensated_costs``
    on the half-sample plane ``half`` (uint8 or uint16), plus ``weight`` per unit from ``median``,
    kept in ``best``, ``vy``, ``vx`` (int64, int32, int32; updated in place) where it costs less
    than the best so far (``quarter``: ``ref`` holds the samples of ``half``'s even positions,
    which whole-sample vectors read instead). Both planes are passed to every step: one
    compiled version of the kernel for a frame's samples (a second costs seconds to compile).
    The kernel adds up a row of a block's differences in int32: ``cur`` and ``ref`` hold samples
    below 2^21 (16-bit samples, or their sums over 4x4 at the reduced levels: below 2^20) and
    blocks are at most MAX_BLOCK samples wide, so a row's sum stays below 2^29."""
    if not 0 < block <= MAX_BLOCK:
        raise ValueError(f"a search's blocks are 1 to {MAX_BLOCK} samples wide, not {block}")
    which = np.array([c[0] for c in candidates], np.int64)
    dys = np.array([c[1] for c in candidates], np.int64)
    dxs = np.array([c[2] for c in candidates], np.int64)
    with first_call(_search):
        _search(
            np.ascontiguousarray(cur, np.int32),
            np.ascontiguousarray(ref, np.int32),
            np.ascontiguousarray(half),
            bool(quarter),
            block,
            dys,
            dxs,
            which,
            *(np.ascontiguousarray(a, np.int32) for a in (*base, *median)),
            np.int64(weight),
            np.int64(limit),
            best,
            vy,
            vx,
        )


@numba.njit(cache=True, nogil=True, inline="always")
def _median3(a, b, d):  # pragma: no cover - compiled
    return max(min(a, b), min(max(a, b), d))


@numba.njit(cache=True, nogil=True)
def _read_field(
    values, all_targets, all_neighbours, starts, flag_rows, scales, share, thresholds, centre, phased,
    words, state,
):  # pragma: no cover - compiled  # fmt: skip
    """``motion_field.read_symbols``'s loop in one call: ``values`` (components, blocks + 1; the
    last column reads 0 for a missing neighbour) filled wavefront by wavefront, every symbol read
    from the range decoder's ``words`` and ``state``. Returns a ``range_decoder`` status."""
    components = values.shape[0]
    missing = values.shape[1] - 1
    widest = 0
    for f in range(starts.size - 1):
        widest = max(widest, starts[f + 1] - starts[f])
    prediction = np.empty((components, widest), np.int64)
    activity = np.empty(widest, np.int64)
    moved = np.empty(widest, np.int64)
    flag_scale = np.empty(flag_rows.shape[0])
    for c in range(flag_rows.shape[0]):
        flag_scale[c] = range_decoder.row_scale(flag_rows[c])
    share_scale = range_decoder.row_scale(share) if components > 2 else 0.0
    half = np.uint64(centre)
    for f in range(starts.size - 1):
        s0, s1 = starts[f], starts[f + 1]
        n = s1 - s0
        count = 0
        for i in range(n):
            ja, jb, jd = all_neighbours[0, s0 + i], all_neighbours[1, s0 + i], all_neighbours[3, s0 + i]
            ja = missing if ja < 0 else ja
            jb = missing if jb < 0 else jb
            jd = missing if jd < 0 else jd
            equal_a, equal_b = True, True
            for c in range(components):
                p = _median3(values[c, ja], values[c, jb], values[c, jd])
                prediction[c, i] = p
                equal_a = equal_a and values[c, ja] == p
                equal_b = equal_b and values[c, jb] == p
            spread = 0
            for c in range(2):
                spread += abs(values[c, ja] - values[c, jb]) + abs(values[c, jb] - values[c, jd])
            level = 0
            for t in range(thresholds.size):
                if thresholds[t] <= spread:
                    level += 1
            activity[i] = level
            ctx = np.int64(equal_a) + np.int64(equal_b)
            flag = range_decoder.decode_symbol(flag_rows[ctx], flag_scale[ctx], words, state)
            if flag < 0:
                return range_decoder.BAD_DATA
            if flag == 0:
                moved[count] = i
                count += 1
        for c in range(2):
            for k in range(count):
                i = moved[k]
                symbol = range_decoder.decode_laplace(
                    range_decoder.WHOLE, 0, 0, 16 * centre, scales[activity[i]], phased, words, state
                )
                if symbol < 0:
                    return range_decoder.BAD_DATA
                prediction[c, i] = ((prediction[c, i] + symbol) & (2 * half - 1)) - centre
        if components > 2:
            for k in range(count):
                pick = range_decoder.decode_symbol(share, share_scale, words, state)
                if pick < 0:
                    return range_decoder.BAD_DATA
                prediction[2, moved[k]] = pick
        for i in range(n):
            for c in range(components):
                values[c, all_targets[s0 + i]] = prediction[c, i]
    return range_decoder.OK


def read_field(
    ranges: range_decoder.RangeDecoder,
    values: np.ndarray,
    height: int,
    width: int,
    flag_rows: np.ndarray,
    scales: np.ndarray,
    share: np.ndarray,
    thresholds: np.ndarray,
    centre: int,
) -> None:
    """Fill ``values`` (components, height * width + 1, int64, zeros) with a motion field's blocks
    read from the frame's range decoder ``ranges``: ``motion_field.read_symbols``'s wavefronts in
    one call, the same symbols (``tests/test_motion_field.py``)."""
    targets, neighbours, starts = raster_rule.flat_wavefronts(height, width)
    with first_call(_read_field):
        status = _read_field(
            values,
            targets,
            neighbours,
            starts,
            np.ascontiguousarray(flag_rows, np.float64),
            np.ascontiguousarray(scales, np.int64),
            np.ascontiguousarray(share, np.float64) if share.size else np.ones(2),
            thresholds,
            centre,
            table_kernel.phased_cdf(),
            ranges.words,
            ranges.state,
        )
    range_decoder.check(status)
