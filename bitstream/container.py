"""The fpcodec container (see FORMAT.md): magic, version, then CRC'd chunks.

Pure struct/zlib; knows nothing about predictors or entropy coding, only framing and integrity.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import BinaryIO, Iterator

from .errors import ChecksumError, FormatError, TruncatedStreamError
from .profile import CURRENT, LATEST, FormatProfile
from .profile import MODE_PALETTE_LZ, MODE_REPEAT, MODE_STORED
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
#: Version 11's one-letter chunk types, in the same case as the four-letter ones (critical chunks
#: upper case); the reader hands the four-letter names on, so nothing above the container sees them.
_LETTERS = {
    CHUNK_HEAD: b"H",
    CHUNK_PIXEL_FORMAT: b"S",
    CHUNK_PALETTE: b"P",
    CHUNK_FRAME: b"F",
    CHUNK_REPEAT: b"R",
    CHUNK_INDEX: b"I",
    CHUNK_END: b"E",
}
_KINDS = {letter: kind for kind, letter in _LETTERS.items()}
#: Version 11's FRAM byte after the duration: the mode in bits 0-3, the key flag in bit 4.
_MODE_BITS = 0x0F
_KEY_BIT = 0x10

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
#: Version 11's fixed FRAM fields between the varints: mode and key bit, scale shift, pixel CRC.
_COMPACT_FRAME = struct.Struct("<BbI")
_U32 = 0xFFFFFFFF
_END_V1 = struct.Struct("<I")
_END = struct.Struct("<IQ")
_PIXEL_FORMAT = struct.Struct("<8B")
_INDEX_ENTRY = struct.Struct("<IQQ")
#: Bytes a chunk adds around its body up to version 10: length and type before it, CRC after it.
CHUNK_OVERHEAD = _CHUNK_PREFIX.size + _CRC.size
#: Bytes of a FRAM body before its payload in versions 8 to 10 (version 11: ``frame_fields_size``).
FRAME_FIXED_SIZE = _FRAME_FIXED.size


def chunk_size(body_length: int, profile: FormatProfile = CURRENT) -> int:
    """Bytes of a whole chunk with a body of ``body_length`` bytes, framing included."""
    if profile.compact_framing:
        return 1 + len(uvarint(body_length)) + body_length + _CRC.size
    return CHUNK_OVERHEAD + body_length


def end_chunk_size(profile: FormatProfile = CURRENT) -> int:
    """Size of the whole FEND chunk (version 6 on): the last bytes of a complete file."""
    return chunk_size(end_body_size(profile), profile)


def end_body_size(profile: FormatProfile = CURRENT) -> int:
    """Size of the FEND body: the frame count, and from version 6 the index offset."""
    return _END.size if profile.key_frames else _END_V1.size


def uvarint(value: int) -> bytes:
    """``value`` (>= 0) as an unsigned LEB128 varint: 7 bits a byte, low bits first, the top bit
    set on every byte but the last (version 11's lengths and fields)."""
    if value < 0:
        raise FormatError(f"varint of a negative value {value}")
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def read_uvarint(data: bytes, pos: int, what: str, limit: int = (1 << 64) - 1) -> tuple[int, int]:
    """(value, position after it) of the varint at ``data[pos]``; FormatError for one that runs
    off the end, is longer than it needs to be (a trailing zero byte) or exceeds ``limit``."""
    value = shift = 0
    start = pos
    while True:
        if pos >= len(data):
            raise FormatError(f"{what} is cut off (a varint runs past the end of its bytes)")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if value > limit:
            raise FormatError(f"{what} is {value} or more, above the limit of {limit}")
        if pos - start > 10:  # 64 bits take at most ten bytes; longer is padding (or an attack)
            raise FormatError(f"{what} is a varint of more than ten bytes")
        if not byte & 0x80:
            if byte == 0 and pos - start > 1:
                raise FormatError(f"{what} is a varint with a needless zero byte")
            return value, pos


#: Size of the whole FEND chunk of the current version.
END_CHUNK_SIZE = end_chunk_size()


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


def write_preamble(out: BinaryIO, profile: FormatProfile = CURRENT) -> int:
    """The preamble of a stream of ``profile``'s version; returns the bytes written."""
    out.write(_PREAMBLE.pack(MAGIC, profile.version, 0))
    return _PREAMBLE.size


def write_chunk(out: BinaryIO, kind: bytes, body: bytes, profile: FormatProfile = CURRENT) -> int:
    """Length, type, body, CRC32 of type+body (PNG-style; version 11: the type's letter, then the
    length as a varint); returns the bytes written."""
    if profile.compact_framing:
        letter = _LETTERS.get(kind, kind)
        if len(letter) != 1 or not letter.isalpha():
            raise FormatError(f"chunk type {kind!r} has no one-letter form in version {profile.version}")
        out.write(letter + uvarint(len(body)))
        out.write(body)
        out.write(_CRC.pack(zlib.crc32(body, zlib.crc32(letter))))
        return chunk_size(len(body), profile)
    out.write(_CHUNK_PREFIX.pack(len(body), kind))
    out.write(body)
    out.write(_CRC.pack(zlib.crc32(body, zlib.crc32(kind))))
    return CHUNK_OVERHEAD + len(body)


def encode_header(h: StreamHeader, profile: FormatProfile = CURRENT) -> bytes:
    coder = h.coder.encode("ascii")
    if len(coder) > 255:
        raise FormatError(f"coder string too long: {h.coder!r}")
    if len(h.weights_hash) != 32:
        raise FormatError(f"weights hash must be 32 bytes, got {len(h.weights_hash)}")
    count = UNKNOWN_COUNT if h.frame_count is None else h.frame_count
    loop = NO_LOOP if h.loop is None else h.loop
    tb = Fraction(h.time_base)
    if profile.compact_framing:
        fields_ = (h.width, h.height, h.channels, (count + 1) & _U32, tb.numerator, tb.denominator, loop + 1)
        return (
            b"".join(uvarint(v) for v in fields_)
            + uvarint(h.model_id)
            + h.weights_hash
            + bytes([len(coder)])
            + coder
        )
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


def _compact_header(body: bytes) -> tuple:
    """Version 11's HEAD fields, in version 10's order and ranges, and where the coder tag starts."""
    pos, values = 0, []
    for what, limit in (
        ("width", _U32),
        ("height", _U32),
        ("channels", 255),
        ("frame count", _U32),
        ("time base numerator", _U32),
        ("time base denominator", _U32),
        ("loop count", 1 << 31),
        ("predictor id", 0xFFFF),
    ):
        value, pos = read_uvarint(body, pos, f"header {what}", limit)
        values.append(value)
    width, height, channels, count, tb_num, tb_den, loop, model_id = values
    if len(body) < pos + 33:
        raise FormatError(f"header chunk is {len(body)} bytes, too short for its weights hash")
    whash, coder_len = body[pos : pos + 32], body[pos + 32]
    count = UNKNOWN_COUNT if count == 0 else count - 1
    return (width, height, channels, count, tb_num, tb_den, loop - 1, model_id, whash, coder_len), pos + 33


def decode_header(body: bytes, profile: FormatProfile = CURRENT) -> StreamHeader:
    """A HEAD body; from version 7 the channel count may also be 1 or 3 planes (with a PFMT)."""
    if profile.compact_framing:
        fields_, coder_at = _compact_header(body)
    elif len(body) < _HEAD_FIXED.size:
        raise FormatError(f"header chunk is {len(body)} bytes, expected at least {_HEAD_FIXED.size}")
    else:
        fields_, coder_at = _HEAD_FIXED.unpack_from(body), _HEAD_FIXED.size
    (width, height, channels, count, tb_num, tb_den, loop, model_id, whash, coder_len) = fields_
    if len(body) != coder_at + coder_len:
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
        coder=body[coder_at:].decode("ascii", errors="replace"),
    )


