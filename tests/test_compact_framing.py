"""Version 11's compact framing (fpcodec.bitstream.container): one-letter chunk types, varint
lengths, varint fields in HEAD, FRAM, REPT, INDX and PLTE. Version 10's fixed-width framing, which
stays readable, is checked in test_container.py.

Imports nothing but fpcodec.bitstream, numpy and the standard library.
"""

from __future__ import annotations

import io
import struct
import zlib
from fractions import Fraction

import numpy as np
import pytest

from fpcodec.bitstream import container as C
from fpcodec.bitstream.errors import ChecksumError, FormatError, TruncatedStreamError
from fpcodec.bitstream.palette import decode_palette, encode_palette
from fpcodec.bitstream.profile import CURRENT, FormatProfile

from conftest import TEST_HASH as HASH
from conftest import stream_header as header

V10 = FormatProfile.for_version(10)
V11 = FormatProfile.for_version(11)


def chunk(kind: bytes, body: bytes) -> bytes:
    buf = io.BytesIO()
    assert C.write_chunk(buf, kind, body, V11) == len(buf.getvalue()) == C.chunk_size(len(body), V11)
    return buf.getvalue()


def test_the_encoder_writes_version_21_with_version_11s_framing():
    """Versions 12 (error levels of raster planar planes), 13 (their refinement), 14 (raster
    inter planes in substreams), 15 (palette LZ frames), 16 (RGB planes), 17 (deeper samples),
    18 (more pixel formats), 19 (JPEG levels), 20 (interpolation rules) and 21 (palettes' steps
    and kept colours coded) keep version 11's compact framing."""
    v12, v13, v14, v15, v16, v17, v18, v19, v20, v21 = (
        FormatProfile.for_version(v) for v in (12, 13, 14, 15, 16, 17, 18, 19, 20, 21)
    )
    assert CURRENT == v21 and v21.compact_framing and v21.palette_steps and not v20.palette_steps
    assert v20.compact_framing and v20.interpolations and not v19.interpolations
    assert v19.compact_framing and v19.jpeg_planes and not v18.jpeg_planes
    assert v18.compact_framing and v18.more_formats and not v17.more_formats
    assert v17.compact_framing and v17.deep_samples and not v16.deep_samples
    assert v16.compact_framing and v15.compact_framing and v14.compact_framing
    assert v13.compact_framing and v12.compact_framing and v15.lz_frames and not v14.lz_frames
    assert v16.rgb_planes and not v15.rgb_planes
    assert V11.compact_framing and not V10.compact_framing
    assert v13.error_levels and v12.error_levels and not V11.error_levels
    assert v13.refinement and not v12.refinement
    assert v14.substreams and not v13.substreams
    buf = io.BytesIO()
    C.write_preamble(buf)
    assert buf.getvalue() == C.MAGIC + struct.pack("<HH", 21, 0)


# ------------------------------------------------------------------------------------ varints
@pytest.mark.parametrize(
    "value,encoded",
    [
        (0, b"\x00"),
        (1, b"\x01"),
        (127, b"\x7f"),
        (128, b"\x80\x01"),
        (300, b"\xac\x02"),
        (16383, b"\xff\x7f"),
        (16384, b"\x80\x80\x01"),
        (0xFFFFFFFF, b"\xff\xff\xff\xff\x0f"),
    ],
)
def test_uvarint_is_leb128(value, encoded):
    assert C.uvarint(value) == encoded
    assert C.read_uvarint(b"x" + encoded + b"y", 1, "v") == (value, 1 + len(encoded))


def test_uvarint_refuses_what_it_cannot_mean():
    with pytest.raises(FormatError, match="negative"):
        C.uvarint(-1)
    with pytest.raises(FormatError, match="cut off"):
        C.read_uvarint(b"\x80\x80", 0, "the length")
    with pytest.raises(FormatError, match="needless zero"):
        C.read_uvarint(b"\x80\x00", 0, "the length")  # 0 in two bytes: one value, one spelling
    with pytest.raises(FormatError, match="the count is 256 or more, above the limit of 255"):
        C.read_uvarint(C.uvarint(256), 0, "the count", 255)
    with pytest.raises(FormatError, match="more than ten bytes"):
        C.read_uvarint(b"\x80" * 1000 + b"\x01", 0, "the length")  # zeros padded, not refused late
    big = C.uvarint(1 << 70)
    with pytest.raises(FormatError, match="limit"):
        C.read_uvarint(big, 0, "v")


