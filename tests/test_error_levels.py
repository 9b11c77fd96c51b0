"""Format version 12's error levels of wavefront (raster) planes: each sample's scale index is its
context's table entry plus an offset for how badly its decoded neighbours were predicted
(FORMAT.md, "Error levels"). The level by hand, the decoder's compiled wavefront against the numpy
rule, the encoder's fit against brute force (its turns compiled against numpy's), and old streams (version 11, no levels) still
decoding exactly."""

from __future__ import annotations

import io

import numpy as np
import pytest
from conftest import assert_planar_fixture_decodes

from fpcodec.bitstream import entropy
from fpcodec.bitstream.errors import FormatError
from fpcodec.codec import planar_kernel, planar_rule, raster_rule
from fpcodec.codec.modes import planar
from fpcodec.codec.pipeline import Decoder


def test_error_level_by_hand() -> None:
    """One sample with neighbours a, b, c, d at flat 0..3 and the first sample (no neighbours):
    errors |16 v - m| = 5, 3, 20, 0 -> (2*5 + 2*3 + 20 + 0) >> 1 = 18 -> thresholds <= 18:
    1, 2, 4, 6, 9, 13 -> level 6; at 10 bits each error is shifted right by 2 first (1, 0, 5, 0
    -> (2 + 0 + 5) >> 1 = 3 -> level 2); no neighbour: level 0."""
    plane = np.array([10, 20, 30, 40, 0], np.int64)
    means = np.array([16 * 10 + 5, 16 * 20 - 3, 16 * 30 + 20, 16 * 40, 0], np.int64)
    neighbours = np.array([[0, -1], [1, -1], [2, -1], [3, -1]], np.int64)
    for levels in (raster_rule.error_levels, raster_rule.error_levels_reference):
        assert levels(plane, means, neighbours, 8).tolist() == [6, 0]
        assert levels(plane, means, neighbours, 10).tolist() == [2, 0]


@pytest.mark.parametrize("depth", [8, 10])
def test_compiled_error_levels_are_the_numpy_rule(depth: int) -> None:
    """planar_kernel's error levels against raster_rule's numpy reference on random samples,
    means and neighbours (missing ones included), every level occurring."""
    rng = np.random.default_rng(depth)
    n = 5000
    plane = rng.integers(0, 1 << depth, n)
    means = np.clip(
        16 * plane + rng.integers(-300, 301, n) * rng.integers(0, 2, n), 0, 16 * ((1 << depth) - 1)
    )
    neighbours = np.where(rng.random((4, n)) < 0.1, -1, rng.integers(0, n, (4, n)))
    got = raster_rule.error_levels(plane, means, neighbours, depth)
    want = raster_rule.error_levels_reference(plane, means, neighbours, depth)
    np.testing.assert_array_equal(got, want)
    assert set(want.tolist()) == set(range(raster_rule.ERROR_LEVELS))