def encode_frame(f: FrameRecord, profile: FormatProfile = CURRENT) -> bytes:
    if profile.compact_framing:
        if f.mode > _MODE_BITS or f.flags & ~FLAG_KEY:
            raise FormatError(
                f"frame {f.index}: mode {f.mode} or flags 0x{f.flags:02x} do not fit version 11"
            )
        return (
            uvarint(f.index)
            + uvarint(f.duration)
            + _COMPACT_FRAME.pack(
                f.mode | (_KEY_BIT if f.flags & FLAG_KEY else 0), f.scale_shift, f.pixels_crc
            )
            + uvarint(f.mix)
            + f.payload
        )
    return (
        _FRAME_FIXED.pack(f.index, f.duration, f.mode, f.scale_shift, f.pixels_crc, f.mix, f.flags)
        + f.payload
    )


def frame_fields_size(f: FrameRecord, profile: FormatProfile = CURRENT) -> int:
    """Bytes of a FRAM body before its payload."""
    return len(encode_frame(replace(f, payload=b""), profile))


def _frame_fixed(profile: FormatProfile) -> struct.Struct:
    if profile.repeat_context:
        return _FRAME_FIXED
    if profile.key_frames:
        return _FRAME_FIXED_V6
    return _FRAME_FIXED_V2 if profile.palette_frames else _FRAME_FIXED_V1


