"""The decoder's and encoder's per-frame arrays in less memory, with the same results (issue 15):
the integer model's prediction kept as its integer planes (15 bytes a pixel, not 36 of float32),
palette indices of the previous frame found in blocks (a whole frame's ``np.unique`` took 48 bytes
a pixel), and context counts merged before their pending codes pile up."""

from __future__ import annotations

import io

import numpy as np
import pytest

from fpcodec.bitstream.palette import pack_colours, unpack_colours
from fpcodec.codec import Decoder, encode
from fpcodec.codec import palette_coding as pc
from fpcodec.codec import palette_context as ctx
from fpcodec.codec.modes import palette
from fpcodec.models import integer, registry
from fpcodec.models.base import Prediction, Predictor

from conftest import CARPHONE, assert_frames_equal, read_video


def _planes(shape=(3, 9, 11), seed=0):
    rng = np.random.default_rng(seed)
    return (
        rng.integers(0, integer.MEAN_Q_MAX + 1, shape).astype(np.int16),
        rng.integers(0, integer.N_SCALES, shape).astype(np.uint8),
        rng.integers(-512, 513, shape).astype(np.int16),
    )


def test_integer_prediction_reads_as_the_float_prediction_of_its_planes() -> None:
    planes = _planes()
    ints, floats = integer.IntegerPrediction(*planes), Prediction(*integer._float_planes(*planes))
    for a, b in zip(
        (ints.mean, ints.scale, ints.coupling), (floats.mean, floats.scale, floats.coupling), strict=True
    ):
        assert a.dtype == b.dtype == np.float32 and np.array_equal(a, b)
    targets = np.array([0, 98, 5, 5, 42])
    (m, c, s), (fm, fc, fs) = ints.pixels(targets), floats.pixels(targets)
    # a pass of the integer prediction holds the integers the coder snaps the floats to
    assert m.dtype == c.dtype == np.int16 and s.dtype.kind == "i"
    for a, b in zip(pc._snapped(m, c), pc._snapped(fm, fc), strict=True):
        assert np.array_equal(a, b)
    assert np.array_equal(s, fs)
    for a, b in zip(pc.float_pass_planes(m, c), (fm, fc), strict=True):  # versions 2 and 3 read floats
        assert a.dtype == b.dtype == np.float32 and np.array_equal(a, b)
    for channel in range(3):
        for a, b in zip(ints.snapped(channel), floats.snapped(channel), strict=True):
            assert a.dtype == b.dtype == np.int32 and np.array_equal(a, b)


def test_snapping_integer_steps_clamps_them_as_it_clamps_floats() -> None:
    mean_q = np.array([[-3, 0, 4080, 4095], [1, 2, 3, 4], [5, 6, 7, 8]], np.int16)
    coupling_q = np.array([[-600, -512, 512, 700], [0, 1, -1, 2], [3, 4, 5, 6]], np.int16)
    floats = pc.float_pass_planes(mean_q, coupling_q)
    assert floats[0][0, 3] == 4095 / 16
    for a, b in zip(pc._snapped(mean_q, coupling_q), pc._snapped(*floats), strict=True):
        assert np.array_equal(a, b)
    assert pc._snapped(mean_q, coupling_q)[0][0].tolist() == [0, 0, 4080, 4080]
    assert pc._snapped(mean_q, coupling_q)[1][0].tolist() == [-512, -512, 512, 512]


def test_the_integer_model_predicts_integer_planes_for_rgb_and_floats_for_rgba() -> None:
    frames, _, _ = read_video(CARPHONE)
    model = registry.get("convlstm-hybrid-int")
    pred = model.predict(frames[:5])
    assert isinstance(pred, integer.IntegerPrediction) and pred.mean_q.dtype == np.int16
    rgba = [np.concatenate([f, np.full(f.shape[:2] + (1,), 255, np.uint8)], -1) for f in frames[:5]]
    pred4 = model.predict(rgba)
    assert type(pred4) is Prediction and pred4.mean.shape == (4, 96, 96)
    assert np.array_equal(pred4.mean[:3], pred.mean) and np.array_equal(pred4.coupling, pred.coupling)


