"""Planar streams (format version 7): video coded in its own pixel format, sample for sample.

Round trips in every pixel format, 8 to 16 bits (odd sizes included), the motion tools against the rules they
follow, the CLI from a real (once H.264-coded) clip to .y4m and .mkv compared sample for sample,
and damaged or inconsistent planar streams refused.
"""

from __future__ import annotations

import dataclasses
import io
import struct
from fractions import Fraction

import numpy as np
import pytest
from conftest import DATA, body_start, encode_frames, replace_chunk, run_main

from fpcodec.bitstream import container, entropy
from fpcodec.bitstream.profile import LATEST
from fpcodec.bitstream.errors import ChecksumError, FormatError, InputError
from fpcodec.codec import motion, motion_field, planar_coding, planar_rule, raster_rule
from fpcodec.codec.modes import planar
from fpcodec.codec.modes.base import MODE_PLANAR, MODE_STORED
from fpcodec.codec.pipeline import Decoder, Encoder
from fpcodec.codec.planar_io import (
    PIXEL_FORMATS,
    ColourInfo,
    RGB_PLANES,
    NativeReader,
    pixel_format_by_name,
    read_planes,
)

CLIP = DATA / "carphone_yuv420p_64x48.mkv"  # 12 frames 64x48 yuv420p, once H.264-coded