def _compact_frame(body: bytes) -> tuple:
    """Version 11's FRAM fields as version 10's: (index, duration, mode, shift, crc, mix, flags), and
    where the payload starts."""
    index, pos = read_uvarint(body, 0, "frame index", _U32)
    duration, pos = read_uvarint(body, pos, f"frame {index}'s duration", _U32)
    if len(body) < pos + _COMPACT_FRAME.size:
        raise FormatError(f"frame chunk is {len(body)} bytes, too short for its fields")
    mode_key, shift, crc = _COMPACT_FRAME.unpack_from(body, pos)
    mix_field, pos = read_uvarint(body, pos + _COMPACT_FRAME.size, f"frame {index}'s mix field", _U32)
    if mode_key & ~(_MODE_BITS | _KEY_BIT):
        raise FormatError(f"frame {index} mode byte 0x{mode_key:02x} sets reserved bits")
    flags = FLAG_KEY if mode_key & _KEY_BIT else 0
    return (index, duration, mode_key & _MODE_BITS, shift, crc, mix_field, flags), pos


def _bytes_payload(mode: int, profile: FormatProfile) -> bool:
    """Whether a mode's payload is bytes rather than 32-bit words: stored (version 6) and palette
    LZ (version 15) frames."""
    return (profile.stored_mode and mode == MODE_STORED) or (profile.lz_frames and mode == MODE_PALETTE_LZ)


def decode_frame(body: bytes, profile: FormatProfile = CURRENT) -> FrameRecord:
    """A FRAM body read by ``profile``'s rules (version 1: no mix field; before 6: no flags)."""
    if profile.compact_framing:
        (index, duration, mode, shift, crc, mix_field, flags), fixed_size = _compact_frame(body)
    else:
        fixed = _frame_fixed(profile)
        if len(body) < fixed.size:
            raise FormatError(f"frame chunk is {len(body)} bytes, expected at least {fixed.size}")
        index, duration, mode, shift, crc, *rest = fixed.unpack_from(body)
        fixed_size = fixed.size
        mix_field = rest[0] if rest else 0
        flags = rest[1] if len(rest) > 1 else 0
    payload = body[fixed_size:]
    if flags & ~FLAG_KEY:
        raise FormatError(f"frame {index} flags 0x{flags:02x} set reserved bits")
    if mode == MODE_REPEAT:
        raise FormatError(f"frame {index} has mode {mode} (repeat), which only a repeat chunk gives")
    if len(payload) % 4 and not _bytes_payload(mode, profile):
        raise FormatError(f"frame {index} payload is {len(payload)} bytes, not whole 32-bit words")
    if profile.palette_frames and not profile.context_counts and mix_field & ~_NO_CONTEXT_MIX_MASK:
        raise FormatError(
            f"frame {index} mix field 0x{mix_field:04x} sets bits 12-15, "
            f"reserved in version {profile.version}"
        )
    return FrameRecord(index, duration, mode, shift, crc, payload, mix_field, flags)


def encode_repeats(first: int, durations: list[int], profile: FormatProfile = CURRENT) -> bytes:
    """A REPT body (version 9): frames ``first``, ``first + 1``, ... each equal to the frame before
    it, with these durations (version 11: varints)."""
    if profile.compact_framing:
        return b"".join(uvarint(v) for v in (first, *durations))
    return struct.pack(f"<I{len(durations)}I", first, *durations)


def decode_repeats(body: bytes, profile: FormatProfile = CURRENT) -> list[FrameRecord]:
    """The frames of a REPT body, as records of MODE_REPEAT (no payload, no checksum of their own:
    their pixels are the checked frame before them)."""
    if profile.compact_framing:
        first, pos = read_uvarint(body, 0, "repeat chunk's first frame", _U32)
        durations = []
        while pos < len(body) and len(durations) < MAX_REPEATS:
            duration, pos = read_uvarint(
                body, pos, f"repeated frame {first + len(durations)}'s duration", _U32
            )
            durations.append(duration)
        if pos != len(body) or not durations:
            raise FormatError(f"repeat chunk of {len(body)} bytes does not hold 1 to {MAX_REPEATS} frames")
        return [FrameRecord(first + i, d, MODE_REPEAT, 0, 0, b"") for i, d in enumerate(durations)]
    n = len(body) // 4 - 1
    if len(body) % 4 or not 1 <= n <= MAX_REPEATS:
        raise FormatError(
            f"repeat chunk is {len(body)} bytes, expected 4 + 4 per frame for 1 to {MAX_REPEATS} frames"
        )
    first, *durations = struct.unpack(f"<I{n}I", body)
    return [FrameRecord(first + i, d, MODE_REPEAT, 0, 0, b"") for i, d in enumerate(durations)]


