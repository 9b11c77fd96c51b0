"""Damaged streams: every truncation and every flipped byte is refused with a FormatError subclass.

Nothing unverified is ever returned: ``decode`` raises instead of returning frames, and the streaming
Decoder may yield frames that passed their CRC but must then raise, never end silently.
"""

from __future__ import annotations

import io
import random
import struct
from fractions import Fraction

import pytest

from fpcodec.bitstream.errors import (
    ChecksumError,
    FormatError,
    ModelMismatchError,
    TruncatedStreamError,
    UnsupportedVersionError,
)
from fpcodec.codec import Decoder, decode, encode

from conftest import (
    DATA,
    PREAMBLE_SIZE,
    VERSION_OFFSET,
    assert_frames_equal,
    body_start,
    chunk_bytes,
    moving_video,
    patch_header,
    split_chunks,
    stream_profile,
)


def rebuild(data: bytes, chunks: list[tuple[bytes, bytes]], reindex: bool = True) -> bytes:
    """The preamble of ``data`` followed by ``chunks`` framed as its version frames them (correct
    lengths and CRCs); with ``reindex``, a version-6 stream's FEND points at its INDX and INDX's
    offsets follow the chunks (so that a test of another rule is not refused for a stale index)."""
    from fpcodec.bitstream import container as C

    profile = stream_profile(data)
    out = bytearray(data[:PREAMBLE_SIZE])
    offsets, index_at = [], None
    for kind, body in chunks:
        if reindex and profile.key_frames and kind == C.CHUNK_INDEX:
            index_at = len(out)
            body = C.encode_index(_index_of(chunks, offsets, profile), profile)
        if (
            reindex
            and profile.key_frames
            and kind == C.CHUNK_END
            and len(body) == 12
            and index_at is not None
        ):
            body = body[:4] + struct.pack("<Q", index_at)
        offsets.append(len(out))
        out += chunk_bytes(kind, body, profile)
    return bytes(out)


def _index_of(chunks, offsets, profile):
    """The INDX entries the chunks before the index call for (key frames, their times, offsets)."""
    from fpcodec.bitstream import container as C

    entries, pts = [], 0
    for i, ((kind, body), offset) in enumerate(zip(chunks, offsets, strict=False)):
        if kind != C.CHUNK_FRAME:
            continue
        try:
            frame = frame_info(body, profile)
        except (IndexError, struct.error):
            continue  # a body too damaged to read: the decoder refuses it anyway
        if frame["key"]:
            first = offsets[i - 1] if i and chunks[i - 1][0] == C.CHUNK_PALETTE else offset
            entries.append(C.IndexEntry(frame["index"], pts, first))
        pts += frame["duration"]
    return entries


def chunk_list(data: bytes) -> list[tuple[bytes, bytes]]:
    return [(kind, body) for _, kind, body in split_chunks(data)]


def decode_must_fail(data: bytes, exc=FormatError):
    with pytest.raises(exc):
        video = decode(data)
        pytest.fail(f"decode returned {len(video.frames)} frames from a damaged stream")


#: Fixed fields of a version-10 frame chunk's body (FORMAT.md), by byte range; the payload follows.
FRAME_FIELDS = (
    (0, 4, "index"),
    (4, 8, "duration"),
    (8, 9, "mode"),
    (9, 10, "scale shift"),
    (10, 14, "pixels crc"),
    (14, 18, "mix"),
    (18, 19, "flags"),
)
#: Modes 0 (RGB intra) and 1 (RGB inter) do not read the mix field (FORMAT.md: 0 for RGB modes).
RGB_MODES = (0, 1)


def _varint(body: bytes, pos: int) -> tuple[int, int]:
    """(value, end) of the LEB128 varint at ``body[pos]`` (FORMAT.md, version 11), read by hand."""
    value = shift = 0
    while True:
        byte = body[pos]
        value |= (byte & 0x7F) << shift
        shift += 7
        pos += 1
        if not byte & 0x80:
            return value, pos


