"""Mode 6, planar frames (format version 7): a frame in its source's own pixel format, plane by plane.

The payload is a kind word (u32) and the range coder's words. Kinds: 0 intra (coarse-to-fine
passes, ``codec.planar_rule``), 1 inter (the same passes against motion-compensated references,
``codec.motion``), 2 raster intra and 3 raster inter (wavefronts, ``codec.raster_rule``); the
encoder estimates each and codes the cheapest. An inter frame first codes its luma motion field,
one vector and reference per block: from version 13 in wavefronts against the neighbours' median
(``codec.motion_field``); before, as planes of one sample per block (vertical, then horizontal
component + FIELD_OFFSET, then the reference index when there is a choice), coded as intra
planes. Then the frame's planes. The words hold the field's header (version 13), every coded
plane's table of Laplace scale indices (one per context of the plane's rule; from version 12 a
wavefront plane's table is followed by its error levels' offsets, ``raster_rule.error_levels``,
and from version 13 those offsets by the plane's refinement, ``raster_rule.refine``), the
field, then every coded plane's samples, batch by batch (a pass or a wavefront), in
``entropy``'s windowed rows. From version 14 a raster frame may code its planes in substreams,
runs of whole tile rows each coded as a plane of its own rows and in a range coder of its own
(the kind word's bits 8-15 say how many less one, word counts follow it): the runs share nothing,
so two threads decode a plane's two runs side by side (``planar_kernel.decode_raster_plane``).

Samples of 8 bits are coded under the Laplace rows of 0..255; deeper ones (9-16 bits) as their
top 8 bits under the same rows and then their next (up to 4) bits under the rows of
``entropy.low_bits_rows`` (the same Laplace at finer steps); a 14- or 16-bit sample's lowest 2 or 4
bits follow, uniform (version 17).
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np

from ...bitstream import entropy
from ...bitstream.errors import FormatError
from .. import (
    dct_coding,
    intra,
    motion,
    motion_field,
    planar_probe,
    planar_rule,
    raster_rule,
    refinement,
    rgb_planes,
    sample_bits,
    threads,
)


KIND_INTRA = 0
KIND_INTER = 1
KIND_RASTER = 2
KIND_RASTER_INTER = 3
#: Version 19: the planes' 8x8 blocks as JPEG levels (``codec.dct_coding``); the kind word is 4.
KIND_JPEG = 4
#: Versions 7 to 12: field samples are vector components + FIELD_OFFSET (0..255, like pixel values).
FIELD_OFFSET = 128
#: The context tables: entry k - entry k-1 (the first: minus TABLE_START) + TABLE_OFFSET, coded
#: as values 0..255 around TABLE_OFFSET at scale index TABLE_SCALE_IDX, all in one batch.
TABLE_START = 32
TABLE_OFFSET = 128
TABLE_SCALE_IDX = int(entropy.quantize_scale(np.float64(0.6)))
#: Scale indices: 0..SCALES-1.
SCALES = len(entropy.SCALE_TABLE)
#: An error level's offset (version 12) is within +-OFFSET_MAX; the encoder tries +-OFFSET_SEARCH.
OFFSET_MAX = 63
OFFSET_SEARCH = 24
#: A refinement weight (version 13) is coded as its top bits (weight >> WEIGHT_LOW_BITS, + 128)
#: under the Laplace rows of 0..255 at WEIGHT_SCALE_IDX, then its WEIGHT_LOW_BITS low bits, uniform.
WEIGHT_LOW_BITS = 4
WEIGHT_SCALE_IDX = int(entropy.quantize_scale(np.float64(4.0)))
#: A sample deeper than 8 bits codes at most this many of its low bits under the Laplace at finer
#: steps (12 bits' resolution in all); a 14- or 16-bit sample's lowest 2 or 4 bits follow,
#: uniform (version 17: a mean is not finer than that, and those bits are mostly noise).
MODELLED_LOW_BITS = entropy.LOW_BITS_MAX
#: The encoder costs a raster plane unrefined as well (to keep the cheaper) only where the
#: refinement's estimated gain (``refinement.Fit.gain_bits``) is below SURE_REFINEMENT times its
#: weights' bits. On the dev clips every plane above 2x came out smaller refined; at 4x the planes
#: that skip the second costing (104 of 249) hold 72 % of the samples.
SURE_REFINEMENT = 4.0
#: Version 14: the encoder codes a raster inter frame whose luma plane has at least
#: SUBSTREAM_SAMPLES samples, and a raster intra frame from INTRA_SUBSTREAM_SAMPLES, in SUBSTREAMS
#: substreams (``raster_rule.substream_rows``), which two threads decode side by side; smaller
#: frames in one. A substream costs its own end (a word or two) and its count (a word), and in
#: raster intra its runs' edges: the second run's first row is predicted as a plane's first row,
#: from its left neighbours only (on the natural clips, splitting 320x240 intra frames too cost
#: 0.12 % of all bytes instead of 0.03 %, 0.6 % on a clip of intra frames; a row in 120).
SUBSTREAMS = 2
SUBSTREAM_SAMPLES = 1 << 15
INTRA_SUBSTREAM_SAMPLES = 1 << 17
#: Version 17: the kind word's bit that says a sample rule word per plane follows it.
RULES_BIT = 1 << 16
#: Version 18: the kind word's bit that says an inter frame's motion field has blocks of
#: motion.LARGE_BLOCK luma samples (16x16), not motion.BLOCK (8x8).
LARGE_BLOCKS_BIT = 1 << 17
#: Version 20: an inter frame's interpolation rule (``motion.INTERPOLATIONS``) is in the kind
#: word's bits 18 and 19 (0: H.264's, as before).
INTERPOLATION_SHIFT = 18
#: The encoder reads an inter frame's references by an MPEG rule where its comparison
#: (``_interpolation``) costs at most 1 - INTERPOLATION_MARGIN times H.264's, or less than H.264's
#: once a frame since the key frame came to at most 1 - planar_probe.MPEG_CLEAR (MPEG-made
#: video: there the rules win near ties too). On the dev clips made MPEG-1/2/4, 0.1 % above
#: taking every MPEG rule that costs less; on H.264-made clips the comparison's ratio is 1.004 to
#: 1.32, and on a small 10-bit clip swscale scaled (tests/data/bikes_yuv420p10le_48x36.mkv) two
#: frames at 0.988 and 0.991 were a little larger read by an MPEG rule.
INTERPOLATION_MARGIN = 0.02


@dataclass(frozen=True)
class PlaneGeometry:
    """A plane's size and its subsampling relative to luma (log2), which scales the motion field."""

    height: int
    width: int
    log2_h: int = 0
    log2_w: int = 0
    depth: int = 8  # bits per sample, 8..16
    #: coded less plane 0, at the coded depth (``rgb_planes.less_green``): planar RGB's blue and
    #: red planes (pixel formats 23 and 24, version 17)
    less_green: bool = False

    @property
    def max_value(self) -> int:
        return (1 << self.depth) - 1

    def block(self, size: int = motion.BLOCK) -> tuple[int, int]:
        """(rows, columns) of this plane covered by a motion block of ``size`` luma samples."""
        return size >> self.log2_h, size >> self.log2_w


class Wavefronts(NamedTuple):
    """A raster plane's samples as the encoder codes them: in coding order, their flat indices,
    means and (context, error level) pairs, and each wavefront's first sample (one more at the
    end). ``encode`` codes a run of wavefronts from these arrays' slices: the arrays it had
    concatenated again from a list of each wavefront's slices."""

    order: np.ndarray
    mean: np.ndarray  # int32, 1/16 of a sample
    pair: np.ndarray  # int16
    starts: np.ndarray  # int64


@dataclass(frozen=True, eq=False)
class PlanarCandidate:
    """One kind's offer: its estimated bits and what ``encode`` needs."""

    kind: int
    bits: float
    coded: list[np.ndarray]  # flat SAMPLE_DTYPE planes in coding order: the frame's
    sizes: list[tuple[int, int, int]]  # per coded plane: height, width, bits per sample
    #: per plane: a coarse-to-fine plane's (means, contexts) per pass of ``intra.passes`` (whose
    #: samples are not held: a large frame's are made again as they are read), a raster plane's
    #: ``Wavefronts``
    params: list[list[tuple[np.ndarray, np.ndarray]] | Wavefronts]
    tables: list[np.ndarray]  # per plane: scale index per context
    wavefront_planes: int = 0  # how many of the last coded planes are coded in wavefronts
    offsets: tuple[np.ndarray, ...] = ()  # per wavefront plane: its error levels' offsets (version 12)
    weights: tuple[np.ndarray, ...] = ()  # per wavefront plane: its refinement (version 13)
    field: motion_field.FieldCode | None = None  # inter kinds: the motion field (version 13)
    runs: int = 1  # raster kinds: the planes' runs, a substream each (version 14)
    #: per frame plane, which of its bits are coded (version 17); empty: every plane as it stands
    rules: tuple[sample_bits.SampleBits, ...] = ()
    block: int = motion.BLOCK  # inter kinds: the field's block size (motion.LARGE_BLOCK: version 18)
    interpolation: int = motion.H264  # inter kinds: how the references are read (version 20)

    def coding_table(self, k: int) -> np.ndarray:
        """Coded plane k's scale index per context of its batches (a wavefront plane's contexts are
        (context, error level) pairs: ``raster_rule.level_scales``)."""
        raster_from = len(self.coded) - self.wavefront_planes
        if k < raster_from:
            return self.tables[k]
        return raster_rule.level_scales(self.tables[k], self.offsets[k - raster_from], SCALES)


