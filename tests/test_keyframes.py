"""Format version 6: the stored mode, key frames, the index, seeking and salvage (issues 17 and 18)."""

from __future__ import annotations

import io
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from fpcodec.bitstream import container as C
from fpcodec.bitstream.errors import ChecksumError, FormatError
from fpcodec.codec import Decoder, decode
from fpcodec.codec import frame_coding as fc
from fpcodec.codec.cli import main
from fpcodec.codec import pipeline
from fpcodec.codec.pipeline import DEFAULT_KEYINT
from fpcodec.codec.salvage import SalvageReport, salvage

from conftest import (
    DATA,
    assert_frames_equal,
    body_start,
    chunk_bytes,
    encode_frames,
    moving_video,
    read_video,
    replace_chunk,
    split_chunks,
)

#: Bytes a frame adds around its pixels in the stored mode at most: chunk framing (version 11: 6-10
#: bytes) and FRAM's fields before the payload (9-21 bytes; FORMAT.md).
PER_FRAME = 31


def _records(data: bytes) -> list[C.FrameRecord]:
    return list(Decoder(io.BytesIO(data), load_model=False).records())


def _overhead(data: bytes) -> int:
    """What a stream spends beyond the frames' chunks: preamble, HEAD, INDX and FEND."""
    sizes = {kind: C.chunk_size(len(body)) for _, kind, body in split_chunks(data)}
    assert sizes[C.CHUNK_END] == C.END_CHUNK_SIZE == 18
    return C.PREAMBLE_SIZE + sizes[C.CHUNK_HEAD] + sizes[C.CHUNK_INDEX] + sizes[C.CHUNK_END]


# ----------------------------------------------------------------------------------- stored mode
@pytest.mark.parametrize("shape", [(32, 48, 3), (32, 48, 4), (1, 1, 3), (1, 1, 4)])
def test_random_frames_cost_at_most_raw_plus_a_constant(shape):
    """Issue 18 item 2: noise cost 26.9 bits/pixel against 24 raw; with the stored mode a stream is
    never more than the raw frames plus framing per frame plus the header (every frame a key frame
    here, the worst case for the index)."""
    rng = np.random.default_rng(sum(shape))
    frames = [rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(2)]
    data = encode_frames(frames, keyint=1)
    raw = sum(f.size for f in frames)
    assert len(data) <= raw + PER_FRAME * len(frames) + _overhead(data)
    if shape[0] > 1:
        assert {r.mode for r in _records(data)} == {fc.MODE_STORED}
    assert_frames_equal(decode(data).frames, frames)


def test_stored_mode_not_chosen_where_coding_wins():
    frames = moving_video(4)
    assert fc.MODE_STORED not in {r.mode for r in _records(encode_frames(frames))}


def test_stored_frame_of_wrong_size_is_refused():
    frames = [np.random.default_rng(1).integers(0, 256, (8, 8, 3), dtype=np.uint8)]
    data = bytearray(encode_frames(frames))
    pos, kind, body = [c for c in split_chunks(bytes(data)) if c[1] == C.CHUNK_FRAME][0]
    assert C.decode_frame(body).mode == fc.MODE_STORED
    bad = replace_chunk(bytes(data), pos, body[:-1])
    with pytest.raises(FormatError, match="stored frame holds 191 bytes, expected 192"):
        decode(bytes(bad))


# ------------------------------------------------------------------------------------ key frames
V3_FRAMES = DATA / "v3_stream_frames.npy"


@pytest.fixture(scope="module")
def keyed() -> tuple[list[np.ndarray], bytes]:
    """Seven 32x32 frames (palette intra/inter, RGB inter, palette update), key frames 0, 3, 6."""
    frames = list(np.load(V3_FRAMES))
    data = encode_frames(frames, keyint=3, durations=[4, 5, 6, 7, 8, 9, 10])
    return frames, data


