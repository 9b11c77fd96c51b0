"""Lossless round trips through fpcodec.codec.encode/decode and the streaming Encoder/Decoder.

Pixel-exact frames, and the stream keeps durations, loop count and time base too.
"""

from __future__ import annotations

import io
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fpcodec.bitstream.errors import FormatError, InputError, TruncatedStreamError
from fpcodec.codec import Decoder, Encoder, decode, encode

from conftest import (
    CARPHONE,
    CARPHONE_WIDE,
    ODD,
    ODD_GIFS,
    ODD_RGBA,
    assert_frames_equal,
    moving_video,
    read_video,
)


def round_trip(frames, durations=None, time_base=Fraction(1, 100), loop=None, **kw):
    data = encode(frames, durations=durations, time_base=time_base, loop=loop, **kw)
    video = decode(data)
    assert_frames_equal(video.frames, frames)
    assert video.durations == (list(durations) if durations is not None else [0] * len(frames))
    assert video.time_base == time_base and isinstance(video.time_base, Fraction)
    assert video.loop == loop
    assert video.header.frame_count == len(frames)
    assert (video.header.width, video.header.height, video.header.channels) == (
        frames[0].shape[1],
        frames[0].shape[0],
        frames[0].shape[2],
    )
    return data, video


def check_file_round_trip(path):
    frames, durations, info = read_video(path)
    assert len(frames) == info.frame_count >= 1
    data, video = round_trip(frames, durations, info.time_base, info.loop)
    return frames, durations, info, data


# ------------------------------------------------------------------------------------ real clips
def test_carphone_all_frames():
    frames, durations, info, data = check_file_round_trip(CARPHONE)
    assert len(frames) == 34 and frames[0].shape == (96, 96, 3)
    assert info.loop == 0 and durations == [4] * 34 and info.time_base == Fraction(1, 100)
    raw = sum(f.nbytes for f in frames)
    # Lossless is not enough: the codec must actually compress this clip.
    assert len(data) < raw, f"{len(data)} bytes for {raw} bytes of pixels"


def test_carphone_wide():
    frames, durations, info, data = check_file_round_trip(CARPHONE_WIDE)
    assert len(frames) == 5 and frames[0].shape == (164, 200, 3)
    assert len(data) < sum(f.nbytes for f in frames)


@pytest.mark.parametrize("name", ODD_GIFS)
def test_odd_gifs(name):
    frames, durations, info, _ = check_file_round_trip(ODD / name)
    assert info.channels == (4 if name in ODD_RGBA else 3)
    assert all(f.shape == (info.height, info.width, info.channels) for f in frames)


# ------------------------------------------------------------------------------------ synthetic
def test_palette_changes_every_frame():
    """Same index image, a different 256-colour palette on every frame: every pixel changes colour."""
    rng = np.random.default_rng(3)
    index = rng.integers(0, 256, (20, 24))
    index.ravel()[:256] = np.arange(256)  # every palette entry is used
    frames = []
    for _ in range(6):
        palette = rng.permutation(np.unique(rng.integers(0, 1 << 24, 4096)))[:256]
        colours = np.stack([(palette >> s) & 0xFF for s in (16, 8, 0)], -1).astype(np.uint8)
        frames.append(colours[index])
    assert all(len(np.unique(f.reshape(-1, 3), axis=0)) == 256 for f in frames)
    round_trip(frames, [7, 1, 0, 65535, 3, 2**32 - 1], loop=0)


def test_palette_changes_every_frame_rgba():
    rng = np.random.default_rng(4)
    index = rng.integers(0, 40, (9, 11))
    frames = []
    for i in range(5):
        colours = rng.integers(0, 256, (40, 4)).astype(np.uint8)
        colours[i % 40, 3] = 0  # one transparent colour, moving around
        frames.append(colours[index])
    round_trip(frames, [5] * 5, loop=3)


