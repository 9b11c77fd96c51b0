"""Palette intra and inter estimated in the same pass schedule share what does not depend on the
model (``palette.PassStats``: previous-colour matches, neighbour votes, context counts): the
second mode's estimate reads only its model rows, and every estimate is what it was without."""

from __future__ import annotations

import numpy as np
import pytest

from fpcodec.codec import intra
from fpcodec.codec import palette_coding as pc
from fpcodec.codec import palette_context as ctx
from fpcodec.codec.modes import palette
from fpcodec.codec.modes.base import MODE_PALETTE_INTER, MODE_PALETTE_INTRA, FrameToCode, shifted
from fpcodec.models.last_frame import last_frame_params

from conftest import CARPHONE, read_video


@pytest.fixture(scope="module")
def frame_pair():
    """carphone_000's frames 5 and 6 (96x96, under 256 colours), 6 predicted by last-frame."""
    frames = read_video(CARPHONE)[0]
    previous, frame = frames[5], frames[6]
    extracted = pc.extract_palette(frame)
    assert extracted is not None
    return FrameToCode.of(frame), extracted, last_frame_params(frames[:6]), previous


def _passes(fr, extracted, pred, mode, rows, coded=None):
    colours, idx = extracted
    h, w = fr.height, fr.width
    if mode == MODE_PALETTE_INTER:
        return palette.iter_inter_passes(pred, 0, h, w, coded=coded, rows=rows)
    return palette.intra_passes(fr.flat, colours, idx, 0, h, w, decoding=False, coded=coded, rows=rows)


def _estimate(frame_pair, mode, rows, stats=None, coded=None):
    fr, (colours, idx), pred, previous = frame_pair
    counts = palette.pretrained_counts(palette.intra_geometry(fr.height, fr.width, rows), previous, colours)
    passes = _passes(fr, (colours, idx), pred, mode, rows, coded)
    prev_idx = pc.previous_indices(previous, colours)
    mix, bits, _, _ = palette.estimate_passes(passes, colours, idx, prev_idx, counts, stats)
    return mix, bits


@pytest.mark.parametrize("rows", palette.SCHEDULES)
@pytest.mark.parametrize("first", [MODE_PALETTE_INTER, MODE_PALETTE_INTRA])
def test_the_second_mode_reusing_the_statistics_estimates_as_alone(frame_pair, rows, first) -> None:
    second = MODE_PALETTE_INTRA if first == MODE_PALETTE_INTER else MODE_PALETTE_INTER
    stats = palette.PassStats(96 * 96)
    got_first = _estimate(frame_pair, first, rows, stats)
    assert stats.complete and sum(stats.sizes) == 96 * 96
    got_second = _estimate(frame_pair, second, rows, stats)
    assert got_first == _estimate(frame_pair, first, rows)
    assert got_second == _estimate(frame_pair, second, rows)
    assert got_first != got_second  # the model rows differ: a reuse of the whole estimate would fail


def test_statistics_of_other_passes_are_refused(frame_pair) -> None:
    stats = palette.PassStats(96 * 96)
    _estimate(frame_pair, MODE_PALETTE_INTER, False, stats)
    coded = np.ones(96 * 96, bool)
    coded[: 96 * 40] = False  # the top 40 rows copied: fewer pixels in every pass
    with pytest.raises(RuntimeError, match="reuse statistics"):
        _estimate(frame_pair, MODE_PALETTE_INTRA, False, stats, coded)


class _CutShort(Exception):
    """An estimate's passes that stop with an error."""


def test_statistics_of_an_estimate_cut_short_are_counted_again(frame_pair) -> None:
    fr, (colours, idx), pred, previous = frame_pair
    shared = palette._SharedStats(idx.size)
    stats = shared.get((False, False))
    counts = palette.pretrained_counts(palette.intra_geometry(fr.height, fr.width), previous, colours)

    def cut_short():
        passes = _passes(fr, (colours, idx), pred, MODE_PALETTE_INTER, False)
        yield next(passes)
        raise _CutShort

    with pytest.raises(_CutShort):
        palette.estimate_passes(cut_short(), colours, idx, None, counts, stats)
    assert not stats.complete
    again = shared.get((False, False))
    assert again is not stats and not again.complete


def test_the_frame_estimate_is_the_same_with_and_without_sharing(frame_pair, monkeypatch) -> None:
    """``palette.estimate`` in both schedules of both modes (no schedule memory): the same
    candidates as when every estimate counts for itself, and the second mode did reuse."""
    fr, extracted, pred, previous = frame_pair

    def run() -> list[tuple[int, float, int]]:
        found = palette.estimate(fr, extracted, pred, previous, None, 0, 0)
        return [(c.mode, c.bits, c.mix) for c in found]

    reused = []
    estimate_passes = palette.estimate_passes

    def spy(passes, colours, idx, prev_idx, counts, stats=None):
        reused.append(stats is not None and stats.complete)
        return estimate_passes(passes, colours, idx, prev_idx, counts, stats)

    monkeypatch.setattr(palette, "estimate_passes", spy)
    shared = run()
    # inter in both schedules, then intra in the last one's first (reused), then the other
    assert reused == [False, False, True, False], reused
    monkeypatch.setattr(palette._SharedStats, "get", lambda self, key: palette.PassStats(96 * 96))
    alone = run()
    assert shared == alone
    assert [m for m, _, _ in shared] == [MODE_PALETTE_INTRA, MODE_PALETTE_INTER]


