"""The compiled IDCT and step settling of JPEG-decoded planes (codec/jpeg_kernel.py) against their
numpy references in codec/jpeg_blocks.py: the same samples, mismatch counts, steps and levels."""

from __future__ import annotations

import av
import numpy as np
import pytest
from conftest import DATA

from fpcodec.codec import jpeg_blocks, jpeg_kernel


def _random_levels(rng: np.random.Generator, blocks: int) -> np.ndarray:
    """Sparse zigzag levels like a JPEG's, with DC-only blocks, and a few blocks of huge levels
    (the IDCT's int16 wrap of a DC-only row, clipping at both ends)."""
    levels = np.zeros((blocks, 64), np.int64)
    nonzero = rng.random((blocks, 64)) < rng.uniform(0.02, 0.5)
    levels[nonzero] = rng.integers(-60, 61, int(nonzero.sum()))
    levels[:, 0] = rng.integers(-300, 300, blocks)
    levels[rng.random(blocks) < 0.2, 1:] = 0  # DC only
    levels[rng.integers(0, blocks, 4)] = rng.integers(-5000, 5000, (4, 64))
    return levels


@pytest.mark.parametrize("seed", range(6))
def test_rebuild_and_wrong_counts_equal_the_numpy_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    levels = _random_levels(rng, int(rng.integers(1, 700)))
    steps = rng.integers(1, jpeg_blocks.MAX_STEP + 1, 64)
    expected = jpeg_blocks.rebuild_reference(levels, steps)
    got = jpeg_blocks.rebuild(levels, steps)
    assert got.dtype == np.uint8 and got.shape == expected.shape == (len(levels), 8, 8)
    np.testing.assert_array_equal(got, expected)
    assert {0, 255} <= set(np.unique(got))  # the clipping is exercised
    samples = expected.reshape(-1, 64).copy()
    samples[rng.random(samples.shape) < 0.02] ^= 3
    np.testing.assert_array_equal(
        jpeg_blocks._wrong(levels, samples, steps), jpeg_blocks._wrong_reference(levels, samples, steps)
    )


def test_rebuild_keeps_the_blocks_layout() -> None:
    levels = _random_levels(np.random.default_rng(9), 12).reshape(3, 4, 64)
    steps = np.arange(1, 65)
    got = jpeg_blocks.rebuild(levels, steps)
    assert got.shape == (3, 4, 8, 8)
    np.testing.assert_array_equal(got, jpeg_blocks.rebuild_reference(levels, steps))


def _mjpeg_planes() -> list[np.ndarray]:
    with av.open(str(DATA / "mjpeg_96x64.avi")) as container:
        return [
            np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, : p.width].copy()
            for frame in container.decode(video=0)
            for p in frame.planes
        ]


def test_fit_with_the_compiled_settling_equals_the_reference(monkeypatch) -> None:
    """Every plane of a Motion JPEG clip fits to the same steps, levels and exceptions with the
    compiled ``_settle_steps`` as with the numpy one, and the settling changes some steps (so the
    comparison covers its accepted trials)."""
    planes = _mjpeg_planes()
    compiled = [jpeg_blocks.fit(plane) for plane in planes]
    monkeypatch.setattr(jpeg_blocks, "_settle_steps", jpeg_blocks._settle_steps_reference)
    reference = [jpeg_blocks.fit(plane) for plane in planes]
    assert sum(f is not None for f in compiled) >= 3
    for got, want in zip(compiled, reference, strict=True):
        assert (got is None) == (want is None)
        if got is not None:
            for a, b in zip(got, want, strict=True):
                np.testing.assert_array_equal(a, b)
    settled = 0
    for plane in planes + [p[:-3, :-5] for p in planes[:3]]:  # whole, and cropped: edges outside
        levels, values, flat, steps = _fit_stages(plane)
        first = steps.copy()
        got_levels, got_steps = levels.copy(), steps.copy()
        jpeg_kernel.settle_steps(got_levels, values, flat, got_steps, jpeg_blocks.SETTLE_SPAN, 48)
        jpeg_blocks._settle_steps_reference(levels, values, flat, steps)
        np.testing.assert_array_equal(got_steps, steps)
        np.testing.assert_array_equal(got_levels, levels)
        settled += int(np.any(steps != first))
    assert settled > 0