def test_more_than_256_colours_then_fewer():
    rng = np.random.default_rng(5)
    many = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    few = (rng.integers(0, 3, (32, 32, 3)) * 127).astype(np.uint8)
    round_trip([few, many, few, few.copy(), many, many // 2])


@pytest.mark.parametrize(
    "shape", [(1, 1, 3), (1, 1, 4), (1, 17, 3), (17, 1, 4), (2, 3, 3), (16, 16, 3), (17, 33, 4), (33, 17, 3)]
)
def test_small_and_odd_sizes(shape):
    rng = np.random.default_rng(sum(shape))
    frames = [rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(3)]
    frames.append(frames[-1].copy())
    round_trip(frames, [1, 2, 3, 4])


@pytest.mark.parametrize("value", [0, 1, 127, 254, 255])
@pytest.mark.parametrize("channels", [3, 4])
def test_constant_frames(value, channels):
    # Larger than the 16-px intra grid: a one-colour palette once crashed constriction here.
    f = np.full((20, 33, channels), value, np.uint8)
    round_trip([f, f.copy(), f.copy()])


def test_extreme_alternation():
    """All 0 then all 255 then back: the worst case for a last-frame predictor."""
    zero, full = np.zeros((16, 16, 4), np.uint8), np.full((16, 16, 4), 255, np.uint8)
    checker = np.where((np.indices((16, 16)).sum(0) % 2)[..., None] == 0, zero, full)
    round_trip([zero, full, zero, checker, 255 - checker, full])


@pytest.mark.parametrize(
    "time_base,loop",
    [
        (Fraction(1, 100), None),
        (Fraction(1, 100), 0),
        (Fraction(1, 1000), 1),
        (Fraction(1001, 30000), 7),
        (Fraction(1, 90000), 65535),
        (Fraction(3, 1), None),
    ],
)
def test_timing_metadata(time_base, loop):
    round_trip(moving_video(3, 10, 12), [0, 1, 1234567], time_base=time_base, loop=loop)


def test_rgba_keeps_colour_under_transparent_pixels():
    """The codec is lossless on all four channels, including RGB where alpha is 0."""
    frames = moving_video(4, 16, 20, c=4)
    rng = np.random.default_rng(0)
    for f in frames:
        f[f[..., 3] == 0, :3] = rng.integers(0, 256, 3, dtype=np.uint8)
    round_trip(frames)


def test_long_history_beyond_predictor_window():
    """More frames than the predictor's history, including a repeat of a frame far back."""
    frames = moving_video(9, 16, 24)
    frames += [frames[0].copy(), frames[4].copy()]
    round_trip(frames, list(range(len(frames))))


def test_static_video_compresses_well():
    rng = np.random.default_rng(1)
    first = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    frames = [first] + [first.copy() for _ in range(5)]
    data, _ = round_trip(frames)
    intra_only = len(encode([first]))
    first_two = len(encode(frames[:2]))
    # Once the predictor has two identical frames of history, a repeat costs next to nothing
    # (the chunk framing plus a word or two of payload).
    assert len(data) - first_two < 4 * 40, (len(data), first_two, intra_only)
    assert len(data) < 2 * intra_only


def test_encode_accepts_generators_and_non_contiguous_frames():
    frames = moving_video(3, 8, 10)
    fortran = [np.asfortranarray(f) for f in frames]
    sliced = [np.pad(f, ((0, 0), (0, 0), (0, 1)))[..., :3] for f in frames]
    assert not sliced[0].flags.c_contiguous
    for variant in (fortran, sliced):
        data = encode(f for f in variant)
        assert_frames_equal(decode(data).frames, frames)


def test_encode_does_not_modify_its_input():
    frames = moving_video(3, 8, 10)
    copies = [f.copy() for f in frames]
    encode(frames)
    assert_frames_equal(frames, copies)


def test_decoded_frames_are_independent_arrays():
    frames = moving_video(3, 8, 10)
    video = decode(encode(frames))
    video.frames[0][...] = 0
    assert_frames_equal(video.frames[1:], frames[1:])


def test_encoding_is_deterministic():
    frames = moving_video(4, 12, 14, c=4)
    assert encode(frames, durations=[1, 2, 3, 4]) == encode(frames, durations=[1, 2, 3, 4])


# ------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "frames,match",
    [
        ([], "no frames"),
        ([np.zeros((4, 4), np.uint8)], "shape"),
        ([np.zeros((4, 4, 2), np.uint8)], "channels"),
        ([np.zeros((4, 4, 5), np.uint8)], "channels"),
        ([np.zeros((0, 4, 3), np.uint8)], "size"),
        ([np.zeros((4, 0, 3), np.uint8)], "size"),
        ([np.zeros((4, 4, 3), np.uint16)], "uint8"),
        ([np.zeros((4, 4, 3), np.float32)], "uint8"),
        ([np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5, 3), np.uint8)], "shape"),
        ([np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4, 4), np.uint8)], "shape"),
    ],
)
def test_encode_rejects_bad_frames(frames, match):
    with pytest.raises(InputError, match=match):
        encode(frames)


