"""The fpcodec container (see FORMAT.md): magic, version, then CRC'd chunks.

Pure struct/zlib; knows nothing about predictors or entropy coding, only framing and integrity.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from fractions import Fraction
from typing import BinaryIO, Iterator

from .errors import ChecksumError, FormatError, TruncatedStreamError
from .profile import CURRENT, LATEST, FormatProfile
from .profile import MODE_REPEAT, MODE_STORED
from .profile import SUPPORTED_VERSIONS as SUPPORTED_VERSIONS  # re-exported: the versions read

MAGIC = b"\x89FPC\r\n\x1a\n"
#: The version written; the versions differ in coding rules (``profile.FormatProfile``), and in
#: framing in that version 1 has no PLTE chunk and no mix field in FRAM, version 6 adds the FRAM
#: flags byte, the INDX chunk and the index offset in FEND (``profile.key_frames``), and version 8
#: widens the mix field to 32 bits (``profile.repeat_context``).
VERSION = LATEST
#: Mix-field bits that a frame without context counts (version 2) must leave zero.
_NO_CONTEXT_MIX_MASK = 0x0FFF
UNKNOWN_COUNT = 0xFFFFFFFF
NO_LOOP = -1
#: Refuse chunk lengths beyond this before allocating anything (a frame of 2**28 pixels at ~9 bpp).
MAX_CHUNK = 1 << 30

CHUNK_HEAD = b"HEAD"
CHUNK_FRAME = b"FRAM"
CHUNK_END = b"FEND"
CHUNK_PALETTE = b"PLTE"
CHUNK_INDEX = b"INDX"
CHUNK_PIXEL_FORMAT = b"PFMT"
CHUNK_REPEAT = b"REPT"
#: A REPT chunk holds at most this many frames (the encoder starts another after it).
MAX_REPEATS = 1 << 16
#: FRAM flags (version 6): bit 0 marks a key frame; the other bits are reserved and must be zero.
FLAG_KEY = 0x01

_PREAMBLE = struct.Struct("<8sHH")
#: Bytes before the first chunk.
PREAMBLE_SIZE = _PREAMBLE.size
_CHUNK_PREFIX = struct.Struct("<I4s")
_CRC = struct.Struct("<I")
_HEAD_FIXED = struct.Struct("<IIBIIIiH32sB")
_FRAME_FIXED_V1 = struct.Struct("<IIBbI")
_FRAME_FIXED_V2 = struct.Struct("<IIBbIH")
_FRAME_FIXED_V6 = struct.Struct("<IIBbIHB")
_FRAME_FIXED = struct.Struct("<IIBbIIB")
_END_V1 = struct.Struct("<I")
_END = struct.Struct("<IQ")
_PIXEL_FORMAT = struct.Struct("<8B")
_INDEX_ENTRY = struct.Struct("<IQQ")
#: Bytes a chunk adds around its body: length and type before it, CRC after it.
CHUNK_OVERHEAD = _CHUNK_PREFIX.size + _CRC.size
#: Bytes of a FRAM body before its payload (the current version).
FRAME_FIXED_SIZE = _FRAME_FIXED.size
#: Size of the whole FEND chunk of the current version: the last bytes of a complete file.
END_CHUNK_SIZE = CHUNK_OVERHEAD + _END.size


@dataclass(frozen=True)
class StreamHeader:
    """Everything a decoder needs before the first frame."""

    width: int
    height: int
    channels: int
    frame_count: int | None
    time_base: Fraction
    loop: int | None
    model_id: int
    weights_hash: bytes
    coder: str = ""

    @property
    def has_alpha(self) -> bool:
        return self.channels == 4


@dataclass(frozen=True)
class FrameRecord:
    """One coded frame: timing, coding mode, and the entropy-coded payload."""

    index: int
    duration: int
    mode: int
    scale_shift: int
    pixels_crc: int
    payload: bytes = field(repr=False)
    mix: int = 0
    flags: int = 0

    @property
    def key(self) -> bool:
        """A key frame: coded without history or palette state, so decoding can start here."""
        return bool(self.flags & FLAG_KEY)


@dataclass(frozen=True)
class IndexEntry:
    """One key frame in the INDX chunk: its index, presentation time (time-base units, the sum of
    the durations before it) and the byte offset of its first chunk (its PLTE if any, else FRAM)."""

    frame: int
    pts: int
    offset: int


@dataclass(frozen=True)
class PixelFormatRecord:
    """The PFMT chunk (version 7): the source's pixel format by its format id (FORMAT.md lists
    them), its bits per sample, and FFmpeg's numbers for colour range, matrix, primaries, transfer
    and chroma siting, kept so the decoder can hand the frames back tagged as they came."""

    format_id: int
    depth: int
    color_range: int = 0
    colorspace: int = 2
    color_primaries: int = 2
    color_trc: int = 2
    chroma_location: int = 0


def encode_pixel_format(p: PixelFormatRecord) -> bytes:
    return _PIXEL_FORMAT.pack(
        p.format_id,
        p.depth,
        p.color_range,
        p.colorspace,
        p.color_primaries,
        p.color_trc,
        p.chroma_location,
        0,
    )


def decode_pixel_format(body: bytes) -> PixelFormatRecord:
    """A PFMT body; refuses a wrong length and a non-zero reserved byte (the id is checked by the
    codec, which knows the formats)."""
    if len(body) != _PIXEL_FORMAT.size:
        raise FormatError(f"pixel format chunk is {len(body)} bytes, expected {_PIXEL_FORMAT.size}")
    *fields_, reserved = _PIXEL_FORMAT.unpack(body)
    if reserved:
        raise FormatError(f"pixel format chunk's reserved byte is {reserved}, must be 0")
    return PixelFormatRecord(*fields_)


def write_preamble(out: BinaryIO) -> int:
    """The preamble; returns the bytes written."""
    out.write(_PREAMBLE.pack(MAGIC, VERSION, 0))
    return _PREAMBLE.size


def write_chunk(out: BinaryIO, kind: bytes, body: bytes) -> int:
    """Length, type, body, CRC32 of type+body (PNG-style); returns the bytes written."""
    out.write(_CHUNK_PREFIX.pack(len(body), kind))
    out.write(body)
    out.write(_CRC.pack(zlib.crc32(body, zlib.crc32(kind))))
    return CHUNK_OVERHEAD + len(body)


def encode_header(h: StreamHeader) -> bytes:
    coder = h.coder.encode("ascii")
    if len(coder) > 255:
        raise FormatError(f"coder string too long: {h.coder!r}")
    if len(h.weights_hash) != 32:
        raise FormatError(f"weights hash must be 32 bytes, got {len(h.weights_hash)}")
    count = UNKNOWN_COUNT if h.frame_count is None else h.frame_count
    loop = NO_LOOP if h.loop is None else h.loop
    tb = Fraction(h.time_base)
    return (
        _HEAD_FIXED.pack(
            h.width,
            h.height,
            h.channels,
            count,
            tb.numerator,
            tb.denominator,
            loop,
            h.model_id,
            h.weights_hash,
            len(coder),
        )
        + coder
    )


def decode_header(body: bytes, profile: FormatProfile = CURRENT) -> StreamHeader:
    """A HEAD body; from version 7 the channel count may also be 1 or 3 planes (with a PFMT)."""
    if len(body) < _HEAD_FIXED.size:
        raise FormatError(f"header chunk is {len(body)} bytes, expected at least {_HEAD_FIXED.size}")
    (width, height, channels, count, tb_num, tb_den, loop, model_id, whash, coder_len) = (
        _HEAD_FIXED.unpack_from(body)
    )
    if len(body) != _HEAD_FIXED.size + coder_len:
        raise FormatError(f"header chunk length {len(body)} does not match its coder string")
    if channels not in ((1, 3, 4) if profile.planar_frames else (3, 4)):
        raise FormatError(f"unsupported channel count {channels}")
    if width == 0 or height == 0:
        raise FormatError(f"invalid frame size {width}x{height}")
    if tb_num == 0 or tb_den == 0:
        raise FormatError(f"invalid time base {tb_num}/{tb_den}")
    return StreamHeader(
        width=width,
        height=height,
        channels=channels,
        frame_count=None if count == UNKNOWN_COUNT else count,
        time_base=Fraction(tb_num, tb_den),
        loop=None if loop == NO_LOOP else loop,
        model_id=model_id,
        weights_hash=whash,
        coder=body[_HEAD_FIXED.size :].decode("ascii", errors="replace"),
    )


def encode_frame(f: FrameRecord) -> bytes:
    return (
        _FRAME_FIXED.pack(f.index, f.duration, f.mode, f.scale_shift, f.pixels_crc, f.mix, f.flags)
        + f.payload
    )


def _frame_fixed(profile: FormatProfile) -> struct.Struct:
    if profile.repeat_context:
        return _FRAME_FIXED
    if profile.key_frames:
        return _FRAME_FIXED_V6
    return _FRAME_FIXED_V2 if profile.palette_frames else _FRAME_FIXED_V1


def decode_frame(body: bytes, profile: FormatProfile = CURRENT) -> FrameRecord:
    """A FRAM body read by ``profile``'s rules (version 1: no mix field; before 6: no flags)."""
    fixed = _frame_fixed(profile)
    if len(body) < fixed.size:
        raise FormatError(f"frame chunk is {len(body)} bytes, expected at least {fixed.size}")
    index, duration, mode, shift, crc, *rest = fixed.unpack_from(body)
    payload = body[fixed.size :]
    mix_field = rest[0] if rest else 0
    flags = rest[1] if len(rest) > 1 else 0
    if flags & ~FLAG_KEY:
        raise FormatError(f"frame {index} flags 0x{flags:02x} set reserved bits")
    if mode == MODE_REPEAT:
        raise FormatError(f"frame {index} has mode {mode} (repeat), which only a repeat chunk gives")
    if len(payload) % 4 and not (profile.stored_mode and mode == MODE_STORED):
        raise FormatError(f"frame {index} payload is {len(payload)} bytes, not whole 32-bit words")
    if profile.palette_frames and not profile.context_counts and mix_field & ~_NO_CONTEXT_MIX_MASK:
        raise FormatError(
            f"frame {index} mix field 0x{mix_field:04x} sets bits 12-15, "
            f"reserved in version {profile.version}"
        )
    return FrameRecord(index, duration, mode, shift, crc, payload, mix_field, flags)


