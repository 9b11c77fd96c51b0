"""The raster intra rule of planar frames (mode 6, kind 2): LOCO-I's median predictor, in wavefronts.

Coarse-to-fine interpolation (``planar_rule``) pays for its first, sparse passes; on a frame that
has no usable history (a key frame, a scene cut, video coded intra only such as MJPEG) the causal
neighbours of a raster scan predict better: JPEG-LS's and FFV1's median edge detector (MED) over
the left (a), upper (b) and upper-left (c) samples, with a context from the local activity
``|d - b| + |b - c| + |c - a|`` (d: upper right). A raster scan decodes one sample at a time; the
samples of one **wavefront** ``x + 2 y = k`` only need samples of earlier wavefronts (a: k - 1,
c: k - 3, b: k - 2, d: k - 1), so each wavefront is one vectorized batch (W + 2 H - 2 of them).

At the edges: the first sample predicts half the range; the rest of the first row predicts from
its left neighbour (a = b = c = d = left); the first column has a = b = c = up and d = upper right;
the last column has d = up. Everything is integer arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

#: Activity levels: the activity of a sample of ``depth`` bits, shifted right by depth - 8, is
#: compared with these thresholds (level = how many are <= it).
THRESHOLDS = np.array([1, 2, 3, 4, 6, 8, 11, 15, 20, 27, 36, 48, 64, 90, 128], np.int64)
CONTEXTS = len(THRESHOLDS) + 1

#: Neighbour index meaning "no sample": the value is half the range.
_MID = -1


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


def _neighbour_maps(height: int, width: int) -> np.ndarray:
    """(4, H*W) flat indices of a, b, c, d of every sample, with the edge rules above."""
    idx = np.arange(height * width, dtype=np.int64).reshape(height, width)
    a = np.full((height, width), _MID, np.int64)
    b = a.copy()
    c = a.copy()
    d = a.copy()
    # Interior rows (y >= 1).
    if height > 1:
        a[1:, 1:] = idx[1:, :-1]
        b[1:, :] = idx[:-1, :]
        c[1:, 1:] = idx[:-1, :-1]
        d[1:, :-1] = idx[:-1, 1:]
        a[1:, 0] = idx[:-1, 0]  # first column: a = c = up
        c[1:, 0] = idx[:-1, 0]
        d[1:, -1] = idx[:-1, -1]  # last column: d = up
    # First row: everything is the left neighbour (the first sample: half the range).
    a[0, 1:] = idx[0, :-1]
    b[0, 1:] = c[0, 1:] = d[0, 1:] = a[0, 1:]
    return np.stack([a.ravel(), b.ravel(), c.ravel(), d.ravel()])


@lru_cache(maxsize=8)
def wavefronts(height: int, width: int) -> Wavefronts:
    """The wavefront schedule of a plane size (cached: it only depends on the size)."""
    maps = _neighbour_maps(height, width)
    ys, xs = np.divmod(np.arange(height * width, dtype=np.int64), width)
    key = xs + 2 * ys
    order = np.argsort(key, kind="stable")  # within a wavefront: increasing flat index
    bounds = np.searchsorted(key[order], np.arange(key.max() + 2))
    targets, neighbours = [], []
    for k in range(len(bounds) - 1):
        sel = order[bounds[k] : bounds[k + 1]]
        targets.append(sel)
        neighbours.append(maps[:, sel])
    return Wavefronts(tuple(targets), tuple(neighbours))


def params(plane: np.ndarray, neighbours: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """Means (int64, 1/16 of a sample) and contexts (0..CONTEXTS-1) of the samples whose
    neighbour indices are ``neighbours`` ((4, N): a, b, c, d), read from the flat int64 ``plane``
    (only those samples are read)."""
    mid = 1 << (depth - 1)
    ok = neighbours != _MID
    a, b, c, d = np.where(ok, plane[np.where(ok, neighbours, 0)], mid)
    low, high = np.minimum(a, b), np.maximum(a, b)
    pred = np.where(c >= high, low, np.where(c <= low, high, a + b - c))
    activity = (np.abs(d - b) + np.abs(b - c) + np.abs(c - a)) >> (depth - 8)
    return 16 * pred, np.searchsorted(THRESHOLDS, activity, side="right")


def plane_params(plane: np.ndarray, height: int, width: int, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """``params`` of every sample of a whole known plane at once, in flat order (the encoder)."""
    return params(plane, _neighbour_maps(height, width), depth)
