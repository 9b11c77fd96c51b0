"""The encoder's fit of a raster plane's refinement weights (format version 13).

``raster_rule.refine`` moves each mean by a linear function of the decoded neighbours (and,
inter, of the motion-compensated samples around it); the weights are the plane's, sent with it,
so the encoder may choose them any way it likes. It takes the weights that minimize the coded
size's stand-in, the absolute error (a Laplace's log-likelihood), by iteratively reweighted least
squares, each group on its own: the blend's bias is not the same where some neighbours were
copied exactly as where none was, nor the median predictor's in flat areas as at edges.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import raster_rule


#: Reweighting rounds after the least-squares start (the cost stops moving after about three).
ROUNDS = 3
#: The reweighting's floor on an error, in 1/16 of a sample: errors below half a sample count as
#: half a sample (an L1 fit without the division by zero).
FLOOR = 8
#: At most this many samples of a group enter the fit (evenly spaced): a large plane's weights
#: are as good from a sample of it, and memory stays bounded. 2^15 since 2026-12-04 (2^17 before):
#: on the dev sources' 250-frame bikes.mp4 (640x272) +0.025 % bytes for 0.79x the encoding time,
#: carphone (176x144, no group that large) the same stream.
FIT_SAMPLES = 1 << 15
#: A group with fewer samples gets zero weights (its weights would cost more than they gain).
MIN_SAMPLES = 512
#: Ridge term, relative to the mean diagonal of the normal equations: keeps the solve defined
#: where features coincide (a plane's edges, flat areas).
RIDGE = 1e-6


class Fit(NamedTuple):
    """A plane's refinement and what it should save."""

    weights: np.ndarray  # raster_rule.refine_shape, int64 (all 0: not worth sending)
    #: The saving the fit's samples promise, in bits over the plane: a Laplace's code length
    #: falls by log2 of the ratio of mean absolute errors per sample (errors floored at FLOOR).
    #: An estimate before contexts and error levels share the gain; ``modes.planar`` uses it
    #: to skip costing the plane unrefined where the refinement surely pays.
    gain_bits: float


def fit(
    plane: np.ndarray,
    mc: np.ndarray | None,
    neighbours: np.ndarray,
    targets: np.ndarray,
    width: int,
    mean: np.ndarray,
    ctx: np.ndarray,
    depth: int,
) -> Fit:
    """The ``raster_rule.refine_shape`` int64 weights for the samples ``targets`` of the known
    flat ``plane`` whose rule (inter with ``mc``, else intra) gave ``mean`` and ``ctx``
    (``raster_rule.plane_rule``), and their estimated gain."""
    from . import planar_kernel  # numba: loaded on first use

    inter = mc is not None
    weights = np.zeros(raster_rule.refine_shape(inter), np.int64)
    gain = 0.0
    group = raster_rule.refine_groups(ctx, inter)
    for g in range(weights.shape[0]):
        chosen = np.flatnonzero(group == g)
        if chosen.size < MIN_SAMPLES:
            continue
        samples = chosen.size
        chosen = chosen[:: -(-chosen.size // FIT_SAMPLES)]
        x, t = planar_kernel.fit_inputs(plane, mc, neighbours, targets, chosen, width, mean, depth)
        weights[g], ratio = planar_kernel.irls(x, t, chosen.size, ROUNDS, FLOOR, RIDGE)
        gain += samples * np.log2(ratio)
    return Fit(weights, float(gain))


def irls_reference(x: np.ndarray, t: np.ndarray, n: int) -> tuple[np.ndarray, float]:
    """``planar_kernel.irls`` in numpy, with LAPACK's solve (for testing the kernel): integer
    weights (1/2^REFINE_SHIFT, clamped) of the least absolute error fit of t by x (the first
    ``n`` samples of ``planar_kernel.fit_inputs``' blocks), and the ratio of t's mean absolute
    error before and after them (both floored at FLOOR)."""
    from . import planar_kernel  # numba: loaded on first use

    one = float(1 << raster_rule.REFINE_SHIFT)
    features = x.shape[1]
    w = np.zeros(features)
    before = 0.0
    for r in range(ROUNDS + 1):  # the first round unweighted: least squares
        normal, rhs, spread = planar_kernel.weighted_normal(x, t, n, w, r > 0, FLOOR)
        if r == 0:
            before = spread  # w = 0: t's own errors
        normal += np.eye(features) * (RIDGE * np.trace(normal) / features + 1e-9)
        w = np.linalg.solve(normal, rhs)
        w = np.clip(np.round(w * one), -raster_rule.REFINE_MAX, raster_rule.REFINE_MAX) / one
    after = planar_kernel.weighted_normal(x, t, n, w, False, FLOOR, products=False)[2]
    return np.round(w * one).astype(np.int64), before / after


def fit_inputs_reference(
    plane: np.ndarray,
    mc: np.ndarray | None,
    neighbours: np.ndarray,
    targets: np.ndarray,
    chosen: np.ndarray,
    width: int,
    mean: np.ndarray,
    depth: int,
) -> tuple[np.ndarray, np.ndarray]:
    """``planar_kernel.fit_inputs`` in numpy (for testing the kernel): the fit's x = 16
    ``raster_rule.refine_features`` - mean and t = 16 times the sample - mean, float64, as rows
    (the kernel's are blocks of features)."""
    m = mean[chosen]
    features = raster_rule.refine_features(plane, mc, neighbours[:, chosen], targets[chosen], width, depth)
    x = features.astype(np.float64)  # 16 f - m in place: exact (integers far below 2^53)
    x *= 16
    x -= m[:, None]
    return x, (16 * plane[targets[chosen]] - m).astype(np.float64)
