"""Mode 1, RGB inter: channels in order R, G, B, (A), each one batch of discretized Laplace values
around the predictor's means, whose G and B means may depend on the channels decoded before them
(colour coupling: integer from format version 4, float32 before)."""

from __future__ import annotations

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
    #: int16 snapped means (<= 4080) and uint8 scale indices (< 64) of every channel: 9 bytes a
    #: pixel, not 24; None above ``intra.CACHED_PIXELS``, where ``parameters`` makes them again
    #: rather than hold them while the palette modes are estimated (as RGB intra's candidate does)
    kept: tuple[np.ndarray, np.ndarray] | None

    def parameters(self) -> tuple[np.ndarray, np.ndarray]:
        """(C, H, W) snapped means and scale indices (without the frame's shift)."""
        return self.kept if self.kept is not None else _small(*params(self.chw, self.pred))


def _small(mean_q: np.ndarray, scale_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return mean_q.astype(np.int16), scale_idx.astype(np.uint8)


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
    """All channels' snapped means and scale indices at once (the encoder knows every channel)."""
    ps = [channel_params(pred, c, chw) for c in range(chw.shape[0])]
    return np.stack([p[0] for p in ps]), np.stack([p[1] for p in ps])


def estimate(frame: FrameToCode, pred: Prediction) -> InterCandidate:
    """Applies whenever there is a prediction; its scale shift is also palette update's, and palette
    inter's is fitted on its arrays (``palette.inter_scale_shift``)."""
    mean_q, scale_idx = params(frame.chw, pred)
    shift, bits = best_shift(frame.chw, mean_q, scale_idx)
    keep = frame.height * frame.width <= intra.CACHED_PIXELS
    return InterCandidate(MODE, bits, shift, frame.chw, pred, _small(mean_q, scale_idx) if keep else None)


def encode(c: InterCandidate) -> bytes:
    enc = entropy.FrameEncoder()
    all_mean_q, all_scale_idx = c.parameters()
    for ch in range(c.chw.shape[0]):
        mean_q, scale_idx = all_mean_q[ch].astype(np.int32), all_scale_idx[ch].astype(np.int32)
        enc.encode(c.chw[ch], mean_q, shifted(scale_idx, c.scale_shift))
    return enc.finish()


def decode(coded: CodedFrame, ctx: DecodeContext) -> np.ndarray:
    dec = entropy.FrameDecoder(coded.payload, ctx.profile)
    out = np.zeros(ctx.shape_chw, np.uint8)
    pred = ctx.prediction()  # every pixel is coded: the whole frame
    for c in range(ctx.channels):
        mean_q, scale_idx = channel_params(pred, c, out, ctx.profile)
        out[c] = dec.decode(mean_q, shifted(scale_idx, coded.scale_shift))
    return np.ascontiguousarray(np.moveaxis(out, 0, -1))