# ------------------------------------------------------------------------------------ chunks
def test_chunk_layout_and_crc():
    data = chunk(C.CHUNK_FRAME, b"hello")
    assert data == b"F\x05hello" + struct.pack("<I", zlib.crc32(b"Fhello"))
    long_body = bytes(200)
    data = chunk(C.CHUNK_PALETTE, long_body)
    assert data[:3] == b"P\xc8\x01" and data[3:-4] == long_body
    assert data[-4:] == struct.pack("<I", zlib.crc32(b"P" + long_body))
    assert C.end_chunk_size(V11) == 1 + 1 + 12 + 4 and C.end_chunk_size(V10) == 8 + 12 + 4


def test_every_chunk_type_has_its_letter_and_reads_back_by_its_name():
    kinds = [
        C.CHUNK_HEAD,
        C.CHUNK_PIXEL_FORMAT,
        C.CHUNK_PALETTE,
        C.CHUNK_FRAME,
        C.CHUNK_REPEAT,
        C.CHUNK_INDEX,
    ]
    data = b"".join(chunk(k, bytes([i])) for i, k in enumerate(kinds)) + chunk(C.CHUNK_END, C.encode_end(0))
    assert data[0:1] + data[7:8] + data[14:15] == b"HSP"  # type, length 1, body, CRC: 7 bytes
    got = list(C.read_chunks(io.BytesIO(data), profile=V11))
    assert got == [(k, bytes([i])) for i, k in enumerate(kinds)] + [(C.CHUNK_END, C.encode_end(0))]
    assert set(C.chunk_tags(V11).values()) == {b"P", b"F", b"R", b"I", b"E"} and C.tag_offset(V11) == 0


def test_read_chunks_refuses_a_type_that_is_not_a_letter_and_skips_unknown_letters():
    with pytest.raises(FormatError, match="not a letter"):
        list(C.read_chunks(io.BytesIO(b"\x05\x00" + bytes(4)), profile=V11))
    ancillary = b"z\x01x" + struct.pack("<I", zlib.crc32(b"zx"))
    got = list(C.read_chunks(io.BytesIO(ancillary + chunk(C.CHUNK_END, C.encode_end(0))), profile=V11))
    assert got[0] == (b"z", b"x")


@pytest.mark.parametrize("profile", [V10, V11], ids=["v10", "v11"])
def test_every_single_bit_flip_in_a_chunk_is_detected(profile):
    """In both framings (version 10: length, type, body, CRC; version 11: type, length, body, CRC)."""
    rec = C.FrameRecord(0, 4, 1, 2, 99, bytes(range(16)))
    out = io.BytesIO()
    first_len = C.write_chunk(out, C.CHUNK_FRAME, C.encode_frame(rec, profile), profile)
    C.write_chunk(out, C.CHUNK_END, C.encode_end(1), profile)
    good = out.getvalue()
    for pos in range(first_len):  # every byte of the first chunk
        for bit in range(8):
            bad = bytearray(good)
            bad[pos] ^= 1 << bit
            with pytest.raises(FormatError):
                list(C.read_chunks(io.BytesIO(bytes(bad)), profile=profile))


def test_crc_error_names_the_chunk():
    data = bytearray(chunk(C.CHUNK_END, C.encode_end(1)))
    data[3] ^= 0x01
    with pytest.raises(ChecksumError, match="FEND"):
        list(C.read_chunks(io.BytesIO(bytes(data)), profile=V11))


def _minimal_stream() -> bytes:
    rec = C.FrameRecord(0, 4, 0, -3, 0xDEADBEEF, b"\x01\x02\x03\x04", flags=C.FLAG_KEY)
    return (
        chunk(C.CHUNK_HEAD, C.encode_header(header(frame_count=1), V11))
        + chunk(C.CHUNK_FRAME, C.encode_frame(rec, V11))
        + chunk(C.CHUNK_END, C.encode_end(1))
    )


