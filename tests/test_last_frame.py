"""``last-frame``'s rule made in bands of rows gives the float32 scales of the whole-frame definition."""

from __future__ import annotations

import numpy as np
import pytest

from fpcodec.models import last_frame


def _history(frames: int, h: int, w: int, channels: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, channels), dtype=np.uint8) for _ in range(frames)]


@pytest.mark.parametrize("frames", [1, 2, 5])
@pytest.mark.parametrize(
    ("h", "w", "channels", "band_pixels"),
    [
        (1, 1, 3, 1),
        (1, 9, 3, 1),
        (9, 1, 4, 1),
        (23, 17, 3, 17),  # bands of one row
        (23, 17, 4, 3 * 17),  # bands of 3 rows, the last of 2
        (40, 31, 3, 7 * 31),  # bands of 7 rows, narrower than the 7x7 box's reach below
        (130, 200, 3, None),  # one band (the default)
    ],
)
def test_bands_give_the_rules_scales(monkeypatch, frames, h, w, channels, band_pixels):
    if band_pixels is not None:
        monkeypatch.setattr(last_frame, "BAND_PIXELS", band_pixels)
    history = _history(frames, h, w, channels)
    want = last_frame.last_frame_params_reference(history)
    got = last_frame.last_frame_params(history)
    assert got.mean.dtype == want.mean.dtype == np.float32
    assert got.scale.dtype == want.scale.dtype == np.float32
    np.testing.assert_array_equal(got.mean, want.mean)
    np.testing.assert_array_equal(got.scale, want.scale)


def _box_mean64(a: np.ndarray, k: int = 7) -> np.ndarray:
    """``last_frame.box_mean`` in float64, where these sums are exact."""
    r = k // 2
    c = np.pad(a, [(0, 0), (r, r), (r, r)], mode="edge").cumsum(-1).cumsum(-2)
    c = np.pad(c, [(0, 0), (1, 0), (1, 0)])
    return (c[:, k:, k:] - c[:, :-k, k:] - c[:, k:, :-k] + c[:, :-k, :-k]) / (k * k)


def test_bands_carry_the_summed_area_tables_rounding(monkeypatch):
    """On a frame whose summed-area table passes 2^24 its float32 sums round, and the scales depend
    on the rows above a band: the bands must carry the table's rows as whole-frame cumsums make
    them (a table started again at each band gives other floats here)."""
    h, w = 300, 700
    history = _history(2, h, w, 3, seed=1)
    # the table's last sums (a plane's) pass 2^24, where float32 stops holding every integer
    assert np.abs(history[1].astype(np.int64) - history[0]).sum(axis=(0, 1)).min() > 2**24
    want = last_frame.last_frame_params_reference(history)
    exact = _box_mean64(np.abs(history[1].astype(np.float64) - history[0]).transpose(2, 0, 1))
    assert not np.array_equal(last_frame.activity(history), exact.astype(np.float32))  # it rounds
    for rows in (1, 8, 64, 150):
        monkeypatch.setattr(last_frame, "BAND_PIXELS", rows * w)
        np.testing.assert_array_equal(last_frame.last_frame_params(history).scale, want.scale)
