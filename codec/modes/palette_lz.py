"""Mode 8, palette LZ (format version 15): a palette frame's indices in one LZMA2 stream.

The pass coder of modes 2-4 predicts a pixel from the colours around it and from the counts of its
neighbourhood seen so far; what it cannot see is a run of pixels that repeats something far away
(the same glyph elsewhere on a line, a toolbar drawn twice, a table's rows), which is what GIF's
LZW and WebP's backward references live on. On single-frame screenshots of the screen corpus's dev
split the frame's indices in LZMA2 took 3 % (a 3-D scene) to 53 % (an icon) fewer bytes than the
pass coder. So a frame may be coded as its palette indices, row-major, in a raw LZMA2 stream
(``bitstream.lz``); the encoder offers it for every frame with a palette, and the frame goes to
the cheapest mode, this one's bytes being exact rather than estimated. Decoding is liblzma's, the
fastest of the palette modes by far.

(A second symbol set, with a symbol for "the previous frame's pixel", was tried: on the dev split
it never coded a frame smaller than the indices alone where LZ won, so it is not in the format.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...bitstream import lz
from ...bitstream.errors import FormatError
from ...bitstream.profile import MODE_PALETTE_LZ
from .base import Candidate, CodedFrame, DecodeContext, FrameToCode
from .palette import body_bits, palette_body

MODE = MODE_PALETTE_LZ


@dataclass(frozen=True, eq=False)
class LzCandidate(Candidate):
    """A palette LZ offer: the payload itself (its bits are exact) and the frame's palette."""

    palette: np.ndarray
    palette_body: bytes | None
    payload: bytes
    mix: int = 0


def estimate(
    frame: FrameToCode,
    extracted: tuple[np.ndarray, np.ndarray],
    sent_palette: np.ndarray | None,
    bound: float = float("inf"),
) -> LzCandidate:
    """The frame's indices compressed; the estimate is the payload's size plus its palette
    chunk's. Compressed with LZMA2's preset 6 first, and again with the strong setting only where
    that could bring it below ``bound`` (the other modes' best estimate): on frames where LZ77
    loses by far that costs a fifth of the strong setting's time."""
    palette, idx = extracted
    body = palette_body(palette, sent_palette)
    data = idx.astype(np.uint8).tobytes()
    payload = lz.compress(data, strong=False)
    if lz.STRONG_GAIN * (8.0 * len(payload) + body_bits(body)) < bound:
        payload = min(payload, lz.compress(data), key=len)  # the strong setting is not always smaller
    return LzCandidate(MODE, 8.0 * len(payload) + body_bits(body), 0, palette, body, payload)


def encode(c: LzCandidate) -> bytes:
    return c.payload


def decode(coded: CodedFrame, ctx: DecodeContext) -> np.ndarray:
    """The frame's pixels: the palette's colours at the decoded indices."""
    palette = coded.palette
    if palette is None:
        raise FormatError("palette LZ frame before any palette chunk")
    if palette.shape[1] != ctx.channels:
        raise FormatError(f"palette has {palette.shape[1]} channels, stream has {ctx.channels}")
    if coded.scale_shift != 0 or coded.mix != 0:
        raise FormatError(
            f"palette LZ frame has scale shift {coded.scale_shift} and mix {coded.mix}, both must be 0"
        )
    h, w = ctx.height, ctx.width
    idx = np.frombuffer(lz.decompress(coded.payload, h * w), np.uint8)
    top = int(idx.max())
    if top >= len(palette):
        raise FormatError(f"palette LZ frame holds index {top}, its palette has {len(palette)} colours")
    return palette[idx].reshape(h, w, ctx.channels)
