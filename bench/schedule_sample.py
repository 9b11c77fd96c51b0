"""Does choosing palette intra's pass schedule on bands of rows (``codec.frame_sample``) cost bytes?

Encodes each clip with the bands (at the codec's threshold, or a lower one so that smaller frames
take them too) and without them (every large frame's schedules all estimated whole), and prints
both sizes and what the bands decided on each frame that had them: one schedule (``rows`` or
``coarse``) or ``both`` (within ``palette.SAMPLE_MARGIN``, both estimated whole). ::

    python -m fpcodec.bench.schedule_sample CLIP... [--from PIXELS --pixels PIXELS] [--model NAME]

Results: bench/results/speed_cli/ab_sampled_schedule.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tqdm import tqdm

from ..codec import encode, frame_sample
from ..codec.io import VideoReader
from ..codec.modes import palette


def _decisions(frames, model: str) -> tuple[int, list[str]]:
    """Bytes of the stream, and the bands' decision on each frame that had bands."""
    real, got = palette.sampled_schedules, []

    def spy(*args, **kwargs):
        tried = real(*args, **kwargs)
        got.append("both" if len(tried) > 1 else ("rows" if tried[0] else "coarse"))
        return tried

    palette.sampled_schedules = spy
    try:
        return len(encode(frames, model=model)), got
    finally:
        palette.sampled_schedules = real


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m fpcodec.bench.schedule_sample", description=__doc__.split("\n")[0]
    )
    ap.add_argument("clips", nargs="+", type=Path)
    ap.add_argument("--from", dest="sample_from", type=int, default=frame_sample.SAMPLE_FROM)
    ap.add_argument("--pixels", type=int, default=frame_sample.SAMPLE_PIXELS)
    ap.add_argument("--model", default="last-frame")
    args = ap.parse_args(argv)
    saved = frame_sample.SAMPLE_FROM, frame_sample.SAMPLE_PIXELS
    print(f"bands from {args.sample_from} pixels, about {args.pixels} pixels of bands; model {args.model}")
    print("| clip | bytes without bands | bytes with bands | change | bands decided |")
    print("|---|---:|---:|---:|---|")
    total = [0, 0]
    try:
        for clip in tqdm(args.clips, leave=False):
            frames = [f for f, _ in VideoReader(clip).frames()]
            frame_sample.SAMPLE_FROM = 1 << 62
            whole, _ = _decisions(frames, args.model)
            frame_sample.SAMPLE_FROM, frame_sample.SAMPLE_PIXELS = args.sample_from, args.pixels
            banded, decided = _decisions(frames, args.model)
            total[0] += whole
            total[1] += banded
            print(
                f"| {clip.name} | {whole} | {banded} | {banded / whole - 1:+.3%} | {', '.join(decided) or '-'} |"
            )
    finally:
        frame_sample.SAMPLE_FROM, frame_sample.SAMPLE_PIXELS = saved
    print(f"| all | {total[0]} | {total[1]} | {total[1] / max(total[0], 1) - 1:+.3%} | |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
