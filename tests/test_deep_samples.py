"""Format version 17: 14- and 16-bit planes, sample rules, and deeper samples' aligned coarse means.

A 16-bit source keeps every sample (gray16le, yuv4xxp14le/16le; a 16-bit gray PNG read byte-swapped);
a plane whose low bits are zero or copies of its top bits, or whose values are small, is coded at
the depth it really has (``codec.sample_bits``); the top 8 bits of a 9-16-bit sample are coded under
a Laplace whose bins cover the samples they hold (before version 17 they were half a coarse value
off, and version-16 streams still decode so).
"""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from conftest import DATA, assert_planar_fixture_decodes, encode_planes, run_main

from fpcodec.bitstream.profile import LATEST
from fpcodec.bitstream.errors import FormatError
from fpcodec.codec import planar_coding, sample_bits
from fpcodec.codec.modes import planar
from fpcodec.codec.pipeline import Decoder
from fpcodec.codec.planar_io import ColourInfo, pixel_format_by_name, read_planes

CLIP10 = "bikes_yuv420p10le_48x36.mkv"  # 6 frames of bikes, scaled to 48x36 in 10 bits (bicubic)


def _decoded(data: bytes) -> list[list[np.ndarray]]:
    return [f.planes for f in Decoder(io.BytesIO(data)).frames()]


def _assert_same(got, want) -> None:
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        for pa, pb in zip(a, b, strict=True):
            assert pa.dtype == pb.dtype
            np.testing.assert_array_equal(pa, pb)


def _clip10() -> list[list[np.ndarray]]:
    return read_planes(DATA / CLIP10)[1]


# ----------------------------------------------------------------------- aligned coarse means
def test_version_16_deep_samples_still_decode_with_their_own_coarse_means() -> None:
    """tests/data/v16_planar10.fpc: the version-16 encoder's 10-bit stream, coarse means unaligned."""
    assert_planar_fixture_decodes("v16_planar10.fpc", 16, CLIP10)


def test_aligned_coarse_means_code_10_bit_video_in_a_third_of_the_bytes() -> None:
    """The same 10-bit clip as the version-16 fixture: version 17 codes it exactly in under half its
    bytes (2859 against 9887 when this was written): the top 8 bits' Laplace bins now cover the
    samples they hold."""
    frames = _clip10()
    data = encode_planes(frames, "yuv420p10le")
    _assert_same(_decoded(data), frames)
    assert len(data) < 0.5 * len((DATA / "v16_planar10.fpc").read_bytes())


def test_coarse_mean_is_centred_on_the_samples_of_a_coarse_value() -> None:
    """A rule mean exactly on a coarse value's middle sample gives that value's mean; the old rule
    put it half a coarse value lower."""
    for depth in (9, 10, 12, 16):
        e = depth - 8
        c = np.arange(256)
        middle = 16 * ((c << e) + ((1 << e) - 1) / 2)  # 1/16 of a sample
        got = planar._coarse_mean(np.floor(middle).astype(np.int64), depth)
        np.testing.assert_array_equal(got, 16 * c)
        old = planar._coarse_mean(np.floor(middle).astype(np.int64), depth, aligned=False)
        assert np.all(old[1:-1] > 16 * c[1:-1])  # (the old bins sat on 2^e c, below the samples)


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_coarse_mean_is_the_formula_in_the_means_type(dtype) -> None:
    """``_coarse_mean`` (made in place on one new array) is the shifted, clipped mean of
    FORMAT.md, both versions, in the means' own type, and leaves the means as they were."""
    rng = np.random.default_rng(7)
    for depth in (9, 10, 12, 16):
        e = depth - 8
        mean = rng.integers(-300, 16 * (1 << depth) + 300, 5000).astype(dtype)
        before = mean.copy()
        got = planar._coarse_mean(mean, depth)
        want = np.clip((mean.astype(np.int64) - 8 * ((1 << e) - 1) + (1 << (e - 1))) >> e, 0, 16 * 255)
        assert got.dtype == dtype and np.array_equal(got, want)
        old = planar._coarse_mean(mean, depth, aligned=False)
        assert old.dtype == dtype and np.array_equal(old, np.clip(mean.astype(np.int64) >> e, 0, 16 * 255))
        assert np.array_equal(mean, before)


