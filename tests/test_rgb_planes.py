"""RGB and RGBA frames coded as planes (format version 16, pixel formats 13 and 14): green,
blue - green, red - green (and alpha)."""

from __future__ import annotations

import io
import itertools

import numpy as np
import pytest
from PIL import Image

from conftest import DATA, assert_frames_equal, read_video, run_main
from fpcodec.bitstream.profile import LATEST
from fpcodec.bitstream.errors import FormatError, InputError
from fpcodec.codec import Decoder, decode, encode
from fpcodec.codec import rgb_planes
from fpcodec.codec.batch import discovery
from fpcodec.codec.batch.work import Options, Worker
from fpcodec.codec.pipeline import Encoder
from fpcodec.codec.planar_io import (
    PLANES_FOR_CHANNELS,
    RGB_PLANES,
    RGBA_PLANES,
    ColourInfo,
    pixel_format_by_name,
)
from fpcodec.models import registry


def _smooth_clip(frames: int = 4, height: int = 40, width: int = 56) -> list[np.ndarray]:
    """A clip of many colours that moves: smooth colour gradients with a little noise, shifted one
    pixel a frame (what natural RGB footage is like, and what the RGB modes code poorly)."""
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0 : height + frames, 0 : width + frames].astype(np.float64)
    base = np.stack(
        [128 + 90 * np.sin(x / 9 + y / 13), 128 + 80 * np.cos(y / 7), 128 + 70 * np.sin((x - y) / 11)],
        axis=-1,
    )
    base += rng.normal(0, 2.0, base.shape)
    big = np.clip(np.rint(base), 0, 255).astype(np.uint8)
    return [np.ascontiguousarray(big[t : t + height, t : t + width]) for t in range(frames)]


def _planes_stream(frames: list[np.ndarray], colour: ColourInfo | None = None) -> bytes:
    h, w, c = frames[0].shape
    buf = io.BytesIO()
    with Encoder(
        buf,
        width=w,
        height=h,
        channels=c,
        model=registry.PLANAR_MODEL,
        pixel_format=PLANES_FOR_CHANNELS[c],
        colour=colour,
    ) as enc:
        for f in frames:
            enc.write(f, 4)
    return buf.getvalue()


def _save_apng(path, frames: list[np.ndarray], mode: str = "RGB") -> None:
    images = [Image.fromarray(f, mode) for f in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=40, loop=0, format="PNG")


# -------------------------------------------------------------------------------- the transform
def test_the_transform_is_a_bijection_on_every_pair_of_samples() -> None:
    """Every (green, blue) and (green, red) pair of 8-bit samples, wrapping at both ends, comes back."""
    g, b = np.meshgrid(np.arange(256, dtype=np.uint8), np.arange(256, dtype=np.uint8), indexing="ij")
    frame = np.stack([b[::-1], g, b], axis=-1)
    planes = rgb_planes.to_planes(frame)
    assert [p.dtype for p in planes] == [np.uint8] * 3 and all(p.flags.c_contiguous for p in planes)
    assert np.array_equal(planes[0], g)
    assert np.array_equal(planes[1], ((b.astype(int) - g + 128) % 256).astype(np.uint8))
    assert np.array_equal(planes[2], ((b[::-1].astype(int) - g + 128) % 256).astype(np.uint8))
    assert np.array_equal(rgb_planes.to_rgb(planes), frame)
    grey = np.full((2, 3, 3), 77, np.uint8)  # grey: both differences sit at 128
    assert [int(p[0, 0]) for p in rgb_planes.to_planes(grey)] == [77, 128, 128]
    rgba = np.dstack([frame, g[::-1]])  # alpha: a fourth plane, as it is
    planes = rgb_planes.to_planes(rgba)
    assert len(planes) == 4 and np.array_equal(planes[3], g[::-1])
    assert np.array_equal(rgb_planes.to_rgb(planes), rgba)