class _FloatPlanes(Predictor):
    """The default model with its prediction turned into float32 planes, as before issue 15's
    integer planes: the streams must not change."""

    def __init__(self) -> None:
        self.inner = registry.get("convlstm-hybrid-int")
        self.name, self.model_id = self.inner.name, self.inner.model_id

    @property
    def weights_hash(self) -> bytes:
        return self.inner.weights_hash

    def predict(self, history: list[np.ndarray]) -> Prediction:
        return Prediction(*integer._float_planes(*self.inner.predict_ints(history)))


@pytest.mark.parametrize("use_palette", [True, False], ids=["palette", "rgb"])
def test_streams_are_those_of_float_planes(use_palette: bool) -> None:
    frames = read_video(CARPHONE)[0][:6]
    data = encode(frames, model="convlstm-hybrid-int", use_palette=use_palette)
    assert data == encode(frames, model=_FloatPlanes(), use_palette=use_palette)
    assert_frames_equal([f.pixels for f in Decoder(io.BytesIO(data))], frames)


def test_rgb_inter_makes_its_parameters_again_above_the_cache_size(monkeypatch) -> None:
    """Above ``intra.CACHED_PIXELS`` RGB inter's candidate holds no parameters (9 bytes a pixel
    while the palette modes are estimated) and makes them again: the same stream."""
    from fpcodec.codec import intra
    from fpcodec.codec.modes import rgb_inter

    frames = read_video(CARPHONE)[0][:4]
    kept = encode(frames, model="last-frame", use_palette=False)
    made = []
    original = rgb_inter.InterCandidate.parameters
    monkeypatch.setattr(intra, "CACHED_PIXELS", 64)
    monkeypatch.setattr(
        rgb_inter.InterCandidate, "parameters", lambda c: made.append(c.kept is None) or original(c)
    )
    assert encode(frames, model="last-frame", use_palette=False) == kept
    assert made and all(made)  # RGB inter was coded, from parameters made again
    modes = [r.mode for r, _, _ in Decoder(io.BytesIO(kept)).frame_records()]
    assert rgb_inter.MODE in modes


def _previous_indices_whole(previous: np.ndarray, palette_: np.ndarray) -> np.ndarray:
    """``pc.previous_indices`` as it was, on the whole frame at once."""
    flat = previous.reshape(-1, previous.shape[-1])
    keys = pack_colours(flat)
    pal_keys = pack_colours(palette_)
    uniq, inverse = np.unique(keys, return_inverse=True)
    if len(uniq) > pc._MAX_UNIQUE:
        pos = np.clip(np.searchsorted(pal_keys, keys), 0, len(pal_keys) - 1)
        return np.where(pal_keys[pos] == keys, pos, -1).astype(np.int32)
    colours = unpack_colours(uniq, flat.shape[1]).astype(np.int32)
    dist = np.abs(colours[:, None, :] - palette_[None, :, :].astype(np.int32)).sum(axis=2)
    best = dist.argmin(axis=1)
    near = np.where(dist[np.arange(len(uniq)), best] <= pc.NEAREST_L1, best, -1)
    return near[inverse.ravel()].astype(np.int32)