def test_positions_outside_the_plane_are_free() -> None:
    """``_visible_samples`` marks the samples of the last block row and column that lie past the
    plane -1, and the mismatch counts (kernel and reference) skip them."""
    plane = np.arange(13 * 10, dtype=np.uint8).reshape(13, 10)
    flat = jpeg_blocks.blocks(plane).reshape(-1, 64)
    target = jpeg_blocks._visible_samples(flat, 13, 10)
    grid = target.reshape(2, 2, 8, 8)
    assert (grid[1, :, 5:, :] == -1).all() and (grid[:, 1, :, 2:] == -1).all()
    assert (grid[0, 0] >= 0).all() and (grid[1, 0, :5, :] >= 0).all() and (grid[0, 1, :, :2] >= 0).all()
    assert np.count_nonzero(target == -1) == 4 * 64 - 13 * 10
    np.testing.assert_array_equal(target[target >= 0], flat[target >= 0])
    assert jpeg_blocks._visible_samples(flat[:0], 16, 8).size == 0
    rng = np.random.default_rng(4)
    levels = _random_levels(rng, 4)
    steps = rng.integers(1, 40, 64)
    rebuilt = jpeg_blocks.rebuild_reference(levels, steps).reshape(-1, 64).astype(np.int16)
    samples = np.where(target >= 0, rebuilt, -1)
    samples[target < 0] = -1
    assert not jpeg_blocks._wrong(levels, samples, steps).any()
    samples[0, 0] = (samples[0, 0] + 1) % 256
    np.testing.assert_array_equal(jpeg_blocks._wrong(levels, samples, steps), [1, 0, 0, 0])
    np.testing.assert_array_equal(jpeg_blocks._wrong_reference(levels, samples, steps), [1, 0, 0, 0])


def _fit_stages(plane: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``fit``'s levels, forward DCT values, samples to rebuild (-1 outside) and steps before the
    settling (its first steps, as ``fit`` makes them from every block)."""
    flat = jpeg_blocks.blocks(plane).reshape(-1, 64)
    values = np.ascontiguousarray(jpeg_blocks._forward(flat.reshape(-1, 8, 8)))  # as ``fit`` holds them
    steps = np.array([jpeg_blocks._step(values[:, z]) for z in range(64)], np.int64)
    levels = np.round(values / steps).astype(np.int64)
    return levels, values, jpeg_blocks._visible_samples(flat, *plane.shape), steps


def test_nudged_levels_equal_the_reference_and_rebuild_more() -> None:
    """On Motion JPEG planes cropped to odd sizes (their edge blocks' hidden samples unknown to
    the fit), the compiled nudge moves the same levels as the numpy one and leaves fewer samples
    unrebuilt than back-projection alone."""
    before = after = 0
    for plane in _mjpeg_planes()[:6]:
        levels, values, target, steps = _fit_stages(plane[:-3, :-5])
        jpeg_blocks._settle_steps(levels, values, target, steps)
        jpeg_blocks._refine(levels, target, steps)
        before += int(jpeg_blocks._wrong(levels, target, steps).sum())
        got, want = levels.copy(), levels.copy()
        jpeg_blocks._nudge(got, target, steps)
        jpeg_blocks._nudge_reference(want, target, steps)
        np.testing.assert_array_equal(got, want)
        after += int(jpeg_blocks._wrong(got, target, steps).sum())
    assert after < 0.85 * before, (before, after)


def test_settle_steps_refuses_arrays_it_cannot_change_in_place() -> None:
    levels, values = np.zeros((4, 64), np.int64), np.zeros((4, 64))
    flat = np.zeros((4, 64), np.uint8)
    with pytest.raises(ValueError, match="steps must be"):
        jpeg_kernel.settle_steps(levels, values, flat, np.ones(64, np.int32), 2, 48)
    with pytest.raises(ValueError, match="levels"):
        jpeg_kernel.settle_steps(levels[:3], values, flat, np.ones(64, np.int64), 2, 48)
    with pytest.raises(ValueError, match="blocks of levels"):
        jpeg_kernel.wrong_counts(levels, flat[:3], np.ones(64, np.int64))
    with pytest.raises(ValueError, match="blocks 0..4 of 4"):
        jpeg_kernel.nudge_levels(levels, flat, np.ones(64, np.int64), np.array([0, 4]), 8)