# ------------------------------------------------------------------------------- sample rules
def _deep(values: np.ndarray) -> np.ndarray:
    return values.astype(np.uint16)


@pytest.mark.parametrize(
    "make, depth, shift, replicate",
    [
        (lambda v: v << 6, 16, 6, False),  # 10-bit samples in a 16-bit container
        (lambda v: (v >> 2) * 257, 16, 8, True),  # PNG tools' 8 -> 16 bits
        (lambda v: v >> 2, 16, 0, False),  # Pillow's I;16 of an 8-bit image: small values
        (lambda v: v << 2, 12, 2, False),
        (lambda v: v * 61 + (1 << 15), 16, 0, False),  # no rule fits: coded as it stands
    ],
    ids=["shifted", "replicated", "small", "shifted12", "plain"],
)
def test_sample_rules_find_the_bits_that_carry_information(make, depth, shift, replicate) -> None:
    """Each kind of deep source is coded as the samples it really holds: in the bytes of the
    10-bit clip's own stream, plus a rule word per plane and frame (plain: far more)."""
    frames10 = _clip10()
    frames = [[_deep(make(p.astype(np.int64))) for p in planes] for planes in frames10]
    for luma, *_ in frames:  # (a flat chroma plane may have more bits to spare)
        top = int(luma.max()) >> shift
        want = sample_bits.SampleBits(shift, min(max(8, top.bit_length()), depth), replicate)
        assert sample_bits.fit(luma, depth) == want
    data = encode_planes(frames, "yuv420p16le" if depth == 16 else "yuv420p12le")
    _assert_same(_decoded(data), frames)
    ten = len(encode_planes(frames10, "yuv420p10le"))
    rule_words = 4 * 3 * len(frames)
    if make(np.array([0]))[0] == 1 << 15:  # plain: five more bits a sample, near enough
        assert sample_bits.fit(frames[0][0], depth) == sample_bits.plain(16)
        assert len(data) > ten + 5 * 48 * 36 * 1.5 * len(frames) / 8
    elif shift in (2, 6):  # the 10-bit samples themselves, shifted
        assert len(data) <= ten + rule_words
    else:
        assert len(data) < ten  # 8 bits carry it


def test_an_8_bit_plane_has_no_rule_and_an_all_zero_plane_is_all_shift() -> None:
    even = np.arange(0, 256, 2, dtype=np.uint8).reshape(8, 16)
    assert sample_bits.fit(even, 8) == sample_bits.plain(8)
    assert sample_bits.fit(np.zeros((3, 3), np.uint16), 16) == sample_bits.SampleBits(15, 8)
    assert sample_bits.fit(np.full((3, 3), 1 << 15, np.uint16), 16) == sample_bits.SampleBits(15, 8)
    assert sample_bits.fit(np.full((3, 3), 3, np.uint16), 10) == sample_bits.SampleBits(0, 8)


def test_a_stream_of_rules_round_trips_inter_frames_whose_references_hold_other_bits() -> None:
    """Frames whose rules differ (a shifted frame after a plain one, a small one after a shifted
    one): each frame's reference is brought to its own coded values, and every frame decodes."""
    frames10 = _clip10()
    kinds = [lambda v: v * 64 + 5, lambda v: v << 6, lambda v: v >> 2, lambda v: (v >> 2) * 257]
    frames = [[_deep(kinds[i % 4](p.astype(np.int64))) for p in planes] for i, planes in enumerate(frames10)]
    data = encode_planes(frames, "yuv420p16le")
    _assert_same(_decoded(data), frames)


def _rule_frame() -> tuple[bytes, list, list[planar.PlaneGeometry]]:
    """A planar payload with sample rules, its references and geometry."""
    frames = [[_deep(p.astype(np.int64) << 6) for p in planes] for planes in _clip10()[:2]]
    geometry = planar_coding.geometry(pixel_format_by_name("yuv420p16le"), 48, 36)
    candidate = planar.estimate(frames[1], [frames[0]], geometry)
    assert candidate.rules
    return planar.encode(candidate), [frames[0]], geometry


