"""Format version 8: the palette modes' repeat context and passes coded in parts.

A 16-position template of decoded colours keys a third context order, so a pattern seen before
(text, glyphs, icons, dither) in this frame or the last is predicted; passes are coded in parts
so that patterns repeated within one frame are learned as it goes (FORMAT.md, "The repeat
context")."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from fpcodec.bitstream.profile import CURRENT, FormatProfile
from fpcodec.codec import Decoder, copied_blocks, decode, encode, intra
from fpcodec.codec import palette_context as ctx
from fpcodec.codec.io import VideoReader
from fpcodec.codec.modes import palette

from conftest import assert_frames_equal, assert_old_stream_decodes, assert_planar_fixture_decodes

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize("size", [(1, 1), (2, 9), (17, 33), (40, 36)])
def test_ring_reads_only_pixels_of_earlier_passes(size) -> None:
    """The decoder can key a pixel's template only on colours it already has."""
    h, w = size
    order = np.full(h * w, -1)
    for k, p in enumerate(intra.passes(h, w)):
        order[p.targets] = k
        ring = intra.ring(p, h, w).positions(p.targets)
        assert ring.shape == ((12 if p.step else 0), p.targets.size)
        inside = ring[ring >= 0]
        assert (order[inside] >= 0).all() and (order[inside] < k).all()