def test_which_sources_are_coded_as_planes() -> None:
    many = _smooth_clip(1)[0]
    assert rgb_planes.many_colours(many)
    few = np.zeros((17, 16, 3), np.uint8)
    few[:16, :, 0] = np.arange(256, dtype=np.uint8).reshape(16, 16)  # exactly 256 colours
    assert not rgb_planes.many_colours(few)
    few[16, 0, 1] = 1
    assert rgb_planes.many_colours(few)
    # Read in blocks: 256 colours spread over several blocks, and a 257th in the last one.
    big = np.zeros((400, 500, 3), np.uint8)
    big.reshape(-1, 3)[::700, 2] = np.arange(286) % 256  # 286 pixels, one every 700: colours 0..255
    assert not rgb_planes.many_colours(big)
    big[-1, -1] = (9, 9, 9)
    assert rgb_planes.many_colours(big)
    assert rgb_planes.codes_as_planes([many], 3, is_gif=False)
    assert not rgb_planes.codes_as_planes([many], 3, is_gif=True)  # a GIF's frames are palettes
    assert rgb_planes.codes_as_planes([np.dstack([many, many[:, :, :1]])], 4, is_gif=False)  # alpha: 4 planes
    black = np.zeros(many.shape, np.uint8)
    assert not rgb_planes.codes_as_planes([black], 3, is_gif=False)
    assert not rgb_planes.codes_as_planes([], 3, is_gif=False)
    # A fade from black: the first frames with many colours decide, within PEEK_FRAMES frames ...
    peek = rgb_planes.PEEK_FRAMES
    assert rgb_planes.codes_as_planes([black] * (peek - 1) + [many], 3, is_gif=False)
    read = []
    assert not rgb_planes.codes_as_planes((read.append(1) or f for f in [black] * peek + [many]), 3, False)
    assert len(read) == peek  # the frame after them not even decoded
    # ... and PEEK_PIXELS pixels (but the first frame is always read), reading no frame more.
    huge = np.zeros((1, rgb_planes.PEEK_PIXELS + 1, 3), np.uint8)  # calloc'd: untouched pages cost nothing
    huge[0, :300, 0] = np.arange(300) % 256
    huge[0, :300, 1] = np.arange(300) // 256
    assert rgb_planes.codes_as_planes([huge], 3, is_gif=False)
    read.clear()
    assert not rgb_planes.codes_as_planes((read.append(1) or f for f in [black, huge, many]), 3, False)
    assert len(read) == 2  # the second frame would pass the bound: not looked at, the third not read
    assert pixel_format_by_name("rgb24") is None  # an RGB video is read as RGB frames, not natively


# ------------------------------------------------------------------------------ stream and coder
def test_planes_round_trip_and_code_smaller_than_the_rgb_modes() -> None:
    frames = _smooth_clip()
    data = _planes_stream(frames)
    assert data[8:10] == LATEST.to_bytes(2, "little")
    video = decode(data)
    assert_frames_equal(video.frames, frames)
    assert video.durations == [4] * len(frames) and video.model == "last-frame"
    dec = Decoder(io.BytesIO(data), load_model=False)
    assert dec.pixel_format is None and dec.plane_format is RGB_PLANES and dec.colour is None
    rgb_modes = encode(frames, model="last-frame", durations=[4] * len(frames))
    assert len(data) < 0.9 * len(rgb_modes), (len(data), len(rgb_modes))


def test_encode_planes_is_the_encoders_planes_stream() -> None:
    """``encode(frames, planes=True)``, the API the benchmarks use, writes what the Encoder with an
    RGB(A) planes format writes; it has no learned model, and planes need RGB or RGBA frames."""
    frames = _smooth_clip(3)
    data = encode(frames, durations=[4] * 3, planes=True)
    dec = Decoder(io.BytesIO(data), load_model=False)
    assert dec.plane_format is RGB_PLANES and dec.header.frame_count == 3
    assert_frames_equal(decode(data).frames, frames)
    rgba = [np.dstack([f, f[:, :, 1]]) for f in frames]
    assert Decoder(io.BytesIO(encode(rgba, planes=True)), load_model=False).plane_format is RGBA_PLANES
    with pytest.raises(InputError, match="record 'last-frame', not 'conv2d'"):
        encode(frames, planes=True, model="conv2d")
    with pytest.raises(InputError, match="not 1 channels"):
        encode([f[:, :, :1] for f in frames], planes=True)