def frame_fields(body: bytes, profile) -> tuple[tuple[int, int, str], ...]:
    """Byte ranges of a FRAM body's fields before its payload: version 10's fixed offsets, or
    version 11's (varint index and duration, mode-and-key byte, scale shift, pixel CRC, varint mix)."""
    if not profile.compact_framing:
        return FRAME_FIELDS
    duration_at = _varint(body, 0)[1]
    mode_at = _varint(body, duration_at)[1]
    mix_at = mode_at + 6
    return (
        (0, duration_at, "index"),
        (duration_at, mode_at, "duration"),
        (mode_at, mode_at + 1, "mode"),
        (mode_at + 1, mode_at + 2, "scale shift"),
        (mode_at + 2, mix_at, "pixels crc"),
        (mix_at, _varint(body, mix_at)[1], "mix"),
    )


def frame_info(body: bytes, profile) -> dict:
    """A FRAM body's index, duration, mode, key flag and field ranges, read by hand."""
    fields = {name: (lo, hi) for lo, hi, name in frame_fields(body, profile)}
    if not profile.compact_framing:
        index, duration = struct.unpack_from("<II", body)
        return dict(index=index, duration=duration, mode=body[8], key=bool(body[18] & 1), fields=fields)
    mode_byte = body[fields["mode"][0]]
    return dict(
        index=_varint(body, 0)[0],
        duration=_varint(body, fields["duration"][0])[0],
        mode=mode_byte & 0x0F,
        key=bool(mode_byte & 0x10),
        fields=fields,
    )


@pytest.fixture(scope="module")
def rgba_frames():
    return moving_video(3, 6, 7, c=4)


@pytest.fixture(scope="module")
def rgba_stream(rgba_frames):
    return encode(rgba_frames, durations=[1, 2, 3], model="last-frame")


def test_fixture_stream_decodes(small_stream, small_frames, rgba_stream, rgba_frames):
    video = decode(small_stream)
    assert_frames_equal(video.frames, small_frames)
    assert video.durations == [3, 4, 5] and video.loop == 2
    assert_frames_equal(decode(rgba_stream).frames, rgba_frames)
    assert [k for k, _ in chunk_list(small_stream)][0] == b"HEAD"
    assert [k for k, _ in chunk_list(small_stream)][-1] == b"FEND"


# ------------------------------------------------------------------------------------ truncation
def test_truncation_at_every_offset(small_stream):
    for n in range(len(small_stream)):
        with pytest.raises(FormatError):
            decode(small_stream[:n])
            pytest.fail(f"decode accepted the stream cut at {n} of {len(small_stream)} bytes")


def test_truncation_after_the_preamble_is_reported_as_truncation(small_stream):
    for n in range(PREAMBLE_SIZE, len(small_stream)):
        with pytest.raises(TruncatedStreamError):
            decode(small_stream[:n])


def test_streaming_decoder_on_truncated_stream_yields_only_verified_frames(small_stream, small_frames):
    ends = [pos for pos, kind, body in split_chunks(small_stream)]
    seen_partial = 0
    for n in range(len(small_stream)):
        got = []
        with pytest.raises(FormatError):
            dec = Decoder(io.BytesIO(small_stream[:n]))
            for frame in dec:
                got.append(frame.pixels)
            pytest.fail(f"the decoder ended silently on a stream cut at {n} bytes")
        assert_frames_equal(got, small_frames[: len(got)])
        seen_partial = max(seen_partial, len(got))
    # The last frame chunk is complete when only FEND is missing: all three frames came out first.
    assert seen_partial == len(small_frames), ends


def test_trailing_garbage_read_chunks_level(small_stream):
    from fpcodec.bitstream import container

    inp = io.BytesIO(small_stream + b"\x00")
    container.read_preamble(inp)
    with pytest.raises(FormatError, match="trailing"):
        list(container.read_chunks(inp))


