"""codec/intra_kernel.py: the compiled pass parameters are intra.block_params_reference's floats,
bit for bit (every RGB-intra and palette-intra frame's coding depends on them)."""

from __future__ import annotations

import numpy as np
import pytest

from fpcodec.codec import intra, intra_kernel


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype == np.float32 and np.array_equal(a.view(np.int32), b.view(np.int32))


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
    assert _same(got[0], want[0]) and _same(got[1], want[1])


def test_a_transposed_canvas_view():
    """RGB intra passes a (C, H*W) view of an (H, W, C) frame."""
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 256, (30, 20, 3)).astype(np.uint8)
    canvas = frame.reshape(-1, 3).T
    neighbours = rng.integers(0, 600, (4, 100)).astype(np.int64)
    got = intra_kernel.block_params(canvas, neighbours, intra.FLOOR, intra.GAIN)
    want = intra.block_params_reference(canvas, neighbours)
    assert _same(got[0], want[0]) and _same(got[1], want[1])


@pytest.mark.parametrize("height, width", [(1, 1), (3, 7), (31, 17), (96, 96)])
def test_ring_matches_the_reference(height, width):
    from fpcodec.codec.modes import palette

    for p in (*intra.passes(height, width), *palette.inter_geometry(height, width)):
        got, want = intra.ring(p, height, width), intra.ring_reference(p, height, width)
        assert got.dtype == want.dtype and np.array_equal(got, want)
