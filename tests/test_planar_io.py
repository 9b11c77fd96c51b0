"""Native planar I/O (codec/planar_io.py): reading planes exactly as FFmpeg decodes them, and writing
Y4M and FFV1/Matroska that read back sample for sample.

Source clips are made here with PyAV directly (planes written with ``VideoPlane.update``) and the
written files are checked with a reader of the test's own, so neither side checks itself.
"""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest
from conftest import run_main

from fpcodec.bitstream.errors import FormatError, FpcodecError, InputError
from fpcodec.codec import planar_io as pio
from fpcodec.codec.pipeline import Decoder
from fpcodec.codec.planar_io import ColourInfo, NativeReader, read_planes, write_ffv1_mkv, write_y4m

#: (pix_fmt, width, height): odd sizes where chroma is subsampled, to catch rounding down.
CASES = [
    ("yuv420p", 17, 11),
    ("yuv422p", 15, 8),
    ("yuv444p", 12, 9),
    ("gray", 13, 7),
    ("yuv420p10le", 19, 13),
    ("yuv420p16le", 15, 9),
    ("yuv444p14le", 11, 6),
    # version 18's layouts: 4:1:1 and 4:4:0, 9 bits, alpha planes
    ("yuv411p", 17, 9),
    ("yuv440p", 13, 11),
    ("gray9le", 11, 6),
    ("yuva420p", 15, 9),
    ("yuva444p10le", 9, 7),
]
IDS = [c[0] for c in CASES]
#: The CASES that Y4M holds (FFmpeg's demuxer knows no 4:4:0 and, but for 4:4:4, no alpha plane).
Y4M_CASES = [c for c in CASES if c[0] not in ("yuv440p", "yuva420p", "yuva444p10le")] + [("yuva444p", 7, 5)]
Y4M_IDS = [c[0] for c in Y4M_CASES]