def test_encode_rejects_duration_count_mismatch():
    with pytest.raises(InputError, match="durations"):
        encode(moving_video(3, 4, 4), durations=[1, 2])


@pytest.mark.parametrize(
    "kw",
    [
        dict(time_base=Fraction(0)),
        dict(time_base=Fraction(-1, 100)),
        dict(time_base=Fraction(1, 2**32)),
        dict(time_base=Fraction(2**32, 3)),
        dict(time_base=0.04),
        dict(time_base="1/100"),
        dict(durations=[-1]),
        dict(durations=[2**32]),
        dict(durations=[1.5]),
        dict(loop=2**31),
        dict(loop=-2),
    ],
    ids=lambda kw: "-".join(f"{k}={v}" for k, v in kw.items()),
)
def test_encode_rejects_unstorable_timing(kw):
    """Values the header cannot hold are refused up front (time base 0 once produced a stream
    that its own decoder rejected; others escaped as struct.error)."""
    with pytest.raises(InputError):
        encode(moving_video(1, 4, 4), **kw)
    with pytest.raises(InputError):
        enc = Encoder(
            io.BytesIO(),
            width=4,
            height=4,
            channels=3,
            time_base=kw.get("time_base", Fraction(1, 100)),
            loop=kw.get("loop"),
        )
        enc.write(moving_video(1, 4, 4)[0], kw.get("durations", [0])[0])


def test_timing_extremes_that_fit_round_trip():
    round_trip(
        moving_video(2, 4, 4), [0, 2**32 - 1], time_base=Fraction(2**32 - 1, 2**32 - 2), loop=2**31 - 1
    )
    round_trip(moving_video(2, 4, 4), [np.uint32(7), np.int64(9)], time_base=1, loop=0)


def test_encode_rejects_unknown_model():
    with pytest.raises(InputError, match="unknown model"):
        encode(moving_video(1, 4, 4), model="no-such-model")


def test_max_pixels_on_encode_and_decode():
    frames = moving_video(2, 10, 10)
    with pytest.raises(InputError, match="100"):
        encode(frames, max_pixels=99)
    data = encode(frames, max_pixels=100)
    with pytest.raises(FormatError):
        decode(data, max_pixels=99)
    assert_frames_equal(decode(data, max_pixels=100).frames, frames)


# ------------------------------------------------------------------------------------ streaming
class ReadOnlyPipe(io.RawIOBase):
    """A non-seekable reader that hands out at most 7 bytes per read, like a slow pipe."""

    def __init__(self, data: bytes):
        self._buf = io.BytesIO(data)

    def readable(self):
        return True

    def read(self, n=-1):
        out = bytearray()
        while n is None or n < 0 or len(out) < n:
            piece = self._buf.read(7 if n is None or n < 0 else min(7, n - len(out)))
            if not piece:
                break
            out += piece
        return bytes(out)


