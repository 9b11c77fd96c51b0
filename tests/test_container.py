"""The container layer alone (fpcodec.bitstream.container): framing, header fields, CRCs, errors.

Imports nothing of fpcodec but fpcodec.bitstream (and conftest's header helper), so it runs
without torch or the codec.
"""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import zlib
from fractions import Fraction

import pytest

from fpcodec.bitstream import container as C
from fpcodec.bitstream.profile import FormatProfile
from fpcodec.bitstream.errors import (
    ChecksumError,
    FormatError,
    FpcodecError,
    InputError,
    ModelMismatchError,
    TruncatedStreamError,
    UnsupportedVersionError,
)

from conftest import TEST_HASH as HASH
from conftest import stream_header as header

#: This file checks version 10's fixed-width framing, which every older version shares and which
#: stays readable; version 11's compact framing has its own file (test_compact_framing.py).
V10 = FormatProfile.for_version(10)


def chunk(kind: bytes, body: bytes) -> bytes:
    buf = io.BytesIO()
    C.write_chunk(buf, kind, body, V10)
    return buf.getvalue()


def stream(*chunks: bytes, preamble: bool = True) -> io.BytesIO:
    buf = io.BytesIO()
    if preamble:
        C.write_preamble(buf, V10)
    for c in chunks:
        buf.write(c)
    buf.seek(0)
    return buf


def minimal_stream() -> bytes:
    rec = C.FrameRecord(
        index=0, duration=4, mode=0, scale_shift=-3, pixels_crc=0xDEADBEEF, payload=b"\x01\x02\x03\x04"
    )
    return stream(
        chunk(C.CHUNK_HEAD, C.encode_header(header(frame_count=1), V10)),
        chunk(C.CHUNK_FRAME, C.encode_frame(rec, V10)),
        chunk(C.CHUNK_END, C.encode_end(1)),
    ).getvalue()


# ------------------------------------------------------------------------------------ errors
def test_error_hierarchy():
    for cls in (TruncatedStreamError, ChecksumError, UnsupportedVersionError, ModelMismatchError):
        assert issubclass(cls, FormatError)
    assert issubclass(FormatError, FpcodecError) and issubclass(FormatError, ValueError)
    assert issubclass(InputError, FpcodecError) and not issubclass(InputError, FormatError)


