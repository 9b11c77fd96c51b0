"""The decoder runs the predictor only for frames whose mode is decoded from it (inter, palette
inter, palette update): a palette-intra or stored frame does not need it, and the prediction of a
later frame depends on the decoded frames alone, so skipping it changes nothing."""

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
    real = predictor.predict
    predictor.predict = lambda history: calls.append(len(history)) or real(history)  # counts the calls
    decoded = list(Decoder(io.BytesIO(data), predictor=predictor))
    assert all(np.array_equal(d.pixels, f) for d, f in zip(decoded, frames, strict=True))
    predicted = [frame_coding.uses_prediction(d.mode) for d in decoded]
    assert any(predicted[1:]) and not all(predicted[1:]), [d.mode for d in decoded]  # both kinds
    assert len(calls) == sum(predicted)
