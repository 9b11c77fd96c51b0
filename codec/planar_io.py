"""Videos in their own planar pixel format: reading planes, writing Y4M and FFV1/Matroska.

``codec.io`` turns every input into RGB24, which is lossy for natural video (YUV, 4:2:0 chroma, more
than 8 bits). Here the planes come out of FFmpeg exactly as decoded, one numpy array per plane, and
go back into Y4M or FFV1 the same way, so a lossless pipeline can keep every sample. Formats not
read natively (rgb24, pal8, bgra, nv12, ...) give ``pixel_format`` None: the caller falls back to
the RGB path of ``codec.io``, where an RGB source of many colours is coded as planes all the same
(``rgb_as_planes``; ``PIXEL_FORMATS`` holds those planes' formats, ``RGB_PLANES`` and
``RGBA_PLANES``, which no file is read or written in).
"""

from __future__ import annotations

import itertools
import os
import warnings
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from ..bitstream.errors import ConvertedSourceWarning, FormatError, InputError
from . import packed_layouts, rgb_planes, sniff
from .io import (
    DEFAULT_TIME_BASE,
    HEAD_BYTES,
    VideoReader,
    _short,
    atomic_output,
    may_have_alpha,
    open_av,
    pillow_kind,
    plane_view,
    same_size,
    timed_frames,
)
from .pipeline import check_dimensions

# FFmpeg's enum values (libavutil/pixfmt.h), as stored in streams and Matroska.
COLOR_RANGE_UNSPECIFIED, COLOR_RANGE_MPEG, COLOR_RANGE_JPEG = 0, 1, 2  # AVColorRange
UNSPECIFIED = 2  # AVCOL_SPC / AVCOL_PRI / AVCOL_TRC _UNSPECIFIED
CHROMA_LOC_UNSPECIFIED, CHROMA_LOC_LEFT, CHROMA_LOC_CENTER, CHROMA_LOC_TOPLEFT = 0, 1, 2, 3
_CHROMA_LOC_MAX = 6  # AVCHROMA_LOC_BOTTOM; AVCHROMA_LOC_NB is 7


@dataclass(frozen=True)
class PixelFormat:
    """A planar format fpcodec codes natively: FFmpeg's name, the stream's id, the plane layout."""

    name: str
    format_id: int
    planes: int
    log2_chroma_w: int
    log2_chroma_h: int
    depth: int
    #: RGB(A) frames coded as planes (``codec.rgb_planes``, version 16): decoded back to RGB(A)
    #: pixels, never read from or written to a planar file
    rgb: bool = False
    #: FFmpeg's planar RGB (planes green, blue, red, alpha; version 17): blue and red coded less
    #: green (``rgb_planes.less_green``), at one sample rule
    gbr: bool = False
    #: The ``bitstream.profile`` rule of the format version that brought the format (a stream of
    #: an earlier version naming it is refused)
    rule: str = "planar_frames"
    #: The last plane is alpha, at full size whatever the chroma subsampling (yuva*, gbrap*, rgba)
    alpha: bool = False

    @property
    def dtype(self) -> type[np.unsignedinteger]:
        """uint8 up to 8 bits, uint16 above (FFmpeg's ``le`` formats use 2 bytes per sample)."""
        return np.uint8 if self.depth <= 8 else np.uint16

    def subsampling(self, k: int) -> tuple[int, int]:
        """(log2 vertical, log2 horizontal) subsampling of plane ``k``: only the chroma planes (1
        and 2) are subsampled; luma, gray and alpha are full size."""
        chroma = 0 < k < self.planes - (1 if self.alpha else 0)
        return (self.log2_chroma_h, self.log2_chroma_w) if chroma else (0, 0)

    def plane_shapes(self, width: int, height: int) -> list[tuple[int, int]]:
        """(height, width) of each plane; chroma sizes round up for odd sizes, as FFmpeg does."""
        shapes = []
        for k in range(self.planes):
            sh, sw = self.subsampling(k)
            shapes.append((-(-height >> sh), -(-width >> sw)))
        return shapes


