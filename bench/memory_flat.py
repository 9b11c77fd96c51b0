"""Peak memory of ``fpcodec encode`` and ``fpcodec decode`` to every output format, for a short and a
long clip of the same content: memory must be flat in the video's length (issue 17, part 3).

The clips are tests/data/carphone_000.gif's 34 frames, subsampled to SIZE x SIZE and cycled to each
length (written as GIFs with fpcodec's own streaming GIF writer). Each command runs in a child
process (the decodes of one stream side by side, to save time on a busy machine); its peak RSS is
the ``ru_maxrss`` that ``os.wait4`` reports for that child alone. The
table gives the median of REPEATS runs, the ratio long/short (target <= 1.2) and the growth per
extra frame::

    python -m fpcodec.bench.memory_flat [--lengths 100 1000] [--size 64] [--repeats 3] [-o FILE]
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "tests" / "data" / "carphone_000.gif"
#: (label, output name, extra decode arguments)
OUTPUTS = [
    (".gif", "out.gif", []),
    (".apng", "out.apng", []),
    (".webp", "out.webp", []),
    (".png sequence", "png/f_%05d.png", []),
    (".y4m", "out.y4m", ["--lossy"]),
    (".mp4", "out.mp4", ["--lossy"]),
]


def make_clip(path: Path, length: int, size: int) -> None:
    """carphone_000's 96x96 frames, subsampled to about size x size, cycled to ``length`` frames
    (subsampled rather than cropped, so that consecutive frames still differ everywhere)."""
    from fpcodec.codec.io import VideoReader, write_frames

    step = max(1, 96 // size)
    frames = [pixels[::step, ::step].copy() for pixels, _ in VideoReader(SOURCE).frames()]
    clip = itertools.islice(itertools.cycle(frames), length)
    notes = write_frames(path, clip, [4] * length, Fraction(1, 100), 0, force=True)
    if notes:
        raise RuntimeError(f"the clip is not what it should be: {notes}")


def peak_rss_mb(cmds: list[list[str]], env: dict[str, str] | None = None) -> list[float]:
    """Peak RSS in MB of each command, run as concurrent child processes (each one's own
    ``ru_maxrss`` from ``os.wait4``, so running them side by side does not mix their figures),
    with ``env`` (None: this process's environment)."""
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env) for cmd in cmds
    ]
    peaks = []
    for cmd, proc in zip(cmds, procs, strict=True):
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        err = proc.stderr.read().decode(errors="replace")
        proc.stderr.close()
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {err.strip()}")
        peaks.append(usage.ru_maxrss / 1024)  # ru_maxrss is in KiB on Linux
    return peaks


def measure(lengths: list[int], size: int, repeats: int, work: Path, fpcodec: list[str]) -> list[dict]:
    """Encode each clip, then decode it to every output format (the decodes side by side)."""
    rows = []
    for n in lengths:
        clip = work / f"clip{n}.gif"
        make_clip(clip, n, size)
        stream = work / f"clip{n}.fpc"
        encode = fpcodec + ["encode", str(clip), "-o", str(stream), "-m", "last-frame", "-y", "-q"]
        decodes = []
        for label, name, extra in OUTPUTS:
            out = work / f"n{n}" / name
            out.parent.mkdir(parents=True, exist_ok=True)
            decodes.append(
                (f"decode {label}", fpcodec + ["decode", str(stream), "-o", str(out), "-y", "-q"] + extra)
            )
        runs: dict[str, list[float]] = {"encode": [], **{what: [] for what, _ in decodes}}
        for _ in range(repeats):
            start = time.perf_counter()
            runs["encode"] += peak_rss_mb([encode])
            runs_decode = peak_rss_mb([cmd for _, cmd in decodes])
            for (what, _), peak in zip(decodes, runs_decode, strict=True):
                runs[what].append(peak)
            print(
                f"{n} frames: one round in {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True
            )
        for what, peaks in runs.items():
            rss = statistics.median(peaks)
            rows.append(
                {"what": what, "frames": n, "rss_mb": rss, "all_rss_mb": [round(p, 1) for p in peaks]}
            )
            print(
                f"{what:20s} {n:5d} frames: {rss:7.1f} MB peak RSS (runs: {', '.join(f'{p:.1f}' for p in peaks)})",
                file=sys.stderr,
                flush=True,
            )
    return rows


def table(rows: list[dict], lengths: list[int], size: int, repeats: int) -> str:
    short, long = lengths[0], lengths[-1]
    lines = [
        f"Peak RSS (MB, median of {repeats} runs) of fpcodec on carphone_000 subsampled to {size}x{size}, "
        f"cycled to {short} and {long} frames (-m last-frame)",
        "",
        f"| command | {short} frames | {long} frames | ratio {long}/{short} | growth per extra frame |",
        "|---|---:|---:|---:|---:|",
    ]
    worst = 0.0
    for what in dict.fromkeys(r["what"] for r in rows):
        a = next(r for r in rows if r["what"] == what and r["frames"] == short)
        b = next(r for r in rows if r["what"] == what and r["frames"] == long)
        ratio = b["rss_mb"] / a["rss_mb"]
        worst = max(worst, ratio)
        growth_kb = (b["rss_mb"] - a["rss_mb"]) * 1024 / (long - short)
        lines.append(
            f"| {what} | {a['rss_mb']:.1f} | {b['rss_mb']:.1f} | {ratio:.3f} | {growth_kb:+.2f} KB |"
        )
    frame_kb = size * size * 3 / 1024
    lines += [
        "",
        f"Worst ratio {worst:.3f} (target <= 1.2). One frame is {frame_kb:.1f} KB (RGB); holding "
        f"every frame would grow RSS by at least that much per frame.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lengths", type=int, nargs="+", default=[100, 1000])
    p.add_argument("--size", type=int, default=24, help="frame side in pixels (96 divided by a whole number)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("-o", "--output", help="also write the table here")
    args = p.parse_args(argv)
    fpcodec = [sys.executable, "-m", "fpcodec.codec.cli"]
    with tempfile.TemporaryDirectory(prefix="fpcodec-memory-") as tmp:
        rows = measure(sorted(args.lengths), args.size, args.repeats, Path(tmp), fpcodec)
    text = table(rows, sorted(args.lengths), args.size, args.repeats)
    print(text)
    if args.output:
        Path(args.output).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
