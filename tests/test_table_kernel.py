"""The compiled Laplace rows (bitstream/table_kernel.py) against their numpy references: the same
integers for every scale, means at both ends of the range, every window radius and both value
ranges the coder uses (0..255 and the signed -255..255)."""

from __future__ import annotations

import numpy as np
import pytest

from fpcodec.bitstream import entropy


def _params(n: int, seed: int, top: int = 16 * 255) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    mean_q = rng.integers(0, top + 1, n)
    mean_q[:64] = 0
    mean_q[64:128] = top
    mean_q[128:192] = rng.integers(0, 40, 64)  # windows pushed against the low end
    mean_q[192:256] = top - rng.integers(0, 40, 64)  # and the high end
    scale_idx = rng.integers(0, len(entropy.SCALE_TABLE), n)
    scale_idx[:8] = 0
    scale_idx[8:16] = len(entropy.SCALE_TABLE) - 1
    return mean_q, scale_idx


def test_table_rows_are_the_references_integers() -> None:
    mean_q, scale_idx = _params(3000, 1)
    rows = entropy.table_rows(mean_q, scale_idx)
    assert rows.dtype == np.float64 and rows.shape == (3000, 256)
    assert np.array_equal(rows, entropy.table_rows_reference(mean_q, scale_idx))
    assert np.all(rows.sum(axis=1) == entropy.FULL_MASS)


def test_signed_table_rows_are_the_references_integers() -> None:
    scale_idx = np.arange(len(entropy.SCALE_TABLE))
    zero = np.zeros(scale_idx.size, np.int64)
    rows = entropy.table_rows(zero, scale_idx, -255, 255)
    assert np.array_equal(rows, entropy.table_rows_reference(zero, scale_idx, -255, 255))


@pytest.mark.parametrize("radius", entropy.WINDOW_RADII)
def test_window_rows_are_the_references_integers(radius: int) -> None:
    mean_q, scale_idx = _params(2000, radius)
    lo, rows = entropy.window_rows(mean_q, scale_idx, radius)
    ref_lo, ref_rows = entropy.window_rows_reference(mean_q, scale_idx, radius)
    assert np.array_equal(lo, ref_lo) and np.array_equal(rows, ref_rows)
    assert lo.min() == 0 and lo.max() == 255 - 2 * radius  # both ends reached


@pytest.mark.parametrize("top_scale", [20, 40, 50, len(entropy.SCALE_TABLE) - 1])
def test_single_window_is_the_references(top_scale: int) -> None:
    """One batch's window, chosen and built in one call: the widest radius its scales need (whole
    rows where one needs them, from scale index 47 up), the same integers as the references'."""
    mean_q, scale_idx = _params(700, top_scale)
    scale_idx = np.minimum(scale_idx, top_scale)
    radius, lo, rows = entropy.single_window(mean_q, scale_idx)
    ref_radius, ref_lo, ref_rows = entropy.single_window_reference(mean_q, scale_idx)
    assert radius == ref_radius == entropy._widest(scale_idx)
    assert np.array_equal(lo, ref_lo) and np.array_equal(rows, ref_rows)
    assert rows.flags.c_contiguous and rows.shape == (700, 2 * radius + 2 if radius else 256)
    # an imposed radius (a batch longer than TABLE_BLOCK is chosen on all of it, then built in blocks)
    radius, lo, rows = entropy.single_window(mean_q, np.minimum(scale_idx, 10), 31)
    ref = entropy.window_rows_reference(mean_q, np.minimum(scale_idx, 10), 31)
    assert radius == 31 and np.array_equal(lo, ref[0]) and np.array_equal(rows, ref[1])


def test_escape_rows_are_the_references_integers() -> None:
    mean_q, scale_idx = _params(900, 5)
    rng = np.random.default_rng(5)
    width = rng.choice([0, 7, 15, 31, 63, 127], 900)
    lo = rng.integers(0, 256, 900) - width // 2  # windows that reach past either end, too
    rows = entropy.escape_rows(mean_q, scale_idx, lo, width)
    assert np.array_equal(rows, entropy.escape_rows_reference(mean_q, scale_idx, lo, width))
    assert np.any(rows == 0) and np.all(rows[width == 0] > 0)


def test_empty_batches() -> None:
    empty = np.zeros(0, np.int64)
    assert entropy.table_rows(empty, empty).shape == (0, 256)
    lo, rows = entropy.window_rows(empty, empty, 7)
    assert lo.shape == (0,) and rows.shape == (0, 16)
    radius, lo, rows = entropy.single_window(empty, empty)
    assert radius == 0 and lo.shape == (0,) and rows.shape == (0, 256)
    assert entropy.escape_rows(empty, empty, empty, empty).shape == (0, 256)