def _texture(h: int, w: int, seed: int) -> np.ndarray:
    """A smooth random texture (int) with some edges, so that motion is findable."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (h // 4 + 3, w // 4 + 3)).astype(np.float64)
    up = np.kron(base, np.ones((4, 4)))[: h + 8, : w + 8]
    k = np.ones(3) / 3
    for axis in (0, 1):
        up = np.apply_along_axis(lambda r: np.convolve(r, k, mode="same"), axis, up)
    return up


def _moving_planes(
    fmt_name: str, width: int, height: int, frames: int, seed: int = 0
) -> list[list[np.ndarray]]:
    """Frames of ``fmt_name`` whose planes pan across a texture, with a little noise."""
    fmt = pixel_format_by_name(fmt_name)
    rng = np.random.default_rng(seed + 1)
    shapes = fmt.plane_shapes(width, height)
    textures = [_texture(h + 16, w + 16, seed + k) for k, (h, w) in enumerate(shapes)]
    out = []
    for t in range(frames):
        planes = []
        for (h, w), tex in zip(shapes, textures, strict=True):
            scale = 1 << (fmt.depth - 8)
            window = (tex[t : t + h, 2 * t : 2 * t + w] + rng.normal(0, 1.0, (h, w))) * scale
            top = (1 << fmt.depth) - 1
            planes.append(np.clip(np.round(window), 0, top).astype(fmt.dtype))
        out.append(planes)
    return out


def _encode(frames, fmt_name: str, width: int, height: int, **kwargs) -> bytes:
    buf = io.BytesIO()
    enc = Encoder(
        buf,
        width=width,
        height=height,
        channels=pixel_format_by_name(fmt_name).planes,
        model="last-frame",
        pixel_format=pixel_format_by_name(fmt_name),
        colour=kwargs.pop("colour", None),
        **kwargs,
    )
    for planes in frames:
        enc.write_planes(planes, 4)
    enc.close()
    return buf.getvalue()


def _decode(data: bytes) -> tuple[Decoder, list]:
    dec = Decoder(io.BytesIO(data))
    return dec, list(dec)


def _assert_planes_equal(got, want) -> None:
    assert len(got) == len(want)
    for i, (a, b) in enumerate(zip(got, want, strict=True)):
        assert len(a) == len(b), f"frame {i}"
        for k, (pa, pb) in enumerate(zip(a, b, strict=True)):
            assert pa.dtype == pb.dtype and pa.shape == pb.shape, (i, k, pa.shape, pb.shape)
            assert np.array_equal(pa, pb), f"frame {i} plane {k}"


# ---------------------------------------------------------------------------------- round trips
@pytest.mark.parametrize(
    "fmt_name, width, height",
    [
        ("yuv420p", 17, 13),
        ("yuv420p", 40, 32),
        ("yuv422p", 21, 10),
        ("yuv444p", 16, 12),
        ("gray", 19, 7),
        ("yuv420p10le", 17, 13),
        ("yuv422p10le", 12, 9),
        ("yuv444p12le", 9, 8),
        ("gray10le", 10, 6),
        ("gray12le", 7, 5),
        ("gray14le", 9, 6),
        ("yuv420p14le", 13, 11),
        ("yuv422p14le", 10, 7),
        ("yuv444p14le", 6, 5),
        ("gray16le", 11, 7),
        ("yuv420p16le", 17, 13),
        ("yuv422p16le", 9, 6),
        ("yuv444p16le", 8, 7),
        ("gbrp16le", 10, 8),
        ("gbrap16le", 7, 5),
        ("gbrp10le", 11, 7),
        ("gbrp12le", 6, 9),
        ("gbrap10le", 5, 4),
        ("gbrap12le", 9, 6),
        # version 18: 4:4:0, 4:1:1 and 4:1:0 (widths not a multiple of 4), 9 bits, YUV with alpha
        ("yuv440p", 13, 11),
        ("yuv411p", 17, 9),
        ("yuv410p", 15, 13),
        ("yuv440p10le", 9, 7),
        ("yuv440p12le", 6, 5),
        ("gray9le", 11, 6),
        ("yuv420p9le", 13, 9),
        ("yuv422p9le", 9, 5),
        ("yuv444p9le", 7, 6),
        ("gbrp9le", 10, 7),
        ("gbrp14le", 9, 8),
        ("gbrap14le", 6, 7),
        ("yuva420p", 17, 13),
        ("yuva422p", 11, 6),
        ("yuva444p", 8, 9),
        ("yuva420p9le", 9, 7),
        ("yuva422p9le", 7, 4),
        ("yuva444p9le", 5, 6),
        ("yuva420p10le", 13, 9),
        ("yuva422p10le", 9, 6),
        ("yuva444p10le", 7, 5),
        ("yuva422p12le", 9, 7),
        ("yuva444p12le", 6, 6),
        ("yuva420p16le", 11, 9),
        ("yuva422p16le", 7, 8),
        ("yuva444p16le", 5, 5),
    ],
)
def test_round_trip_every_format(fmt_name, width, height) -> None:
    frames = _moving_planes(fmt_name, width, height, 5)
    data = _encode(frames, fmt_name, width, height, colour=ColourInfo(color_range=1, chroma_location=1))
    assert data[8:10] == (LATEST).to_bytes(2, "little")
    dec, decoded = _decode(data)
    assert dec.pixel_format.name == fmt_name and dec.colour == ColourInfo(color_range=1, chroma_location=1)
    assert all(f.pixels is None for f in decoded)
    _assert_planes_equal([f.planes for f in decoded], frames)
    modes = [f.mode for f in decoded]
    assert set(modes) <= {MODE_PLANAR, MODE_STORED}


def test_inter_frames_use_motion_and_beat_intra() -> None:
    """A panning texture: frames after the first are coded inter (kind 1 or 3) and smaller."""
    frames = _moving_planes("yuv420p", 48, 32, 4)
    data = _encode(frames, "yuv420p", 48, 32)
    dec, decoded = _decode(data)
    _assert_planes_equal([f.planes for f in decoded], frames)
    recs = list(Decoder(io.BytesIO(data), load_model=False).records())
    kinds = [struct.unpack_from("<I", r.payload)[0] & 0xFF for r in recs if r.mode == MODE_PLANAR]
    assert kinds[0] in (planar.KIND_INTRA, planar.KIND_RASTER)
    assert set(kinds[1:]) <= {planar.KIND_INTER, planar.KIND_RASTER_INTER}
    assert max(len(r.payload) for r in recs[1:]) < 0.95 * len(recs[0].payload)


@pytest.mark.parametrize(
    "kind", [planar.KIND_INTRA, planar.KIND_RASTER, planar.KIND_INTER, planar.KIND_RASTER_INTER]
)
@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (2, 2), (7, 13), (40, 70)])
def test_every_kind_round_trips_every_shape(kind, shape) -> None:
    """Each kind forced on planes of awkward shapes (single rows and columns: the raster edge
    rules, the wavefronts, the passes), 8, 10, 14 and 16 bits, decoded back exactly (inter kinds
    with a zero motion field)."""
    for depth in (8, 10, 14, 16):
        rng = np.random.default_rng(depth)
        h, w = shape
        geom = [planar.PlaneGeometry(h, w, depth=depth)]
        ref = rng.integers(0, 1 << depth, (h, w)).astype(np.uint8 if depth == 8 else np.uint16)
        cur = np.clip(ref.astype(np.int64) + rng.integers(-3, 4, (h, w)), 0, (1 << depth) - 1).astype(
            ref.dtype
        )
        flat = [cur.astype(np.int64).ravel()]
        sizes = [(h, w, depth)]
        if kind == planar.KIND_RASTER:
            cand = planar._plan_raster(flat, sizes)
        elif kind == planar.KIND_INTRA:
            cand = planar._plan(planar.KIND_INTRA, flat, [None], sizes)
        else:
            zero = np.zeros((-(-h // 8), -(-w // 8)), np.int64)
            field = motion_field.plan(zero, zero, zero, 1)
            mcs = [ref.astype(np.int64).ravel()]
            if kind == planar.KIND_INTER:
                cand = planar._joined(field, planar._plan(kind, flat, mcs, sizes))
            else:
                cand = planar._plan_raster(flat, sizes, mcs, field)
        back = planar.decode(planar.encode(cand), [[ref]], geom)
        assert back[0].dtype == cur.dtype and np.array_equal(back[0], cur), (kind, shape, depth)


def test_raster_intra_wins_on_smooth_content() -> None:
    """The first frame of a smooth texture is coded in the raster kind, smaller than the
    interpolated one, and round-trips."""
    planes = _moving_planes("yuv420p", 64, 48, 1)[0]
    geom = planar_coding.geometry(pixel_format_by_name("yuv420p"), 64, 48)
    flat = [p.astype(np.int64).ravel() for p in planes]
    sizes = [(g.height, g.width, 8) for g in geom]
    raster = planar._plan_raster(flat, sizes)
    interpolated = planar._plan(planar.KIND_INTRA, flat, [None] * 3, sizes)
    assert raster.bits < interpolated.bits
    chosen = planar.estimate(planes, [], geom)
    assert chosen.kind == planar.KIND_RASTER
    _assert_planes_equal([planar.decode(planar.encode(chosen), [], geom)], [planes])


def test_single_frame_and_1x1() -> None:
    for fmt_name, w, h in (("yuv420p", 1, 1), ("gray", 1, 1), ("yuv444p", 3, 2)):
        frames = _moving_planes(fmt_name, w, h, 1)
        _, decoded = _decode(_encode(frames, fmt_name, w, h))
        _assert_planes_equal([f.planes for f in decoded], frames)


@pytest.mark.parametrize("fmt", [f for f in PIXEL_FORMATS.values() if not f.rgb], ids=lambda f: f.name)
def test_every_format_round_trips_at_the_smallest_sizes(fmt) -> None:
    """1x1, 2x1 and 1x3 frames (chroma of 4:1:1 and 4:1:0 one sample wide), flat then random, so
    that coded, inter and stored frames all occur at sizes below one block or tile."""
    rng = np.random.default_rng(fmt.format_id)
    for w, h in ((1, 1), (2, 1), (1, 3)):
        frames = [
            [
                rng.integers(0, 1 << fmt.depth, shape).astype(fmt.dtype)
                if t % 2
                else np.full(shape, (37 * t) % (1 << fmt.depth), fmt.dtype)
                for shape in fmt.plane_shapes(w, h)
            ]
            for t in range(4)
        ]
        _, decoded = _decode(_encode(frames, fmt.name, w, h))
        _assert_planes_equal([f.planes for f in decoded], frames)


def test_noise_is_stored_raw() -> None:
    rng = np.random.default_rng(3)
    frames = [[rng.integers(0, 256, s, dtype=np.uint8) for s in ((16, 16), (8, 8), (8, 8))] for _ in range(2)]
    data = _encode(frames, "yuv420p", 16, 16)
    dec, decoded = _decode(data)
    assert [f.mode for f in decoded] == [MODE_STORED, MODE_STORED]
    _assert_planes_equal([f.planes for f in decoded], frames)


def test_key_frames_and_seeking() -> None:
    frames = _moving_planes("yuv420p", 24, 16, 7)
    data = _encode(frames, "yuv420p", 24, 16, keyint=3)
    got = list(Decoder(io.BytesIO(data)).frames(4, 6))
    assert [f.index for f in got] == [4, 5]
    _assert_planes_equal([f.planes for f in got], frames[4:6])
    dec = Decoder(io.BytesIO(data), load_model=False)
    assert [r.index for r in dec.records() if r.key] == [0, 3, 6]
    assert [e.frame for e in dec.index] == [0, 3, 6]


def test_estimate_within_two_percent_of_the_coded_bytes() -> None:
    fmt, clip = read_planes(CLIP)
    geom = planar_coding.geometry(fmt, 64, 48)
    refs: list = []
    for planes in clip[:4]:
        cand = planar.estimate(planes, refs, geom)
        coded = len(planar.encode(cand))
        assert abs(cand.bits / 8 - coded) <= 0.02 * coded + 8, (cand.bits / 8, coded)
        refs = [planes, *refs][: motion.REFERENCES]


# ---------------------------------------------------------------------------------- motion tools
def _h264_quarter(half: np.ndarray, y4: int, x4: int) -> int:
    """H.264's luma sample at quarter position (y4, x4), from the half-sample plane, written out
    case by case as the standard lists them (8.4.2.2.1), positions clamped to the plane."""
    h2, w2 = half.shape

    def u(y: int, x: int) -> int:
        return int(half[min(max(y, 0), h2 - 1), min(max(x, 0), w2 - 1)])

    y, x = y4 // 4, x4 // 4
    fy, fx = y4 % 4, x4 % 4
    g = u(2 * y, 2 * x)
    b, hh, j = u(2 * y, 2 * x + 1), u(2 * y + 1, 2 * x), u(2 * y + 1, 2 * x + 1)
    s, m = u(2 * y + 2, 2 * x + 1), u(2 * y + 1, 2 * x + 2)
    big_h, big_m = u(2 * y, 2 * x + 2), u(2 * y + 2, 2 * x)
    table = {
        (0, 0): g,
        (0, 2): b,
        (2, 0): hh,
        (2, 2): j,
        (0, 1): (g + b + 1) >> 1,
        (0, 3): (b + big_h + 1) >> 1,
        (1, 0): (g + hh + 1) >> 1,
        (3, 0): (hh + big_m + 1) >> 1,
        (1, 2): (b + j + 1) >> 1,
        (3, 2): (j + s + 1) >> 1,
        (2, 1): (hh + j + 1) >> 1,
        (2, 3): (j + m + 1) >> 1,
        (1, 1): (b + hh + 1) >> 1,
        (1, 3): (b + m + 1) >> 1,
        (3, 1): (hh + s + 1) >> 1,
        (3, 3): (m + s + 1) >> 1,
    }
    return table[(fy, fx)]


def test_quarter_sample_compensation_follows_h264() -> None:
    rng = np.random.default_rng(5)
    ref = rng.integers(0, 256, (16, 16), dtype=np.uint8)
    half = motion.half_sample_plane(ref, 255)
    # The 6-tap half samples, one of each kind, by hand.
    r = ref.astype(int)
    taps = np.array([1, -5, 20, 20, -5, 1])
    row = np.clip(r[5, 3:9] @ taps, None, None)
    assert half[10, 11] == np.clip((row + 16) >> 5, 0, 255)  # between (5, 5) and (5, 6)
    col = r[3:9, 5] @ taps
    assert half[11, 10] == np.clip((col + 16) >> 5, 0, 255)
    centre = sum(t * (r[5 + k - 2, 3:9] @ taps) for k, t in enumerate(taps))
    assert half[11, 11] == np.clip((centre + 512) >> 10, 0, 255)
    for vy in range(-5, 6):
        for vx in range(-5, 6):
            field = np.full((2, 2), vy), np.full((2, 2), vx)
            mc = motion.compensate(half, *field)
            for y, x in ((4, 4), (7, 9), (0, 0), (15, 15)):
                assert mc[y, x] == _h264_quarter(half, 4 * y + vy, 4 * x + vx), (vy, vx, y, x)


def test_chroma_compensation_is_h264_bilinear() -> None:
    rng = np.random.default_rng(6)
    ref = rng.integers(0, 256, (8, 8), dtype=np.uint8)
    r = ref.astype(int)
    for vy, vx in ((0, 0), (3, 5), (-7, 2), (8, -9)):
        mc = motion.compensate_chroma(ref, np.full((2, 2), vy), np.full((2, 2), vx), 1, 1, 4, 4)
        y, x = 3, 4
        ey, ex = 8 * y + vy, 8 * x + vx
        y0, x0, fy, fx = ey // 8, ex // 8, ey % 8, ex % 8

        def at(a, b):
            return r[min(max(a, 0), 7), min(max(b, 0), 7)]

        want = (
            (8 - fx) * (8 - fy) * at(y0, x0)
            + fx * (8 - fy) * at(y0, x0 + 1)
            + (8 - fx) * fy * at(y0 + 1, x0)
            + fx * fy * at(y0 + 1, x0 + 1)
            + 32
        ) >> 6
        assert mc[y, x] == want, (vy, vx)


def test_search_finds_a_known_shift() -> None:
    tex = np.clip(np.round(_texture(80, 96, 9)), 0, 255).astype(np.uint8)
    ref = tex[8:72, 8:88]
    cur = tex[5:69, 11:91]  # content moved by (+3, -3): cur[y, x] = ref[y - 3, x + 3]
    vy, vx, _ = motion.search(cur, ref, motion.half_sample_plane(ref, 255))
    inner = (slice(1, -1), slice(1, -1))
    assert np.mean(vy[inner] == -12) > 0.9 and np.mean(vx[inner] == 12) > 0.9


# ---------------------------------------------------------------------------------- the CLI
def test_cli_codes_a_real_clip_natively_and_gives_back_its_samples(tmp_path, capsys) -> None:
    fmt, clip = read_planes(CLIP)
    assert fmt.name == "yuv420p" and len(clip) == 12
    fpc = tmp_path / "c.fpc"
    code, out, err = run_main(capsys, "encode", CLIP, "-o", fpc)
    assert code == 0, err
    assert "yuv420p" in out and "planar" in out
    assert fpc.stat().st_size < 0.6 * sum(p.size for f in clip for p in f)
    for ext in ("y4m", "mkv"):
        target = tmp_path / f"back.{ext}"
        code, _, err = run_main(capsys, "decode", fpc, "-o", target, "-q")
        assert code == 0 and err == "", err
        back_fmt, back = read_planes(target)
        assert back_fmt == fmt
        _assert_planes_equal(back, clip)
    assert NativeReader(tmp_path / "back.mkv").colour.color_range == 1
    code, out, _ = run_main(capsys, "info", fpc, "-q")
    assert code == 0 and "yuv420p (the source's own samples; limited range" in out
    code, out, _ = run_main(capsys, "info", fpc)
    table = [line.split() for line in out.splitlines() if line[:5].strip().isdigit()]
    assert len(table) == 12 and table[0][1] in ("planar/i", "planar/ri")
    kinds = {row[1].removesuffix("+mb16") for row in table[1:]}  # +mb16: 16x16 motion blocks
    assert kinds <= {"planar/p", "planar/rp", "planar/i", "planar/ri", "stored"}


def test_cli_rgb_output_of_a_planar_stream_says_it_converts(tmp_path, capsys) -> None:
    fpc = tmp_path / "c.fpc"
    assert run_main(capsys, "encode", CLIP, "-o", fpc, "-q")[0] == 0
    code, _, err = run_main(capsys, "decode", fpc, "-o", tmp_path / "c.png", "-q")
    assert code == 0
    assert "yuv420p" in err and "conversion to RGB" in err
    from fpcodec.codec.io import VideoReader

    frames = [f for f, _ in VideoReader(tmp_path / "c.png").frames()]
    assert len(frames) == 12 and frames[0].shape == (48, 64, 3)


def test_cli_rgb_flag_and_learned_model_on_yuv(tmp_path, capsys) -> None:
    code, _, err = run_main(capsys, "encode", CLIP, "-o", tmp_path / "a.fpc", "-m", "conv2d-int")
    assert code == 2 and "--rgb" in err
    code, out, err = run_main(capsys, "encode", CLIP, "-o", tmp_path / "b.fpc", "--rgb", "-m", "last-frame")
    assert code == 0, err
    dec = Decoder(io.BytesIO((tmp_path / "b.fpc").read_bytes()), load_model=False)
    assert dec.pixel_format is None and dec.header.channels == 3


def test_cli_codes_10_bit_video_natively(tmp_path, capsys) -> None:
    """A 10-bit clip (yuv420p10le, odd size) through encode and back to .y4m and .mkv."""
    from fpcodec.codec.planar_io import write_ffv1_mkv

    fmt = pixel_format_by_name("yuv420p10le")
    frames = _moving_planes("yuv420p10le", 23, 15, 4)
    src = tmp_path / "deep.mkv"
    write_ffv1_mkv(src, fmt, ColourInfo(), 23, 15, Fraction(25), frames)
    fpc = tmp_path / "deep.fpc"
    code, out, err = run_main(capsys, "encode", src, "-o", fpc)
    assert code == 0 and "yuv420p10le" in out, err
    raw = sum(p.nbytes for f in frames for p in f)
    assert fpc.stat().st_size < raw
    for ext in ("y4m", "mkv"):
        code, _, err = run_main(capsys, "decode", fpc, "-o", tmp_path / f"back.{ext}", "-q")
        assert code == 0 and err == "", err
        back_fmt, back = read_planes(tmp_path / f"back.{ext}")
        assert back_fmt == fmt
        _assert_planes_equal(back, frames)


def test_deep_samples_stored_raw_are_little_endian_and_checked() -> None:
    rng = np.random.default_rng(8)
    fmt = pixel_format_by_name("gray12le")
    frames = [[rng.integers(0, 4096, (6, 6)).astype(np.uint16)]]
    data = _encode(frames, "gray12le", 6, 6)
    dec, decoded = _decode(data)
    assert decoded[0].mode == MODE_STORED
    _assert_planes_equal([f.planes for f in decoded], frames)
    assert frames[0][0].astype("<u2").tobytes() in data
    pos, kind, body = _chunks(data)[2]
    bad = bytearray(body)
    bad[container.frame_fields_size(container.decode_frame(body)) + 1] |= 0xF0  # a sample above 12 bits
    with pytest.raises(FormatError, match="above 4095"):
        list(Decoder(io.BytesIO(_rewrite(data, 2, bytes(bad)))))
    assert fmt.depth == 12


def test_an_rgb_stream_goes_to_mkv_as_ffv1_rgb_and_not_to_y4m(tmp_path, capsys) -> None:
    """.mkv holds an RGB stream exactly too (FFV1 in bgr0, since 2026-12-05; it was refused before);
    .y4m, which stores YUV, is still refused without --lossy, in one line."""
    from conftest import CARPHONE, assert_frames_equal, read_video

    fpc = tmp_path / "g.fpc"
    assert run_main(capsys, "encode", CARPHONE, "-o", fpc, "-m", "last-frame", "-q")[0] == 0
    assert run_main(capsys, "decode", fpc, "-o", tmp_path / "g.mkv", "-q")[0] == 0
    assert_frames_equal(read_video(tmp_path / "g.mkv")[0], read_video(CARPHONE)[0])
    code, _, err = run_main(capsys, "decode", fpc, "-o", tmp_path / "g.y4m")
    assert code != 0 and ".y4m" in err and "--lossy" in err and len(err.strip().splitlines()) == 1


# ---------------------------------------------------------------------------------- bad streams
def _chunks(data: bytes) -> list[tuple[int, bytes, bytes]]:
    out, pos = [], container.PREAMBLE_SIZE
    while pos < len(data):
        kind, body, end = container.parse_chunk(data, pos)
        out.append((pos, kind, body))
        pos = end
    return out


def _rewrite(data: bytes, index: int, body: bytes) -> bytes:
    """``data`` with chunk ``index``'s body replaced (length and CRC recomputed)."""
    return replace_chunk(data, _chunks(data)[index][0], body)