def test_trailing_garbage(small_stream):
    for extra in (b"\x00", b"FEND", small_stream[-16:]):
        decode_must_fail(small_stream + extra)


def test_empty_and_tiny_inputs():
    for data in (b"", b"\x89", b"\x89FPC\r\n\x1a\n", b"GIF89a" + bytes(20), bytes(100)):
        decode_must_fail(data)


# ------------------------------------------------------------------------------------ flipped bytes
@pytest.mark.parametrize("stream", ["small_stream", "rgba_stream"])
def test_every_byte_inverted(stream, request):
    data = request.getfixturevalue(stream)
    for pos in range(len(data)):
        bad = bytearray(data)
        bad[pos] ^= 0xFF
        with pytest.raises(FormatError):
            decode(bytes(bad))
            pytest.fail(f"decode accepted the stream with byte {pos} inverted")


@pytest.mark.parametrize("stream", ["small_stream", "rgba_stream"])
def test_a_random_bit_of_every_byte(stream, request):
    data = request.getfixturevalue(stream)
    rng = random.Random(1234)
    for pos in range(len(data)):
        bad = bytearray(data)
        bit = rng.randrange(8)
        bad[pos] ^= 1 << bit
        with pytest.raises(FormatError):
            decode(bytes(bad))
            pytest.fail(f"decode accepted the stream with bit {bit} of byte {pos} flipped")


def test_streaming_decoder_on_corrupted_stream(small_stream, small_frames):
    """A flip in a later chunk: earlier verified frames may come out, then an error."""
    last_frame_pos = [pos for pos, kind, _ in split_chunks(small_stream) if kind == b"FRAM"][-1]
    for pos in range(last_frame_pos, len(small_stream)):
        bad = bytearray(small_stream)
        bad[pos] ^= 0x10
        got = []
        with pytest.raises(FormatError):
            for frame in Decoder(io.BytesIO(bytes(bad))):
                got.append(frame.pixels)
        assert_frames_equal(got, small_frames[: len(got)])


# ------------------------------------------------------------------------------------ preamble
def test_wrong_magic(small_stream):
    for i in range(8):
        bad = bytearray(small_stream)
        bad[i] = (bad[i] + 1) % 256
        decode_must_fail(bytes(bad))
    decode_must_fail(b"\x89PNG\r\n\x1a\n" + small_stream[8:])


@pytest.mark.parametrize("version", [0, "next", 99, 0xFFFF])
def test_unsupported_version(small_stream, version):
    from fpcodec.bitstream.container import SUPPORTED_VERSIONS

    version = max(SUPPORTED_VERSIONS) + 1 if version == "next" else version
    assert version not in SUPPORTED_VERSIONS
    bad = bytearray(small_stream)
    struct.pack_into("<H", bad, VERSION_OFFSET, version)
    with pytest.raises(UnsupportedVersionError, match=str(version)):
        decode(bytes(bad))
    with pytest.raises(UnsupportedVersionError):
        Decoder(io.BytesIO(bytes(bad)), load_model=False)


