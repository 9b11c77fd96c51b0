"""Copied blocks (format version 9): palette frames copy unchanged blocks from the previous frame."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from fpcodec.bitstream import entropy
from fpcodec.bitstream.errors import FormatError
from fpcodec.bitstream.profile import CURRENT, FormatProfile
from fpcodec.codec import Decoder, copied_blocks, decode, encode
from fpcodec.codec import frame_coding as fc
from fpcodec.codec.io import VideoReader
from fpcodec.codec.modes import palette, palette_update
from fpcodec.codec.modes.base import FrameToCode
from fpcodec.models.last_frame import last_frame_params

from conftest import assert_frames_equal, assert_old_stream_decodes

DATA = Path(__file__).parent / "data"


def _screen_clip(
    frames: int = 6, h: int = 70, w: int = 90, colours: int = 12, seed: int = 0
) -> list[np.ndarray]:
    """A still, textured background (random palette noise) with a small sprite that moves, and a
    'digit' that changes in one corner: most blocks of each frame equal the frame before."""
    rng = np.random.default_rng(seed)
    pal = rng.integers(0, 256, (colours, 3), dtype=np.uint8)
    background = pal[rng.integers(0, colours, (h, w))]
    out = []
    for t in range(frames):
        f = background.copy()
        y, x = 10 + 3 * t, 5 + 7 * t
        f[y : y + 6, x : x + 5] = pal[t % colours]
        f[h - 8 : h - 2, w - 6 : w - 1] = pal[rng.integers(0, colours, (6, 5))]
        out.append(f)
    return out


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (7, 1), (5, 13), (24, 31)])
@pytest.mark.parametrize("shift", [None, (-3, 0), (0, 255), (-255, -255)])
def test_maps_round_trip_and_their_estimate_is_their_code_length(shape, shift) -> None:
    rng = np.random.default_rng(shape[0] * 100 + shape[1])
    k = 2 if shift is None else 3
    for density in (0.0, 0.05, 0.5, 1.0):
        blocks = np.where(rng.random(shape) < density, rng.integers(1, k, shape), 0).astype(np.int8)
        enc = entropy.FrameEncoder()
        copied_blocks.encode_map(blocks, shift, enc)
        payload = enc.finish()
        back, got_shift = copied_blocks.decode_map(entropy.FrameDecoder(payload), *shape, shift is not None)
        np.testing.assert_array_equal(back, blocks)
        assert got_shift == shift
        assert 8 * len(payload) <= copied_blocks.map_bits(blocks, shift is not None) + 64


def test_map_contexts_learn_row_by_row() -> None:
    """An all-copied map costs far less than a bit per block: each context's counts learn."""
    blocks = np.zeros((40, 60), np.int8)
    assert copied_blocks.map_bits(blocks) < 0.1 * blocks.size
    assert copied_blocks.map_bits(blocks, shifted=True) < 0.15 * blocks.size + 18


def test_block_geometry_is_cut_by_the_frame_edge() -> None:
    same = np.ones((10, 13), bool)
    same[9, 12] = False
    blocks = np.where(copied_blocks.block_all(same, 4), copied_blocks.COPIED, copied_blocks.CODED)
    assert blocks.shape == copied_blocks.grid(10, 13, 4) == (3, 4)
    assert np.flatnonzero(blocks.ravel()).tolist() == [11]
    coded = copied_blocks.pixel_symbols(blocks, 4, 10, 13).reshape(10, 13) == copied_blocks.CODED
    assert coded.sum() == 2 * 1 and coded[8:, 12].all()


def test_shifted_sources_and_sources_outside_the_frame() -> None:
    symbols = np.full(4 * 5, copied_blocks.COPIED, np.int8)
    symbols[7] = copied_blocks.SHIFTED  # (1, 2)
    symbols[8] = copied_blocks.CODED
    dest, src = copied_blocks.sources(symbols, (2, -1), 4, 5)
    assert 8 not in dest.tolist()
    assert dict(zip(dest.tolist(), src.tolist(), strict=True))[7] == 3 * 5 + 1
    assert all(d == s for d, s in zip(dest.tolist(), src.tolist(), strict=True) if d != 7)
    with pytest.raises(ValueError, match="outside the frame"):
        copied_blocks.sources(symbols, (3, 0), 4, 5)


