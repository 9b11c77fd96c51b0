"""What a vote for the colour a pixel had before the last frame could win (issue 14): measured, not built.

    python -m fpcodec.bench.back_probe CLIP... [--model NAME] [--name LABEL]

A palette frame's pixel gets one vote from the past: "the previous frame's colour" (``w_prev``,
``codec/modes/palette.py``). GIF animations often put a pixel back to an older colour: a sprite's
old place cleared to the background (GIF disposal), a blinking cursor, a toggled button. Issue 14
suggests sources that reach further back than the previous frame. Before building one (a new
format version: another weight in the mix field, the older frames mapped into each palette by the
decoder), this probe sizes two such votes on the frames this encoder codes in palette modes with
a previous frame:

- ``t-2``: the pixel's colour two frames back, where it differs from the previous frame's;
- ``latest``: the most recent colour of frames t-2 .. t-5 (the predictor's window) that differs
  from the previous frame's (a pixel that toggles between two colours, or returns after a few frames).

Each is chained into the coder's sources right after the previous-colour vote, with a weight per
frame (the best of ``WEIGHTS``, as an encoder would pick and send it) or one fixed weight for
every frame, and the pixels' ideal code lengths are compared with the encoder's own (the
recorder of ``bench/mixer_probe.py``, fed by ``code_passes``' observe hook). A vote only exists
where the older colour is in the frame's palette. bench/results/back_probe/README.md has runs.
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..bitstream.errors import FpcodecError
from ..bitstream.palette import pack_colours
from . import mixer_probe

#: The weights an encoder could choose from, per frame (0: no vote).
WEIGHTS = (0.0, 1 / 64, 1 / 32, 1 / 16, 1 / 8, 1 / 4, 3 / 8, 1 / 2)
#: Frames back the ``latest`` vote looks (t-2 .. t-HISTORY), the predictor's window.
HISTORY = 5
VOTES = ("t2", "latest")


def back_votes(history: list[np.ndarray], palette: np.ndarray) -> dict[str, np.ndarray]:
    """Per pixel (flat), the two votes' palette indices (-1: none) for the frame after
    ``history`` (the decoded frames before it, oldest first, (H, W, C) uint8) over ``palette``
    ((K, C))."""
    last = pack_colours(history[-1]).reshape(-1)
    pal = pack_colours(palette)
    order = np.argsort(pal)
    ordered = pal[order]

    def indices(values: np.ndarray) -> np.ndarray:
        at = np.clip(np.searchsorted(ordered, values), 0, pal.size - 1)
        return np.where(ordered[at] == values, order[at], -1)

    votes = {name: np.full(last.size, -1, np.int64) for name in VOTES}
    for k in range(2, min(HISTORY, len(history)) + 1):
        older = pack_colours(history[-k]).reshape(-1)
        found = np.where(older != last, indices(older), -1)
        if k == 2:
            votes["t2"] = found
        latest = votes["latest"]
        votes["latest"] = np.where((latest < 0) & (found >= 0), found, latest)
    return votes


class BackRecorder(mixer_probe.Recorder):
    """``mixer_probe.Recorder`` plus, per pixel, whether each vote exists and is the pixel's colour."""

    def __init__(self) -> None:
        super().__init__()
        self.history: list[np.ndarray] = []  # the decoded frames before the frame being coded
        self.votes: list[dict[str, np.ndarray]] = []  # per recorded frame
        self._votes: dict[str, np.ndarray] = {}
        self._vote_parts: list[dict[str, np.ndarray]] = []

    def observe(self, inp, palette, idx, prev_idx, mix, counts, keys) -> None:
        if prev_idx is None:
            return
        if idx is not self._idx:  # a new frame (the base class closes the last one)
            super().observe(inp, palette, idx, prev_idx, mix, counts, keys)
            self._vote_parts = []
            self._votes = back_votes(self.history, palette)
        else:
            super().observe(inp, palette, idx, prev_idx, mix, counts, keys)
        t = inp.targets
        true = idx[t]
        part = {}
        for name, vote in self._votes.items():
            part[f"has_{name}"], part[f"match_{name}"] = vote[t] >= 0, vote[t] == true
        self._vote_parts.append(part)

    def finish(self) -> None:
        if self._parts:
            self.votes.append(
                {
                    k: np.concatenate([p[k] for p in self._vote_parts]).astype(np.float64)
                    for k in self._vote_parts[0]
                }
            )
        super().finish()