_FORMATS = (
    # Hand-written ids: they are stored in streams, so never renumber or derive them from order.
    PixelFormat("gray", 1, 1, 0, 0, 8),
    PixelFormat("yuv420p", 2, 3, 1, 1, 8),
    PixelFormat("yuv422p", 3, 3, 1, 0, 8),
    PixelFormat("yuv444p", 4, 3, 0, 0, 8),
    PixelFormat("gray10le", 5, 1, 0, 0, 10),
    PixelFormat("yuv420p10le", 6, 3, 1, 1, 10),
    PixelFormat("yuv422p10le", 7, 3, 1, 0, 10),
    PixelFormat("yuv444p10le", 8, 3, 0, 0, 10),
    PixelFormat("yuv420p12le", 9, 3, 1, 1, 12),
    PixelFormat("yuv422p12le", 10, 3, 1, 0, 12),
    PixelFormat("yuv444p12le", 11, 3, 0, 0, 12),
    PixelFormat("gray12le", 12, 1, 0, 0, 12),
    PixelFormat("rgb24", 13, 3, 0, 0, 8, rgb=True, rule="rgb_planes"),
    PixelFormat("rgba", 14, 4, 0, 0, 8, rgb=True, rule="rgb_planes", alpha=True),
    # Version 17: 14 and 16 bits, planar RGB.
    PixelFormat("gray14le", 15, 1, 0, 0, 14, rule="deep_samples"),
    PixelFormat("yuv420p14le", 16, 3, 1, 1, 14, rule="deep_samples"),
    PixelFormat("yuv422p14le", 17, 3, 1, 0, 14, rule="deep_samples"),
    PixelFormat("yuv444p14le", 18, 3, 0, 0, 14, rule="deep_samples"),
    PixelFormat("gray16le", 19, 1, 0, 0, 16, rule="deep_samples"),
    PixelFormat("yuv420p16le", 20, 3, 1, 1, 16, rule="deep_samples"),
    PixelFormat("yuv422p16le", 21, 3, 1, 0, 16, rule="deep_samples"),
    PixelFormat("yuv444p16le", 22, 3, 0, 0, 16, rule="deep_samples"),
    PixelFormat("gbrp16le", 23, 3, 0, 0, 16, gbr=True, rule="deep_samples"),
    PixelFormat("gbrap16le", 24, 4, 0, 0, 16, gbr=True, rule="deep_samples", alpha=True),
    PixelFormat("gbrp10le", 25, 3, 0, 0, 10, gbr=True, rule="deep_samples"),
    PixelFormat("gbrp12le", 26, 3, 0, 0, 12, gbr=True, rule="deep_samples"),
    PixelFormat("gbrap10le", 27, 4, 0, 0, 10, gbr=True, rule="deep_samples", alpha=True),
    PixelFormat("gbrap12le", 28, 4, 0, 0, 12, gbr=True, rule="deep_samples", alpha=True),
    # Version 18: the rest of FFV1's planar layouts (DV's 4:1:1, JPEG's 4:4:0, Indeo's 4:1:0),
    # 9 bits, 14-bit planar RGB, and YUV with an alpha plane (VP8/VP9 and ProRes 4444 alpha).
    PixelFormat("yuv440p", 29, 3, 0, 1, 8, rule="more_formats"),
    PixelFormat("yuv411p", 30, 3, 2, 0, 8, rule="more_formats"),
    PixelFormat("yuv410p", 31, 3, 2, 2, 8, rule="more_formats"),
    PixelFormat("yuv440p10le", 32, 3, 0, 1, 10, rule="more_formats"),
    PixelFormat("yuv440p12le", 33, 3, 0, 1, 12, rule="more_formats"),
    PixelFormat("gray9le", 34, 1, 0, 0, 9, rule="more_formats"),
    PixelFormat("yuv420p9le", 35, 3, 1, 1, 9, rule="more_formats"),
    PixelFormat("yuv422p9le", 36, 3, 1, 0, 9, rule="more_formats"),
    PixelFormat("yuv444p9le", 37, 3, 0, 0, 9, rule="more_formats"),
    PixelFormat("gbrp9le", 38, 3, 0, 0, 9, gbr=True, rule="more_formats"),
    PixelFormat("gbrp14le", 39, 3, 0, 0, 14, gbr=True, rule="more_formats"),
    PixelFormat("gbrap14le", 40, 4, 0, 0, 14, gbr=True, rule="more_formats", alpha=True),
    PixelFormat("yuva420p", 41, 4, 1, 1, 8, rule="more_formats", alpha=True),
    PixelFormat("yuva422p", 42, 4, 1, 0, 8, rule="more_formats", alpha=True),
    PixelFormat("yuva444p", 43, 4, 0, 0, 8, rule="more_formats", alpha=True),
    PixelFormat("yuva420p9le", 44, 4, 1, 1, 9, rule="more_formats", alpha=True),
    PixelFormat("yuva422p9le", 45, 4, 1, 0, 9, rule="more_formats", alpha=True),
    PixelFormat("yuva444p9le", 46, 4, 0, 0, 9, rule="more_formats", alpha=True),
    PixelFormat("yuva420p10le", 47, 4, 1, 1, 10, rule="more_formats", alpha=True),
    PixelFormat("yuva422p10le", 48, 4, 1, 0, 10, rule="more_formats", alpha=True),
    PixelFormat("yuva444p10le", 49, 4, 0, 0, 10, rule="more_formats", alpha=True),
    PixelFormat("yuva422p12le", 50, 4, 1, 0, 12, rule="more_formats", alpha=True),
    PixelFormat("yuva444p12le", 51, 4, 0, 0, 12, rule="more_formats", alpha=True),
    PixelFormat("yuva420p16le", 52, 4, 1, 1, 16, rule="more_formats", alpha=True),
    PixelFormat("yuva422p16le", 53, 4, 1, 0, 16, rule="more_formats", alpha=True),
    PixelFormat("yuva444p16le", 54, 4, 0, 0, 16, rule="more_formats", alpha=True),
)
#: The supported formats by their stream id.
PIXEL_FORMATS: dict[int, PixelFormat] = {f.format_id: f for f in _FORMATS}
#: The RGB frames' planes (version 16): green, then blue and red less green (``codec.rgb_planes``),
#: and RGBA frames' (the same and alpha), by their channel count.
RGB_PLANES = PIXEL_FORMATS[13]
RGBA_PLANES = PIXEL_FORMATS[14]
PLANES_FOR_CHANNELS = {3: RGB_PLANES, 4: RGBA_PLANES}
#: The formats a video is read in natively, by FFmpeg's name (an RGB video is read as RGB frames).
_BY_NAME: dict[str, PixelFormat] = {f.name: f for f in _FORMATS if not f.rgb}
#: The formats coded natively, as a warning names them.
NATIVE_NAMES = (
    "gray, yuv420p, yuv422p and yuv444p, 8 to 16 bits, the YUV ones also with alpha; yuv440p, 8, "
    "10 or 12 bits; yuv411p and yuv410p; 9- to 16-bit RGB(A); 16-bit gray with alpha; packed and "
    "semi-planar YUV (nv12, yuyv422, p010le, y210le, ...) as the planar format of their samples"
)
#: FFmpeg's deprecated JPEG-range names: the plain format with colour range "full".
FULL_RANGE_ALIASES = {
    "yuvj420p": "yuv420p",
    "yuvj422p": "yuv422p",
    "yuvj444p": "yuv444p",
    "yuvj440p": "yuv440p",
    "yuvj411p": "yuv411p",
}
#: Big-endian twins of the deeper formats (16-bit gray PNGs decode as gray16be): the same samples,
#: read byte-swapped into the little-endian format.
BIG_ENDIAN_ALIASES = {f.name[:-2] + "be": f.name for f in _FORMATS if f.name.endswith("le")}

