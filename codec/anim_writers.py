"""GIF and animated WebP output, one frame at a time, so that memory stays flat in the video's length.

Both formats merge a frame identical to the one before it into that frame (durations added: the
timeline is kept, the frame count is not). Pillow's GIF writer collects every frame before it writes
the first, so the GIF is assembled here: Pillow LZW-codes each frame on its own (a one-frame GIF in
memory) and its image block is spliced into the output behind a graphic control extension written
here, cropped to what changed, as Pillow's writer would. Frames that have fully transparent pixels use
palette entry 0 as the transparent colour and are drawn on a cleared canvas (the frame before them is
disposed to the background); other frames are drawn over the frame before them. The WebP goes through
Pillow's (libwebp's) animation encoder, which takes the frames one by one from a lazy image here.
"""

from __future__ import annotations

import io
import struct
from typing import BinaryIO, Iterable, Iterator, Sequence

import numpy as np

from ..bitstream.errors import FpcodecError
from ..bitstream.palette import unpack_colours
from .palette_coding import indexed_colours

#: GIF stores delays in 1/100 s and loop counts in 16 bits.
_MAX_LOOP = 0xFFFF


class LossyOutputError(FpcodecError):
    """The chosen output format cannot hold the frames exactly."""


def colour_count(frame: np.ndarray) -> int:
    """Distinct colours of an (..., C) uint8 array (a sort of every pixel: for messages; the checks
    ask ``more_colours_than``)."""
    flat = frame.reshape(-1, frame.shape[-1])
    if flat.size == 0:
        return 0
    packed = flat.astype(np.uint32) @ (256 ** np.arange(flat.shape[1], dtype=np.uint32))[:, None]
    return int(np.unique(packed).size)


def more_colours_than(frame: np.ndarray, limit: int) -> bool:
    """Whether an (..., C) uint8 array has more than ``limit`` distinct colours: a hash table of
    its colours, read until it holds more (``colour_kernel``), not a sort of every pixel (the
    GIF writer asks it of every frame)."""
    from . import colour_kernel  # numba: loaded on first use

    return colour_kernel.distinct_count(frame.reshape(-1, frame.shape[-1]), limit) is None


def _hidden_colours(frame: np.ndarray) -> bool:
    """Whether the RGB values under the fully transparent pixels differ (only alpha shows)."""
    if frame.shape[2] != 4:
        return False
    clear = frame[frame[..., 3] == 0]
    return len(clear) > 0 and more_colours_than(clear, 1)


class _GifChecks:
    """What a GIF cannot hold, frame by frame: > 256 colours (255 with transparency) and partial
    alpha are refused unless lossy output is allowed; different hidden colours under fully
    transparent pixels (a GIF has one transparent entry) only give a note."""

    def __init__(self, allow_lossy: bool) -> None:
        self.allow_lossy = allow_lossy
        self.problems: list[str] = []
        self.invisible = 0

    def check(self, i: int, f: np.ndarray) -> None:
        problems = []
        if f.shape[2] == 4:
            alpha = f[..., 3]
            if ((alpha != 0) & (alpha != 255)).any():
                problems.append(f"frame {i} has partial transparency")
            clear = alpha == 0
            self.invisible += _hidden_colours(f)
            shown, entries = f[~clear][:, :3], int(clear.any())  # transparency takes an entry
        else:
            shown, entries = f, 0
        if more_colours_than(shown, 256 - entries):
            colours = colour_count(shown) + entries
            problems.append(f"frame {i} has more than 256 colours ({colours}, transparency counting as one)")
        if problems and not self.allow_lossy:
            raise LossyOutputError(
                f"a GIF cannot hold these frames exactly ({problems[0]}); use .apng, "
                ".webp, .mkv or a PNG sequence, or pass --lossy"
            )
        self.problems += problems

    def notes(self) -> list[str]:
        notes = [f"GIF output is not exact: {p}" for p in self.problems[:3]]
        if self.invisible:
            notes.append(
                f"{self.invisible} frames have several colours under fully transparent pixels; "
                "a GIF keeps one (the pixels look the same, their hidden RGB values change)"
            )
        return notes


