"""Large frames are predicted tile by tile (``models/tiling.py``): the tiles cover the frame once,
their windows start on the networks' grids, and every shipped integer model gives the whole
frame's integers tile by tile, also with tiles far smaller than the shipped ones."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from fpcodec.models import integer, tiling

MODELS = [
    integer.Conv2DIntPredictor,
    integer.Conv3DHybridIntPredictor,
    integer.ConvLSTMHybridIntPredictor,
    integer.ConvLSTMUNetIntPredictor,
]


@pytest.mark.parametrize("height, width, reach, tile", [(1, 1, 13, 4), (203, 117, 13, 32), (64, 64, 40, 64)])
def test_tiles_cover_the_frame_once_on_the_grid(height, width, reach, tile):
    seen = np.zeros((height, width), np.int32)
    pad = tiling.halo(reach)
    assert pad >= reach and pad % tiling.ALIGN == 0
    for t in tiling.tiles(height, width, reach, tile):
        seen[t.frame] += 1
        (wy, wx), (iy, ix), (fy, fx) = t.window, t.inside, t.frame
        assert wy.start % tiling.ALIGN == 0 and wx.start % tiling.ALIGN == 0
        assert (wy.start + iy.start, wy.start + iy.stop) == (fy.start, fy.stop)
        assert (wx.start + ix.start, wx.start + ix.stop) == (fx.start, fx.stop)
        # the halo is there on every side that is not the frame's edge
        assert fy.start - wy.start == min(pad, fy.start) and wy.stop - fy.stop == min(pad, height - fy.stop)
        assert fx.start - wx.start == min(pad, fx.start) and wx.stop - fx.stop == min(pad, width - fx.stop)
    assert (seen == 1).all()


@pytest.mark.parametrize("reach", [0, 3, 13, 40, 100])
def test_tile_sides_keep_the_halos_share_small(reach):
    side, pad = tiling.tile_side(reach), tiling.halo(reach)
    assert side >= tiling.TILE and side % tiling.ALIGN == 0
    assert (side + 2 * pad) ** 2 <= 1.5 * side**2
    assert tiling.tile_side(13) == 192 and tiling.tile_side(40) == 384  # the shipped models' reaches


def test_a_tile_off_the_grid_is_refused():
    with pytest.raises(ValueError, match="multiple of 4"):
        list(tiling.tiles(10, 10, 3, tile=6))


def _history(height: int, width: int, frames: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (height, width, 3))
    return [np.clip(base + rng.integers(-24, 25, base.shape), 0, 255).astype(np.uint8) for _ in range(frames)]


def _whole_and_tiled(predictor, history, tile, monkeypatch):
    monkeypatch.setattr(tiling, "TILED_FROM", 1 << 40)
    whole = predictor.predict_ints(history)
    monkeypatch.setattr(tiling, "TILED_FROM", 0)
    return whole, predictor.predict_ints(history, tile=tile)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.name)
@pytest.mark.parametrize("height, width, frames, tile", [(203, 117, 5, 32), (41, 37, 1, 8)])
def test_tiles_give_the_whole_frames_integers(model, height, width, frames, tile, monkeypatch):
    whole, tiled = _whole_and_tiled(model(), _history(height, width, frames, height), tile, monkeypatch)
    for a, b, dtype in zip(whole, tiled, integer.PLANE_TYPES, strict=True):
        assert a.dtype == b.dtype == dtype and np.array_equal(a, b)


def test_frames_above_256x256_are_predicted_in_tiles_on_the_cpu(monkeypatch):
    """Whole, a frame's forward pass holds about 600 bytes a pixel: a typical GIF's 480x270 frame
    is tiled on the CPU (its window's activations bounded by a tile's), a 256x256 one is not; a
    GPU keeps whole frames up to half a megapixel."""
    predictor = integer.ConvLSTMHybridIntPredictor()
    tiled = []
    run_tiles = predictor._predict_tiles
    monkeypatch.setattr(predictor, "_predict_tiles", lambda *a: tiled.append(a[1]) or run_tiles(*a))
    predictor.predict_ints(_history(256, 256, 2, 5))
    assert not tiled
    predictor.predict_ints(_history(256, 260, 2, 5))
    assert len(tiled) == 1
    assert tiling.tiled_from("cpu") == 1 << 16 and tiling.tiled_from("cuda:0") == 1 << 19


def test_tiled_frames_keep_nothing_in_the_step_memo(monkeypatch):
    """The numpy backend's step memo finds a step again only in the next pass, and in tiles the
    next pass is another tile's: it holds nothing then (it held up to 32 MB of tiles' steps that
    were never found), and a frame predicted whole after them still finds its steps."""
    predictor = integer.ConvLSTMHybridIntPredictor()
    memo = predictor.net.memo
    history = _history(96, 80, 5, 3)
    monkeypatch.setattr(tiling, "TILED_FROM", 0)
    for n in range(1, 6):
        predictor.predict_ints(history[:n], tile=32)
        assert memo.held_bytes == 0 and memo.hits == 0
    monkeypatch.setattr(tiling, "TILED_FROM", 1 << 40)
    predictor.predict_ints(history[:4])
    predictor.predict_ints(history[:5])
    assert memo.held_bytes > 0 and memo.hits > 0


@pytest.mark.parametrize(
    "model, reach", [(integer.ConvLSTMHybridIntPredictor, 4), (integer.Conv2DIntPredictor, 0)]
)
def test_a_halo_below_the_reach_would_change_them(model, reach, monkeypatch):
    """The comparison above can fail: with a halo below the reach (4 for 13, 0 for 3) the tiles'
    edges show."""
    predictor = model()
    predictor.net.arch = dataclasses.replace(predictor.net.arch, reach=reach)
    whole, tiled = _whole_and_tiled(predictor, _history(203, 117, 5, 7), 32, monkeypatch)
    assert not all(np.array_equal(a, b) for a, b in zip(whole, tiled, strict=True))


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.name)
@pytest.mark.parametrize("rows, cols", [((5, 23), (9, 30)), ((0, 41), (33, 37)), ((38, 41), (0, 2))])
def test_a_region_predicted_alone_gives_the_whole_frames_integers_there(model, rows, cols):
    """What the decoder asks for a frame whose other pixels are copied: the region's tile, its
    corners off the grid moved out to it, gives the whole frame's integers inside the region."""
    predictor = model()
    history = _history(41, 37, 5, 11)
    whole = predictor.predict_ints(history)
    region = (slice(*rows), slice(*cols))
    alone = predictor.predict_region(history, region)
    for a, b in zip(whole, (alone.mean_q, alone.scale_idx, alone.coupling_q), strict=True):
        assert np.array_equal(a[(slice(None), *region)], b[(slice(None), *region)])


def test_a_region_tile_is_aligned_and_inside_the_frame():
    t = tiling.region_tile(41, 37, 4, slice(5, 23), slice(9, 30))
    assert t.frame == (slice(4, 24), slice(8, 32)) and t.window == (slice(0, 28), slice(4, 36))
    assert t.inside == (slice(4, 24), slice(4, 28))
    assert tiling.region_tile(41, 37, 4, slice(38, 41), slice(0, 2)).frame == (slice(36, 41), slice(0, 4))
    with pytest.raises(ValueError, match="not inside"):
        tiling.region_tile(41, 37, 4, slice(41, 45), slice(0, 2))