# Y4M colour-space tags as libavformat/yuv4mpegenc.c writes them (with mjpegtools' XYSCSS twin).
_Y4M_TAGS = {
    "gray": "Cmono",
    "gray10le": "Cmono10",
    "gray12le": "Cmono12",
    "yuv422p": "C422 XYSCSS=422",
    "yuv444p": "C444 XYSCSS=444",
    "yuv420p10le": "C420p10 XYSCSS=420P10",
    "yuv422p10le": "C422p10 XYSCSS=422P10",
    "yuv444p10le": "C444p10 XYSCSS=444P10",
    "yuv420p12le": "C420p12 XYSCSS=420P12",
    "yuv422p12le": "C422p12 XYSCSS=422P12",
    "yuv444p12le": "C444p12 XYSCSS=444P12",
    "gray16le": "Cmono16",
    "yuv420p14le": "C420p14 XYSCSS=420P14",
    "yuv422p14le": "C422p14 XYSCSS=422P14",
    "yuv444p14le": "C444p14 XYSCSS=444P14",
    "yuv420p16le": "C420p16 XYSCSS=420P16",
    "yuv422p16le": "C422p16 XYSCSS=422P16",
    "yuv444p16le": "C444p16 XYSCSS=444P16",
    "yuv411p": "C411 XYSCSS=411",
    "gray9le": "Cmono9",
    "yuv420p9le": "C420p9 XYSCSS=420P9",
    "yuv422p9le": "C422p9 XYSCSS=422P9",
    "yuv444p9le": "C444p9 XYSCSS=444P9",
    "yuva444p": "C444alpha XYSCSS=444",
}
_Y4M_420 = {
    CHROMA_LOC_LEFT: "C420mpeg2 XYSCSS=420MPEG2",
    CHROMA_LOC_TOPLEFT: "C420paldv XYSCSS=420PALDV",
}
_Y4M_420_DEFAULT = "C420jpeg XYSCSS=420JPEG"  # centre sited: also FFmpeg's tag when it is unknown
# The chroma siting FFmpeg's Y4M demuxer reads from the C tag (libavformat/yuv4mpegdec.c).
_Y4M_CHROMA = {"420jpeg": CHROMA_LOC_CENTER, "420mpeg2": CHROMA_LOC_LEFT, "420paldv": CHROMA_LOC_TOPLEFT}
_Y4M_HEADER_MAX = 128  # FFmpeg's demuxer refuses longer stream headers