def _merged_note(repeats: int, ext: str) -> list[str]:
    if not repeats:
        return []
    return [
        f"{repeats} repeated frames merged into the frame before them (durations added): the "
        f"{ext} writer keeps the timeline but not the frame count"
    ]


def _counted(frames: Iterable[np.ndarray], count: int) -> Iterator[tuple[int, np.ndarray]]:
    """(index, frame), refusing more frames than durations."""
    for i, f in enumerate(frames):
        if i >= count:
            raise FpcodecError(f"more frames than the {count} durations")
        yield i, f


# ------------------------------------------------------------------------------------------- GIF
def bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(left, top, right, bottom) of the true pixels, or None (the GIF and APNG writers' boxes)."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _palette_image(region: np.ndarray, reserve: bool):
    """Exact P-mode image of a region of at most 256 colours, or 255 and entry 0 transparent with
    ``reserve`` (holding the colour of the region's first fully transparent pixel, if any); beyond
    that (lossy output only) Pillow's adaptive palette of the opaque colours."""
    from PIL import Image

    h, w, c = region.shape
    flat = region.reshape(-1, c)
    clear = flat[:, 3] == 0 if reserve and c == 4 else np.zeros(h * w, bool)
    limit = 255 if reserve else 256
    # packed keys sort like the colours: np.unique(..., axis=0)'s result, without its slow row
    # sort, in blocks of pixels
    found = indexed_colours(flat[~clear][:, :3] if clear.any() else flat[:, :3], limit)
    if found is not None:
        colours, index = unpack_colours(found[0], 3), found[1]
    else:
        quantized = Image.fromarray(np.ascontiguousarray(region[..., :3])).convert(
            "P", palette=Image.Palette.ADAPTIVE, colors=limit
        )
        colours = np.asarray(quantized.getpalette()[: 3 * limit], np.uint8).reshape(-1, 3)
        index = np.asarray(quantized).ravel()[~clear]
    full = np.zeros(h * w, np.uint8)
    full[~clear] = index + reserve
    if reserve:
        first = flat[clear][0, :3] if clear.any() else np.zeros(3, np.uint8)
        colours = np.concatenate([first[None, :], colours])
    im = Image.fromarray(full.reshape(h, w), mode="L").convert("P")
    im.putpalette(colours.astype(np.uint8).ravel().tolist())
    return im


def _image_block(im) -> tuple[bytes, int, bytes]:
    """(colour table, interlace flag, LZW data with its sub-blocks) of Pillow's one-frame GIF of ``im``."""
    buf = io.BytesIO()
    im.save(buf, format="GIF", optimize=False)
    data = buf.getvalue()
    flags = data[10]
    pos = 13
    table = b""
    if flags & 0x80:
        table = data[pos : pos + (3 << ((flags & 7) + 1))]
        pos += len(table)
    while data[pos] == 0x21:  # extensions Pillow may add: skip label, then sub-blocks
        pos += 2
        while data[pos]:
            pos += 1 + data[pos]
        pos += 1
    if data[pos] != 0x2C:
        raise RuntimeError("Pillow's GIF has no image descriptor where expected")
    local = data[pos + 9]
    pos += 10
    if local & 0x80:
        table = data[pos : pos + (3 << ((local & 7) + 1))]
        pos += len(table)
    if data[-1:] != b";":
        raise RuntimeError("Pillow's GIF does not end in a trailer")
    return table, local & 0x40, data[pos:-1]


def _table_bits(table: bytes) -> int:
    """The 3-bit size field of a colour table of len(table) // 3 (a power of 2, 2..256) entries."""
    return max((len(table) // 3).bit_length() - 2, 0)


class _Pending:
    """The last distinct frame, held back until the next one settles its duration and disposal."""

    def __init__(
        self, index: int, frame: np.ndarray, transparent: bool, box: tuple[int, int, int, int], ms: int
    ) -> None:
        self.index, self.frame, self.transparent, self.box, self.ms = index, frame, transparent, box, ms


class GifWriter:
    """Writes a GIF frame by frame; holds only the last distinct frame.

    Before each frame the canvas is either fully clear (the frame has fully transparent pixels: it is
    drawn cropped to its visible pixels, and the frame before it is disposed to the background over
    a rectangle that covers everything it showed) or shows exactly the frame before (an opaque frame:
    drawn cropped to the pixels that changed).
    """

    def __init__(
        self, out: BinaryIO, width: int, height: int, loop: int | None, allow_lossy: bool = False
    ) -> None:
        self._out = out
        self._allow_lossy = allow_lossy
        self._count = 0
        self.problems: list[str] = []
        self._size = (width, height)
        self._loop = loop
        self._pending: _Pending | None = None
        self._header_written = False
        self._first_transparent = False
        self.repeats = 0
        self.long_delays = 0

    def add(self, frame: np.ndarray, ms: int) -> None:
        """Append an (H, W, 3|4) uint8 frame shown for ``ms`` milliseconds."""
        p = self._pending
        if p is not None and np.array_equal(frame, p.frame):
            p.ms += ms
            self.repeats += 1
            self._count += 1
            return
        transparent = frame.shape[2] == 4 and bool((frame[..., 3] == 0).any())
        h, w = frame.shape[:2]
        if p is None:
            self._first_transparent = transparent
            box = (0, 0, w, h)
        else:
            self._flush(next_transparent=transparent)
            if transparent:
                box = bbox(frame[..., 3] != 0) or (0, 0, 1, 1)
            else:
                box = bbox((frame != p.frame).any(axis=2))
        self._pending = _Pending(self._count, frame, transparent, box, ms)
        self._count += 1

    def close(self) -> None:
        """Write the last frame (disposed as the first frame needs it when the animation loops) and
        the trailer."""
        if self._pending is None:
            raise FpcodecError("no frames to write")
        self._flush(next_transparent=self._first_transparent)
        self._out.write(b";")

    def _flush(self, next_transparent: bool) -> None:
        p = self._pending
        out = self._out
        box = p.box
        # A frame disposed to the background needs a transparent entry: FFmpeg clears to the disposed
        # frame's transparent colour (to the opaque background colour without one).
        reserve = p.transparent or next_transparent
        if next_transparent and not p.transparent:
            box = (0, 0, *self._size)  # so that disposing of it clears everything it showed
            if more_colours_than(p.frame[..., :3], 255):
                problem = (
                    f"frame {p.index} has 256 colours and is followed by transparent pixels (a "
                    f"GIF frame disposed to the background needs a transparent entry)"
                )
                if not self._allow_lossy:
                    raise LossyOutputError(
                        f"a GIF cannot hold these frames exactly ({problem}); use "
                        ".apng, .webp, .mkv or a PNG sequence, or pass --lossy"
                    )
                self.problems.append(problem)
        left, top, right, bottom = box
        table, interlace, lzw = _image_block(_palette_image(p.frame[top:bottom, left:right], reserve))
        if not self._header_written:
            width, height = self._size
            # The first frame's table is the global one (FFmpeg wants one), later frames have their own.
            out.write(b"GIF89a" + struct.pack("<HHBBB", width, height, 0xF0 | _table_bits(table), 0, 0))
            out.write(table)
            if self._loop is not None:
                loop = min(self._loop, _MAX_LOOP)
                out.write(b"!\xff\x0bNETSCAPE2.0\x03\x01" + struct.pack("<H", loop) + b"\x00")
            table = b""
            self._header_written = True
        delay = p.ms // 10
        if delay > 0xFFFF:
            delay = 0xFFFF
            self.long_delays += 1
        disposal = 2 if next_transparent else 1
        out.write(b"!\xf9\x04" + struct.pack("<BHBB", (disposal << 2) | int(reserve), delay, 0, 0))
        packed = interlace | ((0x80 | _table_bits(table)) if table else 0)
        out.write(b"," + struct.pack("<HHHHB", left, top, right - left, bottom - top, packed))
        out.write(table)
        out.write(lzw)
        self._pending = None


def write_gif(
    out: BinaryIO, frames: Iterable[np.ndarray], ms: Sequence[int], loop: int | None, allow_lossy: bool
) -> tuple[list[str], int]:
    """Stream ``frames`` (durations ``ms``) into a GIF; returns (notes, frames written).

    Raises LossyOutputError at the first frame a GIF cannot hold exactly unless ``allow_lossy``.
    """
    checks = _GifChecks(allow_lossy)
    writer: GifWriter | None = None
    count = 0
    for i, f in _counted(frames, len(ms)):
        checks.check(i, f)
        if writer is None:
            writer = GifWriter(out, f.shape[1], f.shape[0], loop, allow_lossy)
        writer.add(f, int(ms[i]))
        count += 1
    if writer is None:
        raise FpcodecError("no frames to write")
    writer.close()
    checks.problems += writer.problems
    notes = checks.notes()
    if writer.long_delays:
        notes.append(
            f"{writer.long_delays} frame durations above 655.35 s stored as 655.35 s, the most a GIF holds"
        )
    if loop is not None and loop > _MAX_LOOP:
        notes.append(f"loop count {loop} stored as {_MAX_LOOP}, the most a GIF holds")
    return notes + _merged_note(writer.repeats, ".gif"), count


# ------------------------------------------------------------------------------------------ WebP
def _lazy_frames(frames: Iterator[np.ndarray], count: int):
    """A Pillow image whose frames 0..count-1 are read from ``frames`` as Pillow seeks to them in
    order: Pillow's WebP writer then holds one frame at a time (it lists ``append_images``)."""
    from PIL import Image

    class LazyFrames(Image.Image):
        _fp_position = -1

        @property
        def n_frames(self) -> int:
            return count

        def tell(self) -> int:
            return self._fp_position

        def seek(self, frame: int) -> None:
            if frame == self._fp_position:
                return
            if frame != self._fp_position + 1:
                raise ValueError(f"frames are read in order (frame {frame} after {self._fp_position})")
            pixels = next(frames, None)
            if pixels is None:
                raise FpcodecError(f"{frame + 1} frames for {count + 1} durations")
            position = frame
            self.__dict__.update(Image.fromarray(np.ascontiguousarray(pixels)).__dict__)
            self._fp_position = position

    return LazyFrames()


def write_webp(
    path, frames: Iterable[np.ndarray], ms: Sequence[int], loop: int | None
) -> tuple[list[str], int]:
    """Lossless (animated) WebP through Pillow, one frame at a time; returns (notes, frames written)."""
    from PIL import Image

    state = {"count": 0, "repeats": 0, "hidden": False, "previous": None}

    def inspected() -> Iterator[np.ndarray]:
        for i, f in _counted(frames, len(ms)):
            prev = state["previous"]
            if prev is not None and np.array_equal(f, prev):
                state["repeats"] += 1
            state["hidden"] = state["hidden"] or _hidden_colours(f)
            state["previous"] = f
            state["count"] = i + 1
            yield f

    it = inspected()
    first = next(it, None)
    if first is None:
        raise FpcodecError("no frames to write")
    # Animated WebP/PNG count plays, 0 = forever; a video without loop information plays once.
    plays = 1 if loop is None else loop
    kw = dict(lossless=True, quality=100, method=4, exact=True, loop=plays)
    if len(ms) > 1:
        kw.update(save_all=True, append_images=[_lazy_frames(it, len(ms) - 1)], duration=list(ms))
    else:
        kw.update(duration=ms[0])
    Image.fromarray(first).save(path, format="WEBP", **kw)
    if next(it, None) is not None:
        raise FpcodecError(f"more frames than the {len(ms)} durations")
    notes = []
    if state["count"] > 1 and first.shape[2] == 4 and state["hidden"]:
        notes.append(
            "animated WebP does not keep the colours under fully transparent pixels "
            "(what is shown does not change)"
        )
    return notes + _merged_note(state["repeats"], ".webp"), state["count"]