def test_read_chunks_truncation_at_every_offset_and_trailing_bytes():
    data = _minimal_stream()
    for n in range(len(data)):
        with pytest.raises(TruncatedStreamError):
            list(C.read_chunks(io.BytesIO(data[:n]), profile=V11))
    with pytest.raises(FormatError, match="trailing"):
        list(C.read_chunks(io.BytesIO(data + b"\x00"), profile=V11))


def test_read_chunks_refuses_huge_or_padded_lengths_before_reading():
    class NoBigReads(io.BytesIO):
        def read(self, n=-1):
            assert n is None or n < (1 << 20), f"tried to read {n} bytes"
            return super().read(n)

    with pytest.raises(FormatError, match="limit"):
        list(C.read_chunks(NoBigReads(b"F" + C.uvarint(C.MAX_CHUNK + 1) + bytes(16)), profile=V11))
    with pytest.raises(FormatError):  # a sixth length byte is never read
        list(C.read_chunks(NoBigReads(b"F" + b"\xff" * 8), profile=V11))
    with pytest.raises(FormatError, match="needless zero"):
        list(C.read_chunks(io.BytesIO(b"F\x85\x00" + bytes(9)), profile=V11))
    with pytest.raises(TruncatedStreamError):
        list(C.read_chunks(io.BytesIO(b"F" + C.uvarint(1000) + bytes(10)), profile=V11))


def test_parse_chunk_checks_letter_length_and_crc():
    data = b"junk" + chunk(C.CHUNK_FRAME, b"hello") + b"more"
    assert C.parse_chunk(data, 4, V11) == (C.CHUNK_FRAME, b"hello", 4 + 11)
    assert C.parse_chunk(data, 3, V11) is None and C.parse_chunk(data, 5, V11) is None
    assert C.parse_chunk(data[:-6], 4, V11) is None
    bad = bytearray(data)
    bad[7] ^= 1
    assert C.parse_chunk(bytes(bad), 4, V11) is None
    other = b"Q\x01x" + struct.pack("<I", zlib.crc32(b"Qx"))  # intact, but no chunk type of ours
    assert C.parse_chunk(other, 0, V11) is None


# ------------------------------------------------------------------------------------ header
@pytest.mark.parametrize(
    "h",
    [
        header(),
        header(frame_count=None),
        header(frame_count=0),
        header(frame_count=0xFFFFFFFE),
        header(loop=None),
        header(loop=65535),
        header(channels=4),
        header(channels=1),
        header(width=1, height=1, frame_count=1),
        header(width=0xFFFFFFFF, height=3),
        header(time_base=Fraction(1001, 30000)),
        header(time_base=Fraction(1, 1000), coder=""),
        header(model_id=0xFFFF, weights_hash=b"\xff" * 32, coder="x" * 255),
    ],
)
def test_header_round_trip(h):
    body = C.encode_header(h, V11)
    assert C.decode_header(body, V11) == h
    assert len(body) < 60 + len(h.coder)  # version 10's fixed 60 bytes


def test_header_fields_in_order_as_format_md_says():
    body = C.encode_header(header(width=300, frame_count=None, loop=None, model_id=0x1234), V11)
    expect = (
        b"\xac\x02"  # width 300
        + b"\x40"  # height 64
        + b"\x03"  # channels
        + b"\x00"  # frame count + 1: 0 is unknown
        + b"\x01\x64"  # time base 1/100, reduced
        + b"\x00"  # loop + 1: 0 is no loop information
        + b"\xb4\x24"  # predictor id 0x1234
        + HASH
        + bytes([18])
        + b"constriction=0.5.0"
    )
    assert body == expect
    reduced = C.encode_header(header(time_base=Fraction(10, 1000)), V11)
    assert reduced == C.encode_header(header(time_base=Fraction(1, 100)), V11)


