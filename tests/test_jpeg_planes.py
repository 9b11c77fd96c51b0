"""Planar frames of JPEG levels (kind 4, format version 19): FFmpeg's IDCT integer for integer,
the steps found again, exact round trips of Motion JPEG, exceptions, and refusals."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import DATA, assert_planar_fixture_decodes

from fpcodec.bitstream import entropy
from fpcodec.bitstream.errors import FormatError, WeightsError
from fpcodec.bitstream.profile import FormatProfile
from fpcodec.codec import dct_coding, jpeg_blocks, planar_coding
from fpcodec.codec.cli import main
from fpcodec.codec.modes import planar
from fpcodec.codec.modes.base import MODE_PLANAR
from fpcodec.codec.pipeline import Decoder
from fpcodec.codec.planar_io import pixel_format_by_name
from fpcodec.models.training import jpeg_priors


def _mjpeg(path: Path, width: int, height: int, frames: int, pix_fmt: str, qscale: int = 4) -> Path:
    """A Motion JPEG clip made by FFmpeg's encoder at a fixed qscale: moving stripes and noise."""
    out = av.open(str(path), "w")
    stream = out.add_stream("mjpeg", rate=10)
    stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
    stream.codec_context.flags |= av.codec.context.Flags.qscale
    stream.codec_context.global_quality = qscale * 118  # FF_QP2LAMBDA
    yy, xx = np.mgrid[0:height, 0:width]
    rng = np.random.default_rng(1)
    for i in range(frames):
        rgb = np.stack(
            [
                128 + 100 * np.sin((xx + 2 * i) / 7.0) * np.cos(yy / 5.0),
                xx * 255 // width,
                (yy * 255 // height + 3 * i) % 256,
            ],
            -1,
        )
        rgb = np.clip(rgb + rng.normal(0, 3, rgb.shape), 0, 255).astype(np.uint8)
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=pix_fmt, threads=1)
        frame.pts = i
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
    out.close()
    return path


def _planes(path: Path) -> list[list[np.ndarray]]:
    with av.open(str(path)) as container:
        return [
            [
                np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, : p.width].copy()
                for p in frame.planes
            ]
            for frame in container.decode(video=0)
        ]


def _quant_tables(jpeg: bytes) -> list[np.ndarray]:
    """Each component's DQT table (zigzag order, as stored) of a baseline JPEG."""
    tables, components, i = {}, [], 2
    while jpeg[i + 1] != 0xDA:
        length = int.from_bytes(jpeg[i + 2 : i + 4], "big")
        segment = jpeg[i + 4 : i + 2 + length]
        if jpeg[i + 1] == 0xDB:
            j = 0
            while j < len(segment):
                tables[segment[j] & 15] = np.frombuffer(segment[j + 1 : j + 65], np.uint8).astype(np.int64)
                j += 65
        elif jpeg[i + 1] == 0xC0:
            components = [segment[6 + 3 * c + 2] for c in range(segment[5])]
        i += 2 + length
    return [tables[c] for c in components]


@pytest.fixture(scope="module")
def mjpeg420(tmp_path_factory) -> Path:
    return _mjpeg(tmp_path_factory.mktemp("mjpeg") / "clip420.avi", 128, 96, 3, "yuvj420p")


def test_steps_and_levels_rebuild_ffmpegs_frames(mjpeg420):
    """The steps found are the clip's DQT tables, and FFmpeg's IDCT of the levels is its decoder's
    output, sample for sample (the exceptions at most 1 %)."""
    with av.open(str(mjpeg420)) as container:
        stream = container.streams.video[0]
        for packet in container.demux(stream):
            if not packet.size:
                continue
            tables = _quant_tables(bytes(packet))
            (frame,) = packet.decode()
            for p, table in zip(frame.planes, tables, strict=True):
                plane = np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, : p.width].copy()
                fit = jpeg_blocks.fit(plane)
                assert fit is not None
                # Where few levels are nonzero a multiple of the step may describe them as well
                # (the same coefficients): the DC step and the step of most levels are the table's.
                assert fit.steps[0] == table[0]
                busiest = np.argmax(np.count_nonzero(fit.levels.reshape(-1, 64)[:, 1:], axis=0)) + 1
                assert fit.steps[busiest] == table[busiest]
                assert fit.misses.size <= 0.01 * plane.size
                rebuilt = jpeg_blocks.unblocks(jpeg_blocks.rebuild(fit.levels, fit.steps), *plane.shape)
                assert np.count_nonzero(rebuilt != plane) == fit.misses.size