def test_stream_relabelled_as_another_supported_version(small_stream, small_frames, rgba_stream, rgba_frames):
    """Claiming an older (supported) version must fail, never misdecode: version 6 added a flags
    byte to FRAM and the index offset to FEND, which older versions' framing does not read (a
    payload that is not whole words, an end chunk of the wrong size); FORMAT.md, *Version 5*.
    Version 8 widened FRAM's mix field to 32 bits, which versions 6 and 7 read as 16 (the flags
    byte and the payload shifted: reserved flag bits, or a payload that is not whole words).
    Version 9 only gave meaning to mix bits 18-19 (copied blocks), which version 8 reserves: read
    as version 8, a frame that uses them is refused, and a stream that uses none decodes to its
    own frames (the same rules), never to others. Version 10 likewise only gave meaning to mix bit
    21 (the row schedule), which version 9 reserves. Versions 12 to 14 changed only planar streams'
    raster frames (error levels, refinement, substreams): these palette and RGB streams read as
    version 11, 12 or 13 are the same frames. Version 15 added mode 8 (palette LZ): read as version
    14, a stream with such a frame is refused, one without decodes to its own frames. Version 16
    added pixel format 13 (RGB planes), version 17 deeper planar samples, version 18 more
    pixel formats, version 19 planar frames of JPEG levels and version 20 planar interpolation
    rules, which these streams do not use: read as version 15 to 19, they are the same frames.
    Version 21 changed only PLTE bodies, which these streams (RGB modes) have none of: read as
    version 20, the same frames; a stream with palettes read as version 20 is refused (the
    frames' checksums, if nothing before them)."""
    from fpcodec.bitstream.container import SUPPORTED_VERSIONS, VERSION

    for data, frames in ((small_stream, small_frames), (rgba_stream, rgba_frames)):
        for version in SUPPORTED_VERSIONS:
            if version == VERSION:
                continue
            bad = bytearray(data)
            struct.pack_into("<H", bad, VERSION_OFFSET, version)
            if version in (8, 9, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20):
                try:
                    video = decode(bytes(bad))
                except FormatError:
                    continue
                assert_frames_equal(video.frames, frames)
                continue
            decode_must_fail(bytes(bad))
    from fpcodec.codec.io import VideoReader

    gif = [f for f, _ in VideoReader(DATA / "carphone_000.gif").frames()][:2]
    with_palettes = bytearray(encode(gif, model="last-frame"))
    assert any(kind == b"PLTE" for kind, _ in chunk_list(bytes(with_palettes)))
    struct.pack_into("<H", with_palettes, VERSION_OFFSET, 20)
    decode_must_fail(bytes(with_palettes))


def test_older_framing_relabelled_as_the_current_version_is_refused():
    """Version 11 changed the framing (FORMAT.md, *Version 10*): version-10 bytes read by the
    current version's rules (version 11's framing) are refused rather than misread."""
    from fpcodec.bitstream.container import VERSION

    old = (DATA / "v10_screen.fpc").read_bytes()
    assert stream_profile(old).version == 10 and VERSION >= 11
    bad = bytearray(old)
    struct.pack_into("<H", bad, VERSION_OFFSET, VERSION)
    decode_must_fail(bytes(bad))


def test_reserved_flags(small_stream):
    bad = bytearray(small_stream)
    bad[10] = 1
    decode_must_fail(bytes(bad))


# ------------------------------------------------------------------------------------ header
def test_patch_header_helper_keeps_stream_valid(small_stream, small_frames):
    # Rewriting a field with its own value must give back the identical, decodable stream.
    assert patch_header(small_stream, "model_id", 1) == small_stream
    video = decode(patch_header(small_stream, "loop", 5))
    assert_frames_equal(video.frames, small_frames)
    assert video.loop == 5


@pytest.mark.parametrize("model_id", [0, 6, 99, 0xFFFF])
def test_unknown_model_id(small_stream, model_id):
    bad = patch_header(small_stream, "model_id", model_id)
    with pytest.raises(ModelMismatchError, match=str(model_id)):
        decode(bad)
    with pytest.raises(ModelMismatchError):
        Decoder(io.BytesIO(bad), load_model=False)


@pytest.mark.parametrize("weights_hash", [b"\x01" + bytes(31), bytes(31) + b"\x80", b"\xff" * 32])
def test_wrong_weights_hash(small_stream, weights_hash):
    with pytest.raises(ModelMismatchError, match="weights"):
        decode(patch_header(small_stream, "weights_hash", weights_hash))


def test_stream_claiming_another_known_model(small_stream):
    """Relabelled as a learned model: refused (other weights), never misdecoded."""
    for model_id in (2, 3, 4, 5):
        with pytest.raises(ModelMismatchError):
            decode(patch_header(small_stream, "model_id", model_id))


