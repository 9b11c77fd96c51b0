"""Packed and semi-planar YUV (nv12, yuyv422, p010le, y210le, vuya, ...) and 16-bit RGB read as the
planar format of the same samples: coded natively, every sample back, instead of an 8-bit RGB conversion.

The layouts are checked against FFmpeg's own: swscale packs a known planar frame, and
``packed_layouts`` must read the same samples out of it (where swscale cannot pack a format, the test
packs it by hand as libavutil/pixfmt.h describes it).
"""

from __future__ import annotations

import warnings
from fractions import Fraction

import av
import numpy as np
import pytest
from conftest import run_main

from fpcodec.bitstream.errors import ConvertedSourceWarning
from fpcodec.codec import packed_layouts
from fpcodec.codec.io import SWSCALE_THREADS, plane_view
from fpcodec.codec.planar_io import native_reader, pixel_format_by_name, read_planes

#: The planar format swscale packs each deeper family from (10- and 12-bit words: the samples at
#: the top of 16 bits).
_DEEP_SOURCE = {
    "p010": "yuv420p10le", "p012": "yuv420p12le", "p016": "yuv420p16le",
    "p210": "yuv422p10le", "p212": "yuv422p12le", "p216": "yuv422p16le",
    "p410": "yuv444p10le", "p412": "yuv444p12le", "p416": "yuv444p16le",
    "y210": "yuv422p10le", "y212": "yuv422p12le", "y216": "yuv422p16le",
    "xv36": "yuv444p12le", "xv48": "yuv444p16le",
}  # fmt: skip


