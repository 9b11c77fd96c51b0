"""The decoder runs the predictor only for frames whose mode is decoded from it (inter, palette
inter, palette update): a palette-intra or stored frame does not need it, and the prediction of a
later frame depends on the decoded frames alone, so skipping it changes nothing. And only where
the frame's pixels are coded: a palette frame whose other pixels are copied asks for the box of
its coded ones (``Predictor.predict_region``), which the integer networks predict alone."""

from __future__ import annotations

import io

import numpy as np

from fpcodec.codec import Decoder, encode, frame_coding
from fpcodec.models import registry


def _clip() -> list[np.ndarray]:
    """Two unrelated scenes of smooth colour, each followed by copies with a few pixels changed:
    intra and inter frames."""
    rng = np.random.default_rng(7)
    frames = []
    for _ in range(2):
        y, x = np.mgrid[0:32, 0:32]
        scene = np.stack([(x * 8 + rng.integers(0, 64)) % 256, y * 8, (x + y) * 4], -1).astype(np.uint8)
        for _ in range(3):
            frames.append(scene.copy())
            scene[rng.integers(0, 32, 5), rng.integers(0, 32, 5)] = rng.integers(0, 256, 3, dtype=np.uint8)
    return frames


def test_the_predictor_runs_only_for_predicted_frames():
    frames = _clip()
    data = encode(frames, model="convlstm-hybrid-int")
    predictor = registry.get("convlstm-hybrid-int")
    calls = []
    real = predictor.predict_region
    predictor.predict_region = lambda history, region: calls.append(len(history)) or real(history, region)
    decoded = list(Decoder(io.BytesIO(data), predictor=predictor))
    assert all(np.array_equal(d.pixels, f) for d, f in zip(decoded, frames, strict=True))
    predicted = [frame_coding.uses_prediction(d.mode) for d in decoded]
    assert any(predicted[1:]) and not all(predicted[1:]), [d.mode for d in decoded]  # both kinds
    assert len(calls) == sum(predicted)


def _still_with_a_moving_square() -> list[np.ndarray]:
    """A still textured 64x64 scene (few colours) with a small square moving over it: palette
    frames whose unchanged pixels are copied blocks."""
    rng = np.random.default_rng(3)
    colours = rng.integers(0, 256, (24, 3), dtype=np.uint8)
    scene = colours[rng.integers(0, 20, (16, 16))].repeat(4, 0).repeat(4, 1)
    frames = []
    for i in range(6):
        f = scene.copy()
        f[20 + i : 30 + i, 24 + 2 * i : 33 + 2 * i] = colours[20 + i % 4]
        frames.append(f)
    return frames


def _scrambling(predictor, regions: list):
    """``predictor`` whose planes outside the region it is asked for are random (and the regions
    it was asked for recorded): a coder that reads there gets other integers."""
    real = predictor.predict_region

    def scrambled(history, region):
        pred = real(history, region)
        regions.append(region)
        if region is not None:
            outside = np.ones(pred.mean_q.shape[1:], bool)
            outside[region] = False
            for plane in (pred.mean_q, pred.scale_idx, pred.coupling_q):
                plane[:, outside] = np.random.default_rng(0).integers(0, 60, plane[:, outside].shape)
        return pred

    predictor.predict_region = scrambled
    return predictor


