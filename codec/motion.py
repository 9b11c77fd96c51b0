"""Block motion for planar (mode 6) frames: half-sample reference planes, the encoder's search and
the motion-compensated plane the decoder rebuilds from the coded vectors.

Natural video that was once MPEG-coded is made of blocks copied from the previous frame at
half- and quarter-sample offsets; a co-located previous sample misses all of it. The encoder picks
one vector per BLOCK x BLOCK (or LARGE_BLOCK) luma block (in quarter samples, up to about 32 samples long) and
one of the last REFERENCES frames, and codes the field; both sides then read the reference through the same integer interpolation, so the
prediction is exact integer arithmetic on every machine. The half-sample filter is H.264's 6-tap
(1, -5, 20, 20, -5, 1) / 32, rounded and clipped the same way, with the centre position filtered
from the unrounded horizontal sums (FORMAT.md, "Planar frames").
"""

from __future__ import annotations

import functools

import numpy as np

#: Luma block size of the coded field.
BLOCK = 8
#: The larger block size a frame's field may have instead (version 18): on grainy video (the dev
#: clip bikes) a field of 8x8 blocks costs an eighth of the stream, and 16x16 blocks take 11.6 %
#: off its inter frames; on sharp animation (bigbuckbunny) 8x8 ones are 19 % smaller. The encoder
#: picks per frame.
LARGE_BLOCK = 16
#: Range of the full search on the 4x4-reduced planes (in their samples: 4 luma samples each).
COARSE_RANGE = 7
#: Range of the full search around zero on the 2x2-reduced planes (small motion that the coarse
#: level blurs away).
NEAR_RANGE = 3
#: Frames a block may copy from: the last one, or up to two before it (H.264 P frames of a
#: stream with B frames reference the frame two back).
REFERENCES = 3
#: Search cost of each reference further back, per block (favours the nearest on ties).
REFERENCE_PENALTY = 16
#: Vector components are quarter samples in -LIMIT..LIMIT (what the format allows; the search
#: reaches 4 (2 (2 COARSE_RANGE + 1) + 1) + 3 = 127).
LIMIT = 127
#: Cost of a vector in the search per quarter sample away from its neighbours' median, in
#: units of absolute difference.
_LAMBDA = 1

_TAPS = (1, -5, 20, 20, -5, 1)

#: Interpolation rules of an inter frame's references (version 20; before, H264 only). Video
#: that MPEG-1/2 or MPEG-4 part 2 (DivX, Xvid) coded was predicted from bilinear half samples,
#: not H.264's 6-tap ones, and its chroma by vectors of its own rounding: blocks the source
#: coded without a residual are then exact copies of the reference read its way, and cost
#: next to nothing (bench/results/mpeg_interpolation). H264: the 6-tap half samples, H.264's
#: eighth-sample chroma. MPEG12: half samples (a + b + 1) >> 1 and (a + b + c + d + 2) >> 2,
#: a chroma axis subsampled by 2^L reads the luma half-sample vector m as m / 2^L rounded
#: toward zero (MPEG-1/2). MPEG4: the same half samples, chroma vector (m >> L) | (m mod 2^L != 0)
#: (MPEG-4 part 2 with rounding_control 0). MPEG4_DOWN: MPEG4 rounding halves down, (a + b) >> 1
#: and (a + b + c + d + 1) >> 2 (rounding_control 1, which MPEG-4 encoders alternate between P
#: frames). Quarter samples are the mean of the two nearest whole or half ones under every rule.
H264, MPEG12, MPEG4, MPEG4_DOWN = 0, 1, 2, 3
INTERPOLATIONS = 4