def _planar_frame(pix_fmt: str, width: int, height: int, seed: int) -> tuple[av.VideoFrame, list[np.ndarray]]:
    """A frame of random samples in the planar ``pix_fmt``, and its planes."""
    fmt = pixel_format_by_name(pix_fmt)
    rng = np.random.default_rng(seed)
    frame = av.VideoFrame(width, height, pix_fmt)
    planes = []
    for plane, (h, w) in zip(frame.planes, fmt.plane_shapes(width, height), strict=True):
        values = rng.integers(0, 1 << fmt.depth, (h, w)).astype(fmt.dtype)
        buf = np.frombuffer(plane, fmt.dtype).copy()
        buf[: h * (plane.line_size // values.itemsize)].reshape(h, -1)[:, :w] = values
        plane.update(buf.tobytes())
        planes.append(values)
    return frame, planes


def _words(planes: list[np.ndarray], depth: int) -> list[np.ndarray]:
    """Samples of ``depth`` bits as the 16-bit words of a P010-like format hold them."""
    return [(p.astype(np.uint16) << (16 - depth)).astype(np.uint16) for p in planes] if depth < 16 else planes


#: Every layout that swscale writes (not uyyvyy411, nor the big-endian y210 family) from the planar
#: format without changing samples (not ya16, whose gray it makes from RGB: its own test is
#: ``test_planar_io.test_a_deep_or_gray_source_keeps_its_alpha``).
SWSCALE_PACKS = [
    n
    for n in packed_layouts.LAYOUTS
    if n != "uyyvyy411" and not (n.startswith("y21") and n.endswith("be")) and not n.startswith("ya16")
]


@pytest.mark.parametrize("name", SWSCALE_PACKS)
def test_each_layout_reads_the_samples_swscale_packed(name: str) -> None:
    layout = packed_layouts.LAYOUTS[name]
    source = _DEEP_SOURCE.get(name[:-2], layout.planar)
    # swscale fills the last chroma column of 16-bit semi-planar frames of odd widths wrongly:
    # those at an even width, the rest at odd sizes (the last pair or group half used).
    width = 14 if name.startswith("p0") else 13
    frame, planes = _planar_frame(source, width, 7, seed=len(name))
    packed = frame.reformat(format=name, threads=SWSCALE_THREADS)
    assert packed.format.name == name
    target = pixel_format_by_name(name)
    assert target.name == layout.planar
    got = layout.planes(packed, width, 7, target.plane_shapes(width, 7))
    want = _words(planes, pixel_format_by_name(source).depth) if target.depth == 16 else planes
    assert [g.dtype for g in got] == [np.dtype(target.dtype)] * len(want)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


def _pack_by_hand(name: str, planes: list[np.ndarray], width: int, height: int) -> av.VideoFrame:
    """uyyvyy411 (Cb Y0 Y1 Cr Y2 Y3) and y21Xbe (Y0 Cb Y1 Cr, big-endian words): formats swscale
    does not write."""
    frame = av.VideoFrame(width, height, name)
    plane = frame.planes[0]
    y, u, v = planes
    if name == "uyyvyy411":
        groups = -(-width // 4)
        ypad = np.pad(y, ((0, 0), (0, 4 * groups - width)))
        rows = np.stack([u, ypad[:, 0::4], ypad[:, 1::4], v, ypad[:, 2::4], ypad[:, 3::4]], axis=2)
        dtype = np.dtype("u1")
    else:
        groups = -(-width // 2)
        ypad = np.pad(y, ((0, 0), (0, 2 * groups - width)))
        rows = np.stack([ypad[:, 0::2], u, ypad[:, 1::2], v], axis=2)
        dtype = np.dtype(">u2")
    buf = np.frombuffer(plane, dtype).copy()
    view = buf[: height * (plane.line_size // dtype.itemsize)].reshape(height, -1)
    view[:, : rows.shape[1] * rows.shape[2]] = rows.reshape(height, -1)
    plane.update(buf.tobytes())
    return frame


@pytest.mark.parametrize(
    "name, source", [("uyyvyy411", "yuv411p"), ("y210be", "yuv422p10le"), ("y216be", "yuv422p16le")]
)
def test_layouts_swscale_cannot_write_read_their_hand_packed_samples(name: str, source: str) -> None:
    width, height = 11, 5  # the last group part used
    _, planes = _planar_frame(source, width, height, seed=3)
    depth = pixel_format_by_name(source).depth
    words = _words(planes, depth) if name.startswith("y") else planes
    packed = _pack_by_hand(name, words, width, height)
    target = pixel_format_by_name(name)
    got = packed_layouts.LAYOUTS[name].planes(packed, width, height, target.plane_shapes(width, height))
    for g, w in zip(got, words, strict=True):
        np.testing.assert_array_equal(g, w)
    if name == "uyyvyy411":  # and swscale reads the hand-packed frame the same way
        back = packed.reformat(format="yuv411p", threads=SWSCALE_THREADS)
        for plane, w in zip(back.planes, planes, strict=True):
            np.testing.assert_array_equal(plane_view(plane, np.uint8, w.shape[0])[:, : w.shape[1]], w)


def _rawvideo(path, frames: list[av.VideoFrame]) -> None:
    """``frames`` as rawvideo in Matroska (what a capture tool writes)."""
    with av.open(str(path), "w") as cont:
        stream = cont.add_stream("rawvideo", rate=25)
        stream.width, stream.height, stream.pix_fmt = frames[0].width, frames[0].height, frames[0].format.name
        stream.time_base = Fraction(1, 25)
        for t, frame in enumerate(frames):
            frame.pts, frame.time_base = t, Fraction(1, 25)
            for packet in stream.encode(frame):
                cont.mux(packet)
        for packet in stream.encode():
            cont.mux(packet)


# yuyv422 at an even width: FFmpeg's rawvideo muxes packed 4:2:2 rows of an odd width short.
@pytest.mark.parametrize(
    "name, source, width, height",
    [
        ("nv12", "yuv420p", 33, 19),
        ("yuyv422", "yuv422p", 34, 18),
        ("y210le", "yuv422p10le", 32, 18),
        ("vuya", "yuva444p", 24, 16),
    ],
)
def test_cli_codes_packed_sources_natively_and_gives_every_sample_back(
    tmp_path, capsys, name: str, source: str, width: int, height: int
) -> None:
    """No conversion warning; the stream's format is the planar one; decoding to .mkv gives back
    every sample (the words, for y210le); the frames code well below their raw size. The source
    file is read back first, so that a difference made in writing it is not taken for the
    codec's (a CI run of 93e31c6 once decoded 8 samples of yuyv422's row 6 that differed from
    the test's, from a stream whose frame checksums held: the frames the encoder read; a CI run of
    6dfee9c found 8 of row 12 differing in the source as read back: swscale's threaded scaler
    wrote them, so the packed frames are made on one thread, ``io.SWSCALE_THREADS``)."""
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:height, 0:width]
    frames, want = [], []
    depth = pixel_format_by_name(source).depth
    for t in range(4):  # a smooth moving picture with a little noise: compressible, not trivial
        frame, planes = _planar_frame(source, width, height, seed=t)
        smooth = []
        for p in planes:
            h, w = p.shape
            base = (np.sin((xx[:h, :w] * (width / w) + 2 * t) / 5) + np.cos(yy[:h, :w] / 4)) * 0.2 + 0.5
            value = base * ((1 << depth) - 1) + rng.integers(0, 4, p.shape)
            smooth.append(np.clip(value, 0, (1 << depth) - 1).astype(p.dtype))
        for plane, values in zip(frame.planes, smooth, strict=True):
            buf = np.frombuffer(plane, values.dtype).copy()
            h, w = values.shape
            buf[: h * (plane.line_size // values.itemsize)].reshape(h, -1)[:, :w] = values
            plane.update(buf.tobytes())
        frames.append(frame.reformat(format=name, threads=SWSCALE_THREADS))
        want.append(_words(smooth, depth) if name.startswith("y2") else smooth)
    src = tmp_path / f"src_{name}.mkv"
    _rawvideo(src, frames)
    # the source as read back first: a difference there is the writer's or swscale's, not the codec's
    for got_planes, want_planes in zip(read_planes(src)[1], want, strict=True):
        for g, w in zip(got_planes, want_planes, strict=True):
            np.testing.assert_array_equal(g, w, err_msg=f"{name}: the source as read back")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvertedSourceWarning)
        assert native_reader(src).pixel_format.name == pixel_format_by_name(name).name
    code, out, err = run_main(capsys, "encode", src, "-o", tmp_path / "s.fpc")
    assert code == 0 and "warning" not in err, err
    assert f"{pixel_format_by_name(name).name} (read from {name})" in out  # the summary says so
    code, out, _ = run_main(capsys, "info", tmp_path / "s.fpc")
    assert code == 0 and pixel_format_by_name(name).name in out
    code, _, err = run_main(capsys, "decode", tmp_path / "s.fpc", "-o", tmp_path / "s.mkv", "-q")
    assert code == 0, err
    fmt, decoded = read_planes(tmp_path / "s.mkv")
    assert fmt.name == pixel_format_by_name(name).name
    assert len(decoded) == len(want)
    for got_planes, want_planes in zip(decoded, want, strict=True):
        for g, w in zip(got_planes, want_planes, strict=True):
            np.testing.assert_array_equal(g, w)
    raw = sum(p.nbytes for planes in want for p in planes)
    assert (tmp_path / "s.fpc").stat().st_size < raw * 0.7


def test_a_frame_smaller_than_its_format_says_is_refused_in_one_line() -> None:
    from fpcodec.bitstream.errors import InputError

    frame = av.VideoFrame(8, 4, "nv12")
    shapes = pixel_format_by_name("yuv420p").plane_shapes(64, 32)
    with pytest.raises(InputError, match="nv12 frame of 8x4: plane 0 too small"):
        packed_layouts.LAYOUTS["nv12"].planes(frame, 64, 32, shapes)
    frame = av.VideoFrame(8, 4, "yuyv422")
    with pytest.raises(InputError, match="yuyv422 frame of 8x4: plane 0"):
        packed_layouts.LAYOUTS["yuyv422"].planes(
            frame, 8, 40, pixel_format_by_name("yuv422p").plane_shapes(8, 40)
        )