def test_template_is_the_16_nearest_decoded_positions() -> None:
    """Around a pixel far from the edges, the neighbours and the ring are the 16 positions
    nearest to it (Euclidean) among those coded in earlier passes, with no tie at the 16th."""
    h = w = 96
    order = np.full(h * w, -1)
    for k, p in enumerate(intra.passes(h, w)):
        order[p.targets] = k
    for k, p in enumerate(intra.passes(h, w)):
        if not p.step:
            continue
        i = int(np.argmin(np.abs(p.targets // w - 48) + np.abs(p.targets % w - 48)))
        y, x = divmod(int(p.targets[i]), w)
        template = np.concatenate([p.neighbours[:, i], intra.ring(p, h, w).positions(p.targets)[:, i]])
        ys, xs = np.mgrid[0:h, 0:w]
        earlier = (order >= 0) & (order < k)
        d2 = ((ys - y) ** 2 + (xs - x) ** 2).ravel()
        d2 = np.where(earlier, d2, np.iinfo(np.int64).max)
        nearest = np.argsort(d2, kind="stable")
        assert set(template.tolist()) == set(nearest[:16].tolist()), (p.step, p.diagonal)
        assert d2[nearest[15]] < d2[nearest[16]]


def test_repeat_key_is_the_specified_hash() -> None:
    """FORMAT.md: h = h * 0x9E3779B97F4A7C15 + class + 1 (mod 2^64) over the template, then >> 10."""
    rng = np.random.default_rng(4)
    classes = [rng.integers(0, 258, 50) for _ in range(16)]
    got = ctx.repeat_key(classes)
    for n in range(50):
        h = 0
        for c in classes:
            h = (h * 0x9E3779B97F4A7C15 + int(c[n]) + 1) % (1 << 64)
        assert got[n] == h >> 10
    assert (got >= 0).all() and (got < (1 << 54)).all()


def test_context_keys_add_the_repeat_key_with_a_ring() -> None:
    canvas = np.array([5, -1, 0, 7], np.int32)  # a 2x2 frame
    nbr = np.array([[0, -1], [1, 2], [3, 1], [2, 2]])
    ring = intra.Ring(np.array([[1, 1]] * 12), 2, 2)  # below right: position 3, then outside
    keys = ctx.context_keys(canvas, nbr, ring, targets=np.array([0, 1]))
    assert len(keys) == 3
    assert all(np.array_equal(a, b) for a, b in zip(keys[:2], ctx.context_keys(canvas, nbr), strict=True))
    classes = [np.array([7, 0]), np.array([1, 2]), np.array([9, 1]), np.array([2, 2])] + [
        np.array([9, 0])
    ] * 12
    np.testing.assert_array_equal(keys[2], ctx.repeat_key(classes))


def test_pass_parts_cover_the_pass_and_double() -> None:
    assert palette.pass_parts(100_000, FormatProfile.for_version(7)) == [slice(0, 100_000)]
    assert palette.pass_parts(palette.PART_FIRST) == [slice(0, palette.PART_FIRST)]
    parts = palette.pass_parts(100_000)
    first = palette.PART_FIRST
    assert parts[:3] == [slice(0, first), slice(first, 2 * first), slice(2 * first, 4 * first)]
    assert parts[-1].stop == 100_000
    for a, b in zip(parts, parts[1:], strict=False):
        assert b.start == a.stop and b.stop - b.start <= max(first, b.start)


def test_text_like_clip_is_smaller_than_its_gif_only_with_the_repeat_context(monkeypatch) -> None:
    """tests/data/text_like.gif (tests/data/make_text_like.py): glyphs repeated across lines, which
    the GIF's LZW finds. With the repeat context the stream is smaller than the GIF; with its
    beta table forced to zero (order 3 off, all else the same) it is at least 10 % larger (up to
    version 10 it was larger than the GIF too; version 11's smaller framing brought it to 97.5 %
    of the GIF, so the margin is what is checked now: 1,671 bytes against 1,491). Copied blocks (version
    9) are off in both runs, since they shrink the second frame whatever the contexts do; the
    default stream, with them, is smaller still. So is the row schedule (version 10), whose wider
    keys of orders 1 and 2 also catch the glyphs: these frames are coded coarse to fine."""
    reader = VideoReader(DATA / "text_like.gif")
    frames, durations = zip(*reader.frames(), strict=True)
    gif = (DATA / "text_like.gif").stat().st_size

    def coded() -> bytes:
        return encode(frames, durations=durations, model="last-frame", time_base=reader.info.time_base)

    default = coded()
    assert_frames_equal(decode(default).frames, frames)
    monkeypatch.setattr(copied_blocks, "choices", lambda frame, previous: [None])
    data = coded()
    assert len(default) <= len(data)
    monkeypatch.setattr(palette, "SCHEDULES", (False,))
    data = coded()
    mixes = [rec.mix for rec in Decoder(io.BytesIO(data), load_model=False).records()]
    assert any(ctx.betas(m, 3)[2] > 0 for m in mixes), [hex(m) for m in mixes]
    monkeypatch.setattr(ctx, "BETA_REPEAT", (0.0, 0.0, 0.0, 0.0))
    without = coded()
    assert len(data) < gif and len(without) >= 1.1 * len(data), (len(data), gif, len(without))


def test_repeat_context_round_trips_palette_inter_intra_and_update() -> None:
    """The modes of the v3 fixture's frames, coded now (the encoder picks the modes afresh)."""
    frames = list(np.load(DATA / "v3_stream_frames.npy"))
    data = encode(frames, model="last-frame")
    assert data[8:10] == CURRENT.version.to_bytes(2, "little")
    assert_frames_equal(decode(data).frames, frames)


def test_version_7_streams_still_decode() -> None:
    """tests/data/v7_stream.fpc was written by the version-7 encoder (commit 3eb1bef) with
    convlstm-hybrid-int from the frames of tests/data/v3_stream_frames.npy: 16-bit mix field, no
    repeat context."""
    assert_old_stream_decodes("v7_stream.fpc", 7)


def test_version_7_planar_stream_still_decodes() -> None:
    """tests/data/v7_planar.fpc: the version-7 encoder (commit 3eb1bef) on
    carphone_yuv420p_64x48.mkv, the planar rule in the clip's own pixel format."""
    assert_planar_fixture_decodes("v7_planar.fpc", 7)


def test_version_7_stream_relabelled_as_version_8_is_refused() -> None:
    """Version 8's FRAM is two bytes longer: a v7 stream read by v8's rules must fail (a flags
    byte with reserved bits, a payload that is not whole words, or its checksums), never decode."""
    from fpcodec.bitstream.errors import FormatError

    data = bytearray((DATA / "v7_stream.fpc").read_bytes())
    data[8:10] = (8).to_bytes(2, "little")
    with pytest.raises(FormatError):
        decode(bytes(data))
