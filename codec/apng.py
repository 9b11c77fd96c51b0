"""An APNG writer: frames in, one animated PNG out, every frame kept and exact.

Why not FFmpeg's (through PyAV, which fpcodec used before): importing PyAV took 34 ms of a
1-second 96x96 decode, and its encoder took 18 ms a frame at 480x270 (Paeth on every row, zlib's
level 6), a tenth of that decode; its files were also larger on GIF-like frames, where a dithered
palette image compresses best unfiltered (the 30-frame 96x96 clip: 452 KB from FFmpeg, 280 KB
unfiltered). Pillow's writer merges repeated frames (the frame count changes) and holds them all.
The format is the APNG 1.0 specification's (PNG chunks with CRC-32, ``acTL``, ``fcTL``, ``fdAT``);
the pixels go through ``zlib``, which PNG's deflate is.

Each frame after the first is written as the box of pixels that changed (disposal none, blend
source: the box replaces what is under it, alpha included, and stays), so a still background
costs nothing; an unchanged frame is a 1x1 box. The filter, none or Paeth for every row, is
chosen once, on the first frame (whichever deflates smaller at zlib's fastest level): unfiltered
for palette-like frames, Paeth for natural ones (a 640x272 video: 0.71 of the unfiltered bytes).
"""

from __future__ import annotations

import struct
import zlib
from fractions import Fraction
from typing import BinaryIO, Iterable, Iterator, Sequence

import numpy as np

from ..bitstream.errors import FpcodecError
from .anim_writers import bbox

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: PNG colour types by channels: gray, RGB, RGBA.
_COLOUR_TYPE = {1: 0, 3: 2, 4: 6}
_NONE, _PAETH = 0, 4
#: Compressed bytes per IDAT / fdAT chunk (at most).
_CHUNK_BYTES = 1 << 20
#: Samples filtered and deflated at a time, and of the band the filter is chosen on.
_BAND_BYTES = 1 << 20
_CHOICE_BYTES = 1 << 18
#: zlib's level for the frames (6, its default, as PNG encoders use).
LEVEL = 6
_U16 = 0xFFFF


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))


def delay(ticks: int, time_base: Fraction) -> tuple[int, int]:
    """``fcTL``'s (numerator, denominator) of ``ticks`` (at least 1) of ``time_base``: exact where
    both fit in 16 bits, else the nearest fraction that does."""
    seconds = Fraction(max(int(ticks), 1)) * time_base
    if seconds.numerator <= _U16 and seconds.denominator <= _U16:
        return seconds.numerator, seconds.denominator
    if seconds >= _U16:
        return _U16, 1
    near = seconds.limit_denominator(min(_U16, int(_U16 / seconds)))  # its numerator about 0xFFFF at most
    if near.numerator == 0:  # below half of 1/0xFFFF s
        return 1, _U16
    return min(_U16, near.numerator), near.denominator


def _rows(frame: np.ndarray) -> np.ndarray:
    """(H, W * bytes a pixel) uint8: the frame's samples as PNG stores them (16-bit big-endian)."""
    h = frame.shape[0]
    samples = frame.astype(">u2") if frame.dtype == np.uint16 else frame
    return np.ascontiguousarray(samples).view(np.uint8).reshape(h, -1)


def _filtered(rows: np.ndarray, kind: int, bpp: int, above: np.ndarray | None) -> bytes:
    """The rows with their filter byte: none, or Paeth (``bpp``: bytes a pixel; ``above``: the
    row above the first, None at the top)."""
    h = rows.shape[0]
    if kind == _NONE:
        out = rows
    else:
        x = rows.astype(np.int16)
        b = np.empty_like(x)  # up
        b[0] = 0 if above is None else above
        b[1:] = x[:-1]
        a = np.zeros_like(x)  # left
        a[:, bpp:] = x[:, :-bpp]
        c = np.zeros_like(x)  # up-left
        c[:, bpp:] = b[:, :-bpp]
        p = a + b - c
        pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
        predictor = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
        out = (x - predictor).astype(np.uint8)  # modulo 256
    return np.concatenate([np.full((h, 1), kind, np.uint8), out], axis=1).tobytes()


