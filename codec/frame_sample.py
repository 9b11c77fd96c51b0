"""The rows of a large frame on which the encoder chooses palette intra's pass schedule.

Why: estimating a palette frame's cost reads every pixel as coding it does, so estimating both pass
schedules and then coding the winner cost the encoder three codings of a large single frame (a
2224x3281 screenshot: 9.4 s to encode, 3.5 s to decode). Evenly spaced bands of whole rows, stacked
into one picture, hold the kinds of content the frame holds (text, edges, flat areas, gradients)
at a fraction of its pixels: where one schedule wins clearly on them, the encoder estimates only
that one on the whole frame (``codec.modes.palette.sampled_schedules``). The stream format is
unaffected.

Bands are BAND rows high, BAND a multiple of 16, the period of both pass schedules, so each band
starts on a row of the first level and the passes keep their structure; the seams between bands
(one row in BAND) read a neighbour from another band, which both schedules pay alike.
"""

from __future__ import annotations

import numpy as np

#: Frames of at least SAMPLE_FROM pixels have their schedule chosen on bands of about SAMPLE_PIXELS.
SAMPLE_PIXELS = 1 << 18
SAMPLE_FROM = 1 << 21
#: Rows per band (a multiple of 16).
BAND = 64


def sample_rows(height: int, width: int) -> np.ndarray | None:
    """Row numbers (int64, ascending) of the bands of a ``height`` x ``width`` frame, or None
    where the frame is estimated whole (below SAMPLE_FROM pixels, or too few rows for the bands
    to leave at least as many rows out as they take)."""
    if height * width < SAMPLE_FROM:
        return None
    # two bands at least: the top one alone is often a title bar
    bands = max(2, -(-SAMPLE_PIXELS // (BAND * width)))
    if 2 * bands * BAND > height:
        return None
    # first rows evenly spaced from the top band to the bottom one, on multiples of 16; spaced at
    # least 2 BAND - 16 apart, so bands never overlap
    starts = np.linspace(0, height - BAND, bands).astype(np.int64) // 16 * 16
    return (starts[:, None] + np.arange(BAND)).ravel()