def _scrolled_clip(frames: int = 5, h: int = 64, w: int = 48, step: int = 3) -> list[np.ndarray]:
    """Text-like rows that scroll up by ``step`` pixels a frame under a still status bar."""
    rng = np.random.default_rng(11)
    pal = rng.integers(0, 256, (6, 3), dtype=np.uint8)
    page = pal[rng.integers(0, 6, (h + step * frames, w))]
    bar = pal[rng.integers(0, 6, (8, w))]
    out = []
    for t in range(frames):
        f = page[step * t : step * t + h].copy()
        f[:8] = bar
        out.append(f)
    return out


def test_scrolled_frames_copy_shifted_blocks() -> None:
    frames = _scrolled_clip()
    choice = copied_blocks.choose(frames[1], frames[0])
    assert choice is not None and choice.shift == (3, 0)
    assert (choice.blocks == copied_blocks.SHIFTED).any() and (choice.blocks == copied_blocks.COPIED).any()
    data = encode(frames, model="last-frame")
    assert_frames_equal(decode(data).frames, frames)
    records = list(Decoder(io.BytesIO(data), load_model=False).records())
    assert all(r.mix & copied_blocks.SHIFTED_BIT for r in records[1:]), [hex(r.mix) for r in records]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(copied_blocks, "find_shift", lambda cur, prev, same: None)
        without = encode(frames, model="last-frame")
    assert len(data) < 0.6 * len(without), (len(data), len(without))


def test_choose_copies_unchanged_blocks_and_not_a_changed_frame() -> None:
    frames = _screen_clip()
    choice = copied_blocks.choose(frames[1], frames[0])
    assert choice is not None and choice.side in copied_blocks.COPY_SIDES[1:]
    changed = (frames[1] != frames[0]).any(-1).ravel()
    assert choice.coded[changed].all()  # every changed pixel is coded
    assert choice.coded.mean() < 0.5
    still = copied_blocks.choose(frames[0], frames[0])
    assert still is not None and (still.blocks == copied_blocks.COPIED).all()
    noise = np.random.default_rng(1).integers(0, 256, frames[0].shape, dtype=np.uint8)
    assert copied_blocks.choose(noise, noise ^ 1) is None


def _decode_candidate(c: palette.PaletteCandidate, pred, previous: np.ndarray) -> tuple[np.ndarray, bytes]:
    """(decoded frame, payload) of a candidate (coded once: coding consumes its counts)."""
    payload = fc._ENCODERS[c.mode](c)
    h, w, ch = previous.shape
    coded = fc.CodedFrame(c.mode, c.scale_shift, payload, c.mix, c.palette)
    return fc.decode_frame(coded, pred, h, w, ch, previous), payload


def test_palette_intra_and_inter_with_copied_blocks_round_trip() -> None:
    frames = _screen_clip()
    previous, frame = frames[2], frames[3]
    pred = last_frame_params(frames[:3])
    copied = copied_blocks.choose(frame, previous)
    assert copied is not None
    extracted = palette.pc.extract_palette(frame)
    cands = palette.estimate(FrameToCode.of(frame), extracted, pred, previous, None, 0, 0, copied=copied)
    assert sorted(c.mode for c in cands) == [fc.MODE_PALETTE_INTRA, fc.MODE_PALETTE_INTER]
    for c in cands:
        assert copied_blocks.side_of(c.mix) == copied.side
        back, payload = _decode_candidate(c, pred, previous)
        np.testing.assert_array_equal(back, frame)
        coded_bits = 8 * len(payload) + palette.body_bits(c.palette_body)
        assert abs(coded_bits - c.bits) <= 0.02 * c.bits + 64, (coded_bits, c.bits)


def test_palette_update_with_copied_blocks_round_trips() -> None:
    """Mode 4: a frame of more than 256 colours whose changed pixels have few."""
    rng = np.random.default_rng(5)
    previous = rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)
    frame = previous.copy()
    frame[30:36, 40:47] = (255, 0, 0)
    frame[2:4, 2:9] = (0, 0, 255)
    pred = last_frame_params([previous])
    copied = copied_blocks.choose(frame, previous)
    assert copied is not None and copied.coded.mean() < 0.3
    update = palette_update.update_palette(frame, previous)
    assert update is not None
    c = palette_update.estimate(FrameToCode.of(frame), update, pred, previous, None, 0, copied)
    assert copied_blocks.side_of(c.mix) == copied.side
    np.testing.assert_array_equal(_decode_candidate(c, pred, previous)[0], frame)


