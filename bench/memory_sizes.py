"""Peak memory of ``fpcodec encode`` and ``fpcodec decode`` against the frame's size.

Issue 15 asks at most 64 bytes a pixel of one frame above the process's fixed baseline. Measured
only at a 32x32 clip and from 1280x720 up, that hid the sizes real GIFs have: until 2026-12-08 a
960x540 clip encoded at 780 bytes a pixel above the 32x32 one (the network's whole-frame forward
pass), where 1280x720, already predicted in tiles, encoded at 128. This sweeps the sizes between.

Each clip is ``--frames`` crops of skimage's astronaut scaled up, moving by (2, 1) pixels a frame,
mapped without dithering onto one palette of ``--colours`` made from the first crop: palette inter
wins its frames, so the decoder runs the model too (the table says on how many frames). Every
encode and decode is a child process (``python -m fpcodec.codec.cli``), its peak RSS the
``ru_maxrss`` that ``os.wait4`` reports for it (``memory_flat.peak_rss_mb``); medians of
``--repeats``. The table gives, per size, both peaks, the bytes a pixel above the first (smallest)
size's peak, and the marginal bytes a pixel from the size before: what a pixel more costs there,
whatever is fixed. With ``-o report.md`` a plot of the peaks against pixels is written beside it.
``--tree DIR`` runs the children on another source tree (its ``fpcodec`` package on PYTHONPATH, as
``bench/speed_ab.sh`` lays one out), to compare two trees::

    python -m fpcodec.bench.memory_sizes [--sizes 32x32 96x96 ... 1280x720] [--frames 4]
        [--colours 128] [--model NAME] [--repeats 1] [--tree DIR] [-o report.md]
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .memory_flat import peak_rss_mb

SIZES = ["32x32", "96x96", "200x150", "320x240", "480x270", "640x360", "960x540", "1280x720"]
#: The issue's bound, bytes a pixel above the baseline.
TARGET = 64


def parse_size(text: str) -> tuple[int, int]:
    """``"WxH"`` -> (width, height), both at least 1."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r} is not WIDTHxHEIGHT") from None
    if w < 1 or h < 1:
        raise argparse.ArgumentTypeError(f"size {text!r} has a side below 1")
    return w, h


@functools.cache
def _source(side: int) -> np.ndarray:
    """skimage's astronaut (512x512 RGB) scaled to side x side, bicubic."""
    from PIL import Image
    from skimage import data

    return np.asarray(Image.fromarray(data.astronaut()).resize((side, side), Image.BICUBIC))


def make_clip(path: Path, width: int, height: int, frames: int, colours: int) -> None:
    """``frames`` crops of the scaled astronaut at (300 + 2i, 200 + i), on one palette of
    ``colours`` from the first crop, undithered, written as a GIF."""
    from PIL import Image

    side = max(2048, 300 + width + 2 * frames, 200 + height + frames)
    big = _source(side)
    crops = [
        Image.fromarray(big[200 + i : 200 + i + height, 300 + 2 * i : 300 + 2 * i + width])
        for i in range(frames)
    ]
    palette = crops[0].quantize(colours, dither=Image.Dither.NONE)
    coded = [c.quantize(palette=palette, dither=Image.Dither.NONE) for c in crops]
    coded[0].save(path, save_all=True, append_images=coded[1:], duration=40, loop=0)


def predicted_frames(stream: Path) -> int:
    """Frames of ``stream`` whose decoding runs the predictor (``frame_coding.uses_prediction``),
    from the decoder's scan of its frame records."""
    from ..codec.frame_coding import uses_prediction
    from ..codec.pipeline import Decoder

    with open(stream, "rb") as inp:
        return sum(uses_prediction(rec.mode) for rec in Decoder(inp, load_model=False).records())


def measure(
    sizes: list[tuple[int, int]],
    frames: int,
    colours: int,
    model: str | None,
    repeats: int,
    work: Path,
    tree: Path | None = None,
) -> list[dict]:
    """One row per size: pixels, predicted frames, and the median peaks (MiB) of its encode and
    decode, each a child process (on ``tree``'s ``fpcodec`` where given)."""
    cli = [sys.executable, "-m", "fpcodec.codec.cli"]
    env = None if tree is None else {**os.environ, "PYTHONPATH": str(tree)}
    rows = []
    for width, height in sizes:
        started = time.perf_counter()
        clip, stream = work / f"{width}x{height}.gif", work / f"{width}x{height}.fpc"
        make_clip(clip, width, height, frames, colours)
        encode = cli + ["encode", str(clip), "-o", str(stream), "-y", "-q"] + (["-m", model] if model else [])
        decode = cli + ["decode", str(stream), "-o", str(work / f"{width}x{height}.out.gif"), "-y", "-q"]
        enc, dec = [], []
        for _ in range(repeats):
            enc += peak_rss_mb([encode], env)
            dec += peak_rss_mb([decode], env)
        rows.append(
            {
                "size": f"{width}x{height}",
                "pixels": width * height,
                "predicted": predicted_frames(stream),
                "encode_mib": statistics.median(enc),
                "decode_mib": statistics.median(dec),
                "runs": {"encode": enc, "decode": dec},
            }
        )
        print(
            f"{width}x{height}: encode {rows[-1]['encode_mib']:.1f} MiB, decode {rows[-1]['decode_mib']:.1f} MiB "
            f"({time.perf_counter() - started:.0f} s)",
            file=sys.stderr,
            flush=True,
        )
    return rows