@pytest.mark.parametrize("first", [None, False, True])
def test_equal_estimates_go_to_the_first_schedule_whichever_is_made_first(first) -> None:
    made = []

    def make(rows: bool):
        made.append(rows)
        return palette.PaletteCandidate(
            MODE_PALETTE_INTRA, 100.0, 0, None, None, None, int(rows) << 21, None, None, None
        )

    best = palette.cheaper(make, MODE_PALETTE_INTRA, None, (False, True), first)
    assert made == ([True, False] if first else [False, True])
    assert best.mix == 0  # SCHEDULES' first, the coarse-to-fine passes


@pytest.mark.parametrize("rows", palette.SCHEDULES)
@pytest.mark.parametrize("mode", [MODE_PALETTE_INTER, MODE_PALETTE_INTRA])
def test_each_part_predicted_on_its_own_is_the_whole_pass_cut(frame_pair, mode, rows) -> None:
    """The passes' parts get their prediction as they are read (a pass's last part is half of
    it): the same pixels, neighbours and prediction as the whole pass's, cut into its parts."""
    fr, (colours, idx), pred, _ = frame_pair
    got = list(_passes(fr, (colours, idx), pred, mode, rows))
    want = []
    for p in palette.intra_geometry(96, 96, rows):
        if mode == MODE_PALETTE_INTER:
            mean, coupling, scale_idx = pred.pixels(p.targets)
            whole = (mean, coupling, shifted(scale_idx, 0))
        else:
            mean, scale_idx = intra.pass_params(fr.flat, p, 0)
            whole = (mean, None, scale_idx)
        for sl in palette.pass_parts(p.targets.size):
            want.append(
                (p.targets[sl], p.neighbours[:, sl], *(None if a is None else a[:, sl] for a in whole))
            )
    assert len(got) == len(want) > len(list(palette.intra_geometry(96, 96, rows)))  # some passes in parts
    for inp, (targets, neighbours, mean, coupling, scale_idx) in zip(got, want, strict=True):
        assert np.array_equal(inp.targets, targets) and np.array_equal(inp.neighbours, neighbours)
        assert np.array_equal(inp.mean, mean) and np.array_equal(inp.scale_idx, scale_idx)
        assert (inp.coupling is None) == (coupling is None)
        assert coupling is None or np.array_equal(inp.coupling, coupling)
        for made in (inp.mean, inp.scale_idx):  # made for the part, not a view of the whole pass's
            assert (made if made.base is None else made.base).size == made.size


def test_a_small_frame_is_coded_from_its_estimate_s_kept_passes(frame_pair, monkeypatch) -> None:
    """The coder of a small frame reads the neighbours' colours and context keys that the
    estimate's counting made (``KeptPass``) instead of making the passes again: the same payload
    as made from the passes, for both modes, and the passes are not made a second time."""
    fr, extracted, pred, previous = frame_pair

    def payloads(keep: bool) -> tuple[list[bytes], list[bool], list[int]]:
        monkeypatch.setattr(palette, "KEEP_PASSES", keep)
        found = palette.estimate(fr, extracted, pred, previous, None, 0, 0)
        kept = [c.kept is not None for c in found]
        made = []
        for c in found:
            passes = c.passes
            object.__setattr__(c, "passes", lambda passes=passes: made.append(1) or passes())
        return [palette.encode(c) for c in found], kept, made

    with_kept, kept, made = payloads(True)
    assert kept == [True, True] and made == []
    without, kept, made = payloads(False)
    assert kept == [False, False] and made == [1, 1]
    assert with_kept == without


def test_kept_passes_are_the_passes_colours_and_keys(frame_pair) -> None:
    fr, (colours, idx), pred, previous = frame_pair
    stats = palette.PassStats(idx.size, keep=True)
    _estimate(frame_pair, MODE_PALETTE_INTER, False, stats)
    assert stats.kept is not None and len(stats.kept) == len(stats.sizes)
    passes = list(_passes(fr, (colours, idx), pred, MODE_PALETTE_INTER, False))
    for kept, inp in zip(stats.kept, passes, strict=True):
        assert np.array_equal(kept.targets, inp.targets)
        want = palette.neighbour_colours(idx, inp.neighbours)
        assert (kept.colours is None) == (want is None)
        if want is not None:
            assert np.array_equal(kept.colours, want)
        keys = ctx.context_keys(idx, inp.neighbours, inp.ring, inp.wide, inp.targets)
        assert (kept.keys is None) == (keys is None)
        if keys is not None:
            assert all(np.array_equal(a, b) for a, b in zip(kept.keys, keys, strict=True))
    # sampled statistics keep nothing: their passes' colours are a sample's
    assert palette.PassStats(idx.size, 2, keep=True).kept is None
    assert not palette.caches_rows(idx.size, len(colours), 2)
