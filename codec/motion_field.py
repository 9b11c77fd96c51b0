"""The coding of an inter planar frame's motion field (format version 13, FORMAT.md "Motion field").

Versions 7 to 12 coded the field as three small images (vertical and horizontal components and
the reference, each by the intra passes). But a field of once-MPEG-coded video is mostly blocks
that move as their neighbours do: on the dev clips 46 % of the blocks equal the component-wise
median of their left, upper and upper-right neighbours (H.264's vector prediction), and the
blocks that do not are where the neighbours disagree. So the field is coded in
wavefronts (``raster_rule.wavefronts``, neighbours a, b, d as the raster rule substitutes them):
per block a flag "equal to the prediction" under a probability of its context (how many of a and
b equal it), and for a block that is not, its two components' differences from the prediction
under a Laplace of its context (how much a, b and d differ), and its reference under the frame's
reference probabilities. The frame sends its probabilities and scales first (a few bytes). On the
dev clips this codes the field in 11-20 % fewer bits than the intra passes did.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..bitstream import entropy
from ..bitstream.errors import FormatError
from . import raster_rule

#: Contexts of the "equal to the prediction" flag: how many of a and b equal the prediction.
FLAG_CONTEXTS = 3
#: Contexts of a difference: the number of these thresholds <= |a - b| + |b - d| summed over the
#: two components (quarter samples).
ACTIVITY_THRESHOLDS = np.array([1, 3, 8, 20], np.int64)
ACTIVITY_CONTEXTS = len(ACTIVITY_THRESHOLDS) + 1
#: Probabilities are sent in 1/PROBABILITY_ONE (1..PROBABILITY_ONE - 1), scales as indices 0..63.
PROBABILITY_ONE = 256
SCALES = len(entropy.SCALE_TABLE)
#: A difference d (-254..254) is coded as the symbol (d + 128) mod 256 under a Laplace centred on
#: 128: the decoder's ((prediction + symbol) mod 256) - 128 is the component again.
_CENTRE = 128


@dataclass(frozen=True)
class FieldCode:
    """A field as the encoder codes it: its header, its symbols in coding order with where each
    wavefront starts, and the estimated bits of both."""

    bits: float
    references: int
    flag_q: np.ndarray  # (FLAG_CONTEXTS,) P(equal) in 1/256
    scales: np.ndarray  # (ACTIVITY_CONTEXTS,) scale index of the differences
    reference_q: np.ndarray  # (references,) the references' probabilities in 1/256 (none: 1 reference)
    flags: np.ndarray  # (blocks,) int64 in coding order: 1 where a block equals its prediction
    flag_ctx: np.ndarray  # (blocks,) their flag contexts
    flag_starts: np.ndarray  # (wavefronts + 1,) each wavefront's first block, then the blocks
    differences: np.ndarray  # (2, moved) the moved blocks' difference symbols, in coding order
    activity: np.ndarray  # (moved,) their activity contexts
    picks: np.ndarray  # (moved,) their references (empty: one reference)
    moved_starts: np.ndarray  # (wavefronts + 1,) each wavefront's first moved block, then the moved

    def batches(self) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        """Per wavefront: (flags, flag contexts, moved blocks' differences (2, n), their activity
        contexts, their references)."""
        flag_ends, moved_ends = self.flag_starts[1:], self.moved_starts[1:]
        fronts = zip(self.flag_starts[:-1], flag_ends, self.moved_starts[:-1], moved_ends, strict=True)
        for f0, f1, m0, m1 in fronts:
            picks = self.picks[m0:m1] if self.references > 1 else self.picks
            yield (
                self.flags[f0:f1],
                self.flag_ctx[f0:f1],
                self.differences[:, m0:m1],
                self.activity[m0:m1],
                picks,
            )


def _components(vy: np.ndarray, vx: np.ndarray, ref: np.ndarray, references: int) -> np.ndarray:
    """(components, blocks) int64: vertical, horizontal and (more than one reference) reference."""
    parts = [vy, vx] + ([ref] if references > 1 else [])
    return np.stack([np.asarray(p, np.int64).ravel() for p in parts])


def _predict(values: np.ndarray, neighbours: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(prediction (components, n), flag context, activity context) of the blocks whose neighbours
    a, b, c, d are ``neighbours``, from the decoded ``values`` (components, blocks + 1): the last
    column is zeros, what a missing neighbour (-1) reads."""
    a, b, d = values[:, neighbours[[0, 1, 3]]].transpose(1, 0, 2)
    prediction = np.maximum(np.minimum(a, b), np.minimum(np.maximum(a, b), d))  # the median
    flag_ctx = (a == prediction).all(axis=0).astype(np.int64) + (b == prediction).all(axis=0)
    activity = (np.abs(a[:2] - b[:2]) + np.abs(b[:2] - d[:2])).sum(axis=0)
    return prediction, flag_ctx, np.searchsorted(ACTIVITY_THRESHOLDS, activity, side="right")