def encode_repeats(first: int, durations: list[int]) -> bytes:
    """A REPT body (version 9): frames ``first``, ``first + 1``, ... each equal to the frame before
    it, with these durations."""
    return struct.pack(f"<I{len(durations)}I", first, *durations)


def decode_repeats(body: bytes) -> list[FrameRecord]:
    """The frames of a REPT body, as records of MODE_REPEAT (no payload, no checksum of their own:
    their pixels are the checked frame before them)."""
    n = len(body) // 4 - 1
    if len(body) % 4 or not 1 <= n <= MAX_REPEATS:
        raise FormatError(
            f"repeat chunk is {len(body)} bytes, expected 4 + 4 per frame for 1 to {MAX_REPEATS} frames"
        )
    first, *durations = struct.unpack(f"<I{n}I", body)
    return [FrameRecord(first + i, d, MODE_REPEAT, 0, 0, b"") for i, d in enumerate(durations)]


def encode_index(entries: list[IndexEntry]) -> bytes:
    return b"".join(_INDEX_ENTRY.pack(e.frame, e.pts, e.offset) for e in entries)


def decode_index(body: bytes) -> list[IndexEntry]:
    """The INDX entries; refuses a ragged body and entries out of order."""
    if len(body) % _INDEX_ENTRY.size:
        raise FormatError(f"index chunk is {len(body)} bytes, not whole {_INDEX_ENTRY.size}-byte entries")
    entries = [IndexEntry(*e) for e in _INDEX_ENTRY.iter_unpack(body)]
    for a, b in zip(entries, entries[1:], strict=False):
        if not (b.frame > a.frame and b.pts >= a.pts and b.offset > a.offset):
            raise FormatError(f"index entries out of order (frame {a.frame} then {b.frame})")
    return entries


