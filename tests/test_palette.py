"""Palette mode (format v2): exact round trips, the encoder's mode choice, and version-1 streams."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from fpcodec.bitstream import container
from fpcodec.bitstream.errors import FormatError
from fpcodec.bitstream.palette import decode_palette, encode_palette
from fpcodec.bitstream.profile import CURRENT, FormatProfile
from fpcodec.codec import Decoder, Encoder, decode, encode
from fpcodec.codec import frame_coding as fc
from fpcodec.codec import palette_coding as pc
from fpcodec.models.last_frame import LastFramePredictor

from conftest import assert_frames_equal

DATA = Path(__file__).parent / "data"
V20 = FormatProfile.for_version(20)
PALETTE_MODES = (fc.MODE_PALETTE_INTRA, fc.MODE_PALETTE_INTER)


def _palette_video(
    rng: np.random.Generator,
    colours: int,
    frames: int = 4,
    size=(24, 20),
    channels: int = 3,
    new_palette_each_frame: bool = True,
) -> list[np.ndarray]:
    out = []
    pal = np.unique(rng.integers(0, 256, (colours * 2, channels), dtype=np.uint8), axis=0)[:colours]
    assert len(pal) == colours
    idx = rng.integers(0, colours, size)
    idx.flat[:colours] = np.arange(colours)  # every colour used
    for _ in range(frames):
        if new_palette_each_frame:
            pal = pal.copy()
            pal[rng.integers(0, colours, max(1, colours // 4))] ^= np.uint8(1)
            pal = np.unique(pal, axis=0)
            if len(pal) < colours:  # keep the count exact
                extra = rng.integers(0, 256, (colours - len(pal), channels), dtype=np.uint8)
                pal = np.unique(np.concatenate([pal, extra]), axis=0)
        moved = idx.copy()
        change = rng.random(size) < 0.2
        moved[change] = rng.integers(0, len(pal), int(change.sum()))
        moved.flat[: len(pal)] = np.arange(len(pal))
        idx = moved
        out.append(pal[np.minimum(idx, len(pal) - 1)])
    return out


def _modes(stream: bytes) -> list[int]:
    return [r.mode for r in Decoder(io.BytesIO(stream), load_model=False).records()]


@pytest.mark.parametrize("colours", [1, 2, 255, 256])
def test_palette_frames_round_trip_and_use_palette_mode(colours: int) -> None:
    rng = np.random.default_rng(colours)
    frames = _palette_video(rng, colours, size=(20, 20))
    stream = encode(frames)
    assert_frames_equal(decode(stream).frames, frames)
    if colours > 1:
        assert any(m in PALETTE_MODES for m in _modes(stream))


def test_257_colours_cannot_use_palette_mode_and_still_round_trips() -> None:
    rng = np.random.default_rng(7)
    frames = _palette_video(rng, 257, frames=2, size=(20, 20))
    assert all(len(np.unique(f.reshape(-1, 3), axis=0)) == 257 for f in frames)
    stream = encode(frames)
    assert not any(m in PALETTE_MODES for m in _modes(stream))
    assert_frames_equal(decode(stream).frames, frames)


def test_palette_changing_every_frame_with_transparency_round_trips() -> None:
    rng = np.random.default_rng(3)
    frames = _palette_video(rng, 40, frames=6, channels=4)
    for f in frames:
        f[:3, :, 3] = 0  # a transparent band
    stream = encode(frames)
    chunks = _chunk_kinds(stream)
    assert chunks.count(container.CHUNK_PALETTE) >= 2
    assert_frames_equal(decode(stream).frames, frames)


def _chunk_kinds(stream: bytes) -> list[bytes]:
    inp = io.BytesIO(stream)
    container.read_preamble(inp)
    return [kind for kind, _ in container.read_chunks(inp)]


def test_real_gif_clip_palette_mode_beats_rgb_only() -> None:
    from fpcodec.codec.io import VideoReader

    frames = [f for f, _ in VideoReader(DATA / "carphone_000.gif").frames()][:6]
    with_palette = encode(frames)
    rgb_only = encode(frames, use_palette=False)
    assert not any(m in PALETTE_MODES for m in _modes(rgb_only))
    assert len(with_palette) < len(rgb_only)
    assert_frames_equal(decode(with_palette).frames, frames)


def test_encoder_never_picks_a_palette_mode_costlier_than_rgb() -> None:
    """Per frame, the chosen mode's bytes (palette chunk included) do not exceed RGB mode's."""
    from fpcodec.codec.io import VideoReader

    frames = [f for f, _ in VideoReader(DATA / "carphone_000.gif").frames()][:5]
    predictor = LastFramePredictor()
    sent = None
    for i, frame in enumerate(frames):
        history = frames[max(0, i - 5) : i]
        pred = predictor.predict(history) if history else None
        prev = frames[i - 1] if i else None
        chosen = fc.encode_frame(frame, pred, prev, sent)
        rgb = fc.encode_frame(frame, pred, prev, sent, use_palette=False)
        cost = len(chosen.payload)
        if chosen.palette is not None and not np.array_equal(chosen.palette, sent):
            cost += 12 + len(encode_palette(chosen.palette, sent))
            sent = chosen.palette
        # Choices are made on ideal code lengths; allow the coder's word granularity.
        assert cost <= len(rgb.payload) + 8, (i, fc.MODE_NAMES[chosen.mode], cost, len(rgb.payload))


def test_palette_serialisation_round_trip_and_errors() -> None:
    rng = np.random.default_rng(1)
    prev = np.unique(rng.integers(0, 256, (50, 3), dtype=np.uint8), axis=0)
    cur = np.unique(np.concatenate([prev[::2], rng.integers(0, 256, (30, 3), dtype=np.uint8)]), axis=0)
    body = encode_palette(cur, prev)
    assert np.array_equal(decode_palette(body, prev, 3), cur)
    with pytest.raises(FormatError):
        decode_palette(body, None, 3)  # refers to a previous palette the decoder does not have
    with pytest.raises(FormatError):
        decode_palette(body[:-3], prev, 3)


def _drifted_palette(rng: np.random.Generator, prev: np.ndarray) -> np.ndarray:
    """A palette like the next GIF frame's: a few previous colours kept, the others moved by a
    few units in each channel (as a quantizer's colours move from frame to frame)."""
    moved = np.clip(prev.astype(np.int32) + rng.integers(-3, 4, prev.shape), 0, 255).astype(np.uint8)
    return np.unique(np.concatenate([prev[::9], moved]), axis=0)


def _parts(prev: np.ndarray, cur: np.ndarray) -> tuple[bytes, np.ndarray, np.ndarray]:
    """(counts field, kept mask, new colours) of ``cur`` against ``prev``."""
    from fpcodec.bitstream import palette as bp

    kept, new = bp.kept_and_new(cur, prev)
    return bytes([len(cur) - 1]) + container.uvarint(len(prev)), kept, new


def test_new_colours_are_sent_in_the_order_of_their_references() -> None:
    """Sent in canonical (R, G, B) order, the new colours' references jump back and forth; in
    the order of their references the steps are never negative, and the body is smaller
    (version 20); version 21 codes those steps over 0..255 and the kept colours' bits under
    their share: smaller again."""
    from fpcodec.bitstream import palette as bp

    rng = np.random.default_rng(11)
    prev = np.unique(rng.integers(0, 256, (220, 3), dtype=np.uint8), axis=0)
    cur = _drifted_palette(rng, prev)
    counts, kept, new = _parts(prev, cur)
    ref = bp._nearest(new, prev)
    canonical = counts + bp._coded(np.diff(ref, prepend=0), new.astype(np.int32) - prev[ref], kept, V20)
    v20 = encode_palette(cur, prev, V20)
    v21 = encode_palette(cur, prev)
    assert np.array_equal(decode_palette(canonical, prev, 3, V20), cur)
    assert np.array_equal(decode_palette(v20, prev, 3, V20), cur)
    assert np.array_equal(decode_palette(v21, prev, 3), cur)
    assert len(v21) < len(v20) < 0.95 * len(canonical), (len(v21), len(v20), len(canonical))
    with pytest.raises(ValueError):  # version 21 has no negative steps
        bp._coded(np.diff(ref, prepend=0), new.astype(np.int32) - prev[ref], kept, CURRENT)


def test_new_colours_decode_in_any_order_from_any_reference() -> None:
    """What FORMAT.md promises a decoder: the new colours may come in any order (version 21: any
    whose references do not go back), each from any previous colour (the palette is their union
    with the kept ones, sorted)."""
    from fpcodec.bitstream import palette as bp

    rng = np.random.default_rng(12)
    prev = np.unique(rng.integers(0, 256, (60, 3), dtype=np.uint8), axis=0)
    cur = _drifted_palette(rng, prev)
    counts, kept, new = _parts(prev, cur)
    new = new[rng.permutation(len(new))]
    ref = rng.integers(0, len(prev), len(new))  # not the nearest
    body = counts + bp._coded(np.diff(ref, prepend=0), new.astype(np.int32) - prev[ref], kept, V20)
    assert np.array_equal(decode_palette(body, prev, 3, V20), cur)
    ref.sort()
    body = counts + bp._coded(np.diff(ref, prepend=0), new.astype(np.int32) - prev[ref], kept, CURRENT)
    assert np.array_equal(decode_palette(body, prev, 3), cur)
    for profile in (V20, CURRENT):
        first = bytes([len(new) - 1, 0]) + bp._coded(
            None, np.diff(new.astype(np.int32), axis=0, prepend=0), np.zeros(0, bool), profile
        )
        assert np.array_equal(decode_palette(first, None, 3, profile), np.unique(new, axis=0))


def test_version_21_palette_bodies_are_checked() -> None:
    """A version-21 body whose words are not whole, that claims another colour count, or that
    refers to another previous palette is refused with a FormatError (a body cut by whole words
    may decode to another palette: the chunk's CRC is what catches that)."""
    rng = np.random.default_rng(14)
    prev = np.unique(rng.integers(0, 256, (40, 3), dtype=np.uint8), axis=0)
    cur = _drifted_palette(rng, prev)
    body = encode_palette(cur, prev)
    assert np.array_equal(decode_palette(body, prev, 3), cur)
    for bad, previous in ((body[:-1], prev), (bytes([body[0] + 1]) + body[1:], prev), (body, prev[1:])):
        with pytest.raises(FormatError):
            decode_palette(bad, previous, 3)
    from fpcodec.bitstream.palette import pack_colours

    fresh = cur[~np.isin(pack_colours(cur), pack_colours(prev))][:5]
    for palette in (np.unique(np.concatenate([prev, fresh]), axis=0), fresh):  # all kept, none kept
        assert np.array_equal(decode_palette(encode_palette(palette, prev), prev, 3), palette)


def test_a_first_palette_is_sent_along_a_path_of_near_colours_where_that_is_smaller() -> None:
    """Without a previous palette each colour is coded from the one before: a palette of a few
    tight clusters costs less along a path through them than in R, G, B order (which visits the
    clusters in turn as it goes), and a palette sorted along a gradient costs the same."""
    from fpcodec.bitstream import palette as bp

    rng = np.random.default_rng(13)
    centres = rng.integers(20, 236, (6, 3))
    clusters = np.unique(
        (centres[:, None] + rng.integers(-12, 13, (6, 30, 3))).reshape(-1, 3).astype(np.uint8), axis=0
    )
    counts = bytes([len(clusters) - 1]) + container.uvarint(0)
    residual = np.diff(clusters.astype(np.int32), axis=0, prepend=0)
    in_order = counts + bp._coded(None, residual, np.zeros(0, bool), CURRENT)
    body = encode_palette(clusters, None)
    assert len(body) < 0.9 * len(in_order), (len(body), len(in_order))
    assert np.array_equal(decode_palette(body, None, 3), clusters)
    grey = np.repeat(np.arange(0, 256, 3, dtype=np.uint8)[:, None], 3, axis=1)
    assert np.array_equal(decode_palette(encode_palette(grey, None), None, 3), grey)


def test_palette_bodies_are_encode_palettes_whichever_was_asked_before() -> None:
    """The frame coder keeps the last few PLTE bodies (a frame's palette modes each ask for one):
    each is the body ``encode_palette`` writes for that palette and that previous palette."""
    from fpcodec.codec.modes.palette import palette_body

    rng = np.random.default_rng(3)
    rgb = np.unique(rng.integers(0, 256, (40, 3), dtype=np.uint8), axis=0)
    rgba = np.unique(rng.integers(0, 256, (40, 4), dtype=np.uint8), axis=0)
    older = rgb[::2].copy()
    for palette, sent in [(rgb, None), (rgb, older), (rgb, None), (older, rgb), (rgba, None), (rgb, older)]:
        assert palette_body(palette, sent) == encode_palette(palette, sent)
    assert palette_body(rgb, rgb.copy()) is None  # the palette in force: no chunk


def test_extract_palette_is_canonical() -> None:
    frame = np.array([[[5, 0, 0], [1, 2, 3]], [[5, 0, 0], [0, 0, 9]]], np.uint8)
    palette, idx = pc.extract_palette(frame)
    assert palette.tolist() == [[0, 0, 9], [1, 2, 3], [5, 0, 0]]
    assert np.array_equal(palette[idx].reshape(frame.shape), frame)


def test_version_1_stream_still_decodes() -> None:
    """tests/data/v1_stream.fpc was written by the version-1 encoder (commit 84f9a2b)."""
    data = (DATA / "v1_stream.fpc").read_bytes()
    assert data[8:10] == (1).to_bytes(2, "little")
    video = decode(data)
    expected = np.load(DATA / "v1_stream_frames.npy")
    assert len(video.frames) == len(expected)
    assert_frames_equal(video.frames, expected)
    assert video.durations == [5, 5, 10, 20]


def test_streaming_encoder_sends_palette_only_when_it_changes() -> None:
    rng = np.random.default_rng(5)
    pal = np.unique(rng.integers(0, 256, (30, 3), dtype=np.uint8), axis=0)
    frames = [pal[rng.integers(0, len(pal), (16, 16))] for _ in range(4)]
    for f in frames:
        f.reshape(-1, 3)[: len(pal)] = pal  # same palette in every frame
    buf = io.BytesIO()
    with Encoder(buf, width=16, height=16, channels=3) as enc:
        for f in frames:
            enc.write(f, 10)
    kinds = _chunk_kinds(buf.getvalue())
    assert kinds.count(container.CHUNK_PALETTE) == 1
    assert_frames_equal(decode(buf.getvalue()).frames, frames)


def test_signed_values_one_model_per_scale_gives_the_rows_words() -> None:
    """PLTE residuals are coded with one fixed Categorical per scale (``entropy._signed_model``);
    the words must be the ones of a ``_signed_rows`` row per value under the parametrized model
    (what versions 3 to 10 were written with), at every scale in the table, and decode back."""
    import constriction

    from fpcodec.bitstream import entropy

    rng = np.random.default_rng(7)
    for scale_idx in range(len(entropy.SCALE_TABLE)):
        scale = float(entropy.SCALE_TABLE[scale_idx])
        values = np.clip(np.round(rng.laplace(0, scale + 0.5, 300)), -255, 255).astype(np.int32)
        values[:2] = (-255, 255)  # both ends of the range
        rows = constriction.stream.queue.RangeEncoder()
        rows.encode(
            values - entropy._SIGNED_MIN, entropy._CATEGORICAL, entropy._signed_rows(values.size, scale)
        )
        enc = entropy.FrameEncoder()
        enc.encode_signed(values, scale)
        words = enc.finish()
        assert words == rows.get_compressed().astype("<u4").tobytes(), scale_idx
        assert np.array_equal(entropy.FrameDecoder(words).decode_signed(values.size, scale), values)


@pytest.mark.parametrize("compiled", [False, True])
def test_symbols_under_one_fixed_row_give_the_repeated_rows_words(compiled) -> None:
    """Version 21's reference steps (a pixel value's row with mean 0) and kept bits (a row of two)
    are coded with one fixed model a body (``encode_fixed``): the words of that row repeated per
    symbol (``encode_categorical``, what FORMAT.md describes), at every scale, and decoded back."""
    from fpcodec.bitstream import entropy

    rng = np.random.default_rng(8)
    for scale_idx in range(0, len(entropy.SCALE_TABLE), 5):
        steps = np.clip(np.round(np.abs(rng.laplace(0, entropy.SCALE_TABLE[scale_idx] + 0.5, 200))), 0, 255)
        steps[:2] = (0, 255)
        bits = (rng.random(90) < 0.2).astype(np.int32)
        cases = [(steps.astype(np.int32), entropy.unsigned_row_at(scale_idx)), (bits, np.array([72.0, 18.0]))]
        for values, row in cases:
            fixed, repeated = entropy.FrameEncoder(compiled=compiled), entropy.FrameEncoder(compiled=compiled)
            fixed.encode_fixed(values, row)
            repeated.encode_categorical(values, np.tile(row, (values.size, 1)))
            words = fixed.finish()
            assert words == repeated.finish(), scale_idx
            for dec in (entropy.FrameDecoder(words), entropy.FrameDecoder(words, compiled=True)):
                assert np.array_equal(dec.decode_fixed(row, values.size), values)


@pytest.mark.parametrize("channels", [3, 4])
def test_nearest_previous_colour_is_the_l1_nearest_lowest_index_on_ties(channels) -> None:
    """The PLTE encoder's reference of each new colour: the broadcast L1 distances' argmin, also
    at the extremes (a 4-channel distance of 1020 in int16) and on ties."""
    from fpcodec.bitstream.palette import _nearest

    rng = np.random.default_rng(channels)
    colours = rng.integers(0, 256, (200, channels), dtype=np.uint8)
    reference = rng.integers(0, 256, (256, channels), dtype=np.uint8)
    reference[:4] = [[0] * channels, [255] * channels, [1] * channels, [0] * channels]  # 3: a tie of 0
    colours[:3] = [[255] * channels, [0] * channels, [1] * (channels - 1) + [0]]
    want = np.abs(colours[:, None, :].astype(np.int32) - reference[None].astype(np.int32)).sum(-1).argmin(1)
    got = _nearest(colours, reference)
    assert np.array_equal(got, want) and list(got[:3]) == [1, 0, 2]


def test_palette_bits_parts_add_up_to_the_stream_palettes(tmp_path) -> None:
    """``bench.palette_bits`` splits a real clip's PLTE chunks into parts whose ideal bits come to
    their bytes (within the coder's words), and sizes the steps in both orders and versions."""
    from fpcodec.bench.palette_bits import PaletteBits

    from fpcodec.codec.io import VideoReader

    stream = tmp_path / "c.fpc"
    stream.write_bytes(
        encode([f for f, _ in VideoReader(DATA / "carphonew_000_5f.gif").frames()], model="last-frame")
    )
    with open(stream, "rb") as f:
        sent = [n for _, _, n in Decoder(f, load_model=False).frame_records() if n]
    parts = PaletteBits()
    parts.add_stream(stream)
    got = parts.bytes()
    assert parts.palettes == len(sent) >= 4 and parts.new_colours > 500
    ideal = got["steps_one_sided"] + got["residuals"] + got["bitmap_coded"] + got["head"]  # version 21
    assert sum(sent) - 4 * len(sent) <= ideal <= sum(sent), (ideal, sum(sent))
    assert got["steps_by_reference"] < 0.8 * got["steps_canonical"]
    assert got["steps_one_sided"] < got["steps_by_reference"] and got["bitmap_coded"] < got["bitmap"]


def test_version_20_palette_stream_still_decodes() -> None:
    """tests/data/v20_palette.fpc: the version-20 encoder (commit 279bedf, ``last-frame``,
    ``keyint=2``) on carphone_000.gif's first 4 frames; version 21 codes the same frames smaller
    (its palettes' steps over 0..255 and kept colours coded)."""
    from fpcodec.codec.io import VideoReader

    data = (DATA / "v20_palette.fpc").read_bytes()
    assert data[8:10] == (20).to_bytes(2, "little")
    frames = [f for f, _ in VideoReader(DATA / "carphone_000.gif").frames()][:4]
    assert_frames_equal(decode(data).frames, frames)
    with open(DATA / "v20_palette.fpc", "rb") as f:
        assert sum(1 for _, _, n in Decoder(f, load_model=False).frame_records() if n) == 4
    assert len(encode(frames, model="last-frame", keyint=2)) < len(data)