def _flag_rows(flag_q: np.ndarray) -> np.ndarray:
    """Per flag context, its row (P(moved), P(equal)) in 1/256."""
    q = flag_q.astype(np.float64)
    return np.stack([PROBABILITY_ONE - q, q], axis=1)


def _quantized(count: np.ndarray, total: float) -> np.ndarray:
    """Probabilities in 1/256 of events counted ``count`` times out of ``total`` (kept off 0 and 1)."""
    return np.clip(np.round(PROBABILITY_ONE * (count + 0.5) / (total + 1.0)), 1, PROBABILITY_ONE - 1).astype(
        np.int64
    )


def plan(vy: np.ndarray, vx: np.ndarray, ref: np.ndarray, references: int) -> FieldCode:
    """The field (vy, vx in quarter samples, ``ref`` each block's reference of ``references``)
    as coded: its probabilities and scales fitted to it, its symbols and its estimated bits."""
    bh, bw = vy.shape
    values = _components(vy, vx, ref, references)
    fronts = raster_rule.wavefronts(bh, bw)
    order = fronts.order
    padded = np.concatenate([values, np.zeros((values.shape[0], 1), np.int64)], axis=1)
    prediction, flag_ctx, act_ctx = _predict(padded, np.concatenate(fronts.neighbours, axis=1))
    coded = values[:, order]
    equal = (coded == prediction).all(axis=0)
    flag_q = _quantized(
        np.bincount(flag_ctx[equal], minlength=FLAG_CONTEXTS), np.bincount(flag_ctx, minlength=FLAG_CONTEXTS)
    )
    moved = ~equal
    symbols = (coded[:2] - prediction[:2] + _CENTRE) & (PROBABILITY_ONE - 1)  # (2, n)
    # Each activity context's scale: the cheapest for its differences (a histogram of their
    # distances from the centre, costed at every scale at once); then their exact bits.
    bits_table = _bits_table()
    differences = symbols[:, moved]
    activity = act_ctx[moved]
    distance = np.abs(16 * differences - 16 * _CENTRE)
    columns = bits_table.shape[1]
    hist = np.bincount(
        (activity * columns + distance).ravel(), minlength=ACTIVITY_CONTEXTS * columns
    ).reshape(ACTIVITY_CONTEXTS, columns)
    scales = np.argmin(hist.astype(np.float64) @ bits_table.T, axis=1).astype(np.int64)
    moved_symbols = differences.ravel()
    centre = np.full(moved_symbols.size, 16 * _CENTRE)
    bits = 8.0 * FLAG_CONTEXTS + 6.0 * ACTIVITY_CONTEXTS
    bits += float(entropy.laplace_bits(moved_symbols, centre, np.tile(scales[activity], 2)).sum())
    q = flag_q[flag_ctx].astype(np.float64) / PROBABILITY_ONE
    bits += float(-np.log2(np.where(equal, q, 1.0 - q)).sum())
    reference_q = np.zeros(0, np.int64)
    picks = np.zeros(0, np.int64)
    if references > 1:
        picks = coded[2, moved]
        reference_q = _quantized(np.bincount(picks, minlength=references)[:references], picks.size)
        share = reference_q.astype(np.float64) / reference_q.sum()
        bits += 8.0 * references + float(-np.log2(share[picks]).sum())
    flag_starts = np.cumsum([0, *(t.size for t in fronts.targets)])
    moved_starts = np.concatenate([[0], np.cumsum(moved)[flag_starts[1:] - 1]])
    return FieldCode(
        bits,
        references,
        flag_q,
        scales,
        reference_q,
        equal.astype(np.int64),
        flag_ctx,
        flag_starts,
        differences,
        activity,
        picks,
        moved_starts,
    )


@functools.cache
def _bits_table() -> np.ndarray:
    """``entropy.interior_bits_table`` in float64, made once (``plan`` costs every field with it)."""
    table = entropy.interior_bits_table().astype(np.float64)
    table.setflags(write=False)
    return table


def write_header(enc: entropy.FrameEncoder, field: FieldCode) -> None:
    """The flag probabilities, the differences' scales and (more than one reference) the
    references' probabilities, each uniform."""
    enc.encode_categorical(field.flag_q, np.ones((FLAG_CONTEXTS, PROBABILITY_ONE)))
    enc.encode_categorical(field.scales, np.ones((ACTIVITY_CONTEXTS, SCALES)))
    if field.references > 1:
        enc.encode_categorical(field.reference_q, np.ones((field.references, PROBABILITY_ONE)))


