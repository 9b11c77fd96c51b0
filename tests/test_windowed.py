"""Windowed Laplace rows and the low bits of deeper samples (bitstream/entropy.py): planar
frames' coding of sample values, checked against the whole rows it narrows. No torch, no codec."""

from __future__ import annotations

import numpy as np
import pytest

from fpcodec.bitstream import entropy


def _cases(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Values near and far from their means, means at the ends of the range, every scale."""
    rng = np.random.default_rng(seed)
    mean_q = rng.integers(0, 4081, n)
    mean_q[:50] = 0
    mean_q[50:100] = 4080
    scale_idx = rng.integers(0, 64, n)
    spread = entropy.SCALE_TABLE[scale_idx] * rng.laplace(0, 1, n)
    values = np.clip(np.round(mean_q / 16 + spread), 0, 255).astype(np.int64)
    far = rng.random(n) < 0.05  # escapes: values nowhere near the mean
    values[far] = rng.integers(0, 256, int(far.sum()))
    return values, mean_q, scale_idx


def test_windowed_round_trip_and_costs_what_the_whole_rows_cost() -> None:
    values, mean_q, scale_idx = _cases(20000, 1)
    windowed, plain = entropy.FrameEncoder(), entropy.FrameEncoder()
    entropy.encode_windowed(windowed, values, mean_q, scale_idx)
    plain.encode(values, mean_q, scale_idx)
    w, p = windowed.finish(), plain.finish()
    assert abs(len(w) - len(p)) <= 0.002 * len(p) + 8, (len(w), len(p))
    back = entropy.decode_windowed(entropy.FrameDecoder(w), mean_q, scale_idx)
    assert np.array_equal(back, values)


def test_window_radius_follows_the_scale() -> None:
    radius = entropy.WINDOW_OF_SCALE
    assert radius.shape == (64,) and set(radius.tolist()) <= {0, 3, 7, 15, 31, 63}
    for i, b in enumerate(entropy.SCALE_TABLE):
        r = int(radius[i])
        assert (r == 0 and 63 < 6 * b + 1) or (r >= 6 * b + 1 and (r == 3 or r // 2 < 6 * b + 1))


def test_window_rows_keep_the_whole_rows_mass() -> None:
    rng = np.random.default_rng(2)
    mean_q, scale_idx = rng.integers(0, 4081, 300), rng.integers(0, 43, 300)
    whole = entropy.table_rows(mean_q, scale_idx)
    for radius in entropy.WINDOW_RADII:
        lo, rows = entropy.window_rows_reference(mean_q, scale_idx, radius)
        assert np.all(lo >= 0) and np.all(lo + 2 * radius <= 255)
        inside = np.take_along_axis(whole, lo[:, None] + np.arange(2 * radius + 1), axis=1)
        assert np.array_equal(rows[:, :-1], inside)
        assert np.array_equal(rows.sum(axis=1), whole.sum(axis=1))


@pytest.mark.parametrize("extra", [1, 2, 4])
def test_low_bits_rows_split_each_value_into_finer_laplace_bins(extra: int) -> None:
    rng = np.random.default_rng(extra)
    mean_q, scale_idx = rng.integers(0, 4081, 200), rng.integers(0, 64, 200)
    coarse = rng.integers(0, 256, 200)
    coarse[:3] = 0
    coarse[3:6] = 255
    rows = entropy.low_bits_rows(coarse, mean_q, scale_idx, extra)
    assert rows.shape == (200, 1 << extra) and np.all(rows >= 1)
    whole = entropy.value_counts(coarse, mean_q, scale_idx)
    # The parts hold the value's mass (each +1 instead of the value's single +1).
    assert np.array_equal(rows.sum(axis=1) - (1 << extra), whole - 1)
    with pytest.raises(ValueError):
        entropy.low_bits_rows(coarse, mean_q, scale_idx, 5)


def test_single_window_for_a_small_batch() -> None:
    """``single``: one window for the whole batch (the widest), or whole rows if any sample
    needs them; decodes back and costs about what separate windows cost."""
    values, mean_q, scale_idx = _cases(3000, 3)
    for scales in (np.minimum(scale_idx, 40), scale_idx):
        one, many = entropy.FrameEncoder(), entropy.FrameEncoder()
        entropy.encode_windowed(one, values, mean_q, scales, single=True)
        entropy.encode_windowed(many, values, mean_q, scales)
        a, b = one.finish(), many.finish()
        assert abs(len(a) - len(b)) <= 0.01 * len(b) + 8
        back = entropy.decode_windowed(entropy.FrameDecoder(a), mean_q, scales, single=True)
        assert np.array_equal(back, values)
    assert entropy._widest(np.array([0, 30])) == int(entropy.WINDOW_OF_SCALE[30])
    assert entropy._widest(np.array([0, 50])) == 0
    assert entropy._widest(np.zeros(0, np.int64)) == 0


def _encode_single_as_specified(enc: entropy.FrameEncoder, values, mean_q, scale_idx) -> None:
    """FORMAT.md's single-window batch, written out with the numpy references: the widest window
    any sample needs (whole rows if one needs them) in blocks of TABLE_BLOCK, then every escaped
    value, in order, under its whole row with its window's values at 0."""
    radius = entropy._widest(scale_idx)
    if radius == 0:
        for s in range(0, values.size, entropy.TABLE_BLOCK):
            sl = slice(s, s + entropy.TABLE_BLOCK)
            enc.encode_categorical(values[sl], entropy.table_rows_reference(mean_q[sl], scale_idx[sl]))
        return
    lo, rows = entropy.window_rows_reference(mean_q, scale_idx, radius)
    offset = values - lo
    outside = (offset < 0) | (offset > 2 * radius)
    for s in range(0, values.size, entropy.TABLE_BLOCK):
        sl = slice(s, s + entropy.TABLE_BLOCK)
        enc.encode_categorical(np.where(outside, 2 * radius + 1, offset)[sl], rows[sl])
    esc = np.flatnonzero(outside)
    width = np.full(esc.size, 2 * radius + 1)
    rows = entropy.escape_rows_reference(mean_q[esc], scale_idx[esc], lo[esc], width)
    enc.encode_categorical(values[esc], rows)


@pytest.mark.parametrize(("n", "top_scale"), [(300, 30), (300, 63), (entropy.TABLE_BLOCK + 500, 40), (1, 63)])
def test_single_window_batches_are_coded_as_specified(n: int, top_scale: int) -> None:
    """The compiled single-window path writes the words of the specification's reference (a
    batch within one block, one of whole rows, one longer than TABLE_BLOCK) and reads them back."""
    values, mean_q, scale_idx = _cases(n, n + top_scale)
    scale_idx = np.minimum(scale_idx, top_scale)
    ours, spec = entropy.FrameEncoder(), entropy.FrameEncoder()
    entropy.encode_windowed(ours, values, mean_q, scale_idx, single=True)
    _encode_single_as_specified(spec, values, mean_q, scale_idx)
    words = ours.finish()
    assert words == spec.finish()
    assert np.array_equal(
        entropy.decode_windowed(entropy.FrameDecoder(words), mean_q, scale_idx, single=True), values
    )
