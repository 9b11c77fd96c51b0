"""``codec/apng.py``: every frame back exactly, through FFmpeg's and Pillow's readers (two decoders
written apart from the writer), with its boxes of changed pixels, both filters and exact delays."""

from __future__ import annotations

import io
import struct
import zlib
from fractions import Fraction

import numpy as np
import pytest
from PIL import Image, ImageSequence

from fpcodec.bitstream.errors import FpcodecError
from fpcodec.codec import apng
from fpcodec.codec.io import VideoReader
from fpcodec.codec.planar_io import read_planes

from conftest import assert_frames_equal


def write(tmp_path, frames, durations=None, time_base=Fraction(1, 100), loop=0, name="v.apng"):
    path = tmp_path / name
    durations = [4] * len(frames) if durations is None else durations
    with open(path, "wb") as fh:
        assert apng.write_apng(fh, frames[0], iter(frames), durations, time_base, loop) == len(frames)
    return path


def chunks(path) -> list[tuple[bytes, bytes]]:
    """(type, data) of every chunk, each CRC checked."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, out = 8, []
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        assert struct.unpack(">I", data[pos + 8 + n : pos + 12 + n])[0] == zlib.crc32(kind + body)
        out.append((kind, body))
        pos += 12 + n
    return out


def pillow_read(path, mode):
    with Image.open(path) as im:
        return [np.array(f.convert(mode)) for f in ImageSequence.Iterator(im)]


def moving_video(n=6, h=23, w=31, c=3, seed=1):
    """Frames where a small patch changes each time (and one frame repeats the one before)."""
    rng = np.random.default_rng(seed)
    frame = rng.integers(0, 256, (h, w, c), dtype=np.uint8)
    if c == 4:
        frame[..., 3] = 255
    frames = [frame]
    for i in range(1, n):
        frame = frame.copy()
        if i != 3:  # frame 3 repeats frame 2: a 1x1 box
            y, x = (5 * i) % (h - 4), (7 * i) % (w - 5)
            frame[y : y + 3, x : x + 4] = rng.integers(0, 256, (3, 4, c), dtype=np.uint8)
        if c == 4 and i == 2:
            frame[0:2, 0:3, 3] = 0  # transparent pixels appear ...
        if c == 4 and i == 4:
            frame[0:1, 0:2, 3] = 255  # ... and some become opaque again
        frames.append(frame)
    frames.append(frames[-1].copy())
    frames[-1][-1, -1] = 255 - frames[-1][-1, -1]  # the last pixel alone: a box at the corner
    return frames


@pytest.mark.parametrize("channels", [3, 4])
def test_boxes_of_changed_pixels_read_back_exactly(tmp_path, channels):
    frames = moving_video(c=channels)
    path = write(tmp_path, frames)
    got = [f for f, _ in VideoReader(path).frames()]
    assert_frames_equal(got, frames)
    assert_frames_equal(pillow_read(path, "RGBA" if channels == 4 else "RGB"), frames)
    controls = [body for kind, body in chunks(path) if kind == b"fcTL"]
    boxes = [struct.unpack(">IIIII", c[:20])[1:] for c in controls]
    assert boxes[0] == (31, 23, 0, 0)
    assert boxes[3] == (1, 1, 0, 0)  # the repeated frame
    assert boxes[-1] == (1, 1, 30, 22)  # the last pixel alone
    assert all(w * h < 31 * 23 for w, h, _, _ in boxes[1:])


@pytest.mark.parametrize("shape", [(13, 17), (13, 17, 3), (13, 17, 4)])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_gray_rgb_rgba_8_and_16_bit(tmp_path, shape, dtype):
    rng = np.random.default_rng(3)
    frames = [rng.integers(0, np.iinfo(dtype).max + 1, shape, dtype=dtype) for _ in range(2)]
    frames.append(frames[1].copy())
    frames[2][4, 5] = 7
    path = write(tmp_path, frames)
    channels = 1 if len(shape) == 2 else shape[2]
    header = dict(chunks(path))[b"IHDR"]
    assert (header[8], header[9]) == (8 * np.dtype(dtype).itemsize, {1: 0, 3: 2, 4: 6}[channels])
    if dtype == np.uint8 and channels > 1:  # RGB(A): the codec's reader, and Pillow's
        assert_frames_equal([f for f, _ in VideoReader(path).frames()], frames)
        assert_frames_equal(pillow_read(path, "RGB" if channels == 3 else "RGBA"), frames)
        return
    fmt, planes = read_planes(path)  # FFmpeg's samples as they are: gray, or G, B, R (and A)
    assert len(planes) == 3
    for got, want in zip(planes, frames, strict=True):
        order = [0] if channels == 1 else [2, 0, 1, 3][:channels]
        np.testing.assert_array_equal(
            np.stack([got[k] for k in order], -1), want.reshape(*shape[:2], channels)
        )


def test_the_filter_is_chosen_on_the_first_frame(tmp_path):
    """A dithered palette image deflates smaller unfiltered, a smooth one after Paeth: every row
    of every frame carries the filter chosen."""
    rng = np.random.default_rng(4)
    palette = rng.integers(0, 256, (16, 3), dtype=np.uint8)
    dithered = [palette[rng.integers(0, 16, (40, 50))] for _ in range(2)]
    y, x = np.mgrid[0:40, 0:50]
    smooth = [np.stack([(x * 5 + y * 3 + k) % 256, y * 6, (x + y) * 2], -1).astype(np.uint8) for k in (0, 9)]
    for frames, expected in ((dithered, 0), (smooth, 4)):
        path = write(tmp_path, frames, name=f"f{expected}.apng")
        parts = chunks(path)
        first = zlib.decompress(b"".join(body for kind, body in parts if kind == b"IDAT"))
        rows = np.frombuffer(first, np.uint8).reshape(40, 1 + 50 * 3)
        assert set(rows[:, 0]) == {expected}
        second = zlib.decompress(b"".join(body[4:] for kind, body in parts if kind == b"fdAT"))
        assert second[0] == expected
        assert_frames_equal(pillow_read(path, "RGB"), frames)


def test_delays_in_the_stream_time_base(tmp_path):
    frames = moving_video(n=4)[:4]
    path = write(tmp_path, frames, [1, 0, 3, 2], Fraction(1, 3000), loop=3)
    parts = chunks(path)
    assert struct.unpack(">II", dict(parts)[b"acTL"]) == (4, 3)
    delays = [struct.unpack(">HH", body[20:24]) for kind, body in parts if kind == b"fcTL"]
    assert delays == [(1, 3000), (1, 3000), (1, 1000), (1, 1500)]  # 0 ticks shown as 1
    sequence = [struct.unpack(">I", body[:4])[0] for kind, body in parts if kind in (b"fcTL", b"fdAT")]
    assert sequence == list(range(len(sequence)))


@pytest.mark.parametrize(
    "ticks,time_base,expected",
    [
        (4, Fraction(1, 100), (1, 25)),
        (3003, Fraction(1, 90000), (1001, 30000)),
        (1, Fraction(1, 90000), (1, 65535)),  # below 1/65535 s: the shortest delay there is
        (2, Fraction(1, 90000), (1, 45000)),
        (3, Fraction(1, 70001), None),  # no 16-bit fraction is exact: the nearest
        (10**9, Fraction(1, 1000), (65535, 1)),
    ],
)
def test_delay_fits_16_bits(ticks, time_base, expected):
    num, den = apng.delay(ticks, time_base)
    assert 1 <= num <= 0xFFFF and 1 <= den <= 0xFFFF
    seconds = Fraction(ticks) * time_base
    if seconds.numerator <= 0xFFFF and seconds.denominator <= 0xFFFF:
        assert (num, den) == (seconds.numerator, seconds.denominator)
    elif seconds < 0xFFFF:
        assert abs(Fraction(num, den) - seconds) <= Fraction(1, 0xFFFF)
    if expected is not None:
        assert (num, den) == expected


def test_wrong_frames_are_refused():
    frames = moving_video(n=2)
    with pytest.raises(FpcodecError, match="1 frames for 2"):
        apng.write_apng(io.BytesIO(), frames[0], iter(frames[:1]), [1, 1], Fraction(1, 100), 0)
    with pytest.raises(FpcodecError, match="more frames than the 1"):
        apng.write_apng(io.BytesIO(), frames[0], iter(frames), [1], Fraction(1, 100), 0)
    with pytest.raises(FpcodecError, match="frame of"):
        apng.write_apng(
            io.BytesIO(), frames[0], iter([frames[0], frames[1][:5]]), [1, 1], Fraction(1, 100), 0
        )
    with pytest.raises(FpcodecError, match="cannot hold 2-channel"):
        apng.write_apng(io.BytesIO(), frames[0][..., :2], iter([]), [1], Fraction(1, 100), 0)


@pytest.mark.parametrize("channels", [3, 4])
def test_bands_and_chunks_of_any_size_give_the_same_frames(tmp_path, monkeypatch, channels):
    """Rows are filtered and deflated in bands (Paeth reading the band above's last row) and the
    deflated bytes split into chunks: with bands of one row and chunks of 100 bytes the file holds
    the same frames, the sequence numbers counting every fcTL and fdAT."""
    y, x = np.mgrid[0:40, 0:50]
    smooth = np.stack([(x * 5 + y * 3) % 256, y * 6, (x + y) * 2, 255 - y], -1).astype(np.uint8)[
        ..., :channels
    ]
    smooth = (smooth ^ np.random.default_rng(5).integers(0, 4, smooth.shape, dtype=np.uint8)).astype(np.uint8)
    frames = [smooth, smooth.copy(), np.roll(smooth, 3, axis=1)]
    frames[1][10:30, 5:45] //= 2
    whole = write(tmp_path, frames, name="whole.apng")
    monkeypatch.setattr(apng, "_BAND_BYTES", 1)
    monkeypatch.setattr(apng, "_CHUNK_BYTES", 100)
    small = write(tmp_path, frames, name="small.apng")
    parts = chunks(small)
    assert sum(kind == b"IDAT" for kind, _ in parts) > 1 and sum(kind == b"fdAT" for kind, _ in parts) > 2
    sequence = [struct.unpack(">I", body[:4])[0] for kind, body in parts if kind in (b"fcTL", b"fdAT")]
    assert sequence == list(range(len(sequence)))
    for path in (whole, small):
        assert_frames_equal(pillow_read(path, "RGB" if channels == 3 else "RGBA"), frames)
        assert_frames_equal([f for f, _ in VideoReader(path).frames()], frames)
    first = zlib.decompress(b"".join(body for kind, body in parts if kind == b"IDAT"))
    assert set(np.frombuffer(first, np.uint8).reshape(40, -1)[:, 0]) == {4}  # Paeth, band by band


@pytest.mark.parametrize("shape", [(13, 17), (13, 17, 3), (13, 17, 4)])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_a_still_png_has_no_animation_chunks_and_reads_back_exactly(tmp_path, shape, dtype):
    """``write_png`` (the PNG sequence's 16-bit RGB(A) frames, which Pillow does not write): the
    same image chunks as an APNG's first frame, without ``acTL`` and ``fcTL``."""
    rng = np.random.default_rng(4)
    image = rng.integers(0, np.iinfo(dtype).max + 1, shape, dtype=dtype)
    path = tmp_path / "still.png"
    with open(path, "wb") as fh:
        apng.write_png(fh, image)
    kinds = [kind for kind, _ in chunks(path)]
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and set(kinds[1:-1]) == {b"IDAT"}
    channels = 1 if len(shape) == 2 else shape[2]
    if dtype == np.uint8:
        with Image.open(path) as im:
            assert not getattr(im, "is_animated", False)
            np.testing.assert_array_equal(np.array(im), image)
    if dtype == np.uint8 and channels > 1:  # the codec's reader (FFmpeg's RGB(A))
        assert_frames_equal([f for f, _ in VideoReader(path).frames()], [image])
    else:
        fmt, planes = read_planes(path)  # FFmpeg's samples: gray, or G, B, R (and A)
        assert len(planes) == 1
        order = [0] if channels == 1 else [2, 0, 1, 3][:channels]
        got = np.stack([planes[0][k] for k in order], -1).reshape(image.shape)
        np.testing.assert_array_equal(got, image)
    with pytest.raises(FpcodecError, match="a still PNG holds one frame, not 2"):
        apng.ApngWriter(io.BytesIO(), image, 2, 0, animated=False)
