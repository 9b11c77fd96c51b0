"""fpcodec.codec.io: VideoReader (input side) and write_frames (output side)."""

from __future__ import annotations

import itertools
import os
import weakref
import stat
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageSequence

from fpcodec.bitstream.errors import FpcodecError, InputError
from fpcodec.codec.io import (
    LossyOutputError,
    VideoReader,
    atomic_output,
    durations_ms,
    gif_loop_count,
    opaque,
    to_rgb_array,
    write_frames,
)

from conftest import (
    BROKEN_GIFS,
    CARPHONE,
    CARPHONE_WIDE,
    DATA,
    ODD,
    ODD_GIFS,
    ODD_RGBA,
    assert_frames_equal,
    clear_transparent,
    dir_listing,
    moving_video,
    read_video,
)


def pillow_frames(path, mode):
    """Frames and per-frame durations (ms) as Pillow, the reference decoder, reads them."""
    with Image.open(path) as im:
        out = [(np.array(f.convert(mode)), f.info.get("duration")) for f in ImageSequence.Iterator(im)]
        loop = im.info.get("loop")
    return [f for f, _ in out], [d for _, d in out], loop


def few_colour_video(n=4, h=9, w=11, c=3, colours=20, seed=0):
    rng = np.random.default_rng(seed)
    pal = rng.integers(0, 256, (colours, c), dtype=np.uint8)
    if c == 4:
        pal[:, 3] = 255
        pal[0] = [0, 0, 0, 0]
        pal[1, 3] = 0  # a second transparent colour (same as the first to GIF)
    frames = []
    for i in range(n):
        idx = rng.integers(0, colours, (h, w))
        idx[0, 0] = i % colours  # frames differ
        frames.append(pal[idx])
    for i in range(1, n):
        if np.array_equal(frames[i], frames[i - 1]):
            frames[i][0, 0] = pal[(i + 1) % colours]
    return frames


# ------------------------------------------------------------------------------------ reader
def test_reader_carphone():
    frames, durations, info = read_video(CARPHONE)
    assert (info.width, info.height, info.channels) == (96, 96, 3)
    assert info.frame_count == len(frames) == 34
    assert info.time_base == Fraction(1, 100) and durations == [4] * 34
    assert info.loop == 0
    assert all(f.shape == (96, 96, 3) and f.dtype == np.uint8 for f in frames)
    # Real content: frames differ from each other and use many colours.
    assert not np.array_equal(frames[0], frames[-1])
    assert len(np.unique(frames[0].reshape(-1, 3), axis=0)) > 100


def test_reader_carphone_wide_matches_pillow():
    frames, durations, info = read_video(CARPHONE_WIDE)
    ref, ref_ms, ref_loop = pillow_frames(CARPHONE_WIDE, "RGB")
    assert (info.width, info.height) == (200, 164)
    assert_frames_equal(frames, ref)
    assert [d * info.time_base * 1000 for d in durations] == ref_ms == [40] * 5
    assert info.loop == ref_loop == 0


def test_reader_frames_can_be_read_twice():
    reader = VideoReader(CARPHONE_WIDE)
    a = [f for f, _ in reader.frames()]
    b = [f for f, _ in reader.frames()]
    assert_frames_equal(a, b)


@pytest.mark.parametrize("path", ["carphone", "webp"])
@pytest.mark.parametrize("peeked", [1, 3, 99])
def test_reader_peeked_frames_are_decoded_once(tmp_path, monkeypatch, path, peeked):
    """``peek`` reads the first frames (rgb_as_planes decides by them); the next ``frames()`` starts
    with them and goes on with one decode of the file in all, giving what a fresh reader gives,
    durations included. Both backends: PyAV (GIF) and Pillow (animated WebP)."""
    if path == "webp":
        src = tmp_path / "a.webp"
        ims = [Image.fromarray(f) for f, _ in VideoReader(CARPHONE_WIDE).frames()][:3]
        ims[0].save(src, save_all=True, append_images=ims[1:], lossless=True, duration=[40, 80, 120])
    else:
        src = CARPHONE_WIDE
    want = list(VideoReader(src).frames())
    reader = VideoReader(src)
    decodes = []
    real = reader._decode
    monkeypatch.setattr(reader, "_decode", lambda: decodes.append(1) or real())
    np.testing.assert_array_equal(reader.first_frame(), want[0][0])
    seen = list(itertools.islice(reader.peek(), peeked))
    assert len(seen) == min(peeked, len(want))
    assert_frames_equal(seen, [f for f, _ in want[:peeked]])
    del seen
    np.testing.assert_array_equal(reader.first_frame(), want[0][0])
    frames = reader.frames()
    got = []
    for frame, duration in frames:  # (not enumerate: its reused result tuple holds the last item)
        k = len(got)
        got.append((frame.copy(), duration))
        gone = weakref.ref(frame)
        del frame
        # A peeked frame given out is let go of (no list holds them all until the last is coded);
        # the decoder's own generator holds the frame it gave last (the last one peeked at, here)
        # until the next is asked for.
        assert gone() is None or k >= peeked - 1
    assert len(decodes) == 1
    assert [d for _, d in got] == [d for _, d in want]
    assert_frames_equal([f for f, _ in got], [f for f, _ in want])
    assert len(list(reader.frames())) == len(want) and len(decodes) == 2  # then afresh, as before


