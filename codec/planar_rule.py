"""The prediction rule of planar (mode 6) frames: a mean and a context for every sample of a pass.

A plane is coded in the coarse-to-fine passes of ``codec.intra`` (each pass one vectorized
batch). An intra plane predicts a sample by edge-directed interpolation of its already-decoded
neighbours (the mean of the opposite pair that agrees best). An inter
plane also has the motion-compensated previous plane ``mc`` and blends three candidates, each
weighted by how well it explains the neighbours (the weight is 2^50 / (error + 1/2)^2, errors in
1/144 of a sample):

- ``mc`` itself, trusted as far as the neighbours equal their own ``mc`` samples;
- ``mc`` plus the neighbours' mean change from ``mc`` (a brightness or sub-block shift), trusted
  as far as that change is the same at every neighbour;
- the neighbours' mean (motion failed: occlusion, new content), trusted as far as the plain mean
  would have predicted ``mc`` from its own neighbours, i.e. as far as the content is smooth there.

Where every neighbour equals its ``mc`` sample (a block copied unchanged, common in video that was
once MPEG-coded) the mean is ``mc`` exactly. The context of a sample is that agreement (none, some
or all neighbours exact) and the blend's confidence, the sum of the weights, in QUALITY levels;
each (plane, context) gets a Laplace scale from the frame's table, which the encoder fits.

All arithmetic is on integers (int64), so encoder and decoder agree on every machine; FORMAT.md
("Planar frames") spells it out.
"""

from __future__ import annotations

import numpy as np

from . import intra

