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
from .profile import SUPPORTED_VERSIONS as SUPPORTED_VERSIONS  # re-exported: the versions read

MAGIC = b"\x89FPC\r\n\x1a\n"
#: The version written; the versions differ in coding rules (``profile.FormatProfile``), and in
#: framing only in that version 1 has no PLTE chunk and no mix field in FRAM.
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

_PREAMBLE = struct.Struct("<8sHH")
_CHUNK_PREFIX = struct.Struct("<I4s")
_CRC = struct.Struct("<I")
_HEAD_FIXED = struct.Struct("<IIBIIIiH32sB")
_FRAME_FIXED_V1 = struct.Struct("<IIBbI")
_FRAME_FIXED = struct.Struct("<IIBbIH")
_END = struct.Struct("<I")
#: Bytes a chunk adds around its body: length and type before it, CRC after it.
CHUNK_OVERHEAD = _CHUNK_PREFIX.size + _CRC.size


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


def write_preamble(out: BinaryIO) -> None:
    out.write(_PREAMBLE.pack(MAGIC, VERSION, 0))


def write_chunk(out: BinaryIO, kind: bytes, body: bytes) -> None:
    """Length, type, body, CRC32 of type+body (PNG-style)."""
    out.write(_CHUNK_PREFIX.pack(len(body), kind))
    out.write(body)
    out.write(_CRC.pack(zlib.crc32(body, zlib.crc32(kind))))


def encode_header(h: StreamHeader) -> bytes:
    coder = h.coder.encode("ascii")
    if len(coder) > 255:
        raise FormatError(f"coder string too long: {h.coder!r}")
    if len(h.weights_hash) != 32:
        raise FormatError(f"weights hash must be 32 bytes, got {len(h.weights_hash)}")
    count = UNKNOWN_COUNT if h.frame_count is None else h.frame_count
    loop = NO_LOOP if h.loop is None else h.loop
    tb = Fraction(h.time_base)
    return _HEAD_FIXED.pack(h.width, h.height, h.channels, count, tb.numerator, tb.denominator,
                            loop, h.model_id, h.weights_hash, len(coder)) + coder


def decode_header(body: bytes) -> StreamHeader:
    if len(body) < _HEAD_FIXED.size:
        raise FormatError(f"header chunk is {len(body)} bytes, expected at least {_HEAD_FIXED.size}")
    (width, height, channels, count, tb_num, tb_den, loop, model_id, whash,
     coder_len) = _HEAD_FIXED.unpack_from(body)
    if len(body) != _HEAD_FIXED.size + coder_len:
        raise FormatError(f"header chunk length {len(body)} does not match its coder string")
    if channels not in (3, 4):
        raise FormatError(f"unsupported channel count {channels}")
    if width == 0 or height == 0:
        raise FormatError(f"invalid frame size {width}x{height}")
    if tb_num == 0 or tb_den == 0:
        raise FormatError(f"invalid time base {tb_num}/{tb_den}")
    return StreamHeader(
        width=width, height=height, channels=channels,
        frame_count=None if count == UNKNOWN_COUNT else count,
        time_base=Fraction(tb_num, tb_den), loop=None if loop == NO_LOOP else loop,
        model_id=model_id, weights_hash=whash,
        coder=body[_HEAD_FIXED.size:].decode("ascii", errors="replace"),
    )


def encode_frame(f: FrameRecord) -> bytes:
    return _FRAME_FIXED.pack(f.index, f.duration, f.mode, f.scale_shift, f.pixels_crc, f.mix) + f.payload


def decode_frame(body: bytes, profile: FormatProfile = CURRENT) -> FrameRecord:
    """A FRAM body read by ``profile``'s rules (version 1: no mix field)."""
    fixed = _FRAME_FIXED if profile.palette_frames else _FRAME_FIXED_V1
    if len(body) < fixed.size:
        raise FormatError(f"frame chunk is {len(body)} bytes, expected at least {fixed.size}")
    index, duration, mode, shift, crc, *mix = fixed.unpack_from(body)
    payload = body[fixed.size:]
    if len(payload) % 4:
        raise FormatError(f"frame {index} payload is {len(payload)} bytes, not whole 32-bit words")
    mix_field = mix[0] if mix else 0
    if profile.palette_frames and not profile.context_counts and mix_field & ~_NO_CONTEXT_MIX_MASK:
        raise FormatError(f"frame {index} mix field 0x{mix_field:04x} sets bits 12-15, "
                          f"reserved in version {profile.version}")
    return FrameRecord(index, duration, mode, shift, crc, payload, mix_field)


def encode_end(frame_count: int) -> bytes:
    return _END.pack(frame_count)


def decode_end(body: bytes) -> int:
    if len(body) != _END.size:
        raise FormatError(f"end chunk is {len(body)} bytes, expected {_END.size}")
    return _END.unpack(body)[0]


def _read_exact(inp: BinaryIO, n: int, what: str) -> bytes:
    data = inp.read(n)
    if len(data) != n:
        raise TruncatedStreamError(f"stream truncated in {what} (wanted {n} bytes, got {len(data)})")
    return data


def read_preamble(inp: BinaryIO) -> FormatProfile:
    """Check magic and version; returns the version's profile."""
    head = inp.read(_PREAMBLE.size)
    if len(head) < len(MAGIC) or head[:len(MAGIC)] != MAGIC:
        raise FormatError(f"not an fpcodec stream (magic {head[:len(MAGIC)]!r})")
    if len(head) < _PREAMBLE.size:
        raise TruncatedStreamError("stream truncated in preamble")
    _, version, flags = _PREAMBLE.unpack(head)
    profile = FormatProfile.for_version(version)
    if flags != 0:
        raise FormatError(f"unknown preamble flags 0x{flags:04x}")
    return profile


def read_chunks(inp: BinaryIO) -> Iterator[tuple[bytes, bytes]]:
    """Yield (type, body) of each chunk after the preamble, CRC-checked, up to and including FEND."""
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
        yield kind, body
        if kind == CHUNK_END:
            return