def test_damaged_rules_are_refused() -> None:
    payload, references, geometry = _rule_frame()
    word = struct.unpack_from("<I", payload)[0]
    assert word & planar.RULES_BIT
    np.testing.assert_array_equal(planar.decode(payload, references, geometry)[0] >> 6, _clip10()[1][0])
    with pytest.raises(FormatError, match="reserved bits"):
        planar.decode(payload, references, geometry, deep_samples=False)  # a version-16 stream
    with pytest.raises(FormatError, match="reserved bits"):
        planar.decode(struct.pack("<I", word | 1 << 20) + payload[4:], references, geometry)
    for bad in (0x200, 0x10 * 9 + 6, 16 * 8 + 15 | 0x100, 0x100):  # reserved, depth, replication
        damaged = payload[:4] + struct.pack("<I", bad) + payload[8:]
        with pytest.raises(FormatError, match="sample rule word"):
            planar.decode(damaged, references, geometry)
    with pytest.raises(FormatError, match="rule words"):
        planar.decode(payload[:8], references, geometry)
    with pytest.raises(FormatError, match="above 16 bits shifted by 6"):
        sample_bits.expand(np.array([1 << 10]), sample_bits.SampleBits(6, 11), 16)


@pytest.mark.parametrize("fmt_name, format_id", [("yuv420p16le", 20), ("gbrp10le", 25)])
def test_deep_formats_need_version_17(fmt_name: str, format_id: int) -> None:
    """Formats 15-28 are version 17's, 10- and 12-bit planar RGB included."""
    planes = _clip10()[0]
    if fmt_name == "gbrp10le":  # green, blue, red of one size
        luma = planes[0]
        frames = [[luma, np.roll(luma, 1, axis=1), np.ascontiguousarray(luma[::-1])]]
    else:
        frames = [[_deep(p.astype(np.int64) * 64 + 3) for p in planes]]
    data = bytearray(encode_planes(frames, fmt_name))
    assert data[8:10] == LATEST.to_bytes(2, "little")
    _assert_same(_decoded(bytes(data)), frames)
    data[8:10] = (16).to_bytes(2, "little")  # the preamble has no checksum
    with pytest.raises(
        FormatError, match=rf"pixel format id {format_id} \({fmt_name}\) is from format version 17"
    ):
        Decoder(io.BytesIO(bytes(data)), load_model=False)


# ------------------------------------------------------------------------------------- the CLI
def test_cli_codes_a_16_bit_gray_png_losslessly(tmp_path, capsys) -> None:
    """A 16-bit gray PNG (gray16be) is coded in its own samples, no warning, and written back
    exactly to .mkv (FFV1) and .y4m; its info names gray16le."""
    import av

    from fpcodec.codec.planar_io import plane_view

    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:21, 0:30]
    plane = np.clip(yy * 2100 + xx * 900 + rng.integers(0, 40, (21, 30)), 0, 65535).astype(np.uint16)
    src = tmp_path / "depth.png"
    with av.open(str(src), "w", format="image2", options={"update": "1"}) as cont:
        stream = cont.add_stream("png", rate=1)
        stream.width, stream.height, stream.pix_fmt = 30, 21, "gray16be"
        vf = av.VideoFrame(30, 21, "gray16be")
        plane_view(vf.planes[0], np.dtype(">u2"), 21)[:, :30] = plane
        for pkt in [*stream.encode(vf), *stream.encode()]:
            cont.mux(pkt)
    code, out, err = run_main(capsys, "encode", src, "-o", tmp_path / "d.fpc", "-q")
    assert code == 0 and "warning" not in err
    code, out, _ = run_main(capsys, "info", tmp_path / "d.fpc")
    assert code == 0 and "gray16le" in out and f"format version {LATEST}" in out
    for suffix in ("mkv", "y4m"):
        code, _, err = run_main(capsys, "decode", tmp_path / "d.fpc", "-o", tmp_path / f"d.{suffix}", "-q")
        assert code == 0, err
        fmt, frames = read_planes(tmp_path / f"d.{suffix}")
        assert fmt.name == "gray16le" and len(frames) == 1
        np.testing.assert_array_equal(frames[0][0], plane)
    # and to a 16-bit gray PNG, the same samples, without a conversion warning
    code, _, err = run_main(capsys, "decode", tmp_path / "d.fpc", "-o", tmp_path / "back.png")
    assert code == 0 and "warning" not in err, err
    fmt, frames = read_planes(tmp_path / "back.png")
    assert fmt.name == "gray16le"
    np.testing.assert_array_equal(frames[0][0], plane)


