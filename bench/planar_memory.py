"""Peak memory of planar coding per pixel of a frame: ``fpcodec encode`` and ``fpcodec decode -o
.y4m`` of a yuv420p (or ``--format``'s) video at several frame sizes (issue 15: at most 64 bytes a
pixel above the process's fixed baseline).

Each size's clip is the source video's first frames scaled to that size and written as FFV1 in
Matroska (the same frames at every size, so only the size changes). Each command runs alone in a
child process; its peak RSS is the ``ru_maxrss`` that ``os.wait4`` reports for it
(``memory_flat.peak_rss_mb``). The first (smallest) size is the baseline: bytes a pixel of a
larger size = (its peak - the baseline's peak) / its pixels. Times are the children's wall
times, start-up included. ``--pythonpath`` runs another checkout's ``fpcodec`` (an A/B)::

    python -m fpcodec.bench.planar_memory --source bikes.mp4 [--sizes 64x48 640x480 1280x720 1920x1080]
        [--format yuv420p10le] [--frames 12] [--repeats 3] [--pythonpath OLD_TREE] [-o FILE]

``--frames`` is 12 by default (6 until 2026-12-06): past the predictor's history of 5 frames, which
planar coders had kept too, so that a clip shows the steady state a long video runs in.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from .memory_flat import peak_rss_mb
from .memory_sizes import parse_size

DEFAULT_SIZES = ["64x48", "640x480", "1280x720", "1920x1080"]


def make_clip(
    source: Path, path: Path, width: int, height: int, frames: int, pix_fmt: str = "yuv420p"
) -> int:
    """The first ``frames`` frames of ``source`` scaled to width x height in ``pix_fmt`` (swscale's
    default filter), as FFV1 in Matroska; returns how many were written."""
    import av

    written = 0
    with av.open(str(source)) as src, av.open(str(path), "w") as out:
        stream = out.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        for frame in src.decode(video=0):
            if written == frames:
                break
            scaled = frame.reformat(width=width, height=height, format=pix_fmt, threads=1)
            scaled.pts = written
            for packet in stream.encode(scaled):
                out.mux(packet)
            written += 1
        for packet in stream.encode():
            out.mux(packet)
    return written


def _timed_peak(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(peak RSS in MB, wall seconds) of one command run alone."""
    start = time.perf_counter()
    (peak,) = peak_rss_mb([cmd], env)
    return peak, time.perf_counter() - start


def measure(
    source: Path,
    sizes: list[tuple[int, int]],
    frames: int,
    repeats: int,
    work: Path,
    pythonpath: str | None,
    pix_fmt: str = "yuv420p",
) -> list[dict]:
    """Per size: the median peak RSS and wall time of encoding and of decoding, over ``repeats``
    rounds (each round every size, smallest first)."""
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    fpcodec = [sys.executable, "-m", "fpcodec.codec.cli"]
    clips = []
    for w, h in sizes:
        clip = work / f"clip_{w}x{h}.mkv"
        made = make_clip(source, clip, w, h, frames, pix_fmt)
        clips.append((w, h, clip, made))
    runs: dict[tuple[int, int], dict[str, list[float]]] = {
        (w, h): {"enc_mb": [], "enc_s": [], "dec_mb": [], "dec_s": []} for w, h in sizes
    }
    for r in range(repeats):
        for w, h, clip, _ in clips:
            stream, out = clip.with_suffix(".fpc"), clip.with_suffix(".y4m")
            enc = _timed_peak(fpcodec + ["encode", str(clip), "-o", str(stream), "-y", "-q"], env)
            dec = _timed_peak(fpcodec + ["decode", str(stream), "-o", str(out), "-y", "-q"], env)
            got = runs[w, h]
            got["enc_mb"].append(enc[0])
            got["enc_s"].append(enc[1])
            got["dec_mb"].append(dec[0])
            got["dec_s"].append(dec[1])
            print(
                f"round {r + 1} {w}x{h}: encode {enc[0]:.1f} MB {enc[1]:.2f} s, decode {dec[0]:.1f} MB {dec[1]:.2f} s",
                file=sys.stderr,
                flush=True,
            )
    rows = []
    for w, h, _, made in clips:
        got = runs[w, h]
        rows.append(
            {
                "size": f"{w}x{h}",
                "pixels": w * h,
                "frames": made,
                **{k: statistics.median(v) for k, v in got.items()},
            }
        )
    base = rows[0]
    for row in rows:
        for what in ("enc", "dec"):
            above = (row[f"{what}_mb"] - base[f"{what}_mb"]) * 2**20
            row[f"{what}_bpp"] = above / row["pixels"] if row is not base else None
    return rows


def table(rows: list[dict], repeats: int, source: str, pix_fmt: str = "yuv420p") -> str:
    base = rows[0]
    lines = [
        f"Peak RSS of planar coding (medians of {repeats} runs), {pix_fmt} clips of {source} scaled to "
        f"each size; bytes a pixel above the {base['size']} clip's peak (the baseline)",
        "",
        "| size | frames | encode peak MB | encode B/pixel | encode s | decode peak MB | decode B/pixel | decode s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        enc = "baseline" if row["enc_bpp"] is None else f"{row['enc_bpp']:.0f}"
        dec = "baseline" if row["dec_bpp"] is None else f"{row['dec_bpp']:.0f}"
        lines.append(
            f"| {row['size']} | {row['frames']} | {row['enc_mb']:.1f} | {enc} | {row['enc_s']:.2f} | "
            f"{row['dec_mb']:.1f} | {dec} | {row['dec_s']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m fpcodec.bench.planar_memory", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--source", type=Path, required=True, help="a video to take the frames from")
    p.add_argument("--sizes", type=parse_size, nargs="+", default=[parse_size(s) for s in DEFAULT_SIZES],
                   help="frame sizes, smallest (the baseline) first")  # fmt: skip
    p.add_argument("--format", default="yuv420p", help="the clips' pixel format (default yuv420p)")
    p.add_argument("--frames", type=int, default=12)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--pythonpath", help="PYTHONPATH for the children (another checkout's fpcodec)")
    p.add_argument("-o", "--output", help="also write the table here")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        rows = measure(
            args.source, args.sizes, args.frames, args.repeats, Path(tmp), args.pythonpath, args.format
        )
    text = table(rows, args.repeats, args.source.name, args.format)
    print(text)
    if args.output:
        Path(args.output).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