def _bands(image: np.ndarray, kind: int, bpp: int, band_bytes: int) -> Iterator[bytes]:
    """``image``'s rows filtered, in bands of about ``band_bytes`` samples: what a frame needs
    beside itself stays a band's worth (Paeth's work arrays are 16 times their band)."""
    h = image.shape[0]
    step = max(1, band_bytes // max(1, image[:1].nbytes))
    above = None
    for y in range(0, h, step):
        rows = _rows(image[y : y + step])
        yield _filtered(rows, kind, bpp, above)
        above = rows[-1]


def _choose_filter(image: np.ndarray, bpp: int) -> int:
    """None or Paeth, whichever deflates a band of ``image``'s middle rows smaller at zlib's
    fastest level."""
    h = image.shape[0]
    step = max(1, _CHOICE_BYTES // max(1, image[:1].nbytes))
    y = max(0, (h - step) // 2)
    rows = _rows(image[y : y + step])
    above = _rows(image[y - 1 : y])[0] if y else None
    return min((_NONE, _PAETH), key=lambda kind: len(zlib.compress(_filtered(rows, kind, bpp, above), 1)))


def _changed_box(frame: np.ndarray, previous: np.ndarray) -> tuple[int, int, int, int]:
    """(x, y, width, height) of the pixels that differ, or a 1x1 box where none does."""
    diff = frame != previous
    box = bbox(diff.any(axis=2) if diff.ndim == 3 else diff)
    if box is None:
        return 0, 0, 1, 1
    left, top, right, bottom = box
    return left, top, right - left, bottom - top


class ApngWriter:
    """Writes ``count`` frames, all of one size, channels (1, 3 or 4) and type (uint8 or uint16),
    to ``out``; holds only the last frame. ``animated=False``: one frame as a still PNG (no
    ``acTL`` or ``fcTL``: ``write_png``)."""

    def __init__(
        self, out: BinaryIO, first: np.ndarray, count: int, plays: int, animated: bool = True
    ) -> None:
        channels = 1 if first.ndim == 2 else first.shape[2]
        if channels not in _COLOUR_TYPE or first.dtype not in (np.uint8, np.uint16):
            raise FpcodecError(f"an APNG cannot hold {channels}-channel {first.dtype} frames")
        if not animated and count != 1:
            raise FpcodecError(f"a still PNG holds one frame, not {count}")
        self._out = out
        self._animated = animated
        self._shape, self._dtype = first.shape, first.dtype
        self._bpp = channels * first.dtype.itemsize
        self._count, self._written, self._sequence = count, 0, 0
        self._previous: np.ndarray | None = None
        h, w = first.shape[:2]
        depth = 8 * first.dtype.itemsize
        out.write(_SIGNATURE)
        out.write(_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, _COLOUR_TYPE[channels], 0, 0, 0)))
        if animated:
            out.write(_chunk(b"acTL", struct.pack(">II", count, plays)))
        self._filter = _choose_filter(first, self._bpp)

    def add(self, frame: np.ndarray, duration: tuple[int, int]) -> None:
        """Append ``frame``, shown for ``duration`` = (numerator, denominator) seconds."""
        if frame.shape != self._shape or frame.dtype != self._dtype:
            raise FpcodecError(
                f"frame of {frame.shape} {frame.dtype} in an APNG of {self._shape} {self._dtype}"
            )
        if self._written == self._count:
            raise FpcodecError(f"more frames than the {self._count} the APNG announces")
        if self._previous is None:
            x, y, (h, w) = 0, 0, frame.shape[:2]
        else:
            x, y, w, h = _changed_box(frame, self._previous)
        if self._animated:
            control = struct.pack(">IIIII", self._next(), w, h, x, y) + struct.pack(">HHBB", *duration, 0, 0)
            self._out.write(_chunk(b"fcTL", control))
        deflate, data = zlib.compressobj(LEVEL), bytearray()
        for band in _bands(frame[y : y + h, x : x + w], self._filter, self._bpp, _BAND_BYTES):
            data += deflate.compress(band)
            data = self._whole_chunks(data)
        data += deflate.flush()
        self._data(bytes(self._whole_chunks(data, last=True)))
        self._previous = frame
        self._written += 1

    def _whole_chunks(self, data: bytearray, last: bool = False) -> bytearray:
        """Write ``data``'s whole chunks (all but the final one when ``last``); the rest."""
        while len(data) > _CHUNK_BYTES or (len(data) == _CHUNK_BYTES and not last):
            self._data(bytes(data[:_CHUNK_BYTES]))
            del data[:_CHUNK_BYTES]
        return data

    def _data(self, part: bytes) -> None:
        """A chunk of the frame's deflated rows: IDAT for the first frame (the default image),
        fdAT with its sequence number after it."""
        if self._previous is None:
            self._out.write(_chunk(b"IDAT", part))
        else:
            self._out.write(_chunk(b"fdAT", struct.pack(">I", self._next()) + part))

    def close(self) -> None:
        if self._written != self._count:
            raise FpcodecError(f"{self._written} frames for {self._count} durations")
        self._out.write(_chunk(b"IEND", b""))

    def _next(self) -> int:
        self._sequence += 1
        return self._sequence - 1


def write_png(out: BinaryIO, image: np.ndarray) -> None:
    """``image`` ((H, W), (H, W, 3) or (H, W, 4), uint8 or uint16) as a still PNG, written as the
    APNG writer writes its first frame (16-bit RGB(A), which Pillow does not write, included)."""
    writer = ApngWriter(out, image, 1, 0, animated=False)
    writer.add(image, (1, 1))
    writer.close()


def write_apng(
    out: BinaryIO,
    first: np.ndarray,
    frames: Iterable[np.ndarray],
    durations: Sequence[int],
    time_base: Fraction,
    loop: int | None,
) -> int:
    """Write ``frames`` (``first`` is the first of them, for the header) shown for ``durations``
    ticks of ``time_base`` (a 0 as 1 tick), played ``loop`` times (0: forever; None: once).
    Returns the frames written; raises FpcodecError on more or fewer frames than durations."""
    writer = ApngWriter(out, first, len(durations), 1 if loop is None else loop)
    for i, frame in enumerate(frames):
        if i >= len(durations):
            raise FpcodecError(f"more frames than the {len(durations)} durations")
        writer.add(frame, delay(durations[i], time_base))
    writer.close()
    return len(durations)
