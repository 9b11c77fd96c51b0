"""bench/global_shift: the best global shift of a frame against the last."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from fpcodec.bench import global_shift


def _texture(h: int = 40, w: int = 48) -> np.ndarray:
    return np.random.default_rng(3).integers(0, 256, (h, w, 3)).astype(np.int16)


def test_a_panned_frame_is_found_at_its_shift():
    prev = _texture()
    cur = np.roll(prev, (2, -3), axis=(0, 1))  # cur[y, x] = prev[y - 2, x + 3]
    at, in_place, best = global_shift.best_shift(prev, cur, 4)
    assert at == (-2, 3) and best == 0.0 and in_place > 50
    assert global_shift.best_shift(prev, prev, 4) == ((0, 0), 0.0, 0.0)
    with pytest.raises(ValueError, match="too small"):
        global_shift.best_shift(prev[:8], prev[:8], 4)


def test_main_reports_per_source(tmp_path, capsys):
    base = _texture(60, 60).astype(np.uint8)
    still = []
    for i in range(3):  # a small change per frame (Pillow merges identical frames)
        f = base.copy()
        f[20:24, 20:24] = 80 * i
        still.append(Image.fromarray(f))
    pan = [Image.fromarray(np.roll(base, (0, i), axis=(0, 1))) for i in range(3)]
    for name, frames in (("still_000.gif", still), ("pan.gif", pan)):
        frames = [f.quantize(64) for f in frames]
        frames[0].save(tmp_path / name, save_all=True, append_images=frames[1:], duration=40, loop=0)
    assert global_shift.main([str(tmp_path), "--radius", "3"]) == 0
    out = capsys.readouterr().out
    assert "| pan | 2 | 100.0 % |" in out and "| still | 2 | 0.0 % |" in out
    assert global_shift.main([str(tmp_path / "none")]) == 1
    assert capsys.readouterr().err.startswith("global_shift: error: no GIF")