# ------------------------------------------------------------------------------------ helpers
def make_planes(fmt: pio.PixelFormat, w: int, h: int, n: int = 3, seed: int = 0) -> list[list[np.ndarray]]:
    """Smooth gradients with a little noise, different in every plane and frame, using the full depth."""
    rng = np.random.default_rng(seed)
    top = (1 << fmt.depth) - 1
    frames = []
    for i in range(n):
        planes = []
        for k, (ph, pw) in enumerate(fmt.plane_shapes(w, h)):
            yy, xx = np.mgrid[0:ph, 0:pw]
            base = (xx * top // max(pw - 1, 1) + yy * 3 + 17 * i + 29 * k) % (top + 1)
            noise = rng.integers(-2, 3, (ph, pw))
            planes.append(np.clip(base + noise, 0, top).astype(fmt.dtype))
        planes[0][0, 0], planes[0][-1, -1] = 0, top  # both extremes of the range
        frames.append(planes)
    return frames


def fill_frame(pix_fmt: str, w: int, h: int, planes: list[np.ndarray]) -> av.VideoFrame:
    """A VideoFrame holding ``planes``, through padded byte strings (not planar_io's own views)."""
    frame = av.VideoFrame(w, h, pix_fmt)
    for plane, arr in zip(frame.planes, planes, strict=True):
        little = arr.dtype.newbyteorder("<")
        padded = np.zeros((plane.height, plane.line_size // arr.dtype.itemsize), little)
        padded[:, : arr.shape[1]] = arr
        plane.update(padded.tobytes())
    return frame


def encode_clip(path, container: str, codec: str, pix_fmt: str, w: int, h: int, frames, **attrs) -> None:
    """A clip written with PyAV alone; ``attrs`` are set on the codec context (colour tags)."""
    options = {"strict": "-1"} if container == "yuv4mpegpipe" else {}
    with av.open(str(path), "w", format=container, options=options) as cont:
        stream = cont.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
        for key, value in attrs.items():
            setattr(stream.codec_context, key, value)
        for i, planes in enumerate(frames):
            vf = fill_frame(pix_fmt, w, h, planes)
            vf.pts = i
            for pkt in stream.encode(vf):
                cont.mux(pkt)
        for pkt in stream.encode():
            cont.mux(pkt)


def pyav_planes(path) -> tuple[str, str, list[list[np.ndarray]]]:
    """(codec, pix_fmt, planes of every frame) read with PyAV alone, padding cut by hand."""
    with av.open(str(path)) as cont:
        stream = cont.streams.video[0]
        out, fmt = [], None
        for frame in cont.decode(stream):
            fmt = frame.format.name
            dt = np.dtype("<u2") if frame.format.components[0].bits > 8 else np.dtype(np.uint8)
            planes = []
            for plane in frame.planes:
                rows = np.frombuffer(bytes(plane), dt).reshape(plane.height, -1)
                planes.append(rows[:, : plane.width].astype(dt.newbyteorder("=")))
            out.append(planes)
        return stream.codec_context.name, fmt, out


def parse_y4m(data: bytes, fmt: pio.PixelFormat, w: int, h: int) -> tuple[bytes, list[list[np.ndarray]]]:
    """(header line, frames) of a Y4M file, parsed by hand."""
    header, _, body = data.partition(b"\n")
    dt = np.dtype(fmt.dtype).newbyteorder("<")
    shapes = fmt.plane_shapes(w, h)
    frame_bytes = sum(a * b for a, b in shapes) * dt.itemsize
    frames = []
    while body:
        assert body.startswith(b"FRAME\n"), body[:16]
        raw, body = body[6 : 6 + frame_bytes], body[6 + frame_bytes :]
        assert len(raw) == frame_bytes, "truncated frame"
        planes, pos = [], 0
        for ph, pw in shapes:
            n = ph * pw * dt.itemsize
            planes.append(np.frombuffer(raw[pos : pos + n], dt).reshape(ph, pw).astype(fmt.dtype))
            pos += n
        frames.append(planes)
    return header, frames


def assert_planes_equal(actual, expected, fmt: pio.PixelFormat) -> None:
    """Same frame and plane counts, and each plane the same shape, dtype and every sample."""
    assert len(actual) == len(expected), f"{len(actual)} frames, expected {len(expected)}"
    for i, (got, want) in enumerate(zip(actual, expected, strict=True)):
        assert len(got) == len(want) == fmt.planes, f"frame {i}: {len(got)} planes"
        for k, (a, e) in enumerate(zip(got, want, strict=True)):
            assert a.dtype == e.dtype == fmt.dtype, f"frame {i} plane {k}: dtype {a.dtype}"
            assert a.shape == e.shape, f"frame {i} plane {k}: shape {a.shape}, expected {e.shape}"
            if not np.array_equal(a, e):
                y, x = np.argwhere(a != e)[0]
                raise AssertionError(f"frame {i} plane {k} differs at ({y}, {x}): {a[y, x]} != {e[y, x]}")


def source_clip(tmp_path, pix_fmt: str, w: int, h: int, **attrs):
    """An FFV1/Matroska clip made with PyAV alone, and the planes it holds."""
    fmt = pio.pixel_format_by_name(pix_fmt)
    frames = make_planes(fmt, w, h)
    path = tmp_path / f"src_{pix_fmt}.mkv"
    encode_clip(path, "matroska", "ffv1", pix_fmt, w, h, frames, **attrs)
    return path, fmt, frames


# ------------------------------------------------------------------------------------ formats
def test_pixel_format_table():
    expected = {
        1: "gray",
        2: "yuv420p",
        3: "yuv422p",
        4: "yuv444p",
        5: "gray10le",
        6: "yuv420p10le",
        7: "yuv422p10le",
        8: "yuv444p10le",
        9: "yuv420p12le",
        10: "yuv422p12le",
        11: "yuv444p12le",
        12: "gray12le",
        13: "rgb24",
        14: "rgba",
        15: "gray14le",
        16: "yuv420p14le",
        17: "yuv422p14le",
        18: "yuv444p14le",
        19: "gray16le",
        20: "yuv420p16le",
        21: "yuv422p16le",
        22: "yuv444p16le",
        23: "gbrp16le",
        24: "gbrap16le",
        25: "gbrp10le",
        26: "gbrp12le",
        27: "gbrap10le",
        28: "gbrap12le",
        29: "yuv440p",
        30: "yuv411p",
        31: "yuv410p",
        32: "yuv440p10le",
        33: "yuv440p12le",
        34: "gray9le",
        35: "yuv420p9le",
        36: "yuv422p9le",
        37: "yuv444p9le",
        38: "gbrp9le",
        39: "gbrp14le",
        40: "gbrap14le",
        41: "yuva420p",
        42: "yuva422p",
        43: "yuva444p",
        44: "yuva420p9le",
        45: "yuva422p9le",
        46: "yuva444p9le",
        47: "yuva420p10le",
        48: "yuva422p10le",
        49: "yuva444p10le",
        50: "yuva422p12le",
        51: "yuva444p12le",
        52: "yuva420p16le",
        53: "yuva422p16le",
        54: "yuva444p16le",
    }
    assert {i: f.name for i, f in pio.PIXEL_FORMATS.items()} == expected
    for i, fmt in pio.PIXEL_FORMATS.items():
        assert fmt.format_id == i and pio.pixel_format_by_id(i) is fmt
        # RGB as planes (13) is how RGB frames are coded, not a format a video is read in.
        assert pio.pixel_format_by_name(fmt.name) is (None if fmt.rgb else fmt)
        assert fmt.rgb == (i in (13, 14))
        desc = av.VideoFormat(fmt.name)  # the layout must agree with FFmpeg's own descriptor
        assert len(desc.components) == fmt.planes
        assert fmt.alpha == desc.components[-1].is_alpha
        assert desc.components[0].bits == fmt.depth
        assert fmt.dtype == (np.uint8 if fmt.depth == 8 else np.uint16)
        for w, h in ((17, 11), (16, 10), (1, 1)):
            got = fmt.plane_shapes(w, h)
            comps = av.VideoFormat(fmt.name, w, h).components
            want = [(comps[k].height, comps[k].width) for k in range(fmt.planes)]
            assert got == want, (fmt.name, w, h)
    assert pio.PIXEL_FORMATS[2].plane_shapes(17, 11) == [(11, 17), (6, 9), (6, 9)]
    assert pio.PIXEL_FORMATS[3].plane_shapes(17, 11) == [(11, 17), (11, 9), (11, 9)]
    assert pio.pixel_format_by_name("yuvj420p") is pio.PIXEL_FORMATS[2]
    assert pio.pixel_format_by_name("yuvj444p") is pio.PIXEL_FORMATS[4]
    assert pio.pixel_format_by_name("gray16be") is pio.PIXEL_FORMATS[19]  # 16-bit gray PNGs
    assert pio.pixel_format_by_name("yuv420p10be") is pio.PIXEL_FORMATS[6]
    for packed in ("rgb48be", "rgb48le", "bgr48be", "gbrp16be"):  # 16-bit RGB PNGs and TIFFs
        assert pio.pixel_format_by_name(packed) is pio.PIXEL_FORMATS[23]
    for packed in ("rgba64be", "bgra64le", "ya16be", "gbrap16be"):
        assert pio.pixel_format_by_name(packed) is pio.PIXEL_FORMATS[24]
    assert [f.format_id for f in pio.PIXEL_FORMATS.values() if f.gbr] == [23, 24, 25, 26, 27, 28, 38, 39, 40]
    assert pio.PIXEL_FORMATS[41].plane_shapes(17, 11) == [(11, 17), (6, 9), (6, 9), (11, 17)]  # alpha whole
    assert pio.PIXEL_FORMATS[30].plane_shapes(17, 11) == [(11, 17), (11, 5), (11, 5)]  # 4:1:1
    assert pio.pixel_format_by_name("yuvj440p") is pio.PIXEL_FORMATS[29]
    assert pio.pixel_format_by_name("yuvj411p") is pio.PIXEL_FORMATS[30]
    assert pio.pixel_format_by_name("yuva420p10be") is pio.PIXEL_FORMATS[47]
    assert pio.pixel_format_by_name("gbrp10be") is pio.PIXEL_FORMATS[25]
    # which format version brought each (a stream of an earlier one naming it is refused)
    assert [f.format_id for f in pio.PIXEL_FORMATS.values() if f.rule == "rgb_planes"] == [13, 14]
    assert [f.format_id for f in pio.PIXEL_FORMATS.values() if f.rule == "deep_samples"] == list(
        range(15, 29)
    )
    assert [f.format_id for f in pio.PIXEL_FORMATS.values() if f.rule == "more_formats"] == list(
        range(29, 55)
    )
    for name in ("rgb24", "pal8", "bgra", "xv30le", "gbrp", "gbrapf32le", "yuv420p9", "gray9"):
        assert pio.pixel_format_by_name(name) is None
    # packed and semi-planar YUV: the planar format of the same samples (codec/packed_layouts.py)
    for name, planar in (
        ("nv12", "yuv420p"),
        ("p010le", "yuv420p16le"),
        ("yuyv422", "yuv422p"),
        ("vuya", "yuva444p"),
    ):
        assert pio.pixel_format_by_name(name).name == planar
    with pytest.raises(FormatError, match="99"):
        pio.pixel_format_by_id(99)


def test_colour_info_rejects_out_of_range_values():
    assert ColourInfo() == ColourInfo(0, 2, 2, 2, 0)
    for bad in (dict(color_range=3), dict(chroma_location=7), dict(colorspace=256), dict(color_trc=-1)):
        with pytest.raises(InputError):
            ColourInfo(**bad)


# ------------------------------------------------------------------------------------ reading
@pytest.mark.parametrize("pix_fmt,w,h", CASES, ids=IDS)
def test_native_reader_returns_exact_samples(tmp_path, pix_fmt, w, h):
    path, fmt, frames = source_clip(tmp_path, pix_fmt, w, h)
    reader = NativeReader(path)
    assert reader.pixel_format is fmt and reader.source_pix_fmt == pix_fmt
    assert (reader.width, reader.height) == (w, h)
    assert reader.time_base == Fraction(1, 1000) and reader.frame_rate == 25
    pairs = list(reader.frames())
    assert [d for _, d in pairs] == [40, 40, 40]
    for planes, _ in pairs:
        assert all(p.flags.c_contiguous for p in planes)
    assert_planes_equal([p for p, _ in pairs], frames, fmt)
    assert list(reader.frames())[0][0][0].tobytes() == pairs[0][0][0].tobytes()  # frames() restarts


def test_native_reader_reads_ffmpeg_y4m(tmp_path):
    fmt = pio.pixel_format_by_name("yuv420p")
    frames = make_planes(fmt, 17, 11, seed=3)
    path = tmp_path / "ffmpeg.y4m"
    encode_clip(path, "yuv4mpegpipe", "wrapped_avframe", "yuv420p", 17, 11, frames)
    reader = NativeReader(path)
    assert reader.time_base == Fraction(1, 25)
    assert reader.colour.chroma_location == pio.CHROMA_LOC_CENTER  # C420jpeg
    pairs = list(reader.frames())
    assert [d for _, d in pairs] == [1, 1, 1]
    assert_planes_equal([p for p, _ in pairs], frames, fmt)


def test_native_reader_reads_colour_tags(tmp_path):
    tags = dict(color_range=1, colorspace=1, color_primaries=1, color_trc=1)  # BT.709, limited
    path, _, _ = source_clip(tmp_path, "yuv420p", 17, 11, **tags)
    assert NativeReader(path).colour == ColourInfo(**tags, chroma_location=0)
    path, _, _ = source_clip(tmp_path, "yuv444p10le", 8, 8, colorspace=9, color_primaries=9, color_trc=16)
    colour = NativeReader(path).colour
    assert (colour.color_range, colour.colorspace, colour.color_primaries, colour.color_trc) == (0, 9, 9, 16)


def test_colour_info_prefers_frame_then_context_and_yuvj_means_full():
    frame = av.VideoFrame(8, 8, "yuvj420p")  # fresh frames carry no colour tags
    ctx = av.CodecContext.create("ffv1", "w")
    ctx.colorspace, ctx.color_trc = 5, 6
    frame.color_primaries, ctx.color_primaries = 1, 9
    got = pio.colour_info(frame, ctx, pio.CHROMA_LOC_LEFT)
    assert got == ColourInfo(pio.COLOR_RANGE_JPEG, 5, 1, 6, pio.CHROMA_LOC_LEFT)
    plain = av.VideoFrame(8, 8, "yuv420p")
    assert pio.colour_info(plain) == ColourInfo()
    plain.colorspace = 0  # AVCOL_SPC_RGB is a value, not "unspecified"
    assert pio.colour_info(plain).colorspace == 0


def test_unsupported_pixel_format_gives_none(tmp_path):
    rgb = [[np.full((7, 3 * 9), 40 * i, np.uint8)] for i in range(2)]  # rgb24 is one packed plane
    path = tmp_path / "rgb.nut"
    encode_clip(path, "nut", "rawvideo", "rgb24", 9, 7, rgb)
    reader = NativeReader(path)
    assert reader.pixel_format is None and reader.source_pix_fmt == "rgb24"
    assert (reader.width, reader.height) == (9, 7)
    with pytest.raises(InputError, match="'rgb24'"):
        next(reader.frames())
    with pytest.raises(InputError, match="'rgb24'"):
        read_planes(path)


def test_yuvj420p_reads_as_full_range_yuv420p(tmp_path):
    # MJPEG decodes to FFmpeg's deprecated yuvj420p (rawvideo would be stored as plain yuv420p).
    fmt = pio.pixel_format_by_name("yuv420p")
    path = tmp_path / "jpeg_range.mkv"
    encode_clip(path, "matroska", "mjpeg", "yuvj420p", 17, 11, make_planes(fmt, 17, 11, seed=5))
    reader = NativeReader(path)
    assert reader.source_pix_fmt == "yuvj420p"
    assert reader.pixel_format is fmt
    assert reader.colour.color_range == pio.COLOR_RANGE_JPEG
    _, decoded_fmt, decoded = pyav_planes(path)  # lossy codec: compare with FFmpeg's own decoding
    assert decoded_fmt == "yuvj420p"
    assert_planes_equal([p for p, _ in reader.frames()], decoded, fmt)


def test_midstream_format_change_is_refused(tmp_path):
    # Two MPEG-2 elementary streams back to back, 4:2:0 then 4:2:2: the decoder switches format.
    parts = []
    for pix_fmt in ("yuv420p", "yuv422p"):
        fmt = pio.pixel_format_by_name(pix_fmt)
        part = tmp_path / f"{pix_fmt}.m2v"
        encode_clip(part, "mpeg2video", "mpeg2video", pix_fmt, 32, 32, make_planes(fmt, 32, 32, n=2))
        parts.append(part.read_bytes())
    path = tmp_path / "both.m2v"
    path.write_bytes(b"".join(parts))
    reader = NativeReader(path)
    assert reader.pixel_format.name == "yuv420p"
    with pytest.raises(InputError, match="pixel format changes mid-stream .*'yuv422p'"):
        list(reader.frames())


def test_not_a_video_is_refused(tmp_path):
    text = tmp_path / "notes.mkv"
    text.write_text("hello\n")
    with pytest.raises(InputError, match="text file"):
        NativeReader(text)
    with pytest.raises(InputError, match="does not exist"):
        NativeReader(tmp_path / "missing.mkv")


# ------------------------------------------------------------------------------------ writing
@pytest.mark.parametrize("pix_fmt,w,h", Y4M_CASES, ids=Y4M_IDS)
def test_write_y4m_round_trip(tmp_path, pix_fmt, w, h):
    fmt = pio.pixel_format_by_name(pix_fmt)
    frames = make_planes(fmt, w, h, seed=1)
    out = tmp_path / "out.y4m"
    assert write_y4m(out, fmt, ColourInfo(), w, h, Fraction(30000, 1001), iter(frames)) == 3
    header, parsed = parse_y4m(out.read_bytes(), fmt, w, h)
    assert header.startswith(f"YUV4MPEG2 W{w} H{h} F30000:1001 Ip A0:0 C".encode())
    assert_planes_equal(parsed, frames, fmt)
    codec, got_fmt, decoded = pyav_planes(out)  # FFmpeg reads the same samples
    assert (codec, got_fmt) == ("rawvideo", pix_fmt)
    assert_planes_equal(decoded, frames, fmt)
    got_fmt, planes = read_planes(out)
    assert got_fmt is fmt
    assert_planes_equal(planes, frames, fmt)


@pytest.mark.parametrize(
    "pix_fmt",
    [
        "yuv420p",
        "gray",
        "yuv420p10le",
        "yuv422p12le",
        "gray16le",
        "yuv422p14le",
        "yuv444p16le",
        "yuv411p",
        "gray9le",
        "yuv420p9le",
        "yuv444p9le",
        "yuva444p",
    ],
)
def test_write_y4m_matches_ffmpeg_muxer(tmp_path, pix_fmt):
    fmt = pio.pixel_format_by_name(pix_fmt)
    frames = make_planes(fmt, 17, 11, n=2, seed=2)
    ours, theirs = tmp_path / "ours.y4m", tmp_path / "theirs.y4m"
    write_y4m(ours, fmt, ColourInfo(), 17, 11, Fraction(25), frames)
    encode_clip(theirs, "yuv4mpegpipe", "wrapped_avframe", pix_fmt, 17, 11, frames)
    assert ours.read_bytes() == theirs.read_bytes()


@pytest.mark.parametrize("pix_fmt", ["gray14le", "yuv440p", "yuv410p", "yuva420p", "gbrp9le"])
def test_y4m_refuses_what_ffmpeg_would_not_read_back(tmp_path, pix_fmt):
    """gray14le (FFmpeg's demuxer reads Cmono14 as 8-bit gray), and the layouts it has no tag for."""
    fmt = pio.pixel_format_by_name(pix_fmt)
    with pytest.raises(InputError, match=f"{pix_fmt}.*mkv"):
        write_y4m(tmp_path / "g.y4m", fmt, ColourInfo(), 5, 3, Fraction(25), make_planes(fmt, 5, 3, n=1))
    assert not (tmp_path / "g.y4m").exists()


def test_a_16_bit_gray_png_is_read_natively_byte_swapped(tmp_path):
    """PNG holds 16-bit gray big-endian (FFmpeg's gray16be): read as gray16le, the same samples."""
    fmt = pio.pixel_format_by_name("gray16le")
    (plane,) = make_planes(fmt, 13, 7, n=1, seed=5)[0]
    path = tmp_path / "deep.png"
    with av.open(str(path), "w", format="image2", options={"update": "1"}) as cont:
        stream = cont.add_stream("png", rate=1)
        stream.width, stream.height, stream.pix_fmt = 13, 7, "gray16be"
        vf = av.VideoFrame(13, 7, "gray16be")
        pio.plane_view(vf.planes[0], np.dtype(">u2"), 7)[:, :13] = plane
        for pkt in [*stream.encode(vf), *stream.encode()]:
            cont.mux(pkt)
    reader = NativeReader(path)
    assert (reader.source_pix_fmt, reader.pixel_format) == ("gray16be", fmt)
    (((got,), _),) = list(reader.frames())
    assert got.dtype == np.uint16 and np.array_equal(got, plane)


@pytest.mark.parametrize(
    "loc,tag,read_loc",
    [(1, b"C420mpeg2", 1), (3, b"C420paldv", 3), (2, b"C420jpeg", 2), (0, b"C420jpeg", 2)],
)
def test_write_y4m_colour_tags(tmp_path, loc, tag, read_loc):
    fmt = pio.pixel_format_by_name("yuv420p")
    out = tmp_path / "tags.y4m"
    colour = ColourInfo(color_range=pio.COLOR_RANGE_MPEG, chroma_location=loc)
    write_y4m(out, fmt, colour, 17, 11, Fraction(25), make_planes(fmt, 17, 11, n=1))
    header = out.read_bytes().split(b"\n")[0].split(b" ")
    assert tag in header and b"XCOLORRANGE=LIMITED" in header
    got = NativeReader(out).colour
    assert (got.color_range, got.chroma_location) == (pio.COLOR_RANGE_MPEG, read_loc)
    write_y4m(
        out, fmt, ColourInfo(color_range=2), 17, 11, Fraction(25), make_planes(fmt, 17, 11, n=1), force=True
    )
    assert b"XCOLORRANGE=FULL" in out.read_bytes().split(b"\n")[0].split(b" ")
    assert NativeReader(out).colour.color_range == pio.COLOR_RANGE_JPEG


@pytest.mark.parametrize("pix_fmt,w,h", CASES, ids=IDS)
def test_write_ffv1_mkv_round_trip(tmp_path, pix_fmt, w, h):
    fmt = pio.pixel_format_by_name(pix_fmt)
    frames = make_planes(fmt, w, h, seed=4)
    out = tmp_path / "out.mkv"
    colour = ColourInfo(color_range=1, colorspace=1, color_primaries=1, color_trc=1, chroma_location=1)
    assert write_ffv1_mkv(out, fmt, colour, w, h, Fraction(25), iter(frames)) == 3
    codec, got_fmt, decoded = pyav_planes(out)
    assert (codec, got_fmt) == ("ffv1", pix_fmt)
    assert_planes_equal(decoded, frames, fmt)
    reader = NativeReader(out)
    assert reader.pixel_format is fmt
    # PyAV cannot read the chroma location back; the other tags survive.
    assert reader.colour == ColourInfo(1, 1, 1, 1, 0)
    pairs = list(reader.frames())
    assert [d for _, d in pairs] == [40, 40, 40]
    assert_planes_equal([p for p, _ in pairs], frames, fmt)
    with av.open(str(out)) as cont:
        assert cont.streams.video[0].codec_context.extradata  # FFV1 version 3 keeps its header there
    data = out.read_bytes()
    # Matroska ChromaSitingHorz (0x55B7) = 1 and ChromaSitingVert (0x55B8) = 2: "left" siting.
    assert b"\x55\xb7\x81\x01" in data and b"\x55\xb8\x81\x02" in data


def test_write_ffv1_mkv_gives_the_same_bytes_for_the_same_frames(tmp_path):
    """Matroska's muxer is run bit-exact (``planar_io.BITEXACT``): without it every file had a
    random segment UID, so decoding a stream twice gave two different files."""
    fmt = pio.pixel_format_by_name("yuv420p")
    frames = make_planes(fmt, 17, 11, n=2)
    a, b = tmp_path / "a.mkv", tmp_path / "b.mkv"
    for out in (a, b):
        write_ffv1_mkv(out, fmt, ColourInfo(), 17, 11, Fraction(25), iter(frames))
    assert a.read_bytes() == b.read_bytes()


def test_write_ffv1_mkv_without_colour_tags(tmp_path):
    fmt = pio.pixel_format_by_name("yuv420p")
    out = tmp_path / "plain.mkv"
    write_ffv1_mkv(out, fmt, ColourInfo(), 17, 11, Fraction(24000, 1001), make_planes(fmt, 17, 11, n=2))
    assert NativeReader(out).colour == ColourInfo()
    assert b"\x55\xb7" not in out.read_bytes()
    assert NativeReader(out).frame_rate == Fraction(24000, 1001)


@pytest.mark.parametrize("writer", [write_y4m, write_ffv1_mkv], ids=["y4m", "ffv1"])
def test_existing_output_is_refused_without_force(tmp_path, writer):
    fmt = pio.pixel_format_by_name("yuv420p")
    frames = make_planes(fmt, 17, 11, n=1)
    out = tmp_path / "exists.out"
    out.write_bytes(b"keep me")
    with pytest.raises(FpcodecError, match="exists"):
        writer(out, fmt, ColourInfo(), 17, 11, Fraction(25), frames)
    assert out.read_bytes() == b"keep me"
    assert writer(out, fmt, ColourInfo(), 17, 11, Fraction(25), frames, force=True) == 1
    assert_planes_equal(read_planes(out)[1], frames, fmt)


@pytest.mark.parametrize("writer", [write_y4m, write_ffv1_mkv], ids=["y4m", "ffv1"])
def test_writers_refuse_bad_planes_and_leave_nothing(tmp_path, writer):
    fmt = pio.pixel_format_by_name("yuv420p10le")
    good = make_planes(fmt, 17, 11, n=2)
    bad_shape = [good[0], [good[1][0], good[1][1][:5], good[1][2]]]
    bad_dtype = [[p.astype(np.uint8) for p in good[0]]]
    too_deep = [[good[0][0] | np.uint16(1024), good[0][1], good[0][2]]]
    cases = [
        (bad_shape, r"plane 1 is uint16\[5, 9\], expected uint16\[6, 9\]"),
        (bad_dtype, "uint8"),
        (too_deep, "above yuv420p10le's 10 bits"),
        ([good[0][:2]], "2 planes"),
        ([], "no frames"),
    ]
    for frames, message in cases:
        with pytest.raises(InputError, match=message):
            writer(tmp_path / "bad.out", fmt, ColourInfo(), 17, 11, Fraction(25), frames)
        assert list(tmp_path.iterdir()) == [], "a failed write left a file behind"
    with pytest.raises(InputError, match="frame rate"):
        writer(tmp_path / "bad.out", fmt, ColourInfo(), 17, 11, Fraction(0), good)


# ------------------------------------------------------------------- sources coded as RGB frames
@pytest.mark.parametrize(
    "pix_fmt, kept",
    [
        ("pal8", True),
        ("rgb24", True),
        ("bgr0", True),
        ("rgba", True),
        ("gbrp", True),
        ("ya8", True),
        ("monow", True),
        ("yuv440p", False),
        ("yuv411p", False),
        ("yuva420p", False),
        ("gray16le", False),
        ("rgb48le", False),
        ("gbrp10le", False),
        ("grayf32le", False),
        ("bayer_rggb8", False),
        ("no-such-format", False),
    ],
)
def test_rgb_keeps_samples_of_palettes_and_8_bit_rgb_and_gray_only(pix_fmt: str, kept: bool) -> None:
    assert pio.rgb_keeps_samples(pix_fmt) is kept


def test_the_warning_names_every_native_format() -> None:
    """NATIVE_NAMES, written by hand for the warning, names the format table's layouts and depths."""
    names = {
        (1, 0, 0): "gray",
        (3, 1, 1): "yuv420p",
        (3, 1, 0): "yuv422p",
        (3, 0, 0): "yuv444p",
        (3, 0, 1): "yuv440p",
        (3, 2, 0): "yuv411p",
        (3, 2, 2): "yuv410p",
    }
    formats = [f for f in pio.PIXEL_FORMATS.values() if not f.rgb and not f.gbr]  # RGB planes: not read
    plain = [f for f in formats if not f.alpha]
    layouts = {(f.planes, f.log2_chroma_w, f.log2_chroma_h) for f in plain}
    assert layouts == set(names)
    depths = {
        names[layout]: {f.depth for f in plain if (f.planes, f.log2_chroma_w, f.log2_chroma_h) == layout}
        for layout in names
    }
    for name in ("gray", "yuv420p", "yuv422p", "yuv444p"):
        assert depths[name] == {8, 9, 10, 12, 14, 16}  # "8 to 16 bits"
    assert depths["yuv440p"] == {8, 10, 12} and depths["yuv411p"] == depths["yuv410p"] == {8}
    assert {(f.log2_chroma_w, f.log2_chroma_h) for f in formats if f.alpha} == {(1, 1), (1, 0), (0, 0)}
    assert {f.depth for f in pio.PIXEL_FORMATS.values() if f.gbr} == {9, 10, 12, 14, 16}
    assert pio.NATIVE_NAMES == (
        "gray, yuv420p, yuv422p and yuv444p, 8 to 16 bits, the YUV ones also with alpha; yuv440p, 8, "
        "10 or 12 bits; yuv411p and yuv410p; 9- to 16-bit RGB(A); 16-bit gray with alpha; packed and "
        "semi-planar YUV (nv12, yuyv422, p010le, y210le, ...) as the planar format of their samples"
    )


@pytest.mark.parametrize("pix_fmt, warned", [("xv30le", True), ("gbrpf32le", True), ("bgr0", False)])
def test_a_video_coded_as_its_rgb_conversion_says_so(tmp_path, capsys, pix_fmt: str, warned: bool) -> None:
    """A video in a format neither coded natively nor held by RGB frames is encoded (its RGB
    conversion, decoded back exactly) with a one-line warning that its own samples are not
    kept; an 8-bit RGB video is encoded without one."""
    src, out = tmp_path / f"{pix_fmt}.nut", tmp_path / "v.fpc"
    frame = av.VideoFrame.from_ndarray(
        np.random.default_rng(3).integers(0, 256, (10, 12, 3), dtype=np.uint8), format="rgb24"
    )
    with av.open(str(src), "w") as cont:
        stream = cont.add_stream("rawvideo", rate=25)
        stream.width, stream.height, stream.pix_fmt = 12, 10, pix_fmt
        for i in range(2):
            vf = frame.reformat(format=pix_fmt, threads=1)
            vf.pts = i
            for pkt in stream.encode(vf):
                cont.mux(pkt)
        for pkt in stream.encode():
            cont.mux(pkt)
    code, _, err = run_main(capsys, "encode", str(src), "-o", str(out), "-q")
    assert code == 0, err
    lines = err.splitlines()
    if warned:
        assert len(lines) == 1 and lines[0].startswith("fpcodec: warning:") and pix_fmt in lines[0]
        assert "not the source's own samples" in lines[0]
    else:
        assert lines == []
    with av.open(str(src)) as cont:
        want = [f.to_ndarray(format="rgb24", threads=1) for f in cont.decode(video=0)]
    with open(out, "rb") as fh:
        got = [f.pixels for f in Decoder(fh).frames()]
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("pix_fmt", ["rgba64be", "ya16be", "ya8"])
def test_a_deep_or_gray_source_keeps_its_alpha(tmp_path, capsys, pix_fmt: str) -> None:
    """Transparency survives formats outside the old hand-made list of alpha formats: a 16-bit
    RGBA or gray-alpha PNG is coded as its own 16-bit samples (planar RGBA, version 17) and
    decodes to them, alpha included; 8-bit gray with alpha as RGBA frames, exactly. Before
    version 16's fix a 16-bit RGBA PNG came back opaque, and before version 17 as 8 bits."""
    src, out = tmp_path / f"{pix_fmt}.png", tmp_path / "a.fpc"
    rng = np.random.default_rng(5)
    rgba = rng.integers(0, 256, (9, 11, 4), dtype=np.uint8)
    rgba[..., 3] = np.arange(99, dtype=np.uint8).reshape(9, 11) * 2  # far from opaque
    with av.open(str(src), "w", format="image2") as cont:
        stream = cont.add_stream("png", rate=1)
        stream.width, stream.height, stream.pix_fmt = 11, 9, pix_fmt
        for pkt in stream.encode(
            av.VideoFrame.from_ndarray(rgba, format="rgba").reformat(format=pix_fmt, threads=1)
        ):
            cont.mux(pkt)
        for pkt in stream.encode():
            cont.mux(pkt)
    with av.open(str(src)) as cont:
        assert cont.streams.video[0].codec_context.pix_fmt == pix_fmt
        want = [f.to_ndarray(format="rgba", threads=1) for f in cont.decode(video=0)]
    assert (want[0][..., 3] != 255).any()
    code, _, err = run_main(capsys, "encode", str(src), "-o", str(out), "-q")
    assert code == 0, err
    assert "not the source's own samples" not in err
    with open(out, "rb") as fh:
        dec = Decoder(fh, load_model=False)
        assert dec.header.channels == 4
    with open(out, "rb") as fh:
        got = list(Decoder(fh).frames())
    assert len(got) == 1
    if pix_fmt == "ya8":
        np.testing.assert_array_equal(got[0].pixels, want[0])
        return
    fmt, (source,) = read_planes(src)
    assert fmt.name == "gbrap16le" and len(got[0].planes) == 4
    for a, b in zip(got[0].planes, source, strict=True):
        np.testing.assert_array_equal(a, b)
    assert np.abs((source[3] >> 8).astype(int) - want[0][..., 3]).max() <= 2  # its alpha, in 16 bits
    code, _, err = run_main(capsys, "decode", str(out), "-o", str(tmp_path / "back.png"), "-q")
    assert code == 0 and "warning" not in err, err  # a 16-bit PNG holds every sample
    fmt, (back,) = read_planes(tmp_path / "back.png")
    for a, b in zip(back, source, strict=True):
        np.testing.assert_array_equal(a, b)
