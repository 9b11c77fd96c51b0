"""codec/intra_kernel.py: the compiled pass parameters are intra.block_params_reference's mean, bit
for bit, and the scale index that entropy.quantize_scale gives its scale (every RGB-intra and
palette-intra frame's coding depends on them)."""

from __future__ import annotations

import numpy as np
import pytest

from fpcodec.bitstream import entropy
from fpcodec.codec import intra, intra_kernel


def _same(got: tuple[np.ndarray, np.ndarray], want: tuple[np.ndarray, np.ndarray]) -> bool:
    (mean, scale_idx), (want_mean, want_scale) = got, want
    same_mean = mean.dtype == want_mean.dtype == np.float32 and np.array_equal(
        mean.view(np.int32), want_mean.view(np.int32)
    )
    return (
        same_mean
        and scale_idx.dtype == np.int32
        and np.array_equal(scale_idx, entropy.quantize_scale(want_scale))
    )


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("channels, j", [(3, 4), (4, 4), (3, 1), (3, 2), (4, 8)])
def test_kernel_matches_the_reference(dtype, channels, j):
    rng = np.random.default_rng(channels * 10 + j)
    size, n = 500, 2000
    if dtype == np.uint8:
        canvas = rng.integers(0, 256, (channels, size)).astype(np.uint8)
    else:  # not only integers: the float32 sum's order matters then
        canvas = (rng.random((channels, size)) * 255).astype(np.float32)
    neighbours = np.where(rng.random((j, n)) < 0.8, rng.integers(0, size, (j, n)), -1).astype(np.int32)
    neighbours[0, :] = np.maximum(neighbours[0], 0)  # at least one neighbour, as in every pass
    got = intra_kernel.block_params(canvas, neighbours, intra.FLOOR, intra.GAIN)
    want = intra.block_params_reference(canvas, neighbours)
    assert _same(got, want)


def test_scale_indices_at_the_table_bounds():
    """Spreads whose scale lands on or next to a bound of the scale table: the kernel's binary
    search must round as ``quantize_scale`` does (a bound rounds down)."""
    spreads = np.arange(256, dtype=np.float32)
    canvas = np.stack([np.zeros(256, np.float32), spreads])[None]  # (1, 2 * 256): 0, then the spread
    canvas = canvas.reshape(1, 512)
    neighbours = np.stack([np.arange(256), 256 + np.arange(256)]).astype(np.int32)
    got = intra_kernel.block_params(canvas, neighbours, intra.FLOOR, intra.GAIN)
    want = intra.block_params_reference(canvas, neighbours)
    assert _same(got, want)
    assert len(np.unique(got[1])) > 30  # the spreads reach across the table


def test_a_transposed_canvas_view():
    """RGB intra passes a (C, H*W) view of an (H, W, C) frame."""
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 256, (30, 20, 3)).astype(np.uint8)
    canvas = frame.reshape(-1, 3).T
    neighbours = rng.integers(0, 600, (4, 100)).astype(np.int64)
    got = intra_kernel.block_params(canvas, neighbours, intra.FLOOR, intra.GAIN)
    want = intra.block_params_reference(canvas, neighbours)
    assert _same(got, want)


@pytest.mark.parametrize("height, width", [(1, 1), (3, 7), (31, 17), (96, 96)])
def test_ring_matches_the_reference(height, width):
    from fpcodec.codec.modes import palette

    for p in (*intra.passes(height, width), *palette.inter_geometry(height, width)):
        got, want = intra.ring(p, height, width).positions(p.targets), intra.ring_reference(p, height, width)
        assert got.dtype == want.dtype and np.array_equal(got, want)


def _same_passes(got, want) -> bool:
    return len(got) == len(want) and all(
        a.targets.dtype == b.targets.dtype
        and a.neighbours.dtype == b.neighbours.dtype
        and np.array_equal(a.targets, b.targets)
        and np.array_equal(a.neighbours, b.neighbours)
        and (a.diagonal, a.step, a.template) == (b.diagonal, b.step, b.template)
        for a, b in zip(got, want, strict=True)
    )


