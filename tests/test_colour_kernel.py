"""The compiled look-up of a frame's distinct colours (``codec/colour_kernel.py``) against
``np.unique``: the same sorted keys and per-pixel indices, the same refusal above the limit."""

from __future__ import annotations

import numpy as np
import pytest

from fpcodec.bitstream.palette import pack_colours, unpack_colours
from fpcodec.codec import anim_writers, colour_kernel
from fpcodec.codec import palette_coding as pc


def _unique(flat: np.ndarray, limit: int):
    keys, inverse = np.unique(pack_colours(flat), return_inverse=True)
    if keys.size > limit:
        return None
    return keys, inverse.ravel()


def _frames():
    rng = np.random.default_rng(7)
    few = rng.integers(0, 256, (5, 3), dtype=np.uint8)
    dithered = rng.integers(0, 256, (300, 4), dtype=np.uint8)
    runs = np.repeat(few[rng.integers(0, 5, 60)], rng.integers(1, 40, 60), axis=0)  # runs of one colour
    grid = np.stack(np.meshgrid(np.arange(64), np.arange(64), indexing="ij"), -1).reshape(-1, 2)
    return {
        "empty": np.zeros((0, 3), np.uint8),
        "one pixel": np.array([[255, 255, 255]], np.uint8),
        "few colours": few[rng.integers(0, 5, 9216)],
        "runs": runs,
        "rgba, 300 colours": dithered[rng.integers(0, 300, 20000)],
        # 4096 colours whose keys differ in their low bits only: neighbours in the hash table
        "4096 close keys": np.concatenate([np.zeros((4096, 1), np.uint8), grid.astype(np.uint8)], 1),
        "all values": rng.integers(0, 256, (50000, 3), dtype=np.uint8),
    }


@pytest.mark.parametrize("name", list(_frames()))
@pytest.mark.parametrize("limit", [1, 5, 255, 256, 4096])
def test_indexed_colours_are_np_uniques(name: str, limit: int) -> None:
    flat = _frames()[name]
    got, expected = colour_kernel.indexed_colours(flat, limit), _unique(flat, limit)
    if expected is None:
        assert got is None and colour_kernel.distinct_count(flat, limit) is None
        return
    keys, index = got
    assert keys.dtype == np.int64 and np.array_equal(keys, expected[0])
    assert index.dtype == (np.uint8 if keys.size <= 256 else np.int32)
    assert np.array_equal(index, expected[1])
    assert colour_kernel.distinct_count(flat, limit) == keys.size


def test_indices_of_a_strided_view_and_of_many_blocks(monkeypatch) -> None:
    monkeypatch.setattr(colour_kernel, "_BLOCK", 1000)
    frame = _frames()["rgba, 300 colours"]
    view = frame[:, :3]  # not contiguous: the GIF writer passes such views
    keys, index = colour_kernel.indexed_colours(view, 4096)
    expected = _unique(np.ascontiguousarray(view), 4096)
    assert np.array_equal(keys, expected[0]) and np.array_equal(index, expected[1])


def test_extract_palette_is_the_sorted_colours_and_their_indices() -> None:
    rng = np.random.default_rng(3)
    frame = rng.integers(0, 256, (200, 3), dtype=np.uint8)[rng.integers(0, 200, (96, 96))]
    palette, index = pc.extract_palette(frame)
    keys, inverse = np.unique(pack_colours(frame.reshape(-1, 3)), return_inverse=True)
    assert np.array_equal(palette, unpack_colours(keys, 3)) and index.dtype == np.int32
    assert np.array_equal(index, inverse.ravel())
    assert pc.extract_palette(_frames()["all values"].reshape(250, 200, 3)) is None  # > 256 colours


@pytest.mark.parametrize("limit", [0, 1, 299, 300])
def test_more_colours_than(limit: int) -> None:
    frame = _frames()["rgba, 300 colours"].reshape(100, 200, 4)
    distinct = anim_writers.colour_count(frame)
    assert distinct == 300
    assert anim_writers.more_colours_than(frame, limit) == (distinct > limit)


def test_colours_wider_than_a_key_are_refused() -> None:
    with pytest.raises(ValueError, match="C <= 7"):
        colour_kernel.indexed_colours(np.zeros((4, 8), np.uint8), 256)
