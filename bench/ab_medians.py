"""Medians of ``bench/speed_ab.sh``'s "label seconds [peak RSS KB]" lines, and new/old ratios per
clip (peak RSS: medians in MB, where the lines have it); with one-core runs of the old tree
("old1", ``OPS=olddec1``), what a second core gives each tree."""

from __future__ import annotations

import statistics
import sys
from collections import defaultdict


def main(path: str) -> None:
    runs: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    rss: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for line in open(path):
        parts = line.split()
        if len(parts) in (4, 5) and not line.startswith("#"):
            tree, op, clip, seconds = parts[:4]
            runs[clip, op, tree].append(float(seconds))
            if len(parts) == 5:
                rss[clip, op, tree].append(int(parts[4]) / 1024)
    old_one = any(tree == "old1" for _, _, tree in runs)
    head = "| clip | op | old s | new s | new / old | one core s | one core / new |"
    head += " old one core s | old one core / old |" if old_one else ""
    print(head + " peak RSS MB old / new |")
    print("|---|---|---:|---:|---:|---:|---:|" + ("---:|---:|" if old_one else "") + "---:|")
    for clip, op in sorted({(c, o) for c, o, _ in runs}):
        old = statistics.median(runs[clip, op, "old"])
        new = statistics.median(runs[clip, op, "new"])
        one = runs.get((clip, op, "new1"))
        extra = f"{statistics.median(one):.2f} | {statistics.median(one) / new:.2f}" if one else "– | –"
        peaks = "–"
        if rss.get((clip, op, "old")) and rss.get((clip, op, "new")):
            peaks = f"{statistics.median(rss[clip, op, 'old']):.0f} / {statistics.median(rss[clip, op, 'new']):.0f}"
        if old_one:
            one_old = runs.get((clip, op, "old1"))
            extra += (
                f" | {statistics.median(one_old):.2f} | {statistics.median(one_old) / old:.2f}"
                if one_old
                else " | – | –"
            )
        print(f"| {clip} | {op} | {old:.2f} | {new:.2f} | {new / old:.2f} | {extra} | {peaks} |")


if __name__ == "__main__":
    main(sys.argv[1])