@pytest.mark.parametrize(
    "height, width", [(1, 1), (1, 40), (37, 1), (2, 9), (17, 33), (31, 17), (96, 96), (70, 45)]
)
def test_schedules_match_their_numpy_rules(height, width):
    """Both pass schedules, built row by row in the kernel, are the masks' rule of the numpy
    reference: the same pixels in the same order, the same neighbours, in the same dtype."""
    from fpcodec.codec import row_schedule

    assert _same_passes(intra.passes(height, width), intra.passes_reference(height, width))
    assert _same_passes(row_schedule.passes(height, width), row_schedule.passes_reference(height, width))


def test_large_schedules_are_made_pass_by_pass_small_ones_cached(monkeypatch):
    from fpcodec.codec import row_schedule

    monkeypatch.setattr(intra, "CACHED_PIXELS", 100)
    monkeypatch.setattr(row_schedule, "CACHED_PIXELS", 100)
    for module in (intra, row_schedule):
        assert module.passes(10, 10) is module.passes(10, 10)
        big = module.passes(10, 11)
        assert isinstance(big, intra.Schedule)  # made pass by pass, each time it is read
        first, again = tuple(big), tuple(big)
        assert first[0] is not again[0] and _same_passes(first, again)
        assert _same_passes(first, module.cached_passes(10, 11))
    # a caller's own limit (the planar encoder's ``KEPT_PASSES_SAMPLES``)
    assert isinstance(intra.passes(10, 10, kept_up_to=99), intra.Schedule)
    assert intra.passes(10, 11, kept_up_to=110) is intra.passes(10, 11, kept_up_to=110)


@pytest.mark.parametrize("shift", [-70, -3, 0, 5, 70])
def test_the_frame_scale_shift_is_added_and_clamped(shift):
    """``pass_params(..., shift)`` is ``modes.base.shifted`` of the unshifted indices, for every
    pass, the first grid's included."""
    from fpcodec.codec.modes.base import shifted

    rng = np.random.default_rng(shift + 100)
    canvas = rng.integers(0, 256, (3, 40 * 30)).astype(np.float32)
    for p in intra.passes(40, 30):
        mean, idx = intra.pass_params(canvas, p, shift)
        want_mean, want_idx = intra.pass_params(canvas, p)
        assert np.array_equal(mean, want_mean) and idx.dtype == np.int32
        assert np.array_equal(idx, shifted(want_idx, shift))


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_paint_writes_the_palette_colours_of_the_targets(dtype):
    rng = np.random.default_rng(9)
    palette = rng.integers(0, 256, (17, 3)).astype(np.uint8)
    idx = rng.integers(0, 17, 500).astype(np.int32)
    targets = rng.permutation(500)[:200].astype(np.int32)
    canvas = (rng.random((3, 500)) * 255).astype(dtype)
    want = canvas.copy()
    want[:, targets] = palette[idx[targets]].T
    intra_kernel.paint(canvas, palette, idx, targets)
    assert np.array_equal(canvas, want)


@pytest.mark.parametrize("j", [0, 4])
def test_compact_moves_the_kept_pixels_to_the_front_in_place(j):
    rng = np.random.default_rng(j + 3)
    targets = rng.permutation(300)[:120].astype(np.int32)
    neighbours = rng.integers(-1, 300, (j, 120)).astype(np.int32)
    keep = rng.random(120) < 0.4
    want = targets[keep], neighbours[:, keep]
    buffers = targets.ctypes.data, neighbours.ctypes.data
    got = intra_kernel.compact(targets, neighbours, keep)
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
    assert got[0].dtype == got[1].dtype == np.int32
    # in the arrays themselves: no copy of the pass's positions
    assert (got[0].ctypes.data, got[1].ctypes.data) == buffers or j == 0
    assert got[0].ctypes.data == buffers[0]
