"""Palette mode: code each pixel as an index into the frame's palette (at most 256 colours).

The predictor's continuous prediction (per-channel Laplace means and scales, colour coupling
included) induces a categorical distribution over the palette: colour k gets probability
proportional to the product over channels of its discretized Laplace mass. That is mixed with the
"same colour as in the previous decoded frame" event, which GIFs make very likely, with a weight the
encoder picks per frame. Everything is vectorized over (pixels x colours), in blocks of pixels so
memory stays bounded on large frames.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..bitstream import entropy
from ..bitstream.palette import MAX_COLOURS, pack_colours, unpack_colours
from ..bitstream.profile import CURRENT, FormatProfile
from ..models.base import apply_coupling

#: Weight of the "same colour as the previous frame" event; the frame stores an index into this.
MIX_TABLE = np.array([0.0, 0.3, 0.5, 0.7, 0.85, 0.93, 0.97, 0.99])
#: Pixels per block in the (pixels x colours) computations, for 64 colours or fewer (the RGB
#: modes' batch size; ``block_size`` scales it to the palette).
BLOCK = entropy.TABLE_BLOCK


def extract_palette(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Canonical palette ((K, C) uint8, sorted by packed value) and flat indices, or None if K > 256."""
    found = indexed_colours(frame.reshape(-1, frame.shape[-1]), MAX_COLOURS)
    if found is None:
        return None
    return unpack_colours(found[0], frame.shape[-1]), found[1].astype(np.int32)


#: A previous colour votes for the nearest palette colour within this L1 distance (palettes are
#: re-quantized per frame, so a pixel that did not change often comes back slightly shifted).
NEAREST_L1 = 6
_MAX_UNIQUE = 4096


def previous_indices(previous: np.ndarray | None, palette: np.ndarray) -> np.ndarray | None:
    """Per pixel, the palette entry nearest (L1, lowest index on ties) to its previous colour, or -1
    when none is within NEAREST_L1 (or the previous frame has too many colours to match).

    The colours are looked up once each (``indexed_colours``: a hash table of the frame's
    colours, where a whole frame's ``np.unique`` with its inverse took 48 bytes a pixel)."""
    matched = previous_matches(previous, palette)
    return None if matched is None else matched[0]


