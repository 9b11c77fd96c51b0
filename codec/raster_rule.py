"""The raster intra rule of planar frames (mode 6, kind 2): LOCO-I's median predictor, in wavefronts.

Coarse-to-fine interpolation (``planar_rule``) pays for its first, sparse passes; on a frame that
has no usable history (a key frame, a scene cut, video coded intra only such as MJPEG) the causal
neighbours of a raster scan predict better: JPEG-LS's and FFV1's median edge detector (MED) over
the left (a), upper (b) and upper-left (c) samples, with a context from the local activity
``|d - b| + |b - c| + |c - a|`` (d: upper right). A raster scan decodes one sample at a time; the
samples of one **wavefront** ``x + 2 y = k`` only need samples of earlier wavefronts (a: k - 1,
c: k - 3, b: k - 2, d: k - 1), so each wavefront is one vectorized batch. The plane is cut into
tiles (TILE_H x TILE_W), each with its own edges, and one wavefront covers every tile: at most
TILE_W + 2 TILE_H - 2 batches per plane, each one sample wide per tile (the edges cost some bits,
the batches many times fewer Python steps).

At a tile's edges: its first sample predicts half the range; the rest of its first row predicts
from the left neighbour (a = b = c = d = left); its first column has a = b = c = up and d = upper
right; its last column has d = up. Everything is integer arithmetic.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterator

import numpy as np

from . import intra, planar_rule

#: Activity levels: the activity of a sample of ``depth`` bits, shifted right by depth - 8, is
#: compared with these thresholds (level = how many are <= it).
THRESHOLDS = np.array([1, 2, 3, 4, 6, 8, 11, 15, 20, 27, 36, 48, 64, 90, 128], np.int64)
CONTEXTS = len(THRESHOLDS) + 1

#: Error levels (format version 12): a sample's coded error is ``|16 v - m| >> (depth - 8)`` (its
#: distance from its own mean m, in 1/16 of an 8-bit sample); the neighbours' errors, weighted
#: ERROR_WEIGHTS (a, b, c, d) and halved, are compared with these thresholds (level = how many are
#: <= it). Where the neighbours were predicted badly, so is the sample, more often than its
#: context says: the level moves the context's scale index by the plane's offset for it (CALIC's
#: and JPEG-LS's error energy, as an offset to the context's table instead of more contexts).
ERROR_THRESHOLDS = np.array([1, 2, 4, 6, 9, 13, 19, 28, 40, 60, 96, 160], np.int64)
ERROR_LEVELS = len(ERROR_THRESHOLDS) + 1
ERROR_WEIGHTS = (2, 2, 1, 1)

#: Refinement (format version 13): a raster sample's mean is moved by a linear function of how
#: far some samples are from it, with the plane's weights for the sample's group in
#: 1/2^REFINE_SHIFT (|w| <= REFINE_MAX), fitted by the encoder per plane (``codec.refinement``).
#: Inter (kind 3): a sample whose blend is not an exact copy (agreement group 0 or 1 of
#: ``planar_rule``; REFINE_GROUPS) on REFINE_FEATURES samples, the decoded a, b, c, d and the
#: motion-compensated plane's 3 x 3 samples around it (rows above, level and below; edges
#: repeated): a Wiener filter of the reference, steered by the decoded neighbours, that undoes
#: what the blend's fixed weights get wrong (noise, blur, sub-sample shifts). Intra (kind 2):
#: every sample, on its INTRA_REFINE_FEATURES decoded a, b, c, d, one set of weights per
#: INTRA_GROUP_SPAN contexts (INTRA_REFINE_GROUPS): the median predictor moved towards the plane's
#: own least-squares predictor, by activity.
REFINE_FEATURES = 13
REFINE_GROUPS = 2
INTRA_REFINE_FEATURES = 4
INTRA_GROUP_SPAN = 4
INTRA_REFINE_GROUPS = CONTEXTS // INTRA_GROUP_SPAN
REFINE_SHIFT = 8
REFINE_MAX = 2047
#: No refinement (versions before 13, or a plane sent without it): no weights.
NO_REFINEMENT = np.zeros((0, REFINE_FEATURES), np.int64)


def refine_shape(inter: bool) -> tuple[int, int]:
    """(groups, features) of a raster inter (or intra) plane's refinement weights."""
    return (REFINE_GROUPS, REFINE_FEATURES) if inter else (INTRA_REFINE_GROUPS, INTRA_REFINE_FEATURES)