def _planes(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """A plane noisier from left to right (so the errors span the levels) and a compensation exact
    in its top half."""
    rng = np.random.default_rng(12)
    ys, xs = np.mgrid[0:h, 0:w]
    noise = np.round(rng.normal(0, 1, (h, w)) * xs / 4).astype(np.int64)  # from none to sd w / 4
    plane = np.clip((ys * 5 + xs * 3) % 200 + 20 + noise, 0, 255)
    mc = np.where(ys < h // 2, plane, np.clip(plane + rng.integers(-3, 4, (h, w)), 0, 255))
    return plane.astype(np.int64).ravel(), mc.astype(np.int64).ravel()


@pytest.mark.parametrize("inter", [False, True])
def test_raster_rows_with_levels_are_the_numpy_rule(inter: bool) -> None:
    """The decoder's one call per wavefront, with the plane's means: the scale index of every
    sample is the (context, level) pair's of ``level_scales``, the level from the numpy rule on the
    wavefronts before; and the call keeps every sample's mean for the wavefronts after."""
    h, w = 45, 70
    plane, mc = _planes(h, w)
    contexts = planar_rule.CONTEXTS if inter else raster_rule.CONTEXTS
    table = (20 + 7 * np.arange(contexts)) % 47
    offsets = np.arange(raster_rule.ERROR_LEVELS) - 4
    coding = raster_rule.level_scales(table, offsets, planar.SCALES)
    kept, means = np.zeros(h * w, np.int64), np.zeros(h * w, np.int64)
    levels = set()
    fronts = raster_rule.wavefronts(h, w, raster_rule.TILED if inter else raster_rule.WHOLE)
    for targets, neighbours in zip(fronts.targets, fronts.neighbours, strict=True):
        got = planar_kernel.raster_rows(plane, mc if inter else None, neighbours, targets, coding, None, kept)
        if inter:
            mean, ctx = raster_rule.inter_params(plane, mc, neighbours, targets, 8)
        else:
            mean, ctx = raster_rule.params(plane, neighbours, 8)
        level = raster_rule.error_levels_reference(plane, means, neighbours, 8)
        means[targets] = mean
        levels.update(level.tolist())
        assert np.array_equal(got[3], mean)
        assert np.array_equal(got[4], coding[ctx * raster_rule.ERROR_LEVELS + level])
    assert np.array_equal(kept, means)
    assert len(levels) >= (8 if inter else 5)  # intra means are whole samples: errors 0, 16, 32...


def test_fit_levels_costs_what_it_chose_and_never_more_than_no_levels() -> None:
    """The fitted table and offsets' estimated bits are the interior bits of every sample under the
    scale indices they give (8-bit: nothing else), and no more than the plain context table's on
    the same plane (offsets all 0 is where the fit starts)."""
    h, w = 48, 80
    plane, _ = _planes(h, w)
    order, mean, ctx, level = raster_rule.plane_params(plane, h, w, 8)
    means = np.zeros(h * w, np.int64)
    means[order] = mean
    neighbours = np.concatenate(raster_rule.wavefronts(h, w).neighbours, axis=1)
    np.testing.assert_array_equal(level, raster_rule.error_levels_reference(plane, means, neighbours, 8))
    pair = ctx * raster_rule.ERROR_LEVELS + level
    table, offsets, bits = planar._fit_levels(plane, order, mean, pair, 8, raster_rule.CONTEXTS)
    scale = raster_rule.level_scales(table, offsets, planar.SCALES)[pair]
    distance = np.abs(16 * plane[order] - mean)
    brute = entropy.interior_bits_table().astype(np.float64)[scale, distance].sum()
    assert bits == pytest.approx(brute, rel=1e-9)
    _, plain = planar._fit_table(plane, [(order, mean, ctx)], 8, raster_rule.CONTEXTS)
    assert bits <= plain + 1e-6
    assert np.abs(offsets).max() <= planar.OFFSET_SEARCH and np.any(offsets != 0)


@pytest.mark.parametrize(("used", "seed"), [(1, 0), (7, 1), (106, 2)])
@pytest.mark.parametrize("turns", [1, planar.LEVEL_TURNS])
def test_compiled_level_turns_are_the_numpy_rule(used: int, seed: int, turns: int) -> None:
    """The fit's turns compiled (``planar_kernel.level_turns``) choose the table and offsets of
    the numpy rule, on costs shaped like a plane's (a minimum per context and level somewhere
    among the scale indices, so that the offsets move and entries clamp at both ends)."""
    rng = np.random.default_rng(seed)
    scales = np.arange(planar.SCALES)
    best = rng.integers(-10, planar.SCALES + 10, (used, raster_rule.ERROR_LEVELS, 1))
    costs = rng.random((used, raster_rule.ERROR_LEVELS, 1)) * np.abs(scales - best) + rng.random(best.shape)
    costs += rng.random(costs.shape) * 0.5
    got = planar_kernel.level_turns(costs, planar.OFFSET_SEARCH, turns)
    want = planar.level_turns_reference(costs, planar.OFFSET_SEARCH, turns)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)
    assert np.any(got[1] != 0)


def test_offsets_beyond_the_limit_are_refused() -> None:
    enc = entropy.FrameEncoder()
    planar._encode_table(enc, np.full(raster_rule.ERROR_LEVELS, planar.OFFSET_MAX + 1), start=0)
    with pytest.raises(FormatError, match="error level offset 64"):
        planar._decode_offsets(entropy.FrameDecoder(enc.finish()))


def test_version_11_planar_stream_still_decodes() -> None:
    """tests/data/v11_planar.fpc: the version-11 encoder (commit 11bcf59, `last-frame`) on
    carphone_yuv420p_64x48.mkv, with frames of kinds 1, 2 and 3 (raster intra and inter without
    error levels): decoded sample for sample; read as version 12, its raster frames fail."""
    data = assert_planar_fixture_decodes("v11_planar.fpc", 11)
    relabelled = data[:8] + (12).to_bytes(2, "little") + data[10:]
    with pytest.raises(FormatError):
        list(Decoder(io.BytesIO(relabelled)).frames())
