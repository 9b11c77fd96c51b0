"""Mode 1, RGB inter: channels in order R, G, B, (A), each one batch of discretized Laplace values
around the predictor's means, whose G and B means may depend on the channels decoded before them
(colour coupling: integer from format version 4, float32 before)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ...bitstream import entropy
from ...bitstream.profile import CURRENT, FormatProfile
from ...models.base import Prediction, apply_coupling
from .. import intra
from .base import MODE_INTER, Candidate, CodedFrame, DecodeContext, FrameToCode, best_shift, shifted

MODE = MODE_INTER


@dataclass(frozen=True, eq=False)
class InterCandidate(Candidate):
    chw: np.ndarray  # (C, H, W) the frame
    pred: Prediction  # the prediction its parameters are made from
    #: int16 snapped means (<= 4080) and uint8 scale indices (< 64) of every channel, 9 bytes a
    #: pixel; None above ``intra.CACHED_PIXELS``, where ``parameters`` makes them again rather
    #: than hold them while the palette modes are estimated (as RGB intra's candidate does)
    kept: tuple[np.ndarray, np.ndarray] | None

    def parameters(self) -> tuple[np.ndarray, np.ndarray]:
        """(C, H, W) snapped means and scale indices (without the frame's shift)."""
        return self.kept if self.kept is not None else params(self.chw, self.pred)


#: Pixels of a band of rows whose parameters are made at once: the snapping's int32 temporaries
#: (all channels' means and couplings, for each channel) took about 90 bytes a pixel of the whole
#: frame, the peak of encoding three 1600x1400 frames.
BAND_PIXELS = 1 << 16


def bands(height: int, width: int) -> Iterator[slice]:
    """Row bands of about BAND_PIXELS pixels (at least one row), top to bottom."""
    step = max(1, BAND_PIXELS // max(width, 1))
    return (slice(top, top + step) for top in range(0, height, step))


def channel_params(
    pred: Prediction, channel: int, decoded: np.ndarray, profile: FormatProfile = CURRENT
) -> tuple[np.ndarray, np.ndarray]:
    """Snapped mean and scale index of ``channel`` given the channels decoded before it."""
    if profile.integer_coupling:
        mean_q, coupling_q, scale_idx = pred.snapped(channel)
        return entropy.coupled_mean_q(mean_q, coupling_q, channel, decoded), scale_idx
    mean_q = entropy.quantize_mean(apply_coupling(pred.mean, pred.coupling, channel, decoded))
    return mean_q, entropy.quantize_scale(pred.scale[channel])


def params(chw: np.ndarray, pred: Prediction) -> tuple[np.ndarray, np.ndarray]:
    """All channels' snapped means (int16) and scale indices (uint8), (C, H, W), made band by band
    (the encoder knows every channel)."""
    c, h, w = chw.shape
    mean_q, scale_idx = np.empty((c, h, w), np.int16), np.empty((c, h, w), np.uint8)
    for band in bands(h, w):
        part = pred.rows(band)
        for ch in range(c):
            mean_q[ch, band], scale_idx[ch, band] = channel_params(part, ch, chw[:, band])
    return mean_q, scale_idx


def estimate(frame: FrameToCode, pred: Prediction) -> InterCandidate:
    """Applies whenever there is a prediction; its scale shift is also palette update's, and palette
    inter's is fitted on its arrays (``palette.inter_scale_shift``)."""
    mean_q, scale_idx = params(frame.chw, pred)
    shift, bits = best_shift(frame.chw, mean_q, scale_idx)
    keep = frame.height * frame.width <= intra.CACHED_PIXELS
    return InterCandidate(MODE, bits, shift, frame.chw, pred, (mean_q, scale_idx) if keep else None)


def encode(c: InterCandidate) -> bytes:
    enc = entropy.FrameEncoder(compiled=True)  # whole rows never made
    all_mean_q, all_scale_idx = c.parameters()
    for ch in range(c.chw.shape[0]):
        mean_q, scale_idx = all_mean_q[ch].astype(np.int32), all_scale_idx[ch].astype(np.int32)
        enc.encode(c.chw[ch], mean_q, shifted(scale_idx, c.scale_shift))
    return enc.finish()


def decode(coded: CodedFrame, ctx: DecodeContext) -> np.ndarray:
    dec = entropy.FrameDecoder(coded.payload, ctx.profile, compiled=True)  # whole rows never made
    out = np.zeros(ctx.shape_chw, np.uint8)
    pred = ctx.prediction()  # every pixel is coded: the whole frame
    for c in range(ctx.channels):  # a channel's values in row-major order, read band by band
        for band in bands(ctx.height, ctx.width):
            mean_q, scale_idx = channel_params(pred.rows(band), c, out[:, band], ctx.profile)
            out[c, band] = dec.decode(mean_q, shifted(scale_idx, coded.scale_shift))
    return np.ascontiguousarray(np.moveaxis(out, 0, -1))