#: Muxer options for Matroska outputs: FFmpeg's bit-exact mode, without which the muxer writes a
#: random segment UID and its own version, so that decoding a stream twice gave different files.
BITEXACT = {"fflags": "+bitexact"}


def pixel_format_by_name(name: str) -> PixelFormat | None:
    """The format for FFmpeg's pix_fmt ``name`` (yuvj* give the plain format, big-endian ones the
    little-endian format, packed and semi-planar ones (YUV, 16-bit RGB and gray-alpha) the planar
    format of their samples: ``packed_layouts``), or None if unsupported."""
    name = FULL_RANGE_ALIASES.get(name, name)
    if name in packed_layouts.LAYOUTS:
        return _BY_NAME[packed_layouts.LAYOUTS[name].planar]
    return _BY_NAME.get(BIG_ENDIAN_ALIASES.get(name, name))


def pixel_format_by_id(format_id: int) -> PixelFormat:
    """The format a stream names by id; a FormatError for ids this build does not know."""
    try:
        return PIXEL_FORMATS[format_id]
    except KeyError:
        raise FormatError(f"unknown pixel format id {format_id!r}") from None


@dataclass(frozen=True)
class ColourInfo:
    """How to interpret the samples, with FFmpeg's numbering (libavutil/pixfmt.h).

    color_range: 0 unspecified, 1 mpeg/limited, 2 jpeg/full. colorspace, color_primaries, color_trc:
    AVColorSpace, AVColorPrimaries, AVColorTransferCharacteristic (2 = unspecified). chroma_location:
    AVChromaLocation (0 unspecified, 1 left, 2 center, 3 topleft, 4 top, 5 bottomleft, 6 bottom).
    """

    color_range: int = COLOR_RANGE_UNSPECIFIED
    colorspace: int = UNSPECIFIED
    color_primaries: int = UNSPECIFIED
    color_trc: int = UNSPECIFIED
    chroma_location: int = CHROMA_LOC_UNSPECIFIED

    def __post_init__(self) -> None:
        # Values may come from a stream being decoded: refuse what no FFmpeg enum (or u8) holds.
        limits = {"color_range": 2, "chroma_location": _CHROMA_LOC_MAX}
        for field in ("color_range", "colorspace", "color_primaries", "color_trc", "chroma_location"):
            value = getattr(self, field)
            if not isinstance(value, (int, np.integer)) or not 0 <= value <= limits.get(field, 255):
                raise InputError(f"invalid {field} {value!r}")


