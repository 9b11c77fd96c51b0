"""Context counts in palette mode (format v3): the count tables, the blend, and what they buy."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from fpcodec.bitstream import container, entropy
from fpcodec.bitstream.errors import ChecksumError
from fpcodec.bitstream.profile import FormatProfile
from fpcodec.codec import Decoder, Encoder, decode, encode
from fpcodec.codec import frame_coding as fc
from fpcodec.codec import palette_coding as pc
from fpcodec.codec import palette_context as ctx
from fpcodec.codec.modes import palette, palette_update
from fpcodec.models.base import Prediction

from conftest import assert_frames_equal

DATA = Path(__file__).parent / "data"


def _brute_counts(hist_keys: np.ndarray, hist_syms: np.ndarray, keys: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros((keys.size, k))
    for i, key in enumerate(keys):
        for hk, hs in zip(hist_keys, hist_syms, strict=True):
            if hk == key and hs >= 0:
                out[i, hs] += 1
    return out


def test_counts_match_brute_force_across_several_adds() -> None:
    rng = np.random.default_rng(0)
    counts = ctx.ContextCounts()
    hist = ([], [])
    k = 7
    for _ in range(3):
        keys = rng.integers(0, 6, 40).astype(np.int64)
        syms = rng.integers(-1, k, 40)
        counts.add([keys, keys * 3], syms)
        hist[0].append(keys)
        hist[1].append(syms)
        query = rng.integers(0, 8, 25).astype(np.int64)  # some contexts never seen
        expected = _brute_counts(np.concatenate(hist[0]), np.concatenate(hist[1]), query, k)
        np.testing.assert_array_equal(counts.rows(0, query, k), expected)
        np.testing.assert_array_equal(counts.rows(1, query * 3, k), expected)
        truth = rng.integers(0, k, 25)
        own, total = counts.true_counts(0, query, truth)
        np.testing.assert_array_equal(own, expected[np.arange(25), truth])
        np.testing.assert_array_equal(total, expected.sum(axis=1))


def test_empty_counts_leave_rows_unchanged() -> None:
    counts = ctx.ContextCounts()
    p = np.full((3, 4), 0.25)
    rows = [counts.rows(o, np.array([1, 2, 3]), 4) for o in range(ctx.ORDERS)]
    np.testing.assert_array_equal(ctx.blend(p, rows, (32.0, 512.0)), p)
    own, total = counts.true_counts(0, np.array([1, 2, 3]), np.array([0, 1, 2]))
    assert not own.any() and not total.any()


def test_blend_true_is_blend_at_the_true_symbol() -> None:
    rng = np.random.default_rng(1)
    p = rng.random((50, 9))
    p /= p.sum(axis=1, keepdims=True)
    rows = [rng.integers(0, 5, (50, 9)).astype(float) for _ in range(ctx.ORDERS)]
    truth = rng.integers(0, 9, 50)
    ar = np.arange(50)
    for beta in ((0.0, 32.0), (128.0, 0.0), (32.0, 512.0)):
        full = ctx.blend(p, rows, beta)
        np.testing.assert_allclose(full.sum(axis=1), 1.0)
        quick = ctx.blend_true(
            p[ar, truth], [r[ar, truth] for r in rows], [r.sum(axis=1) for r in rows], beta
        )
        np.testing.assert_allclose(quick, full[ar, truth])


def test_context_keys_classes() -> None:
    canvas = np.array([5, -1, 0, 7], np.int32)
    nbr = np.array([[0, -1], [1, 2], [3, 1]])
    first, second = ctx.context_keys(canvas, nbr)
    np.testing.assert_array_equal(first, [7, 0])  # 2 + index 5; outside -> 0
    np.testing.assert_array_equal(second, [7 * 512 + 9, 0 * 512 + 1])  # third neighbour; -1 -> class 1
    assert ctx.context_keys(canvas, np.zeros((0, 2), np.int64)) is None


def _dithered_video(frames: int = 4, size: int = 48) -> list[np.ndarray]:
    """An ordered (2x2 Bayer) dither between two colours per region, drifting slowly: neighbours
    always differ from the pixel, so only learned index patterns predict it."""
    ys, xs = np.mgrid[0:size, 0:size]
    bayer = np.array([[0, 2], [3, 1]])[ys % 2, xs % 2]
    palette = np.array([[40, 40, 48], [52, 50, 60], [70, 60, 64], [90, 80, 70], [120, 100, 90]], np.uint8)
    out = []
    for t in range(frames):
        level = ((xs + ys + 3 * t) // 12) % 4
        idx = level + (bayer < 2 + (ys // 16 + t) % 2)
        out.append(palette[np.clip(idx, 0, 4)])
    return out


def test_dithered_video_round_trips_with_contexts_switched_on() -> None:
    frames = _dithered_video()
    data = encode(frames, model="last-frame", lz_frames=False)  # the contexts of the pass coder
    assert_frames_equal(decode(data).frames, frames)
    dec = Decoder(io.BytesIO(data), load_model=False)
    mixes = [rec.mix for rec in dec.records()]
    assert any(ctx.betas(m) != (0.0, 0.0) for m in mixes), [hex(m) for m in mixes]


def test_contexts_make_dithered_frames_cheaper() -> None:
    """Coded bytes of one frame with the encoder's chosen betas against both orders forced off."""
    frames = _dithered_video(frames=2)
    palette_idx = pc.extract_palette(frames[1])
    assert palette_idx is not None
    colours, idx = palette_idx
    h, w, _ = frames[1].shape
    passes = palette.inter_passes(
        Prediction(
            mean=np.moveaxis(frames[0], -1, 0).astype(np.float32), scale=np.ones((3, h, w), np.float32)
        ),
        0,
        h,
        w,
    )
    prev_idx = pc.previous_indices(frames[0], colours)
    counts = palette.pretrained_counts(palette.inter_geometry(h, w), frames[0], colours)
    mix, estimate, _, _ = palette.estimate_passes(passes, colours, idx, prev_idx, counts)
    assert ctx.betas(mix) != (0.0, 0.0)
    sizes = []
    for m in (mix, mix & 0x0FFF):
        enc = entropy.FrameEncoder()
        palette.code_passes(
            passes,
            colours,
            prev_idx,
            m,
            idx,
            enc,
            palette.pretrained_counts(palette.inter_geometry(h, w), frames[0], colours),
        )
        sizes.append(len(enc.finish()))
    assert abs(8 * sizes[0] - estimate) < 0.02 * estimate + 64
    assert sizes[0] < 0.7 * sizes[1]