def encode_index(entries: list[IndexEntry], profile: FormatProfile = CURRENT) -> bytes:
    if profile.compact_framing:  # each entry's three numbers less the entry before it's
        out, last = [], IndexEntry(0, 0, 0)
        for e in entries:
            out += [uvarint(e.frame - last.frame), uvarint(e.pts - last.pts), uvarint(e.offset - last.offset)]
            last = e
        return b"".join(out)
    return b"".join(_INDEX_ENTRY.pack(e.frame, e.pts, e.offset) for e in entries)


def _compact_index(body: bytes) -> list[IndexEntry]:
    entries, pos, last = [], 0, (0, 0, 0)
    while pos < len(body):
        step = []
        for what in ("frame", "time", "offset"):
            value, pos = read_uvarint(body, pos, f"index entry {len(entries)}'s {what} step")
            step.append(value)
        last = tuple(a + b for a, b in zip(last, step, strict=True))
        if max(last) >= 1 << 64 or last[0] > _U32:
            raise FormatError(f"index entry {len(entries)} is out of range")
        entries.append(IndexEntry(*last))
    return entries


def decode_index(body: bytes, profile: FormatProfile = CURRENT) -> list[IndexEntry]:
    """The INDX entries; refuses a ragged body and entries out of order."""
    if profile.compact_framing:
        entries = _compact_index(body)
    elif len(body) % _INDEX_ENTRY.size:
        raise FormatError(f"index chunk is {len(body)} bytes, not whole {_INDEX_ENTRY.size}-byte entries")
    else:
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


def _compact_prefix(data: bytes, pos: int) -> tuple[int, bytes, int] | None:
    """(length, letter, body start) of a version-11 chunk starting at ``data[pos]``; None if its
    length varint is cut off, not minimal or above MAX_CHUNK."""
    try:
        length, start = read_uvarint(data, pos + 1, "chunk length", MAX_CHUNK)
    except FormatError:
        return None
    return length, bytes(data[pos : pos + 1]), start


def chunk_prefix(data: bytes, pos: int, profile: FormatProfile = CURRENT) -> tuple[bytes, int, int] | None:
    """(type, body length, body start) of the chunk whose framing starts at ``data[pos]``, without
    reading its body or CRC; None where no chunk of ours can start (an unknown version-11 letter,
    a damaged length varint, a length above MAX_CHUNK or past the end of ``data``)."""
    if profile.compact_framing:
        prefix = _compact_prefix(data, pos) if 0 <= pos < len(data) else None
        if prefix is None or prefix[1] not in _KINDS:
            return None
        length, tag, start = prefix
        kind = _KINDS[tag]
    else:
        if pos < 0 or pos + _CHUNK_PREFIX.size > len(data):
            return None
        length, kind = _CHUNK_PREFIX.unpack_from(data, pos)
        start = pos + _CHUNK_PREFIX.size
    if length > MAX_CHUNK or start + length + _CRC.size > len(data):
        return None
    return kind, length, start


def parse_chunk(data: bytes, pos: int, profile: FormatProfile = CURRENT) -> tuple[bytes, bytes, int] | None:
    """(type, body, end) of an intact chunk starting at ``data[pos]``, or None: the salvage scanner's
    test of a candidate chunk boundary (length in range, whole, CRC correct)."""
    prefix = chunk_prefix(data, pos, profile)
    if prefix is None:
        return None
    kind, length, start = prefix
    end = start + length + _CRC.size
    body = bytes(data[start : end - _CRC.size])
    tag = _LETTERS[kind] if profile.compact_framing else kind
    if _CRC.unpack_from(data, end - _CRC.size)[0] != zlib.crc32(body, zlib.crc32(tag)):
        return None
    return kind, body, end


def chunk_tags(profile: FormatProfile = CURRENT) -> dict[bytes, bytes]:
    """The salvage scanner's search strings: each chunk type as the stream spells it."""
    kinds = (CHUNK_PALETTE, CHUNK_FRAME, CHUNK_REPEAT, CHUNK_INDEX, CHUNK_END)
    return {k: (_LETTERS[k] if profile.compact_framing else k) for k in kinds}


