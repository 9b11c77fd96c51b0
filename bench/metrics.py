"""Numbers the benchmark computes: sizes, exactness, timing, and the tutorial's image metrics.

Everything here is a pure function of its arguments (the timing helper aside), so the harness
and the tests share one definition of each number.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np


# ------------------------------------------------------------------------------------------ sizes
def bits_per_pixel(nbytes: int, pixels: int) -> float:
    """Bits per pixel (per RGB(A) pixel, not per sample)."""
    return 8.0 * nbytes / pixels if pixels else float("nan")


def gain_percent(bits: float, reference_bits: float) -> float:
    """Percent fewer bits than the reference (positive = smaller than the reference)."""
    if not reference_bits:
        return float("nan")
    return 100.0 * (1.0 - bits / reference_bits)


# ------------------------------------------------------------------------------------- exactness
@dataclass(frozen=True)
class Exactness:
    exact: bool
    detail: str = ""


def expand_by_duration(
    frames: Sequence[np.ndarray], durations: Sequence[float | None], frame_duration: float
) -> list[np.ndarray]:
    """Undo merged duplicate frames: a frame shown for k frame periods is repeated k times.

    Animated WebP/APNG writers merge identical consecutive frames into one longer frame; with
    uniform input timing the original sequence is recovered exactly. A duration of None (unknown,
    typically the last frame) counts as one period.
    """
    out: list[np.ndarray] = []
    for f, d in zip(frames, durations, strict=True):
        k = 1 if d is None or frame_duration <= 0 else max(1, int(round(d / frame_duration)))
        out.extend([f] * k)
    return out


def compare_frames(original: Sequence[np.ndarray], decoded: Sequence[np.ndarray]) -> Exactness:
    """Pixel-exact comparison of two frame sequences (shape, dtype, count, every sample)."""
    if len(decoded) != len(original):
        return Exactness(False, f"{len(decoded)} frames decoded, {len(original)} expected")
    bad_frames = 0
    first = ""
    worst = 0
    for i, (a, b) in enumerate(zip(original, decoded, strict=True)):
        b = np.asarray(b)
        if b.shape != a.shape:
            return Exactness(False, f"frame {i}: decoded shape {b.shape}, expected {a.shape}")
        if b.dtype != np.uint8:
            return Exactness(False, f"frame {i}: decoded dtype {b.dtype}, expected uint8")
        if not np.array_equal(a, b):
            diff = np.abs(a.astype(np.int16) - b.astype(np.int16))
            bad_frames += 1
            worst = max(worst, int(diff.max()))
            if not first:
                n = int((diff.max(axis=-1) > 0).sum())
                first = f"frame {i}: {n} pixels differ"
    if bad_frames:
        return Exactness(False, f"{bad_frames}/{len(original)} frames differ ({first}; max |diff| {worst})")
    return Exactness(True, "")


# ----------------------------------------------------------------------------------------- timing
def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """(result, wall seconds) of one call."""
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def median(values: Sequence[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def fps(frames: int, seconds: float | None) -> float | None:
    if not seconds or seconds <= 0:
        return None
    return frames / seconds


# ------------------------------------------------------------------------- prediction quality
def prediction_to_uint8(mean: np.ndarray) -> np.ndarray:
    """A predictor's channel-first float mean (C, H, W) as an (H, W, C) uint8 image."""
    m = np.asarray(mean, dtype=np.float64)
    return np.clip(np.rint(m), 0, 255).astype(np.uint8).transpose(1, 2, 0).copy()


def redmean_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean "redmean" colour distance over pixels (the W&B catz tutorial's perceptual distance).

    For r̄ = (r1 + r2) / 2: sqrt((2 + r̄/256) dR² + 4 dG² + (2 + (255 - r̄)/256) dB²), on RGB.
    """
    x = np.asarray(a, dtype=np.float64)[..., :3]
    y = np.asarray(b, dtype=np.float64)[..., :3]
    rmean = (x[..., 0] + y[..., 0]) / 2.0
    d = x - y
    dist = np.sqrt(
        (2.0 + rmean / 256.0) * d[..., 0] ** 2
        + 4.0 * d[..., 1] ** 2
        + (2.0 + (255.0 - rmean) / 256.0) * d[..., 2] ** 2
    )
    return float(dist.mean())


def psnr(true: np.ndarray, pred: np.ndarray) -> float:
    """PSNR in dB on the RGB channels (inf when identical), skimage with data_range=255."""
    from skimage.metrics import peak_signal_noise_ratio

    t = np.asarray(true)[..., :3]
    p = np.asarray(pred)[..., :3]
    if np.array_equal(t, p):
        return float("inf")
    return float(peak_signal_noise_ratio(t, p, data_range=255))


def ssim(true: np.ndarray, pred: np.ndarray) -> float | None:
    """SSIM on the RGB channels (skimage, channel_axis=-1, data_range=255); None below 3x3 pixels."""
    from skimage.metrics import structural_similarity

    t = np.asarray(true)[..., :3]
    p = np.asarray(pred)[..., :3]
    side = min(t.shape[0], t.shape[1])
    win = min(7, side if side % 2 else side - 1)
    if win < 3:
        return None
    return float(structural_similarity(t, p, channel_axis=-1, data_range=255, win_size=win))


def prediction_quality(
    true: np.ndarray, pred: np.ndarray, last: np.ndarray | None = None
) -> dict[str, float | None]:
    """The tutorial's three numbers for one predicted frame and, given the ``last`` frame the
    prediction was made after, the share of RGB subpixels where the prediction is not simply that
    frame (otherwise a model's image metrics are last-frame's, however its scales differ)."""
    out = {
        "perceptual_distance": redmean_distance(true, pred),
        "psnr": psnr(true, pred),
        "ssim": ssim(true, pred),
    }
    if last is not None:
        out["off_last_frame"] = float(np.mean(np.asarray(pred)[..., :3] != np.asarray(last)[..., :3]))
    return out


def mean_quality(rows: Sequence[dict[str, float | None]]) -> dict[str, float | None]:
    """Average per-frame quality rows; PSNR is averaged over finite values (identical frames are
    counted separately as ``identical_frames``)."""
    out: dict[str, float | None] = {"frames": len(rows)}
    for key in ("perceptual_distance", "ssim", "off_last_frame"):
        vals = [r[key] for r in rows if r.get(key) is not None]
        out[key] = float(np.mean(vals)) if vals else None
    finite = [r["psnr"] for r in rows if r.get("psnr") is not None and np.isfinite(r["psnr"])]
    out["psnr"] = float(np.mean(finite)) if finite else None
    out["identical_frames"] = sum(1 for r in rows if r.get("psnr") is not None and not np.isfinite(r["psnr"]))
    return out


def residual_image(true: np.ndarray, pred: np.ndarray, gain: float = 4.0) -> np.ndarray:
    """(true - pred) * gain + 128, clipped to uint8, RGB: grey where the prediction is right."""
    d = np.asarray(true, dtype=np.float64)[..., :3] - np.asarray(pred, dtype=np.float64)[..., :3]
    return np.clip(np.rint(d * gain + 128.0), 0, 255).astype(np.uint8)
