"""Palette rows of format version 2, frozen: per-colour costs in float32 instead of integer weights.

Version 2 streams (FORMAT.md, "Version 2") turned the prediction into palette rows through float
costs, ``model_rows(colour_bits(...))``; later versions use ``palette_coding.colour_weights``. The
rule is kept as it was, for decoding those streams only.
"""

from __future__ import annotations

import numpy as np

from ..bitstream import entropy
from ..models.base import apply_coupling


def colour_bits(
    mean: np.ndarray, coupling: np.ndarray | None, scale_idx: np.ndarray, palette: np.ndarray
) -> np.ndarray:
    """(N, K) cost in bits of each palette colour at each pixel, up to a per-pixel constant: the
    rows of format versions 2 (with ``model_rows``); version 3 uses ``colour_weights``.

    mean (C, N) float, coupling (3, N) or None, scale_idx (C, N) int (shift already applied).
    A value at distance d >= 0.5 from a Laplace(mu, b) mean has discretized mass
    exp(-d/b) sinh(1/(2b)), so its cost is linear in d: log2(e) d / b + const(b). Only the one value
    within 0.5 of mu needs the exact form 1 - exp(-1/(2b)) cosh(d/b). Per-pixel constants cancel
    when the row is normalized, which keeps this a few in-place passes per channel.
    """
    n, k = mean.shape[1], palette.shape[0]
    b = entropy.SCALE_TABLE.astype(np.float32)[scale_idx]  # (C, N)
    slope = np.float32(np.log2(np.e)) / b
    const = -np.log2(np.sinh(0.5 / b.astype(np.float64))).astype(np.float32)
    pal = palette.T.astype(np.float32)  # (C, K)
    bits = np.zeros((n, k), np.float32)
    buf = np.empty((n, k), np.float32)
    for c in range(palette.shape[1]):
        if coupling is None or c not in (1, 2):
            mu = entropy.quantize_mean(mean[c]).astype(np.float32) / entropy.MEAN_STEPS  # (N,)
            np.subtract(pal[c][None, :], mu[:, None], out=buf)
            np.abs(buf, out=buf)
            buf *= slope[c][:, None]
            bits += buf
            near = np.rint(mu)
            corr = _centre_correction(np.abs(near - mu), b[c], slope[c], const[c])
            rows, cols, counts = _colours_with_value(palette[:, c], near.astype(np.int64))
            bits[rows, cols] += np.repeat(corr, counts)
        else:
            mu = apply_coupling(mean[:, :, None], coupling[:, :, None], c, pal[:, None, :])  # (N, K)
            mu = entropy.quantize_mean(mu).astype(np.float32) / entropy.MEAN_STEPS
            d = np.abs(pal[c][None, :] - mu)
            near = np.nonzero(d < 0.5)
            d *= slope[c][:, None]
            bits += d
            if near[0].size:
                r = near[0]
                dn = np.abs(pal[c][near[1]] - mu[near])
                bits[near] += _centre_correction(dn, b[c][r], slope[c][r], const[c][r])
    return bits


def _colours_with_value(values: np.ndarray, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each pixel n, the palette entries whose channel value equals wanted[n].

    Returns (rows, cols, counts): pairs (pixel, colour) and the number of pairs per pixel. O(N + pairs),
    which replaces a full (N, K) comparison.
    """
    order = np.argsort(values, kind="stable")
    sorted_vals = values[order].astype(np.int64)
    lo = np.searchsorted(sorted_vals, wanted, "left")
    hi = np.searchsorted(sorted_vals, wanted, "right")
    counts = hi - lo
    total = int(counts.sum())
    starts = np.cumsum(counts) - counts
    pos = np.arange(total) - np.repeat(starts, counts) + np.repeat(lo, counts)
    return np.repeat(np.arange(wanted.size), counts), order[pos], counts


def _centre_correction(d: np.ndarray, b: np.ndarray, slope: np.ndarray, const: np.ndarray) -> np.ndarray:
    """Exact cost minus the linear rule for values less than 0.5 from the mean."""
    d64, b64 = d.astype(np.float64), b.astype(np.float64)
    exact = -np.log2(np.maximum(1.0 - np.exp(-0.5 / b64) * np.cosh(d64 / b64), 1e-30))
    return (exact - const - slope * d64).astype(np.float32)


def model_rows(bits: np.ndarray) -> np.ndarray:
    """Unnormalized (N, K) float32 probabilities 2^(min - cost) from colour costs, in place."""
    np.subtract(bits.min(axis=1, keepdims=True), bits, out=bits)
    np.exp2(bits, out=bits)
    return bits
