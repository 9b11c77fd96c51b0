"""Format version 18: the rest of FFV1's planar layouts, coded in their own samples.

4:4:0 (JPEG's vertical subsampling), 4:1:1 (DV NTSC) and 4:1:0, 9-bit YUV and gray, 9- and 14-bit
planar RGB, and YUV with an alpha plane (VP8/VP9 alpha, ProRes 4444, FFV1's yuva*) used to be coded
as their 8-bit RGB(A) conversion, with a warning. Every format's round trip at odd sizes is in
``test_planar.py``; here are real frames in those layouts through the CLI, their outputs, and the
version gate.
"""

from __future__ import annotations

import io
from fractions import Fraction

import av
import numpy as np
import pytest
from conftest import DATA, assert_planar_fixture_decodes, encode_planes, run_main

from fpcodec.bitstream.profile import LATEST
from fpcodec.bitstream.errors import FormatError
from fpcodec.codec.pipeline import Decoder
from fpcodec.codec.planar_io import (
    ColourInfo,
    native_reader,
    pixel_format_by_name,
    planar_encoder,
    read_planes,
    write_ffv1_mkv,
)

CLIP = DATA / "carphone_yuv420p_64x48.mkv"  # 12 frames 64x48 yuv420p, once H.264-coded


def _converted(pix_fmt: str, frames: int = 6) -> list[list[np.ndarray]]:
    """The first frames of CLIP in ``pix_fmt`` (swscale's conversion), with a soft disc moving
    across the alpha plane where the format has one."""
    fmt = pixel_format_by_name(pix_fmt)
    with av.open(str(CLIP)) as cont:
        source = [
            f.reformat(format=pix_fmt, threads=1)
            for _, f in zip(range(frames), cont.decode(video=0), strict=False)
        ]
    out = []
    for t, vf in enumerate(source):
        planes = []
        for plane, (_, w) in zip(vf.planes, fmt.plane_shapes(vf.width, vf.height), strict=True):
            dtype = np.dtype(fmt.dtype).newbyteorder("<")
            rows = np.frombuffer(bytes(plane), dtype).reshape(plane.height, -1)
            planes.append(np.ascontiguousarray(rows[:, :w], fmt.dtype))
        if fmt.alpha:
            yy, xx = np.mgrid[0 : vf.height, 0 : vf.width]
            distance = np.hypot(yy - 24, xx - 12 - 6 * t)
            top = (1 << fmt.depth) - 1
            planes[-1] = np.clip((20 - distance) * top / 8, 0, top).astype(fmt.dtype)
        out.append(planes)
    return out


def _source(tmp_path, pix_fmt: str) -> tuple[object, list[list[np.ndarray]]]:
    frames = _converted(pix_fmt)
    path = tmp_path / f"src_{pix_fmt}.mkv"
    h, w = frames[0][0].shape
    write_ffv1_mkv(path, pixel_format_by_name(pix_fmt), ColourInfo(color_range=1), w, h, Fraction(25), frames)
    return path, frames


def _assert_same(got, want) -> None:
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        assert len(a) == len(b)
        for pa, pb in zip(a, b, strict=True):
            assert pa.dtype == pb.dtype
            np.testing.assert_array_equal(pa, pb)


@pytest.mark.parametrize("pix_fmt", ["yuv411p", "yuv440p", "yuva420p", "yuva444p10le", "gray9le"])
def test_cli_codes_each_layout_in_its_own_samples(tmp_path, capsys, pix_fmt: str) -> None:
    """No conversion warning, ``info`` names the format, ``.mkv`` (FFV1) gives back every sample,
    and real frames code far below their raw size."""
    src, frames = _source(tmp_path, pix_fmt)
    code, _, err = run_main(capsys, "encode", src, "-o", tmp_path / "s.fpc", "-q")
    assert code == 0 and err == "", err
    code, out, _ = run_main(capsys, "info", tmp_path / "s.fpc")
    assert code == 0 and pix_fmt in out and f"format version {LATEST}" in out
    code, _, err = run_main(capsys, "decode", tmp_path / "s.fpc", "-o", tmp_path / "s.mkv", "-q")
    assert code == 0, err
    fmt, decoded = read_planes(tmp_path / "s.mkv")
    assert fmt.name == pix_fmt
    _assert_same(decoded, frames)
    raw = sum(p.nbytes for planes in frames for p in planes)
    assert (tmp_path / "s.fpc").stat().st_size < raw / 2