@pytest.mark.parametrize(
    "field,value",
    [
        ("width", 9),
        ("width", 7),
        ("height", 16),
        ("height", 1),
        ("channels", 4),
        ("width", 0),
        ("height", 0),
        ("channels", 2),
        ("tb_den", 0),
        ("tb_num", 0),
        ("frame_count", 2),
        ("frame_count", 4),
        ("frame_count", 0),
        ("width", 0xFFFFFFFF),
        ("height", 64),
    ],
)
def test_inconsistent_header_fields(small_stream, field, value):
    decode_must_fail(patch_header(small_stream, field, value))


def test_header_size_over_max_pixels_is_refused_before_decoding(small_stream):
    from fpcodec.codec.pipeline import MAX_PIXELS

    bad = patch_header(patch_header(small_stream, "width", 16384), "height", 16384)
    assert 16384 * 16384 > MAX_PIXELS
    with pytest.raises(FormatError, match="pixels"):
        Decoder(io.BytesIO(bad))


def test_timing_fields_are_data_not_errors(small_stream, small_frames):
    video = decode(patch_header(patch_header(small_stream, "tb_num", 3), "loop", -1))
    assert_frames_equal(video.frames, small_frames)
    assert video.time_base == Fraction(3, 100) and video.loop is None


# ------------------------------------------------------------------------------------ chunk structure
def test_frame_index_out_of_order(small_stream):
    chunks = chunk_list(small_stream)
    frames = [i for i, (k, _) in enumerate(chunks) if k == b"FRAM"]
    profile = stream_profile(small_stream)
    for i in frames:
        body = chunks[i][1]
        frame = frame_info(body, profile)
        index_end = frame["fields"]["index"][1]
        if profile.compact_framing:
            body = _uvarint(frame["index"] + 1) + body[index_end:]
        else:
            body = struct.pack("<I", frame["index"] + 1) + body[index_end:]
        assert frame_info(body, profile)["index"] == frame["index"] + 1
        bad = list(chunks)
        bad[i] = (b"FRAM", body)
        decode_must_fail(rebuild(small_stream, bad))
    swapped = list(chunks)
    swapped[frames[1]], swapped[frames[2]] = swapped[frames[2]], swapped[frames[1]]
    decode_must_fail(rebuild(small_stream, swapped))


def test_frame_chunk_removed_or_duplicated(small_stream):
    chunks = chunk_list(small_stream)
    frames = [i for i, (k, _) in enumerate(chunks) if k == b"FRAM"]
    for i in frames:
        decode_must_fail(rebuild(small_stream, chunks[:i] + chunks[i + 1 :]))
        decode_must_fail(rebuild(small_stream, chunks[: i + 1] + chunks[i:]))


def test_end_chunk_count_mismatch(small_stream):
    chunks = chunk_list(small_stream)
    assert rebuild(small_stream, chunks) == small_stream
    for count in (0, 2, 4, 0xFFFFFFFF):
        # the index offset is put right by rebuild, so only the count is wrong
        decode_must_fail(rebuild(small_stream, chunks[:-1] + [(b"FEND", struct.pack("<IQ", count, 0))]))


def test_missing_head_or_second_head(small_stream):
    chunks = chunk_list(small_stream)
    decode_must_fail(rebuild(small_stream, chunks[1:]))
    decode_must_fail(rebuild(small_stream, chunks[:2] + [chunks[0]] + chunks[2:]))
    decode_must_fail(rebuild(small_stream, [chunks[0], chunks[-1]]))  # no frames at all


def test_unknown_critical_chunk_is_refused(small_stream):
    chunks = chunk_list(small_stream)
    kind = b"X" if stream_profile(small_stream).compact_framing else b"XTRA"
    decode_must_fail(rebuild(small_stream, chunks[:2] + [(kind, b"hello")] + chunks[2:]))


