"""``last-frame``: the reference predictor every gain is measured against.

Mean: the previous decoded frame. Scale: a causal activity rule, the local (7x7) mean of the absolute
change between the last two decoded frames, plus a small floor, so a region that did not move costs
almost nothing and a region that moved is coded with a wide distribution. With only one decoded frame
the activity is the local spatial gradient instead. The codec additionally picks a per-frame scale
multiplier by measured cost, which calibrates this rule for every predictor.
"""

from __future__ import annotations

import hashlib

import numpy as np

from .base import Prediction, Predictor

#: Floor and gain of the activity rule, tuned on the training corpus.
SCALE_FLOOR = 0.4
SCALE_GAIN = 1.0
_BOX = 7
#: A channel's activity is at least this fraction of the strongest channel's.
CROSS_CHANNEL = 0.5


def box_mean(a: np.ndarray, k: int = _BOX) -> np.ndarray:
    """Mean over a k x k window of each (..., H, W) plane, edges replicated; summed-area table."""
    r = k // 2
    pad = [(0, 0)] * (a.ndim - 2) + [(r, r), (r, r)]
    p = np.pad(a.astype(np.float32), pad, mode="edge")
    c = p.cumsum(-1).cumsum(-2)
    c = np.pad(c, [(0, 0)] * (a.ndim - 2) + [(1, 0), (1, 0)])
    s = c[..., k:, k:] - c[..., :-k, k:] - c[..., k:, :-k] + c[..., :-k, :-k]
    return s / (k * k)


def activity(history: list[np.ndarray]) -> np.ndarray:
    """Per-channel local activity (C, H, W) of the most recent decoded frames."""
    last = np.moveaxis(history[-1], -1, 0).astype(np.float32)
    if len(history) >= 2:
        prev = np.moveaxis(history[-2], -1, 0).astype(np.float32)
        return box_mean(np.abs(last - prev))
    gy = np.abs(np.diff(last, axis=-2, append=last[..., -1:, :]))
    gx = np.abs(np.diff(last, axis=-1, append=last[..., :, -1:]))
    return box_mean(0.5 * (gx + gy))


def last_frame_params(history: list[np.ndarray]) -> Prediction:
    """Last-frame mean and activity scale for every channel of the newest frame."""
    mean = np.moveaxis(history[-1], -1, 0).astype(np.float32)
    act = activity(history)
    # Motion in one channel is motion in all: use the strongest channel's activity everywhere.
    act = np.maximum(act, act.max(axis=0, keepdims=True) * CROSS_CHANNEL)
    return Prediction(mean=mean, scale=SCALE_FLOOR + SCALE_GAIN * act)


#: The rule's constants play the role of weights: streams record their hash, so a changed rule is
#: reported as a model mismatch instead of decoding to garbage.
RULE_HASH = hashlib.sha256(
    f"last-frame rule v1 floor={SCALE_FLOOR} gain={SCALE_GAIN} box={_BOX} cross={CROSS_CHANNEL}".encode()
).digest()


class LastFramePredictor(Predictor):
    """Copy the last decoded frame; scale from local temporal activity."""

    name = "last-frame"
    model_id = 1

    @property
    def weights_hash(self) -> bytes:
        return RULE_HASH

    def predict(self, history: list[np.ndarray]) -> Prediction:
        return last_frame_params(history)
