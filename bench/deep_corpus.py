"""Deeper-sample clips for the natural benchmark: the natural corpus scaled into 10, 12 or 16 bits.

``python -m fpcodec.bench.deep_corpus /tmp/natcorpus /tmp/deep10 --format yuv420p10le``, then
``python -m fpcodec.bench.natural /tmp/deep10 -o bench/results/deep_samples/yuv420p10le``.

The packages the natural corpus comes from hold 8-bit video only. A camera's or an editor's deeper
video has low bits that are neither zero nor copies; the nearest such signal made from 8-bit
footage is the footage resampled: every clip of CORPUS (``natural_corpus build``'s folder) scaled
by ``--scale`` (3/4: 320x240 -> 240x180) with swscale's bicubic filter straight into the deeper
format, so each sample is a weighted sum of 8-bit ones, kept at the format's depth. What this
measures is coding of smooth deep samples; it is not footage shot at that depth (whose low bits
are noisier), and the figures say so. The clips keep their split, name and source; the folder
gets a ``natural_corpus.json`` that ``bench.natural`` reads, each entry noting what it was made from.
"""

from __future__ import annotations

import argparse
import json
import sys
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import numpy as np

PROG = "python -m fpcodec.bench.deep_corpus"


def derive(src: Path, dst: Path, pix_fmt: str, scale: Fraction) -> tuple[int, int, int]:
    """``src`` (a corpus clip) scaled into ``pix_fmt`` as FFV1 at ``dst``: (width, height, frames)."""
    import av

    from ..codec.planar_io import ColourInfo, NativeReader, pixel_format_by_name, plane_view, write_ffv1_mkv

    fmt = pixel_format_by_name(pix_fmt)
    reader = NativeReader(src)
    width = max(2, int(reader.width * scale) // 2 * 2)
    height = max(2, int(reader.height * scale) // 2 * 2)
    shapes = fmt.plane_shapes(width, height)
    stored = np.dtype(fmt.dtype).newbyteorder("<")

    def frames():
        with av.open(str(src)) as cont:
            for frame in cont.decode(video=0):
                out = frame.reformat(width, height, pix_fmt, interpolation="BICUBIC", threads=1)
                yield [
                    np.array(plane_view(p, stored, h)[:, :w], fmt.dtype)
                    for p, (h, w) in zip(out.planes, shapes, strict=True)
                ]

    rate = reader.frame_rate or Fraction(25)
    count = write_ffv1_mkv(dst, fmt, ColourInfo(), width, height, rate, frames(), force=True)
    return width, height, count


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus", type=Path, help="a natural corpus folder (with natural_corpus.json)")
    ap.add_argument("out", type=Path, help="the folder to write the deeper clips and their manifest to")
    ap.add_argument("--format", default="yuv420p10le", help="the deeper pixel format (default yuv420p10le)")
    ap.add_argument("--scale", type=Fraction, default=Fraction(3, 4), help="size factor (default 3/4)")
    args = ap.parse_args(argv)
    from tqdm import tqdm

    manifest = json.loads((args.corpus / "natural_corpus.json").read_text())
    clips = []
    for entry in tqdm(manifest["clips"], desc="clips"):
        dst = args.out / entry["file"]
        dst.parent.mkdir(parents=True, exist_ok=True)
        width, height, frames = derive(args.corpus / entry["file"], dst, args.format, args.scale)
        clips.append(
            {
                **entry,
                "pix_fmt": args.format,
                "frames": frames,
                "derived": f"{entry['file']} of the natural corpus, scaled by {args.scale} to {width}x{height} "
                f"into {args.format} (swscale bicubic; bench/deep_corpus.py)",
            }
        )
    manifest = {
        **manifest,
        "description": f"{manifest['description']}, scaled into {args.format}",
        "clips": clips,
    }
    (args.out / "natural_corpus.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"{len(clips)} clips in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
