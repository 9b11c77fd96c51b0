"""Encoder and decoder pipelines: frames -> predictor -> frame coding -> container, and back.

Both sides keep only the last HISTORY decoded frames (planar frames: REFERENCES), so memory is flat
in the video's length, and the encoder predicts from exactly what the decoder will have (closed
loop; lossless means the decoded frame equals the input frame, and a CRC per frame proves it on the
decoder side).
"""

from __future__ import annotations

import functools
import io
import itertools
import os
import warnings
import zlib
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, BinaryIO, Callable, Iterable, Iterator

import numpy as np

from ..bitstream import container
from ..bitstream.container import FrameRecord, StreamHeader
from ..bitstream.errors import (
    ChecksumError,
    FormatError,
    InputError,
    LargeFrameWarning,
    ModelMismatchError,
    TruncatedStreamError,
)
from ..bitstream.palette import decode_palette, encode_palette
from ..bitstream.profile import MODE_REPEAT, introduced
from ..models import registry
from ..models.base import HISTORY, Predictor
from . import frame_coding, rgb_planes
from .allocator import raise_mmap_threshold
from .threads import one_blas_thread
from .frame_coding import CodedFrame
from .inter_probe import InterProbe
from .planar_probe import PlanarProbe
from .modes.palette import IntraProbe
from .modes.palette_lz import LzProbe

if TYPE_CHECKING:
    from .planar_io import ColourInfo, PixelFormat

#: Pillow's convention (``Image.MAX_IMAGE_PIXELS``): frames above this many pixels get a warning
#: (a decompression bomb, or a frame that needs a lot of memory) ...
WARN_PIXELS = 89_478_485
#: ... and frames above twice that are refused unless max_pixels / --max-pixels raises the cap.
MAX_PIXELS = 2 * WARN_PIXELS
#: Hard ceiling even when lifted: dimensions are u32 and a frame must fit in memory.
MAX_DIMENSION = 1 << 16
#: The default key-frame rule (no --keyint): a key frame is due DEFAULT_KEYINT frames (x264's default)
#: or KEY_SECONDS of video after the last one, whichever comes first, and starts once the bytes coded
#: since the last one reach KEY_OVERHEAD times that key frame's own size, so key frames cost at most
#: about 1/KEY_OVERHEAD of the stream (a near-still clip, whose frames cost a few hundred bytes against
#: a key frame's kilobytes, would pay far more for a fixed interval); after MAX_KEYINT frames one starts
#: regardless, so that seeking stays bounded.
DEFAULT_KEYINT = 250
KEY_SECONDS = 10
KEY_OVERHEAD = 100
MAX_KEYINT = 2500


def coder_tag() -> str:
    """Versions that determine the bits, recorded in every stream header."""
    return f"constriction={installed_version('constriction')}"


def installed_version(name: str) -> str:
    """``importlib.metadata.version(name)``: read from the one ``name-*.dist-info/METADATA`` beside
    the installed package where there is one (importing ``importlib.metadata``, for its email
    parser, took 12-20 ms of every encode's start-up), else asked of ``importlib.metadata``."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec(name)
    if spec is not None and spec.origin:
        found = list(Path(spec.origin).parent.parent.glob(f"{name}-*.dist-info/METADATA"))
        if len(found) == 1:
            with found[0].open(encoding="utf-8", errors="replace") as metadata:
                for line in itertools.islice(metadata, 32):  # the core fields come first
                    if line.startswith("Version:"):
                        return line.split(":", 1)[1].strip()
    from importlib.metadata import version

    return version(name)


def _planar():
    """``planar_coding``, imported on first use: a palette stream's coder never needs it (nor the
    motion search, refinement and DCT modules it imports: 14 ms of a decode's start-up)."""
    from . import planar_coding

    return planar_coding


def history_length(planar: bool) -> int:
    """How many decoded frames a coder keeps: the predictor's HISTORY, or for planar frames (a
    planar stream, or RGB frames coded as planes) the REFERENCES their motion reads, two fewer
    frames held (12 MB at 1920x1080 in 10 bits, on both sides)."""
    return _planar().REFERENCES if planar else HISTORY


def check_dimensions(width: int, height: int, max_pixels: int | None) -> None:
    """Refuse empty or absurd frame sizes before allocating anything.

    With the default cap (``max_pixels`` None) a frame above WARN_PIXELS gives a LargeFrameWarning
    and one above MAX_PIXELS is refused; an explicit ``max_pixels`` is the cap, without warning.
    """
    if width <= 0 or height <= 0:
        raise InputError(f"invalid frame size {width}x{height}")
    if width > MAX_DIMENSION or height > MAX_DIMENSION:
        raise InputError(f"frame size {width}x{height} exceeds the {MAX_DIMENSION} px limit per side")
    cap = MAX_PIXELS if max_pixels is None else max_pixels
    if width * height > cap:
        raise InputError(
            f"frame size {width}x{height} = {width * height} pixels exceeds the limit of "
            f"{cap} (use --max-pixels to raise it)"
        )
    if max_pixels is None and width * height > WARN_PIXELS:
        warnings.warn(
            f"frame size {width}x{height} = {width * height} pixels is above "
            f"{WARN_PIXELS} and needs a lot of memory (--max-pixels sets the limit "
            f"and silences this)",
            LargeFrameWarning,
            stacklevel=2,
        )