def estimate(
    planes: list[np.ndarray],
    references: list[list[np.ndarray]],
    geometry: list[PlaneGeometry],
    probe: planar_probe.PlanarProbe | None = None,
    interpolations: bool = True,
) -> PlanarCandidate:
    """The cheapest of the intra kinds and (with earlier frames: ``references``, the last decoded
    frame first, at most motion.REFERENCES) the inter kinds of ``planes``; with a ``probe``, an
    inter frame leaves out the groups of kinds the probe finds not worth estimating (and tells it
    how the others fared); ``interpolations``: inter frames may read their references by an MPEG
    rule (version 20; else by H.264's). Of equal estimates the first in the order intra, raster intra,
    inter, raster inter is taken. The frame is coded as its coded values (version 17: its planes'
    sample rules, blue and red less green) against its references brought to them alike."""
    green = [k for k, g in enumerate(geometry) if g.less_green]
    common = None
    if green:  # one rule for green and the planes coded less green
        common = sample_bits.fit(np.concatenate([planes[k].ravel() for k in [0, *green]]), geometry[0].depth)
    rules = tuple(
        common if common is not None and (k == 0 or k in green) else sample_bits.fit(p, g.depth)
        for k, (p, g) in enumerate(zip(planes, geometry, strict=True))
    )
    plain = all(r == sample_bits.plain(g.depth) for r, g in zip(rules, geometry, strict=True))
    if not plain or green:
        planes = _coded_values(planes, rules, geometry)
        references = [_coded_values(ref, rules, geometry) for ref in references]
        geometry = [replace(g, depth=r.depth) for g, r in zip(geometry, rules, strict=True)]
    if plain:
        rules = ()  # no rule words
    candidate = _cheapest(planes, references, geometry, probe, interpolations)
    return replace(candidate, rules=rules) if rules else candidate


def _coded_values(
    planes: list[np.ndarray], rules: list[sample_bits.SampleBits], geometry: list[PlaneGeometry]
) -> list[np.ndarray]:
    """A frame's planes as coded (version 17): each plane's values under its sample rule
    (``sample_bits.reduce``: clamped, for a reference frame), then blue and red less
    green, plane 0 (``rgb_planes.less_green``), in the coded depth's dtype."""
    out = [sample_bits.reduce(p, r) for p, r in zip(planes, rules, strict=True)]
    for k, (g, r) in enumerate(zip(geometry, rules, strict=True)):
        if g.less_green:
            out[k] = rgb_planes.less_green(out[k], out[0], r.depth)
    return [p.astype(np.uint8 if r.depth == 8 else np.uint16) for p, r in zip(out, rules, strict=True)]


def _coded_samples(
    planes: list[np.ndarray], rules: list[sample_bits.SampleBits], geometry: list[PlaneGeometry]
) -> list[np.ndarray]:
    """``_coded_values`` undone for a decoded frame (``geometry``: the frame's own)."""
    out = [p.astype(np.int64) for p in planes]
    for k, (g, r) in enumerate(zip(geometry, rules, strict=True)):
        if g.less_green:
            out[k] = rgb_planes.plus_green(out[k], out[0], r.depth)
    return [
        sample_bits.expand(p, r, g.depth).astype(np.uint8 if g.depth == 8 else np.uint16)
        for p, r, g in zip(out, rules, geometry, strict=True)
    ]


def _cheapest(
    planes: list[np.ndarray],
    references: list[list[np.ndarray]],
    geometry: list[PlaneGeometry],
    probe: planar_probe.PlanarProbe | None,
    interpolations: bool = True,
) -> PlanarCandidate:
    """``estimate`` of planes as coded, against references as coded."""
    flat = [p.astype(planar_rule.SAMPLE_DTYPE).ravel() for p in planes]
    sizes = [(g.height, g.width, g.depth) for g in geometry]
    runs = substreams(geometry[0].height, geometry[0].width)
    intra_runs = substreams(geometry[0].height, geometry[0].width, intra=True)
    # The best so far and its rank (of equal estimates the lower rank wins): a loser is dropped as
    # soon as it loses, so that at most two kinds' means and contexts are held at once.
    best: tuple[float, int, PlanarCandidate] | None = None

    def offer(candidate: PlanarCandidate, rank: int) -> float:
        nonlocal best
        if best is None or (candidate.bits, rank) < best[:2]:
            best = (candidate.bits, rank, candidate)
        return candidate.bits

    ctf_inter_bits, best_inter, motion_cost = None, None, 0.0
    raster_inter: dict[int, float | None] = {}  # per field block size: raster inter's estimate
    if references:
        halves = [motion.half_sample_plane(ref[0], geometry[0].max_value) for ref in references]
        blocks = _block_sizes(probe)
        # The 16x16 search always (the 8x8 field merges from it); the 8x8 one where it is estimated.
        large = _field_search(planes[0], references, halves, motion.LARGE_BLOCK)
        rule = motion.H264
        if interpolations and (probe is None or probe.try_interpolations()):
            rule, ratio = _interpolation(planes, references, geometry, large, halves)
            if probe is not None:
                probe.compared_interpolations(ratio)
            if ratio > 1 - INTERPOLATION_MARGIN and not (probe is not None and probe.mpeg_made):
                rule = motion.H264  # a close call, and no frame of the stream was clearly MPEG-made
        if rule != motion.H264:  # searched again through the references as the rule reads them
            del halves  # before the rule's are made: 4 bytes a luma sample per reference (8 above 8 bits)
            halves = [motion.half_sample_plane(ref[0], geometry[0].max_value, rule) for ref in references]
            large = _field_search(planes[0], references, halves, motion.LARGE_BLOCK)
        small = _field_search(planes[0], references, halves, motion.BLOCK) if motion.BLOCK in blocks else None
        motion_cost = float(large.cost.sum())  # what the probe compares frames by
        compensated = []  # per block size: its field and motion-compensated planes
        for block in blocks:
            vy, vx, pick = large[:3] if block == motion.LARGE_BLOCK else _merged(small, large)
            field = motion_field.plan(vy, vx, pick, len(references))  # once, for both kinds
            compensated.append(
                (block, field, list(_mc_planes(references, vy, vx, pick, geometry, halves, block, rule)))
            )
        # the references' half-sample planes go before the estimates: 4 bytes a luma sample each
        # (8 above 8 bits), against 2 a sample for a block size's compensated planes
        del halves, small, large
        while compensated:  # popped: a block size's planes go once it is estimated
            block, field, mcs = compensated.pop(0)
            if ctf_inter_bits is None and (probe is None or probe.worth(planar_probe.CTF_INTER, motion_cost)):
                ctf = _joined(field, _plan(KIND_INTER, flat, mcs, sizes), block)
                ctf_inter_bits = offer(replace(ctf, interpolation=rule), 2)
                del ctf  # a loser's means and contexts go as soon as it loses (``offer``)
            raster = _plan_raster(flat, sizes, mcs, field, runs=runs, block=block)
            raster_inter[block] = offer(replace(raster, interpolation=rule), 3)
            del mcs, raster
        best_inter = min(
            min(b for b in raster_inter.values() if b is not None),
            ctf_inter_bits if ctf_inter_bits is not None else np.inf,
        )
    intra_bits = None
    if probe is None or not references or probe.worth(planar_probe.INTRA, motion_cost, best_inter):
        intra_bits = offer(_plan(KIND_INTRA, flat, [None] * len(planes), sizes), 0)
        # Raster intra refined only: its plan costs each plane unrefined too where the refinement
        # is not sure to pay (SURE_REFINEMENT), in about the time of an unrefined plan, so the
        # unrefined frame is not estimated first (a 12.6-Mpixel still: 16.4 -> 13.0 s to encode;
        # the same streams: bench/results/speed_cli/ab_intra_refined.md).
        large_frame = sizes[0][0] * sizes[0][1] > raster_rule.CACHED_INTRA_SAMPLES
        if large_frame and references:
            # Raster inter's cached schedules (20 bytes a sample) are not held through raster
            # intra's (as many): they are made again, in about 15 ms a megapixel, where inter wins.
            raster_rule.run_schedule_cache_clear()
        intra_bits = min(intra_bits, offer(_plan_raster(flat, sizes, runs=intra_runs), 4))
        if large_frame and best[2].kind != KIND_RASTER:
            raster_rule.forget_kept_schedules()  # the untiled schedules: only raster intra reads them
    if probe is not None and references:
        probe.update(planar_probe.INTRA, intra_bits, best[0], motion_cost)
        probe.update(planar_probe.CTF_INTER, ctf_inter_bits, best[0], motion_cost)
        best_raster = min(b for b in raster_inter.values() if b is not None)
        for block, group in _BLOCK_GROUPS.items():
            probe.update(group, raster_inter.get(block), best_raster, motion_cost)
    return best[2]