def test_integer_levels_match_the_encoders_levels(mjpeg420):
    """The decoder's integer DCT (the previous frame's levels, a context) gives the levels the
    encoder found, nearly everywhere."""
    plane = _planes(mjpeg420)[0][0]
    fit = jpeg_blocks.fit(plane)
    levels = jpeg_blocks.integer_levels(jpeg_blocks.blocks(plane), fit.steps)
    assert np.mean(levels == fit.levels) > 0.999


def test_natural_planes_are_not_taken_for_jpeg():
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:96, 0:128]
    smooth = (128 + 60 * np.sin(xx / 9.0) + 40 * np.cos(yy / 13.0) + rng.normal(0, 2, xx.shape)).clip(0, 255)
    assert jpeg_blocks.fit(smooth.astype(np.uint8)) is None
    assert jpeg_blocks.fit(rng.integers(0, 256, (64, 64), dtype=np.uint8)) is None
    assert dct_coding.fit_frame([smooth.astype(np.uint8)]) is None


@pytest.mark.parametrize("previous", [False, True])
def test_planes_round_trip_with_exceptions(mjpeg420, previous):
    """Samples that the levels do not rebuild (here: changed after decoding) come back as
    exceptions; with and without the previous frame's levels as context."""
    frames = _planes(mjpeg420)
    planes = [p.copy() for p in frames[1]]
    planes[0][5, 7] ^= 0x55
    planes[0][40:43, 100] = 0
    planes[2][-1, -1] = 255 - planes[2][-1, -1]
    codes = dct_coding.fit_frame(planes)
    assert codes is not None and codes[0].fit.misses.size >= 4
    enc = entropy.FrameEncoder(compiled=True)
    before = frames[0] if previous else None
    dct_coding.encode_planes(enc, codes, before)
    dec = entropy.FrameDecoder(enc.finish(), compiled=True)
    out = dct_coding.decode_planes(dec, [p.shape for p in planes], before)
    for a, b in zip(out, planes, strict=True):
        np.testing.assert_array_equal(a, b)


def _cli_round_trip(source: Path, stream: Path) -> list[int]:
    """``fpcodec encode`` of ``source`` to ``stream`` and ``decode`` to Matroska, the frames
    compared sample for sample with FFmpeg's decoding of ``source``; each planar frame's kind."""
    assert main(["encode", str(source), "-o", str(stream), "-q"]) == 0
    decoded = stream.with_suffix(".mkv")
    assert main(["decode", str(stream), "-o", str(decoded), "-q"]) == 0
    for got, want in zip(_planes(decoded), _planes(source), strict=True):
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b)
    with open(stream, "rb") as f:
        records = list(Decoder(f, load_model=False).records())
    return [struct.unpack_from("<I", r.payload)[0] & 0xFF for r in records if r.mode == MODE_PLANAR]


@pytest.mark.parametrize(("size", "pix_fmt"), [((128, 96), "yuvj420p"), ((96, 64), "yuvj422p")])
def test_motion_jpeg_round_trip_through_the_cli(tmp_path, size, pix_fmt):
    """A Motion JPEG clip codes as JPEG levels, decodes to the decoder's samples exactly, and is
    smaller so than coded as samples."""
    clip = _mjpeg(tmp_path / "clip.avi", *size, 3, pix_fmt)
    assert _cli_round_trip(clip, tmp_path / "a.fpc").count(planar.KIND_JPEG) >= 2
    with planar_coding.without_tools("jpeg_levels"):
        assert main(["encode", str(clip), "-o", str(tmp_path / "b.fpc"), "-q"]) == 0
    assert (tmp_path / "a.fpc").stat().st_size < 0.8 * (tmp_path / "b.fpc").stat().st_size


