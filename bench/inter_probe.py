"""How the encoder's InterProbe (codec/inter_probe.py) was chosen, rerunnable.

    python -m fpcodec.bench.inter_probe log CLIP... -o estimates.jsonl [--frames 60]
    python -m fpcodec.bench.inter_probe simulate estimates.jsonl [estimates2.jsonl ...] \
        [--losses 2 4 6] [--margins 0.05 0.1 0.2] [--probes 4 8 16] [--warms 0] \
        [--ties 0.01 0.02 --tie-losses 2 4 --tie-probes 2 3 \
        --tie-closes 0.05 --tie-maxes 4 8]

``log`` encodes each clip's first ``--frames`` frames with every mode estimated on every frame (no
probe leaves anything out) and writes one JSON line per frame: the clip, the frame's index and each
mode's estimated bits. ``simulate`` replays a rule on those estimates, for a grid of its
parameters (losses in a row, margin, frames left out at most, frames after a key frame whose
losses do not count; INTER_JUMP as shipped; with ``--ties``, the near-tie rule's win margin, ties
in a row, frames left out at most and, with ``--tie-closes`` and ``--tie-maxes``, up to how many
each close tie in a row doubles that): the bits it adds over taking the best mode of every frame (the frames it
leaves out get the best of the modes that need no prediction), in total and on the worst clip,
and how many predicted frames it leaves out.
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections import defaultdict
from pathlib import Path

from tqdm import tqdm

from ..codec import frame_coding
from ..codec.inter_probe import INTER_JUMP, PREDICTED_MODES
from ..codec.io import VideoReader


def log(clips: list[Path], out: Path, frames: int) -> None:
    """Encode the clips with every mode estimated, writing each frame's estimates to ``out``."""
    from ..codec import encode

    current = {"clip": "", "frame": 0}
    real = frame_coding.candidates

    def every_mode(
        frame,
        pred,
        previous=None,
        sent_palette=None,
        use_palette=True,
        probe=None,
        inter=None,
        lz=True,
        lz_probe=None,
    ):
        options = real(frame, pred, previous, sent_palette, use_palette, lz_frames=lz)  # no probes
        bits = {str(c.mode): c.bits for c in options}
        f.write(json.dumps({**current, "bits": bits}) + "\n")
        current["frame"] += 1
        return options

    frame_coding.candidates = every_mode
    try:
        with out.open("w") as f:
            for clip in tqdm(clips, desc="clips", unit="clip"):
                current.update(clip=clip.name, frame=0)
                encode([px for px, _ in itertools.islice(VideoReader(clip).frames(), frames)])
    finally:
        frame_coding.candidates = real


def replay(
    frames: list[dict],
    losses: int,
    margin: float,
    probe: int,
    jump: float = INTER_JUMP,
    warm: int = 0,
    tie: float | None = None,
    tie_losses: int = 0,
    tie_probe: int = 0,
    tie_close: float = 0.0,
    tie_max: int = 0,
):
    """(bits of the best mode per frame, bits under the rule, predicted frames, left out) of one
    clip. ``warm``: the first frames after a key frame whose losses do not count (their window
    is not yet full). With ``tie``: also left out for at most ``tie_probe`` - 1 frames after
    ``tie_losses`` estimated frames in a row where the predicted modes won by less than ``tie``
    (their best at least 1 - ``tie`` times the others'); with ``tie_max`` above ``tie_probe``,
    each estimated frame in a row after those on which their best came within 1 - ``tie`` to
    1 + ``tie_close`` times the others' doubles that, up to ``tie_max`` (``tie_span``)."""
    predicted = {str(m) for m in PREDICTED_MODES}
    best_total = rule_total = 0.0
    count = left_out = lost = tied = near = since = 0
    after_key = 0
    ref = 0.0
    for r in frames:
        bits = r["bits"]
        other = min(v for k, v in bits.items() if k not in predicted)
        pred = min((v for k, v in bits.items() if k in predicted), default=None)
        best = other if pred is None else min(other, pred)
        best_total += best
        if pred is None:  # no history: a key frame
            rule_total += best
            lost = tied = near = since = after_key = 0
            continue
        count += 1
        after_key += 1
        if after_key <= warm:
            rule_total += best
            continue
        rgb = bits["0"]
        losing = lost >= losses and since + 1 < probe
        tying = tie is not None and tied >= tie_losses and since + 1 < tie_span(near, tie_probe, tie_max)
        if (losing or tying) and ref / jump <= rgb <= ref * jump:
            left_out += 1
            since += 1
            rule_total += other
            continue
        rule_total += best
        lost = lost + 1 if pred >= (1 + margin) * other else 0
        if tie is not None:
            tied = tied + 1 if pred >= (1 - tie) * other else 0
            close = tied >= tie_losses and pred <= (1 + tie_close) * other
            near = near + 1 if close else 0
        since, ref = 0, rgb
    return best_total, rule_total, count, left_out


