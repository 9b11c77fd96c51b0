"""The coding modes' shared contract, the frame coder's choice among their candidates, and the
format profile that replaces per-version flags."""

from __future__ import annotations

import io

import numpy as np
import pytest

from fpcodec.bitstream import container
from fpcodec.bitstream.errors import FormatError, UnsupportedVersionError
from fpcodec.bitstream.profile import CURRENT, SUPPORTED_VERSIONS, FormatProfile
from fpcodec.codec import frame_coding as fc
from fpcodec.codec import palette_coding as pc
from fpcodec.codec import pipeline
from fpcodec.codec.modes import palette, palette_update, rgb_inter, rgb_intra
from fpcodec.codec.modes.base import CodedFrame, DecodeContext, FrameToCode
from fpcodec.models.base import Prediction


def test_profiles_follow_the_format_versions() -> None:
    rules = {v: FormatProfile.for_version(v) for v in SUPPORTED_VERSIONS}
    assert (
        SUPPORTED_VERSIONS
        == container.SUPPORTED_VERSIONS
        == (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21)
    )
    assert CURRENT is rules[container.VERSION]
    assert [p.palette_frames for p in rules.values()][:6] == [False, True, True, True, True, True]
    assert [p.integer_tables for p in rules.values()][:6] == [False, False, True, True, True, True]
    assert [p.context_counts for p in rules.values()][:6] == [False, False, True, True, True, True]
    assert [p.palette_update for p in rules.values()][:6] == [False, False, True, True, True, True]
    assert [p.integer_coupling for p in rules.values()][:6] == [False, False, False, True, True, True]
    assert [p.interlaced_palette_inter for p in rules.values()][:6] == [
        False,
        False,
        False,
        False,
        True,
        True,
    ]
    assert [p.stored_mode for p in rules.values()] == [False] * 5 + [True] * 16
    assert [p.key_frames for p in rules.values()] == [False] * 5 + [True] * 16
    assert [p.planar_frames for p in rules.values()] == [False] * 6 + [True] * 15
    assert [p.repeat_context for p in rules.values()] == [False] * 7 + [True] * 14
    assert [p.copied_blocks for p in rules.values()] == [False] * 8 + [True] * 13
    assert [p.row_schedule for p in rules.values()] == [False] * 9 + [True] * 12
    assert [p.compact_framing for p in rules.values()] == [False] * 10 + [True] * 11
    assert [p.error_levels for p in rules.values()] == [False] * 11 + [True] * 10
    assert [p.refinement for p in rules.values()] == [False] * 12 + [True] * 9
    assert [p.substreams for p in rules.values()] == [False] * 13 + [True] * 8
    assert [p.lz_frames for p in rules.values()] == [False] * 14 + [True] * 7
    assert [p.rgb_planes for p in rules.values()] == [False] * 15 + [True] * 6
    assert [p.deep_samples for p in rules.values()] == [False] * 16 + [True] * 5
    assert [p.more_formats for p in rules.values()] == [False] * 17 + [True] * 4
    assert [p.jpeg_planes for p in rules.values()] == [False] * 18 + [True] * 3
    assert [p.interpolations for p in rules.values()] == [False] * 19 + [True] * 2
    assert [p.palette_steps for p in rules.values()] == [False] * 20 + [True]
    for field in ("palette_frames", "integer_tables", "context_counts", "palette_update", "integer_coupling"):
        assert getattr(rules[7], field)
    assert rules[7].interlaced_palette_inter
    for bad in (0, max(SUPPORTED_VERSIONS) + 1):
        with pytest.raises(UnsupportedVersionError, match=f"version {bad} "):
            FormatProfile.for_version(bad)


