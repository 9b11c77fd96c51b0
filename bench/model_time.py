"""The learned predictor's time per frame, alone, as the codec calls it.

    python -m fpcodec.bench.model_time CLIP... [--model NAME] [--frames 16] [--repeats 2] [--device cpu]
        [--tiled-from PIXELS]

Each clip's first ``--frames`` frames go through the predictor one by one with the window of the
last five (the history the encoder and the decoder keep), BLAS at one thread as while coding
(``codec/threads.py``); the first pass over the clip warms up and is not counted. Prints the median
milliseconds per frame and a digest of every predicted integer, so that two source trees can be
compared (``PYTHONPATH=/tmp/fpold python -m fpcodec.bench.model_time ...``, runs alternating): the
same digest means the same predictions, also across devices (``--device cuda``: the time includes
copying the window in and the integers out, as the codec does). A CLIP may be a training pack.

Each line also gives the process's peak resident memory so far (``VmHWM``, Linux): with one clip a
process, the model's peak at that frame size. ``--tiled-from`` sets the pixels above which frames
are predicted in tiles (``models/tiling.py``; 0: every frame in tiles, a large number: whole), to
see both ways' time and memory (bench/SPEED.md, "The model in tiles from 256x256").
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import time
from pathlib import Path

import numpy as np

from ..codec.threads import one_blas_thread
from ..models import registry, tiling
from ..models.base import HISTORY
from .memory import maxrss_bytes
from .run import source_clips


@one_blas_thread
def time_model(frames: list[np.ndarray], name: str, repeats: int, device: str = "cpu") -> tuple[float, str]:
    """(median seconds per frame over the timed passes, sha256 prefix of the predicted integers)."""
    model = registry.get(name, device=device)
    digest = hashlib.sha256()
    times: list[float] = []
    for rep in range(repeats + 1):
        history: list[np.ndarray] = []
        for frame in frames:
            history = (history + [frame])[-HISTORY:]
            started = time.perf_counter()
            ints = model.predict_ints(history)
            if rep:
                times.append(time.perf_counter() - started)
            else:
                for a in ints:
                    digest.update(np.ascontiguousarray(a, np.int32).tobytes())  # any tree's types
    return statistics.median(times), digest.hexdigest()[:16]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m fpcodec.bench.model_time", description=__doc__.split("\n")[0]
    )
    ap.add_argument("clips", nargs="+", type=Path)
    ap.add_argument("--model", default=registry.DEFAULT_MODEL)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="where the model runs: cpu (default) or cuda")
    ap.add_argument(
        "--tiled-from",
        type=int,
        metavar="PIXELS",
        help="frames above this many pixels in tiles (default: the codec's)",
    )
    args = ap.parse_args(argv)
    if args.tiled_from is not None:
        tiling.TILED_FROM = tiling.TILED_FROM_GPU = args.tiled_from
    for clip in args.clips:
        for name, frames, _ in source_clips(clip):
            frames = frames[: args.frames]
            seconds, digest = time_model(frames, args.model, args.repeats, args.device)
            h, w = frames[0].shape[:2]
            print(
                f"{Path(name).name} {w}x{h} {args.model} ({args.device}): {1000 * seconds:.1f} ms/frame, "
                f"digest {digest}, peak RSS {maxrss_bytes() / 2**20:.0f} MiB",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
