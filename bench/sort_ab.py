"""The count tables' two sorts timed on the very tables a decode (or an encode) makes, on this machine:

    python -m fpcodec.bench.sort_ab STREAM.fpc [--repeats 2]
    python -m fpcodec.bench.sort_ab CLIP.gif --encode [--repeats 2]

Decodes the stream (encodes the clip with the default model) once, loading the model and the
kernels, then ``--repeats`` times with ``rows_kernel.unique_counts`` replaced by a wrapper that
makes every table both ways, numpy's sort and the radix sort, the order alternating from table to
table, and checks that both give the same table. Prints each way's milliseconds a frame, in all and
by size of table (``SortChoice.size_class``), and which one ``rows_kernel.SortChoice`` chose in this
process for each size. Why: which sort is faster depends on the CPU, numpy's build and the table's
size (``SortChoice``), and a whole decode's A/B on a shared machine cannot resolve a few per cent;
these are the same tables timed side by side.
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def sort_times(
    data: bytes, repeats: int = 2, by_class: dict[int, dict[str, float]] | None = None
) -> tuple[dict[str, float], int, int]:
    """({way: seconds in all}, tables, frames) of ``repeats`` decodes of the stream ``data``,
    each table made by both sorts (``by_class``, when given, gets each size class's {way:
    seconds}); the codec's ``unique_counts`` is its own again afterwards."""
    from fpcodec.codec.pipeline import Decoder

    def decode() -> int:
        return sum(1 for _ in Decoder(io.BytesIO(data)).frames())

    return _both_ways(decode, repeats, by_class)


def encode_sort_times(
    clip: Path, repeats: int = 2, by_class: dict[int, dict[str, float]] | None = None
) -> tuple[dict[str, float], int, int]:
    """``sort_times`` of ``repeats`` encodes of ``clip``'s frames with the default model."""
    from fpcodec.codec import encode
    from fpcodec.codec.io import VideoReader

    frames = [f for f, _ in VideoReader(str(clip)).frames()]

    def encoded() -> int:
        encode(frames)
        return len(frames)

    return _both_ways(encoded, repeats, by_class)


def _both_ways(
    run: Callable[[], int], repeats: int, by_class: dict[int, dict[str, float]] | None
) -> tuple[dict[str, float], int, int]:
    """``run()`` (returns its frames) once as it is, then ``repeats`` times making every table
    both ways."""
    from fpcodec.codec import rows_kernel

    run()
    ways = [("numpy", rows_kernel._numpy_unique_counts), ("radix", rows_kernel._radix_unique_counts)]
    seconds = {name: 0.0 for name, _ in ways}
    tables = 0

    def both(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        nonlocal tables
        codes = np.ascontiguousarray(codes, np.int64)
        got = []
        size_class = rows_kernel.SortChoice.size_class(codes.size)
        for name, way in ways if tables % 2 == 0 else ways[::-1]:
            started = time.perf_counter()
            got.append(way(codes))
            took = time.perf_counter() - started
            seconds[name] += took
            if by_class is not None:
                by_class.setdefault(size_class, dict.fromkeys(seconds, 0.0))[name] += took
        tables += 1
        for a, b in zip(*got, strict=True):
            if not np.array_equal(a, b):
                raise RuntimeError(f"the two sorts gave different tables of {codes.size} codes")
        return got[0]

    original = rows_kernel.unique_counts
    rows_kernel.unique_counts = both
    try:
        frames = sum(run() for _ in range(repeats))
    finally:
        rows_kernel.unique_counts = original
    return seconds, tables, frames


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stream", type=Path, help="an .fpc stream (a clip to encode, with --encode)")
    parser.add_argument("--encode", action="store_true", help="time the tables of encoding the clip")
    parser.add_argument("--repeats", type=int, default=2, help="decodes (encodes) timed (default 2)")
    args = parser.parse_args(argv)
    from fpcodec.codec import rows_kernel

    by_class: dict[int, dict[str, float]] = {}
    if args.encode:
        seconds, tables, frames = encode_sort_times(args.stream, args.repeats, by_class)
    else:
        seconds, tables, frames = sort_times(args.stream.read_bytes(), args.repeats, by_class)
    per_frame = ", ".join(f"{name} {s * 1000 / max(frames, 1):.2f}" for name, s in seconds.items())
    print(f"{args.stream.name}: {tables} tables in {frames} frames; ms a frame: {per_frame}")
    for size_class, ways in sorted(by_class.items()):
        per_frame = ", ".join(f"{name} {s * 1000 / max(frames, 1):.3f}" for name, s in ways.items())
        sizes = f"{1 << max(size_class - 1, 0)}-{(1 << size_class) - 1}"
        print(f"  tables of {sizes} codes, ms a frame: {per_frame}")
    classes = sorted(rows_kernel.SORT_CHOICE.classes.items())
    choices = "; ".join(f"{1 << (c - 1)}+ codes: {trial!r}" for c, trial in classes)
    print(f"this process's choices by table size: {choices}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