def tie_span(near: int, tie_probe: int, tie_max: int) -> int:
    """The near-tie rule's frames left out at most, as ``InterProbe.tie_span``: ``tie_probe``,
    doubled for each of ``near`` close ties in a row, up to ``tie_max`` where that is larger."""
    if tie_max <= tie_probe or near < 1:
        return tie_probe
    return min(tie_max, tie_probe << min(near, 16))


def simulate(
    paths: list[Path],
    losses_grid: tuple[int, ...] = (2, 4, 6),
    margins: tuple[float, ...] = (0.05, 0.1, 0.2),
    probes: tuple[int, ...] = (4, 8, 16),
    warms: tuple[int, ...] = (0,),
    ties: tuple[float | None, ...] = (None,),
    tie_losses_grid: tuple[int, ...] = (2,),
    tie_probes: tuple[int, ...] = (4,),
    tie_closes: tuple[float, ...] = (0.0,),
    tie_maxes: tuple[int, ...] = (0,),
) -> list[str]:
    """One table row per combination of the grids' values (``ties`` None: without near ties)."""
    clips: dict[str, list[dict]] = defaultdict(list)
    for path in paths:
        for line in path.read_text().splitlines():
            r = json.loads(line)
            clips[r["clip"]].append(r)
    lines = [
        "| not counted after a key frame | losses | margin | left out at most | near tie: won by less than "
        "| in a row | left out at most | close: within | doubled up to | bits added | worst clip | predicted frames left out |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    ties_grid = (
        [(None, 0, 0, 0.0, 0)]
        if ties == (None,)
        else itertools.product(ties, tie_losses_grid, tie_probes, tie_closes, tie_maxes)
    )
    for (warm, losses, margin, probe), (tie, tie_losses, tie_probe, tie_close, tie_max) in itertools.product(
        list(itertools.product(warms, losses_grid, margins, probes)), list(ties_grid)
    ):
        per = {
            name: replay(
                frames,
                losses,
                margin,
                probe,
                warm=warm,
                tie=tie,
                tie_losses=tie_losses,
                tie_probe=tie_probe,
                tie_close=tie_close,
                tie_max=tie_max,
            )
            for name, frames in clips.items()
        }
        best = sum(p[0] for p in per.values())
        rule = sum(p[1] for p in per.values())
        worst = max(per, key=lambda n: per[n][1] / per[n][0])
        w = per[worst]
        lines.append(
            f"| {warm} | {losses} | {margin} | {probe} | {'-' if tie is None else tie} | {tie_losses or '-'} "
            f"| {tie_probe or '-'} | {tie_close if tie_max > tie_probe else '-'} "
            f"| {tie_max if tie_max > tie_probe else '-'} "
            f"| {100 * (rule / best - 1):+.3f} % | {worst} {100 * (w[1] / w[0] - 1):+.2f} % "
            f"| {sum(p[3] for p in per.values())} of {sum(p[2] for p in per.values())} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m fpcodec.bench.inter_probe", description=__doc__.split("\n")[0]
    )
    sub = ap.add_subparsers(dest="command", required=True)
    lg = sub.add_parser("log", help="encode clips, logging every mode's estimate per frame")
    lg.add_argument("clips", nargs="+", type=Path)
    lg.add_argument("-o", "--out", type=Path, required=True)
    lg.add_argument("--frames", type=int, default=60)
    sm = sub.add_parser("simulate", help="replay the rule on logged estimates")
    sm.add_argument("logs", nargs="+", type=Path)
    sm.add_argument("--losses", type=int, nargs="+", default=[2, 4, 6], help="losses in a row")
    sm.add_argument("--margins", type=float, nargs="+", default=[0.05, 0.1, 0.2])
    sm.add_argument("--probes", type=int, nargs="+", default=[4, 8, 16], help="left out at most")
    sm.add_argument(
        "--warms", type=int, nargs="+", default=[0], help="frames after a key frame whose losses do not count"
    )
    sm.add_argument(
        "--ties", type=float, nargs="+", default=None, help="near ties: predicted modes won by less than this"
    )
    sm.add_argument("--tie-losses", type=int, nargs="+", default=[2], help="near ties in a row")
    sm.add_argument("--tie-probes", type=int, nargs="+", default=[4], help="left out at most after near ties")
    sm.add_argument(
        "--tie-closes", type=float, nargs="+", default=[0.0], help="close ties: lost by less than this"
    )
    sm.add_argument(
        "--tie-maxes",
        type=int,
        nargs="+",
        default=[0],
        help="each close tie in a row doubles that, up to this",
    )
    args = ap.parse_args(argv)
    if args.command == "log":
        log(args.clips, args.out, args.frames)
    else:
        print(
            "\n".join(
                simulate(
                    args.logs,
                    tuple(args.losses),
                    tuple(args.margins),
                    tuple(args.probes),
                    tuple(args.warms),
                    (None,) if args.ties is None else tuple(args.ties),
                    tuple(args.tie_losses),
                    tuple(args.tie_probes),
                    tuple(args.tie_closes),
                    tuple(args.tie_maxes),
                )
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