def test_key_frames_every_keyint_and_round_trip(keyed):
    frames, data = keyed
    recs = _records(data)
    assert [r.index for r in recs if r.key] == [0, 3, 6]
    assert all(r.mode in (fc.MODE_INTRA, fc.MODE_PALETTE_INTRA, fc.MODE_STORED) for r in recs if r.key)
    assert_frames_equal(decode(data).frames, frames)


def test_key_frame_is_coded_as_a_first_frame(keyed):
    """A key frame's chunks (its PLTE against the empty palette, its FRAM without history) are the
    same bytes as the first frame of a stream that starts there."""
    frames, data = keyed
    alone = encode_frames(frames[3:], keyint=3, durations=[7, 8, 9, 10])

    def chunks_of(stream: bytes, index: int) -> list[bytes]:
        pending: list[bytes] = []
        for _, kind, body in split_chunks(stream):
            if kind == C.CHUNK_PALETTE:
                pending = [body]
            elif kind == C.CHUNK_FRAME:
                if C.decode_frame(body).index == index:
                    return pending + [body[4:]]  # without the frame index
                pending = []
        raise AssertionError(index)

    assert chunks_of(data, 3) == chunks_of(alone, 0)


def test_keyint_zero_is_frame_zero_only_and_default():
    frames = moving_video(5, 12, 16)
    assert [r.key for r in _records(encode_frames(frames, keyint=0))] == [True] + [False] * 4
    assert [r.key for r in _records(encode_frames(frames))] == [True] + [False] * 4
    assert DEFAULT_KEYINT == 250


def test_default_keyint_also_counts_seconds(monkeypatch):
    """Without --keyint a key frame is also due after 10 s of video (time base 1/100: 1000 ticks);
    it starts once the bytes since the last one pay for it (KEY_OVERHEAD, lowered here to 1)."""
    monkeypatch.setattr(pipeline, "KEY_OVERHEAD", 1)
    frames = moving_video(5, 12, 16)
    data = encode_frames(frames, durations=[400] * 5, time_base=Fraction(1, 100))
    assert [r.index for r in _records(data) if r.key] == [0, 3]


def test_default_keyint_waits_until_the_key_frame_is_paid_for(monkeypatch):
    """A due key frame waits while the frames since the last one cost less than KEY_OVERHEAD times
    that key frame (a near-still clip would otherwise pay more for key frames than for its frames),
    but never past MAX_KEYINT frames."""
    frames = moving_video(9, 12, 16)
    durations, tb = [400] * 9, Fraction(1, 100)
    assert [r.index for r in _records(encode_frames(frames, durations=durations, time_base=tb)) if r.key] == [
        0
    ]
    monkeypatch.setattr(pipeline, "MAX_KEYINT", 4)
    data = encode_frames(frames, durations=durations, time_base=tb)
    assert [r.index for r in _records(data) if r.key] == [0, 4, 8]
    assert_frames_equal(decode(data).frames, frames)


def test_bad_keyint_is_refused():
    from fpcodec.bitstream.errors import InputError

    with pytest.raises(InputError, match="key-frame interval -1"):
        encode_frames(moving_video(2), keyint=-1)


def test_first_frame_must_be_a_key_frame():
    frames = moving_video(2, 8, 8)
    data = bytearray(encode_frames(frames))
    pos, kind, body = [c for c in split_chunks(bytes(data)) if c[1] == C.CHUNK_FRAME][0]
    rec = C.decode_frame(body)
    assert rec.key
    bad = replace_chunk(bytes(data), pos, C.encode_frame(replace(rec, flags=0)))
    with pytest.raises(FormatError, match="frame 0 is not a key frame"):
        decode(bad)