def test_importing_bitstream_pulls_in_neither_torch_nor_the_codec():
    code = (
        "import sys, fpcodec.bitstream.container, fpcodec.bitstream.errors;"
        "bad = [m for m in sys.modules if m == 'torch' or m.startswith(('fpcodec.codec', "
        "'fpcodec.models'))]; print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ------------------------------------------------------------------------------------ preamble
def test_preamble_layout():
    buf = io.BytesIO()
    C.write_preamble(buf, V10)
    assert buf.getvalue() == b"\x89FPC\r\n\x1a\n" + struct.pack("<HH", 10, 0)
    buf.seek(0)
    assert C.read_preamble(buf) == V10
    assert C.write_preamble(io.BytesIO()) == C.PREAMBLE_SIZE == 12  # the current version's: the same 12 bytes
    assert C.VERSION in C.SUPPORTED_VERSIONS and 1 in C.SUPPORTED_VERSIONS


@pytest.mark.parametrize(
    "data", [b"", b"\x89FPC", b"GIF89a\x00\x00\x00\x00\x00\x00", b"\x89PNG\r\n\x1a\n\x01\x00\x00\x00"]
)
def test_preamble_wrong_magic(data):
    with pytest.raises(FormatError, match="not an fpcodec stream"):
        C.read_preamble(io.BytesIO(data))


def test_preamble_truncated_after_magic():
    with pytest.raises(TruncatedStreamError):
        C.read_preamble(io.BytesIO(C.MAGIC + b"\x01"))


@pytest.mark.parametrize("version", [0, max(C.SUPPORTED_VERSIONS) + 1, 255, 0xFFFF])
def test_preamble_unsupported_version(version):
    data = C.MAGIC + struct.pack("<HH", version, 0)
    with pytest.raises(UnsupportedVersionError, match=str(version)):
        C.read_preamble(io.BytesIO(data))


def test_preamble_reserved_flags():
    with pytest.raises(FormatError, match="flags"):
        C.read_preamble(io.BytesIO(C.MAGIC + struct.pack("<HH", 1, 1)))


# ------------------------------------------------------------------------------------ header
@pytest.mark.parametrize(
    "h",
    [
        header(),
        header(frame_count=None),
        header(loop=None),
        header(loop=65535),
        header(channels=4),
        header(frame_count=None, loop=None, channels=4),
        header(width=1, height=1, frame_count=1),
        header(width=65536, height=3),
        header(time_base=Fraction(1001, 30000)),
        header(time_base=Fraction(1, 1000), coder=""),
        header(model_id=5, weights_hash=b"\xff" * 32, coder="x" * 255),
    ],
)
def test_header_round_trip(h):
    body = C.encode_header(h, V10)
    assert len(body) == 60 + len(h.coder)
    back = C.decode_header(body, V10)
    assert back == h
    assert back.has_alpha == (h.channels == 4)


def test_header_field_offsets_match_format_md():
    h = header(
        width=0x01020304,
        height=0x0A0B0C0D,
        channels=4,
        frame_count=None,
        time_base=Fraction(3, 7),
        loop=None,
        model_id=0x1234,
    )
    body = C.encode_header(h, V10)
    assert body[0:4] == struct.pack("<I", 0x01020304)
    assert body[4:8] == struct.pack("<I", 0x0A0B0C0D)
    assert body[8] == 4
    assert body[9:13] == b"\xff\xff\xff\xff"  # unknown frame count
    assert body[13:21] == struct.pack("<II", 3, 7)
    assert body[21:25] == struct.pack("<i", -1)  # no loop information
    assert body[25:27] == struct.pack("<H", 0x1234)
    assert body[27:59] == HASH
    assert body[59] == len(h.coder) and body[60:] == h.coder.encode()


def test_header_time_base_is_stored_reduced():
    body = C.encode_header(header(time_base=Fraction(10, 1000)), V10)
    assert struct.unpack_from("<II", body, 13) == (1, 100)


@pytest.mark.parametrize(
    "field,value,match",
    [
        ("channels", 2, "channel"),
        ("channels", 5, "channel"),
        ("channels", 0, "channel"),
        ("width", 0, "size"),
        ("height", 0, "size"),
        ("tb_num", 0, "time base"),
        ("tb_den", 0, "time base"),
    ],
)
def test_header_invalid_fields(field, value, match):
    offsets = {
        "channels": (8, "<B"),
        "width": (0, "<I"),
        "height": (4, "<I"),
        "tb_num": (13, "<I"),
        "tb_den": (17, "<I"),
    }
    body = bytearray(C.encode_header(header(), V10))
    off, fmt = offsets[field]
    struct.pack_into(fmt, body, off, value)
    with pytest.raises(FormatError, match=match):
        C.decode_header(bytes(body), V10)


def test_header_wrong_lengths():
    body = C.encode_header(header(coder="abc"), V10)
    with pytest.raises(FormatError):
        C.decode_header(body[:-1], V10)  # coder string shorter than its length byte says
    with pytest.raises(FormatError):
        C.decode_header(body + b"x", V10)  # longer
    with pytest.raises(FormatError):
        C.decode_header(body[:59], V10)  # not even the fixed part
    with pytest.raises(FormatError):
        C.decode_header(b"", V10)


def test_header_encode_rejects_bad_values():
    with pytest.raises(FormatError):
        C.encode_header(header(weights_hash=b"short"), V10)
    with pytest.raises(FormatError):
        C.encode_header(header(coder="y" * 256), V10)


# ------------------------------------------------------------------------------------ frames/end
@pytest.mark.parametrize(
    "rec",
    [
        C.FrameRecord(0, 0, 0, 0, 0, b""),
        C.FrameRecord(3, 4, 1, -24, 0xFFFFFFFF, bytes(range(8))),
        C.FrameRecord(0xFFFFFFFE, 0xFFFFFFFF, 1, 24, 12345, b"\x00" * 400),
    ],
)
def test_frame_record_round_trip(rec):
    body = C.encode_frame(rec, V10)
    assert body.endswith(rec.payload) and len(body) >= 14 + len(rec.payload)
    assert struct.unpack_from("<IIBbI", body) == (
        rec.index,
        rec.duration,
        rec.mode,
        rec.scale_shift,
        rec.pixels_crc,
    )
    assert C.decode_frame(body, V10) == rec
    assert C.decode_frame(body, V10).payload == rec.payload


def test_frame_record_errors():
    with pytest.raises(FormatError):
        C.decode_frame(b"\x00" * 13, V10)
    body = C.encode_frame(C.FrameRecord(0, 1, 0, 0, 0, b"\x00" * 8), V10)
    with pytest.raises(FormatError, match="32-bit"):
        C.decode_frame(body[:-1], V10)


def test_end_chunk():
    assert C.decode_end(C.encode_end(42, 1234), V10) == (42, 1234)
    v5 = FormatProfile.for_version(5)
    assert C.decode_end(struct.pack("<I", 42), v5) == (42, None)
    for bad in (b"", b"\x00" * 3, b"\x00" * 5, b"\x00" * 11, b"\x00" * 13):
        with pytest.raises(FormatError):
            C.decode_end(bad, V10)
    with pytest.raises(FormatError):
        C.decode_end(C.encode_end(42, 1234), v5)


# ------------------------------------------------------------------------------------ chunks
def test_chunk_layout_and_crc():
    data = chunk(b"FRAM", b"hello")
    assert data[:8] == struct.pack("<I4s", 5, b"FRAM")
    assert data[8:13] == b"hello"
    assert data[13:] == struct.pack("<I", zlib.crc32(b"FRAMhello"))


def test_read_chunks_round_trip():
    data = minimal_stream()
    inp = io.BytesIO(data)
    assert C.read_preamble(inp) == V10
    chunks = list(C.read_chunks(inp, profile=V10))
    assert [k for k, _ in chunks] == [C.CHUNK_HEAD, C.CHUNK_FRAME, C.CHUNK_END]
    assert C.decode_header(chunks[0][1], V10) == header(frame_count=1)
    assert C.decode_frame(chunks[1][1], V10).pixels_crc == 0xDEADBEEF
    assert C.decode_end(chunks[2][1], V10)[0] == 1


def test_read_chunks_stops_at_end_chunk_even_without_head():
    # The framing layer yields chunks up to FEND; semantic order is the decoder's business.
    chunks = list(
        C.read_chunks(
            stream(chunk(b"abcd", b"x"), chunk(C.CHUNK_END, C.encode_end(0)), preamble=False), profile=V10
        )
    )
    assert chunks == [(b"abcd", b"x"), (C.CHUNK_END, C.encode_end(0))]


def test_crc_error_type_and_message():
    data = bytearray(chunk(C.CHUNK_END, C.encode_end(1)))
    data[9] ^= 0x01  # body byte
    with pytest.raises(ChecksumError, match="FEND"):
        list(C.read_chunks(io.BytesIO(bytes(data)), profile=V10))
    data = bytearray(chunk(C.CHUNK_END, C.encode_end(1)))
    data[-1] ^= 0x80  # the CRC itself
    with pytest.raises(ChecksumError):
        list(C.read_chunks(io.BytesIO(bytes(data)), profile=V10))


def test_read_chunks_truncation_at_every_offset():
    data = minimal_stream()[12:]
    for n in range(len(data)):
        with pytest.raises(TruncatedStreamError):
            list(C.read_chunks(io.BytesIO(data[:n]), profile=V10))


def test_read_chunks_empty_is_truncated():
    with pytest.raises(TruncatedStreamError, match="end chunk"):
        list(C.read_chunks(io.BytesIO(b""), profile=V10))


def test_read_chunks_trailing_bytes():
    data = minimal_stream()[12:]
    for extra in (b"\x00", b"garbage", chunk(C.CHUNK_END, C.encode_end(1))):
        with pytest.raises(FormatError, match="trailing"):
            list(C.read_chunks(io.BytesIO(data + extra), profile=V10))


def test_read_chunks_refuses_huge_length_before_reading():
    class NoBigReads(io.BytesIO):
        def read(self, n=-1):
            assert n is None or n < (1 << 20), f"tried to read {n} bytes"
            return super().read(n)

    data = struct.pack("<I4s", C.MAX_CHUNK + 1, b"FRAM") + b"\x00" * 16
    with pytest.raises(FormatError, match="claims"):
        list(C.read_chunks(NoBigReads(data), profile=V10))
    data = struct.pack("<I4s", 0xFFFFFFFF, b"FRAM")
    with pytest.raises(FormatError):
        list(C.read_chunks(NoBigReads(data), profile=V10))


def test_read_chunks_length_pointing_past_the_end():
    data = struct.pack("<I4s", 1000, b"FRAM") + b"\x00" * 10
    with pytest.raises(TruncatedStreamError):
        list(C.read_chunks(io.BytesIO(data), profile=V10))


# ------------------------------------------------------------------- version 6: flags, index, end
def test_frame_flags_round_trip_and_reserved_bits():
    rec = C.FrameRecord(3, 4, 1, 0, 7, b"\x00" * 4, mix=0, flags=C.FLAG_KEY)
    body = C.encode_frame(rec, V10)
    assert len(body) == C.FRAME_FIXED_SIZE + 4 and body[18] == C.FLAG_KEY
    assert C.decode_frame(body, V10) == rec and C.decode_frame(body, V10).key
    assert not C.decode_frame(C.encode_frame(C.FrameRecord(3, 4, 1, 0, 7, b""), V10), V10).key
    for bit in range(1, 8):
        bad = bytearray(body)
        bad[18] = C.FLAG_KEY | (1 << bit)
        with pytest.raises(FormatError, match="reserved bits"):
            C.decode_frame(bytes(bad), V10)


def test_version_5_frame_has_no_flags_byte():
    """Version 6's framing read as version 5: the flags byte is the payload's first byte."""
    body = struct.pack("<IIBbIHB", 0, 1, 1, 0, 0, 0, C.FLAG_KEY) + b"\x00" * 3
    rec = C.decode_frame(body, FormatProfile.for_version(5))
    assert not rec.key and rec.payload == b"\x01\x00\x00\x00"


def test_version_8_mix_field_is_32_bits():
    """Version 8 widens the mix field to 32 bits (the repeat context's beta is in bits 16-17);
    versions 6-7 read 16 bits, then the flags byte."""
    rec = C.FrameRecord(0, 1, 3, 0, 0, b"", mix=0x2_1234, flags=C.FLAG_KEY)
    body = C.encode_frame(rec, V10)
    assert body[14:18] == (0x2_1234).to_bytes(4, "little") and body[18] == C.FLAG_KEY
    assert C.decode_frame(body, V10) == rec
    old = struct.pack("<IIBbIHB", 0, 1, 3, 0, 0, 0x1234, C.FLAG_KEY)
    got = C.decode_frame(old, FormatProfile.for_version(7))
    assert got.mix == 0x1234 and got.key and got.payload == b""


def test_stored_payload_need_not_be_whole_words():
    body = C.encode_frame(C.FrameRecord(0, 1, 5, 0, 0, b"\x01\x02\x03"), V10)
    assert C.decode_frame(body, V10).payload == b"\x01\x02\x03"
    with pytest.raises(FormatError, match="32-bit"):
        C.decode_frame(C.encode_frame(C.FrameRecord(0, 1, 1, 0, 0, b"\x01\x02\x03"), V10), V10)


def test_index_round_trip_and_errors():
    entries = [C.IndexEntry(0, 0, 100), C.IndexEntry(250, 1000, 90000), C.IndexEntry(500, 2000, 1 << 33)]
    body = C.encode_index(entries, V10)
    assert len(body) == 20 * 3 and C.decode_index(body, V10) == entries
    assert C.decode_index(b"", V10) == []
    with pytest.raises(FormatError, match="20-byte entries"):
        C.decode_index(body[:-1], V10)
    with pytest.raises(FormatError, match="out of order"):
        C.decode_index(C.encode_index(entries[::-1], V10), V10)


def _v6_stream(frames: int = 3, profile: FormatProfile = V10) -> tuple[bytes, list]:
    """A file with an index by hand (version 6 on): HEAD, key FRAMs with stored payloads, INDX, FEND."""
    out = io.BytesIO()
    pos = C.write_preamble(out, profile)
    pos += C.write_chunk(out, C.CHUNK_HEAD, C.encode_header(header(frame_count=frames), profile), profile)
    entries = []
    for i in range(frames):
        entries.append(C.IndexEntry(i, 4 * i, pos))
        rec = C.FrameRecord(i, 4, 5, 0, 0, b"x", flags=C.FLAG_KEY)
        pos += C.write_chunk(out, C.CHUNK_FRAME, C.encode_frame(rec, profile), profile)
    at = pos
    pos += C.write_chunk(out, C.CHUNK_INDEX, C.encode_index(entries, profile), profile)
    C.write_chunk(out, C.CHUNK_END, C.encode_end(frames, at), profile)
    return out.getvalue(), entries


def test_read_index_from_the_end_and_offsets():
    data, entries = _v6_stream()
    inp = io.BytesIO(data)
    profile = C.read_preamble(inp)
    assert C.read_index(inp, profile) == entries
    assert C.read_index(io.BytesIO(data), FormatProfile.for_version(5)) is None
    inp = io.BytesIO(data)
    C.read_preamble(inp)
    offsets = [(off, kind) for off, kind, _ in C.read_chunks_at(inp, C.PREAMBLE_SIZE, profile=V10)]
    assert [o for o, k in offsets if k == C.CHUNK_FRAME] == [e.offset for e in entries]
    assert len(data) - offsets[-1][0] == C.end_chunk_size(V10)


def test_read_index_refuses_damaged_tail_and_bad_offsets():
    data, _ = _v6_stream()
    profile = FormatProfile.for_version(6)
    with pytest.raises(FormatError, match="intact end chunk"):
        C.read_index(io.BytesIO(data[:-1]), profile)
    for offset in (0, len(data), 13):
        bad = data[: -C.end_chunk_size(V10)] + chunk(C.CHUNK_END, C.encode_end(3, offset))
        with pytest.raises(FormatError):
            C.read_index(io.BytesIO(bad), profile)


def test_parse_chunk_checks_length_and_crc():
    data = b"junk" + chunk(b"FRAM", b"hello") + b"more"
    assert C.parse_chunk(data, 4, V10) == (b"FRAM", b"hello", 4 + 17)
    assert C.parse_chunk(data, 3, V10) is None and C.parse_chunk(data, 5, V10) is None
    assert C.parse_chunk(data[:-5], 4, V10) is None
    bad = bytearray(data)
    bad[13] ^= 1
    assert C.parse_chunk(bytes(bad), 4, V10) is None
