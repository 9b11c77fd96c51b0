"""What key frames cost: stream sizes at several key-frame intervals against key frame 0 only.

    python -m fpcodec.bench.keyint CLIP_OR_FOLDER... [--model last-frame] [--keyint 0 default 60 30 10]
                                   [--concat]

Each clip is encoded once per interval (``default`` is the encoder's own rule, see
``codec.pipeline.DEFAULT_KEYINT``; ``0`` is frame 0 only, the baseline). Sizes are deterministic (no timing),
so one run suffices. Prints one row per clip and the totals, with the cost in percent of the
baseline. ``--concat`` joins the clips of each frame size (in name order) into one longer video,
for intervals that short clips never reach.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

from ..codec import Encoder
from ..codec.io import VideoReader
from ..models import registry


def _clips(paths: list[str]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        out += (
            sorted(q for q in p.rglob("*") if q.suffix.lower() in (".gif", ".webp", ".apng", ".mp4"))
            if p.is_dir()
            else [p]
        )
    return out


def _videos(paths: list[Path], concat: bool):
    """(name, frames, durations, info) per clip, or per frame size with ``concat`` (durations in
    the first clip's time base; clips in another time base are left out)."""
    groups: dict[tuple, list] = {}
    for path in paths:
        reader = VideoReader(path)
        pairs = list(reader.frames())
        frames, durations = [f for f, _ in pairs], [d for _, d in pairs]
        if not concat:
            yield path.name, frames, durations, reader.info
            continue
        info = reader.info
        key = (info.width, info.height, info.channels)
        group = groups.setdefault(key, [f"{info.width}x{info.height} x0", [], [], info])
        if info.time_base != group[3].time_base:
            continue
        group[0] = f"{info.width}x{info.height} x{int(group[0].split('x')[-1]) + 1}"
        group[1] += frames
        group[2] += durations
    for name, frames, durations, info in groups.values():
        yield name, frames, durations, info


def encoded_size(frames, durations, info, model, keyint: int | None) -> tuple[int, int]:
    """(bytes, key frames) of the clip encoded with ``keyint``."""
    buf = io.BytesIO()
    enc = Encoder(
        buf,
        width=info.width,
        height=info.height,
        channels=info.channels,
        model=model,
        time_base=info.time_base,
        loop=info.loop,
        keyint=keyint,
    )
    for f, d in zip(frames, durations, strict=True):
        enc.write(f, d)
    enc.close()
    return len(buf.getvalue()), len(enc.index)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fpcodec.bench.keyint",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("clips", nargs="+", help="clips, or folders searched for them")
    parser.add_argument("--model", default="last-frame")
    parser.add_argument("--keyint", nargs="+", default=["0", "default", "60", "30", "10"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--concat", action="store_true", help="one video per frame size, clips joined")
    args = parser.parse_args(argv)
    intervals = [None if k == "default" else int(k) for k in args.keyint]
    if intervals[0] != 0:
        intervals.insert(0, 0)
    labels = ["0" if k == 0 else ("default" if k is None else str(k)) for k in intervals]
    model = registry.get(args.model, device=args.device)
    totals = [0] * len(intervals)
    print(f"model {args.model}; bytes per key-frame interval, cost vs key frame 0 only")
    print(f"{'clip':24} {'frames':>6} " + " ".join(f"{lab:>20}" for lab in labels))
    for name, frames, durations, info in _videos(_clips(args.clips), args.concat):
        sizes = [encoded_size(frames, durations, info, model, k) for k in intervals]
        base = sizes[0][0]
        cells = [f"{b:8d} ({k:3d}k) {100 * (b - base) / base:+5.1f}%" for b, k in sizes]
        print(f"{name:24} {len(frames):6d} " + " ".join(f"{c:>20}" for c in cells))
        totals = [t + b for t, (b, _) in zip(totals, sizes, strict=True)]
    print(
        f"{'total':24} {'':6} "
        + " ".join(f"{t:>8d} {100 * (t - totals[0]) / totals[0]:+10.2f}%" for t in totals)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