def _numpy_uses_svml() -> bool:
    """NumPy sends float exp2/log2/sinh/cosh to Intel's SVML only on AVX-512 (SKX) machines; other
    machines use the C library's, which round differently in the last place."""
    from numpy._core._multiarray_umath import __cpu_features__

    return bool(__cpu_features__.get("AVX512_SKX"))


def test_version_2_stream_decodes_exactly_or_fails_its_checksum() -> None:
    """tests/data/v2_stream.fpc was written by the version-2 encoder (commit 8d23d60) on an AVX-512
    machine: a 32x32 crop of carphone_000's first six frames, palette intra and inter frames, model
    last-frame. Version 2's palette rows are float32 maths (FORMAT.md, "Version 2"), so the stream
    decodes exactly only where NumPy's transcendental functions round as they did there; elsewhere
    (e.g. AMD EPYC with AVX2 only) frame 0's pixels miss its CRC, and the decoder must say so
    rather than return other frames."""
    data = (DATA / "v2_stream.fpc").read_bytes()
    assert data[8:10] == (2).to_bytes(2, "little")
    modes = [rec.mode for rec in Decoder(io.BytesIO(data), load_model=False).records()]
    assert set(modes) == {fc.MODE_PALETTE_INTRA, fc.MODE_PALETTE_INTER}
    if not _numpy_uses_svml():
        with pytest.raises(ChecksumError, match="frame 0 does not match"):
            decode(data)
        return
    video = decode(data)
    expected = np.load(DATA / "v2_stream_frames.npy")
    assert_frames_equal(video.frames, expected)
    assert video.durations == [4, 4, 4, 8, 8, 12]


def test_version_2_frame_with_context_bits_is_refused() -> None:
    rec = container.FrameRecord(0, 1, fc.MODE_PALETTE_INTER, 0, 0, b"", mix=0x1000)
    body = container.encode_frame(rec, FormatProfile.for_version(10))[:16]  # versions 2-5: no flags byte
    assert container.decode_frame(body, FormatProfile.for_version(3)).mix == 0x1000
    with pytest.raises(container.FormatError, match="0x1000"):
        container.decode_frame(body, FormatProfile.for_version(2))