_U32 = 1 << 32


def check_timing(time_base: object, loop: int | None) -> Fraction:
    """The time base as a Fraction that the header can store; refuse what it cannot."""
    if isinstance(time_base, float) or not isinstance(time_base, (int, Fraction)):
        raise InputError(f"time base must be an int or Fraction, got {time_base!r}")
    tb = Fraction(time_base)
    if tb <= 0 or tb.numerator >= _U32 or tb.denominator >= _U32:
        raise InputError(f"time base {tb} cannot be stored (positive, numerator and denominator < 2**32)")
    if loop is not None and not (isinstance(loop, int) and 0 <= loop < (1 << 31)):
        raise InputError(f"loop count {loop!r} cannot be stored (None or 0 <= loop < 2**31)")
    return tb


def frame_crc(frame: np.ndarray) -> int:
    return zlib.crc32(np.ascontiguousarray(frame, dtype=np.uint8).data)


@dataclass(frozen=True)
class DecodedFrame:
    """A decoded frame: (H, W, C) uint8 pixels and its duration in the stream's time base; a
    planar stream's frame has its ``planes`` in the source's pixel format instead (``pixels`` is
    None: RGB would be a conversion, ``codec.planar_io.to_rgb``)."""

    index: int
    pixels: np.ndarray | None
    duration: int
    mode: int
    coded_bytes: int
    planes: list[np.ndarray] | None = None


@dataclass
class Video:
    """A whole decoded video in memory (the non-streaming API): ``frames`` are (H, W, C) arrays,
    or for a planar stream (``header`` with a pixel format) each frame's list of planes."""

    frames: list[np.ndarray]
    durations: list[int]
    time_base: Fraction
    loop: int | None
    model: str
    header: StreamHeader


