"""Two ``vs_gif --json`` runs side by side: a Markdown table of bytes per clip, before and after.

    python -m fpcodec.bench.vs_gif_table BEFORE.json AFTER.json [--webp RUN.json] [--labels v14 v15]

For a format change or an encoder change measured on the same clips: per clip the GIF's bytes,
WebP lossless's (from AFTER, or from ``--webp RUN.json``, a run with ``--webp``: libwebp's bytes do
not depend on fpcodec), the two runs' stream bytes and the ratios; then the totals over all clips
and over those WebP codes exactly (or exactly where alpha is not 0, as ``vs_gif`` counts them),
and the clips whose stream is not smaller than their GIF. Each run's first model is compared.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def _clips(path: Path) -> dict[str, dict[str, Any]]:
    """The run's clips that were coded (skipped files have no ``models``), by name."""
    return {c["name"]: c for c in json.loads(path.read_text())["clips"] if "models" in c}


def _bytes(clip: dict[str, Any]) -> int:
    return next(iter(clip["models"].values()))["bytes"]


def _webp_bytes(clip: dict[str, Any] | None) -> int | None:
    """WebP's bytes where ``vs_gif`` counted it (exact, or exact where alpha is not 0)."""
    webp = (clip or {}).get("webp")
    return webp["bytes"] if webp and webp.get("counted") else None


def table(
    before: Path, after: Path, webp: Path | None = None, labels: tuple[str, str] = ("before", "after")
) -> str:
    """The Markdown table (see the module's docstring)."""
    old, new = _clips(before), _clips(after)
    webps = _clips(webp) if webp is not None else new
    missing = sorted(set(new) ^ set(old))
    if missing:
        raise SystemExit(f"the runs code different clips: {', '.join(missing)}")
    a, b = labels
    lines = [
        f"| clip | frames | WxH | GIF | WebP lossless | {a} | {b} | {b} / {a} | {b} / GIF | {b} / WebP |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    total = {"gif": 0, "old": 0, "new": 0}
    exact = {"gif": 0, "webp": 0, "old": 0, "new": 0, "clips": 0}
    larger = []
    for name, clip in new.items():
        gif, x, y = clip["gif_bytes"], _bytes(old[name]), _bytes(clip)
        w = _webp_bytes(webps.get(name))
        total.update(gif=total["gif"] + gif, old=total["old"] + x, new=total["new"] + y)
        if w is not None:
            for key, value in (("gif", gif), ("webp", w), ("old", x), ("new", y), ("clips", 1)):
                exact[key] += value
        if y >= gif:
            larger.append(name)
        short = name.split("__", 1)[-1]
        size = f"{clip['width']}x{clip['height']}"
        webp_cells = (f"{w:,}", f"{y / w:.3f}") if w else ("n/a", "n/a")
        lines.append(
            f"| {short} | {clip['frames']} | {size} | {gif:,} | {webp_cells[0]} | {x:,} | **{y:,}** "
            f"| {y / x:.3f} | {y / gif:.3f} | {webp_cells[1]} |"
        )
    t, e = total, exact
    lines.append(
        f"| **all {len(new)}** | | | {t['gif']:,} | | {t['old']:,} | {t['new']:,} "
        f"| {t['new'] / t['old']:.3f} | {t['new'] / t['gif']:.3f} | |"
    )
    if e["clips"]:
        lines.append(
            f"| **the {e['clips']} WebP codes exactly** | | | {e['gif']:,} | {e['webp']:,} | {e['old']:,} "
            f"| {e['new']:,} | {e['new'] / e['old']:.3f} | {e['new'] / e['gif']:.3f} | {e['new'] / e['webp']:.3f} |"
        )
    lines.append("")
    lines.append(f"Not smaller than the GIF ({b}): {', '.join(larger) if larger else 'none'}.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fpcodec.bench.vs_gif_table",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--webp", type=Path, help="a vs_gif --webp run to take WebP's bytes from")
    parser.add_argument("--labels", nargs=2, default=("before", "after"), metavar=("BEFORE", "AFTER"))
    args = parser.parse_args(argv)
    print(table(args.before, args.after, args.webp, tuple(args.labels)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