def test_sparse_blend_equals_the_dense_chain() -> None:
    rng = np.random.default_rng(2)
    counts = ctx.ContextCounts()
    keys = rng.integers(0, 5, 300).astype(np.int64)
    counts.add([keys, keys * 7 + 1], rng.integers(0, 6, 300))
    query = rng.integers(0, 7, 80).astype(np.int64)
    qkeys = [query, query * 7 + 1]
    p = rng.random((80, 6))
    p /= p.sum(axis=1, keepdims=True)
    for beta in ((32.0, 128.0), (0.0, 512.0), (128.0, 0.0), (0.0, 0.0)):
        dense = ctx.blend(p, [counts.rows(o, qkeys[o], 6) for o in range(ctx.ORDERS)], beta)
        np.testing.assert_allclose(ctx.blend_sparse(p.copy(), counts, qkeys, beta), dense, rtol=1e-12)


def _busy_video(channels: int = 3, frames: int = 4) -> list[np.ndarray]:
    """More than 256 colours per frame (a fixed noise background), a small moving sprite of 20
    colours: the frames cannot use palette mode, but their changes can."""
    rng = np.random.default_rng(7)
    background = rng.integers(0, 256, (40, 36, channels), dtype=np.uint8)
    if channels == 4:
        background[..., 3] = rng.choice(np.array([0, 255], np.uint8), (40, 36))
    sprite_colours = rng.integers(0, 256, (20, channels), dtype=np.uint8)
    sprite = sprite_colours[rng.integers(0, 20, (8, 8))]
    out = []
    for t in range(frames):
        f = background.copy()
        f[4 + 3 * t : 12 + 3 * t, 5 + 2 * t : 13 + 2 * t] = sprite
        out.append(f)
    return out


@pytest.mark.parametrize("channels", [3, 4])
def test_frames_over_256_colours_use_palette_update_and_round_trip(channels: int) -> None:
    frames = _busy_video(channels)
    assert all(pc.extract_palette(f) is None for f in frames)
    data = encode(frames, model="last-frame")
    assert_frames_equal(decode(data).frames, frames)
    modes = [rec.mode for rec in Decoder(io.BytesIO(data), load_model=False).records()]
    assert modes[1:] == [fc.MODE_PALETTE_UPDATE] * (len(frames) - 1), modes
    sizes = {}
    for use_palette in (True, False):
        with Encoder(
            io.BytesIO(), width=36, height=40, channels=channels, model="last-frame", use_palette=use_palette
        ) as enc:
            for f in frames:
                enc.write(f, 1)
        sizes[use_palette] = sum(enc.frame_sizes[1:])  # payload + palette chunk bytes per frame
    assert sizes[True] < 0.6 * sizes[False], sizes


def test_update_palette_symbols() -> None:
    frames = _busy_video()
    colours, idx = palette_update.update_palette(frames[1], frames[0])
    changed = (frames[1] != frames[0]).any(axis=-1).ravel()
    assert (idx[~changed] == len(colours)).all()
    assert np.array_equal(colours[idx[changed]], frames[1].reshape(-1, 3)[changed])
    assert palette_update.update_palette(frames[0], frames[0]) is None


def test_palette_update_frame_errors() -> None:
    frames = _busy_video()
    pred = Prediction(
        mean=np.moveaxis(frames[0], -1, 0).astype(np.float32), scale=np.ones((3, 40, 36), np.float32)
    )
    coded = fc.encode_frame(frames[1], pred, frames[0])
    assert coded.mode == fc.MODE_PALETTE_UPDATE
    assert np.array_equal(fc.decode_frame(coded, pred, 40, 36, 3, frames[0]), frames[1])
    with pytest.raises(fc.FormatError, match="mode 4.*version-2 stream"):
        fc.decode_frame(coded, pred, 40, 36, 3, frames[0], FormatProfile.for_version(2))
    big = fc.CodedFrame(
        coded.mode,
        0,
        coded.payload,
        coded.mix,
        np.arange(256 * 3, dtype=np.int64).reshape(256, 3).astype(np.uint8),
    )
    with pytest.raises(fc.FormatError, match="at most 255"):
        fc.decode_frame(big, pred, 40, 36, 3, frames[0])