@pytest.mark.parametrize("output", ["g.apng", "g.png", "g_%02d.png"])
def test_8_bit_gray_video_decodes_to_gray_png_exactly(tmp_path, capsys, output: str) -> None:
    """A gray video's frames go to (A)PNG, or a PNG sequence, as gray PNG: every sample, no
    conversion warning (RGB outputs such as .webp still convert, and say so)."""
    from PIL import Image

    rng = np.random.default_rng(5)
    frames = [[np.clip(rng.normal(120, 40, (19, 27)), 0, 255).astype(np.uint8)] for _ in range(3)]
    (tmp_path / "g.fpc").write_bytes(encode_planes(frames, "gray"))
    code, _, err = run_main(capsys, "decode", tmp_path / "g.fpc", "-o", tmp_path / output)
    assert code == 0 and "conversion" not in err, err
    if "%" in output:
        got = [np.array(Image.open(tmp_path / (output % k))) for k in range(3)]
        assert Image.open(tmp_path / (output % 0)).mode == "L"
    else:
        fmt, planes = read_planes(tmp_path / output)
        assert fmt.name == "gray"
        got = [p[0] for p in planes]
    assert len(got) == 3
    for g, (want,) in zip(got, frames, strict=True):
        np.testing.assert_array_equal(g, want)
    code, _, err = run_main(capsys, "decode", tmp_path / "g.fpc", "-o", tmp_path / "g.webp")
    assert code == 0 and "conversion to RGB" in err


def test_cli_refuses_gray14_to_y4m_in_one_line(tmp_path, capsys) -> None:
    fmt = pixel_format_by_name("gray14le")
    frames = [[np.full((4, 5), 9000, np.uint16)]]
    src = tmp_path / "g14.mkv"
    from fractions import Fraction

    from fpcodec.codec.planar_io import write_ffv1_mkv

    write_ffv1_mkv(src, fmt, ColourInfo(), 5, 4, Fraction(25), frames)
    assert run_main(capsys, "encode", src, "-o", tmp_path / "g.fpc", "-q")[0] == 0
    code, _, err = run_main(capsys, "decode", tmp_path / "g.fpc", "-o", tmp_path / "g.y4m", "-q")
    assert code != 0 and "gray14le" in err and ".mkv" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "g.y4m").exists()
    assert run_main(capsys, "decode", tmp_path / "g.fpc", "-o", tmp_path / "g.mkv", "-q")[0] == 0
    np.testing.assert_array_equal(read_planes(tmp_path / "g.mkv")[1][0][0], frames[0][0])


# ------------------------------------------------------------------------------- planar RGB
def _rgb8() -> list[np.ndarray]:
    """bikes (64x48, 8 frames) as 8-bit RGB frames."""
    import av

    with av.open(str(DATA / "bikes_yuv420p_64x48.mkv")) as cont:
        return [f.to_ndarray(format="rgb24", threads=1) for f in cont.decode(video=0)]


def _gbr(frame: np.ndarray) -> list[np.ndarray]:
    """A packed (H, W, C) frame's planes green, blue, red (, alpha)."""
    return [np.ascontiguousarray(frame[:, :, c]) for c in (1, 2, 0, 3)[: frame.shape[2]]]