def per_pixel(rows: list[dict], what: str) -> list[tuple[float | None, float | None]]:
    """For each row, (bytes a pixel above the first row's peak, marginal bytes a pixel from the row
    before) of ``what`` ("encode" or "decode"); None where there is no pixel more to divide by."""
    out: list[tuple[float | None, float | None]] = []
    base = rows[0]
    for k, row in enumerate(rows):
        extra = row["pixels"] - base["pixels"]
        above = (row[f"{what}_mib"] - base[f"{what}_mib"]) * 2**20 / extra if extra > 0 else None
        prev = rows[k - 1] if k else None
        step = None if prev is None else row["pixels"] - prev["pixels"]
        marginal = (row[f"{what}_mib"] - prev[f"{what}_mib"]) * 2**20 / step if step and step > 0 else None
        out.append((above, marginal))
    return out


def table(rows: list[dict], frames: int, colours: int, model: str | None, repeats: int) -> str:
    """The report: one line per size."""

    def num(v: float | None) -> str:
        return "–" if v is None else f"{v:,.0f}"

    enc, dec = per_pixel(rows, "encode"), per_pixel(rows, "decode")
    lines = [
        f"Peak RSS (MiB, median of {repeats}) of `fpcodec encode` and `decode` on {frames} frames of "
        f"{colours} colours ({model or 'the default model'}); bytes a pixel above the {rows[0]['size']} "
        f"clip, and from the size before (marginal). Issue 15: at most {TARGET} above the baseline.",
        "",
        "| size | pixels | frames decoded with the model | encode MiB | decode MiB | encode B/px above | "
        "decode B/px above | encode B/px marginal | decode B/px marginal |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row, (ea, em), (da, dm) in zip(rows, enc, dec, strict=True):
        lines.append(
            f"| {row['size']} | {row['pixels']:,} | {row['predicted']} of {frames} | {row['encode_mib']:.1f} | "
            f"{row['decode_mib']:.1f} | {num(ea)} | {num(da)} | {num(em)} | {num(dm)} |"
        )
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], path: Path) -> Path:
    """Peaks against pixels (log scale), with the issue's bound from the first size's peaks."""
    from .plots import _plt

    plt = _plt()
    pixels = np.array([r["pixels"] for r in rows], float)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for what, colour in (("encode", "tab:red"), ("decode", "tab:blue")):
        peaks = np.array([r[f"{what}_mib"] for r in rows])
        ax.plot(pixels, peaks, "o-", color=colour, label=f"{what} peak")
        bound = peaks[0] + TARGET * (pixels - pixels[0]) / 2**20
        ax.plot(pixels, bound, ":", color=colour, label=f"{what}: first size + {TARGET} B/px")
    for r in rows:
        ax.annotate(
            r["size"], (r["pixels"], r["encode_mib"]), fontsize=7, xytext=(3, 4), textcoords="offset points"
        )
    ax.set_xscale("log")
    ax.set_xlabel("pixels of one frame")
    ax.set_ylabel("peak RSS (MiB)")
    ax.set_title("fpcodec's peak memory against the frame's size")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m fpcodec.bench.memory_sizes", description=__doc__.splitlines()[0]
    )
    p.add_argument("--sizes", type=parse_size, nargs="+", default=[parse_size(s) for s in SIZES])
    p.add_argument("--frames", type=int, default=4)
    p.add_argument("--colours", type=int, default=128)
    p.add_argument("--model", help="the encoder's -m (default: the codec's)")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--tree", type=Path, help="a source tree whose fpcodec package the children run")
    p.add_argument("-o", "--output", type=Path, help="write the table here, and its plot beside it (.png)")
    args = p.parse_args(argv)
    if args.frames < 1 or not 2 <= args.colours <= 256 or args.repeats < 1:
        p.error("--frames and --repeats must be at least 1, --colours 2..256")
    with tempfile.TemporaryDirectory(prefix="fpcodec-memory-sizes-") as tmp:
        rows = measure(args.sizes, args.frames, args.colours, args.model, args.repeats, Path(tmp), args.tree)
    text = table(rows, args.frames, args.colours, args.model, args.repeats)
    if args.tree:
        text = f"Source tree: {args.tree}\n\n" + text
    print(text)
    if args.output:
        args.output.write_text(text)
        print(f"plot: {plot(rows, args.output.with_suffix('.png'))}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