def test_planes_stream_repeats_and_odd_sizes() -> None:
    rng = np.random.default_rng(3)
    for (h, w), c in itertools.product(((1, 1), (1, 7), (5, 1), (3, 5)), (3, 4)):
        frame = rng.integers(0, 256, (h, w, c), dtype=np.uint8)
        frames = [frame, frame, rng.integers(0, 256, (h, w, c), dtype=np.uint8), frame]
        assert_frames_equal(decode(_planes_stream(frames)).frames, frames)


def test_rgba_planes_round_trip_and_code_smaller_than_the_rgb_modes() -> None:
    frames = [np.dstack([f, f[:, :, 0] // 2 + 100]) for f in _smooth_clip()]  # alpha that varies
    data = _planes_stream(frames)
    assert_frames_equal(decode(data).frames, frames)
    dec = Decoder(io.BytesIO(data), load_model=False)
    assert dec.plane_format is RGBA_PLANES and dec.header.channels == 4 and dec.pixel_format is None
    assert len(data) < 0.9 * len(encode(frames, model="last-frame", durations=[4] * len(frames)))


def test_planes_need_version_16_and_no_colour_tags() -> None:
    data = bytearray(_planes_stream(_smooth_clip(2)))
    data[8:10] = (15).to_bytes(2, "little")  # the preamble has no checksum
    with pytest.raises(FormatError, match=r"pixel format id 13 .* version 16, the stream is version 15"):
        Decoder(io.BytesIO(bytes(data)), load_model=False)
    tagged = _planes_stream(_smooth_clip(1), colour=ColourInfo(color_range=2))
    with pytest.raises(FormatError, match="rgb24 with colour tags"):
        Decoder(io.BytesIO(tagged), load_model=False)


def test_a_damaged_planes_stream_is_refused() -> None:
    data = bytearray(_planes_stream(_smooth_clip(2)))
    data[len(data) // 2] ^= 0x10
    with pytest.raises(FormatError):
        decode(bytes(data))


def test_version_15_streams_still_decode() -> None:
    """tests/data/v15_screen.fpc: the version-15 encoder (commit 41c7c82, ``fpcodec encode -m
    last-frame``) on jmeter_url_rewrite.gif, a palette LZ frame (mode 8)."""
    data = (DATA / "v15_screen.fpc").read_bytes()
    assert data[8:10] == (15).to_bytes(2, "little")
    records = [rec for rec, _, _ in Decoder(io.BytesIO(data), load_model=False).frame_records()]
    assert [rec.mode for rec in records] == [8]
    frames = read_video(DATA / "jmeter_url_rewrite.gif")[0]
    assert_frames_equal(decode(data).frames, frames)


# ----------------------------------------------------------------------------------------- CLI
def test_cli_codes_an_rgb_source_of_many_colours_as_planes(tmp_path, capsys) -> None:
    frames = _smooth_clip()
    src = tmp_path / "clip.apng"
    _save_apng(src, frames)
    code, out, _ = run_main(capsys, "encode", src, "-o", tmp_path / "p.fpc")
    assert code == 0 and "RGB as planes" in out
    with open(tmp_path / "p.fpc", "rb") as fh:
        dec = Decoder(fh, load_model=False)
        assert dec.plane_format is RGB_PLANES
    assert run_main(capsys, "decode", tmp_path / "p.fpc", "-o", tmp_path / "back.apng")[0] == 0
    assert_frames_equal(read_video(tmp_path / "back.apng")[0], frames)
    assert run_main(capsys, "decode", tmp_path / "p.fpc", "-o", tmp_path / "back.mkv")[0] == 0  # FFV1 in RGB
    assert_frames_equal(read_video(tmp_path / "back.mkv")[0], frames)
    code, out, _ = run_main(capsys, "info", tmp_path / "p.fpc")
    assert code == 0 and "RGB (coded as planes: green, blue and red less green)" in out
    # A model named, or --rgb: the RGB modes, as before version 16.
    for extra in (["-m", "last-frame"], ["--rgb", "-m", "last-frame"]):
        out = tmp_path / f"m{len(extra)}.fpc"
        assert run_main(capsys, "encode", src, "-o", out, "-q", *extra)[0] == 0
        with open(out, "rb") as fh:
            dec = Decoder(fh, load_model=False)
            assert dec.plane_format is None
        assert_frames_equal(decode(out.read_bytes()).frames, frames)


def test_cli_codes_a_fade_from_black_as_planes(tmp_path, capsys) -> None:
    """A source whose first frames have few colours (black, then a fade) and then many is coded as
    planes: one of its first frames decides, not the first alone; the frames peeked at are coded
    from memory, exactly."""
    frames = _smooth_clip(3)
    fade = [np.zeros_like(frames[0]), frames[0] // 64 * 16] + frames
    src = tmp_path / "fade.apng"
    _save_apng(src, fade)
    assert not rgb_planes.many_colours(fade[0]) and not rgb_planes.many_colours(fade[1])
    out = tmp_path / "fade.fpc"
    code, text, _ = run_main(capsys, "encode", src, "-o", out)
    assert code == 0 and "RGB as planes" in text
    with open(out, "rb") as fh:
        assert Decoder(fh, load_model=False).plane_format is RGB_PLANES
    assert_frames_equal(decode(out.read_bytes()).frames, fade)


def test_cli_codes_few_colours_by_palettes_and_rgba_as_four_planes(tmp_path, capsys) -> None:
    frames = _smooth_clip(2)
    few = [f // 64 * 64 for f in frames]  # 64 colours: palette frames
    alpha = [np.dstack([f, np.full(f.shape[:2], 200, np.uint8)]) for f in frames]
    for name, clip, mode, planes in (("few", few, "RGB", None), ("alpha", alpha, "RGBA", RGBA_PLANES)):
        src = tmp_path / f"{name}.apng"
        _save_apng(src, clip, mode)
        out = tmp_path / f"{name}.fpc"
        assert run_main(capsys, "encode", src, "-o", out, "-q", "-y") == (0, "", "")
        with open(out, "rb") as fh:
            dec = Decoder(fh, load_model=False)
            assert dec.plane_format is planes, name
        assert_frames_equal(decode(out.read_bytes()).frames, clip)
    code, out, _ = run_main(capsys, "info", tmp_path / "alpha.fpc")
    assert code == 0 and "RGBA (coded as planes: green, blue and red less green, alpha)" in out


# --------------------------------------------------------------------------------------- batch
def test_batch_codes_and_verifies_an_rgb_source_as_planes(tmp_path) -> None:
    frames = _smooth_clip(3)
    src = tmp_path / "lib" / "clip.apng"
    src.parent.mkdir()
    _save_apng(src, frames)
    worker = Worker(Options(threads=None))
    rec = worker.encode(discovery.Job(str(src), "clip.apng.fpc"), str(tmp_path / "out"))
    assert rec["status"] == "ok" and rec["verified"] and rec["model"] == "last-frame", rec
    assert rec["format_version"] == LATEST and "pixel_format" not in rec and rec["channels"] == 3
    stream = tmp_path / "out" / "clip.apng.fpc"
    with open(stream, "rb") as fh:
        dec = Decoder(fh, load_model=False)
        assert dec.plane_format is RGB_PLANES
    assert worker.verify(rec, str(tmp_path / "out"))["status"] == "ok"
    again = worker.encode(discovery.Job(str(src), "clip.apng.fpc"), str(tmp_path / "out"))
    assert again["status"] == "ok" and again["adopted"], again
    back = worker.decode(discovery.Job(str(stream), "clip.apng"), str(tmp_path / "dec"))
    assert back["status"] == "ok" and back["verified"], back.get("error")
    # --rgb: the RGB modes with -m's predictor.
    rgb = Worker(Options(model="last-frame", threads=None, rgb=True))
    rec = rgb.encode(discovery.Job(str(src), "r.fpc"), str(tmp_path / "out"))
    with open(tmp_path / "out" / "r.fpc", "rb") as fh:
        dec = Decoder(fh, load_model=False)
        assert rec["status"] == "ok" and dec.plane_format is None