@pytest.mark.parametrize("channels", [3, 4])
@pytest.mark.parametrize("distinct", [7, 900, 5000], ids=["few", "many", "over-the-limit"])
def test_previous_indices_in_blocks_equal_the_whole_frame(monkeypatch, channels: int, distinct: int) -> None:
    monkeypatch.setattr(pc, "_INDEX_BLOCK", 1000)  # many blocks on a small frame
    rng = np.random.default_rng(distinct + channels)
    colours = rng.integers(0, 256, (distinct, channels), dtype=np.uint8)
    previous = colours[rng.integers(0, distinct, (97, 103))]
    previous[:40] = colours[rng.integers(0, 5, (40, 103))]  # the first blocks see few colours
    kept = colours[: max(2, distinct // 2)].astype(np.int16)
    near = (kept + rng.integers(-3, 4, kept.shape)).clip(0, 255)
    near[::2] = kept[::2]  # some exact: over the limit only those match
    palette_ = unpack_colours(np.unique(pack_colours(near.astype(np.uint8))), channels)
    got = pc.previous_indices(previous, palette_)
    expected = _previous_indices_whole(previous, palette_)
    assert got.dtype == np.int32 and np.array_equal(got, expected)
    assert (expected >= 0).any() and (expected < 0).any()
    exact = pc.exact_indices(previous, palette_)
    near, matched = pc.previous_matches(previous, palette_)  # both from one look-up
    assert np.array_equal(near, expected) and np.array_equal(matched, exact) and (matched >= 0).any()
    keys, pal_keys = pack_colours(previous.reshape(-1, channels)), pack_colours(palette_)
    assert np.array_equal(
        exact, [int(np.flatnonzero(pal_keys == k)[0]) if k in pal_keys else -1 for k in keys]
    )


@pytest.mark.parametrize("block", [1000, 1 << 16], ids=["blocks", "whole"])
@pytest.mark.parametrize("distinct", [1, 200, 256, 300, 2000])
def test_indexed_colours_in_blocks_equal_np_unique(monkeypatch, distinct: int, block: int) -> None:
    from fpcodec.codec import colour_kernel

    monkeypatch.setattr(colour_kernel, "_BLOCK", block)  # the ranks written in blocks of pixels
    rng = np.random.default_rng(distinct)
    colours = rng.integers(0, 256, (distinct, 3), dtype=np.uint8)
    flat = colours[rng.integers(0, distinct, 97 * 103)]
    keys, inverse = np.unique(pack_colours(flat), return_inverse=True)
    got = pc.indexed_colours(flat, 1024)
    if len(keys) > 1024:
        assert got is None
        return
    assert np.array_equal(got[0], keys) and np.array_equal(got[1], inverse.ravel())
    assert got[1].dtype == (np.uint8 if len(keys) <= 256 else np.int32)


@pytest.mark.parametrize("schedule", ["coarse-to-fine", "rows"])
def test_a_large_frames_pass_is_held_by_its_reader_only(schedule: str) -> None:
    """The pass generators of large frames keep nothing of a pass they handed out, so that a
    reader that keeps only part of it (the coded pixels) frees the rest."""
    import weakref

    from fpcodec.codec import intra, row_schedule

    make = intra.iter_passes if schedule == "coarse-to-fine" else row_schedule.iter_passes
    passes = make(64, 80)
    for _ in range(4):
        p = next(passes)
        alive = weakref.ref(p.targets), weakref.ref(p.neighbours)
        del p
        assert alive[0]() is None and alive[1]() is None


def _tables(counts: ctx.ContextCounts) -> list[tuple[np.ndarray, np.ndarray]]:
    return [tuple(a.copy() for a in counts._table(o)) for o in range(ctx.MAX_ORDERS)]


def test_counts_merged_early_are_the_same_counts(monkeypatch) -> None:
    rng = np.random.default_rng(3)
    adds = [(rng.integers(0, 50, (3, n)).astype(np.int64), rng.integers(-1, 9, n)) for n in (30, 200, 7, 500)]
    whole = ctx.ContextCounts()
    for keys, symbols in adds:
        whole.add(list(keys), symbols)
    monkeypatch.setattr(ctx, "_PENDING_LIMIT", 64)
    early = ctx.ContextCounts()
    for keys, symbols in adds:
        early.add(list(keys), symbols)
        assert all(sum(p.size for p in pending) <= 64 for pending in early._pending)
    for (a, b), (c, d) in zip(_tables(whole), _tables(early), strict=True):
        assert np.array_equal(a, c) and np.array_equal(b, d)


def test_pretrained_counts_in_chunks_are_the_same_counts(monkeypatch) -> None:
    frames = read_video(CARPHONE)[0][:2]
    extracted = pc.extract_palette(frames[0])  # every pixel of frames[0] counts
    assert extracted is not None
    geometry = palette.inter_geometry(96, 96)
    whole = palette.pretrained_counts(geometry, frames[0], extracted[0])
    monkeypatch.setattr(palette, "_PRETRAIN_CHUNK", 300)
    chunked = palette.pretrained_counts(geometry, frames[0], extracted[0])
    for (a, b), (c, d) in zip(_tables(whole), _tables(chunked), strict=True):
        assert b.sum() > 5000 and np.array_equal(a, c) and np.array_equal(b, d)


def test_counts_are_int32_until_they_could_overflow() -> None:
    counts = ctx.ContextCounts()
    counts.add([np.array([1, 1, 2], np.int64)] * 3, np.array([0, 0, 5]))
    counts.add([np.array([1, 3], np.int64)] * 3, np.array([0, 1]))
    codes, n = counts._table(2)
    assert n.dtype == np.int32 and n.tolist() == [3, 1, 1] and codes.tolist() == [256, 517, 769]
    assert ctx._count_dtype((1 << 31) - 1) is np.int32 and ctx._count_dtype(1 << 31) is np.int64
    counts._pending[2].append(np.array([256, 300], np.int64))  # as if counted 2^31 times
    counts._counted[2] = 1 << 31
    codes, n = counts._table(2)
    assert n.dtype == np.int64 and n.tolist() == [4, 1, 1, 1] and codes.tolist() == [256, 300, 517, 769]


def _whole_frame_params(chw: np.ndarray, pred: Prediction) -> tuple[np.ndarray, np.ndarray]:
    """RGB inter's parameters the way they were made before bands: every channel on the whole frame."""
    from fpcodec.codec.modes import rgb_inter

    ps = [rgb_inter.channel_params(pred, c, chw) for c in range(chw.shape[0])]
    return np.stack([p[0] for p in ps]), np.stack([p[1] for p in ps])


@pytest.mark.parametrize("band_pixels", [1, 25, 1 << 16])
def test_rgb_inter_parameters_band_by_band_are_the_whole_frames(monkeypatch, band_pixels: int) -> None:
    from fpcodec.codec.modes import rgb_inter

    monkeypatch.setattr(rgb_inter, "BAND_PIXELS", band_pixels)  # one row, 2-3 rows, the whole frame
    planes = _planes(shape=(3, 9, 11), seed=3)
    chw = np.random.default_rng(4).integers(0, 256, (3, 9, 11)).astype(np.uint8)
    for pred in (integer.IntegerPrediction(*planes), Prediction(*integer._float_planes(*planes))):
        mean_q, scale_idx = rgb_inter.params(chw, pred)
        want_mean, want_scale = _whole_frame_params(chw, pred)
        assert mean_q.dtype == np.int16 and scale_idx.dtype == np.uint8
        assert np.array_equal(mean_q, want_mean) and np.array_equal(scale_idx, want_scale)
        # the coupling moves G's and B's means: the bands' G and B did read their own rows' R and G
        assert not np.array_equal(mean_q[1:], planes[0][1:].clip(0, integer.MEAN_Q_MAX))


def test_rgb_inter_frame_decodes_band_by_band(monkeypatch) -> None:
    """A frame coded in RGB inter with bands of the whole frame decodes with bands of one row,
    and the other way round: the bands change neither the bits nor the frame."""
    from fpcodec.codec import frame_coding
    from fpcodec.codec.modes import rgb_inter

    rng = np.random.default_rng(6)
    truth = rng.integers(0, 256, (13, 10, 3)).astype(np.uint8)
    noisy = np.clip(truth.astype(np.int16) + rng.integers(-3, 4, truth.shape), 0, 255).astype(np.uint8)
    planes = (
        (np.moveaxis(noisy, -1, 0).astype(np.int16) * 16),
        np.full((3, 13, 10), 20, np.uint8),
        rng.integers(-200, 201, (3, 13, 10)).astype(np.int16),
    )
    pred = integer.IntegerPrediction(*planes)
    coded = {}
    for band_pixels in (1 << 16, 10):
        monkeypatch.setattr(rgb_inter, "BAND_PIXELS", band_pixels)
        coded[band_pixels] = frame_coding.encode_frame(truth, pred, use_palette=False)
        assert coded[band_pixels].mode == frame_coding.MODE_INTER
    assert coded[10].payload == coded[1 << 16].payload
    for band_pixels in (10, 1 << 16):
        monkeypatch.setattr(rgb_inter, "BAND_PIXELS", band_pixels)
        assert np.array_equal(frame_coding.decode_frame(coded[10], pred, 13, 10, 3), truth)