def encode_end(frame_count: int, index_offset: int = 0) -> bytes:
    return _END.pack(frame_count, index_offset)


def decode_end(body: bytes, profile: FormatProfile = CURRENT) -> tuple[int, int | None]:
    """(frame count, byte offset of the INDX chunk; None before version 6)."""
    fixed = _END if profile.key_frames else _END_V1
    if len(body) != fixed.size:
        raise FormatError(f"end chunk is {len(body)} bytes, expected {fixed.size}")
    count, *offset = fixed.unpack(body)
    return count, (offset[0] if offset else None)


def parse_chunk(data: bytes, pos: int) -> tuple[bytes, bytes, int] | None:
    """(type, body, end) of an intact chunk starting at ``data[pos]``, or None: the salvage scanner's
    test of a candidate chunk boundary (length in range, whole, CRC correct)."""
    if pos < 0 or pos + _CHUNK_PREFIX.size > len(data):
        return None
    length, kind = _CHUNK_PREFIX.unpack_from(data, pos)
    end = pos + _CHUNK_PREFIX.size + length + _CRC.size
    if length > MAX_CHUNK or end > len(data):
        return None
    body = bytes(data[pos + _CHUNK_PREFIX.size : end - _CRC.size])
    if _CRC.unpack_from(data, end - _CRC.size)[0] != zlib.crc32(body, zlib.crc32(kind)):
        return None
    return kind, body, end


