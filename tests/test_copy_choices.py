"""Where the guess of what an unchanged coded pixel costs decides whether a palette frame copies
its unchanged blocks, the encoder estimates both choices (``copied_blocks.choices``) and keeps the
cheaper, instead of trusting the guess: in palette intra and inter, and in palette update."""

from __future__ import annotations

import io

import numpy as np
import pytest

from fpcodec.codec import Decoder, copied_blocks, decode, encode
from fpcodec.codec import frame_coding as fc
from fpcodec.models.last_frame import last_frame_params

from conftest import ODD, assert_frames_equal, read_video

DISPOSE_NONE = ODD / "dispose_none.gif"  # 100x100; frames 1-4 each add a 32x32 icon


@pytest.fixture(scope="module")
def clip():
    return read_video(DISPOSE_NONE)


def test_choices_are_chooses_choice_at_each_guess(clip) -> None:
    frames = clip[0]
    low, high = copied_blocks.UNCHANGED_GUESSES
    counts = []
    for previous, frame in zip(frames[:-1], frames[1:], strict=True):
        got = copied_blocks.choices(frame, previous)
        first, second = (
            copied_blocks.choose(frame, previous, low),
            copied_blocks.choose(frame, previous, high),
        )
        want = [first] if _same(first, second) else [first, second]
        assert len(got) == len(want) and all(_same(a, b) for a, b in zip(got, want, strict=True))
        counts.append(len(got))
    # the first two icons are copied around at either guess; the last two only at the higher one
    assert counts == [1, 1, 2, 2], counts


def test_a_frame_with_nothing_to_copy_has_one_choice(clip) -> None:
    frames = clip[0]
    assert copied_blocks.choices(frames[1], frames[1] ^ 1) == [None]


def test_the_encoder_keeps_the_cheaper_choice(clip, monkeypatch) -> None:
    """dispose_none.gif: 1,733 bytes when only the tuned guess decided (its last two frames then
    coded every pixel), 1,557 now; both round-trip, and its later frames copy their blocks (the pass
    coder's tools: palette LZ left out)."""
    frames, durations, info = clip

    def coded(data: bytes) -> list:
        return list(Decoder(io.BytesIO(data), load_model=False).records())

    data = encode(frames, durations=durations, model="last-frame", time_base=info.time_base, lz_frames=False)
    assert_frames_equal(decode(data).frames, frames)
    assert all(copied_blocks.side_of(r.mix) > 0 for r in coded(data)[1:])
    monkeypatch.setattr(copied_blocks, "UNCHANGED_GUESSES", copied_blocks.UNCHANGED_GUESSES[:1])
    tuned_only = encode(
        frames, durations=durations, model="last-frame", time_base=info.time_base, lz_frames=False
    )
    assert_frames_equal(decode(tuned_only).frames, frames)
    assert [copied_blocks.side_of(r.mix) > 0 for r in coded(tuned_only)[1:]] == [True, True, False, False]
    assert len(data) < 0.92 * len(tuned_only), (len(data), len(tuned_only))


def _same(a: copied_blocks.CopiedBlocks | None, b: copied_blocks.CopiedBlocks | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.code == b.code and a.shift == b.shift and (a.blocks == b.blocks).all()


def _update_frame():
    """A frame of more than 256 colours (palette update) after its previous frame (4x4 squares of
    300 colours): a 24x24 square of new noise, which only the higher guess copies around."""
    rng = np.random.default_rng(5)
    colours = rng.integers(0, 256, (300, 3)).astype(np.uint8)
    previous = np.repeat(np.repeat(colours[rng.integers(0, 300, (16, 16))], 4, 0), 4, 1)
    frame = previous.copy()
    frame[16:40, 20:44] = colours[rng.integers(0, 300, (24, 24))]
    return previous, frame


def test_palette_update_keeps_the_cheaper_choice_too(monkeypatch) -> None:
    previous, frame = _update_frame()
    got = copied_blocks.choices(frame, previous)
    assert got[0] is None and got[1].side == 16
    pred = last_frame_params([previous])

    def update_candidate():
        found = fc.candidates(frame, pred, previous)
        return next(c for c in found if c.mode == fc.MODE_PALETTE_UPDATE)

    both = update_candidate()
    monkeypatch.setattr(copied_blocks, "choices", lambda frame, previous: [None])
    first_only = update_candidate()
    assert both.copied is not None and first_only.copied is None
    assert both.bits < first_only.bits, (both.bits, first_only.bits)
    coded = fc.CodedFrame(both.mode, both.scale_shift, fc._ENCODERS[both.mode](both), both.mix, both.palette)
    assert_frames_equal([fc.decode_frame(coded, pred, 64, 64, 3, previous)], [frame])
