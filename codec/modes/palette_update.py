"""Mode 4, palette update: for frames of more than 256 colours whose changed pixels have at most
255. The palette holds the changed pixels' colours; each pixel's symbol is an index into it or K =
"keep the previous frame's colour", coded as palette inter over K + 1 symbols (``palette``'s pass
coder), the keep symbol weighted by the prediction of the pixel's previous colour."""

from __future__ import annotations

import numpy as np

from ...bitstream import entropy
from ...bitstream.errors import FormatError
from ...models.base import Prediction
from .. import copied_blocks, row_schedule
from .. import palette_coding as pc
from .. import palette_context as ctx
from . import palette
from .base import MODE_PALETTE_UPDATE, CodedFrame, DecodeContext, FrameToCode

MODE = MODE_PALETTE_UPDATE
#: Palette-update frames index at most this many colours (the keep symbol is index K).
MAX_UPDATE_COLOURS = 255
#: A palette-update frame is coded by the palette modes' ``encode``.
encode = palette.encode


def update_palette(frame: np.ndarray, previous: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Palette of the pixels that differ from ``previous`` and the per-pixel symbols (an index into
    it, or K = keep the previous colour); None when nothing changed or more than
    MAX_UPDATE_COLOURS colours did."""
    c = frame.shape[-1]
    changed = (frame != previous).any(axis=-1).ravel()
    if not changed.any():
        return None
    extracted = pc.extract_palette(frame.reshape(-1, c)[changed][None])
    if extracted is None or len(extracted[0]) > MAX_UPDATE_COLOURS:
        return None
    colours, changed_idx = extracted
    idx = np.full(changed.size, len(colours), np.int32)
    idx[changed] = changed_idx
    return colours, idx


def estimate(
    frame: FrameToCode,
    update: tuple[np.ndarray, np.ndarray],
    pred: Prediction,
    previous: np.ndarray,
    sent_palette: np.ndarray | None,
    inter_shift: int,
    copied: copied_blocks.CopiedBlocks | None = None,
    memory: palette.ScheduleMemory | None = None,
    rows: bool | None = None,
) -> palette.PaletteCandidate:
    """The update candidate (with RGB inter's scale shift) of ``update`` (``update_palette``'s
    palette and symbols); with ``copied``, the copied blocks' pixels are left out of the passes;
    ``memory``: the stream's pass-schedule winners (None: both schedules are estimated); ``rows``:
    only that schedule (for a second choice of copied blocks: the one that won with the first)."""
    colours, idx = update
    h, w = frame.height, frame.width

    coded = None if copied is None else copied.coded
    prev_idx = np.full(h * w, len(colours), np.int32)  # the previous-colour event is the keep symbol
    body = palette.palette_body(colours, sent_palette)

    def make(in_rows: bool) -> palette.PaletteCandidate:
        def passes():
            return palette.iter_inter_passes(pred, inter_shift, h, w, previous, coded=coded, rows=in_rows)

        return palette.candidate(
            MODE, inter_shift, passes, colours, idx, prev_idx, ctx.ContextCounts(), body, copied, in_rows
        )

    if rows is not None:
        return palette.cheaper(make, MODE, None, (rows,))
    return palette.cheaper(make, MODE, memory)


def decode(coded: CodedFrame, dc: DecodeContext) -> np.ndarray:
    """Symbols over the palette plus keep; keep takes the previous colour."""
    colours = coded.palette
    if colours is None:
        raise FormatError("palette-update frame before any palette chunk")
    if colours.shape[1] != dc.channels or len(colours) > MAX_UPDATE_COLOURS:
        raise FormatError(
            f"palette-update frame with a palette of {len(colours)} colours x {colours.shape[1]} "
            f"channels (at most {MAX_UPDATE_COLOURS} x {dc.channels})"
        )
    palette.check_mix(coded.mix, dc.profile)
    n = dc.height * dc.width
    idx = np.zeros(n, np.int32)
    coder = entropy.FrameDecoder(coded.payload, dc.profile, compiled=True)  # rows' running sums
    coded_mask = palette.read_copied(coded, dc, coder, idx)
    rows = row_schedule.used(coded.mix, dc.profile.row_schedule)
    passes = palette.iter_inter_passes(
        dc.prediction(coded_mask),
        coded.scale_shift,
        dc.height,
        dc.width,
        dc.previous,
        dc.profile,
        coded_mask,
        rows,
    )
    keep_symbol = np.full(n, len(colours), np.int32)
    palette.code_passes(passes, colours, keep_symbol, coded.mix, idx, coder, ctx.ContextCounts())
    keep = idx == len(colours)
    out = colours[np.minimum(idx, len(colours) - 1)]
    out[keep] = dc.previous.reshape(n, dc.channels)[keep]
    return out.reshape(dc.height, dc.width, dc.channels)
