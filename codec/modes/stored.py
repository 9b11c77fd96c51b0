"""Mode 5, stored (format version 6): the frame's raw pixels, no prediction and no entropy coding.

Noise-like frames cost more than 8 bits per value under any model that is not sure of them; this
mode caps a frame at its raw size, so a stream never exceeds the raw frames plus a small constant
per frame. The encoder offers it always; it wins only where every other estimate is larger.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...bitstream.errors import FormatError
from ...bitstream.profile import MODE_STORED
from .base import Candidate, CodedFrame, DecodeContext, FrameToCode

MODE = MODE_STORED


@dataclass(frozen=True, eq=False)
class StoredCandidate(Candidate):
    pixels: np.ndarray  # (H, W, C) the frame


def estimate(frame: FrameToCode) -> StoredCandidate:
    """Exactly 8 bits per channel value (no scale shift)."""
    return StoredCandidate(MODE, 8.0 * frame.pixels.size, 0, frame.pixels)


def encode(c: StoredCandidate) -> bytes:
    return np.ascontiguousarray(c.pixels, dtype=np.uint8).tobytes()


def decode(coded: CodedFrame, ctx: DecodeContext) -> np.ndarray:
    want = ctx.height * ctx.width * ctx.channels
    if len(coded.payload) != want:
        raise FormatError(
            f"stored frame holds {len(coded.payload)} bytes, expected {want} "
            f"({ctx.height}x{ctx.width}x{ctx.channels})"
        )
    if coded.scale_shift != 0 or coded.mix != 0:
        raise FormatError(
            f"stored frame has scale shift {coded.scale_shift} and mix {coded.mix}, both must be 0"
        )
    return np.frombuffer(coded.payload, np.uint8).reshape(ctx.height, ctx.width, ctx.channels).copy()
