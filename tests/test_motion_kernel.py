"""The compiled block motion (codec/motion_kernel.py) against motion.py's numpy rules: the same
compensated planes and block costs for vectors reaching past every edge, odd plane sizes and
quarter-sample positions of every parity."""

from __future__ import annotations

import numpy as np
import pytest

from fpcodec.codec import motion, motion_kernel


def _field(
    rng: np.random.Generator, h: int, w: int, dtype=np.int32, block: int = motion.BLOCK
) -> tuple[np.ndarray, np.ndarray]:
    bh, bw = motion.field_shape(h, w, block)
    vy = rng.integers(-motion.LIMIT, motion.LIMIT + 1, (bh, bw)).astype(dtype)
    vx = rng.integers(-motion.LIMIT, motion.LIMIT + 1, (bh, bw)).astype(dtype)
    vy[0, 0], vx[0, 0] = -motion.LIMIT, -motion.LIMIT  # far outside, clamped
    return vy, vx


@pytest.mark.parametrize(("h", "w"), [(37, 53), (16, 16), (1, 9)])
def test_compensate_is_the_numpy_rule(h: int, w: int) -> None:
    rng = np.random.default_rng(h * w)
    half = motion.half_sample_plane(rng.integers(0, 256, (h, w)), 255)
    for dtype in (np.int32, np.int64):  # the search's candidates and the decoded field
        vy, vx = _field(rng, h, w, dtype)
        vy[-1, -1], vx[-1, -1] = 3, 1  # a quarter sample between half samples
        got = motion.compensate(half, vy, vx)
        assert got.dtype == half.dtype
        assert np.array_equal(got, motion.compensate_reference(half, vy, vx))


def test_compensated_costs_are_the_numpy_sums() -> None:
    rng = np.random.default_rng(5)
    h, w = 29, 43  # blocks past the plane's edge
    cur = rng.integers(0, 1024, (h, w)).astype(np.int32)
    half = motion.half_sample_plane(rng.integers(0, 1024, (h, w)), 1023)
    vy, vx = _field(rng, h, w)
    bh, bw = vy.shape
    diff = np.zeros((bh * motion.BLOCK, bw * motion.BLOCK), np.int64)
    diff[:h, :w] = np.abs(cur - motion.compensate_reference(half, vy, vx))
    expected = diff.reshape(bh, motion.BLOCK, bw, motion.BLOCK).sum(axis=(1, 3))
    assert np.array_equal(motion_kernel.compensated_costs(cur, half, vy, vx, motion.BLOCK), expected)


@pytest.mark.parametrize("block", [2, 4, 8])
def test_whole_sample_costs_are_the_numpy_sums(block: int) -> None:
    rng = np.random.default_rng(block)
    cur = rng.integers(0, 4 * 255, (6 * block, 9 * block)).astype(np.int32)
    ref = rng.integers(0, 4 * 255, cur.shape).astype(np.int32)
    vy = rng.integers(-20, 21, (6, 9)).astype(np.int32)
    vx = rng.integers(-20, 21, (6, 9)).astype(np.int32)
    assert np.array_equal(
        motion._block_sad(cur, ref, vy, vx, block), motion.block_sad_reference(cur, ref, vy, vx, block)
    )


@pytest.mark.parametrize("rule", range(motion.INTERPOLATIONS))
@pytest.mark.parametrize(
    ("h", "w", "dtype", "top"),
    [(37, 53, np.uint8, 255), (1, 1, np.uint8, 255), (5, 9, np.uint16, 1023), (6, 7, np.uint16, 65535)],
)
def test_half_sample_plane_is_the_numpy_rule(h: int, w: int, dtype, top: int, rule: int) -> None:
    ref = np.random.default_rng(h + w).integers(0, top + 1, (h, w)).astype(dtype)
    ref[0, :] = top  # filters that overshoot and are clipped at both ends
    ref[-1, :] = 0
    got = motion.half_sample_plane(ref, top, rule)
    assert got.dtype == (np.uint8 if top <= 255 else np.uint16) and got.shape == (2 * h, 2 * w)
    assert np.array_equal(got, motion.half_sample_plane_reference(ref, top, rule))