def collect(paths: list[Path], model: str, quiet: bool = True) -> tuple[dict[str, np.ndarray], int, int]:
    """Encode ``paths`` with ``model``: the recorded columns (``mixer_probe``'s and the votes') of
    every palette frame with a previous frame, the streams' bytes in all, and the clips coded (a
    file that is not a readable video is skipped, with a line on stderr)."""
    from fpcodec.codec import frame_coding, pipeline
    from fpcodec.codec import io as fio
    from fpcodec.codec.modes import palette as pm

    rec = BackRecorder()
    clip: list[np.ndarray] = []
    at = [0]

    def encode_frame(frame, *args, **kwargs):
        # the encoder writes a frame equal to the one before as a repeat, without coding it: find
        # this one in the clip, so that the history holds every decoded frame before it
        while at[0] < len(clip) and not (
            clip[at[0]].shape == frame.shape and np.array_equal(clip[at[0]], frame)
        ):
            at[0] += 1
        rec.history = clip[max(0, at[0] - HISTORY) : at[0]]
        return original_frame(frame, *args, **kwargs)

    original, keep, original_frame = pm.code_passes, pm.KEEP_PASSES, frame_coding.encode_frame
    pm.code_passes = functools.partial(original, observe=rec.observe)
    pm.KEEP_PASSES = False  # the observer reads each pass's inputs, which kept passes lack
    frame_coding.encode_frame = encode_frame
    total = coded = 0
    try:
        for path in tqdm(paths, desc="encode", disable=quiet, file=sys.stderr):
            try:
                clip[:] = [f for f, _ in fio.VideoReader(path).frames()]
            except FpcodecError as exc:  # Pillow's odd GIFs include damaged ones
                print(f"back_probe: {path.name} skipped ({exc})", file=sys.stderr)
                continue
            at[0] = 0
            rec.shape = clip[0].shape[:2]
            total += len(pipeline.encode(clip, model=model))
            coded += 1
            rec.finish()
    finally:
        pm.code_passes, pm.KEEP_PASSES, frame_coding.encode_frame = original, keep, original_frame
    if not rec.frames:
        return {}, total, coded
    cols = {k: np.concatenate([f[k] for f in rec.frames]) for k in mixer_probe._COLUMNS + mixer_probe._FRAME}
    cols.update({k: np.concatenate([f[k] for f in rec.votes]) for k in rec.votes[0]})
    return cols, total, coded


def code_lengths(c: dict[str, np.ndarray], vote: str | None = None, weight: float = 0.0) -> np.ndarray:
    """Each pixel's ideal code length (bits) under the encoder's weights, with ``vote`` chained in
    after the previous-colour vote at ``weight`` (``mixer_probe.chain``)."""
    extra = None if vote is None else (c[f"has_{vote}"], c[f"match_{vote}"], weight)
    return -np.log2(mixer_probe.chain(c, *mixer_probe.frame_weights(c), vote=extra))


def savings(c: dict[str, np.ndarray], vote: str) -> tuple[float, float, float]:
    """(bits saved with the best weight per frame, with the best fixed weight, that weight)."""
    frames = c["frame"].astype(np.int64)
    base = code_lengths(c).sum()
    per = np.stack(
        [np.bincount(frames, code_lengths(c, vote, w), minlength=frames.max() + 1) for w in WEIGHTS]
    )
    fixed = per.sum(axis=1)
    best = int(np.argmin(fixed))
    return float(base - per.min(axis=0).sum()), float(base - fixed[best]), WEIGHTS[best]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("clips", nargs="+", type=Path)
    parser.add_argument("--model", default="last-frame", help="the predictor the clips are coded with")
    parser.add_argument("--name", default="clips", help="a label for the output")
    parser.add_argument("-q", "--quiet", action="store_true")
    args = parser.parse_args(argv)
    c, total, coded = collect(sorted(args.clips), args.model, args.quiet)
    if not c:
        print(f"{args.name}: {coded} clips, no palette frame with a previous frame")
        return 0
    base = code_lengths(c).sum()
    print(
        f"{args.name}: {coded} clips, model {args.model}, {c['p_model'].size} pixels of palette frames "
        f"with a previous frame, {base / 8:.0f} bytes of them (ideal); streams {total} bytes"
    )
    for vote in VOTES:
        has = c[f"has_{vote}"] > 0
        right = (c[f"match_{vote}"] > 0).sum() / max(1, has.sum())
        per_frame, fixed, weight = savings(c, vote)
        print(
            f"  vote {vote}: exists at {has.mean():.1%} of the pixels, right at {right:.1%} of those; "
            f"weight per frame {100 * per_frame / base:+.2f} % of these bits ({per_frame / 8:.0f} bytes, "
            f"{100 * per_frame / 8 / total:.2f} % of the streams); best fixed weight {weight:g}: "
            f"{100 * fixed / base:+.2f} %"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