@pytest.fixture(scope="module")
def planar_stream() -> tuple[bytes, list]:
    frames = _moving_planes("yuv420p", 24, 16, 3)
    return _encode(frames, "yuv420p", 24, 16), frames


def test_pixel_format_chunk_is_checked(planar_stream) -> None:
    data, _ = planar_stream
    assert _chunks(data)[1][1] == container.CHUNK_PIXEL_FORMAT
    record = container.decode_pixel_format(_chunks(data)[1][2])
    assert record == container.PixelFormatRecord(2, 8, 0, 2, 2, 2, 0)
    for body, words in (
        (container.encode_pixel_format(dataclasses.replace(record, format_id=99)), "pixel format id 99"),
        (container.encode_pixel_format(dataclasses.replace(record, depth=10)), "depth 10"),
        (container.encode_pixel_format(dataclasses.replace(record, format_id=1)), "planes"),
        (container.encode_pixel_format(dataclasses.replace(record, color_range=7)), "color_range"),
        (container.encode_pixel_format(record)[:-1] + b"\x01", "reserved"),
        (container.encode_pixel_format(record) + b"\x00", "expected 8"),
    ):
        with pytest.raises(FormatError, match=words):
            list(Decoder(io.BytesIO(_rewrite(data, 1, body))))


def test_planar_stream_relabelled_as_version_6_fails(planar_stream) -> None:
    data, _ = planar_stream
    bad = bytearray(data)
    struct.pack_into("<H", bad, 8, 6)
    with pytest.raises(FormatError):
        list(Decoder(io.BytesIO(bytes(bad))))


