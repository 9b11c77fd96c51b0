"""Mode 0, RGB intra: every channel value coded in the format's coarse-to-fine passes
(``codec.intra``), predicted from the values decoded in earlier passes; needs no history."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

from ...bitstream import entropy
from .. import intra
from ..pass_sample import sample_step, sampled, scaled_bits
from .base import MODE_INTRA, Candidate, CodedFrame, DecodeContext, FrameToCode, best_shift_of, shifted

MODE = MODE_INTRA


@dataclass(frozen=True, eq=False)
class IntraCandidate(Candidate):
    flat: np.ndarray  # (C, H*W) the frame
    height: int
    width: int
    #: per pass: snapped means (int16), scale indices (uint8); None for a frame above
    #: ``intra.CACHED_PIXELS``, whose ``encode`` makes them again rather than hold 9 bytes a pixel
    #: while the other modes are estimated (a 2048x2048 photo coded in this mode: 23.8 s to
    #: encode before, 23.5 s after)
    params: list[tuple[np.ndarray, np.ndarray]] | None


def estimate(frame: FrameToCode) -> IntraCandidate:
    """Always applies; its scale shift is also palette intra's.

    A frame of 2 ``pass_sample.SAMPLE_PIXELS`` pixels or more is estimated on every 2nd or 3rd
    pixel of its passes (``pass_sample.sample_step``, as the palette modes are), its bits scaled to
    all of them; its scale shift is then chosen on the sample. Why: the estimate reads the rule's
    parameters of every pixel, and RGB intra seldom wins on palette frames, so it was a tenth of
    a dithered 480x270 GIF's encoding (0.93 of 15.5 s)."""
    pixels = frame.height * frame.width
    step = sample_step(pixels)
    keep = step == 1 and pixels <= intra.CACHED_PIXELS
    hist = None
    params = []  # kept in the smallest types that hold them (means <= 4080, indices < 64)
    sampled_pixels = 0
    for p, mean_q, scale_idx in _pass_params(frame.flat, frame.height, frame.width, step):
        # one pass at a time: the shift's histogram needs no concatenated arrays
        hist = entropy.shift_histogram(frame.flat[:, p.targets], mean_q, scale_idx, hist)
        sampled_pixels += p.targets.size
        if keep:
            params.append((mean_q.astype(np.int16), scale_idx.astype(np.uint8)))
    shift, bits = best_shift_of(hist)
    bits = scaled_bits(bits, step, pixels, sampled_pixels)
    return IntraCandidate(MODE, bits, shift, frame.flat, frame.height, frame.width, params if keep else None)


def _pass_params(
    flat: np.ndarray, height: int, width: int, step: int = 1
) -> Iterator[tuple[intra.Pass, np.ndarray, np.ndarray]]:
    """Per pass of the schedule: the pass, the rule's snapped means and its scale indices (without
    the frame's shift) on ``flat``, made as they are read; with ``step`` > 1, of every step-th
    pixel of the passes in order (the pass then holds only those)."""
    offset = 0
    for p in intra.passes(height, width):
        if step > 1:
            sample = sampled(offset, p.targets.size, step)
            offset += p.targets.size
            p = replace(p, targets=p.targets[sample], neighbours=p.neighbours[:, sample])
        mean, scale_idx = intra.pass_params(flat, p)
        yield p, entropy.quantize_mean(mean), scale_idx


def encode(c: IntraCandidate) -> bytes:
    enc = entropy.FrameEncoder(compiled=True)  # whole rows never made
    if c.params is None:
        params = _pass_params(c.flat, c.height, c.width)
    else:  # the schedule again: cached at these sizes, so not kept in the candidate
        params = ((p, *kept) for p, kept in zip(intra.passes(c.height, c.width), c.params, strict=True))
    for p, mean_q, scale_idx in params:
        mean_q, scale_idx = mean_q.astype(np.int32), scale_idx.astype(np.int32)
        enc.encode(c.flat[:, p.targets], mean_q, shifted(scale_idx, c.scale_shift))
    return enc.finish()


def decode(coded: CodedFrame, ctx: DecodeContext) -> np.ndarray:
    dec = entropy.FrameDecoder(coded.payload, ctx.profile, compiled=True)  # whole rows never made
    # uint8, as the encoder's frame: the rule reads both as float32, and one compiled signature
    # serves both (a second cost 2.5 s on the first run that met it)
    canvas = np.zeros((ctx.channels, ctx.height * ctx.width), np.uint8)
    for p in intra.passes(ctx.height, ctx.width):
        mean, scale_idx = intra.pass_params(canvas, p, coded.scale_shift)
        canvas[:, p.targets] = dec.decode(entropy.quantize_mean(mean), scale_idx)  # values 0..255
    chw = canvas.reshape(ctx.shape_chw)
    return np.ascontiguousarray(np.moveaxis(chw, 0, -1))
