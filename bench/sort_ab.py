"""The count tables' two sorts timed on the very tables a decode makes, on this machine:

    python -m fpcodec.bench.sort_ab STREAM.fpc [--repeats 2]

Decodes the stream once (loading the model and the kernels), then ``--repeats`` times with
``rows_kernel.unique_counts`` replaced by a wrapper that makes every table both ways, numpy's sort
and the radix sort, the order alternating from table to table, and checks that both give the same
table. Prints each way's milliseconds a frame and which one ``rows_kernel.SortChoice`` chose in
this process. Why: which sort is faster depends on the CPU and numpy's build (``SortChoice``), and
a whole decode's A/B on a shared machine cannot resolve a few per cent; these are the same tables
timed side by side.
"""

from __future__ import annotations

import argparse
import io
import time
from pathlib import Path

import numpy as np


def sort_times(data: bytes, repeats: int = 2) -> tuple[dict[str, float], int, int]:
    """({way: seconds in all}, tables, frames) of ``repeats`` decodes of the stream ``data``,
    each table made by both sorts; the codec's ``unique_counts`` is its own again afterwards."""
    from fpcodec.codec import rows_kernel
    from fpcodec.codec.pipeline import Decoder

    def decode() -> int:
        return sum(1 for _ in Decoder(io.BytesIO(data)).frames())

    decode()
    ways = [("numpy", rows_kernel._numpy_unique_counts), ("radix", rows_kernel._radix_unique_counts)]
    seconds = {name: 0.0 for name, _ in ways}
    tables = 0

    def both(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        nonlocal tables
        codes = np.ascontiguousarray(codes, np.int64)
        got = []
        for name, way in ways if tables % 2 == 0 else ways[::-1]:
            started = time.perf_counter()
            got.append(way(codes))
            seconds[name] += time.perf_counter() - started
        tables += 1
        for a, b in zip(*got, strict=True):
            if not np.array_equal(a, b):
                raise RuntimeError(f"the two sorts gave different tables of {codes.size} codes")
        return got[0]

    original = rows_kernel.unique_counts
    rows_kernel.unique_counts = both
    try:
        frames = sum(decode() for _ in range(repeats))
    finally:
        rows_kernel.unique_counts = original
    return seconds, tables, frames


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stream", type=Path, help="an .fpc stream")
    parser.add_argument("--repeats", type=int, default=2, help="decodes timed (default 2)")
    args = parser.parse_args(argv)
    from fpcodec.codec import rows_kernel

    seconds, tables, frames = sort_times(args.stream.read_bytes(), args.repeats)
    per_frame = ", ".join(f"{name} {s * 1000 / max(frames, 1):.2f}" for name, s in seconds.items())
    print(f"{args.stream.name}: {tables} tables in {frames} frames; ms a frame: {per_frame}")
    print(f"this process's choice: {rows_kernel.SORT_CHOICE.chosen} ({rows_kernel.SORT_CHOICE.seconds})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
