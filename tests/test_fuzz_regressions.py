"""Replays the saved fuzz inputs (tests/data/fuzz/<target>/*) through the fuzz targets' checks, without
atheris: each must end in success or the project's FpcodecError family, with no Python bug hidden behind
a catch-all (bench/fuzz/targets.py). The files are crashers found by fuzzing, fixed since, and small
inputs from the fuzz corpora that reach the parsers' error paths."""

from __future__ import annotations

import pytest

from conftest import DATA
from fpcodec.bench.fuzz import targets

FUZZ = DATA / "fuzz"
CASES = sorted((p.parent.name, p) for p in FUZZ.glob("*/*") if p.is_file())


def test_every_target_has_saved_inputs():
    assert {target for target, _ in CASES} == set(targets.TARGETS)


@pytest.mark.parametrize("target,path", CASES, ids=[f"{t}/{p.name}" for t, p in CASES])
def test_fuzz_input_replays_cleanly(target, path):
    targets.replay(target, path.read_bytes())


def test_replay_reports_a_bug_behind_a_catch_all(monkeypatch):
    """The check itself can fail: an IndexError wrapped in a FormatError (as frame_coding's catch-all
    around constriction does) is a finding; a plain FormatError is not."""
    from fpcodec.bitstream.errors import FormatError

    def check(data: bytes) -> None:
        try:
            [][len(data)]
        except IndexError as exc:
            raise FormatError("frame payload could not be decoded") from exc

    monkeypatch.setitem(targets.TARGETS, "stream", (check, (FormatError,), None))
    with pytest.raises(IndexError):
        targets.replay("stream", b"")

    def refuse(data: bytes) -> None:
        raise FormatError("not an fpcodec stream")

    monkeypatch.setitem(targets.TARGETS, "stream", (refuse, (FormatError,), None))
    targets.replay("stream", b"")


@pytest.mark.parametrize("name", ["v10_screen.fpc", "current"])
def test_fix_crcs_repairs_every_chunk_crc_in_both_framings(name):
    """The stream target recomputes chunk CRCs (so a mutation reaches the parsers behind them): for
    version 10's framing and for version 11's one-letter types and varint lengths."""
    import io

    from fpcodec.bitstream import container
    from fpcodec.codec import encode

    from conftest import body_start, moving_video, split_chunks

    data = (
        (DATA / name).read_bytes() if name != "current" else encode(moving_video(3, 8, 8), model="last-frame")
    )
    assert targets.fix_crcs(data) == data
    bad = bytearray(data)
    for pos, _, body in split_chunks(data):
        if body:
            bad[body_start(data, pos)] ^= 0x5A  # every chunk's first body byte: every CRC now wrong
    fixed = targets.fix_crcs(bytes(bad))
    inp = io.BytesIO(fixed)
    profile = container.read_preamble(inp)
    assert [kind for kind, _ in container.read_chunks(inp, profile=profile)] == [
        k for _, k, _ in split_chunks(data)
    ]