def test_16_bit_rgb_of_8_bit_samples_costs_what_the_8_bit_frames_cost() -> None:
    """8-bit RGB made 16-bit by replication (x257, as PNG tools do) is coded at 8 bits, blue and
    red less green: in the bytes of the 8-bit frames as RGB planes (version 16's rule, the same
    transform) and a rule word per plane and frame."""
    from fpcodec.codec.pipeline import encode

    frames8 = _rgb8()
    frames = [_gbr(f.astype(np.uint16) * 257) for f in frames8]
    data = encode_planes(frames, "gbrp16le")
    _assert_same(_decoded(data), frames)
    eight = encode(frames8, planes=True, durations=[40] * len(frames8))
    assert len(data) <= len(eight) + 4 * 3 * len(frames) + 16, (len(data), len(eight))


def test_16_bit_rgba_with_real_low_bits_round_trips_and_is_decorrelated() -> None:
    """Planar RGBA of 16 bits whose low bits are neither zero nor copies (bikes scaled to 40x30 by
    swscale into rgba64le): exact, blue and red coded less green (smaller than the same planes
    coded as three gray planes, no transform), alpha a plane of its own."""
    import av

    rng = np.random.default_rng(11)
    frames = []
    for f in _rgb8()[:4]:
        deep = av.VideoFrame.from_ndarray(f, format="rgb24").reformat(
            40, 30, "rgb48le", interpolation="BICUBIC", threads=1
        )
        rgb = np.frombuffer(deep.planes[0], "<u2").reshape(30, -1)[:, :120].reshape(30, 40, 3)
        alpha = np.full((30, 40), 40000, np.uint16) + rng.integers(0, 4, (30, 40), dtype=np.uint16)
        frames.append(_gbr(np.dstack([rgb, alpha])))
    assert sample_bits.fit(frames[0][0], 16).shift == 0  # real low bits
    data = encode_planes(frames, "gbrap16le")
    _assert_same(_decoded(data), frames)
    as_gray = sum(len(encode_planes([[p[k]] for p in frames], "gray16le")) for k in range(3))
    assert len(data) < as_gray, (len(data), as_gray)


def test_green_and_the_planes_less_green_share_one_rule() -> None:
    frames = [_gbr(f.astype(np.uint16) << 8) for f in _rgb8()[:2]]
    geometry = planar_coding.geometry(pixel_format_by_name("gbrp16le"), 64, 48)
    assert [g.less_green for g in geometry] == [False, True, True]
    candidate = planar.estimate(frames[0], [], geometry)
    assert candidate.rules == (sample_bits.SampleBits(8, 8),) * 3
    payload = planar.encode(candidate)
    _assert_same([planar.decode(payload, [], geometry)], [frames[0]])
    other = sample_bits.SampleBits(7, 9).word()
    damaged = payload[:8] + struct.pack("<I", other) + payload[12:]
    with pytest.raises(FormatError, match="differ for green"):
        planar.decode(damaged, [], geometry)


# ------------------------------------------------------------------------ compiled decoding
@pytest.mark.parametrize("depth", [10, 14, 16])
@pytest.mark.parametrize("runs", [1, 2])
def test_deeper_raster_planes_decode_alike_compiled_and_in_python_steps(monkeypatch, depth, runs) -> None:
    """A deeper raster plane is decoded by one compiled call (``planar_kernel``'s
    ``_decode_deep_wavefront``; in two substreams side by side on threads) and by the Python step
    per wavefront: the same samples, which are the frame's."""
    monkeypatch.setattr(planar, "SUBSTREAMS", runs)
    monkeypatch.setattr(planar, "SUBSTREAM_SAMPLES", 0)
    monkeypatch.setattr(planar, "INTRA_SUBSTREAM_SAMPLES", 0)
    name = {10: "yuv420p10le", 14: "yuv420p14le", 16: "yuv420p16le"}[depth]
    frames = [[(p.astype(np.int64) << (depth - 10)) + (p & 3) for p in planes] for planes in _clip10()[:3]]
    frames = [[p.astype(np.uint16) for p in planes] for planes in frames]
    geometry = planar_coding.geometry(pixel_format_by_name(name), 48, 36)
    history: list = []
    kinds = set()
    for planes in frames:
        references = history[::-1][:3]
        candidate = planar.estimate(planes, references, geometry)
        kinds.add(candidate.kind)
        payload = planar.encode(candidate)
        for compiled in (True, False):
            _assert_same([planar.decode(payload, references, geometry, compiled=compiled)], [planes])
        history.append(planes)
    assert {planar.KIND_RASTER, planar.KIND_RASTER_INTER} <= kinds


