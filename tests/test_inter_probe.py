"""The encoder leaves the predicted modes, and the model's run, out of frames where they keep
losing (codec/inter_probe.py): the rule itself, and streams that still decode exactly."""

from __future__ import annotations

import io

import numpy as np

from fpcodec.codec import Decoder, encode, frame_coding
from fpcodec.codec.inter_probe import INTER_JUMP, INTER_MARGIN, INTER_PROBE, LOSSES, InterProbe
from fpcodec.codec.modes.base import (
    MODE_INTRA,
    MODE_PALETTE_INTER,
    MODE_PALETTE_INTRA,
    MODE_STORED,
    Candidate,
)
from fpcodec.models import registry
from fpcodec.models.base import Prediction
from fpcodec.models.last_frame import LastFramePredictor

from conftest import DATA


def _options(intra: float, inter: float | None) -> list[Candidate]:
    out = [Candidate(MODE_INTRA, 1000.0, 0), Candidate(MODE_PALETTE_INTRA, intra, 0)]
    if inter is not None:
        out.append(Candidate(MODE_PALETTE_INTER, inter, 0))
    return out + [Candidate(MODE_STORED, 5000.0, 0)]


def test_the_rule():
    probe = InterProbe()
    assert probe.worth(1000.0)
    lose = 100 * (1 + INTER_MARGIN)
    for _ in range(LOSSES - 1):  # fewer losses are not enough (the window may still hold an old scene)
        probe.update(_options(100.0, lose), 1000.0)
        assert probe.worth(1000.0)
    probe.update(_options(100.0, lose), 1000.0)
    # Lost LOSSES frames in a row: left out, then estimated again on the INTER_PROBE-th frame.
    for _ in range(INTER_PROBE - 1):
        assert not probe.worth(1000.0)
        assert probe.worth(1000.0 * INTER_JUMP * 1.01) and probe.worth(1000.0 / INTER_JUMP / 1.01)
        probe.update(_options(100.0, None), 1000.0)
    assert probe.worth(1000.0)
    probe.update(_options(100.0, lose), 1000.0)  # still losing: left out again
    assert not probe.worth(1000.0)
    probe.update(_options(100.0, None), 1000.0)
    # A near tie (within the margin) or a win puts them back on every frame.
    probe = InterProbe(losses=LOSSES, rgb_intra_bits=1000.0)
    probe.update(_options(100.0, 100 * (1 + INTER_MARGIN) - 1), 1000.0)
    assert probe.losses == 0 and probe.worth(1000.0)


def _carphone(n: int = 12) -> list[np.ndarray]:
    from fpcodec.codec.io import VideoReader

    return [f for f, _ in VideoReader(DATA / "carphone_000.gif").frames()][:n]


class _Misleading(LastFramePredictor):
    """Predicts the negative of the last frame, sure of it: the predicted modes lose every frame."""

    def predict(self, history: list[np.ndarray]) -> Prediction:
        p = super().predict(history)
        return Prediction(255 - p.mean, np.full_like(p.scale, 0.5), p.coupling)


def _counted(predictor):
    """``predictor`` with its calls by the encoder (``predict_region``) counted."""
    calls = []
    real = predictor.predict_region
    predictor.predict_region = lambda history, region: calls.append(len(history)) or real(history, region)
    return predictor, calls


def test_the_model_is_left_out_where_the_predicted_modes_keep_losing():
    frames = _carphone()
    predictor, calls = _counted(_Misleading())
    data = encode(frames, model=predictor)
    decoded = list(Decoder(io.BytesIO(data), predictor=predictor))
    assert all(np.array_equal(d.pixels, f) for d, f in zip(decoded, frames, strict=True))
    assert not any(frame_coding.uses_prediction(d.mode) for d in decoded), [d.mode for d in decoded]
    # Estimated on frames 1 to LOSSES, then once every INTER_PROBE frames (or on a jump).
    assert len(calls) < len(frames) - 1
    assert LOSSES + (len(frames) - 1 - LOSSES) // INTER_PROBE <= len(calls), calls


def test_the_model_runs_every_frame_where_inter_wins():
    frames = _carphone(8)
    predictor, calls = _counted(registry.get("convlstm-hybrid-int"))
    data = encode(frames, model=predictor)
    assert len(calls) == len(frames) - 1
    decoded = list(Decoder(io.BytesIO(data)))
    assert all(np.array_equal(d.pixels, f) for d, f in zip(decoded, frames, strict=True))
