"""fpcodec's stream size against the GIF file itself, clip by clip (the palette-mode target).

    python -m fpcodec.bench.vs_gif DIR [--model NAME ...]

Prints one line per clip and model and a total; lighter than ``fpcodec bench`` (no other codecs,
no timing repeats), so it can run over a whole training split.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tqdm import tqdm

from ..bitstream.errors import FpcodecError
from ..codec import encode
from ..codec.io import VideoReader
from ..models import registry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fpcodec.bench.vs_gif",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("folder")
    parser.add_argument("--model", nargs="+", default=[registry.DEFAULT_MODEL])
    args = parser.parse_args(argv)
    paths = sorted(Path(args.folder).rglob("*.gif"))
    totals = {m: [0, 0, 0] for m in args.model}  # stream bytes, gif bytes, pixels
    larger: dict[str, list[str]] = {m: [] for m in args.model}
    for path in tqdm(paths, desc="clips", disable=not sys.stderr.isatty()):
        try:
            reader = VideoReader(path)
            frames, durations = zip(*reader.frames(), strict=True)
        except FpcodecError as exc:
            print(f"{path.relative_to(args.folder)}: skipped ({exc})", flush=True)
            continue
        pixels = reader.info.width * reader.info.height * len(frames)
        gif = path.stat().st_size
        name = path.relative_to(args.folder)
        for model in args.model:
            started = time.perf_counter()
            size = len(
                encode(
                    frames,
                    durations=durations,
                    model=model,
                    loop=reader.info.loop,
                    time_base=reader.info.time_base,
                )
            )
            fps = len(frames) / (time.perf_counter() - started)
            t = totals[model]
            t[0], t[1], t[2] = t[0] + size, t[1] + gif, t[2] + pixels
            if size >= gif:
                larger[model].append(str(name))
            print(
                f"{name} {model}: {len(frames)} frames, fpcodec {8 * size / pixels:.3f} bpp, "
                f"GIF {8 * gif / pixels:.3f} bpp, encode {fps:.1f} fps",
                flush=True,
            )
    for model, (size, gif, pixels) in totals.items():
        print(
            f"TOTAL {model}: fpcodec {8 * size / pixels:.3f} bpp, GIF {8 * gif / pixels:.3f} bpp, "
            f"{len(paths)} clips, not smaller than the GIF: {', '.join(larger[model]) or 'none'}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
