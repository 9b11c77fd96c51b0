"""Which pixels of a frame's passes the encoder's estimates read: every ``step``-th, in pass order.

Why: an estimate reads every pixel's model row and context counts, and the encoder estimates each
palette mode (both, on most predicted frames) and RGB intra before it codes the winner, so the
estimates were most of its time. Sampled, a palette mode's bits come out within about 1 % (16
frames of a 200x164 clip, every 4th pixel: -1.5 to +1.5 %) and the mix field and betas are chosen
on at least SAMPLE_PIXELS pixels; the context counts still learn from every pixel, as the coder's
do. Every 4th pixel cost a 480x270 clip 0.22 % of its bytes, every 3rd 0.02 % (bench/SPEED.md,
"Palette estimates on a sample of the pixels"). RGB intra's estimate reads the same pixels: it
seldom wins on palette frames, and read whole it was a tenth of a dithered 480x270 GIF's
encoding. The stream format is unaffected: the coder codes every pixel.
"""

from __future__ import annotations

#: A frame is estimated on one pixel in (coded pixels // SAMPLE_PIXELS) of its passes, at most one
#: in SAMPLE_STEP_MAX: on all of them below twice SAMPLE_PIXELS, on at least SAMPLE_PIXELS above.
SAMPLE_PIXELS = 16_384
SAMPLE_STEP_MAX = 3


def sample_step(pixels: int) -> int:
    """Every how many pixels of its passes a frame that codes ``pixels`` is estimated on."""
    return int(min(SAMPLE_STEP_MAX, max(1, pixels // SAMPLE_PIXELS)))


def sampled(offset: int, size: int, step: int) -> slice:
    """The pixels of a pass of ``size`` that an estimate every ``step`` pixels reads, when the
    passes before it hold ``offset`` pixels: those at multiples of ``step`` in the passes' order."""
    return slice((-offset) % step, size, step)


def scaled_bits(bits: float, step: int, pixels: int, sampled_pixels: int) -> float:
    """The bits an estimate counted on ``sampled_pixels`` (every ``step``-th), for all ``pixels``."""
    if step > 1 and sampled_pixels:
        return bits * (pixels / sampled_pixels)
    return bits