def test_stream_with_copied_blocks_round_trips_and_is_smaller() -> None:
    frames = _screen_clip(frames=8)
    for model in ("last-frame", "convlstm-hybrid-int"):
        data = encode(frames, model=model)
        assert_frames_equal(decode(data).frames, frames)
        records = list(Decoder(io.BytesIO(data), load_model=False).records())
        assert copied_blocks.side_of(records[0].mix) == 0  # the key frame copies nothing
        copying = sum(copied_blocks.side_of(r.mix) > 0 for r in records[1:])
        assert copying >= len(records[1:]) // 2, [hex(r.mix) for r in records]

    def later_payloads(data: bytes) -> int:  # frame 0 (the still background, intra) is the same
        return sum(len(r.payload) for r in list(Decoder(io.BytesIO(data), load_model=False).records())[1:])

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(copied_blocks, "choices", lambda frame, previous: [None])
        without = later_payloads(encode(frames, model="last-frame"))
    with_copies = later_payloads(encode(frames, model="last-frame"))
    assert with_copies < 0.85 * without, (with_copies, without)


def _coded_inter_frame():
    frames = _screen_clip()
    previous, frame = frames[1], frames[2]
    pred = last_frame_params(frames[:2])
    copied = copied_blocks.choose(frame, previous)
    extracted = palette.pc.extract_palette(frame)
    cands = palette.estimate(FrameToCode.of(frame), extracted, pred, previous, None, 0, 0, copied=copied)
    c = next(c for c in cands if c.mode == fc.MODE_PALETTE_INTER)
    coded = fc.CodedFrame(c.mode, c.scale_shift, fc._ENCODERS[c.mode](c), c.mix, c.palette)
    return coded, pred, previous, copied


def test_copied_blocks_are_refused_without_a_previous_frame_or_before_version_9() -> None:
    coded, pred, previous, _ = _coded_inter_frame()
    h, w, ch = previous.shape
    intra_like = fc.CodedFrame(
        fc.MODE_PALETTE_INTRA, coded.scale_shift, coded.payload, coded.mix, coded.palette
    )
    with pytest.raises(FormatError, match="no previous frame"):
        fc.decode_frame(intra_like, None, h, w, ch, None)
    with pytest.raises(FormatError, match="out of range for format version 8"):
        fc.decode_frame(coded, pred, h, w, ch, previous, FormatProfile.for_version(8))
    reserved = fc.CodedFrame(
        coded.mode, coded.scale_shift, coded.payload, coded.mix | (1 << 22), coded.palette
    )
    with pytest.raises(FormatError, match="out of range"):
        fc.decode_frame(reserved, pred, h, w, ch, previous)
    no_side = coded.mix & ~(3 << copied_blocks.MIX_SHIFT) | copied_blocks.SHIFTED_BIT
    shift_alone = fc.CodedFrame(coded.mode, coded.scale_shift, coded.payload, no_side, coded.palette)
    with pytest.raises(FormatError, match="no block side"):
        fc.decode_frame(shift_alone, pred, h, w, ch, previous)


def test_a_copied_colour_missing_from_the_palette_is_refused() -> None:
    coded, pred, previous, copied = _coded_inter_frame()
    h, w, ch = previous.shape
    other = previous.copy()
    y, x = np.unravel_index(np.flatnonzero(~copied.coded)[0], (h, w))
    other[y, x] = (1, 2, 3) if not (coded.palette == (1, 2, 3)).all(axis=1).any() else (3, 2, 1)
    with pytest.raises(FormatError, match="not in the frame's palette"):
        fc.decode_frame(coded, pred, h, w, ch, other)


def test_version_8_streams_still_decode() -> None:
    """tests/data/v8_stream.fpc: the version-8 encoder (commit cf82603), convlstm-hybrid-int, the
    frames of v3_stream_frames.npy; v8_text_like.fpc: last-frame on text_like.gif, whose first
    frame uses the repeat context."""
    assert_old_stream_decodes("v8_stream.fpc", 8)
    data = (DATA / "v8_text_like.fpc").read_bytes()
    assert data[8:10] == (8).to_bytes(2, "little")
    frames = [f for f, _ in VideoReader(DATA / "text_like.gif").frames()]
    assert_frames_equal(decode(data).frames, frames)
    assert CURRENT.version >= 9


