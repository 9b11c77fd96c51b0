"""How much of a set of clips moves as a whole: the best global shift of each frame against the last.

``python -m fpcodec.bench.global_shift FOLDER [--radius R]``

Every predictor of the codec, the learned ones included, predicts a frame from the last frames in
place; a camera that pans or shakes makes that prediction lose to palette intra, where no predictor
acts. This sizes what a global motion vector per frame (one integer shift applied to the history)
could change: per source, the share of frames whose best shift within +-R is not (0, 0), and the
mean absolute RGB difference to the previous frame in place and at that shift (over the part both
see). It reads the frames as the encoder does and codes nothing.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..bitstream.errors import FpcodecError
from ..codec.io import VideoReader
from .palette_corpus import source_of


def best_shift(prev: np.ndarray, cur: np.ndarray, radius: int) -> tuple[tuple[int, int], float, float]:
    """((dy, dx), mean |diff| in place, mean |diff| at the shift): ``cur`` at (y, x) against ``prev``
    at (y + dy, x + dx), over the frame less a border of ``radius`` (the first smallest wins)."""
    h, w = cur.shape[:2]
    r = radius
    if h <= 2 * r or w <= 2 * r:
        raise ValueError(f"a {w}x{h} frame is too small for shifts of up to {r}")
    inner = cur[r : h - r, r : w - r].astype(np.int16)

    def diff(dy: int, dx: int) -> float:
        return float(np.abs(inner - prev[r + dy : h - r + dy, r + dx : w - r + dx]).mean())

    in_place = diff(0, 0)
    best, at = in_place, (0, 0)
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            d = diff(dy, dx)
            if d < best:
                best, at = d, (dy, dx)
    return at, in_place, best


def rgb_frames(path: Path) -> Iterable[np.ndarray]:
    """The clip's frames as the encoder reads them (``codec.io.VideoReader``), RGB as int16."""
    for frame, _ in VideoReader(path).frames():
        yield frame[..., :3].astype(np.int16)


def measure(paths: Sequence[Path], radius: int) -> dict[str, list[float]]:
    """Per source: [frames, frames with a shift, sum of in-place differences, sum at the shifts]."""
    rows: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0.0, 0.0])
    for path in paths:
        prev = None
        for cur in rgb_frames(path):
            if prev is not None and prev.shape == cur.shape:
                at, in_place, best = best_shift(prev, cur, radius)
                row = rows[source_of(path)]
                row[0] += 1
                row[1] += at != (0, 0)
                row[2] += in_place
                row[3] += best
            prev = cur
    return dict(rows)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m fpcodec.bench.global_shift", description=__doc__.split("\n")[0]
    )
    p.add_argument("folder", type=Path, help="folder of GIFs (searched recursively)")
    p.add_argument("--radius", type=int, default=6, help="largest shift tried, in pixels (default 6)")
    args = p.parse_args(argv)
    paths = sorted(args.folder.rglob("*.gif"))
    try:
        if not paths:
            raise ValueError(f"no GIF in {args.folder}")
        rows = measure(paths, args.radius)
    except (FpcodecError, ValueError, OSError) as e:
        print(f"global_shift: error: {e}", file=sys.stderr)
        return 1
    print("| source | frames | best shift not (0, 0) | mean abs diff in place | at the best shift |")
    print("|---|---:|---:|---:|---:|")
    for name, (n, moved, in_place, best) in sorted(rows.items()):
        change = 100 * (best / in_place - 1) if in_place else 0.0
        print(
            f"| {name} | {n} | {100 * moved / n:.1f} % | {in_place / n:.2f} | {best / n:.2f} ({change:+.0f} %) |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