def test_frames_with_copied_pixels_are_predicted_in_the_box_of_the_coded_ones():
    """The decoder asks the model for the coded pixels' box, and nothing outside it is read: with
    the planes there scrambled, every frame still decodes exactly (its CRC is checked too)."""
    frames = _still_with_a_moving_square()
    data = encode(frames, model="convlstm-hybrid-int")
    regions: list = []
    predictor = _scrambling(registry.get("convlstm-hybrid-int"), regions)
    decoded = list(Decoder(io.BytesIO(data), predictor=predictor))
    assert all(np.array_equal(d.pixels, f) for d, f in zip(decoded, frames, strict=True))
    boxes = [r for r in regions if r is not None]
    assert boxes, [d.mode for d in decoded]
    assert all((r[0].stop - r[0].start) * (r[1].stop - r[1].start) <= 64 * 64 // 2 for r in boxes)


def test_the_box_of_the_coded_pixels():
    from fpcodec.codec.modes.base import REGION_SHARE, coded_box

    mask = np.zeros((10, 12), bool)
    assert coded_box(None, 10, 12) is None and coded_box(mask.ravel(), 10, 12) is None
    mask[2, 3] = mask[5, 7] = True
    assert coded_box(mask.ravel(), 10, 12) == (slice(2, 6), slice(3, 8))
    mask[9, 11] = True  # 8 x 9 of 10 x 12: above the share
    assert 72 > REGION_SHARE * 120 and coded_box(mask.ravel(), 10, 12) is None


def test_an_error_of_the_model_is_not_reported_as_a_damaged_payload():
    """The model now runs inside a frame's decoding, whose errors from the range decoder are
    'could not be decoded': the model's own error still comes out as itself."""
    import pytest

    data = encode(_still_with_a_moving_square(), model="convlstm-hybrid-int")
    predictor = registry.get("convlstm-hybrid-int")

    def failing(history, region):
        raise MemoryError("no room for the activations")

    predictor.predict_region = failing
    with pytest.raises(MemoryError, match="no room"):
        list(Decoder(io.BytesIO(data), predictor=predictor))


def test_the_encoder_predicts_the_same_box_and_reads_nothing_outside_it():
    """The encoder asks for the box of the coded pixels where its copy choices leave at most half
    the frame there: with the planes outside scrambled the stream is the same, byte for byte."""
    frames = _still_with_a_moving_square()
    data = encode(frames, model="convlstm-hybrid-int")
    regions: list = []
    scrambled = _scrambling(registry.get("convlstm-hybrid-int"), regions)
    assert encode(frames, model=scrambled) == data
    boxes = [r for r in regions if r is not None]
    assert len(boxes) >= 3, regions
    assert all((r[0].stop - r[0].start) * (r[1].stop - r[1].start) <= 64 * 64 // 2 for r in boxes)
    decoded = list(Decoder(io.BytesIO(data)))
    assert all(np.array_equal(d.pixels, f) for d, f in zip(decoded, frames, strict=True))


def test_a_region_frame_has_no_rgb_inter_candidate_and_its_shift_is_fitted_on_the_coded_pixels():
    from fpcodec.codec import copied_blocks
    from fpcodec.codec.modes import palette, rgb_inter
    from fpcodec.codec.modes.base import FrameToCode, best_shift

    frames = _still_with_a_moving_square()
    model = registry.get("convlstm-hybrid-int")
    history, frame, previous = frames[:5], frames[5], frames[4]
    asked: list = []

    def region_prediction(region):
        asked.append(region)
        return model.predict_region(history, region)

    found = frame_coding.candidates(frame, region_prediction, previous)
    assert asked and asked[0] is not None
    modes = [c.mode for c in found]
    assert frame_coding.MODE_INTER not in modes and frame_coding.MODE_PALETTE_INTER in modes
    copied = copied_blocks.choices(frame, previous)[0]
    pred, whole = model.predict_region(history, asked[0]), model.predict(history)
    fr = FrameToCode.of(frame)
    # Where coded pixels changed: the shift the whole-frame path fits from RGB inter's arrays.
    inter = rgb_inter.estimate(fr, whole)
    assert palette.region_scale_shift(fr, pred, previous, copied) == palette.inter_scale_shift(
        inter, frame, previous, copied
    )
    # Where none did (the previous frame coded again): fitted on every coded pixel.
    same = FrameToCode.of(previous)
    coded = copied.coded.reshape(frame.shape[:2])
    mean_q, scale_idx = rgb_inter.params(same.chw, whole)
    expected = best_shift(same.chw[:, coded], mean_q[:, coded], scale_idx[:, coded])[0]
    assert palette.region_scale_shift(same, pred, previous, copied) == expected
