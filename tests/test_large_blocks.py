"""Format version 18: an inter frame's motion field may have 16x16 blocks instead of 8x8.

On grainy natural video a field of 8x8 blocks costs an eighth of the stream, and half the noise it
follows is not motion; on sharp content the smaller blocks predict far better. The encoder
estimates raster inter with both fields (``modes.planar._block_sizes``, the probe leaving out a
size that keeps losing) and sets bit 17 of the kind word for the larger.
"""

from __future__ import annotations

import struct

import numpy as np
import pytest
from conftest import planar_payloads

from fpcodec.bitstream.errors import FormatError
from fpcodec.codec import motion, planar_probe
from fpcodec.codec.modes import planar


def _grainy_pan(frames: int = 4, h: int = 64, w: int = 96) -> list[list[np.ndarray]]:
    """A smooth texture panning by whole samples under strong independent grain: 8x8 blocks'
    vectors follow the grain, 16x16 blocks' the pan."""
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0 : h + 32, 0 : w + 32]
    scene = 128 + 50 * np.sin(yy / 9.0) * np.cos(xx / 13.0)
    out = []
    for t in range(frames):
        plane = scene[8 + t : 8 + t + h, 8 + 2 * t : 8 + 2 * t + w] + rng.normal(0, 9, (h, w))
        out.append([np.clip(np.round(plane), 0, 255).astype(np.uint8)])
    return out


def _estimate_with(monkeypatch, sizes: list[int], planes, references, geometry) -> planar.PlanarCandidate:
    monkeypatch.setattr(planar, "_block_sizes", lambda probe: sizes)
    return planar.estimate(planes, references, geometry)


def test_the_encoder_codes_the_cheaper_field_and_both_decode(monkeypatch) -> None:
    frames = _grainy_pan()
    geometry = [planar.PlaneGeometry(64, 96)]
    planes, references = frames[2], [frames[1], frames[0]]
    small = _estimate_with(monkeypatch, [motion.BLOCK], planes, references, geometry)
    large = _estimate_with(monkeypatch, [motion.LARGE_BLOCK], planes, references, geometry)
    both = _estimate_with(monkeypatch, [motion.BLOCK, motion.LARGE_BLOCK], planes, references, geometry)
    assert (small.block, large.block) == (motion.BLOCK, motion.LARGE_BLOCK)
    assert large.bits < small.bits  # the grain: the larger blocks' field is cheaper in all
    assert both.bits == min(small.bits, large.bits) and both.block == motion.LARGE_BLOCK
    for candidate in (small, large):
        payload = planar.encode(candidate)
        word = struct.unpack_from("<I", payload)[0]
        assert bool(word & planar.LARGE_BLOCKS_BIT) == (candidate.block == motion.LARGE_BLOCK)
        for compiled in (True, False):
            got = planar.decode(payload, references, geometry, compiled=compiled)
            np.testing.assert_array_equal(got[0], planes[0])


def test_the_8x8_search_runs_only_where_its_size_is_estimated(monkeypatch) -> None:
    """The 16x16 field is searched on every inter frame (the 8x8 field merges from it; a second
    time where an MPEG interpolation rule reads the references, version 20), the 8x8 one only
    where raster inter with it is estimated."""
    frames = _grainy_pan()
    geometry = [planar.PlaneGeometry(64, 96)]
    searched: list[int] = []
    search = planar._field_search

    def recording(luma, references, halves, block):
        searched.append(block)
        return search(luma, references, halves, block)

    monkeypatch.setattr(planar, "_field_search", recording)
    for sizes, want in (([motion.LARGE_BLOCK], [16]), ([motion.BLOCK], [16, 8]), ([8, 16], [16, 8])):
        searched.clear()
        candidate = _estimate_with(monkeypatch, sizes, frames[2], [frames[1], frames[0]], geometry)
        again = [16] if candidate.interpolation != motion.H264 else []
        assert searched == want[:1] + again + want[1:] and candidate.block in sizes