def test_damaged_planar_payload_is_refused(planar_stream) -> None:
    """Every byte of an inter frame's payload changed in turn (CRCs made to match): the decoder
    refuses the frame or its checksum does; it never hands out other samples."""
    data, frames = planar_stream
    index = 3  # HEAD, PFMT, FRAM 0, FRAM 1
    pos, kind, body = _chunks(data)[index]
    assert kind == container.CHUNK_FRAME
    fixed = container.frame_fields_size(container.decode_frame(body))
    for at in range(fixed, len(body), max(1, (len(body) - fixed) // 40)):
        bad = bytearray(body)
        bad[at] ^= 0x5A
        try:
            decoded = list(Decoder(io.BytesIO(_rewrite(data, index, bytes(bad)))))
        except (ChecksumError, FormatError):
            continue
        _assert_planes_equal([f.planes for f in decoded], frames)  # a change the coder ignores


def test_encoder_refuses_wrong_planes() -> None:
    fmt = pixel_format_by_name("yuv420p")
    enc = Encoder(io.BytesIO(), width=8, height=8, channels=3, model="last-frame", pixel_format=fmt)
    with pytest.raises(InputError, match="expected uint8 planes"):
        enc.write_planes([np.zeros((8, 8), np.uint8)] * 3)
    with pytest.raises(InputError, match="write_planes"):
        enc.write(np.zeros((8, 8, 3), np.uint8))
    deep = Encoder(
        io.BytesIO(),
        width=8,
        height=8,
        channels=3,
        model="last-frame",
        pixel_format=pixel_format_by_name("yuv420p10le"),
    )
    with pytest.raises(InputError, match="expected uint16 planes"):
        deep.write_planes(
            [np.zeros((8, 8), np.uint8), np.zeros((4, 4), np.uint8), np.zeros((4, 4), np.uint8)]
        )
    planes = [np.zeros((8, 8), np.uint16), np.zeros((4, 4), np.uint16), np.zeros((4, 4), np.uint16)]
    planes[1][2, 3] = 1024
    with pytest.raises(InputError, match="sample 1024, above 10 bits"):
        deep.write_planes(planes)
    with pytest.raises(InputError, match="own rule"):
        Encoder(io.BytesIO(), width=8, height=8, channels=3, model="conv2d-int", pixel_format=fmt)


def test_salvage_recovers_a_damaged_planar_stream(tmp_path, capsys) -> None:
    """Frame 4 of 7 damaged (key frames every 3): --salvage writes frames 0-3 and 6 exactly to
    .y4m, names the lost ones and exits 3."""
    frames = _moving_planes("yuv420p", 24, 16, 7)
    data = _encode(frames, "yuv420p", 24, 16, keyint=3)
    index = 2 + 4  # HEAD, PFMT, FRAM 0..3, then FRAM 4
    pos, kind, body = _chunks(data)[index]
    assert kind == container.CHUNK_FRAME
    bad = bytearray(data)
    payload = body_start(data, pos) + container.frame_fields_size(container.decode_frame(body))
    bad[payload + 3] ^= 0xFF  # a payload byte; the chunk CRC is now wrong
    src = tmp_path / "damaged.fpc"
    src.write_bytes(bytes(bad))
    out = tmp_path / "saved.y4m"
    code, _, err = run_main(capsys, "decode", src, "-o", out, "--salvage", "-q")
    assert code == 3, err
    assert "4-5" in err or "4, 5" in err, err
    _, back = read_planes(out)
    _assert_planes_equal(back, [frames[i] for i in (0, 1, 2, 3, 6)])


def _fit_table_dense(flat, params, depth, contexts):
    """``_fit_table`` as first written: the whole (contexts x distances) histogram, costed where used."""
    span = 255 * entropy.MEAN_STEPS + 1
    keys = []
    for targets, mean, ctx in params:
        values = flat[targets]
        if depth > 8:
            values, mean, _ = planar._split(values, mean, depth)
        keys.append(ctx * span + np.abs(values * entropy.MEAN_STEPS - mean))
    hist = np.bincount(np.concatenate(keys), minlength=contexts * span).reshape(contexts, span)
    used, cols = np.flatnonzero(hist.any(axis=1)), np.flatnonzero(hist.any(axis=0))
    costs = hist[np.ix_(used, cols)].astype(np.float64) @ entropy.interior_bits_table()[:, cols].T.astype(
        np.float64
    )
    best = np.argmin(costs, axis=1)
    table = np.zeros(contexts, np.int64)
    table[used] = best
    filled = np.maximum.accumulate(np.where(hist.any(axis=1), np.arange(contexts), -1))
    table = np.where(filled >= 0, table[np.maximum(filled, 0)], planar.TABLE_START)
    bits = float(costs[np.arange(used.size), best].sum())
    for targets, mean, ctx in params if depth > 8 else ():  # the low bits, under the table's scales
        coarse, coarse_mean, low = planar._split(flat[targets], mean, depth)
        rows = entropy.low_bits_rows(coarse, coarse_mean, table[ctx], depth - 8)
        picked = np.take_along_axis(rows, low[:, None], axis=1)[:, 0]
        bits += float(np.sum(np.log2(rows.sum(axis=1)) - np.log2(picked)))
    return table, bits


@pytest.mark.parametrize("depth", [8, 10])
def test_fit_table_counts_only_the_contexts_and_distances_that_occur(depth: int) -> None:
    rng = np.random.default_rng(depth)
    n, contexts = 5000, 40
    flat = rng.integers(0, 1 << depth, n)
    batches = []
    for targets in np.array_split(rng.permutation(n), 7):
        mean = np.clip(16 * (flat[targets] >> (depth - 8)) + rng.integers(-300, 300, targets.size), 0, 4080)
        if depth > 8:
            mean = np.clip(
                16 * flat[targets] + rng.integers(-900, 900, targets.size), 0, 16 * ((1 << depth) - 1)
            )
        ctx = rng.choice([0, 3, 4, 17, 39], targets.size)  # most contexts unused, the first too
        batches.append((targets, mean, ctx))
    table, bits = planar._fit_table(flat, batches, depth, contexts)
    want_table, want_bits = _fit_table_dense(flat, batches, depth, contexts)
    # the same sums, the low bits' (depth 10) added up in another order by the compiled kernel
    assert np.array_equal(table, want_table) and bits == pytest.approx(want_bits, rel=1e-12, abs=0)
    assert table[1] == table[0] and table[5] == table[4]  # unused contexts repeat the one before


def test_a_frames_large_schedules_are_made_once_and_forgotten_after(monkeypatch) -> None:
    """Large untiled (raster intra) schedules are not cached across frames (20 bytes a sample), but
    within one frame's coding or decoding (``schedules_kept``) the planes of one size share one;
    the block's end forgets them, another thread keeps its own, and the frame's bytes and planes
    are what they were (the same rule, read from the same arrays)."""
    import threading

    from fpcodec.codec import raster_rule

    made = []
    real = raster_rule._run_schedule
    monkeypatch.setattr(raster_rule, "_run_schedule", lambda *a: made.append(a) or real(*a))
    h, w = 520, 520  # above CACHED_INTRA_SAMPLES
    raster_rule.run_schedule(h, w)
    raster_rule.run_schedule(h, w)
    assert len(made) == 2  # outside a frame: made each time
    made.clear()
    with raster_rule.schedules_kept():
        first = raster_rule.run_schedule(h, w)
        with raster_rule.schedules_kept():  # nested: the same frame
            assert raster_rule.run_schedule(h, w) is first
        assert raster_rule.run_schedule(h, w) is first
        other = []
        thread = threading.Thread(target=lambda: other.append(raster_rule.run_schedule(h, w)))
        thread.start()
        thread.join()
        assert other[0] is not first
        raster_rule.run_schedule(h, w, runs=2)
    assert len(made) == 3  # one for this thread's frame, one for the other thread, one of two runs
    raster_rule.run_schedule(h, w)
    assert len(made) == 4  # forgotten after the frame
    # A frame of three such planes: one schedule for all of them, on encoding and on decoding.
    rng = np.random.default_rng(2)
    planes = [np.clip(rng.normal(128, 20, (h, w)), 0, 255).astype(np.uint8) for _ in range(3)]
    geom = planar_coding.geometry(RGB_PLANES, w, h)
    made.clear()
    mode, payload = planar_coding.encode_frame(planes, [], geom)
    assert mode == MODE_PLANAR and payload[0] == planar.KIND_RASTER
    assert made and len(set(made)) == len(made)  # each schedule made once
    made.clear()
    back = planar_coding.decode_frame(mode, payload, [], geom)
    assert len(made) == 1
    for got, want in zip(back, planes, strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("fmt_name", ["yuv420p", "yuv420p10le"])
def test_the_encoders_schedules_kept_or_made_again_give_the_same_stream(monkeypatch, fmt_name) -> None:
    """Whether the encoder keeps a plane's coarse-to-fine passes (``KEPT_PASSES_SAMPLES``) and
    raster schedules (``SHARED_ROWS_SAMPLES``) or makes them again for each read is a choice of
    memory against time: the same bytes either way, over frames of every kind of candidate."""
    frames = _moving_planes(fmt_name, 48, 40, 4, seed=5)
    kept = _encode(frames, fmt_name, 48, 40)
    monkeypatch.setattr(planar, "KEPT_PASSES_SAMPLES", 0)
    monkeypatch.setattr(planar, "SHARED_ROWS_SAMPLES", 0)
    made = _encode(frames, fmt_name, 48, 40)
    assert made == kept
    _, back = _decode(made)
    assert {f.mode for f in back} == {MODE_PLANAR}
    _assert_planes_equal([f.planes for f in back], frames)


def test_the_encoder_stores_a_frames_schedules_by_the_whole_frames_samples(monkeypatch) -> None:
    """Whether the raster schedules' neighbour rows are stored is decided by the frame's samples in
    all (``SHARED_ROWS_SAMPLES``), not plane by plane: a 4:2:0 frame above it stores none, its
    small chroma planes' neither (they held 7 MB of a 1280x720 encode's peak), and the bytes stay
    those of a frame that stores them all."""
    frames = _moving_planes("yuv420p", 48, 40, 3, seed=7)
    stored = _encode(frames, "yuv420p", 48, 40)
    calls = []
    made = planar._encoder_schedule

    def schedule(height, width, tile, runs, frame_samples):
        got = made(height, width, tile, runs, frame_samples)
        calls.append((height * width, isinstance(got[1], np.ndarray)))
        return got

    monkeypatch.setattr(planar, "SHARED_ROWS_SAMPLES", 48 * 40)  # the luma plane's samples
    monkeypatch.setattr(planar, "_encoder_schedule", schedule)
    raster_rule.run_schedule_cache_clear()
    assert _encode(frames, "yuv420p", 48, 40) == stored
    assert {size for size, _ in calls} == {48 * 40, 24 * 20} and not any(kept for _, kept in calls)


@pytest.mark.parametrize("dtype, top", [(np.uint8, 255), (np.uint16, 1023), (np.uint16, 65535)])
def test_the_interpolation_cost_is_the_sum_over_samples(monkeypatch, dtype, top) -> None:
    """``_log_cost`` counts, chunk by chunk, what a sum of ``_LOG_COST`` over every sample's
    clipped difference gives (chunks made small here, the last one partial)."""
    monkeypatch.setattr(planar, "_COST_CHUNK", 1000)
    rng = np.random.default_rng(top)
    plane = rng.integers(0, top + 1, (37, 101)).astype(dtype)
    mc = np.clip(plane.astype(np.int64) + rng.integers(-400, 400, plane.shape), 0, top)
    mc = mc.astype(planar_rule.MC_DTYPE).ravel()
    want = planar._LOG_COST[np.minimum(np.abs(plane.astype(np.int64).ravel() - mc), 255)].sum()
    assert planar._log_cost(plane, mc) == pytest.approx(want, rel=1e-12)
    assert planar._log_cost(plane, plane.ravel().astype(planar_rule.MC_DTYPE)) == 0.0


def test_planar_coders_keep_only_the_frames_their_motion_reads() -> None:
    """A planar stream's encoder and decoder keep REFERENCES decoded frames, not the predictor's
    HISTORY (two frames fewer in memory); frames after the history fills still round-trip, and a
    palette stream keeps HISTORY."""
    from fpcodec.codec.pipeline import history_length
    from fpcodec.models.base import HISTORY

    assert planar_coding.REFERENCES < HISTORY
    assert history_length(True) == planar_coding.REFERENCES and history_length(False) == HISTORY
    frames = _moving_planes("yuv420p", 32, 24, HISTORY + 3, seed=9)
    buf = io.BytesIO()
    fmt = pixel_format_by_name("yuv420p")
    enc = Encoder(buf, width=32, height=24, channels=3, model="last-frame", pixel_format=fmt, keyint=0)
    for planes in frames:
        enc.write_planes(planes, 4)
        assert len(enc._history) <= planar_coding.REFERENCES
    enc.close()
    dec, back = _decode(buf.getvalue())
    assert dec.new_history().maxlen == planar_coding.REFERENCES
    assert [f.mode for f in back[1:]] == [MODE_PLANAR] * (len(frames) - 1)
    _assert_planes_equal([f.planes for f in back], frames)
    palette_dec = Decoder(io.BytesIO(encode_frames([np.zeros((8, 8, 3), np.uint8)] * 2, model="last-frame")))
    assert palette_dec.new_history().maxlen == HISTORY


def test_table_and_weight_bits_are_the_laplace_bits_of_their_symbols() -> None:
    """A table's, its offsets' and a refinement's coded size read from the 256 symbols' bits are
    ``entropy.laplace_bits`` of their symbols summed, to the last bit, at every length from one
    entry to a few hundred (so through numpy's blocks of eight and its vector loops' tails); a
    symbol outside a byte (none is, by the steps' and weights' ranges) is costed directly."""
    rng = np.random.default_rng(21)

    def direct(symbols, mean_q, scale_idx):
        scales = np.full(symbols.size, scale_idx, np.int64)
        return float(entropy.laplace_bits(symbols, np.full(symbols.size, mean_q), scales).sum())

    for size in [*range(1, 40), 106, 255, 256, 300]:
        table = rng.integers(0, planar.SCALES, size)
        steps = planar._table_steps(table)
        assert planar._table_bits(table) == direct(steps, 16 * planar.TABLE_OFFSET, planar.TABLE_SCALE_IDX)
        offsets = rng.integers(-planar.OFFSET_SEARCH, planar.OFFSET_SEARCH + 1, size)
        got = planar._table_bits(offsets, 0)
        assert got == direct(
            planar._table_steps(offsets, 0), 16 * planar.TABLE_OFFSET, planar.TABLE_SCALE_IDX
        )
        weights = rng.integers(-raster_rule.REFINE_MAX, raster_rule.REFINE_MAX + 1, (1, size))
        high, _ = planar._weight_symbols(weights)
        want = 1.0 + direct(high, 16 * 128, planar.WEIGHT_SCALE_IDX) + planar.WEIGHT_LOW_BITS * size
        assert planar._weights_bits(weights) == want
    wide = np.array([-3, 40, 300])
    assert planar._symbols_bits(wide, 2048, 20) == direct(wide, 2048, 20)