@pytest.mark.parametrize("rule", range(motion.INTERPOLATIONS))
@pytest.mark.parametrize(("log2_h", "log2_w"), [(1, 1), (0, 1), (0, 0), (1, 2)])
def test_compensate_chroma_is_the_numpy_rule(log2_h: int, log2_w: int, rule: int) -> None:
    rng = np.random.default_rng(log2_h * 2 + log2_w)
    h, w = 37, 53  # luma size; chroma subsampled by 2^log2
    ch, cw = -(-h // (1 << log2_h)), -(-w // (1 << log2_w))
    ref = rng.integers(0, 256, (ch, cw)).astype(np.uint8)
    vy, vx = _field(rng, h, w, np.int64)
    vy[-1, -1], vx[-1, -1] = -3, 5  # odd half samples, negative: the rules' roundings differ
    block_h, block_w = motion.BLOCK >> log2_h, motion.BLOCK >> log2_w
    args = (ref, vy, vx, log2_h, log2_w, block_h, block_w, rule)
    assert np.array_equal(motion.compensate_chroma(*args), motion.compensate_chroma_reference(*args))


@pytest.mark.parametrize("rule", range(motion.INTERPOLATIONS))
@pytest.mark.parametrize(("log2_h", "log2_w", "block"), [(1, 1, motion.BLOCK), (0, 0, motion.LARGE_BLOCK)])
def test_compensated_a_reference_at_a_time_is_each_block_from_its_own(
    log2_h: int, log2_w: int, block: int, rule: int
) -> None:
    """A field whose blocks pick among three references, compensated into one plane a reference
    at a time (``compensate_into``, ``compensate_chroma_into``: each reference writes only its
    blocks' samples) is the plane of each reference's whole compensation taken at its blocks
    (what ``modes.planar._mc_planes`` did before), for luma and chroma under every rule, 16-bit
    samples, planes whose last blocks reach past the edge."""
    rng = np.random.default_rng(log2_h + block + 7 * rule)
    h, w = 37, 53
    ch, cw = -(-h // (1 << log2_h)), -(-w // (1 << log2_w))
    vy, vx = _field(rng, h, w, np.int64, block)
    pick = rng.integers(0, 3, vy.shape)
    refs = [rng.integers(0, 1024, (h, w)).astype(np.uint16) for _ in range(3)]
    chromas = [rng.integers(0, 1024, (ch, cw)).astype(np.uint16) for _ in range(3)]
    halves = [motion.half_sample_plane(ref, 1023, rule) for ref in refs]
    luma = np.zeros((h, w), np.uint16)
    chroma = np.zeros((ch, cw), np.uint16)
    block_h, block_w = block >> log2_h, block >> log2_w
    for r in range(3):
        motion_kernel.compensate_into(luma, halves[r], vy, vx, pick, r, block, block)
        motion_kernel.compensate_chroma_into(
            chroma, chromas[r], vy, vx, pick, r, log2_h, log2_w, block_h, block_w, rule
        )
    want_luma = np.choose(
        motion.per_sample(pick, block, block, h, w),
        [motion.compensate_reference(half, vy, vx, block, block) for half in halves],
    )
    want_chroma = np.choose(
        motion.per_sample(pick, block_h, block_w, ch, cw),
        [
            motion.compensate_chroma_reference(c, vy, vx, log2_h, log2_w, block_h, block_w, rule)
            for c in chromas
        ],
    )
    assert np.array_equal(luma, want_luma) and np.array_equal(chroma, want_chroma)


def test_mpeg_rules_read_half_samples_as_mpeg_decoders_do() -> None:
    """The MPEG rules by hand on a 2x2 plane: bilinear half samples rounded up (MPEG-1/2, MPEG-4
    rounding_control 0) or down (rounding_control 1), and the chroma vectors of 4:2:0 from luma
    half samples m: MPEG-1/2 m / 2 toward zero, MPEG-4 (m >> 1) | (m & 1)."""
    ref = np.array([[10, 13], [20, 23]], np.uint8)
    up = motion.half_sample_plane(ref, 255, motion.MPEG12)
    down = motion.half_sample_plane(ref, 255, motion.MPEG4_DOWN)
    assert up[0, 1] == 12 and down[0, 1] == 11  # (10 + 13 + 1) >> 1, (10 + 13) >> 1
    assert up[1, 0] == 15 and down[1, 0] == 15  # (10 + 20 + 1) >> 1, (10 + 20) >> 1
    assert up[1, 1] == 17 and down[1, 1] == 16  # (66 + 2) >> 2, (66 + 1) >> 2
    assert np.array_equal(motion.half_sample_plane(ref, 255, motion.MPEG4), up)
    luma_half = 2 * np.array([[-3, -2, -1, 1, 2, 3]])  # in quarter samples; 16x16 blocks, one vector each

    def chroma(vectors: np.ndarray, block: int, rule: int) -> list:
        return motion.mpeg_chroma_field(vectors, vectors, 1, 1, block, rule)[1].tolist()

    assert chroma(luma_half, 16, motion.MPEG12) == [[-1, -1, 0, 0, 1, 1]]
    assert chroma(luma_half, 16, motion.MPEG4) == [[-1, -1, -1, 1, 1, 1]]
    # MPEG-4's four-vector macroblocks: one chroma vector from the sum x of the four luma half-sample
    # components, ROUND[x & 15] + (x >> 3) (FFmpeg's ff_h263_round_chroma); a field of 8x8 blocks
    four = 2 * np.array([[1, 2, 3, 3, 3, 4, -1, -1], [3, 4, 3, 4, 4, 4, -1, -2]])  # sums 10, 13, 15, -5
    assert chroma(four, 8, motion.MPEG4) == [[1, 1, 1, 1, 2, 2, -1, -1]] * 2
    assert chroma(four, 8, motion.MPEG4_DOWN) == chroma(four, 8, motion.MPEG4)
    assert chroma(four[:, :2], 8, motion.MPEG12) == [[0, 1], [1, 2]]  # MPEG-1/2: block by block
    assert chroma(four[:1], 8, motion.MPEG4) == [[1, 1, 1, 1, 1, 2, -1, -1]]  # no whole macroblock
    # a chroma vector of one half sample: the mean of two chroma samples, rounded by the rule
    chroma = np.array([[10, 13, 40]], np.uint8)
    one = np.full((1, 1), 4)  # luma quarter samples: two luma half samples, one chroma half sample
    args = (chroma, one * 0, one, 1, 1, 4, 4)
    assert motion.compensate_chroma(*args, motion.MPEG12)[0, 0] == 12
    assert motion.compensate_chroma(*args, motion.MPEG4_DOWN)[0, 0] == 11


@pytest.mark.parametrize("block", [motion.BLOCK, motion.LARGE_BLOCK])
@pytest.mark.parametrize(("h", "w", "shift"), [(64, 96, (3, -5)), (37, 53, (-2, 7)), (8, 8, (0, 1))])
def test_search_is_the_search_a_candidate_at_a_time(
    h: int, w: int, shift: tuple[int, int], block: int
) -> None:
    """The compiled steps (every block's candidates in one call) find the same field and costs
    as trying each candidate over all blocks in turn, on a textured plane moved by a whole-sample
    shift plus noise (ties included: flat corners), odd sizes too, with 8x8 and (version 18)
    16x16 blocks; also from the current frame's levels made beforehand, twice (the search must
    not write them)."""
    rng = np.random.default_rng(h * w)
    yy, xx = np.mgrid[0 : h + 16, 0 : w + 16]
    scene = (128 + 60 * np.sin(yy / 3.0) * np.cos(xx / 5.0) + rng.normal(0, 4, yy.shape)).astype(np.int64)
    scene[:6, :6] = 90  # a flat corner: equal costs, the first candidate stays
    ref = np.clip(scene[8 : 8 + h, 8 : 8 + w], 0, 255).astype(np.uint8)
    cur = np.clip(scene[8 + shift[0] : 8 + shift[0] + h, 8 + shift[1] : 8 + shift[1] + w], 0, 255).astype(
        np.uint8
    )
    half = motion.half_sample_plane(ref, 255)
    got = motion.search(cur, ref, half, block)
    want = motion.search_reference(cur, ref, half, block)
    assert got[0].shape == motion.field_shape(h, w, block)
    for a, b in zip(got, want, strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert np.any(got[0] != 0) or np.any(got[1] != 0)  # it found motion
    # the current frame's levels made once for several references: the same search
    levels = motion.current_levels(cur, block)
    for _ in range(2):
        again = motion.search(cur, ref, half, block, levels)
        for a, b in zip(again, want, strict=True):
            assert a.dtype == b.dtype and np.array_equal(a, b)


def _step_case(block: int, quarter: bool, rng: np.random.Generator) -> tuple:
    """Planes, candidates, bases, medians and ``limit`` for ``search`` steps: 16-bit samples (at a
    reduced level, summed over 4x4) with a flat corner where costs tie; vectors mostly near (the
    blocks inside the planes) and some past every edge; quarter samples of every parity, with
    the last blocks reaching past the plane."""
    bh, bw = 5, 7
    if quarter:
        h, w = bh * block - 3, bw * block - 1
        top, unit = 65535, 4
        half_of = motion.half_sample_plane
    else:
        h, w = bh * block, bw * block
        top, unit = 16 * 65535, 1
    ref = rng.integers(0, top + 1, (h, w)).astype(np.int32)
    cur = np.clip(ref + rng.integers(-top // 200, top // 200 + 1, (h, w)), 0, top).astype(np.int32)
    cur[: 2 * block, : 2 * block] = ref[: 2 * block + 9, : 2 * block + 9].min()  # flat: ties
    ref[: 2 * block + 9, : 2 * block + 9] = cur[0, 0]
    half = half_of(ref, top) if quarter else np.zeros((2 * h, 2 * w), np.uint16)  # (not read)
    near, far = 3 * unit + unit // 2, unit * (w + 6)
    vectors = [*rng.integers(-near, near + 1, (14, 2)), *rng.integers(-far, far + 1, (4, 2))]
    candidates = [(0, int(dy), int(dx)) for dy, dx in vectors]
    candidates += [(1, int(dy), int(dx)) for dy, dx in rng.integers(-near, near + 1, (6, 2))]
    candidates += [(2, 0, 0), (0, 0, 0), (0, unit, -unit), (0, -unit, unit)]
    base = [rng.integers(-near, near + 1, (bh, bw)).astype(np.int32) for _ in range(2)]
    median = tuple(rng.integers(-near, near + 1, (bh, bw)).astype(np.int32) for _ in range(2))
    base[0][0, -1], base[1][0, -1] = -10 * far, 10 * far  # clamped by ``limit``
    return cur, ref, half, candidates, tuple(base), median, unit * (w + 2)


def _vectors(which: int, dy: int, dx: int, base: tuple, median: tuple) -> tuple:
    """A candidate's (vy, vx) per block: (dy, dx) itself (which 0), the base plus it (1), the median (2)."""
    if which == 0:
        return np.full(base[0].shape, dy), np.full(base[0].shape, dx)
    return (base[0] + dy, base[1] + dx) if which == 1 else median


def _costs(cur, ref, half, block, quarter, vector, median, weight, limit) -> tuple:
    """One candidate's clamped vectors and cost per block, from the tested cost kernels."""
    cy, cx = (np.clip(np.asarray(c, np.int64), -limit, limit).astype(np.int32) for c in vector)
    sad = (motion_kernel.compensated_costs if quarter else motion_kernel.whole_sample_costs)(
        cur, half if quarter else ref, cy, cx, block
    )
    return cy, cx, sad + weight * (np.abs(cy - median[0]) + np.abs(cx - median[1]))


@pytest.mark.parametrize("quarter", [False, True])
@pytest.mark.parametrize("block", [2, 4, 8, 16])
def test_search_step_costs_each_candidate_as_the_cost_kernels(block: int, quarter: bool) -> None:
    """Each candidate alone (no cost to beat): every block's cost is its sum of absolute
    differences (``whole_sample_costs``, or ``compensated_costs`` in quarter samples) plus the
    median term, for every kind of candidate and vector: the compiled step's paths (a whole block
    row per vector for the reduced levels' full searches, row views inside the planes, rows'
    sums in int32, clamped positions at the edges) all cost alike."""
    rng = np.random.default_rng(block + 100 * quarter)
    cur, ref, half, candidates, base, median, limit = _step_case(block, quarter, rng)
    shape = base[0].shape
    for which, dy, dx in candidates:
        vector = _vectors(which, dy, dx, base, median)
        cy, cx, cost = _costs(cur, ref, half, block, quarter, vector, median, 3, limit)
        got = np.full(shape, np.iinfo(np.int64).max), np.zeros(shape, np.int32), np.zeros(shape, np.int32)
        motion_kernel.search(
            cur, ref, half, block, [(which, dy, dx)], base, median, 3, *got, quarter=quarter, limit=limit
        )
        assert np.array_equal(got[0], cost), (which, dy, dx)
        assert np.array_equal(got[1], cy) and np.array_equal(got[2], cx)


@pytest.mark.parametrize("weight", [0, 3])
@pytest.mark.parametrize("quarter", [False, True])
@pytest.mark.parametrize("block", [2, 8, 16])
def test_search_step_keeps_the_first_cheapest(block: int, quarter: bool, weight: int) -> None:
    """All candidates in one step keep, per block, what trying them in order over all blocks
    keeps: the first of the cheapest (ties: a flat corner, and no median term with weight 0),
    against starting costs some of which no candidate beats."""
    rng = np.random.default_rng(block + 100 * quarter + weight)
    cur, ref, half, candidates, base, median, limit = _step_case(block, quarter, rng)
    shape = base[0].shape
    start = rng.integers(0, 40 * block * block * (1 if quarter else 16), shape).astype(np.int64)
    start[0] = np.iinfo(np.int64).max
    vy0, vx0 = (rng.integers(-5, 6, shape).astype(np.int32) for _ in range(2))
    best, vy, vx = start.copy(), vy0.copy(), vx0.copy()
    ties = np.zeros(shape, bool)
    for which, dy, dx in candidates:
        vector = _vectors(which, dy, dx, base, median)
        cy, cx, cost = _costs(cur, ref, half, block, quarter, vector, median, weight, limit)
        ties |= (cost == best) & ((cy != vy) | (cx != vx))
        better = cost < best
        best[better], vy[better], vx[better] = cost[better], cy[better], cx[better]
    got = start.copy(), vy0.copy(), vx0.copy()
    motion_kernel.search(
        cur, ref, half, block, candidates, base, median, weight, *got, quarter=quarter, limit=limit
    )
    assert np.array_equal(got[0], best) and np.array_equal(got[1], vy) and np.array_equal(got[2], vx)
    assert (got[0] < start).any() and (got[0] == start).any()  # some blocks kept their start
    assert ties.any()  # a later candidate as cheap as the one kept, which stays


def test_search_refuses_blocks_wider_than_its_int32_rows_hold() -> None:
    plane = np.zeros((4, 4), np.int32)
    field = np.zeros((1, 1), np.int64), np.zeros((1, 1), np.int32), np.zeros((1, 1), np.int32)
    zero = np.zeros((1, 1), np.int32)
    with pytest.raises(ValueError, match="blocks are 1 to 256 samples wide, not 512"):
        motion_kernel.search(plane, plane, plane, 512, [(0, 0, 0)], (zero, zero), (zero, zero), 1, *field)


def test_halve_is_the_sum_of_each_2x2_block() -> None:
    plane = np.random.default_rng(1).integers(0, 4 * 1023, (36, 50)).astype(np.int32)
    got = motion._halve(plane)
    assert got.dtype == np.int32
    assert np.array_equal(got, plane.reshape(18, 2, 25, 2).sum(axis=(1, 3)))


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (5, 1), (9, 13)])
@pytest.mark.parametrize("pads", [(0, 0, 0, 0), (1, 1, 1, 1), (0, 3, 0, 5), (2, 0, 4, 0), (3, 1, 0, 2)])
def test_edge_padding_is_numpys(shape: tuple[int, int], pads: tuple[int, int, int, int]) -> None:
    """``motion.edge_padded`` gives np.pad's edge mode, in the plane's dtype."""
    plane = np.random.default_rng(sum(shape)).integers(-99, 99, shape).astype(np.int32)
    top, bottom, left, right = pads
    got = motion.edge_padded(plane, *pads)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, np.pad(plane, ((top, bottom), (left, right)), mode="edge"))
    deep = (plane + 99).astype(np.uint16) * 300  # widened as it is copied (the search's planes)
    wide = motion.edge_padded(deep, *pads, np.int32)
    assert wide.dtype == np.int32
    np.testing.assert_array_equal(
        wide, np.pad(deep.astype(np.int32), ((top, bottom), (left, right)), mode="edge")
    )


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (5, 1), (9, 13), (34, 80)])
def test_neighbour_median_is_the_middle_of_the_five_sorted(shape: tuple[int, int]) -> None:
    """The median-of-five network: per block, the third of its own and its four neighbours'
    components sorted (edges repeated), ties and vectors at the limits included."""
    rng = np.random.default_rng(sum(shape))
    for values in (rng.integers(-2, 3, shape), rng.integers(-motion.LIMIT, motion.LIMIT + 1, shape)):
        v = values.astype(np.int32)
        p = np.pad(v, 1, mode="edge")
        five = np.stack([p[1:-1, 1:-1], p[:-2, 1:-1], p[2:, 1:-1], p[1:-1, :-2], p[1:-1, 2:]])
        got = motion._neighbour_median(v)
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got, np.sort(five, axis=0)[2])
        other = values[::-1, ::-1].astype(np.int32)  # a second component, unlike the first
        both = motion_kernel.neighbour_medians(v, other)
        assert [m.dtype for m in both] == [np.int32, np.int32]
        np.testing.assert_array_equal(both[0], got)
        np.testing.assert_array_equal(both[1], motion._neighbour_median(other))