def half_sample_plane(ref: np.ndarray, max_value: int, rule: int = H264) -> np.ndarray:
    """The (2H, 2W) plane (uint8 up to 8 bits, else uint16) of ``ref`` at half-sample positions: [2y, 2x] is ref[y, x],
    [2y, 2x+1] and [2y+1, 2x] the horizontal and vertical half samples, [2y+1, 2x+1] the
    centre, by the interpolation ``rule`` (6-tap, or bilinear); samples outside the plane
    repeat its edge. Computed by the compiled ``motion_kernel``;
    ``half_sample_plane_reference`` is the same in numpy."""
    from . import motion_kernel  # numba: loaded on first use

    return motion_kernel.half_sample_plane(ref, max_value, rule)


def half_sample_plane_reference(ref: np.ndarray, max_value: int, rule: int = H264) -> np.ndarray:
    """``half_sample_plane`` in numpy (for testing the kernel)."""
    r = ref.astype(np.int64)
    h, w = r.shape
    if rule != H264:
        up = 0 if rule == MPEG4_DOWN else 1
        p = np.pad(r, ((0, 1), (0, 1)), mode="edge")
        out = np.empty((2 * h, 2 * w), np.int64)
        out[0::2, 0::2] = r
        out[0::2, 1::2] = (p[:-1, :-1] + p[:-1, 1:] + up) >> 1
        out[1::2, 0::2] = (p[:-1, :-1] + p[1:, :-1] + up) >> 1
        out[1::2, 1::2] = (p[:-1, :-1] + p[:-1, 1:] + p[1:, :-1] + p[1:, 1:] + 1 + up) >> 2
        return out
    p = np.pad(r, 3, mode="edge")
    horiz = _filter(p[3 : 3 + h], axis=1, length=w)  # unrounded, between x and x+1
    vert = _filter(p[:, 3 : 3 + w], axis=0, length=h)
    centre = _filter(np.pad(horiz, ((3, 3), (0, 0)), mode="edge"), axis=0, length=h)
    out = np.empty((2 * h, 2 * w), np.int32)
    out[0::2, 0::2] = r
    out[0::2, 1::2] = np.clip((horiz + 16) >> 5, 0, max_value)
    out[1::2, 0::2] = np.clip((vert + 16) >> 5, 0, max_value)
    out[1::2, 1::2] = np.clip((centre + 512) >> 10, 0, max_value)
    return out


def _filter(padded: np.ndarray, axis: int, length: int) -> np.ndarray:
    """The 6-tap sums along ``axis`` at the half positions after each of ``length`` samples
    (``padded`` has 3 extra samples on each side along ``axis``)."""
    total = np.zeros(
        (length, padded.shape[1]) if axis == 0 else (padded.shape[0], length),
        np.int64,
    )
    for k, tap in enumerate(_TAPS):
        sl = slice(k + 1, k + 1 + length)
        total += tap * (padded[sl] if axis == 0 else padded[:, sl])
    return total


