"""REPT chunks (format version 9): runs of frames equal to the frame before them, 4 bytes a frame
(version 11: the duration as a varint, one byte below 128 ticks)."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pytest

from fpcodec.bitstream import container as C
from fpcodec.bitstream.errors import FormatError
from fpcodec.bitstream.profile import MODE_REPEAT
from fpcodec.codec import Decoder, decode, encode
from fpcodec.codec.pipeline import Encoder
from fpcodec.codec.planar_io import pixel_format_by_name
from fpcodec.codec.salvage import SalvageReport, salvage

from conftest import assert_frames_equal, body_start, chunk_bytes, moving_video, replace_chunk, split_chunks

#: Which frames of the base clip each frame shows: runs of 3, 1 and 2 repeats.
_ORDER = [0, 1, 1, 1, 1, 2, 3, 3, 4, 4, 4]


def _clip() -> tuple[list[np.ndarray], list[int]]:
    base = moving_video(5, 24, 20, seed=7)
    return [base[i] for i in _ORDER], [10 + k for k in range(len(_ORDER))]


def _with_chunk(data: bytes, kind: bytes, body: bytes) -> bytes:
    """``data`` with its first chunk of ``kind`` given ``body`` (framing and CRC recomputed)."""
    for pos, k, _ in split_chunks(data):
        if k == kind:
            return replace_chunk(data, pos, body)
    raise AssertionError(kind)


@pytest.mark.parametrize("model", ["last-frame", "convlstm-hybrid-int"])
def test_repeated_frames_round_trip_with_their_durations(model: str) -> None:
    frames, durations = _clip()
    data = encode(frames, durations=durations, model=model)
    video = decode(data)
    assert_frames_equal(video.frames, frames)
    records = list(Decoder(io.BytesIO(data), load_model=False).records())
    assert [r.duration for r in records] == durations
    repeats = [i for i, r in enumerate(records) if r.mode == MODE_REPEAT]
    assert repeats == [2, 3, 4, 7, 9, 10]
    assert sum(k == C.CHUNK_REPEAT for _, k, _ in split_chunks(data)) == 3


def test_a_repeated_frame_costs_one_byte(monkeypatch) -> None:
    """Against the same frames coded with a FRAM each (the same history, so the same other
    frames): the runs save every repeated frame's framing (version 11: 15 bytes) and its payload,
    for its duration (a varint: 1 byte) and 7 bytes a run (type, length, first index, CRC)."""
    frames, durations = _clip()
    with_runs = encode(frames, durations=durations, model="last-frame")
    monkeypatch.setattr(Encoder, "_repeat", lambda self, frame, duration: False)
    without = encode(frames, durations=durations, model="last-frame")
    assert_frames_equal(decode(without).frames, frames)
    repeated = [
        b
        for _, k, b in split_chunks(without)
        if k == C.CHUNK_FRAME and C.decode_frame(b).index in (2, 3, 4, 7, 9, 10)
    ]
    runs = [b for _, k, b in split_chunks(with_runs) if k == C.CHUNK_REPEAT]
    assert [len(b) for b in runs] == [1 + 3, 1 + 1, 1 + 2]  # first index, one byte per duration
    saved = sum(C.chunk_size(len(b)) for b in repeated) - (6 * 1 + 3 * 7)
    assert len(without) - len(with_runs) == saved, (len(without), len(with_runs), saved)
    framing = C.chunk_size(0) + C.frame_fields_size(C.FrameRecord(9, 19, 3, 0, 0xFFFFFFFF, b""))
    assert framing == 15 and saved >= 6 * framing - (6 * 1 + 3 * 7)  # the framing alone


def test_a_frame_due_to_be_a_key_frame_is_coded_not_repeated() -> None:
    frames, durations = _clip()
    data = encode(frames, durations=durations, model="last-frame", keyint=3)
    records = list(Decoder(io.BytesIO(data), load_model=False).records())
    assert [r.index for r in records if r.key] == [0, 3, 6, 9]
    assert all(r.mode != MODE_REPEAT for r in records if r.key)
    assert_frames_equal(decode(data).frames, frames)
    for start in range(len(frames)):  # seeking to any frame, inside a run or not
        got = list(Decoder(io.BytesIO(data)).frames(start=start))
        assert [f.index for f in got] == list(range(start, len(frames)))
        assert_frames_equal([f.pixels for f in got], frames[start:])


def test_planar_streams_repeat_frames_too() -> None:
    fmt = pixel_format_by_name("yuv420p")
    rng = np.random.default_rng(3)
    base = [[rng.integers(0, 256, s, dtype=np.uint8) for s in ((8, 12), (4, 6), (4, 6))] for _ in range(3)]
    clip = [base[0], base[1], base[1], base[2], base[2], base[2]]
    buf = io.BytesIO()
    enc = Encoder(buf, width=12, height=8, channels=3, model="last-frame", pixel_format=fmt)
    for planes in clip:
        enc.write_planes(planes, 4)
    enc.close()
    dec = Decoder(io.BytesIO(buf.getvalue()))
    got = list(dec)
    assert [f.mode for f in got].count(MODE_REPEAT) == 3
    for frame, planes in zip(got, clip, strict=True):
        for a, b in zip(frame.planes, planes, strict=True):
            np.testing.assert_array_equal(a, b)


def test_damaged_or_misplaced_repeat_chunks_are_refused() -> None:
    frames, durations = _clip()
    data = encode(frames, durations=durations, model="last-frame")
    first_run = next(body for _, k, body in split_chunks(data) if k == C.CHUNK_REPEAT)
    assert first_run == bytes([2, 12, 13, 14])  # frames 2-4: first index, durations (varints)
    bad_bodies = {
        "cut off": first_run + b"\x80",
        "no frame": first_run[:1],
        "wrong index": b"\x03" + first_run[1:],
        "too many": b"\x02" + b"\x01" * (C.MAX_REPEATS + 1),
    }
    for why, body in bad_bodies.items():
        with pytest.raises(FormatError):
            decode(_with_chunk(data, C.CHUNK_REPEAT, body))
            pytest.fail(why)
    # a FRAM may not claim the repeat mode
    fram = next(body for _, k, body in split_chunks(data) if k == C.CHUNK_FRAME)
    with pytest.raises(FormatError, match="repeat"):
        C.decode_frame(C.encode_frame(replace(C.decode_frame(fram), mode=MODE_REPEAT)))
    # a run where decoding starts (frame 0)
    head_end = split_chunks(data)[1][0]
    rept = chunk_bytes(C.CHUNK_REPEAT, C.encode_repeats(0, [5]))
    with pytest.raises(FormatError, match="key frame"):
        decode(data[:head_end] + rept + data[head_end:])
    # a version-8 reader does not know the chunk
    old = bytearray(data)
    old[8:10] = (8).to_bytes(2, "little")
    with pytest.raises(FormatError):
        decode(bytes(old))


def test_salvage_keeps_repeats_after_intact_frames(tmp_path) -> None:
    frames, durations = _clip()
    data = encode(frames, durations=durations, model="last-frame", keyint=5)
    path = tmp_path / "s.fpc"
    path.write_bytes(data)
    report = SalvageReport()
    with open(path, "rb") as fh, open(path, "rb") as raw:
        got = list(salvage(Decoder(fh), raw, report))
    assert report.lost == [] and [f.index for f in got] == list(range(len(frames)))
    assert_frames_equal([f.pixels for f in got], frames)
    # damage frame 1 (before the first run): the run (2-4) is lost with it, key frame 5 recovers
    pos, kind, body = next(
        (p, k, b) for p, k, b in split_chunks(data) if k == C.CHUNK_FRAME and C.decode_frame(b).index == 1
    )
    bad = bytearray(data)
    bad[body_start(data, pos) + len(body) - 2] ^= 0x55
    path.write_bytes(bytes(bad))
    report = SalvageReport()
    with open(path, "rb") as fh, open(path, "rb") as raw:
        got = list(salvage(Decoder(fh), raw, report))
    assert report.lost == [1, 2, 3, 4]
    assert_frames_equal([f.pixels for f in got], [frames[i] for i in (0, 5, 6, 7, 8, 9, 10)])
