"""Raster frames in substreams (format version 14): runs of tile rows, each in a range coder of its
own, decoded side by side; the same planes whichever way and on any thread count."""

from __future__ import annotations

import io
import struct

import numba
import numpy as np
import pytest
from conftest import assert_planar_fixture_decodes, planar_payloads

from fpcodec.bitstream.errors import FormatError
from fpcodec.bitstream.profile import CURRENT, FormatProfile
from fpcodec.codec import raster_rule
from fpcodec.codec.modes import planar
from fpcodec.codec.pipeline import Decoder

TILE_H = raster_rule.TILE_H


@pytest.mark.parametrize("runs", [1, 2, 3, 8])
def test_substream_rows_are_whole_tile_rows_about_as_many_each(runs: int) -> None:
    """The bounds start at 0 and end at the plane's height, rise, fall on tile rows, and each
    lies within half a tile row of its share (p height / runs), unless clamped to the height."""
    for height in (1, 24, 31, 32, 33, 48, 72, 120, 144, 240, 272, 480, 1080, 2965):
        bounds = raster_rule.substream_rows(height, runs)
        assert len(bounds) == runs + 1 and bounds[0] == 0 and bounds[-1] == height
        assert all(a <= b for a, b in zip(bounds[:-1], bounds[1:], strict=True))
        for p, bound in enumerate(bounds[1:-1], start=1):
            assert bound % TILE_H == 0 or bound == height
            assert abs(bound - p * height / runs) <= TILE_H / 2 or bound == height


