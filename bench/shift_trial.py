"""What a global shift per frame would buy, measured with the real encoder before any format change.

    python -m fpcodec.bench.shift_trial FOLDER [--choose mad|cost] [--radius R] [--json FILE] [vs_gif options]

``bench.global_shift`` sizes how much of a clip moves as a whole; this runs ``bench.vs_gif`` with
the encoder changed as a format version with a global motion vector per frame would change it:
before a frame is coded, every frame of the history (what the predictor reads, and the previous
frame that the palette modes' previous colour, context counts and copied blocks read) is the
decoded frame translated by the frame's shift ``(dy, dx)``, ``out[y, x] = frame[y + dy, x + dx]``
with the edge rows and columns repeated. The shift is the best one within +-R by mean absolute
RGB difference (``global_shift.best_shift``); ``--choose cost`` also codes the frame unshifted and
keeps the smaller (an upper bound for a cost-driven encoder; the probes that steer the encoder see
both). The shift's own bits (a field a frame) are not counted, and no decoder reads these streams:
the sizes are what the tool would save, not a codec. In the ``--json`` report each model is named
with the trial's suffix (``last-frame +shift mad``), so that ``bench.palette_corpus report`` puts
it beside a plain ``vs_gif`` report of the same clips.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import sys
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from ..codec import pipeline
from . import vs_gif
from .global_shift import best_shift

#: Frames above this many pixels keep shift (0, 0): the search is a whole-frame difference per shift.
MAX_SEARCH_PIXELS = 1_500_000


def translate(frame: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``frame`` with ``out[y, x] = frame[y + dy, x + dx]``, coordinates clamped to the frame."""
    h, w = frame.shape[:2]
    rows = np.clip(np.arange(h) + dy, 0, h - 1)
    cols = np.clip(np.arange(w) + dx, 0, w - 1)
    return np.ascontiguousarray(frame[rows][:, cols])


def frame_shift(previous: np.ndarray, frame: np.ndarray, radius: int) -> tuple[int, int]:
    """The shift a frame would be coded with: (0, 0) where the frame is too small or too large."""
    h, w = frame.shape[:2]
    if h <= 2 * radius or w <= 2 * radius or h * w > MAX_SEARCH_PIXELS:
        return (0, 0)
    at, _, _ = best_shift(previous[..., :3], frame[..., :3].astype(np.int16), radius)
    return at


class Counts:
    """Frames searched, frames given a shift, frames coded smaller with it (``--choose cost``)."""

    def __init__(self) -> None:
        self.searched = self.shifted = self.won = 0


def _payload_bytes(coded) -> int:
    body = coded.palette_body
    return len(coded.payload) + (0 if body is None else len(body))


@contextlib.contextmanager
def shifted_history(radius: int, choose: str = "mad") -> Iterator[Counts]:
    """Patch ``pipeline.Encoder`` so that each frame is coded from its shifted history."""
    counts = Counts()
    current = [(0, 0)]  # the shift of the frame being coded
    patched: list = []  # the predictors whose predict_region is wrapped, unwrapped on exit
    write, encode_frame = pipeline.Encoder.write, pipeline.frame_coding.encode_frame

    def shifted_write(self, frame: np.ndarray, duration: int = 0):
        current[0] = (0, 0)
        if self._history and self.pixel_format is None:
            current[0] = frame_shift(self._history[-1], frame, radius)
            counts.searched += 1
            counts.shifted += current[0] != (0, 0)
        if not any(p is self.predictor for p in patched):  # models are shared: patched once
            predict_region = self.predictor.predict_region  # what the encoder calls

            def shifted_predict_region(history: list[np.ndarray], region):
                if current[0] != (0, 0):
                    history = [translate(f, *current[0]) for f in history]
                return predict_region(history, region)

            patched.append(self.predictor)
            self.predictor.predict_region = shifted_predict_region
        return write(self, frame, duration)

    def shifted_encode_frame(frame, predict, previous=None, *args, **kwargs):
        at = current[0]
        if previous is None or at == (0, 0):
            return encode_frame(frame, predict, previous, *args, **kwargs)
        shifted = encode_frame(frame, predict, translate(previous, *at), *args, **kwargs)
        if choose == "mad":
            return shifted
        current[0] = (0, 0)
        try:
            plain = encode_frame(frame, predict, previous, *args, **kwargs)
        finally:
            current[0] = at
        if _payload_bytes(shifted) < _payload_bytes(plain):
            counts.won += 1
            return shifted
        return plain

    pipeline.Encoder.write = shifted_write
    pipeline.frame_coding.encode_frame = shifted_encode_frame
    try:
        yield counts
    finally:
        pipeline.Encoder.write = write
        pipeline.frame_coding.encode_frame = encode_frame
        for predictor in patched:
            del predictor.predict_region  # the class's again


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m fpcodec.bench.shift_trial",
        description=__doc__.split("\n")[0],
        epilog="Other arguments go to bench.vs_gif (FOLDER, --model, --json).",
    )
    p.add_argument("--radius", type=int, default=6, help="largest shift tried, in pixels (default 6)")
    p.add_argument(
        "--choose",
        choices=("mad", "cost"),
        default="mad",
        help="mad: the best shift is used; cost: coded both ways, the smaller kept",
    )
    p.add_argument("--json", type=Path, metavar="FILE", help="bench.vs_gif's per-clip report, models renamed")
    args, rest = p.parse_known_args(argv)
    with shifted_history(args.radius, args.choose) as counts:
        rc = vs_gif.main(rest + ([] if args.json is None else ["--json", str(args.json)]))
    won = f", {counts.won} coded smaller with it" if args.choose == "cost" else ""
    print(f"shift trial: {counts.searched} frames searched, {counts.shifted} given a shift{won}")
    if args.json is not None and args.json.exists():
        argv_list = sys.argv[1:] if argv is None else list(argv)
        command = "python -m fpcodec.bench.shift_trial " + shlex.join(argv_list)
        rename_models(args.json, f" +shift {args.choose}", command)
    return rc


def rename_models(path: Path, suffix: str, command: str) -> None:
    """Add ``suffix`` to every model name of a ``bench.vs_gif`` JSON report, in place, and record
    the trial's ``command`` as the one that made it."""
    report = json.loads(path.read_text())
    report["command"] = command
    report["models"] = [m + suffix for m in report["models"]]
    for clip in report["clips"]:
        if "models" in clip:
            clip["models"] = {m + suffix: res for m, res in clip["models"].items()}
    path.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main())
