"""The encoder estimates the palette modes of large frames on every few pixels of their passes
(``pass_sample.sample_step``): the sample's statistics are the whole estimate's at those pixels, its
bits are close to the whole estimate's, and the streams still decode exactly."""

from __future__ import annotations

import numpy as np
import pytest

from fpcodec.codec import decode, encode
from fpcodec.codec import palette_coding as pc
from fpcodec.codec import pass_sample
from fpcodec.codec.modes import palette
from fpcodec.codec.modes.base import MODE_PALETTE_INTER, MODE_PALETTE_INTRA, FrameToCode
from fpcodec.models.last_frame import last_frame_params

from conftest import CARPHONE_WIDE, read_video


@pytest.fixture(scope="module")
def wide_frames():
    return read_video(CARPHONE_WIDE)[0]


@pytest.fixture(scope="module")
def frame_pair(wide_frames):
    """carphonew_000's frames 3 and 4 (200x164), 4 predicted by last-frame."""
    previous, frame = wide_frames[3], wide_frames[4]
    extracted = pc.extract_palette(frame)
    assert extracted is not None
    return FrameToCode.of(frame), extracted, last_frame_params(wide_frames[:4]), previous


def _estimate(frame_pair, mode, stats):
    fr, (colours, idx), pred, previous = frame_pair
    h, w = fr.height, fr.width
    counts = palette.pretrained_counts(palette.intra_geometry(h, w), previous, colours)
    if mode == MODE_PALETTE_INTER:
        passes = palette.iter_inter_passes(pred, 0, h, w)
    else:
        passes = palette.intra_passes(fr.flat, colours, idx, 0, h, w, decoding=False)
    return palette.estimate_passes(
        passes, colours, idx, pc.previous_indices(previous, colours), counts, stats
    )


def test_sample_step_grows_with_the_coded_pixels() -> None:
    n = pass_sample.SAMPLE_PIXELS
    assert [pass_sample.sample_step(k) for k in (1, 2 * n - 1, 2 * n, 3 * n, 100 * n)] == [
        1,
        1,
        2,
        3,
        pass_sample.SAMPLE_STEP_MAX,
    ]


@pytest.mark.parametrize("step", [2, 3])
def test_the_sample_is_the_whole_estimate_at_every_step_th_pixel(frame_pair, step) -> None:
    size = frame_pair[0].height * frame_pair[0].width
    whole, sample = palette.PassStats(size), palette.PassStats(size, step)
    _, whole_bits, _, _ = _estimate(frame_pair, MODE_PALETTE_INTER, whole)
    _, sample_bits, cached, kept = _estimate(frame_pair, MODE_PALETTE_INTER, sample)
    assert cached is None and kept is None  # a sampled estimate has no rows to keep for the coder
    assert sample.sizes == whole.sizes  # the passes are the same; only the reading is sampled
    for name, column in whole.columns.items():
        got = sample.columns[name]
        assert got.size == -(-size // step), name
        assert np.array_equal(got, column[::step]), name
    # one pixel in 2 or 3, scaled to all of them: close to the whole estimate's bits, not equal
    assert sample_bits != whole_bits
    assert abs(sample_bits / whole_bits - 1) < 0.03


def test_the_second_mode_reads_the_sample_of_the_first(frame_pair) -> None:
    size = frame_pair[0].height * frame_pair[0].width
    shared = palette.PassStats(size, 2)
    _estimate(frame_pair, MODE_PALETTE_INTER, shared)
    reused = _estimate(frame_pair, MODE_PALETTE_INTRA, shared)
    alone = _estimate(frame_pair, MODE_PALETTE_INTRA, palette.PassStats(size, 2))
    assert reused[:2] == alone[:2]


def test_a_large_frame_is_estimated_sampled_and_decodes_exactly(wide_frames, monkeypatch) -> None:
    """200x164 frames code 32,800 pixels: the palette estimates read a sample of them."""
    steps = []
    estimate_passes = palette.estimate_passes

    def spy(passes, colours, idx, prev_idx, counts, stats=None, step=1):
        steps.append(step if stats is None else stats.step)
        return estimate_passes(passes, colours, idx, prev_idx, counts, stats, step)

    monkeypatch.setattr(palette, "estimate_passes", spy)
    frames = wide_frames[:3]
    stream = encode(frames, model="last-frame")
    assert pass_sample.sample_step(200 * 164) > 1
    assert steps and set(steps) == {pass_sample.sample_step(200 * 164)}
    for got, want in zip(decode(stream).frames, frames, strict=True):
        np.testing.assert_array_equal(got, want)


def test_the_sample_read_in_blocks_is_the_sample_read_at_once(frame_pair, monkeypatch) -> None:
    """A pass's sampled pixels are read in blocks of _COUNTS_BLOCK (a 1280x720 frame's finest
    pass sampled every 3rd pixel has 150,000): blocks of 97 give the same estimate."""
    size = frame_pair[0].height * frame_pair[0].width
    at_once = _estimate(frame_pair, MODE_PALETTE_INTER, palette.PassStats(size, 3))
    monkeypatch.setattr(palette, "_COUNTS_BLOCK", 97)
    in_blocks = _estimate(frame_pair, MODE_PALETTE_INTER, palette.PassStats(size, 3))
    assert in_blocks[:2] == at_once[:2]


def test_sampled_rgba_frames_with_transparency_decode_exactly(wide_frames) -> None:
    """RGBA (the palette's colours have alpha, a transparent hole in each frame): sampled too."""
    frames = []
    for f in wide_frames[:2]:
        alpha = np.full(f.shape[:2] + (1,), 255, np.uint8)
        alpha[40:90, 50:150] = 0
        rgba = np.concatenate([f, alpha], axis=2)
        rgba[alpha[..., 0] == 0] = 0
        frames.append(rgba)
    assert pass_sample.sample_step(200 * 164) > 1
    for got, want in zip(decode(encode(frames, model="last-frame")).frames, frames, strict=True):
        np.testing.assert_array_equal(got, want)


def test_rgb_intra_is_estimated_on_the_same_sample(frame_pair, monkeypatch) -> None:
    """RGB intra's estimate of a 200x164 frame reads every 2nd pixel of its passes, in pass order:
    the rule's parameters there are the whole frame's, its bits within 3 % of the whole estimate's
    (not equal: a sample), and without its parameters to keep (the coder makes them)."""
    from fpcodec.codec import intra
    from fpcodec.codec.modes import rgb_intra

    fr = frame_pair[0]
    assert pass_sample.sample_step(fr.height * fr.width) == 2
    whole_params = list(rgb_intra._pass_params(fr.flat, fr.height, fr.width))
    sample_params = list(rgb_intra._pass_params(fr.flat, fr.height, fr.width, 2))
    order = np.concatenate([p.targets for p in intra.passes(fr.height, fr.width)])
    assert np.array_equal(np.concatenate([p.targets for p, _, _ in sample_params]), order[::2])
    for key in (1, 2):  # the means and the scale indices
        whole = np.concatenate([params[key] for params in whole_params], axis=1)
        sample = np.concatenate([params[key] for params in sample_params], axis=1)
        assert np.array_equal(sample, whole[:, ::2])
    sampled = rgb_intra.estimate(fr)
    monkeypatch.setattr(pass_sample, "SAMPLE_PIXELS", 1 << 40)
    full = rgb_intra.estimate(fr)
    monkeypatch.undo()
    assert sampled.params is None and full.params is not None
    assert sampled.bits != full.bits and abs(sampled.bits / full.bits - 1) < 0.03
    assert abs(sampled.scale_shift - full.scale_shift) <= 1
