"""The compiled planar rules (codec/planar_kernel.py) against the numpy rules of raster_rule and
planar_rule: the same means and contexts, wavefront by wavefront, pass by pass and for a whole
plane, at 8 and 10 bits; inter with and without the chroma planes' luma error, where motion
compensation is exact, close and wrong."""

from __future__ import annotations

import numpy as np
import pytest

from fpcodec.bitstream import entropy
from fpcodec.codec import intra, planar_kernel, planar_rule, raster_rule


def _planes(h: int, w: int, depth: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A smooth plane and its compensation: exact in one band, off by a little in another, noise
    in the rest (so every agreement group and many confidence levels occur)."""
    rng = np.random.default_rng(seed)
    top = (1 << depth) - 1
    ys, xs = np.mgrid[0:h, 0:w]
    plane = ((ys * 7 + xs * 3) % (top + 1)).astype(np.int64)
    mc = plane.copy()
    mc[h // 3 : 2 * h // 3] += rng.integers(-2, 3, (2 * h // 3 - h // 3, w))
    mc[2 * h // 3 :] = rng.integers(0, top + 1, (h - 2 * h // 3, w))
    return plane.ravel(), np.clip(mc, 0, top).ravel()


@pytest.mark.parametrize(("depth", "with_luma"), [(8, False), (8, True), (10, False)])
def test_inter_params_are_the_numpy_rule(depth: int, with_luma: bool) -> None:
    h, w = 45, 70  # two tiles across, a partial one below
    plane, mc = _planes(h, w, depth, depth)
    luma = np.random.default_rng(3).integers(0, 40, h * w) if with_luma else None
    fronts = raster_rule.wavefronts(h, w, raster_rule.TILED)
    for targets, neighbours in zip(fronts.targets, fronts.neighbours, strict=True):
        got = raster_rule.inter_params(plane, mc, neighbours, targets, depth, luma)
        ref = raster_rule.inter_params_reference(plane, mc, neighbours, targets, depth, luma)
        assert np.array_equal(got[0], ref[0]) and np.array_equal(got[1], ref[1])
    order, mean, ctx, _ = raster_rule.plane_params(plane, h, w, depth, mc, luma)
    assert np.array_equal(order, fronts.order)  # coding order
    assert len(set(ctx.tolist())) > 10  # the cases above reach many contexts
    maps = raster_rule._neighbour_maps(h, w, raster_rule.TILED)
    ref = raster_rule.inter_params_reference(plane, mc, maps, np.arange(h * w), depth, luma)
    assert np.array_equal(mean, ref[0][order]) and np.array_equal(ctx, ref[1][order])


@pytest.mark.parametrize("depth", [8, 10])
def test_intra_params_are_the_numpy_rule(depth: int) -> None:
    h, w = 23, 31
    plane, noise = _planes(h, w, depth, depth + 1)
    plane = np.where(np.arange(h * w) % 3 == 0, noise, plane)  # edges of every activity level
    fronts = raster_rule.wavefronts(h, w)
    for neighbours in fronts.neighbours:
        got = raster_rule.params(plane, neighbours, depth)
        ref = raster_rule.params_reference(plane, neighbours, depth)
        assert np.array_equal(got[0], ref[0]) and np.array_equal(got[1], ref[1])
    order, mean, ctx, _ = raster_rule.plane_params(plane, h, w, depth)
    assert np.array_equal(order, fronts.order)
    assert len(set(ctx.tolist())) > 8
    ref = raster_rule.params_reference(plane, raster_rule._neighbour_maps(h, w, raster_rule.WHOLE), depth)
    assert np.array_equal(mean, ref[0][order]) and np.array_equal(ctx, ref[1][order])


@pytest.mark.parametrize(
    ("depth", "inter", "with_luma"), [(8, False, False), (8, True, False), (8, True, True), (10, True, False)]
)
def test_pass_params_are_the_numpy_rule(depth: int, inter: bool, with_luma: bool) -> None:
    h, w = 37, 50  # odd sizes: passes with neighbours outside the plane
    plane, mc = _planes(h, w, depth, 7 * depth)
    noise = np.random.default_rng(9).integers(0, 1 << depth, h * w)
    plane = np.where(np.arange(h * w) % 5 == 0, noise, plane)  # edges and flat parts
    luma = np.random.default_rng(4).integers(0, 40, h * w) if with_luma else None
    contexts = set()
    for p in intra.passes(h, w):
        args = (plane, mc if inter else None, p, (1 << depth) - 1, luma)
        got, ref = planar_rule.pass_params(*args), planar_rule.pass_params_reference(*args)
        assert np.array_equal(got[0], ref[0]) and np.array_equal(got[1], ref[1])
        contexts |= set(got[1].tolist())
    assert len(contexts) > 8


@pytest.mark.parametrize(("inter", "with_luma"), [(False, False), (True, False), (True, True)])
def test_raster_rows_are_the_rule_then_the_single_window(inter: bool, with_luma: bool) -> None:
    """The decoder's one call per wavefront gives what the rule, the context table and
    ``entropy.single_window`` give one after the other: every wavefront, windows of several
    radii and whole rows (a table whose wide scales need them)."""
    h, w = 45, 70
    plane, mc = _planes(h, w, 8, 8)
    luma = np.random.default_rng(3).integers(0, 40, h * w) if with_luma else None
    contexts = planar_rule.CONTEXTS if inter else raster_rule.CONTEXTS
    radii = set()
    for table in ((20 + 7 * np.arange(contexts)) % 47, np.full(contexts, 50)):  # scale 50: whole rows
        fronts = raster_rule.wavefronts(h, w, raster_rule.TILED if inter else raster_rule.WHOLE)
        for targets, neighbours in zip(fronts.targets, fronts.neighbours, strict=True):
            got = planar_kernel.raster_rows(plane, mc if inter else None, neighbours, targets, table, luma)
            if inter:
                mean, ctx = raster_rule.inter_params(plane, mc, neighbours, targets, 8, luma)
            else:
                mean, ctx = raster_rule.params(plane, neighbours, 8)
            want = (*entropy.single_window(mean, table[ctx]),)
            assert got[0] == want[0] and np.array_equal(got[3], mean) and np.array_equal(got[4], table[ctx])
            assert np.array_equal(got[1], want[1]) and np.array_equal(got[2], want[2])
            radii.add(got[0])
    assert 0 in radii and len(radii) >= 3


@pytest.mark.parametrize(
    ("h", "w", "ch", "cw"), [(45, 70, 23, 35), (44, 70, 44, 35), (30, 30, 30, 30), (7, 9, 4, 5)]
)
def test_chroma_hint_is_the_largest_luma_error_a_chroma_sample_covers(
    h: int, w: int, ch: int, cw: int
) -> None:
    """4:2:0, 4:2:2 and 4:4:4 planes, odd sizes (the last row and column repeated): the strided
    maximum is the maximum over the reshaped blocks."""
    rng = np.random.default_rng(h * w + ch)
    luma, luma_mc = rng.integers(0, 256, (h, w)), rng.integers(0, 256, (h, w))
    sy, sx = -(-h // ch), -(-w // cw)
    error = np.pad(np.abs(luma - luma_mc), ((0, ch * sy - h), (0, cw * sx - w)), mode="edge")
    want = error.reshape(ch, sy, cw, sx).max(axis=(1, 3)).ravel()
    assert np.array_equal(planar_rule.chroma_hint(luma, luma_mc, ch, cw), want)
    # the decoder's decoded luma plane is uint8 (the motion-compensated one int64)
    assert np.array_equal(planar_rule.chroma_hint(luma.astype(np.uint8), luma_mc, ch, cw), want)


@pytest.mark.parametrize("runs", [1, 2, 3, 8])
@pytest.mark.parametrize("tile", [raster_rule.WHOLE, raster_rule.TILED])
def test_the_compiled_schedule_is_the_sorted_one(monkeypatch, tile: tuple[int, int], runs: int) -> None:
    """``run_schedule`` (a counting sort in ``planar_kernel.schedule_run``) gives the numpy
    rule's order, neighbours, starts and run fronts, dtypes and layouts included (a sample's four
    neighbours side by side in memory, as the rules read them): planes one sample wide or
    high, partial tiles, empty runs; cached, and made anew for a large untiled plane."""
    monkeypatch.setattr(raster_rule, "CACHED_INTRA_SAMPLES", 1000)
    for h, w in [(1, 1), (1, 9), (7, 1), (2, 2), (33, 65), (70, 130), (45, 70), (100, 3), (97, 201)]:
        want = raster_rule.run_schedule_reference(h, w, tile, runs)
        for got in (raster_rule.run_schedule(h, w, tile, runs), raster_rule.run_schedule(h, w, tile, runs)):
            for g, e in zip(got, want, strict=True):
                assert g.dtype == e.dtype and g.flags.f_contiguous == e.flags.f_contiguous, (h, w)
                assert np.array_equal(g, e), (h, w)


@pytest.mark.parametrize("runs", [1, 2, 3, 8])
@pytest.mark.parametrize("tile", [raster_rule.WHOLE, raster_rule.TILED, (8, 16)])
def test_schedule_rows_are_the_stored_neighbours(tile: tuple[int, int], runs: int) -> None:
    """``run_schedule(..., stored=False)`` (the encoder's large planes) gives the same order,
    starts and run fronts, and its ``ScheduleRows`` make, from the samples' positions, the
    neighbours the stored schedule holds: whole, in ROWS_CHUNK chunks (as the kernels read them),
    and at chosen samples (as the refinement's fit reads them); runs' and tiles' top rows, planes
    one sample wide or high, partial tiles, empty runs."""
    for h, w in [(1, 1), (1, 9), (7, 1), (2, 2), (33, 65), (70, 130), (45, 70), (100, 3), (97, 201)]:
        order, stored, starts, fronts = raster_rule._run_schedule(h, w, tile, runs)
        got = raster_rule._run_schedule(h, w, tile, runs, stored=False)
        for g, e in zip((got[0], *got[2:]), (order, starts, fronts), strict=True):
            assert g.dtype == e.dtype and np.array_equal(g, e), (h, w)
        rows = got[1]
        assert isinstance(rows, raster_rule.ScheduleRows) and rows.shape == stored.shape
        whole = rows.rows(slice(0, order.size))
        assert whole.dtype == stored.dtype and whole.flags.c_contiguous and np.array_equal(whole, stored)
        chunks = list(planar_kernel._row_chunks(rows))
        assert np.array_equal(np.concatenate([c for _, c in chunks], axis=1), stored), (h, w)
        chosen = np.arange(0, order.size, 5)
        assert np.array_equal(rows.rows_at(chosen), stored[:, chosen]), (h, w)


@pytest.mark.parametrize("inter", [False, True])
def test_the_rules_read_schedule_rows_as_stored_neighbours(monkeypatch, inter: bool) -> None:
    """Every rule kernel the encoder runs on a plane (the rule, the refinement's fit inputs and
    refinement, the error levels) gives the same integers with a ``ScheduleRows`` as with the
    stored neighbours, across several ROWS_CHUNK chunks (made small here)."""
    from fpcodec.codec import refinement

    monkeypatch.setattr(planar_kernel, "ROWS_CHUNK", 700)
    h, w, depth = 45, 130, 8
    plane, mc = _planes(h, w, depth, 7)
    mc = mc if inter else None
    tile = raster_rule.TILED if inter else raster_rule.WHOLE
    order, stored, _, _ = raster_rule._run_schedule(h, w, tile, 2)
    rows = raster_rule._run_schedule(h, w, tile, 2, stored=False)[1]
    results = []
    for nb in (stored, rows):
        mean, ctx = raster_rule.schedule_rule(plane, order, nb, depth, mc)
        chosen = np.arange(0, order.size, 3)
        x, t = planar_kernel.fit_inputs(plane, mc, nb, order, chosen, w, mean, depth)
        weights = np.zeros(raster_rule.refine_shape(inter), np.int64)
        weights[:, 0] = 40  # every group moved by its first feature
        moved = raster_rule.refine(plane, mc, nb, order, w, mean, ctx, weights, depth)
        levels = raster_rule.plane_levels(plane, order, nb, moved, depth)
        fit = refinement.fit(plane, mc, nb, order, w, mean, ctx, depth)
        results.append((mean, ctx, x, t, moved, levels, fit.weights))
    assert not np.array_equal(results[0][4], results[0][0])  # the refinement moved the means
    for a, b in zip(*results, strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)


def _histogram_reference(plane, batches, rows, shift):
    """(rows x 4081) counts of (row, |value >> shift x 16 - mean|) over all the batches at once."""
    dense = np.zeros((rows, 16 * 255 + 1), np.int64)
    for targets, mean, pair in batches:
        np.add.at(dense, (pair, np.abs((plane[targets] >> shift) * 16 - mean)), 1)
    return dense


@pytest.mark.parametrize("shift", [0, 2])
def test_pair_histograms_counted_batch_by_batch_are_the_whole_planes(shift: int) -> None:
    """``pair_histogram(into=...)`` adds a batch's counts to the earlier batches' over the union of
    their distances: batches whose distances lie below, above, between and on the earlier ones',
    and one of a single sample, give the histogram of all the samples at once."""
    rng = np.random.default_rng(shift)
    rows = 12
    plane = rng.integers(0, 256 << shift, 3000).astype(np.uint16)
    coarse = plane.astype(np.int64) >> shift
    targets = rng.permutation(plane.size)
    spreads = [(0, 5), (200, 900), (40, 60), (0, 2000), (3, 4)]  # |distance| ranges, in 1/16
    batches = []
    for part, (lo, hi) in zip(np.array_split(targets, 5), spreads, strict=True):
        if hi == 4:
            part = part[:1]
        sign = rng.choice([-1, 1], part.size)
        mean = np.clip(16 * coarse[part] + sign * rng.integers(lo, hi, part.size), 0, 4080)
        batches.append((part, mean.astype(np.int32), rng.integers(0, rows, part.size).astype(np.int16)))
    counted = None
    for k, (part, mean, pair) in enumerate(batches):
        counted = planar_kernel.pair_histogram(plane, part, mean, pair, rows, shift, into=counted)
        dense = _histogram_reference(plane, batches[: k + 1], rows, shift)
        hist, cols = counted
        want_cols = np.flatnonzero(dense.any(axis=0))
        assert np.array_equal(cols, want_cols) and np.array_equal(hist, dense[:, want_cols])
    with pytest.raises(ValueError, match="12 rows"):
        planar_kernel.pair_histogram(
            plane, targets[:5], batches[0][1][:5], batches[0][2][:5], 13, shift, into=counted
        )


def test_pair_costs_sum_the_counted_distances_bits_in_column_order() -> None:
    """``pair_costs``: each chosen row's counts times the interior bits of their distances under
    every scale, summed over the non-zero counts in ascending distance (the same floats as that
    loop in float64), within rounding of the dense product; rows of no count cost 0."""
    rng = np.random.default_rng(7)
    cols = np.sort(rng.choice(16 * 255 + 1, 300, replace=False))
    hist = rng.integers(0, 50, (20, cols.size)) * (rng.random((20, cols.size)) < 0.05)
    hist[3] = 0
    hist[5, -1] = 1 << 20  # a large count at the last distance
    rows = np.array([5, 0, 3, 19, 5])
    got = planar_kernel.pair_costs(hist, cols, rows)
    table = entropy.interior_bits_table().astype(np.float64)  # (scales, distances)
    want = np.zeros((rows.size, table.shape[0]))
    for u, r in enumerate(rows):
        for c in np.flatnonzero(hist[r]):
            want[u] += float(hist[r, c]) * table[:, cols[c]]
    assert np.array_equal(got, want)
    assert not got[2].any() and np.array_equal(got[0], got[4])
    numba = pytest.importorskip("numba")
    threads = numba.get_num_threads()
    numba.set_num_threads(1)  # rows run on the threads: the same sums on one
    try:
        assert np.array_equal(planar_kernel.pair_costs(hist, cols, rows), got)
    finally:
        numba.set_num_threads(threads)
    np.testing.assert_allclose(got, hist[rows].astype(np.float64) @ table[:, cols].T, rtol=1e-12)
    with pytest.raises(ValueError, match="4081"):  # a distance past the table is refused, not read
        planar_kernel.pair_costs(hist[:, :2], np.array([3, 16 * 255 + 1]), rows)