# Where FFmpeg's GIF compositing (what VideoReader uses) and Pillow's agree exactly; the others
# differ in how "restore to background" and frames outside the logical screen are handled.
PILLOW_DISAGREES = {
    "dispose_bgnd.gif",
    "dispose_bgnd_rgba.gif",
    "test_extents.gif",
    "test_extents_transparency.gif",
    "no_palette_with_background.gif",
    "decompression_bomb_extents.gif",
}


@pytest.mark.parametrize("name", [n for n in ODD_GIFS if n not in PILLOW_DISAGREES])
def test_reader_odd_gifs_match_pillow(name):
    frames, _, info = read_video(ODD / name)
    assert info.channels == (4 if name in ODD_RGBA else 3)
    ref, _, _ = pillow_frames(ODD / name, "RGBA")
    if info.channels == 3:
        assert all((r[..., 3] == 255).all() for r in ref)
        ref = [r[..., :3] for r in ref]
    assert_frames_equal([clear_transparent(f) for f in frames], [clear_transparent(r) for r in ref])


@pytest.mark.parametrize("name", ["rgb24", "bgr24", "rgba", "bgra", "argb", "abgr"])
def test_packed_frames_are_read_as_ffmpeg_converts_them(name):
    """``to_rgb_array`` reorders a packed frame's samples itself (no scaler): the pixels of
    FFmpeg's own conversion, to RGB and to RGBA; ``opaque`` reads its alpha samples."""
    import av

    rng = np.random.default_rng(7)
    samples = rng.integers(0, 256, (7, 13, 3 if name.endswith("24") else 4), dtype=np.uint8)
    for alpha in (None, 255):
        if alpha is not None and samples.shape[2] == 4:
            samples[..., name.index("a")] = alpha
        frame = av.VideoFrame.from_ndarray(samples, format=name)
        for fmt in ("rgb24", "rgba"):
            ours = to_rgb_array(frame, fmt)
            assert ours.flags.c_contiguous
            np.testing.assert_array_equal(ours, frame.to_ndarray(format=fmt, threads=1))
        assert opaque(frame) == bool((frame.to_ndarray(format="rgba", threads=1)[..., 3] == 255).all())
    assert opaque(frame) and (
        name.endswith("24") or not opaque(av.VideoFrame.from_ndarray(0 * samples, format=name))
    )


#: Odd GIFs that FFmpeg does not decode (a frame without any palette).
FFMPEG_REFUSES = {"no_palette.gif", "no_palette_after_rgb.gif"}


@pytest.mark.parametrize("name", ODD_GIFS)
def test_gif_frames_are_read_as_ffmpeg_converts_them(name):
    """FFmpeg decodes GIFs to bgra, which ``to_rgb_array`` reorders itself: the same pixels as
    FFmpeg's conversion on every odd GIF (transparency, disposal, palettes per frame)."""
    import av

    from fpcodec.codec.io import open_av

    with open_av(ODD / name) as cont:
        frames = cont.decode(cont.streams.video[0])
        if name in FFMPEG_REFUSES:  # read by Pillow instead (``VideoReader``'s fallback)
            with pytest.raises(av.FFmpegError):
                list(frames)
            return
        for frame in frames:
            assert frame.format.name == "bgra"
            for fmt in ("rgb24", "rgba"):
                np.testing.assert_array_equal(
                    to_rgb_array(frame, fmt), frame.to_ndarray(format=fmt, threads=1)
                )


@pytest.mark.parametrize(
    "name,size,count,channels,loop",
    [
        ("dispose_bgnd.gif", (100, 100), 5, 3, 0),
        ("dispose_bgnd_transparency.gif", (38, 32), 10, 4, 0),
        ("duplicate_number_of_loops.gif", (1, 1), 2, 3, 2),
        ("comment_after_last_frame.gif", (1, 1), 2, 3, 1),
        ("transparent_dispose.gif", (3, 1), 3, 4, None),
        ("no_palette.gif", (1, 1), 2, 3, None),
        ("hopper.gif", (128, 128), 1, 3, None),
        ("test.colors.gif", (807, 606), 1, 3, None),
    ],
)
def test_reader_odd_gif_info(name, size, count, channels, loop):
    frames, durations, info = read_video(ODD / name)
    assert (info.width, info.height) == size
    assert len(frames) == info.frame_count == count
    assert info.channels == channels and info.loop == loop
    assert all(f.shape == (size[1], size[0], channels) for f in frames)


def test_reader_durations_in_time_base():
    _, durations, info = read_video(ODD / "dispose_bgnd_transparency.gif")
    ms = [d * info.time_base * 1000 for d in durations]
    assert ms == [2000, 200, 200, 500, 100, 500, 100, 500, 100, 200]
    _, durations, info = read_video(ODD / "no_palette_after_rgb.gif")  # read with Pillow
    assert [d * info.time_base * 1000 for d in durations] == [5000] * 3