def refine_groups(ctx: np.ndarray, inter: bool) -> np.ndarray:
    """Each sample's refinement group (inter: groups of REFINE_GROUPS and above are not refined)."""
    return ctx // planar_rule.QUALITY if inter else ctx // INTRA_GROUP_SPAN


#: Neighbour index meaning "no sample": the value is half the range.
_MID = -1
#: The plane is cut into tiles of TILE_H rows by TILE_W columns, each coded as if it were the
#: whole plane (its own edges), all of them in one wavefront at a time: TILE_W + 2 TILE_H - 2
#: batches per plane however large it is, each as wide as there are tiles.
TILE_H, TILE_W = 32, 64
#: No tiles: a tile as large as any plane (raster intra, kind 2, whose frames are rare: key
#: frames and scene cuts, where the tiles' edges would cost most).
WHOLE = (1 << 31, 1 << 31)
#: Tiles of raster inter (kind 3), coded every frame.
TILED = (TILE_H, TILE_W)


@dataclass(frozen=True)
class Wavefronts:
    """The raster schedule of a plane size: per wavefront its flat sample indices and, per
    sample, the flat indices of a, b, c, d (_MID for the first sample)."""

    targets: tuple[np.ndarray, ...]
    neighbours: tuple[np.ndarray, ...]  # each (4, N): a, b, c, d

    @property
    def order(self) -> np.ndarray:
        """Every sample's flat index in coding order."""
        return np.concatenate(self.targets)


def _neighbour_maps(height: int, width: int, tile: tuple[int, int]) -> np.ndarray:
    """(4, H*W) flat indices of a, b, c, d of every sample, with the edge rules above applied at
    the edges of every ``tile`` (rows, columns)."""
    tile_h, tile_w = tile
    idx = np.arange(height * width, dtype=np.int64).reshape(height, width)
    ys, xs = np.divmod(idx, width)
    ty, tx = ys % tile_h, xs % tile_w  # position in the tile
    last = (tx == tile_w - 1) | (xs == width - 1)
    up = idx - width
    a = np.where(tx > 0, idx - 1, np.where(ty > 0, up, _MID))
    b = np.where(ty > 0, up, a)
    c = np.where((ty > 0) & (tx > 0), up - 1, b)
    d = np.where((ty > 0) & ~last, up + 1, b)
    return np.stack([a.ravel(), b.ravel(), c.ravel(), d.ravel()])


def _wavefront_keys(height: int, width: int, tile: tuple[int, int]) -> np.ndarray:
    """Each sample's wavefront: x + 2 y within its tile."""
    ys, xs = np.divmod(np.arange(height * width, dtype=np.int64), width)
    return xs % tile[1] + 2 * (ys % tile[0])


#: Substreams (format version 14): a raster frame (kinds 2 and 3) may code each plane in up to
#: MAX_SUBSTREAMS runs of whole tile rows, each run coded as a plane of its own rows (its own
#: edges: for kind 3 the tiles' own) and its samples in a range coder of its own, so that the
#: runs decode side by side, a thread each.
MAX_SUBSTREAMS = 8