@pytest.mark.parametrize(
    "h,match",
    [
        (dict(channels=2), "channel"),
        (dict(channels=0), "channel"),
        (dict(width=0), "size"),
        (dict(height=0), "size"),
    ],
)
def test_header_invalid_fields(h, match):
    with pytest.raises(FormatError, match=match):
        C.decode_header(C.encode_header(header(**h), V11), V11)


def test_header_zero_time_base_and_wrong_lengths():
    body = C.encode_header(header(), V11)
    with pytest.raises(FormatError, match="time base"):
        C.decode_header(body[:4] + b"\x00" + body[5:], V11)  # numerator 0
    for cut in (0, 3, 10, len(body) - 1):
        with pytest.raises(FormatError):
            C.decode_header(body[:cut], V11)
    with pytest.raises(FormatError):
        C.decode_header(body + b"x", V11)
    with pytest.raises(FormatError, match="channels"):
        C.decode_header(body[:2] + b"\x80\x02" + body[3:], V11)  # channels 256


# ------------------------------------------------------------------------------------ frames
@pytest.mark.parametrize(
    "rec",
    [
        C.FrameRecord(0, 0, 0, 0, 0, b""),
        C.FrameRecord(3, 4, 1, -24, 0xFFFFFFFF, bytes(range(8)), mix=0x2_1234, flags=C.FLAG_KEY),
        C.FrameRecord(0xFFFFFFFE, 0xFFFFFFFF, 15, 24, 12345, b"\x00" * 400, mix=0xFFFFFFFF),
        C.FrameRecord(5, 1, 5, 0, 0, b"\x01\x02\x03"),  # stored: any payload length
    ],
)
def test_frame_record_round_trip(rec):
    body = C.encode_frame(rec, V11)
    assert body.endswith(rec.payload) and C.frame_fields_size(rec, V11) == len(body) - len(rec.payload)
    assert C.decode_frame(body, V11) == rec


def test_frame_fields_in_order_as_format_md_says():
    rec = C.FrameRecord(200, 4, 3, -2, 0x01020304, b"\xaa" * 4, mix=0x2_0000, flags=C.FLAG_KEY)
    body = C.encode_frame(rec, V11)
    assert (
        body
        == b"\xc8\x01" + b"\x04" + b"\x13" + b"\xfe" + b"\x04\x03\x02\x01" + b"\x80\x80\x08" + b"\xaa" * 4
    )
    assert C.frame_fields_size(C.FrameRecord(0, 1, 1, 0, 0, b""), V11) == 9  # against version 10's 19


def test_frame_record_errors():
    body = C.encode_frame(C.FrameRecord(0, 1, 1, 0, 0, b"\x00" * 8), V11)
    with pytest.raises(FormatError, match="32-bit"):
        C.decode_frame(body[:-1], V11)
    for cut in (0, 1, 2, 4, 7):
        with pytest.raises(FormatError):
            C.decode_frame(body[:cut], V11)
    for bit in (5, 6, 7):
        bad = bytearray(body)
        bad[2] |= 1 << bit
        with pytest.raises(FormatError, match="reserved bits"):
            C.decode_frame(bytes(bad), V11)
    with pytest.raises(FormatError, match="mode 16"):
        C.encode_frame(C.FrameRecord(0, 1, 16, 0, 0, b""), V11)
    with pytest.raises(FormatError):
        C.encode_frame(C.FrameRecord(0, 1, 1, 0, 0, b"", flags=0x02), V11)
    mode_7 = bytearray(body)
    mode_7[2] = 7
    with pytest.raises(FormatError, match="repeat"):
        C.decode_frame(bytes(mode_7), V11)


# ------------------------------------------------------------------------------------ repeats, index
def test_repeats_round_trip_and_errors():
    body = C.encode_repeats(300, [4, 4, 1000], V11)
    assert body == b"\xac\x02\x04\x04\xe8\x07"
    recs = C.decode_repeats(body, V11)
    assert [(r.index, r.duration, r.mode) for r in recs] == [(300, 4, 7), (301, 4, 7), (302, 1000, 7)]
    for bad in (b"", b"\x01", b"\x01\x80"):
        with pytest.raises(FormatError):
            C.decode_repeats(bad, V11)
    with pytest.raises(FormatError):
        C.decode_repeats(C.uvarint(0) + b"\x01" * (C.MAX_REPEATS + 1), V11)