@pytest.mark.parametrize("name", BROKEN_GIFS)
def test_reader_broken_gifs(name):
    with pytest.raises(InputError):
        reader = VideoReader(ODD / name)
        list(reader.frames())


def test_reader_not_a_video(tmp_path):
    text = tmp_path / "notes.gif"
    text.write_text("this is not a video\n")
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    magic_only = tmp_path / "magic.gif"
    magic_only.write_bytes(b"GIF89a")
    for p in (text, empty, magic_only, tmp_path / "missing.gif", tmp_path):
        with pytest.raises(InputError):
            VideoReader(p)


def test_reader_refuses_an_image_outside_the_gif_screen_before_loading_it():
    """A 139-byte GIF from fuzzing (tests/data/fuzz/input/grown-canvas): a 10x10 screen whose second
    image reaches 1802x65526. FFmpeg refuses it; Pillow grows its canvas to that size, and loading
    the frame allocated 1.5 GB before it failed ("codec configuration error"). The probe now
    compares each frame's size before loading it, and Pillow's own size warning stays quiet."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(InputError, match=r"frame size changes mid-stream \(1802x65526\)"):
            VideoReader(DATA / "fuzz" / "input" / "grown-canvas")
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]


@pytest.mark.parametrize("keep", [3000, 20000, len(CARPHONE.read_bytes()) - 200])
def test_reader_truncated_gif(tmp_path, keep):
    """A GIF cut short must be refused: FFmpeg would conceal the damage and invent the missing
    pixels (6380 of 9216 wrong in the first frame when only 3000 bytes are kept)."""
    cut = tmp_path / "cut.gif"
    cut.write_bytes(CARPHONE.read_bytes()[:keep])
    with pytest.raises(InputError):
        list(VideoReader(cut).frames())


def test_gif_loop_count(tmp_path):
    assert gif_loop_count(CARPHONE) == 0
    assert gif_loop_count(ODD / "duplicate_number_of_loops.gif") == 2
    assert gif_loop_count(ODD / "hopper.gif") is None


def test_gif_loop_count_ignores_lookalike_bytes(tmp_path):
    ims = [Image.fromarray(np.full((4, 4, 3), v, np.uint8)) for v in (0, 200)]
    out = tmp_path / "comment.gif"
    ims[0].save(
        out,
        save_all=True,
        append_images=ims[1:],
        duration=100,
        comment=b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x05\x00\x00",
    )
    with Image.open(out) as im:
        assert "loop" not in im.info  # Pillow: the file has no loop extension
    assert gif_loop_count(out) is None
    assert VideoReader(out).info.loop is None


# ------------------------------------------------------------------------------------ writers
@pytest.mark.parametrize("ext", [".gif", ".apng", ".png", ".webp"])
@pytest.mark.parametrize("channels", [3, 4])
def test_write_animated_formats_exact(tmp_path, ext, channels):
    frames = few_colour_video(c=channels)
    durations = [4, 10, 25, 7]
    out = tmp_path / f"out{ext}"
    warnings = write_frames(out, frames, durations, Fraction(1, 100), 0)
    if ext in (".gif", ".webp") and channels == 4:  # two colours under alpha 0; only one is kept
        assert len(warnings) == 1 and "transparent" in warnings[0]
    else:
        assert warnings == []
    mode = "RGBA" if channels == 4 else "RGB"
    got, ms, loop = pillow_frames(out, mode)
    if ext in (".gif", ".webp"):  # colour under alpha 0 is not kept (warned above)
        assert_frames_equal([clear_transparent(g) for g in got], [clear_transparent(f) for f in frames])
    else:
        assert_frames_equal(got, frames)
    assert [int(m) for m in ms] == [40, 100, 250, 70]
    assert loop == 0


@pytest.mark.parametrize("channels", [3, 4])
def test_write_mkv_is_lossless_ffv1_with_each_frames_time(tmp_path, channels):
    """.mkv holds RGB(A) frames exactly (FFV1 in bgr0 or bgra: its packed RGB formats) with each
    frame's time in milliseconds, so a varying frame rate comes back; a duration Matroska cannot
    hold (0, or below a millisecond) is said."""
    import av

    rng = np.random.default_rng(4)
    frames = [rng.integers(0, 256, (9, 13, channels), dtype=np.uint8) for _ in range(4)]
    if channels == 4:
        frames[0][0, 0, 3] = 7  # not opaque
    out = tmp_path / "out.mkv"
    assert write_frames(out, frames, [4, 10, 25, 7], Fraction(1, 100), 0) == []
    with av.open(str(out)) as cont:
        cc = cont.streams.video[0].codec_context
        assert (cc.name, cc.pix_fmt) == ("ffv1", "bgra" if channels == 4 else "bgr0")
    reader = VideoReader(out)
    assert reader.info.channels == channels
    got = list(reader.frames())
    assert_frames_equal([f for f, _ in got], frames)
    assert [int(d * reader.info.time_base * 1000) for _, d in got[:3]] == [40, 100, 250]
    warnings = write_frames(tmp_path / "zero.mkv", frames, [4, 0, 4, 4], Fraction(1, 100), 0, force=True)
    assert warnings == ["frame durations rounded to what .mkv can store"]
    assert len(list(VideoReader(tmp_path / "zero.mkv").frames())) == 4
    write_frames(tmp_path / "again.mkv", frames, [4, 10, 25, 7], Fraction(1, 100), 0)
    assert (tmp_path / "again.mkv").read_bytes() == out.read_bytes()  # bit-exact: no random segment UID


def test_write_gif_read_back_with_video_reader(tmp_path):
    frames = few_colour_video(n=5)
    out = tmp_path / "out.gif"
    write_frames(out, frames, [3, 3, 9, 2, 5], Fraction(1, 100), 4)
    got, durations, info = read_video(out)
    assert_frames_equal(got, frames)
    assert durations == [3, 3, 9, 2, 5] and info.time_base == Fraction(1, 100) and info.loop == 4


def test_write_gif_without_loop_plays_once(tmp_path):
    out = tmp_path / "once.gif"
    write_frames(out, few_colour_video(n=2), [5, 5], Fraction(1, 100), None)
    assert gif_loop_count(out) is None
    assert read_video(out)[2].loop is None


def test_write_single_frame(tmp_path):
    frame = few_colour_video(n=1)
    for ext in (".gif", ".apng", ".webp"):
        out = tmp_path / f"one{ext}"
        write_frames(out, frame, [7], Fraction(1, 100), None)
        got, _, _ = pillow_frames(out, "RGB")
        assert_frames_equal(got, frame)


def test_write_1x1(tmp_path):
    frames = [np.array([[[0, 0, 0]]], np.uint8), np.array([[[255, 255, 255]]], np.uint8)]
    for ext in (".gif", ".apng", ".webp"):
        out = tmp_path / f"px{ext}"
        write_frames(out, frames, [3, 7], Fraction(1, 100), 0)
        got, ms, _ = pillow_frames(out, "RGB")
        assert_frames_equal(got, frames)
        assert [int(m) for m in ms] == [30, 70]


@pytest.mark.parametrize("ext", [".apng", ".webp"])
def test_write_many_colours_exact(tmp_path, ext):
    rng = np.random.default_rng(2)
    frames = [rng.integers(0, 256, (20, 30, 4), dtype=np.uint8) for _ in range(3)]
    frames[1][..., 3] = 255
    out = tmp_path / f"noise{ext}"
    write_frames(out, frames, [1, 1, 1], Fraction(1, 1000), 0)
    got = pillow_frames(out, "RGBA")[0]
    assert_frames_equal([clear_transparent(g) for g in got], [clear_transparent(f) for f in frames])
    if ext == ".apng":
        assert_frames_equal(got, frames)


def test_write_png_sequence(tmp_path):
    frames = moving_video(3, 7, 9, c=4)
    warnings = write_frames(tmp_path / "frames_%04d.png", frames, [1, 2, 3], Fraction(1, 100), 0)
    assert any("timing" in w for w in warnings)
    assert sorted(dir_listing(tmp_path)) == ["frames_0000.png", "frames_0001.png", "frames_0002.png"]
    got = [np.array(Image.open(tmp_path / f"frames_{i:04d}.png")) for i in range(3)]
    assert_frames_equal(got, frames)


def test_a_png_sequence_of_16_bit_rgb_frames_is_still_pngs(tmp_path):
    """16-bit RGB frames (which Pillow does not write) go through fpcodec's PNG writer: each file
    a still PNG (no APNG animation chunks), its samples back exactly through FFmpeg."""
    from fpcodec.codec.planar_io import read_planes

    rng = np.random.default_rng(2)
    frames = [rng.integers(0, 65536, (6, 7, 3), dtype=np.uint16) for _ in range(2)]
    write_frames(tmp_path / "f_%d.png", frames, [1, 1], Fraction(1, 100), 0)
    for i, frame in enumerate(frames):
        data = (tmp_path / f"f_{i}.png").read_bytes()
        assert b"acTL" not in data and b"fcTL" not in data and b"IDAT" in data
        _, planes = read_planes(tmp_path / f"f_{i}.png")  # G, B, R
        np.testing.assert_array_equal(np.stack([planes[0][k] for k in (2, 0, 1)], -1), frame)


def test_write_png_sequence_refuses_to_overwrite(tmp_path):
    frames = moving_video(3, 5, 5)
    (tmp_path / "f_1.png").write_bytes(b"keep me")
    with pytest.raises(FpcodecError, match="exists"):
        write_frames(tmp_path / "f_%d.png", frames, None, Fraction(1, 100), None)
    assert dir_listing(tmp_path) == {"f_1.png"}  # nothing written, not even f_0
    assert (tmp_path / "f_1.png").read_bytes() == b"keep me"
    write_frames(tmp_path / "f_%d.png", frames, None, Fraction(1, 100), None, force=True)
    assert_frames_equal([np.array(Image.open(tmp_path / f"f_{i}.png")) for i in range(3)], frames)


def test_write_bad_pattern(tmp_path):
    with pytest.raises(FpcodecError, match="pattern"):
        write_frames(tmp_path / "f_%s_%s.png", moving_video(2, 4, 4), None, Fraction(1, 100), None)


def test_gif_refuses_more_than_256_colours(tmp_path):
    rng = np.random.default_rng(0)
    frames = [few_colour_video(n=1, h=20, w=20)[0], rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)]
    out = tmp_path / "many.gif"
    with pytest.raises(LossyOutputError, match="frame 1"):
        write_frames(out, frames, [1, 1], Fraction(1, 100), None)
    assert dir_listing(tmp_path) == set()
    warnings = write_frames(out, frames, [1, 1], Fraction(1, 100), None, allow_lossy=True)
    assert any("256" in w for w in warnings) and out.is_file()


@pytest.mark.parametrize("ext", [".mp4", ".y4m"])
def test_yuv_targets_need_allow_lossy(tmp_path, ext):
    frames = moving_video(2, 8, 8)
    out = tmp_path / f"v{ext}"
    with pytest.raises(LossyOutputError):
        write_frames(out, frames, [1, 1], Fraction(1, 25), None)
    assert dir_listing(tmp_path) == set()
    if ext == ".y4m":
        warnings = write_frames(out, frames, [1, 1], Fraction(1, 25), None, allow_lossy=True)
        assert warnings and out.stat().st_size > 0


def test_gif_duration_rounding_warns(tmp_path):
    frames = few_colour_video(n=2)
    assert write_frames(tmp_path / "a.gif", frames, [10, 20], Fraction(1, 1000), None) == []
    warnings = write_frames(tmp_path / "b.gif", frames, [15, 20], Fraction(1, 1000), None)
    assert any("rounded" in w for w in warnings)
    # APNG stores the stream's own time base: exact, except that a 0 duration cannot be stored.
    assert write_frames(tmp_path / "c.apng", frames + frames[:1], [1, 2, 3], Fraction(1, 3000), None) == []
    with Image.open(tmp_path / "c.apng") as im:
        ms = [f.info["duration"] for f in ImageSequence.Iterator(im)]
    assert ms[:2] == pytest.approx([1 / 3, 2 / 3], rel=1e-12)
    warnings = write_frames(tmp_path / "d.apng", frames, [0, 2], Fraction(1, 100), None)
    assert any("rounded" in w for w in warnings)


def test_unsupported_output_format(tmp_path):
    for name in ("out.avi", "out.jpg", "noextension"):
        with pytest.raises(FpcodecError, match="unsupported output format"):
            write_frames(tmp_path / name, moving_video(1, 4, 4), None, Fraction(1, 100), None)
    assert dir_listing(tmp_path) == set()


def test_write_refuses_to_overwrite_without_force(tmp_path):
    out = tmp_path / "x.apng"
    out.write_bytes(b"precious")
    frames = moving_video(2, 4, 4)
    with pytest.raises(FpcodecError, match="exists"):
        write_frames(out, frames, None, Fraction(1, 100), None)
    assert out.read_bytes() == b"precious"
    write_frames(out, frames, None, Fraction(1, 100), None, force=True)
    assert_frames_equal(pillow_frames(out, "RGB")[0], frames)
    assert dir_listing(tmp_path) == {"x.apng"}


def test_durations_ms():
    assert durations_ms([4, 10], Fraction(1, 100)) == ([40, 100], True)
    assert durations_ms([1, 3], Fraction(1, 3000)) == ([0, 1], False)
    assert durations_ms([], Fraction(1, 100)) == ([], True)


# ------------------------------------------------------------------------------------ atomic_output
def test_atomic_output_success_and_permissions(tmp_path):
    out = tmp_path / "a.bin"
    with atomic_output(out, force=False) as tmp:
        assert tmp.parent == tmp_path and tmp != out
        tmp.write_bytes(b"data")
        assert not out.exists()
    assert out.read_bytes() == b"data"
    assert dir_listing(tmp_path) == {"a.bin"}
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask


def test_atomic_output_errors_name_the_output_not_the_temp_file(tmp_path, monkeypatch):
    """A folder that passes the CLI's checks but refuses new files (``-o /proc/version``), or a
    rename that fails (a folder put in the output's place meanwhile): the error names the output."""
    import errno
    import tempfile

    out = tmp_path / "a.bin"

    def refuse(*args, **kwargs):
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", str(tmp_path / ".a.bin.x1.bin"))

    with monkeypatch.context() as m:
        m.setattr(tempfile, "mkstemp", refuse)
        with pytest.raises(
            FpcodecError, match=r"cannot write .*a\.bin: no file can be made in its folder \(No such"
        ):
            with atomic_output(out, force=False):
                pass
    with pytest.raises(FpcodecError, match=r"cannot write .*a\.bin \(Is a directory\)"):
        with atomic_output(out, force=True) as tmp:
            tmp.write_bytes(b"data")
            out.mkdir()
    assert dir_listing(tmp_path) == {"a.bin"} and out.is_dir()


def test_atomic_output_failure_leaves_nothing(tmp_path):
    out = tmp_path / "a.bin"
    with pytest.raises(RuntimeError):
        with atomic_output(out, force=False) as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError("boom")
    assert dir_listing(tmp_path) == set()
    out.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_output(out, force=True) as tmp:
            tmp.write_bytes(b"partial")
            raise KeyboardInterrupt
    assert out.read_bytes() == b"old" and dir_listing(tmp_path) == {"a.bin"}


def test_atomic_output_relative_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with atomic_output("rel.bin", force=False) as tmp:
        Path(tmp).write_bytes(b"x")
    assert (tmp_path / "rel.bin").read_bytes() == b"x"


# ------------------------------------------------------------------------------------ every odd GIF
def merge_repeats(frames, durations):
    """Consecutive identical frames merged into one, durations added (what a viewer sees)."""
    out_f, out_d = [], []
    for f, d in zip(frames, durations, strict=True):
        if out_f and np.array_equal(out_f[-1], f):
            out_d[-1] += d
        else:
            out_f.append(f)
            out_d.append(d)
    return out_f, out_d


def hidden_colours(frame):
    return frame.shape[2] == 4 and len(np.unique(frame[frame[..., 3] == 0], axis=0)) > 1


@pytest.mark.parametrize("name", ODD_GIFS)
def test_gif_output_reproduces_every_odd_gif(tmp_path, name):
    """What ``fpcodec decode -o x.gif`` writes for each odd GIF shows the same video: same pixels
    (up to the hidden colour of transparent pixels), same timeline, same loop count; anything it
    cannot keep exactly is announced by a warning."""
    frames, durations, info = read_video(ODD / name)
    out = tmp_path / "again.gif"
    warnings = write_frames(out, frames, durations, info.time_base, info.loop)
    expected, expected_durations = merge_repeats(frames, durations)
    assert any("repeated" in w for w in warnings) == (len(expected) < len(frames)), warnings
    assert any("transparent" in w for w in warnings) == any(hidden_colours(f) for f in frames)
    assert len(warnings) == (len(expected) < len(frames)) + any(hidden_colours(f) for f in frames)
    got, got_durations, got_info = read_video(out)
    assert got_info.channels == info.channels and got_info.loop == info.loop
    ms = [int(d * info.time_base * 1000) for d in expected_durations]
    # A GIF delay of 0 is shown (and read back by FFmpeg) as 100 ms.
    assert [int(d * got_info.time_base * 1000) for d in got_durations] == [m or 100 for m in ms]
    assert_frames_equal([clear_transparent(g) for g in got], [clear_transparent(f) for f in expected])


def test_write_apng_keeps_repeated_frames(tmp_path):
    frames = few_colour_video(n=3)
    frames = [frames[0], frames[1], frames[1].copy(), frames[2]]
    out = tmp_path / "rep.apng"
    assert write_frames(out, frames, [10, 20, 30, 40], Fraction(1, 100), 0) == []
    got, ms, _ = pillow_frames(out, "RGB")
    assert_frames_equal(got, frames)
    assert ms == pytest.approx([100, 200, 300, 400])
    got, durations, info = read_video(out)
    assert_frames_equal(got, frames)
    assert [d * info.time_base for d in durations] == [Fraction(n, 10) for n in (1, 2, 3, 4)]


@pytest.mark.parametrize("ext", [".gif", ".webp"])
def test_write_repeated_frames_warn_and_keep_the_timeline(tmp_path, ext):
    """Pillow's GIF and WebP writers merge identical consecutive frames: the timeline a viewer sees
    must not change, and the lost frame count must be announced."""
    frames = few_colour_video(n=3)
    frames = [frames[0], frames[1], frames[1].copy(), frames[1].copy(), frames[2]]
    out = tmp_path / f"rep{ext}"
    warnings = write_frames(out, frames, [1, 2, 3, 4, 5], Fraction(1, 100), 0)
    assert len(warnings) == 1 and "2 repeated frames" in warnings[0]
    got, ms, _ = pillow_frames(out, "RGB")
    assert_frames_equal(got, [frames[0], frames[1], frames[4]])
    assert [int(m) for m in ms] == [10, 90, 50]


def test_write_gif_rgba_frame_without_transparency(tmp_path):
    """Each frame has its own palette: a frame with no transparent pixel must not lose a colour to
    the transparency index (that happened with one global index taken from the first frame)."""
    a = np.zeros((4, 5, 4), np.uint8)
    a[..., :3] = np.arange(20).reshape(4, 5, 1) * 10
    a[..., 3] = 255
    a[0, 0] = 0  # frame 0: one transparent pixel
    c = a.copy()
    c[..., 3] = 255  # frame 1: fully opaque, black at (0, 0)
    c[1, 1] = [0, 0, 0, 255]  # and at (1, 1)
    out = tmp_path / "alpha.gif"
    assert write_frames(out, [a, c, a], [10, 10, 10], Fraction(1, 100), 0) == []
    got, _, _ = pillow_frames(out, "RGBA")
    assert_frames_equal([clear_transparent(g) for g in got], [a, c, a])
    got, _, info = read_video(out)
    assert info.channels == 4
    assert_frames_equal([clear_transparent(g) for g in got], [a, c, a])


def test_write_gif_transparent_pixel_turning_opaque(tmp_path):
    a = np.zeros((4, 5, 4), np.uint8)
    a[..., :3] = np.arange(20).reshape(4, 5, 1) * 10
    a[..., 3] = 255
    a[0, 0] = 0  # frame 0: transparent at (0, 0)
    b = a.copy()
    b[0, 0] = [0, 0, 0, 255]  # frame 1: opaque black there instead
    out = tmp_path / "alpha.gif"
    assert write_frames(out, [a, b], [10, 10], Fraction(1, 100), 0) == []
    got, _, _ = read_video(out)
    assert_frames_equal([clear_transparent(g) for g in got], [a, b])


def test_gif_refuses_partial_alpha(tmp_path):
    frames = moving_video(2, 6, 6, c=4)  # has a half-transparent pixel
    out = tmp_path / "half.gif"
    with pytest.raises(LossyOutputError, match="partial transparency"):
        write_frames(out, frames, [1, 1], Fraction(1, 100), None)
    assert dir_listing(tmp_path) == set()
    warnings = write_frames(out, frames, [1, 1], Fraction(1, 100), None, allow_lossy=True)
    assert any("partial transparency" in w for w in warnings)


def test_gif_colour_limit_counts_transparency(tmp_path):
    """256 palette entries: 255 opaque colours plus the transparent one fit, 256 plus it do not."""

    def frame(opaque: int) -> np.ndarray:
        f = np.zeros((16, 17, 4), np.uint8)
        flat = f.reshape(-1, 4)
        flat[:opaque, 0] = np.arange(opaque) % 256
        flat[:opaque, 1] = np.arange(opaque) // 256 + 1
        flat[:opaque, 3] = 255
        return f  # the remaining pixels are transparent

    fits = frame(255)
    out = tmp_path / "fits.gif"
    assert write_frames(out, [fits, fits[::-1].copy()], [1, 1], Fraction(1, 100), None) == []
    assert_frames_equal(pillow_frames(out, "RGBA")[0], [fits, fits[::-1]])
    with pytest.raises(LossyOutputError, match="256"):
        write_frames(tmp_path / "over.gif", [frame(256)], [1], Fraction(1, 100), None)


@pytest.mark.parametrize("ext", [".apng", ".webp", ".gif"])
@pytest.mark.parametrize("loop", [None, 0, 3])
def test_write_loop_count(tmp_path, ext, loop):
    """Play once stays play once (APNG/WebP count plays; GIF omits the loop extension)."""
    out = tmp_path / f"loop{ext}"
    write_frames(out, few_colour_video(n=2), [5, 5], Fraction(1, 100), loop)
    with Image.open(out) as im:
        stored = im.info.get("loop")
    assert stored == ({".gif": None}.get(ext, 1) if loop is None else loop)


# ------------------------------------------------------------------------------------ known bugs
def frame_outside_the_screen(tmp_path) -> Path:
    """transparent_dispose.gif (3x1) with its third frame moved down to y=16: FFmpeg refuses the
    file, and Pillow (VideoReader's fallback) returns that frame with another size."""
    data = bytearray((ODD / "transparent_dispose.gif").read_bytes())
    assert data[79] == 0x2C and data[82:84] == b"\x00\x00"  # third image descriptor, top = 0
    data[82] = 16
    path = tmp_path / "outside.gif"
    path.write_bytes(bytes(data))
    return path


def test_reader_pillow_fallback_refuses_a_frame_of_another_size(tmp_path):
    """Pillow grows its canvas for the moved frame (3x17, not 3x1): the frames could not match
    ``info``, and the probe refuses the file before it loads that frame (it used to load every
    frame, and ``frames()`` refused it later)."""
    with pytest.raises(InputError, match=r"frame size changes mid-stream \(3x17\)"):
        VideoReader(frame_outside_the_screen(tmp_path))


@pytest.mark.parametrize(
    "time_base,durations", [(Fraction(1, 3000), [1, 2]), (Fraction(1001, 30000), [1, 1])]
)
def test_write_apng_last_frame_duration_exact(tmp_path, time_base, durations):
    frames = few_colour_video(n=2)
    out = tmp_path / "last.apng"
    assert write_frames(out, frames, durations, time_base, 0) == []
    with Image.open(out) as im:
        ms = [f.info["duration"] for f in ImageSequence.Iterator(im)]
    assert ms == pytest.approx([float(d * time_base * 1000) for d in durations], rel=1e-12)


def test_write_webp_warns_that_colour_under_transparency_is_lost(tmp_path):
    """Pillow's animated WebP encoder ignores exact=True: hidden colours under alpha 0 are lost,
    which write_frames must say; everything visible stays exact."""
    rng = np.random.default_rng(2)
    frames = [rng.integers(0, 256, (20, 30, 4), dtype=np.uint8) for _ in range(2)]
    out = tmp_path / "noise.webp"
    warnings = write_frames(out, frames, [1, 1], Fraction(1, 1000), 0)
    assert any("fully transparent" in w for w in warnings)
    assert_frames_equal(
        [clear_transparent(g) for g in pillow_frames(out, "RGBA")[0]], [clear_transparent(f) for f in frames]
    )


@pytest.mark.parametrize("name", ["v.apng", "v.y4m", "v.gif"])
def test_write_frames_from_a_generator(tmp_path, name):
    """Frames may come from a generator (the decoder's): the file holds them all; a generator that
    fails half-way, or yields no frame, or fewer frames than durations, leaves no file."""
    frames = few_colour_video(n=5)

    def failing():
        yield from frames[:2]
        raise FpcodecError("frame 2 does not match its checksum")

    out = tmp_path / name
    write_frames(out, iter(frames), [4] * 5, Fraction(1, 100), 0, allow_lossy=True)
    assert len([f for f, _ in VideoReader(out).frames()]) == 5
    for bad, message in (
        (failing(), "checksum"),
        (iter([]), "no frames"),
        (iter(frames[:3]), "3 frames for 5"),
    ):
        target = tmp_path / f"bad_{name}"
        with pytest.raises(FpcodecError, match=message):
            write_frames(target, bad, [4] * 5, Fraction(1, 100), 0, allow_lossy=True)
        assert not target.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


# ----------------------------------------------------------------------------- animated WebP
def test_pillow_kind_names_gifs_and_animated_webp_only(tmp_path):
    from fpcodec.codec.io import HEAD_BYTES, pillow_kind

    frames = few_colour_video(n=2)
    write_frames(tmp_path / "anim.webp", frames, [5, 5], Fraction(1, 100), 0)
    Image.fromarray(frames[0]).save(tmp_path / "lossless.webp", lossless=True)  # VP8L, no VP8X
    rgba = np.dstack([frames[0], np.full(frames[0].shape[:2], 255, np.uint8)])
    rgba[0, 0, 3] = 0
    Image.fromarray(rgba).save(tmp_path / "alpha.webp")  # lossy with alpha: VP8X, not animated
    heads = {p.name: p.read_bytes()[:HEAD_BYTES] for p in tmp_path.iterdir()}
    assert heads["alpha.webp"][12:16] == b"VP8X"  # the case the animation flag decides
    assert pillow_kind(heads["anim.webp"]) == "WebP"
    assert pillow_kind(heads["lossless.webp"]) is None and pillow_kind(heads["alpha.webp"]) is None
    assert pillow_kind(b"GIF89a") == "GIF" and pillow_kind(b"") is None
    assert pillow_kind(heads["anim.webp"][:20]) is None  # too short to hold the flags


@pytest.mark.parametrize("channels", [3, 4])
def test_reader_takes_animated_webp_as_pillow_composites_it(tmp_path, channels):
    """FFmpeg's WebP decoder refuses animations; fpcodec decode writes them, so the reader takes
    them through Pillow: the frames, durations and loop count Pillow gives, as RGB(A) frames
    (never a planar pixel format)."""
    from fpcodec.codec.planar_io import native_reader

    frames = few_colour_video(n=3, c=channels, seed=4)
    path = tmp_path / "anim.webp"
    write_frames(path, frames, [4, 10, 25], Fraction(1, 100), 3)
    got, durations, info = read_video(path)
    want, ms, loop = pillow_frames(path, "RGBA" if channels == 4 else "RGB")
    assert_frames_equal(got, want)
    assert_frames_equal([clear_transparent(g) for g in got], [clear_transparent(f) for f in frames])
    assert durations == [int(m) for m in ms] == [40, 100, 250]
    assert (info.channels, info.time_base, info.frame_count) == (channels, Fraction(1, 1000), 3)
    assert info.loop == loop
    assert native_reader(path) is None


def test_reader_damaged_animated_webp_is_a_one_line_error(tmp_path):
    path = tmp_path / "cut.webp"
    write_frames(path, few_colour_video(n=3, h=30, w=40), [5, 5, 5], Fraction(1, 100), 0)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"cut\.webp is not a readable WebP"):
        list(VideoReader(path).frames())