def _frames(colours: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two 24x20 RGB frames of ``colours`` colours, the second a few pixels changed."""
    rng = np.random.default_rng(seed)
    table = rng.integers(0, 256, (colours, 3)).astype(np.uint8)
    first = table[rng.integers(0, colours, (24, 20))]
    second = first.copy()
    second[5:9, 3:11] = table[rng.integers(0, colours, (4, 8))]
    return first, second


def _prediction(previous: np.ndarray) -> Prediction:
    mean = np.moveaxis(previous, -1, 0).astype(np.float32)
    return Prediction(mean=mean, scale=np.full(mean.shape, 2.0, np.float32))


def _round_trip(cand, frame: np.ndarray, pred, previous, encode, decode) -> None:
    """The contract: the candidate's payload decodes to the frame, at about its estimated cost."""
    coded = CodedFrame(
        cand.mode, cand.scale_shift, encode(cand), getattr(cand, "mix", 0), getattr(cand, "palette", None)
    )
    h, w, c = frame.shape
    back = decode(coded, DecodeContext(pred, previous, h, w, c))
    assert back.shape == frame.shape and np.array_equal(back, frame)
    assert 8 * len(coded.payload) <= 1.1 * cand.bits + 96


def _round_trip_palette(cands, frame: np.ndarray, pred: Prediction, previous: np.ndarray) -> None:
    """Code and decode each palette candidate in turn (inter ones with ``pred``)."""
    for cand in cands:
        inter = cand.mode == fc.MODE_PALETTE_INTER
        _round_trip(cand, frame, pred if inter else None, previous, palette.encode, palette.decode)


def test_every_mode_keeps_the_contract() -> None:
    first, second = _frames(40)
    pred = _prediction(first)
    fr = FrameToCode.of(second)
    intra = rgb_intra.estimate(fr)
    inter = rgb_inter.estimate(fr, pred)
    assert (intra.mode, inter.mode) == (fc.MODE_INTRA, fc.MODE_INTER)
    _round_trip(intra, second, None, None, rgb_intra.encode, rgb_intra.decode)
    _round_trip(inter, second, pred, first, rgb_inter.encode, rgb_inter.decode)
    cands = palette.estimate(
        fr, pc.extract_palette(second), pred, first, None, intra.scale_shift, inter.scale_shift
    )
    assert [c.mode for c in cands] == [fc.MODE_PALETTE_INTRA, fc.MODE_PALETTE_INTER]
    _round_trip_palette(cands, second, pred, first)
    busy_first, busy_second = _frames(400, seed=1)
    busy_pred = _prediction(busy_first)
    update = palette_update.estimate(
        FrameToCode.of(busy_second),
        palette_update.update_palette(busy_second, busy_first),
        busy_pred,
        busy_first,
        None,
        rgb_inter.estimate(FrameToCode.of(busy_second), busy_pred).scale_shift,
    )
    assert update is not None and update.mode == fc.MODE_PALETTE_UPDATE
    _round_trip(update, busy_second, busy_pred, busy_first, palette_update.encode, palette_update.decode)


def test_palette_inter_and_intra_count_the_previous_frame_once_per_schedule(monkeypatch) -> None:
    """Both start from the previous frame's context counts in the same passes (version 5 on): they
    are counted once per schedule, and each candidate gets its own copy, so that coding one (which
    adds its pixels' counts) leaves the other's as the decoder will start them."""
    first, second = _frames(40, seed=3)
    pred = _prediction(first)
    calls = []
    counted = palette.pretrained_counts
    monkeypatch.setattr(palette, "pretrained_counts", lambda *a: calls.append(a) or counted(*a))
    cands = palette.estimate(FrameToCode.of(second), pc.extract_palette(second), pred, first, None, 0, 0)
    assert len(calls) == len(palette.SCHEDULES) and cands[0].counts is not cands[1].counts
    _round_trip_palette(cands, second, pred, first)  # one after the other, each from its own counts


def test_a_palette_candidate_is_coded_once() -> None:
    """Coding grows the candidate's counts and mixes its cached rows in place: a second payload
    would be made from other counts and rows, so asking for one raises instead."""
    first, second = _frames(40, seed=3)
    pred = _prediction(first)
    for cand in palette.estimate(FrameToCode.of(second), pc.extract_palette(second), pred, first, None, 0, 0):
        assert cand.cached is not None  # a small frame's model rows are kept for the coder
        _round_trip_palette([cand], second, pred, first)
        with pytest.raises(RuntimeError, match="coded twice"):
            palette.encode(cand)


def test_kept_passes_are_coded_from_the_tables_their_estimate_counted_against(monkeypatch) -> None:
    """A small frame's candidates keep, per pass, the context tables as the estimate looked its
    pixels up in them (``KeptPass.tables``; in one schedule palette intra and inter share them,
    as they share the counting); coded from those, without counting the pixels again, one after the other,
    each payload is the one coded from the candidate's own counts."""
    first, second = _frames(40, seed=3)
    pred = _prediction(first)
    args = (FrameToCode.of(second), pc.extract_palette(second), pred, first, None, 0, 0)
    kept = palette.estimate(*args)
    assert len(kept) == 2 and all(any(p.tables is not None for p in c.kept) for c in kept)
    monkeypatch.setattr(palette, "KEEP_PASSES", False)
    alone = palette.estimate(*args)
    assert all(c.kept is None for c in alone)
    for with_tables, counted in zip(kept, alone, strict=True):
        assert with_tables.mode == counted.mode and with_tables.mix == counted.mix
        assert palette.encode(with_tables) == palette.encode(counted)


def test_a_frames_copy_choices_share_the_previous_frames_counts(monkeypatch) -> None:
    """Every choice of copied blocks starts from the same previous frame's counts: the frame
    counts them once per pass schedule, not once per choice, and codes the same bytes as when
    each choice counts its own."""
    from fpcodec.codec import copied_blocks

    first, second = _frames(40, seed=3)
    pred = _prediction(first)
    choices = copied_blocks.choices(second, first)
    monkeypatch.setattr(copied_blocks, "choices", lambda frame, previous: choices + [None])  # one more
    calls = []
    counted = palette.pretrained_counts
    monkeypatch.setattr(palette, "pretrained_counts", lambda *a: calls.append(a) or counted(*a))
    shared = fc.encode_frame(second, pred, first)
    n_shared, calls[:] = len(calls), []
    estimate = palette.estimate
    monkeypatch.setattr(palette, "estimate", lambda *a: estimate(*a[:-1]))  # without the shared counts
    alone = fc.encode_frame(second, pred, first)
    assert (shared.mode, shared.mix, shared.payload) == (alone.mode, alone.mix, alone.payload)
    assert n_shared <= len(palette.SCHEDULES) < len(calls)


@pytest.mark.parametrize("colours", [40, 400])
def test_the_frame_coder_takes_the_cheapest_candidate(colours) -> None:
    first, second = _frames(colours, seed=2)
    pred = _prediction(first)
    cands = fc.candidates(second, pred, first)
    modes = [c.mode for c in cands]
    # mode order, but palette LZ (mode 8, where the frame has a palette) before stored, always last
    expected = (
        [0, 1, 2, 3, fc.MODE_PALETTE_LZ, fc.MODE_STORED] if colours <= 256 else [0, 1, 4, fc.MODE_STORED]
    )
    assert modes == expected
    coded = fc.encode_frame(second, pred, first)
    assert coded.mode == min(cands, key=lambda c: c.bits).mode
    assert np.array_equal(fc.decode_frame(coded, pred, 24, 20, 3, first), second)


def test_the_intra_probe_estimates_palette_intra_where_it_may_win() -> None:
    """``IntraProbe``: palette intra is estimated on the first predicted frame, again while it came
    close to palette inter, when palette inter grows dearer (a scene cut), and every INTRA_PROBE
    predicted frames; the frame coder's choice is the cheapest of what was estimated."""
    probe = palette.IntraProbe()
    assert probe.worth(100.0, 1000.0)
    probe.update(200.0, 100.0, 1000.0)  # palette inter won by far
    assert not probe.worth(100.0, 1000.0)
    assert probe.worth(palette.INTRA_JUMP * 100.0 + 1, 1000.0)  # palette inter grew dearer
    for _ in range(palette.INTRA_PROBE - 1):
        probe.update(None, 100.0, 1000.0)
    assert probe.worth(100.0, 1000.0)
    probe.update(105.0, 100.0, 1000.0)  # palette intra came close
    assert probe.worth(100.0, 1000.0)

    first, second = _frames(40, seed=2)
    pred = _prediction(first)
    probe = palette.IntraProbe(ratio=2.0, inter_share=1.0)  # as if palette inter had won by far
    cands = fc.candidates(second, pred, first, probe=probe)
    assert fc.MODE_PALETTE_INTRA not in [c.mode for c in cands] and probe.skipped == 1
    coded = fc.encode_frame(second, pred, first, probe=palette.IntraProbe(ratio=2.0, inter_share=1.0))
    assert coded.mode == min(cands, key=lambda c: c.bits).mode
    assert np.array_equal(fc.decode_frame(coded, pred, 24, 20, 3, first), second)
    assert fc.MODE_PALETTE_INTRA in [c.mode for c in fc.candidates(second, pred, first)]  # no probe


def test_the_duration_scan_does_not_decode_palettes(monkeypatch) -> None:
    """``records`` (the CLI's duration scan) reads the chunks only; ``frame_records`` decodes
    the palettes."""
    first, second = _frames(40)
    data = pipeline.encode([first, second], durations=[3, 4], model="last-frame")

    def refuse(*args, **kwargs):
        raise AssertionError("palette decoded")

    monkeypatch.setattr(pipeline, "decode_palette", refuse)
    dec = pipeline.Decoder(io.BytesIO(data), load_model=False)
    assert [r.duration for r in dec.records()] == [3, 4]
    with pytest.raises(AssertionError, match="palette decoded"):
        list(pipeline.Decoder(io.BytesIO(data), load_model=False).frame_records())


@pytest.mark.parametrize(("mode", "version"), [(2, 1), (3, 1), (4, 1), (4, 2)])
def test_a_mode_the_version_lacks_is_refused(mode, version) -> None:
    first, second = _frames(40)
    coded = CodedFrame(mode, 0, b"", 0, pc.extract_palette(second)[0])
    with pytest.raises(FormatError, match=f"mode {mode}\\) in a version-{version} stream"):
        fc.decode_frame(coded, _prediction(first), 24, 20, 3, first, FormatProfile.for_version(version))