def colour_info(frame, codec_context=None, chroma_location: int = CHROMA_LOC_UNSPECIFIED) -> ColourInfo:
    """A decoded frame's colour tags, else its codec context's; FFmpeg's yuvj* formats mean full range.

    PyAV (checked with 18.1) exposes no chroma location on frames or codec contexts, so it is
    passed in: NativeReader takes it from a Y4M header (which names it in its C tag), and any other
    source reads as unspecified.
    """

    def pick(name: str, unspecified: int) -> int:
        for source in (frame, codec_context):
            value = getattr(source, name, None)
            if value is not None and int(value) != unspecified:
                return int(value)
        return unspecified

    colour_range = pick("color_range", COLOR_RANGE_UNSPECIFIED)
    if frame.format.name in FULL_RANGE_ALIASES:
        colour_range = COLOR_RANGE_JPEG
    return ColourInfo(
        color_range=colour_range,
        colorspace=pick("colorspace", UNSPECIFIED),
        color_primaries=pick("color_primaries", UNSPECIFIED),
        color_trc=pick("color_trc", UNSPECIFIED),
        chroma_location=chroma_location,
    )


class NativeReader:
    """Opens a video with PyAV; ``frames()`` streams its planes in the source's own pixel format."""

    def __init__(self, path: str | os.PathLike, max_pixels: int | None = None) -> None:
        import av

        self.path = Path(path)
        problem = sniff.input_kind(self.path)
        if problem:
            raise InputError(f"{self.path} {problem}")
        with self._open() as cont:
            if not cont.streams.video:
                raise InputError(f"{self.path} has no video stream")
            stream = cont.streams.video[0]
            cc = stream.codec_context
            if cc is None:  # FFmpeg knows the container, not the stream's codec
                raise InputError(f"{self.path} has a video stream in a codec FFmpeg cannot decode")
            if cc.width and cc.height:
                check_dimensions(cc.width, cc.height, max_pixels)  # before decoding a single frame
            self.time_base = Fraction(stream.time_base or DEFAULT_TIME_BASE)
            rate = stream.average_rate or stream.guessed_rate
            #: The container's frame rate, for writers that need one (None when it gives none).
            self.frame_rate: Fraction | None = Fraction(rate) if rate else None
            try:
                first = next(cont.decode(stream), None)
            except av.FFmpegError as exc:
                raise InputError(f"{self.path} could not be decoded ({_short(exc)})") from None
            if first is None:
                raise InputError(f"{self.path} has no frames")
            check_dimensions(first.width, first.height, max_pixels)
            self.width, self.height = first.width, first.height
            #: FFmpeg's name for the decoded frames' format (yuvj420p, rgb24, ...).
            self.source_pix_fmt: str = first.format.name
            self.pixel_format: PixelFormat | None = pixel_format_by_name(self.source_pix_fmt)
            self.colour = colour_info(first, cc, _y4m_chroma_location(self.path))

    def _open(self):
        return open_av(self.path)

    def frames(self) -> Iterator[tuple[list[np.ndarray], int]]:
        """Each frame's planes (C-contiguous, ``pixel_format.dtype``) and duration in ``time_base``
        units. Raises InputError when the format is not supported natively or changes mid-stream."""
        fmt = self.pixel_format
        if fmt is None:
            raise InputError(f"{self.path}: pixel format {self.source_pix_fmt!r} is not supported natively")
        shapes = fmt.plane_shapes(self.width, self.height)

        def convert(frame) -> list[np.ndarray]:
            same_size(self.path, (frame.width, frame.height), (self.width, self.height))
            if frame.format.name != self.source_pix_fmt:
                raise InputError(
                    f"{self.path}: pixel format changes mid-stream "
                    f"({self.source_pix_fmt!r} to {frame.format.name!r})"
                )
            if layout is not None:
                return layout.planes(frame, self.width, self.height, shapes)
            return _frame_planes(frame, fmt, shapes, self.path, big_endian)

        big_endian = self.source_pix_fmt in BIG_ENDIAN_ALIASES
        layout = packed_layouts.LAYOUTS.get(self.source_pix_fmt)

        with self._open() as cont:
            yield from timed_frames(self.path, cont, convert)


def native_reader(path: str | os.PathLike, max_pixels: int | None = None) -> NativeReader | None:
    """A reader of the input's planes when it is coded in its own pixel format (a YUV or gray video,
    8 to 16 bits, planar, packed or semi-planar); None for GIFs, animated WebP, RGB and palette
    sources, which are coded as RGB frames. The one rule ``fpcodec encode`` and ``fpcodec batch
    encode`` share, so both code a file the same way. A video of any other format (floats, Bayer
    mosaics, xyz12, 10-bit words packed three to 32 bits, ...) is coded as RGB frames too, with a
    ConvertedSourceWarning: its own samples are not kept."""
    with open(path, "rb") as fh:
        if pillow_kind(fh.read(HEAD_BYTES)):
            return None
    reader = NativeReader(path, max_pixels=max_pixels)
    if reader.pixel_format is not None:
        return reader
    if not rgb_keeps_samples(reader.source_pix_fmt):
        warnings.warn(
            f"{reader.path}: {reader.source_pix_fmt} is not coded natively; the stream keeps its "
            f"conversion to 8-bit {'RGB(A)' if may_have_alpha(reader.source_pix_fmt) else 'RGB'}, "
            f"not the source's own samples (native: {NATIVE_NAMES})",
            ConvertedSourceWarning,
            stacklevel=2,
        )
    return None