def test_yuv411p_goes_to_y4m_and_yuv440p_is_refused_there_in_one_line(tmp_path, capsys) -> None:
    src, frames = _source(tmp_path, "yuv411p")
    assert run_main(capsys, "encode", src, "-o", tmp_path / "a.fpc", "-q")[0] == 0
    code, _, err = run_main(capsys, "decode", tmp_path / "a.fpc", "-o", tmp_path / "a.y4m", "-q")
    assert code == 0, err
    fmt, decoded = read_planes(tmp_path / "a.y4m")  # FFmpeg's demuxer reads C411
    assert fmt.name == "yuv411p"
    _assert_same(decoded, frames)
    src, _ = _source(tmp_path, "yuv440p")
    assert run_main(capsys, "encode", src, "-o", tmp_path / "b.fpc", "-q")[0] == 0
    code, _, err = run_main(capsys, "decode", tmp_path / "b.fpc", "-o", tmp_path / "b.y4m", "-q")
    assert code != 0 and "yuv440p" in err and ".mkv" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "b.y4m").exists()


def test_png_output_of_yuv_with_alpha_keeps_the_transparency(tmp_path, capsys) -> None:
    """RGB outputs of a stream with an alpha plane are RGBA conversions, and say so."""
    src, frames = _source(tmp_path, "yuva420p")
    assert run_main(capsys, "encode", src, "-o", tmp_path / "a.fpc", "-q")[0] == 0
    code, _, err = run_main(capsys, "decode", tmp_path / "a.fpc", "-o", tmp_path / "a.apng")
    assert code == 0 and "yuva420p" in err and "8-bit RGBA" in err and "write .mkv" in err
    with av.open(str(tmp_path / "a.apng")) as cont:
        rgba = [f.to_ndarray(format="rgba", threads=1) for f in cont.decode(video=0)]
    assert len(rgba) == len(frames)
    for got, planes in zip(rgba, frames, strict=True):
        np.testing.assert_array_equal(got[..., 3], planes[3])  # 8-bit alpha passes unchanged
    # A deeper alpha plane gives its top 8 bits, at an odd width too (swscale's own alpha
    # conversion is not used: it read unwritten memory at some widths).
    deep = [
        [p[:, :33] if k in (0, 3) else p[:, :17] for k, p in enumerate(f)]
        for f in _converted("yuva420p10le", 2)
    ]
    path = tmp_path / "deep.mkv"
    write_ffv1_mkv(path, pixel_format_by_name("yuva420p10le"), ColourInfo(), 33, 48, Fraction(25), deep)
    assert run_main(capsys, "encode", path, "-o", tmp_path / "d.fpc", "-q")[0] == 0
    assert run_main(capsys, "decode", tmp_path / "d.fpc", "-o", tmp_path / "d.apng", "-q")[0] == 0
    with av.open(str(tmp_path / "d.apng")) as cont:
        rgba = [f.to_ndarray(format="rgba", threads=1) for f in cont.decode(video=0)]
    for got, planes in zip(rgba, deep, strict=True):
        np.testing.assert_array_equal(got[..., 3], planes[3] >> 2)


@pytest.mark.parametrize("fmt_name, format_id", [("yuva420p", 41), ("yuv411p", 30), ("gbrp14le", 39)])
def test_version_18_formats_need_version_18(fmt_name: str, format_id: int) -> None:
    if fmt_name == "gbrp14le":  # green, blue, red of one size
        luma = _converted("gray16le", 2)
        frames = [[(p[0] >> 2).astype(np.uint16)] * 3 for p in luma]
    else:
        frames = _converted(fmt_name, 2)
    data = bytearray(encode_planes(frames, fmt_name))
    assert data[8:10] == LATEST.to_bytes(2, "little")
    _assert_same([f.planes for f in Decoder(io.BytesIO(bytes(data))).frames()], frames)
    data[8:10] = (17).to_bytes(2, "little")  # the preamble has no checksum
    with pytest.raises(
        FormatError, match=rf"pixel format id {format_id} \({fmt_name}\) is from format version 18"
    ):
        Decoder(io.BytesIO(bytes(data)), load_model=False)


def test_version_17_streams_decode_and_version_18_codes_the_clip_no_larger() -> None:
    """tests/data/v17_planar10.fpc, the version-17 encoder's 10-bit stream, decodes to its clip;
    version 18 and later code the same clip as `fpcodec encode` does, exactly, in no more bytes (its inter
    frames may take 16x16 motion blocks, the rest is version 17's coding)."""
    old = assert_planar_fixture_decodes("v17_planar10.fpc", 17, "bikes_yuv420p10le_48x36.mkv")
    reader = native_reader(DATA / "bikes_yuv420p10le_48x36.mkv")  # as `fpcodec encode` reads it
    buf = io.BytesIO()
    enc = planar_encoder(buf, reader)
    for planes, duration in reader.frames():
        enc.write_planes(planes, duration)
    enc.close()
    new = buf.getvalue()
    assert new[8:10] == LATEST.to_bytes(2, "little") and len(new) <= len(old)
    _, clip = read_planes(DATA / "bikes_yuv420p10le_48x36.mkv")
    _assert_same([f.planes for f in Decoder(io.BytesIO(new)).frames()], clip)