def write_symbols(enc: entropy.FrameEncoder, field: FieldCode) -> None:
    """Wavefront by wavefront: the flags, then the moved blocks' vertical differences and their
    horizontal ones (one call: the same words as two), then their references."""
    share = field.reference_q.astype(np.float64)
    rows = _flag_rows(field.flag_q)
    if enc.ranges is not None:  # every wavefront in one compiled call
        enc.ranges.encode_batches(
            field.flags,
            field.flag_ctx,
            field.flag_starts,
            rows,
            field.differences,
            field.scales[field.activity],
            field.moved_starts,
            field.picks if field.references > 1 else np.zeros(0, np.int64),
            share if field.references > 1 else np.zeros(1),
            16 * _CENTRE,
        )
        return
    for flags, flag_ctx, symbols, act_ctx, picks in field.batches():
        enc.encode_categorical(flags, rows[flag_ctx])
        if act_ctx.size:
            scales = np.tile(field.scales[act_ctx], 2)
            enc.encode(symbols.ravel(), np.full(scales.size, 16 * _CENTRE), scales)
            if field.references > 1:
                enc.encode_categorical(picks, np.broadcast_to(share, (picks.size, share.size)))


@dataclass(frozen=True)
class FieldHeader:
    """What the decoder reads before the frame planes' tables (``write_header``)."""

    references: int
    flag_q: np.ndarray
    scales: np.ndarray
    reference_q: np.ndarray


def read_header(dec: entropy.FrameDecoder, references: int) -> FieldHeader:
    """``write_header``'s values; a probability of 0 is refused."""
    flag_q = dec.decode_categorical(np.ones((FLAG_CONTEXTS, PROBABILITY_ONE))).astype(np.int64)
    scales = dec.decode_categorical(np.ones((ACTIVITY_CONTEXTS, SCALES))).astype(np.int64)
    reference_q = np.zeros(0, np.int64)
    if references > 1:
        reference_q = dec.decode_categorical(np.ones((references, PROBABILITY_ONE))).astype(np.int64)
    if (flag_q == 0).any() or (reference_q == 0).any():
        raise FormatError("planar frame: a motion field probability of 0")
    return FieldHeader(references, flag_q, scales, reference_q)


def read_symbols(
    dec: entropy.FrameDecoder, header: FieldHeader, bh: int, bw: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The field (vy, vx, reference), each (bh, bw) int64, wavefront by wavefront. Components
    come out in -128..127 (the caller refuses -128) and references in 0..references-1."""
    components = 3 if header.references > 1 else 2
    values = np.zeros((components, bh * bw + 1), np.int64)  # the last column: a missing neighbour
    if dec.ranges is not None:  # the whole field in one compiled call
        from . import motion_kernel  # numba: loaded on first use

        motion_kernel.read_field(
            dec.ranges,
            values,
            bh,
            bw,
            _flag_rows(header.flag_q),
            header.scales,
            header.reference_q.astype(np.float64),
            ACTIVITY_THRESHOLDS,
            _CENTRE,
        )
        return _field(values, bh, bw)
    fronts = raster_rule.wavefronts(bh, bw)
    share = header.reference_q.astype(np.float64)
    flag_rows = _flag_rows(header.flag_q)
    for targets, neighbours in zip(fronts.targets, fronts.neighbours, strict=True):
        prediction, flag_ctx, act_ctx = _predict(values, neighbours)
        flags = dec.decode_categorical(flag_rows[flag_ctx])
        moved = np.flatnonzero(flags == 0)
        if moved.size:
            scales = np.tile(header.scales[act_ctx[moved]], 2)
            symbols = dec.decode(np.full(scales.size, 16 * _CENTRE), scales).astype(np.int64).reshape(2, -1)
            prediction[:2, moved] = ((prediction[:2, moved] + symbols) & (PROBABILITY_ONE - 1)) - _CENTRE
            if header.references > 1:
                prediction[2, moved] = dec.decode_categorical(
                    np.broadcast_to(share, (moved.size, share.size))
                )
        values[:, targets] = prediction
    return _field(values, bh, bw)


def _field(values: np.ndarray, bh: int, bw: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(vy, vx, reference) of the decoded ``values`` (components, blocks + 1)."""
    vy, vx = values[0, :-1].reshape(bh, bw), values[1, :-1].reshape(bh, bw)
    ref = values[2, :-1].reshape(bh, bw) if values.shape[0] == 3 else np.zeros((bh, bw), np.int64)
    return vy, vx, ref