def rgb_as_planes(reader: VideoReader) -> bool:
    """Whether ``reader``'s RGB(A) frames are coded as planes (``codec.rgb_planes``, format version 16)
    rather than by the RGB and palette modes: ``rgb_planes.codes_as_planes`` of its first frames.
    The other half of the rule ``native_reader`` states, shared by ``fpcodec encode`` and
    ``fpcodec batch encode``; peeks at the frames (``VideoReader.peek``: the frames read
    afterwards start from them, not from a second decode)."""
    if reader.info.channels not in PLANES_FOR_CHANNELS or reader.is_gif:
        return False
    return rgb_planes.codes_as_planes(reader.peek(), reader.info.channels, reader.is_gif)


def rgb_keeps_samples(pix_fmt: str) -> bool:
    """Whether RGB(A) frames of 8-bit samples hold every sample of a frame in FFmpeg's ``pix_fmt``:
    palettes, RGB and gray (with or without alpha) of at most 8 bits a component. YUV formats
    (other than the native ones), deeper samples, floats and Bayer mosaics do not."""
    import av

    try:
        desc = av.VideoFormat(pix_fmt)
    except (ValueError, av.FFmpegError):
        return False
    if desc.has_palette:
        return True
    components = desc.components
    if pix_fmt.startswith("bayer") or any(c.bits > 8 for c in components):
        return False
    colour = [c for c in components if not c.is_alpha]
    return desc.is_rgb or (len(colour) == 1 and colour[0].is_luma)


def planar_encoder(out, reader: NativeReader, max_pixels: int | None = None, keyint: int | None = None):
    """The ``pipeline.Encoder`` of a planar stream of ``reader``'s video (its size, pixel format,
    time base and colour tags; the planar rule): what ``fpcodec encode`` and ``batch encode``
    open for a YUV or gray source. Its ``write_planes`` takes ``reader.frames()``'s planes."""
    from ..models import registry
    from .pipeline import Encoder

    fmt = reader.pixel_format
    return Encoder(
        out,
        width=reader.width,
        height=reader.height,
        channels=fmt.planes,
        model=registry.PLANAR_MODEL,
        time_base=reader.time_base,
        max_pixels=max_pixels,
        keyint=keyint,
        pixel_format=fmt,
        colour=reader.colour,
    )


def rgb_planes_encoder(out, reader: VideoReader, max_pixels: int | None = None, keyint: int | None = None):
    """The ``pipeline.Encoder`` of ``reader``'s RGB(A) frames coded as planes (``rgb_as_planes``;
    format version 16; its ``write`` takes the frames): what ``fpcodec encode`` and ``batch
    encode`` open for an RGB source of many colours."""
    from ..models import registry
    from .pipeline import Encoder

    info = reader.info
    return Encoder(
        out,
        width=info.width,
        height=info.height,
        channels=info.channels,
        model=registry.PLANAR_MODEL,
        time_base=info.time_base,
        loop=info.loop,
        frame_count=info.frame_count,
        max_pixels=max_pixels,
        keyint=keyint,
        pixel_format=PLANES_FOR_CHANNELS[info.channels],
    )


def _frame_planes(
    frame, fmt: PixelFormat, shapes: list[tuple[int, int]], path: Path, big_endian: bool = False
) -> list[np.ndarray]:
    out = []
    stored = np.dtype(fmt.dtype).newbyteorder(">" if big_endian else "<")
    for plane, (h, w) in zip(frame.planes, shapes, strict=True):
        if (plane.height, plane.width) != (h, w):  # would mean our table disagrees with FFmpeg's
            raise InputError(f"{path}: plane of {plane.width}x{plane.height}, expected {w}x{h}")
        view = plane_view(plane, stored, h)[:, :w]
        out.append(np.array(view, dtype=fmt.dtype, order="C"))  # a native-order copy
    return out