# ----------------------------------------------------------------------------------------- index
def test_index_lists_key_frames_with_times_and_offsets(keyed):
    frames, data = keyed
    chunks = split_chunks(data)
    assert [k for _, k, _ in chunks[-2:]] == [C.CHUNK_INDEX, C.CHUNK_END]
    entries = C.decode_index(chunks[-2][2])
    assert [(e.frame, e.pts) for e in entries] == [(0, 0), (3, 15), (6, 39)]
    starts = {pos: kind for pos, kind, _ in chunks}
    for e in entries:  # each points at the key frame's first chunk: a PLTE before it, or the FRAM
        assert starts[e.offset] in (C.CHUNK_PALETTE, C.CHUNK_FRAME)
    assert C.decode_end(chunks[-1][2]) == (7, chunks[-2][0])


def _replace_chunk(data: bytes, kind: bytes, body: bytes) -> bytes:
    """``data`` with its (only) ``kind`` chunk's body replaced, CRC fixed, FEND's offset kept right."""
    out, parts, index_at = bytearray(data[: C.PREAMBLE_SIZE]), split_chunks(data), 0
    for _, k, b in parts:
        if k == kind:
            b = body
        if k == C.CHUNK_END:
            b = C.encode_end(C.decode_end(b)[0], index_at)
        if k == C.CHUNK_INDEX:
            index_at = len(out)
        out += chunk_bytes(k, b)
    return bytes(out)


def test_decoder_verifies_the_index(keyed):
    _, data = keyed
    entries = C.decode_index(split_chunks(data)[-2][2])
    wrong = [entries[0], C.IndexEntry(3, 16, entries[1].offset), entries[2]]
    with pytest.raises(FormatError, match="does not match the stream.s key frames"):
        list(Decoder(io.BytesIO(_replace_chunk(data, C.CHUNK_INDEX, C.encode_index(wrong)))).records())
    with pytest.raises(FormatError, match="does not match the stream.s key frames"):
        list(Decoder(io.BytesIO(_replace_chunk(data, C.CHUNK_INDEX, C.encode_index(entries[:2])))).records())
    end = C.encode_end(7, split_chunks(data)[-2][0] + 1)
    bad = data[: -C.END_CHUNK_SIZE] + chunk_bytes(C.CHUNK_END, end)
    with pytest.raises(FormatError, match="end chunk puts the index at byte"):
        list(Decoder(io.BytesIO(bad)).records())


def test_version_5_stream_has_no_index_and_seeks_from_the_start():
    data = (DATA / "v5_stream.fpc").read_bytes()
    expected = list(np.load(DATA / "v5_stream_frames.npy"))
    dec = Decoder(io.BytesIO(data))
    assert dec.seek(5) == 0
    got = list(Decoder(io.BytesIO(data)).frames(4, 6))
    assert [f.index for f in got] == [4, 5]
    assert_frames_equal([f.pixels for f in got], expected[4:6])