def test_16x16_blocks_are_refused_before_version_18_and_in_intra_frames(monkeypatch) -> None:
    frames = _grainy_pan()
    geometry = [planar.PlaneGeometry(64, 96)]
    large = _estimate_with(monkeypatch, [motion.LARGE_BLOCK], frames[1], [frames[0]], geometry)
    payload = planar.encode(large)
    assert planar.decode(payload, [frames[0]], geometry)[0].shape == (64, 96)
    with pytest.raises(FormatError, match="16x16 motion blocks"):
        planar.decode(payload, [frames[0]], geometry, large_blocks=False)  # a version-17 stream
    intra = planar.encode(planar.estimate(frames[0], [], geometry))
    word = struct.unpack_from("<I", intra)[0] | planar.LARGE_BLOCKS_BIT
    with pytest.raises(FormatError, match="16x16 motion blocks"):
        planar.decode(struct.pack("<I", word) + intra[4:], [], geometry)


def test_a_real_clip_mixes_both_sizes_and_decodes_compiled_and_not() -> None:
    """bikes (64x48) as the encoder codes it: frames of either field size, every one decoded by
    the compiled kernels and by the Python steps to its planes."""
    frames, geometry = planar_payloads("bikes_yuv420p_64x48.mkv")
    sizes = set()
    for planes, payload, references in frames:
        word = struct.unpack_from("<I", payload)[0]
        if word & 0xFF in (planar.KIND_INTER, planar.KIND_RASTER_INTER):
            sizes.add(bool(word & planar.LARGE_BLOCKS_BIT))
        for compiled in (True, False):
            for got, want in zip(
                planar.decode(payload, references, geometry, compiled=compiled), planes, strict=True
            ):
                np.testing.assert_array_equal(got, want)
    assert sizes == {False, True}


def test_the_probe_leaves_out_a_size_that_keeps_losing() -> None:
    probe = planar_probe.PlanarProbe()
    assert planar._block_sizes(probe) == [motion.BLOCK, motion.LARGE_BLOCK]  # nothing known yet
    probe.update(planar_probe.SMALL_BLOCKS, 110.0, 100.0, 5.0)  # 8x8 lost by 10 %
    probe.update(planar_probe.LARGE_BLOCKS, 100.0, 100.0, 5.0)
    assert planar._block_sizes(probe) == [motion.LARGE_BLOCK]
    for _ in range(planar_probe.PROBE - 2):
        probe.update(planar_probe.SMALL_BLOCKS, None, 100.0, 5.0)
        probe.update(planar_probe.LARGE_BLOCKS, 100.0, 100.0, 5.0)
        assert planar._block_sizes(probe) == [motion.LARGE_BLOCK]
    probe.update(planar_probe.SMALL_BLOCKS, None, 100.0, 5.0)
    assert planar._block_sizes(probe) == [motion.BLOCK, motion.LARGE_BLOCK]  # the PROBE-th frame
    probe.update(planar_probe.SMALL_BLOCKS, 101.0, 100.0, 5.0)  # within the margin: both stay
    assert planar._block_sizes(probe) == [motion.BLOCK, motion.LARGE_BLOCK]


def test_a_merged_field_takes_a_16x16_vector_where_it_costs_no_more_than_its_four() -> None:
    """The encoder's 8x8 field (``modes.planar._merged``) takes the 16x16 search's vector and
    reference for the four blocks of a 16x16 block whose cost is at most 1 + MERGE_SLACK times
    theirs, and keeps its own elsewhere; a 16x16 block past the last 8x8 row or column compares
    with the blocks it has (a field of 3 x 3 blocks here)."""
    small = planar._Field(
        np.arange(9, dtype=np.int32).reshape(3, 3),
        -np.arange(9, dtype=np.int32).reshape(3, 3),
        np.zeros((3, 3), np.int64),
        np.full((3, 3), 100, np.int64),
    )
    slack = 1 + planar.MERGE_SLACK
    large = planar._Field(
        np.array([[40, 41], [42, 43]], np.int32),
        np.array([[50, 51], [52, 53]], np.int32),
        np.array([[1, 2], [1, 2]], np.int64),
        np.array([[int(400 * slack), int(400 * slack) + 1], [200, 99]], np.int64),
    )
    vy, vx, pick = planar._merged(small, large)
    # 16x16 costs against their blocks': 440 <= 1.1 x 400, 441 > 1.1 x 200, 200 <= 1.1 x 200, 99 <= 1.1 x 100
    np.testing.assert_array_equal(vy, [[40, 40, 2], [40, 40, 5], [42, 42, 43]])
    np.testing.assert_array_equal(vx, [[50, 50, -2], [50, 50, -5], [52, 52, 53]])
    np.testing.assert_array_equal(pick, [[1, 1, 0], [1, 1, 0], [1, 1, 2]])