def substream_rows(height: int, substreams: int) -> tuple[int, ...]:
    """The row bounds of a plane's ``substreams`` runs (one more than runs): run p holds rows
    ``bounds[p]`` to ``bounds[p + 1] - 1``, each bound the multiple of TILE_H nearest to p
    height / substreams (halves up), and the last the plane's height, so that the runs hold
    about as many samples each. A run may be empty (a plane of fewer tile rows than runs)."""
    step = 2 * substreams * TILE_H
    inner = (
        min(height, TILE_H * ((2 * p * height + substreams * TILE_H) // step)) for p in range(substreams)
    )
    return (*inner, height)


@lru_cache(maxsize=8)
def wavefronts(height: int, width: int, tile: tuple[int, int] = WHOLE, runs: int = 1) -> Wavefronts:
    """The wavefront schedule of a plane size, tiling and number of runs (cached: it depends on
    nothing else): ``run_schedule``'s wavefronts, run after run."""
    order, neighbours, starts, _ = run_schedule(height, width, tile, runs)
    spans = [(s0, s1) for s0, s1 in zip(starts[:-1], starts[1:], strict=True)]
    return Wavefronts(
        tuple(order[s0:s1].copy() for s0, s1 in spans),
        tuple(np.ascontiguousarray(neighbours[:, s0:s1]) for s0, s1 in spans),
    )


def flat_wavefronts(height: int, width: int, tile: tuple[int, int] = WHOLE) -> tuple[np.ndarray, ...]:
    """``wavefronts`` as three arrays, for a kernel that decodes a whole plane: every sample in
    coding order, their a, b, c, d ((4, N)), and each wavefront's start (one more at the end)."""
    return run_schedule(height, width, tile)[:3]


#: A raster intra (untiled) schedule of a plane above this many samples is made each time it is
#: read, not cached: intra frames are rare (key frames, scene cuts), a schedule holds 20 bytes a
#: sample, and the compiled kernel makes one in about 12 ms a megapixel. Below it, and for the
#: tiled schedules of raster inter (every frame), the last 8 plane sizes' are cached; within one
#: frame (``schedules_kept``) every schedule is.
CACHED_INTRA_SAMPLES = 1 << 18

_frame = threading.local()  # .schedules: the schedules kept for the frame being coded, or None


@contextmanager
def schedules_kept() -> Iterator[None]:
    """While the block runs (one frame's estimate and coding, or its decoding, on this thread),
    ``run_schedule`` keeps the large untiled schedules it makes too, and forgets them after. The
    planes of one size share one: a 12.6-Mpixel RGB still's three planes made it three times on
    decoding (0.45 s each) and nine on encoding (every intra kind's estimate, then the coding)."""
    outer = getattr(_frame, "schedules", None)
    if outer is None:
        _frame.schedules = {}
    try:
        yield
    finally:
        if outer is None:
            _frame.schedules = None


class ScheduleRows:
    """A raster schedule's neighbour indices, made from the samples' positions a chunk at a time
    as a kernel reads them instead of stored: what ``run_schedule(..., stored=False)`` gives
    where the stored (4, N) would be (the rules' kernels take either). Stored, a, b, c, d take 16
    bytes a sample, held as long as the schedule is cached (the largest part of the encoder's
    peak at 1080p); made, about as long as copying them into the C-ordered rows the kernels
    read, which the stored ones needed too."""

    def __init__(self, order: np.ndarray, height: int, width: int, tile: tuple[int, int], runs: int):
        self.order = order
        self.width = width
        self.tile_w = min(tile[1], width)
        bounds = np.array(substream_rows(height, runs) if runs > 1 else (0, height), np.int64)
        rows = np.arange(height, dtype=np.int64)
        first = bounds[np.searchsorted(bounds, rows, side="right") - 1]  # each row's run's first row
        self.row_top = ((rows - first) % tile[0] == 0).astype(np.uint8)  # no row above in its tile
        self.shape = (4, order.size)

    def rows(self, part: slice) -> np.ndarray:
        """(4, n) C-ordered a, b, c, d of the samples ``order[part]``."""
        return self._rows_of(self.order[part])

    def rows_at(self, positions: np.ndarray) -> np.ndarray:
        """(4, n) C-ordered a, b, c, d of the samples at ``positions`` (indices into coding order)."""
        return self._rows_of(self.order[positions])

    def _rows_of(self, samples: np.ndarray) -> np.ndarray:
        from . import planar_kernel  # numba: loaded on first use

        return planar_kernel.schedule_rows(
            np.ascontiguousarray(samples), self.width, self.tile_w, self.row_top
        )


def forget_kept_schedules() -> None:
    """Drop the large untiled schedules kept for the frame being coded (``schedules_kept``): the
    encoder's, once raster intra has lost the frame (20 bytes a sample it would hold else)."""
    kept = getattr(_frame, "schedules", None)
    if kept:
        kept.clear()


def run_schedule(
    height: int, width: int, tile: tuple[int, int] = WHOLE, runs: int = 1, stored: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``_run_schedule``, cached but for large untiled planes (CACHED_INTRA_SAMPLES), which are kept
    only for the frame being coded (``schedules_kept``). With ``stored`` False, the neighbours
    are a ``ScheduleRows``, which makes them when they are read (the encoder's large planes)."""
    if tile == WHOLE and height * width > CACHED_INTRA_SAMPLES:
        kept = getattr(_frame, "schedules", None)
        if kept is None:
            return _run_schedule(height, width, tile, runs, stored)
        key = (height, width, runs, stored)
        if key not in kept:
            kept[key] = _run_schedule(height, width, tile, runs, stored)
        return kept[key]
    return _cached_run_schedule(height, width, tile, runs, stored)


def _run_schedule(
    height: int, width: int, tile: tuple[int, int] = WHOLE, runs: int = 1, stored: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(order, neighbours, starts, run_fronts): the samples of a plane in ``runs`` runs
    (``substream_rows``), each run scheduled as a plane of its own rows (its edges its own: for
    TILED the same tiles as the whole plane's, since runs are whole tile rows), one run's
    wavefronts after the other's: every sample's flat index in coding order, their a, b, c, d
    ((4, N), flat indices in the whole plane), each wavefront's first sample (one more at the
    end), and each run's first wavefront (one more at the end; an empty run has none). Made by
    the compiled ``planar_kernel.schedule_run`` into the arrays it returns (the cache holds five
    indices per sample; with ``stored`` False one, and a ``ScheduleRows`` for the neighbours);
    ``run_schedule_reference`` is the rule in numpy."""
    from . import planar_kernel  # numba: loaded on first use

    bounds = substream_rows(height, runs) if runs > 1 else (0, height)
    dtype = intra.index_dtype(height * width)
    order = np.empty(height * width, dtype)
    # (4, N) with a sample's a, b, c, d side by side in memory, as numpy's gather made them: the
    # rules read all four of a sample at once (the encoder's refinement fit 15 % slower else)
    neighbours = np.empty((height * width, 4), dtype).T if stored else None
    starts, run_fronts = [np.zeros(1, np.int64)], [0]
    for first, end in zip(bounds[:-1], bounds[1:], strict=True):
        if end > first:
            at = first * width  # runs are whole rows, in order: a run's samples start where its rows do
            run_starts = planar_kernel.schedule_run(end - first, width, tile, at, order, neighbours, at)
            starts.append(run_starts[1:] + at)
        run_fronts.append(sum(s.size for s in starts) - 1)
    if not stored:
        neighbours = ScheduleRows(order, height, width, tile, runs)
    return order, neighbours, np.concatenate(starts), np.array(run_fronts, np.int64)


_cached_run_schedule = lru_cache(maxsize=8)(_run_schedule)


def run_schedule_cache_clear() -> None:
    """Forget the cached schedules: the encoder's before raster intra's estimate of a large frame
    (``modes.planar``), and tests that measure memory (they count them)."""
    _cached_run_schedule.cache_clear()


def run_schedule_reference(
    height: int, width: int, tile: tuple[int, int] = WHOLE, runs: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``run_schedule`` in numpy (for testing the kernel): a stable sort of each run's samples by
    wavefront, and their neighbours' maps gathered into that order."""
    bounds = substream_rows(height, runs) if runs > 1 else (0, height)
    dtype = intra.index_dtype(height * width)
    orders, maps, starts, run_fronts = [], [], [np.zeros(1, np.int64)], [0]
    samples = 0
    for first, end in zip(bounds[:-1], bounds[1:], strict=True):
        if end > first:
            order, neighbours, run_starts = _schedule(end - first, width, tile)
            offset = first * width
            orders.append(order + offset)
            maps.append(np.where(neighbours >= 0, neighbours + offset, neighbours))
            starts.append(run_starts[1:] + samples)
            samples += order.size
        run_fronts.append(sum(s.size for s in starts) - 1)
    return (
        np.concatenate(orders).astype(dtype),
        np.concatenate(maps, axis=1).astype(dtype),
        np.concatenate(starts),
        np.array(run_fronts, np.int64),
    )


def _schedule(height: int, width: int, tile: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    maps = _neighbour_maps(height, width, tile)
    key = _wavefront_keys(height, width, tile)
    order = np.argsort(key, kind="stable")  # within a wavefront: increasing flat index
    bounds = np.searchsorted(key[order], np.arange(key.max() + 2))
    starts = np.unique(bounds)  # a plane one sample wide has only every other wavefront
    return order, maps[:, order], starts.astype(np.int64)


def params(plane: np.ndarray, neighbours: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """Means (``planar_rule.MEAN_DTYPE``, 1/16 of a sample) and contexts (``CONTEXT_DTYPE``,
    0..CONTEXTS-1) of the samples whose neighbour indices are ``neighbours`` ((4, N): a, b, c,
    d), read from the flat ``plane`` (only those samples are read). Computed by the compiled ``planar_kernel``;
    ``params_reference`` is the rule in numpy."""
    from . import planar_kernel  # numba: loaded on first use

    return planar_kernel.intra_params(plane, neighbours, depth)


def params_reference(plane: np.ndarray, neighbours: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """``params`` in numpy (for testing the kernel)."""
    mid = 1 << (depth - 1)
    ok = neighbours != _MID
    a, b, c, d = np.where(ok, plane[np.where(ok, neighbours, 0)], mid)
    pred = median(a, b, c)
    activity = (np.abs(d - b) + np.abs(b - c) + np.abs(c - a)) >> (depth - 8)
    return 16 * pred, np.searchsorted(THRESHOLDS, activity, side="right")


def plane_rule(
    plane: np.ndarray,
    height: int,
    width: int,
    depth: int,
    mc: np.ndarray | None = None,
    luma_error: np.ndarray | None = None,
    runs: int = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(order, neighbours, means, contexts) of every sample of a whole known plane (the encoder),
    in coding order: ``run_schedule``'s samples one wavefront after the other (``order``: their
    flat indices; ``neighbours``: (4, N) their a, b, c, d), so that each wavefront's are a slice.
    ``params`` (or, with ``mc``, ``inter_params``) in one call over the cached schedule; untiled
    for intra, in TILED tiles for inter; in ``runs`` runs of rows (version 14's substreams)."""
    order, neighbours, _, _ = run_schedule(height, width, WHOLE if mc is None else TILED, runs)
    return order, neighbours, *schedule_rule(plane, order, neighbours, depth, mc, luma_error)


def schedule_rule(
    plane: np.ndarray,
    order: np.ndarray,
    neighbours: np.ndarray,
    depth: int,
    mc: np.ndarray | None = None,
    luma_error: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``plane_rule``'s (means, contexts) over a schedule the caller holds already."""
    if mc is None:
        return params(plane, neighbours, depth)
    return inter_params(plane, mc, neighbours, order, depth, luma_error)


def plane_levels(
    plane: np.ndarray, order: np.ndarray, neighbours: np.ndarray, mean: np.ndarray, depth: int
) -> np.ndarray:
    """``error_levels`` of every sample of a whole plane, from ``plane_rule``'s (or, refined,
    ``refine``'s) means in coding order."""
    means = np.zeros(plane.size, mean.dtype)
    means[order] = mean
    return error_levels(plane, means, neighbours, depth)


def plane_params(
    plane: np.ndarray,
    height: int,
    width: int,
    depth: int,
    mc: np.ndarray | None = None,
    luma_error: np.ndarray | None = None,
    weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(order, means, contexts, error levels) of every sample of a whole known plane:
    ``plane_rule``, with ``weights`` ``refine``, then ``plane_levels``."""
    order, neighbours, mean, ctx = plane_rule(plane, height, width, depth, mc, luma_error)
    if weights is not None:
        mean = refine(plane, mc, neighbours, order, width, mean, ctx, weights, depth)
    return order, mean, ctx, plane_levels(plane, order, neighbours, mean, depth)


def inter_params(
    plane: np.ndarray,
    mc: np.ndarray,
    neighbours: np.ndarray,
    targets: np.ndarray,
    depth: int,
    luma_error: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Raster inter (kind 3): ``planar_rule.blend`` of the motion-compensated plane ``mc`` with
    the causal neighbours a, b, c, d of the samples ``targets``: the spatial prediction is the
    median predictor, its error how far the median of ``mc``'s own neighbours is from ``mc``
    plus a quarter of the activity (contexts: ``planar_rule``'s). The first sample, which has
    no neighbour, takes ``mc`` in the first-grid context. Computed by the compiled
    ``planar_kernel``; ``inter_params_reference`` is the rule in numpy."""
    from . import planar_kernel  # numba: loaded on first use

    return planar_kernel.inter_params(plane, mc, neighbours, targets, depth, luma_error)


def inter_params_reference(
    plane: np.ndarray,
    mc: np.ndarray,
    neighbours: np.ndarray,
    targets: np.ndarray,
    depth: int,
    luma_error: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``inter_params`` in numpy (for testing the kernel)."""
    max_value = (1 << depth) - 1
    ok = neighbours != _MID
    count = ok.sum(axis=0)
    idx = np.where(ok, neighbours, 0)
    cur = np.where(ok, plane[idx], 0)
    ref = np.where(ok, mc[idx], 0)
    mid = 1 << (depth - 1)
    here = mc[targets]
    pred = median(*np.where(ok, cur, mid))
    ref_pred = median(*np.where(ok, ref, mid))
    a, b, c, d = np.where(ok, cur, mid)
    spread = 36 * (np.abs(d - b) + np.abs(b - c) + np.abs(c - a))
    err_smooth = np.abs(here - ref_pred) * 144 + spread
    hint = luma_error[targets] if luma_error is not None else None
    alone = count == 0
    mean, ctx = planar_rule.blend(
        cur, ref, ok, np.maximum(count, 1), here, 12 * pred, err_smooth, hint, max_value
    )
    return np.where(alone, 16 * here, mean), np.where(alone, planar_rule.FIRST, ctx)


def error_levels(plane: np.ndarray, means: np.ndarray, neighbours: np.ndarray, depth: int) -> np.ndarray:
    """The error level (0..ERROR_LEVELS-1) of the samples with ``neighbours`` ((4, N): a, b, c, d)
    of a flat ``plane`` whose coded samples' means are ``means`` (flat, 1/16 of a sample): a
    neighbour's coded error is ``|16 v - m| >> (depth - 8)``, 0 for _MID. Computed by the compiled
    ``planar_kernel``; ``error_levels_reference`` is the rule in numpy."""
    from . import planar_kernel  # numba: loaded on first use

    return planar_kernel.error_levels(plane, means, neighbours, depth)


def error_levels_reference(
    plane: np.ndarray, means: np.ndarray, neighbours: np.ndarray, depth: int
) -> np.ndarray:
    """``error_levels`` in numpy (for testing the kernel)."""
    ok = neighbours != _MID
    idx = np.where(ok, neighbours, 0)
    e = np.where(ok, np.abs(16 * plane[idx].astype(np.int64) - means[idx]) >> (depth - 8), 0)
    total = sum(w * e[q] for q, w in enumerate(ERROR_WEIGHTS)) >> 1
    return np.searchsorted(ERROR_THRESHOLDS, total, side="right")


def refine(
    plane: np.ndarray,
    mc: np.ndarray | None,
    neighbours: np.ndarray,
    targets: np.ndarray,
    width: int,
    mean: np.ndarray,
    ctx: np.ndarray,
    weights: np.ndarray,
    depth: int,
) -> np.ndarray:
    """The refined means (version 13) of raster samples ``targets`` (inter with ``mc``, else
    intra) whose rule gave ``mean`` and ``ctx``: ``weights`` (``refine_shape`` int64, or no rows:
    no refinement) of the sample's group applied to ``refine_features``. Computed by the compiled
    ``planar_kernel``; ``refine_reference`` is the rule in numpy."""
    if not weights.shape[0]:
        return mean
    from . import planar_kernel  # numba: loaded on first use

    return planar_kernel.refine(plane, mc, neighbours, targets, width, mean, ctx, weights, depth)


def refine_reference(
    plane: np.ndarray,
    mc: np.ndarray | None,
    neighbours: np.ndarray,
    targets: np.ndarray,
    width: int,
    mean: np.ndarray,
    ctx: np.ndarray,
    weights: np.ndarray,
    depth: int,
) -> np.ndarray:
    """``refine`` in numpy (for testing the kernel): mean + (sum_i w_i (16 f_i - mean) + half)
    >> REFINE_SHIFT, clamped to the range, for samples of a group that has weights."""
    if not weights.shape[0]:
        return mean
    group = refine_groups(ctx, mc is not None)
    refined = group < weights.shape[0]
    w = weights[np.minimum(group, weights.shape[0] - 1)]
    features = refine_features(plane, mc, neighbours, targets, width, depth)
    acc = (w * (16 * features - mean[:, None])).sum(axis=1)
    moved = mean + ((acc + (1 << (REFINE_SHIFT - 1))) >> REFINE_SHIFT)
    return np.where(refined, np.clip(moved, 0, 16 * ((1 << depth) - 1)), mean)


def refine_features(
    plane: np.ndarray,
    mc: np.ndarray | None,
    neighbours: np.ndarray,
    targets: np.ndarray,
    width: int,
    depth: int,
) -> np.ndarray:
    """(N, features) int64: per sample of ``targets``, its decoded a, b, c, d (half the range
    where absent) and, inter, the 3 x 3 samples of ``mc`` around it, row by row (the plane's
    edge repeated)."""
    ok = neighbours >= 0
    cur = np.where(ok, plane[np.where(ok, neighbours, 0)], 1 << (depth - 1))
    if mc is None:
        return cur.T.astype(np.int64)
    height = mc.size // width
    ys, xs = np.divmod(targets.astype(np.int64), width)
    around = [
        mc[np.clip(ys + dy, 0, height - 1) * width + np.clip(xs + dx, 0, width - 1)]
        for dy in (-1, 0, 1)
        for dx in (-1, 0, 1)
    ]
    return np.stack([*cur, *around], axis=1).astype(np.int64, copy=False)


def level_scales(table: np.ndarray, offsets: np.ndarray, scales: int) -> np.ndarray:
    """The scale index of every (context, level) pair, flat (context * ERROR_LEVELS + level):
    the context's ``table`` entry plus the level's offset, clamped to 0..scales-1."""
    return np.clip(table[:, None] + offsets[None, :], 0, scales - 1).ravel()


def median(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray | None = None) -> np.ndarray:
    """MED (LOCO-I's median edge detector; also ``dct_coding``'s DC prediction): min(a, b) if
    c >= max(a, b), max(a, b) if c <= min(a, b), else a + b - c."""
    low, high = np.minimum(a, b), np.maximum(a, b)
    return np.where(c >= high, low, np.where(c <= low, high, a + b - c))