def test_palette_update_with_shifted_blocks_round_trips() -> None:
    """Mode 4 with a shift: a still noisy half (more than 256 colours) beside a scrolling half of
    few colours; shifted pixels take their colour's index, in-place copies the keep symbol."""
    rng = np.random.default_rng(8)
    h, w = 64, 96
    noise = rng.integers(0, 256, (h, w // 2, 3), dtype=np.uint8)
    pal = rng.integers(0, 256, (5, 3), dtype=np.uint8)
    page = pal[rng.integers(0, 5, (h + 8, w // 2))]
    previous = np.concatenate([noise, page[:h]], axis=1)
    frame = np.concatenate([noise, page[4 : h + 4]], axis=1)
    pred = last_frame_params([previous])
    copied = copied_blocks.choose(frame, previous)
    assert copied is not None and copied.shift == (4, 0)
    assert (copied.blocks == copied_blocks.SHIFTED).any()
    update = palette_update.update_palette(frame, previous)
    assert update is not None
    c = palette_update.estimate(FrameToCode.of(frame), update, pred, previous, None, 0, copied)
    np.testing.assert_array_equal(_decode_candidate(c, pred, previous)[0], frame)


def test_copied_blocks_of_schedules_made_pass_by_pass(monkeypatch) -> None:
    """Above ``intra.CACHED_PIXELS`` a pass is made for one read, and palette inter moves its coded
    pixels to the front of the pass's own arrays (``intra_kernel.compact``) instead of copying
    them: the same stream as with cached schedules, decoded to the same frames either way."""
    from fpcodec.codec import intra, intra_kernel, row_schedule

    frames = _screen_clip(frames=5)
    cached = encode(frames, model="last-frame")
    compacted = []
    real = intra_kernel.compact
    monkeypatch.setattr(intra_kernel, "compact", lambda *a: compacted.append(1) or real(*a))
    monkeypatch.setattr(intra, "CACHED_PIXELS", 0)
    monkeypatch.setattr(row_schedule, "CACHED_PIXELS", 0)
    made = encode(frames, model="last-frame")
    assert made == cached and compacted  # the in-place parts were taken, by encoder and decoder
    n = len(compacted)
    assert_frames_equal(decode(made).frames, frames)
    assert len(compacted) > n
    monkeypatch.setattr(intra, "CACHED_PIXELS", 1 << 19)
    monkeypatch.setattr(row_schedule, "CACHED_PIXELS", 1 << 19)
    assert_frames_equal(decode(made).frames, frames)


@pytest.mark.parametrize("seed", range(6))
def test_the_scroll_search_reads_only_moved_pixels_and_finds_the_reference_s_shift(seed) -> None:
    """``find_shift`` (the sampled pixels that differ, every shift of an axis in one compiled
    call) gives ``find_shift_reference``'s shift: scrolls either way on both axes, frames smaller
    than the search range, near ties between shifts, nothing moved; ``shift_gains`` counts what
    the reference's passes count, shift by shift."""
    from fpcodec.codec import search_kernel

    rng = np.random.default_rng(seed)
    h, w = [(40, 56), (9, 300), (130, 17), (64, 64), (3, 5), (100, 90)][seed]
    page = rng.integers(0, 3 + seed, (h + 40, w + 40)).astype(np.uint32)  # few values: chance ties
    dy, dx = [(5, 0), (0, -7), (-3, 0), (0, 0), (1, 0), (0, 2)][seed]
    prev = page[20 : 20 + h, 20 : 20 + w]
    cur = page[20 + dy : 20 + dy + h, 20 + dx : 20 + dx + w].copy()
    cur[: h // 4] = prev[: h // 4]  # an unchanged band
    same = cur == prev
    want = copied_blocks.find_shift_reference(cur, prev, same)
    assert copied_blocks.find_shift(cur, prev, same) == want
    ys, xs = np.nonzero(~same)
    for axis, size in ((0, h), (1, w)):
        shifts = np.arange(-size - 1, size + 2)
        got = search_kernel.shift_gains(prev, ys, xs, cur[ys, xs], axis, shifts)
        for d, n in zip(shifts, got, strict=True):
            src = (ys + d, xs) if axis == 0 else (ys, xs + d)
            inside = (src[0] >= 0) & (src[0] < h) & (src[1] >= 0) & (src[1] < w)
            assert n == int((prev[src[0][inside], src[1][inside]] == cur[ys, xs][inside]).sum())
    if seed == 0:
        assert want == (5, 0)
    assert copied_blocks.find_shift(prev, prev, np.ones_like(same)) is None  # nothing moved
