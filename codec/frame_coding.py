"""Code one frame in the cheapest of seven modes, mirrored exactly by the decoder.

Each mode is one module of ``codec.modes`` (RGB intra, RGB inter, palette intra and inter, palette
update, stored, palette LZ) with the same contract: ``estimate`` gives a typed candidate with the mode's estimated cost
(the ideal code lengths), ``encode`` its payload, ``decode`` the pixels back. This module only
decides which modes apply, picks the cheapest candidate and codes the frame once, in that mode.
All modes share a per-frame scale shift chosen by the encoder by measured cost and stored in the
chunk, which calibrates any predictor's scales to the frame at hand.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..bitstream.errors import FormatError, out_of_memory
from ..bitstream.profile import CURRENT, FormatProfile
from ..models.base import Prediction
from . import copied_blocks
from .inter_probe import InterProbe
from . import palette_coding as pc
from .modes import palette, palette_lz, palette_update, rgb_inter, rgb_intra, stored
from .modes.base import (
    MODE_INTER,
    MODE_INTRA,
    MODE_NAMES,
    MODE_PALETTE_INTER,
    MODE_PALETTE_INTRA,
    MODE_PALETTE_LZ,
    MODE_PALETTE_UPDATE,
    MODE_STORED,
    Candidate,
    CodedFrame,
    DecodeContext,
    FrameToCode,
    Region,
    RegionPrediction,
    coded_box,
)

__all__ = [
    "MODE_INTER",
    "MODE_INTRA",
    "MODE_NAMES",
    "MODE_PALETTE_INTER",
    "MODE_PALETTE_INTRA",
    "MODE_PALETTE_LZ",
    "MODE_PALETTE_UPDATE",
    "MODE_STORED",
    "CodedFrame",
    "decode_frame",
    "encode_frame",
]

_ENCODERS: dict[int, Callable] = {
    MODE_INTRA: rgb_intra.encode,
    MODE_INTER: rgb_inter.encode,
    MODE_PALETTE_INTRA: palette.encode,
    MODE_PALETTE_INTER: palette.encode,
    MODE_PALETTE_UPDATE: palette_update.encode,
    MODE_STORED: stored.encode,
    MODE_PALETTE_LZ: palette_lz.encode,
}
_DECODERS: dict[int, Callable[[CodedFrame, DecodeContext], np.ndarray]] = {
    MODE_INTRA: rgb_intra.decode,
    MODE_INTER: rgb_inter.decode,
    MODE_PALETTE_INTRA: palette.decode,
    MODE_PALETTE_INTER: palette.decode,
    MODE_PALETTE_UPDATE: palette_update.decode,
    MODE_STORED: stored.decode,
    MODE_PALETTE_LZ: palette_lz.decode,
}
#: Modes that predict from the previous frames.
_NEEDS_HISTORY = (MODE_INTER, MODE_PALETTE_INTER, MODE_PALETTE_UPDATE)


def uses_prediction(mode: int) -> bool:
    """Whether a frame of this mode is decoded from the predictor's output. The others (intra,
    palette intra, stored) are not, and the predictor is a function of the decoded frames alone,
    so the decoder skips it for them."""
    return mode in _NEEDS_HISTORY


#: Modes that a format version may lack: the profile rule that brings them.
_MODE_RULE = {
    MODE_PALETTE_INTRA: "palette_frames",
    MODE_PALETTE_INTER: "palette_frames",
    MODE_PALETTE_UPDATE: "palette_update",
    MODE_STORED: "stored_mode",
    MODE_PALETTE_LZ: "lz_frames",
}


#: A prediction, or a function of the region it is needed in (None: the whole frame) that makes it:
#: called only if the predicted modes are estimated.
PredictionSource = Prediction | RegionPrediction | None


def candidates(
    frame: np.ndarray,
    pred: PredictionSource,
    previous: np.ndarray | None = None,
    sent_palette: np.ndarray | None = None,
    use_palette: bool = True,
    probe: palette.IntraProbe | None = None,
    inter: InterProbe | None = None,
    lz_frames: bool = True,
    lz: palette_lz.LzProbe | None = None,
) -> list[Candidate]:
    """Every applicable mode's candidate for ``frame``, in mode order but for palette LZ (mode 8),
    which comes before the stored mode (ties go to the first, so the stored mode, last, wins only
    where every other mode is larger). With the stream's ``probe``, palette intra is left out of
    predicted frames where the probe judges it will not win; with its ``inter`` probe, the
    predicted modes (and the prediction, when ``pred`` is a function) where that one judges they
    will not; with its ``lz`` probe, palette LZ where that one judges it will not win (frames
    without a ``previous`` one always have it). ``lz_frames=False`` leaves palette LZ out."""
    fr = FrameToCode.of(frame)
    intra = rgb_intra.estimate(fr)
    out: list[Candidate] = [intra]
    if inter is not None and not inter.worth(intra.bits):
        pred = None
    extracted = pc.extract_palette(frame) if use_palette else None
    _add_predicted_modes(out, fr, intra, extracted, pred, previous, sent_palette, use_palette, probe)
    if extracted is not None and lz_frames and CURRENT.lz_frames:
        bound = min(c.bits for c in out)
        if lz is None or previous is None or lz.worth(bound):
            out.append(palette_lz.estimate(fr, extracted, previous, sent_palette, bound))
            if lz is not None and previous is not None:
                lz.update(out[-1].bits, bound)
        else:
            lz.update(None, bound)
    out.append(stored.estimate(fr))
    if inter is not None:
        inter.update(out, intra.bits)
    return out


def _add_predicted_modes(
    out: list[Candidate],
    fr: FrameToCode,
    intra: Candidate,
    extracted: tuple[np.ndarray, np.ndarray] | None,
    source: PredictionSource,
    previous: np.ndarray | None,
    sent_palette: np.ndarray | None,
    use_palette: bool,
    probe: palette.IntraProbe | None,
) -> None:
    """Append the candidates of RGB inter and the palette modes that apply (``extracted``: the
    frame's palette and indices, None where it has none or palettes are not used).

    A palette frame whose copy choices all leave at most REGION_SHARE of it in the box of their
    coded pixels has the prediction made only there, as the decoder asks for it: RGB inter,
    which codes every pixel, is then not estimated, and palette inter's scale shift is fitted
    without it (``palette.region_scale_shift``)."""
    frame = fr.pixels
    choices = _copy_choices(frame, previous) if extracted is not None else [None]
    region = None
    if callable(source) and previous is not None and all(c is not None for c in choices):
        coded = np.logical_or.reduce([c.coded for c in choices])
        region = coded_box(coded, fr.height, fr.width)
    pred = source(region) if callable(source) else source
    inter = rgb_inter.estimate(fr, pred) if pred is not None and region is None else None
    if inter is not None:
        out.append(inter)
    if not use_palette:
        return
    inter_shift = None if inter is None else inter.scale_shift
    if extracted is not None:
        cheapest: dict[int, Candidate] = {}  # per palette mode, over the copy choices
        only = None  # after the first choice: the modes and schedules that won with it
        counted = {}  # the previous frame's context counts per schedule, for every choice
        for copied in choices:
            shift = inter_shift
            if inter is not None and previous is not None:
                shift = palette.inter_scale_shift(inter, frame, previous, copied)
            elif region is not None:
                shift = palette.region_scale_shift(fr, pred, previous, copied)
            found = palette.estimate(
                fr,
                extracted,
                pred,
                previous,
                sent_palette,
                intra.scale_shift,
                shift,
                intra.bits,
                probe if only is None else None,  # the probe learns from the frame once
                copied,
                only,
                counted,
            )
            only = palette.schedules_of(found) if only is None else only
            for c in found:
                if c.mode not in cheapest or c.bits < cheapest[c.mode].bits:
                    cheapest[c.mode] = c
        out += sorted(cheapest.values(), key=lambda c: c.mode)
    elif pred is not None and previous is not None:
        update = palette_update.update_palette(frame, previous)
        if update is not None:
            memory = None if probe is None else probe.schedules
            best = None  # over the copy choices; the second only in the schedule that won the first
            for copied in _copy_choices(frame, previous):
                rows = None if best is None else palette.schedules_of([best])[MODE_PALETTE_UPDATE]
                c = palette_update.estimate(
                    fr, update, pred, previous, sent_palette, inter_shift, copied, memory, rows
                )
                best = c if best is None or c.bits < best.bits else best
            out.append(best)


def _copy_choices(frame: np.ndarray, previous: np.ndarray | None) -> list[copied_blocks.CopiedBlocks | None]:
    """The copied blocks a palette frame is estimated with: ``copied_blocks.choices``, two where
    the guess of an unchanged pixel's cost decides between them."""
    if previous is None or not CURRENT.copied_blocks:
        return [None]
    return copied_blocks.choices(frame, previous)


#: Candidates of the modes that index a palette (and may send a PLTE before their frame).
_PALETTE_CANDIDATES = (palette.PaletteCandidate, palette_lz.LzCandidate)


def encode_frame(
    frame: np.ndarray,
    pred: PredictionSource,
    previous: np.ndarray | None = None,
    sent_palette: np.ndarray | None = None,
    use_palette: bool = True,
    probe: palette.IntraProbe | None = None,
    inter: InterProbe | None = None,
    lz_frames: bool = True,
    lz: palette_lz.LzProbe | None = None,
) -> CodedFrame:
    """Code ``frame`` ((H, W, C) uint8) in whichever mode measures cheapest.

    ``pred``: the prediction, or a function that makes it for a region of the frame (None: all
    of it; called only where a predicted mode is estimated). ``previous`` is the last decoded
    frame (for palette modes' previous-colour event) and ``sent_palette`` the palette last
    transmitted (a palette frame reusing it sends no palette).
    ``probe``, ``inter`` and ``lz``: the stream's ``palette.IntraProbe``, ``InterProbe`` and
    ``palette_lz.LzProbe`` (None: every mode is estimated). ``lz_frames=False``: never palette LZ
    (for comparisons).
    """
    options = candidates(frame, pred, previous, sent_palette, use_palette, probe, inter, lz_frames, lz)
    best = min(options, key=lambda c: c.bits)
    payload = _ENCODERS[best.mode](best)
    # The estimates are ideal code lengths; should the real payload (and palette chunk) come out
    # larger than the raw pixels, store the frame, which keeps the bound of the stored mode exact.
    extra = 0
    if isinstance(best, _PALETTE_CANDIDATES):
        extra = palette.body_bits(best.palette_body) // 8
    if best.mode != MODE_STORED and len(payload) + extra > frame.size:
        best = options[-1]
        payload = _ENCODERS[best.mode](best)
    if isinstance(best, _PALETTE_CANDIDATES):
        return CodedFrame(best.mode, best.scale_shift, payload, best.mix, best.palette, best.palette_body)
    return CodedFrame(best.mode, best.scale_shift, payload)


def decode_frame(
    coded: CodedFrame,
    pred: Prediction | RegionPrediction | None,
    height: int,
    width: int,
    channels: int,
    previous: np.ndarray | None = None,
    profile: FormatProfile = CURRENT,
) -> np.ndarray:
    """Inverse of ``encode_frame`` for a frame of ``profile``'s format version; returns (H, W, C)
    uint8. Palette modes need ``coded.palette``. ``pred``: the prediction, or a function that makes
    it for a region of the frame (``DecodeContext.prediction``), called once by the predicted
    modes."""
    decoder = _DECODERS.get(coded.mode)
    if decoder is None:
        raise FormatError(f"unknown frame coding mode {coded.mode}")
    if coded.mode in _NEEDS_HISTORY and pred is None:
        raise FormatError("inter frame with no previous frame to predict from")
    rule = _MODE_RULE.get(coded.mode)
    if rule is not None and not getattr(profile, rule):
        raise FormatError(
            f"{MODE_NAMES[coded.mode]} frame (mode {coded.mode}) in a version-{profile.version} stream"
        )
    if callable(pred):
        pred = _model_errors_apart(pred)
    try:
        return decoder(coded, DecodeContext(pred, previous, height, width, channels, profile))
    except FormatError:
        raise
    except _ModelFailed as failed:  # the model's own error, not the payload's
        raise failed.__cause__ from None
    except Exception as exc:  # constriction rejects malformed payloads with assorted exceptions
        if out_of_memory(exc):
            raise
        raise FormatError(f"frame payload could not be decoded ({exc})") from exc


class _ModelFailed(Exception):
    """Carries an error of the prediction function past the payload's error mapping."""


def _model_errors_apart(pred: RegionPrediction) -> RegionPrediction:
    def guarded(region: Region | None) -> Prediction:
        try:
            return pred(region)
        except Exception as exc:
            raise _ModelFailed() from exc

    return guarded
