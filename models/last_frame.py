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
    """Mean over a k x k window of each (..., H, W) plane, edges replicated; summed-area table. The
    rule's definition: ``last_frame_params`` makes the same float32 values a band of rows at a time."""
    r = k // 2
    pad = [(0, 0)] * (a.ndim - 2) + [(r, r), (r, r)]
    p = np.pad(a.astype(np.float32), pad, mode="edge")
    c = p.cumsum(-1).cumsum(-2)
    c = np.pad(c, [(0, 0)] * (a.ndim - 2) + [(1, 0), (1, 0)])
    s = c[..., k:, k:] - c[..., :-k, k:] - c[..., k:, :-k] + c[..., :-k, :-k]
    return s / (k * k)


def activity(history: list[np.ndarray]) -> np.ndarray:
    """Per-channel local activity (C, H, W) of the most recent decoded frames (the rule's definition,
    whole frames at once)."""
    last = np.moveaxis(history[-1], -1, 0).astype(np.float32)
    if len(history) >= 2:
        prev = np.moveaxis(history[-2], -1, 0).astype(np.float32)
        return box_mean(np.abs(last - prev))
    gy = np.abs(np.diff(last, axis=-2, append=last[..., -1:, :]))
    gx = np.abs(np.diff(last, axis=-1, append=last[..., :, -1:]))
    return box_mean(0.5 * (gx + gy))


def last_frame_params_reference(history: list[np.ndarray]) -> Prediction:
    """``last_frame_params`` computed on whole frames, as the rule is defined (for the tests)."""
    mean = np.moveaxis(history[-1], -1, 0).astype(np.float32)
    act = activity(history)
    # Motion in one channel is motion in all: use the strongest channel's activity everywhere.
    act = np.maximum(act, act.max(axis=0, keepdims=True) * CROSS_CHANNEL)
    return Prediction(mean=mean, scale=SCALE_FLOOR + SCALE_GAIN * act)


#: Pixels of scales ``last_frame_params`` makes at a time (whole rows, at least one). Why bands: on
#: whole frames the rule's float32 temporaries (activity, padded copies, summed-area table) took
#: about 80 bytes a pixel, 74 MB at 1280x720, where they made the encoder's peak with ``last-frame``;
#: a band's are about 10 MB at most. Frames up to this size are one band (several cost more there).
BAND_PIXELS = 1 << 17


def last_frame_params(history: list[np.ndarray]) -> Prediction:
    """Last-frame mean and activity scale for every channel of the newest frame:
    ``last_frame_params_reference``'s float32 values, made in bands of BAND_PIXELS."""
    last = history[-1]
    h, w, channels = last.shape
    mean = np.moveaxis(last, -1, 0).astype(np.float32)
    scale = np.empty((channels, h, w), np.float32)
    sums = _BandSums(history, _BOX)
    band = max(1, BAND_PIXELS // w)
    for y0 in range(0, h, band):
        y1 = min(h, y0 + band)
        act = sums.box_mean(y0, y1)
        # Motion in one channel is motion in all: use the strongest channel's activity everywhere.
        act = np.maximum(act, act.max(axis=0, keepdims=True) * CROSS_CHANNEL)
        scale[:, y0:y1] = SCALE_FLOOR + SCALE_GAIN * act
    return Prediction(mean=mean, scale=scale)


class _BandSums:
    """``box_mean`` of ``activity``'s planes, band by band of output rows from the top.

    The summed-area table is kept for the rows the next band reads: row j holds the sums over the
    padded activity rows above j, and each new row is the row above plus a row's running sums, added
    in the order numpy's ``cumsum`` adds them down the whole plane (each column's sums in sequence),
    so every float32 is the one ``box_mean`` makes."""

    def __init__(self, history: list[np.ndarray], k: int) -> None:
        self._history = history
        self._k = k
        channels, width = history[-1].shape[2], history[-1].shape[1]
        # the table's rows from row _first on, each led by a zero column
        self._sat = np.zeros((channels, 1, width + k), np.float32)
        self._first = 0

    def box_mean(self, y0: int, y1: int) -> np.ndarray:
        """Output rows y0..y1-1 (y0: the previous call's y1, or 0)."""
        k = self._k
        made = self._first + self._sat.shape[1]
        kept = self._sat[:, y0 - self._first :]
        if y1 + k > made:  # table rows made..y1+k-1, from the padded rows made-1..y1+k-2
            rows = np.cumsum(self._padded_rows(made - 1, y1 + k - 1), axis=-1)
            rows = np.concatenate([kept[:, -1:, 1:], rows], axis=1).cumsum(axis=-2)[:, 1:]
            kept = np.concatenate([kept, np.pad(rows, [(0, 0), (0, 0), (1, 0)])], axis=1)
        self._sat, self._first = kept, y0
        n = y1 - y0
        s = kept
        return (s[:, k : k + n, k:] - s[:, :n, k:] - s[:, k : k + n, :-k] + s[:, :n, :-k]) / (k * k)

    def _padded_rows(self, lo: int, hi: int) -> np.ndarray:
        """Rows lo..hi-1 of ``activity``'s planes padded by k // 2 on every side with their edges
        (``np.pad``'s "edge"), (C, hi - lo, W + k - 1) float32."""
        r = self._k // 2
        last = self._history[-1]
        h = last.shape[0]
        at = np.clip(np.arange(lo - r, hi - r), 0, h - 1)
        cur = np.moveaxis(last[at], -1, 0).astype(np.float32)
        if len(self._history) >= 2:
            a = np.abs(cur - np.moveaxis(self._history[-2][at], -1, 0).astype(np.float32))
        else:  # one frame: the spatial gradient, 0 past the last row and column
            below = np.moveaxis(last[np.minimum(at + 1, h - 1)], -1, 0).astype(np.float32)
            gx = np.abs(np.diff(cur, axis=-1, append=cur[..., -1:]))
            a = 0.5 * (gx + np.abs(below - cur))
        return np.pad(a, [(0, 0), (0, 0), (r, r)], mode="edge")


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