def _y4m_chroma_location(path: Path) -> int:
    """The chroma siting a Y4M stream header names (as FFmpeg's demuxer reads it), else unspecified."""
    try:
        with open(path, "rb") as fh:
            line = fh.read(_Y4M_HEADER_MAX).split(b"\n", 1)[0]
    except OSError:
        return CHROMA_LOC_UNSPECIFIED
    tokens = line.split(b" ")
    if tokens[0] != b"YUV4MPEG2":
        return CHROMA_LOC_UNSPECIFIED
    for tok in tokens[1:]:
        if tok.startswith(b"C"):
            tag = tok[1:].decode("ascii", "replace")
            for prefix, loc in _Y4M_CHROMA.items():  # prefixes, matched as FFmpeg matches them
                if tag.startswith(prefix):
                    return loc
            return CHROMA_LOC_CENTER if tag == "420" else CHROMA_LOC_UNSPECIFIED
    return CHROMA_LOC_UNSPECIFIED  # no C tag: FFmpeg reads 4:2:0 but leaves the siting unset


# -------------------------------------------------------------------------------------- writing
def _checked_frames(
    fmt: PixelFormat, width: int, height: int, frames: Iterable[list[np.ndarray]]
) -> Iterator[list[np.ndarray]]:
    """The frames, each checked against the format: a wrong plane would otherwise be written as is."""
    shapes = fmt.plane_shapes(width, height)
    limit = 1 << fmt.depth
    for i, planes in enumerate(frames):
        if len(planes) != len(shapes):
            raise InputError(f"frame {i} has {len(planes)} planes, {fmt.name} has {len(shapes)}")
        for k, (p, shape) in enumerate(zip(planes, shapes, strict=True)):
            p = np.asarray(p)
            if p.shape != shape or p.dtype != fmt.dtype:
                raise InputError(
                    f"frame {i} plane {k} is {p.dtype}{list(p.shape)}, "
                    f"expected {np.dtype(fmt.dtype)}{list(shape)} for {fmt.name}"
                )
            if fmt.depth < 8 * p.itemsize and p.size and int(p.max()) >= limit:
                # FFV1 would drop the high bits: the output would not hold the samples.
                raise InputError(
                    f"frame {i} plane {k} has sample {int(p.max())}, above {fmt.name}'s {fmt.depth} bits"
                )
        yield planes


def _peek(frames: Iterator[list[np.ndarray]]) -> Iterator[list[np.ndarray]]:
    """The frames again, after checking there is at least one."""
    first = next(frames, None)
    if first is None:
        raise InputError("no frames to write")
    return itertools.chain([first], frames)


def _check_size(width: int, height: int, fps: Fraction) -> Fraction:
    if width <= 0 or height <= 0:
        raise InputError(f"invalid frame size {width}x{height}")
    fps = Fraction(fps)
    if fps <= 0 or fps.numerator >= 2**31 or fps.denominator >= 2**31:
        raise InputError(f"invalid frame rate {fps}")
    return fps


def y4m_holds(fmt: PixelFormat) -> bool:
    """Whether Y4M holds ``fmt`` in a way FFmpeg reads back (no 4:4:0, 4:1:0, planar RGB, gray14le,
    and alpha only with 4:4:4)."""
    return fmt.name == "yuv420p" or fmt.name in _Y4M_TAGS


def y4m_header(fmt: PixelFormat, colour: ColourInfo, width: int, height: int, fps: Fraction) -> bytes:
    """The YUV4MPEG2 stream header line, with FFmpeg's tags for formats beyond the Y4M spec."""
    fps = _check_size(width, height, fps)
    if fmt.name == "yuv420p":
        tag = _Y4M_420.get(colour.chroma_location, _Y4M_420_DEFAULT)
    elif y4m_holds(fmt):
        tag = _Y4M_TAGS[fmt.name]
    else:  # gray14le (FFmpeg's demuxer would read Cmono14 as 8-bit gray), 4:4:0, 4:1:0, most alpha
        raise InputError(f"Y4M has no colour-space tag for {fmt.name} that FFmpeg reads; write .mkv (FFV1)")
    rng = {COLOR_RANGE_MPEG: " XCOLORRANGE=LIMITED", COLOR_RANGE_JPEG: " XCOLORRANGE=FULL"}
    # A0:0: the sample aspect ratio is not carried, so it is written as unknown.
    line = (
        f"YUV4MPEG2 W{width} H{height} F{fps.numerator}:{fps.denominator} Ip A0:0 {tag}"
        f"{rng.get(colour.color_range, '')}\n"
    ).encode("ascii")
    if len(line) >= _Y4M_HEADER_MAX:  # only absurd sizes get here
        raise InputError(f"Y4M header for {width}x{height} at {fps} fps is too long for FFmpeg")
    return line


