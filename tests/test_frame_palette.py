"""The encoder's palette for a palette-mode frame: the palette in force plus the frame's new colours."""

from __future__ import annotations

import io

import numpy as np
import pytest

from fpcodec.bitstream import container as C
from fpcodec.codec import Decoder, decode, encode
from fpcodec.codec import palette_coding as pc
from fpcodec.codec.modes import palette

from conftest import DATA, assert_frames_equal, split_chunks


def _alternating(frames: int = 8, h: int = 40, w: int = 48) -> list[np.ndarray]:
    """A still background, and a square that moves and takes one of two colours in turn."""
    rng = np.random.default_rng(2)
    pal = rng.integers(0, 256, (6, 3), dtype=np.uint8)
    background = pal[rng.integers(0, 4, (h, w))]
    out = []
    for t in range(frames):
        f = background.copy()
        f[4 + 3 * t : 10 + 3 * t, 8:16] = pal[4 + t % 2]
        out.append(f)
    return out


def test_a_frame_is_coded_over_the_union_with_the_palette_in_force() -> None:
    frames = _alternating()
    sent, _ = pc.extract_palette(frames[0])
    own, own_idx = pc.extract_palette(frames[1])
    union, idx = palette.frame_palette(frames[1], (own, own_idx), sent)
    assert len(union) == len(own) + 1  # frame 0's square colour is kept
    np.testing.assert_array_equal(union[idx].reshape(frames[1].shape), frames[1])
    keys = pc.pack_colours(union)
    assert (np.diff(keys) > 0).all()  # canonical order
    # the palette in force is enough: no colour to send
    again, _ = palette.frame_palette(frames[2], pc.extract_palette(frames[2]), union)
    np.testing.assert_array_equal(again, union)
    # a key frame (nothing in force) and a union too large keep the frame's own colours
    assert palette.frame_palette(frames[1], (own, own_idx), None)[0] is own
    many = np.unique(np.random.default_rng(0).integers(0, 256, (200, 3), dtype=np.uint8), axis=0)
    assert palette.frame_palette(frames[1], (own, own_idx), many)[0] is own


def test_alternating_palettes_send_each_colour_once(monkeypatch) -> None:
    frames = _alternating()
    data = encode(frames, model="last-frame")
    assert_frames_equal(decode(data).frames, frames)
    palettes = sum(kind == C.CHUNK_PALETTE for _, kind, _ in split_chunks(data))
    assert palettes == 2, palettes  # frame 0's, then frame 1's new colour; none after
    monkeypatch.setattr(palette, "frame_palette", lambda frame, extracted, sent: extracted)
    exact = encode(frames, model="last-frame")
    assert sum(kind == C.CHUNK_PALETTE for _, kind, _ in split_chunks(exact)) == len(frames)
    assert len(data) < len(exact), (len(data), len(exact))


@pytest.mark.parametrize("model", ["last-frame", "convlstm-hybrid-int"])
def test_union_palettes_round_trip_with_every_mode(model: str) -> None:
    """The v3 fixture's frames (palette intra and inter, RGB, palette update) coded now."""
    frames = list(np.load(DATA / "v3_stream_frames.npy"))
    data = encode(frames, model=model)
    assert_frames_equal(decode(data).frames, frames)
    assert len(list(Decoder(io.BytesIO(data), load_model=False).records())) == len(frames)