#: The probe's group of each field block size.
_BLOCK_GROUPS = {motion.BLOCK: planar_probe.SMALL_BLOCKS, motion.LARGE_BLOCK: planar_probe.LARGE_BLOCKS}
#: A field of 8x8 blocks takes a 16x16 block's vector and reference for its four blocks where the
#: 16x16 search's cost there is at most 1 + MERGE_SLACK times the sum of theirs (an encoder
#: choice; the format is the same). Where the four vectors only follow noise the field gets
#: smoother and cheaper at no cost in prediction: on the dev clips' inter frames the merged field
#: is 1.2-6.3 % below the plain one (bigbuckbunny -4.1 %), and the best of it and the 16x16 field
#: 1.6 % below the best of the plain and the 16x16 fields (slack 0: -1.5 %, 0.25: -1.5 %).
MERGE_SLACK = 0.1


class _Field(NamedTuple):
    """A motion search's field over all references: per block its vector, reference and cost
    (the sum of absolute differences plus the vector's and the reference's penalties)."""

    vy: np.ndarray
    vx: np.ndarray
    pick: np.ndarray
    cost: np.ndarray


def _field_search(
    luma: np.ndarray, references: list[list[np.ndarray]], halves: list[np.ndarray], block: int
) -> _Field:
    """The encoder's field of ``block``-sample blocks: each reference's search, and per block the
    cheapest reference (further ones by REFERENCE_PENALTY a step)."""
    levels = motion.current_levels(luma, block)  # the same for every reference
    found = [
        motion.search(luma, ref[0], half, block, levels) for ref, half in zip(references, halves, strict=True)
    ]
    cost = np.stack([c + motion.REFERENCE_PENALTY * r for r, (_, _, c) in enumerate(found)])
    pick = np.argmin(cost, axis=0)
    vy = np.choose(pick, [f[0] for f in found])
    vx = np.choose(pick, [f[1] for f in found])
    return _Field(vy, vx, pick, np.take_along_axis(cost, pick[None], axis=0)[0])