class Encoder:
    """Streaming encoder: write_header on construction, one chunk per ``write`` call, end on close.

    >>> with Encoder(f, width=96, height=96, channels=3) as enc:
    ...     for frame in frames: enc.write(frame, duration=4)
    """

    def __init__(
        self,
        out: BinaryIO,
        *,
        width: int,
        height: int,
        channels: int,
        model: str | Predictor = registry.DEFAULT_MODEL,
        time_base: Fraction = Fraction(1, 100),
        loop: int | None = None,
        frame_count: int | None = None,
        device: str = "cpu",
        max_pixels: int | None = None,
        use_palette: bool = True,
        weights: str | os.PathLike | None = None,
        keyint: int | None = None,
        pixel_format: PixelFormat | None = None,
        colour: ColourInfo | None = None,
        lz_frames: bool = True,
    ) -> None:
        """``keyint``: a key frame every ``keyint`` frames (0: frame 0 only); None, the default: the
        rule of DEFAULT_KEYINT, KEY_SECONDS, KEY_OVERHEAD and MAX_KEYINT. ``lz_frames=False``
        leaves out the palette LZ mode (mode 8; for comparisons and the pass coder's tests).

        ``pixel_format``: a planar stream (format version 7) of frames in that format, given to
        ``write_planes``; ``channels`` must then be its plane count, and the frames are coded by
        the planar rule (mode 6), so the stream records the ``last-frame`` predictor. With
        ``planar_io.RGB_PLANES`` or ``RGBA_PLANES`` (version 16) ``write`` takes RGB(A) frames
        and codes them as planes (``codec.rgb_planes``)."""
        check_dimensions(width, height, max_pixels)
        raise_mmap_threshold()  # large arrays from the heap (codec/allocator.py)
        self.pixel_format = pixel_format
        if pixel_format is not None:
            if channels != pixel_format.planes:
                raise InputError(
                    f"{pixel_format.name} has {pixel_format.planes} planes, not {channels} channels"
                )
            if not isinstance(model, str) or model != registry.PLANAR_MODEL:
                raise InputError(
                    f"planar streams code with their own rule and record {registry.PLANAR_MODEL!r}, "
                    f"not {getattr(model, 'name', model)!r}"
                )
            self._geometry = _planar().geometry(pixel_format, width, height)
        if keyint is not None and not (isinstance(keyint, (int, np.integer)) and 0 <= keyint < _U32):
            raise InputError(f"key-frame interval {keyint!r} must be an integer >= 0 (0: only frame 0)")
        if pixel_format is None and channels not in (3, 4):
            raise InputError(f"frames must have 3 (RGB) or 4 (RGBA) channels, got {channels}")
        if isinstance(model, Predictor) and weights is not None:
            raise InputError("weights= goes with a model name, not with a Predictor instance")
        self.predictor = model if isinstance(model, Predictor) else _get_model(model, device, weights)
        tb = check_timing(time_base, loop)
        self.header = StreamHeader(
            width=width,
            height=height,
            channels=channels,
            frame_count=frame_count,
            time_base=tb,
            loop=loop,
            model_id=self.predictor.model_id,
            weights_hash=self.predictor.weights_hash,
            coder=coder_tag(),
        )
        self._out = out
        self._history: deque[np.ndarray] = deque(maxlen=history_length(self.pixel_format is not None))
        self._palette: np.ndarray | None = None
        self._probe = IntraProbe()  # which palette-intra estimates are worth making (encoder only)
        self._inter = InterProbe()  # which frames' predicted modes (and prediction) are worth it
        self._lz = LzProbe()  # which predicted frames' palette LZ compressions are worth making
        self._planar_probe = PlanarProbe()  # which planar kinds are worth estimating
        self.use_palette = use_palette
        self.lz_frames = lz_frames
        self.keyint = keyint
        self._key_ticks = None if keyint is not None else KEY_SECONDS / tb  # ticks between key frames
        self.frames_written = 0
        self.frame_sizes: list[int] = []
        self.index: list[container.IndexEntry] = []
        self._key_bytes = 0  # bytes of the last key frame (its PLTE and FRAM chunks)
        self._pts = 0
        self._repeats: list[int] = []  # durations of the frames equal to the last one, not yet written
        self._pos = container.write_preamble(out)
        self._pos += container.write_chunk(out, container.CHUNK_HEAD, container.encode_header(self.header))
        if pixel_format is not None:
            from .planar_io import ColourInfo  # planar_io imports this module

            c = colour or ColourInfo()
            record = container.PixelFormatRecord(
                pixel_format.format_id,
                pixel_format.depth,
                c.color_range,
                c.colorspace,
                c.color_primaries,
                c.color_trc,
                c.chroma_location,
            )
            self._pos += container.write_chunk(
                out, container.CHUNK_PIXEL_FORMAT, container.encode_pixel_format(record)
            )

    def _is_key(self) -> bool:
        """Frame 0, then every keyint frames, or by the default rule (see DEFAULT_KEYINT)."""
        n = self.frames_written
        if n == 0:
            return True
        last = self.index[-1]
        since = n - last.frame
        if self.keyint is not None:
            return bool(self.keyint) and since >= self.keyint
        due = since >= DEFAULT_KEYINT or self._pts - last.pts >= self._key_ticks
        paid_for = self._pos - last.offset >= KEY_OVERHEAD * self._key_bytes
        return (due and paid_for) or since >= MAX_KEYINT

    @one_blas_thread
    def write(self, frame: np.ndarray, duration: int = 0) -> CodedFrame:
        """Code one (H, W, C) uint8 frame; returns what was written."""
        h = self.header
        if self.pixel_format is not None and not self.pixel_format.rgb:
            raise InputError("a planar stream takes frames as planes (write_planes)")
        if frame.shape != (h.height, h.width, h.channels) or frame.dtype != np.uint8:
            raise InputError(
                f"frame {self.frames_written} has shape {frame.shape} {frame.dtype}, "
                f"expected ({h.height}, {h.width}, {h.channels}) uint8"
            )
        if self.pixel_format is not None:  # RGB frames as planes (version 16)
            return self._code_planes(rgb_planes.to_planes(frame), duration)
        self._check_frame(duration)
        key = self._is_key()
        if not key and self._repeat(frame, duration):
            return CodedFrame(MODE_REPEAT, 0, b"")
        self._write_repeats()
        if key:  # decodable on its own: no history, no palette state (nor context counts from them)
            self._history.clear()
            self._palette = None
            self._probe = IntraProbe()
            self._inter = InterProbe()
            self._lz = LzProbe()
            self.index.append(container.IndexEntry(self.frames_written, self._pts, self._pos))
        # The checksum of the frame as given, before any coding: were a coder ever to change its
        # input, the decoder's check would catch it instead of the stream vouching for the change.
        crc = frame_crc(frame)
        history = list(self._history)
        # The prediction of a region, asked for once the frame's copied blocks are known (if at all).
        predict = functools.partial(self.predictor.predict_region, history) if history else None
        previous = history[-1] if history else None
        coded = frame_coding.encode_frame(
            frame,
            predict,
            previous,
            self._palette,
            self.use_palette,
            self._probe,
            self._inter,
            self.lz_frames,
            self._lz,
        )
        size = len(coded.payload)
        if coded.palette is not None and not np.array_equal(coded.palette, self._palette):
            body = coded.palette_body
            if body is None:  # a CodedFrame from elsewhere than encode_frame
                body = encode_palette(coded.palette, self._palette)
            self._pos += container.write_chunk(self._out, container.CHUNK_PALETTE, body)
            self._palette = coded.palette
            size += len(body)
        record = FrameRecord(
            index=self.frames_written,
            duration=int(duration),
            mode=coded.mode,
            scale_shift=coded.scale_shift,
            pixels_crc=crc,
            payload=coded.payload,
            mix=coded.mix,
            flags=container.FLAG_KEY if key else 0,
        )
        self._pos += container.write_chunk(self._out, container.CHUNK_FRAME, container.encode_frame(record))
        if key:
            self._key_bytes = self._pos - self.index[-1].offset
        self._history.append(np.ascontiguousarray(frame))
        self.frames_written += 1
        self._pts += int(duration)
        self.frame_sizes.append(size)
        return coded

    def _repeat(self, frame: np.ndarray | list[np.ndarray], duration: int) -> bool:
        """Hold ``frame`` back as a repeat of the last one (a REPT chunk, version 9) if it equals
        it, and say so; a full run is written first."""
        last = self._history[-1] if self._history else None
        same = last is not None and (
            all(np.array_equal(a, b) for a, b in zip(frame, last, strict=True))
            if isinstance(frame, list)
            else np.array_equal(frame, last)
        )
        if same and len(self._repeats) < container.MAX_REPEATS:
            self._repeats.append(int(duration))
            self._history.append(last)  # the decoder's history holds the repeat too
            self.frames_written += 1
            self._pts += int(duration)
            self.frame_sizes.append(4)
            return True
        if same:  # a full chunk: write it and start the next run with this frame
            self._write_repeats()
            return self._repeat(frame, duration)
        return False

    def _write_repeats(self) -> None:
        """Write the repeats held back (before anything of the next frame, or the index)."""
        if self._repeats:
            first = self.frames_written - len(self._repeats)
            body = container.encode_repeats(first, self._repeats)
            self._pos += container.write_chunk(self._out, container.CHUNK_REPEAT, body)
            self._repeats = []

    def _check_frame(self, duration: int) -> None:
        h = self.header
        if not (isinstance(duration, (int, np.integer)) and 0 <= duration < _U32):
            raise InputError(
                f"frame {self.frames_written} duration {duration!r} cannot be stored "
                f"(an integer 0 <= d < 2**32 in time-base units)"
            )
        if h.frame_count is not None and self.frames_written >= h.frame_count:
            raise InputError(f"more frames than the {h.frame_count} announced in the header")

    @one_blas_thread
    def write_planes(self, planes: list[np.ndarray], duration: int = 0) -> int:
        """Code one frame of a planar stream (its planes in the stream's pixel format); returns the
        payload's size in bytes."""
        return len(self._code_planes(planes, duration).payload)

    def _code_planes(self, planes: list[np.ndarray], duration: int) -> CodedFrame:
        """``write_planes``, returning what was written."""
        if self.pixel_format is None:
            raise InputError("write_planes needs an Encoder opened with a pixel_format")
        shapes = [(g.height, g.width) for g in self._geometry]
        got = [(np.shape(p), np.asarray(p).dtype) for p in planes]
        dtype = np.dtype(self.pixel_format.dtype)
        if len(planes) != len(shapes) or any(
            s != want or d != dtype for (s, d), want in zip(got, shapes, strict=False)
        ):
            raise InputError(
                f"frame {self.frames_written} has planes {[(s, str(d)) for s, d in got]}, "
                f"expected {dtype} planes of {shapes} ({self.pixel_format.name})"
            )
        top = max(int(np.max(p, initial=0)) for p in planes)
        if top >> self.pixel_format.depth:
            raise InputError(
                f"frame {self.frames_written} has a sample {top}, above {self.pixel_format.depth} bits "
                f"({self.pixel_format.name})"
            )
        self._check_frame(duration)
        key = self._is_key()
        planes = [np.ascontiguousarray(p) for p in planes]
        if not key and self._repeat(planes, duration):
            return CodedFrame(MODE_REPEAT, 0, b"")
        self._write_repeats()
        if key:
            self._history.clear()
            self._planar_probe = PlanarProbe()
            self.index.append(container.IndexEntry(self.frames_written, self._pts, self._pos))
        references = list(self._history)[::-1][: _planar().REFERENCES]
        crc = _planar().planes_crc(planes)  # before any coding, as in ``write``
        mode, payload = _planar().encode_frame(planes, references, self._geometry, self._planar_probe)
        record = FrameRecord(
            index=self.frames_written,
            duration=int(duration),
            mode=mode,
            scale_shift=0,
            pixels_crc=crc,
            payload=payload,
            flags=container.FLAG_KEY if key else 0,
        )
        self._pos += container.write_chunk(self._out, container.CHUNK_FRAME, container.encode_frame(record))
        if key:
            self._key_bytes = self._pos - self.index[-1].offset
        self._history.append(planes)
        self.frames_written += 1
        self._pts += int(duration)
        self.frame_sizes.append(len(payload))
        return CodedFrame(mode, 0, payload)

    def close(self) -> None:
        """Write the end chunk; the stream is invalid without it."""
        if self.frames_written == 0:
            raise InputError("no frames to encode")
        h = self.header
        if h.frame_count is not None and self.frames_written != h.frame_count:
            raise InputError(f"wrote {self.frames_written} frames, header announced {h.frame_count}")
        self._write_repeats()
        index_at = self._pos
        self._pos += container.write_chunk(
            self._out, container.CHUNK_INDEX, container.encode_index(self.index)
        )
        self._pos += container.write_chunk(
            self._out, container.CHUNK_END, container.encode_end(self.frames_written, index_at)
        )

    def __enter__(self) -> "Encoder":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()