def test_tiled_runs_are_the_whole_planes_schedule_cut_by_rows() -> None:
    """Raster inter: each run's schedule is the whole plane's restricted to its rows, in the
    same order and with the same neighbours (runs are whole tile rows, so the tiles' edges are
    the same); the runs together hold every sample once."""
    height, width = 144, 176
    order, neighbours, starts = raster_rule.flat_wavefronts(height, width, raster_rule.TILED)
    front = np.repeat(np.arange(starts.size - 1), np.diff(starts))
    run_order, run_neighbours, run_starts, run_fronts = raster_rule.run_schedule(
        height, width, raster_rule.TILED, 2
    )
    bounds = raster_rule.substream_rows(height, 2)
    for p, (first, end) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        s0, s1 = run_starts[run_fronts[p]], run_starts[run_fronts[p + 1]]
        keep = (order // width >= first) & (order // width < end)
        np.testing.assert_array_equal(run_order[s0:s1], order[keep])
        np.testing.assert_array_equal(run_neighbours[:, s0:s1], neighbours[:, keep])
        # wavefront by wavefront: the same samples as the whole plane's wavefronts, none empty
        fronts = run_starts[run_fronts[p] : run_fronts[p + 1] + 1] - s0
        assert np.all(np.diff(fronts) > 0)
        run_front = np.repeat(np.arange(fronts.size - 1), np.diff(fronts))
        np.testing.assert_array_equal(np.unique(front[keep], return_inverse=True)[1], run_front)
    assert np.array_equal(np.sort(run_order), np.arange(height * width))


def test_untiled_runs_are_planes_of_their_own() -> None:
    """Raster intra: a run is scheduled as a plane of its own rows: the second run's first
    sample has no neighbours and its first row only left ones, as a plane's first row."""
    height, width = 100, 40
    order, neighbours, starts, run_fronts = raster_rule.run_schedule(height, width, raster_rule.WHOLE, 2)
    first = raster_rule.substream_rows(height, 2)[1]
    # w + 2 h - 2 wavefronts a run (x + 2 y = 0 .. w - 1 + 2 (h - 1))
    assert first == 64 and run_fronts.tolist() == [0, 40 + 2 * 64 - 2, (40 + 2 * 64 - 2) + (40 + 2 * 36 - 2)]
    sub_order, sub_neighbours, sub_starts = raster_rule.flat_wavefronts(height - first, width)
    s0 = starts[run_fronts[1]]
    np.testing.assert_array_equal(order[s0:], sub_order + first * width)
    np.testing.assert_array_equal(
        neighbours[:, s0:], np.where(sub_neighbours >= 0, sub_neighbours + first * width, sub_neighbours)
    )
    np.testing.assert_array_equal(starts[run_fronts[1] :] - s0, sub_starts)
    assert order[s0] == first * width and np.all(neighbours[:, s0] < 0)
    assert np.array_equal(np.sort(order), np.arange(height * width))


@pytest.fixture
def runs_forced(monkeypatch):
    """Sets the encoder's substream count for every raster frame, however small."""

    def force(runs: int) -> None:
        monkeypatch.setattr(planar, "SUBSTREAMS", runs)
        monkeypatch.setattr(planar, "SUBSTREAM_SAMPLES", 0)
        monkeypatch.setattr(planar, "INTRA_SUBSTREAM_SAMPLES", 0)

    return force


@pytest.mark.parametrize("runs", [1, 2, 3])
def test_substreams_decode_the_same_compiled_and_not(runs_forced, runs: int) -> None:
    """bikes (64x48: luma in two tile rows, chroma in one, so some runs are empty) with every
    raster frame in ``runs`` substreams: the kind word says so, and every frame, raster intra
    and inter, decodes to its planes by the compiled kernel (runs on threads) and by the
    Python steps."""
    runs_forced(runs)
    frames, geometry = planar_payloads("bikes_yuv420p_64x48.mkv")
    kinds = set()
    for planes, payload, references in frames:
        (word,) = struct.unpack_from("<I", payload)
        kind = word & 0xFF
        assert word >> 8 & 0xFF == (runs - 1 if kind in (planar.KIND_RASTER, planar.KIND_RASTER_INTER) else 0)
        kinds.add(kind)
        for compiled in (False, True):
            got = planar.decode(payload, references, geometry, compiled=compiled)
            for g, p in zip(got, planes, strict=True):
                np.testing.assert_array_equal(g, p)
    assert {planar.KIND_RASTER, planar.KIND_RASTER_INTER} <= kinds


def test_substreams_decode_alike_on_one_thread_and_more(runs_forced) -> None:
    """One thread (the runs one after another through the one-coder kernel) and every core
    (side by side, the runs kernel): the same planes."""
    runs_forced(2)
    frames, geometry = planar_payloads("bikes_yuv420p_64x48.mkv")
    before = numba.get_num_threads()
    try:
        for threads in sorted({1, before}):
            numba.set_num_threads(threads)
            for planes, payload, references in frames:
                for g, p in zip(planar.decode(payload, references, geometry), planes, strict=True):
                    np.testing.assert_array_equal(g, p)
    finally:
        numba.set_num_threads(before)


def test_substreams_encode_alike_on_one_thread_and_more(runs_forced) -> None:
    """The runs' coders on one thread (one after another) and on every core (side by side,
    ``threads.side_by_side``): the same payloads; three runs share two threads unevenly."""
    runs_forced(3)
    payloads = {}
    before = numba.get_num_threads()
    try:
        for threads in sorted({1, before}):
            numba.set_num_threads(threads)
            payloads[threads] = [p for _, p, _ in planar_payloads("bikes_yuv420p_64x48.mkv")[0]]
    finally:
        numba.set_num_threads(before)
    assert payloads[1] == payloads[before]
    assert any(struct.unpack_from("<I", p)[0] >> 8 & 0xFF == 2 for p in payloads[1])  # raster, 3 runs


def test_the_coders_calls_give_the_words_of_one(monkeypatch) -> None:
    """A run's wavefronts coded in calls of a few samples (``planar.CODE_SAMPLES``: here 7, so
    that a call is often one wavefront longer than that) give the payloads of one call a run."""
    whole = [p for _, p, _ in planar_payloads("bikes_yuv420p_64x48.mkv")[0]]
    monkeypatch.setattr(planar, "CODE_SAMPLES", 7)
    assert [p for _, p, _ in planar_payloads("bikes_yuv420p_64x48.mkv")[0]] == whole
    assert any(
        struct.unpack_from("<I", p)[0] & 0xFF in (planar.KIND_RASTER, planar.KIND_RASTER_INTER) for p in whole
    )


def test_large_frames_get_two_substreams_small_ones_one() -> None:
    """The encoder's choice: SUBSTREAMS from SUBSTREAM_SAMPLES luma samples (raster intra:
    INTRA_SUBSTREAM_SAMPLES) and more than a tile row on."""
    assert planar.substreams(240, 320) == planar.SUBSTREAMS == 2
    assert planar.substreams(144, 176) == 1
    assert planar.substreams(TILE_H, 4096) == 1
    assert planar.substreams(240, 320, intra=True) == 1
    assert planar.substreams(272, 640, intra=True) == 2


@pytest.mark.parametrize("depth", [8, 10])
def test_large_raster_frames_are_coded_in_two_substreams(monkeypatch, depth: int) -> None:
    """A 192x176 luma plane, then the same moving by a few samples: coded as raster intra and
    raster inter, each in two substreams (the kind word's bits 8-15), decoded exactly (10 bits:
    the deeper samples' path, wavefront by wavefront)."""
    monkeypatch.setattr(planar, "INTRA_SUBSTREAM_SAMPLES", planar.SUBSTREAM_SAMPLES)  # a smaller test
    rng = np.random.default_rng(3)
    geometry = [planar.PlaneGeometry(192, 176, depth=depth)]
    top = (1 << depth) - 1
    scene = rng.integers(0, top + 1, (200, 200))
    scene = (scene + np.roll(scene, 1, 0) + np.roll(scene, 1, 1)) // 3  # smoother, 0..top
    dtype = np.uint8 if depth == 8 else np.uint16
    first, second = [scene[:192, :176].astype(dtype)], [scene[2:194, 3:179].astype(dtype)]
    key = planar.encode(planar.estimate(first, [], geometry))
    assert struct.unpack_from("<I", key)[0] == planar.KIND_RASTER | 1 << 8
    np.testing.assert_array_equal(planar.decode(key, [], geometry)[0], first[0])
    payload = planar.encode(planar.estimate(second, [first], geometry))
    word = struct.unpack_from("<I", payload)[0]  # either field block size (version 18)
    assert word & ~planar.LARGE_BLOCKS_BIT == planar.KIND_RASTER_INTER | 1 << 8
    np.testing.assert_array_equal(planar.decode(payload, [first], geometry)[0], second[0])


@pytest.mark.parametrize(
    ("words", "message"),
    [
        ([8 << 8 | planar.KIND_RASTER_INTER], "0x803: 9 substreams"),
        ([1 << 8 | planar.KIND_INTER, 0], "0x101: 2 substreams"),
        ([1 << 8 | planar.KIND_INTRA, 0], "0x100: 2 substreams"),
        ([2 << 8 | planar.KIND_RASTER_INTER, 1], "3 substreams' word counts"),
        ([1 << 8 | planar.KIND_RASTER_INTER, 7, 1, 2], "substreams of 7 words before the last, in 2 words"),
    ],
)
def test_bad_substream_words_are_refused(words: list[int], message: str) -> None:
    """More than 8 substreams, substreams in a frame of another kind, word counts cut short or
    beyond the payload: a FormatError that quotes the value."""
    payload = struct.pack(f"<{len(words)}I", *words)
    references = [[np.zeros((48, 64), np.uint8)]]
    with pytest.raises(FormatError, match=message):
        planar.decode(payload, references, [planar.PlaneGeometry(48, 64)])


def test_substreams_are_refused_before_version_14() -> None:
    """A version-13 raster inter frame's kind word is the kind alone."""
    payload = struct.pack("<3I", 1 << 8 | planar.KIND_RASTER_INTER, 0, 0)
    with pytest.raises(FormatError, match="2 substreams"):
        planar.decode(
            payload, [[np.zeros((48, 64), np.uint8)]], [planar.PlaneGeometry(48, 64)], substreams=False
        )


def test_version_13_planar_stream_still_decodes() -> None:
    """tests/data/v13_planar.fpc: the version-13 encoder (commit 4653181, `last-frame`) on
    bikes_yuv420p_64x48.mkv, with raster inter frames in one range coder: decoded sample for
    sample; read as version 14 it decodes the same (a frame in one substream is coded as in
    version 13)."""
    data = assert_planar_fixture_decodes("v13_planar.fpc", 13, "bikes_yuv420p_64x48.mkv")
    assert CURRENT.substreams and not FormatProfile.for_version(13).substreams
    kinds = {
        struct.unpack_from("<I", r.payload)[0] for r in Decoder(io.BytesIO(data), load_model=False).records()
    }
    assert planar.KIND_RASTER_INTER in kinds
    relabelled = data[:8] + (14).to_bytes(2, "little") + data[10:]
    for a, b in zip(
        Decoder(io.BytesIO(relabelled)).frames(), Decoder(io.BytesIO(data)).frames(), strict=True
    ):
        for x, y in zip(a.planes, b.planes, strict=True):
            np.testing.assert_array_equal(x, y)


def test_info_names_the_substreams() -> None:
    """``fpcodec info``'s mode column: a raster inter frame in two substreams is planar/rp/2."""
    from types import SimpleNamespace

    from fpcodec.codec import cli

    def name(word: int) -> str:
        return cli._mode_name(SimpleNamespace(mode=6, payload=struct.pack("<I", word)), {6: "planar"})

    assert name(planar.KIND_RASTER_INTER | 1 << 8) == "planar/rp/2"
    assert name(planar.KIND_RASTER_INTER) == "planar/rp" and name(planar.KIND_RASTER) == "planar/ri"