def read_index(inp: BinaryIO, profile: FormatProfile) -> list[IndexEntry] | None:
    """The key-frame index of a seekable version-6 file, found from its last bytes (FEND holds the
    INDX offset); None for older versions. The file position is left undefined."""
    if not profile.key_frames:
        return None
    inp.seek(0, 2)
    size = inp.tell()
    if size < _PREAMBLE.size + END_CHUNK_SIZE:
        raise TruncatedStreamError("stream too short to hold an end chunk")
    inp.seek(size - END_CHUNK_SIZE)
    tail = inp.read(END_CHUNK_SIZE)
    found = parse_chunk(tail, 0)
    if found is None or found[0] != CHUNK_END:
        raise FormatError("the stream's last bytes are not an intact end chunk (truncated or damaged)")
    _, index_offset = decode_end(found[1], profile)
    if not _PREAMBLE.size <= index_offset < size - END_CHUNK_SIZE:
        raise FormatError(f"end chunk puts the index at byte {index_offset}, outside the stream")
    inp.seek(index_offset)
    kind, body = next(read_chunks(inp, stop=CHUNK_INDEX))
    if kind != CHUNK_INDEX:
        raise FormatError(f"end chunk points at a {kind!r} chunk, not the index")
    return decode_index(body)


def _read_exact(inp: BinaryIO, n: int, what: str) -> bytes:
    data = inp.read(n)
    if len(data) != n:
        raise TruncatedStreamError(f"stream truncated in {what} (wanted {n} bytes, got {len(data)})")
    return data


def read_preamble(inp: BinaryIO) -> FormatProfile:
    """Check magic and version; returns the version's profile."""
    head = inp.read(_PREAMBLE.size)
    if len(head) < len(MAGIC) or head[: len(MAGIC)] != MAGIC:
        raise FormatError(f"not an fpcodec stream (magic {head[: len(MAGIC)]!r})")
    if len(head) < _PREAMBLE.size:
        raise TruncatedStreamError("stream truncated in preamble")
    _, version, flags = _PREAMBLE.unpack(head)
    profile = FormatProfile.for_version(version)
    if flags != 0:
        raise FormatError(f"unknown preamble flags 0x{flags:04x}")
    return profile


def read_chunks(inp: BinaryIO, stop: bytes = CHUNK_END) -> Iterator[tuple[bytes, bytes]]:
    """Yield (type, body) of each chunk after the preamble, CRC-checked, up to and including FEND
    (or ``stop``: the index reader stops after INDX)."""
    for _, kind, body in read_chunks_at(inp, 0, stop):
        yield kind, body


def read_chunks_at(inp: BinaryIO, offset: int, stop: bytes = CHUNK_END) -> Iterator[tuple[int, bytes, bytes]]:
    """Like ``read_chunks``, with each chunk's byte offset, counted from ``offset`` (where ``inp``
    stands now)."""
    while True:
        prefix = inp.read(_CHUNK_PREFIX.size)
        if not prefix:
            raise TruncatedStreamError("stream ends without an end chunk")
        if len(prefix) < _CHUNK_PREFIX.size:
            raise TruncatedStreamError("stream truncated in a chunk header")
        length, kind = _CHUNK_PREFIX.unpack(prefix)
        if length > MAX_CHUNK:
            raise FormatError(f"chunk {kind!r} claims {length} bytes, more than the {MAX_CHUNK} allowed")
        body = _read_exact(inp, length, f"chunk {kind!r}")
        (crc,) = _CRC.unpack(_read_exact(inp, _CRC.size, f"CRC of chunk {kind!r}"))
        actual = zlib.crc32(body, zlib.crc32(kind))
        if crc != actual:
            raise ChecksumError(f"chunk {kind!r} is corrupted (CRC 0x{actual:08x}, expected 0x{crc:08x})")
        if kind == CHUNK_END and inp.read(1):
            raise FormatError("trailing bytes after the end chunk")
        yield offset, kind, body
        offset += _CHUNK_PREFIX.size + length + _CRC.size
        if kind in (CHUNK_END, stop):
            return
