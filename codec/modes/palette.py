"""Modes 2 and 3, palette intra and palette inter, and the pass coder they share with mode 4.

A palette frame codes each pixel's index into the frame's palette (``codec.palette_coding`` turns a
continuous prediction into rows over the palette). The pixels are coded in passes: palette intra in
the intra passes (``codec.intra``), predicted from the colours decoded in earlier passes; palette
inter and update in ``inter_geometry`` (the intra passes from format version 5, a checkerboard
before), with the temporal prediction. Each pass has its pixels' prediction (mean, coupling, scale
indices), previous-frame colours and already-decoded neighbours' colours; the model rows come from
the prediction, the votes are mixed in, the rows are blended with context counts and the indices
are coded in blocks.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Callable, Iterable, Iterator

import numpy as np

from ...bitstream import entropy
from ...bitstream.container import chunk_size
from ...bitstream.errors import FormatError
from ...bitstream.palette import encode_palette, pack_colours
from ...bitstream.profile import CURRENT, FormatProfile
from ...models.base import Prediction
from .. import copied_blocks, frame_sample, intra, legacy_rows, row_schedule
from ..pass_sample import sample_step, sampled, scaled_bits
from .. import palette_coding as pc
from .. import palette_context as ctx
from .base import (
    MODE_PALETTE_INTER,
    MODE_PALETTE_INTRA,
    MODE_PALETTE_UPDATE,
    Candidate,
    CodedFrame,
    DecodeContext,
    FrameToCode,
    best_shift,
    shifted,
)
from . import rgb_inter
from .rgb_inter import InterCandidate

#: The encoder keeps a candidate's model rows for the final coding pass when they fit in this many
#: entries (else it recomputes them, so memory stays bounded on large frames).
CACHE_ENTRIES = 6_000_000
#: Whether a small frame's estimate keeps its passes' ``KeptPass``es for the coding (probes that
#: watch the coded passes, ``bench.mixer_probe``, turn it off: they read the passes' inputs).
KEEP_PASSES = True
#: When the encoder estimates palette intra on a predicted frame (see ``IntraProbe``).
INTRA_MARGIN = 0.1
INTRA_JUMP = 1.2
INTRA_PROBE = 4
#: The encoder estimates a palette mode in both pass schedules (version 10) on the mode's first
#: frame of a stream (or since a key frame) and then every SCHEDULE_PROBE frames of that mode; in
#: between, only in the schedule that won the last time (see ``ScheduleMemory``).
SCHEDULE_PROBE = 8


@dataclass
class PassInputs:
    """One pass of a palette frame: its pixels and their prediction (benchmarks may refine it).
    ``mean`` and ``coupling`` are float32 in pixel units, or integers in their snapped steps (an
    integer prediction's: ``Prediction.pixels``); the coder takes either."""

    targets: np.ndarray
    mean: np.ndarray
    coupling: np.ndarray | None
    scale_idx: np.ndarray
    neighbours: np.ndarray  # (J, N) flat positions, -1 outside; J = 0 for none
    keep: np.ndarray | None = None  # (C, N) previous colours: the keep symbol's colour (p-update)
    ring: intra.Ring | None = None  # the ring around the pixels (repeat context, version 8)
    wide: bool = False  # the row schedule's context keys (version 10, ``palette_context.context_keys``)


@dataclass(frozen=True, eq=False)
class PaletteCandidate(Candidate):
    """A palette-mode offer (modes 2, 3 and 4): the symbols and everything their coding needs."""

    palette: np.ndarray
    idx: np.ndarray  # (H*W,) the true symbols
    prev_idx: np.ndarray | None
    mix: int
    passes: Callable[[], Iterable[PassInputs]]  # makes the passes again (they are not kept)
    cached: list | None  # per pass, the (slice, model rows) blocks when they fitted in CACHE_ENTRIES
    counts: ctx.ContextCounts | None  # the context counts before the first pass (None once coded)
    palette_body: bytes | None = None  # the PLTE chunk's body; None when the palette in force is reused
    copied: copied_blocks.CopiedBlocks | None = None  # blocks copied from the previous frame (version 9)
    kept: list[KeptPass] | None = None  # per pass, what the estimate's counting made (``KeptPass``)


@dataclass(frozen=True, eq=False)
class KeptPass:
    """What an estimate's counting made of a pass that its coding needs again: the pass's pixels,
    their neighbours' colours (``neighbour_colours``), context keys (``context_keys``; None for
    none) and the context counts' tables they were counted against (``frozen_levels``; None
    without keys). Kept with the model rows (``CACHE_ENTRIES``), a small frame's coding reads them
    instead of making the passes, colours and keys again (3-4 % of a 96x96 clip's encoding) and
    instead of counting the pass's pixels into its own copy of the counts: every palette mode of a
    schedule counts the same symbols in the same passes from the same counts (``PassStats``)."""

    targets: np.ndarray
    colours: np.ndarray | None
    keys: np.ndarray | None  # (orders, N): ``palette_context.context_keys``
    tables: list[ctx.Levels] | None = None


def caches_rows(pixels: int, colours: int, step: int) -> bool:
    """Whether the estimate of a frame of ``pixels`` pixels and ``colours`` palette entries,
    read every ``step``-th pixel (``sample_step``), keeps its model rows and ``KeptPass``es for the
    coding (only whole estimates: a sample's rows are not all the rows)."""
    return step == 1 and pixels * colours <= CACHE_ENTRIES


def model_blocks(inp: PassInputs, palette: np.ndarray, profile: FormatProfile = CURRENT):
    """(slice, unmixed model rows) over blocks of the pass's pixels: integer weights (float64), or
    version 2's float32 rows without ``profile.integer_tables``."""
    for sl, args in _blocks(inp, palette):
        if not profile.integer_tables:
            floats = pc.float_pass_planes(args[0], args[1])
            yield sl, legacy_rows.model_rows(legacy_rows.colour_bits(*floats, args[2], palette))
        elif inp.keep is None:
            yield sl, pc.colour_weights(*args, palette, profile)
        else:
            rows = np.concatenate(
                [
                    pc.colour_weights(*args, palette, profile),
                    pc.keep_weights(*args, inp.keep[:, sl], profile)[:, None],
                ],
                axis=1,
            )
            yield sl, rows


def model_shares(inp: PassInputs, palette: np.ndarray, truth: np.ndarray):
    """(slice, unmixed model rows, each pixel's share of its true colour ``truth[slice]``: its
    weight over its row's sum) over ``model_blocks``' blocks, for the encoder's estimate. The
    weights kernel adds each row up as it makes it (``pc.colour_weights``' ``sums``): the same
    shares as ``pc.true_shares`` of the rows, without reading every row again (2.5 % of a 96x96
    clip's encoding)."""
    if not CURRENT.integer_tables or inp.keep is not None:  # rows of other kinds: summed after
        for sl, rows in model_blocks(inp, palette):
            yield sl, rows, pc.true_shares(rows, truth[sl])
        return
    for sl, args in _blocks(inp, palette):
        sums = np.empty(sl.stop - sl.start)
        rows = pc.colour_weights(*args, palette, CURRENT, sums)
        yield sl, rows, rows[np.arange(sums.size), truth[sl]] / sums


def _blocks(inp: PassInputs, palette: np.ndarray) -> Iterator[tuple[slice, tuple]]:
    """(slice, (mean, coupling, scale indices) of its pixels) over blocks of the pass's pixels
    (``pc.block_size``: a block's rows stay within a few MB)."""
    n = inp.targets.size
    step = pc.block_size(len(palette) + (inp.keep is not None))
    for start in range(0, n, step):
        sl = slice(start, min(n, start + step))
        coupling = None if inp.coupling is None else inp.coupling[:, sl]
        yield sl, (inp.mean[:, sl], coupling, inp.scale_idx[:, sl])


def neighbour_colours(idx_canvas: np.ndarray, neighbours: np.ndarray) -> np.ndarray | None:
    """(J, N) palette indices of the neighbours (-1 where outside the frame), int32, None without
    any (compiled: ``rows_kernel.neighbour_colours``)."""
    if neighbours.shape[0] == 0:
        return None
    from .. import rows_kernel  # numba: loaded on first use

    return rows_kernel.neighbour_colours(idx_canvas, neighbours)


def neighbour_colours_reference(idx_canvas: np.ndarray, neighbours: np.ndarray) -> np.ndarray | None:
    """``neighbour_colours`` in numpy (for testing it)."""
    if neighbours.shape[0] == 0:
        return None
    return np.where(neighbours >= 0, idx_canvas[np.maximum(neighbours, 0)], -1).astype(np.int32)


#: Version 8 codes a palette pass in parts, the context counts learning after each: PART_FIRST
#: pixels, PART_FIRST again, then parts as long as all before them (so a pass of n pixels has about
#: log2(n / PART_FIRST) + 2 parts), so that a pattern repeated within the frame is known the next
#: time it comes even in the finest passes.
PART_FIRST = 1024


def pass_parts(n: int, profile: FormatProfile = CURRENT) -> list[slice]:
    """The parts of a pass of ``n`` pixels (one part before version 8)."""
    if not profile.repeat_context or n <= PART_FIRST:
        return [slice(0, n)]
    out, start = [], 0
    while start < n:
        end = min(n, start + max(PART_FIRST, start))
        out.append(slice(start, end))
        start = end
    return out


def split(p: intra.Pass, profile: FormatProfile) -> Iterator[intra.Pass]:
    """Pass ``p`` in its parts (``pass_parts``: views of its pixels), each coded, and counted,
    before the next. The callers make each part's prediction as they read it: a pass's last part
    is half of it, and the largest pass half of a frame (a whole pass's prediction took 12 to 24
    bytes a pixel of the frame)."""
    parts = pass_parts(p.targets.size, profile)
    if len(parts) == 1:
        yield p
        return
    for sl in parts:
        yield replace(p, targets=p.targets[sl], neighbours=p.neighbours[:, sl])


def pass_ring(p: intra.Pass, height: int, width: int, profile: FormatProfile) -> intra.Ring | None:
    """The ring of a pass's pixels (``intra.ring``) where the profile keys a repeat context on
    it, else None."""
    return intra.ring(p, height, width) if profile.repeat_context and p.step else None


def pretrained_counts(
    geometry: Iterable[intra.Pass],
    previous: np.ndarray | None,
    palette: np.ndarray,
    profile: FormatProfile = CURRENT,
    exact: np.ndarray | None = None,
) -> ctx.ContextCounts:
    """Context counts seeded with the previous decoded frame read in this frame's pass geometry,
    its colours mapped to this palette (colours the palette lacks count as one 'other' class;
    ``exact``: that mapping, ``pc.exact_indices(previous, palette)``, when the caller has it)."""
    counts = ctx.ContextCounts()
    if previous is None:
        return counts
    prev_canvas = pc.exact_indices(previous, palette) if exact is None else exact
    h, w = previous.shape[:2]
    for p in geometry:
        ring = pass_ring(p, h, w, profile)
        for start in range(0, p.targets.size, _PRETRAIN_CHUNK):  # keys take 24 bytes a pixel
            part = slice(start, start + _PRETRAIN_CHUNK)
            keys = ctx.context_keys(
                prev_canvas, p.neighbours[:, part], ring, bool(p.template), p.targets[part]
            )
            counts.add(keys, prev_canvas[p.targets[part]])
    return counts.compact()


_PRETRAIN_CHUNK = 1 << 18


def code_passes(
    passes: Iterable[PassInputs],
    palette: np.ndarray,
    prev_idx: np.ndarray | None,
    mix: int,
    idx: np.ndarray,
    coder: entropy.FrameEncoder | entropy.FrameDecoder,
    counts: ctx.ContextCounts,
    cached: list | None = None,
    observe: Callable[..., None] | None = None,
) -> None:
    """Encode (``coder`` a FrameEncoder, ``idx`` the true indices) or decode (a FrameDecoder, ``idx``
    filled in) a palette frame. ``passes`` yields PassInputs and may look at ``idx`` as it goes;
    ``counts`` (from ``pretrained_counts``) learns from each pass once it is coded; an encoder's
    passes may be an estimate's ``KeptPass``es, with ``cached`` rows (a kept pass with tables is
    coded from those, and ``counts`` does not learn from it: they are the same counts). The coder's
    profile decides the rows (version 2's float rows, unnormalized, without integer tables).
    ``observe(inp, palette, idx, prev_idx, mix, counts, keys)``, for probes (``bench.mixer_probe``),
    sees each pass once it is coded, before ``counts`` learns from it."""
    w_prev, w_levels = pc.mix_weights(mix)
    profile = coder.profile
    betas = ctx.betas(mix, ctx.orders(profile))
    use_context = any(b > 0 for b in betas)
    decoding = isinstance(coder, entropy.FrameDecoder)
    # The compiled coder reads a row's interval from its running sums, which the rows' kernel
    # makes on every thread while the row is in the cache (the same symbols and words).
    sums = profile.integer_tables and coder.ranges is not None
    for k, inp in enumerate(passes):
        t = inp.targets
        prev = None if prev_idx is None else prev_idx[t]
        tables = None
        if isinstance(inp, KeptPass):  # the estimate's: the encoder's, of the same true colours
            nbr, keys = inp.colours, (inp.keys if use_context else None)
            tables = inp.tables  # the counts as they were at this pass: ``counts`` is not grown
        else:
            nbr = neighbour_colours(idx, inp.neighbours)
            keys = ctx.context_keys(idx, inp.neighbours, inp.ring, inp.wide, t) if use_context else None
        pass_counts = counts if tables is None else tables
        blocks = cached[k] if cached is not None else model_blocks(inp, palette, profile)
        for sl, rows in blocks:
            votes = (
                None if prev is None else prev[sl],
                w_prev,
                None if nbr is None else nbr[:, sl],
                w_levels,
            )
            part_keys = None if keys is None else [key[sl] for key in keys]
            compiled = profile.integer_tables and rows.dtype == np.float64
            if compiled and (keys is not None or sums):  # one pass
                rows = ctx.mix_blend(rows, *votes, pass_counts, part_keys, betas, running_sums=sums)
            else:
                rows = pc.mix_rows(rows, *votes, normalize=profile.integer_tables)
                if keys is not None:
                    rows = ctx.blend_sparse(rows, pass_counts, part_keys, betas)
            as_sums = sums and compiled and rows.shape[1] > 1
            if decoding and as_sums:
                idx[t[sl]] = coder.decode_sums(rows, _likely(votes))
            elif decoding:
                idx[t[sl]] = coder.decode_categorical(rows)
            elif as_sums:
                coder.encode_sums(idx[t[sl]], rows)
            else:
                coder.encode_categorical(idx[t[sl]], rows)
            del rows  # else it is held while ``blocks`` makes the next block's
        if observe is not None:
            observe(inp, palette, idx, prev_idx, mix, counts, keys)
        if keys is not None and tables is None:
            counts.add(keys, idx[t])


def _likely(votes: tuple) -> list[np.ndarray]:
    """Likely palette indices per pixel of a block, for the range decoder to try first, in order
    (-1: none): the first decoded neighbour's colour, the previous frame's there, then the other
    neighbours'. On a dithered 480x270 GIF (bikes480) one of them is the pixel's in 92 % of the
    pixels (the first neighbour's alone in 63 %), on a dithered 96x96 clip (c30) in 56 %."""
    prev, _, nbr, _ = votes
    first = [] if nbr is None else [nbr[0]]
    rest = [] if nbr is None else list(nbr[1:])
    return first + ([] if prev is None else [prev]) + rest


def intra_passes(
    canvas: np.ndarray,
    palette: np.ndarray,
    idx: np.ndarray,
    shift: int,
    height: int,
    width: int,
    decoding: bool,
    profile: FormatProfile = CURRENT,
    coded: np.ndarray | None = None,
    rows: bool = False,
    geometry: Iterable[intra.Pass] | None = None,
) -> Iterator[PassInputs]:
    """The passes of palette intra; when ``decoding``, each pass predicts from the colours just
    decoded into ``idx`` (``canvas`` (C, H*W) uint8 (or float32) is filled as it goes). With ``coded`` ((H*W,)
    bool, copied blocks), only those pixels; the others' ``idx`` must be set beforehand. ``rows``:
    in the row schedule (version 10) instead of the coarse-to-fine passes; ``geometry``: that
    schedule, when the caller has it already (a large frame's is an ``intra.Schedule``, which
    makes its passes again each time it is read)."""
    from .. import intra_kernel  # numba: loaded on first use

    for p in geometry or intra_geometry(height, width, rows):
        part = p if coded is None else _coded_part(p, coded)
        if part.targets.size:  # the rule reads only the coded pixels' neighbours
            ring = pass_ring(p, height, width, profile)
            for sub in split(part, profile):  # the rule reads earlier passes only: any split
                mean, scale_idx = intra.pass_params(canvas, sub, shift)
                yield PassInputs(sub.targets, mean, None, scale_idx, sub.neighbours, ring=ring, wide=rows)
                del mean, scale_idx
            del sub
        if decoding:  # the next pass predicts from the colours just decoded
            intra_kernel.paint(canvas, palette, idx, p.targets)


def _coded_part(p: intra.Pass, coded: np.ndarray, in_place: bool = False) -> intra.Pass:
    """The pixels of pass ``p`` that ``coded`` ((H*W,) bool) marks, with their neighbours;
    ``in_place``: moved to the front of ``p``'s own arrays (a pass made for this read only, which
    is then no longer whole)."""
    keep = coded[p.targets]
    if keep.all():
        return p
    if in_place:
        from .. import intra_kernel  # numba: loaded on first use

        targets, neighbours = intra_kernel.compact(p.targets, p.neighbours, keep)
        return replace(p, targets=targets, neighbours=neighbours)
    return replace(p, targets=p.targets[keep], neighbours=p.neighbours[:, keep])


@lru_cache(maxsize=16)
def checkerboard(height: int, width: int) -> tuple[intra.Pass, intra.Pass]:
    """Palette-inter pixel order of format versions 1-4: the (y + x) even half first, then the odd
    half, whose four axis neighbours (all in the first half) vote for their colours."""
    ys, xs = np.mgrid[0:height, 0:width]
    even = ((ys + xs) % 2 == 0).ravel()
    first = np.flatnonzero(even)
    second = np.flatnonzero(~even)
    ty, tx = second // width, second % width
    nbr = []
    for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        ny, nx = ty + dy, tx + dx
        ok = (ny >= 0) & (ny < height) & (nx >= 0) & (nx < width)
        nbr.append(np.where(ok, ny * width + nx, -1))
    return (
        intra.Pass(first, np.zeros((0, first.size), np.int64)),
        intra.Pass(second, np.stack(nbr) if second.size else np.zeros((4, 0), np.int64)),
    )


def intra_geometry(height: int, width: int, rows: bool = False) -> Iterable[intra.Pass]:
    """Pixel order of palette intra: the coarse-to-fine passes, or with ``rows`` (mix bit 21,
    version 10) the row schedule."""
    return row_schedule.passes(height, width) if rows else intra.passes(height, width)


def inter_geometry(
    height: int, width: int, profile: FormatProfile = CURRENT, rows: bool = False
) -> Iterable[intra.Pass]:
    """Pixel order of palette inter and update frames: with ``profile.interlaced_palette_inter``
    (version 5) the passes of intra coding (``intra_geometry``), so that all but the first pass's
    pixels (1 in 256) have decoded neighbours voting beside the temporal prediction; before, the
    two-pass ``checkerboard``."""
    if profile.interlaced_palette_inter:
        return intra_geometry(height, width, rows)
    return checkerboard(height, width)


def inter_passes(
    pred: Prediction,
    shift: int,
    height: int,
    width: int,
    previous: np.ndarray | None = None,
    profile: FormatProfile = CURRENT,
    coded: np.ndarray | None = None,
    rows: bool = False,
) -> list[PassInputs]:
    """The passes of palette inter (in ``inter_geometry``); with ``previous`` ((H, W, C)), of
    palette update, whose rows get the keep symbol's column; with ``coded`` ((H*W,) bool, copied
    blocks), only those pixels. The codec reads them once, as ``iter_inter_passes`` makes them,
    and never holds them all."""
    return list(iter_inter_passes(pred, shift, height, width, previous, profile, coded, rows))


def iter_inter_passes(
    pred: Prediction,
    shift: int,
    height: int,
    width: int,
    previous: np.ndarray | None = None,
    profile: FormatProfile = CURRENT,
    coded: np.ndarray | None = None,
    rows: bool = False,
    geometry: Iterable[intra.Pass] | None = None,
) -> Iterator[PassInputs]:
    """``inter_passes`` one at a time, each made when it is read (``rows``: in the row schedule;
    ``geometry``: ``inter_geometry``'s, when the caller has it already)."""
    n = height * width
    keep = None if previous is None else previous.reshape(n, -1).T
    geometry = geometry or inter_geometry(height, width, profile, rows)
    made = isinstance(geometry, intra.Schedule)  # a large frame's passes, made for this read
    for p in geometry:  # one pass at a time: none is kept
        part = p if coded is None else _coded_part(p, coded, in_place=made)  # the coded pixels only
        if coded is not None and part.targets.size == 0:  # every pixel of the pass is copied
            continue
        ring = pass_ring(p, height, width, profile)
        del p  # a large frame's pass is made for this read: with copied blocks only ``part`` is needed
        for sub in split(part, profile):
            t = sub.targets
            mean, coupling, scale_idx = pred.pixels(t)
            inputs = PassInputs(
                t,
                mean,
                coupling,
                shifted(scale_idx, shift),
                sub.neighbours,
                None if keep is None else keep[:, t],
                ring,
                rows,
            )
            del mean, coupling, scale_idx, t  # held by ``inputs`` or not needed: no second copy
            yield inputs
            del inputs
        del part, sub


def estimate_passes(
    passes: Iterable[PassInputs],
    palette: np.ndarray,
    idx: np.ndarray,
    prev_idx: np.ndarray | None,
    counts: ctx.ContextCounts,
    stats: PassStats | None = None,
    step: int = 1,
) -> tuple[int, float, list | None, list[KeptPass] | None]:
    """(mix field, estimated bits, cached model rows or None, the passes' ``KeptPass``es or None)
    of coding ``idx`` in these passes (rows and kept passes where ``caches_rows``, the latter
    where the statistics keep them: ``PassStats``' ``keep``).

    The vote weights are chosen first, on the model rows alone; then the context betas, on the
    mixed probabilities of the true colours (``counts`` is consumed). Each pass is reduced to a few
    numbers per pixel as it goes (its true colour's model probability, vote counts, context counts),
    so no pass's inputs are needed afterwards and ``passes`` may generate them one at a time.

    ``stats``: everything but the model's probabilities (``PassStats``), counted here for the
    next mode's estimate in the same passes, or, once complete, counted by another's: then only the
    model rows are read, and ``counts`` is left alone.

    ``step`` (``stats``' own where given): the estimate reads every ``step``-th pixel of the
    passes (``sample_step``; the counts learn from all) and gives their bits scaled to all;
    rows are then never cached.
    """
    reuse = stats is not None and stats.complete
    if stats is None:
        found = PassStats(idx.size, step, keep=caches_rows(idx.size, len(palette), step))
    else:
        found = stats
    step = found.step
    cache = caches_rows(idx.size, len(palette), step)
    cached = []
    true_p = _Columns(-(-idx.size // step), true_p=np.float64)
    sizes = []
    offset = 0  # pixels of the passes before this one: the sample is every step-th of them all
    sampled_pixels = 0
    for inp in passes:
        t = inp.targets
        sample = sampled(offset, t.size, step)
        offset += t.size
        blocks = []
        if cache or inp.keep is not None or not CURRENT.integer_coupling:
            truth = idx[t]
            p = np.empty(t.size)
            for sl, rows, shares in model_shares(inp, palette, truth):
                p[sl] = shares
                if cache:
                    blocks.append((sl, rows))
            p = p[sample]
        else:  # the rows are made again when the frame is coded: only their true colours here
            truth = idx[t[sample]]
            mean, scale_idx = inp.mean[:, sample], inp.scale_idx[:, sample]  # views
            coupling = None if inp.coupling is None else inp.coupling[:, sample]
            p = np.empty(truth.size)
            for start in range(0, truth.size, _COUNTS_BLOCK):
                sl = slice(start, start + _COUNTS_BLOCK)
                p[sl] = pc.true_probabilities(
                    mean[:, sl],
                    None if coupling is None else coupling[:, sl],
                    scale_idx[:, sl],
                    palette,
                    truth[sl],
                )
            del mean, scale_idx, coupling
            truth = None
        cached.append(blocks)
        true_p.put(p.size, true_p=p)
        sampled_pixels += p.size
        del p
        if t.size:
            sizes.append(t.size)
        if not reuse:
            found.count_pass(inp, idx, idx[t] if truth is None else truth, prev_idx, counts)
        del truth
    if reuse and sizes != stats.sizes:
        raise RuntimeError(f"passes of {sizes[:4]}... pixels reuse statistics of {stats.sizes[:4]}...")
    found.sizes = sizes
    kept = found.kept if cache and found.kept is not None and len(found.kept) == len(cached) else None
    cols = found.columns
    stats_in = pc.TrueColourStats(
        true_p.pop("true_p"), cols["has_prev"], cols["match"], cols["hits"], cols["valid"], cols["level"]
    )
    del true_p
    if stats is None:  # nobody reuses them: free the votes before the betas' search
        found = None
        cols.pop("hits"), cols.pop("valid")
    mix, _ = pc.choose_mix_stats(stats_in)
    p_true = pc.mixed_true_p_stats(stats_in, mix)
    del stats_in
    orders = ctx.orders(CURRENT)
    own = [cols[f"own{o}"] for o in range(orders)]
    total = [cols[f"total{o}"] for o in range(orders)]
    del cols
    bits, beta_bits = _choose_betas(p_true, own, total)
    bits = scaled_bits(bits, step, offset, sampled_pixels)  # the sample's, for the passes' pixels
    return mix | beta_bits, bits, cached if cache else None, kept


class PassStats:
    """What a palette mode's estimate learns of a frame's pixels apart from its model rows, per
    pixel in pass order: whether it has a previous colour and is it, its neighbours' votes, its
    context counts per order (counted as the passes go).

    Palette intra and palette inter code the same symbols in the same passes from the same
    pretrained counts (version 5 on: ``inter_geometry`` is ``intra_geometry``), so in one pass
    schedule these are the same for both, and the second mode's estimate reads only its model
    rows (the counting is about half of an estimate's time on large frames)."""

    def __init__(self, size: int, step: int = 1, keep: bool = False) -> None:
        """Columns for a frame of ``size`` pixels, of every ``step``-th pixel in pass order
        (``sample_step``); ``keep`` (only with ``step`` 1): each pass's ``KeptPass`` too."""
        self.sizes: list[int] | None = None  # each (non-empty) pass's pixels, once all are counted
        self.step = step
        self.kept: list[KeptPass] | None = [] if keep and step == 1 else None
        self._offset = 0  # the pixels of the passes counted so far
        orders = ctx.orders(CURRENT)
        self._count_dtype = np.int32 if size < (1 << 30) else np.int64  # counts: < 2 frames of pixels
        self._cols = _Columns(
            -(-size // step),
            has_prev=bool,
            match=bool,
            hits=np.uint8,
            valid=np.uint8,
            level=np.uint8,
            **{f"own{o}": self._count_dtype for o in range(orders)},
            **{f"total{o}": self._count_dtype for o in range(orders)},
        )

    @property
    def complete(self) -> bool:
        """Whether every pass was counted (an estimate cut short leaves them incomplete)."""
        return self.sizes is not None

    @property
    def columns(self) -> dict[str, np.ndarray]:
        """The columns so far, by name."""
        return {name: self._cols.get(name) for name in self._cols.names()}

    def count_pass(
        self,
        inp: PassInputs,
        idx: np.ndarray,
        truth: np.ndarray,
        prev_idx: np.ndarray | None,
        counts: ctx.ContextCounts,
    ) -> None:
        """Add a pass's pixels (``truth`` = ``idx[inp.targets]``), those of the sample (``step``);
        ``counts`` learns from all of them."""
        t = inp.targets
        sample = sampled(self._offset, t.size, self.step)
        self._offset += t.size
        orders = ctx.orders(CURRENT)
        true = np.ascontiguousarray(truth[sample])  # the sample's (no copy when it is every pixel)
        nbr = np.ascontiguousarray(inp.neighbours[:, sample])
        colours = neighbour_colours(idx, nbr)
        hits, valid, level = pc.vote_counts(colours, true)
        prev = None if prev_idx is None else prev_idx[t[sample]]
        row = {"hits": hits, "valid": valid, "level": level}
        row["has_prev"] = False if prev is None else prev >= 0
        row["match"] = False if prev is None else prev == true
        keys = ctx.context_keys(idx, inp.neighbours, inp.ring, inp.wide, t)
        n = hits.size
        for o in range(orders):
            if keys is None:  # no context: the counts leave the row as it is
                row[f"own{o}"] = row[f"total{o}"] = 0
            else:  # in blocks: true_counts' temporaries are several int64 per pixel
                own, total = np.empty(n, self._count_dtype), np.empty(n, self._count_dtype)
                key = np.ascontiguousarray(keys[o][sample])
                for start in range(0, n, _COUNTS_BLOCK):
                    sl = slice(start, start + _COUNTS_BLOCK)
                    own[sl], total[sl] = counts.true_counts(o, key[sl], true[sl])
                row[f"own{o}"], row[f"total{o}"] = own, total
                del key
        self._cols.put(n, **row)
        del row, hits, valid, level, prev, true
        if self.kept is not None:
            tables = None if keys is None else counts.frozen_levels(orders)
            self.kept.append(KeptPass(t, colours, keys, tables))
        del colours
        counts.add(keys, truth)


_COUNTS_BLOCK = 1 << 16


class _Columns:
    """Per-pixel columns filled pass by pass into arrays allocated once (no lists of parts to
    concatenate, which would hold every column twice)."""

    def __init__(self, size: int, **dtypes) -> None:
        self._arrays = {name: np.empty(size, dt) for name, dt in dtypes.items()}
        self._end = 0

    def put(self, n: int, **values) -> None:
        end = self._end + n
        for name, arr in self._arrays.items():
            if end > arr.size:  # passes covering more than the frame's pixels: grow
                arr = self._arrays[name] = np.concatenate(
                    [arr, np.empty(max(end, 2 * arr.size) - arr.size, arr.dtype)]
                )
            arr[self._end : end] = values[name]
        self._end = end

    def get(self, name: str) -> np.ndarray:
        return self._arrays[name][: self._end]

    def pop(self, name: str) -> np.ndarray:
        return self._arrays.pop(name)[: self._end]

    def names(self) -> list[str]:
        return list(self._arrays)


def _choose_betas(p_true: np.ndarray, own: list[np.ndarray], total: list[np.ndarray]) -> tuple[float, int]:
    """(bits, mix-field bits) of the context betas that code the true symbols cheapest, given
    their mixed probabilities and, per order, their own and their context's total counts: orders
    1 and 2 jointly, then each higher order given the ones before (the encoder's search; any choice
    decodes), every choice's bits summed in one compiled pass per step (``search_kernel``); the
    first of equal totals is kept, as in ``_choose_betas_reference``."""
    from .. import search_kernel  # numba: loaded on first use

    pair_bits = search_kernel.beta_costs(p_true, own, total, (), ctx.BETA_TABLE, pairs=True)
    b1, b2 = np.unravel_index(int(np.argmin(pair_bits)), pair_bits.shape)
    best = (float(pair_bits[b1, b2]), (int(b1), int(b2)))
    for o in range(2, len(own)):
        fixed = tuple(ctx.table(k)[i] for k, i in enumerate(best[1]))
        bits = search_kernel.beta_costs(p_true, own, total, fixed, ctx.table(o), pairs=False)
        b = int(np.argmin(bits))
        best = (float(bits[b]), best[1] + (b,))
    return best[0], ctx.mix_bits(best[1])


def _choose_betas_reference(
    p_true: np.ndarray, own: list[np.ndarray], total: list[np.ndarray]
) -> tuple[float, int]:
    """``_choose_betas`` in numpy, one pass over the pixels per choice (for testing it)."""

    def cost(choice: tuple[int, ...]) -> float:
        beta = tuple(ctx.table(o)[i] for o, i in enumerate(choice))
        p = ctx.blend_true(p_true, own[: len(beta)], total[: len(beta)], beta)
        return float(-np.log2(np.maximum(p, entropy.MIN_PROBABILITY)).sum())

    # orders 1 and 2 jointly, then each higher order given the ones before (the encoder's search;
    # any choice decodes)
    options = range(len(ctx.BETA_TABLE))
    best = min((cost((b1, b2)), (b1, b2)) for b1 in options for b2 in options)
    for o in range(2, len(own)):
        best = min((cost(best[1] + (b,)), best[1] + (b,)) for b in range(len(ctx.table(o))))
    return best[0], ctx.mix_bits(best[1])


def inter_scale_shift(
    inter: InterCandidate, frame: np.ndarray, previous: np.ndarray, copied: copied_blocks.CopiedBlocks | None
) -> int:
    """Palette inter's scale shift: RGB inter's best shift over the pixels palette inter codes that
    changed since the previous frame (RGB inter's own shift where none did).

    RGB inter fits its shift to every pixel; where most of the frame is unchanged that is the
    sharpest scale (-63 on a clip whose new 32x32 icons cover a tenth of it), which makes the model
    row give every changed pixel almost no probability. Palette inter predicts unchanged pixels by
    the previous colour anyway, so its row's scale is fitted where the row is needed."""
    changed = _changed_coded(frame, previous, copied)
    if not changed.any():
        return inter.scale_shift
    mean_q, scale_idx = inter.parameters()
    return best_shift(inter.chw[:, changed], mean_q[:, changed], scale_idx[:, changed])[0]


def region_scale_shift(
    frame: FrameToCode, pred: Prediction, previous: np.ndarray, copied: copied_blocks.CopiedBlocks
) -> int:
    """``inter_scale_shift`` where ``pred`` holds only the box of the coded pixels (the rest copied)
    and RGB inter was not estimated: fitted over the coded pixels that changed, or over every
    coded pixel where none did (there is no whole-frame shift to fall back on)."""
    use = _changed_coded(frame.pixels, previous, copied)
    if not use.any():
        use = copied.coded.reshape(use.shape)
    mean_q, scale_idx = rgb_inter.params(frame.chw, pred)
    return best_shift(frame.chw[:, use], mean_q[:, use], scale_idx[:, use])[0]


def _changed_coded(
    frame: np.ndarray, previous: np.ndarray, copied: copied_blocks.CopiedBlocks | None
) -> np.ndarray:
    """(H, W) bool: the pixels a palette frame codes whose colour changed since ``previous``."""
    changed = pack_colours(frame) != pack_colours(previous)
    if copied is not None:
        changed &= copied.coded.reshape(changed.shape)
    return changed


def palette_body(palette: np.ndarray, sent_palette: np.ndarray | None) -> bytes | None:
    """Body of the PLTE chunk a frame with ``palette`` needs, None when it is the one in force.
    The last few bodies are kept: a frame's palette modes (and palette LZ) each ask for it."""
    if sent_palette is not None and np.array_equal(sent_palette, palette):
        return None
    sent = None if sent_palette is None else np.ascontiguousarray(sent_palette, np.uint8).tobytes()
    return _palette_body(np.ascontiguousarray(palette, np.uint8).tobytes(), palette.shape[1], sent)


@lru_cache(maxsize=4)
def _palette_body(colours: bytes, channels: int, sent: bytes | None) -> bytes:
    def unpacked(raw: bytes) -> np.ndarray:
        return np.frombuffer(raw, np.uint8).reshape(-1, channels)

    return encode_palette(unpacked(colours), None if sent is None else unpacked(sent))


def body_bits(body: bytes | None) -> int:
    """Bits of the PLTE chunk of this ``palette_body`` (none for None)."""
    return 0 if body is None else 8 * chunk_size(len(body))


def candidate(
    mode: int,
    shift: int,
    passes: Callable[[], Iterable[PassInputs]],
    palette: np.ndarray,
    idx: np.ndarray,
    prev_idx: np.ndarray | None,
    counts: ctx.ContextCounts,
    body: bytes | None,
    copied: copied_blocks.CopiedBlocks | None = None,
    rows: bool = False,
    stats: PassStats | None = None,
) -> PaletteCandidate:
    """The candidate of coding ``idx`` in the passes that ``passes()`` makes (called again by
    ``encode``, so that no pass is held meanwhile; ``counts`` is kept for ``encode``) with the
    palette chunk ``body`` (``palette_body``), whose bits its estimate includes, and the
    ``copied`` blocks' flags (``passes()`` must leave their pixels out); ``rows``: the passes are
    the row schedule's; ``stats``: ``estimate_passes``'s, to count or counted."""
    reused = stats is not None and stats.complete  # then ``counts`` is not read
    mix, bits, cached, kept = estimate_passes(
        passes(), palette, idx, prev_idx, counts if reused else counts.copy(), stats
    )
    if rows:
        mix |= row_schedule.ROWS_BIT
    if copied is not None:
        mix, bits = mix | copied.mix_bits, bits + copied.bits
    return PaletteCandidate(
        mode,
        bits + body_bits(body),
        shift,
        palette,
        idx,
        prev_idx,
        mix,
        passes,
        cached,
        counts,
        body,
        copied,
        kept if KEEP_PASSES else None,
    )


def sampled_schedules(
    frame: FrameToCode,
    palette: np.ndarray,
    idx: np.ndarray,
    prev_idx: np.ndarray | None,
    previous: np.ndarray | None,
    shift: int,
    sample_rows: np.ndarray,
) -> tuple[bool, ...]:
    """The schedules worth estimating palette intra in on the whole frame, from their estimates
    on the frame's rows ``sample_rows`` stacked into one picture (``frame_sample``): the one
    that wins there by SAMPLE_MARGIN, else all of them.

    Why a margin: on a quarter of a photo the two schedules' estimates can come out in the other
    order than on the whole (within 5 %); screenshots, where the row schedule saves 25-40 %, are
    decided on the bands. The mix field is always chosen on the whole frame: the context
    counts' best betas depend on how many pixels they have seen, and chosen on the bands they
    cost up to 2 % on photos."""
    h, w = sample_rows.size, frame.width
    flat = frame.chw[:, sample_rows].reshape(frame.chw.shape[0], h * w)
    s_idx = idx.reshape(-1, w)[sample_rows].ravel()
    s_prev = None if prev_idx is None else prev_idx.reshape(-1, w)[sample_rows].ravel()
    s_previous = None if previous is None else previous[sample_rows]
    bits = []
    for rows in SCHEDULES:
        passes = intra_passes(flat, palette, s_idx, shift, h, w, decoding=False, rows=rows)
        counts = pretrained_counts(intra_geometry(h, w, rows), s_previous, palette)
        bits.append(estimate_passes(passes, palette, s_idx, s_prev, counts)[1])
    best = int(np.argmin(bits))
    if all(b >= (1 + SAMPLE_MARGIN) * bits[best] for k, b in enumerate(bits) if k != best):
        return (SCHEDULES[best],)
    return SCHEDULES


@dataclass
class ScheduleMemory:
    """Which pass schedule won, per palette mode, the last time the encoder estimated both.

    Why a memory: estimating a frame in both schedules doubles the palette modes' encoding time,
    and the winner follows the kind of picture (screenshots, text and line art: the row schedule;
    video-like frames: mostly coarse-to-fine), which a stream keeps for many frames. So both are
    estimated on a mode's first frame and every SCHEDULE_PROBE frames of it, and in between the
    last winner alone.
    """

    winner: dict[int, bool] = field(default_factory=dict)
    since: dict[int, int] = field(default_factory=dict)

    def schedules(self, mode: int) -> tuple[bool, ...]:
        if len(SCHEDULES) == 1 or mode not in self.winner or self.since[mode] + 1 >= SCHEDULE_PROBE:
            return SCHEDULES
        return (self.winner[mode],)

    def update(self, mode: int, compared: bool, rows: bool) -> None:
        if compared:
            self.winner[mode], self.since[mode] = rows, 0
        elif mode in self.since:
            self.since[mode] += 1


@dataclass
class IntraProbe:
    """The encoder's memory, across one stream's predicted frames, of how palette intra fared on
    the last frame where it was estimated; it decides whether palette intra is worth estimating
    on the next (``worth``). Streams are unaffected: the decoder never knows which modes the
    encoder estimated.

    Palette intra is estimated when there is no such frame yet (the first predicted frame after a
    key frame), when it came within INTRA_MARGIN of palette inter there (it won, or may win now),
    when palette inter's estimate, relative to RGB intra's, has grown by INTRA_JUMP since (a scene
    cut or new motion: where intra wins), and at least every INTRA_PROBE predicted frames.

    Why a memory and not a threshold: palette intra and inter are near-ties on much footage (on
    the training clips' predicted frames, 5-95 % of their estimates' ratio lie in 0.82-1.30 with
    last-frame, 0.86-1.33 with convlstm-hybrid-int; intra won 389 of 1150 frames and 53 of 236)
    and no per-frame figure tells them apart ("palette inter below k x RGB intra" loses 0.5-2.3 %
    of the bytes), but a clip's ratio drifts slowly. Simulated on those estimates, this rule skips
    31 % of the palette-intra estimates for 0.037 % more bytes with last-frame, 33 % for none with
    convlstm-hybrid-int; re-probing every 8 frames instead of 4 skips 36 % and loses 0.058 %
    (measured on 31 catz96 clips: +0.054 %). Where intra keeps winning it saves nothing; where
    inter wins (carphone_000, last-frame: 32 of 33 predicted frames) a quarter of the CPU time.
    """

    ratio: float | None = None  # palette intra's estimate / palette inter's, then
    inter_share: float = 0.0  # palette inter's estimate / RGB intra's, then
    skipped: int = 0  # predicted frames since, where palette intra was not estimated
    schedules: ScheduleMemory = field(default_factory=ScheduleMemory)  # the pass schedules' winners

    def worth(self, inter_bits: float, rgb_intra_bits: float) -> bool:
        if self.ratio is None or self.ratio < 1 + INTRA_MARGIN or self.skipped + 1 >= INTRA_PROBE:
            return True
        return inter_bits > INTRA_JUMP * self.inter_share * rgb_intra_bits

    def update(self, intra_bits: float | None, inter_bits: float, rgb_intra_bits: float) -> None:
        """Record a predicted frame's estimates (``intra_bits`` None: palette intra not estimated)."""
        if intra_bits is None:
            self.skipped += 1
            return
        self.ratio = intra_bits / max(inter_bits, 1.0)
        self.inter_share = inter_bits / max(rgb_intra_bits, 1.0)
        self.skipped = 0


def estimate(
    frame: FrameToCode,
    extracted: tuple[np.ndarray, np.ndarray],
    pred: Prediction | None,
    previous: np.ndarray | None,
    sent_palette: np.ndarray | None,
    intra_shift: int,
    inter_shift: int | None,
    rgb_intra_bits: float = 0.0,
    probe: IntraProbe | None = None,
    copied: copied_blocks.CopiedBlocks | None = None,
    only: dict[int, bool] | None = None,
    counted: dict[tuple[bool, bool], ctx.ContextCounts] | None = None,
) -> list[PaletteCandidate]:
    """Palette intra (with RGB intra's scale shift) and, with a prediction, palette inter (with
    ``inter_shift``: ``inter_scale_shift``'s), for a frame of at most 256 colours: ``extracted`` =
    (palette, indices). Given the
    stream's ``probe`` (and RGB intra's estimate), a predicted frame leaves palette intra out
    where the probe says it is not worth estimating, and the probe learns from the frame. With
    ``copied`` (blocks equal to ``previous``), both code only the other blocks' pixels. With
    ``only`` (mode -> row schedule on), just those modes, each in that schedule (for a second
    choice of copied blocks: the modes and schedules that won with the first). ``counted``: the
    previous frame's context counts per pass schedule, filled as they are counted; the same for
    every choice of copied blocks, so one frame's estimates share it (each reads copies)."""
    palette, idx = extracted
    h, w = frame.height, frame.width
    coded = None if copied is None else copied.coded
    body = palette_body(palette, sent_palette)  # the same for both candidates
    memory = None if probe is None else probe.schedules
    prev_idx = pc.previous_indices(previous, palette)
    # a large frame's palette intra schedule is chosen on bands of it (``sampled_schedules``; not
    # with copied blocks, whose flags are the frame's)
    sample_rows = None if copied is not None else frame_sample.sample_rows(h, w)
    counted = {} if counted is None else counted
    coded_pixels = h * w if coded is None else int(np.count_nonzero(coded))
    step = sample_step(coded_pixels)
    shared = _SharedStats(idx.size, step, keep=caches_rows(idx.size, len(palette), step))

    def passes_key(rows: bool, inter: bool) -> tuple[bool, bool]:
        """Which passes a mode reads in a schedule: palette inter reads the intra passes (version 5
        on), so both modes start from the same counts and count the same statistics."""
        return rows, inter and not CURRENT.interlaced_palette_inter

    def counts_in(rows: bool, inter: bool) -> ctx.ContextCounts:
        """A copy of the previous frame's context counts in a schedule, counted once per frame."""
        key = passes_key(rows, inter)
        if key not in counted:
            geometry = inter_geometry(h, w, rows=rows) if inter else intra_geometry(h, w, rows)
            counted[key] = pretrained_counts(geometry, previous, palette)
        return counted[key].copy()

    out = []
    if only is not None:
        memory = None
    if pred is not None and inter_shift is not None and (only is None or MODE_PALETTE_INTER in only):

        def inter_in(rows: bool) -> PaletteCandidate:
            def passes() -> Iterable[PassInputs]:
                return iter_inter_passes(pred, inter_shift, h, w, coded=coded, rows=rows)

            counts = counts_in(rows, inter=True)
            stats = shared.get(passes_key(rows, inter=True))
            return candidate(
                MODE_PALETTE_INTER,
                inter_shift,
                passes,
                palette,
                idx,
                prev_idx,
                counts,
                body,
                copied,
                rows,
                stats,
            )

        schedule = None if only is None else (only[MODE_PALETTE_INTER],)
        out.append(cheaper(inter_in, MODE_PALETTE_INTER, memory, schedule))
        if probe is not None and not probe.worth(out[0].bits, rgb_intra_bits):
            probe.update(None, out[0].bits, rgb_intra_bits)
            return out

    def intra_in(rows: bool) -> PaletteCandidate:
        def passes() -> Iterable[PassInputs]:
            return intra_passes(
                frame.flat, palette, idx, intra_shift, h, w, decoding=False, coded=coded, rows=rows
            )

        counts = counts_in(rows, inter=False)
        stats = shared.get(passes_key(rows, inter=False))
        return candidate(
            MODE_PALETTE_INTRA, intra_shift, passes, palette, idx, prev_idx, counts, body, copied, rows, stats
        )

    if only is not None and MODE_PALETTE_INTRA not in only:
        return out
    # mode order: on equal estimates the frame coder takes the first, palette intra
    decided = None if only is None else (only[MODE_PALETTE_INTRA],)
    if (
        decided is None
        and sample_rows is not None
        and len(SCHEDULES if memory is None else memory.schedules(MODE_PALETTE_INTRA)) > 1
    ):
        decided = sampled_schedules(frame, palette, idx, prev_idx, previous, intra_shift, sample_rows)
    out.insert(0, cheaper(intra_in, MODE_PALETTE_INTRA, memory, decided, shared.rows))
    if probe is not None and len(out) == 2:
        probe.update(out[0].bits, out[1].bits, rgb_intra_bits)
    return out


def schedules_of(candidates: Iterable[PaletteCandidate]) -> dict[int, bool]:
    """Each candidate's mode and whether it is in the row schedule: ``estimate``'s ``only``."""
    return {c.mode: bool(c.mix & row_schedule.ROWS_BIT) for c in candidates}


#: A large frame's palette intra is estimated whole in one schedule only where that schedule's
#: estimate on the frame's bands (``sampled_schedules``) is at least this much below the other's.
SAMPLE_MARGIN = 0.1
#: The pass schedules (row schedule off, on) a palette mode can be coded in; the first wins ties.
SCHEDULES = (False, True) if CURRENT.row_schedule else (False,)


def cheaper(
    make: Callable[[bool], PaletteCandidate],
    mode: int,
    memory: ScheduleMemory | None = None,
    decided: tuple[bool, ...] | None = None,
    first: bool | None = None,
) -> PaletteCandidate:
    """The candidate ``make(rows)`` with the fewest estimated bits over the schedules that
    ``memory`` says are worth estimating for ``mode`` (None: all of them), or over ``decided``
    (``sampled_schedules``'), which counts as a comparison; ``memory`` learns. Equal estimates go
    to the schedule first in ``SCHEDULES``, whichever is made ``first`` (the one whose
    ``PassStats`` another mode has left)."""
    tried = decided or (SCHEDULES if memory is None else memory.schedules(mode))
    best, best_key = None, None
    for rows in sorted(tried, key=lambda r: r != first):  # stable: ``tried``'s order otherwise
        c = make(rows)
        key = (c.bits, tried.index(rows))
        if best is None or key < best_key:
            best, best_key = c, key
    if memory is not None:
        memory.update(mode, len(tried) > 1 or decided is not None, bool(best.mix & row_schedule.ROWS_BIT))
    return best


class _SharedStats:
    """The ``PassStats`` of one frame's palette estimates in one schedule at a time: a mode
    estimated in the schedule of the last estimate reuses its statistics; another schedule's
    estimate drops them first (they take about 30 bytes a pixel)."""

    def __init__(self, size: int, step: int = 1, keep: bool = False) -> None:
        """For a frame of ``size`` pixels, estimated on every ``step``-th (``sample_step``);
        ``keep``: ``PassStats``' (the passes' ``KeptPass``es too)."""
        self._size = size
        self._step = step
        self._keep = keep
        self._key: tuple[bool, bool] | None = None
        self._stats: PassStats | None = None

    @property
    def rows(self) -> bool | None:
        """The schedule of the statistics held (None: none held)."""
        return None if self._key is None else self._key[0]

    def get(self, key: tuple[bool, bool]) -> PassStats:
        """The statistics of ``key`` = (row schedule, inter passes of their own): those held, or
        new ones to count in place of them (also of incomplete ones: an estimate cut short)."""
        if key != self._key or not self._stats.complete:
            self._key, self._stats = None, None  # freed before the new ones are counted
            self._key, self._stats = key, PassStats(self._size, self._step, self._keep)
        return self._stats


def encode(c: PaletteCandidate) -> bytes:
    """The payload of any palette mode (2, 3 or 4). A candidate is coded once: the coder grows its
    context counts pass by pass and mixes its cached rows in place, so a second payload would come
    out of other counts and rows; it raises RuntimeError instead."""
    counts = c.counts
    if counts is None:
        raise RuntimeError(f"palette candidate of mode {c.mode} coded twice: its counts were consumed")
    object.__setattr__(c, "counts", None)  # frozen dataclass: the one field that coding spends
    enc = entropy.FrameEncoder(compiled=True)  # rows coded from their running sums
    if c.copied is not None:
        copied_blocks.encode_map(c.copied.blocks, c.copied.shift, enc)
    passes = c.passes() if c.kept is None else c.kept
    code_passes(passes, c.palette, c.prev_idx, c.mix, c.idx, enc, counts, c.cached)
    return enc.finish()


def check_mix(mix: int, profile: FormatProfile = CURRENT) -> None:
    """FormatError for a mix field no palette mode of ``profile``'s version can use."""
    if not pc.valid_mix(mix, profile):
        raise FormatError(f"palette mix field 0x{mix:04x} out of range for format version {profile.version}")


def read_copied(
    coded: CodedFrame,
    dc: DecodeContext,
    coder: entropy.FrameDecoder,
    symbols: np.ndarray,
    exact: np.ndarray | None = None,
) -> np.ndarray | None:
    """Read a palette frame's copied blocks (version 9) from the start of its payload and set the
    copied pixels' ``symbols`` from ``dc.previous`` (``exact``: its pixels' indices in the frame's
    palette, ``pc.exact_indices``, when the caller has them). Returns the coded pixels' mask, None
    without copied blocks."""
    side = copied_blocks.side_of(coded.mix) if dc.profile.copied_blocks else 0
    shifted = bool(coded.mix & copied_blocks.SHIFTED_BIT) if dc.profile.copied_blocks else False
    if side == 0:
        if shifted:
            raise FormatError(f"palette mix field 0x{coded.mix:x} has a shift (bit 20) but no block side")
        return None
    if dc.previous is None:
        raise FormatError("a frame with copied blocks (mix bits 18-20) has no previous frame to copy from")
    h, w = dc.height, dc.width
    blocks, shift = copied_blocks.decode_map(coder, *copied_blocks.grid(h, w, side), shifted)
    pixel_symbols = copied_blocks.pixel_symbols(blocks, side, h, w)
    try:
        dest, src = copied_blocks.sources(pixel_symbols, shift, h, w)
    except ValueError as exc:
        raise FormatError(str(exc)) from None
    if dest.size:
        flat = dc.previous.reshape(h * w, dc.channels)
        colours = flat[src]
        found = pc.exact_indices(colours, coded.palette) if exact is None else exact[src]
        if coded.mode == MODE_PALETTE_UPDATE:  # the keep symbol where the colour is unchanged in place
            found[(colours == flat[dest]).all(axis=1)] = len(coded.palette)
        missing = int((found < 0).sum())
        if missing:
            raise FormatError(f"{missing} copied pixels have a colour that is not in the frame's palette")
        symbols[dest] = found
    return pixel_symbols == copied_blocks.CODED


def palette_in_force(coded: CodedFrame, dc: DecodeContext, what: str = "palette frame") -> np.ndarray:
    """The palette a palette-indexed frame (``what``, for the message) decodes with; FormatError
    where none was sent or it has another channel count than the stream."""
    palette = coded.palette
    if palette is None:
        raise FormatError(f"{what} before any palette chunk")
    if palette.shape[1] != dc.channels:
        raise FormatError(f"palette has {palette.shape[1]} channels, stream has {dc.channels}")
    return palette


def decode(coded: CodedFrame, dc: DecodeContext) -> np.ndarray:
    """Palette intra or inter (``coded.mode``) back to (H, W, C) pixels."""
    palette = palette_in_force(coded, dc)
    check_mix(coded.mix, dc.profile)
    h, w = dc.height, dc.width
    idx = np.zeros(h * w, np.int32)
    coder = entropy.FrameDecoder(coded.payload, dc.profile, compiled=True)  # rows' running sums
    inter = coded.mode == MODE_PALETTE_INTER
    if inter:  # the model runs before the previous frame's indices are held (8 bytes a pixel)
        coded_mask = read_copied(coded, dc, coder, idx)  # copied colours looked up on their own
        pred = dc.prediction(coded_mask)  # the model runs only where pixels are coded
    prev_idx, prev_exact = pc.previous_matches(dc.previous, palette) or (None, None)
    if not inter:
        coded_mask = read_copied(coded, dc, coder, idx, prev_exact)
    rows = row_schedule.used(coded.mix, dc.profile.row_schedule)
    if inter:
        geometry = inter_geometry(h, w, dc.profile, rows)
        passes: Iterable[PassInputs] = iter_inter_passes(
            pred,
            coded.scale_shift,
            h,
            w,
            profile=dc.profile,
            coded=coded_mask,
            rows=rows,
            geometry=geometry,
        )
    else:
        geometry = intra_geometry(h, w, rows)
        canvas = np.zeros((dc.channels, h * w), np.uint8)  # colours: the rule reads them as float32
        passes = intra_passes(
            canvas,
            palette,
            idx,
            coded.scale_shift,
            h,
            w,
            decoding=True,
            profile=dc.profile,
            coded=coded_mask,
            rows=rows,
            geometry=geometry,
        )
    counts = pretrained_counts(geometry, dc.previous, palette, dc.profile, prev_exact)
    del prev_exact  # not held while the passes are coded (4 bytes a pixel)
    code_passes(passes, palette, prev_idx, coded.mix, idx, coder, counts)
    return palette[idx].reshape(h, w, dc.channels)