def tag_offset(profile: FormatProfile = CURRENT) -> int:
    """Bytes from a chunk's start to its type tag."""
    return 0 if profile.compact_framing else _CHUNK_PREFIX.size - 4


def read_index(inp: BinaryIO, profile: FormatProfile) -> list[IndexEntry] | None:
    """The key-frame index of a seekable version-6 file, found from its last bytes (FEND holds the
    INDX offset); None for older versions. The file position is left undefined."""
    if not profile.key_frames:
        return None
    end_size = end_chunk_size(profile)
    inp.seek(0, 2)
    size = inp.tell()
    if size < _PREAMBLE.size + end_size:
        raise TruncatedStreamError("stream too short to hold an end chunk")
    inp.seek(size - end_size)
    tail = inp.read(end_size)
    found = parse_chunk(tail, 0, profile)
    if found is None or found[0] != CHUNK_END or found[2] != end_size:
        raise FormatError("the stream's last bytes are not an intact end chunk (truncated or damaged)")
    _, index_offset = decode_end(found[1], profile)
    if not _PREAMBLE.size <= index_offset < size - end_size:
        raise FormatError(f"end chunk puts the index at byte {index_offset}, outside the stream")
    inp.seek(index_offset)
    kind, body = next(read_chunks(inp, stop=CHUNK_INDEX, profile=profile))
    if kind != CHUNK_INDEX:
        raise FormatError(f"end chunk points at a {kind!r} chunk, not the index")
    return decode_index(body, profile)


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


def read_chunks(
    inp: BinaryIO, stop: bytes = CHUNK_END, profile: FormatProfile = CURRENT
) -> Iterator[tuple[bytes, bytes]]:
    """Yield (type, body) of each chunk after the preamble, CRC-checked, up to and including FEND
    (or ``stop``: the index reader stops after INDX)."""
    for _, kind, body in read_chunks_at(inp, 0, stop, profile):
        yield kind, body


def _read_prefix(inp: BinaryIO, profile: FormatProfile) -> tuple[int, bytes, bytes, int] | None:
    """(body length, type as the reader names it, tag as the CRC covers it, prefix size) of the
    next chunk; None at the end of the input."""
    if not profile.compact_framing:
        prefix = inp.read(_CHUNK_PREFIX.size)
        if not prefix:
            return None
        if len(prefix) < _CHUNK_PREFIX.size:
            raise TruncatedStreamError("stream truncated in a chunk header")
        length, kind = _CHUNK_PREFIX.unpack(prefix)
        if length > MAX_CHUNK:
            raise FormatError(f"chunk {kind!r} claims {length} bytes, more than the {MAX_CHUNK} allowed")
        return length, kind, kind, _CHUNK_PREFIX.size
    tag = inp.read(1)
    if not tag:
        return None
    if not tag.isalpha():
        raise FormatError(f"chunk type {tag!r} is not a letter")
    kind = _KINDS.get(tag, tag)
    prefix = bytearray(tag)
    while len(prefix) < 6:  # a length of at most 2^30 takes at most five bytes
        byte = inp.read(1)
        if not byte:
            raise TruncatedStreamError(f"stream truncated in the length of chunk {kind!r}")
        prefix += byte
        if not byte[0] & 0x80:
            break
    length, end = read_uvarint(bytes(prefix), 1, f"length of chunk {kind!r}", MAX_CHUNK)
    return length, kind, tag, end


def read_chunks_at(
    inp: BinaryIO, offset: int, stop: bytes = CHUNK_END, profile: FormatProfile = CURRENT
) -> Iterator[tuple[int, bytes, bytes]]:
    """Like ``read_chunks``, with each chunk's byte offset, counted from ``offset`` (where ``inp``
    stands now)."""
    while True:
        prefix = _read_prefix(inp, profile)
        if prefix is None:
            raise TruncatedStreamError("stream ends without an end chunk")
        length, kind, tag, prefix_size = prefix
        body = _read_exact(inp, length, f"chunk {kind!r}")
        (crc,) = _CRC.unpack(_read_exact(inp, _CRC.size, f"CRC of chunk {kind!r}"))
        actual = zlib.crc32(body, zlib.crc32(tag))
        if crc != actual:
            raise ChecksumError(f"chunk {kind!r} is corrupted (CRC 0x{actual:08x}, expected 0x{crc:08x})")
        if kind == CHUNK_END and inp.read(1):
            raise FormatError("trailing bytes after the end chunk")
        yield offset, kind, body
        offset += prefix_size + length + _CRC.size
        if kind in (CHUNK_END, stop):
            return