def write_y4m(
    path: str | os.PathLike,
    fmt: PixelFormat,
    colour: ColourInfo,
    width: int,
    height: int,
    fps: Fraction,
    frames: Iterable[list[np.ndarray]],
    force: bool = False,
) -> int:
    """Write the planes as YUV4MPEG2 (>8-bit samples little-endian, as FFmpeg writes and reads them);
    returns the number of frames. Atomic: a failure leaves no file, and an existing one is kept
    unless ``force``. Y4M keeps the colour range and 4:2:0 chroma siting, not matrix/primaries/trc."""
    header = y4m_header(fmt, colour, width, height, fps)
    little = np.dtype(fmt.dtype).newbyteorder("<")
    n = 0
    with atomic_output(path, force) as tmp, open(tmp, "wb") as fh:
        fh.write(header)
        for planes in _peek(_checked_frames(fmt, width, height, frames)):
            fh.write(b"FRAME\n")
            for p in planes:
                fh.write(np.ascontiguousarray(p, dtype=little).data)
            n += 1
    return n


def write_ffv1_mkv(
    path: str | os.PathLike,
    fmt: PixelFormat,
    colour: ColourInfo,
    width: int,
    height: int,
    fps: Fraction,
    frames: Iterable[list[np.ndarray]],
    force: bool = False,
) -> int:
    """Write the planes losslessly as FFV1 (level 3, slice CRCs) in Matroska, in the same pix_fmt and
    with the colour tags on the stream; returns the number of frames. This first version writes a
    constant frame rate ``fps`` (Matroska's millisecond timestamps round rates such as 30000/1001).
    Atomic: a failure leaves no file, and an existing one is kept unless ``force``. The same
    frames give the same bytes (``BITEXACT``)."""
    import av

    fps = _check_size(width, height, fps)
    shapes = fmt.plane_shapes(width, height)
    little = np.dtype(fmt.dtype).newbyteorder("<")
    options = {"level": "3", "slicecrc": "1"}
    if colour.chroma_location != CHROMA_LOC_UNSPECIFIED:
        # PyAV has no property for it; the AVCodecContext option reaches the Matroska muxer.
        options["chroma_sample_location"] = str(colour.chroma_location)
    n = 0
    with atomic_output(path, force) as tmp:
        frames = _peek(_checked_frames(fmt, width, height, frames))
        with av.open(str(tmp), "w", format="matroska", options=BITEXACT) as cont:
            stream = cont.add_stream("ffv1", rate=fps, options=options)
            stream.width, stream.height, stream.pix_fmt = width, height, fmt.name
            cc = stream.codec_context
            cc.color_range = colour.color_range
            cc.colorspace = colour.colorspace
            cc.color_primaries = colour.color_primaries
            cc.color_trc = colour.color_trc
            for planes in frames:
                vf = av.VideoFrame(width, height, fmt.name)
                for plane, p, (h, w) in zip(vf.planes, planes, shapes, strict=True):
                    plane_view(plane, little, h)[:, :w] = p
                vf.color_range = colour.color_range
                vf.colorspace = colour.colorspace
                vf.color_primaries = colour.color_primaries
                vf.color_trc = colour.color_trc
                vf.pts = n
                vf.time_base = 1 / fps
                for pkt in stream.encode(vf):
                    cont.mux(pkt)
                n += 1
            for pkt in stream.encode():
                cont.mux(pkt)
    return n


def read_planes(path: str | os.PathLike) -> tuple[PixelFormat, list[list[np.ndarray]]]:
    """Every frame of a (small) file in its native format, for tests and benchmarks."""
    reader = NativeReader(path)
    if reader.pixel_format is None:
        raise InputError(f"{path}: pixel format {reader.source_pix_fmt!r} is not supported natively")
    return reader.pixel_format, [planes for planes, _ in reader.frames()]
