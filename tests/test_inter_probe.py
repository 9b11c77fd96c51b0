"""The encoder leaves the predicted modes, and the model's run, out of frames where they keep
losing (codec/inter_probe.py): the rule itself, and streams that still decode exactly."""

from __future__ import annotations

import io

import numpy as np

from fpcodec.codec import Decoder, encode, frame_coding
from fpcodec.codec.inter_probe import (
    INTER_JUMP,
    INTER_MARGIN,
    INTER_PROBE,
    LOSSES,
    TIE,
    TIE_LOSSES,
    TIE_PROBE,
    InterProbe,
)
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
    # Losses are near ties too: estimated on TIE_LOSSES frames in a row, then on every TIE_PROBE-th
    # frame until LOSSES losses (fewer are not enough: the window may still hold an old scene).
    estimated = []
    while probe.losses < LOSSES:
        estimated.append(probe.worth(1000.0))
        probe.update(_options(100.0, lose if estimated[-1] else None), 1000.0)
    assert estimated == [True] * TIE_LOSSES + ([False] * (TIE_PROBE - 1) + [True]) * (LOSSES - TIE_LOSSES)
    # Lost LOSSES frames in a row: left out, then estimated again on the INTER_PROBE-th frame.
    for _ in range(INTER_PROBE - 1):
        assert not probe.worth(1000.0)
        assert probe.worth(1000.0 * INTER_JUMP * 1.01) and probe.worth(1000.0 / INTER_JUMP / 1.01)
        probe.update(_options(100.0, None), 1000.0)
    assert probe.worth(1000.0)
    probe.update(_options(100.0, lose), 1000.0)  # still losing: left out again
    assert not probe.worth(1000.0)
    probe.update(_options(100.0, None), 1000.0)
    # A loss within the margin (or a win) ends the losses: estimated again on the next frame.
    probe = InterProbe(losses=LOSSES, rgb_intra_bits=1000.0)
    probe.update(_options(100.0, 100 * (1 + INTER_MARGIN) - 1), 1000.0)
    assert probe.losses == 0 and probe.worth(1000.0)


def test_near_ties():
    """Where the predicted modes win by less than TIE on TIE_LOSSES estimated frames in a row,
    they are left out for at most TIE_PROBE - 1 frames; a clear win puts them back on every
    frame."""
    probe = InterProbe()
    tie = 100 * (1 - TIE) + 0.5  # a win, by less than TIE
    for _ in range(TIE_LOSSES):
        assert probe.worth(1000.0)
        probe.update(_options(100.0, tie), 1000.0)
    assert probe.losses == 0 and probe.ties == TIE_LOSSES
    for _ in range(TIE_PROBE - 1):
        assert not probe.worth(1000.0)
        assert probe.worth(1000.0 * INTER_JUMP * 1.01) and probe.worth(1000.0 / INTER_JUMP / 1.01)
        probe.update(_options(100.0, None), 1000.0)
    assert probe.worth(1000.0)
    probe.update(_options(100.0, tie), 1000.0)  # still a tie: left out again
    assert not probe.worth(1000.0)
    probe.update(_options(100.0, None), 1000.0)
    assert probe.worth(1000.0)
    probe.update(_options(100.0, 100 * (1 - TIE) - 0.5), 1000.0)  # won by more than TIE
    assert probe.ties == 0
    for _ in range(TIE_LOSSES - 1):
        assert probe.worth(1000.0)
        probe.update(_options(100.0, tie), 1000.0)
    assert probe.worth(1000.0)


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
    # Every loss is also a near tie: estimated on TIE_LOSSES frames, then on every TIE_PROBE-th
    # until LOSSES losses, then on every INTER_PROBE-th (and on a jump of the content).
    expected = losses = since = 0
    for _ in frames[1:]:
        if (losses >= LOSSES and since + 1 < INTER_PROBE) or (losses >= TIE_LOSSES and since + 1 < TIE_PROBE):
            since += 1
        else:
            expected, losses, since = expected + 1, losses + 1, 0
    assert expected <= len(calls) < len(frames) - 1, calls


def test_the_model_runs_every_frame_where_inter_wins():
    frames = _carphone(8)
    predictor, calls = _counted(registry.get("convlstm-hybrid-int"))
    data = encode(frames, model=predictor)
    assert len(calls) == len(frames) - 1
    decoded = list(Decoder(io.BytesIO(data)))
    assert all(np.array_equal(d.pixels, f) for d, f in zip(decoded, frames, strict=True))
