"""Medians of ``bench/speed_ab.sh``'s "label seconds" lines, and new/old ratios per clip."""

from __future__ import annotations

import statistics
import sys
from collections import defaultdict


def main(path: str) -> None:
    runs: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for line in open(path):
        parts = line.split()
        if len(parts) == 4 and not line.startswith("#"):
            tree, op, clip, seconds = parts
            runs[clip, op, tree].append(float(seconds))
    print("| clip | op | old s | new s | new / old | one core s | one core / new |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for clip, op in sorted({(c, o) for c, o, _ in runs}):
        old = statistics.median(runs[clip, op, "old"])
        new = statistics.median(runs[clip, op, "new"])
        one = runs.get((clip, op, "new1"))
        extra = f"{statistics.median(one):.2f} | {statistics.median(one) / new:.2f}" if one else "– | –"
        print(f"| {clip} | {op} | {old:.2f} | {new:.2f} | {new / old:.2f} | {extra} |")


if __name__ == "__main__":
    main(sys.argv[1])