def test_yuva420p_video_reads_the_same_twice_with_its_own_alpha(tmp_path):
    """FFmpeg's yuva420p -> rgba conversion read unwritten memory at some widths (17 here: two reads
    of one file differed) and rounded alpha; the reader takes the RGB conversion and the alpha
    plane's own samples, the same on every read, and fpcodec gives them back exactly."""
    import av

    from fpcodec.codec import decode, encode

    h, w = 6, 17
    yy, xx = np.mgrid[0:h, 0:w]
    src = tmp_path / "a.mkv"
    alphas = []
    with av.open(str(src), "w") as cont:
        stream = cont.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuva420p"
        for t in range(3):
            rgba = np.dstack([(xx * 3 + 5 * t) % 256, yy * 20, xx * 9, (xx * 7 + yy * 31 + t) % 256]).astype(
                np.uint8
            )
            frame = av.VideoFrame.from_ndarray(rgba, format="rgba").reformat(format="yuva420p", threads=1)
            frame.pts = t
            plane = frame.planes[3]
            alphas.append(np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, :w].copy())
            for pkt in stream.encode(frame):
                cont.mux(pkt)
        for pkt in stream.encode():
            cont.mux(pkt)
    reads = [[f for f, _ in VideoReader(src).frames()] for _ in range(3)]
    assert VideoReader(src).info.channels == 4
    for again in reads[1:]:
        assert_frames_equal(again, reads[0])
    for got, alpha in zip(reads[0], alphas, strict=True):
        np.testing.assert_array_equal(got[..., 3], alpha)
    assert_frames_equal(decode(encode(reads[0], model="last-frame")).frames, reads[0])
