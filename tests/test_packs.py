"""Training packs (``models.training.data``): clips carried to a machine without PyAV, exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fpcodec.bitstream.errors import FpcodecError
from fpcodec.models.training.data import load_clips, most_colours, pack_clips, read_pack
from fpcodec.models.training.data import main as data_main

DATA = Path(__file__).parent / "data"


def _clips() -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    palette = rng.integers(0, 256, (7, 3), dtype=np.uint8)
    few = palette[rng.integers(0, 7, (4, 9, 11))]  # 7 colours a frame: indices + palette
    many = rng.integers(0, 256, (2, 20, 20, 3), dtype=np.uint8)  # ~400 colours: stored raw
    mixed = np.concatenate([few[:1, :9, :9], many[:1, :9, :9]])
    return [few, many, mixed, np.zeros((1, 1, 1, 3), np.uint8)]


def test_pack_reads_back_exactly(tmp_path):
    clips = _clips()
    assert most_colours(clips[0]) <= 7 < 256 < most_colours(clips[1])
    pack = tmp_path / "data.npz"
    pack_clips(clips, pack)
    back = read_pack(pack)
    assert len(back) == len(clips)
    for a, b in zip(clips, back, strict=True):
        assert a.dtype == b.dtype == np.uint8 and np.array_equal(a, b)
    # load_clips takes packs (given or found in folders) and keeps its size rules.
    assert [c.shape for c in load_clips([tmp_path])] == [c.shape for c in clips[:3]]
    # An existing file is not overwritten unless asked, from Python or the command line.
    with pytest.raises(FpcodecError, match="exists"):
        pack_clips(clips[:1], pack)
    assert len(read_pack(pack)) == len(clips)
    assert data_main(["pack", str(DATA / "carphonew_000_5f.gif"), "-o", str(pack)]) == 1
    assert data_main(["pack", str(DATA / "carphonew_000_5f.gif"), "-o", str(pack), "-y"]) == 0
    assert [len(c) for c in read_pack(pack)] == [5]


def test_pack_of_a_gif_and_refusals(tmp_path):
    from fpcodec.bench.run import pack_source, source_clips

    gif = DATA / "carphonew_000_5f.gif"
    pack = tmp_path / "p.npz"
    pack_clips(load_clips([gif]), pack)
    ((name, frames, info),) = source_clips(pack)
    assert name == f"{pack}#0" and pack_source(name) == (pack, 0) and pack_source(str(gif)) == (gif, None)
    ((_, direct, direct_info),) = source_clips(gif)
    assert (info.width, info.height, len(frames)) == (direct_info.width, direct_info.height, len(direct))
    assert all(np.array_equal(a, b[..., :3]) for a, b in zip(frames, direct, strict=True))
    (tmp_path / "not.npz").write_bytes(b"GIF89a not a pack")
    with pytest.raises(FpcodecError, match="not a training pack"):
        read_pack(tmp_path / "not.npz")
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    one = np.array([1], np.int64)
    palette = np.zeros((2, 3), np.uint8)
    np.savez(tmp_path / "index.npz", count=one, c0_n=one, c0_f0=np.full((2, 2), 7, np.uint8), c0_p0=palette)
    np.savez(tmp_path / "dtype.npz", count=one, c0_n=one, c0_f0=np.zeros((2, 2, 3)), c0_p0=palette[:0])
    for name in ("other", "index", "dtype"):
        with pytest.raises(FpcodecError, match="not a training pack"):
            read_pack(tmp_path / f"{name}.npz")


def test_cross_device_on_a_pack(tmp_path):
    """bench.cross_device codes each clip of a pack as a source and verifies it from the pack."""
    from fpcodec.bench import cross_device

    rng = np.random.default_rng(1)
    palette = rng.integers(0, 256, (5, 3), dtype=np.uint8)
    pack = tmp_path / "p.npz"
    pack_clips([palette[rng.integers(0, 5, (3, 8, 8))], palette[rng.integers(0, 5, (2, 6, 10))]], pack)
    tar = tmp_path / "s.tar"
    lines = []
    assert cross_device.encode_all([str(pack)], ["last-frame"], "cpu", str(tar), log=lines.append) == 0
    assert len(lines) == 2 and all("ok" in line for line in lines)
    assert cross_device.verify_all(str(tar), "cpu", log=lines.append) == (2, 0)