def test_ancillary_chunks_are_skipped(small_stream, small_frames):
    """Chunk types in lower case (version 11: one lower-case letter) are ancillary, as in PNG."""
    chunks = chunk_list(small_stream)
    if stream_profile(small_stream).compact_framing:
        extra = [(b"t", b"comment"), (b"z", b"")]
    else:
        extra = [(b"teXt", b"comment"), (b"zzzz", b"")]
    # Anywhere but between INDX and FEND (version 6: FEND follows INDX); the offsets are rebuilt.
    data = rebuild(small_stream, chunks[:1] + extra + chunks[1:-2] + extra + chunks[-2:])
    video = decode(data)
    assert_frames_equal(video.frames, small_frames)
    assert video.durations == [3, 4, 5]


def test_chunk_length_field_damage(small_stream):
    for pos, _kind, body in split_chunks(small_stream):
        for length in (len(body) - 1, len(body) + 1, len(body) + 4, 0x7FFFFFFF, 0xFFFFFFFF):
            if length < 0:
                continue
            if stream_profile(small_stream).compact_framing:  # type letter, varint length
                start = body_start(small_stream, pos)
                bad = small_stream[: pos + 1] + _uvarint(length) + small_stream[start:]
            else:
                bad = bytearray(small_stream)
                struct.pack_into("<I", bad, pos, length)
            decode_must_fail(bytes(bad))


def test_frame_pixel_crc_mismatch(small_stream):
    """A frame whose pixel CRC is wrong (chunk CRC recomputed) is refused with ChecksumError."""
    chunks = chunk_list(small_stream)
    for i, (kind, body) in enumerate(chunks):
        if kind != b"FRAM":
            continue
        crc_at = frame_info(body, stream_profile(small_stream))["fields"]["pixels crc"][0]
        body = bytearray(body)
        body[crc_at] ^= 0x01
        bad = list(chunks)
        bad[i] = (kind, bytes(body))
        with pytest.raises(ChecksumError):
            decode(rebuild(small_stream, bad))


def test_frame_mode_field(small_stream):
    chunks = chunk_list(small_stream)
    first = next(i for i, (k, _) in enumerate(chunks) if k == b"FRAM")
    mode_at = frame_info(chunks[first][1], stream_profile(small_stream))["fields"]["mode"][0]
    for mode in range(256):  # version 11: the key flag is bit 4 of this byte, and frame 0 needs it
        body = bytearray(chunks[first][1])
        if body[mode_at] == mode:
            continue
        body[mode_at] = mode
        bad = list(chunks)
        bad[first] = (b"FRAM", bytes(body))
        # The first frame has no history: any other mode is either invalid or decodes to
        # something whose CRC does not match.
        decode_must_fail(rebuild(small_stream, bad))