@pytest.mark.parametrize("channels", [3, 4])
def test_streaming_unknown_frame_count(channels):
    frames = moving_video(7, 14, 18, c=channels)
    durations = [3, 0, 5, 9, 1, 1, 2]
    buf = io.BytesIO()
    enc = Encoder(
        buf, width=18, height=14, channels=channels, time_base=Fraction(1, 50), loop=0, frame_count=None
    )
    assert enc.header.frame_count is None
    for i, (f, d) in enumerate(zip(frames, durations, strict=True)):
        enc.write(f, d)
        assert enc.frames_written == i + 1
        # Everything written so far is a valid stream prefix: its frames decode, then it is
        # reported as truncated (no end chunk yet).
        got = []
        with pytest.raises(TruncatedStreamError):
            for frame in Decoder(io.BytesIO(buf.getvalue())):
                got.append(frame.pixels)
        assert_frames_equal(got, frames[: i + 1])
    enc.close()

    dec = Decoder(ReadOnlyPipe(buf.getvalue()))
    assert dec.header.frame_count is None
    assert dec.header.time_base == Fraction(1, 50) and dec.header.loop == 0
    it = iter(dec)
    for i, (f, d) in enumerate(zip(frames, durations, strict=True)):
        frame = next(it)
        assert frame.index == i and frame.duration == d
        assert_frames_equal([frame.pixels], [f])
    with pytest.raises(StopIteration):
        next(it)
    video = decode(buf.getvalue())
    assert video.header.frame_count is None and video.durations == durations


def test_streaming_context_manager_writes_end_chunk():
    frames = moving_video(3, 6, 6)
    buf = io.BytesIO()
    with Encoder(buf, width=6, height=6, channels=3) as enc:
        for f in frames:
            enc.write(f, 2)
    assert_frames_equal(decode(buf.getvalue()).frames, frames)


def test_streaming_context_manager_does_not_finish_after_an_error():
    buf = io.BytesIO()
    with pytest.raises(RuntimeError):
        with Encoder(buf, width=6, height=6, channels=3) as enc:
            enc.write(moving_video(1, 6, 6)[0])
            raise RuntimeError("boom")
    with pytest.raises(TruncatedStreamError):
        decode(buf.getvalue())


def test_streaming_encoder_errors():
    f = moving_video(1, 6, 6)[0]
    with pytest.raises(InputError, match="no frames"):
        Encoder(io.BytesIO(), width=6, height=6, channels=3).close()
    enc = Encoder(io.BytesIO(), width=6, height=6, channels=3, frame_count=1)
    enc.write(f)
    with pytest.raises(InputError, match="more frames"):
        enc.write(f)
    enc = Encoder(io.BytesIO(), width=6, height=6, channels=3, frame_count=2)
    enc.write(f)
    with pytest.raises(InputError, match="announced"):
        enc.close()
    enc = Encoder(io.BytesIO(), width=6, height=6, channels=3)
    with pytest.raises(InputError, match="shape"):
        enc.write(f[:5])
    with pytest.raises(InputError):
        Encoder(io.BytesIO(), width=6, height=6, channels=2)
    with pytest.raises(InputError):
        Encoder(io.BytesIO(), width=0, height=6, channels=3)
    with pytest.raises(InputError):
        Encoder(io.BytesIO(), width=1 << 17, height=1, channels=3, max_pixels=1 << 40)


def test_decoder_with_load_model_false_reads_records_only():
    frames = moving_video(3, 6, 6)
    data = encode(frames, durations=[4, 5, 6])
    dec = Decoder(io.BytesIO(data), load_model=False)
    assert [r.duration for r in dec.records()] == [4, 5, 6]
    with pytest.raises(RuntimeError):
        list(Decoder(io.BytesIO(data), load_model=False))


