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
from pathlib import Path

import numpy as np

from fpcodec.codec import Decoder, Encoder
from fpcodec.codec import intra, raster_rule, row_schedule
from fpcodec.codec.planar_io import pixel_format_by_name

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


#: Planar coding of a 640x480 yuv420p clip (a raster intra key frame above the schedules' cache
#: limit, two raster inter frames in two substreams): traced peak bytes per pixel, the schedules
#: made anew for each. Measured 157 encoding and 65 decoding; 240 and 168 before the schedules
#: were made by a compiled kernel, half-sample planes held one at a time and candidates kept as
#: int32 means and int16 contexts (2026-12-04).
PLANAR_ENCODE_BOUND = 190
PLANAR_DECODE_BOUND = 80


def _planar_clip(width: int, height: int, frames: int) -> list[list[np.ndarray]]:
    """A smooth, noisy picture moving by (2, 3) samples a frame, its chroma made from its luma."""
    rng = np.random.default_rng(2)
    yy, xx = np.mgrid[0 : height + 16, 0 : width + 16]
    picture = 128 + 60 * np.sin(xx / 23.0) * np.cos(yy / 17.0) + rng.normal(0, 6, yy.shape)
    out = []
    for i in range(frames):
        y = np.clip(picture[2 * i : 2 * i + height, 3 * i : 3 * i + width], 0, 255).astype(np.uint8)
        out.append(
            [y, np.ascontiguousarray(y[::2, ::2] // 2 + 40), np.ascontiguousarray(255 - y[1::2, 1::2] // 2)]
        )
    return out


def _planar_peaks(frames: list[list[np.ndarray]]) -> tuple[float, float]:
    """Traced peak bytes per pixel of encoding ``frames`` and of decoding them, exact."""
    height, width = frames[0][0].shape
    buf = io.BytesIO()
    raster_rule.run_schedule_cache_clear()
    tracemalloc.start()
    try:
        fmt = pixel_format_by_name("yuv420p")
        with Encoder(
            buf, width=width, height=height, channels=3, model="last-frame", pixel_format=fmt
        ) as enc:
            for planes in frames:
                enc.write_planes(planes, 1)
        _, encode = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    raster_rule.run_schedule_cache_clear()  # the decoder's schedules count, the encoder's do not
    tracemalloc.start()
    try:
        decoded = [d.planes for d in Decoder(io.BytesIO(buf.getvalue()))]
        _, decode = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    for got, want in zip(decoded, frames, strict=True):
        assert all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))
    return encode / (width * height), decode / (width * height)


def test_planar_peak_memory_per_pixel() -> None:
    _planar_peaks(_planar_clip(640, 480, 2))  # tables and kernels (substreams too): once per process
    assert 640 * 480 > raster_rule.CACHED_INTRA_SAMPLES  # the key frame's schedule is made, not cached
    encode, decode = _planar_peaks(_planar_clip(640, 480, 3))
    assert encode < PLANAR_ENCODE_BOUND, f"encoding peaked at {encode:.0f} bytes/pixel"
    assert decode < PLANAR_DECODE_BOUND, f"decoding peaked at {decode:.0f} bytes/pixel"


def test_the_planar_memory_benchmark_reports_bytes_per_pixel_above_its_smallest_size(tmp_path) -> None:
    """``bench/planar_memory.py`` on two sizes of the bikes fixture, one round: the smallest is
    the baseline, the other gets bytes a pixel from the children's peaks, and the table says so."""
    from fpcodec.bench import planar_memory

    source = Path(__file__).parent / "data" / "bikes_yuv420p_64x48.mkv"
    rows = planar_memory.measure(source, [(16, 16), (96, 64)], 2, 1, tmp_path, None)
    assert [r["size"] for r in rows] == ["16x16", "96x64"] and [r["frames"] for r in rows] == [2, 2]
    assert rows[0]["enc_bpp"] is None and rows[0]["dec_bpp"] is None
    for what in ("enc", "dec"):
        assert rows[1][f"{what}_mb"] > 50 and rows[1][f"{what}_s"] > 0
        assert rows[1][f"{what}_bpp"] == (rows[1][f"{what}_mb"] - rows[0][f"{what}_mb"]) * 2**20 / (96 * 64)
    text = planar_memory.table(rows, 1, source.name)
    assert "| 16x16 | 2 |" in text and "baseline" in text and "| 96x64 | 2 |" in text
