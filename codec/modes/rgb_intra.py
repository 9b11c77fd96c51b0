"""Mode 0, RGB intra: every channel value coded in the format's coarse-to-fine passes
(``codec.intra``), predicted from the values decoded in earlier passes; needs no history."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...bitstream import entropy
from .. import intra
from .base import MODE_INTRA, Candidate, CodedFrame, DecodeContext, FrameToCode, best_shift, shifted

MODE = MODE_INTRA


@dataclass(frozen=True, eq=False)
class IntraCandidate(Candidate):
    flat: np.ndarray  # (C, H*W) the frame
    passes: tuple[intra.Pass, ...]
    params: list[tuple[np.ndarray, np.ndarray]]  # per pass: snapped means and scale indices


def pass_params(flat: np.ndarray, passes: tuple[intra.Pass, ...]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Every pass's snapped params computed from the full frame (the encoder knows every pixel)."""
    canvas = flat.astype(np.float32)
    return [
        (entropy.quantize_mean(m), entropy.quantize_scale(s))
        for m, s in (intra.pass_params(canvas, p) for p in passes)
    ]


def estimate(frame: FrameToCode) -> IntraCandidate:
    """Always applies; its scale shift is also palette intra's."""
    passes = intra.passes(frame.height, frame.width)
    params = pass_params(frame.flat, passes)
    order = np.concatenate([p.targets for p in passes])
    mean_q = np.concatenate([m for m, _ in params], axis=1)
    scale_idx = np.concatenate([s for _, s in params], axis=1)
    shift, bits = best_shift(frame.flat[:, order], mean_q, scale_idx)
    return IntraCandidate(MODE, bits, shift, frame.flat, passes, params)


def encode(c: IntraCandidate) -> bytes:
    enc = entropy.FrameEncoder()
    for p, (mean_q, scale_idx) in zip(c.passes, c.params, strict=True):
        enc.encode(c.flat[:, p.targets], mean_q, shifted(scale_idx, c.scale_shift))
    return enc.finish()


def decode(coded: CodedFrame, ctx: DecodeContext) -> np.ndarray:
    dec = entropy.FrameDecoder(coded.payload, ctx.profile)
    canvas = np.zeros((ctx.channels, ctx.height * ctx.width), np.float32)
    for p in intra.passes(ctx.height, ctx.width):
        mean, scale = intra.pass_params(canvas, p)
        scale_idx = shifted(entropy.quantize_scale(scale), coded.scale_shift)
        canvas[:, p.targets] = dec.decode(entropy.quantize_mean(mean), scale_idx)
    chw = canvas.astype(np.uint8).reshape(ctx.shape_chw)
    return np.ascontiguousarray(np.moveaxis(chw, 0, -1))