# --------------------------------------------------------------------------------------- seeking
@pytest.mark.parametrize("start,stop", [(0, 7), (1, 3), (3, 4), (4, 7), (5, None), (6, 7), (2, 6)])
def test_seeking_gives_the_frames_a_full_decode_gives(keyed, start, stop):
    frames, data = keyed
    dec = Decoder(io.BytesIO(data))
    got = list(dec.frames(start, stop))
    assert [f.index for f in got] == list(range(7))[start:stop]
    assert_frames_equal([f.pixels for f in got], frames[start:stop])
    assert [f.duration for f in got] == [4, 5, 6, 7, 8, 9, 10][start:stop]
    assert dec._start.frame == (start // 3) * 3  # decoding began at the key frame before ``start``


@pytest.fixture(scope="module")
def keyed_file(tmp_path_factory, keyed) -> Path:
    path = tmp_path_factory.mktemp("keyed") / "k.fpc"
    path.write_bytes(keyed[1])
    return path


@pytest.mark.parametrize(
    "args,want",
    [
        (["--frames", "2:5"], [2, 3, 4]),
        (["--frames=-2:"], [5, 6]),
        (["--frames", "::3"], [0, 3, 6]),
        (["--frames", "4:6"], [4, 5]),
        (["--start", "0.15"], [3, 4, 5, 6]),  # frame 3 shows from 0.15 s
        (["--start", "0.16"], [3, 4, 5, 6]),
        (["--start", "0"], [0, 1, 2, 3, 4, 5, 6]),
    ],
)
def test_cli_frames_and_start(keyed, keyed_file, tmp_path, args, want):
    frames, _ = keyed
    out = tmp_path / "o.apng"
    assert main(["decode", str(keyed_file), "-o", str(out), "-q", *args]) == 0
    got, durations, info = read_video(out)
    assert_frames_equal(got, [frames[i] for i in want])
    assert [d * info.time_base for d in durations] == [Fraction([4, 5, 6, 7, 8, 9, 10][i], 100) for i in want]


@pytest.mark.parametrize(
    "args,message",
    [
        (["--frames", "7:"], "selects no frame"),
        (["--frames", "x"], "expected A:B"),
        (["--start", "1"], "past the end"),
        (["--start", "abc"], "expected seconds"),
        (["--frames", "1:2", "--start", "0"], "not both"),
        (["--salvage", "--frames", "1:2"], "does not go with"),
    ],
)
def test_cli_selection_errors(keyed_file, tmp_path, capsys, args, message):
    assert main(["decode", str(keyed_file), "-o", str(tmp_path / "o.apng"), "-q", *args]) in (1, 2)
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


# --------------------------------------------------------------------------------------- salvage
def _damage_frame(data: bytes, index: int, where: str) -> bytes:
    """``data`` with frame ``index``'s chunk damaged: a payload byte, its length field, or a byte of
    its pixels (CRC fixed, so only the frame's pixel checksum can tell)."""
    for pos, kind, body in split_chunks(data):
        if kind == C.CHUNK_FRAME and C.decode_frame(body).index == index:
            bad = bytearray(data)
            if where == "payload":
                bad[body_start(data, pos) + len(body) - 2] ^= 0x55
            elif where == "length":
                bad[pos + 1] ^= 0x10  # version 11: the varint length's first byte
            else:
                b2 = bytearray(body)
                b2[C.frame_fields_size(C.decode_frame(body)) + 1] ^= 0x01
                return replace_chunk(data, pos, bytes(b2))
            return bytes(bad)
    raise AssertionError(index)


@pytest.mark.parametrize("where", ["payload", "length", "pixels"])
@pytest.mark.parametrize("damaged", [1, 4])
def test_salvage_recovers_every_frame_outside_the_damaged_interval(keyed, tmp_path, where, damaged):
    frames, data = keyed
    bad = _damage_frame(data, damaged, where)
    with pytest.raises((FormatError, ChecksumError)):
        decode(bad)
    path = tmp_path / "bad.fpc"
    path.write_bytes(bad)
    report = SalvageReport()
    with open(path, "rb") as fh, open(path, "rb") as raw:
        got = list(salvage(Decoder(fh), raw, report))
    key = damaged // 3 * 3
    lost = list(range(damaged, key + 3))
    assert report.lost == lost and report.total == 7
    want = [i for i in range(7) if i not in lost]
    assert [f.index for f in got] == want
    assert_frames_equal([f.pixels for f in got], [frames[i] for i in want])


def test_salvage_resyncs_after_garbage_full_of_chunk_letters(keyed, tmp_path):
    """Frames 1-2 overwritten with bytes that are all chunk-type letters and long lengths (the
    worst case of version 11's one-letter types): every candidate is refused, by its length, the
    byte after it or its CRC, and decoding resumes at key frame 3."""
    frames, data = keyed
    chunks = split_chunks(data)
    at = {C.decode_frame(body).index: i for i, (_, kind, body) in enumerate(chunks) if kind == C.CHUNK_FRAME}
    start = chunks[at[1]][0]
    key3 = chunks[at[3] - 1 if chunks[at[3] - 1][1] == C.CHUNK_PALETTE else at[3]][0]  # its first chunk
    rng = np.random.default_rng(5)
    garbage = rng.choice(np.frombuffer(b"PFRIE\x80\xff\x05", np.uint8), key3 - start).tobytes()
    path = tmp_path / "g.fpc"
    path.write_bytes(data[:start] + garbage + data[key3:])
    report = SalvageReport()
    with open(path, "rb") as fh, open(path, "rb") as raw:
        got = list(salvage(Decoder(fh), raw, report))
    assert report.lost == [1, 2] and [f.index for f in got] == [0, 3, 4, 5, 6]
    assert_frames_equal([f.pixels for f in got], [frames[i] for i in (0, 3, 4, 5, 6)])


def test_cli_salvage_writes_what_it_recovered_and_exits_3(keyed, tmp_path, capsys):
    frames, data = keyed
    path = tmp_path / "bad.fpc"
    path.write_bytes(_damage_frame(data, 4, "payload"))
    out = tmp_path / "o.apng"
    assert main(["decode", str(path), "-o", str(out), "-q"]) == 1
    assert not out.exists()
    capsys.readouterr()
    assert main(["decode", str(path), "-o", str(out), "-q", "--salvage"]) == 3
    err = capsys.readouterr().err
    assert "2 frames of 7 lost" in err and ": 4-5;" in err and "5 frames recovered" in err
    got, durations, info = read_video(out)
    assert_frames_equal(got, [frames[i] for i in (0, 1, 2, 3, 6)])
    # the lost frames' time is dropped
    assert [d * info.time_base for d in durations] == [Fraction(d, 100) for d in (4, 5, 6, 7, 10)]


def test_cli_salvage_of_an_intact_stream_is_a_normal_decode(keyed, keyed_file, tmp_path):
    out = tmp_path / "o.apng"
    assert main(["decode", str(keyed_file), "-o", str(out), "-q", "--salvage"]) == 0
    assert_frames_equal(read_video(out)[0], keyed[0])


def test_salvage_without_an_intact_end_reports_up_to_the_header_count(keyed, tmp_path):
    frames, data = keyed
    path = tmp_path / "cut.fpc"
    cut = _damage_frame(data, 5, "payload")
    index_at = [pos for pos, kind, _ in split_chunks(data) if kind == C.CHUNK_INDEX][0]
    path.write_bytes(cut[: index_at + 3])  # in the index: no intact end chunk
    report = SalvageReport()
    with open(path, "rb") as fh, open(path, "rb") as raw:
        got = list(salvage(Decoder(fh), raw, report))
    assert [f.index for f in got] == [0, 1, 2, 3, 4, 6]
    assert report.lost == [5] and report.total == 7


# ------------------------------------------------------------------------------------------ info
def test_info_shows_key_frames_and_stored_frames(keyed_file, tmp_path, capsys):
    assert main(["info", str(keyed_file)]) == 0
    out = capsys.readouterr().out
    assert "key frames:  3 (0, 3, 6), indexed" in out and f"format version {C.VERSION}" in out
    noise = np.random.default_rng(3).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    path = tmp_path / "n.fpc"
    path.write_bytes(encode_frames([noise, noise[::-1]]))
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "stored:      2 frames kept raw" in out
    assert [line.split()[1] for line in out.splitlines()[-2:]] == ["stored", "stored"]
    assert out.splitlines()[-2].endswith("K") and out.splitlines()[-3].endswith("key  tools")


def test_cli_encode_keyint(tmp_path, capsys):
    from conftest import CARPHONE_WIDE

    out = tmp_path / "w.fpc"
    assert (
        main(["encode", str(CARPHONE_WIDE), "-o", str(out), "-m", "last-frame", "-q", "--keyint", "2"]) == 0
    )
    assert [r.index for r in _records(out.read_bytes()) if r.key] == [0, 2, 4]
    assert main(["encode", str(CARPHONE_WIDE), "-o", str(out), "-y", "-q", "--keyint", "-3"]) == 1
    assert "key-frame interval -3" in capsys.readouterr().err