class Decoder:
    """Streaming decoder: reads the header on construction, yields DecodedFrame one at a time.

    Every frame's reconstruction is checked against its CRC before it is yielded, and a stream that
    ends before its end chunk raises TruncatedStreamError; nothing unverified is ever returned.
    """

    def __init__(
        self,
        inp: BinaryIO,
        *,
        device: str = "cpu",
        max_pixels: int | None = None,
        load_model: bool = True,
        weights: str | os.PathLike | None = None,
        predictor: Predictor | Callable[[str], Predictor] | None = None,
    ) -> None:
        """``predictor``: a loaded predictor to use instead of loading one (bench, batch), or a
        function from the stream's model name to one; its weights are checked like a loaded one's."""
        raise_mmap_threshold()  # large arrays from the heap (codec/allocator.py)
        self._inp = inp
        self.profile = container.read_preamble(inp)
        self.version = self.profile.version
        self._chunks = container.read_chunks_at(inp, container.PREAMBLE_SIZE, profile=self.profile)
        _, kind, body = next(self._chunks)
        if kind != container.CHUNK_HEAD:
            raise FormatError(f"first chunk is {kind!r}, expected {container.CHUNK_HEAD!r}")
        self.header = container.decode_header(body, self.profile)
        #: The format of the planes a planar stream's frames are given in (None: RGB(A) frames,
        #: also those of an RGB stream coded as planes, version 16).
        self.pixel_format: PixelFormat | None = None
        #: The format of the planes the frames are coded in (``pixel_format``, or
        #: ``planar_io.RGB_PLANES`` or ``RGBA_PLANES`` for an RGB(A) stream coded as planes); None:
        #: the RGB and palette modes.
        self.plane_format: PixelFormat | None = None
        self.colour: ColourInfo | None = None
        self._read_pixel_format()
        try:
            check_dimensions(self.header.width, self.header.height, max_pixels)
        except InputError as exc:
            raise FormatError(str(exc)) from None
        name = registry.name_for_id(self.header.model_id)
        if name is None:
            raise ModelMismatchError(
                f"stream uses predictor id {self.header.model_id}, which this "
                f"installation does not have (known: {registry.available()})"
            )
        self.model_name = name
        if predictor is not None and not isinstance(predictor, Predictor):
            predictor = predictor(name)
        elif predictor is None and load_model:
            predictor = _get_model(name, device, weights)
        self.predictor = predictor  # a given predictor (bench, batch) is used as it is, not reloaded
        if self.predictor is not None and self.predictor.weights_hash != self.header.weights_hash:
            which = f"{weights} holds" if weights is not None else "installed weights are"
            raise ModelMismatchError(
                f"stream was made with {name} weights {self.header.weights_hash.hex()[:16]}..., "
                f"{which} {self.predictor.weights_hash.hex()[:16]}... (give the weights file it was "
                f"encoded with: --weights FILE)"
            )
        self._start = container.IndexEntry(0, 0, container.PREAMBLE_SIZE)  # where reading starts
        self.index: list[container.IndexEntry] | None = None  # the INDX chunk, once read

    def _read_pixel_format(self) -> None:
        """A version-7 planar stream's PFMT chunk, right after the header (any other chunk there
        is put back); a 1-plane header without it is refused."""
        if not self.profile.planar_frames:
            return
        try:
            first = next(self._chunks)
        except StopIteration:
            return
        offset, kind, body = first
        if kind != container.CHUNK_PIXEL_FORMAT:
            self._chunks = itertools.chain([first], self._chunks)
            if self.header.channels not in (3, 4):
                raise FormatError(f"{self.header.channels}-plane header without a pixel format chunk")
            return
        from .planar_io import ColourInfo, pixel_format_by_id  # planar_io imports this module

        record = container.decode_pixel_format(body)
        fmt = pixel_format_by_id(record.format_id)
        if not getattr(self.profile, fmt.rule):
            raise FormatError(
                f"pixel format id {record.format_id} ({fmt.name}{' as planes' if fmt.rgb else ''}) is from "
                f"format version {introduced(fmt.rule)}, the stream is version {self.version}"
            )
        if record.depth != fmt.depth:
            raise FormatError(f"pixel format {fmt.name} with depth {record.depth} (it has {fmt.depth} bits)")
        if self.header.channels != fmt.planes:
            raise FormatError(
                f"header says {self.header.channels} planes, pixel format {fmt.name} has {fmt.planes}"
            )
        if self.header.model_id != registry.id_for_name(registry.PLANAR_MODEL):
            raise FormatError(f"planar stream names predictor id {self.header.model_id}, planar frames use 1")
        try:
            self.colour = ColourInfo(
                record.color_range,
                record.colorspace,
                record.color_primaries,
                record.color_trc,
                record.chroma_location,
            )
        except InputError as exc:
            raise FormatError(f"pixel format chunk: {exc}") from None
        if fmt.rgb:
            if self.colour != ColourInfo():
                raise FormatError(f"pixel format {fmt.name} with colour tags {self.colour} (RGB has none)")
            self.colour = None  # RGB frames, as an RGB stream's
        self.plane_format = fmt
        self.pixel_format = None if fmt.rgb else fmt
        self._geometry = _planar().geometry(fmt, self.header.width, self.header.height)

    def seek(self, frame: int) -> int:
        """Start reading at the last key frame at or before ``frame``, found in the index of a
        version-6 stream (the input must be seekable); returns that key frame's number. Streams
        without an index (version 5 and older) start at frame 0. Call before reading any frame."""
        if not self.profile.key_frames or frame <= 0:
            return 0
        entries = container.read_index(self._inp, self.profile)
        if not entries or entries[0].frame != 0 or entries[0].offset <= container.PREAMBLE_SIZE:
            raise FormatError("the stream's index does not start with key frame 0")
        entry = [e for e in entries if e.frame <= frame][-1]
        self._inp.seek(entry.offset)
        self._chunks = container.read_chunks_at(self._inp, entry.offset, profile=self.profile)
        self._start = entry
        return entry.frame

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[DecodedFrame]:
        """The decoded frames ``start`` to ``stop - 1`` (None: to the end), decoding from the last key
        frame at or before ``start`` where the stream has an index; stops reading after ``stop``."""
        self.seek(start)
        for f in self:
            if stop is not None and f.index >= stop:
                return
            if f.index >= start:
                yield f

    def records(self) -> Iterator[FrameRecord]:
        """Frame chunks without decoding pixels or palettes (a cheap scan, e.g. for the durations);
        checks the chunk framing and CRCs, the end chunk and counts."""
        for rec, _palette, _palette_bytes in self.frame_records(palettes=False):
            yield rec

    def frame_records(self, palettes: bool = True) -> Iterator[tuple[FrameRecord, np.ndarray | None, int]]:
        """(record, palette in force, bytes of the palette chunk sent with this frame); the palette
        is None throughout unless ``palettes``, which decodes (and checks) every palette chunk.

        From version 6 a key frame resets the palette state (its PLTE is coded against the empty
        palette), so a PLTE is decoded once its FRAM says whether it is a key frame; the key frames
        read are checked against the INDX chunk, and INDX's offset against FEND."""
        start = self._start
        count, pts = start.frame, start.pts
        palette: np.ndarray | None = None
        palette_bytes = 0
        pending: tuple[int, bytes] | None = None  # a version-6 PLTE waiting for its frame
        keys: list[container.IndexEntry] = []
        index_at: int | None = None
        for offset, kind, body in self._chunks:
            if index_at is not None and kind != container.CHUNK_END:
                raise FormatError(f"{kind!r} chunk after the index (only the end chunk may follow it)")
            if kind == container.CHUNK_PALETTE and self.profile.palette_frames:
                if self.profile.key_frames:
                    if pending is not None:
                        raise FormatError("two palette chunks in a row")
                    pending = offset, body
                elif palettes:
                    palette = decode_palette(body, palette, self.header.channels, self.profile)
                palette_bytes = len(body)
            elif kind == container.CHUNK_FRAME:
                rec = container.decode_frame(body, self.profile)
                if rec.index != count:
                    raise FormatError(f"frame chunk {count} carries index {rec.index}")
                if self.profile.key_frames:
                    if rec.index == start.frame and not rec.key:
                        raise FormatError(
                            f"frame {rec.index} is not a key frame"
                            + (
                                " (the first frame must be one)"
                                if count == 0
                                else " but the index says it is"
                            )
                        )
                    if rec.key:
                        keys.append(
                            container.IndexEntry(rec.index, pts, offset if pending is None else pending[0])
                        )
                        palette = None
                    if pending is not None:
                        if palettes:
                            palette = decode_palette(pending[1], palette, self.header.channels, self.profile)
                        pending = None
                count += 1
                pts += rec.duration
                if self.header.frame_count is not None and count > self.header.frame_count:
                    raise FormatError(f"more frames than the {self.header.frame_count} in the header")
                yield rec, palette, palette_bytes
                palette_bytes = 0
            elif kind == container.CHUNK_REPEAT and self.profile.repeat_frames:
                if pending is not None:
                    raise FormatError("palette chunk before a repeat chunk")
                for rec in container.decode_repeats(body, self.profile):
                    if rec.index != count or count == start.frame:
                        raise FormatError(
                            f"repeat chunk holds frame {rec.index} where "
                            + (f"frame {count} is due" if rec.index != count else "a key frame must be")
                        )
                    count += 1
                    pts += rec.duration
                    if self.header.frame_count is not None and count > self.header.frame_count:
                        raise FormatError(f"more frames than the {self.header.frame_count} in the header")
                    yield rec, palette, 0
            elif kind == container.CHUNK_INDEX and self.profile.key_frames:
                if pending is not None:
                    raise FormatError("palette chunk without a frame after it")
                self.index = container.decode_index(body, self.profile)
                if start.frame == 0 and self.index != keys or not set(keys) <= set(self.index):
                    raise FormatError(
                        f"the index ({_entries(self.index)}) does not match the stream's "
                        f"key frames ({_entries(keys)}"
                        f"{')' if start.frame == 0 else ', from frame %d on)' % start.frame}"
                    )
                index_at = offset
            elif kind == container.CHUNK_END:
                declared, declared_index = container.decode_end(body, self.profile)
                if declared != count or (self.header.frame_count not in (None, count)):
                    raise FormatError(f"end chunk says {declared} frames, stream has {count}")
                if count == 0:
                    raise FormatError("stream holds no frames")
                if self.profile.key_frames:
                    if index_at is None:
                        raise FormatError("version-6 stream without an index chunk before its end")
                    if declared_index != index_at:
                        raise FormatError(
                            f"end chunk puts the index at byte {declared_index}, it is at {index_at}"
                        )
                return
            elif kind == container.CHUNK_HEAD:
                raise FormatError("second header chunk")
            elif kind == container.CHUNK_PIXEL_FORMAT and self.profile.planar_frames:
                raise FormatError("pixel format chunk not right after the header")
            elif kind[:1].isupper():
                raise FormatError(f"unknown critical chunk {kind!r}")
            # Ancillary (lower-case first letter) chunks are skipped, as in PNG.
        raise TruncatedStreamError("stream ends without an end chunk")

    def __iter__(self) -> Iterator[DecodedFrame]:
        if self.predictor is None:
            raise RuntimeError("decoder was opened with load_model=False")
        history = self.new_history()
        for rec, palette, _ in self.frame_records():
            yield self.decode_record(rec, palette, history)

    def new_history(self) -> deque[np.ndarray]:
        """The decoded frames ``decode_record`` reads and adds to, as many as the stream's frames
        need (``history_length``)."""
        return deque(maxlen=history_length(self.plane_format is not None))

    @one_blas_thread
    def decode_record(
        self, rec: FrameRecord, palette: np.ndarray | None, history: deque[np.ndarray]
    ) -> DecodedFrame:
        """Decode one frame from the decoded frames before it (``history``, cleared here at a key
        frame and given the frame after), checked against the frame's CRC."""
        h = self.header
        if rec.key:
            history.clear()
        if rec.mode == MODE_REPEAT:
            if not history:
                raise FormatError(f"frame {rec.index} repeats a frame that was not decoded")
            last = history[-1]
            history.append(last)
            if self.plane_format is not None:
                return self._planar_frame(rec, last, 0)
            return DecodedFrame(rec.index, last, rec.duration, rec.mode, 0)
        if self.plane_format is not None:
            return self._decode_planar(rec, history)
        pred = None  # else the prediction of a region, asked for once the mode knows what it codes
        if history and frame_coding.uses_prediction(rec.mode):
            pred = functools.partial(self.predictor.predict_region, list(history))
        coded = CodedFrame(rec.mode, rec.scale_shift, rec.payload, rec.mix, palette)
        pixels = frame_coding.decode_frame(
            coded, pred, h.height, h.width, h.channels, history[-1] if history else None, self.profile
        )
        if frame_crc(pixels) != rec.pixels_crc:
            raise ChecksumError(
                f"frame {rec.index} does not match its checksum: the decoder's "
                f"prediction differs from the encoder's"
            )
        history.append(pixels)
        return DecodedFrame(rec.index, pixels, rec.duration, rec.mode, len(rec.payload))

    def _decode_planar(self, rec: FrameRecord, history: deque) -> DecodedFrame:
        references = list(history)[::-1][: _planar().REFERENCES]
        planes = _planar().decode_frame(rec.mode, rec.payload, references, self._geometry, self.profile)
        if _planar().planes_crc(planes) != rec.pixels_crc:
            raise ChecksumError(f"frame {rec.index} does not match its checksum")
        history.append(planes)
        return self._planar_frame(rec, planes, len(rec.payload))

    def _planar_frame(self, rec: FrameRecord, planes: list[np.ndarray], coded_bytes: int) -> DecodedFrame:
        """A planar frame as the decoder gives it: its planes, or an RGB stream's RGB pixels."""
        if self.pixel_format is None:  # RGB(A) frames coded as planes (version 16)
            return DecodedFrame(rec.index, rgb_planes.to_rgb(planes), rec.duration, rec.mode, coded_bytes)
        return DecodedFrame(rec.index, None, rec.duration, rec.mode, coded_bytes, planes)