_ONE = 1 << 50
_HALF = 72  # 1/2 sample in 1/144
#: Confidence levels: the sum of weights W is compared with thresholds a factor sqrt(2) apart,
#: from 2^-15 to 2^1.5 times the weight of a single candidate with error 0 (2^50 // 72^2); W
#: above the j-th threshold means an error about 2^(-j/4) times that of the lowest. Ascending,
#: so level = the number of thresholds <= W.
_UNIT = _ONE // (_HALF * _HALF)
THRESHOLDS = np.array(
    [((_UNIT << 2) >> (17 - j // 2)) * (128 if j % 2 == 0 else 181) // 128 for j in range(34)],
    np.int64,
)
QUALITY = len(THRESHOLDS) + 1
#: Agreement groups: no neighbour, some, or all neighbours equal to their motion-compensated sample.
GROUPS = 3
#: Context of the first grid's samples (no neighbours).
FIRST = GROUPS * QUALITY
CONTEXTS = FIRST + 1
#: The motion-compensated planes' type (``modes.planar._mc_planes``), as the compiled rules take
#: them: samples of every depth in one type, so that each kernel compiles once (a type is a
#: compile of 1-5 s), and a quarter of int64's bytes (a 1080p frame's three: 25 -> 6 MB).
MC_DTYPE = np.uint16
#: The rules' means and contexts as the compiled kernels make them (``planar_kernel``), as narrow
#: as they go: the encoder holds a plane's (and a kind's) through its fit, and a 1080p luma
#: plane's int64 means, contexts and error levels took 50 MB. Means are in 1/16 of a sample
#: (<= 16 x 65535); contexts < 128, and the raster kinds' pairs (context x ERROR_LEVELS + level)
#: < 2^15; error levels < ERROR_LEVELS.
MEAN_DTYPE = np.int32
CONTEXT_DTYPE = np.int16
LEVEL_DTYPE = np.int8
#: A plane's samples as the encoder holds them while it estimates a frame, and the decoder while
#: it decodes a plane (flat; the kernels widen each value they read): int64 took 8 bytes a
#: sample, a 1080p frame's 25 MB.
SAMPLE_DTYPE = np.int32


#: A chroma sample's copy error grows by this much (1/144 of a sample, i.e. half a sample) per
#: step of the co-located luma's motion-compensation error: where luma was not copied exactly,
#: chroma rarely was (blocks of MPEG-coded video carry both).
LUMA_WEIGHT = 72


def chroma_hint(luma: np.ndarray, luma_mc: np.ndarray, height: int, width: int) -> np.ndarray:
    """Per sample of a (height, width) chroma plane (flat int64): the largest |luma - luma_mc|
    over the luma samples it covers (luma given as (H, W) planes; the subsampling is the ratio of
    the sizes, rounded up, the last row and column repeated). One covered position at a time, as
    strided views of the planes (gathered rows or columns only where the last ones repeat): no
    temporary of the luma plane's size (three int64 copies were the peak of a large frame's
    decoding)."""
    h, w = luma.shape
    sy, sx = -(-h // height), -(-w // width)

    def positions(i: int, step: int, size: int, whole: int) -> slice | np.ndarray:
        if (size - 1) * step + i < whole:
            return slice(i, (size - 1) * step + i + 1, step)
        return np.minimum(np.arange(size) * step + i, whole - 1)  # the last one repeated

    out = None
    for i in range(sy):
        rows = positions(i, sy, height, h)
        for j in range(sx):
            cols = positions(j, sx, width, w)
            error = np.abs(luma[rows][:, cols].astype(np.int64) - luma_mc[rows][:, cols])
            out = error if out is None else np.maximum(out, error, out=out)
    return out.ravel()


def _weight(error: np.ndarray) -> np.ndarray:
    return _ONE // (error + _HALF) ** 2


def _level(total_weight: np.ndarray) -> np.ndarray:
    return np.searchsorted(THRESHOLDS, total_weight, side="right")


def pass_params(
    plane: np.ndarray,
    mc: np.ndarray | None,
    p: intra.Pass,
    max_value: int,
    luma_error: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Snapped means (1/16 of a sample, 0..16 * max_value) and contexts (0..CONTEXTS-1) of the
    samples of pass ``p`` (MEAN_DTYPE and CONTEXT_DTYPE). ``plane`` is a
    flat ``SAMPLE_DTYPE`` plane, ``mc`` a flat one of ``MC_DTYPE`` (or any integer type); only the
    neighbours ``p`` lists are read from ``plane``. ``luma_error`` (chroma planes of an inter
    frame; flat, per sample): ``chroma_hint`` of the decoded luma plane. Passes with neighbours
    are computed by the compiled ``planar_kernel``; ``pass_params_reference`` is the rule in numpy."""
    if p.neighbours.shape[0] == 0:
        return _first_grid(mc, p, max_value)
    from . import planar_kernel  # numba: loaded on first use

    return planar_kernel.pass_params(plane, mc, p.neighbours, p.targets, p.diagonal, max_value, luma_error)


def _first_grid(mc: np.ndarray | None, p: intra.Pass, max_value: int) -> tuple[np.ndarray, np.ndarray]:
    """The first grid's samples, which have no neighbours: ``mc``, or half the range."""
    n = p.targets.size
    ctx = np.full(n, FIRST, CONTEXT_DTYPE)
    if mc is None:
        return np.full(n, 8 * (max_value + 1), MEAN_DTYPE), ctx
    return 16 * mc[p.targets].astype(MEAN_DTYPE), ctx  # widened before: 16 x a 16-bit sample


def pass_params_reference(
    plane: np.ndarray,
    mc: np.ndarray | None,
    p: intra.Pass,
    max_value: int,
    luma_error: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``pass_params`` in numpy (for testing the kernel)."""
    if p.neighbours.shape[0] == 0:
        return _first_grid(mc, p, max_value)
    ok = p.neighbours >= 0
    nbr = np.where(ok, p.neighbours, 0)
    count = ok.sum(axis=0)
    unit = 12 // count  # 12 / count is exact for 1..4 neighbours: means in 1/12 of a sample
    cur = np.where(ok, plane[nbr], 0)
    top = np.where(ok, cur, -1).max(axis=0)
    bottom = np.where(ok, cur, max_value + 1).min(axis=0)
    spread = 3 * (top - bottom) * 12  # a quarter of the range, in 1/144
    mean12, w_dir = _directional(cur, ok, unit, p.diagonal)
    w_dir = np.where(w_dir > 0, w_dir, _weight(spread))
    if mc is None:
        return _snap((4 * mean12 + 1) // 3, max_value), _level(w_dir)
    ref = np.where(ok, mc[nbr], 0)
    here = mc[p.targets]
    err_smooth = np.abs(12 * here - ref.sum(axis=0) * unit) * 12 + spread
    hint = luma_error[p.targets] if luma_error is not None else None
    return blend(cur, ref, ok, count, here, mean12, err_smooth, hint, max_value)


def blend(
    cur: np.ndarray,
    ref: np.ndarray,
    ok: np.ndarray,
    count: np.ndarray,
    here: np.ndarray,
    mean12: np.ndarray,
    err_smooth: np.ndarray,
    luma_error: np.ndarray | None,
    max_value: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The inter blend of samples with ``count`` (1..4) neighbours: decoded ``cur`` and their
    motion-compensated ``ref`` ((K, N), 0 where not ``ok``), the sample's own ``mc`` value
    ``here``, the spatial prediction ``mean12`` (1/12 of a sample) and its error ``err_smooth``
    (1/144), and for chroma the co-located luma's error: (snapped means, contexts)."""
    unit = 12 // count
    diff = cur - ref
    change12 = diff.sum(axis=0) * unit
    here12 = 12 * here
    err_copy = np.abs(diff).sum(axis=0) * unit * 12
    if luma_error is not None:
        err_copy = err_copy + LUMA_WEIGHT * luma_error
    err_shift = np.where(ok, np.abs(12 * diff - change12), 0).sum(axis=0) * unit
    w_copy, w_shift, w_smooth = _weight(err_copy), _weight(err_shift), _weight(err_smooth)
    total = w_copy + w_shift + w_smooth
    num = w_copy * here12 + w_shift * (here12 + change12) + w_smooth * mean12
    mean = (4 * num + (3 * total) // 2) // (3 * total)
    exact = (ok & (diff == 0)).sum(axis=0)
    every = exact == count
    mean = np.where(every, 16 * here, mean)
    group = np.where(every, 2, np.where(exact > 0, 1, 0))
    return _snap(mean, max_value), group * QUALITY + _level(total)


def _directional(
    cur: np.ndarray, ok: np.ndarray, unit: np.ndarray, diagonal: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Edge-directed interpolation (1/12 of a sample) and its confidence: the means of the two
    opposite pairs of neighbours (rows 0, 3 and 1, 2 of a diagonal pass; 0, 1 and 2, 3 of an axis
    pass, as ``intra.passes`` lists them), each weighted by how much its two samples agree; the
    plain mean of the available neighbours where no pair is complete."""
    weights, sums = [], []
    for a, b in ((0, 3), (1, 2)) if diagonal else ((0, 1), (2, 3)):
        both = ok[a] & ok[b]
        w = np.where(both, _weight(np.abs(cur[a] - cur[b]) * 72), 0)
        weights.append(w)
        sums.append(w * (cur[a] + cur[b]) * 6)
    total = weights[0] + weights[1]
    plain = cur.sum(axis=0) * unit
    mean = np.where(total > 0, (sums[0] + sums[1] + total // 2) // np.maximum(total, 1), plain)
    return mean, total


def _snap(mean16: np.ndarray, max_value: int) -> np.ndarray:
    return np.clip(mean16, 0, 16 * max_value)