# ------------------------------------------------------------------------------------ property
@st.composite
def videos(draw):
    h = draw(st.integers(1, 48))
    w = draw(st.integers(1, 64))
    c = draw(st.sampled_from([3, 4]))
    n = draw(st.integers(1, 8))
    kind = draw(st.sampled_from(["noise", "static", "constant", "extreme", "few-colours", "ramp"]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    shape = (h, w, c)
    if kind == "noise":
        frames = [rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(n)]
    elif kind == "constant":
        values = draw(st.lists(st.sampled_from([0, 255, 1, 254, 128]), min_size=n, max_size=n))
        frames = [np.full(shape, v, np.uint8) for v in values]
    elif kind == "extreme":
        frames = [(rng.integers(0, 2, shape) * 255).astype(np.uint8) for _ in range(n)]
    elif kind == "few-colours":
        colours = rng.integers(0, 256, (draw(st.integers(1, 6)), c), dtype=np.uint8)
        frames = [colours[rng.integers(0, len(colours), (h, w))] for _ in range(n)]
    elif kind == "ramp":
        base = np.add.outer(np.arange(h), np.arange(w)) * draw(st.integers(1, 9)) % 256
        frames = [np.repeat(((base + i * 3) % 256).astype(np.uint8)[..., None], c, -1) for i in range(n)]
    else:  # mostly static: copy the previous frame, change a few pixels
        frames = [rng.integers(0, 256, shape, dtype=np.uint8)]
        for _ in range(n - 1):
            f = frames[-1].copy()
            k = draw(st.integers(0, 5))
            ys, xs = rng.integers(0, h, k), rng.integers(0, w, k)
            f[ys, xs] = rng.choice(np.array([0, 255], np.uint8), (k, c))
            frames.append(f)
    if c == 4 and draw(st.booleans()):
        for f in frames:  # binary alpha, GIF-like
            f[..., 3] = np.where(f[..., 3] < 128, 0, 255)
    durations = draw(st.lists(st.integers(0, 2**32 - 1), min_size=n, max_size=n))
    return frames, durations


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(
    videos(),
    st.sampled_from([None, 0, 5]),
    st.sampled_from([Fraction(1, 100), Fraction(1, 1000), Fraction(1001, 24000)]),
)
def test_property_round_trip(video, loop, time_base):
    frames, durations = video
    round_trip(frames, durations, time_base=time_base, loop=loop)


def test_the_stream_records_the_installed_coder_version(tmp_path, monkeypatch):
    """The header's coder tag is constriction's installed version, read from its METADATA beside
    the package (``installed_version``) as ``importlib.metadata`` reads it; a package with no
    dist-info of its own, or two, is asked of ``importlib.metadata``."""
    import sys
    from importlib.metadata import version

    from fpcodec.codec.pipeline import coder_tag, installed_version

    assert coder_tag() == f"constriction={version('constriction')}"
    assert decode(encode([np.zeros((2, 2, 3), np.uint8)])).header.coder == coder_tag()
    for name in ("constriction", "numpy"):
        assert installed_version(name) == version(name)
    (tmp_path / "fakepkg").mkdir()
    (tmp_path / "fakepkg" / "__init__.py").write_text("")
    for v in ("1.2.3", "4.5.6"):
        info = tmp_path / f"fakepkg-{v}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: fakepkg\nVersion: {v}\n\nVersion: 0\n")
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    asked = []
    monkeypatch.setattr("importlib.metadata.version", lambda name: asked.append(name) or "from metadata")
    assert installed_version("fakepkg") == "from metadata" and asked == ["fakepkg"]  # two: ambiguous
    (tmp_path / "fakepkg-4.5.6.dist-info" / "METADATA").unlink()
    assert installed_version("fakepkg") == "1.2.3" and asked == ["fakepkg"]