def test_kind_4_is_refused_before_version_19_and_in_deep_streams(mjpeg420):
    planes = _planes(mjpeg420)[0]
    geometry = planar_coding.geometry(*_geometry_args(planes))
    mode, payload = planar_coding.encode_frame(planes, [], geometry)
    assert mode == MODE_PLANAR and struct.unpack_from("<I", payload)[0] == planar.KIND_JPEG
    out = planar_coding.decode_frame(mode, payload, [], geometry)
    assert all(np.array_equal(a, b) for a, b in zip(out, planes, strict=True))
    with pytest.raises(FormatError, match="kind 4"):
        planar_coding.decode_frame(mode, payload, [], geometry, FormatProfile.for_version(18))
    deep = planar_coding.geometry(pixel_format_by_name("yuv420p10le"), *_geometry_args(planes)[1:])
    with pytest.raises(FormatError, match="kind 4 .* deeper than 8 bits"):
        planar_coding.decode_frame(mode, payload, [], deep)


def test_damaged_levels_are_refused_or_differ(mjpeg420):
    """A damaged payload raises FormatError or gives other planes (the frame CRC's job), never
    an exception of another kind."""
    planes = _planes(mjpeg420)[0]
    geometry = planar_coding.geometry(*_geometry_args(planes))
    _, payload = planar_coding.encode_frame(planes, [], geometry)
    rng = np.random.default_rng(0)
    for _ in range(20):
        bad = bytearray(payload)
        at = int(rng.integers(4, len(bad)))
        bad[at] ^= int(rng.integers(1, 256))
        try:
            out = planar_coding.decode_frame(MODE_PLANAR, bytes(bad), [], geometry)
        except FormatError:
            continue
        assert [p.shape for p in out] == [p.shape for p in planes]


def _geometry_args(planes: list[np.ndarray]):
    return pixel_format_by_name("yuv420p"), planes[0].shape[1], planes[0].shape[0]


def test_version_18_and_19_fixtures_decode():
    """tests/data/v18_planar.fpc (the last version without JPEG levels) and v19_jpeg.fpc (JPEG
    levels of tests/data/mjpeg_96x64.avi) decode to their clips' samples."""
    assert_planar_fixture_decodes("v18_planar.fpc", 18)
    data = assert_planar_fixture_decodes("v19_jpeg.fpc", 19, "mjpeg_96x64.avi")
    records = list(Decoder(io.BytesIO(data), load_model=False).records())
    assert [struct.unpack_from("<I", r.payload)[0] for r in records] == [planar.KIND_JPEG] * 3


def test_priors_must_be_the_formats(tmp_path, monkeypatch):
    """The trained initial counts are part of the format: another file is refused in one line."""
    from fpcodec.models import weights

    shipped = weights.shipped_path(dct_coding.PRIORS_NAME)
    changed = bytearray(shipped.read_bytes())
    changed[-1] ^= 1  # a count, not the header
    (tmp_path / "jpeg-priors.safetensors").write_bytes(bytes(changed))
    monkeypatch.setattr(weights, "WEIGHTS_DIR", tmp_path)
    dct_coding.priors.cache_clear()
    try:
        with pytest.raises(WeightsError, match="not format version 19's JPEG priors"):
            dct_coding.priors()
    finally:
        monkeypatch.undo()
        dct_coding.priors.cache_clear()
    symbols, bits = dct_coding.priors()
    assert symbols.shape == (2, dct_coding.CONTEXTS, 16) and symbols.min() >= 1
    assert bits.shape == (2, dct_coding.CONTEXTS, dct_coding.EXP_BITS + 1) and bits.min() >= 1


def test_training_the_priors(tmp_path):
    """The training counts every JPEG-level frame's symbols per context and writes rows scaled to
    its row total, which load as priors would (same shapes)."""
    out = tmp_path / "p.safetensors"
    assert jpeg_priors.main([str(DATA / "mjpeg_96x64.avi"), "-o", str(out)]) == 0
    from safetensors.numpy import load_file

    tables = load_file(str(out))
    assert tables["symbols"].shape == (2, dct_coding.CONTEXTS, 16)
    sums = tables["symbols"].astype(np.int64).sum(axis=-1)
    assert np.all(np.abs(sums - jpeg_priors.ROW_TOTAL) <= 16)
    symbols, _, frames = jpeg_priors.tally([DATA / "mjpeg_96x64.avi"])
    assert frames == 3 and symbols[0, :, 0].sum() > symbols[0, :, 1:].sum()  # zero levels lead


