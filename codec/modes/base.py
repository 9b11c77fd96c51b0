"""The contract the coding modes share: mode ids, the coded frame, candidates, decoding context.

Mode ids are the format's hand-written numbers (FORMAT.md, FRAM ``mode``). Every mode module
provides

- ``estimate(...) -> Candidate`` (or ``None`` where the mode does not apply): the estimated cost in
  bits and everything ``encode`` needs, so the frame is coded once, in the cheapest mode;
- ``encode(candidate) -> bytes``: the frame's payload;
- ``decode(coded, context) -> np.ndarray``: the (H, W, C) uint8 pixels back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ...bitstream import entropy
from ...bitstream.profile import CURRENT, MODE_PALETTE_LZ, MODE_REPEAT, MODE_STORED, FormatProfile
from ...models.base import Prediction

#: (rows, columns) of a frame.
Region = tuple[slice, slice]
#: The decoder's prediction: a function of the region it is needed in (None: the whole frame).
RegionPrediction = Callable[[Region | None], Prediction]

MODE_INTRA = 0
MODE_INTER = 1
MODE_PALETTE_INTRA = 2
MODE_PALETTE_INTER = 3
MODE_PALETTE_UPDATE = 4
MODE_STORED = MODE_STORED  # 5, defined beside the profile (the container needs it)
MODE_PLANAR = 6  # format version 7: a frame in its source's pixel format (codec.planar_coding)
MODE_REPEAT = MODE_REPEAT  # 7, version 9: a frame of a REPT chunk, equal to the frame before it
MODE_PALETTE_LZ = (
    MODE_PALETTE_LZ  # 8, version 15: a palette frame's indices in LZMA2 (codec.modes.palette_lz)
)
MODE_NAMES = {
    MODE_INTRA: "intra",
    MODE_INTER: "inter",
    MODE_PALETTE_INTRA: "p-intra",
    MODE_PALETTE_INTER: "p-inter",
    MODE_PALETTE_UPDATE: "p-update",
    MODE_STORED: "stored",
    MODE_PLANAR: "planar",
    MODE_REPEAT: "repeat",
    MODE_PALETTE_LZ: "p-lz",
}

#: The per-frame scale shift (FRAM ``scale shift``, an i8) the encoder chooses from.
SHIFT_MIN, SHIFT_MAX = -63, 63
SHIFTS = np.arange(SHIFT_MIN, SHIFT_MAX + 1)


@dataclass(frozen=True)
class CodedFrame:
    """A coded frame; ``palette`` is the palette a palette-mode frame indexes into. The encoder
    also hands over ``palette_body``, the PLTE body it coded ``palette`` into given the palette in
    force (None when that one is reused), so the writer need not code it again."""

    mode: int
    scale_shift: int
    payload: bytes
    mix: int = 0
    palette: np.ndarray | None = None
    palette_body: bytes | None = None


@dataclass(frozen=True, eq=False)
class Candidate:
    """One mode's offer for a frame: its estimated cost in bits and its scale shift; each mode
    subclasses it with what its ``encode`` needs."""

    mode: int
    bits: float
    scale_shift: int


@dataclass(frozen=True)
class FrameToCode:
    """The encoder's frame in the layouts the modes read: (H, W, C), (C, H, W) and (C, H*W)."""

    pixels: np.ndarray
    chw: np.ndarray
    flat: np.ndarray

    @staticmethod
    def of(frame: np.ndarray) -> FrameToCode:
        h, w, c = frame.shape
        chw = np.ascontiguousarray(np.moveaxis(frame, -1, 0))
        return FrameToCode(frame, chw, chw.reshape(c, h * w))

    @property
    def height(self) -> int:
        return self.pixels.shape[0]

    @property
    def width(self) -> int:
        return self.pixels.shape[1]


@dataclass(frozen=True)
class DecodeContext:
    """What the decoder has for a frame: the prediction (None for the first frame), the previous
    decoded frame, the size, and the stream's format profile."""

    pred: Prediction | RegionPrediction | None
    previous: np.ndarray | None
    height: int
    width: int
    channels: int
    profile: FormatProfile = CURRENT

    def prediction(self, coded: np.ndarray | None = None) -> Prediction | None:
        """The frame's prediction; where ``pred`` is a function of a region (the decoder's), asked
        for the box of the ``coded`` pixels ((H*W,) bool, the others copied) when that box is at
        most REGION_SHARE of the frame, else for the whole frame."""
        if not callable(self.pred):
            return self.pred
        return self.pred(coded_box(coded, self.height, self.width))

    @property
    def shape_chw(self) -> tuple[int, int, int]:
        return self.channels, self.height, self.width


#: The largest share of a frame that the box of its coded pixels may cover to be predicted alone.
REGION_SHARE = 0.5


def coded_box(coded: np.ndarray | None, height: int, width: int) -> Region | None:
    """(rows, columns) of the smallest box holding every True of ``coded`` ((H*W,) bool), or None
    where there is no mask, no coded pixel or the box covers more than REGION_SHARE of the frame."""
    if coded is None:
        return None
    mask = coded.reshape(height, width)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    box = (slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1))
    area = (box[0].stop - box[0].start) * (box[1].stop - box[1].start)
    return box if area <= REGION_SHARE * height * width else None


def shifted(scale_idx: np.ndarray, shift: int) -> np.ndarray:
    """Scale indices with the frame's scale shift added, clamped to the table (in place in the
    sum: one array, not two)."""
    out = scale_idx + shift
    np.maximum(out, 0, out=out)  # not np.clip: its checks of the bounds took longer than the clamp
    return np.minimum(out, len(entropy.SCALE_TABLE) - 1, out=out)


def best_shift(symbols: np.ndarray, mean_q: np.ndarray, scale_idx: np.ndarray) -> tuple[int, float]:
    """The scale shift with the smallest (approximate) code length, and that length in bits."""
    return best_shift_of(entropy.shift_histogram(symbols, mean_q, scale_idx))


def best_shift_of(hist: np.ndarray) -> tuple[int, float]:
    """``best_shift`` from an ``entropy.shift_histogram`` of the symbols."""
    costs = entropy.bits_from_histogram(hist, SHIFTS)
    k = int(np.argmin(costs))
    return int(SHIFTS[k]), float(costs[k])
