"""The streaming GIF writer (codec/anim_writers.py): frames drawn cropped on the right canvas, whatever
the order of opaque and transparent frames, read back by FFmpeg exactly as they were written."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from conftest import assert_frames_equal, clear_transparent, read_video
from fpcodec.codec.io import LossyOutputError, write_frames


def _frames() -> list[np.ndarray]:
    """24x32 RGBA frames of a few colours: opaque, opaque with a small change, transparent corners,
    transparent elsewhere, fully transparent, opaque again, a repeat, opaque with a small change."""
    rng = np.random.default_rng(7)
    colours = rng.integers(0, 256, (12, 3), dtype=np.uint8)

    def opaque() -> np.ndarray:
        f = np.full((24, 32, 4), 255, np.uint8)
        f[..., :3] = colours[rng.integers(0, 12, (24, 32))]
        return f

    f0 = opaque()
    f1 = f0.copy()
    f1[5:8, 10:14, :3] = colours[3]
    f2 = f1.copy()
    f2[:6, :6] = 0  # transparent top-left corner
    f3 = opaque()
    f3[18:, 20:, 3] = 0  # transparent bottom-right, hidden colours differ
    f3[10:12, 2:5, 3] = 0
    f4 = np.zeros((24, 32, 4), np.uint8)  # fully transparent
    f5 = opaque()
    f6 = f5.copy()  # repeat: merged into f5
    f7 = f5.copy()
    f7[20, 30, :3] = colours[0] ^ 1  # one pixel changes
    return [f0, f1, f2, f3, f4, f5, f6, f7]


def test_gif_canvas_follows_opaque_and_transparent_frames(tmp_path):
    frames = _frames()
    durations = [3, 4, 5, 6, 7, 8, 9, 10]
    out = tmp_path / "mixed.gif"
    notes = write_frames(out, iter(frames), durations, Fraction(1, 100), 0)
    assert any("1 repeated frames merged" in n for n in notes), notes
    got, got_durations, info = read_video(out)
    expected = frames[:6] + frames[7:]
    assert info.channels == 4 and info.loop == 0
    assert_frames_equal([clear_transparent(g) for g in got], [clear_transparent(f) for f in expected])
    assert [int(d * info.time_base * 100) for d in got_durations] == [3, 4, 5, 6, 7, 17, 10]


def test_gif_crops_frames_to_what_changed(tmp_path):
    """An opaque frame after an opaque frame is written as the rectangle that changed."""
    frames = _frames()
    full, cropped = tmp_path / "full.gif", tmp_path / "cropped.gif"
    write_frames(full, [frames[0], frames[5]], [4, 4], Fraction(1, 100), 0)
    write_frames(cropped, [frames[5], frames[7]], [4, 4], Fraction(1, 100), 0)
    assert cropped.stat().st_size < full.stat().st_size - 100
    descriptor = cropped.read_bytes().rindex(b"\x2c\x1e\x00\x14\x00\x01\x00\x01\x00")  # x=30 y=20 1x1
    assert descriptor > 0


def test_gif_refuses_256_colours_before_transparent_pixels(tmp_path):
    """A frame disposed to the background needs a transparent entry, which 256 colours leave no room for."""
    rng = np.random.default_rng(1)
    f0 = np.full((16, 16, 4), 255, np.uint8)
    f0[..., :3] = np.stack(
        [np.arange(256) % 16 * 16, np.arange(256) // 16 * 16, rng.integers(0, 256, 256)], axis=1
    ).reshape(16, 16, 3)
    f1 = f0.copy()
    f1[0, 0] = 0
    with pytest.raises(LossyOutputError, match="frame 0 has 256 colours"):
        write_frames(tmp_path / "x.gif", [f0, f1], [4, 4], Fraction(1, 100), 0)
    assert not (tmp_path / "x.gif").exists()
    notes = write_frames(tmp_path / "x.gif", [f0, f1], [4, 4], Fraction(1, 100), 0, allow_lossy=True)
    assert any("256 colours" in n for n in notes), notes


def test_gif_long_delays_and_loop_counts_are_clamped_with_a_note(tmp_path):
    f = _frames()
    notes = write_frames(tmp_path / "x.gif", [f[0], f[1]], [70000, 4], Fraction(1, 100), 70000)
    assert any("655.35 s" in n for n in notes) and any("loop count 70000" in n for n in notes), notes
    _, durations, info = read_video(tmp_path / "x.gif")
    assert info.loop == 65535 and durations[0] * info.time_base == Fraction(65535, 100)