def _entries(entries: list[container.IndexEntry]) -> str:
    """Index entries for a message: frame@byte offset, time in ticks."""
    return ", ".join(f"frame {e.frame} at byte {e.offset}, t={e.pts}" for e in entries) or "none"


def _get_model(name: str, device: str, weights: str | os.PathLike | None = None) -> Predictor:
    try:
        return registry.get(name, device=device, weights=weights)
    except KeyError:
        raise InputError(f"unknown model {name!r} (choose from {', '.join(registry.available())})") from None


def encode(
    frames: Iterable[np.ndarray],
    *,
    durations: Iterable[int] | None = None,
    model: str | Predictor = registry.DEFAULT_MODEL,
    time_base: Fraction = Fraction(1, 100),
    loop: int | None = None,
    device: str = "cpu",
    max_pixels: int | None = None,
    use_palette: bool = True,
    weights: str | os.PathLike | None = None,
    keyint: int | None = None,
    lz_frames: bool = True,
    planes: bool = False,
) -> bytes:
    """Encode a sequence of (H, W, C) uint8 frames (C = 3 or 4) to an fpcodec stream.

    ``use_palette=False`` restricts the encoder to the RGB modes and ``lz_frames=False`` leaves
    out palette LZ (for comparisons). ``weights`` is a weights file for ``model`` instead of the
    shipped one (its hash goes into the stream). ``keyint``: the key-frame interval (see ``Encoder``).
    ``planes=True`` codes the frames as RGB(A) planes by the planar rule (format version 16, what
    ``fpcodec encode`` does with an RGB source of many colours, ``planar_io.rgb_as_planes``); the
    model is then the planar rule's own (``model`` must be left as it is or name it).
    """
    frames = list(frames)
    if not frames:
        raise InputError("no frames to encode")
    durs = list(durations) if durations is not None else [0] * len(frames)
    if len(durs) != len(frames):
        raise InputError(f"{len(durs)} durations for {len(frames)} frames")
    first = np.asarray(frames[0])
    if first.ndim != 3:
        raise InputError(f"frames must be (H, W, C) arrays, got shape {first.shape}")
    pixel_format = None
    if planes:
        from .planar_io import PLANES_FOR_CHANNELS

        if first.shape[2] not in PLANES_FOR_CHANNELS:
            raise InputError(f"planes code RGB or RGBA frames, not {first.shape[2]} channels")
        if model == registry.DEFAULT_MODEL:
            model = registry.PLANAR_MODEL
        pixel_format = PLANES_FOR_CHANNELS[first.shape[2]]
    buf = io.BytesIO()
    with Encoder(
        buf,
        width=first.shape[1],
        height=first.shape[0],
        channels=first.shape[2],
        model=model,
        time_base=time_base,
        loop=loop,
        frame_count=len(frames),
        device=device,
        max_pixels=max_pixels,
        use_palette=use_palette,
        weights=weights,
        keyint=keyint,
        lz_frames=lz_frames,
        pixel_format=pixel_format,
    ) as enc:
        for f, d in zip(frames, durs, strict=True):
            enc.write(np.asarray(f), d)
    return buf.getvalue()


def decode(
    data: bytes,
    *,
    device: str = "cpu",
    max_pixels: int | None = None,
    weights: str | os.PathLike | None = None,
) -> Video:
    """Decode a whole stream held in memory (``weights``: the file it was encoded with, if not the
    shipped one)."""
    dec = Decoder(io.BytesIO(data), device=device, max_pixels=max_pixels, weights=weights)
    frames, durations = [], []
    for f in dec:
        frames.append(f.pixels if f.planes is None else f.planes)
        durations.append(f.duration)
    h = dec.header
    return Video(frames, durations, h.time_base, h.loop, dec.model_name, h)