def _merged(small: _Field, large: _Field) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(vy, vx, reference) of an 8x8 field (``small``) that takes the 16x16 field's (``large``)
    vector and reference in the four blocks of each 16x16 block whose cost is at most 1 +
    MERGE_SLACK times the sum of theirs (a 16x16 block past the plane's last 8x8 row or column
    compares with the blocks it has)."""
    bh, bw = small.vy.shape
    padded = np.pad(small.cost.astype(np.float64), ((0, bh % 2), (0, bw % 2)))
    four = padded.reshape(padded.shape[0] // 2, 2, padded.shape[1] // 2, 2).sum(axis=(1, 3))
    take = large.cost <= (1 + MERGE_SLACK) * four

    def up(v: np.ndarray) -> np.ndarray:
        return np.repeat(np.repeat(v, 2, axis=0), 2, axis=1)[:bh, :bw]

    here = up(take)
    return (
        np.where(here, up(large.vy), small.vy),
        np.where(here, up(large.vx), small.vx),
        np.where(here, up(large.pick), small.pick),
    )


def _block_sizes(probe: planar_probe.PlanarProbe | None) -> list[int]:
    """The field block sizes an inter frame's encoder estimates (version 18), 8x8 first: both,
    less a size that the ``probe`` finds losing to the other by its margin (the one estimated
    last is never losing, so one size is always left; 8x8 should none be)."""
    if probe is None:
        return list(_BLOCK_GROUPS)
    sizes = [b for b, group in _BLOCK_GROUPS.items() if probe.worth(group, None)]
    return sizes or [motion.BLOCK]


def _interpolation(
    planes: list[np.ndarray],
    references: list[list[np.ndarray]],
    geometry: list[PlaneGeometry],
    found: _Field,
    halves: list[np.ndarray],
) -> tuple[int, float]:
    """The interpolation rule (``motion.INTERPOLATIONS``) whose motion-compensated planes, along
    the field ``found`` through H.264's half samples (``halves``), are nearest the frame's (the
    sum of ``_LOG_COST`` over every plane's samples; ties to the lower rule), and its cost over
    H.264's. Video that an MPEG-1/2 or MPEG-4 encoder made copies its blocks through bilinear
    half samples: there its rule leaves many blocks exact, which H.264's filter does not;
    elsewhere H.264's wins (it predicts better)."""
    costs: list[list[float]] = []  # per rule, per plane
    for rule in range(motion.INTERPOLATIONS):
        given = halves if rule == motion.H264 else None  # else made for the references the field picks
        # MPEG4 reads luma as MPEG12 does (only their chroma vectors differ): its luma cost is theirs
        first = 1 if rule == motion.MPEG4 else 0
        mcs = _mc_planes(
            references, found.vy, found.vx, found.pick, geometry, given, motion.LARGE_BLOCK, rule, first
        )
        plane_costs = [_log_cost(p, mc) for p, mc in zip(planes[first:], mcs, strict=True)]
        costs.append((costs[motion.MPEG12][:1] if first else []) + plane_costs)
    totals = [sum(c) for c in costs]
    best = int(np.argmin(totals))
    return best, totals[best] / max(totals[motion.H264], 1.0)


#: ``_interpolation``'s cost of a difference d: log2(1 + |d|) (a Laplace's code length grows
#: with the log of the error; an exact sample costs nothing, which is what the MPEG rules give).
_LOG_COST = np.log2(1.0 + np.arange(256))
#: Samples per step of ``_log_cost``.
_COST_CHUNK = 1 << 16


def _log_cost(plane: np.ndarray, mc: np.ndarray) -> float:
    """The sum of ``_LOG_COST`` over |plane - mc| per sample, clipped at 255 (a deeper plane's
    larger differences all cost the most): counted as a histogram of the differences, a chunk
    of _COST_CHUNK samples at a time, so that no whole plane of int64 differences
    and float costs is made (14 MB at 1280x720, the largest item of that encoder's peak)."""
    plane = plane.ravel()
    counts = np.zeros(_LOG_COST.size, np.int64)
    for at in range(0, plane.size, _COST_CHUNK):
        d = np.abs(plane[at : at + _COST_CHUNK].astype(np.int32) - mc[at : at + _COST_CHUNK])
        counts += np.bincount(np.minimum(d, _LOG_COST.size - 1), minlength=_LOG_COST.size)
    return float(counts @ _LOG_COST)


def _mc_planes(
    references: list[list[np.ndarray]],
    vy: np.ndarray,
    vx: np.ndarray,
    pick: np.ndarray,
    geometry: list[PlaneGeometry],
    luma_halves: list[np.ndarray] | None = None,
    block: int = motion.BLOCK,
    rule: int = motion.H264,
    first: int = 0,
):
    """The motion-compensated planes (flat ``planar_rule.MC_DTYPE``, uint16, a quarter of int64's
    bytes: the rules' kernels widen each value they read) from plane ``first`` on: each block
    (``block`` luma samples square) from its reference frame, luma at quarter samples, the other
    planes by the chroma rule (also the planes of 4:4:4); the references read by the
    interpolation ``rule`` (``luma_halves``: their half-sample planes by it, where the caller has
    them)."""
    from .. import motion_kernel  # numba: loaded on first use

    pick = np.ascontiguousarray(pick, np.int64)
    for k, g in enumerate(geometry[first:], first):
        mc = np.zeros((g.height, g.width), planar_rule.MC_DTYPE)
        for r in np.unique(pick):  # each reference's blocks, compensated from it alone
            ref = references[r][k]
            if k == 0:
                half = (
                    luma_halves[r]
                    if luma_halves is not None
                    else motion.half_sample_plane(ref, g.max_value, rule)
                )
                motion_kernel.compensate_into(mc, half, vy, vx, pick, int(r), *g.block(block))
                del half  # before the next reference's is made: 4 or 8 bytes a luma sample
            else:
                motion_kernel.compensate_chroma_into(
                    mc, ref, vy, vx, pick, int(r), g.log2_h, g.log2_w, *g.block(block), rule
                )
        yield mc.ravel()


def _plan(
    kind: int, coded: list[np.ndarray], mcs: list, sizes: list[tuple[int, int, int]]
) -> PlanarCandidate:
    """Means, contexts and fitted tables of every plane in coding order (in the passes of
    ``intra``, by ``planar_rule``), and the estimated bits."""
    params, tables = [], []
    bits = 0.0
    for flat, mc, hint, (h, w, depth) in zip(coded, mcs, _hints(coded, mcs, sizes), sizes, strict=True):
        plane_params = [
            (p.targets, *planar_rule.pass_params(flat, mc, p, (1 << depth) - 1, hint))
            for p in _encoder_passes(h, w)
        ]
        table, plane_bits = _fit_table(flat, plane_params, depth, planar_rule.CONTEXTS)
        # held until coded, so as small as they go (``_held_means``; contexts < 106), and without
        # the passes' samples: ``encode`` reads them again (a 1080p luma plane's 8 MB)
        params.append([(_held_means(m, depth), x.astype(np.int16, copy=False)) for _, m, x in plane_params])
        del plane_params
        tables.append(table)
        bits += plane_bits + _table_bits(table)
    return PlanarCandidate(kind, bits, coded, sizes, params, tables)


#: The raster planes of a frame of at most this many samples (all its planes) copy the schedule's
#: neighbour indices into rows once for all the rules' kernels, which copy them each again
#: otherwise (4 % of a 640x272 clip's encode). Larger ones do not: a copy held through the plane's
#: fit took 16 bytes a sample at the encoder's peak (a 2048x2048 photo as planes 849 -> 909 MB), a
#: kernel's own copy goes when the kernel returns.
SHARED_ROWS_SAMPLES = 1 << 18


def _held_means(mean: np.ndarray, depth: int) -> np.ndarray:
    """A candidate's means as it holds them until coded (the coders widen them a call at a time):
    int16 for 8-bit samples (at most 16 x 255), else int32 (at most 16 x 65535)."""
    return mean.astype(np.int16 if depth == 8 else np.int32, copy=False)


#: The encoder keeps a coarse-to-fine plane's passes (``intra.passes``: 20 bytes a sample, the
#: largest item of a 640x480 frame's peak) between candidates and frames only up to this many
#: samples; a larger plane's are made again for each candidate and for the coder (2 ms for a
#: 640x480 plane, a few a frame).
KEPT_PASSES_SAMPLES = 1 << 17


def _encoder_passes(height: int, width: int) -> tuple[intra.Pass, ...] | intra.Schedule:
    """``intra.passes`` as the encoder reads them: kept only up to KEPT_PASSES_SAMPLES."""
    return intra.passes(height, width, kept_up_to=KEPT_PASSES_SAMPLES)


def _encoder_schedule(height: int, width: int, tile: tuple[int, int], runs: int, frame_samples: int) -> tuple:
    """``raster_rule.run_schedule`` as the encoder reads it for a plane of a frame of
    ``frame_samples`` samples in all: in frames above SHARED_ROWS_SAMPLES with its neighbour
    indices made as the kernels read them (``raster_rule.ScheduleRows``), not stored: 16 bytes a
    sample that raster inter's cached schedules held between frames (a 1080p frame's 41 MB, the
    largest part of the encoder's peak; until 2026-12-08 the rule was by plane, and a 1280x720
    frame's chroma schedules, stored, held 7 MB at its peak)."""
    return raster_rule.run_schedule(height, width, tile, runs, stored=frame_samples <= SHARED_ROWS_SAMPLES)


class _FittedPlane(NamedTuple):
    """A wavefront plane as the encoder would code it."""

    mean: np.ndarray  # in coding order
    pair: np.ndarray  # (context, error level) pairs: context * ERROR_LEVELS + level
    table: np.ndarray
    offsets: np.ndarray
    weights: np.ndarray  # the refinement (no rows: none)
    bits: float  # the samples', and the refinement's weights'


def _plan_raster(
    coded: list[np.ndarray],
    sizes: list[tuple[int, int, int]],
    mcs: list | None = None,
    field: motion_field.FieldCode | None = None,
    refine: bool = True,
    runs: int = 1,
    block: int = motion.BLOCK,
) -> PlanarCandidate:
    """``_plan`` for the raster kinds: every frame plane in the wavefronts of ``raster_rule``,
    intra (kind 2) or, with ``mcs`` and the motion ``field``'s own plan (of ``block``-sample
    blocks), inter (kind 3), in ``runs`` runs of rows (version 14's substreams); with ``refine``,
    each plane refined where ``refinement.fit``'s weights pay for themselves."""
    params, tables, offsets, weights, bits = [], [], [], [], 0.0
    inter = mcs is not None
    hints = _hints(coded, mcs, sizes) if inter else [None] * len(coded)
    tile = raster_rule.TILED if inter else raster_rule.WHOLE
    samples = sum(h * w for h, w, _ in sizes)
    for k, (flat, (h, w, depth)) in enumerate(zip(coded, sizes, strict=True)):
        mc = mcs[k] if inter else None
        order, neighbours, starts, _ = _encoder_schedule(h, w, tile, runs, samples)
        fitted = _fit_raster_plane(flat, mc, hints[k], order, neighbours, w, depth, refine)
        del neighbours  # an untiled schedule above CACHED_INTRA_SAMPLES is this call's own
        # held until coded, so as small as they go: ``_held_means``, pairs < 106 x 13
        mean, pair = _held_means(fitted.mean, depth), fitted.pair.astype(np.int16, copy=False)
        params.append(Wavefronts(order, mean, pair, starts))
        tables.append(fitted.table)
        offsets.append(fitted.offsets)
        weights.append(fitted.weights)
        bits += fitted.bits + _table_bits(fitted.table) + _table_bits(fitted.offsets, 0)
        del fitted
    frame = PlanarCandidate(
        KIND_RASTER_INTER if inter else KIND_RASTER,
        bits,
        coded,
        sizes,
        params,
        tables,
        len(coded),
        tuple(offsets),
        tuple(weights),
        runs=runs,
    )
    return _joined(field, frame, block) if inter else frame


def _fit_raster_plane(
    flat: np.ndarray,
    mc: np.ndarray | None,
    hint: np.ndarray | None,
    order: np.ndarray,
    neighbours: np.ndarray | raster_rule.ScheduleRows,
    width: int,
    depth: int,
    refine: bool,
) -> _FittedPlane:
    """A raster plane's rule (inter with ``mc``), refined (with ``refine``) where the weights pay
    for themselves, fitted as it would be coded; its temporaries go when it returns."""
    # The rules' kernels read (4, N) rows; a small frame's schedule stores them as a transposed
    # (N, 4), copied once here for all of them (the refinement's fit reads it as it is); a large
    # one's (``_encoder_schedule``) are made a chunk at a time in each kernel.
    rows = np.ascontiguousarray(neighbours) if isinstance(neighbours, np.ndarray) else neighbours
    mean, ctx = raster_rule.schedule_rule(flat, order, rows, depth, mc, hint)
    contexts = planar_rule.CONTEXTS if mc is not None else raster_rule.CONTEXTS
    unrefined = (flat, order, rows, mean, ctx, depth, contexts, raster_rule.NO_REFINEMENT)
    fit = refinement.fit(flat, mc, neighbours, order, width, mean, ctx, depth) if refine else None
    if fit is None or not fit.weights.any():
        return _fit_plane(*unrefined)
    moved = raster_rule.refine(flat, mc, rows, order, width, mean, ctx, fit.weights, depth)
    fitted = _fit_plane(flat, order, rows, moved, ctx, depth, contexts, fit.weights)
    if fit.gain_bits < SURE_REFINEMENT * _weights_bits(fit.weights):  # cost it unrefined too
        fitted = min(_fit_plane(*unrefined), fitted, key=lambda f: f.bits)
    return fitted


def _fit_plane(
    flat: np.ndarray,
    order: np.ndarray,
    neighbours: np.ndarray,
    mean: np.ndarray,
    ctx: np.ndarray,
    depth: int,
    contexts: int,
    weights: np.ndarray,
) -> _FittedPlane:
    """A wavefront plane whose rule (refined by ``weights``, if any) gave ``mean`` and ``ctx`` in
    coding order: its error levels, then its table and offsets."""
    pair = ctx.astype(np.int16) * raster_rule.ERROR_LEVELS  # < 2^15: int16, as held until coded
    pair += raster_rule.plane_levels(flat, order, neighbours, mean, depth)
    table, offsets, bits = _fit_levels(flat, order, mean, pair, depth, contexts)
    return _FittedPlane(mean, pair, table, offsets, weights, bits + _weights_bits(weights))


def _joined(
    field: motion_field.FieldCode, frame: PlanarCandidate, block: int = motion.BLOCK
) -> PlanarCandidate:
    """An inter candidate: the ``frame``'s planes, of its kind, behind the motion ``field`` (of
    ``block``-sample blocks)."""
    return PlanarCandidate(
        frame.kind,
        field.bits + frame.bits,
        frame.coded,
        frame.sizes,
        frame.params,
        frame.tables,
        frame.wavefront_planes,
        frame.offsets,
        frame.weights,
        field,
        frame.runs,
        block=block,
    )


def _hints(coded: list[np.ndarray], mcs: list, sizes: list[tuple[int, int, int]]) -> list:
    """Per coded plane, its ``luma_error`` for the rule: for the frame planes after the first
    motion-compensated one (the luma) of an inter frame, planar_rule.chroma_hint of that luma;
    None for the rest (field planes, luma, intra planes)."""
    out: list = [None] * len(coded)
    first = next((k for k, mc in enumerate(mcs) if mc is not None), None)
    if first is None:
        return out
    lh, lw, _ = sizes[first]
    luma, luma_mc = coded[first].reshape(lh, lw), mcs[first].reshape(lh, lw)
    for k in range(first + 1, len(coded)):
        same = next((j for j in range(first + 1, k) if sizes[j][:2] == sizes[k][:2]), None)
        out[k] = out[same] if same is not None else planar_rule.chroma_hint(luma, luma_mc, *sizes[k][:2])
    return out


def _low_parts(depth: int) -> tuple[int, int]:
    """A deeper sample's low bits as coded: (how many under ``entropy.low_bits_rows``, at most
    MODELLED_LOW_BITS; how many after them, uniform: a 14- or 16-bit sample's lowest 2 or 4)."""
    extra = depth - 8
    return min(extra, MODELLED_LOW_BITS), max(extra - MODELLED_LOW_BITS, 0)


def _coarse_mean(mean: np.ndarray, depth: int, aligned: bool = True) -> np.ndarray:
    """The mean of a deeper sample's top 8 bits, in 1/16 of their unit (0..4080), from the rule's
    ``mean`` (1/16 of a sample): version 17 (``aligned``) moves it by half a coarse value less
    half a sample, so that a coarse value's bin of the Laplace covers the samples it holds (v >>
    e = c for v in 2^e c .. 2^e c + 2^e - 1, centred on 2^e c + (2^e - 1) / 2); before, the bin of c
    was centred on 2^e c, half a coarse value off (10-bit chroma of a natural clip: 3.34 bits a
    sample instead of 1.04)."""
    extra = depth - 8
    # one new array, shifted and clipped in place (a 1080p plane's means: 8 MB each step)
    out = mean - (8 * ((1 << extra) - 1) - (1 << (extra - 1))) if aligned else mean.copy()
    out >>= extra
    return np.clip(out, 0, 16 * 255, out=out)


def _split(values: np.ndarray, mean: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A sample deeper than 8 bits as coded: its top 8 bits, their mean (``_coarse_mean``) and its
    low bits (FORMAT.md, "Deeper samples")."""
    extra = depth - 8
    return values >> extra, _coarse_mean(mean, depth), values & ((1 << extra) - 1)


def _fit_table(flat: np.ndarray, params, depth: int, contexts: int) -> tuple[np.ndarray, float]:
    """The best scale index per context (an unused one repeats the one before it: cheapest to
    code), and the plane's estimated bits under it (the top 8 bits of deeper samples choose the
    scale; their low bits are costed under it). ``params``: (targets, means, contexts) batches.
    One histogram of (context, distance from the mean in 1/16) for the whole plane, over the
    distances that occur only (``planar_kernel.pair_histogram``; a dense one over all 4081
    distances is 3.5 MB to clear and scan, which cost 1.4 ms a plane when the allocator did not
    hand it out as fresh zero pages), each batch's counts added to the last's in the kernel
    (gathering the batches' samples first had taken 10 bytes a sample, 20 MB for a 1080p luma
    plane), costed for every scale index at once over its non-zero counts
    (``planar_kernel.pair_costs``)."""
    from .. import planar_kernel  # numba: loaded on first use

    counted = None
    for targets, mean, ctx in params:
        if depth > 8:
            mean = _coarse_mean(mean, depth)
        counted = planar_kernel.pair_histogram(flat, targets, mean, ctx, contexts, depth - 8, into=counted)
    hist, cols = counted
    in_use = hist.any(axis=1)
    used = np.flatnonzero(in_use)
    costs = planar_kernel.pair_costs(hist, cols, used)
    best = np.argmin(costs, axis=1)
    table = np.zeros(contexts, np.int64)
    table[used] = best
    # An unused context repeats the entry before it (the first: TABLE_START).
    filled = np.maximum.accumulate(np.where(in_use, np.arange(contexts), -1))
    table = np.where(filled >= 0, table[np.maximum(filled, 0)], TABLE_START)
    bits = float(costs[np.arange(used.size), best].sum())
    return table, bits + _low_bits(flat, params, table, depth)


def _low_bits(flat: np.ndarray, params, table: np.ndarray, depth: int) -> float:
    """The low bits' cost of samples deeper than 8 bits (0 for 8-bit planes) under ``table``:
    compiled (``planar_kernel.low_bits``: a 10-bit dev encode spent 16 % of its time here in
    numpy), ``_low_bits_reference`` in numpy."""
    if depth <= 8:
        return 0.0
    from .. import planar_kernel  # numba: loaded on first use

    return sum(planar_kernel.low_bits(flat, t, m, c, table, depth) for t, m, c in params)


#: ``_low_bits_reference`` costs this many samples at a time: their rows take about 0.5 kB a
#: sample while they are made (16-bit planes: 2^4 parts, int64 edges and counts).
LOW_BITS_CHUNK = 1 << 14


def _low_bits_reference(flat: np.ndarray, params, table: np.ndarray, depth: int) -> float:
    """``_low_bits`` in numpy (for testing the kernel)."""
    bits = 0.0
    if depth > 8:
        modelled, rest = _low_parts(depth)
        for targets, mean, ctx in params:
            for at in range(0, targets.size, LOW_BITS_CHUNK):
                part = slice(at, at + LOW_BITS_CHUNK)
                coarse, coarse_mean, low = _split(flat[targets[part]], mean[part], depth)
                rows = entropy.low_bits_rows(coarse, coarse_mean, table[ctx[part]], modelled)
                picked = np.take_along_axis(rows, (low >> rest)[:, None], axis=1)[:, 0]
                bits += float(np.sum(np.log2(rows.sum(axis=1)) - np.log2(picked))) + rest * low.size
    return bits


def _fit_levels(
    flat: np.ndarray, order: np.ndarray, mean: np.ndarray, pair: np.ndarray, depth: int, contexts: int
) -> tuple[np.ndarray, np.ndarray, float]:
    """``_fit_table`` for a wavefront plane (version 12): a scale index per context and an offset
    per error level (``pair`` = context * ERROR_LEVELS + level), the pair's scale index their
    clamped sum. Fitted in turns from one histogram of (pair, distance), costed for every scale
    index at once (``planar_kernel.pair_costs``): the table for the offsets, then the offsets for
    the table (each step lowers the cost; LEVEL_TURNS turns, compiled:
    ``planar_kernel.level_turns``). Returns (table, offsets, the plane's estimated bits)."""
    from .. import planar_kernel  # numba: loaded on first use

    levels = raster_rule.ERROR_LEVELS
    coarse_mean = _coarse_mean(mean, depth) if depth > 8 else mean
    hist, cols = planar_kernel.pair_histogram(flat, order, coarse_mean, pair, contexts * levels, depth - 8)
    del coarse_mean
    in_use = hist.reshape(contexts, levels * cols.size).any(axis=1)
    used = np.flatnonzero(in_use)
    rows = (used[:, None] * levels + np.arange(levels)).ravel()
    costs = planar_kernel.pair_costs(hist, cols, rows).reshape(used.size, levels, -1)  # context, level, scale
    fitted, offsets = planar_kernel.level_turns(costs, OFFSET_SEARCH, LEVEL_TURNS)
    scale = np.clip(fitted[:, None] + offsets, 0, SCALES - 1)
    bits = float(np.take_along_axis(costs, scale[:, :, None], axis=2).sum())
    # An unused context repeats the entry before it (the first: TABLE_START), as in _fit_table.
    table = np.zeros(contexts, np.int64)
    table[used] = fitted
    filled = np.maximum.accumulate(np.where(in_use, np.arange(contexts), -1))
    table = np.where(filled >= 0, table[np.maximum(filled, 0)], TABLE_START)
    coding = raster_rule.level_scales(table, offsets, SCALES)
    return table, offsets, bits + _low_bits(flat, [(order, mean, pair)], coding, depth)


#: ``_fit_levels``' turns at most (table for the offsets, offsets for the table).
LEVEL_TURNS = 4


def level_turns_reference(costs: np.ndarray, search: int, turns: int) -> tuple[np.ndarray, np.ndarray]:
    """``planar_kernel.level_turns`` in numpy (for testing the kernel)."""
    used, levels, scales = costs.shape
    every_level = np.arange(levels)
    offsets = np.zeros(levels, np.int64)
    steps = np.arange(-search, search + 1)
    fitted = np.zeros(used, np.int64)
    for _ in range(turns):
        picked = np.clip(np.arange(scales)[:, None] + offsets, 0, scales - 1)  # (table entry, level)
        fitted = np.argmin(costs[:, every_level, picked].sum(axis=2), axis=1)
        picked = np.clip(fitted[:, None] + steps, 0, scales - 1)  # (context, offset)
        by_offset = costs[np.arange(used)[:, None, None], every_level[:, None], picked[:, None, :]]
        moved = steps[np.argmin(by_offset.sum(axis=0), axis=1)]  # (level, offset) summed over contexts
        if np.array_equal(moved, offsets):  # the table is already the best for these offsets
            break
        offsets = moved
    return fitted, offsets


def _table_steps(table: np.ndarray, start: int = TABLE_START) -> np.ndarray:
    """A table as coded: each entry minus the one before it (the first minus ``start``), plus
    TABLE_OFFSET: one batch of symbols whose model does not depend on the others. Error levels'
    offsets are coded the same way from ``start`` 0."""
    return np.diff(table, prepend=start) + TABLE_OFFSET


def _table_bits(table: np.ndarray, start: int = TABLE_START) -> float:
    return _symbols_bits(_table_steps(table, start), 16 * TABLE_OFFSET, TABLE_SCALE_IDX)


def _symbols_bits(symbols: np.ndarray, mean_q: int, scale_idx: int) -> float:
    """``entropy.laplace_bits`` of byte ``symbols`` under one mean and scale, summed: read from
    the 256 symbols' bits (``_bits_of_every_symbol``), the same floats, where numpy's exp and log
    on a hundred values a call had cost 5 % of a 176x144 clip's encoding (two tables and the
    weights a plane, a few hundred calls)."""
    outside = symbols.size and (symbols.min() < 0 or symbols.max() > 255)  # never for steps, weights
    if outside:
        scales = np.full(symbols.size, scale_idx, np.int64)
        return float(entropy.laplace_bits(symbols, np.full(symbols.size, mean_q), scales).sum())
    return float(_bits_of_every_symbol(mean_q, scale_idx)[symbols].sum())


@functools.lru_cache(maxsize=4)
def _bits_of_every_symbol(mean_q: int, scale_idx: int) -> np.ndarray:
    """``entropy.laplace_bits`` of the symbols 0..255 under one mean and scale (read-only)."""
    bits = entropy.laplace_bits(np.arange(256), np.full(256, mean_q), np.full(256, scale_idx, np.int64))
    bits.setflags(write=False)
    return bits


def _weight_symbols(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A refinement's weights as coded: (top bits + 128, low bits), one batch each."""
    flat = weights.ravel().astype(np.int64)
    return (flat >> WEIGHT_LOW_BITS) + 128, flat & ((1 << WEIGHT_LOW_BITS) - 1)


def _weights_bits(weights: np.ndarray) -> float:
    """The coded size of a plane's refinement: its flag bit, then (refined) its weights."""
    if not weights.shape[0]:
        return 1.0
    high, _ = _weight_symbols(weights)
    return 1.0 + _symbols_bits(high, 16 * 128, WEIGHT_SCALE_IDX) + WEIGHT_LOW_BITS * high.size


def _encode_weights(enc: entropy.FrameEncoder, weights: np.ndarray) -> None:
    refined = weights.shape[0] > 0
    enc.encode_categorical(np.array([int(refined)]), np.ones((1, 2)))
    if refined:
        high, low = _weight_symbols(weights)
        enc.encode(high, np.full(high.size, 16 * 128), np.full(high.size, WEIGHT_SCALE_IDX, np.int64))
        enc.encode_categorical(low, np.ones((low.size, 1 << WEIGHT_LOW_BITS)))


def _decode_weights(dec: entropy.FrameDecoder, inter: bool) -> np.ndarray:
    if not dec.decode_categorical(np.ones((1, 2)))[0]:
        return raster_rule.NO_REFINEMENT
    shape = raster_rule.refine_shape(inter)
    size = shape[0] * shape[1]
    high = dec.decode(np.full(size, 16 * 128), np.full(size, WEIGHT_SCALE_IDX, np.int64)).astype(np.int64)
    low = dec.decode_categorical(np.ones((size, 1 << WEIGHT_LOW_BITS))).astype(np.int64)
    weights = ((high - 128) << WEIGHT_LOW_BITS) | low
    bad = np.abs(weights) > raster_rule.REFINE_MAX
    if bad.any():
        raise FormatError(
            f"planar frame: refinement weight {int(weights[bad][0])} "
            f"(-{raster_rule.REFINE_MAX}..{raster_rule.REFINE_MAX})"
        )
    return weights.reshape(shape)


def encode_jpeg(codes: list[dct_coding.PlaneCode], references: list[list[np.ndarray]]) -> bytes:
    """A frame of kind KIND_JPEG (version 19): the kind word, then the range coder's words of
    ``dct_coding.encode_planes`` (against the last frame's planes, where there is one)."""
    enc = entropy.FrameEncoder(compiled=True)
    dct_coding.encode_planes(enc, codes, references[0] if references else None)
    return struct.pack("<I", KIND_JPEG) + enc.finish()


def jpeg_codable(geometry: list[PlaneGeometry]) -> bool:
    """Whether a frame of these planes may be of kind KIND_JPEG: 8-bit planes, none less green."""
    return all(g.depth == 8 and not g.less_green for g in geometry)


def _decode_jpeg(
    payload: bytes, references: list[list[np.ndarray]], geometry: list[PlaneGeometry]
) -> list[np.ndarray]:
    """Mirror of ``encode_jpeg``."""
    if not jpeg_codable(geometry):
        raise FormatError(
            "planar frame of kind 4 (JPEG levels) in a stream whose planes are deeper than 8 bits or less green"
        )
    dec = entropy.FrameDecoder(payload[4:], compiled=True)
    return dct_coding.decode_planes(
        dec, [(g.height, g.width) for g in geometry], references[0] if references else None
    )


def kind_word(word: int) -> tuple[int, int, bool]:
    """(kind, substreams, sample rules) of a planar payload's kind word: its bits 0-7, from version
    14 its bits 8-15 plus one (FORMAT.md, "Substreams"), and from version 17 its bit 16 (a rule
    word per plane follows it, "Sample rules"); bit 17 (version 18) is ``LARGE_BLOCKS_BIT``,
    bits 18-19 (version 20) an inter frame's interpolation rule (``INTERPOLATION_SHIFT``), bits
    20-31 are zero."""
    return word & 0xFF, (word >> 8 & 0xFF) + 1, bool(word & RULES_BIT)


def substreams(height: int, width: int, intra: bool = False) -> int:
    """How many substreams the encoder gives a raster (``intra``: raster intra) frame whose luma
    plane is ``height`` x ``width`` (version 14): SUBSTREAMS from SUBSTREAM_SAMPLES (intra:
    INTRA_SUBSTREAM_SAMPLES) luma samples on, else one."""
    least = INTRA_SUBSTREAM_SAMPLES if intra else SUBSTREAM_SAMPLES
    return SUBSTREAMS if height * width >= least and height > raster_rule.TILE_H else 1


def encode(c: PlanarCandidate) -> bytes:
    """The payload: kind word, then the range coder's words: the motion field's header (inter),
    every plane's table (in coding order; a wavefront plane's followed by its error levels'
    offsets and its refinement), the motion field's symbols (inter), then every plane's samples.
    A raster frame in S > 1 substreams (version 14) has S - 1 in the kind word's bits 8-15 and,
    after the kind word, S - 1 word counts: the first range coder's (everything above, with
    only the first run of each plane's samples), then substream 1's, ... (each the next run of
    each plane's samples); the last substream's words are the rest."""
    encs = [entropy.FrameEncoder(compiled=True) for _ in range(c.runs)]  # constriction's words
    enc = encs[0]
    if c.field is not None:
        motion_field.write_header(enc, c.field)
    raster_from = len(c.coded) - c.wavefront_planes
    for k, table in enumerate(c.tables):
        _encode_table(enc, table)
        if k >= raster_from:
            _encode_table(enc, c.offsets[k - raster_from], start=0)
            if c.weights:
                _encode_weights(enc, c.weights[k - raster_from])
    if c.field is not None:
        motion_field.write_symbols(enc, c.field)
    tile = raster_rule.WHOLE if c.kind == KIND_RASTER else raster_rule.TILED
    runs: list[list[tuple]] = [[] for _ in encs]  # each substream's share of the wavefront planes
    for k, (flat, plane_params, (height, width, depth)) in enumerate(
        zip(c.coded, c.params, c.sizes, strict=True)
    ):
        table = c.coding_table(k)
        if k < raster_from:
            for p, (mean, ctx) in zip(_encoder_passes(height, width), plane_params, strict=True):
                _encode_batch(enc, flat[p.targets], mean, table[ctx], depth)
            continue
        run_fronts = _encoder_schedule(height, width, tile, c.runs, sum(h * w for h, w, _ in c.sizes))[3]
        for run, f0, f1 in zip(runs, run_fronts[:-1], run_fronts[1:], strict=True):
            run.append((flat, plane_params, f0, f1, table, depth))
    # The substreams' coders are apart, as their decoders are: coded side by side, a thread each.
    threads.side_by_side(
        [functools.partial(_encode_run, run_enc, run) for run_enc, run in zip(encs, runs, strict=True)]
    )
    words = [e.finish() for e in encs]
    counts = struct.pack(f"<{c.runs - 1}I", *(len(w) // 4 for w in words[:-1]))
    rules = struct.pack(f"<{len(c.rules)}I", *(r.word() for r in c.rules))
    word = c.kind | (c.runs - 1) << 8 | (RULES_BIT if c.rules else 0)
    word |= LARGE_BLOCKS_BIT if c.block == motion.LARGE_BLOCK else 0
    word |= c.interpolation << INTERPOLATION_SHIFT
    return struct.pack("<I", word) + rules + counts + b"".join(words)


def _encode_run(enc: entropy.FrameEncoder, run: list[tuple]) -> None:
    """A substream's share of every wavefront plane (``_encode_wavefronts``' arguments after
    ``enc``), plane after plane."""
    for share in run:
        _encode_wavefronts(enc, *share)


def _encode_wavefronts(
    enc: entropy.FrameEncoder,
    flat: np.ndarray,
    fronts: Wavefronts,
    first: int,
    end: int,
    table: np.ndarray,
    depth: int,
) -> None:
    """A wavefront plane's wavefronts ``first`` .. ``end`` - 1 (a run's), a single window per
    wavefront, in compiled calls of about CODE_SAMPLES samples each (deeper samples: their top 8
    bits, then their low bits, wavefront by wavefront): the coder's state runs on from call to
    call, so the words are those of one call."""
    while first < end:
        # the wavefronts from ``first`` whose samples come to at most CODE_SAMPLES (one at least)
        fit = int(np.searchsorted(fronts.starts, fronts.starts[first] + CODE_SAMPLES, side="right")) - 1
        stop = min(max(fit, first + 1), end)
        s0, s1 = int(fronts.starts[first]), int(fronts.starts[stop])
        values = flat[fronts.order[s0:s1]]
        means = fronts.mean[s0:s1]
        scales = table[fronts.pair[s0:s1]]
        starts = fronts.starts[first : stop + 1] - s0
        if depth == 8:
            enc.ranges.encode_wavefronts(values, means, scales, starts)
        else:
            coarse, coarse_mean, low = _split(values, means.astype(np.int64), depth)
            enc.ranges.encode_wavefronts(coarse, coarse_mean, scales, starts, low, _low_parts(depth))
        first = stop


#: The wavefront coder's samples a call at most (but for a longer wavefront): its values, means
#: and scale indices gathered for the call take 24 bytes a sample, and a frame's two substreams
#: are coded side by side; gathered for a whole run they raised the peak of a 1920x1080 encode
#: by 26 MB.
CODE_SAMPLES = 1 << 16


def _encode_batch(
    enc: entropy.FrameEncoder,
    values: np.ndarray,
    mean: np.ndarray,
    scale: np.ndarray,
    depth: int,
    single: bool = False,
) -> None:
    """One batch of samples (a pass, or a wavefront: ``single`` window): 8-bit values in windowed
    rows; deeper ones as their top 8 bits so, then their low bits."""
    if depth == 8:
        entropy.encode_windowed(enc, values, mean, scale, single)
        return
    coarse, coarse_mean, low = _split(values, mean, depth)
    entropy.encode_windowed(enc, coarse, coarse_mean, scale, single)
    modelled, rest = _low_parts(depth)
    enc.encode_categorical(low >> rest, entropy.low_bits_rows(coarse, coarse_mean, scale, modelled))
    if rest:
        enc.encode_categorical(low & ((1 << rest) - 1), np.ones((low.size, 1 << rest)))


def _decode_batch(
    dec: entropy.FrameDecoder,
    mean: np.ndarray,
    scale: np.ndarray,
    depth: int,
    single: bool = False,
    aligned: bool = True,
) -> np.ndarray:
    """Mirror of ``_encode_batch``; ``aligned``: the stream's deeper samples have version 17's
    coarse means (``_coarse_mean``)."""
    if depth == 8:
        return entropy.decode_windowed(dec, mean, scale, single)
    extra = depth - 8
    coarse_mean = _coarse_mean(mean, depth, aligned)
    coarse = entropy.decode_windowed(dec, coarse_mean, scale, single)
    modelled, rest = _low_parts(depth)
    low = dec.decode_categorical(entropy.low_bits_rows(coarse, coarse_mean, scale, modelled)).astype(np.int64)
    if rest:
        low = (low << rest) | dec.decode_categorical(np.ones((low.size, 1 << rest)))
    return (coarse << extra) | low


def _encode_table(enc: entropy.FrameEncoder, table: np.ndarray, start: int = TABLE_START) -> None:
    """A table (or, from ``start`` 0, error levels' offsets) as one batch of steps."""
    scales = np.full(table.size, TABLE_SCALE_IDX, np.int64)
    enc.encode(_table_steps(table, start), np.full(table.size, 16 * TABLE_OFFSET), scales)


def _decode_steps(dec: entropy.FrameDecoder, size: int, start: int) -> np.ndarray:
    scales = np.full(size, TABLE_SCALE_IDX, np.int64)
    steps = dec.decode(np.full(size, 16 * TABLE_OFFSET), scales).astype(np.int64)
    return start + np.cumsum(steps - TABLE_OFFSET)


def _decode_table(dec: entropy.FrameDecoder, contexts: int = planar_rule.CONTEXTS) -> np.ndarray:
    table = _decode_steps(dec, contexts, TABLE_START)
    bad = (table < 0) | (table >= SCALES)
    if bad.any():
        raise FormatError(f"planar frame: scale index {int(table[bad][0])} in a context table (0..63)")
    return table


def _decode_offsets(dec: entropy.FrameDecoder) -> np.ndarray:
    offsets = _decode_steps(dec, raster_rule.ERROR_LEVELS, 0)
    bad = np.abs(offsets) > OFFSET_MAX
    if bad.any():
        raise FormatError(
            f"planar frame: error level offset {int(offsets[bad][0])} (-{OFFSET_MAX}..{OFFSET_MAX})"
        )
    return offsets


def _decode_plane(
    dec: entropy.FrameDecoder,
    table: np.ndarray,
    mc: np.ndarray | None,
    h: int,
    w: int,
    depth: int = 8,
    hint: np.ndarray | None = None,
    aligned: bool = True,
) -> np.ndarray:
    flat = np.zeros(h * w, planar_rule.SAMPLE_DTYPE)
    for p in intra.passes(h, w):
        mean, ctx = planar_rule.pass_params(flat, mc, p, (1 << depth) - 1, hint)
        flat[p.targets] = _decode_batch(dec, mean, table[ctx], depth, aligned=aligned)
    return flat


def _decode_raster_plane(
    decs: list[entropy.FrameDecoder],
    table: np.ndarray,
    h: int,
    w: int,
    depth: int,
    mc: np.ndarray | None = None,
    hint: np.ndarray | None = None,
    offsets: np.ndarray | None = None,
    weights: np.ndarray = raster_rule.NO_REFINEMENT,
    aligned: bool = True,
) -> np.ndarray:
    """A wavefront plane, from one range decoder per substream (``decs``: one, or one per run of
    rows, version 14); with its error levels' ``offsets`` (version 12), each
    sample's scale index is its (context, error level)'s, the level from the decoded neighbours
    and their means (kept in ``means`` as the wavefronts are decoded); with ``weights`` (version
    13), the means are refined; ``aligned``: deeper samples' coarse means as version 17's."""
    from .. import planar_kernel  # numba: loaded on first use

    flat = np.zeros(h * w, planar_rule.SAMPLE_DTYPE)
    means = None if offsets is None else np.zeros(h * w, planar_rule.MEAN_DTYPE)
    if offsets is not None:
        table = raster_rule.level_scales(table, offsets, SCALES)
    if decs[0].ranges is not None:  # the whole plane in one compiled call
        ranges = [d.ranges for d in decs]
        planar_kernel.decode_raster_plane(ranges, flat, mc, w, table, hint, means, weights, depth, aligned)
        return flat
    tile = raster_rule.WHOLE if mc is None else raster_rule.TILED
    order, plane_neighbours, starts, run_fronts = raster_rule.run_schedule(h, w, tile, len(decs))
    for dec, f0, f1 in zip(decs, run_fronts[:-1], run_fronts[1:], strict=True):
        for s0, s1 in zip(starts[f0:f1], starts[f0 + 1 : f1 + 1], strict=True):
            # one wavefront: its samples, and their neighbours as (4, n) rows, as the rules take them
            targets, neighbours = order[s0:s1], np.ascontiguousarray(plane_neighbours[:, s0:s1])
            if depth == 8 and targets.size <= entropy.TABLE_BLOCK:  # the rule and the rows in one call
                made = planar_kernel.raster_rows(
                    flat, mc, neighbours, targets, table, hint, means, w, weights
                )
                flat[targets] = entropy.decode_single_rows(dec, *made)
                del made  # a wavefront's rows (up to 10 MB) go before the next one's are made
                continue
            if mc is None:
                mean, ctx = raster_rule.params(flat, neighbours, depth)
            else:
                mean, ctx = raster_rule.inter_params(flat, mc, neighbours, targets, depth, hint)
            mean = raster_rule.refine(flat, mc, neighbours, targets, w, mean, ctx, weights, depth)
            if means is not None:
                ctx = ctx * raster_rule.ERROR_LEVELS + raster_rule.error_levels(
                    flat, means, neighbours, depth
                )
                means[targets] = mean
            flat[targets] = _decode_batch(dec, mean, table[ctx], depth, single=True, aligned=aligned)
    return flat


def _substreams(payload: bytes, runs: int, compiled: bool, start: int = 4) -> list[entropy.FrameDecoder]:
    """The range decoders of a raster payload in ``runs`` substreams (version 14), from byte
    ``start`` (past its kind word and rule words): ``runs`` - 1 word counts, then the substreams'
    words."""
    first = start + 4 * (runs - 1)
    if len(payload) < first:
        raise FormatError(f"raster frame payload of {len(payload)} bytes ({runs} substreams' word counts)")
    counts = struct.unpack_from(f"<{runs - 1}I", payload, start)
    words = (len(payload) - first) // 4
    if sum(counts) > words:
        raise FormatError(
            f"raster frame: substreams of {sum(counts)} words before the last, in {words} words"
        )
    edges = np.cumsum([first, *(4 * n for n in counts)]).tolist() + [len(payload)]
    return [
        entropy.FrameDecoder(payload[a:b], compiled=compiled)
        for a, b in zip(edges[:-1], edges[1:], strict=True)
    ]


def decode(
    payload: bytes,
    references: list[list[np.ndarray]],
    geometry: list[PlaneGeometry],
    error_levels: bool = True,
    refinement: bool = True,
    field_coding: bool = True,
    compiled: bool = True,
    substreams: bool = True,
    deep_samples: bool = True,
    large_blocks: bool = True,
    jpeg_planes: bool = True,
    interpolations: bool = True,
) -> list[np.ndarray]:
    """The planes of a mode-6 frame (uint8), from the decoded frames before it (``references``,
    the last first, at most motion.REFERENCES since the last key frame); ``error_levels``,
    ``refinement`` and ``field_coding`` (``motion_field``, else the field as intra planes): the
    stream's version has them (12 and later, 13 and later); ``substreams``: a raster frame's
    planes may be in substreams (14 and later); ``deep_samples``: version 17's rules, planes
    with sample rules (``codec.sample_bits``) and deeper samples' aligned coarse means;
    ``large_blocks``: version 18's inter frames whose field has 16x16 blocks; ``jpeg_planes``:
    version 19's frames of JPEG levels (``KIND_JPEG``); ``interpolations``: version 20's inter
    frames whose references are read by an MPEG rule (``motion.INTERPOLATIONS``). ``compiled``: the raster planes and
    the field decoded by compiled kernels that also read the range coder's words
    (``planar_kernel.decode_raster_plane``, ``motion_kernel.read_field``); without it, a Python
    step per wavefront through constriction (the same samples, ``tests/test_range_coder.py``)."""
    if len(payload) < 4 or len(payload) % 4:
        raise FormatError(f"planar frame payload of {len(payload)} bytes (a kind word and 32-bit words)")
    (word,) = struct.unpack_from("<I", payload)
    kind, runs, has_rules = kind_word(word)
    if jpeg_planes and word == KIND_JPEG:
        return _decode_jpeg(payload, references, geometry)
    if kind not in (KIND_INTRA, KIND_INTER, KIND_RASTER, KIND_RASTER_INTER):
        raise FormatError(f"planar frame kind {kind} (0 intra, 1 inter, 2 raster intra, 3 raster inter)")
    block = motion.LARGE_BLOCK if word & LARGE_BLOCKS_BIT else motion.BLOCK
    rule = word >> INTERPOLATION_SHIFT & (motion.INTERPOLATIONS - 1)
    if word >> (20 if interpolations else 18) or (has_rules and not deep_samples):
        raise FormatError(f"planar frame kind word {word:#x}: reserved bits set")
    if rule != motion.H264 and kind not in (KIND_INTER, KIND_RASTER_INTER):
        raise FormatError(
            f"planar frame kind word {word:#x}: an interpolation rule ({rule}) in an intra frame"
        )
    if block != motion.BLOCK and not (large_blocks and kind in (KIND_INTER, KIND_RASTER_INTER)):
        raise FormatError(f"planar frame kind word {word:#x}: reserved bits set (16x16 motion blocks)")
    raster = kind in (KIND_RASTER, KIND_RASTER_INTER)
    if runs > 1 and not (raster and substreams and runs <= raster_rule.MAX_SUBSTREAMS):
        raise FormatError(
            f"planar frame kind word {word:#x}: {runs} substreams (version 14 raster frames: "
            f"1..{raster_rule.MAX_SUBSTREAMS})"
        )
    if kind in (KIND_INTER, KIND_RASTER_INTER) and not references:
        raise FormatError("inter planar frame without a previous frame")
    start = 4
    rules = [sample_bits.plain(g.depth) for g in geometry]
    if has_rules:
        start += 4 * len(geometry)
        if len(payload) < start:
            raise FormatError(f"planar frame payload of {len(payload)} bytes ({len(geometry)} rule words)")
        words = struct.unpack_from(f"<{len(geometry)}I", payload, 4)
        rules = [sample_bits.from_word(w, g.depth) for w, g in zip(words, geometry, strict=True)]
        if any(g.less_green and w != words[0] for w, g in zip(words, geometry, strict=True)):
            raise FormatError(f"planar frame: rule words {words} differ for green and the planes less green")
    full = geometry  # the frame's planes; from here on ``geometry`` and ``references`` are as coded
    transformed = has_rules or any(g.less_green for g in full)
    if transformed:
        references = [_coded_values(ref, rules, full) for ref in references]
        geometry = [replace(g, depth=r.depth) for g, r in zip(geometry, rules, strict=True)]
    decs = _substreams(payload, runs, compiled, start)
    dec = decs[0]

    def expanded(planes: list[np.ndarray]) -> list[np.ndarray]:
        """The planes' samples from their coded values."""
        return _coded_samples(planes, rules, full) if transformed else planes

    def wavefront_tables(inter: bool) -> list[tuple[np.ndarray, np.ndarray | None, np.ndarray]]:
        """Per plane: (table, error levels' offsets, refinement weights)."""
        return [
            (
                _decode_table(dec, planar_rule.CONTEXTS if inter else raster_rule.CONTEXTS),
                _decode_offsets(dec) if error_levels else None,
                _decode_weights(dec, inter) if refinement else raster_rule.NO_REFINEMENT,
            )
            for _ in geometry
        ]

    if kind == KIND_RASTER:
        return expanded(
            [
                _decode_raster_plane(
                    decs,
                    table,
                    g.height,
                    g.width,
                    g.depth,
                    offsets=offsets,
                    weights=weights,
                    aligned=deep_samples,
                )
                .astype(np.uint8 if g.depth == 8 else np.uint16)
                .reshape(g.height, g.width)
                for g, (table, offsets, weights) in zip(geometry, wavefront_tables(False), strict=True)
            ]
        )
    inter = kind != KIND_INTRA
    field_count = 0 if not inter or field_coding else (3 if len(references) > 1 else 2)
    tables = [_decode_table(dec) for _ in range(field_count)]
    header = motion_field.read_header(dec, len(references)) if inter and field_coding else None
    if kind == KIND_RASTER_INTER:
        frame_tables = wavefront_tables(True)
    else:
        frame_tables = [(_decode_table(dec), None, raster_rule.NO_REFINEMENT) for _ in geometry]
    mcs: list[np.ndarray | None] = [None] * len(geometry)
    if inter:
        bh, bw = motion.field_shape(geometry[0].height, geometry[0].width, block)
        if header is not None:
            vy, vx, pick = motion_field.read_symbols(dec, header, bh, bw)
        else:  # versions 7 to 12
            field = [_decode_plane(dec, t, None, bh, bw).reshape(bh, bw) for t in tables]
            vy, vx = field[0] - FIELD_OFFSET, field[1] - FIELD_OFFSET
            pick = field[2] if field_count == 3 else np.zeros((bh, bw), np.int64)
        worst = max(int(np.abs(vy).max()), int(np.abs(vx).max()))
        if worst > motion.LIMIT:
            raise FormatError(f"planar frame: motion vector component {worst} beyond {motion.LIMIT}")
        if int(pick.max()) >= len(references):
            raise FormatError(f"planar frame: reference {int(pick.max())} of {len(references)} frames")
        mcs = list(_mc_planes(references, vy, vx, pick, geometry, block=block, rule=rule))
    planes: list[np.ndarray] = []
    hints: dict[tuple[int, int], np.ndarray] = {}  # per chroma plane size (Cb's serves Cr)
    for k, (g, mc, (table, offsets, weights)) in enumerate(zip(geometry, mcs, frame_tables, strict=True)):
        hint = None
        if k > 0 and mc is not None:
            if (g.height, g.width) not in hints:
                luma_mc = mcs[0].reshape(planes[0].shape)
                hints[g.height, g.width] = planar_rule.chroma_hint(planes[0], luma_mc, g.height, g.width)
            hint = hints[g.height, g.width]
        if kind == KIND_RASTER_INTER:
            flat = _decode_raster_plane(
                decs, table, g.height, g.width, g.depth, mc, hint, offsets, weights, deep_samples
            )
        else:
            flat = _decode_plane(dec, table, mc, g.height, g.width, g.depth, hint, deep_samples)
        planes.append(flat.astype(np.uint8 if g.depth == 8 else np.uint16).reshape(g.height, g.width))
    return expanded(planes)