@pytest.mark.parametrize("stream,frames", [("small_stream", "small_frames"), ("rgba_stream", "rgba_frames")])
def test_every_body_byte_damaged_with_valid_chunk_crc(stream, frames, request):
    """Bypass the chunk CRC: damage inside frame and palette bodies must still never yield wrong
    pixels (the per-frame pixel CRC), and must never escape as anything but FormatError.

    What must happen depends on the field: a damaged index, mode or pixel CRC is refused; the
    duration, and the mix field of an RGB frame, do not take part in decoding the pixels, so the
    frames decode exactly (with the damaged duration). Damaged coded bits (scale shift, payload,
    palette) are refused by the pixel CRC unless they decode to the same pixels anyway (the entropy
    decoder can read the same symbols from a slightly different state or scale), which must be rare.
    Version 11's varint fields: damage that lengthens or shortens a varint moves every field after
    it, so such a frame is refused or, rarely, decodes to its own pixels.
    """
    data = request.getfixturevalue(stream)
    frames = request.getfixturevalue(frames)
    profile = stream_profile(data)
    chunks = chunk_list(data)
    durations = decode(data).durations
    coded = coded_exact = moved = 0
    frame_no = -1
    for i, (kind, body) in enumerate(chunks):
        if kind not in (b"FRAM", b"PLTE"):
            continue
        frame_no += kind == b"FRAM"
        layout = frame_fields(body, profile) if kind == b"FRAM" else ()
        for pos in range(len(body)):
            field = next(
                (name for lo, hi, name in layout if lo <= pos < hi), "payload" if layout else "palette"
            )
            for flip in (0x01, 0xFF):
                bad_body = bytearray(body)
                bad_body[pos] ^= flip
                bad = list(chunks)
                bad[i] = (kind, bytes(bad_body))
                damaged = rebuild(data, bad)
                if field in ("index", "mode", "pixels crc"):
                    decode_must_fail(damaged)
                elif field == "flags":
                    # reserved bits are refused; a toggled key flag (index rebuilt to match) must
                    # fail or, for a frame that uses no history or palette state, decode exactly
                    if bad_body[18] & 0xFE:
                        decode_must_fail(damaged)
                        continue
                    _refused_or_exact(damaged, frames)
                elif field in ("duration", "mix") and _fields_moved(bad_body, layout, profile):
                    moved += 1
                    _refused_or_exact(damaged, frames)
                elif field == "duration" or (
                    field == "mix" and frame_info(body, profile)["mode"] in RGB_MODES
                ):
                    video = decode(damaged)
                    assert_frames_equal(video.frames, frames)
                    expected = list(durations)
                    expected[frame_no] = frame_info(bytes(bad_body), profile)["duration"]
                    assert video.durations == expected
                else:
                    coded += 1
                    coded_exact += _refused_or_exact(damaged, frames)
    assert coded > 0 and coded_exact <= coded // 50, f"{coded_exact} of {coded} damaged coded bits decode"
    assert (moved > 0) == profile.compact_framing


def _refused_or_exact(data: bytes, frames) -> bool:
    """Whether ``data`` decodes, which it may only do to exactly ``frames``; False if it is refused."""
    try:
        video = decode(data)
    except FormatError:
        return False
    assert_frames_equal(video.frames, frames)
    return True


def _fields_moved(bad_body: bytearray, layout, profile) -> bool:
    """Whether damage changed where a version-11 frame's fields lie (a varint's length changed)."""
    try:
        return frame_fields(bytes(bad_body), profile) != layout
    except IndexError:
        return True


def _uvarint(value: int) -> bytes:
    """``value`` as a LEB128 varint (FORMAT.md, version 11), written by hand."""
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    return bytes(out + bytes([value]))


def _input_changing(real):
    """A frame coder that changes a sample of the frame it is given, then codes it (a stand-in for
    a coder that writes into its input by mistake)."""

    def code(frame, *args, **kwargs):
        target = frame[0] if isinstance(frame, list) else frame  # planes, or an (H, W, C) frame
        target.flat[0] ^= 1
        return real(frame, *args, **kwargs)

    return code


@pytest.mark.parametrize("planar", [False, True])
def test_a_coder_that_changes_its_input_is_caught_by_the_checksum(monkeypatch, planar):
    """The frame checksum is taken from the frame as given, before it is coded: a coder that
    changed its input codes the changed frame, which the decoder then refuses (its checksum was
    taken after the coding once, and would have vouched for the change)."""
    from fpcodec.codec import frame_coding, planar_coding

    frames = moving_video(3, 12, 10)
    module = planar_coding if planar else frame_coding
    monkeypatch.setattr(module, "encode_frame", _input_changing(module.encode_frame))
    model = {} if planar else {"model": "last-frame"}  # planes take the planar rule, the default
    data = encode([f.copy() for f in frames], planes=planar, **model)
    with pytest.raises(ChecksumError):
        decode(data)