def test_index_is_stored_as_steps():
    entries = [C.IndexEntry(0, 0, 12), C.IndexEntry(250, 1000, 90000), C.IndexEntry(500, 2000, 1 << 33)]
    body = C.encode_index(entries, V11)
    assert body[:3] == b"\x00\x00\x0c" and len(body) < 20 * 3
    assert C.decode_index(body, V11) == entries and C.decode_index(b"", V11) == []
    with pytest.raises(FormatError):
        C.decode_index(body[:-1], V11)
    with pytest.raises(FormatError, match="out of order"):
        C.decode_index(C.uvarint(3) + b"\x00\x05" + b"\x00\x00\x05", V11)  # the same frame twice
    with pytest.raises(FormatError):
        C.encode_index(entries[::-1], V11)  # a negative step


def test_index_read_from_the_end_of_a_file():
    out = io.BytesIO()
    pos = C.write_preamble(out, V11)
    pos += C.write_chunk(out, C.CHUNK_HEAD, C.encode_header(header(frame_count=3), V11), V11)
    entries = []
    for i in range(3):
        entries.append(C.IndexEntry(i, 4 * i, pos))
        rec = C.FrameRecord(i, 4, 5, 0, 0, b"x", flags=C.FLAG_KEY)
        pos += C.write_chunk(out, C.CHUNK_FRAME, C.encode_frame(rec, V11), V11)
    at = pos
    pos += C.write_chunk(out, C.CHUNK_INDEX, C.encode_index(entries, V11), V11)
    C.write_chunk(out, C.CHUNK_END, C.encode_end(3, at), V11)
    data = out.getvalue()
    inp = io.BytesIO(data)
    assert C.read_preamble(inp) == V11 and C.read_index(inp, V11) == entries
    inp = io.BytesIO(data)
    C.read_preamble(inp)
    offsets = [(off, kind) for off, kind, _ in C.read_chunks_at(inp, C.PREAMBLE_SIZE, profile=V11)]
    assert [o for o, k in offsets if k == C.CHUNK_FRAME] == [e.offset for e in entries]
    assert len(data) - offsets[-1][0] == C.end_chunk_size(V11)
    with pytest.raises(FormatError, match="intact end chunk"):
        C.read_index(io.BytesIO(data[:-1]), V11)
    bad = data[: -C.end_chunk_size(V11)] + chunk(C.CHUNK_END, C.encode_end(3, 13))
    with pytest.raises(FormatError):
        C.read_index(io.BytesIO(bad), V11)


# ------------------------------------------------------------------------------------ palettes
@pytest.mark.parametrize("count,prev_count", [(1, 0), (256, 0), (17, 300 // 2), (256, 256)])
def test_palette_counts_are_a_byte_and_a_varint(count, prev_count):
    rng = np.random.default_rng(count + prev_count)
    keys = rng.choice(1 << 24, size=count + prev_count, replace=False)
    palette_keys, previous_keys = np.sort(keys[:count]), np.sort(keys[count:])
    palette, previous = (
        np.stack([(k >> s) & 255 for s in (16, 8, 0)], 1).astype(np.uint8)
        for k in (palette_keys, previous_keys)
    )
    previous = previous if prev_count else None
    body = encode_palette(palette, previous, V11)
    counts = bytes([count - 1]) + C.uvarint(prev_count)
    old = encode_palette(palette, previous, V10)
    assert body == counts + old[4:]  # version 10: two 16-bit counts; the rest is the same
    np.testing.assert_array_equal(decode_palette(body, previous, 3, V11), palette)
    np.testing.assert_array_equal(decode_palette(old, previous, 3, V10), palette)
    with pytest.raises(FormatError):
        decode_palette(b"", previous, 3, V11)
    with pytest.raises(FormatError):
        decode_palette(bytes([count - 1]) + C.uvarint(prev_count + 1) + old[4:], previous, 3, V11)
