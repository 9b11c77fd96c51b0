"""Peak memory of coding a frame, per pixel (issue 15): the encoder's and decoder's working set must
stay a small multiple of the frame, whatever its size.

tracemalloc sees numpy's buffers, so its peak over an encode and a decode of a 256x256 frame of 128
random colours (too many (pixels x colours) entries for the palette modes' row cache, so the bound
holds the same on larger frames), minus what a warm-up of a tiny frame allocated once (coding tables,
compiled kernels), bounds the bytes per pixel. The pass schedules' caches are cleared first, so
they count. Random colours are a worst case (every neighbour context is new, so the context count
tables hold about one code per pixel): measured at about 247 B/px (284 before the context counts
became int32 and the previous frame's palette indices were found in blocks; 330 before the repeat
context's ring was computed where it is read and the encoder's searches were compiled; 485 before
issue 15, whose whole-frame (N, passes) and (N, K) temporaries this bound would catch).
"""

from __future__ import annotations

import io
import tracemalloc

import numpy as np

from fpcodec.codec import Decoder, Encoder
from fpcodec.codec import intra, row_schedule

SIZE = 256
BOUND_BYTES_PER_PIXEL = 300


def _clip(size: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    palette = rng.integers(0, 256, (128, 3), dtype=np.uint8)
    first = palette[rng.integers(0, 128, (size, size))]
    second = first.copy()
    second[size // 4 : size // 2, size // 4 : size // 2] = palette[
        rng.integers(0, 128, (size // 4, size // 4))
    ]
    return [first, second]


def _code(frames: list[np.ndarray]) -> None:
    buf = io.BytesIO()
    h, w, c = frames[0].shape
    with Encoder(buf, width=w, height=h, channels=c, model="last-frame") as enc:
        for f in frames:
            enc.write(f, 1)
    decoded = [d.pixels for d in Decoder(io.BytesIO(buf.getvalue()))]
    assert all(np.array_equal(a, b) for a, b in zip(decoded, frames, strict=True))


def _peak_per_pixel(frames: list[np.ndarray]) -> float:
    """Peak bytes per pixel of coding ``frames``, the schedules' caches cleared first."""
    intra.cached_passes.cache_clear()
    row_schedule.cached_passes.cache_clear()
    tracemalloc.start()
    try:
        _code(frames)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / (SIZE * SIZE)


def test_peak_memory_per_pixel() -> None:
    _code(_clip(16, 1))  # tables and kernels: allocated once per process
    per_pixel = _peak_per_pixel(_clip(SIZE, 2))
    assert per_pixel < BOUND_BYTES_PER_PIXEL, f"peak {per_pixel:.0f} bytes/pixel"


def test_schedules_too_large_to_cache_are_never_held_whole(monkeypatch) -> None:
    """Above ``CACHED_PIXELS`` a schedule is made pass by pass (``intra.Schedule``) and RGB intra
    keeps no per-pass parameters: the peak falls by more than 30 bytes a pixel (measured: 247 ->
    203; 284 -> 240 before int32 counts; 299 -> 279 when the uncached schedule was made whole and
    the parameters kept)."""
    _code(_clip(16, 1))
    frames = _clip(SIZE, 2)
    cached = _peak_per_pixel(frames)
    monkeypatch.setattr(intra, "CACHED_PIXELS", 0)
    monkeypatch.setattr(row_schedule, "CACHED_PIXELS", 0)
    lazy = _peak_per_pixel(frames)
    assert lazy < cached - 30, f"{cached:.0f} -> {lazy:.0f} bytes/pixel"
