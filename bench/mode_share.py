"""Where a set of streams' bytes go, by frame coding mode, grouped by source.

``python -m fpcodec.bench.mode_share STREAM.fpc... [--group-by-source]``

The learned predictor only acts in the predicted modes (inter, palette inter, palette update); a
frame coded in an intra mode costs the same with any model. So, as long as the encoder keeps
choosing intra for the same frames, the share of bytes in predicted modes bounds what a better
predictor can win on a set of clips: at 40 %, a 10 % smaller file needs the predicted frames 25 %
smaller. Counted per frame: its ``FRAM`` payload and the
``PLTE`` before it (framing excluded). The streams are read, not decoded (no model is loaded).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Sequence

from ..bitstream.errors import FormatError
from ..codec.frame_coding import MODE_NAMES
from ..codec.pipeline import Decoder
from .palette_corpus import source_of

#: Modes whose bits depend on the predictor.
PREDICTED = ("inter", "p-inter", "p-update")


def mode_bytes(path: str | Path) -> Counter:
    """Bytes per mode name of one stream (payload and palette of each frame)."""
    out: Counter = Counter()
    with open(path, "rb") as f:
        dec = Decoder(f, load_model=False)
        for rec, _, palette_bytes in dec.frame_records():
            out[MODE_NAMES.get(rec.mode, str(rec.mode))] += len(rec.payload) + palette_bytes
    return out


def table(groups: dict[str, Counter]) -> str:
    """A markdown table: bytes per group, and the share of each mode."""
    modes = sorted({m for c in groups.values() for m in c}, key=lambda m: (m not in PREDICTED, m))
    head = ["streams", "bytes", "predicted modes", *modes]
    lines = ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    for name, c in groups.items():
        total = sum(c.values()) or 1
        predicted = sum(c[m] for m in PREDICTED)
        cells = [name, f"{sum(c.values()):,}", f"{100 * predicted / total:.1f} %"]
        cells += [f"{100 * c[m] / total:.1f} %" for m in modes]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m fpcodec.bench.mode_share", description=__doc__.split("\n")[0])
    p.add_argument("streams", nargs="+", type=Path)
    p.add_argument(
        "--group-by-source", action="store_true", help="one row per source (file name before _NNN)"
    )
    args = p.parse_args(argv)
    groups: dict[str, Counter] = defaultdict(Counter)
    try:
        for s in args.streams:
            c = mode_bytes(s)
            groups[source_of(s) if args.group_by_source else s.name] += c
            groups["all"] += c
    except (FormatError, OSError) as e:
        print(f"mode_share: error: {e}", file=sys.stderr)
        return 1
    groups["all"] = groups.pop("all")  # last
    print(table(dict(groups)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
