"""bitstream/entropy.py's ``shift_histogram``: the encoder's choice of a frame's scale shift reads
these counts, so they are the plain histogram of (scale index, distance from the mean), however
the symbols come (one call or several adding up, in blocks or not)."""

from __future__ import annotations

import numpy as np

from fpcodec.bitstream import entropy


def _reference(symbols: np.ndarray, mean_q: np.ndarray, scale_idx: np.ndarray) -> np.ndarray:
    width = entropy.SYMBOL_MAX * entropy.MEAN_STEPS + 1
    index = scale_idx.astype(np.int64).ravel() * width + np.abs(
        symbols.astype(np.int64).ravel() * entropy.MEAN_STEPS - mean_q.astype(np.int64).ravel()
    )
    return np.bincount(index, minlength=len(entropy.SCALE_TABLE) * width)


def test_counts_are_the_histogram_in_blocks_and_across_calls(monkeypatch) -> None:
    rng = np.random.default_rng(5)
    n = 5000
    symbols = rng.integers(0, 256, (3, n)).astype(np.uint8)
    mean_q = rng.integers(0, entropy.MEAN_Q_MAX + 1, (3, n)).astype(np.int32)
    scale_idx = rng.integers(0, len(entropy.SCALE_TABLE), (3, n)).astype(np.int32)
    symbols[0, :4], mean_q[0, :4] = [0, 255, 0, 255], [entropy.MEAN_Q_MAX, 0, 0, entropy.MEAN_Q_MAX]
    mean_q[1, :100], symbols[1, :100], scale_idx[1, :100] = 80, 5, 7  # one bin counted 100 times
    want = _reference(symbols, mean_q, scale_idx)
    assert np.array_equal(entropy.shift_histogram(symbols, mean_q, scale_idx), want)
    monkeypatch.setattr(entropy, "HIST_BLOCK", 999)  # blocks that end inside the planes
    hist = entropy.shift_histogram(symbols[:, :1234], mean_q[:, :1234], scale_idx[:, :1234])
    hist = entropy.shift_histogram(symbols[:, 1234:], mean_q[:, 1234:], scale_idx[:, 1234:], hist)
    assert hist.dtype == np.int64 and np.array_equal(hist, want)
    empty = np.zeros((3, 0), np.int32)
    assert not entropy.shift_histogram(empty, empty, empty).any()
