"""Format version 20: planar inter frames whose references are read by an MPEG interpolation rule
(``motion.INTERPOLATIONS``): video that FFmpeg's MPEG-4 part 2 and MPEG-1 encoders made takes
those rules, codes smaller than with H.264's rule alone and decodes exactly; the decoder refuses
rule bits where the format has none."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from conftest import DATA, assert_planar_fixture_decodes

from fpcodec.bitstream.errors import FormatError
from fpcodec.codec import cli, motion, planar_coding, planar_io
from fpcodec.codec.modes import planar
from fpcodec.codec.modes.base import MODE_PLANAR
from fpcodec.codec.pipeline import Decoder


def _stream(name: str) -> bytes:
    reader = planar_io.native_reader(str(DATA / name))
    buf = io.BytesIO()
    with planar_io.planar_encoder(buf, reader) as encoder:
        for planes, duration in reader.frames():
            encoder.write_planes(planes, duration)
    return buf.getvalue()


def _rules(data: bytes) -> list[int]:
    """Each inter frame's interpolation rule."""
    words = [
        struct.unpack_from("<I", r.payload)[0]
        for r in Decoder(io.BytesIO(data), load_model=False).records()
        if r.mode == MODE_PLANAR
    ]
    inter = (planar.KIND_INTER, planar.KIND_RASTER_INTER)
    return [w >> planar.INTERPOLATION_SHIFT & 3 for w in words if w & 0xFF in inter]


@pytest.mark.parametrize(
    ("name", "rules", "most"),
    # most: the stream's size against H.264's rule alone (measured 0.875 and 0.944)
    [
        ("mpeg4_96x64.avi", {motion.MPEG4, motion.MPEG4_DOWN}, 0.95),
        ("mpeg1_96x64.avi", {motion.MPEG12}, 0.98),
    ],
)
def test_mpeg_made_video_is_read_by_its_rules(name: str, rules: set[int], most: float) -> None:
    """FFmpeg's MPEG-4 encoder alternates its rounding between P frames (both MPEG-4 rules are
    taken); MPEG-1 has one rule. Every stream decodes to FFmpeg's samples of the file."""
    data = _stream(name)
    with planar_coding.without_tools("interpolations"):
        h264 = _stream(name)
    assert set(_rules(h264)) == {motion.H264}
    assert rules <= set(_rules(data))
    assert len(data) < most * len(h264)
    _, clip = planar_io.read_planes(DATA / name)
    for stream in (data, h264):
        decoded = list(Decoder(io.BytesIO(stream)).frames())
        assert len(decoded) == len(clip)
        for frame, planes in zip(decoded, clip, strict=True):
            for a, b in zip(frame.planes, planes, strict=True):
                np.testing.assert_array_equal(a, b)


def test_version_20_fixture_decodes(capsys) -> None:
    """tests/data/v20_mpeg4.fpc, written by the version-20 encoder from mpeg4_4mv_96x64.avi (four
    vectors a macroblock: its fields of 8x8 blocks give chroma a macroblock's vector), decodes to
    its samples, and ``info`` names its frames' kinds and rules."""
    assert_planar_fixture_decodes("v20_mpeg4.fpc", 20, "mpeg4_4mv_96x64.avi")
    assert cli.main(["info", str(DATA / "v20_mpeg4.fpc")]) == 0
    out = capsys.readouterr().out
    assert "planar/p+mpeg4 " in out and "planar/rp+mpeg4down " in out and "mb16" not in out


def _frames(name: str) -> tuple[list, list]:
    """(per frame: mode, payload, references) of a stream of tests/data/``name``, and its geometry."""
    data = _stream(name)
    reader = planar_io.native_reader(str(DATA / name))
    geometry = planar_coding.geometry(reader.pixel_format, reader.width, reader.height)
    records = list(Decoder(io.BytesIO(data), load_model=False).records())
    _, clip = planar_io.read_planes(DATA / name)
    frames = [(r.mode, r.payload, clip[:i][::-1][: motion.REFERENCES]) for i, r in enumerate(records)]
    return frames, geometry


def test_rule_bits_are_refused_where_the_format_has_none() -> None:
    frames, geometry = _frames("mpeg4_96x64.avi")
    inter = next(f for f in frames if f[0] == MODE_PLANAR and _word(f[1]) >> planar.INTERPOLATION_SHIFT & 3)
    _, payload, references = inter
    word = _word(payload)
    assert planar.decode(payload, references, geometry)  # as written
    with pytest.raises(FormatError, match="reserved bits"):  # version 19: bits 18-31 are reserved
        planar.decode(payload, references, geometry, interpolations=False)
    with pytest.raises(FormatError, match="reserved bits"):
        planar.decode(_with_word(payload, word | 1 << 20), references, geometry)
    intra = next(f for f in frames if f[0] == MODE_PLANAR and _word(f[1]) & 0xFF == planar.KIND_RASTER)
    _, payload, references = intra
    with pytest.raises(FormatError, match="interpolation rule"):
        planar.decode(
            _with_word(payload, _word(payload) | 2 << planar.INTERPOLATION_SHIFT), references, geometry
        )


def _word(payload: bytes) -> int:
    return struct.unpack_from("<I", payload)[0]


def _with_word(payload: bytes, word: int) -> bytes:
    return struct.pack("<I", word) + payload[4:]


def test_unknown_tools_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown planar encoder tools"):
        with planar_coding.without_tools("interpolation"):
            pass


def test_the_benchmark_codes_an_mpeg_file_both_ways_and_reports(tmp_path, monkeypatch) -> None:
    """bench/mpeg_interpolation.py on one variant of a small clip: both streams exact (it asserts
    so), x264 and FFV1 exact on the same frames, every inter frame's rule counted, a report."""
    from fpcodec.bench import mpeg_interpolation

    monkeypatch.setattr(mpeg_interpolation, "VARIANTS", [("mpeg4 q4", "mpeg4", 4, 0, False)])
    (row,) = mpeg_interpolation.run([DATA / "bikes_yuv420p_64x48.mkv"], 6, tmp_path)
    assert (row["variant"], row["size"], row["frames"]) == ("mpeg4 q4", "64x48", 6)
    assert sum(row["rules"].values()) == 5 and min(row["x264_bytes"], row["ffv1_bytes"], row["bytes"]) > 0
    assert (tmp_path / "bikes_yuv420p_64x48_mpeg4_q4.avi").stat().st_size == row["file_bytes"]
    mpeg_interpolation.report([row], tmp_path / "out", "command")
    text = (tmp_path / "out" / "README.md").read_text()
    assert "| bikes_yuv420p_64x48 | mpeg4 q4 | 64x48 x 6 |" in text and "| all (1) |" in text