def test_version_16_deep_samples_decode_alike_compiled_and_in_python_steps() -> None:
    from fpcodec.bitstream.profile import FormatProfile

    data = (DATA / "v16_planar10.fpc").read_bytes()
    v16 = FormatProfile.for_version(16)
    records = list(Decoder(io.BytesIO(data), load_model=False).records())
    geometry = planar_coding.geometry(pixel_format_by_name("yuv420p10le"), 48, 36)
    history: list = []
    for rec, planes in zip(records, _clip10(), strict=True):
        references = history[::-1][:3]
        for compiled in (True, False):
            got = planar.decode(
                rec.payload, references, geometry, *(v16.error_levels, v16.refinement, v16.field_coding),
                compiled=compiled, substreams=True, deep_samples=False,
            )  # fmt: skip
            _assert_same([got], [planes])
        history.append(planes)


@pytest.mark.parametrize("depth", [9, 10, 12, 14, 16])
def test_compiled_deep_encoding_writes_the_python_steps_words(depth) -> None:
    """``range_encoder``'s wavefronts of deeper samples (top bits, then low bits, wavefront by
    wavefront) write the words of ``planar._encode_batch`` called per wavefront, with whole-row
    wavefronts (scales too wide for a window) among them and samples at both ends of the range."""
    from fpcodec.bitstream import entropy

    rng = np.random.default_rng(depth)
    top = (1 << depth) - 1
    sizes = [1, 7, 40, 3, 200]
    values = rng.integers(0, top + 1, sum(sizes))
    values[:3] = [0, top, top]
    mean = np.clip(16 * values + rng.integers(-900, 900, values.size), 0, 16 * top)
    scale = rng.integers(0, planar.SCALES, values.size)
    scale[8:48] = planar.SCALES - 1  # a whole-row wavefront
    starts = np.cumsum([0, *sizes])
    python = entropy.FrameEncoder(compiled=True)
    for s0, s1 in zip(starts[:-1], starts[1:], strict=True):
        planar._encode_batch(python, values[s0:s1], mean[s0:s1], scale[s0:s1], depth, single=True)
    compiled = entropy.FrameEncoder(compiled=True)
    coarse, coarse_mean, low = planar._split(values, mean, depth)
    compiled.ranges.encode_wavefronts(coarse, coarse_mean, scale, starts, low, planar._low_parts(depth))
    assert compiled.finish() == python.finish()


@pytest.mark.parametrize("depth", [9, 10, 12, 14, 16])
def test_the_compiled_low_bits_cost_is_the_numpy_one(depth: int) -> None:
    """The encoder's estimate of deeper samples' low bits (``planar_kernel.low_bits``, one row at
    a time) sums what its numpy reference sums from whole rows, to rounding, over every scale,
    the end values 0 and the top (tails) and means far off."""
    rng = np.random.default_rng(depth)
    n = 5000
    flat = rng.integers(0, 1 << depth, 2 * n).astype(np.uint16)
    flat[:50] = 0
    flat[50:100] = (1 << depth) - 1
    targets = rng.permutation(2 * n)[:n]
    mean = np.clip(
        16 * flat[targets].astype(np.int64) + rng.integers(-900, 900, n) * (1 << (depth - 8)), 0, None
    )
    ctx = rng.integers(0, 106, n)
    table = rng.integers(0, 64, 106)
    params = [(targets[:1234], mean[:1234], ctx[:1234]), (targets[1234:], mean[1234:], ctx[1234:])]
    want = planar._low_bits_reference(flat, params, table, depth)
    got = planar._low_bits(flat, params, table, depth)
    assert want > n and got == pytest.approx(want, rel=1e-12)
    assert planar._low_bits(flat.astype(np.uint8), params, table, 8) == 0.0