def field_shape(height: int, width: int, block: int = BLOCK) -> tuple[int, int]:
    """Blocks of the motion field (``block`` x ``block`` luma samples each) covering a luma plane."""
    return -(-height // block), -(-width // block)


def per_sample(v: np.ndarray, block_h: int, block_w: int, h: int, w: int) -> np.ndarray:
    """A per-block array expanded to the (h, w) samples its blocks cover."""
    return np.repeat(np.repeat(v, block_h, axis=0), block_w, axis=1)[:h, :w]


def compensate(
    half: np.ndarray, vy: np.ndarray, vx: np.ndarray, block_h: int = BLOCK, block_w: int = BLOCK
) -> np.ndarray:
    """The motion-compensated (H, W) luma plane for the field (vy, vx) in quarter samples, as
    H.264 forms it: whole and half samples read from ``half`` (``half_sample_plane``), a quarter
    sample is the rounded-up mean of the two nearest whole or half samples (on the diagonal for
    the four positions between half samples). Positions are clamped to the half-sample plane.
    Computed by the compiled ``motion_kernel``; ``compensate_reference`` is the same in numpy."""
    from . import motion_kernel  # numba: loaded on first use

    return motion_kernel.compensate(half, vy, vx, block_h, block_w)


def compensate_reference(
    half: np.ndarray, vy: np.ndarray, vx: np.ndarray, block_h: int = BLOCK, block_w: int = BLOCK
) -> np.ndarray:
    """``compensate`` in numpy (for testing the kernel)."""
    h2, w2 = half.shape
    h, w = h2 // 2, w2 // 2
    qy = 4 * np.arange(h)[:, None] + per_sample(vy, block_h, block_w, h, w)
    qx = 4 * np.arange(w)[None, :] + per_sample(vx, block_h, block_w, h, w)
    y0, x0 = qy >> 1, qx >> 1  # the half-sample position at or before
    odd_y, odd_x = qy & 1, qx & 1

    def at(y, x):
        return half[np.clip(y, 0, h2 - 1), np.clip(x, 0, w2 - 1)].astype(np.int64)

    first = at(y0, x0)
    both = (odd_y & odd_x).astype(bool)
    anti = both & ((((qy >> 1) + (qx >> 1)) & 1) == 0)
    # The second sample: right (odd x), below (odd y), diagonal (both): main or anti-diagonal.
    sy = y0 + odd_y
    sx = x0 + odd_x
    first = np.where(anti, at(y0, x0 + 1), first)
    second = np.where(anti, at(y0 + 1, x0), at(sy, sx))
    return np.where(odd_y | odd_x, (first + second + 1) >> 1, first).astype(half.dtype)


def compensate_chroma(
    ref: np.ndarray,
    vy: np.ndarray,
    vx: np.ndarray,
    log2_h: int,
    log2_w: int,
    block_h: int,
    block_w: int,
    rule: int = H264,
) -> np.ndarray:
    """A chroma plane compensated by the luma field (quarter luma samples). H264: bilinear at
    eighths of a chroma sample, H.264's chroma rule ((8-fx)(8-fy)A + fx(8-fy)B + (8-fx)fy C + fx fy
    D + 32) >> 6, the vector being ``v * 2 >> log2`` eighths (for 4:2:0 the luma vector itself,
    as in H.264). The MPEG rules: the vector in chroma half samples from the luma half-sample
    vector ``v >> 1`` as INTERPOLATIONS and ``mpeg_chroma_field`` say, read as the luma half
    samples are (bilinear).
    Computed by the compiled ``motion_kernel``; ``compensate_chroma_reference`` in numpy."""
    from . import motion_kernel  # numba: loaded on first use

    return motion_kernel.compensate_chroma(ref, vy, vx, log2_h, log2_w, block_h, block_w, rule)


#: MPEG-4's (H.263's) rounding of a macroblock's four luma vectors to one chroma vector:
#: c = _ROUND_CHROMA[x & 15] + (x >> 3) for x the sum of the four luma half-sample components.
_ROUND_CHROMA = np.array([0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1], np.int64)


def mpeg_chroma_field(
    vy: np.ndarray, vx: np.ndarray, log2_h: int, log2_w: int, block: int, rule: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each block's chroma vector (int64, in the plane's half samples) under an MPEG rule
    (INTERPOLATIONS) from the luma field (quarter samples, blocks of ``block`` luma samples)
    of a plane subsampled by 2^log2_h, 2^log2_w. MPEG4 and MPEG4_DOWN on 4:2:0 with 8x8 blocks
    give the four blocks of each whole 16x16 macroblock (field blocks 2i..2i+1, 2j..2j+1) one
    vector from the sum of theirs, as MPEG-4 decodes four-vector macroblocks (and, for four equal
    vectors, the one-vector rule)."""
    out = []
    for v, log2 in ((vy, log2_h), (vx, log2_w)):
        m = np.asarray(v, np.int64) >> 1  # luma half samples
        if log2 == 0:
            c = m
        elif rule == MPEG12:
            c = np.where(m < 0, -((-m) >> log2), m >> log2)
        else:
            c = (m >> log2) | ((m & ((1 << log2) - 1)) != 0)
        out.append(c)
    if rule in (MPEG4, MPEG4_DOWN) and block == BLOCK and log2_h == log2_w == 1:
        bh, bw = (vy.shape[0] // 2) * 2, (vy.shape[1] // 2) * 2  # whole macroblocks
        for k, v in enumerate((vy, vx)):
            m = np.asarray(v, np.int64)[:bh, :bw] >> 1
            total = m.reshape(bh // 2, 2, bw // 2, 2).sum(axis=(1, 3))
            c = _ROUND_CHROMA[total & 15] + (total >> 3)
            out[k][:bh, :bw] = np.repeat(np.repeat(c, 2, axis=0), 2, axis=1)
    return out[0], out[1]


def compensate_chroma_reference(
    ref: np.ndarray,
    vy: np.ndarray,
    vx: np.ndarray,
    log2_h: int,
    log2_w: int,
    block_h: int,
    block_w: int,
    rule: int = H264,
) -> np.ndarray:
    """``compensate_chroma`` in numpy (for testing the kernel)."""
    h, w = ref.shape
    r = ref.astype(np.int64)
    if rule != H264:
        up = 0 if rule == MPEG4_DOWN else 1
        fy, fx = mpeg_chroma_field(vy, vx, log2_h, log2_w, block_h << log2_h, rule)
        cy, cx = per_sample(fy, block_h, block_w, h, w), per_sample(fx, block_h, block_w, h, w)
        y0, x0 = np.arange(h)[:, None] + (cy >> 1), np.arange(w)[None, :] + (cx >> 1)
        fy, fx = cy & 1, cx & 1

        def at(y, x):
            return r[np.clip(y, 0, h - 1), np.clip(x, 0, w - 1)]

        a, b, c, d = at(y0, x0), at(y0, x0 + 1), at(y0 + 1, x0), at(y0 + 1, x0 + 1)
        both = (a + b + c + d + 1 + up) >> 2
        return np.where(fy & fx, both, np.where(fx, (a + b + up) >> 1, np.where(fy, (a + c + up) >> 1, a)))
    ey = 8 * np.arange(h)[:, None] + per_sample((vy * 2) >> log2_h, block_h, block_w, h, w)
    ex = 8 * np.arange(w)[None, :] + per_sample((vx * 2) >> log2_w, block_h, block_w, h, w)
    y0, x0 = ey >> 3, ex >> 3
    fy, fx = ey & 7, ex & 7

    def at(y, x):
        return r[np.clip(y, 0, h - 1), np.clip(x, 0, w - 1)]

    total = (
        (8 - fx) * (8 - fy) * at(y0, x0)
        + fx * (8 - fy) * at(y0, x0 + 1)
        + (8 - fx) * fy * at(y0 + 1, x0)
        + fx * fy * at(y0 + 1, x0 + 1)
    )
    return (total + 32) >> 6


def search(
    cur: np.ndarray,
    ref: np.ndarray,
    ref_half: np.ndarray,
    block: int = BLOCK,
    levels: CurrentLevels | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The encoder's luma field (vy, vx) in quarter samples and each block's cost, found coarse
    to fine as x264's hierarchical search does: a full search within +-COARSE_RANGE on planes
    reduced 4x4 (so +-4 COARSE_RANGE samples), then the nine vectors around twice the best on
    planes reduced 2x2, then around twice that at whole, half and quarter samples. Every step
    but the first also weighs the median of the neighbours' vectors, and costs a vector by its
    sum of absolute differences plus _LAMBDA per quarter sample away from that median (what
    makes the field cheap to code and keeps noise in flat areas from choosing vectors).
    Compiled: one call per step (``motion_kernel.search``) tries every block's candidates in
    order; ``search_reference`` is the same search a candidate at a time. ``block``: the field's
    block size in luma samples (BLOCK, or LARGE_BLOCK: version 18). ``levels``: ``cur``'s
    ``current_levels`` for ``block``, where the caller searches several references with them."""
    bh, bw = field_shape(*cur.shape, block)
    c, cur_pyramid = current_levels(cur, block) if levels is None else levels
    ref_pyramid = _reference_levels(ref, bh, bw, block)
    from . import motion_kernel  # numba: loaded on first use

    # Level 2 (4x4 reduced, blocks of block / 4): every vector within the range, costed with
    # one unit per sample of its length.
    vy = np.zeros((bh, bw), np.int32)
    vx = np.zeros((bh, bw), np.int32)
    zero = np.zeros((bh, bw), np.int32)
    best = np.full((bh, bw), np.iinfo(np.int64).max, np.int64)
    coarse = [(0, dy, dx) for dy, dx in _candidates(range(-COARSE_RANGE, COARSE_RANGE + 1))]
    motion_kernel.search(
        cur_pyramid[2],
        ref_pyramid[2],
        ref_half,
        block // 4,
        coarse,
        (zero, zero),
        (zero, zero),
        1,
        best,
        vy,
        vx,
    )
    # Level 1 (2x2 reduced): near vectors, around twice the level-2 vector, and the neighbours' median.
    base = (2 * vy, 2 * vx)
    best[:] = np.iinfo(np.int64).max
    median = motion_kernel.neighbour_medians(*base)
    near = [(0, dy, dx) for dy, dx in _candidates(range(-NEAR_RANGE, NEAR_RANGE + 1))]
    offsets = [(1, dy, dx) for dy, dx in _candidates(range(-1, 2))]
    motion_kernel.search(
        cur_pyramid[1],
        ref_pyramid[1],
        ref_half,
        block // 2,
        [*near, *offsets, (2, 0, 0)],
        base,
        median,
        2 * _LAMBDA,
        best,
        vy,
        vx,
    )
    # Full resolution, in quarter samples: whole, half and quarter steps around the last best.
    vy, vx = 8 * vy, 8 * vx
    for steps in (range(-4, 8, 4), range(-2, 4, 2), range(-1, 2)):
        median = motion_kernel.neighbour_medians(vy, vx)
        best = np.full((bh, bw), np.iinfo(np.int64).max, np.int64)
        around = [(1, dy, dx) for dy, dx in _candidates(steps)]
        base = (vy.copy(), vx.copy())
        motion_kernel.search(
            c,
            ref_pyramid[0],  # whole-sample vectors read it (the half plane's even samples)
            ref_half,
            block,
            [*around, (2, 0, 0)],
            base,
            median,
            _LAMBDA,
            best,
            vy,
            vx,
            quarter=True,
            limit=LIMIT,
        )
    return vy, vx, best


def search_reference(
    cur: np.ndarray, ref: np.ndarray, ref_half: np.ndarray, block: int = BLOCK
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``search`` a candidate at a time over all blocks (for testing the compiled steps)."""
    bh, bw = field_shape(*cur.shape, block)
    c, cur_pyramid = current_levels(cur, block)
    ref_pyramid = _reference_levels(ref, bh, bw, block)
    vy = np.zeros((bh, bw), np.int32)
    vx = np.zeros((bh, bw), np.int32)
    best = np.full((bh, bw), np.iinfo(np.int64).max, np.int64)
    for dy, dx in _candidates(range(-COARSE_RANGE, COARSE_RANGE + 1)):
        cand = np.full((bh, bw), dy, np.int32), np.full((bh, bw), dx, np.int32)
        cost = _block_sad(cur_pyramid[2], ref_pyramid[2], *cand, block // 4) + abs(dy) + abs(dx)
        _keep(cost, cand, best, vy, vx)
    base_y, base_x = 2 * vy, 2 * vx
    best[:] = np.iinfo(np.int64).max
    median_y, median_x = _neighbour_median(base_y), _neighbour_median(base_x)
    offsets = [(base_y + dy, base_x + dx) for dy, dx in _candidates(range(-1, 2))]
    near = [
        (np.full_like(vy, dy), np.full_like(vx, dx))
        for dy, dx in _candidates(range(-NEAR_RANGE, NEAR_RANGE + 1))
    ]
    for cand in [*near, *offsets, (median_y, median_x)]:
        cost = _block_sad(cur_pyramid[1], ref_pyramid[1], *cand, block // 2)
        cost += (np.abs(cand[0] - median_y) + np.abs(cand[1] - median_x)) * (2 * _LAMBDA)
        _keep(cost, cand, best, vy, vx)
    vy, vx = 8 * vy, 8 * vx
    for steps in (range(-4, 8, 4), range(-2, 4, 2), range(-1, 2)):
        median_y, median_x = _neighbour_median(vy), _neighbour_median(vx)
        best = np.full((bh, bw), np.iinfo(np.int64).max, np.int64)
        base_y, base_x = vy.copy(), vx.copy()
        for dy, dx in _candidates(steps):
            _consider(c, ref_half, base_y + dy, base_x + dx, median_y, median_x, best, vy, vx, block)
        _consider(c, ref_half, median_y, median_x, median_y, median_x, best, vy, vx, block)
    return vy, vx, best


#: A current frame's luma as the search reads it (``current_levels``): int32, and the list of
#: its levels, None (level 0 reads the unpadded plane), then padded to whole blocks and reduced
#: 2x2 and 4x4.
CurrentLevels = tuple[np.ndarray, list[np.ndarray | None]]


def current_levels(cur: np.ndarray, block: int = BLOCK) -> CurrentLevels:
    """``cur`` as int32, and padded to whole ``block``-sample blocks (edges repeated) and reduced
    2x2 and 4x4: what the search's three levels read of the current frame, the same for every
    reference (made once for them: ``search``'s ``levels``). The padded plane is not kept, and
    the plane is not widened before it is padded (a 1080p luma plane's two int32 copies, 16 MB,
    at the search's peak)."""
    h, w = cur.shape
    bh, bw = field_shape(h, w, block)
    c = cur.astype(np.int32)
    full = edge_padded(c, 0, bh * block - h, 0, bw * block - w)
    pyramid: list[np.ndarray | None] = [None, _halve(full)]
    del full
    pyramid.append(_halve(pyramid[1]))
    return c, pyramid


def _reference_levels(ref: np.ndarray, bh: int, bw: int, block: int = BLOCK) -> list[np.ndarray]:
    """``ref`` padded to the field's whole blocks (edges repeated) as int32, and reduced 2x2 and 4x4."""
    h, w = ref.shape
    pyramid = [edge_padded(ref, 0, bh * block - h, 0, bw * block - w, np.int32)]
    for _ in range(2):
        pyramid.append(_halve(pyramid[-1]))
    return pyramid


def edge_padded(
    plane: np.ndarray, top: int, bottom: int, left: int, right: int, dtype: np.dtype | type | None = None
) -> np.ndarray:
    """``np.pad(plane, ((top, bottom), (left, right)), mode="edge")`` of a 2-D plane, the same
    values without np.pad's set-up in Python (40 us a call: a reference's search pads ten
    planes, eight of them fields of a few hundred blocks), in ``dtype`` (the plane's unless
    given: widened as it is copied)."""
    h, w = plane.shape
    out = np.empty((h + top + bottom, w + left + right), plane.dtype if dtype is None else dtype)
    out[top : top + h, left : left + w] = plane
    out[top : top + h, :left] = out[top : top + h, left : left + 1]
    out[top : top + h, left + w :] = out[top : top + h, left + w - 1 : left + w]
    out[:top] = out[top]
    out[top + h :] = out[top + h - 1]
    return out


def _halve(plane: np.ndarray) -> np.ndarray:
    """A plane (of even size) reduced by 2x2 sums, in its own type (int32: a sample's 16 at most
    fit). Four strided views added: a tenth of the time of a sum over a reshape's axes (1, 3)."""
    return plane[0::2, 0::2] + plane[1::2, 0::2] + plane[0::2, 1::2] + plane[1::2, 1::2]


def _block_sad(cur: np.ndarray, ref: np.ndarray, vy: np.ndarray, vx: np.ndarray, block: int) -> np.ndarray:
    """Per block (int64), the sum of absolute differences between ``cur`` and ``ref`` moved by
    the block's whole-sample vector (positions clamped to the plane); compiled
    (``motion_kernel.whole_sample_costs``), ``block_sad_reference`` in numpy."""
    from . import motion_kernel  # numba: loaded on first use

    return motion_kernel.whole_sample_costs(cur, ref, vy, vx, block)


def block_sad_reference(
    cur: np.ndarray, ref: np.ndarray, vy: np.ndarray, vx: np.ndarray, block: int
) -> np.ndarray:
    """``_block_sad`` in numpy (for testing the kernel)."""
    h, w = cur.shape
    ys = np.clip(np.arange(h)[:, None] + per_sample(vy, block, block, h, w), 0, h - 1)
    xs = np.clip(np.arange(w)[None, :] + per_sample(vx, block, block, h, w), 0, w - 1)
    diff = np.abs(cur - ref[ys, xs]).astype(np.int64)
    return diff.reshape(h // block, block, w // block, block).sum(axis=(1, 3))


def _keep(cost: np.ndarray, cand: tuple[np.ndarray, np.ndarray], best, vy, vx) -> None:
    better = cost < best
    best[better] = cost[better]
    vy[better] = cand[0][better]
    vx[better] = cand[1][better]


def _neighbour_median(v: np.ndarray) -> np.ndarray:
    """Per block, the median of its own and its four neighbours' components (edges repeated).
    A median-of-five network of minima and maxima: the same values as sorting the five along
    a new axis, in a third of the time (the search takes eight a reference)."""
    p = edge_padded(v.astype(np.int32, copy=False), 1, 1, 1, 1)
    a, b, c, d, e = p[1:-1, 1:-1], p[:-2, 1:-1], p[2:, 1:-1], p[1:-1, :-2], p[1:-1, 2:]
    low = np.maximum(np.minimum(a, b), np.minimum(c, d))  # neither of the two smallest of a..d
    high = np.minimum(np.maximum(a, b), np.maximum(c, d))  # neither of the two largest
    return np.maximum(np.minimum(low, high), np.minimum(np.maximum(low, high), e))


@functools.cache
def _candidates(steps: range) -> tuple[tuple[int, int], ...]:
    """Candidate offsets, the zero vector first (ties keep the earlier, shorter one). Made once
    per range: a search asks for its five lists every reference and block size (a sort of up to
    225 offsets each time was 1 % of a planar encode)."""
    out = [(dy, dx) for dy in steps for dx in steps]
    return tuple(sorted(out, key=lambda v: abs(v[0]) + abs(v[1])))


def _consider(
    cur: np.ndarray,
    half: np.ndarray,
    cand_y: np.ndarray,
    cand_x: np.ndarray,
    median_y: np.ndarray,
    median_x: np.ndarray,
    best: np.ndarray,
    vy: np.ndarray,
    vx: np.ndarray,
    block: int = BLOCK,
) -> None:
    """Keep, per block, the candidate whose cost beats the best so far."""
    cand_y = np.clip(cand_y, -LIMIT, LIMIT)
    cand_x = np.clip(cand_x, -LIMIT, LIMIT)
    from . import motion_kernel  # numba: loaded on first use

    cost = motion_kernel.compensated_costs(cur, half, cand_y, cand_x, block)
    cost += _LAMBDA * (np.abs(cand_y - median_y) + np.abs(cand_x - median_x))
    better = cost < best
    best[better] = cost[better]
    vy[better] = cand_y[better]
    vx[better] = cand_x[better]
