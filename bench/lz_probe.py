"""How the encoder's LzProbe (codec/modes/palette_lz.py) was chosen, rerunnable.

    python -m fpcodec.bench.lz_probe log CLIP... -o lz.jsonl [-m MODEL] [--frames N]
    python -m fpcodec.bench.lz_probe simulate lz.jsonl [more.jsonl ...] \
        [--margins 0.1 0.25 0.5] [--probes 4 8] [--jumps 1.25 1.5 2]

``log`` encodes each clip (``codec.encode``) with the stream's other probes as shipped and palette
LZ compressed on every frame (``LzProbe.worth`` always true), writing one JSON line per frame where
LZ applies: the clip, the frame's index, whether it has a previous frame, LZ's exact bits, the
other modes' best estimate (``bound``) and the compression's seconds. ``simulate`` replays the rule on those lines
for a grid of its parameters: how many predicted frames it leaves out, the compression time that
saves, and the bits it adds (LZ's win on each left-out frame it would have won), in total and on
the worst clip.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from collections import defaultdict
from pathlib import Path

from tqdm import tqdm


def log(clips: list[Path], out: Path, model: str, frames: int | None = None) -> None:
    """Encode the clips (their first ``frames``; None: all) with palette LZ compressed on every
    frame, logging each frame's figures."""
    from ..codec import encode, frame_coding
    from ..codec.io import VideoReader
    from ..codec.modes import palette_lz

    current = {"clip": "", "frame": 0}
    real_estimate, real_worth = palette_lz.estimate, palette_lz.LzProbe.worth

    def timed(fr, extracted, previous, sent_palette, bound=float("inf")):
        start = time.perf_counter()
        c = real_estimate(fr, extracted, previous, sent_palette, bound)
        seconds = time.perf_counter() - start
        line = {**current, "previous": previous is not None, "lz": c.bits, "bound": bound, "seconds": seconds}
        f.write(json.dumps(line) + "\n")
        current["frame"] += 1
        return c

    frame_coding.palette_lz.estimate = timed
    palette_lz.LzProbe.worth = lambda self, bound: True
    try:
        with out.open("w") as f:
            for clip in tqdm(clips, desc="clips", unit="clip"):
                current.update(clip=clip.name, frame=0)
                encode([px for px, _ in itertools.islice(VideoReader(clip).frames(), frames)], model=model)
    finally:
        frame_coding.palette_lz.estimate, palette_lz.LzProbe.worth = real_estimate, real_worth


def replay(
    frames: list[dict], margin: float, probe: int, jump: float
) -> tuple[float, float, int, int, float]:
    """(bits of the cheapest mode per frame, bits added by the rule, predicted frames, left out,
    compression seconds saved) of one clip's logged frames under the rule's parameters (the
    shipped rule's logic: ``LzProbe.worth``)."""
    best_total = added = saved = 0.0
    count = left_out = since = 0
    ratio, ref = None, 0.0
    for r in frames:
        best_total += min(r["lz"], r["bound"])
        if not r["previous"]:  # a key frame: always compressed, and the probe starts again
            ratio, since = None, 0
            continue
        count += 1
        moved = not ref / jump <= r["bound"] <= jump * ref
        if ratio is None or ratio < 1 + margin or since + 1 >= probe or moved:
            ratio, ref, since = r["lz"] / max(r["bound"], 1.0), r["bound"], 0
            continue
        since += 1
        left_out += 1
        saved += r["seconds"]
        added += max(0.0, r["bound"] - r["lz"])
    return best_total, added, count, left_out, saved


def simulate(
    paths: list[Path],
    margins: tuple[float, ...] = (0.1, 0.25, 0.5),
    probes: tuple[int, ...] = (4, 8),
    jumps: tuple[float, ...] = (1.25, 1.5, 2.0),
) -> list[str]:
    """One table row per combination of the grids' values."""
    clips: dict[str, list[dict]] = defaultdict(list)
    seconds = 0.0
    for path in paths:
        for line in path.read_text().splitlines():
            r = json.loads(line)
            clips[f"{path.stem}:{r['clip']}"].append(r)
            seconds += r["seconds"]
    lines = [
        f"{len(clips)} clips, {sum(len(v) for v in clips.values())} frames, {seconds:.2f} s of compression",
        "",
        "| margin | left out at most | jump | bits added | worst clip | predicted frames left out "
        "| compression s saved |",
        "|---:|---:|---:|---:|---|---:|---:|",
    ]
    for margin, probe, jump in itertools.product(margins, probes, jumps):
        per = {name: replay(frames, margin, probe, jump) for name, frames in clips.items()}
        best = sum(p[0] for p in per.values())
        worst = max(per, key=lambda n: per[n][1] / max(per[n][0], 1.0))
        w = per[worst]
        lines.append(
            f"| {margin} | {probe - 1} | {jump} | {100 * sum(p[1] for p in per.values()) / best:+.4f} % "
            f"| {worst if w[1] else '-'} {100 * w[1] / max(w[0], 1.0):+.3f} % "
            f"| {sum(p[3] for p in per.values())} of {sum(p[2] for p in per.values())} "
            f"| {sum(p[4] for p in per.values()):.2f} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fpcodec.bench.lz_probe", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    lg = sub.add_parser("log", help="encode clips, logging palette LZ's bits and its bound per frame")
    lg.add_argument("clips", nargs="+", type=Path)
    lg.add_argument("-o", "--out", type=Path, required=True)
    lg.add_argument("-m", "--model", default=None, help="the predictor (default: the codec's default)")
    lg.add_argument("--frames", type=int, default=None, help="each clip's first frames only")
    sm = sub.add_parser("simulate", help="replay the rule on logged frames")
    sm.add_argument("logs", nargs="+", type=Path)
    sm.add_argument("--margins", type=float, nargs="+", default=[0.1, 0.25, 0.5])
    sm.add_argument("--probes", type=int, nargs="+", default=[4, 8], help="LZ_PROBE values")
    sm.add_argument("--jumps", type=float, nargs="+", default=[1.25, 1.5, 2.0])
    args = ap.parse_args(argv)
    if args.command == "log":
        from ..models.registry import DEFAULT_MODEL

        log(args.clips, args.out, args.model or DEFAULT_MODEL, args.frames)
    else:
        print("\n".join(simulate(args.logs, tuple(args.margins), tuple(args.probes), tuple(args.jumps))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
