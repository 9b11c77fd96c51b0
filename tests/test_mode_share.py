"""bench/mode_share: bytes per coding mode, read from the streams without decoding them."""

from __future__ import annotations

import numpy as np

from fpcodec.bench import mode_share
from fpcodec.codec.pipeline import encode


def _stream(tmp_path, name: str, rgb: bool) -> tuple:
    rng = np.random.default_rng(1)
    base = (rng.integers(0, 4, (12, 12, 3)) * 80).astype(np.uint8)
    frames = [base, np.roll(base, 1, axis=1), np.roll(base, 2, axis=1)]
    if rgb:  # more than 256 colours: RGB modes
        frames = [rng.integers(0, 256, (24, 24, 3), dtype=np.uint8) for _ in range(3)]
    path = tmp_path / name
    path.write_bytes(encode(frames, model="last-frame"))
    return path


def test_mode_bytes_add_up_to_the_coded_frames(tmp_path):
    path = _stream(tmp_path, "pal_000.fpc", rgb=False)
    c = mode_share.mode_bytes(path)
    assert set(c) <= set(mode_share.MODE_NAMES.values())
    assert any(m.startswith("p-") for m in c)
    assert 0 < sum(c.values()) < path.stat().st_size  # framing and header not counted
    rgb = mode_share.mode_bytes(_stream(tmp_path, "rgb.fpc", rgb=True))
    assert not any(m.startswith("p-") for m in rgb) and sum(rgb.values()) > 3 * 24 * 24 * 2


def test_main_groups_by_source(tmp_path, capsys):
    a = _stream(tmp_path, "cat_000.fpc", rgb=False)
    b = _stream(tmp_path, "cat_001.fpc", rgb=False)
    assert mode_share.source_of(a) == "cat" and mode_share.source_of(tmp_path / "cat.gif.fpc") == "cat"
    assert mode_share.main([str(a), str(b), "--group-by-source"]) == 0
    rows = [r for r in capsys.readouterr().out.splitlines() if r.startswith("| cat") or r.startswith("| all")]
    total = 2 * sum(mode_share.mode_bytes(a).values())
    assert [r.split(" | ")[1] for r in rows] == [f"{total:,}", f"{total:,}"]


def test_damaged_stream_is_a_one_line_error(tmp_path, capsys):
    path = _stream(tmp_path, "x.fpc", rgb=False)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    assert mode_share.main([str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("mode_share: error:") and err.count("\n") == 1