def previous_matches(
    previous: np.ndarray | None, palette: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """(``previous_indices``, ``exact_indices``) of the previous frame, from one look-up of its
    colours: a palette is sorted and without duplicates, so a colour's exact index is its nearest
    one at distance 0. The decoder needs both (the previous colours' votes, the context counts of
    the previous frame and the copied blocks); the second may be the first array itself (read
    them, do not write them)."""
    if previous is None:
        return None
    flat = previous.reshape(-1, previous.shape[-1])
    found = indexed_colours(flat, _MAX_UNIQUE)
    if found is None:
        exact = _exact(flat, palette)
        return exact, exact
    uniq, index = found
    colours = unpack_colours(uniq, flat.shape[1]).astype(np.int32)
    dist = l1_distances(colours, palette)
    best = dist.argmin(axis=1)
    nearest = dist[np.arange(len(uniq)), best]
    near = np.where(nearest <= NEAREST_L1, best, -1).astype(np.int32)
    exact = np.where(nearest == 0, best, -1).astype(np.int32)
    return near[index], exact[index]


def l1_distances(colours: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """(U, K) int32 L1 distances between (U, C) ``colours`` and (K, C) ``palette`` colours, summed
    channel by channel: a (U, K, C) array summed over its short last axis took 13 times as long
    (3.6 ms a frame of 245 colours against a palette of 245, a twentieth of its decoding)."""
    pal = palette.astype(np.int32)
    dist = np.abs(colours[:, None, 0] - pal[None, :, 0])
    for c in range(1, colours.shape[1]):
        dist += np.abs(colours[:, None, c] - pal[None, :, c])
    return dist


def exact_indices(frame: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Per pixel of ``frame``, the index of its exact colour in ``palette``, or -1 if absent."""
    return _exact(frame.reshape(-1, frame.shape[-1]), palette)


_INDEX_BLOCK = 1 << 16


def indexed_colours(flat: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Sorted distinct ``pack_colours`` keys of the (N, C) colours and each pixel's index among
    them (uint8 up to 256 keys, else int32), or None for more than ``limit`` keys: ``np.unique``
    with its inverse, without sorting the pixels (``colour_kernel``: a hash table of the colours,
    then their ranks; 14 ms -> 1.3 ms a 480x270 frame, and no whole-frame temporaries)."""
    from . import colour_kernel  # numba: loaded on first use

    return colour_kernel.indexed_colours(flat, limit)


def _exact(flat: np.ndarray, palette: np.ndarray) -> np.ndarray:
    pal_keys = pack_colours(palette)
    out = np.empty(len(flat), np.int32)
    for start in range(0, len(flat), _INDEX_BLOCK):
        part = slice(start, start + _INDEX_BLOCK)
        keys = pack_colours(flat[part])
        pos = np.clip(np.searchsorted(pal_keys, keys), 0, len(pal_keys) - 1)
        out[part] = np.where(pal_keys[pos] == keys, pos, -1)
    return out


#: After each further channel, the running product of integer frequencies is shifted right by this
#: many bits (log2 of entropy.CDF_TOTAL), which keeps it below 2^21 whatever the channel count.
WEIGHT_SHIFT = 20


def colour_weights(
    mean: np.ndarray,
    coupling: np.ndarray | None,
    scale_idx: np.ndarray,
    palette: np.ndarray,
    profile: FormatProfile = CURRENT,
    sums: np.ndarray | None = None,
) -> np.ndarray:
    """(N, K) integer weight of each palette colour at each pixel, as exact float64; ``sums``
    ((N,) float64), where given, gets each row's sum.

    Per channel, the colour's value gets its integer frequency under the pixel's snapped Laplace
    (``entropy.count_rows``, the same tables the RGB modes code with; G and B means coupled to the
    colour's own R and G); the weights are the product over channels, shifted right by WEIGHT_SHIFT
    after each multiplication, plus 1. Integer arithmetic only, so every machine gets the same rows;
    row sums (< 2^29) are exact in float64 in any summation order. With
    ``profile.integer_coupling`` (format version 4 on) the coupled means too are integers
    (``entropy.coupled_mean_q``), computed by the compiled ``weight_kernel``; otherwise (version 3)
    they are ``apply_coupling``'s float32 means.
    """
    if profile.integer_coupling:
        from . import weight_kernel  # numba: loaded on first use

        return weight_kernel.colour_weights(
            *_kernel_planes(mean, coupling), scale_idx, palette, WEIGHT_SHIFT, sums
        )
    pal = palette.T.astype(np.int64)  # (C, K)
    mean, coupling = float_pass_planes(mean, coupling)
    rows = _float_coupled_weights(
        mean[:, :, None],
        None if coupling is None else coupling[:, :, None],
        palette.T.astype(np.float32)[:, None, :],
        lambda c, mean_q: entropy.count_rows(pal[c], mean_q, scale_idx[c].astype(np.int64)[:, None]),
    )
    if sums is not None:
        sums[:] = rows.sum(axis=1, dtype=np.float64)
    return rows


def true_probabilities(
    mean: np.ndarray,
    coupling: np.ndarray | None,
    scale_idx: np.ndarray,
    palette: np.ndarray,
    truth: np.ndarray,
) -> np.ndarray:
    """Each pixel's normalized ``colour_weights`` probability of its colour ``truth`` (float64, the
    row's own value over its exact sum), with integer coupling (version 4 on), without the rows."""
    from . import weight_kernel  # numba: loaded on first use

    own, total = weight_kernel.true_weights(
        *_kernel_planes(mean, coupling), scale_idx, palette, WEIGHT_SHIFT, truth
    )
    return own.astype(np.float64) / total.astype(np.float64)


def true_shares(rows: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(N,) float64: each row's true-colour entry over the row's sum (the model's probability of
    the true colour), for the encoder's estimate. Rows of integer weights (``colour_weights``,
    float64) take the compiled ``rows_kernel.true_shares`` (their sums are exact in any order);
    others numpy's."""
    if rows.dtype == np.float64:
        from . import rows_kernel  # numba: loaded on first use

        return rows_kernel.true_shares(rows, truth)
    return rows[np.arange(rows.shape[0]), truth] / rows.sum(axis=1, dtype=np.float64)


def colour_weights_reference(
    mean_q: np.ndarray, coupling_q: np.ndarray, scale_idx: np.ndarray, palette: np.ndarray
) -> np.ndarray:
    """``colour_weights`` with integer coupling, in numpy from the snapped integers (for testing the
    kernel)."""
    pal = palette.T.astype(np.int32)[:, None, :]  # (C, 1, K)
    sidx = scale_idx.astype(np.int64)[:, :, None]
    return _integer_weights(
        mean_q[:, :, None],
        coupling_q[:, :, None],
        pal,
        lambda c, m: entropy.count_rows(pal[c, 0], m, sidx[c]),
    )


def keep_weights(
    mean: np.ndarray,
    coupling: np.ndarray | None,
    scale_idx: np.ndarray,
    colours: np.ndarray,
    profile: FormatProfile = CURRENT,
) -> np.ndarray:
    """(N,) weight, by ``colour_weights``'s rule, of each pixel's own colour ``colours`` ((C, N)):
    the palette-update mode's "keep the previous colour" symbol."""
    values = colours.astype(np.int64)

    def counts(c, mean_q):
        return entropy.value_counts(values[c], mean_q, scale_idx[c].astype(np.int64))

    if profile.integer_coupling:
        return _integer_weights(*_snapped(mean, coupling), colours, counts)
    mean, coupling = float_pass_planes(mean, coupling)
    return _float_coupled_weights(mean, coupling, colours.astype(np.float32), counts)


def _snapped(mean: np.ndarray, coupling: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Means in 1/16 and coupling in 1/256 as integers (zero coupling: none), clamped, as the numpy
    rules read them: ``_kernel_planes``' planes with the clamps that ``quantize_mean`` and
    ``quantize_coupling`` apply to floats (integer planes, a pass of an integer prediction's
    ``Prediction.pixels``, are those steps already and are only clamped)."""
    mean_q, coupling_q = _kernel_planes(mean, coupling)
    return (
        np.clip(mean_q, entropy.MEAN_Q_MIN, entropy.MEAN_Q_MAX),
        np.clip(coupling_q, -entropy.COUPLING_MAX, entropy.COUPLING_MAX),
    )


def _kernel_planes(mean: np.ndarray, coupling: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """A pass's means in 1/16 and coupling in 1/256 as integers (zero coupling: none) as
    ``weight_kernel`` takes them, which clamps them as it reads: integer planes as they are (a
    pass's int16 planes, not copied), float ones quantized (float32 means, palette intra's, by a
    compiled pass straight to int16)."""
    from . import weight_kernel  # numba: loaded on first use

    if coupling is None:
        coupling = np.zeros((3,) + mean.shape[1:], np.int16)
    elif not _is_snapped(coupling):
        coupling = entropy.quantize_coupling(coupling)
    if _is_snapped(mean):
        return mean, coupling
    if mean.dtype == np.float32 and mean.ndim == 2:
        return weight_kernel.snapped_means(mean), coupling
    return entropy.quantize_mean(mean), coupling


def _is_snapped(plane: np.ndarray) -> bool:
    """Whether a pass's mean or coupling is in integer steps (1/16, 1/256) rather than float32."""
    return plane.dtype.kind in "iu"


def float_pass_planes(mean: np.ndarray, coupling: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """A pass's mean and coupling as float32 in pixel units, for the rules of format versions 2
    and 3, which read floats: integer steps become the floats they stand for (exact, as
    ``models.integer``'s float planes), floats are returned as they are."""
    if _is_snapped(mean):
        mean = mean.astype(np.float32) * np.float32(1.0 / entropy.MEAN_STEPS)
    if coupling is not None and _is_snapped(coupling):
        coupling = coupling.astype(np.float32) * np.float32(1.0 / entropy.COUPLING_ONE)
    return mean, coupling


def _integer_weights(mean_q: np.ndarray, coupling_q: np.ndarray, values: np.ndarray, counts) -> np.ndarray:
    """The channel product of ``colour_weights`` with integer coupled means (version 4)."""
    weights = None
    for c in range(values.shape[0]):
        cnt = counts(c, entropy.coupled_mean_q(mean_q, coupling_q, c, values).astype(np.int64))
        weights = cnt if weights is None else (weights * cnt) >> WEIGHT_SHIFT
    return (weights + 1).astype(np.float64)


def _float_coupled_weights(
    mean: np.ndarray, coupling: np.ndarray | None, decoded: np.ndarray, counts
) -> np.ndarray:
    """The channel product of ``colour_weights`` with version 3's float32 coupled means."""
    weights = None
    for c in range(decoded.shape[0]):
        mu = mean[c] if coupling is None or c not in (1, 2) else apply_coupling(mean, coupling, c, decoded)
        cnt = counts(c, entropy.quantize_mean(mu).astype(np.int64))
        weights = cnt if weights is None else (weights * cnt) >> WEIGHT_SHIFT
    return (weights + 1).astype(np.float64)


def agreement(nbr_idx: np.ndarray) -> np.ndarray:
    """Per pixel, how many valid neighbours share the most common colour (0 without neighbours);
    uint8, one neighbour pair at a time (no (J, J, N) temporaries)."""
    valid = nbr_idx >= 0
    best = np.zeros(nbr_idx.shape[1], np.uint8)
    same = np.empty_like(best)
    for a in range(nbr_idx.shape[0]):
        same[:] = 0
        for b in range(nbr_idx.shape[0]):
            same += (nbr_idx[a] == nbr_idx[b]) & valid[b]
        same *= valid[a]
        np.maximum(best, same, out=best)
    return best


def mix_rows(
    p: np.ndarray,
    prev_idx: np.ndarray | None,
    w_prev: float,
    nbr_idx: np.ndarray | None = None,
    w_levels: np.ndarray | None = None,
    normalize: bool = False,
) -> np.ndarray:
    """``mix_rows_reference``'s rows; normalized float64 rows (integer weights, version 3 on) by
    the compiled ``rows_kernel``, bit for bit the same."""
    if not normalize or p.dtype != np.float64:
        return mix_rows_reference(p, prev_idx, w_prev, nbr_idx, w_levels, normalize)
    from . import rows_kernel  # numba: loaded on first use

    return rows_kernel.mix(np.ascontiguousarray(p), prev_idx, w_prev, nbr_idx, w_levels)


def mix_rows_reference(
    p: np.ndarray,
    prev_idx: np.ndarray | None,
    w_prev: float,
    nbr_idx: np.ndarray | None = None,
    w_levels: np.ndarray | None = None,
    normalize: bool = False,
) -> np.ndarray:
    """Mix model rows (``colour_weights``, or version 2's ``legacy_rows``) with the votes, in place;
    returns rows for constriction.

    The model's distribution p is mixed first with the previous frame's colour j and then with the
    colours of the already-decoded neighbours (``nbr_idx`` (J, N), -1 where absent), each voting
    1/count:  ((1 - w_prev) p + w_prev [k = j]) (1 - w) + w votes(k),  where the weight w depends on
    how many neighbours agree (``w_levels[agreement - 1]``): unanimous neighbours are trusted more.
    A pixel without a previous colour or without neighbours skips that step. Unmixed rows are
    returned as they are (constriction normalizes every row itself) unless ``normalize``: format v3
    passes integer rows from ``colour_weights``, whose sums are exact, and gets every row divided
    by its sum, so no later step needs a float reduction (whose rounding depends on summation order).
    """
    n = p.shape[0]
    has_prev = prev_idx >= 0 if prev_idx is not None and w_prev > 0 else np.zeros(n, bool)
    w_nbr = np.zeros(n)
    if nbr_idx is not None and w_levels is not None and np.any(w_levels > 0):
        valid = nbr_idx >= 0
        count = valid.sum(axis=0)
        level = agreement(nbr_idx)
        w_nbr = np.where(level > 0, np.asarray(w_levels)[np.maximum(level, 1) - 1], 0.0)
    else:
        valid, count = None, np.zeros(n, np.int64)
    has_nbr = w_nbr > 0
    if not (has_prev.any() or has_nbr.any()):
        if normalize:  # the mixed formula below with both weights 0
            p *= (1.0 / p.sum(axis=1))[:, None]
        return p
    keep_nbr = 1.0 - w_nbr
    scale = np.where(has_prev, 1.0 - w_prev, 1.0) * keep_nbr / p.sum(axis=1, dtype=np.float64)
    p *= scale.astype(p.dtype)[:, None]
    if has_prev.any():
        rows = np.flatnonzero(has_prev)
        p[rows, prev_idx[rows]] += (w_prev * keep_nbr[rows]).astype(p.dtype)
    if has_nbr.any():
        j, r = np.nonzero(valid & has_nbr[None, :])
        np.add.at(p, (r, nbr_idx[j, r]), (w_nbr[r] / count[r]).astype(p.dtype))
    return p


def block_size(k: int) -> int:
    """Pixels per block so that a block's (pixels x colours) arrays stay around BLOCK * 64 entries."""
    return max(1, BLOCK * 64 // max(k, 64))


#: Weights of the "same colour as a decoded neighbour" votes, one 2-bit index per agreement level.
NBR_TABLE = np.array([0.0, 0.3, 0.6, 0.85])
_LEVELS = 4


def mix_weights(mix: int) -> tuple[float, np.ndarray]:
    """(w_prev, w_levels) of a frame's 16-bit mix field: bits 0-3 index MIX_TABLE, then a 2-bit
    NBR_TABLE index for each neighbour agreement level 1..4."""
    w_levels = np.array([NBR_TABLE[(mix >> (4 + 2 * i)) & 3] for i in range(_LEVELS)])
    return float(MIX_TABLE[mix & 0x0F]), w_levels


def valid_mix(mix: int, profile: FormatProfile = CURRENT) -> bool:
    """Bits 0-3 index MIX_TABLE; bits 12-17 (the context betas, see ``palette_context``) are all
    valid; bits 18-20 (the copied blocks' side and shift, ``copied_blocks``) from version 9, bit 21
    (the row schedule, ``row_schedule``) from version 10; the rest of version 8's wider field is
    reserved."""
    top = 22 if profile.row_schedule else 21 if profile.copied_blocks else 18
    return (mix & 0x0F) < len(MIX_TABLE) and 0 <= mix < (1 << top)


class TrueColourStats(NamedTuple):
    """Per pixel, what the mix formula needs at its true colour: the model's normalized
    probability of it, whether the pixel has a previous colour and it is the true one, how many
    valid neighbours there are and how many have the true colour (the vote is hits / valid,
    ``votes_of``), and their agreement level (``agreement``)."""

    true_p: np.ndarray  # float64
    has_prev: np.ndarray  # bool
    match: np.ndarray  # bool
    hits: np.ndarray  # uint8
    valid: np.ndarray  # uint8
    level: np.ndarray  # uint8


def _vote_stats(
    true_p: np.ndarray, prev_idx: np.ndarray | None, true_idx: np.ndarray, nbr_idx: np.ndarray | None
) -> TrueColourStats:
    n = true_p.size
    has_prev = (prev_idx >= 0) if prev_idx is not None else np.zeros(n, bool)
    match = (prev_idx == true_idx) if prev_idx is not None else np.zeros(n, bool)
    hits, count, level = vote_counts(nbr_idx, true_idx)
    return TrueColourStats(true_p, has_prev, match, hits, count, level)


def vote_counts(
    nbr_idx: np.ndarray | None, true_idx: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(neighbours of the true colour, valid neighbours, agreement level) per pixel, as uint8 (all 0
    without neighbours): ``_vote_stats``'s votes and levels in a compact form; compiled
    (``rows_kernel.vote_counts``), ``vote_counts_reference`` in numpy."""
    if nbr_idx is None or not nbr_idx.shape[0]:
        zero = np.zeros(true_idx.size, np.uint8)
        return zero, zero, zero
    from . import rows_kernel  # numba: loaded on first use

    return rows_kernel.vote_counts(nbr_idx, true_idx)


def vote_counts_reference(
    nbr_idx: np.ndarray | None, true_idx: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``vote_counts`` in numpy (for testing the kernel)."""
    n = true_idx.size
    if nbr_idx is None or not nbr_idx.shape[0]:
        zero = np.zeros(n, np.uint8)
        return zero, zero, zero
    count = np.zeros(n, np.uint8)
    hits = np.zeros(n, np.uint8)
    for j in range(nbr_idx.shape[0]):
        count += nbr_idx[j] >= 0
        hits += nbr_idx[j] == true_idx
    return hits, count, agreement(nbr_idx)


def votes_of(hits: np.ndarray, count: np.ndarray) -> np.ndarray:
    """The neighbours' vote for the true colour, hits / count (0 without neighbours), float64."""
    return hits.astype(np.float64) / np.maximum(count, 1).astype(np.float64)


def choose_mix(
    true_p: np.ndarray, prev_idx: np.ndarray | None, true_idx: np.ndarray, nbr_idx: np.ndarray | None = None
) -> tuple[int, float]:
    """The mix field minimising the code length, and that length in bits.

    ``true_p``: each pixel's unmixed, normalized model probability of its true colour;
    ``prev_idx``/``nbr_idx`` as in ``mix_rows``. The agreement levels are disjoint sets of pixels,
    so each level's weight is chosen on its own.
    """
    return choose_mix_stats(_vote_stats(true_p, prev_idx, true_idx, nbr_idx))


def choose_mix_stats(stats: TrueColourStats) -> tuple[int, float]:
    """``choose_mix`` from the per-pixel statistics: every weight's bits summed in
    one compiled pass (``search_kernel.mix_costs``), each agreement level's weight chosen on its
    own, the first of equal totals kept (as ``choose_mix_stats_reference``)."""
    from . import search_kernel  # numba: loaded on first use

    costs = search_kernel.mix_costs(stats, MIX_TABLE, NBR_TABLE, _LEVELS)
    present = np.flatnonzero(np.bincount(stats.level, minlength=_LEVELS + 1)[1 : _LEVELS + 1]) + 1
    best = (0, np.inf)
    w = len(NBR_TABLE)
    for a in range(len(MIX_TABLE) if stats.has_prev.any() else 1):
        mix, total = a, float(costs[a, 0])
        for lv in present:
            lv_costs = costs[a, 1 + (lv - 1) * w : 1 + lv * w]
            b = int(np.argmin(lv_costs))
            mix |= b << (4 + 2 * (int(lv) - 1))
            total += float(lv_costs[b])
        if total < best[1]:
            best = (mix, total)
    return best


def choose_mix_stats_reference(stats: TrueColourStats) -> tuple[int, float]:
    """``choose_mix_stats`` in numpy, one pass over the pixels per weight (for testing it)."""
    true_p, has_prev, match, hits, valid, level = stats
    votes = votes_of(hits, valid)
    best = (0, np.inf)
    alone = level == 0
    levels = [(lv, sel, votes[sel]) for lv in range(1, _LEVELS + 1) if (sel := level == lv).any()]
    for a, wp in enumerate(MIX_TABLE if has_prev.any() else MIX_TABLE[:1]):
        p1 = np.where(has_prev, (1 - wp) * true_p + wp * match, true_p)
        mix, total = a, float(-np.log2(np.maximum(p1[alone], entropy.MIN_PROBABILITY)).sum())
        for lv, sel, lv_votes in levels:
            lv_p1 = p1[sel]
            costs = [
                float(-np.log2(np.maximum((1 - wn) * lv_p1 + wn * lv_votes, entropy.MIN_PROBABILITY)).sum())
                for wn in NBR_TABLE
            ]
            b = int(np.argmin(costs))
            mix |= b << (4 + 2 * (lv - 1))
            total += costs[b]
        if total < best[1]:
            best = (mix, total)
    return best


def mixed_true_p(
    true_p: np.ndarray,
    prev_idx: np.ndarray | None,
    true_idx: np.ndarray,
    nbr_idx: np.ndarray | None,
    mix: int,
) -> np.ndarray:
    """``mix_rows``'s normalized probability of each pixel's true colour, without building rows."""
    return mixed_true_p_stats(_vote_stats(true_p, prev_idx, true_idx, nbr_idx), mix)


def mixed_true_p_stats(stats: TrueColourStats, mix: int) -> np.ndarray:
    """``mixed_true_p`` from the per-pixel statistics, in one compiled pass with
    one output array (``mixed_true_p_stats_reference``'s floats, bit for bit)."""
    from . import search_kernel  # numba: loaded on first use

    w_prev, w_levels = mix_weights(mix)
    return search_kernel.mixed_p(stats, w_prev, w_levels)


def mixed_true_p_stats_reference(stats: TrueColourStats, mix: int) -> np.ndarray:
    """``mixed_true_p_stats`` in numpy (for testing it)."""
    true_p, has_prev, match, hits, valid, level = stats
    w_prev, w_levels = mix_weights(mix)
    p1 = np.where(has_prev, (1 - w_prev) * true_p + w_prev * match, true_p)
    w = np.where(level > 0, w_levels[np.clip(level, 1, _LEVELS) - 1], 0.0)
    return (1 - w) * p1 + w * votes_of(hits, valid)