def test_compiled_integers_match_the_numpy_reference():
    """``dct_kernel`` writes the reference's words and leaves its counts, and reads them back, for
    values of every size (escapes up to 2^20), mixed signedness and contexts."""
    rng = np.random.default_rng(0)
    for trial in range(12):
        n = int(rng.integers(1, 3000))
        values = rng.laplace(0, rng.uniform(0.2, 40), n).astype(np.int64)
        values[rng.integers(0, n, 3)] = rng.integers(-(1 << 20), 1 << 20, 3)
        ctx = rng.integers(0, dct_coding.CONTEXTS, n)
        signed = rng.random(n) < 0.8
        values = np.where(signed, values, np.abs(values))
        coded = []
        for encode in (dct_coding.encode_ints_reference, dct_coding.encode_ints):
            counts = dct_coding.Counts(trial % 2)
            enc = entropy.FrameEncoder(compiled=True)
            encode(enc, counts, values, ctx, signed)
            coded.append((enc.finish(), counts.symbols, counts.bits))
        assert coded[0][0] == coded[1][0]
        np.testing.assert_array_equal(coded[0][1], coded[1][1])
        np.testing.assert_array_equal(coded[0][2], coded[1][2])
        for decode in (dct_coding.decode_ints_reference, dct_coding.decode_ints):
            dec = entropy.FrameDecoder(coded[0][0], compiled=True)
            np.testing.assert_array_equal(decode(dec, dct_coding.Counts(trial % 2), ctx, n, signed), values)


def test_a_step_is_chosen_among_the_candidates_until_every_level_is_zero():
    """``_step`` costs the candidates only up to the first at which every level is 0: the same
    step as the argmin over all of them, and the same cost floats for the ones it costs."""
    rng = np.random.default_rng(11)
    cut = 0
    for _ in range(400):
        q = int(rng.integers(2, 256))
        scale = float(rng.choice([2.0, 6.0, 40.0, 300.0]))
        values = np.round(rng.laplace(0, scale, int(rng.integers(1, 300))) / q) * q
        values += rng.normal(0, float(rng.choice([0.3, 1.0, 3.0])), values.size)
        spread = values[np.abs(values) > jpeg_blocks.NOISE]
        if spread.size == 0:
            assert jpeg_blocks._step(values) == jpeg_blocks.MAX_STEP
            continue
        every = jpeg_blocks._costs(spread)
        assert jpeg_blocks._step(values) == int(np.argmin(every)) + 2
        k = int(rng.integers(1, every.size + 1))
        np.testing.assert_array_equal(jpeg_blocks._costs(spread, jpeg_blocks._CANDIDATES[:k]), every[:k])
        cut += int(np.abs(spread).max() < 0.5 * jpeg_blocks.MAX_STEP)
    assert cut > 50  # the trials leave candidates out often


@pytest.mark.parametrize("quality", [10, 50, 75, 90, 97])
def test_ijg_tables_are_the_ones_libjpeg_writes(tmp_path, quality):
    """``ijg_table`` gives, in zigzag order, the tables Pillow's libjpeg writes at a quality."""
    from PIL import Image

    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "q.jpg", quality=quality)
    with Image.open(tmp_path / "q.jpg") as im:
        written = im.quantization  # natural order
    for base, table in zip(jpeg_blocks.IJG_BASE, (written[0], written[1]), strict=True):
        np.testing.assert_array_equal(
            jpeg_blocks.ijg_table(base, quality), np.array(table)[jpeg_blocks.ZIGZAG]
        )


def test_an_odd_sized_jpeg_is_coded_as_its_levels(tmp_path):
    """An 85x61 libjpeg image (4:2:0: partial blocks at the right and bottom of every plane, few
    blocks for its steps) is coded as JPEG levels, smaller than the JPEG file, and decodes to its
    decoder's samples. Before edge blocks were fitted as libjpeg pads them and libjpeg's tables
    tried, its planes missed 3.1, 10.7 and 4.7 % of their samples and the frame was coded as
    samples: 2,702 bytes against the JPEG's 1,384 (874 now)."""
    from PIL import Image

    with av.open(str(DATA / "mjpeg_96x64.avi")) as container:
        rgb = next(container.decode(video=0)).to_ndarray(format="rgb24", threads=1)
    jpeg = tmp_path / "photo.jpg"
    Image.fromarray(rgb).resize((85, 61), Image.BICUBIC).save(jpeg, quality=75)
    assert _cli_round_trip(jpeg, tmp_path / "a.fpc") == [planar.KIND_JPEG]
    assert (tmp_path / "a.fpc").stat().st_size < jpeg.stat().st_size
